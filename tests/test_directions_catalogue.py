"""invert.directions.catalogue: published directions fetched on first use, checksums pinned, shapes checked."""
import dataclasses
import socket

import numpy as np
import pytest
import torch

from directions_helpers import fake_ffhq, sha256, torch_bytes
from invert.checkpoints import load_generator
from invert.directions import catalogue as lib
from invert.errors import BoundaryError

assert fake_ffhq  # a fixture, used by name


def test_fetch_downloads_once_into_the_cache(fake_ffhq):
    entry = lib.CATALOGUE["smile"]
    assert not lib.is_downloaded(entry)
    path = lib.fetch(entry, progress=False)
    assert path == lib.published_path(entry) and path.read_bytes() == fake_ffhq.files["smile.pt"]
    assert fake_ffhq.server.requests == ["smile.pt"] and lib.is_downloaded(entry)
    assert lib.fetch(entry, progress=False) == path and fake_ffhq.server.requests == ["smile.pt"]
    assert path.parent.name == "encoder4editing" and path.parent.parent.name == "directions"


def test_a_wrong_checksum_is_refused_and_nothing_kept(fake_ffhq, monkeypatch):
    entry = dataclasses.replace(lib.CATALOGUE["smile"], sha256="0" * 64)
    with pytest.raises(BoundaryError) as info:
        lib.fetch(entry, progress=False)
    message = str(info.value)
    assert message.startswith("the published direction 'smile' is not available (")
    assert f"has sha256 {sha256(fake_ffhq.files['smile.pt'])}, expected {'0' * 64}" in message
    assert message.endswith(f"its file smile.pt comes from {entry.url}: put a copy with sha256 {'0' * 64} at "
                            f"{lib.published_path(entry)}")
    assert not lib.published_path(entry).exists()
    assert not list(lib.published_path(entry).parent.glob("*"))


def test_a_wrong_file_in_the_cache_is_fetched_again(fake_ffhq, caplog):
    """A damaged or replaced cached file is never used: it is downloaded again (checked against the pinned
    sha256), and where that is impossible the error says where the right file goes."""
    import logging

    entry = lib.CATALOGUE["age"]
    lib.published_path(entry).parent.mkdir(parents=True, exist_ok=True)
    lib.published_path(entry).write_bytes(b"not the published file")
    with caplog.at_level(logging.WARNING, logger="invert.directions.catalogue"):
        path = lib.fetch(entry, progress=False)
    assert path.read_bytes() == fake_ffhq.files["age.pt"] and fake_ffhq.server.requests == ["age.pt"]
    assert "does not have the pinned sha256 of the published 'age'; downloading it again" in caplog.text
    wrong = dataclasses.replace(entry, sha256="0" * 64)  # no download can match: refused, nothing used
    with pytest.raises(BoundaryError, match=f"put a copy with sha256 {'0' * 64} at"):
        lib.fetch(wrong, progress=False)


def test_offline_the_error_names_the_file_its_url_and_where_to_put_it(fake_ffhq):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    entry = dataclasses.replace(lib.CATALOGUE["pose"], url=f"http://127.0.0.1:{port}/pose.pt")
    with pytest.raises(BoundaryError) as info:
        lib.fetch(entry, progress=False)
    message = str(info.value)
    assert message.startswith("the published direction 'pose' is not available (could not download ")
    assert message.endswith(f"its file pose.pt comes from {entry.url}: put a copy with sha256 {entry.sha256} at "
                            f"{lib.published_path(entry)}")
    # and a copy put there by hand is used
    lib.published_path(entry).parent.mkdir(parents=True, exist_ok=True)
    lib.published_path(entry).write_bytes(fake_ffhq.files["pose.pt"])
    direction = lib.load_published_boundary(entry, num_ws=8, w_dim=512, progress=False)
    assert direction.shape == (8, 512)


def test_published_files_are_read_as_weights_only_and_checked(fake_ffhq, tmp_path):
    smile = lib.read_published(lib.CATALOGUE["smile"], lib.fetch(lib.CATALOGUE["smile"], progress=False))
    np.testing.assert_array_equal(smile[""], fake_ffhq.tensors["smile"].numpy())
    pca = lib.load_published_set(lib.CATALOGUE["ganspace"], w_dim=512, progress=False)
    comp = fake_ffhq.tensors["ganspace"]["comp"].double().numpy()[:, 0]
    np.testing.assert_allclose(pca.directions, comp / np.linalg.norm(comp, axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(pca.std, fake_ffhq.tensors["ganspace"]["std"].double().numpy(), rtol=0)
    assert pca.mean.shape == (512,) and pca.metadata["licence"] == "MIT" and pca.layers is None

    entry = lib.CATALOGUE["smile"]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(torch_bytes(torch.zeros([2, 512])))
    with pytest.raises(BoundaryError, match=r"bad.pt: the tensor has shape \[2, 512\], the catalogue expects "
                                            r"\[1, 512\]"):
        lib.read_published(entry, bad)
    bad.write_bytes(torch_bytes({"comp": torch.zeros(3)}))
    with pytest.raises(BoundaryError, match=r"holds \['comp'\], not the tensors \['tensor'\]"):
        lib.read_published(entry, bad)
    bad.write_bytes(torch_bytes(dataclasses.replace))  # a pickled function: refused by weights_only
    with pytest.raises(BoundaryError, match="cannot read the published direction file .*bad.pt"):
        lib.read_published(entry, bad)


def test_entries_belong_to_the_network_seen_in_the_registry_files(fake_ffhq, sg2_dir):
    from invert import known_networks

    assert lib.entries_for(load_generator("random:32")) == []
    assert lib.entries_for(load_generator(sg2_dir / "tiny_rosinality.pt")) == []  # not seen to be FFHQ yet
    G = load_generator("ffhq-1024")
    assert [e.name for e in lib.entries_for(G)] == ["smile", "age", "pose", "ganspace"]
    assert known_networks.fingerprints_of(known_networks.FFHQ).keys() == {G.source["fingerprint"]}
    # from now on the same network in any file is FFHQ; another network is not
    assert lib.find_published("smile", load_generator(sg2_dir / "tiny_rosinality.pt")).name == "smile"
    assert lib.find_published("smile", load_generator(sg2_dir / "small_ada.pkl")) is None


def test_the_real_catalogue_pins_the_published_files():
    """The entries the toolkit ships: encoder4editing's files on GitHub (branch master), MIT, FFHQ shapes."""
    from invert.known_networks import FFHQ

    real = {e.name: e for e in lib.CATALOGUE.values()}
    base = "https://raw.githubusercontent.com/omertov/encoder4editing/master/editings/"
    assert real["smile"].url == base + "interfacegan_directions/smile.pt"
    assert real["ganspace"].url == base + "ganspace_pca/ffhq_pca.pt"
    assert real["pose"].shape_map == {"": (1, 18, 512)}
    assert real["ganspace"].shape_map == {"mean": (1, 512), "comp": (80, 1, 512), "std": (80,)}
    assert real["age"].sha256 == "50074516b1629707d89b5e43d6b8abd1792212fa3b961a87a11323d6a5222ae0"
    assert all(e.licence == "MIT" and e.network == FFHQ and len(e.sha256) == 64 for e in real.values())
