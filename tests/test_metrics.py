"""Reconstruction metrics: PSNR and SSIM on 8-bit images, LPIPS, identity similarity."""
import math

import numpy as np
import pytest

from invert import metrics


def _random_image(seed, size=64):
    return np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def test_psnr_known_values():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + np.uint8(5)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 25))
    assert metrics.psnr(a, a) == math.inf
    c = a.copy()
    c[0, 0, 0] = 255  # one pixel off by 155
    assert metrics.psnr(a, c) == pytest.approx(10 * math.log10(255 ** 2 / (155 ** 2 / 192)))


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        metrics.ssim(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32))


def _ssim_brute_force(a, b, radius=5, sigma=1.5):
    """Wang et al.'s SSIM written out window by window (a second, independent implementation)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    x = np.arange(-radius, radius + 1)
    w = np.exp(-x ** 2 / (2 * sigma ** 2))
    w = np.outer(w, w)
    w /= w.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = 2 * radius + 1
    values = []
    for ch in range(3):
        for i in range(a.shape[0] - k + 1):
            for j in range(a.shape[1] - k + 1):
                pa, pb = a[i:i + k, j:j + k, ch], b[i:i + k, j:j + k, ch]
                ma, mb = (w * pa).sum(), (w * pb).sum()
                va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
                cov = (w * (pa - ma) * (pb - mb)).sum()
                values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_matches_a_window_by_window_reference():
    a = _random_image(0, size=24)
    noise = np.random.default_rng(1).normal(0, 20, a.shape)
    b = np.clip(a + noise, 0, 255).astype(np.uint8)
    assert metrics.ssim(a, b) == pytest.approx(_ssim_brute_force(a, b), abs=1e-9)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, b) == pytest.approx(metrics.ssim(b, a))
    worse = np.clip(a + 3 * noise, 0, 255).astype(np.uint8)
    assert metrics.ssim(a, worse) < metrics.ssim(a, b) < 1


def test_ssim_small_images_use_a_smaller_window():
    a, b = _random_image(2, size=7), _random_image(3, size=7)
    assert metrics.ssim(a, b) == pytest.approx(_ssim_brute_force(a, b, radius=3), abs=1e-9)


def test_lpips_distance_uses_the_model():
    torch = pytest.importorskip("torch")
    from invert.images import from_uint8

    seen = []

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, y):
            seen.append((x, y))
            return (x - y).abs().mean(dim=(1, 2, 3))

    a, b = _random_image(4), _random_image(5)
    value = metrics.lpips_distance(a, b, Model())
    assert value == pytest.approx(float(np.abs(from_uint8(a) - from_uint8(b)).mean()), rel=1e-6)
    assert seen[0][0].shape == (1, 3, 64, 64)


def test_identity_similarity_reports_why_not(monkeypatch):
    import invert.faces as faces

    monkeypatch.setattr(faces, "identity_similarity", lambda a, b: faces.Identity(0.93, 0.31))
    assert metrics.identity_similarity(_random_image(0), _random_image(1)) == (0.93, 0.31, None)
    monkeypatch.setattr(faces, "identity_similarity", lambda a, b: faces.Identity(None, None))
    assert metrics.identity_similarity(_random_image(0), _random_image(1)) == (
        None, None, "no face found in the target or the reconstruction")

    def broken(a, b):
        raise RuntimeError("model file\nmissing")

    monkeypatch.setattr(faces, "identity_similarity", broken)
    cosine, distance, note = metrics.identity_similarity(_random_image(0), _random_image(1))
    assert cosine is None and distance is None and note == "face descriptor unavailable (RuntimeError: model file missing)"
    assert metrics.identity_similarity(_random_image(0, size=32), _random_image(1, size=32))[2] == \
        "image too small for dlib's face detector (32 px < 64)"


def test_identity_of_a_real_face_with_itself(astronaut_path):
    from invert.images import load_rgb

    photo = load_rgb(astronaut_path)
    cosine, distance, note = metrics.identity_similarity(photo, photo)
    if note and "unavailable" in note:
        pytest.skip(note)
    assert note is None and cosine == pytest.approx(1.0, abs=1e-6) and distance == pytest.approx(0.0, abs=1e-4)


def test_reconstruction_metrics_record():
    a, b = _random_image(6), _random_image(7)
    out = metrics.reconstruction_metrics(a, b, lpips_note="no weights", identity=False)
    assert out["psnr"] == pytest.approx(metrics.psnr(a, b)) and out["ssim"] == pytest.approx(metrics.ssim(a, b))
    assert out["lpips"] is None and out["lpips_note"] == "no weights"
    assert out["identity_similarity"] is None and out["identity_note"] == "not asked for"
    same = metrics.reconstruction_metrics(a, a, identity=False)
    assert same["psnr"] is None and "identical" in same["psnr_note"] and same["ssim"] == pytest.approx(1.0)
