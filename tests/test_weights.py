"""The weights registry and downloads, against HTTP servers on 127.0.0.1 (never the internet)."""
import hashlib
import http.server
import json
import os
import random
import re
import socket
import threading

import pytest

from invert import weights
from invert.errors import WeightsError

DATA = random.Random(0).randbytes(2_500_000)  # several 1 MiB chunks
SHA = hashlib.sha256(DATA).hexdigest()


class FileServer:
    """Serves `files` (name -> bytes) on 127.0.0.1.

    mode 'range': honours `Range: bytes=N-` (206, or 416 past the end); 'ignore-range': always 200 with the
    whole file; 'drop': announces the whole file but closes the connection after half of the body.
    """

    def __init__(self, files, mode="range"):
        self.files = files
        self.mode = mode
        self.requests = []  # (path, Range header or None)
        self.bytes_sent = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                range_header = self.headers.get("Range")
                server.requests.append((name, range_header))
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
                if server.mode in ("range", "drop") and match:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = data[start:]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.mode == "drop":
                    body = body[:len(body) // 2]
                self.wfile.write(body)
                server.bytes_sent += len(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FileServer({"model.pkl": DATA})
    yield srv
    srv.close()


def entry(srv, name="tiny", **kwargs):
    fields = dict(name=name, kind="generator", url=srv.url("model.pkl"), filename="tiny-model.pkl",
                  description="test file", format="bytes")
    fields.update(kwargs)
    return weights.Entry(**fields)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != weights.CHECKSUMS_FILE)


def test_cache_dir_follows_env_and_defaults_to_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN_INVERT_HOME", str(tmp_path / "a" / "b"))
    assert weights.cache_dir() == tmp_path / "a" / "b"
    assert weights.cache_dir().is_dir()
    monkeypatch.delenv("STYLEGAN_INVERT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "stylegan-invert"


def test_registry_holds_the_official_files():
    reg = weights.REGISTRY
    assert {"ffhq-1024", "ffhq-1024-tf", "ffhq-1024-ada", "vgg16"} <= set(reg)
    assert reg["ffhq-1024"].url == ("https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/"
                                    "versions/1/files/stylegan2-ffhq-1024x1024.pkl")
    assert reg["ffhq-1024-tf"].url == ("https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
                                       "stylegan2-ffhq-config-f.pkl")
    assert reg["ffhq-1024-ada"].url == "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl"
    assert reg["vgg16"].url == "https://download.pytorch.org/models/vgg16-397923af.pth"
    assert reg["vgg16"].kind == "vgg16" and reg["vgg16"].sha256_prefix == "397923af"
    filenames = [e.filename for e in reg.values()]
    assert len(set(filenames)) == len(filenames)
    for e in reg.values():
        assert e.name == next(k for k, v in reg.items() if v is e)
        assert e.kind in ("generator", "vgg16")
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
    assert weights.is_registry_name("ffhq-1024") and not weights.is_registry_name("ffhq.pkl")
    assert not weights.is_registry_name("random:32")


def test_unknown_name_lists_known_names():
    with pytest.raises(WeightsError, match=r"unknown weights name 'ffhq'.*ffhq-1024, ffhq-1024-ada"):
        weights.resolve("ffhq")
    with pytest.raises(WeightsError, match="known names: ffhq-1024, .*vgg16"):
        weights.download("nope")
    with pytest.raises(WeightsError, match="known names: tiny"):
        weights.verify("vgg16", registry={"tiny": weights.REGISTRY["vgg16"]})


def test_download_url_with_checksum(server, capsys):
    path = weights.download(server.url("model.pkl"), expected_sha256=SHA)
    assert path == weights.cache_dir() / "model.pkl"
    assert path.read_bytes() == DATA
    assert leftovers(weights.cache_dir()) == ["model.pkl"]
    assert capsys.readouterr().err == ""  # no progress bar when stderr is not a terminal
    # an existing file is checked, not fetched again
    assert weights.download(server.url("model.pkl"), expected_sha256=SHA) == path
    assert len(server.requests) == 1


def test_wrong_sha256_leaves_nothing(server, tmp_path):
    dest = tmp_path / "out" / "model.pkl"
    with pytest.raises(WeightsError, match=f"sha256 {SHA}, expected 0{{64}}.*deleted"):
        weights.download(server.url("model.pkl"), dest=dest, expected_sha256="0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_sha256_prefix(server, tmp_path):
    with pytest.raises(WeightsError, match="expected one starting with abcdef12"):
        weights.download(server.url("model.pkl"), dest=tmp_path / "a.pkl", sha256_prefix="abcdef12")
    assert list(tmp_path.iterdir()) == []
    path = weights.download(server.url("model.pkl"), dest=tmp_path / "a.pkl", sha256_prefix=SHA[:8].upper())
    assert path.read_bytes() == DATA


def test_resume_with_range(server, tmp_path):
    dest = tmp_path / "model.pkl"
    half = len(DATA) // 2 + 123
    (tmp_path / "model.pkl.part").write_bytes(DATA[:half])
    weights.download(server.url("model.pkl"), dest=dest, expected_sha256=SHA)
    assert server.requests == [("model.pkl", f"bytes={half}-")]
    assert server.bytes_sent == len(DATA) - half
    assert dest.read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl"]


def test_restart_when_server_ignores_range(server, tmp_path):
    server.mode = "ignore-range"
    dest = tmp_path / "model.pkl"
    # garbage in the .part: appending to it would fail the checksum, a clean restart passes
    (tmp_path / "model.pkl.part").write_bytes(b"x" * 1000)
    weights.download(server.url("model.pkl"), dest=dest, expected_sha256=SHA)
    assert server.requests == [("model.pkl", "bytes=1000-")]
    assert dest.read_bytes() == DATA


def test_restart_when_part_is_larger_than_the_file(server, tmp_path):
    (tmp_path / "model.pkl.part").write_bytes(DATA + b"extra")
    path = weights.download(server.url("model.pkl"), dest=tmp_path / "model.pkl", expected_sha256=SHA)
    assert server.requests == [("model.pkl", f"bytes={len(DATA) + 5}-"), ("model.pkl", None)]
    assert path.read_bytes() == DATA


def test_complete_part_is_finished_without_refetching(server, tmp_path):
    (tmp_path / "model.pkl.part").write_bytes(DATA)
    path = weights.download(server.url("model.pkl"), dest=tmp_path / "model.pkl", expected_sha256=SHA)
    assert server.requests == [("model.pkl", f"bytes={len(DATA)}-")] and server.bytes_sent == 0
    assert path.read_bytes() == DATA


def test_known_size_skips_asking_for_an_oversized_part(server):
    reg = {"tiny": entry(server, size=len(DATA))}
    (weights.cache_dir() / "tiny-model.pkl.part").write_bytes(DATA + b"extra")
    assert weights.resolve("tiny", registry=reg).read_bytes() == DATA
    assert server.requests == [("model.pkl", None)]


def test_interrupted_download_resumes(server, tmp_path):
    server.mode = "drop"
    dest = tmp_path / "model.pkl"
    with pytest.raises(WeightsError, match=r"interrupted after 1250000 of 2500000 bytes.*resume") as info:
        weights.download(server.url("model.pkl"), dest=dest, expected_sha256=SHA)
    assert "\n" not in str(info.value)
    part = tmp_path / "model.pkl.part"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl.part"]
    assert part.read_bytes() == DATA[:len(DATA) // 2]

    server.mode = "range"
    weights.download(server.url("model.pkl"), dest=dest, expected_sha256=SHA)
    assert server.requests[-1] == ("model.pkl", f"bytes={len(DATA) // 2}-")
    assert dest.read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl"]


def test_trust_on_first_use_records_and_detects_tampering(server):
    reg = {"tiny": entry(server)}
    path = weights.resolve("tiny", registry=reg)
    assert path == weights.cache_dir() / "tiny-model.pkl" and path.read_bytes() == DATA
    records = json.loads((weights.cache_dir() / weights.CHECKSUMS_FILE).read_text())
    assert records["tiny"]["sha256"] == SHA

    assert weights.resolve("tiny", registry=reg) == path  # checked against the record, no new request
    assert len(server.requests) == 1
    ok, message = weights.verify("tiny", registry=reg)
    assert ok and "recorded at first download" in message

    tampered = bytearray(DATA)
    tampered[1000] ^= 1
    path.write_bytes(bytes(tampered))
    with pytest.raises(WeightsError, match=r"tiny: .*was recorded.*weights download tiny --force"):
        weights.resolve("tiny", registry=reg)
    ok, message = weights.verify("tiny", registry=reg)
    assert not ok and "--force" in message
    assert len(server.requests) == 1

    weights.download("tiny", registry=reg, force=True)
    assert path.read_bytes() == DATA and len(server.requests) == 2
    assert weights.verify("tiny", registry=reg)[0]


def test_tofu_records_a_file_put_in_place_by_hand(server):
    reg = {"tiny": entry(server)}
    ok, message = weights.verify("tiny", registry=reg)
    assert not ok and "not downloaded" in message and "weights download tiny" in message
    (weights.cache_dir() / "tiny-model.pkl").write_bytes(DATA)
    ok, message = weights.verify("tiny", registry=reg)
    assert ok and "recorded now" in message
    assert json.loads((weights.cache_dir() / weights.CHECKSUMS_FILE).read_text())["tiny"]["sha256"] == SHA
    assert server.requests == []


def test_published_checksums_of_an_entry(server):
    reg = {"good": entry(server, name="good", sha256=SHA),
           "prefix": entry(server, name="prefix", filename="p.pkl", sha256_prefix="00000000")}
    assert weights.resolve("good", registry=reg).read_bytes() == DATA
    assert not (weights.cache_dir() / weights.CHECKSUMS_FILE).exists()  # nothing to trust on first use
    with pytest.raises(WeightsError, match="starting with 00000000.*deleted"):
        weights.resolve("prefix", registry=reg)
    assert leftovers(weights.cache_dir()) == ["tiny-model.pkl"]


def test_unreachable_url_is_one_line_naming_the_cache_path():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.pkl"
    reg = {"tiny": weights.Entry(name="tiny", kind="generator", url=url, filename="tiny-model.pkl",
                                 description="", format="")}
    with pytest.raises(WeightsError) as info:
        weights.resolve("tiny", registry=reg, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert url in message and "offline" in message
    assert str(weights.cache_dir() / "tiny-model.pkl") in message
    assert leftovers(weights.cache_dir()) == []


def test_http_error(server, tmp_path):
    with pytest.raises(WeightsError, match=r"missing\.pkl failed: HTTP 404.*put it at"):
        weights.download(server.url("missing.pkl"), dest=tmp_path / "m.pkl")
    assert list(tmp_path.iterdir()) == []


def test_list_entries(server):
    reg = {"tiny": entry(server), "other": entry(server, name="other", filename="o.pkl", kind="vgg16")}
    rows = {row["name"]: row for row in weights.list_entries(registry=reg)}
    assert not rows["tiny"]["cached"] and rows["tiny"]["path"] == weights.cache_dir() / "tiny-model.pkl"
    weights.resolve("tiny", registry=reg)
    rows = {row["name"]: row for row in weights.list_entries(registry=reg)}
    assert rows["tiny"]["cached"] and not rows["other"]["cached"]
    assert rows["other"]["kind"] == "vgg16" and rows["other"]["url"] == server.url("model.pkl")


def test_part_files_never_count_as_cached(server):
    reg = {"tiny": entry(server)}
    (weights.cache_dir() / "tiny-model.pkl.part").write_bytes(DATA[:10])
    assert not weights.list_entries(registry=reg)[0]["cached"]
    assert not weights.verify("tiny", registry=reg)[0]
    assert os.path.getsize(weights.resolve("tiny", registry=reg)) == len(DATA)
