"""InterfaceGAN training: keep the latents with the most and the least of an attribute, fit a linear SVM.

The boundary is the unit normal of the separating hyperplane. The classifier is our own: an
L2-regularised squared-hinge linear SVM (like LinearSVC with C=1) solved with L-BFGS, whose
convergence is checked.
"""
import datetime
import logging
from dataclasses import dataclass

import numpy as np

from invert.errors import BoundaryError

log = logging.getLogger(__name__)

MIN_KEPT_PER_SIDE = 5


@dataclass
class BoundaryFit:
    """A trained boundary: `normal` float32 [1, w_dim] (space 'w') or [num_ws, w_dim] ('wp'), unit norm."""

    normal: np.ndarray
    accuracy: float        # on the held-out validation split
    train_accuracy: float
    samples: int           # codes with a finite score
    dropped: int           # codes without one (no face found, empty cell)
    kept: int              # codes used: the top and bottom `ratio` together
    validation: int        # of which held out


def train_boundary(codes, scores, *, space="w", num_ws=None, ratio=0.02, val_fraction=0.3, seed=0, l2=None):
    """Fit InterfaceGAN's boundary to latents and their attribute scores.

    codes [N, w_dim] (W) or [N, num_ws, w_dim] (W+); scores [N] (NaN for samples without a score, which
    are dropped and counted). The samples with the top and bottom `ratio` of scores become the positive
    and negative class; `val_fraction` of each is held out for the reported accuracy. `l2` is the
    penalty on the weight (default 1 / n_train, i.e. C = 1).

    Space 'w' needs W codes and returns a [1, w_dim] normal. Space 'wp' classifies flattened W+ codes
    (W codes are copied to each of `num_ws` layers) and returns a [num_ws, w_dim] normal, unit as a
    whole. `seed` fixes the validation split.
    """
    codes = np.asarray(codes)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    _check_inputs(codes, scores, space=space, num_ws=num_ws, ratio=ratio, val_fraction=val_fraction)
    valid = np.flatnonzero(np.isfinite(scores))
    dropped = len(scores) - len(valid)
    positive, negative = _extremes(scores, valid, ratio=ratio, dropped=dropped)
    per_side = len(positive)

    rng = np.random.default_rng(seed)
    n_val = min(max(1, int(round(per_side * val_fraction))), per_side - 1)
    positive, negative = rng.permutation(positive), rng.permutation(negative)
    x_train, y_train = _features(codes, [positive[n_val:], negative[n_val:]], space=space, num_ws=num_ws)
    x_val, y_val = _features(codes, [positive[:n_val], negative[:n_val]], space=space, num_ws=num_ws)
    # centre, and scale by a single number: conditions the problem without tilting the normal
    mean = x_train.mean(axis=0)
    scale = float(np.sqrt(((x_train - mean) ** 2).mean())) or 1.0
    x_train, x_val = (x_train - mean) / scale, (x_val - mean) / scale

    weight, bias = fit_linear_svm(x_train, y_train, l2=l2)
    norm = float(np.linalg.norm(weight))
    if not np.isfinite(norm) or norm == 0:
        raise BoundaryError("the classifier found no direction: the kept latents do not separate at all")
    train_accuracy = float(np.mean(((x_train @ weight + bias) > 0) == (y_train > 0)))
    accuracy = float(np.mean(((x_val @ weight + bias) > 0) == (y_val > 0)))
    normal = (weight / norm).reshape(-1 if space == "wp" else 1, codes.shape[-1])
    log.info("boundary: %d samples scored, %d dropped, %d kept, validation accuracy %.3f",
             len(valid), dropped, 2 * per_side, accuracy)
    return BoundaryFit(normal=normal.astype(np.float32), accuracy=accuracy, train_accuracy=train_accuracy,
                       samples=len(valid), dropped=dropped, kept=2 * per_side, validation=2 * n_val)


def _check_inputs(codes, scores, *, space, num_ws, ratio, val_fraction):
    if space not in ("w", "wp"):
        raise BoundaryError(f"space must be 'w' or 'wp', not {space!r}")
    if codes.ndim not in (2, 3):
        raise BoundaryError(f"latents must be [N, w_dim] or [N, num_ws, w_dim], got {list(codes.shape)}")
    if codes.shape[0] != scores.shape[0]:
        raise BoundaryError(f"{codes.shape[0]} latents but {scores.shape[0]} scores; they must match one to one")
    if not 0 < ratio <= 0.5:
        raise BoundaryError(f"ratio {ratio:g} must be in (0, 0.5]: the top and bottom `ratio` of the samples "
                            f"are kept")
    if not 0 < val_fraction < 1:
        raise BoundaryError(f"val_fraction {val_fraction:g} must be between 0 and 1")
    if space == "w" and codes.ndim == 3:
        raise BoundaryError(f"latents of shape {list(codes.shape)} are W+ codes; train them in space 'wp', "
                            f"or give W codes [N, w_dim] for space 'w'")
    if space == "wp" and codes.ndim == 2 and not num_ws:
        raise BoundaryError("space 'wp' with W codes [N, w_dim] needs num_ws to copy them to every layer")


def _extremes(scores, valid, *, ratio, dropped):
    """Indices of the top and bottom `ratio` of the scored samples -> (positive, negative)."""
    per_side = int(len(valid) * ratio)
    if per_side < MIN_KEPT_PER_SIDE:
        raise BoundaryError(f"too few samples to train on: {len(valid)} of {len(scores)} have a score ({dropped} "
                            f"dropped: no face found or no score given), and the top and bottom {ratio:g} of "
                            f"{len(valid)} are {per_side} per side; at least {MIN_KEPT_PER_SIDE} per side are "
                            f"needed: use more samples or a larger ratio")
    order = valid[np.argsort(scores[valid], kind="stable")]
    negative, positive = order[:per_side], order[-per_side:]
    if scores[positive].min() <= scores[negative].max():
        raise BoundaryError(f"the top {per_side} and bottom {per_side} scores overlap (all between "
                            f"{scores[valid].min():g} and {scores[valid].max():g}): the attribute barely varies "
                            f"over these samples")
    return positive, negative


def _features(codes, groups, *, space, num_ws):
    """Rows of `codes` for a positive and a negative index group -> (x float64 [M, D], y in {+1, -1} [M])."""
    positive, negative = groups
    x = np.asarray(codes[np.concatenate([positive, negative])], dtype=np.float64)
    if space == "wp" and x.ndim == 2:
        x = np.repeat(x[:, None], num_ws, axis=1)
    y = np.concatenate([np.ones(len(positive)), -np.ones(len(negative))])
    return x.reshape(len(x), -1), y


def fit_linear_svm(x, y, *, l2=None):
    """Minimise mean(max(0, 1 - y (x.w + b))^2) + l2/2 |w|^2 with L-BFGS -> (weight [D], bias).

    x float64 [M, D], y in {+1, -1} [M]; `l2` defaults to 1 / M. With far fewer samples than
    dimensions the optimal weight lies in the span of the samples (the penalty is |w|^2), so the
    problem is solved in an orthonormal basis Q of that span: w = Q c, x.w = (x Q).c, |w| = |c|.
    A solver that stops without converging is an error.
    """
    from scipy.optimize import minimize

    n_train, dim = x.shape
    lam = 1.0 / n_train if l2 is None else float(l2)
    basis = np.linalg.qr(x.T)[0] if 4 * n_train < dim else None
    features = x @ basis if basis is not None else x

    def objective(params):
        weight, bias = params[:-1], params[-1]
        slack = np.maximum(1.0 - y * (features @ weight + bias), 0.0)
        loss = (slack ** 2).mean() + 0.5 * lam * weight @ weight
        d_out = -2.0 * slack * y / n_train
        return loss, np.concatenate([features.T @ d_out + lam * weight, [d_out.sum()]])

    result = minimize(objective, np.zeros(features.shape[1] + 1), jac=True, method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-9})
    if not result.success and not _converged_to_rounding(result):
        raise BoundaryError(f"the linear classifier did not converge ({_reason(result)} after {result.nit} "
                            f"iterations); the kept latents may be degenerate (constant or duplicated)")
    weight, bias = result.x[:-1], result.x[-1]
    return (basis @ weight if basis is not None else weight), float(bias)


def _converged_to_rounding(result):
    """L-BFGS-B reports 'ABNORMAL' when the line search cannot improve in float64, which near the optimum
    of this smooth convex loss means the gradient is already tiny: accept that, reject anything else."""
    return "ABNORMAL" in _reason(result) and float(np.abs(result.jac).max()) < 1e-6


def _reason(result):
    message = result.message
    return (message.decode() if isinstance(message, bytes) else str(message)).strip()


def sidecar_info(G, fit, *, space, attribute, ratio, seed, scorer, generator_spec=None):
    """The JSON sidecar written beside a trained boundary."""
    from invert._version import __version__

    source = getattr(G, "source", None) or {}
    return {
        "network_fingerprint": source.get("fingerprint"),
        "generator_sha256": source.get("sha256"),
        "generator": str(generator_spec or source.get("path") or "GENERATOR"),
        "attribute": attribute,
        "space": space,
        "shape": list(fit.normal.shape),
        "samples": fit.samples,
        "dropped": fit.dropped,
        "kept": fit.kept,
        "validation_samples": fit.validation,
        "accuracy": round(fit.accuracy, 6),
        "train_accuracy": round(fit.train_accuracy, 6),
        "ratio": ratio,
        "seed": seed,
        "scorer": scorer,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stylegan_invert_version": __version__,
    }
