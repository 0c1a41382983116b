"""`stylegan-invert crossover` through click, on random:32 and the tiny ada fixture."""
import numpy as np
import pytest
from PIL import Image

from editing_helpers import (RANDOM, check_record, error_line, load, output_paths, random_noise, reuse_generators,
                             run, spec, write_latents)
from invert.latents import default_noise, save_latent
from invert.render import render

assert spec and reuse_generators  # fixtures, used by name


def test_crossover_split(tmp_path, spec):
    G = load(spec)
    latents = write_latents(G, tmp_path, ["content", "style"], seed=5)
    (c_path, c), (s_path, s) = latents["content"], latents["style"]
    result = run("crossover", c_path, s_path, "-g", spec, "--split", 3)
    assert result.exit_code == 0, result.output
    out = tmp_path / "content_style_crossover.npy"
    assert output_paths(result) == [str(out), str(out.with_suffix(".json")), str(out.with_suffix(".png"))]
    check_record(out, G, spec=spec, command="crossover", inputs=[c_path, s_path])
    w = np.load(out)
    np.testing.assert_array_equal(w[:3], c[:3])
    np.testing.assert_array_equal(w[3:], s[3:])
    np.testing.assert_array_equal(np.asarray(Image.open(out.with_suffix(".png"))), render(G, w[None])[0])


def test_crossover_default_split_is_half(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["c", "s"], seed=6)
    assert run("crossover", latents["c"][0], latents["s"][0], "-g", RANDOM).exit_code == 0
    w = np.load(tmp_path / "c_s_crossover.npy")
    np.testing.assert_array_equal(w[:4], latents["c"][1][:4])
    np.testing.assert_array_equal(w[4:], latents["s"][1][4:])


def test_crossover_style_layers_take_exactly_those_rows(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["c", "s"], seed=7)
    (c_path, c), (s_path, s) = latents["c"], latents["s"]
    noise_c = random_noise(G, seed=8)
    save_latent(c_path, c, noise_c)
    out = tmp_path / "x.npy"
    result = run("crossover", c_path, s_path, "-g", RANDOM, "--style-layers", "0-1,5-7", "--out", out)
    assert result.exit_code == 0, result.output
    w = np.load(out)
    for row in range(G.num_ws):
        np.testing.assert_array_equal(w[row], s[row] if row in (0, 1, 5, 6, 7) else c[row])
    # noise map i feeds the conv layer of row i: it comes from the latent that row came from
    with np.load(tmp_path / "x_noise.npz") as noise:
        for i, stored in enumerate(default_noise(G)):
            np.testing.assert_array_equal(noise[f"noise_{i}"], stored if i in (0, 1, 5, 6) else noise_c[i])


@pytest.mark.parametrize("args, message", [
    (["--split", 8], "Error: --split 8: must be between 1 and 7 (this generator has 8 layers; rows below the "
                     "split come from the content latent, the rest from style)"),
    (["--split", 0], "Error: --split 0: must be between 1 and 7"),
    (["--style-layers", "0-8"], "Error: --style-layers '0-8': layer 8 is out of range; this generator has 8 "
                                "layers, numbered 0-7"),
    (["--style-layers", "x"], "Error: --style-layers 'x': cannot read 'x'; write layer numbers and inclusive "
                              "ranges such as 0-3,5-7 (this generator has 8 layers, numbered 0-7)"),
])
def test_crossover_bad_layers(tmp_path, args, message):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["c", "s"])
    line = error_line(run("crossover", latents["c"][0], latents["s"][0], "-g", RANDOM, *args))
    assert line.startswith(message), line
    assert not (tmp_path / "c_s_crossover.npy").exists()


def test_crossover_wrong_inputs(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["c", "s"])
    np.save(latents["s"][0], np.zeros([1, 8, 256], np.float32))
    assert error_line(run("crossover", latents["c"][0], latents["s"][0], "-g", RANDOM)) == (
        f"Error: latent {latents['s'][0]} has shape [1, 8, 256]; this generator expects [8, 512] (W+), "
        f"[1, 8, 512] or [512] (W)")
    (tmp_path / "c_s_crossover.png").write_bytes(b"")
    assert error_line(run("crossover", latents["c"][0], latents["s"][0], "-g", RANDOM)) == (
        f"Error: {tmp_path / 'c_s_crossover.png'} exists; pass --force to overwrite it")
