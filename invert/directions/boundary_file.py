"""Boundary files: one semantic direction in W (or one per W+ row) as `.npy`, with a JSON sidecar.

- `<name>.npy`: float [1, w_dim] or [w_dim] (one direction for every layer), or [num_ws, w_dim]
  (per-layer directions; also read as [1, num_ws, w_dim] and InterfaceGAN's flattened
  [1, num_ws * w_dim]). Normalised on load: a single direction to unit length; a per-layer one as a whole,
  so that its rows keep the weights they were trained with and their root-mean-square length (over the
  rows it moves) is 1. A strength is then the distance moved in each edited layer (exactly so for a
  direction whose rows are equal, like a W direction copied to every layer); a row of zeros leaves that
  layer alone.
- `<name>.json` beside it (optional): how it was made, including `network_fingerprint` (and, from
  before fingerprints, `generator_sha256`: the checkpoint file's sha256).
"""
import json
from pathlib import Path

import numpy as np

from invert.editing import normalized_direction
from invert.errors import BoundaryError


def sidecar_path(path):
    return Path(path).with_suffix(".json")


def read_sidecar(path):
    """The JSON sidecar beside a boundary file as a dict, or None when there is none."""
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"cannot read boundary sidecar {side}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise BoundaryError(f"boundary sidecar {side} must hold a JSON object")
    return data


def as_direction(array, *, num_ws, w_dim, source):
    """A raw direction array -> float64 [w_dim] (unit length) or [num_ws, w_dim] (root-mean-square length of
    its non-zero rows 1; see the module doc).

    Accepts [w_dim], [1, w_dim], [num_ws, w_dim], [1, num_ws, w_dim] and [1, num_ws * w_dim]; `source`
    names the array in messages.
    """
    array = np.asarray(array)
    shape = list(array.shape)
    if array.size == w_dim and shape in ([w_dim], [1, w_dim]):
        direction = array.reshape(w_dim)
    elif array.size == num_ws * w_dim and shape in ([num_ws, w_dim], [1, num_ws, w_dim], [1, num_ws * w_dim]):
        direction = array.reshape(num_ws, w_dim)
    else:
        raise BoundaryError(f"{source} has shape {shape}; this generator expects [1, {w_dim}] or [{w_dim}] "
                            f"(one direction) or [{num_ws}, {w_dim}] (per layer)")
    direction = direction.astype(np.float64)
    if not np.isfinite(direction).all():
        raise BoundaryError(f"{source} contains non-finite values (NaN or inf)")
    if not direction.any():
        raise BoundaryError(f"{source} is all zeros, so it has no direction")
    return normalized_direction(direction)


def load_boundary_file(path, *, num_ws, w_dim):
    """Read a boundary .npy (or the `boundary` array of an .npz) and unit-normalise it (`as_direction`)."""
    from invert.errors import LatentError
    from invert.latents import read_array

    path = Path(path)
    try:
        array = read_array(path, what="boundary", key="boundary")
    except LatentError as exc:
        raise BoundaryError(str(exc)) from None
    return as_direction(array, num_ws=num_ws, w_dim=w_dim, source=f"boundary {path}")


def save_boundary(path, normal, *, info):
    """Write the unit normal (float32 [1, w_dim] or [num_ws, w_dim]) and its JSON sidecar, atomically."""
    from invert.fileio import save_json, save_npy

    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise BoundaryError(f"boundary output {path} must end in .npy")
    save_npy(path, np.asarray(normal, dtype=np.float32))
    save_json(sidecar_path(path), info)
    return [path, sidecar_path(path)]
