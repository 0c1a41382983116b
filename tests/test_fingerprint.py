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


@pytest.mark.parametrize("field, value", [("mapping_lr_multiplier", 1.0), ("resample_taps", (1, 2, 1))])
def test_fingerprint_covers_the_settings_shapes_cannot_tell(field, value):
    import dataclasses

    G = load_generator("random:32")
    changed = load_generator("random:32")
    changed.config = dataclasses.replace(G.config, **{field: value})
    assert network_fingerprint(changed) != network_fingerprint(G)


def test_conv_clamp_is_not_part_of_the_network(sg2_dir):
    """ada and TF pickles record conv_clamp 256 for `adalike`; rosinality's conversion of the same weights knows
    no clamp. A run-time clipping that moves no latent: one network, one fingerprint (and one set of
    directions), as for the tiny fixtures."""
    loaded = [load_generator(sg2_dir / f"adalike_{fmt}") for fmt in ("ada.pkl", "tf.pkl", "rosinality.pt")]
    assert [G.config.conv_clamp for G in loaded] == [256.0, 256.0, None]
    assert len({G.source["fingerprint"] for G in loaded}) == 1
