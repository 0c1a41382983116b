"""invert.records: latent records, and choosing a generator for latents from them."""
import json
import logging

import numpy as np
import pytest

from editing_helpers import load
from invert import records as lib
from invert.latents import save_latent


def save(path, G, spec, **kwargs):
    w = np.zeros([G.num_ws, G.w_dim], np.float32)
    save_latent(path, w, record=lib.latent_record(G, generator_spec=spec, command="project", **kwargs))
    return path


def test_record_fields(tmp_path):
    G = load("random:32")
    save(tmp_path / "a.npy", G, "random:32", inputs=["face.png"], tuned="a_tuned.safetensors")
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["format"] == "stylegan-invert latent record" and data["schema_version"] == 1
    assert data["latent"] == "a.npy" and data["shape"] == [8, 512] and data["inputs"] == ["face.png"]
    assert data["generator"] == {"spec": "random:32", "path": "random:32", "sha256": "random:32:0",
                                 "fingerprint": G.source["fingerprint"], "format": "random", "random": True}
    assert data["command"] == "project" and data["tuned"] == "a_tuned.safetensors"
    assert data["created"].startswith("20") and data["stylegan_invert_version"]
    record = lib.read_record(tmp_path / "a.npy")
    assert record.describe() == f"random:32 (network {G.source['fingerprint'][:12]})" and record.random


def test_no_record_unreadable_and_foreign_files(tmp_path):
    assert lib.read_record(tmp_path / "x.npy") is None
    (tmp_path / "x.json").write_text('{"some": "other tool"}')
    assert lib.read_record(tmp_path / "x.npy") is None
    (tmp_path / "x.json").write_text("{broken")
    with pytest.raises(lib.GeneratorChoiceError, match="cannot read latent record .*x.json: .*fix or delete it"):
        lib.read_record(tmp_path / "x.npy")
    (tmp_path / "x.json").write_text(json.dumps({"format": lib.RECORD_FORMAT, "schema_version": 1}))
    with pytest.raises(lib.GeneratorChoiceError, match="names no generator"):
        lib.read_record(tmp_path / "x.npy")
    (tmp_path / "x.json").write_text(json.dumps({"format": lib.RECORD_FORMAT, "schema_version": 9}))
    with pytest.raises(lib.GeneratorChoiceError, match="schema_version 9"):
        lib.read_record(tmp_path / "x.npy")


def test_choose_from_records(tmp_path, sg2_dir):
    G = load(str(sg2_dir / "tiny_ada.pkl"))
    save(tmp_path / "a.npy", G, "tiny")  # a spec that is no file: the recorded path is what gets loaded
    choice = lib.choose_generator([tmp_path / "a.npy", tmp_path / "b.npy"])  # b has no record
    assert (choice.spec, choice.load_spec, choice.chosen_by) == ("tiny", G.source["path"], "record")
    assert choice.expected_fingerprint == G.source["fingerprint"]
    lib.check_loaded(choice, G)
    other = load(str(sg2_dir / "tiny_tf.pkl"))  # the same network from another file: fine
    lib.check_loaded(choice, other)
    with pytest.raises(lib.GeneratorChoiceError, match=r"a.json names tiny \(network 1d40dfb43e57\), but .*"
                                                        r"tiny_ada.pkl now holds network "):
        lib.check_loaded(choice, load("random:32"))


def test_a_recorded_file_that_is_gone_falls_back_to_the_spec(tmp_path):
    G = load("random:32")
    save(tmp_path / "a.npy", G, "random:32")
    data = json.loads((tmp_path / "a.json").read_text())
    data["generator"]["path"] = str(tmp_path / "moved.pkl")
    (tmp_path / "a.json").write_text(json.dumps(data))
    assert lib.choose_generator([tmp_path / "a.npy"]).load_spec == "random:32"


def test_records_of_two_networks_conflict(tmp_path):
    save(tmp_path / "a.npy", load("random:32"), "random:32")
    save(tmp_path / "b.npy", load("random:32:1"), "random:32:1")
    with pytest.raises(lib.GeneratorChoiceError) as info:
        lib.choose_generator([tmp_path / "a.npy", tmp_path / "b.npy"])
    first, second = (load(s).source["fingerprint"][:12] for s in ("random:32", "random:32:1"))
    assert str(info.value) == (f"{tmp_path / 'a.npy'} belongs to random:32 (network {first}) but {tmp_path / 'b.npy'} "
                               f"to random:32:1 (network {second}) (see their records a.json and b.json); latents "
                               f"of different networks cannot be combined")


def test_no_records_default_with_a_note(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="invert.records"):
        choice = lib.choose_generator([tmp_path / "a.npy", tmp_path / "b.npy"])
    assert (choice.spec, choice.chosen_by, choice.expected_fingerprint) == ("ffhq-1024", "default", None)
    assert caplog.messages == [f"note: no record beside {tmp_path / 'a.npy'}, {tmp_path / 'b.npy'} says which "
                               f"generator made them; using ffhq-1024"]


def test_the_users_choice_wins_with_a_warning(tmp_path, caplog):
    save(tmp_path / "a.npy", load("random:32"), "random:32")
    (tmp_path / "b.json").write_text("{broken")  # an unreadable record does not block an explicit choice
    with caplog.at_level(logging.WARNING, logger="invert.records"):
        choice = lib.choose_generator([tmp_path / "a.npy", tmp_path / "b.npy"], override="random:32:1")
        assert (choice.spec, choice.load_spec, choice.chosen_by) == ("random:32:1", "random:32:1", "user")
        lib.check_loaded(choice, load("random:32:1"))
    assert caplog.messages[0].startswith(f"warning: cannot read latent record {tmp_path / 'b.json'}")
    assert caplog.messages[1].startswith(f"warning: {tmp_path / 'a.npy'} was made with random:32 (network ")
    assert "not with random:32:1 (network " in caplog.messages[1]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="invert.records"):
        same = lib.choose_generator([tmp_path / "a.npy"], override="random:32")
        lib.check_loaded(same, load("random:32"))
    assert caplog.messages == []  # the user's choice agrees with the record: nothing to say


def test_a_generator_without_fingerprint_cannot_be_recorded():
    from types import SimpleNamespace

    with pytest.raises(lib.LatentError, match="no network fingerprint"):
        lib.latent_record(SimpleNamespace(source={"path": "x"}), generator_spec="x", command="t")


def test_a_relative_generator_path_is_recorded_absolute(tmp_path, sg2_dir, monkeypatch):
    import shutil

    from invert.checkpoints import load_generator

    (tmp_path / "models").mkdir()
    shutil.copy(sg2_dir / "tiny_ada.pkl", tmp_path / "models" / "g.pkl")
    monkeypatch.chdir(tmp_path)
    G = load_generator("models/g.pkl")
    record = lib.latent_record(G, generator_spec="models/g.pkl", command="project")
    assert record["generator"]["spec"] == "models/g.pkl"
    assert record["generator"]["path"] == str(tmp_path / "models" / "g.pkl")
    save_latent(tmp_path / "a.npy", np.zeros([G.num_ws, G.w_dim], np.float32), record=record)
    monkeypatch.chdir(tmp_path / "models")  # elsewhere, the recorded file is still found
    assert lib.choose_generator([tmp_path / "a.npy"]).load_spec == str(tmp_path / "models" / "g.pkl")
