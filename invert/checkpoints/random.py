"""Built-in random-weight generators of the official shapes (`random:ffhq-1024`, `random:256`, ...).

They cost exactly what a trained network of the same shape costs, so benchmarks and offline demos run
anywhere; they render coloured noise, not faces. Weights follow the official initialisation, perturbed
as the conformance fixtures are (biases, noise strengths and w_avg non-zero) so that every part of the
network, the noise inputs included, affects the image. Every generator made here has
`source['random'] = True`, and every output made with one says so.
"""
import functools
import math

import torch

from invert.errors import CheckpointError
from invert.networks.stylegan2 import Generator, GeneratorConfig

# name -> (resolution, channel_base, channel_max, mapping layers); channels(r) = min(base // r, max).
# ffhq-1024 is StyleGAN2 config-f (the official FFHQ network's shape); the bare resolutions use
# config-f's channel formula at that size, except the small ones, which stay small to be fast.
PRESETS = {
    "ffhq-1024": (1024, 32768, 512, 8),
    "1024": (1024, 32768, 512, 8),
    "512": (512, 32768, 512, 8),
    "256": (256, 32768, 512, 8),
    "128": (128, 16384, 256, 8),
    "64": (64, 4096, 64, 8),
    "32": (32, 1024, 32, 8),
}


def parse_spec(spec):
    """'random:NAME[:SEED]' -> (name, seed)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] != "random" or parts[1] not in PRESETS:
        raise CheckpointError(f"unknown random generator {spec!r}; use random:NAME[:SEED] with NAME one of "
                              + ", ".join(PRESETS))
    try:
        seed = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise CheckpointError(f"random generator seed must be an integer, got {parts[2]!r}") from None
    return parts[1], seed


def config_for(name):
    resolution, base, cmax, mapping_layers = PRESETS[name]
    channels = {2 ** i: min(base // 2 ** i, cmax) for i in range(2, int(math.log2(resolution)) + 1)}
    return GeneratorConfig(resolution=resolution, channels=channels, mapping_layers=mapping_layers)


def random_generator(spec):
    """A fresh generator for 'random:NAME[:SEED]'; the weights are made once per process and copied."""
    name, seed = parse_spec(spec)
    config = config_for(name)
    generator = Generator(config, source={"format": "random", "path": spec, "random": True,
                                          "sha256": f"random:{name}:{seed}"})
    generator.load_state_dict(_random_state(name, seed))
    return generator.eval().requires_grad_(False)


@functools.lru_cache(maxsize=4)
def _random_state(name, seed):
    config = config_for(name)
    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        generator = Generator(config)
        perturb = torch.Generator().manual_seed(seed * 1000 + 1)
        with torch.no_grad():
            for pname, param in generator.named_parameters():
                if pname.endswith("noise_strength"):
                    sign = 1.0 if torch.rand([], generator=perturb) < 0.5 else -1.0
                    param.fill_(sign * (0.05 + 0.25 * torch.rand([], generator=perturb).item()))
                elif pname.endswith(".bias") and pname.startswith("mapping"):
                    param.normal_(0, 20, generator=perturb)  # run-time x0.01
                elif pname.endswith(".bias"):
                    param.add_(torch.randn(param.shape, generator=perturb) * 0.1)
            z = torch.randn([4096, config.z_dim], generator=perturb)
            generator.mapping.w_avg.copy_(generator.mapping(z)[:, 0].mean(dim=0))
    finally:
        torch.random.set_rng_state(rng_state)
    return {key: value.clone() for key, value in generator.state_dict().items()}
