"""`stylegan-invert project` stage by stage: pivotal tuning (--tune), the figures after each stage, a later stage
that fails or is interrupted keeping the earlier result, running out of memory, and the default generator."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from directions_helpers import fake_ffhq
from projection_helpers import render_in_domain
from invert.cli import main
from invert.images import save_png, to_uint8

assert fake_ffhq  # a fixture, used by name

QUICK = ["--steps", "3", "--vgg-weights", "random", "--no-align"]


@pytest.fixture(scope="module")
def tiny(sg2_dir):
    return sg2_dir / "tiny_ada.pkl"


@pytest.fixture(scope="module")
def G(tiny):
    from invert.checkpoints import load_generator

    return load_generator(tiny)


@pytest.fixture
def photo(tmp_path, G):
    path = tmp_path / "face.png"
    save_png(path, render_in_domain(G, 1, seed=4)[0])
    return path


def invoke(*args):
    return CliRunner().invoke(main, ["project", *map(str, args)])


def decode(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def metrics_of(folder, stem="face"):
    return json.loads((folder / f"{stem}_metrics.json").read_text())


def test_tune_writes_the_update_its_record_and_the_figures_of_each_stage(photo, tiny, G, tmp_path):
    from invert.records import read_record
    from invert.tuning import load_update, tuned_generator

    out = tmp_path / "out"
    result = invoke(photo, "-g", tiny, *QUICK, "--noise", "--noise-steps", "2", "--tune", "--tune-steps", "12",
                    "--tune-rank", "4", "--outdir", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("(tuned)")
    update = load_update(out / "face_tuned.safetensors", G)  # checked against the network: valid
    assert update.rank == 4 and update.settings["steps"] == 12
    assert read_record(out / "face.npy").tuned == "face_tuned.safetensors"  # relative to the latent's folder
    metrics = metrics_of(out)
    assert metrics["status"] == "projected" and metrics["tuned"] == "face_tuned.safetensors"
    assert metrics["steps"] == {"w": 3, "noise": 2, "tune": 12} and metrics["tuning"]["rank"] == 4
    stages = metrics["stages"]
    assert set(stages) == {"w", "noise", "tune"} and stages["tune"]["steps"] == 12
    # tuning keeps the best update, and step 0 is the untuned generator: it can only improve the loss; with
    # 12 steps it improves the pixels too
    assert stages["tune"]["psnr"] >= stages["noise"]["psnr"] >= stages["w"]["psnr"] - 0.5
    assert stages["tune"]["psnr"] > stages["noise"]["psnr"]
    assert metrics["psnr"] == stages["tune"]["psnr"]
    # the reconstruction is the latent rendered through the tuned generator, with the saved noise maps
    noise = np.load(out / "face_noise.npz")
    maps = [torch.from_numpy(noise[f"noise_{i}"]) for i in range(G.num_ws - 1)]
    with torch.no_grad():
        image = tuned_generator(G, out / "face_tuned.safetensors").synthesis(
            torch.from_numpy(np.load(out / "face.npy"))[None], noise=maps)
    np.testing.assert_array_equal(to_uint8(image)[0], decode(out / "face_proj.png"))
    with Image.open(out / "face_proj.png") as png:
        assert png.text["tuned_update"] == str((out / "face_tuned.safetensors").absolute())
        assert png.text["tuned_rank"] == "4"
    row = json.loads((out / "manifest.jsonl").read_text())
    assert row["psnr"] == stages["tune"]["psnr"] and row["steps"]["tune"] == 12


def test_tune_options_are_checked_before_any_work(photo, tiny):
    for args, message in ((["--tune-steps", "5"], "--tune-steps needs --tune"),
                          (["--tune", "--tune-rank", "0"], "Invalid value for '--tune-rank'"),
                          (["--tune", "--tune-rank", "half"], "Invalid value for '--tune-rank'"),
                          (["--tune", "--tune-lr", "nan"], "'nan' is not a finite number")):
        result = invoke(photo, "-g", tiny, *QUICK, *args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)
    assert not photo.with_suffix(".npy").exists()


def _wplus_alone(photo, tiny, tmp_path):
    out = tmp_path / "alone"
    assert invoke(photo, "-g", tiny, *QUICK, "--outdir", out).exit_code == 0
    return np.load(out / "face.npy")


def test_an_interrupted_tuning_keeps_the_w_plus_result(photo, tiny, tmp_path, monkeypatch):
    from invert import losses

    wplus = _wplus_alone(photo, tiny, tmp_path)
    calls = {"n": 0}
    forward = losses.ProjectionLoss.forward

    def stop_in_tuning(self, images, prepared):
        calls["n"] += 1
        if calls["n"] == 3 + 4:  # 3 W+ steps, then the 4th tuning step
            raise KeyboardInterrupt
        return forward(self, images, prepared)

    monkeypatch.setattr(losses.ProjectionLoss, "forward", stop_in_tuning)
    out = tmp_path / "out"
    result = invoke(photo, "-g", tiny, *QUICK, "--tune", "--tune-steps", "50", "--outdir", out)
    assert result.exit_code == 130, result.output
    np.testing.assert_array_equal(np.load(out / "face.npy"), wplus)  # exactly the W+ stage's latent
    metrics = metrics_of(out)
    assert metrics["status"] == "interrupted" and metrics["interrupted"] is True
    assert metrics["steps"] == {"w": 3, "noise": 0, "tune": 3} and metrics["tuning"]["interrupted"] is True
    assert (out / "face_tuned.safetensors").exists()  # the best update so far, marked interrupted


def test_a_tuning_stopped_before_its_first_step_leaves_no_update(photo, tiny, tmp_path, monkeypatch):
    """Nothing tuned, nothing saved: no _tuned file, and the record names none (it would change nothing)."""
    from invert import losses

    calls = {"n": 0}
    forward = losses.ProjectionLoss.forward

    def stop_at_tuning(self, images, prepared):
        calls["n"] += 1
        if calls["n"] == 3 + 1:  # 3 W+ steps, then the first tuning step
            raise KeyboardInterrupt
        return forward(self, images, prepared)

    monkeypatch.setattr(losses.ProjectionLoss, "forward", stop_at_tuning)
    out = tmp_path / "out"
    result = invoke(photo, "-g", tiny, *QUICK, "--tune", "--tune-steps", "50", "--outdir", out)
    assert result.exit_code == 130, result.output
    metrics = metrics_of(out)
    assert metrics["status"] == "interrupted" and metrics["steps"]["tune"] == 0 and metrics["tuned"] is None
    assert not (out / "face_tuned.safetensors").exists()
    assert json.loads((out / "face.json").read_text()).get("tuned") is None
    assert invoke(photo, "-g", tiny, *QUICK, "--tune", "--tune-steps", "0").exit_code == 2


def test_a_failing_tuning_keeps_the_projection_and_exits_3(photo, tiny, tmp_path, monkeypatch):
    import invert.tuning

    def broken(*args, **kwargs):
        raise RuntimeError("something broke")

    wplus = _wplus_alone(photo, tiny, tmp_path)
    monkeypatch.setattr(invert.tuning, "tune", broken)
    out = tmp_path / "out"
    command = [photo, "-g", tiny, *QUICK, "--tune", "--tune-steps", "2", "--outdir", out]
    result = invoke(*command)
    assert result.exit_code == 3, result.output
    assert f"warning: failed {photo}: tuning: something broke" in result.stderr
    np.testing.assert_array_equal(np.load(out / "face.npy"), wplus)
    metrics = metrics_of(out)
    assert metrics["status"] == "failed" and metrics["error"] == "tuning: something broke"
    assert metrics["tuned"] is None and not (out / "face_tuned.safetensors").exists()
    assert json.loads((out / "face.json").read_text())["tuned"] is None
    # the same command redoes a failed target; another one does not touch it
    monkeypatch.undo()
    other = invoke(photo, "-g", tiny, *QUICK, "--tune", "--tune-steps", "3", "--outdir", out)
    assert other.exit_code == 1 and "other settings (tune steps 2 -> 3)" in other.stderr
    again = invoke(*command)
    assert again.exit_code == 0, again.output
    assert metrics_of(out)["status"] == "projected" and (out / "face_tuned.safetensors").exists()


def test_a_failing_noise_stage_keeps_the_w_plus_result(photo, tiny, tmp_path, monkeypatch):
    from invert import projector

    wplus = _wplus_alone(photo, tiny, tmp_path)

    def broken(*args, **kwargs):
        raise ValueError("noise went wrong")

    monkeypatch.setattr(projector, "_noise_stage", broken)
    out = tmp_path / "out"
    result = invoke(photo, "-g", tiny, *QUICK, "--noise", "--outdir", out)
    assert result.exit_code == 3, result.output
    assert f"warning: failed {photo}: noise stage: noise went wrong" in result.stderr
    np.testing.assert_array_equal(np.load(out / "face.npy"), wplus)
    assert not (out / "face_noise.npz").exists()
    metrics = metrics_of(out)
    assert metrics["status"] == "failed" and set(metrics["stages"]) == {"w"}


@pytest.mark.parametrize("stage", ["_w_plus_stage", "_noise_stage"])
def test_out_of_memory_is_one_line_and_keeps_the_earlier_stage(photo, tiny, tmp_path, monkeypatch, stage):
    from invert import projector

    def exhausted(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)")

    monkeypatch.setattr(projector, stage, exhausted)
    out = tmp_path / "out"
    result = invoke(photo, "-g", tiny, *QUICK, "--noise", "--batch-size", "1", "--outdir", out)
    assert result.exit_code == 1, result.output
    doing = "projecting" if stage == "_w_plus_stage" else "optimising the noise maps of"
    assert result.stderr.strip().splitlines()[-1] == (f"Error: out of memory while {doing} a batch of 1 image(s) at "
                                                      "32x32; try a smaller --batch-size")
    if stage == "_noise_stage":  # the W+ latent is written, and marked so that the same command redoes it
        assert np.load(out / "face.npy").shape == (8, 512) and metrics_of(out)["status"] == "failed"
    else:
        assert not (out / "face.npy").exists()


def test_out_of_memory_in_tuning_keeps_the_batch_and_each_image_its_own_tuning(tmp_path, tiny, G, monkeypatch):
    """Two photos tuned one after the other: the first is tuned and written with its own update; running out
    of memory on the second stops the run with one line (no --batch-size hint: tuning takes one image) and
    writes the second's projection, marked failed, with no tuned files."""
    import invert.tuning

    for i in range(2):
        save_png(tmp_path / f"p{i}.png", render_in_domain(G, 1, seed=10 + i)[0])
    real_tune, calls = invert.tuning.tune, []

    def second_runs_out(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_tune(*args, **kwargs)

    monkeypatch.setattr(invert.tuning, "tune", second_runs_out)
    out = tmp_path / "out"
    result = invoke(tmp_path / "p0.png", tmp_path / "p1.png", "-g", tiny, *QUICK, "--tune", "--tune-steps", "3",
                    "--batch-size", "2", "--outdir", out)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: out of memory while tuning the generator at 32x32 (tuning takes one image at a time: project "
        "without --tune, or on a device with more memory)")
    assert metrics_of(out, "p0")["status"] == "projected" and (out / "p0_tuned.safetensors").is_file()
    assert metrics_of(out, "p1")["status"] == "failed" and not (out / "p1_tuned.safetensors").exists()
    assert np.load(out / "p1.npy").shape == (G.num_ws, G.w_dim)
    assert "tuned" not in json.loads((out / "p1.json").read_text()) or \
        json.loads((out / "p1.json").read_text())["tuned"] is None


def test_noise_map_options_reach_the_projector(photo, tiny, tmp_path):
    out = tmp_path / "out"
    result = invoke(photo, "-g", tiny, *QUICK, "--noise", "--noise-steps", "3", "--noise-regularize", "1e3",
                    "--noise-renormalize", "--outdir", out)
    assert result.exit_code == 0, result.output
    metrics = metrics_of(out)
    assert metrics["settings"]["noise_regularize"] == 1e3 and metrics["settings"]["noise_renormalize"] is True
    assert metrics["run"]["key"]["projector"]["noise_renormalize"] is True  # another command than without it
    assert invoke(photo, "-g", tiny, *QUICK, "--noise-regularize", "-1").exit_code == 2


def test_faces_carry_their_detector_scores(tmp_path, tiny, astronaut_path):
    from invert.align import find_faces
    from invert.images import load_rgb

    rgb = load_rgb(astronaut_path)
    pair = tmp_path / "pair.png"
    Image.fromarray(np.concatenate([rgb, rgb[:, ::-1]], axis=1)).save(pair)
    scores = [face.score for face in find_faces(load_rgb(pair), min_score=0.2)]
    result = invoke(pair, "-g", tiny, "--steps", "1", "--vgg-weights", "random", "--all-faces",
                    "--min-face-score", "0.2", "--outdir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    found = [metrics_of(tmp_path / "out", f"pair_face{k}") for k in range(len(scores))]
    assert [m["face_score"] for m in found] == pytest.approx(scores) and all(m["faces_found"] == len(scores)
                                                                            for m in found)
    strict = invoke(pair, "-g", tiny, "--steps", "1", "--vgg-weights", "random", "--min-face-score", "50",
                    "--outdir", tmp_path / "strict")
    assert strict.exit_code == 3 and "lower --min-face-score to accept them" in strict.stderr


def test_without_a_generator_ffhq_1024_is_used_and_named_in_the_record(fake_ffhq, tmp_path, monkeypatch, caplog):
    """`stylegan-invert project face.png` as written (the fixture network stands in for FFHQ), then the edit."""
    import logging

    from invert import known_networks
    from invert.checkpoints import load_generator
    from invert.records import read_record

    G = load_generator("ffhq-1024")
    monkeypatch.chdir(tmp_path)
    save_png(tmp_path / "face.png", render_in_domain(G, 1, seed=2)[0])
    with caplog.at_level(logging.INFO):
        result = invoke("face.png", "--steps", "2", "--vgg-weights", "random", "--no-align")
    assert result.exit_code == 0, result.output
    assert "no --generator given: using ffhq-1024" in caplog.text
    record = read_record(tmp_path / "face.npy")
    assert record.spec == "ffhq-1024" and record.fingerprint == G.source["fingerprint"]
    assert record.data["command"] == "project" and record.data["inputs"] == ["face.png"]
    assert list(known_networks.fingerprints_of(known_networks.FFHQ)) == [G.source["fingerprint"]]
    # the edit finds the generator through the record, with no -g, and the published direction by its name
    edit = CliRunner().invoke(main, ["edit", "face.npy", "--boundary", "smile", "--strength", "2"])
    assert edit.exit_code == 0, edit.output


def test_a_tuned_projection_edits_through_its_tuned_generator(fake_ffhq, tmp_path, monkeypatch):
    """`project face.png --tune`, then the headline edit as written: the edited image is rendered through the
    photo's tuned generator (found through the latent's record), not through the plain network."""
    from invert.checkpoints import load_generator
    from invert.render import render
    from invert.tuning import tuned_generator

    G = load_generator("ffhq-1024")
    monkeypatch.chdir(tmp_path)
    save_png(tmp_path / "face.png", render_in_domain(G, 1, seed=3)[0])
    result = invoke("face.png", "--steps", "4", "--vgg-weights", "random", "--no-align", "--tune", "--tune-steps",
                    "20", "--tune-lr", "3e-3")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "face.json").read_text())["tuned"] == "face_tuned.safetensors"

    edit = CliRunner().invoke(main, ["edit", "face.npy", "--boundary", "smile", "--strength", "2"])
    assert edit.exit_code == 0, edit.output
    edited = np.load(tmp_path / "face_smile+2.0.npy")
    tuned = tuned_generator(G, tmp_path / "face_tuned.safetensors")
    through_tuned, through_plain = render(tuned, edited[None])[0], render(G, edited[None])[0]
    assert np.abs(through_tuned.astype(int) - through_plain.astype(int)).max() > 8  # tuning changed the image
    np.testing.assert_array_equal(decode(tmp_path / "face_smile+2.0.png"), through_tuned)
    assert json.loads((tmp_path / "face_smile+2.0.json").read_text())["tuned"] == "face_tuned.safetensors"
