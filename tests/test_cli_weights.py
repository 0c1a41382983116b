"""`stylegan-invert weights list/download/verify` through click's CliRunner, with a registry served locally."""
import hashlib

import pytest
from click.testing import CliRunner

from file_server import FileServer
from invert import weights
from invert.cli import main

DATA = bytes(range(256)) * 4000
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def served():
    """A 127.0.0.1 server for `tiny.pkl`."""
    server = FileServer({"tiny.pkl": DATA})
    yield server
    server.close()


@pytest.fixture
def registry(served, monkeypatch):
    base = served.url("").rstrip("/")
    reg = {
        "tiny": weights.Entry(name="tiny", kind="generator", url=f"{base}/tiny.pkl", filename="tiny.pkl",
                              description="a tiny test generator", format="bytes"),
        "checked": weights.Entry(name="checked", kind="vgg16", url=f"{base}/tiny.pkl", filename="checked.pth",
                                 description="with a published sha256", format="bytes", sha256=SHA),
        "gone": weights.Entry(name="gone", kind="generator", url=f"{base}/gone.pkl", filename="gone.pkl",
                              description="not on the server", format="bytes"),
    }
    monkeypatch.setattr(weights, "REGISTRY", reg)
    return reg


def invoke(*args):
    return CliRunner().invoke(main, ["weights", *args])


def test_list_shows_cached_state(registry):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "KIND", "STATUS", "PATH"]
    tiny = next(line for line in lines if line.startswith("tiny "))
    assert "not cached" in tiny and registry["tiny"].url in tiny and "a tiny test generator" in tiny
    assert lines[-1] == f"cache: {weights.cache_dir()}"

    assert invoke("download", "tiny").exit_code == 0
    tiny = next(line for line in invoke("list").stdout.splitlines() if line.startswith("tiny "))
    assert " cached " in tiny and str(weights.cache_dir() / "tiny.pkl") in tiny


def test_download_prints_the_path(registry, served):
    requests = served.requests
    result = invoke("download", "checked")
    assert result.exit_code == 0, result.output
    path = weights.cache_dir() / "checked.pth"
    assert result.stdout == f"{path}\n"
    assert path.read_bytes() == DATA
    assert invoke("download", "checked").stdout == f"{path}\n"
    assert requests == ["tiny.pkl"]  # the second call found the file cached
    assert invoke("download", "checked", "--force").exit_code == 0
    assert requests == ["tiny.pkl"] * 2


def test_download_errors_are_one_line(registry):
    result = invoke("download", "nope")
    assert result.exit_code == 1
    assert result.stderr == "Error: unknown weights name 'nope'; known names: checked, gone, tiny\n"

    result = invoke("download", "gone")
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "HTTP 404" in result.stderr and str(weights.cache_dir() / "gone.pkl") in result.stderr
    assert not (weights.cache_dir() / "gone.pkl").exists()


def test_verify(registry):
    result = invoke("verify")
    assert result.exit_code == 0 and result.stdout.startswith("no registry weights are cached")

    assert invoke("download", "tiny").exit_code == 0
    assert invoke("download", "checked").exit_code == 0
    result = invoke("verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"tiny: ok (sha256 {SHA[:16]}... matches the one recorded at first download)",
        f"checked: ok (sha256 {SHA[:16]}... matches the published checksum)"]

    for name in ("tiny.pkl", "checked.pth"):
        (weights.cache_dir() / name).write_bytes(DATA[:-1] + b"!")
    result = invoke("verify")
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and result.stdout == ""
    assert errors[0].startswith("Error: tiny: ") and "recorded when it was first downloaded" in errors[0]
    assert errors[1].startswith("Error: checked: ") and "weights download checked --force" in errors[1]

    assert invoke("download", "tiny", "--force").exit_code == 0
    result = invoke("verify", "tiny", "gone")
    assert result.exit_code == 1
    assert result.stdout.startswith("tiny: ok")
    assert result.stderr.startswith("Error: gone: not downloaded") and len(result.stderr.splitlines()) == 1

    result = invoke("verify", "nope")
    assert result.exit_code == 1 and "unknown weights name 'nope'" in result.stderr


def _read_only_run(home, code):
    """Run `code` in a child Python whose $STYLEGAN_INVERT_HOME is a read-only bind mount of `home`.

    A real read-only file system (as root, permission bits would not stop writes), made in a private mount
    namespace by util-linux's unshare; skipped where namespaces are not allowed.
    """
    import os
    import shutil
    import subprocess
    import sys

    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("util-linux unshare is not installed")
    probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespaces here ({probe.stderr.decode().strip()})")
    script = ('mount --bind "$HOME_DIR" "$HOME_DIR" && mount -o remount,ro,bind "$HOME_DIR" && '
              '! touch "$HOME_DIR/probe" 2>/dev/null && exec "$PYTHON" -c "$CODE"')
    env = dict(os.environ, HOME_DIR=str(home), PYTHON=sys.executable, CODE=code, STYLEGAN_INVERT_HOME=str(home))
    return subprocess.run([unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          capture_output=True, text=True, env=env, timeout=120)


def test_read_only_cache_serves_read_only_commands(tmp_path, sg2_dir):
    """weights list / verify and info work on a read-only cache; a file never recorded is checked, not recorded."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "tiny.pkl").write_bytes((sg2_dir / "tiny_ada.pkl").read_bytes())
    code = """
from click.testing import CliRunner
from invert import weights
from invert.cli import main
weights.REGISTRY = {"tiny": weights.Entry(name="tiny", kind="generator", url="http://127.0.0.1:9/tiny.pkl",
                                        filename="tiny.pkl", description="tiny", format="ada pickle")}
for args in (["weights", "list"], ["weights", "verify"], ["info", "tiny"]):
    result = CliRunner().invoke(main, args)
    print(args[-1], result.exit_code, repr(result.stdout), repr(result.stderr))
"""
    result = _read_only_run(home, code)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["list"].startswith("0 ") and " cached " in lines["list"]
    assert lines["verify"].startswith("0 ") and "not writable, so it was not recorded now" in lines["verify"]
    assert lines["tiny"].startswith("0 ") and "resolution" in lines["tiny"]
    assert "Read-only file system" not in result.stdout
    assert sorted(p.name for p in home.iterdir()) == ["tiny.pkl"]  # nothing was written
