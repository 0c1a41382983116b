"""The CUDA paths: run on a machine with a GPU (bench/gpu_run.sh), skipped elsewhere.

What a CPU cannot check: the generator reproduces the official images on the GPU, a projection on the
GPU follows the CPU one, and the GPU-only fast paths (fp16 with its gradient scaler, TF32, torch.compile
with CUDA graphs) run, keep float32 latents and restore what they change.

What has and has not been run: no GPU has run this module yet. Every tolerance below is derived from the
computation (float32 rounding of different kernels, Adam's sign-like early steps), not fitted to a GPU's
output, and none was widened after a failure. The first GPU run is the test of these tolerances: a
failure there is a finding to investigate, not a bound to loosen.
"""
import logging

import numpy as np
import pytest
import torch

from projection_helpers import render_in_domain

import invert
from invert import projector

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: these tests run on a GPU machine (bench/gpu_run.sh)")

# Float32 on the GPU uses other convolution algorithms than the CPU (and the official code): 1e-3 on
# images in [-1, 1] is far below any wiring mistake, which moves pixels by 0.1 or more.
GPU_ATOL = 1e-3


def assert_latents_agree(a, b):
    """Latents from two float32 runs of a few Adam steps: Adam's early steps are nearly lr * sign(gradient),
    so a component whose gradient is at rounding level may move by up to 2 lr either way; the rest agree."""
    difference = (a - b).abs()
    assert float(difference.mean()) < 1e-4 and float(difference.max()) < 0.05


@pytest.fixture(autouse=True)
def _strict_float32():
    """PyTorch allows TF32 in cuDNN convolutions by default; these tests compare float32 results."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture(scope="module")
def cpu_G(sg2_dir):
    return invert.load_generator(sg2_dir / "tiny_ada.pkl")


@pytest.fixture(scope="module")
def cuda_G(sg2_dir):
    return invert.load_generator(sg2_dir / "tiny_ada.pkl", device="cuda")


@pytest.fixture(scope="module")
def targets(cpu_G):
    return render_in_domain(cpu_G, 2, seed=5)


@pytest.fixture(scope="module")
def perceptual_cuda():
    return projector.build_perceptual("vgg", vgg_weights="random:0", device="cuda")


@pytest.mark.parametrize("cfg", ["tiny", "small"])
def test_official_images_on_cuda(sg2_dir, cfg):
    G = invert.load_generator(sg2_dir / f"{cfg}_ada.pkl", device="cuda")
    expected = np.load(sg2_dir / f"{cfg}_expected.npz", allow_pickle=False)
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(expected["z"]).cuda())
        assert float((ws.cpu() - torch.from_numpy(expected["ws"])).abs().max()) < 1e-4
        for ws_key, img_key, mode in [("ws", "img", "const"), ("ws_mixed", "img_mixed", "const"),
                                      ("ws", "img_nonoise", "none")]:
            images = G.synthesis(torch.from_numpy(expected[ws_key]).cuda(), noise_mode=mode).cpu()
            assert float((images - torch.from_numpy(expected[img_key])).abs().max()) < GPU_ATOL, img_key


def test_projection_on_cuda_follows_the_cpu(cpu_G, cuda_G, targets, perceptual_cuda):
    on_cpu = projector.project(cpu_G, targets, num_steps=5, vgg_weights="random:0", noise=True, noise_steps=3)
    on_gpu = projector.project(cuda_G, targets, num_steps=5, perceptual=perceptual_cuda, noise=True, noise_steps=3)
    assert on_gpu.device.startswith("cuda") and on_gpu.ws.device.type == "cpu"
    assert_latents_agree(on_gpu.ws, on_cpu.ws)
    torch.testing.assert_close(on_gpu.history_w, on_cpu.history_w, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(on_gpu.images, on_cpu.images, rtol=0, atol=1e-2)


def test_bf16_autocast_on_cuda(cuda_G, targets, perceptual_cuda):
    plain = projector.project(cuda_G, targets, num_steps=8, perceptual=perceptual_cuda)
    mixed = projector.project(cuda_G, targets, num_steps=8, perceptual=perceptual_cuda, amp="bf16")
    assert mixed.ws.dtype == torch.float32 and torch.isfinite(mixed.ws).all()
    assert mixed.loss_w.dtype == torch.float32
    # rounding moves the loss a little, never the optimisation's course
    np.testing.assert_allclose(mixed.loss_w.numpy(), plain.loss_w.numpy(), rtol=0.1)


def test_fp16_autocast_on_cuda(cuda_G, targets, perceptual_cuda):
    # The gradient scaler starts at 2^16 and halves it on every overflow, skipping those steps (on the CPU,
    # fp16 autocast of the 32x32 fixture skipped its first steps). After 20 steps it must have made progress.
    mixed = projector.project(cuda_G, targets, num_steps=20, perceptual=perceptual_cuda, amp="fp16")
    assert mixed.ws.dtype == torch.float32 and torch.isfinite(mixed.ws).all()
    assert (mixed.loss_w < 0.75 * mixed.history_w[0]).all()


def test_tf32_is_restored(cuda_G, targets, perceptual_cuda):
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    seen = []
    result = projector.project(cuda_G, targets[:1], num_steps=3, perceptual=perceptual_cuda, tf32=True,
                               callback=lambda *a: seen.append(torch.backends.cudnn.allow_tf32))
    assert seen == [True] * 3 and torch.isfinite(result.ws).all()
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_cuda_graphs_through_compile(cuda_G, targets, perceptual_cuda, caplog):
    eager = projector.project(cuda_G, targets, num_steps=6, perceptual=perceptual_cuda)
    with caplog.at_level(logging.WARNING, logger="invert.projector"):
        graphs = projector.project(cuda_G, targets, num_steps=6, perceptual=perceptual_cuda,
                                   compile="reduce-overhead")
    assert "torch.compile" not in caplog.text  # compiled and replayed, no fallback to eager
    assert_latents_agree(graphs.ws, eager.ws)  # inductor's fused kernels round differently
    np.testing.assert_allclose(graphs.loss_w.numpy(), eager.loss_w.numpy(), rtol=1e-3)
