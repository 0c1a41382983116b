"""`stylegan-invert boundaries train|discover|list|register` through click, on random:32 and the tiny ada fixture."""
import json
import logging
import re

import numpy as np
import pytest
from PIL import Image

from directions_helpers import fake_ffhq
from editing_helpers import RANDOM, error_line, load, output_paths, reuse_generators, run, spec, write_latents
from invert.directions import registry as lib

assert spec and reuse_generators and fake_ffhq  # fixtures, used by name


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
    key = lib.network_key(G)
    result = run("boundaries", "train", "-g", spec, "--attribute", "glasses", "--latents", tmp_path / "codes.npy",
                 "--scores", tmp_path / "scores.csv", "--ratio", 0.25)
    assert result.exit_code == 0, result.output
    out = lib.user_boundaries_dir() / lib.key_folder(key) / "glasses.npy"
    lines = output_paths(result)
    assert lines[:3] == [str(out), str(out.with_suffix(".json")),
                         f"registered 'glasses' for network {key} in {lib.user_manifest_path()}"]
    assert lines[3].startswith("validation accuracy ") and "kept 200 of 400 scored" in lines[3]

    normal = np.load(out)
    assert normal.shape == (1, G.w_dim) and abs(np.linalg.norm(normal) - 1) < 1e-5
    assert float(normal[0] @ d) > 0.4  # 400 samples in 512 dimensions: the planted test in test_boundaries is strict
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["network_fingerprint"] == key and side["attribute"] == "glasses" and side["space"] == "w"
    assert side["generator_sha256"] == G.source["sha256"]
    assert side["samples"] == 400 and side["kept"] == 200 and side["dropped"] == 0
    assert side["scorer"] == "user scores from scores.csv" and side["shape"] == [1, G.w_dim]
    assert f"accuracy {side['accuracy']:.4f}" in lines[3]
    assert side["accuracy"] > 0.6
    entry = json.loads(lib.user_manifest_path().read_text())["networks"][key]["glasses"]
    assert entry["file"] == f"{lib.key_folder(key)}/glasses.npy" and entry["space"] == "w"

    listing = run("boundaries", "list", "-g", spec)
    assert listing.exit_code == 0, listing.output
    rows = table(listing.stdout)
    assert rows[0] == ["NAME", "KIND", "SOURCE", "LICENCE", "STATUS", "FILE"]
    assert rows[1][:6] == ["glasses", "boundary", f"registered ({lib.user_manifest_path()})", "-", "ok", str(out)]
    assert rows[1][6] == "space=w" and rows[1][7] == f"accuracy={round(side['accuracy'], 4)}"

    path, w = write_latents(G, tmp_path, ["photo"], seed=3)["photo"]
    edited = run("edit", path, "-g", spec, "--boundary", "glasses", "--strength", 2)
    assert edited.exit_code == 0, edited.output
    np.testing.assert_allclose(np.load(tmp_path / "photo_glasses+2.0.npy"), w + 2 * normal, atol=1e-5)


@pytest.mark.parametrize("spelling", ["w+", "wp"])  # wp: the old spelling, with a deprecation note
def test_train_w_plus_space_and_no_register(tmp_path, caplog, spelling):
    G = load(RANDOM)
    planted(tmp_path, G, n=60)
    out = tmp_path / "b" / "g_wp.npy"
    with caplog.at_level(logging.WARNING):
        result = run("boundaries", "train", "-g", RANDOM, "--attribute", "glasses", "--space", spelling,
                     "--latents", tmp_path / "codes.npy", "--scores", tmp_path / "scores.csv", "--ratio", 0.5,
                     "--out", out, "--no-register")
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (G.num_ws, G.w_dim)
    assert not lib.user_manifest_path().exists()
    assert json.loads(out.with_suffix(".json").read_text())["space"] == "wp"  # InterfaceGAN's name, in the file
    notes = [r.getMessage() for r in caplog.records if r.name == "invert.cli.deprecated"]
    assert notes == (["--space wp is deprecated and will be removed in the next release; use --space w+"]
                     if spelling == "wp" else [])


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
    out = lib.user_boundaries_dir() / lib.key_folder(lib.network_key(load(RANDOM))) / "smile.npy"
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["scorer"] == "invert.attributes (smile, dlib landmarks)" and side["dropped"] == 12


def test_train_builtin_attribute_on_faceless_images(tmp_path):
    """random:32 renders no faces: dlib finds none, every sample is dropped, and the error says so."""
    line = error_line(run("boundaries", "train", "-g", RANDOM, "--attribute", "smile", "--samples", 8))
    assert line.startswith("Error: too few samples to train on: 0 of 8 have a score (8 dropped: no face found or "
                           "no score given)")
    assert not lib.user_manifest_path().exists()


@pytest.mark.parametrize("problem", ["count", "unknown", "shape", "scores"])
def test_train_wrong_inputs(tmp_path, problem):
    G = load(RANDOM)
    planted(tmp_path, G, n=50)
    own = ["--latents", tmp_path / "codes.npy", "--scores", tmp_path / "scores.csv"]
    args = ["boundaries", "train", "-g", RANDOM, "--attribute", "glasses", *own]
    if problem == "count":
        np.save(tmp_path / "codes.npy", np.zeros([49, 512], np.float32))
        expected = (f"Error: {tmp_path / 'codes.npy'} holds 49 latents but {tmp_path / 'scores.csv'} holds 50 "
                    f"scores; give one score per latent, in the same order")
    elif problem == "unknown":
        args = args[:-4]
        expected = ("Error: no built-in scorer for 'glasses' (built-in: smile, mouth_open, eyes_open, yaw); score "
                    "your own latents and pass --latents codes.npy --scores scores.csv")
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
    out = lib.user_boundaries_dir() / lib.key_folder(lib.network_key(G)) / "glasses.npy"
    before = out.read_bytes()
    assert error_line(run(*args)) == f"Error: {out} exists; pass --force to overwrite it"
    other = tmp_path / "elsewhere.npy"
    line = error_line(run(*args, "--out", other))
    assert line.startswith(f"Error: 'glasses' is already registered for this network in {lib.user_manifest_path()}")
    assert line.endswith("; choose another name, or replace it with --force")
    assert not other.exists() and out.read_bytes() == before
    assert run(*args, "--out", other, "--force").exit_code == 0
    assert lib.find_entry("glasses", lib.network_key(G)).path == other.resolve()


def table(text):
    """Rows of `boundaries list`'s table, split on runs of two or more spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def test_register_and_list(tmp_path):
    G = load(RANDOM)
    key = lib.network_key(G)
    np.save(tmp_path / "mine.npy", np.ones([1, G.w_dim], np.float32))
    result = run("boundaries", "register", tmp_path / "mine.npy", "-g", RANDOM, "--name", "beard")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"registered 'beard' for network {key} in {lib.user_manifest_path()}"
    listing = run("boundaries", "list")
    assert listing.exit_code == 0
    rows = table(listing.stdout)
    assert rows[0] == ["NETWORK", "NAME", "KIND", "SOURCE", "LICENCE", "STATUS", "FILE"]
    assert rows[1] == [key[:12], "beard", "boundary", f"registered ({lib.user_manifest_path()})", "-", "ok",
                       str(tmp_path / "mine.npy")]
    # without -g the published directions are listed too, with their network, licence and state
    assert [row[:2] + row[3:6] for row in rows[2:]] == [
        ["stylegan2-ffhq-config-f", name, "published (encoder4editing)", "MIT", "not downloaded"]
        for name in ("smile", "age", "pose", "ganspace")]

    np.save(tmp_path / "bad.npy", np.ones([2, G.w_dim], np.float32))
    assert error_line(run("boundaries", "register", tmp_path / "bad.npy", "-g", RANDOM, "--name", "x")).startswith(
        f"Error: boundary {tmp_path / 'bad.npy'} has shape [2, 512]")
    np.save(tmp_path / "other.npy", np.ones([G.w_dim], np.float32))
    (tmp_path / "other.json").write_text(json.dumps({"network_fingerprint": "e" * 64}))
    assert error_line(run("boundaries", "register", tmp_path / "other.npy", "-g", RANDOM, "--name", "y")) == (
        f"Error: {tmp_path / 'other.npy'} was trained for network {'e' * 64}, not this one ({key}); its sidecar "
        f"{tmp_path / 'other.json'} says so")
    (tmp_path / "other.json").write_text(json.dumps({"generator_sha256": "e" * 64}))  # a sidecar from before
    assert error_line(run("boundaries", "register", tmp_path / "other.npy", "-g", RANDOM, "--name", "y")) == (
        f"Error: {tmp_path / 'other.npy'} was trained for generator {'e' * 64}, not this one (random:32:0); its "
        f"sidecar {tmp_path / 'other.json'} says so")
    assert error_line(run("boundaries", "register", tmp_path / "mine.npy", "-g", RANDOM, "--name", "a/b")) == (
        "Error: direction name 'a/b' must be letters, digits, '_', '.', '+' or '-' (it names files and manifest "
        "entries)")
    assert error_line(run("boundaries", "register", tmp_path / "mine.npy", "--name", "z")) == (
        f"Error: registering boundary {tmp_path / 'mine.npy'} needs the generator it belongs to: give it with -g")
    assert error_line(run("boundaries", "register", f"{tmp_path / 'mine.npy'}:2", "-g", RANDOM, "--name", "z")) == (
        f"Error: {tmp_path / 'mine.npy'} is a boundary file holding one direction; FILE:K names a direction of a "
        f"set (.safetensors)")


def test_list_when_nothing_is_registered():
    result = run("boundaries", "list", "-g", RANDOM)
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip().endswith(f"looked in {', '.join(str(m) for m in lib.manifest_search_path())})")
    assert f"no directions registered for network {lib.network_key(load(RANDOM))}" in result.stderr


def test_discover_sefa_writes_a_set_and_its_sheet_then_register_and_edit(tmp_path, caplog):
    from invert.directions.direction_set import load_direction_set

    G = load(RANDOM)
    key = lib.network_key(G)
    result = run("boundaries", "discover", "-g", RANDOM, "--method", "sefa", "--count", 4, "--layers", "0-3",
                 "--samples", 500, "--seeds", "0,1", "--strengths", "-3:3:3")
    assert result.exit_code == 0, result.output
    out = lib.user_boundaries_dir() / lib.key_folder(key) / "sefa.safetensors"
    *written, registered = output_paths(result)
    assert written == [str(out), str(out.with_suffix(".png"))]
    assert registered.startswith(f"registered 'sefa' for network {key}")  # so that --boundary sefa:K finds it
    assert (f"use one as --boundary sefa:K, or name it: stylegan-invert boundaries register {out}:K --name NAME"
            in caplog.text)  # a note (-q: none)
    dset = load_direction_set(out)
    assert len(dset) == 4 and dset.layers == [0, 1, 2, 3] and dset.metadata["network_fingerprint"] == key
    assert dset.metadata["method"] == "sefa" and dset.metadata["generator"] == RANDOM
    sheet = np.asarray(Image.open(out.with_suffix(".png")))
    # 4 rows x (2 seeds x 3 strengths) tiles of 32 px, with labels around them
    assert sheet.shape[0] > 4 * 32 and sheet.shape[1] > 6 * 32

    # one direction by a name of its own, and the whole set by its name
    assert run("boundaries", "register", f"{out}:2", "--name", "bangs").exit_code == 0  # the set names its network
    assert run("boundaries", "register", out, "-g", RANDOM, "--name", "sefa").exit_code == 0  # already: a no-op
    path, w = write_latents(G, tmp_path, ["p"], seed=3)["p"]
    for boundary, name in (("bangs", "p_bangs+1.0.npy"), ("sefa:2", "p_sefa_2+1.0.npy")):
        result = run("edit", path, "-g", RANDOM, "-b", boundary, "--strength", 1)
        assert result.exit_code == 0, result.output
        expected = w.astype(np.float64).copy()
        expected[:4] += dset.std[2] * dset.directions[2]
        np.testing.assert_allclose(np.load(tmp_path / name), expected, atol=1e-5)
    rows = table(run("boundaries", "list", "-g", RANDOM).stdout)
    assert [row[:3] for row in rows[1:]] == [["bangs", "set direction 2", f"registered ({lib.user_manifest_path()})"],
                                             ["sefa", "set (NAME:K)", f"registered ({lib.user_manifest_path()})"]]
    assert error_line(run("boundaries", "discover", "-g", RANDOM, "--method", "sefa")) == (
        f"Error: {out} exists; pass --force to overwrite it")


def test_discover_ganspace_without_a_sheet(tmp_path):
    from invert.directions.direction_set import load_direction_set

    out = tmp_path / "g.safetensors"
    result = run("boundaries", "discover", "-g", RANDOM, "--method", "ganspace", "--count", 3, "--samples", 2000,
                 "--out", out, "--no-sheet")
    assert result.exit_code == 0, result.output
    assert output_paths(result)[0] == str(out) and not out.with_suffix(".png").exists()
    dset = load_direction_set(out)
    assert dset.metadata["samples"] == 2000 and dset.eigenvalues is None and (np.diff(dset.std) <= 0).all()


@pytest.mark.parametrize("problem", ["suffix", "count", "layers", "strengths", "seeds", "other network"])
def test_discover_and_register_wrong_inputs(tmp_path, problem):
    args = ["boundaries", "discover", "-g", RANDOM, "--method", "sefa", "--out", tmp_path / "s.safetensors"]
    if problem == "suffix":
        args[-1] = tmp_path / "s.npy"
        expected = f"Error: --out {tmp_path / 's.npy'} must end in .safetensors"
    elif problem == "count":
        args += ["--count", 600]
        expected = "Error: --count 600 is more than this network's w_dim (512)"
    elif problem == "layers":
        args += ["--layers", "3-9"]
        expected = "Error: --layers '3-9': layer 9 is out of range; this generator has 8 layers, numbered 0-7"
    elif problem == "strengths":
        args += ["--strengths", "-3:3"]
        expected = "Error: --strengths '-3:3': expected START:STOP:COUNT, e.g. -3:3:10"
    elif problem == "seeds":
        args += ["--seeds", "x"]
        expected = "Error: bad seed list 'x': use numbers and ranges like 0-3,7"
    else:
        assert run(*args, "--no-sheet", "--samples", 100).exit_code == 0
        args = ["boundaries", "register", f"{tmp_path / 's.safetensors'}:1", "-g", "random:32:1", "--name", "x"]
        expected = (f"Error: {tmp_path / 's.safetensors'} was made for network {lib.network_key(load(RANDOM))}, not "
                    f"this one ({lib.network_key(load('random:32:1'))}); its metadata says so")
    assert error_line(run(*args)) == expected


def test_list_for_the_ffhq_network_shows_the_published_directions(fake_ffhq, tmp_path):
    from invert.checkpoints import load_generator

    result = run("boundaries", "list", "-g", "ffhq-1024")  # its first load records the network
    assert result.exit_code == 0, result.output
    rows = table(result.stdout)
    assert [row[:5] for row in rows[1:]] == [
        [name, kind, "published (encoder4editing)", "MIT", "not downloaded"]
        for name, kind in (("smile", "boundary"), ("age", "boundary"), ("pose", "boundary"),
                           ("ganspace", "set (NAME:K)"))]
    assert rows[1][5] == fake_ffhq.entries["smile"].url
    G = load_generator("ffhq-1024")
    path = tmp_path / "x.npy"
    np.save(path, np.zeros([G.num_ws, G.w_dim], np.float32))
    assert run("edit", path, "-g", "ffhq-1024", "-b", "smile").exit_code == 0
    rows = table(run("boundaries", "list", "-g", "ffhq-1024").stdout)
    from invert.directions.catalogue import published_path

    assert rows[1][4:] == ["downloaded", str(published_path(fake_ffhq.entries["smile"]))]
    assert rows[2][4] == "not downloaded"


def test_discover_registers_its_set_once_and_never_over_another(tmp_path):
    """`edit --boundary sefa:K` works right after discover; a second discover into another file does not
    silently take the name (before any work), unless --force or --no-register."""
    G = load(RANDOM)
    path, w = write_latents(G, tmp_path, ["p"], seed=5)["p"]
    args = ["boundaries", "discover", "-g", RANDOM, "--method", "sefa", "--count", 2, "--samples", 200, "--no-sheet"]
    assert run(*args, "--out", tmp_path / "a.safetensors").exit_code == 0
    assert run("edit", path, "-g", RANDOM, "-b", "sefa:1").exit_code == 0
    other = run(*args, "--out", tmp_path / "b.safetensors")
    assert other.exit_code == 1 and not (tmp_path / "b.safetensors").exists()
    assert error_line(other) == (f"Error: 'sefa' is already registered for this network ({tmp_path / 'a.safetensors'}); "
                                 "pass --force to register the new set in its place, or --no-register")
    assert run(*args, "--out", tmp_path / "b.safetensors", "--no-register").exit_code == 0
    assert run(*args, "--out", tmp_path / "c.safetensors", "--force").exit_code == 0
    assert lib.find_entry("sefa", lib.network_key(G)).path == (tmp_path / "c.safetensors").resolve()
