"""fileio: atomic writes to exactly the named file, publishing without replacing, permissions, write
failures named by their destination, the checks made before any computation, and the advisory lock."""
import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from invert.errors import InvertError, OutputError, OutputExistsError
from invert.fileio import (NpyStream, atomic_open, atomic_path, check_writable, locked, open_input, same_file,
                           save_bytes, save_json, save_npy, save_npz)


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_writers_write_exactly_the_named_file_whatever_its_suffix(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_npy(tmp_path / "UP.NPY", array)
    save_npy(tmp_path / "no_suffix", array)
    save_npz(tmp_path / "maps.NPZ", a=array, b=array * 2)
    save_json(tmp_path / "record.JSON", {"b": 1, "a": [1.5]})
    save_bytes(tmp_path / "raw.bin", b"\x00\x01")
    # numpy appends .npy to names not ending in .npy (case-sensitively); nothing here may do that
    assert listing(tmp_path) == ["UP.NPY", "maps.NPZ", "no_suffix", "raw.bin", "record.JSON"]
    np.testing.assert_array_equal(np.load(tmp_path / "UP.NPY"), array)
    np.testing.assert_array_equal(np.load(tmp_path / "no_suffix"), array)
    with np.load(tmp_path / "maps.NPZ") as maps:
        np.testing.assert_array_equal(maps["b"], array * 2)
    assert json.loads((tmp_path / "record.JSON").read_text()) == {"a": [1.5], "b": 1}
    assert (tmp_path / "raw.bin").read_bytes() == b"\x00\x01"


def test_without_overwrite_an_existing_file_is_kept(tmp_path):
    path = tmp_path / "a.npy"
    save_npy(path, np.zeros(2))
    with pytest.raises(OutputExistsError, match=f"{path} appeared while it was being written, and was left as it"):
        save_npy(path, np.ones(2), overwrite=False)
    np.testing.assert_array_equal(np.load(path), np.zeros(2))
    save_npy(path, np.ones(2), overwrite=True)
    np.testing.assert_array_equal(np.load(path), np.ones(2))
    assert listing(tmp_path) == ["a.npy"]


def test_a_file_that_appears_during_the_write_is_never_replaced(tmp_path):
    path = tmp_path / "out.json"
    with pytest.raises(OutputExistsError, match="appeared while it was being written") as info:
        with atomic_open(path, "w", overwrite=False) as handle:
            handle.write("ours")
            path.write_text("another run's")  # e.g. a second process writing the same output
    assert info.value.remedies == ("overwrite",)
    assert path.read_text() == "another run's" and listing(tmp_path) == ["out.json"]


def test_without_hard_links_a_file_that_appeared_is_still_kept(tmp_path, monkeypatch):
    """File systems without hard links (FAT, some network mounts): checked, then renamed."""
    def no_links(source, destination):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    save_npy(tmp_path / "a.npy", np.zeros(2), overwrite=False)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.zeros(2))
    with pytest.raises(OutputExistsError, match="appeared while it was being written"):
        save_npy(tmp_path / "a.npy", np.ones(2), overwrite=False)
    assert listing(tmp_path) == ["a.npy"] and np.load(tmp_path / "a.npy")[0] == 0


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with atomic_open(tmp_path / "half.bin") as handle:
            handle.write(b"half of it")
            1 / 0
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "interrupted.bin"):
            raise KeyboardInterrupt
    assert listing(tmp_path) == []


def test_a_nested_atomic_write_reports_the_outer_destination(tmp_path):
    # `convert` publishes save_generator's own atomic write through a hidden file of its own
    target = tmp_path / "model.pt"
    with pytest.raises(OutputError, match=f"^cannot write {target}: no space left on the device$"):
        with atomic_path(target, overwrite=False) as tmp:
            with atomic_path(tmp):
                raise OSError(28, "No space left on device")
    assert tmp.name.startswith(".model.pt.") and listing(tmp_path) == []


def test_npy_stream_writes_rows_and_refuses_an_incomplete_array(tmp_path):
    rows = np.arange(30, dtype=np.float32).reshape(5, 2, 3)
    with NpyStream(tmp_path / "frames.npy", shape=(5, 2, 3)) as stream:
        for start in range(0, 5, 2):
            stream.append(rows[start: start + 2])
    np.testing.assert_array_equal(np.load(tmp_path / "frames.npy"), rows)
    with pytest.raises(ValueError, match="3 of 5 rows were written"):
        with NpyStream(tmp_path / "short.npy", shape=(5, 2, 3)) as stream:
            stream.append(rows[:3])
    with pytest.raises(ValueError, match="do not fit"):
        with NpyStream(tmp_path / "wide.npy", shape=(5, 2, 3)) as stream:
            stream.append(np.zeros((1, 3, 3)))
    assert listing(tmp_path) == ["frames.npy"]


def _child(code, *, umask=None, file_size_limit=None):
    """Run `code` in a Python child (with its umask and RLIMIT_FSIZE set first); its CompletedProcess."""
    prelude = "import os, resource\n"
    if umask is not None:
        prelude += f"os.umask({umask})\n"
    if file_size_limit is not None:
        prelude += f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size_limit}, {file_size_limit}))\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outputs_get_the_umask_permissions_also_when_replacing(tmp_path):
    code = f"""
        import numpy as np
        from invert.fileio import save_npy
        from invert.images import save_png
        save_npy({str(tmp_path / 'a.npy')!r}, np.zeros(3))
        save_png({str(tmp_path / 'a.png')!r}, np.zeros((4, 4, 3), np.uint8))
        save_npy({str(tmp_path / 'old.npy')!r}, np.zeros(3), overwrite=True)
    """
    (tmp_path / "old.npy").write_bytes(b"x")
    os.chmod(tmp_path / "old.npy", 0o600)
    result = _child(code, umask=0o022)
    assert result.returncode == 0, result.stderr
    assert {name: oct(mode(tmp_path / name)) for name in ("a.npy", "a.png", "old.npy")} == \
        {"a.npy": "0o644", "a.png": "0o644", "old.npy": "0o644"}
    result = _child(code.replace("a.npy", "b.npy").replace("a.png", "b.png"), umask=0o077)
    assert result.returncode == 0, result.stderr
    assert oct(mode(tmp_path / "b.npy")) == "0o600" and oct(mode(tmp_path / "b.png")) == "0o600"


@pytest.mark.parametrize("writer", ["numpy", "png"])
def test_the_file_size_limit_is_a_clean_error_naming_the_destination(tmp_path, writer):
    destination = tmp_path / ("big.npy" if writer == "numpy" else "big.png")
    code = f"""
        import numpy as np
        from invert.errors import OutputError
        from invert.fileio import save_npy
        from invert.images import save_png
        try:
            if {writer!r} == "numpy":
                save_npy({str(destination)!r}, np.zeros(300_000, np.float32))
            else:
                noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
                save_png({str(destination)!r}, noise)
        except OutputError as exc:
            print(exc)
    """
    result = _child(code, file_size_limit=100_000)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"cannot write {destination}: file too large (the file-size limit is 100000 bytes)"
    assert listing(tmp_path) == []  # no partial file, no hidden one


def test_a_full_disk_is_named(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(OutputError, match=f"^cannot write {tmp_path / 'x.npy'}: no space left on the device$"):
        save_npy(tmp_path / "x.npy", np.zeros(3))
    assert listing(tmp_path) == []


# --- checks before any computation ---------------------------------------------------------------------

def test_check_writable_refuses_existing_outputs_unless_forced(tmp_path):
    (tmp_path / "b.png").write_bytes(b"")
    outputs = [tmp_path / "new" / "a.npy", tmp_path / "b.png"]
    with pytest.raises(OutputExistsError, match=f"^{tmp_path / 'b.png'} exists$") as info:
        check_writable(outputs, force=False)
    assert info.value.remedies == ("overwrite",)  # the CLI adds "pass --force to overwrite it"
    check_writable(outputs, force=True)
    assert listing(tmp_path) == ["b.png"]  # checking creates nothing


def test_check_writable_refuses_locations_that_cannot_be_written(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match=f"cannot write {tmp_path / 'afile' / 'sub' / 'x.npy'}: "
                                          f"{tmp_path / 'afile'} is a file, not a folder"):
        check_writable([tmp_path / "afile" / "sub" / "x.npy"], force=True)
    (tmp_path / "folder.npy").mkdir()
    with pytest.raises(OutputError, match="folder.npy: it is a folder"):
        check_writable([tmp_path / "folder.npy"], force=True)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="dangling is a broken symbolic link"):
        check_writable([tmp_path / "dangling" / "x.npy"], force=False)


@contextlib.contextmanager
def read_only_folder(path):
    """A folder nobody may write to: immutable for root (who ignores permission bits), mode 0555 otherwise."""
    path.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root without chattr +i: no way to make a folder read-only")
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)


def test_check_writable_refuses_a_read_only_folder(tmp_path):
    with read_only_folder(tmp_path / "ro") as folder:
        for output in (folder / "x.npy", folder / "new" / "deeper" / "x.npy"):
            with pytest.raises(OutputError, match=f"cannot write {output}: .*{folder}, which is not writable "
                                                  r"\(permission denied\)"):
                check_writable([output], force=True)


def test_outputs_never_replace_inputs_whatever_their_spelling(tmp_path):
    photo = tmp_path / "me_aligned.png"
    photo.write_bytes(b"input")
    (tmp_path / "sub").mkdir()
    os.link(photo, tmp_path / "hardlink.png")
    (tmp_path / "symlink.png").symlink_to(photo)
    for output in (photo, tmp_path / "sub" / ".." / "me_aligned.png", tmp_path / "symlink.png",
                   tmp_path / "hardlink.png"):
        for force in (False, True):
            with pytest.raises(OutputError, match=f"the output {output} would replace the input {photo}; outputs "
                                                  "never replace inputs"):
                check_writable([tmp_path / "other.png", output], force=force, inputs=[tmp_path / "x.png", photo])
    check_writable([tmp_path / "me_aligned_aligned.png"], force=False, inputs=[photo])
    assert same_file(tmp_path / "hardlink.png", photo) and not same_file(tmp_path / "x.png", photo)


def test_lock_refuses_a_second_holder_without_waiting(tmp_path):
    lock = tmp_path / "run.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from invert.fileio import locked
        with locked({str(lock)!r}):
            print("held", flush=True)
            sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InvertError, match="another stylegan-invert process is using out folder"):
            with locked(lock, wait=False, what="out folder"):
                pass
    finally:
        holder.communicate("\n", timeout=30)
    with locked(lock, wait=False):  # released when the holder left its block
        pass


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    import hashlib
    import random

    from invert.fileio import sha256_file

    data = random.Random(1).randbytes((1 << 22) * 2 + 17)  # two whole 4 MiB chunks and a partial one
    (tmp_path / "f").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "missing")


def test_open_input_names_what_is_wrong_in_one_line(tmp_path):
    class NotReadable(InvertError):
        pass

    (tmp_path / "list.txt").write_text("a.png\n")
    with open_input(tmp_path / "list.txt", what="list file", error=NotReadable, mode="r") as handle:
        assert handle.read() == "a.png\n"
    with pytest.raises(NotReadable, match=f"^list file not found: {tmp_path / 'nope.txt'}$"):
        open_input(tmp_path / "nope.txt", what="list file", error=NotReadable)
    with pytest.raises(NotReadable, match=f"^expected an image file, got a directory: {tmp_path}$"):
        open_input(tmp_path, what="image", error=NotReadable)
    if os.geteuid() != 0:  # root reads anything
        (tmp_path / "secret").write_text("x")
        (tmp_path / "secret").chmod(0)
        with pytest.raises(NotReadable, match="^cannot read list file .*secret: Permission denied$"):
            open_input(tmp_path / "secret", what="list file", error=NotReadable)
