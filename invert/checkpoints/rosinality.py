"""rosinality/stylegan2-pytorch `.pt` files: `{'g_ema': state_dict, 'latent_avg': [512]}` as written by
its `convert_weight.py`, or a training checkpoint `{g, d, g_ema, g_optim, d_optim, args}` (no latent_avg).

Channel counts come from the tensor shapes, never from rosinality's hard-coded channel table (which
cannot express every network). Names map to ada's as follows, with k = log2(r) - 3 for the block at r:
`style.{i+1}` -> `mapping.fc{i}`, `input.input` -> `b4.const`, `conv1` -> `b4.conv1`, `to_rgb1` -> `b4.torgb`,
`convs.{2k}` -> `b{r}.conv0`, `convs.{2k+1}` -> `b{r}.conv1`, `to_rgbs.{k}` -> `b{r}.torgb`,
`noises.noise_{n}` -> the n-th conv layer's `noise_const`.
"""
import re

import torch

from invert.checkpoints.layout import name_noise_maps
from invert.errors import CheckpointError

ROSINALITY = "rosinality .pt"

# rosinality's blur / upsample kernels: outer([1,3,3,1]) / 16 (the gain of 4 folded in).
_KERNEL = torch.tensor([1.0, 3.0, 3.0, 1.0])
_KERNEL = (_KERNEL[:, None] * _KERNEL[None, :]) / 16


def is_rosinality(obj):
    return isinstance(obj, dict) and isinstance(obj.get("g_ema"), dict)


def _layer_prefix(name):
    """rosinality module prefix -> ada prefix (None when it is not a synthesis layer)."""
    if name == "conv1":
        return "synthesis.b4.conv1"
    if name == "to_rgb1":
        return "synthesis.b4.torgb"
    if m := re.fullmatch(r"convs\.(\d+)", name):
        j = int(m.group(1))
        return f"synthesis.b{2 ** (j // 2 + 3)}.conv{j % 2}"
    if m := re.fullmatch(r"to_rgbs\.(\d+)", name):
        return f"synthesis.b{2 ** (int(m.group(1)) + 3)}.torgb"
    return None


_SUFFIXES = {
    "conv.weight": "weight",
    "conv.modulation.weight": "affine.weight",
    "conv.modulation.bias": "affine.bias",
    "noise.weight": "noise_strength",
    "activate.bias": "bias",
    "bias": "bias",
}


def convert(checkpoint):
    """checkpoint dict -> (format name, ada state dict, conv_clamp, mapping lr multiplier, notes)."""
    source = checkpoint["g_ema"]
    state, noises = {}, {}
    for name, tensor in source.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{ROSINALITY}: g_ema entry {name} is not a tensor")
        if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", name):
            state[f"mapping.fc{int(m.group(1)) - 1}.{m.group(2)}"] = tensor
            continue
        if name == "input.input":
            state["synthesis.b4.const"] = tensor[0] if tensor.ndim == 4 else tensor
            continue
        if m := re.fullmatch(r"noises\.noise_(\d+)", name):
            noises[int(m.group(1))] = tensor.reshape(tensor.shape[-2:])
            continue
        if name.endswith("blur.kernel") or name.endswith("upsample.kernel"):
            if tensor.shape != _KERNEL.shape or not torch.allclose(tensor.float(), _KERNEL, atol=1e-6):
                raise CheckpointError(f"{ROSINALITY}: {name} is not the [1,3,3,1] filter this generator supports")
            continue
        prefix, target = _split(name)
        if prefix is None or target is None:
            raise CheckpointError(f"{ROSINALITY}: unexpected tensor {name} {list(tensor.shape)} "
                                  "(refusing to ignore it)")
        state[f"{prefix}.{target}"] = _reshape(target, tensor)
    state.update(name_noise_maps(noises))
    latent_avg = checkpoint.get("latent_avg")
    notes = {}
    if isinstance(latent_avg, torch.Tensor):
        state["mapping.w_avg"] = latent_avg.reshape(-1)
    else:
        notes["w_avg"] = "estimated"  # a training checkpoint: no latent_avg; the loader estimates it
    return ROSINALITY, state, None, 0.01, notes


def _split(name):
    for suffix, target in _SUFFIXES.items():
        if name.endswith("." + suffix):
            prefix = _layer_prefix(name[: -len(suffix) - 1])
            if prefix is None:
                return None, None
            if target == "bias" and suffix == "bias" and "torgb" not in prefix:
                return None, None
            if target == "bias" and suffix == "activate.bias" and "torgb" in prefix:
                return None, None
            return prefix, target
    return None, None


def _reshape(target, tensor):
    if target == "weight":
        return tensor[0] if tensor.ndim == 5 else tensor  # [1, O, I, k, k] -> [O, I, k, k]
    if target == "noise_strength" and tensor.numel() == 1:
        return tensor.reshape([])
    if target == "bias" and tensor.ndim == 4:
        return tensor.reshape(-1)  # ToRGB bias [1, 3, 1, 1] -> [3]
    return tensor
