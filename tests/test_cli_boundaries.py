"""`stylegan-invert boundaries train|list|register` through click, on random:32 and the tiny ada fixture."""
import json

import numpy as np
import pytest

from editing_helpers import RANDOM, error_line, load, output_paths, reuse_generators, run, spec, write_latents
from invert import boundaries as lib

assert spec and reuse_generators  # fixtures, used by name


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def planted(tmp_path, G, n=400, seed=0):
    """Random W codes and scores along a hidden direction d (plus a little noise)."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal([n, G.w_dim]).astype(np.float32)
    d = unit(rng.standard_normal(G.w_dim))
    scores = codes @ d + 0.01 * rng.standard_normal(n)
    np.save(tmp_path / "codes.npy", codes)
    (tmp_path / "scores.csv").write_text("score\n" + "\n".join(f"{s:.8f}" for s in scores) + "\n")
    return d


def test_train_from_own_scores_registers_and_edits_by_name(tmp_path, spec):
    G = load(spec)
    d = planted(tmp_path, G)
    key = lib.generator_key(G)
    result = run("boundaries", "train", "-g", spec, "--attribute", "glasses", "--latents", tmp_path / "codes.npy",
                 "--scores", tmp_path / "scores.csv", "--ratio", 0.25)
    assert result.exit_code == 0, result.output
    out = lib.user_boundaries_dir() / lib.key_folder(key) / "glasses.npy"
    lines = output_paths(result)
    assert lines[:3] == [str(out), str(out.with_suffix(".json")),
                         f"registered 'glasses' for generator {key} in {lib.user_manifest_path()}"]
    assert lines[3].startswith("validation accuracy ") and "kept 200 of 400 scored" in lines[3]

    normal = np.load(out)
    assert normal.shape == (1, G.w_dim) and abs(np.linalg.norm(normal) - 1) < 1e-5
    assert float(normal[0] @ d) > 0.4  # 400 samples in 512 dimensions: the planted test in test_boundaries is strict
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["generator_sha256"] == key and side["attribute"] == "glasses" and side["space"] == "w"
    assert side["samples"] == 400 and side["kept"] == 200 and side["dropped"] == 0
    assert side["scorer"] == "user scores from scores.csv" and side["shape"] == [1, G.w_dim]
    assert f"accuracy {side['accuracy']:.4f}" in lines[3]
    assert side["accuracy"] > 0.6
    entry = json.loads(lib.user_manifest_path().read_text())["generators"][key]["glasses"]
    assert entry["file"] == f"{lib.key_folder(key)}/glasses.npy" and entry["space"] == "w"

    listing = run("boundaries", "list", "-g", spec)
    assert listing.exit_code == 0 and listing.stdout.startswith(f"{key}  glasses  {out}  space=w  accuracy=")

    path, w = write_latents(G, tmp_path, ["photo"], seed=3)["photo"]
    edited = run("edit", path, "-g", spec, "--boundary", "glasses", "--strength", 2)
    assert edited.exit_code == 0, edited.output
    np.testing.assert_allclose(np.load(tmp_path / "photo_glasses+2.0.npy"), w + 2 * normal, atol=1e-5)


def test_train_wp_space_and_no_register(tmp_path):
    G = load(RANDOM)
    planted(tmp_path, G, n=60)
    out = tmp_path / "b" / "g_wp.npy"
    result = run("boundaries", "train", "-g", RANDOM, "--attribute", "glasses", "--space", "wp", "--latents",
                 tmp_path / "codes.npy", "--scores", tmp_path / "scores.csv", "--ratio", 0.5, "--out", out,
                 "--no-register")
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (G.num_ws, G.w_dim)
    assert not lib.user_manifest_path().exists()
    assert json.loads(out.with_suffix(".json").read_text())["space"] == "wp"


def test_train_builtin_attribute_with_a_scorer(tmp_path, monkeypatch):
    from invert import attributes

    def brightness(images, attribute):
        scores = images.astype(np.float64).mean(axis=(1, 2, 3))
        scores[::5] = np.nan  # every fifth image: "no face"
        return scores

    monkeypatch.setattr(attributes, "score_images", brightness)
    result = run("boundaries", "train", "-g", RANDOM, "--attribute", "smile", "--samples", 60, "--ratio", 0.125,
                 "--batch-size", 20, "--seed", 4)
    assert result.exit_code == 0, result.output
    assert "kept 12 of 48 scored, 12 dropped without a score" in result.stdout
    out = lib.user_boundaries_dir() / lib.key_folder(lib.generator_key(load(RANDOM))) / "smile.npy"
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["scorer"] == "invert.attributes (smile, dlib landmarks)" and side["dropped"] == 12


def test_train_builtin_attribute_on_faceless_images(tmp_path):
    """random:32 renders no faces: dlib finds none, every sample is dropped, and the error says so."""
    line = error_line(run("boundaries", "train", "-g", RANDOM, "--attribute", "smile", "--samples", 8))
    assert line.startswith("Error: too few samples to train on: 0 of 8 have a score (8 dropped: no face found or "
                           "no score given)")
    assert not lib.user_manifest_path().exists()


@pytest.mark.parametrize("problem", ["pair", "count", "unknown", "samples", "shape", "scores"])
def test_train_wrong_inputs(tmp_path, problem):
    G = load(RANDOM)
    planted(tmp_path, G, n=50)
    own = ["--latents", tmp_path / "codes.npy", "--scores", tmp_path / "scores.csv"]
    args = ["boundaries", "train", "-g", RANDOM, "--attribute", "glasses", *own]
    if problem == "pair":
        args = args[:-2]
        expected = "Error: --latents and --scores go together: N latents and their N scores"
    elif problem == "count":
        np.save(tmp_path / "codes.npy", np.zeros([49, 512], np.float32))
        expected = (f"Error: {tmp_path / 'codes.npy'} holds 49 latents but {tmp_path / 'scores.csv'} holds 50 "
                    f"scores; give one score per latent, in the same order")
    elif problem == "unknown":
        args = args[:-4]
        expected = ("Error: no built-in scorer for 'glasses' (built-in: smile, mouth_open, eyes_open, yaw); score "
                    "your own latents and pass --latents codes.npy --scores scores.csv")
    elif problem == "samples":
        args += ["--samples", 10]
        expected = "Error: --samples is for built-in attributes; with --latents every latent given is used"
    elif problem == "shape":
        np.save(tmp_path / "codes.npy", np.zeros([50, 3, 512], np.float32))
        expected = (f"Error: latents {tmp_path / 'codes.npy'} have shape [50, 3, 512]; expected [N, 512] (W) or "
                    f"[N, 8, 512] (W+) for this generator")
    else:
        (tmp_path / "scores.csv").write_text("1\n2\nthree\n")
        expected = f"Error: scores file {tmp_path / 'scores.csv'}, line 3: 'three' is not a number"
    assert error_line(run(*args)) == expected
    assert not lib.user_boundaries_dir().exists()


def test_train_never_overwrites_without_force(tmp_path):
    G = load(RANDOM)
    planted(tmp_path, G, n=100)
    args = ["boundaries", "train", "-g", RANDOM, "--attribute", "glasses", "--latents", tmp_path / "codes.npy",
            "--scores", tmp_path / "scores.csv", "--ratio", 0.3]
    assert run(*args).exit_code == 0
    out = lib.user_boundaries_dir() / lib.key_folder(lib.generator_key(G)) / "glasses.npy"
    before = out.read_bytes()
    assert error_line(run(*args)) == f"Error: {out} exists; pass --force to overwrite it"
    other = tmp_path / "elsewhere.npy"
    assert error_line(run(*args, "--out", other)).startswith(
        f"Error: boundary 'glasses' is already registered for this generator in {lib.user_manifest_path()}")
    assert not other.exists() and out.read_bytes() == before
    assert run(*args, "--out", other, "--force").exit_code == 0
    assert lib.find_entry("glasses", lib.generator_key(G)).path == other.resolve()


def test_register_and_list(tmp_path):
    G = load(RANDOM)
    key = lib.generator_key(G)
    np.save(tmp_path / "mine.npy", np.ones([1, G.w_dim], np.float32))
    result = run("boundaries", "register", tmp_path / "mine.npy", "-g", RANDOM, "--name", "beard")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"registered 'beard' for generator {key} in {lib.user_manifest_path()}"
    listing = run("boundaries", "list")
    assert listing.exit_code == 0
    assert listing.stdout.splitlines() == [f"{key}  beard  {tmp_path / 'mine.npy'}"]

    np.save(tmp_path / "bad.npy", np.ones([2, G.w_dim], np.float32))
    assert error_line(run("boundaries", "register", tmp_path / "bad.npy", "-g", RANDOM, "--name", "x")).startswith(
        f"Error: boundary {tmp_path / 'bad.npy'} has shape [2, 512]")
    np.save(tmp_path / "other.npy", np.ones([G.w_dim], np.float32))
    (tmp_path / "other.json").write_text(json.dumps({"generator_sha256": "e" * 64}))
    assert error_line(run("boundaries", "register", tmp_path / "other.npy", "-g", RANDOM, "--name", "y")) == (
        f"Error: {tmp_path / 'other.npy'} was trained for generator {'e' * 64}, not this one ({key}); its sidecar "
        f"{tmp_path / 'other.json'} says so")
    assert error_line(run("boundaries", "register", tmp_path / "mine.npy", "-g", RANDOM, "--name", "a/b")) == (
        "Error: boundary name 'a/b' must be letters, digits, '_', '.', '+' or '-' (it names files and manifest "
        "entries)")


def test_list_when_nothing_is_registered():
    result = run("boundaries", "list", "-g", RANDOM)
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip().endswith(f"looked in {', '.join(str(m) for m in lib.manifest_search_path())})")
    assert "no boundaries registered for generator random:32:0" in result.stderr
