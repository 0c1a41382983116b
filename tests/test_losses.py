"""Projection losses: per-image values, masks, the 256-pixel cap, LPIPS against the lpips package."""
import pytest
import torch

from invert import losses, vgg_weights
from invert.errors import WeightsError
from invert.networks import vgg16


@pytest.fixture(scope="module")
def state():
    return vgg_weights.random_state(3)


@pytest.fixture(scope="module")
def perceptual(state):
    return losses.VGGPerceptual(vgg16.build_features(state))


@pytest.fixture(scope="module")
def lpips_model(state):
    return losses.LPIPSPerceptual(state)


def _images(seed, n=2, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_pixel_mse_per_image_and_masked():
    a, b = _images(0), _images(1)
    expected = ((a - b) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(losses.pixel_mse(a, b), expected)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, :10] = 1
    masked = losses.pixel_mse(a, b, mask)
    torch.testing.assert_close(masked, ((a - b) ** 2)[..., :10].mean(dim=(1, 2, 3)))
    changed = b.clone()
    changed[..., 10:] = 5.0  # unknown pixels do not count
    torch.testing.assert_close(losses.pixel_mse(a, changed, mask), masked)
    # each image's value depends on that image only
    other = b.clone()
    other[1] = 0
    assert losses.pixel_mse(a, other)[0] == losses.pixel_mse(a, b)[0]


def test_masked_mean_resizes_the_mask():
    values = torch.ones(1, 4, 8, 8)
    values[..., 4:] = 3.0
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16] = 1  # left half, at 4x the resolution
    assert losses.masked_mean(values, mask).item() == pytest.approx(1.0)
    assert losses.masked_mean(values).item() == pytest.approx(2.0)
    soft = torch.full((1, 1, 8, 8), 0.5)
    assert losses.masked_mean(values, soft).item() == pytest.approx(2.0)


def test_downsample_only_above_the_cap():
    small = _images(2, n=1, size=64)
    assert losses.downsample(small) is small
    big = _images(3, n=1, size=512)
    down = losses.downsample(big)
    assert down.shape == (1, 3, 256, 256)
    torch.testing.assert_close(down[0, :, 0, 0], big[0, :, :2, :2].mean(dim=(1, 2)))  # area average


def test_vgg_perceptual_zero_for_identical_and_masks_unknown_region(perceptual):
    a, b = _images(4), _images(5)
    fa = perceptual.features(a)
    assert perceptual.distance(fa, fa).abs().max() == 0
    d = perceptual.distance(fa, perceptual.features(b))
    assert d.shape == (2,) and (d > 0).all()
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16, :] = 1
    c = b.clone()
    c[..., 16:, :] = -a[..., 16:, :]  # differ only where the mask says unknown
    ma, mc = perceptual.features(a, mask), perceptual.features(c, mask)
    assert perceptual.distance(ma, mc, mask).abs().max() > 0  # known halves differ (b vs a)
    c2 = a.clone()
    c2[..., 16:, :] = b[..., 16:, :]
    assert perceptual.distance(ma, perceptual.features(c2, mask), mask).abs().max() == 0


def test_vgg_perceptual_uses_256_for_large_images(perceptual):
    big = _images(6, n=1, size=512)
    features = perceptual.features(big)
    assert features[0].shape[-1] == 256
    reference = perceptual.vgg(torch.nn.functional.interpolate(big, size=(256, 256), mode="area"))
    for ours, theirs in zip(features, reference):
        assert torch.equal(ours, theirs)
    assert perceptual.features(_images(6, n=1, size=64))[0].shape[-1] == 64  # no upsampling


@pytest.mark.numerics
def test_lpips_matches_the_lpips_package(state, lpips_model):
    model = lpips_model
    a, b = _images(7, size=64), _images(8, size=64)
    with torch.no_grad():
        ours = model(a, b)
        theirs = model.model(a, b).flatten()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)  # other code, same maths: float32 rounding
    assert model(a, a).abs().max() == 0
    # the trunk holds our weights, the linear layers the package's calibrated ones
    assert torch.equal(dict(model.model.net.named_parameters())["slice5.28.weight"], state["features.28.weight"])
    assert model.model.lin0.model[1].weight.abs().sum() > 0


def test_lpips_needs_the_deep_layers(state):
    partial = {k: v for k, v in state.items() if int(k.split(".")[1]) < 28}
    with pytest.raises(WeightsError, match=r"lacks features\.28\.weight"):
        losses.LPIPSPerceptual(partial, info={"source": "partial.pth"})


def test_lpips_mask_ignores_unknown_region(lpips_model):
    model = lpips_model
    a, b = _images(9), _images(10)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, :16] = 1
    b[..., :, :16] = a[..., :, :16]
    with torch.no_grad():
        d = model.distance(model.features(a, mask), model.features(b, mask), mask)
    assert d.abs().max() == 0


def test_projection_loss_combines_terms_and_prepares_once(perceptual):
    a, target = _images(11), _images(12)
    calls = []
    perceptual.extractor = lambda x: calls.append(x.shape) or perceptual.trunk(x)
    try:
        both = losses.ProjectionLoss(perceptual, mse_weight=2.0, perceptual_weight=0.5)
        prepared = both.prepare(target)
        assert len(calls) == 1
        total = both(a, prepared)
        both(a, prepared)
        assert len(calls) == 3  # one per evaluation: the target's features are not recomputed
    finally:
        perceptual.extractor = None
    mse_only = losses.ProjectionLoss(None, mse_weight=1.0, perceptual_weight=0.0)
    assert mse_only.prepare(target).features is None
    perc_only = losses.ProjectionLoss(perceptual, mse_weight=0.0, perceptual_weight=1.0)
    expected = 2.0 * mse_only(a, mse_only.prepare(target)) + 0.5 * perc_only(a, perc_only.prepare(target))
    torch.testing.assert_close(total, expected)
    with pytest.raises(ValueError, match="perceptual network"):
        losses.ProjectionLoss(None, perceptual_weight=1.0)


def test_loss_is_float32_under_autocast(perceptual):
    a, target = _images(13), _images(14)
    loss = losses.ProjectionLoss(perceptual)
    prepared = loss.prepare(target)
    reference = loss(a, prepared)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(a, prepared)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, reference, rtol=0.05, atol=0)
