"""Writing outputs atomically, so an interrupted or failed run never leaves a half-written file.

Every output goes to a temporary file in the destination directory and is renamed into place only when
it is complete (`os.replace` is atomic on one filesystem).
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path

from invert.errors import OutputExistsError


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
