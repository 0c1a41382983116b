"""Rendering images from seeds, the way NVIDIA's tools turn a seed into z."""
import numpy as np
import torch

from invert.errors import InvertError

# The most images one run renders. FID's 50,000 fit; each image is a file (1.5 MB at 1024x1024, so 150 GB
# at the limit) and every output path is checked before the first image. A range such as 0-999999999 is
# refused from its bounds, before any list of seeds is built.
MAX_SEEDS = 100_000


def parse_seeds(text, *, max_count=MAX_SEEDS):
    """'0-3,7' -> [0, 1, 2, 3, 7]. Ranges are inclusive; seeds must be in [0, 2**32); a seed given twice is
    rendered once. More than `max_count` seeds are refused before they are listed."""
    ranges = []
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
            else:
                start = end = int(part)
        except (TypeError, ValueError):
            raise InvertError(f"bad seed list {text!r}: use numbers and ranges like 0-3,7") from None
        if start < 0 or end >= 2 ** 32:
            raise InvertError("seeds must be between 0 and 4294967295")
        ranges.append((start, end))
    if not ranges:
        raise InvertError(f"bad seed list {text!r}: no seeds")
    count = sum(end - start + 1 for start, end in ranges)
    if count > max_count:
        raise InvertError(f"seed list {text!r} asks for {count} images; one run renders at most {max_count} "
                          f"(split the range over several runs)")
    return list(dict.fromkeys(seed for start, end in ranges for seed in range(start, end + 1)))


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
