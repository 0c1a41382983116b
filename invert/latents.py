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
with a `LatentError` that quotes the shape found and the shape expected. Shapes, dtypes and sizes are
read from the arrays' headers and checked before any data is loaded, so a file claiming a huge or
wrong-shaped array is refused without allocating it. Files are read with `allow_pickle=False`, so a
pickled object in a latent file is refused, never executed.
"""
import functools
import logging
import math
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
# The most any array read here may hold. A W+ latent is 36 KiB, a 1024x1024 generator's noise maps 11 MiB
# together; the largest legitimate array is a boundary training set, and InterfaceGAN's 500,000 W codes
# are 0.95 GiB in float32. A header claiming more is refused before anything is allocated.
MAX_ARRAY_BYTES = 1 << 30
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


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


def read_array(path, *, what="latent", key="w", check_shape=None, max_bytes=MAX_ARRAY_BYTES):
    """Read the array in a `.npy` file, or `key` of a `.npz` file, refusing pickles and corrupt files.

    Returns the raw array (any shape, a real numeric dtype). `what` names the file in messages. Before
    the data is read, its header's shape is passed to `check_shape(shape: list)` (which raises for a
    shape it does not accept) and an array of more than `max_bytes` is refused.
    """
    path = Path(path)
    arrays = ArrayFile(path, what=what)
    name = key if arrays.is_archive else None
    if name not in arrays.headers:
        found = ", ".join(arrays.headers) or "none"
        raise LatentError(f"{what} file {path} has no array {key!r} (arrays found: {found})")
    arrays.check(name, max_bytes=max_bytes, check_shape=check_shape)
    return arrays.load(name)


class ArrayFile:
    """The arrays of a .npy file (one, named None) or an .npz archive, known by their headers first.

    `headers` maps each name to (shape, dtype), read without loading any data; `check` refuses object
    (pickled) and non-numeric dtypes and arrays over a size limit; `load` reads one array, pickles refused.
    The format is recognised by the file's first bytes, not its suffix.
    """

    def __init__(self, path, *, what="latent"):
        self.path, self.what = Path(path), what
        if not self.path.exists():
            raise LatentError(f"{what} file not found: {self.path}")
        if self.path.is_dir():
            raise LatentError(f"expected a {what} file (.npy or .npz), got a directory: {self.path}")
        try:
            with open(self.path, "rb") as handle:
                magic = handle.read(len(_NPY_MAGIC))
                if magic.startswith(_ZIP_MAGIC):
                    self.is_archive = True
                    self.headers = self._archive_headers()
                elif magic == _NPY_MAGIC:
                    self.is_archive = False
                    handle.seek(0)
                    self.headers = {None: _npy_header(handle, size=self.path.stat().st_size)}
                elif magic.startswith(b"\x80"):
                    raise self._pickled()
                else:
                    raise LatentError(f"cannot read {what} file {self.path}: it is neither a .npy nor an .npz file")
        except (OSError, EOFError, ValueError, SyntaxError, zipfile.BadZipFile) as exc:
            raise LatentError(f"cannot read {what} file {self.path}: {_clean(exc)}") from None

    def _archive_headers(self):
        headers = {}
        with zipfile.ZipFile(self.path) as archive:
            for info in archive.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with archive.open(info) as member:
                    headers[name] = _npy_header(member, size=info.file_size)
        return headers

    def check(self, name, *, max_bytes=MAX_ARRAY_BYTES, check_shape=None):
        """Refuse array `name` if pickled, not numeric, over `max_bytes`, of a shape `check_shape(shape)`
        rejects (it raises), or cut short; all from its header. Returns its shape as a list."""
        header = self.headers[name]
        shape, dtype = list(header.shape), header.dtype
        label = f"{self.what} file {self.path}" if name is None else f"{name} in {self.path}"
        if dtype.hasobject:
            raise self._pickled()
        if dtype.kind not in "fiu":
            raise LatentError(f"{label} holds {dtype} data; expected a float array")
        if header.nbytes > max_bytes:
            raise LatentError(f"{label} holds an array of shape {shape} ({_bytes(header.nbytes)}), more than the "
                              f"{_bytes(max_bytes)} any latent, noise or boundary file needs; it was not loaded")
        if check_shape is not None:
            check_shape(shape)
        if header.available < header.offset + header.nbytes:
            raise LatentError(f"cannot read {label}: it is cut short (its header announces shape {shape}, "
                              f"{_bytes(header.offset + header.nbytes)} with the header; the file holds "
                              f"{_bytes(header.available)})")
        return shape

    def load(self, name=None):
        try:
            loaded = np.load(self.path, allow_pickle=False)
            if not self.is_archive:
                return loaded
            with loaded:
                return loaded[name]
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise LatentError(f"cannot read {self.what} file {self.path}: {_clean(exc)}") from None

    def _pickled(self):
        return LatentError(f"{self.what} file {self.path} holds pickled Python objects, which are refused for "
                           f"safety; save it as a plain numeric array with numpy.save")


@dataclass(frozen=True)
class ArrayHeader:
    """What a .npy header says: the array's shape and dtype, where its data starts, the bytes there are."""

    shape: tuple
    dtype: np.dtype
    offset: int     # bytes before the data
    available: int  # bytes in the file (or archive member)

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


def _npy_header(stream, *, size):
    """The ArrayHeader of a .npy stream of `size` bytes, reading only its header."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:  # 3.0 only adds utf-8 field names of structured dtypes, which are refused anyway
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    return ArrayHeader(shape=tuple(shape), dtype=dtype, offset=stream.tell(), available=size)


def _bytes(count):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def as_wplus(array, *, num_ws, w_dim, source="latent"):
    """Check a latent array against a generator and return float32 [num_ws, w_dim].

    Accepts [num_ws, w_dim], [1, num_ws, w_dim] and a W code [w_dim] or [1, w_dim] (copied to every
    layer). `source` names the array (usually its path) in error messages.
    """
    array = np.asarray(array)
    shape = _check_wplus_shape(list(array.shape), num_ws=num_ws, w_dim=w_dim, source=source)
    if shape == [num_ws, w_dim]:
        w = array
    elif shape == [1, num_ws, w_dim]:
        w = array[0]
    else:
        w = np.broadcast_to(array.reshape(1, w_dim), (num_ws, w_dim))
    w = np.array(w, dtype=np.float32)
    _check_finite(w, source)
    return w


def _check_wplus_shape(shape, *, num_ws, w_dim, source):
    if shape not in ([num_ws, w_dim], [1, num_ws, w_dim], [w_dim], [1, w_dim]):
        raise LatentError(f"{source} has shape {shape}; this generator expects [{num_ws}, {w_dim}] (W+), "
                          f"[1, {num_ws}, {w_dim}] or [{w_dim}] (W)")
    return shape


def load_latent(path, G, *, with_noise=True):
    """Read a latent file (and its `<stem>_noise.npz` when present and `with_noise`) checked against G.

    `G` is the generator (anything with `num_ws`, `w_dim` and `synthesis.noise_shapes()`).
    Returns a `Latent` with `w` float32 [num_ws, w_dim] and `noise` None or a list of [r, r] maps.
    """
    path = Path(path)
    source = f"latent {path}"
    check = functools.partial(_check_wplus_shape, num_ws=G.num_ws, w_dim=G.w_dim, source=source)
    w = as_wplus(read_array(path, check_shape=check), num_ws=G.num_ws, w_dim=G.w_dim, source=source)
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
    arrays = ArrayFile(path, what="noise")
    if not arrays.is_archive:
        raise LatentError(f"noise file {path} is not an .npz archive of noise_0 ... noise_N arrays")
    indices = sorted(int(m.group(1)) for m in map(_NOISE_KEY.match, arrays.headers) if m)
    count = len(noise_shapes)
    if indices != list(range(count)):
        raise LatentError(f"noise file {path} has {len(indices)} noise maps (keys {_keys(indices)}); this "
                          f"generator takes {count} (noise_0 ... noise_{count - 1})")
    for i, shape in enumerate(noise_shapes):  # every header checked before any data is read
        arrays.check(f"noise_{i}", check_shape=functools.partial(_check_noise_shape, expected=list(shape),
                                                                  source=f"noise_{i} in {path}"))
    maps = []
    for i, shape in enumerate(noise_shapes):
        noise_map = np.array(arrays.load(f"noise_{i}").reshape(shape), dtype=np.float32)
        _check_finite(noise_map, f"noise_{i} in {path}")
        maps.append(noise_map)
    return maps


def _check_noise_shape(shape, *, expected, source):
    # the projector writes [r, r]; also accept the networks' [1, 1, r, r] layout
    if shape[-2:] != expected or any(n != 1 for n in shape[:-2]):
        raise LatentError(f"{source} has shape {shape}; this generator expects {expected}")


def load_latent_stack(path, *, num_ws, w_dim):
    """Read N latents for boundary training: [N, w_dim] (W codes) or [N, num_ws, w_dim] (W+ codes).

    Returns float32 of the shape found, checked for finite values.
    """
    path = Path(path)

    def check(shape):
        if not (len(shape) == 2 and shape[1] == w_dim) and not (len(shape) == 3 and shape[1:] == [num_ws, w_dim]):
            raise LatentError(f"latents {path} have shape {shape}; expected [N, {w_dim}] (W) or "
                              f"[N, {num_ws}, {w_dim}] (W+) for this generator")
        if shape[0] == 0:
            raise LatentError(f"latents {path} hold no codes (shape {shape})")

    array = np.array(read_array(path, what="latents", check_shape=check), dtype=np.float32)
    _check_finite(array, f"latents {path}")
    return array


def save_latent(path, w, noise=None, *, record=None, overwrite=True):
    """Write `w` [num_ws, w_dim] to `path` (.npy), `noise` (num_ws-1 maps [r, r]) to `<stem>_noise.npz`
    and `record` (from `invert.records.latent_record`) to `<stem>.json`.

    Every write is atomic; `overwrite=False` never replaces an existing file. Without `noise` (or
    `record`), a noise file (or record) left beside `path` by an earlier run is removed, so that reading
    `path` back gives exactly what was saved. Returns the paths written.
    """
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise LatentError(f"latent output {path} must end in .npy")
    w = np.asarray(w.detach().cpu() if hasattr(w, "detach") else w, dtype=np.float32)
    if w.ndim != 2:
        raise LatentError(f"a latent to save must be [num_ws, w_dim]; got shape {list(w.shape)}")
    _check_finite(w, f"latent for {path}")
    save_npy(path, w, overwrite=overwrite)
    written = [path]
    noise_path = noise_path_for(path)
    if noise is not None:
        maps = {f"noise_{i}": np.asarray(n.detach().cpu() if hasattr(n, "detach") else n, dtype=np.float32)
                for i, n in enumerate(noise)}
        maps = {k: v.reshape(v.shape[-2:]) for k, v in maps.items()}
        save_npz(noise_path, overwrite=overwrite, **maps)
        written.append(noise_path)
    elif noise_path.exists():
        noise_path.unlink()
        log.info("removed stale %s (the new latent has no noise maps)", noise_path)
    written += _save_record(path, record, shape=w.shape, overwrite=overwrite)
    return written


def _save_record(path, record, *, shape, overwrite):
    """Write the latent's record, or remove a stale one of ours when there is none to write."""
    from invert.records import is_record_file, record_path, write_record

    if record is not None:
        return [write_record(path, record, shape=shape, overwrite=overwrite)]
    stale = record_path(path)
    if is_record_file(stale):
        stale.unlink()
        log.info("removed stale %s (the new latent has no record)", stale)
    return []


def default_noise(G):
    """The generator's stored constant noise maps as float32 [r, r] arrays (what noise_mode='const' uses)."""
    return [layer.noise_const.detach().cpu().numpy().astype(np.float32) for layer in G.synthesis.noise_layers()]


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
