"""Conformance: every fixture checkpoint loads and reproduces the official mapping and synthesis outputs."""
import numpy as np
import pytest
import torch

import invert
from invert.checkpoints import load_generator, read_checkpoint, save_generator
from invert.errors import CheckpointError
from numerics import assert_close_to_scale

# Our networks against the official code's outputs: other kernels, other summation orders, so float32
# agreement to rounding relative to the values' magnitude (measured within 2e-6 of it), not bit for bit.
pytestmark = pytest.mark.numerics
OFFICIAL_RTOL = 1e-5

CONFIGS = {
    # cfg: (resolution, num_ws, mapping layers, channels, conv_clamp recorded by ada/stylegan3 files)
    "tiny": (32, 8, 8, {4: 32, 8: 32, 16: 32, 32: 32}, None),
    "small": (64, 10, 8, {4: 64, 8: 64, 16: 64, 32: 64, 64: 64}, None),
    "adalike": (64, 10, 2, {4: 64, 8: 64, 16: 64, 32: 64, 64: 32}, 256.0),
}
FILES = [(cfg, f"{cfg}_{fmt}") for cfg in CONFIGS for fmt in ("ada.pkl", "tf.pkl", "rosinality.pt")]
FILES.append(("tiny", "tiny_sg3repo.pkl"))
# img_big drives ToRGB past conv_clamp; only formats that record conv_clamp can match it.
RECORDS_CLAMP = {"ada.pkl", "sg3repo.pkl", "tf.pkl"}

_cache = {}


def loaded(sg2_dir, filename):
    if filename not in _cache:
        _cache[filename] = load_generator(sg2_dir / filename)
    return _cache[filename]


def expected(sg2_dir, cfg):
    return np.load(sg2_dir / f"{cfg}_expected.npz", allow_pickle=False)


def max_abs(a, b):
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


@pytest.mark.parametrize("cfg,filename", FILES)
def test_config_read_from_checkpoint(sg2_dir, cfg, filename):
    resolution, num_ws, mapping_layers, channels, _ = CONFIGS[cfg]
    G = loaded(sg2_dir, filename)
    assert (G.resolution, G.num_ws, G.config.mapping_layers, G.z_dim, G.w_dim) == (resolution, num_ws,
                                                                                    mapping_layers, 512, 512)
    assert G.config.channels == channels
    assert G.w_avg.shape == (512,)
    assert not G.is_random and len(G.source["sha256"]) == 64


@pytest.mark.parametrize("cfg,filename", FILES)
def test_mapping_matches_official(sg2_dir, cfg, filename):
    G, e = loaded(sg2_dir, filename), expected(sg2_dir, cfg)
    z = torch.from_numpy(e["z"])
    with torch.no_grad():
        assert_close_to_scale(G.mapping(z), e["ws"], rtol=OFFICIAL_RTOL)
        assert_close_to_scale(G.mapping(z, truncation_psi=float(e["truncation_psi"])), e["ws_trunc"],
                              rtol=OFFICIAL_RTOL)
        # psi=256 multiplies a one-ulp difference in ws (~5e-6 at |w|~50) by 256: 2e-3 is that, no more.
        assert max_abs(G.mapping(z, truncation_psi=float(e["big_psi"])), e["ws_big"]) < 2e-3
    assert max_abs(G.w_avg, e["w_avg"]) < 1e-6  # a stored buffer, read, not computed


@pytest.mark.parametrize("cfg,filename", FILES)
def test_synthesis_matches_official(sg2_dir, cfg, filename):
    G, e = loaded(sg2_dir, filename), expected(sg2_dir, cfg)
    with torch.no_grad():
        for ws_key, img_key, mode in [("ws", "img", "const"), ("ws_trunc", "img_trunc", "const"),
                                      ("ws_mixed", "img_mixed", "const"), ("ws", "img_nonoise", "none")]:
            images = G.synthesis(torch.from_numpy(e[ws_key]), noise_mode=mode)
            assert images.shape == e[img_key].shape
            assert_close_to_scale(images, e[img_key], rtol=OFFICIAL_RTOL)
        big = G.synthesis(torch.from_numpy(e["ws_big"]))
    if filename.split("_", 1)[1] in RECORDS_CLAMP:
        assert max_abs(big, e["img_big"]) < 2e-2  # |img_big| reaches 1080: 2e-5 of it


@pytest.mark.parametrize("cfg,filename", FILES)
def test_noise_buffers_match(sg2_dir, cfg, filename):
    G, e = loaded(sg2_dir, filename), expected(sg2_dir, cfg)
    layers = G.synthesis.noise_layers()
    assert len(layers) == G.num_ws - 1
    for n, layer in enumerate(layers):
        assert max_abs(layer.noise_const, e[f"noise_const_{n}"]) == 0


def test_conv_clamp_taken_from_format_defaults(sg2_dir):
    assert loaded(sg2_dir, "adalike_ada.pkl").config.conv_clamp == 256
    assert loaded(sg2_dir, "adalike_tf.pkl").config.conv_clamp == 256
    assert loaded(sg2_dir, "adalike_rosinality.pt").config.conv_clamp is None
    assert loaded(sg2_dir, "tiny_sg3repo.pkl").config.conv_clamp is None  # written with --fp32: explicit None


def test_explicit_noise_maps_replace_stored_ones(sg2_dir):
    G, e = loaded(sg2_dir, "tiny_ada.pkl"), expected(sg2_dir, "tiny")
    ws = torch.from_numpy(e["ws"][:2])
    stored = [layer.noise_const.clone() for layer in G.synthesis.noise_layers()]
    with torch.no_grad():
        same = G.synthesis(ws, noise=stored)
        assert_close_to_scale(same, e["img"][:2], rtol=OFFICIAL_RTOL)
        zeros = G.synthesis(ws, noise=[torch.zeros_like(n) for n in stored])
        assert_close_to_scale(zeros, e["img_nonoise"][:2], rtol=OFFICIAL_RTOL)
        with pytest.raises(ValueError, match="expected 7 noise maps"):
            G.synthesis(ws, noise=stored[:3])
        with pytest.raises(ValueError, match=r"ws must be \[N, 8, 512\]"):
            G.synthesis(ws[:, :5])


def test_stylegan3_alias_free_refused(sg2_dir):
    with pytest.raises(CheckpointError, match=r"StyleGAN3 \(alias-free\) generator; only StyleGAN2"):
        load_generator(sg2_dir / "tiny_sg3_alias_free.pkl")


def test_own_format_round_trip(sg2_dir, tmp_path):
    G = loaded(sg2_dir, "adalike_ada.pkl")
    path = tmp_path / "adalike.pt"
    save_generator(G, path)
    # our format is plain data: torch's own restricted loader reads it
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "stylegan-invert-generator"
    G2 = load_generator(path)
    assert G2.config == G.config
    assert G2.source["converted_from_sha256"] == G.source["sha256"]
    e = expected(sg2_dir, "adalike")
    with torch.no_grad():
        assert max_abs(G2.synthesis(torch.from_numpy(e["ws_big"])), e["img_big"]) < 2e-2  # 2e-5 of |img_big|


def test_rosinality_training_checkpoint(sg2_dir, tmp_path):
    import argparse

    state = torch.load(sg2_dir / "tiny_rosinality.pt", weights_only=True)
    path = tmp_path / "040000.pt"
    torch.save({"g": state["g_ema"], "d": {"x": torch.zeros(2)}, "g_ema": state["g_ema"],
                "g_optim": {"state": {}, "param_groups": []}, "d_optim": {}, "args": argparse.Namespace(size=32)},
               path)
    G = load_generator(path)
    assert "estimated" in G.source["w_avg"]
    e = expected(sg2_dir, "tiny")
    with torch.no_grad():
        # synthesis does not depend on w_avg; mapping without truncation neither
        assert_close_to_scale(G.synthesis(torch.from_numpy(e["ws"])), e["img"], rtol=OFFICIAL_RTOL)
        assert_close_to_scale(G.mapping(torch.from_numpy(e["z"])), e["ws"], rtol=OFFICIAL_RTOL)
    # the estimate is the mean w of the mapping, close to the true one up to the fixture's N(0, 0.1) offset
    assert float((G.w_avg - torch.from_numpy(e["w_avg"])).abs().mean()) < 0.2


def test_read_checkpoint_reports_format(sg2_dir):
    fmt, state, config, _ = read_checkpoint(sg2_dir / "small_tf.pkl")
    assert fmt == "TensorFlow StyleGAN2 pickle"
    assert config.resolution == 64 and "mapping.w_avg" in state


def test_random_generators_are_seeded_and_marked():
    a, b, c = (load_generator(s) for s in ("random:32", "random:32", "random:32:1"))
    assert a.is_random and a.source["random"] is True
    z = torch.randn(2, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ia, ib, ic = (g(z) for g in (a, b, c))
    assert torch.equal(ia, ib)
    assert float((ia - ic).abs().max()) > 0.1
    assert all(float(layer.noise_strength.abs()) >= 0.05 for layer in a.synthesis.noise_layers())


def test_random_ffhq_has_config_f_shape():
    G = load_generator("random:ffhq-1024")
    assert (G.resolution, G.num_ws, G.config.channels[1024], G.config.channels[64]) == (1024, 18, 32, 512)
    assert sum(p.numel() for p in G.synthesis.parameters()) == pytest.approx(28.2e6, rel=0.05)


def test_lazy_api_exposed():
    assert invert.load_generator is load_generator
