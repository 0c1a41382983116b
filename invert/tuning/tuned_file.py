"""The tuned-update file `<stem>_tuned.safetensors`: save, load (checked against the generator), describe.

safetensors is the field's standard tensor format: an 8-byte little-endian header length N, N bytes of
JSON naming each tensor's dtype, shape and byte range, then the raw little-endian data. Reading it
never executes anything. The file holds only the update's tensors (float32, named as in
invert.tuning.update: `<entry>.delta`, `.delta_up`, `.delta_down`) and, in the header's string
metadata:

    format          "stylegan-invert tuned update"
    format_version  "1"
    rank            "full" or the rank R, e.g. "4"
    fingerprint     the base network's fingerprint (invert.checkpoints.fingerprint)
    source          JSON: the base network's format, path, sha256 (and `random` for built-in nets)
    settings        JSON: how it was tuned (steps, lr, loss, locality, best loss, ...)
    software        "stylegan-invert <version>"

Loading checks, before any tensor is used: the bytes are a safetensors file (a pickle, a torch .pt zip,
a truncated file or a header with sizes beyond the file are refused by looking at the bytes, without
unpickling anything), the metadata is ours, the fingerprint is the generator's (else both networks are
named), and every tensor's name, shape, dtype and finiteness.
"""
import json
import struct
from pathlib import Path

import torch

from invert._version import __version__
from invert.errors import TuningError
from invert.fileio import atomic_path
from invert.tuning.update import FULL, TunedUpdate, check_rank, check_update, describe_network, layout

FORMAT = "stylegan-invert tuned update"
FORMAT_VERSION = "1"
SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 16 << 20  # ours are a few kB; safetensors itself allows 100 MB
_DTYPE_BYTES = {"F32": 4}


def tuned_path(path):
    """The tuned-update file beside a latent or image: `<folder>/<stem>_tuned.safetensors`."""
    path = Path(path)
    return path.with_name(f"{path.stem}_tuned{SUFFIX}")


def save_update(path, update, *, overwrite=True):
    """Write `update` to `path` (atomically: a failed or interrupted write leaves no file) -> Path.

    `overwrite=False` never replaces an existing file."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.is_dir():
        raise TuningError(f"expected a file name for the tuned update, got a directory: {path}")
    if update.blended:
        raise TuningError("a blend of updates is for rendering; save the updates it was made from")
    if not update.fingerprint:
        raise TuningError("the update has no base-network fingerprint; tune a generator loaded with "
                          "invert.load_generator")
    rank = check_rank(update.rank)
    tensors = {key: t.detach().to(device="cpu", dtype=torch.float32).contiguous().clone()
               for key, t in update.tensors.items()}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "rank": str(rank),
                "fingerprint": str(update.fingerprint), "source": json.dumps(update.source or {}, sort_keys=True),
                "settings": json.dumps(update.settings or {}, sort_keys=True, default=str),
                "software": f"stylegan-invert {__version__}"}
    with atomic_path(path, suffix=SUFFIX, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)  # writes exactly `tmp`; renamed to `path` after
    update.path = str(path)
    return path


def load_update(path, G):
    """Read a tuned-update file made for G -> TunedUpdate; TuningError (one line) for anything else."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    path = Path(path)
    data = _read(path)
    header, metadata = _header(path, data)
    rank, fingerprint, source, settings = _metadata(path, metadata)
    try:
        tensors = load_bytes(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise TuningError(f"{path.name}: corrupt safetensors file ({' '.join(str(exc).split())[:200]})") from None
    update = TunedUpdate(rank=rank, tensors=tensors, fingerprint=fingerprint, source=source, settings=settings,
                         path=str(path))
    check_update(G, update, what=path.name)
    update.tensors = {key: tensors[key] for key in layout(G, rank)}  # synthesis order (the file sorts by name)
    return update


def tuned_generator(G, path, *, scale=1.0):
    """G with the update in file `path` applied (`apply_update`), G itself unchanged: what every editing
    command renders through when a latent has a tuned update."""
    from invert.tuning.update import apply_update

    return apply_update(G, load_update(path, G), scale=scale)


def describe_update(path):
    """What a tuned-update file holds, for `info`, read from its header alone (no generator needed) -> dict:
    path, bytes, rank, fingerprint, source, base (a readable name), settings, tensors, values, entries
    (the generator entries it changes), layers (modulated convs changed), torgb (how many are ToRGB),
    factored (conv weights stored as factors), software."""
    path = Path(path)
    data = _read(path)
    header, metadata = _header(path, data)
    rank, fingerprint, source, settings = _metadata(path, metadata)
    keys = sorted((k for k in header if k != "__metadata__"), key=_synthesis_order)
    entries = []
    for key in keys:
        entry = key.rsplit(".", 1)[0]
        if entry not in entries:
            entries.append(entry)
    layers = sorted({e.rsplit(".", 1)[0] for e in entries})
    values = sum(int(torch.Size(header[k]["shape"]).numel()) for k in keys)
    return {"path": str(path), "bytes": len(data), "rank": rank, "fingerprint": fingerprint, "source": source,
            "base": describe_network(source, fingerprint), "settings": settings, "tensors": len(keys),
            "values": values, "entries": entries, "layers": len(layers),
            "torgb": sum(layer.endswith(".torgb") for layer in layers),
            "factored": sum(k.endswith(".delta_up") for k in keys), "software": metadata.get("software")}


# ---------------------------------------------------------------------------------------------------


def _synthesis_order(key):
    """Sort key of a stored name in synthesis order: resolution, then conv0, conv1, torgb, then weight, bias."""
    parts = key.split(".")
    try:
        return (int(parts[1][1:]), ("conv0", "conv1", "torgb").index(parts[2]), ("weight", "bias").index(parts[3]), key)
    except (IndexError, ValueError):
        return (float("inf"), 0, 0, key)


def _read(path):
    from invert.fileio import open_input

    with open_input(path, what="tuned update", error=TuningError) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise TuningError(f"cannot read tuned update {path}: {exc.strerror or exc}") from None


def _header(path, data):
    """Check the bytes are a well-formed safetensors file of float32 tensors -> (header dict, metadata)."""
    name = path.name
    if data[:1] == b"\x80":
        raise TuningError(f"{name} is a pickle, not a safetensors file; refused without reading it (a pickle can "
                          "run code)")
    if data[:4] == b"PK\x03\x04":
        raise TuningError(f"{name} is a zip archive (a torch .pt file?), not a safetensors file; refused")
    if len(data) < 8:
        raise TuningError(f"{name} is truncated ({len(data)} bytes), not a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER_BYTES:
        raise TuningError(f"{name}: header claims {size:,} bytes, more than a tuned update's header can be "
                          f"({MAX_HEADER_BYTES:,}); the file is corrupt or not a tuned update")
    if size > len(data) - 8:
        raise TuningError(f"{name}: header claims {size} bytes but the file has {len(data)}; it is truncated or "
                          "not a safetensors file")
    try:
        header = json.loads(data[8: 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TuningError(f"{name}: unreadable safetensors header; the file is corrupt or not a tuned update") from None
    if not isinstance(header, dict):
        raise TuningError(f"{name}: malformed safetensors header; the file is corrupt")
    body = len(data) - 8 - size
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(entry, dict) and isinstance(entry.get("shape"), list)
                and all(isinstance(d, int) and d >= 0 for d in entry["shape"])
                and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2
                and all(isinstance(o, int) for o in entry["data_offsets"])):
            raise TuningError(f"{name}: malformed header entry for {key!r}; the file is corrupt")
        if not isinstance(entry.get("dtype"), str) or entry["dtype"] not in _DTYPE_BYTES:
            raise TuningError(f"{name}: {key} is {entry.get('dtype')}, expected float32 (F32)")
        begin, stop = entry["data_offsets"]
        count = int(torch.Size(entry["shape"]).numel())
        if not 0 <= begin <= stop or stop - begin != count * _DTYPE_BYTES[entry["dtype"]]:
            raise TuningError(f"{name}: header sizes for {key} do not match its shape; the file is corrupt")
        if stop > body:
            raise TuningError(f"{name} is truncated: {key} needs bytes up to {stop} of the data, the file has {body}")
        end = max(end, stop)
    if end != body:
        raise TuningError(f"{name}: {body - end} bytes beyond the tensors the header lists; the file is corrupt")
    metadata = header.get("__metadata__")
    if isinstance(metadata, dict) and not all(isinstance(v, str) for v in metadata.values()):
        raise TuningError(f"{name}: safetensors metadata must be text; the file is corrupt")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise TuningError(f"{name} is a safetensors file but not a stylegan-invert tuned update (no "
                          f"'{FORMAT}' in its metadata)")
    return header, metadata


def _metadata(path, metadata):
    """The metadata strings -> (rank, fingerprint, source dict, settings dict)."""
    name = path.name
    if metadata.get("format_version") != FORMAT_VERSION:
        raise TuningError(f"{name} is a tuned update of format version {metadata.get('format_version')!r}; this "
                          f"stylegan-invert reads version {FORMAT_VERSION}: upgrade it")
    try:
        rank = check_rank(metadata.get("rank"))
    except TuningError:
        raise TuningError(f"{name}: rank {metadata.get('rank')!r} in its metadata is neither 'full' nor a "
                          "positive integer; the file is corrupt") from None
    fingerprint = metadata.get("fingerprint")
    if not isinstance(fingerprint, str) or len(fingerprint) != 64:
        raise TuningError(f"{name} has no base-network fingerprint in its metadata; the file is corrupt")
    parsed = []
    for key in ("source", "settings"):
        try:
            value = json.loads(metadata.get(key, "{}"))
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise TuningError(f"{name}: unreadable {key} in its metadata; the file is corrupt")
        parsed.append(value)
    return rank if rank == FULL else int(rank), fingerprint, parsed[0], parsed[1]
