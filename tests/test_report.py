"""invert.report: the perceptual networks of a run and the record of one projected image."""
import math
import types

import numpy as np
import pytest
import torch

from invert import report, vgg_weights
from invert.errors import WeightsError
from invert.losses import LPIPSPerceptual, VGGPerceptual


def test_random_vgg_weights_give_a_loss_network_but_no_lpips():
    models = report.perceptual_models("vgg", vgg_weights="random:1")
    assert isinstance(models.perceptual, VGGPerceptual) and models.lpips is None
    assert models.vgg_info == {"source": "random:1", "random": True} and "random" in models.lpips_note
    assert "--" not in models.lpips_note  # library notes name no command-line option


def test_real_format_weights_give_lpips_from_the_same_file(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save(vgg_weights.random_state(4), path)
    models = report.perceptual_models("vgg", vgg_weights=str(path))
    assert isinstance(models.lpips, LPIPSPerceptual) and models.lpips_note is None
    assert models.lpips.source == models.perceptual.vgg.source == {"source": str(path), "random": False}
    same = report.perceptual_models("lpips", vgg_weights=str(path))
    assert same.perceptual is same.lpips  # the LPIPS loss doubles as the metric


def test_no_perceptual_weight_downloads_nothing(monkeypatch):
    def no_download(url, **kwargs):
        raise AssertionError("downloaded VGG16 just for a metric")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    models = report.perceptual_models("vgg", perceptual_weight=0, noise_perceptual_weight=0)
    assert models.perceptual is None and models.lpips is None and models.vgg_info is None
    assert models.lpips_note.startswith("VGG16 weights unavailable (VGG16 weights are missing")
    with pytest.raises(WeightsError, match="not found"):  # a named file must exist, metric or not
        report.perceptual_models("vgg", vgg_weights="/no/such.pth")


def test_record_json_and_summary(sg2_dir):
    import invert
    from invert.projector import project

    G = invert.load_generator(sg2_dir / "tiny_ada.pkl")
    target = np.full((1, 32, 32, 3), 128, np.uint8)
    result = project(G, target, num_steps=2, perceptual=None, noise=True, noise_steps=2)
    models = report.PerceptualModels(None, None, "no VGG16 here", None)
    record = report.projection_record(result, 0, target=target[0], generator=G, models=models,
                                      extra={"input": "x.png"})
    assert record["steps"] == {"w": 2, "noise": 2} and record["input"] == "x.png"
    assert record["loss"] == pytest.approx(float(result.loss_noise[0]))
    assert record["lpips"] is None and record["lpips_note"] == "no VGG16 here"
    assert record["noise_maps"] == result.noise_stats[0] and record["random_vgg16"] is False
    assert "warning" not in record and record["generator"]["format"]
    line = report.summary_line("x.npy", record)
    assert line.startswith(f"x.npy  PSNR {record['psnr']:.2f} dB  SSIM ") and "LPIPS" not in line

    ready = report.json_ready({"psnr": math.inf, 1: (1.5, float("nan")), "ok": "s"})
    assert ready == {"psnr": None, "1": [1.5, None], "ok": "s"}
    assert report.summary_line("y.npy", dict(record, psnr=math.inf)).startswith("y.npy  PSNR inf  SSIM")

    random_g = types.SimpleNamespace(source={"sha256": "random"}, is_random=True)
    assert "RANDOM generator" in report.projection_record(result, 0, target=target[0], generator=random_g,
                                                          models=models)["warning"]


def test_stage_metrics_measure_each_stage_once(monkeypatch):
    """The last stage's image is the final reconstruction, measured already for the record: not measured again."""
    from invert import metrics as metrics_module
    from invert.report import PerceptualModels, stage_metrics

    rng = np.random.default_rng(0)
    target, w_image, final = (rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3))
    calls = []
    real = metrics_module.reconstruction_metrics

    def counted(target_, image, **kwargs):
        calls.append(image)
        return real(target_, image, **kwargs)

    monkeypatch.setattr(metrics_module, "reconstruction_metrics", counted)
    models = PerceptualModels(None, None, "no LPIPS here", None)
    measured = real(target, final, lpips_note="no LPIPS here")
    stages = stage_metrics(target, {"w": w_image, "noise": final.copy()}, models=models, final=(final, measured))
    assert len(calls) == 1 and calls[0] is w_image
    assert stages["noise"]["psnr"] == measured["psnr"] and stages["noise"]["ssim"] == measured["ssim"]
    assert stages["w"] == {k: v for k, v in real(target, w_image, lpips_note="no LPIPS here", identity=False).items()
                           if not k.startswith("identity")}
