"""`stylegan-invert edit` through click, on random:32 and the tiny ada fixture."""
import json

import numpy as np
import pytest
from PIL import Image

from editing_helpers import (RANDOM, check_record, error_line, load, output_paths, random_noise, read_animation,
                             real_load_generator, reuse_generators, run, spec, write_latents)
from invert.directions import registry
from invert.latents import save_latent
from invert.render import render

assert spec and reuse_generators  # fixtures, used by name


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def boundary_file(path, vector, *, network=None):
    np.save(path, np.asarray(vector, np.float32))
    if network is not None:
        path.with_suffix(".json").write_text(json.dumps({"network_fingerprint": network}))
    return path


def test_edit_with_a_boundary_file(tmp_path, spec):
    G = load(spec)
    latents = write_latents(G, tmp_path, ["photo"], seed=12)
    path, w = latents["photo"]
    n = np.random.default_rng(0).standard_normal([1, G.w_dim]) * 7  # not unit: normalised on load
    b = boundary_file(tmp_path / "glasses.npy", n)
    result = run("edit", path, "-g", spec, "--boundary", b, "--strength", 2)
    assert result.exit_code == 0, result.output
    out = tmp_path / "photo_glasses+2.0.npy"
    assert output_paths(result) == [str(out), str(out.with_suffix(".json")), str(out.with_suffix(".png"))]
    check_record(out, G, spec=spec, command="edit", inputs=[path])
    edited = np.load(out)
    np.testing.assert_allclose(edited, w + 2 * unit(n), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(np.asarray(Image.open(out.with_suffix(".png"))), render(G, edited[None])[0])


def test_edit_by_registered_name_with_sweep(tmp_path, spec):
    G = load(spec)
    latents = write_latents(G, tmp_path, ["photo"], seed=13)
    path, w = latents["photo"]
    noise = random_noise(G, seed=14)
    save_latent(path, w, noise)
    key = registry.network_key(G)
    n = unit(np.random.default_rng(1).standard_normal(G.w_dim))
    stored = boundary_file(tmp_path / "smile_dir.npy", n[None], network=key)
    registry.register(stored, key=key, name="smile")
    result = run("edit", path, "-g", spec, "--boundary", "smile", "--strength", -1.5, "--sweep", "-3:3:5")
    assert result.exit_code == 0, result.output
    out = tmp_path / "photo_smile-1.5.npy"
    assert output_paths(result) == [str(out), str(tmp_path / "photo_smile-1.5_noise.npz"),
                                    str(out.with_suffix(".json")), str(out.with_suffix(".png")),
                                    str(tmp_path / "photo_smile-1.5_sweep.gif")]
    edited = np.load(out)
    np.testing.assert_allclose(edited, w - 1.5 * n, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(np.asarray(Image.open(out.with_suffix(".png"))),
                                  render(G, edited[None], noise=noise)[0])
    sweep = read_animation(tmp_path / "photo_smile-1.5_sweep.gif")
    assert sweep.shape == (5, 32, 32, 3)
    ends = render(G, np.stack([w - 3 * n, w + 3 * n]), noise=noise).astype(float)
    assert np.abs(sweep[0] - ends[0]).mean() < np.abs(sweep[0] - ends[1]).mean()
    assert np.abs(sweep[-1] - ends[1]).mean() < np.abs(sweep[-1] - ends[0]).mean()


def test_edit_layers_and_per_layer_boundary(tmp_path):
    G = load(RANDOM)
    path, w = write_latents(G, tmp_path, ["p"], seed=15)["p"]
    n = np.random.default_rng(2).standard_normal([G.num_ws, G.w_dim]) * np.arange(1, G.num_ws + 1)[:, None]
    b = boundary_file(tmp_path / "age.npy", n)
    out = tmp_path / "e.npy"
    result = run("edit", path, "-g", RANDOM, "-b", b, "--strength", 3, "--layers", "0-2,6", "--out", out)
    assert result.exit_code == 0, result.output
    edited = np.load(out)
    rows = [0, 1, 2, 6]
    scaled = n / np.sqrt(np.mean(np.linalg.norm(n, axis=1) ** 2))  # the layers keep their relative weights
    np.testing.assert_allclose(edited[rows], w[rows] + 3 * scaled[rows], atol=1e-5, rtol=0)
    np.testing.assert_array_equal(edited[[3, 4, 5, 7]], w[[3, 4, 5, 7]])


def test_edit_keep_makes_the_direction_orthogonal(tmp_path):
    G = load(RANDOM)
    path, w = write_latents(G, tmp_path, ["p"], seed=16)["p"]
    rng = np.random.default_rng(3)
    base = rng.standard_normal(G.w_dim)
    n = base + rng.standard_normal(G.w_dim)
    kept = [base + rng.standard_normal(G.w_dim) for _ in range(2)]  # correlated with n and each other
    b = boundary_file(tmp_path / "smile.npy", n)
    k1, k2 = boundary_file(tmp_path / "age.npy", kept[0]), boundary_file(tmp_path / "yaw.npy", kept[1])
    result = run("edit", path, "-g", RANDOM, "-b", b, "--strength", 2, "--keep", f"{k1},{k2}")
    assert result.exit_code == 0, result.output
    moved = (np.load(tmp_path / "p_smile+2.0.npy").astype(np.float64) - w) / 2
    np.testing.assert_allclose(moved, np.broadcast_to(moved[0], moved.shape), atol=1e-5)
    direction = moved[0]
    assert abs(np.linalg.norm(direction) - 1) < 1e-4
    for k in kept:
        # float32 storage of w limits this check; the library test asserts < 1e-6 in float64
        assert abs(direction @ unit(k)) < 1e-4
    assert abs(unit(n) @ unit(kept[0])) > 0.3  # so the projection did real work
    stale = run("edit", path, "-g", RANDOM, "-b", b, "--keep", b, "--out", tmp_path / "z.npy")
    assert error_line(stale) == ("Error: the direction lies within the span of the kept boundaries, so nothing "
                                 "is left to edit; keep fewer attributes")


def test_unknown_boundary_says_how_to_train_it(tmp_path, spec):
    G = load(spec)
    path, _ = write_latents(G, tmp_path, ["p"])["p"]
    line = error_line(run("edit", path, "-g", spec, "--boundary", "smile"))
    key = registry.network_key(G)
    assert line.startswith(f"Error: no direction 'smile' is registered for network {key[:12]}... (looked in "
                           f"{registry.user_manifest_path()}")
    assert "the published 'smile' belongs to stylegan2-ffhq-config-f" in line
    assert line.endswith(f"train one with: stylegan-invert boundaries train --generator {spec} --attribute smile "
                         f"--samples 10000")
    assert not (tmp_path / "p_smile+2.0.npy").exists()


def test_boundary_of_another_generator(tmp_path, caplog):
    G = load(RANDOM)
    path, _ = write_latents(G, tmp_path, ["p"])["p"]
    other = "f" * 64
    b = boundary_file(tmp_path / "smile.npy", np.ones([1, G.w_dim]), network=other)
    registry.register(b, key=registry.network_key(G), name="smile")
    assert error_line(run("edit", path, "-g", RANDOM, "-b", "smile")).startswith(
        f"Error: boundary 'smile' ({b}) was made for network ffffffffffff..., not this one "
        f"({G.source['fingerprint'][:12]}...)")
    with caplog.at_level("WARNING"):
        result = run("edit", path, "-g", RANDOM, "-b", b)  # named by path: only a warning
    assert result.exit_code == 0, result.output
    assert "was made for network ffffffffffff..., not this one" in caplog.text + result.stderr


@pytest.mark.parametrize("problem", ["shape", "nan", "missing", "layers", "exists", "sweep"])
def test_edit_wrong_inputs(tmp_path, problem):
    G = load(RANDOM)
    path, w = write_latents(G, tmp_path, ["p"])["p"]
    b = boundary_file(tmp_path / "smile.npy", np.ones([1, G.w_dim]))
    args = ["edit", path, "-g", RANDOM, "-b", b]
    if problem == "shape":
        boundary_file(b, np.ones([3, G.w_dim]))
        expected = (f"Error: boundary {b} has shape [3, 512]; this generator expects [1, 512] or [512] (one "
                    f"direction) or [8, 512] (per layer)")
    elif problem == "nan":
        boundary_file(b, np.full([G.w_dim], np.nan))
        expected = f"Error: boundary {b} contains non-finite values (NaN or inf)"
    elif problem == "missing":
        args[5] = tmp_path / "gone.npy"
        expected = f"Error: boundary file not found: {tmp_path / 'gone.npy'}"
    elif problem == "layers":
        args += ["--layers", "2-1"]
        expected = "Error: --layers '2-1': range '2-1' runs backwards; write it as 1-2"
    elif problem == "exists":
        (tmp_path / "p_smile+2.0_noise.npz").write_bytes(b"")
        expected = f"Error: {tmp_path / 'p_smile+2.0_noise.npz'} exists; pass --force to overwrite it"
    else:
        args += ["--sweep", "-3:x:4"]
        expected = "Error: --sweep '-3:x:4': expected START:STOP:COUNT, e.g. -3:3:10"
    assert error_line(run(*args)) == expected
    assert not (tmp_path / "p_smile+2.0.npy").exists()


def test_force_overwrites_and_removes_a_stale_noise_file(tmp_path):
    G = load(RANDOM)
    path, w = write_latents(G, tmp_path, ["p"])["p"]
    b = boundary_file(tmp_path / "smile.npy", np.ones([1, G.w_dim]))
    (tmp_path / "p_smile+2.0_noise.npz").write_bytes(b"stale")
    result = run("edit", path, "-g", RANDOM, "-b", b, "--force")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "p_smile+2.0_noise.npz").exists()
    np.testing.assert_allclose(np.load(tmp_path / "p_smile+2.0.npy"), w + 2 * unit(np.ones(G.w_dim)), atol=1e-5)


def test_commands_load_their_generator(tmp_path, monkeypatch, spec):
    """Without the test cache: the command loads the generator named by --generator (and --device) itself."""
    import invert.checkpoints

    loaded = []

    def real(generator, device=None):
        loaded.append((generator, str(device)))
        return real_load_generator(generator, device=device)

    monkeypatch.setattr(invert.checkpoints, "load_generator", real)
    G = load(spec)
    path, w = write_latents(G, tmp_path, ["p"], seed=20)["p"]
    b = boundary_file(tmp_path / "smile.npy", np.ones([G.w_dim]))
    result = run("edit", path, "-g", spec, "-b", b, "--strength", 1, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert loaded == [(spec, "cpu")]
    np.testing.assert_allclose(np.load(tmp_path / "p_smile+1.0.npy"), w + unit(np.ones(G.w_dim)), atol=1e-5)


def test_edit_along_a_direction_of_a_set_in_sigma_units(tmp_path):
    """FILE.safetensors:K: strength in units of the direction's sd, on the set's layers unless --layers says."""
    from invert.directions.discover import sefa
    from invert.directions.direction_set import save_direction_set

    G = load(RANDOM)
    path, w = write_latents(G, tmp_path, ["p"], seed=21)["p"]
    dset = sefa(G, count=3, rows=[0, 1, 2], std_samples=500)
    save_direction_set(tmp_path / "sefa.safetensors", dset)
    result = run("edit", path, "-g", RANDOM, "-b", f"{tmp_path / 'sefa.safetensors'}:1", "--strength", -2)
    assert result.exit_code == 0, result.output
    d, sd = dset.directions[1], dset.std[1]      # float32 in the file: d and sd agree to ~1e-7
    expected = w.astype(np.float64).copy()
    expected[:3] -= 2 * sd * d
    np.testing.assert_allclose(np.load(tmp_path / "p_sefa_1-2.0.npy"), expected, atol=1e-5)
    result = run("edit", path, "-g", RANDOM, "-b", f"{tmp_path / 'sefa.safetensors'}:1", "--strength", 1,
                 "--layers", "6-7")
    assert result.exit_code == 0, result.output
    expected = w.astype(np.float64).copy()
    expected[6:] += sd * d
    np.testing.assert_allclose(np.load(tmp_path / "p_sefa_1+1.0.npy"), expected, atol=1e-5)
