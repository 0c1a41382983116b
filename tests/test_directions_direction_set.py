"""invert.directions.direction_set: K directions with their std and the mean of W, as safetensors."""
import json

import numpy as np
import pytest

from invert.directions.direction_set import load_direction_set, make_set, save_direction_set
from invert.errors import BoundaryError


def example(k=3, w_dim=8, eigenvalues=True):
    rng = np.random.default_rng(0)
    return make_set(rng.standard_normal([k, w_dim]) * 5, np.linspace(2, 1, k), rng.standard_normal(w_dim),
                    eigenvalues=np.arange(k, 0, -1.0) if eigenvalues else None,
                    metadata={"method": "sefa", "layers": [0, 1, 2], "samples": 100, "network_fingerprint": "f" * 64})


def test_round_trip(tmp_path):
    dset = example()
    np.testing.assert_allclose(np.linalg.norm(dset.directions, axis=1), 1, atol=1e-12)  # rows made unit
    path = save_direction_set(tmp_path / "s.safetensors", dset)
    back = load_direction_set(path)
    # stored as float32: equal to float32 rounding
    np.testing.assert_allclose(back.directions, dset.directions, atol=1e-7)
    np.testing.assert_allclose(back.std, dset.std, rtol=1e-7)
    np.testing.assert_allclose(back.mean, dset.mean, rtol=1e-6)
    np.testing.assert_allclose(back.eigenvalues, dset.eigenvalues, rtol=1e-7)
    assert back.layers == [0, 1, 2] and back.metadata["method"] == "sefa" and back.metadata["count"] == 3
    assert back.metadata["network_fingerprint"] == "f" * 64 and back.path == path and len(back) == 3
    assert load_direction_set(save_direction_set(tmp_path / "n.safetensors", example(eigenvalues=False))).eigenvalues \
        is None


def test_bad_sets(tmp_path):
    with pytest.raises(BoundaryError, match=r"needs directions \[K, w_dim\], std \[K\] and mean \[w_dim\]; got "
                                            r"\[3, 8\], \[2\] and \[8\]"):
        make_set(np.ones([3, 8]), np.ones(2), np.ones(8), metadata={})
    with pytest.raises(BoundaryError, match="a non-zero direction and a positive std"):
        make_set(np.ones([2, 8]), np.array([1.0, 0.0]), np.ones(8), metadata={})
    with pytest.raises(BoundaryError, match="must end in .safetensors"):
        save_direction_set(tmp_path / "s.npy", example())
    with pytest.raises(BoundaryError, match="direction set file not found"):
        load_direction_set(tmp_path / "none.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(BoundaryError, match="cannot read direction set .*junk.safetensors"):
        load_direction_set(tmp_path / "junk.safetensors")
    from safetensors.numpy import save_file

    save_file({"x": np.ones(2, np.float32)}, str(tmp_path / "other.safetensors"), metadata={"a": json.dumps(1)})
    with pytest.raises(BoundaryError, match="is a safetensors file but not a stylegan-invert direction set"):
        load_direction_set(tmp_path / "other.safetensors")
    dset = example()
    assert dset.check_index(2, name="s") == 2
    with pytest.raises(BoundaryError, match="s holds 3 directions, numbered 0-2; there is no direction 3"):
        dset.check_index(3, name="s")
