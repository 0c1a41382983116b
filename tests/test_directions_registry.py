"""invert.directions.registry: manifests keyed by network fingerprint, schema 1's file keys, concurrency."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from invert.directions import registry as lib
from invert.errors import BoundaryError

FP = "a" * 64          # a network fingerprint
OTHER = "b" * 64
SHA = "c" * 64         # the sha256 of a checkpoint file (schema 1's key)


def write_boundary(path, vector):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(vector, np.float32).reshape(1, -1))
    return path


def test_shipped_manifest_documents_the_schema_and_is_empty():
    shipped = Path(lib.__file__).resolve().parents[2] / "boundaries" / "manifest.json"
    assert shipped in lib.package_manifest_paths()
    raw = json.loads(shipped.read_text())
    assert raw["schema_version"] == lib.SCHEMA_VERSION and raw["networks"] == {}
    readme = (shipped.parent / "README.md").read_text()
    assert "boundaries train" in readme and '"networks"' in readme and "fingerprint" in readme


def test_register_list_and_find(tmp_path):
    path = write_boundary(lib.user_boundaries_dir() / lib.key_folder(FP) / "smile.npy", np.ones(8))
    manifest = lib.register(path, key=FP, name="smile", info={"space": "w"})
    assert manifest == lib.user_manifest_path()
    stored = json.loads(manifest.read_text())
    assert stored == {"schema_version": 2, "networks": {FP: {"smile": {"file": "aaaaaaaaaaaaaaaa/smile.npy",
                                                                        "space": "w"}}}}
    entry = lib.find_entry("smile", FP)
    assert entry.path == path.resolve() and entry.info == {"space": "w"} and entry.component is None
    assert [(e.name, e.key, e.legacy) for e in lib.list_entries(FP)] == [("smile", FP, False)]
    assert lib.list_entries(OTHER) == [] and lib.find_entry("smile", OTHER) is None


def test_a_set_and_one_of_its_directions(tmp_path):
    path = tmp_path / "sefa.safetensors"
    path.write_bytes(b"")  # the registry only records the file; resolve reads it
    lib.register(path, key=FP, name="sefa")
    lib.register(path, key=FP, name="bangs", component=3)
    entries = {e.name: e for e in lib.list_entries(FP)}
    assert entries["sefa"].component is None and entries["bangs"].component == 3
    stored = json.loads(lib.user_manifest_path().read_text())["networks"][FP]
    assert stored["bangs"] == {"file": str(path.resolve()), "component": 3}
    with pytest.raises(lib.NameTakenError, match="'bangs' is already registered for this network in .* "
                                                 r"\(.*sefa.safetensors component 3\); choose another name"):
        lib.register(path, key=FP, name="bangs", component=4)


def test_replacing_an_entry_needs_force(tmp_path):
    first = write_boundary(tmp_path / "one.npy", np.ones(8))
    second = write_boundary(tmp_path / "two.npy", -np.ones(8))
    lib.register(first, key=FP, name="smile")
    lib.register(first, key=FP, name="smile")  # the same file again is fine
    with pytest.raises(lib.NameTakenError, match="'smile' is already registered for this network in .*; choose "
                                                 "another name, or replace it$"):
        lib.check_registration(FP, "smile", second)
    with pytest.raises(lib.NameTakenError):
        lib.register(second, key=FP, name="smile")
    lib.register(second, key=FP, name="smile", force=True)
    assert lib.find_entry("smile", FP).path == second.resolve()


def test_user_manifest_wins_over_package(tmp_path, monkeypatch):
    package = tmp_path / "pkg" / "manifest.json"
    write_boundary(package.parent / "smile.npy", np.ones(8))
    write_boundary(package.parent / "age.npy", np.ones(8))
    package.write_text(json.dumps({"schema_version": 2, "networks": {
        FP: {"smile": {"file": "smile.npy"}, "age": {"file": "age.npy"}}}}))
    monkeypatch.setattr(lib, "package_manifest_paths", lambda: [package])
    user = write_boundary(tmp_path / "user_smile.npy", -np.ones(8))
    lib.register(user, key=FP, name="smile")
    assert lib.find_entry("smile", FP).path == user.resolve()
    assert lib.find_entry("age", FP).path == (package.parent / "age.npy").resolve()
    assert [e.name for e in lib.list_entries()] == ["smile", "smile", "age"]


def test_schema_1_manifests_keep_working_and_move_to_the_fingerprint(tmp_path):
    """Entries keyed by a checkpoint's sha256 are found for the generator loaded from that file, and moved
    under its network's fingerprint then, so other formats of the network find them from then on."""
    old = write_boundary(lib.user_boundaries_dir() / "cccccccccccccccc" / "smile.npy", np.ones(8))
    lib.user_manifest_path().write_text(json.dumps({"schema_version": 1, "generators": {
        SHA: {"smile": {"file": "cccccccccccccccc/smile.npy", "space": "w"}}, OTHER: {"x": {"file": "x.npy"}}}}))
    assert lib.find_entry("smile", FP) is None  # another file of the network: not (yet) found
    entry = lib.find_entry("smile", FP, legacy=SHA)
    assert entry.path == old.resolve() and entry.legacy
    stored = json.loads(lib.user_manifest_path().read_text())
    assert stored["schema_version"] == 2
    assert stored["networks"] == {FP: {"smile": {"file": "cccccccccccccccc/smile.npy", "space": "w"}}}
    assert stored["generators"] == {OTHER: {"x": {"file": "x.npy"}}}  # others' entries stay until their turn
    assert lib.find_entry("smile", FP).path == old.resolve()  # now found by the fingerprint alone


def test_registering_moves_the_legacy_entries_too(tmp_path):
    lib.user_manifest_path().parent.mkdir(parents=True)
    lib.user_manifest_path().write_text(json.dumps({"generators": {SHA: {"age": {"file": "/x/age.npy"}}}}))
    lib.register(write_boundary(tmp_path / "smile.npy", np.ones(8)), key=FP, name="smile", legacy=SHA)
    stored = json.loads(lib.user_manifest_path().read_text())
    assert set(stored["networks"][FP]) == {"age", "smile"} and "generators" not in stored


def test_malformed_manifests(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{not json")
    with pytest.raises(BoundaryError, match="cannot read boundary manifest .*manifest.json"):
        lib.read_manifest(path)
    path.write_text(json.dumps({"schema_version": 2}))
    with pytest.raises(BoundaryError, match="has no 'networks' object"):
        lib.read_manifest(path)
    path.write_text(json.dumps({"networks": {FP: {"smile": "smile.npy"}}}))
    with pytest.raises(BoundaryError, match='must be {"name": {"file": "relative/path.npy", ...}}'):
        lib.read_manifest(path)
    path.write_text(json.dumps({"networks": {FP: {"smile": {"file": "s.safetensors", "component": -1}}}}))
    with pytest.raises(BoundaryError, match="the entries of a+ must be"):
        lib.read_manifest(path)
    path.write_text(json.dumps({"schema_version": 3, "networks": {}}))
    with pytest.raises(BoundaryError, match="schema_version 3; this version of stylegan-invert reads 1 and 2"):
        lib.read_manifest(path)


def test_keys_and_names():
    from types import SimpleNamespace

    with pytest.raises(BoundaryError, match="no network fingerprint"):
        lib.network_key(SimpleNamespace(source={"sha256": SHA}))
    assert lib.legacy_key(SimpleNamespace(source={"sha256": SHA})) == SHA
    assert lib.legacy_key(SimpleNamespace(source={})) is None
    with pytest.raises(BoundaryError, match="must be letters, digits"):
        lib.check_name("../smile")
    assert lib.key_folder("random:32:0") == "random_32_0"


REGISTER_MANY = """
import sys
from invert.directions import registry
for i in range(int(sys.argv[2])):
    registry.register(sys.argv[3], key="a" * 64, name=f"{sys.argv[1]}_{i}")
"""


def test_parallel_registrations_never_lose_an_entry(tmp_path):
    """Four processes register 10 names each at once; the manifest's lock serialises the read-modify-writes."""
    target = write_boundary(tmp_path / "b.npy", np.ones(8))
    script = tmp_path / "register_many.py"
    script.write_text(REGISTER_MANY)
    workers = [subprocess.Popen([sys.executable, str(script), f"w{k}", "10", str(target)], stderr=subprocess.PIPE)
               for k in range(4)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read().decode()
    names = set(json.loads(lib.user_manifest_path().read_text())["networks"][FP])
    assert names == {f"w{k}_{i}" for k in range(4) for i in range(10)}
