"""Latent files: the one reader and writer every command uses.

A latent is a W+ code `w` [num_ws, w_dim] (one w per synthesis layer) plus, optionally, the noise maps
the projector optimised. Files read:

- `.npy` holding [num_ws, w_dim], [1, num_ws, w_dim], or a W code [w_dim] / [1, w_dim] that is
  broadcast to every layer;
- NVIDIA's projector output `.npz` with key `w` of shape [1, num_ws, w_dim];
- a noise file beside the latent, `<stem>_noise.npz`, with keys `noise_0` ... `noise_{num_ws-2}`, each
  [r, r] float32 at the resolution of the conv layer it feeds (`G.synthesis.noise_shapes()`);
- a record beside the latent, `<stem>.json`, naming the generator it belongs to (`invert.records`).

Everything is checked against the generator (num_ws, w_dim, noise shapes, finite values) and refused
with a `LatentError` that quotes the shape found and the shape expected. Files are read with
`allow_pickle=False`, so a pickled object in a latent file is refused, never executed.
"""
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from invert.errors import LatentError
from invert.fileio import save_npy, save_npz

log = logging.getLogger(__name__)

NOISE_SUFFIX = "_noise.npz"
_NOISE_KEY = re.compile(r"noise_(\d+)$")


@dataclass
class Latent:
    """A checked latent: `w` float32 [num_ws, w_dim]; `noise` None or num_ws-1 float32 maps [r, r]."""

    w: np.ndarray
    noise: list = None
    path: Path = None


def noise_path_for(path):
    """`dir/stem.npy` -> `dir/stem_noise.npz`, where the projector puts a latent's noise maps."""
    path = Path(path)
    return path.with_name(path.stem + NOISE_SUFFIX)


def latent_paths(path):
    """The files `save_latent(path, ...)` may write or replace: the latent, its noise file and its record."""
    from invert.records import record_path

    return [Path(path), noise_path_for(path), record_path(path)]


def read_array(path, *, what="latent", key="w"):
    """Read the array in a `.npy` file, or `key` of a `.npz` file, refusing pickles and corrupt files.

    Returns the raw array (any shape, a real numeric dtype). `what` names the file in messages.
    """
    path = Path(path)
    loaded = _load(path, what)
    if isinstance(loaded, dict):
        if key not in loaded:
            found = ", ".join(loaded) or "none"
            raise LatentError(f"{what} file {path} has no array {key!r} (arrays found: {found})")
        loaded = loaded[key]
    if loaded.dtype.kind not in "fiu":
        raise LatentError(f"{what} file {path} holds {loaded.dtype} data; expected a float array")
    return loaded


def _load(path, what):
    """np.load without pickles: an array for .npy, a {name: array} dict for .npz; LatentError otherwise."""
    if not path.exists():
        raise LatentError(f"{what} file not found: {path}")
    if path.is_dir():
        raise LatentError(f"expected a {what} file (.npy or .npz), got a directory: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {name: loaded[name] for name in loaded.files}
        return loaded
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise LatentError(f"cannot read {what} file {path}: {_clean(exc)}") from None
        if _looks_pickled(path):
            raise LatentError(f"{what} file {path} holds pickled Python objects, which are refused for "
                              f"safety; save it as a plain numeric array with numpy.save") from None
        # numpy's last resort for an unknown format is unpickling, which was not allowed
        raise LatentError(f"cannot read {what} file {path}: it is neither a .npy nor an .npz file") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise LatentError(f"cannot read {what} file {path}: {_clean(exc)}") from None


def as_wplus(array, *, num_ws, w_dim, source="latent"):
    """Check a latent array against a generator and return float32 [num_ws, w_dim].

    Accepts [num_ws, w_dim], [1, num_ws, w_dim] and a W code [w_dim] or [1, w_dim] (copied to every
    layer). `source` names the array (usually its path) in error messages.
    """
    array = np.asarray(array)
    shape = list(array.shape)
    if shape == [num_ws, w_dim]:
        w = array
    elif shape == [1, num_ws, w_dim]:
        w = array[0]
    elif shape in ([w_dim], [1, w_dim]):
        w = np.broadcast_to(array.reshape(1, w_dim), (num_ws, w_dim))
    else:
        raise LatentError(f"{source} has shape {shape}; this generator expects [{num_ws}, {w_dim}] (W+), "
                          f"[1, {num_ws}, {w_dim}] or [{w_dim}] (W)")
    w = np.array(w, dtype=np.float32)
    _check_finite(w, source)
    return w


def load_latent(path, G, *, with_noise=True):
    """Read a latent file (and its `<stem>_noise.npz` when present and `with_noise`) checked against G.

    `G` is the generator (anything with `num_ws`, `w_dim` and `synthesis.noise_shapes()`).
    Returns a `Latent` with `w` float32 [num_ws, w_dim] and `noise` None or a list of [r, r] maps.
    """
    path = Path(path)
    w = as_wplus(read_array(path), num_ws=G.num_ws, w_dim=G.w_dim, source=f"latent {path}")
    noise = None
    noise_path = noise_path_for(path)
    if with_noise and noise_path.exists():
        noise = load_noise(noise_path, noise_shapes=G.synthesis.noise_shapes())
        log.debug("read noise maps from %s", noise_path)
    return Latent(w=w, noise=noise, path=path)


def load_noise(path, *, noise_shapes):
    """Read a noise file (`noise_0` ... `noise_{K-1}`) as a list of K float32 maps [r, r].

    `noise_shapes` is the generator's list of (r, r), one per noise map (K = num_ws - 1).
    """
    path = Path(path)
    arrays = _load(path, "noise")
    if not isinstance(arrays, dict):
        raise LatentError(f"noise file {path} is not an .npz archive of noise_0 ... noise_N arrays")
    indices = sorted(int(m.group(1)) for m in map(_NOISE_KEY.match, arrays) if m)
    count = len(noise_shapes)
    if indices != list(range(count)):
        raise LatentError(f"noise file {path} has {len(indices)} noise maps (keys {_keys(indices)}); this "
                          f"generator takes {count} (noise_0 ... noise_{count - 1})")
    maps = []
    for i, shape in enumerate(noise_shapes):
        array = arrays[f"noise_{i}"]
        if array.dtype.kind not in "fiu":
            raise LatentError(f"noise_{i} in {path} holds {array.dtype} data; expected float32")
        # the projector writes [r, r]; also accept the networks' [1, 1, r, r] layout
        if list(array.shape[-2:]) != list(shape) or any(n != 1 for n in array.shape[:-2]):
            raise LatentError(f"noise_{i} in {path} has shape {list(array.shape)}; this generator expects "
                              f"{list(shape)}")
        noise_map = np.array(array.reshape(shape), dtype=np.float32)
        _check_finite(noise_map, f"noise_{i} in {path}")
        maps.append(noise_map)
    return maps


def load_latent_stack(path, *, num_ws, w_dim):
    """Read N latents for boundary training: [N, w_dim] (W codes) or [N, num_ws, w_dim] (W+ codes).

    Returns float32 of the shape found, checked for finite values.
    """
    path = Path(path)
    array = read_array(path, what="latents")
    shape = list(array.shape)
    if not (array.ndim == 2 and shape[1] == w_dim) and not (array.ndim == 3 and shape[1:] == [num_ws, w_dim]):
        raise LatentError(f"latents {path} have shape {shape}; expected [N, {w_dim}] (W) or "
                          f"[N, {num_ws}, {w_dim}] (W+) for this generator")
    if shape[0] == 0:
        raise LatentError(f"latents {path} hold no codes (shape {shape})")
    array = np.array(array, dtype=np.float32)
    _check_finite(array, f"latents {path}")
    return array


def save_latent(path, w, noise=None, *, record=None):
    """Write `w` [num_ws, w_dim] to `path` (.npy), `noise` (num_ws-1 maps [r, r]) to `<stem>_noise.npz`
    and `record` (from `invert.records.latent_record`) to `<stem>.json`.

    Every write is atomic. Without `noise` (or `record`), a noise file (or record) left beside `path` by
    an earlier run is removed, so that reading `path` back gives exactly what was saved. Returns the
    paths written.
    """
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise LatentError(f"latent output {path} must end in .npy")
    w = np.asarray(w.detach().cpu() if hasattr(w, "detach") else w, dtype=np.float32)
    if w.ndim != 2:
        raise LatentError(f"a latent to save must be [num_ws, w_dim]; got shape {list(w.shape)}")
    _check_finite(w, f"latent for {path}")
    save_npy(path, w)
    written = [path]
    noise_path = noise_path_for(path)
    if noise is not None:
        maps = {f"noise_{i}": np.asarray(n.detach().cpu() if hasattr(n, "detach") else n, dtype=np.float32)
                for i, n in enumerate(noise)}
        maps = {k: v.reshape(v.shape[-2:]) for k, v in maps.items()}
        save_npz(noise_path, **maps)
        written.append(noise_path)
    elif noise_path.exists():
        noise_path.unlink()
        log.info("removed stale %s (the new latent has no noise maps)", noise_path)
    written += _save_record(path, record, shape=w.shape)
    return written


def _save_record(path, record, *, shape):
    """Write the latent's record, or remove a stale one of ours when there is none to write."""
    from invert.records import is_record_file, record_path, write_record

    if record is not None:
        return [write_record(path, record, shape=shape)]
    stale = record_path(path)
    if is_record_file(stale):
        stale.unlink()
        log.info("removed stale %s (the new latent has no record)", stale)
    return []


def default_noise(G):
    """The generator's stored constant noise maps as float32 [r, r] arrays (what noise_mode='const' uses)."""
    return [layer.noise_const.detach().cpu().numpy().astype(np.float32) for layer in G.synthesis.noise_layers()]


def _looks_pickled(path):
    """Whether a file numpy refused for pickle reasons holds pickled data (a pickle, or object arrays)."""
    with open(path, "rb") as f:
        head = f.read(6)
    return head.startswith((b"\x80", b"\x93NUMPY", b"PK\x03\x04"))


def _check_finite(array, source):
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise LatentError(f"{source} contains {int(bad.sum())} non-finite value(s) (NaN or inf), the first at "
                          f"index {list(index)}")


def _keys(indices):
    if not indices:
        return "none"
    if indices == list(range(indices[0], indices[-1] + 1)) and len(indices) > 2:
        return f"noise_{indices[0]} ... noise_{indices[-1]}"
    return ", ".join(f"noise_{i}" for i in indices)


def _clean(exc):
    return " ".join(str(exc).split()) or exc.__class__.__name__
