"""The few tensor operations StyleGAN2 needs, in plain PyTorch (no compiled extensions).

All of them are written for the conventions of NVIDIA's stylegan2-ada-pytorch, whose tensor layout our
generator shares: conv weights [O, I, kh, kw], styles [N, I], activations [N, C, H, W].
"""
import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def normalize_2nd_moment(x, *, dim=1, eps=1e-8):
    """Scale each row of `x` to unit mean square (StyleGAN's 'pixel norm' of z)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def bias_lrelu(x, bias, *, gain=LRELU_GAIN, clamp=None):
    """x + bias (broadcast over dim 1), leaky ReLU(0.2), times `gain`, then clamp to [-clamp, clamp]."""
    shape = [1, -1] + [1] * (x.ndim - 2)
    x = F.leaky_relu(x + bias.reshape(shape), LRELU_SLOPE) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def bias_linear(x, bias, *, clamp=None):
    """x + bias (broadcast over dim 1), then clamp; ToRGB's linear 'activation'."""
    x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def make_resample_filter(taps=(1, 3, 3, 1)):
    """The 2-D FIR filter [k, k] = outer(taps, taps), normalised to sum 1 (ada's `setup_filter`)."""
    taps = torch.as_tensor(taps, dtype=torch.float32)
    kernel = taps[:, None] * taps[None, :]
    return kernel / kernel.sum()


def _separable_taps(kernel):
    """The 1-D taps whose outer product is `kernel` [k, k] (true for the filters StyleGAN uses)."""
    row = kernel.sum(dim=0)
    return row / row.sum().sqrt() * torch.sign(row.sum())


def fir_filter(x, kernel, *, pad, gain=1.0):
    """Zero-pad `x` [N, C, H, W] by `pad` = (left, right, top, bottom), then apply `kernel` to each channel.

    The filter is applied separably (two 1-D depthwise convolutions): for the separable 4x4 filter this
    is half the work of the 2-D convolution, with the same result up to float rounding. Symmetric
    filters make correlation and convolution identical, so no flip is needed.
    """
    channels = x.shape[1]
    taps = (_separable_taps(kernel) * math.sqrt(gain)).to(dtype=x.dtype, device=x.device)
    k = taps.numel()
    x = F.pad(x, list(pad))
    x = F.conv2d(x, taps.reshape(1, 1, 1, k).expand(channels, 1, 1, k), groups=channels)
    x = F.conv2d(x, taps.reshape(1, 1, k, 1).expand(channels, 1, k, 1), groups=channels)
    return x


def upsample_2x(x, kernel):
    """FIR up-sampling by 2 (zero insertion, then the filter with gain 4): [N, C, H, W] -> [N, C, 2H, 2W].

    Zero insertion followed by filtering equals a strided transposed convolution with the filter,
    which is what runs here (no explicit zero-stuffed tensor is built).
    """
    n, c, h, w = x.shape
    k = kernel.shape[-1]
    taps = (_separable_taps(kernel) * 2.0).to(dtype=x.dtype, device=x.device)
    # ada's upsample2d pads the zero-stuffed signal by (k+1)//2 before; for the transposed
    # convolution (the 'full' result) that is a crop of k - 1 - (k+1)//2 samples at the start.
    crop = k - 1 - (k + 1) // 2
    x = x.reshape(n * c, 1, h, w)
    x = F.conv_transpose2d(x, taps.reshape(1, 1, 1, k), stride=(1, 2))
    x = F.conv_transpose2d(x, taps.reshape(1, 1, k, 1), stride=(2, 1))
    x = x[:, :, crop: crop + 2 * h, crop: crop + 2 * w]
    return x.reshape(n, c, 2 * h, 2 * w)


def modulated_conv2d(x, weight, styles, *, demodulate=True, up=False, resample_filter=None):
    """StyleGAN2's modulated convolution, computed by scaling activations (no per-sample weights).

    x: [N, I, H, W]; weight: [O, I, k, k]; styles: [N, I]. Returns [N, O, H', W'] where H' = 2H with
    `up`, else H. Modulating the input channels and demodulating the output channels is the same
    mathematics as ada's fused grouped convolution, but runs as one ordinary convolution over the
    whole batch, which is what cuDNN and oneDNN are fastest at.

    With `up`, this is ada's `conv2d_resample(up=2)`: a stride-2 transposed convolution with the
    (unflipped, in/out-swapped) weight, then the FIR filter with gain 4 and padding 1.
    """
    out_channels, in_channels, kh, kw = weight.shape
    x = x * styles.reshape(-1, in_channels, 1, 1).to(x.dtype)
    if up:
        x = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2)
        x = fir_filter(x, resample_filter, pad=(1, 1, 1, 1), gain=4.0)
    else:
        x = F.conv2d(x, weight.to(x.dtype), padding=kh // 2)
    if demodulate:
        # dcoefs[n, o] = 1 / sqrt(sum_{i,kh,kw} (weight[o,i] * styles[n,i])^2 + 1e-8)
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [N, O]
        x = x * dcoefs.reshape(-1, out_channels, 1, 1).to(x.dtype)
    return x
