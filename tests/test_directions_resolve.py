"""invert.directions.resolve: names, NAME:K, files and FILE:K, checked against the generator's network."""
import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from invert.directions import registry
from invert.directions.direction_set import make_set, save_direction_set
from invert.directions.resolve import direction_tag, resolve_direction, split_index
from invert.errors import BoundaryError

NUM_WS, W_DIM = 4, 8
FP, OTHER, SHA = "a" * 64, "b" * 64, "c" * 64


def fake_generator(fingerprint=FP, sha=SHA):
    return SimpleNamespace(num_ws=NUM_WS, w_dim=W_DIM, source={"fingerprint": fingerprint, "sha256": sha,
                                                                "path": "/models/ffhq.pkl"})


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def write_boundary(path, vector, **sidecar):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(vector, np.float32).reshape(1, -1))
    if sidecar:
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def write_set(path, fingerprint=FP, k=3, layers=(0, 1)):
    rng = np.random.default_rng(1)
    dset = make_set(rng.standard_normal([k, W_DIM]), np.arange(1.0, k + 1), rng.standard_normal(W_DIM),
                    metadata={"method": "sefa", "layers": list(layers), "network_fingerprint": fingerprint})
    save_direction_set(path, dset)
    return dset


def test_split_and_tags():
    assert split_index("ganspace:12") == ("ganspace", 12) and split_index("smile") == ("smile", None)
    assert split_index("d/x.safetensors:3") == ("d/x.safetensors", 3) and split_index("a:b") == ("a:b", None)
    assert direction_tag("smile") == "smile" and direction_tag("ganspace:12") == "ganspace_12"
    assert direction_tag("d/sefa.safetensors:3") == "sefa_3" and direction_tag("x/glasses.npy") == "glasses"


def test_registered_boundary_by_name(tmp_path):
    path = write_boundary(tmp_path / "smile.npy", np.arange(W_DIM) + 1.0, network_fingerprint=FP)
    registry.register(path, key=FP, name="smile")
    found = resolve_direction("smile", fake_generator())
    assert found.name == "smile" and found.path == path.resolve() and found.scale == 1.0 and found.unit == "W"
    np.testing.assert_allclose(found.direction, unit(np.arange(W_DIM) + 1.0), atol=1e-7)
    assert found.source == f"registered in {registry.user_manifest_path()}" and found.layers is None
    with pytest.raises(BoundaryError, match=r"'smile' is a single direction .*; ':2' picks a direction of a set"):
        resolve_direction("smile:2", fake_generator())


def test_sets_by_name_file_and_component(tmp_path):
    path = tmp_path / "sefa.safetensors"
    dset = write_set(path)
    member = resolve_direction(f"{path}:2", fake_generator())
    np.testing.assert_allclose(member.direction, dset.directions[2], atol=1e-7)  # float32 in the file
    assert member.scale == pytest.approx(3.0) and member.unit == "sigma" and member.layers == [0, 1]
    assert member.name == "sefa_2"
    registry.register(path, key=FP, name="sefa")
    registry.register(path, key=FP, name="bangs", component=1)
    assert resolve_direction("sefa:0", fake_generator()).scale == pytest.approx(1.0)
    bangs = resolve_direction("bangs", fake_generator())
    assert bangs.name == "bangs" and bangs.scale == pytest.approx(2.0) and bangs.unit == "sigma"
    np.testing.assert_allclose(bangs.direction, dset.directions[1], atol=1e-7)
    with pytest.raises(BoundaryError, match="^sefa is a set of 3 directions; pick one as sefa:K with K in 0-2$"):
        resolve_direction("sefa", fake_generator())
    with pytest.raises(BoundaryError, match=f"^{path} holds 3 directions, numbered 0-2; there is no direction 3$"):
        resolve_direction(f"{path}:3", fake_generator())
    with pytest.raises(BoundaryError, match="'bangs' is direction 1 of .*; use it as 'bangs' without ':0'"):
        resolve_direction("bangs:0", fake_generator())


def test_a_set_of_another_network(tmp_path, caplog):
    path = tmp_path / "s.safetensors"
    write_set(path, fingerprint=OTHER)
    with caplog.at_level(logging.WARNING, logger="invert.directions.resolve"):
        resolve_direction(f"{path}:0", fake_generator())  # named by path: a warning
    assert f"direction set {path} was made for network bbbbbbbbbbbb..., not this one (aaaaaaaaaaaa...)" in caplog.text
    registry.register(path, key=FP, name="s")
    with pytest.raises(BoundaryError, match="'s' .* was made for network bbbbbbbbbbbb..., not this one .*; its "
                                            "manifest entry in .* is wrong"):
        resolve_direction("s:0", fake_generator())


def test_missing_name_says_how_to_train_it():
    with pytest.raises(BoundaryError) as info:
        resolve_direction("smile", fake_generator(), generator_spec="ffhq 1024.pkl")
    message = str(info.value)
    assert message.startswith("no direction 'smile' is registered for network aaaaaaaaaaaa...")
    assert str(registry.user_manifest_path()) in message
    # smile is also a published name, of the FFHQ network, which this generator has not been seen to be
    assert ("the published 'smile' belongs to stylegan2-ffhq-config-f (weights ffhq-1024, ffhq-1024-tf, "
            "ffhq-1024-ada), and this generator has not been seen to be that network") in message
    assert message.endswith("train one with: stylegan-invert boundaries train --generator 'ffhq 1024.pkl' "
                            "--attribute smile --samples 10000")
    with pytest.raises(BoundaryError, match="--attribute beard --latents codes.npy --scores scores.csv$"):
        resolve_direction("beard", fake_generator(), generator_spec="g.pkl")


def test_a_registered_boundary_of_another_network_is_refused(tmp_path):
    path = write_boundary(tmp_path / "smile.npy", np.ones(W_DIM), network_fingerprint=OTHER)
    registry.register(path, key=FP, name="smile")
    with pytest.raises(BoundaryError, match=r"boundary 'smile' \(.*smile.npy\) was made for network "
                                            r"bbbbbbbbbbbb..., not this one \(aaaaaaaaaaaa...\)"):
        resolve_direction("smile", fake_generator())


def test_schema_1_sidecars_are_checked_against_the_file_they_name(tmp_path):
    """A sidecar from before fingerprints names a checkpoint sha256: it only identifies the network when the
    boundary was found under that same file's key (schema 1)."""
    lib_manifest = registry.user_manifest_path()
    lib_manifest.parent.mkdir(parents=True)
    old = write_boundary(tmp_path / "old.npy", np.ones(W_DIM), generator_sha256="e" * 64)
    lib_manifest.write_text(json.dumps({"generators": {SHA: {"old": {"file": str(old)}}}}))
    with pytest.raises(BoundaryError, match="'old' .* was trained for generator eeeeeeeeeeee..., not this one "
                                            r"\(cccccccccccc...\); its manifest entry"):
        resolve_direction("old", fake_generator())
    good = write_boundary(tmp_path / "good.npy", np.ones(W_DIM), generator_sha256=SHA)
    lib_manifest.write_text(json.dumps({"generators": {SHA: {"good": {"file": str(good)}}}}))
    assert resolve_direction("good", fake_generator()).path == good
    # migrated under the fingerprint: another file of the network (another sha256) finds it, sidecar and all
    assert resolve_direction("good", fake_generator(sha="d" * 64)).path == good


def test_explicit_path_of_another_network_only_warns(tmp_path, caplog):
    path = write_boundary(tmp_path / "smile.npy", np.ones(W_DIM), network_fingerprint=OTHER)
    with caplog.at_level(logging.WARNING, logger="invert.directions.resolve"):
        found = resolve_direction(str(path), fake_generator())
    assert found.name == "smile" and found.source == f"file {path}"
    assert "was made for network bbbbbbbbbbbb..., not this one" in caplog.text
    with pytest.raises(BoundaryError, match="is a boundary file holding one direction; ':1' picks a direction"):
        resolve_direction(f"{path}:1", fake_generator())


def test_registered_file_missing(tmp_path):
    path = write_boundary(tmp_path / "smile.npy", np.ones(W_DIM))
    registry.register(path, key=FP, name="smile")
    path.unlink()
    with pytest.raises(BoundaryError, match="which does not exist; train or register it again: .* --force$"):
        resolve_direction("smile", fake_generator())


TINY = ["tiny_ada.pkl", "tiny_tf.pkl", "tiny_rosinality.pt", "tiny_sg3repo.pkl"]
SMALL = ["small_ada.pkl", "small_tf.pkl", "small_rosinality.pt"]


@pytest.fixture(scope="module")
def fixture_networks(sg2_dir):
    from invert.checkpoints import load_generator

    return {name: load_generator(sg2_dir / name) for name in TINY + SMALL}


@pytest.mark.parametrize("registered_with", TINY)
def test_a_boundary_belongs_to_the_network_not_the_file(fixture_networks, tmp_path, registered_with):
    """Registered through one format of the tiny network, found through every other; not through small_*."""
    G = fixture_networks[registered_with]
    path = write_boundary(tmp_path / "b.npy", np.ones(G.w_dim), network_fingerprint=G.source["fingerprint"])
    registry.register(path, key=registry.network_key(G), name="glasses", legacy=registry.legacy_key(G))
    for other in TINY:
        assert resolve_direction("glasses", fixture_networks[other]).path == path
    for small in SMALL:
        with pytest.raises(BoundaryError, match="no direction 'glasses' is registered for network"):
            resolve_direction("glasses", fixture_networks[small])


def test_a_missing_set_name_suggests_discovery():
    with pytest.raises(BoundaryError, match="no direction 'ganspace' is registered .*; find directions of this "
                                            "network with: stylegan-invert boundaries discover --generator g.pkl "
                                            "--method ganspace$"):
        resolve_direction("ganspace:3", fake_generator(), generator_spec="g.pkl")
    with pytest.raises(BoundaryError, match="--method sefa$"):
        resolve_direction("sefa:0", fake_generator(), generator_spec="g.pkl")


def test_a_set_that_does_not_fit_the_generator(tmp_path):
    path = tmp_path / "s.safetensors"
    write_set(path, layers=(0, 6))
    with pytest.raises(BoundaryError, match=f"direction set {path} was made for layers up to 6; this generator has "
                                            f"4 layers, numbered 0-3"):
        resolve_direction(f"{path}:0", fake_generator())
    wide = fake_generator()
    wide.w_dim = 16
    with pytest.raises(BoundaryError, match="holds directions of w_dim 8; this generator has w_dim 16"):
        resolve_direction(f"{path}:0", wide)
