"""invert.known_networks: the FFHQ network's fingerprint learnt from the registry's files."""
import dataclasses
import json
import logging

import pytest

from directions_helpers import fake_ffhq
from invert import known_networks as lib
from invert.checkpoints import load_generator

assert fake_ffhq  # a fixture, used by name


def test_loading_a_registry_file_records_its_network(fake_ffhq, sg2_dir):
    assert lib.network_of(load_generator(sg2_dir / "tiny_ada.pkl")) is None  # a file elsewhere: unknown so far
    G = load_generator("ffhq-1024")
    assert lib.note_loaded(G) == lib.FFHQ
    data = json.loads(lib.networks_file().read_text())
    entry = data["networks"][lib.FFHQ]["fingerprints"][G.source["fingerprint"]]
    assert entry["registry_name"] == "ffhq-1024" and entry["path"] == G.source["path"]
    assert lib.network_of(load_generator(sg2_dir / "tiny_ada.pkl")) == lib.FFHQ  # now known anywhere
    assert lib.network_of(load_generator(sg2_dir / "small_ada.pkl")) is None
    assert lib.network_of(load_generator("random:32")) is None


def test_network_of_records_on_first_sight(fake_ffhq):
    G = load_generator("ffhq-1024-tf")  # the TF file of the same network
    assert not lib.networks_file().exists()
    assert lib.network_of(G) == lib.FFHQ
    assert list(lib.fingerprints_of(lib.FFHQ)) == [G.source["fingerprint"]]


def test_a_file_of_the_wrong_shape_is_not_recorded(fake_ffhq, monkeypatch, caplog):
    network = dataclasses.replace(lib.KNOWN_NETWORKS[lib.FFHQ], num_ws=18)
    monkeypatch.setitem(lib.KNOWN_NETWORKS, lib.FFHQ, network)
    with caplog.at_level(logging.WARNING, logger="invert.known_networks"):
        assert lib.note_loaded(load_generator("ffhq-1024")) is None
    assert "holds a [8, 512] generator, not stylegan2-ffhq-config-f's [18, 512]" in caplog.text
    assert not lib.networks_file().exists()


def test_a_second_fingerprint_for_one_network_is_recorded_with_a_warning(fake_ffhq, sg2_dir, monkeypatch, caplog):
    from invert import weights

    lib.note_loaded(load_generator("ffhq-1024"))
    # the -tf entry turns out to hold another network (here: the 'small' fixture, made the same shape)
    small = (sg2_dir / "small_tf.pkl").read_bytes()
    weights.cached_path("ffhq-1024-tf").write_bytes(small)
    G = load_generator(weights.cached_path("ffhq-1024-tf"))
    monkeypatch.setitem(lib.KNOWN_NETWORKS, lib.FFHQ, dataclasses.replace(lib.KNOWN_NETWORKS[lib.FFHQ], num_ws=10))
    with caplog.at_level(logging.WARNING, logger="invert.known_networks"):
        assert lib.note_loaded(G) == lib.FFHQ
    assert "ffhq-1024-tf holds network" in caplog.text
    assert "(ffhq-1024) was recorded for stylegan2-ffhq-config-f before" in caplog.text
    assert len(lib.fingerprints_of(lib.FFHQ)) == 2


def test_an_unreadable_networks_file(tmp_path):
    lib.networks_file().parent.mkdir(parents=True, exist_ok=True)
    lib.networks_file().write_text("{")
    with pytest.raises(lib.InvertError, match="cannot read .*networks.json .*; delete it"):
        lib.read_records()


def test_a_read_only_home_still_serves_and_records_cost_a_warning(fake_ffhq, monkeypatch, caplog):
    """Every load of a registry file notes its network: an already recorded fingerprint needs no lock and no
    write (a read-only $STYLEGAN_INVERT_HOME works), and one that cannot be written is a warning."""
    import errno

    from invert import fileio

    G = load_generator("ffhq-1024")
    assert lib.note_loaded(G) == lib.FFHQ

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(args[0]))

    monkeypatch.setattr(fileio, "locked", read_only)
    assert lib.note_loaded(G) == lib.FFHQ  # known: nothing to write
    lib.networks_file().unlink()
    with caplog.at_level(logging.WARNING, logger="invert.known_networks"):
        assert lib.note_loaded(G) == lib.FFHQ
    assert "could not record network" in caplog.text and "Read-only file system" in caplog.text
