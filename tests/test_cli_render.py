"""`stylegan-invert render` through click: latents rendered through their own generator and tuned update."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import editing_helpers
from editing_helpers import RANDOM, error_line, load, output_paths, random_noise, run, sample_ws
from invert.images import to_uint8
from invert.latents import save_latent
from invert.records import latent_record
from invert.render import render
from invert.tuning import apply_update, tune
from tuning_helpers import random_update, save_tuned_latent

spec = editing_helpers.spec
reuse_generators = editing_helpers.reuse_generators


def png(path):
    return np.asarray(Image.open(path))


@pytest.fixture
def no_generator(monkeypatch):
    """Fail the test if the command loads its generator (the output checks must come first)."""
    import invert.checkpoints

    def refuse(*args, **kwargs):
        raise AssertionError("the generator was loaded before the outputs were checked")

    monkeypatch.setattr(invert.checkpoints, "load_generator", refuse)


@pytest.mark.numerics
def test_render_draws_each_latent_through_its_own_update(tmp_path, spec):
    G = load(spec)
    a, b, c = sample_ws(G, 3, seed=60)
    noise_a = random_noise(G, seed=61)
    # a: what `project --tune` leaves (a few real tuning steps towards a random target, rank 4)
    target = np.random.default_rng(1).integers(0, 256, (G.resolution, G.resolution, 3), dtype=np.uint8)
    tuning = tune(G, a, target, noise=noise_a, steps=4, rank=4, perceptual=None, lr=0.05)
    a_update = save_tuned_latent(tmp_path / "a.npy", G, a, tuning.update, spec=spec, noise=noise_a)
    # b: a record without an update; c: a full update of its own
    save_latent(tmp_path / "b.npy", b, record=latent_record(G, generator_spec=spec, command="generate"))
    c_update = random_update(G, "full", seed=62, size=0.2)
    save_tuned_latent(tmp_path / "c.npy", G, c, c_update, spec=spec)

    result = run("render", tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.npy", "--outdir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    outs = [tmp_path / "out" / f"{name}_render.png" for name in "abc"]
    assert output_paths(result) == [str(p) for p in outs]
    # each is render(G with its update applied, latent): the same code on the same numbers, so exactly equal
    np.testing.assert_array_equal(png(outs[0]), render(apply_update(G, tuning.update), a[None], noise=noise_a)[0])
    np.testing.assert_array_equal(png(outs[1]), render(G, b[None])[0])
    np.testing.assert_array_equal(png(outs[2]), render(apply_update(G, c_update), c[None])[0])
    # the tuned reconstruction `tune` reported (its noise maps given as [1, 1, r, r]: rounding apart, one level)
    assert np.abs(png(outs[0]).astype(int) - to_uint8(tuning.images)[0].astype(int)).max() <= 1
    assert np.abs(png(outs[0]).astype(float) - render(G, a[None], noise=noise_a)[0]).mean() > 1
    text = [Image.open(p).text for p in outs]
    assert text[0]["tuned_update"] == os.path.abspath(a_update) and text[0]["tuned_rank"] == "4"
    assert "tuned_update" not in text[1] and text[2]["tuned_rank"] == "full"
    assert text[1]["command"] == "render" and text[1]["latent"] == str(tmp_path / "b.npy")

    plain = run("render", tmp_path / "a.npy", tmp_path / "c.npy", "--no-tuned", "--outdir", tmp_path / "plain")
    assert plain.exit_code == 0, plain.output
    np.testing.assert_array_equal(png(tmp_path / "plain" / "a_render.png"), render(G, a[None], noise=noise_a)[0])
    np.testing.assert_array_equal(png(tmp_path / "plain" / "c_render.png"), render(G, c[None])[0])


def test_render_finds_an_edits_update_and_matches_its_image(tmp_path):
    """An edit written into another folder names the update by a relative path; rendering the result again
    gives the edit's own image."""
    G = load(RANDOM)
    w = sample_ws(G, 1, seed=63)[0]
    save_tuned_latent(tmp_path / "a.npy", G, w, random_update(G, 4, seed=64, size=0.2), spec=RANDOM)
    np.save(tmp_path / "n.npy", np.eye(1, G.w_dim, dtype=np.float32))
    out = tmp_path / "edits" / "e.npy"
    assert run("edit", tmp_path / "a.npy", "-b", tmp_path / "n.npy", "--out", out).exit_code == 0
    result = run("render", out)
    assert result.exit_code == 0, result.output
    assert output_paths(result) == [str(tmp_path / "edits" / "e_render.png")]
    np.testing.assert_array_equal(png(tmp_path / "edits" / "e_render.png"), png(tmp_path / "edits" / "e.png"))


def test_outputs_are_checked_before_the_generator_is_loaded(tmp_path, no_generator):
    np.save(tmp_path / "a.npy", np.zeros([8, 512], np.float32))
    (tmp_path / "a_render.png").write_bytes(b"keep")
    assert error_line(run("render", tmp_path / "a.npy", "-g", RANDOM)) == (
        f"Error: {tmp_path / 'a_render.png'} exists; pass --force to overwrite it")
    (tmp_path / "afile").write_text("in the way")
    assert error_line(run("render", tmp_path / "a.npy", "-g", RANDOM, "--outdir", tmp_path / "afile" / "x")) == (
        f"Error: cannot write {tmp_path / 'afile' / 'x' / 'a_render.png'}: {tmp_path / 'afile'} is a file, not a "
        f"folder")
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "a.npy", np.zeros([8, 512], np.float32))
    assert error_line(run("render", tmp_path / "a.npy", tmp_path / "sub" / "a.npy", "-g", RANDOM, "--outdir",
                          tmp_path / "o")) == (
        f"Error: {tmp_path / 'a.npy'} and {tmp_path / 'sub' / 'a.npy'} would both be rendered to "
        f"{tmp_path / 'o' / 'a_render.png'}; render them into separate folders")
    assert (tmp_path / "a_render.png").read_bytes() == b"keep" and not (tmp_path / "o").exists()


def test_every_latent_is_checked_before_any_image_is_written(tmp_path):
    G = load(RANDOM)
    np.save(tmp_path / "good.npy", sample_ws(G, 1, seed=65)[0])
    np.save(tmp_path / "bad.npy", np.zeros([3, 512], np.float32))
    assert error_line(run("render", tmp_path / "good.npy", tmp_path / "bad.npy", "-g", RANDOM)) == (
        f"Error: latent {tmp_path / 'bad.npy'} has shape [3, 512]; this generator expects [8, 512] (W+), "
        f"[1, 8, 512] or [512] (W)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "good.npy"]
    np.save(tmp_path / "bad.npy", sample_ws(G, 1, seed=66)[0])
    result = run("render", tmp_path / "good.npy", tmp_path / "bad.npy", "-g", RANDOM)
    assert result.exit_code == 0, result.output
    result = run("render", tmp_path / "good.npy", "-g", RANDOM, "--force")
    assert result.exit_code == 0 and output_paths(result) == [str(tmp_path / "good_render.png")]


def test_render_needs_a_latent():
    result = run("render")
    assert result.exit_code == 2 and "Missing argument 'LATENT.npy...'" in result.stderr


def test_a_record_naming_another_network_than_g_renders_with_a_warning_but_not_its_update(tmp_path, caplog):
    """-g wins over the record for the network (with a warning); --no-tuned then renders the latent by it."""
    G, other = load(RANDOM), load("random:32:1")
    w = sample_ws(G, 1, seed=67)[0]
    save_tuned_latent(tmp_path / "a.npy", G, w, random_update(G, 4), spec=RANDOM)
    with caplog.at_level("WARNING"):
        result = run("render", tmp_path / "a.npy", "-g", "random:32:1", "--no-tuned")
    assert result.exit_code == 0, result.output
    assert "was made with random:32" in caplog.text + result.stderr
    np.testing.assert_array_equal(png(tmp_path / "a_render.png"), render(other, w[None])[0])
    assert json.loads((tmp_path / "a.json").read_text())["tuned"] == "a_tuned.safetensors"  # inputs untouched
