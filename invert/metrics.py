"""How close a reconstruction is to its target: PSNR, SSIM, LPIPS and face identity similarity.

PSNR and SSIM are computed on 8-bit images (uint8 [H, W, 3]), the images a user actually sees and
saves, so their numbers compare with those of other tools. LPIPS needs the VGG16 weights and the lpips
package's linear layers; identity similarity needs dlib and a face in both images. When one cannot be
computed its value is None and `reconstruction_metrics` says why.
"""
import logging
import math

import numpy as np

log = logging.getLogger(__name__)

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # an 11 x 11 Gaussian window, as in Wang et al. 2004
MIN_FACE_IMAGE = 64  # dlib's frontal detector (80 px window, upsampled once) finds no face in smaller images


def _check_pair(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected two uint8 [H, W, 3] images of the same shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {a.dtype} and {b.dtype}")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a, b):
    """Peak signal-to-noise ratio in dB of two uint8 [H, W, 3] images (peak 255); inf when identical."""
    a, b = _check_pair(a, b)
    mse = np.mean((a - b) ** 2)
    return math.inf if mse == 0 else float(10.0 * math.log10(255.0 ** 2 / mse))


def _gaussian_taps(radius, sigma):
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def _filter_valid(image, taps):
    """Separable 'valid' correlation of [H, W, C] with `taps` along H and W."""
    k = len(taps)
    rows = sum(taps[i] * image[i: image.shape[0] - k + 1 + i] for i in range(k))
    return sum(taps[i] * rows[:, i: rows.shape[1] - k + 1 + i] for i in range(k))


def ssim(a, b, *, sigma=SSIM_SIGMA, radius=SSIM_RADIUS):
    """Structural similarity (Wang et al. 2004) of two uint8 [H, W, 3] images, averaged over channels.

    Gaussian window (sigma 1.5, 11 x 11), K1 = 0.01, K2 = 0.03, data range 255, population statistics,
    mean over the windows that fit inside the image (like scikit-image's `structural_similarity` with
    `gaussian_weights=True, use_sample_covariance=False, data_range=255, channel_axis=2`). Images
    smaller than the window use the largest odd window that fits.
    """
    a, b = _check_pair(a, b)
    radius = min(radius, (min(a.shape[:2]) - 1) // 2)
    taps = _gaussian_taps(radius, sigma)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _filter_valid(a, taps), _filter_valid(b, taps)
    var_a = _filter_valid(a * a, taps) - mu_a ** 2
    var_b = _filter_valid(b * b, taps) - mu_b ** 2
    cov = _filter_valid(a * b, taps) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def lpips_distance(a, b, model):
    """LPIPS distance of two uint8 [H, W, 3] images with `model`, an `invert.losses.LPIPSPerceptual`."""
    import torch

    from invert.images import from_uint8

    _check_pair(a, b)
    device = next(model.parameters()).device
    with torch.no_grad():
        images = torch.from_numpy(np.concatenate([from_uint8(a), from_uint8(b)])).to(device)
        return float(model(images[:1], images[1:])[0])


def identity_similarity(a, b):
    """Face identity agreement of two uint8 [H, W, 3] images from dlib's face descriptor.

    Returns (cosine similarity, euclidean descriptor distance, note): the numbers are None, and note
    says why, when dlib or its models are unavailable or either image has no face. dlib treats a
    distance under 0.6 as the same person. Images under MIN_FACE_IMAGE pixels are not searched: dlib's
    detector does not find faces that small.
    """
    if min(np.shape(a)[:2]) < MIN_FACE_IMAGE:
        return None, None, f"image too small for dlib's face detector ({min(np.shape(a)[:2])} px < {MIN_FACE_IMAGE})"
    try:
        from invert import faces

        identity = faces.identity_similarity(a, b)
    except Exception as exc:  # noqa: BLE001 - an optional face model must never stop a projection
        return None, None, f"face descriptor unavailable ({type(exc).__name__}: {' '.join(str(exc).split())})"
    cosine, distance = getattr(identity, "cosine", None), getattr(identity, "distance", None)
    if cosine is None:
        return None, None, "no face found in the target or the reconstruction"
    return float(cosine), float(distance), None


def reconstruction_metrics(target, reconstruction, *, lpips_model=None, lpips_note=None, identity=True):
    """All metrics of one uint8 [H, W, 3] pair -> a JSON-ready dict.

    Keys: psnr (dB; None with psnr_note when the images are identical), ssim, lpips (None with
    lpips_note when `lpips_model` is None), identity_similarity (None with identity_note when no face is
    found or `identity` is False) and identity_distance.
    """
    out = {"psnr": psnr(target, reconstruction), "ssim": ssim(target, reconstruction)}
    if math.isinf(out["psnr"]):
        out["psnr"], out["psnr_note"] = None, "identical images (infinite PSNR)"
    if lpips_model is not None:
        out["lpips"] = lpips_distance(target, reconstruction, lpips_model)
    else:
        out["lpips"], out["lpips_note"] = None, lpips_note or "LPIPS not computed"
    if identity:
        out["identity_similarity"], out["identity_distance"], note = identity_similarity(target, reconstruction)
        if note:
            out["identity_note"] = note
    else:
        out["identity_similarity"] = out["identity_distance"] = None
        out["identity_note"] = "not asked for"
    return out
