"""invert.directions.boundary_file: boundary .npy files and their sidecars."""
import numpy as np
import pytest

from invert.directions.boundary_file import as_direction, load_boundary_file, read_sidecar, save_boundary
from invert.errors import BoundaryError

NUM_WS, W_DIM = 4, 8


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rms_unit(v):
    """A per-layer direction scaled as a whole so that its non-zero rows' root-mean-square length is 1."""
    norms = np.linalg.norm(v, axis=-1)
    return v / np.sqrt(np.mean(norms[norms > 0] ** 2))


@pytest.mark.parametrize("shape", [[W_DIM], [1, W_DIM]])
def test_single_direction_is_unit_normalised(tmp_path, shape):
    v = np.arange(1, W_DIM + 1, dtype=np.float32).reshape(shape) * 3
    np.save(tmp_path / "b.npy", v)
    direction = load_boundary_file(tmp_path / "b.npy", num_ws=NUM_WS, w_dim=W_DIM)
    assert direction.shape == (W_DIM,)
    np.testing.assert_allclose(direction, unit(v.reshape(-1)), atol=1e-12)


@pytest.mark.parametrize("shape", [[NUM_WS, W_DIM], [1, NUM_WS, W_DIM], [1, NUM_WS * W_DIM]])
def test_per_layer_directions_keep_their_layer_weights(tmp_path, shape):
    """Scaled as a whole (root-mean-square row length 1 over the rows it moves): layers keep the relative
    weights they were trained with; a direction with equal rows moves each layer by the strength."""
    v = np.random.default_rng(0).standard_normal([NUM_WS, W_DIM]) * np.arange(1, NUM_WS + 1)[:, None]
    v[1] = 0
    np.save(tmp_path / "b.npy", v.reshape(shape))
    direction = load_boundary_file(tmp_path / "b.npy", num_ws=NUM_WS, w_dim=W_DIM)
    assert direction.shape == (NUM_WS, W_DIM)
    np.testing.assert_allclose(direction, rms_unit(v), atol=1e-12)
    norms = np.linalg.norm(direction, axis=1)
    assert norms[1] == 0 and np.sqrt(np.mean(norms[[0, 2, 3]] ** 2)) == pytest.approx(1, abs=1e-12)
    np.testing.assert_allclose(norms / norms[0], np.linalg.norm(v, axis=1) / np.linalg.norm(v[0]), atol=1e-12)
    equal = np.tile(v[0], (NUM_WS, 1))
    np.testing.assert_allclose(np.linalg.norm(as_direction(equal, num_ws=NUM_WS, w_dim=W_DIM, source="x"), axis=1),
                               1, atol=1e-12)


def test_bad_boundary_files(tmp_path):
    np.save(tmp_path / "shape.npy", np.ones([3, W_DIM]))
    with pytest.raises(BoundaryError, match=r"has shape \[3, 8\]; this generator expects \[1, 8\] or \[8\] \(one "
                                            r"direction\) or \[4, 8\] \(per layer\)"):
        load_boundary_file(tmp_path / "shape.npy", num_ws=NUM_WS, w_dim=W_DIM)
    np.save(tmp_path / "zero.npy", np.zeros([1, W_DIM]))
    with pytest.raises(BoundaryError, match="is all zeros"):
        load_boundary_file(tmp_path / "zero.npy", num_ws=NUM_WS, w_dim=W_DIM)
    nan = np.ones(W_DIM)
    nan[3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(BoundaryError, match=r"non-finite values \(NaN or inf\)"):
        load_boundary_file(tmp_path / "nan.npy", num_ws=NUM_WS, w_dim=W_DIM)
    with pytest.raises(BoundaryError, match="boundary file not found"):
        load_boundary_file(tmp_path / "missing.npy", num_ws=NUM_WS, w_dim=W_DIM)
    with pytest.raises(BoundaryError, match=r"^published x has shape \[2\]"):
        as_direction(np.ones(2), num_ws=NUM_WS, w_dim=W_DIM, source="published x")


def test_save_boundary_and_sidecar(tmp_path):
    normal = unit(np.arange(1.0, W_DIM + 1))[None].astype(np.float32)
    written = save_boundary(tmp_path / "smile.npy", normal, info={"network_fingerprint": "f" * 64, "kept": 3})
    assert written == [tmp_path / "smile.npy", tmp_path / "smile.json"]
    assert read_sidecar(tmp_path / "smile.npy") == {"network_fingerprint": "f" * 64, "kept": 3}
    np.testing.assert_array_equal(np.load(tmp_path / "smile.npy"), normal)
    with pytest.raises(BoundaryError, match="must end in .npy"):
        save_boundary(tmp_path / "smile.txt", normal, info={})
    assert read_sidecar(tmp_path / "none.npy") is None
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(BoundaryError, match="must hold a JSON object"):
        read_sidecar(tmp_path / "bad.npy")
