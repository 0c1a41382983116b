"""Writing outputs atomically, so an interrupted or failed run never leaves a half-written file.

Every output goes to a temporary file in the destination directory and is renamed into place only when
it is complete (`os.replace` is atomic on one filesystem).
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path

from invert.errors import InvertError, OutputExistsError


@contextlib.contextmanager
def atomic_path(path, *, suffix=None):
    """Yield a temporary path beside `path`; on success rename it to `path`, on error remove it.

    `suffix` defaults to the destination's suffix, so writers that choose a format by extension
    (PIL, imageio, numpy) see the right one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_writable(paths, *, force):
    """Refuse to overwrite any of `paths` unless `force`; raises OutputExistsError naming the first."""
    for path in paths:
        if Path(path).exists() and not force:
            raise OutputExistsError(f"{path} exists; pass --force to overwrite it")


def save_npy(path, array):
    import numpy as np

    with atomic_path(path) as tmp:
        np.save(tmp, array)


def save_npz(path, **arrays):
    import numpy as np

    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def save_json(path, obj):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_bytes(path, data):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def locked(path, *, wait=True, what=None):
    """Hold an exclusive advisory lock on `path` (created if absent) for the duration of the block.

    Serialises read-modify-write cycles (a manifest) and keeps two runs out of one output folder.
    `wait=False` raises InvertError at once when another process holds the lock; `what` names the
    protected thing in that message. The lock is released when the block ends or the process dies.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no advisory locks; run unserialised
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise InvertError(f"another stylegan-invert process is using {what or path.parent} (lock {path}); "
                              "wait for it to finish or choose another folder") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_file(path):
    """Hex sha256 of the file at `path`, read in 4 MiB chunks (the package's one file-hash helper)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
