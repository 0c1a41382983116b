"""`info` and `generate` on every fixture file, checked against the official outputs."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from invert.cli import main
from invert.images import to_uint8
from numerics import assert_close_to_scale

FIXTURE_FILES = ["tiny_ada.pkl", "tiny_tf.pkl", "tiny_rosinality.pt", "tiny_sg3repo.pkl", "small_ada.pkl",
                 "small_tf.pkl", "small_rosinality.pt", "adalike_ada.pkl", "adalike_tf.pkl",
                 "adalike_rosinality.pt"]


@pytest.mark.parametrize("filename", FIXTURE_FILES)
def test_info_describes_every_fixture(sg2_dir, filename):
    import hashlib

    result = CliRunner().invoke(main, ["info", str(sg2_dir / filename), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    cfg = filename.split("_")[0]
    assert info["resolution"] == {"tiny": 32, "small": 64, "adalike": 64}[cfg]
    assert info["num_ws"] == {"tiny": 8, "small": 10, "adalike": 10}[cfg]
    assert info["mapping_layers"] == (2 if cfg == "adalike" else 8)
    assert info["w_dim"] == 512 and info["random_weights"] is False
    assert info["sha256"] == hashlib.sha256((sg2_dir / filename).read_bytes()).hexdigest()
    text = CliRunner().invoke(main, ["info", str(sg2_dir / filename)]).output
    assert "channels" in text and "4:" in text and info["sha256"] in text


def network_fingerprint(path):
    from invert.checkpoints import load_generator

    return load_generator(path).source["fingerprint"]


@pytest.mark.numerics
@pytest.mark.parametrize("filename", FIXTURE_FILES)
def test_generate_renders_the_official_images(sg2_dir, tmp_path, filename):
    import hashlib

    cfg = filename.split("_")[0]
    expected = np.load(sg2_dir / f"{cfg}_expected.npz")
    fingerprint = network_fingerprint(sg2_dir / filename)
    result = CliRunner().invoke(main, ["generate", "-g", str(sg2_dir / filename), "--seeds", "0-1,4",
                                       "--outdir", str(tmp_path), "--save-latents", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for seed in (0, 1, 4):
        png = np.asarray(Image.open(tmp_path / f"seed{seed:04d}.png"))
        official = to_uint8(expected["img"][seed: seed + 1])[0]
        # 1e-5 differences can move a value across a rounding boundary: at most one level, rarely
        assert np.abs(png.astype(int) - official.astype(int)).max() <= 1
        assert (png != official).mean() < 0.01
        ws = np.load(tmp_path / f"seed{seed:04d}.npy")
        assert ws.dtype == np.float32 and ws.shape == expected["ws"].shape[1:]
        assert_close_to_scale(ws, expected["ws"][seed], rtol=1e-5)  # the official mapping: rounding only
        record = json.loads((tmp_path / f"seed{seed:04d}.json").read_text())
        assert record["format"] == "stylegan-invert latent record" and record["command"] == "generate"
        assert record["latent"] == f"seed{seed:04d}.npy" and record["shape"] == list(ws.shape)
        assert record["inputs"] == [f"seed {seed}, truncation 1"]
        assert record["generator"]["spec"] == str(sg2_dir / filename) == record["generator"]["path"]
        assert record["generator"]["sha256"] == hashlib.sha256((sg2_dir / filename).read_bytes()).hexdigest()
        assert record["generator"]["fingerprint"] == fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"seed{s:04d}.{ext}" for s in (0, 1, 4) for ext in ("png", "npy", "json")])


@pytest.mark.numerics
def test_generate_truncation_matches_official(sg2_dir, tmp_path):
    expected = np.load(sg2_dir / "small_expected.npz")
    result = CliRunner().invoke(main, ["generate", "-g", str(sg2_dir / "small_ada.pkl"), "--seeds", "2",
                                       "--truncation", "0.7",
                                       "--outdir", str(tmp_path)])
    assert result.exit_code == 0
    png = np.asarray(Image.open(tmp_path / "seed0002.png"))
    assert np.abs(png.astype(int) - to_uint8(expected["img_trunc"][2:3])[0].astype(int)).max() <= 1


def test_generate_with_random_generator_says_so(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "invert", "generate", "-g", "random:32:3", "--seeds", "5",
                             "--outdir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "random:32:3: RANDOM weights" in result.stderr  # the log line
    assert result.stdout.strip() == str(tmp_path / "seed0005.png")  # results alone on stdout
    image = Image.open(tmp_path / "seed0005.png")
    assert image.size == (32, 32)
    assert image.text["random_generator"].startswith("true")


def test_generate_refuses_to_overwrite_and_bad_seeds(tmp_path):
    runner = CliRunner()
    args = ["generate", "-g", "random:32", "--seeds", "0", "--outdir", str(tmp_path)]
    assert runner.invoke(main, args).exit_code == 0
    before = (tmp_path / "seed0000.png").read_bytes()
    again = runner.invoke(main, args)
    assert again.exit_code == 1 and "exists; pass --force" in again.output
    assert (tmp_path / "seed0000.png").read_bytes() == before
    bad = runner.invoke(main, ["generate", "-g", "random:32", "--seeds", "3-1", "--outdir", str(tmp_path)])
    assert bad.exit_code == 1 and "bad seed list '3-1'" in bad.output
    missing = runner.invoke(main, ["generate", "-g", str(tmp_path / "nope.pkl"), "--seeds", "9", "--outdir",
                                      str(tmp_path)])
    assert missing.exit_code == 1 and "no checkpoint file or registry name" in missing.output


def test_convert_then_info(sg2_dir, tmp_path):
    out = tmp_path / "tiny.pt"
    result = CliRunner().invoke(main, ["convert", str(sg2_dir / "tiny_tf.pkl"), str(out)])
    assert result.exit_code == 0 and out.exists()
    info = json.loads(CliRunner().invoke(main, ["info", str(out), "--json"]).output)
    assert info["format"] == "stylegan-invert generator" and info["resolution"] == 32
    again = CliRunner().invoke(main, ["convert", str(sg2_dir / "tiny_tf.pkl"), str(out)])
    assert again.exit_code == 1 and "pass --force" in again.output
