"""Writing outputs safely: complete or not at all, never over an input, never over a file unasked.

How every output is written (`atomic_path`, `atomic_open` and the `save_*` functions):

- into a new hidden file beside the destination, created like any new file (so it gets the umask's
  permissions, 0644 under umask 022), through a file object or an explicit format, so that no library
  can append a suffix of its own and write somewhere else;
- then published in one step: with `os.link`, which fails if the destination exists, so a file that
  appeared meanwhile (another run, another program) is never replaced, or, when replacing was asked
  for (`overwrite=True`), with `os.replace`. A failed or interrupted write leaves nothing behind.
- A failed write is reported as `OutputError` naming the destination (never the hidden file) and the
  cause: no space left on the device, the file-size limit, a read-only folder.

Before any computation, `check_writable` checks every output a command will write: its folder exists or
can be created and is writable, nothing but a regular file sits at the path, no output is also an input
(the same file under another name included), and without `force` none exists yet.

`locked` is an advisory lock for read-modify-write cycles (a manifest) and output folders.
"""
import contextlib
import errno
import json
import os
import secrets
import shutil
from pathlib import Path

from invert.errors import InvertError, OutputError, OutputExistsError

# Hidden temporary names keep this much of the destination's name, so they stay within NAME_MAX (255).
_TEMP_NAME_KEEP = 200


@contextlib.contextmanager
def atomic_path(path, *, suffix=None, overwrite=True):
    """Yield the path of a new, empty hidden file beside `path`; publish it as `path` when the block ends.

    The writer in the block must write exactly that file (a file object, or a path with an explicit
    format). `suffix`, when given, ends the hidden file's name, for writers that insist on choosing
    their format by extension (ffmpeg). `overwrite=False` refuses to replace a file at `path`, even
    one that appeared while the block ran (OutputExistsError); `overwrite=True` replaces it.
    On any error the hidden file is removed; write failures become OutputError naming `path`.
    """
    path = Path(path)
    _make_folder(path)
    tmp = _create_temp(path, suffix or ".tmp")
    try:
        yield tmp
        _publish(tmp, path, overwrite=overwrite)
    except BaseException as exc:
        error = _write_error(path, exc, tmp)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if error is not None:
            raise error from None
        raise


@contextlib.contextmanager
def atomic_open(path, mode="wb", *, overwrite=True, **kwargs):
    """`open(...)` on a hidden file that becomes `path` when the block ends without error (see atomic_path)."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def save_npy(path, array, *, overwrite=True):
    """np.save to exactly `path`, whatever its suffix (numpy would append .npy to a name like X.NPY)."""
    import numpy as np

    with atomic_open(path, overwrite=overwrite) as handle:
        np.save(handle, array, allow_pickle=False)


def save_npz(path, *, overwrite=True, **arrays):
    import numpy as np

    with atomic_open(path, overwrite=overwrite) as handle:
        np.savez(handle, **arrays)


def save_json(path, obj, *, overwrite=True):
    with atomic_open(path, "w", overwrite=overwrite, encoding="utf-8") as handle:
        handle.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_bytes(path, data, *, overwrite=True):
    with atomic_open(path, overwrite=overwrite) as handle:
        handle.write(data)


class NpyStream:
    """Write a .npy file of known shape [N, ...] in batches of rows, holding none of them for longer.

        with NpyStream(path, shape=(N, 18, 512)) as stream:
            for batch in batches:          # [n, 18, 512] each, N rows in all
                stream.append(batch)

    The file appears only when all N rows were appended and the block ended without error.
    """

    def __init__(self, path, *, shape, dtype="float32", overwrite=True):
        import numpy as np

        self.path, self.shape, self.dtype = Path(path), tuple(int(n) for n in shape), np.dtype(dtype)
        self.rows = 0
        self._context = atomic_open(self.path, overwrite=overwrite)

    def __enter__(self):
        import numpy as np

        self._handle = self._context.__enter__()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._handle, header)
        return self

    def append(self, rows):
        import numpy as np

        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if tuple(rows.shape[1:]) != self.shape[1:] or self.rows + len(rows) > self.shape[0]:
            raise ValueError(f"rows of shape {list(rows.shape)} do not fit {self.path} [{self.shape}] after "
                             f"{self.rows} rows")
        self._handle.write(rows.tobytes())
        self.rows += len(rows)

    def __exit__(self, kind, value, traceback):
        if kind is None and self.rows != self.shape[0]:
            incomplete = ValueError(f"{self.path}: {self.rows} of {self.shape[0]} rows were written")
            self._context.__exit__(ValueError, incomplete, None)  # removes the hidden file
            raise incomplete
        return self._context.__exit__(kind, value, traceback)


def check_writable(paths, *, force, inputs=()):
    """Check, before any computation, that every output in `paths` can be written.

    Refuses (OutputError) an output that is also one of `inputs` (compared as files: symbolic and hard
    links, `..` and case-insensitive file systems included), whether or not `force` is set; a folder at an
    output's path; an output folder that cannot be created or written. Without `force`, an existing output
    is refused with OutputExistsError naming it.
    """
    paths = [Path(p) for p in paths]
    check_not_inputs(paths, inputs)
    checked_folders = set()
    for path in paths:
        if path.is_dir():
            raise OutputError(f"cannot write {path}: it is a folder")
        if path.parent not in checked_folders:
            check_folder_for(path)
            checked_folders.add(path.parent)
    if not force:
        for path in paths:
            if os.path.lexists(path):
                raise OutputExistsError(f"{path} exists")


def check_folder_for(path):
    """The folder of output `path` exists or can be created, and is writable; OutputError naming it if not."""
    path = Path(path)
    folder = path.parent
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            raise OutputError(f"cannot write {path}: {existing} is a broken symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):  # novermin (bit flags, not a type union)
        where = "its folder" if existing == folder else f"{folder} would be created in"
        raise OutputError(f"cannot write {path}: {where} {existing}, which is not writable "
                          f"({_access_reason(existing)})")


def check_not_inputs(outputs, inputs):
    """Refuse (OutputError) any output that is the same file as an input, whatever its spelling."""
    known = InputFiles(inputs)
    if not known:
        return
    for output in map(Path, outputs):
        source = known.source(output)
        if source is not None:
            raise OutputError(f"the output {output} would replace the input {source}; outputs never replace "
                              f"inputs, so write it under another name or into another folder")


class InputFiles:
    """The input files of a command, indexed once, to ask of many outputs whether each is one of them
    (compared as check_not_inputs does: resolved names, then device and inode)."""

    def __init__(self, inputs):
        self._by_name, self._by_inode = {}, {}
        for path in (Path(p) for p in inputs if p is not None):
            self._by_name.setdefault(_resolved(path), path)
            identity = _identity(path)
            if identity is not None:
                self._by_inode.setdefault(identity, path)

    def __bool__(self):
        return bool(self._by_name)

    def source(self, output):
        """The input that `output` would replace, or None."""
        return self._by_name.get(_resolved(output)) or self._by_inode.get(_identity(output))


def same_file(a, b):
    """Whether paths `a` and `b` name one file (resolved names, or device and inode for existing files)."""
    a, b = Path(a), Path(b)
    if _resolved(a) == _resolved(b):
        return True
    identity = _identity(a)
    return identity is not None and identity == _identity(b)


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


def open_input(path, *, what, error, mode="rb", **kwargs):
    """Open the input file `path` for reading; a missing file, a folder or an unreadable file is an `error`
    (an InvertError class) in one line naming `what` the file is ('tuned update', 'list file')."""
    path = Path(path)
    try:
        return open(path, mode, **kwargs)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise error(f"expected {'an' if what[0] in 'aeiou' else 'a'} {what} file, got a directory: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def sha256_file(path):
    """Hex sha256 of the file at `path`, read in 4 MiB chunks (the package's one file-hash helper)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


# --- internals ------------------------------------------------------------------------------------------

def _make_folder(path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write {path}: a file is in the way of its folder {path.parent}") from None
    except NotADirectoryError:
        raise OutputError(f"cannot write {path}: part of {path.parent} is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path.parent} for {path}: {_cause(exc, None)}") from None


def _create_temp(path, suffix):
    """A new, empty hidden file beside `path`, created with mode 0666 less the umask, like any new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)  # novermin (bit flags)
    for _ in range(100):
        tmp = path.with_name(f".{path.name[:_TEMP_NAME_KEEP]}.{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {_cause(exc, None)}") from None
    raise OutputError(f"cannot write {path}: no free temporary name in {path.parent}")  # pragma: no cover


def _publish(tmp, path, *, overwrite):
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if `path` exists: nothing that appeared meanwhile is replaced
    except FileExistsError:
        raise OutputExistsError(f"{path} appeared while it was being written, and was left as it is") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # A file system without hard links (FAT, some network and FUSE mounts): the check and the rename
        # are two steps there, so a file appearing between them could still be replaced.
        if os.path.lexists(path):
            raise OutputExistsError(f"{path} appeared while it was being written, and was left as it is") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _write_error(path, exc, tmp):
    """OutputError for a failed write of `path` (through the hidden file `tmp`), or None to re-raise `exc`."""
    if isinstance(exc, OutputError):
        # a nested atomic write whose destination was our hidden file: name ours instead
        if tmp is not None and str(tmp) in str(exc):
            return type(exc)(str(exc).replace(str(tmp), str(path)), remedies=exc.remedies)
        return None
    if isinstance(exc, (MemoryError, KeyboardInterrupt, SystemExit)):
        return None
    if isinstance(exc, OSError):
        return OutputError(f"cannot write {path}: {_cause(exc, tmp)}")
    # Writers that run another program or wrap errors (imageio and ffmpeg, PIL plugins) may say nothing of
    # the cause, or name the hidden file.
    wrapped = exc.__cause__ or exc.__context__
    if isinstance(wrapped, OSError):
        return OutputError(f"cannot write {path}: {_cause(wrapped, tmp)}")
    message = " ".join(str(exc).split())
    diagnosis = _diagnose(tmp)
    if diagnosis is not None:
        return OutputError(f"cannot write {path}: {diagnosis}")
    if tmp is not None and str(tmp) in message:
        return OutputError(f"cannot write {path}: {message.replace(str(tmp), str(path))}")
    return None


def _cause(exc, tmp):
    """The reason for a failed write, in words: from errno, or found out when the writer did not say."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
    if exc.errno == errno.EFBIG:
        limit = _file_size_limit()
        return "file too large" + (f" (the file-size limit is {limit} bytes)" if limit else "")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    # numpy's tofile ("4096 requested and 2016 written") and a pipe to ffmpeg killed by SIGXFSZ say nothing
    # of why
    diagnosis = _diagnose(tmp) if exc.errno in (None, errno.EPIPE, errno.EIO, 0) else None
    text = exc.strerror or " ".join(str(exc).split()) or exc.__class__.__name__
    return diagnosis or (text.replace(str(tmp), "the file") if tmp is not None else text)


def _diagnose(tmp):
    """Why writing the hidden file `tmp` may have failed: the file-size limit reached, or a full disk; else None."""
    if tmp is None:
        return None
    limit, size = _file_size_limit(), _size(tmp)
    if limit and size is not None and size >= limit - 65536:
        return f"file too large (the file-size limit is {limit} bytes)"
    with contextlib.suppress(OSError):
        if shutil.disk_usage(Path(tmp).parent).free < 1 << 20:
            return "no space left on the device"
    return None


def _file_size_limit():
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def _size(path):
    try:
        return os.stat(path).st_size if path is not None else None
    except OSError:
        return None


def _access_reason(folder):
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    return "permission denied"


def _resolved(path):
    try:
        return os.path.normcase(str(Path(path).resolve()))
    except (OSError, RuntimeError):
        return os.path.normcase(os.path.abspath(path))


def _identity(path):
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return stat.st_dev, stat.st_ino
