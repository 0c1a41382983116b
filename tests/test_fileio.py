"""fileio: atomic writes and the advisory lock."""
import subprocess
import sys
import textwrap

import pytest

from invert.errors import InvertError
from invert.fileio import locked


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
