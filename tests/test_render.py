"""invert.render: batched rendering equals one direct synthesis call, with and without noise maps."""
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.numerics  # batched rendering against one call: float results of different batch sizes

from editing_helpers import load, random_noise, sample_ws
from numerics import assert_close_to_scale
from invert.images import to_uint8
from invert.latents import default_noise
from invert.render import render, synthesize


@pytest.fixture(scope="module")
def G():
    return load("random:32")


def direct(G, ws, noise=None):
    with torch.no_grad():
        return G.synthesis(torch.as_tensor(ws), noise_mode="const", noise=noise).numpy()


def test_render_equals_direct_synthesis_in_any_batch_size(G):
    ws = sample_ws(G, 5, seed=0)
    expected = direct(G, ws)
    for batch_size in (1, 2, 8):
        images = synthesize(G, ws, batch_size=batch_size)
        assert images.shape == (5, 3, 32, 32) and images.dtype == np.float32
        # other batch sizes pick other kernels: float32 rounding, about 1e-6 of the image's range
        assert_close_to_scale(images, expected, rtol=1e-5)
    pixels = render(G, torch.as_tensor(ws), batch_size=2)
    assert pixels.shape == (5, 32, 32, 3) and pixels.dtype == np.uint8
    assert (np.abs(pixels.astype(int) - to_uint8(expected).astype(int)) <= 1).all()


def test_stored_noise_maps_equal_const_mode(G):
    ws = sample_ws(G, 2, seed=1)
    # the same kernels on the same values (the stored maps passed explicitly): bit-identical
    np.testing.assert_array_equal(synthesize(G, ws, noise=default_noise(G)), synthesize(G, ws))


def test_shared_and_per_image_noise(G):
    ws = sample_ws(G, 3, seed=2)
    shared = random_noise(G, seed=3)
    images = synthesize(G, ws, noise=shared, batch_size=2)
    expected = direct(G, ws, noise=[torch.as_tensor(m)[None, None] for m in shared])
    assert_close_to_scale(images, expected, rtol=1e-5)  # batches of 2 against one batch of 3: rounding only
    assert np.abs(images - synthesize(G, ws)).max() > 1e-3  # the maps were used

    per_image = [np.stack([random_noise(G, seed=10 + i)[k] for i in range(3)]) for k in range(G.num_ws - 1)]
    images = synthesize(G, ws, noise=per_image, batch_size=2)
    for i in range(3):
        one = synthesize(G, ws[i:i + 1], noise=[m[i] for m in per_image])
        assert_close_to_scale(images[i:i + 1], one, rtol=1e-5)  # batch of 2 against 1: rounding only


def test_no_gradients_and_shape_checks(G):
    ws = torch.as_tensor(sample_ws(G, 1, seed=4)).requires_grad_(True)
    assert isinstance(synthesize(G, ws), np.ndarray)
    with pytest.raises(ValueError, match=r"ws must be \[N, 8, 512\], got \[8, 512\]"):
        render(G, ws[0])
    with pytest.raises(ValueError, match="noise map 0 holds 2 maps for 1 latents"):
        render(G, ws, noise=[np.zeros([2, *shape], np.float32) for shape in G.synthesis.noise_shapes()])
