"""`stylegan-invert expression` through click, on random:32 and the tiny ada fixture."""
import numpy as np
import pytest
from PIL import Image

from editing_helpers import (RANDOM, check_record, error_line, load, output_paths, random_noise, read_animation,
                             reuse_generators, run, spec, write_latents)
from invert.latents import save_latent
from invert.render import render

assert spec and reuse_generators  # fixtures, used by name


def test_expression_arithmetic_and_sweep(tmp_path, spec):
    G = load(spec)
    latents = write_latents(G, tmp_path, ["me", "neutral", "smiling"], seed=9)
    (t_path, w1), (n_path, w2), (e_path, w3) = latents["me"], latents["neutral"], latents["smiling"]
    result = run("expression", t_path, n_path, e_path, "-g", spec, "--strength", 1.5, "--sweep", "0:2:4", "--mp4")
    assert result.exit_code == 0, result.output
    out = tmp_path / "me_expression+1.5.npy"
    assert output_paths(result) == [str(out), str(out.with_suffix(".json")), str(out.with_suffix(".png")),
                                    str(tmp_path / "me_expression+1.5_sweep.mp4")]
    check_record(out, G, spec=spec, command="expression", inputs=[t_path, n_path, e_path])
    w = np.load(out)
    np.testing.assert_allclose(w, w1 + 1.5 * (w3 - w2), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(np.asarray(Image.open(out.with_suffix(".png"))), render(G, w[None])[0])
    sweep = read_animation(tmp_path / "me_expression+1.5_sweep.mp4")
    assert sweep.shape == (4, 32, 32, 3)
    first, last = render(G, w1[None])[0].astype(float), render(G, (w1 + 2 * (w3 - w2))[None])[0].astype(float)
    assert np.abs(sweep[0] - first).mean() < np.abs(sweep[0] - last).mean()
    assert np.abs(sweep[-1] - last).mean() < np.abs(sweep[-1] - first).mean()


def test_expression_on_chosen_layers_keeps_target_noise(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["t", "n", "e"], seed=10)
    (t_path, w1), (n_path, w2), (e_path, w3) = latents["t"], latents["n"], latents["e"]
    noise = random_noise(G, seed=11)
    save_latent(t_path, w1, noise)
    out = tmp_path / "r.npy"
    result = run("expression", t_path, n_path, e_path, "-g", RANDOM, "--strength", -0.5, "--layers", "2-4",
                 "--sweep", "-1:1:3", "--out", out)
    assert result.exit_code == 0, result.output
    w = np.load(out)
    expected = w1.copy()
    expected[2:5] += -0.5 * (w3[2:5] - w2[2:5])
    np.testing.assert_allclose(w, expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(w[[0, 1, 5, 6, 7]], w1[[0, 1, 5, 6, 7]])
    with np.load(tmp_path / "r_noise.npz") as saved:
        for i, n in enumerate(noise):
            np.testing.assert_array_equal(saved[f"noise_{i}"], n)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "r.png")), render(G, w[None], noise=noise)[0])
    assert read_animation(tmp_path / "r_sweep.gif").shape == (3, 32, 32, 3)


@pytest.mark.parametrize("args, message", [
    (["--layers", "3-9"], "Error: --layers '3-9': layer 9 is out of range; this generator has 8 layers, numbered 0-7"),
    (["--sweep", "0:1"], "Error: --sweep '0:1': expected START:STOP:COUNT, e.g. -3:3:10"),
    (["--sweep", "0:1:1"], "Error: --sweep '0:1:1': COUNT must be at least 2 (got 1)"),
])
def test_expression_bad_options(tmp_path, args, message):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["t", "n", "e"])
    paths = [latents[k][0] for k in ("t", "n", "e")]
    assert error_line(run("expression", *paths, "-g", RANDOM, *args)) == message
    assert not list(tmp_path.glob("t_expression*"))


def test_expression_wrong_latents(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["t", "n", "e"])
    paths = [latents[k][0] for k in ("t", "n", "e")]
    (tmp_path / "n.npy").write_bytes(b"\x93NUMPY garbage")
    assert error_line(run("expression", *paths, "-g", RANDOM)).startswith(f"Error: cannot read latent file {paths[1]}")
    paths[2] = tmp_path / "absent.npy"
    np.save(paths[1], latents["n"][1])
    assert error_line(run("expression", *paths, "-g", RANDOM)) == f"Error: latent file not found: {paths[2]}"
