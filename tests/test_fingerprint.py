"""The network fingerprint: one per network, whatever file format it was read from."""
import pytest
import torch

from invert.checkpoints import load_generator
from invert.checkpoints.fingerprint import network_fingerprint

TINY_FORMATS = ["tiny_ada.pkl", "tiny_tf.pkl", "tiny_rosinality.pt", "tiny_sg3repo.pkl"]


def test_every_format_of_one_network_has_one_fingerprint(sg2_dir):
    prints = {name: load_generator(sg2_dir / name).source["fingerprint"] for name in TINY_FORMATS}
    assert len(set(prints.values())) == 1, prints
    assert len(next(iter(prints.values()))) == 64


def test_other_networks_have_other_fingerprints(sg2_dir):
    tiny = load_generator(sg2_dir / "tiny_ada.pkl").source["fingerprint"]
    small = {load_generator(sg2_dir / f"small_{fmt}").source["fingerprint"]
             for fmt in ("ada.pkl", "tf.pkl", "rosinality.pt")}
    assert len(small) == 1 and tiny not in small


def test_fingerprint_follows_the_weights_not_the_object():
    G = load_generator("random:32")
    assert G.source["fingerprint"] == network_fingerprint(G) == load_generator("random:32").source["fingerprint"]
    assert load_generator("random:32:1").source["fingerprint"] != G.source["fingerprint"]
    with torch.no_grad():
        G.synthesis.b8.conv0.weight[0, 0, 0, 0] += 1e-6  # one weight, one float32 step or so
    assert network_fingerprint(G) != G.source["fingerprint"]


@pytest.mark.parametrize("field", ["conv_clamp"])
def test_fingerprint_covers_the_settings_shapes_cannot_tell(field):
    import dataclasses

    G = load_generator("random:32")
    changed = load_generator("random:32")
    changed.config = dataclasses.replace(G.config, **{field: 256.0})
    assert network_fingerprint(changed) != network_fingerprint(G)
