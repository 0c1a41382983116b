"""stylegan-invert's own generator file: a torch.save zip of plain data, loadable with weights_only=True.

{'format': 'stylegan-invert-generator', 'version': 1, 'config': GeneratorConfig.to_dict(),
 'state_dict': {ada name: float32 tensor}, 'source': {where the weights came from}}

Converting a large NVIDIA pickle once and loading this file afterwards skips the pickle walk, and the
file can be read by anyone with `torch.load(path, weights_only=True)`.
"""
import torch

from invert.errors import CheckpointError
from invert.fileio import atomic_path

NATIVE = "stylegan-invert generator"
MAGIC = "stylegan-invert-generator"
VERSION = 1


def is_native(obj):
    return isinstance(obj, dict) and obj.get("format") == MAGIC


def save(generator, path):
    source = {k: v for k, v in generator.source.items() if isinstance(v, (str, int, float, bool)) or v is None}
    payload = {
        "format": MAGIC,
        "version": VERSION,
        "config": generator.config.to_dict(),
        "state_dict": {name: t.detach().cpu().float().contiguous() for name, t in generator.state_dict().items()},
        "source": source,
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def convert(payload):
    """payload -> (format name, ada state dict, config dict, notes)."""
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{NATIVE} file of version {payload.get('version')!r}; this release reads {VERSION}")
    state = payload.get("state_dict")
    config = payload.get("config")
    if not isinstance(state, dict) or not isinstance(config, dict):
        raise CheckpointError(f"{NATIVE} file lacks its state_dict or config")
    return NATIVE, dict(state), config, {"converted_from": dict(payload.get("source") or {})}
