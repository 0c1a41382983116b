"""Rendering latents to images, in batches and without gradients.

`synthesize` returns the generator's float output; `render` the 8-bit images every command saves.
"""
import numpy as np
import torch

from invert.errors import OutOfMemoryError
from invert.images import to_uint8


def synthesize(G, ws, *, noise=None, batch_size=8, device=None):
    """ws [N, num_ws, w_dim] (tensor or array) -> float32 numpy images [N, 3, R, R] in about [-1, 1].

    `noise` is None (the generator's stored maps, noise_mode='const') or a list of num_ws - 1 maps,
    each [r, r] (shared by all N images) or [N, r, r] (one per image). `device` defaults to G's.
    """
    if device is None:
        device = next(G.parameters()).device
    ws = torch.as_tensor(np.asarray(ws) if not torch.is_tensor(ws) else ws, dtype=torch.float32)
    if ws.ndim != 3 or ws.shape[1] != G.num_ws or ws.shape[2] != G.w_dim:
        raise ValueError(f"ws must be [N, {G.num_ws}, {G.w_dim}], got {list(ws.shape)}")
    maps = None if noise is None else [_as_map_batch(n) for n in noise]
    if maps is not None:
        for i, m in enumerate(maps):
            if m.shape[0] not in (1, ws.shape[0]):
                raise ValueError(f"noise map {i} holds {m.shape[0]} maps for {ws.shape[0]} latents")
    images = []
    try:
        with torch.no_grad():
            for start in range(0, ws.shape[0], max(1, int(batch_size))):
                stop = min(start + max(1, int(batch_size)), ws.shape[0])
                batch_noise = None
                if maps is not None:
                    batch_noise = [(m if m.shape[0] == 1 else m[start:stop]).to(device) for m in maps]
                out = G.synthesis(ws[start:stop].to(device), noise_mode="const", noise=batch_noise)
                images.append(out.float().cpu().numpy())
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise OutOfMemoryError(f"out of memory while rendering {ws.shape[0]} image(s) of {G.resolution}x"
                               f"{G.resolution} in batches of {batch_size} on {device}") from None
    return np.concatenate(images, axis=0) if images else np.zeros([0, 3, G.resolution, G.resolution], np.float32)


def render(G, ws, *, noise=None, batch_size=8, device=None):
    """ws [N, num_ws, w_dim] (tensor or array) -> uint8 [N, R, R, 3]; see `synthesize` for the options."""
    return to_uint8(synthesize(G, ws, noise=noise, batch_size=batch_size, device=device))


def is_out_of_memory(exc):
    """Whether `exc` is a failed allocation: numpy's MemoryError, torch's on the CPU or a GPU."""
    if isinstance(exc, MemoryError) or isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "can't allocate memory" in text)


def _as_map_batch(noise_map):
    """[r, r] -> [1, 1, r, r]; [N, r, r] -> [N, 1, r, r]; [N, 1, r, r] unchanged (float32 tensors)."""
    m = torch.as_tensor(np.asarray(noise_map) if not torch.is_tensor(noise_map) else noise_map,
                        dtype=torch.float32)
    if m.ndim == 2:
        return m[None, None]
    if m.ndim == 3:
        return m[:, None]
    return m
