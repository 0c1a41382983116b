"""invert.directions.interfacegan: the InterfaceGAN trainer (a linear SVM on the extremes of an attribute)."""
import numpy as np
import pytest

from invert.directions.interfacegan import fit_linear_svm, sidecar_info, train_boundary
from invert.errors import BoundaryError

NUM_WS, W_DIM = 4, 8


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def planted(n, dim, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    d = unit(rng.standard_normal(dim))
    codes = rng.standard_normal([n, dim]).astype(np.float32)
    return codes, codes @ d + noise * rng.standard_normal(n), d


def test_trainer_recovers_a_planted_direction():
    codes, scores, d = planted(3000, 32)
    fit = train_boundary(codes, scores, ratio=0.02)
    assert fit.normal.shape == (1, 32) and fit.normal.dtype == np.float32
    assert abs(np.linalg.norm(fit.normal) - 1) < 1e-6
    assert float(fit.normal[0] @ d) >= 0.95
    assert fit.kept == 120 and fit.samples == 3000 and fit.dropped == 0
    assert fit.validation == 2 * 18 and fit.accuracy >= 0.95


def test_trainer_drops_samples_without_a_score():
    codes, scores, d = planted(2000, 16, seed=2)
    scores[::4] = np.nan
    fit = train_boundary(codes, scores, ratio=0.05)
    assert fit.dropped == 500 and fit.samples == 1500 and fit.kept == 150
    assert float(fit.normal[0] @ d) >= 0.95


def test_trainer_wp_space():
    rng = np.random.default_rng(3)
    d = unit(rng.standard_normal([NUM_WS * W_DIM])).reshape(NUM_WS, W_DIM)
    codes = rng.standard_normal([3000, NUM_WS, W_DIM]).astype(np.float32)
    scores = np.einsum("nlc,lc->n", codes, d)
    fit = train_boundary(codes, scores, space="wp", ratio=0.05)
    assert fit.normal.shape == (NUM_WS, W_DIM)
    assert float(np.sum(fit.normal * d)) >= 0.95
    # W codes copied to every layer: the direction is spread evenly over the layers
    flat, scores, d = planted(2000, W_DIM, seed=4)
    fit = train_boundary(flat, scores, space="wp", num_ws=NUM_WS, ratio=0.05)
    assert fit.normal.shape == (NUM_WS, W_DIM)
    for row in fit.normal:
        assert float(unit(row) @ d) >= 0.95


def test_trainer_errors():
    codes, scores, _ = planted(100, 8)
    with pytest.raises(BoundaryError, match="100 latents but 99 scores"):
        train_boundary(codes, scores[:99])
    with pytest.raises(BoundaryError, match=r"too few samples to train on: 100 of 100 have a score \(0 dropped.*"
                                            r"are 2 per side; at least 5"):
        train_boundary(codes, scores, ratio=0.02)
    with pytest.raises(BoundaryError, match=r"ratio 0.7 must be in \(0, 0.5\]"):
        train_boundary(codes, scores, ratio=0.7)
    with pytest.raises(BoundaryError, match="overlap"):
        train_boundary(codes, np.ones(100), ratio=0.1)
    with pytest.raises(BoundaryError, match="are W\\+ codes; train them in space 'wp'"):
        train_boundary(np.zeros([100, NUM_WS, W_DIM]), scores, ratio=0.1)


def test_few_samples_in_many_dimensions_give_the_full_solution():
    """With 4 n < dim the trainer solves in the span of the samples; padding the codes with zero dimensions
    moves it from the full solve to that one, and must not change the boundary. (Padding lowers the
    per-dimension scale the trainer divides by, by sqrt(2040 / 40), hence the matching l2.)"""
    codes, scores, _ = planted(120, 40, seed=6)
    full = train_boundary(codes, scores, ratio=0.5, l2=0.01)
    padded = train_boundary(np.concatenate([codes, np.zeros([120, 2000], np.float32)], axis=1), scores,
                            ratio=0.5, l2=0.01 * 2040 / 40)
    assert float(padded.normal[0, :40] @ full.normal[0]) >= 0.99999  # equal up to the solver's tolerance
    np.testing.assert_allclose(padded.normal[0, 40:], 0, atol=1e-6)
    assert padded.accuracy == full.accuracy


def test_a_solver_that_does_not_converge_is_an_error():
    """L-BFGS's `success` is checked: on data it cannot minimise (here NaN features) the fit is refused."""
    x = np.random.default_rng(0).standard_normal([20, 4])
    x[3, 1] = np.nan
    y = np.where(np.arange(20) % 2 == 0, 1.0, -1.0)
    with pytest.raises(BoundaryError, match=r"the linear classifier did not converge \(.* after \d+ iterations\)"):
        fit_linear_svm(x, y)
    weight, bias = fit_linear_svm(np.nan_to_num(x), y)  # the same data, finite: converges
    assert np.isfinite(weight).all() and np.isfinite(bias)


def test_sidecar_names_the_network():
    from types import SimpleNamespace

    codes, scores, _ = planted(1000, W_DIM)
    fit = train_boundary(codes, scores, ratio=0.1)
    G = SimpleNamespace(source={"fingerprint": "f" * 64, "sha256": "a" * 64, "path": "/models/g.pkl"})
    info = sidecar_info(G, fit, space="w", attribute="smile", ratio=0.1, seed=0, scorer="test")
    assert info["network_fingerprint"] == "f" * 64 and info["generator_sha256"] == "a" * 64
    assert info["generator"] == "/models/g.pkl" and info["kept"] == 200 and info["space"] == "w"
    assert info["accuracy"] == round(fit.accuracy, 6) and info["date"].startswith("20")
