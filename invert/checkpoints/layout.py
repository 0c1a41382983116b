"""From a state dict in ada naming to a generator: infer the shape, check every tensor, fill every parameter.

Every format loader converts its file to a dict {ada state_dict name: tensor} plus the two settings
tensor shapes cannot tell (conv_clamp and the mapping lr multiplier), and hands it to `build_generator`.
A tensor left over, a parameter left unfilled or a shape that does not fit refuses the file, naming the
tensor and its shape: a silently dropped layer is exactly the bug this toolkit must never have.
"""
import logging
import re

import torch

from invert.errors import CheckpointError
from invert.networks import ops
from invert.networks.stylegan2 import Generator, GeneratorConfig

log = logging.getLogger(__name__)

_BLOCK = re.compile(r"^synthesis\.b(\d+)\.")
_FC = re.compile(r"^mapping\.fc(\d+)\.weight$")


def _shape(tensor):
    return list(tensor.shape)


def infer_config(state, *, conv_clamp, mapping_lr_multiplier, fmt):
    """Read resolution, channels, dims and mapping depth from the tensor shapes of `state` (ada names)."""
    resolutions = sorted({int(m.group(1)) for name in state if (m := _BLOCK.match(name))})
    fc_indices = sorted(int(m.group(1)) for name in state if (m := _FC.match(name)))
    if not resolutions or "synthesis.b4.const" not in state:
        raise CheckpointError(f"{fmt}: no StyleGAN2 synthesis network found (missing synthesis.b4.const)")
    if not fc_indices or fc_indices != list(range(len(fc_indices))):
        raise CheckpointError(f"{fmt}: no complete mapping network found (mapping.fc0 ... missing)")
    resolution = resolutions[-1]
    expected = [2 ** i for i in range(2, resolution.bit_length())]
    if resolutions != expected or resolution < 8:
        raise CheckpointError(f"{fmt}: synthesis blocks {resolutions} are not 4, 8, ..., {resolution}")
    channels = {4: int(state["synthesis.b4.const"].shape[0])}
    for res in expected[1:]:
        key = f"synthesis.b{res}.conv1.weight"
        if key not in state:
            raise CheckpointError(f"{fmt}: missing tensor {key}")
        channels[res] = int(state[key].shape[0])
    first, last = state["mapping.fc0.weight"], state[f"mapping.fc{fc_indices[-1]}.weight"]
    torgb = state.get(f"synthesis.b{resolution}.torgb.weight")
    if torgb is None:
        raise CheckpointError(f"{fmt}: missing tensor synthesis.b{resolution}.torgb.weight")
    return GeneratorConfig(
        resolution=resolution, channels=channels, z_dim=int(first.shape[1]), w_dim=int(last.shape[0]),
        mapping_layers=len(fc_indices), mapping_lr_multiplier=float(mapping_lr_multiplier),
        img_channels=int(torgb.shape[0]), conv_clamp=None if conv_clamp is None else float(conv_clamp))


def name_noise_maps(noises):
    """{noise index n: map [r, r]} -> {ada name of the n-th conv layer's noise_const: map}.

    Index n is 0 for b4.conv1, 2*log2(r)-5 for b{r}.conv0 and 2*log2(r)-4 for b{r}.conv1; the map's
    side r tells the block, so no resolution needs to be known in advance.
    """
    out = {}
    for index, tensor in noises.items():
        if index == 0:
            out["synthesis.b4.conv1.noise_const"] = tensor
            continue
        res = 2 ** ((index + 5) // 2)
        out[f"synthesis.b{res}.conv{(index + 1) % 2}.noise_const"] = tensor
    return out


def build_generator(config, state, *, fmt, source):
    """Instantiate `Generator(config)` and fill it from `state`, refusing any mismatch.

    The FIR filter buffers (`*.resample_filter`) are constants of the architecture: when the file
    has them they must equal [1,3,3,1] (normalised), when it does not (TF, rosinality) they are
    supplied. Returns the generator in eval mode with gradients off, on the CPU, in float32.
    """
    with torch.device("meta"):
        skeleton = Generator(config)
    expected = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    filter_ref = ops.make_resample_filter(config.resample_taps)
    for name in expected:
        if name.endswith("resample_filter"):
            if name in state:
                if not torch.allclose(state[name].float(), filter_ref, atol=1e-6):
                    raise CheckpointError(f"{fmt}: {name} is not the [1,3,3,1] filter this generator supports")
            else:
                state[name] = filter_ref.clone()
    for name, tensor in state.items():
        if name not in expected:
            raise CheckpointError(f"{fmt}: unexpected tensor {name} {_shape(tensor)} "
                                  "(not part of a StyleGAN2 'skip' generator; refusing to ignore it)")
        if tuple(tensor.shape) != expected[name]:
            raise CheckpointError(f"{fmt}: tensor {name} has shape {_shape(tensor)}, "
                                  f"expected {list(expected[name])}")
        if not torch.is_floating_point(tensor):
            raise CheckpointError(f"{fmt}: tensor {name} has dtype {tensor.dtype}, expected floating point")
    missing = [name for name in expected if name not in state]
    if missing:
        raise CheckpointError(f"{fmt}: missing tensor {missing[0]} {list(expected[missing[0]])}"
                              + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    generator = Generator(config, source=source)
    generator.load_state_dict({name: t.detach().to(torch.float32) for name, t in state.items()}, strict=True)
    bad = [name for name, t in generator.state_dict().items() if not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{fmt}: tensor {bad[0]} contains NaN or infinite values")
    return generator.eval().requires_grad_(False)
