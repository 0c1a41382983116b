"""invert.tuning.update: which tensors an update holds, applying it without touching G, blending updates."""
import copy

import numpy as np
import pytest
import torch

from tuning_helpers import directly_updated, random_update

import invert
from invert.errors import TuningError
from invert.render import synthesize
from invert.tuning import FULL, apply_update, blend_updates, check_rank, layout
from invert.tuning.update import TunedUpdate, factorised, initial_tensors, tuned_modules

# Images through weights that differ by a few float32 roundings (W + up @ down in float32 against one rounding
# of the float64 sum): measured up to 4e-6 on images in [-1, 1]; 1e-4 is 1/80 of an 8-bit level.
IMAGE_ATOL = 1e-4


@pytest.fixture(scope="module")
def G(sg2_dir):
    return invert.load_generator(sg2_dir / "tiny_ada.pkl")


@pytest.fixture(scope="module")
def ws(G):
    z = torch.randn([3, G.z_dim], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return G.mapping(z)


def _state(G):
    return {k: v.clone() for k, v in G.state_dict().items()}


def test_layout_holds_conv_weights_and_biases_of_every_modulated_conv(G):
    full = layout(G, FULL)
    prefixes = [prefix for prefix, _ in tuned_modules(G)]
    # tiny (32x32): b4 has conv1 + torgb, b8..b32 conv0 + conv1 + torgb
    assert len(prefixes) == 2 + 3 * 3 and prefixes[:3] == ["synthesis.b4.conv1", "synthesis.b4.torgb", "synthesis.b8.conv0"]
    params = dict(G.named_parameters())
    assert list(full) == [f"{p}.{a}.delta" for p in prefixes for a in ("weight", "bias")]
    assert all(tuple(params[key[: -len(".delta")]].shape) == shape for key, shape in full.items())
    assert not any("affine" in key or "noise" in key or "const" in key or "mapping" in key for key in full)


def test_low_rank_layout_factors_conv_weights_and_keeps_narrow_ones_full(G):
    four = layout(G, 4)
    assert four["synthesis.b8.conv0.weight.delta_up"] == (32, 4)
    assert four["synthesis.b8.conv0.weight.delta_down"] == (4, 32 * 9)
    # ToRGB [3, 32, 1, 1]: rank 4 factors would hold 4 * (3 + 32) = 140 values > 96, so it stays full
    assert four["synthesis.b8.torgb.weight.delta"] == (3, 32, 1, 1)
    assert layout(G, 1)["synthesis.b8.torgb.weight.delta_up"] == (3, 1)
    assert four["synthesis.b8.conv0.bias.delta"] == (32,)
    # [32, 32, 3, 3] holds 9216 values; rank R factors hold R * (32 + 288): fewer up to R = 28
    assert factorised((32, 32, 3, 3), 28) and not factorised((32, 32, 3, 3), 29)
    assert not factorised((32, 32, 3, 3), FULL)
    values = {rank: sum(int(np.prod(s)) for s in layout(G, rank).values()) for rank in (FULL, 1, 4, 16)}
    assert values[1] < values[4] < values[16] < values[FULL]


@pytest.mark.parametrize("rank, expected", [("full", "full"), (4, 4), ("16", 16)])
def test_check_rank_accepts_full_and_positive_integers(rank, expected):
    assert check_rank(rank) == expected


@pytest.mark.parametrize("rank", [0, -2, "four", 2.5, True, None])
def test_check_rank_refuses_anything_else(rank):
    with pytest.raises(TuningError, match="rank must be 'full' or a positive integer"):
        check_rank(rank)


@pytest.mark.parametrize("rank", [FULL, 1, 4])
def test_the_starting_update_renders_exactly_the_untuned_images(G, ws, rank):
    start = TunedUpdate(rank=rank, tensors=initial_tensors(G, rank, seed=1), fingerprint=G.source["fingerprint"])
    if rank != FULL:  # the random factor is random, the other one zero
        assert any(key.endswith("delta_down") and t.abs().sum() > 0 for key, t in start.tensors.items())
    tuned = apply_update(G, start)
    # W + 0 is W bit for bit, so the same convolutions run on the same numbers: exact equality is real here
    assert np.array_equal(synthesize(tuned, ws), synthesize(G, ws))


def test_apply_update_equals_directly_updated_weights_and_leaves_G_alone(G, ws):
    update = random_update(G, 4, seed=2)
    before = _state(G)
    tuned = apply_update(G, update)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    direct = directly_updated(G, [(update, 1.0)])
    ours, theirs, untuned = synthesize(tuned, ws), synthesize(direct, ws), synthesize(G, ws)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=IMAGE_ATOL)
    assert np.abs(ours - untuned).max() > 100 * IMAGE_ATOL  # the update does change the images
    # an edit rendered through the tuned generator is the edit rendered with the updated weights
    edited = ws + 0.5 * torch.randn(ws.shape, generator=torch.Generator().manual_seed(9))
    np.testing.assert_allclose(synthesize(tuned, edited), synthesize(direct, edited), rtol=0, atol=IMAGE_ATOL)


def test_apply_update_shares_every_untouched_tensor(G):
    update = random_update(G, FULL, seed=3)
    tuned = apply_update(G, update)
    mine, theirs = dict(G.named_parameters()), dict(tuned.named_parameters())
    changed = set(update.parameter_names)
    for name, tensor in theirs.items():
        assert (tensor.data_ptr() == mine[name].data_ptr()) == (name not in changed), name
    assert all(a.data_ptr() == b.data_ptr() for a, b in zip(G.buffers(), tuned.buffers()))
    assert tuned.source["fingerprint"] == G.source["fingerprint"]
    assert tuned.source["tuned"] == {"file": None, "rank": "full", "scale": 1.0, "tensors": len(update.tensors)}
    assert "tuned" not in G.source
    assert not any(p.requires_grad for p in tuned.parameters())


def test_scale_zero_is_the_untuned_generator_and_scale_follows_the_delta(G, ws):
    update = random_update(G, 4, seed=4)
    assert np.array_equal(synthesize(apply_update(G, update, scale=0.0), ws), synthesize(G, ws))
    half = apply_update(G, update, scale=0.5)
    direct = directly_updated(G, [(update, 0.5)])
    np.testing.assert_allclose(synthesize(half, ws), synthesize(direct, ws), rtol=0, atol=IMAGE_ATOL)


def test_blending_two_low_rank_updates_stays_low_rank_and_equals_the_weighted_sum(G, ws):
    a, b = random_update(G, 4, seed=5), random_update(G, 1, seed=6)
    t = 0.3
    blend = blend_updates([(a, 1 - t), (b, t)])
    assert blend.rank == 5 and blend.blended
    assert blend.tensors["synthesis.b8.conv0.weight.delta_up"].shape == (32, 5)
    direct = directly_updated(G, [(a, 1 - t), (b, t)])
    np.testing.assert_allclose(synthesize(apply_update(G, blend), ws), synthesize(direct, ws), rtol=0, atol=IMAGE_ATOL)


def test_blending_with_a_full_update_or_none(G, ws):
    a, b = random_update(G, FULL, seed=7), random_update(G, 4, seed=8)
    blend = blend_updates([(a, 0.5), (b, 0.5)])
    assert blend.rank == FULL and all(key.endswith(".delta") for key in blend.tensors)
    direct = directly_updated(G, [(a, 0.5), (b, 0.5)])
    np.testing.assert_allclose(synthesize(apply_update(G, blend), ws), synthesize(direct, ws), rtol=0, atol=IMAGE_ATOL)
    # an untuned end of a morph counts as zero: (1 - t) * 0 + t * Δb is Δb scaled by t
    only_b = blend_updates([(None, 0.6), (b, 0.4)])
    np.testing.assert_allclose(synthesize(apply_update(G, only_b), ws), synthesize(apply_update(G, b, scale=0.4), ws),
                               rtol=0, atol=IMAGE_ATOL)
    with pytest.raises(TuningError, match="nothing to blend"):
        blend_updates([(None, 1.0)])


def test_updates_of_another_network_are_refused_naming_both(G):
    other = invert.load_generator("random:32", verbose=False)
    update = random_update(other, 4)
    with pytest.raises(TuningError) as error:
        apply_update(G, update)
    message = str(error.value)
    assert other.source["fingerprint"][:12] in message and G.source["fingerprint"][:12] in message
    assert "random:32" in message and "tiny_ada.pkl" in message
    with pytest.raises(TuningError, match="cannot blend updates of different networks"):
        blend_updates([(update, 0.5), (random_update(G, 4), 0.5)])


def test_apply_update_checks_names_shapes_dtype_and_values(G):
    good = random_update(G, 4)
    broken = copy.deepcopy(good)
    broken.tensors.pop("synthesis.b8.conv0.bias.delta")
    with pytest.raises(TuningError, match="lacks 'synthesis.b8.conv0.bias.delta'"):
        apply_update(G, broken)
    broken = copy.deepcopy(good)
    broken.tensors["synthesis.b8.conv0.weight.delta_up"] = torch.zeros(32, 3)
    with pytest.raises(TuningError, match=r"delta_up is \[32, 3\], this generator needs \[32, 4\]"):
        apply_update(G, broken)
    broken = copy.deepcopy(good)
    broken.tensors["synthesis.b4.conv1.affine.weight.delta"] = torch.zeros(32, 512)
    with pytest.raises(TuningError, match="holds 'synthesis.b4.conv1.affine.weight.delta'"):
        apply_update(G, broken)
    broken = copy.deepcopy(good)
    broken.tensors["synthesis.b8.conv0.bias.delta"] = broken.tensors["synthesis.b8.conv0.bias.delta"].double()
    with pytest.raises(TuningError, match="is float64, expected float32"):
        apply_update(G, broken)
    broken = copy.deepcopy(good)
    broken.tensors["synthesis.b8.conv0.bias.delta"][3] = float("nan")
    with pytest.raises(TuningError, match="NaN or infinite"):
        apply_update(G, broken)


@pytest.mark.parametrize("ranks, rank", [((2, 1), 3), ((4, 1), 5), ((4, FULL), FULL), ((2,), 2)])
def test_a_blend_becomes_a_plain_update_that_saves_loads_and_renders_as_the_blend(G, ws, tmp_path, ranks, rank):
    from invert.tuning import load_update, save_update
    from invert.tuning.update import blend_as_update

    parts = [random_update(G, r, seed=10 + i) for i, r in enumerate(ranks)]
    blend = blend_updates([(u, w) for u, w in zip(parts, (0.5, 0.5))])
    update = blend_as_update(G, blend)
    assert update.rank == rank and not update.blended
    assert [part["weight"] for part in update.settings["blended_from"]] == [0.5] * len(ranks)
    assert list(update.tensors) == list(layout(G, rank))
    # ranks 2 + 1: the conv factors are the blend's own; ToRGB [3, 32, 1, 1], factored in both parts, is stored
    # in full at rank 3 (3 * 35 > 96 values), so it is multiplied out
    if ranks == (2, 1):
        assert update.tensors["synthesis.b8.conv0.weight.delta_up"] is blend.tensors["synthesis.b8.conv0.weight.delta_up"]
        assert update.tensors["synthesis.b8.torgb.weight.delta"].shape == (3, 32, 1, 1)
        assert "synthesis.b8.torgb.weight.delta_up" in blend.tensors
    loaded = load_update(save_update(tmp_path / "m_tuned.safetensors", update), G)
    assert all(torch.equal(loaded.tensors[k], update.tensors[k]) for k in update.tensors)
    direct = directly_updated(G, [(u, 0.5) for u in parts])
    np.testing.assert_allclose(synthesize(apply_update(G, loaded), ws), synthesize(direct, ws), rtol=0, atol=IMAGE_ATOL)


def test_a_blend_whose_factors_do_not_fit_is_refused(G, ws):
    """A blend is checked by its factors' shapes (not by multiplying them out on every morph frame)."""
    a, b = random_update(G, 2, seed=1), random_update(G, 3, seed=2)
    blend = blend_updates([(a, 0.5), (b, 0.5)])
    key = next(k for k in blend.tensors if k.endswith(".delta_down"))
    blend.tensors[key] = blend.tensors[key][:, :-1]
    with pytest.raises(TuningError, match=f"{key[:-len('.delta_down')]} does not fit this generator"):
        apply_update(G, blend)
