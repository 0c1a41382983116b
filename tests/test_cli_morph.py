"""`stylegan-invert morph` through click, on random:32 and the tiny ada fixture."""
import numpy as np
import pytest
from PIL import Image

import editing_helpers
from editing_helpers import (RANDOM, check_record, error_line, load, output_paths, random_noise, read_animation, run,
                             write_latents)
from invert.latents import default_noise, save_latent
from invert.render import render, synthesize
from numerics import assert_close_to_scale

# pytest finds fixtures by name among a module's attributes
spec = editing_helpers.spec
reuse_generators = editing_helpers.reuse_generators


def test_morph_writes_midpoint_png_animations_and_frames(tmp_path, spec):
    G = load(spec)
    latents = write_latents(G, tmp_path, ["a", "b"], seed=1)
    (a_path, a), (b_path, b) = latents["a"], latents["b"]
    out = tmp_path / "out" / "ab.npy"
    result = run("morph", a_path, b_path, "-g", spec, "--frames", 5, "--gif", "--mp4", "--fps", 5,
                 "--save-latents", "--out", out)
    assert result.exit_code == 0, result.output
    stem = tmp_path / "out" / "ab"
    assert output_paths(result) == [f"{stem}.npy", f"{stem}.json", f"{stem}.png", f"{stem}.gif", f"{stem}.mp4",
                                    f"{stem}_frames.npy", f"{stem}_frames.json"]
    assert not (tmp_path / "out" / "ab_noise.npz").exists()
    check_record(out, G, spec=spec, command="morph", inputs=[a_path, b_path])
    check_record(tmp_path / "out" / "ab_frames.npy", G, spec=spec, command="morph", inputs=[a_path, b_path],
                 shape=[5, G.num_ws, G.w_dim])

    frames = np.load(f"{stem}_frames.npy")
    assert frames.shape == (5, G.num_ws, G.w_dim) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames[0], a)
    np.testing.assert_array_equal(frames[-1], b)
    for i, t in enumerate(np.linspace(0, 1, 5)):
        np.testing.assert_allclose(frames[i], (1 - t) * a + t * b, atol=1e-6, rtol=0)
    mid = np.load(out)
    np.testing.assert_allclose(mid, (a + b) / 2, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(np.asarray(Image.open(f"{stem}.png")), render(G, mid[None])[0])

    expected = render(G, frames).astype(float)
    for path, tolerance, checked in [(f"{stem}.gif", 6, range(5)), (f"{stem}.mp4", 30, [0, 4])]:
        decoded = read_animation(path)
        assert decoded.shape == (5, 32, 32, 3)
        # both formats are lossy (palette / H.264 on noise-like random images), but each frame is
        # still nearest to its own rendering
        distance = np.abs(decoded[:, None].astype(float) - expected[None]).mean(axis=(2, 3, 4))  # [decoded, expected]
        assert np.diagonal(distance).max() < tolerance, distance
        for i in checked:
            assert distance[i].argmin() == i, distance


@pytest.mark.numerics
def test_morph_endpoints_render_exactly_the_inputs(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["a", "b"], seed=2)
    (a_path, a), (b_path, b) = latents["a"], latents["b"]
    result = run("morph", a_path, b_path, "-g", RANDOM, "--frames", 4, "--save-latents", "--loop")
    assert result.exit_code == 0, result.output
    frames = np.load(tmp_path / "a_b_morph_frames.npy")
    images = synthesize(G, frames, batch_size=1)
    np.testing.assert_array_equal(images[0], synthesize(G, a[None])[0])
    np.testing.assert_array_equal(images[-1], synthesize(G, b[None])[0])
    pixels = render(G, frames, batch_size=1)
    np.testing.assert_array_equal(pixels[0], render(G, a[None])[0])
    np.testing.assert_array_equal(pixels[-1], render(G, b[None])[0])
    # in larger batches the convolutions round differently, by about 1e-6 of the value range
    batched = synthesize(G, frames, batch_size=4)
    assert_close_to_scale(batched[[0, -1]], images[[0, -1]], rtol=1e-5)
    # --loop: 4 frames there and 3 back, ending on A again
    gif = read_animation(tmp_path / "a_b_morph.gif")
    assert gif.shape == (7, 32, 32, 3)
    np.testing.assert_array_equal(gif[-1], gif[0])
    np.testing.assert_array_equal(gif[2], gif[4])


def test_morph_interpolates_noise_maps(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["a", "b"], seed=3)
    (a_path, a), (b_path, b) = latents["a"], latents["b"]
    noise_a = random_noise(G, seed=4)
    save_latent(a_path, a, noise_a)  # b has none: the generator's stored maps stand in for it
    result = run("morph", a_path, b_path, "-g", RANDOM, "--frames", 3, "--out", tmp_path / "m.npy")
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "m_noise.npz") in output_paths(result)
    with np.load(tmp_path / "m_noise.npz") as saved:
        for i, (na, nb) in enumerate(zip(noise_a, default_noise(G))):
            np.testing.assert_allclose(saved[f"noise_{i}"], (na + nb) / 2, atol=1e-6, rtol=0)
    mid_noise = [(na + nb) / 2 for na, nb in zip(noise_a, default_noise(G))]
    png = np.asarray(Image.open(tmp_path / "m.png"))
    np.testing.assert_array_equal(png, render(G, np.load(tmp_path / "m.npy")[None], noise=mid_noise)[0])
    gif = read_animation(tmp_path / "m.gif")
    with_noise = render(G, a[None], noise=noise_a)[0].astype(float)
    assert np.abs(gif[0] - with_noise).mean() < np.abs(gif[0] - render(G, a[None])[0].astype(float)).mean()
    assert np.abs(gif[-1] - render(G, b[None])[0].astype(float)).mean() < 6  # B as its own rendering, const noise


def test_morph_default_name_and_force(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["face1", "face2"])
    args = ["morph", latents["face1"][0], latents["face2"][0], "-g", RANDOM, "--frames", 2]
    assert run(*args).exit_code == 0
    assert (tmp_path / "face1_face2_morph.npy").exists() and (tmp_path / "face1_face2_morph.gif").exists()
    assert error_line(run(*args)) == f"Error: {tmp_path / 'face1_face2_morph.npy'} exists; pass --force to overwrite it"
    assert run(*args, "--force").exit_code == 0


def test_morph_checks_every_output_before_writing_any(tmp_path):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["a", "b"])
    (tmp_path / "a_b_morph_frames.npy").write_text("keep me")
    result = run("morph", latents["a"][0], latents["b"][0], "-g", RANDOM, "--save-latents")
    assert error_line(result) == (f"Error: {tmp_path / 'a_b_morph_frames.npy'} exists; pass --force to "
                                  f"overwrite it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "a_b_morph_frames.npy", "b.npy"]


@pytest.mark.parametrize("problem", ["shape", "nan", "missing", "suffix", "pickle"])
def test_morph_wrong_inputs(tmp_path, problem):
    G = load(RANDOM)
    latents = write_latents(G, tmp_path, ["a", "b"])
    a_path, b_path = latents["a"][0], latents["b"][0]
    extra = []
    if problem == "shape":
        np.save(b_path, np.zeros([5, 512], np.float32))
        expected = (f"Error: latent {b_path} has shape [5, 512]; this generator expects [8, 512] (W+), "
                    f"[1, 8, 512] or [512] (W)")
    elif problem == "nan":
        w = latents["b"][1].copy()
        w[3, 7] = np.nan
        np.save(b_path, w)
        expected = (f"Error: latent {b_path} contains 1 non-finite value(s) (NaN or inf), the first at "
                    f"index [3, 7]")
    elif problem == "missing":
        b_path = tmp_path / "nope.npy"
        expected = f"Error: latent file not found: {b_path}"
    elif problem == "suffix":
        extra = ["--out", tmp_path / "x.png"]
        expected = f"Error: --out {tmp_path / 'x.png'} must end in .npy (it names the result latent; images are " \
                   f"written beside it)"
    else:
        np.save(b_path, np.array([{"w": 1}], dtype=object), allow_pickle=True)
        expected = (f"Error: latent file {b_path} holds pickled Python objects, which are refused for safety; "
                    f"save it as a plain numeric array with numpy.save")
    assert error_line(run("morph", a_path, b_path, "-g", RANDOM, *extra)) == expected
    assert not list(tmp_path.glob("*morph*")) and not list(tmp_path.glob("x*"))
