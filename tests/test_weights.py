"""The weights registry and downloads, against HTTP servers on 127.0.0.1 (never the internet)."""
import errno
import hashlib
import json
import random
import re
import socket

import pytest

from file_server import FileServer
from invert import weights
from invert.errors import WeightsError

DATA = random.Random(0).randbytes(2_500_000)  # several of torch.hub's read chunks
SHA = hashlib.sha256(DATA).hexdigest()


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
    """Every file in `folder` (hidden temporary files included) except the checksum record."""
    return sorted(p.name for p in folder.iterdir() if p.name != weights.CHECKSUMS_FILE)


def test_cache_dir_follows_env_and_defaults_to_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN_INVERT_HOME", str(tmp_path / "a" / "b"))
    assert weights.cache_dir() == tmp_path / "a" / "b"
    assert not weights.cache_dir().exists()  # reading the cache never creates it
    monkeypatch.delenv("STYLEGAN_INVERT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "stylegan-invert"


def test_registry_holds_the_official_generators():
    reg = weights.REGISTRY
    assert set(reg) == {"ffhq-1024", "ffhq-1024-tf", "ffhq-1024-ada"}  # VGG16 comes through torchvision
    assert reg["ffhq-1024"].url == ("https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/"
                                    "versions/1/files/stylegan2-ffhq-1024x1024.pkl")
    assert reg["ffhq-1024-tf"].url == ("https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
                                       "stylegan2-ffhq-config-f.pkl")
    assert reg["ffhq-1024-ada"].url == "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl"
    filenames = [e.filename for e in reg.values()]
    assert len(set(filenames)) == len(filenames)
    for name, e in reg.items():
        assert e.name == name and e.kind == "generator"
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
    assert weights.is_registry_name("ffhq-1024") and not weights.is_registry_name("ffhq.pkl")
    assert not weights.is_registry_name("random:32") and not weights.is_registry_name("vgg16")


def test_unknown_name_lists_known_names():
    with pytest.raises(WeightsError, match=r"unknown weights name 'ffhq'; known names: ffhq-1024, ffhq-1024-ada"):
        weights.resolve("ffhq")
    with pytest.raises(WeightsError, match="unknown weights name 'vgg16'.*torchvision downloads it into the torch hub"):
        weights.download("vgg16")
    with pytest.raises(WeightsError, match="known names: tiny$"):
        weights.verify("ffhq-1024", registry={"tiny": weights.REGISTRY["ffhq-1024"]})


def test_download_url_with_checksum(server, capsys):
    path = weights.download(server.url("model.pkl"), expected_sha256=SHA)
    assert path == weights.cache_dir() / "model.pkl"
    assert path.read_bytes() == DATA
    assert leftovers(weights.cache_dir()) == ["model.pkl"]
    assert capsys.readouterr().err == ""  # no progress bar when stderr is not a terminal
    # an existing file is checked, not fetched again
    assert weights.download(server.url("model.pkl"), expected_sha256=SHA.upper()) == path
    assert server.requests == ["model.pkl"]
    path.write_bytes(DATA[:-1])
    with pytest.raises(WeightsError, match="model.pkl: has sha256 .*, expected .*force=True"):
        weights.download(server.url("model.pkl"), expected_sha256=SHA)
    assert weights.download(server.url("model.pkl"), expected_sha256=SHA, force=True).read_bytes() == DATA


def test_wrong_sha256_leaves_nothing(server, tmp_path):
    dest = tmp_path / "out" / "model.pkl"
    with pytest.raises(WeightsError, match=f"sha256 {SHA}, expected 0{{64}}; it was deleted"):
        weights.download(server.url("model.pkl"), dest=dest, expected_sha256="0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_dropped_connection_leaves_nothing_and_says_so(server, tmp_path):
    server.mode = "drop"
    with pytest.raises(WeightsError, match=r"download of .*model\.pkl was interrupted.*run the same command again") \
            as info:
        weights.download(server.url("model.pkl"), dest=tmp_path / "model.pkl")
    assert "\n" not in str(info.value) and f"after {len(DATA) // 2} of {len(DATA)} bytes" in str(info.value)
    with pytest.raises(WeightsError, match="it was deleted"):  # with a checksum, the checksum says so
        weights.download(server.url("model.pkl"), dest=tmp_path / "model.pkl", expected_sha256=SHA)
    assert list(tmp_path.iterdir()) == []
    server.mode = "whole"  # the next try starts from the beginning
    assert weights.download(server.url("model.pkl"), dest=tmp_path / "model.pkl").read_bytes() == DATA


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
    weights.cache_dir().mkdir(parents=True, exist_ok=True)
    (weights.cache_dir() / "tiny-model.pkl").write_bytes(DATA)
    ok, message = weights.verify("tiny", registry=reg)
    assert ok and "recorded now" in message
    assert json.loads((weights.cache_dir() / weights.CHECKSUMS_FILE).read_text())["tiny"]["sha256"] == SHA
    assert server.requests == []


def test_an_unwritable_cache_still_verifies(server, monkeypatch, caplog):
    reg = {"tiny": entry(server)}
    weights.cache_dir().mkdir(parents=True, exist_ok=True)
    (weights.cache_dir() / "tiny-model.pkl").write_bytes(DATA)

    def read_only(path, obj):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(weights, "save_json", read_only)
    ok, message = weights.verify("tiny", registry=reg)
    assert ok and "not writable, so it was not recorded now" in message
    assert "could not record the sha256 of tiny" in caplog.text
    assert weights.resolve("tiny", registry=reg).read_bytes() == DATA and server.requests == []


def test_published_checksums_and_sizes_of_an_entry(server):
    reg = {"good": entry(server, name="good", sha256=SHA, size=len(DATA)),
           "bad": entry(server, name="bad", filename="b.pkl", sha256="0" * 64),
           "short": entry(server, name="short", filename="s.pkl", size=len(DATA) + 1)}
    assert weights.resolve("good", registry=reg).read_bytes() == DATA
    assert not (weights.cache_dir() / weights.CHECKSUMS_FILE).exists()  # nothing to trust on first use
    with pytest.raises(WeightsError, match="expected 0{64}; it was deleted.*weights download bad"):
        weights.resolve("bad", registry=reg)
    with pytest.raises(WeightsError, match=f"has {len(DATA)} bytes, expected {len(DATA) + 1}; it was deleted"):
        weights.resolve("short", registry=reg)
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
    reg = {"tiny": entry(server), "other": entry(server, name="other", filename="o.pkl")}
    rows = {row["name"]: row for row in weights.list_entries(registry=reg)}
    assert not rows["tiny"]["cached"] and rows["tiny"]["path"] == weights.cache_dir() / "tiny-model.pkl"
    weights.resolve("tiny", registry=reg)
    rows = {row["name"]: row for row in weights.list_entries(registry=reg)}
    assert rows["tiny"]["cached"] and not rows["other"]["cached"]
    assert rows["other"]["url"] == server.url("model.pkl")
