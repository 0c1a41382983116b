"""Directions for any network without labels: SeFa (from the weights) and GANSpace (from samples of W).

- SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021). Every W+ row
  r is turned into styles by an affine layer s = A_r w + b_r; the directions that change the styles the
  most are the top eigenvectors of A^T A, A the affine weights of the chosen rows stacked. Like the
  reference implementation (genforce/sefa, `factorize_weight`), each style channel's weight vector (a
  row of A) is unit-normalised first, so that every channel counts alike whatever its weight scale, and
  row r stands for the conv layer it feeds (noise order), the last row for the final ToRGB layer, which
  is all it feeds. Seconds, from the weights alone.
- GANSpace (Härkönen et al., NeurIPS 2020): PCA of N sampled w = mapping(z): the mean, the unit
  principal components, and the standard deviation along each (the square root of its variance).

Both give a `DirectionSet` with, for every direction, the standard deviation of sampled w projected on
it, so that strengths are in sigma units for either method (as GANSpace's sliders are).
"""
import logging
import sys

import numpy as np
import torch

from invert.directions.direction_set import make_set
from invert.editing import format_layers
from invert.errors import BoundaryError

log = logging.getLogger(__name__)

METHODS = ("sefa", "ganspace")
DEFAULT_COUNT = 10
SEFA_STD_SAMPLES = 10_000
# GANSpace's PCA of W: the paper used 1,000,000 samples on a GPU, where mapping them takes seconds. On a
# CPU mapping costs ~0.15 ms per sample (FFHQ, 2 cores), so 1e6 would take minutes; 1e5 takes ~15 s and
# estimates each sigma to within ~0.5% (relative standard error sqrt(2 / N)).
GPU_SAMPLES = 1_000_000
CPU_SAMPLES = 100_000


def default_samples(device):
    """GANSpace's sample count for a device: the paper's 1,000,000 on a GPU, 100,000 on a CPU."""
    return GPU_SAMPLES if torch.device(device).type in ("cuda", "mps") else CPU_SAMPLES


def affine_weights(G, rows):
    """The style-affine weights of the layers fed by W+ `rows`, stacked: float64 [sum of channels, w_dim].

    Row r < num_ws - 1 feeds conv layer r (in noise order); the last row feeds only the final ToRGB.
    """
    conv = G.synthesis.noise_layers()
    last_torgb = G.synthesis.blocks()[-1].torgb
    weights = []
    for row in rows:
        if not 0 <= row < G.num_ws:
            raise BoundaryError(f"layer {row} is out of range; this generator has {G.num_ws} layers, numbered "
                                f"0-{G.num_ws - 1}")
        layer = conv[row] if row < len(conv) else last_torgb
        weights.append(layer.affine.weight.detach().to(device="cpu", dtype=torch.float64).numpy())  # [C, w_dim]
    return np.concatenate(weights, axis=0)


def sefa(G, *, count=DEFAULT_COUNT, rows=None, std_samples=SEFA_STD_SAMPLES, seed=0, device=None):
    """SeFa's top `count` directions for W+ `rows` (all by default) -> DirectionSet with eigenvalues."""
    rows = list(range(G.num_ws)) if rows is None else sorted(set(rows))
    if not rows:
        raise BoundaryError("SeFa needs at least one layer")
    _check_count(count, G.w_dim)
    A = affine_weights(G, rows)
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    eigenvalues, eigenvectors = np.linalg.eigh(A.T @ A)          # ascending; columns are eigenvectors
    order = np.argsort(eigenvalues)[::-1][:count]
    directions = _fix_signs(eigenvectors[:, order].T)            # [count, w_dim]
    mean, std = projected_spread(G, directions, samples=std_samples, seed=seed, device=device)
    log.info("SeFa: %d directions from %d style channels of layers %s", count, A.shape[0], format_layers(rows))
    return make_set(directions, std, mean, eigenvalues=eigenvalues[order],
                    metadata={"method": "sefa", "layers": rows, "samples": std_samples,
                              "network_fingerprint": _fingerprint(G), "normalisation": "unit style channels"})


def ganspace(G, *, count=DEFAULT_COUNT, samples=None, rows=None, seed=0, batch_size=10_000, device=None,
             progress=False):
    """GANSpace's PCA of `samples` w = mapping(z) -> DirectionSet (components, their std, the mean).

    `rows` are recorded as the W+ rows the directions are meant for (all by default): PCA of W does
    not depend on them, edits do. The covariance is accumulated in float64 around the first batch's
    mean, so a million samples cost no more memory than one batch.
    """
    device = _device(G, device)
    samples = default_samples(device) if samples is None else int(samples)
    _check_count(count, G.w_dim)
    if samples < 2 * count or samples < 2:
        raise BoundaryError(f"GANSpace needs more samples than that ({samples}) for {count} components; use at "
                            f"least {max(2, 2 * count)}, and 100,000 or more for stable directions")
    total, shift, first, second = 0, None, 0.0, 0.0
    for w in _sample_w(G, samples, seed=seed, batch_size=batch_size, device=device, progress=progress):
        w = w.to(dtype=torch.float64, device="cpu" if device.type == "mps" else device)
        if shift is None:
            shift = w.mean(dim=0)
        centred = w - shift
        first = first + centred.sum(dim=0)
        second = second + centred.T @ centred
        total += len(w)
    mean_shift = first / total
    covariance = (second / total - torch.outer(mean_shift, mean_shift)).cpu().numpy()
    variances, vectors = np.linalg.eigh(covariance)
    order = np.argsort(variances)[::-1][:count]
    directions = _fix_signs(vectors[:, order].T)
    std = np.sqrt(np.maximum(variances[order], 0.0))
    mean = (shift + mean_shift).cpu().numpy()
    rows = list(range(G.num_ws)) if rows is None else sorted(set(rows))
    log.info("GANSpace: %d components from %d samples; they explain %.1f%% of the variance of W", count, total,
             100 * variances[order].sum() / max(variances.sum(), 1e-30))
    return make_set(directions, std, mean,
                    metadata={"method": "ganspace", "layers": rows, "samples": total,
                              "network_fingerprint": _fingerprint(G),
                              "explained_variance": [float(v) for v in variances[order] / variances.sum()]})


def projected_spread(G, directions, *, samples, seed=0, device=None, batch_size=10_000):
    """(mean w [w_dim], std [K] of w projected on each of `directions` [K, w_dim]) over sampled w."""
    device = _device(G, device)
    d = torch.as_tensor(np.asarray(directions), dtype=torch.float64)
    total, sums, squares, w_sum = 0, 0.0, 0.0, 0.0
    for w in _sample_w(G, samples, seed=seed, batch_size=batch_size, device=device):
        w = w.to(dtype=torch.float64, device="cpu")
        projected = w @ d.T                                                   # [batch, K]
        total += len(w)
        sums, squares, w_sum = sums + projected.sum(0), squares + (projected ** 2).sum(0), w_sum + w.sum(0)
    mean_projection = sums / total
    variance = torch.clamp(squares / total - mean_projection ** 2, min=0.0)
    return (w_sum / total).numpy(), torch.sqrt(variance).numpy()


def _sample_w(G, samples, *, seed, batch_size, device, progress=False):
    """Yield batches of w = mapping(z) [batch, w_dim] (row 0; untruncated), z ~ N(0, I) from `seed` on the CPU,
    so the same seed gives the same samples on every device."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(int(seed))
    with tqdm(total=samples, desc="sampling w", unit="w", file=sys.stderr, disable=not progress, leave=False) as bar:
        for start in range(0, samples, batch_size):
            count = min(batch_size, samples - start)
            z = torch.randn([count, G.z_dim], generator=generator)
            with torch.no_grad():
                w = G.mapping(z.to(device))[:, 0]
            bar.update(count)
            yield w


def _fix_signs(directions):
    """Eigenvectors have no sign: make each row's largest-magnitude entry positive, so results are repeatable."""
    directions = np.array(directions, dtype=np.float64)
    signs = np.sign(directions[np.arange(len(directions)), np.abs(directions).argmax(axis=1)])
    return directions * np.where(signs == 0, 1.0, signs)[:, None]


def _check_count(count, w_dim):
    if not 1 <= int(count) <= w_dim:
        raise BoundaryError(f"count {count} must be between 1 and w_dim = {w_dim}")


def _device(G, device):
    if device is not None:
        return torch.device(device)
    parameter = next(G.parameters(), None) if hasattr(G, "parameters") else None
    return parameter.device if parameter is not None else torch.device("cpu")


def _fingerprint(G):
    """G's network fingerprint, or None: the library also discovers directions of bare networks (a set
    without one is used by its file, not registered)."""
    return (getattr(G, "source", None) or {}).get("fingerprint")
