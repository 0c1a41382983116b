"""invert.boundaries: boundary files, manifests and lookup, the scores reader and the trainer."""
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from invert import boundaries as lib
from invert.errors import BoundaryError

NUM_WS, W_DIM = 4, 8
SHA = "a" * 64
OTHER = "b" * 64


def fake_generator(sha=SHA):
    return SimpleNamespace(num_ws=NUM_WS, w_dim=W_DIM, source={"sha256": sha, "path": "/models/ffhq.pkl"})


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# --- files --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [[W_DIM], [1, W_DIM]])
def test_single_direction_is_unit_normalised(tmp_path, shape):
    v = np.arange(1, W_DIM + 1, dtype=np.float32).reshape(shape) * 3
    np.save(tmp_path / "b.npy", v)
    direction = lib.load_boundary_file(tmp_path / "b.npy", num_ws=NUM_WS, w_dim=W_DIM)
    assert direction.shape == (W_DIM,)
    np.testing.assert_allclose(direction, unit(v.reshape(-1)), atol=1e-12)


@pytest.mark.parametrize("shape", [[NUM_WS, W_DIM], [1, NUM_WS, W_DIM], [1, NUM_WS * W_DIM]])
def test_per_layer_directions_are_normalised_row_by_row(tmp_path, shape):
    v = np.random.default_rng(0).standard_normal([NUM_WS, W_DIM]) * np.arange(1, NUM_WS + 1)[:, None]
    v[1] = 0
    np.save(tmp_path / "b.npy", v.reshape(shape))
    direction = lib.load_boundary_file(tmp_path / "b.npy", num_ws=NUM_WS, w_dim=W_DIM)
    assert direction.shape == (NUM_WS, W_DIM)
    np.testing.assert_allclose(np.linalg.norm(direction, axis=1), [1, 0, 1, 1], atol=1e-12)
    np.testing.assert_allclose(direction[2], unit(v[2]), atol=1e-12)


def test_bad_boundary_files(tmp_path):
    np.save(tmp_path / "shape.npy", np.ones([3, W_DIM]))
    with pytest.raises(BoundaryError, match=r"has shape \[3, 8\]; this generator expects \[1, 8\] or \[8\] \(one "
                                            r"direction\) or \[4, 8\] \(per layer\)"):
        lib.load_boundary_file(tmp_path / "shape.npy", num_ws=NUM_WS, w_dim=W_DIM)
    np.save(tmp_path / "zero.npy", np.zeros([1, W_DIM]))
    with pytest.raises(BoundaryError, match="is all zeros"):
        lib.load_boundary_file(tmp_path / "zero.npy", num_ws=NUM_WS, w_dim=W_DIM)
    nan = np.ones(W_DIM)
    nan[3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(BoundaryError, match=r"non-finite values \(NaN or inf\)"):
        lib.load_boundary_file(tmp_path / "nan.npy", num_ws=NUM_WS, w_dim=W_DIM)
    with pytest.raises(BoundaryError, match="boundary file not found"):
        lib.load_boundary_file(tmp_path / "missing.npy", num_ws=NUM_WS, w_dim=W_DIM)


# --- manifests and lookup -------------------------------------------------------------------------------


def write_boundary(path, vector, sha=SHA):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(vector, np.float32).reshape(1, -1))
    (path.with_suffix(".json")).write_text(json.dumps({"generator_sha256": sha}))
    return path


def test_shipped_manifest_documents_the_schema_and_is_empty():
    shipped = Path(lib.__file__).resolve().parents[1] / "boundaries" / "manifest.json"
    assert shipped in lib.package_manifest_paths()
    data = lib.read_manifest(shipped)
    assert data["schema_version"] == lib.SCHEMA_VERSION and data["generators"] == {}
    readme = (shipped.parent / "README.md").read_text()
    assert "boundaries train" in readme and '"generators"' in readme


def test_register_and_resolve_by_name(tmp_path):
    G = fake_generator()
    path = write_boundary(lib.user_boundaries_dir() / lib.key_folder(SHA) / "smile.npy", np.arange(W_DIM) + 1.0)
    manifest = lib.register_boundary(path, key=SHA, name="smile", info={"space": "w"})
    assert manifest == lib.user_manifest_path()
    stored = json.loads(manifest.read_text())
    assert stored["generators"][SHA]["smile"] == {"file": "aaaaaaaaaaaaaaaa/smile.npy", "space": "w"}
    found = lib.resolve_boundary("smile", G)
    assert found.name == "smile" and found.path == path.resolve()
    np.testing.assert_allclose(found.direction, unit(np.arange(W_DIM) + 1.0), atol=1e-7)
    entries = lib.list_entries(SHA)
    assert [(e.name, e.info) for e in entries] == [("smile", {"space": "w"})]
    assert lib.list_entries(OTHER) == []


def test_outside_files_are_registered_by_absolute_path(tmp_path):
    path = write_boundary(tmp_path / "elsewhere" / "age.npy", np.ones(W_DIM))
    manifest = lib.register_boundary(path, key=SHA, name="age")
    assert json.loads(manifest.read_text())["generators"][SHA]["age"]["file"] == str(path.resolve())
    assert lib.resolve_boundary("age", fake_generator()).path == path.resolve()


def test_replacing_an_entry_needs_force(tmp_path):
    first = write_boundary(tmp_path / "one.npy", np.ones(W_DIM))
    second = write_boundary(tmp_path / "two.npy", -np.ones(W_DIM))
    lib.register_boundary(first, key=SHA, name="smile")
    lib.register_boundary(first, key=SHA, name="smile")  # the same file again is fine
    with pytest.raises(BoundaryError, match="'smile' is already registered for this generator in .*; pass --force"):
        lib.check_registration(SHA, "smile", second)
    with pytest.raises(BoundaryError, match="pass --force to replace it"):
        lib.register_boundary(second, key=SHA, name="smile")
    lib.register_boundary(second, key=SHA, name="smile", force=True)
    assert lib.resolve_boundary("smile", fake_generator()).path == second.resolve()


def test_user_manifest_wins_over_package(tmp_path, monkeypatch):
    package = tmp_path / "pkg" / "manifest.json"
    write_boundary(package.parent / "smile.npy", np.ones(W_DIM))
    write_boundary(package.parent / "age.npy", np.ones(W_DIM))
    package.write_text(json.dumps({"schema_version": 1, "generators": {
        SHA: {"smile": {"file": "smile.npy"}, "age": {"file": "age.npy"}}}}))
    monkeypatch.setattr(lib, "package_manifest_paths", lambda: [package])
    user = write_boundary(tmp_path / "user_smile.npy", -np.ones(W_DIM))
    lib.register_boundary(user, key=SHA, name="smile")
    G = fake_generator()
    assert lib.resolve_boundary("smile", G).path == user.resolve()
    assert lib.resolve_boundary("age", G).path == (package.parent / "age.npy").resolve()
    assert [e.name for e in lib.list_entries()] == ["smile", "smile", "age"]


def test_missing_name_says_how_to_train_it():
    with pytest.raises(BoundaryError) as info:
        lib.resolve_boundary("smile", fake_generator(), generator_spec="ffhq 1024.pkl")
    message = str(info.value)
    assert message.startswith("no boundary 'smile' is registered for generator aaaaaaaaaaaa...")
    assert str(lib.user_manifest_path()) in message
    assert message.endswith("train one with: stylegan-invert boundaries train --generator 'ffhq 1024.pkl' "
                            "--attribute smile --samples 10000")
    with pytest.raises(BoundaryError, match="--attribute beard --latents codes.npy --scores scores.csv$"):
        lib.resolve_boundary("beard", fake_generator(), generator_spec="g.pkl")


def test_named_boundary_of_another_generator_is_refused(tmp_path):
    path = write_boundary(tmp_path / "smile.npy", np.ones(W_DIM), sha=OTHER)
    lib.register_boundary(path, key=SHA, name="smile")
    with pytest.raises(BoundaryError, match=r"'smile' \(.*smile.npy\) was trained for generator bbbbbbbbbbbb..., "
                                            r"not this one \(aaaaaaaaaaaa...\)"):
        lib.resolve_boundary("smile", fake_generator())


def test_explicit_path_of_another_generator_only_warns(tmp_path, caplog):
    path = write_boundary(tmp_path / "smile.npy", np.ones(W_DIM), sha=OTHER)
    with caplog.at_level(logging.WARNING, logger="invert.boundaries"):
        found = lib.resolve_boundary(str(path), fake_generator())
    assert found.name == "smile"
    assert "was trained for generator bbbbbbbbbbbb..., not this one" in caplog.text


def test_registered_file_missing(tmp_path):
    path = write_boundary(tmp_path / "smile.npy", np.ones(W_DIM))
    lib.register_boundary(path, key=SHA, name="smile")
    path.unlink()
    with pytest.raises(BoundaryError, match="which does not exist; train it again with: .* --force$"):
        lib.resolve_boundary("smile", fake_generator())


def test_malformed_manifests(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{not json")
    with pytest.raises(BoundaryError, match="cannot read boundary manifest .*manifest.json"):
        lib.read_manifest(path)
    path.write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(BoundaryError, match="has no 'generators' object"):
        lib.read_manifest(path)
    path.write_text(json.dumps({"generators": {SHA: {"smile": "smile.npy"}}}))
    with pytest.raises(BoundaryError, match='must be {"name": {"file": "relative/path.npy", ...}}'):
        lib.read_manifest(path)
    path.write_text(json.dumps({"schema_version": 2, "generators": {}}))
    with pytest.raises(BoundaryError, match="schema_version 2"):
        lib.read_manifest(path)


def test_generator_without_sha_and_bad_names():
    with pytest.raises(BoundaryError, match="no checkpoint sha256"):
        lib.generator_key(SimpleNamespace(source={}))
    with pytest.raises(BoundaryError, match="must be letters, digits"):
        lib.check_name("../smile")
    assert lib.key_folder("random:32:0") == "random_32_0"


# --- scores ---------------------------------------------------------------------------------------------


def test_read_scores(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("1.5\n-2\n\n# a comment\nnan\n3e-1\n")
    np.testing.assert_array_equal(lib.read_scores(path), [1.5, -2, np.nan, 0.3])
    path.write_text("file,score,other\na.png,1,9\nb.png,,9\nc.png,-1,9\n")
    np.testing.assert_array_equal(lib.read_scores(path), [1, np.nan, -1])
    path.write_text("smile\n0.1\n0.2\n")
    np.testing.assert_array_equal(lib.read_scores(path), [0.1, 0.2])


def test_read_scores_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("1\n2\nlots\n")
    with pytest.raises(BoundaryError, match=r"s.csv, line 3: 'lots' is not a number"):
        lib.read_scores(path)
    path.write_text("1,2\n3,4\n")
    with pytest.raises(BoundaryError, match="has 2 columns; put the scores in one column, or add a header row"):
        lib.read_scores(path)
    path.write_text("a,b\n3,4\n")
    with pytest.raises(BoundaryError, match="name the scores column 'score'"):
        lib.read_scores(path)
    path.write_text("\n")
    with pytest.raises(BoundaryError, match="holds no scores"):
        lib.read_scores(path)
    with pytest.raises(BoundaryError, match="scores file not found"):
        lib.read_scores(tmp_path / "none.csv")


# --- training -------------------------------------------------------------------------------------------


def planted(n, dim, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    d = unit(rng.standard_normal(dim))
    codes = rng.standard_normal([n, dim]).astype(np.float32)
    return codes, codes @ d + noise * rng.standard_normal(n), d


def test_trainer_recovers_a_planted_direction():
    codes, scores, d = planted(3000, 32)
    fit = lib.train_boundary(codes, scores, ratio=0.02)
    assert fit.normal.shape == (1, 32) and fit.normal.dtype == np.float32
    assert abs(np.linalg.norm(fit.normal) - 1) < 1e-6
    assert float(fit.normal[0] @ d) >= 0.95
    assert fit.kept == 120 and fit.samples == 3000 and fit.dropped == 0
    assert fit.validation == 2 * 18 and fit.accuracy >= 0.95


def test_trainer_drops_samples_without_a_score():
    codes, scores, d = planted(2000, 16, seed=2)
    scores[::4] = np.nan
    fit = lib.train_boundary(codes, scores, ratio=0.05)
    assert fit.dropped == 500 and fit.samples == 1500 and fit.kept == 150
    assert float(fit.normal[0] @ d) >= 0.95


def test_trainer_wp_space():
    rng = np.random.default_rng(3)
    d = unit(rng.standard_normal([NUM_WS * W_DIM])).reshape(NUM_WS, W_DIM)
    codes = rng.standard_normal([3000, NUM_WS, W_DIM]).astype(np.float32)
    scores = np.einsum("nlc,lc->n", codes, d)
    fit = lib.train_boundary(codes, scores, space="wp", ratio=0.05)
    assert fit.normal.shape == (NUM_WS, W_DIM)
    assert float(np.sum(fit.normal * d)) >= 0.95
    # W codes copied to every layer: the direction is spread evenly over the layers
    flat, scores, d = planted(2000, W_DIM, seed=4)
    fit = lib.train_boundary(flat, scores, space="wp", num_ws=NUM_WS, ratio=0.05)
    assert fit.normal.shape == (NUM_WS, W_DIM)
    for row in fit.normal:
        assert float(unit(row) @ d) >= 0.95


def test_trainer_errors():
    codes, scores, _ = planted(100, 8)
    with pytest.raises(BoundaryError, match="100 latents but 99 scores"):
        lib.train_boundary(codes, scores[:99])
    with pytest.raises(BoundaryError, match=r"too few samples to train on: 100 of 100 have a score \(0 dropped.*"
                                            r"are 2 per side; at least 5"):
        lib.train_boundary(codes, scores, ratio=0.02)
    with pytest.raises(BoundaryError, match=r"ratio 0.7 must be in \(0, 0.5\]"):
        lib.train_boundary(codes, scores, ratio=0.7)
    with pytest.raises(BoundaryError, match="overlap"):
        lib.train_boundary(codes, np.ones(100), ratio=0.1)
    with pytest.raises(BoundaryError, match="are W\\+ codes; train them with --space wp"):
        lib.train_boundary(np.zeros([100, NUM_WS, W_DIM]), scores, ratio=0.1)


@pytest.mark.numerics
def test_sample_and_score_uses_the_attribute_scorer(monkeypatch):
    import torch

    from editing_helpers import load
    from invert import attributes
    from numerics import assert_close_to_scale

    G = load("random:32")
    seen = []

    def fake_scores(images, attribute):
        seen.append((images.shape, images.dtype, attribute))
        scores = images.astype(np.float64).mean(axis=(1, 2, 3))
        scores[::3] = np.nan  # "no face"
        return scores

    monkeypatch.setattr(attributes, "score_images", fake_scores)
    codes, scores = lib.sample_and_score(G, attribute="smile", samples=10, batch_size=4, seed=5)
    assert codes.shape == (10, G.w_dim) and scores.shape == (10,)
    assert [s[0] for s in seen] == [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
    assert all(s[1] == np.uint8 and s[2] == "smile" for s in seen)
    assert np.isnan(scores).sum() == 2 + 2 + 1
    z = torch.randn([10, G.z_dim], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        # mapped in batches of 4 against one batch of 10: float32 rounding of 8 layers, not bit for bit
        assert_close_to_scale(codes, G.mapping(z)[:, 0], rtol=1e-5)
    with pytest.raises(BoundaryError, match="unknown attribute 'beard'; the built-in ones are eyes_open, mouth_open"):
        lib.sample_and_score(G, attribute="beard", samples=2)


def test_save_boundary_and_sidecar(tmp_path):
    codes, scores, _ = planted(1000, W_DIM)
    fit = lib.train_boundary(codes, scores, ratio=0.1)
    info = lib.sidecar_info(fake_generator(), fit, space="w", attribute="smile", ratio=0.1, seed=0, scorer="test")
    written = lib.save_boundary(tmp_path / "smile.npy", fit.normal, info=info)
    assert written == [tmp_path / "smile.npy", tmp_path / "smile.json"]
    side = lib.read_sidecar(tmp_path / "smile.npy")
    assert side["generator_sha256"] == SHA and side["kept"] == 200 and side["space"] == "w"
    assert side["accuracy"] == round(fit.accuracy, 6) and side["date"].startswith("20")
    np.testing.assert_array_equal(np.load(tmp_path / "smile.npy"), fit.normal)


def test_few_samples_in_many_dimensions_give_the_full_solution():
    """With 4 n < dim the trainer solves in the span of the samples; padding the codes with zero dimensions
    moves it from the full solve to that one, and must not change the boundary. (Padding lowers the
    per-dimension scale the trainer divides by, by sqrt(2040 / 40), hence the matching l2.)"""
    codes, scores, _ = planted(120, 40, seed=6)
    full = lib.train_boundary(codes, scores, ratio=0.5, l2=0.01)
    padded = lib.train_boundary(np.concatenate([codes, np.zeros([120, 2000], np.float32)], axis=1), scores,
                                ratio=0.5, l2=0.01 * 2040 / 40)
    assert float(padded.normal[0, :40] @ full.normal[0]) >= 0.99999  # equal up to the solver's tolerance
    np.testing.assert_allclose(padded.normal[0, 40:], 0, atol=1e-6)
    assert padded.accuracy == full.accuracy
