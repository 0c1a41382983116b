"""Labelled samples for InterfaceGAN: sample latents, render them, measure an attribute with dlib.

Only `sample_and_score` touches dlib (through `invert.attributes`, imported when it runs), so naming the
built-in attributes in a message costs nothing.
"""
import sys

import numpy as np

from invert.errors import BoundaryError

# the attributes `invert.attributes` can measure on rendered faces
BUILTIN_ATTRIBUTES = ("smile", "mouth_open", "eyes_open", "yaw")
DEFAULT_SAMPLES = 10000


def sample_and_score(G, *, attribute, samples, batch_size=16, seed=0, truncation_psi=1.0, device=None,
                     progress=False):
    """Sample `samples` latents, render them and measure `attribute` on each face.

    z ~ N(0, I) from `seed` -> w = mapping(z) -> image -> `invert.attributes.score_images` (dlib landmarks).
    Returns (codes float32 [samples, w_dim], scores float64 [samples] with NaN where no face was found).
    `progress` shows a bar on stderr.
    """
    import torch

    from invert import attributes
    from invert.render import render

    if attribute not in attributes.ATTRIBUTES:
        raise BoundaryError(f"unknown attribute {attribute!r}; the built-in ones are "
                            f"{', '.join(sorted(attributes.ATTRIBUTES))}, or score your own latents")
    if device is None:
        device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(int(seed))
    codes, scores = [], []
    bar = _progress(total=samples, enabled=progress, desc=f"scoring {attribute}")
    try:
        for start in range(0, samples, batch_size):
            count = min(batch_size, samples - start)
            z = torch.randn([count, G.z_dim], generator=generator)
            with torch.no_grad():
                ws = G.mapping(z.to(device), truncation_psi=truncation_psi)
            images = render(G, ws, batch_size=batch_size, device=device)
            codes.append(ws[:, 0].float().cpu().numpy())
            scores.append(np.asarray(attributes.score_images(images, attribute), dtype=np.float64).reshape(-1))
            bar.update(count)
    finally:
        bar.close()
    return np.concatenate(codes), np.concatenate(scores)


def _progress(*, total, enabled, desc):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=not enabled, leave=False)
