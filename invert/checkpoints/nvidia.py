"""NVIDIA PyTorch network pickles: stylegan2-ada-pytorch snapshots and stylegan3-repository snapshots
of a StyleGAN2 generator. Both are a dict with `G`, `D`, `G_ema`, `augment_pipe`, `training_set_kwargs`;
we take `G_ema`, whose persistent-module tree already uses the ada state_dict names.

The two repositories store the same tensors and differ in the constructor kwargs they record:
ada nests `synthesis_kwargs` (defaults conv_clamp=None), stylegan3's `networks_stylegan2` takes them
flat (defaults conv_clamp=256, and `train.py` omits the key unless --fp32 is given).
"""
from invert.checkpoints.unpickler import PersistentObject
from invert.errors import CheckpointError

ADA = "stylegan2-ada-pytorch pickle"
SG3REPO = "stylegan3-repository pickle (StyleGAN2 generator)"

_ALIAS_FREE_CLASSES = {"SynthesisInput"}


def is_nvidia_snapshot(obj):
    return isinstance(obj, dict) and any(isinstance(v, PersistentObject) for v in obj.values())


def convert(snapshot):
    """snapshot dict -> (format name, ada state dict, conv_clamp, mapping lr multiplier, notes)."""
    generator = snapshot.get("G_ema")
    if not isinstance(generator, PersistentObject):
        keys = ", ".join(map(str, snapshot)) or "none"
        raise CheckpointError(f"network pickle has no G_ema generator (keys: {keys})")
    classes = generator.class_names()
    kwargs = dict(generator.init_kwargs)
    if classes & _ALIAS_FREE_CLASSES:
        raise CheckpointError("StyleGAN3 (alias-free) generator; only StyleGAN2 generators are supported")
    if "SynthesisBlock" not in classes:
        raise CheckpointError(f"G_ema ({generator.class_name}) is not a StyleGAN2 generator (no synthesis blocks)")
    if int(kwargs.get("c_dim", 0) or 0) != 0:
        raise CheckpointError(f"conditional generator (c_dim={kwargs['c_dim']}); only unconditional "
                              "StyleGAN2 generators are supported")
    if "synthesis_kwargs" in kwargs:
        fmt, synthesis_kwargs, default_clamp = ADA, dict(kwargs["synthesis_kwargs"] or {}), None
    else:
        fmt, synthesis_kwargs, default_clamp = SG3REPO, kwargs, 256
    architecture = synthesis_kwargs.get("architecture", "skip")
    if architecture != "skip":
        raise CheckpointError(f"{fmt}: generator architecture {architecture!r}; only 'skip' (config-f) is supported")
    conv_clamp = synthesis_kwargs.get("conv_clamp", default_clamp)
    mapping_kwargs = dict(kwargs.get("mapping_kwargs") or {})
    lr_multiplier = mapping_kwargs.get("lr_multiplier", 0.01)
    state = {name: tensor for name, tensor in generator.tensors().items()}
    notes = {"init_kwargs": _plain(kwargs)}
    return fmt, state, conv_clamp, lr_multiplier, notes


def _plain(value):
    """Recorded kwargs as plain JSON-friendly values (for `info` and metadata)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return repr(value)
