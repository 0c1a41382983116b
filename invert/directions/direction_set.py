"""Direction sets: K directions in W found without labels (SeFa, GANSpace), as one safetensors file.

Tensors (float32):
    directions   [K, w_dim]   unit rows, the most important first
    std          [K]          standard deviation of sampled w projected on each direction, so that a
                              strength of 1 moves a latent by one typical spread along it (sigma units)
    mean         [w_dim]      mean of the sampled w
    eigenvalues  [K]          optional: SeFa's eigenvalues of A^T A

Metadata (safetensors string metadata, each value JSON-encoded): format, method ('sefa', 'ganspace',
'published'), layers (the W+ rows the set was made for, a list), samples, network_fingerprint, count,
created, stylegan_invert_version, and whatever else the maker adds (source, licence, ...).

One direction of a set is used as `FILE:K` (or `NAME:K` once registered); its strength is in units
of that direction's std.
"""
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invert.errors import BoundaryError

FORMAT = "stylegan-invert direction set"
SUFFIX = ".safetensors"


@dataclass
class DirectionSet:
    """K directions of one network: `directions` float64 [K, w_dim] unit rows, `std` [K], `mean` [w_dim]."""

    directions: np.ndarray
    std: np.ndarray
    mean: np.ndarray
    metadata: dict = field(default_factory=dict)
    eigenvalues: np.ndarray = None
    path: Path = None

    def __len__(self):
        return len(self.directions)

    @property
    def layers(self):
        """The W+ rows the set was made for (None: every row)."""
        return self.metadata.get("layers")

    def check_index(self, index, *, name):
        """`index` as an int in range, or a BoundaryError naming the set `name` and its size."""
        if not 0 <= int(index) < len(self):
            raise BoundaryError(f"{name} holds {len(self)} directions, numbered 0-{len(self) - 1}; there is no "
                                f"direction {index}")
        return int(index)


def make_set(directions, std, mean, *, metadata, eigenvalues=None):
    """A checked DirectionSet: rows of `directions` are unit-normalised, shapes and values checked."""
    directions = np.asarray(directions, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    if directions.ndim != 2 or std.shape != (directions.shape[0],) or mean.shape != (directions.shape[1],):
        raise BoundaryError(f"a direction set needs directions [K, w_dim], std [K] and mean [w_dim]; got "
                            f"{list(directions.shape)}, {list(std.shape)} and {list(mean.shape)}")
    for name, array in (("directions", directions), ("std", std), ("mean", mean)):
        if not np.isfinite(array).all():
            raise BoundaryError(f"the direction set's {name} contain non-finite values (NaN or inf)")
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    if (norms == 0).any() or (std <= 0).any():
        raise BoundaryError("every direction of a set needs a non-zero direction and a positive std")
    if eigenvalues is not None:
        eigenvalues = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    return DirectionSet(directions=directions / norms, std=std, mean=mean, metadata=dict(metadata),
                        eigenvalues=eigenvalues)


def save_direction_set(path, dset):
    """Write `dset` to `path` (.safetensors), atomically; returns the path."""
    from safetensors.numpy import save_file

    from invert._version import __version__
    from invert.fileio import atomic_path

    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        raise BoundaryError(f"direction set output {path} must end in {SUFFIX}")
    tensors = {"directions": dset.directions.astype(np.float32), "std": dset.std.astype(np.float32),
               "mean": dset.mean.astype(np.float32)}
    if dset.eigenvalues is not None:
        tensors["eigenvalues"] = dset.eigenvalues.astype(np.float32)
    metadata = {"count": len(dset), "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "stylegan_invert_version": __version__, **dset.metadata, "format": FORMAT}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={key: json.dumps(value) for key, value in metadata.items()})
    return path


def load_direction_set(path):
    """Read a direction set file -> DirectionSet (rows re-normalised; every shape checked)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise BoundaryError(f"direction set file not found: {path}")
    try:
        with safe_open(str(path), framework="np") as f:
            raw = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise BoundaryError(f"cannot read direction set {path}: {' '.join(str(exc).split())}") from None
    try:
        metadata = {key: json.loads(value) for key, value in raw.items()}
    except ValueError:
        raise BoundaryError(f"direction set {path} has metadata that is not stylegan-invert's (JSON values)") from None
    if metadata.get("format") != FORMAT:
        raise BoundaryError(f"{path} is a safetensors file but not a stylegan-invert direction set (its metadata "
                            f"has no format {FORMAT!r})")
    missing = [key for key in ("directions", "std", "mean") if key not in tensors]
    if missing:
        raise BoundaryError(f"direction set {path} lacks {', '.join(missing)}")
    try:
        dset = make_set(tensors["directions"], tensors["std"], tensors["mean"], metadata=metadata,
                        eigenvalues=tensors.get("eigenvalues"))
    except BoundaryError as exc:
        raise BoundaryError(f"direction set {path}: {exc}") from None
    dset.path = path
    return dset
