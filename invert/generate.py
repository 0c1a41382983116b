"""Rendering images from seeds, the way NVIDIA's tools turn a seed into z."""
import numpy as np
import torch

from invert.errors import InvertError


def parse_seeds(text):
    """'0-3,7' -> [0, 1, 2, 3, 7]. Ranges are inclusive; seeds must be in [0, 2**32)."""
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                start, end = part.split("-", 1) if not part.startswith("-") else (part, None)
                start, end = int(start), int(end)
                if end < start:
                    raise ValueError
                seeds.extend(range(start, end + 1))
            else:
                seeds.append(int(part))
        except (TypeError, ValueError):
            raise InvertError(f"bad seed list {text!r}: use numbers and ranges like 0-3,7") from None
    if not seeds:
        raise InvertError(f"bad seed list {text!r}: no seeds")
    if min(seeds) < 0 or max(seeds) >= 2 ** 32:
        raise InvertError("seeds must be between 0 and 4294967295")
    return seeds


def seed_to_z(seed, z_dim):
    """z [1, z_dim] exactly as NVIDIA's generate.py makes it, so published seeds render published faces."""
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)


@torch.no_grad()
def generate_images(generator, seeds, *, truncation_psi=1.0, noise_mode="const", batch_size=8):
    """Yield (seed, ws [num_ws, w_dim] float32 array, image tensor [3, R, R]) for each seed, in batches."""
    device = generator.w_avg.device
    for start in range(0, len(seeds), batch_size):
        batch = seeds[start: start + batch_size]
        z = torch.from_numpy(np.concatenate([seed_to_z(s, generator.z_dim) for s in batch])).to(device)
        ws = generator.mapping(z, truncation_psi=truncation_psi)
        images = generator.synthesis(ws, noise_mode=noise_mode)
        for i, seed in enumerate(batch):
            yield seed, ws[i].cpu().numpy(), images[i]
