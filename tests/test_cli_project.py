"""`stylegan-invert project` through click's CliRunner, on the 32x32 `tiny` fixture, a few steps each."""
import errno
import json
import logging
import shutil
from urllib.error import URLError

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from projection_helpers import render_in_domain

import invert
from invert.cli import main
from invert.images import save_png, to_uint8
from invert import vgg_weights

QUICK = ["--steps", "3", "--vgg-weights", "random"]


@pytest.fixture(scope="module")
def tiny(sg2_dir):
    return sg2_dir / "tiny_ada.pkl"


@pytest.fixture(scope="module")
def G(tiny):
    return invert.load_generator(tiny)


@pytest.fixture(scope="module")
def renders(G):
    """Three 32x32 uint8 images the tiny generator can make (random W+, fresh noise)."""
    return render_in_domain(G, 3, seed=9)


@pytest.fixture
def images(tmp_path, renders):
    paths = []
    for i, pixels in enumerate(renders):
        paths.append(tmp_path / f"img{i}.png")
        save_png(paths[-1], pixels)
    return paths


def invoke(*args):
    return CliRunner().invoke(main, ["project", *map(str, args)])


def decode(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


METRIC_KEYS = {"psnr", "ssim", "lpips", "identity_similarity", "identity_distance",
               "input", "aligned", "face_index", "loss", "loss_w", "loss_noise", "steps", "interrupted", "seconds",
               "seconds_note", "device", "settings", "generator", "random_generator", "vgg16", "random_vgg16",
               "outputs", "version", "noise_maps"}


def check_outputs(folder, stem, *, resolution, num_ws, noise=False, video=None):
    """Every output of one projected image exists, decodes and has the right shape; returns the metrics."""
    latent = np.load(folder / f"{stem}.npy")
    assert latent.shape == (num_ws, 512) and latent.dtype == np.float32
    for name in ("aligned", "proj"):
        assert decode(folder / f"{stem}_{name}.png").shape == (resolution, resolution, 3)
    compare = decode(folder / f"{stem}_compare.png")
    assert compare.shape == (resolution, 2 * resolution, 3)
    np.testing.assert_array_equal(compare[:, :resolution], decode(folder / f"{stem}_aligned.png"))
    np.testing.assert_array_equal(compare[:, resolution:], decode(folder / f"{stem}_proj.png"))
    assert (folder / f"{stem}_noise.npz").exists() == noise
    metrics = json.loads((folder / f"{stem}_metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    record = json.loads((folder / f"{stem}.json").read_text())  # the latent's record: its generator
    assert record["command"] == "project" and record["inputs"] == [metrics["input"]]
    assert record["generator"]["fingerprint"] == metrics["run"]["key"]["generator"]
    assert ("lpips_note" in metrics) == (metrics["lpips"] is None)
    assert ("identity_note" in metrics) == (metrics["identity_similarity"] is None)
    assert 5 < metrics["psnr"] < 60 and 0 < metrics["ssim"] <= 1
    if video:
        assert (folder / f"{stem}_progress.{video}").stat().st_size > 0
    assert not leftovers(folder)
    return metrics


def leftovers(folder):
    """Hidden files a failed or half-done write could have left (the run's lock file is meant to stay)."""
    from invert.pipeline.run import LOCK_NAME

    return [p.name for p in folder.rglob(".*") if p.name != LOCK_NAME]


def test_project_writes_every_output(images, tiny, G):
    result = invoke(images[0], "--generator", tiny, "--no-align", *QUICK)
    assert result.exit_code == 0, result.output
    folder = images[0].parent
    metrics = check_outputs(folder, "img0", resolution=32, num_ws=G.num_ws)
    assert result.stdout.splitlines()[0].startswith(f"{folder / 'img0.npy'}  PSNR ")
    np.testing.assert_array_equal(decode(folder / "img0_aligned.png"), decode(images[0]))
    assert metrics["steps"] == {"w": 3, "noise": 0, "tune": 0} and not metrics["interrupted"]
    assert metrics["status"] == "projected" and metrics["tuned"] is None and metrics["face_score"] is None
    assert list(metrics["stages"]) == ["w"] and metrics["stages"]["w"]["psnr"] == metrics["psnr"]
    assert metrics["noise_maps"] is None  # no noise maps were optimised or given
    assert metrics["generator"]["sha256"] == "60d53a22b8ce5d2634140933721505ee8b9bd59aaee960e85d22d3961d0b3b93"
    assert metrics["random_generator"] is False and "warning" not in metrics
    assert metrics["random_vgg16"] is True and metrics["lpips"] is None and "random" in metrics["lpips_note"]
    assert metrics["identity_similarity"] is None and metrics["identity_note"]
    assert metrics["settings"]["num_steps"] == 3 and metrics["settings"]["lr"] == 0.01
    assert metrics["settings"]["space"] == "w+" and metrics["settings"]["loss"] == "vgg"
    assert metrics["device"] == "cpu" and metrics["aligned"] is False
    # the reconstruction is the latent rendered with the stored noise maps
    with torch.no_grad():
        image = G.synthesis(torch.from_numpy(np.load(folder / "img0.npy"))[None])
    np.testing.assert_array_equal(to_uint8(image)[0], decode(folder / "img0_proj.png"))


def test_noise_file_reproduces_the_reconstruction(images, tiny, G, tmp_path):
    out = tmp_path / "out"
    result = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--noise", "--noise-steps", "5", "--outdir", out)
    assert result.exit_code == 0, result.output
    metrics = check_outputs(out, "img0", resolution=32, num_ws=G.num_ws, noise=True)
    assert metrics["steps"] == {"w": 3, "noise": 5, "tune": 0} and metrics["settings"]["noise_lr"] == 1.0
    # the figures after each stage: the final ones are the noise stage's
    assert set(metrics["stages"]) == {"w", "noise"} and metrics["stages"]["noise"]["psnr"] == metrics["psnr"]
    assert metrics["stages"]["w"]["steps"] == 3 and metrics["stages"]["noise"]["steps"] == 5
    noise = np.load(out / "img0_noise.npz")
    assert sorted(noise.files) == sorted(f"noise_{i}" for i in range(G.num_ws - 1))
    maps = [noise[f"noise_{i}"] for i in range(G.num_ws - 1)]
    assert [m.shape for m in maps] == G.synthesis.noise_shapes() and all(m.dtype == np.float32 for m in maps)
    # the metrics describe the saved maps (rounded to 4 decimals)
    assert [m["resolution"] for m in metrics["noise_maps"]] == [shape[0] for shape in G.synthesis.noise_shapes()]
    for stats, saved in zip(metrics["noise_maps"], maps):
        assert stats["mean"] == pytest.approx(float(saved.mean()), abs=2e-4)
        assert stats["std"] == pytest.approx(float(saved.std()), abs=2e-4)
        assert stats["max_abs"] == pytest.approx(float(np.abs(saved).max()), abs=2e-4)
    with torch.no_grad():
        image = G.synthesis(torch.from_numpy(np.load(out / "img0.npy"))[None],
                            noise=[torch.from_numpy(m) for m in maps])
    np.testing.assert_array_equal(to_uint8(image)[0], decode(out / "img0_proj.png"))


def test_the_same_command_again_skips_what_is_done_and_other_settings_need_force(images, tiny):
    assert invoke(images[0], "-g", tiny, "--no-align", *QUICK).exit_code == 0
    folder = images[0].parent
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    # the same command: complete outputs are kept as they are
    again = invoke(images[0], "-g", tiny, "--no-align", *QUICK)
    assert again.exit_code == 0, again.output
    assert again.stdout == "" and {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    # other settings: another command's outputs, refused before any work
    other = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--steps", "5")
    assert other.exit_code == 1
    assert other.stderr.strip() == (f"Error: {folder / 'img0_metrics.json'} exists: it was projected with other "
                                    "settings (num_steps 3 -> 5); pass --force to overwrite it")
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    forced = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--steps", "5", "--force")
    assert forced.exit_code == 0
    assert json.loads((folder / "img0_metrics.json").read_text())["steps"]["w"] == 5
    # a file of the same name that no projection wrote is never replaced without --force
    (folder / "img1.json").write_text("{}")
    foreign = invoke(images[1], "-g", tiny, "--no-align", *QUICK)
    assert foreign.exit_code == 1
    assert foreign.stderr.strip() == (f"Error: {folder / 'img1.json'} exists: it was not written by a projection of "
                                      "this toolkit; pass --force to overwrite it")
    assert (folder / "img1.json").read_text() == "{}" and not (folder / "img1.npy").exists()


@pytest.mark.numerics
def test_folder_glob_and_batches(images, tiny, tmp_path, G):
    folder = images[0].parent
    out = tmp_path / "batch"
    result = invoke(folder, "-g", tiny, "--no-align", *QUICK, "--batch-size", "2", "--outdir", out)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    for i in range(3):
        metrics = check_outputs(out, f"img{i}", resolution=32, num_ws=G.num_ws)
        assert metrics["settings"]["batch_size"] == (2 if i < 2 else 1)
    # outputs of an earlier projection beside the inputs are not projected again
    invoke(images[2], "-g", tiny, "--no-align", *QUICK)
    assert (folder / "img2_proj.png").exists()
    result = invoke(f"{folder}/*.png", "-g", tiny, "--no-align", *QUICK, "--outdir", tmp_path / "glob")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "glob").glob("*.npy")) == ["img0.npy", "img1.npy", "img2.npy"]
    # the same image in batches of 1, 2 or 3: the same latent, up to rounding that Adam's normalised steps may
    # amplify for the odd element; a tenth of one step (lr 0.01) is far below what tells two images apart
    for name in ("img0.npy", "img2.npy"):
        np.testing.assert_allclose(np.load(out / name), np.load(tmp_path / "glob" / name), atol=1e-3, rtol=0)


def test_errors_are_one_line(images, tiny, tmp_path, G):
    """Mistakes in the command (a missing file named on it, a bad mask or resume file) stop the run with one
    line and exit 1 before anything is written."""
    def fails(*args, match):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0], result.stderr
        return lines[0]

    fails(tmp_path / "missing.png", "-g", tiny, "--no-align", *QUICK, match="image not found")
    fails(tmp_path / "nothing*.png", "-g", tiny, "--no-align", *QUICK, match="no images match")
    colour = np.zeros((32, 32, 3), np.uint8)
    colour[..., 1] = 255
    Image.fromarray(colour).save(tmp_path / "colour_mask.png")
    fails(images[0], "-g", tiny, "--no-align", *QUICK, "--mask", tmp_path / "colour_mask.png",
          match="a mask must be greyscale")
    np.save(tmp_path / "bad.npy", np.zeros((5, 512), np.float32))
    fails(images[0], "-g", tiny, "--no-align", *QUICK, "--resume", tmp_path / "bad.npy",
          match="[5, 512]")
    fails(images[0], images[1], "-g", tiny, "--no-align", *QUICK, "--resume", tmp_path / "bad.npy",
          match="exactly one image")
    fails(images[0], "-g", tiny, "--no-align", "--steps", "3", "--vgg-weights", tmp_path / "nope.pth",
          match="VGG16 weights file not found")
    assert not (images[0].parent / "img0.npy").exists()  # nothing written by any failed run


def test_a_photo_that_cannot_be_used_is_skipped_with_one_line_and_exit_3(images, tiny, tmp_path):
    """A bad photo (unreadable, a mask of the wrong size for it) is that photo's problem: one warning line with
    its reason, the others are projected, a summary, and exit code 3."""
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = invoke(tmp_path / "broken.png", images[0], "-g", tiny, "--no-align", *QUICK)
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"warning: skipped: cannot read image {tmp_path / 'broken.png'}: ")
    assert lines[-1] == "2 input(s): 1 projected, 1 skipped, 0 failed"
    assert result.stdout.startswith(f"{tmp_path / 'img0.npy'}  PSNR")
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(tmp_path / "small_mask.png")
    result = invoke(images[1], "-g", tiny, "--no-align", *QUICK, "--mask", tmp_path / "small_mask.png")
    assert result.exit_code == 3, result.output
    assert "mask" in result.stderr and "is 20x20 pixels; expected 32x32" in result.stderr
    assert not (tmp_path / "img1.npy").exists() and not (tmp_path / "broken.npy").exists()


@pytest.mark.parametrize("failure", [URLError("no route to host"),
                                     OSError(errno.EROFS, "Read-only file system", "/ro/hub/checkpoints/x")])
def test_no_vgg_weights_offline_or_read_only_says_where_to_put_them(images, tiny, monkeypatch, failure):
    def fails(url, **kwargs):
        raise failure

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fails)
    result = invoke(images[0], "-g", tiny, "--no-align", "--steps", "2")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: VGG16 weights are missing") and str(vgg_weights.hub_checkpoint_path()) in line
    assert "Read-only file system" not in line
    assert line.endswith("; or pass --vgg-weights PATH") and "\n" not in line
    assert not (images[0].parent / "img0.npy").exists()


def test_real_format_vgg_file_in_the_hub_cache_and_lpips(images, tiny, tmp_path, G):
    """A torchvision-layout file (random tensors) where torchvision keeps it: used, and LPIPS is computed."""
    hub = vgg_weights.hub_checkpoint_path()
    hub.parent.mkdir(parents=True)
    torch.save(vgg_weights.random_state(11), hub)
    out = tmp_path / "hub"
    result = invoke(images[0], "-g", tiny, "--no-align", "--steps", "2", "--outdir", out)
    assert result.exit_code == 0, result.output
    metrics = check_outputs(out, "img0", resolution=32, num_ws=G.num_ws)
    assert metrics["vgg16"] == {"source": str(hub), "random": False}
    assert isinstance(metrics["lpips"], float) and 0 <= metrics["lpips"] < 2 and "lpips_note" not in metrics
    assert "LPIPS" in result.stdout
    # --loss lpips uses the same file
    result = invoke(images[1], "-g", tiny, "--no-align", "--steps", "2", "--loss", "lpips", "--outdir", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "img1_metrics.json").read_text())["settings"]["perceptual"] == "lpips"


def test_options_reach_the_projector(images, tiny, tmp_path, G):
    out = tmp_path / "opts"
    args = [images[0], "-g", tiny, "--no-align", "--vgg-weights", "random:2", "--outdir", out]
    result = invoke(*args, "--steps", "4", "--space", "w", "--init", "random", "--seed", "5", "--lr", "0.05",
                    "--mse-weight", "2", "--perceptual-weight", "0.5", "--amp", "bf16", "--channels-last",
                    "--threads", "2", "--device", "cpu")
    assert result.exit_code == 0, result.output
    latent = np.load(out / "img0.npy")
    assert np.array_equal(latent, np.broadcast_to(latent[:1], latent.shape))  # W space: one w for all layers
    settings = json.loads((out / "img0_metrics.json").read_text())["settings"]
    assert settings | {"space": "w", "init": "random", "seed": 5, "lr": 0.05, "mse_weight": 2.0,
                       "perceptual_weight": 0.5, "amp": "bf16", "channels_last": True} == settings
    # same seed, same result, exactly
    again = invoke(*args[:-1], tmp_path / "again", "--steps", "4", "--space", "w", "--init", "random", "--seed", "5",
                   "--lr", "0.05", "--mse-weight", "2", "--perceptual-weight", "0.5", "--amp", "bf16",
                   "--channels-last", "--threads", "2")
    assert again.exit_code == 0
    assert np.array_equal(np.load(tmp_path / "again" / "img0.npy"), latent)
    bad_device = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--device", "tpu")
    assert bad_device.exit_code == 1
    assert bad_device.stderr == "Error: --device tpu: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps\n"



def test_compile_options(images, tiny, tmp_path, monkeypatch):
    modes = []
    monkeypatch.setattr(torch, "compile", lambda fn, *, mode=None: modes.append(mode) or fn)
    for flags, expected in ((["--compile"], "default"), (["--compile-mode", "reduce-overhead"], "reduce-overhead")):
        out = tmp_path / expected
        result = invoke(images[0], "-g", tiny, "--no-align", *QUICK, *flags, "--outdir", out)
        assert result.exit_code == 0, result.output
        assert json.loads((out / "img0_metrics.json").read_text())["settings"]["compile"] == expected
        assert modes[-2:] == [expected, expected]
    from invert.projector import COMPILE_MODES

    from invert.cli.project import project as project_command

    choices = next(o for o in project_command.params if o.name == "compile_mode").type.choices
    assert tuple(choices) == COMPILE_MODES  # the command line offers what the projector accepts
    bad = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--compile-mode", "fast")
    assert bad.exit_code == 2 and "'fast' is not one of 'default', 'reduce-overhead', 'max-autotune'" in bad.stderr


@pytest.mark.parametrize("amx", [True, False])
def test_bf16_tip_only_on_cpus_where_it_was_measured_to_pay(images, tiny, tmp_path, monkeypatch, caplog, amx):
    monkeypatch.setattr("invert.devices.bf16_autocast_pays", lambda device: amx)
    with caplog.at_level(logging.INFO):
        result = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--device", "cpu", "--outdir", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert ("Tip: this CPU has AMX: --amp bf16" in caplog.text) is amx
    assert "Tip:" not in result.stdout  # a log line, silenced by -q; never mixed into the results
    caplog.clear()
    with caplog.at_level(logging.INFO):
        asked = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--amp", "bf16", "--outdir", tmp_path / "b")
    assert asked.exit_code == 0 and "Tip:" not in caplog.text


def test_mask_inpaints_the_unknown_region(images, tiny, tmp_path, renders):
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    edited = renders[0].copy()
    edited[:, 16:] = 0  # the unknown half of the input may hold anything
    save_png(tmp_path / "edited.png", edited)
    out = tmp_path / "masked"
    base = ["-g", tiny, "--no-align", "--vgg-weights", "random", "--steps", "6", "--noise", "--noise-steps", "3",
            "--mask", tmp_path / "mask.png"]
    assert invoke(images[0], *base, "--outdir", out).exit_code == 0
    result = invoke(tmp_path / "edited.png", *base, "--outdir", out)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(out / "img0.npy"), np.load(out / "edited.npy"))
    assert json.loads((out / "edited_metrics.json").read_text())["settings"]["mask"] is True


def test_resume_continues_with_the_noise_beside_it(images, tiny, tmp_path, G):
    out = tmp_path / "first"
    assert invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--noise", "--noise-steps", "4",
                  "--outdir", out).exit_code == 0
    # zero more steps: exactly the saved latent, noise maps and reconstruction come back
    result = invoke(images[0], "-g", tiny, "--no-align", "--vgg-weights", "random", "--steps", "0",
                    "--resume", out / "img0.npy", "--outdir", tmp_path / "same")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "same" / "img0.npy"), np.load(out / "img0.npy"))
    np.testing.assert_array_equal(decode(tmp_path / "same" / "img0_proj.png"), decode(out / "img0_proj.png"))
    saved, first = np.load(tmp_path / "same" / "img0_noise.npz"), np.load(out / "img0_noise.npz")
    assert all(np.array_equal(saved[k], first[k]) for k in first.files)
    # more steps continue from there, with those noise maps held fixed
    result = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--resume", out / "img0.npy",
                    "--outdir", tmp_path / "second")
    assert result.exit_code == 0, result.output
    second = json.loads((tmp_path / "second" / "img0_metrics.json").read_text())
    assert second["settings"]["resumed"] and second["settings"]["resumed_noise"]
    assert not np.array_equal(np.load(tmp_path / "second" / "img0.npy"), np.load(out / "img0.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "second" / "img0_noise.npz")["noise_0"], first["noise_0"])
    # an explicit --resume-noise of the wrong generator is refused
    np.savez(tmp_path / "wrong_noise.npz", noise_0=np.zeros((4, 4), np.float32))
    result = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--resume", out / "img0.npy",
                    "--resume-noise", tmp_path / "wrong_noise.npz", "--outdir", tmp_path / "third")
    assert result.exit_code == 1 and "noise maps" in result.stderr


def test_random_generator_is_flagged(tmp_path):
    G = invert.load_generator("random:32", verbose=False)
    with torch.no_grad():
        save_png(tmp_path / "r.png", to_uint8(G.synthesis(G.w_avg.expand(1, G.num_ws, -1)))[0])
    result = invoke(tmp_path / "r.png", "-g", "random:32", "--no-align", *QUICK)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r_metrics.json").read_text())
    assert metrics["random_generator"] is True and "RANDOM generator weights" in metrics["warning"]
    assert metrics["generator"]["sha256"] == "random:32:0"
    for name in ("r_proj.png", "r_compare.png"):  # the rendered images say so too
        with Image.open(tmp_path / name) as image:
            assert image.text["random_generator"].startswith("true: RANDOM weights")
            assert image.text["generator_sha256"] == "random:32:0"


def test_video_gif(images, tiny, tmp_path, G):
    out = tmp_path / "video"
    result = invoke(images[0], "-g", tiny, "--no-align", "--vgg-weights", "random", "--steps", "6", "--noise",
                    "--noise-steps", "2", "--gif", "--frame-every", "2", "--outdir", out)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    check_outputs(out, "img0", resolution=32, num_ws=G.num_ws, noise=True, video="gif")
    with Image.open(out / "img0_progress.gif") as gif:
        assert gif.n_frames == 3 + 1 + 1 and gif.size == (64, 32)  # W+ steps 0, 2, 4; noise step 0; final


def test_video_mp4(images, tiny, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "mp4"
    result = invoke(images[0], "-g", tiny, "--no-align", *QUICK, "--mp4", "--outdir", out)
    assert result.exit_code == 0, result.output
    frames = iio.imread(out / "img0_progress.mp4")
    assert frames.shape == (4, 32, 64, 3)  # every step (3 steps -> auto k = 1) + the final result


@pytest.mark.parametrize("old, new, written", [
    (["--video"], "--mp4", "img0_progress.mp4"),
    (["--video", "--video-format", "gif", "--video-every", "2"], "--gif", "img0_progress.gif"),
])
def test_the_old_animation_options_still_work_with_a_note(images, tiny, tmp_path, caplog, old, new, written):
    with caplog.at_level(logging.WARNING):
        result = invoke(images[0], "-g", tiny, "--no-align", *QUICK, *old, "--outdir", tmp_path)
    assert result.exit_code == 0, result.output
    notes = [r.getMessage() for r in caplog.records if r.name == "invert.cli.deprecated"]
    expected = [f"{' '.join(old[:3])} is deprecated and will be removed in the next release; use {new}"]
    if "--video-every" in old:  # parsed before the command runs
        expected.insert(0, "--video-every is deprecated and will be removed in the next release; use --frame-every")
    assert notes == expected
    assert (tmp_path / written).stat().st_size > 0
    help_text = invoke("--help").stdout
    assert "--frame-every" in help_text and "--gif" in help_text
    assert "--video" not in help_text


@pytest.mark.parametrize("args, message", [
    (["--gif", "--mp4"], "--gif and --mp4 exclude each other in project"),
    (["--frame-every", "2"], "--frame-every spaces the animation's frames; add --gif or --mp4"),
    (["--video", "--gif"], "--video is the old spelling of --mp4; give --gif or --mp4 only"),
    (["--mask", "m.png"], "--mask needs --no-align"),
])
def test_animation_and_mask_misuse_are_usage_errors(tmp_path, args, message):
    result = invoke(tmp_path / "photo.png", "-g", "random:32", *args, "--outdir", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.stderr.splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_ctrl_c_saves_the_best_so_far_and_exits_130(images, tiny, tmp_path, monkeypatch, G):
    from invert import losses

    calls = {"n": 0}
    forward = losses.ProjectionLoss.forward

    def interrupted_at_fourth_step(self, images_, prepared):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return forward(self, images_, prepared)

    monkeypatch.setattr(losses.ProjectionLoss, "forward", interrupted_at_fourth_step)
    out = tmp_path / "ctrlc"
    command = [images[0], images[1], images[2], "-g", tiny, "--no-align", "--vgg-weights", "random", "--steps", "50",
               "--noise", "--noise-steps", "2", "--batch-size", "2", "--outdir", out]
    result = invoke(*command)
    assert result.exit_code == 130, result.output
    assert "Interrupted: saved the best result so far for 2 image(s); 1 not projected" in result.stderr
    for i in range(2):
        metrics = check_outputs(out, f"img{i}", resolution=32, num_ws=G.num_ws)
        assert metrics["interrupted"] is True and metrics["steps"] == {"w": 3, "noise": 0, "tune": 0}
        assert metrics["status"] == "interrupted"
    assert not (out / "img2.npy").exists()
    assert json.loads((out / "img0_metrics.json").read_text())["settings"]["noise"] is False  # never reached
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(r["input"], r["status"]) for r in rows] == [(str(images[0]), "interrupted"),
                                                         (str(images[1]), "interrupted")]
    # the same command again redoes the interrupted ones and does the rest
    monkeypatch.setattr(losses.ProjectionLoss, "forward", forward)
    result = invoke(*command)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    for i in range(3):
        metrics = check_outputs(out, f"img{i}", resolution=32, num_ws=G.num_ws, noise=True)
        assert metrics["status"] == "projected" and metrics["steps"] == {"w": 50, "noise": 2, "tune": 0}
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(r["input"], r["status"]) for r in rows] == [(str(p), "projected") for p in images]


def test_end_to_end_aligned_photo(astronaut_path, tiny, tmp_path, G):
    photo = tmp_path / "astronaut.png"
    shutil.copyfile(astronaut_path, photo)
    result = invoke(photo, "-g", tiny, *QUICK, "--noise", "--noise-steps", "2", "--gif")
    assert result.exit_code == 0, result.output
    metrics = check_outputs(tmp_path, "astronaut", resolution=32, num_ws=G.num_ws, noise=True, video="gif")
    assert metrics["aligned"] is True and metrics["face_index"] == 0
    assert metrics["input"] == str(photo)
    aligned = decode(tmp_path / "astronaut_aligned.png")
    from invert.align import align_face
    from invert.images import load_rgb

    np.testing.assert_array_equal(aligned, align_face(load_rgb(photo), size=32))
    assert metrics["identity_similarity"] is None and "too small" in metrics["identity_note"]

    # --face-index, --landmarks and --upsample reach the aligner: on a photo of two astronauts (the photo
    # alone has one face above the detector's default minimum score)
    from invert.faces import LANDMARKS_FILE, model_path

    rgb = load_rgb(photo)
    pair = tmp_path / "pair.png"
    Image.fromarray(np.concatenate([rgb, rgb[:, ::-1]], axis=1)).save(pair)
    result = invoke(pair, "-g", tiny, *QUICK, "--face-index", "1", "--landmarks", model_path(LANDMARKS_FILE),
                    "--upsample", "1", "--outdir", tmp_path / "second_face")
    assert result.exit_code == 0, result.output
    second = align_face(load_rgb(pair), size=32, face_index=1)
    np.testing.assert_array_equal(decode(tmp_path / "second_face" / "pair_aligned.png"), second)
    assert np.abs(second.astype(int) - align_face(load_rgb(pair), size=32).astype(int)).mean() > 1  # the other one
    result = invoke(photo, "-g", tiny, *QUICK, "--landmarks", tmp_path / "missing.dat", "--outdir", tmp_path / "x")
    assert result.exit_code == 1 and "missing.dat" in result.stderr

    result = invoke(pair, "-g", tiny, *QUICK, "--all-faces", "--outdir", tmp_path / "all")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "all").glob("*.npy")) == ["pair_face0.npy", "pair_face1.npy"]
    face1 = json.loads((tmp_path / "all" / "pair_face1_metrics.json").read_text())
    assert face1["face_index"] == 1


def test_no_face_suggests_no_align(images, tiny):
    result = invoke(images[0], "-g", tiny, *QUICK)
    assert result.exit_code == 3
    warning, summary = result.stderr.strip().splitlines()
    assert warning.startswith(f"warning: skipped {images[0]}: no face found") and "--no-align" in warning
    assert summary == "1 input(s): 0 projected, 1 skipped, 0 failed"
    result = invoke(images[0], "-g", tiny, *QUICK, "--face-index", "1", "--all-faces")
    assert result.exit_code == 2 and "exclude each other" in result.stderr
