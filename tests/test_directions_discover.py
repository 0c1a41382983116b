"""invert.directions.discover: SeFa against a direct eigendecomposition, GANSpace against planted structure."""
import numpy as np
import pytest
import torch

from editing_helpers import load
from invert.directions import discover as lib
from invert.errors import BoundaryError


def affine_matrix(G, rows):
    """A for SeFa read straight from the state dict: W+ row r -> the r-th conv layer's affine (b4.conv1, b8.conv0,
    b8.conv1, ...), the last row -> the last block's ToRGB; each style channel's weight row unit-normalised."""
    state = G.state_dict()
    names = []
    for res in G.config.block_resolutions:
        names += [f"synthesis.b{res}.conv0.affine.weight"] * (res > 4) + [f"synthesis.b{res}.conv1.affine.weight"]
    names.append(f"synthesis.b{G.config.block_resolutions[-1]}.torgb.affine.weight")
    assert len(names) == G.num_ws
    A = np.concatenate([state[names[r]].double().numpy() for r in rows])
    return A / np.linalg.norm(A, axis=1, keepdims=True)


@pytest.mark.parametrize("rows", [None, [0, 1, 2], [5, 7]])
def test_sefa_is_the_eigendecomposition_of_the_style_weights(sg2_dir, rows):
    G = load(str(sg2_dir / "tiny_ada.pkl"))
    dset = lib.sefa(G, count=5, rows=rows, std_samples=200)
    A = affine_matrix(G, rows if rows is not None else range(G.num_ws))
    _, singular, vt = np.linalg.svd(A, full_matrices=False)   # eigenvectors of A^T A, eigenvalues s^2
    np.testing.assert_allclose(dset.eigenvalues, singular[:5] ** 2, rtol=1e-9)
    cosines = np.abs(np.sum(dset.directions * vt[:5], axis=1))  # eigenvectors are defined up to sign
    np.testing.assert_allclose(cosines, 1, atol=1e-9)
    assert dset.metadata["layers"] == (rows or list(range(G.num_ws))) and dset.metadata["method"] == "sefa"
    assert dset.metadata["network_fingerprint"] == G.source["fingerprint"]


def test_sefa_std_is_the_spread_of_sampled_w_along_each_direction():
    G = load("random:32")
    dset = lib.sefa(G, count=3, std_samples=3000, seed=4)
    z = torch.randn([3000, G.z_dim], generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        w = torch.cat([G.mapping(chunk)[:, 0] for chunk in z.split(1000)]).double().numpy()
    # the same samples, summed in another order: equal to float64 rounding
    np.testing.assert_allclose(dset.std, (w @ dset.directions.T).std(axis=0), rtol=1e-9)
    np.testing.assert_allclose(dset.mean, w.mean(axis=0), rtol=1e-9, atol=1e-12)


class Planted:
    """A 'generator' whose w = z M + b with M = I + 4 d d^T: variance 25 along d, 1 across it."""

    z_dim = w_dim = 16
    num_ws = 4

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.d = rng.standard_normal(self.w_dim)
        self.d /= np.linalg.norm(self.d)
        self.m = torch.tensor(np.eye(self.w_dim) + 4 * np.outer(self.d, self.d), dtype=torch.float32)
        self.b = torch.tensor(rng.standard_normal(self.w_dim), dtype=torch.float32)

    def mapping(self, z, truncation_psi=1.0):
        return (z @ self.m + self.b)[:, None].repeat(1, self.num_ws, 1)


def test_ganspace_recovers_a_planted_dominant_direction():
    G = Planted()
    dset = lib.ganspace(G, count=3, samples=20_000, batch_size=3000, device="cpu")
    assert abs(float(dset.directions[0] @ G.d)) > 0.999
    # sample standard deviations from 20,000 samples are within ~1% (relative error 1/sqrt(2N) = 0.5%)
    np.testing.assert_allclose(dset.std, [5.0, 1.0, 1.0], rtol=0.03)
    np.testing.assert_allclose(dset.mean, G.b.numpy(), atol=0.1)  # 5/sqrt(20000) = 0.035 along d
    assert dset.metadata["samples"] == 20_000 and dset.metadata["method"] == "ganspace"
    assert dset.metadata["explained_variance"][0] == pytest.approx(25 / 40, rel=0.05)


def test_ganspace_streaming_equals_a_direct_pca_of_the_same_samples():
    G = load("random:32")
    dset = lib.ganspace(G, count=4, samples=5000, batch_size=1200, seed=2)
    z = torch.randn([5000, G.z_dim], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        w = torch.cat([G.mapping(chunk)[:, 0] for chunk in z.split(1200)]).double().numpy()
    variances, vectors = np.linalg.eigh(np.cov(w.T, bias=True))
    order = np.argsort(variances)[::-1][:4]
    # float64 accumulation around a shifted mean vs numpy's centred covariance: equal to ~1e-10 relative
    np.testing.assert_allclose(dset.std, np.sqrt(variances[order]), rtol=1e-8)
    np.testing.assert_allclose(np.abs(np.sum(dset.directions * vectors[:, order].T, axis=1)), 1, atol=1e-6)
    np.testing.assert_allclose(dset.mean, w.mean(axis=0), rtol=1e-9, atol=1e-12)


def test_signs_are_repeatable_and_counts_checked():
    G = load("random:32")
    a, b = lib.sefa(G, count=4, std_samples=100), lib.sefa(G, count=4, std_samples=100)
    np.testing.assert_array_equal(a.directions, b.directions)
    assert (a.directions[np.arange(4), np.abs(a.directions).argmax(axis=1)] > 0).all()
    with pytest.raises(BoundaryError, match="count 513 must be between 1 and w_dim = 512"):
        lib.sefa(G, count=513)
    with pytest.raises(BoundaryError, match=r"GANSpace needs more samples than that \(10\) for 6 components"):
        lib.ganspace(G, count=6, samples=10)
    with pytest.raises(BoundaryError, match="layer 9 is out of range; this generator has 8 layers"):
        lib.sefa(G, rows=[9])


def test_default_samples_per_device():
    assert lib.default_samples("cpu") == 100_000
    assert lib.default_samples("cuda") == lib.default_samples("cuda:1") == 1_000_000
