"""Loading generators from every official checkpoint format, safely.

`load_generator(spec)` accepts a checkpoint path, a weights-registry name (downloaded on first use) or a
built-in `random:NAME[:SEED]` generator. Files are recognised by content, not by suffix:

- pickles (NVIDIA ada / stylegan3-repository snapshots, TensorFlow StyleGAN2 releases) are read with the
  allowlisting unpickler in `unpickler.py`, which never executes anything they contain;
- torch.save files (rosinality, our own format) are read with `torch.load(weights_only=True)`.
"""
import argparse
import io
import logging
import pickle
import zipfile
from pathlib import Path

import torch

from invert.checkpoints import native, nvidia, rosinality, tensorflow
from invert.checkpoints.fingerprint import network_fingerprint
from invert.checkpoints.layout import build_generator, infer_config
from invert.checkpoints.random import random_generator
from invert.checkpoints.unpickler import restricted_load, torch_load_problem, weights_only_refusal
from invert.errors import CheckpointError
from invert.fileio import sha256_file
from invert.networks.stylegan2 import GeneratorConfig

log = logging.getLogger(__name__)

__all__ = ["load_generator", "save_generator", "read_checkpoint"]

_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _torch_load(path_or_buffer):
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path_or_buffer, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        refusal = weights_only_refusal(exc)
        if refusal:
            raise CheckpointError(f"refused to load this torch file: {refusal}") from None
        raise CheckpointError(f"corrupt or truncated torch file ({torch_load_problem(exc)})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, KeyError, OSError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"corrupt or truncated torch file ({first})") from None


def _read_object(path):
    """The deserialised top-level object of a checkpoint file, by content type."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if not head:
            raise CheckpointError("empty file, not a checkpoint")
        if head.startswith(b"PK\x03\x04"):
            if not any(name.endswith("data.pkl") for name in _zip_names(f)):
                raise CheckpointError("a zip archive that is not a torch checkpoint (no data.pkl inside)")
            f.seek(0)
            return _torch_load(f)
        if head[0] != 0x80:
            raise CheckpointError("not a StyleGAN2 checkpoint (neither a pickle nor a torch file)")
        obj = restricted_load(f)
    if isinstance(obj, int) and obj == _LEGACY_TORCH_MAGIC:
        with open(path, "rb") as f:
            return _torch_load(io.BytesIO(f.read()))
    return obj


def _zip_names(f):
    try:
        return zipfile.ZipFile(f).namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise CheckpointError("corrupt or truncated zip/torch file") from None


def read_checkpoint(path):
    """Read a checkpoint file into (format, ada state dict, config, notes) without building a network."""
    obj = _read_object(path)
    if native.is_native(obj):
        fmt, state, config_dict, notes = native.convert(obj)
        try:
            config = GeneratorConfig.from_dict(config_dict)
        except (TypeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{fmt}: malformed config ({exc})") from None
        return fmt, state, config, notes
    if nvidia.is_nvidia_snapshot(obj):
        fmt, state, clamp, lr, notes = nvidia.convert(obj)
    elif tensorflow.is_tf_pickle(obj):
        fmt, state, clamp, lr, notes = tensorflow.convert(obj)
    elif rosinality.is_rosinality(obj):
        fmt, state, clamp, lr, notes = rosinality.convert(obj)
    else:
        raise CheckpointError(f"not a recognised StyleGAN2 checkpoint (top-level {_describe(obj)})")
    if notes.get("w_avg") == "estimated":
        state["mapping.w_avg"] = torch.zeros_like(state.get("mapping.fc0.bias", torch.zeros(512)))
    config = infer_config(state, conv_clamp=clamp, mapping_lr_multiplier=lr, fmt=fmt)
    return fmt, state, config, notes


def _describe(obj):
    if isinstance(obj, dict):
        return "dict with keys " + ", ".join(map(str, list(obj)[:8]))
    return type(obj).__name__


def load_generator(spec, device="cpu", *, verbose=True):
    """Load a StyleGAN2 generator from a path, a registry name or `random:NAME[:SEED]`.

    Returns a `Generator` in eval mode, float32, gradients off, on `device`, with `.source` telling
    format, path, file sha256, the network fingerprint (`invert.checkpoints.fingerprint`) and whether
    the weights are random.
    """
    spec = str(spec)
    if spec.startswith("random:"):
        generator = random_generator(spec)
        generator.source["fingerprint"] = network_fingerprint(generator)
        if verbose:
            log.warning("using %s: RANDOM weights (not a trained model; images are not faces)", spec)
        return generator.to(device)
    path = Path(spec).expanduser()
    if not path.exists():
        from invert import weights

        if weights.is_registry_name(spec):
            path = weights.resolve(spec)
        else:
            raise CheckpointError(f"no checkpoint file or registry name {spec!r} "
                                  "(see `stylegan-invert weights list`, or use random:256 for a demo)")
    if path.is_dir():
        raise CheckpointError(f"expected a checkpoint file, got a directory: {path}")
    try:
        fmt, state, config, notes = read_checkpoint(path)
    except CheckpointError as exc:
        raise type(exc)(f"{path.name}: {exc}") from None
    source = {"format": fmt, "path": str(path), "sha256": sha256_file(path), "random": False}
    converted_from = notes.get("converted_from") or {}
    if converted_from.get("random"):
        source["random"] = True
    if converted_from.get("sha256"):
        source["converted_from_sha256"] = converted_from["sha256"]
    try:
        generator = build_generator(config, state, fmt=fmt, source=source)
    except CheckpointError as exc:
        raise type(exc)(f"{path.name}: {exc}") from None
    if notes.get("w_avg") == "estimated":
        _estimate_w_avg(generator)
        generator.source["w_avg"] = "estimated from 10000 random z (the file has no latent_avg)"
        log.info("%s has no latent_avg; estimated w_avg from 10000 random z", path.name)
    generator.source["fingerprint"] = network_fingerprint(generator)
    generator.notes = notes
    return generator.to(device)


def _estimate_w_avg(generator, *, samples=10000, seed=0):
    z = torch.randn([samples, generator.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        w = torch.cat([generator.mapping(chunk)[:, 0] for chunk in z.split(2000)])
        generator.mapping.w_avg.copy_(w.mean(dim=0))


def save_generator(generator, path):
    """Write `generator` in stylegan-invert's own format (see native.py)."""
    native.save(generator, path)
