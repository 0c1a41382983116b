"""invert.tuning.pivotal (and its locality regulariser) on the 32x32 `tiny` fixture, a few steps each;
plus the characterisation tests that hold the library to bench/results/tuning-*.md."""
import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from projection_helpers import render_in_domain

import invert
from invert import projector
from invert.errors import ImageError, LatentError, TuningError
from invert.images import from_uint8, to_uint8
from invert.losses import pixel_mse
from invert.metrics import psnr
from invert.render import synthesize
from invert.tuning import FULL, Locality, apply_update, load_update, save_update, tune
from invert.tuning.locality import regularising_latents, resolve


@pytest.fixture(scope="module")
def G(sg2_dir):
    return invert.load_generator(sg2_dir / "tiny_ada.pkl")


@pytest.fixture(scope="module")
def target(G):
    return render_in_domain(G, 1, seed=11)[0]


@pytest.fixture(scope="module")
def pivot(G, target):
    """A rough W+ pivot: 20 steps from the mean latent, pixel MSE only."""
    return projector.project(G, target, num_steps=20, perceptual=None).ws


def _float(target):
    return torch.from_numpy(from_uint8(target))


def _psnr(target, images):
    return psnr(target, to_uint8(images)[0])


@pytest.mark.parametrize("rank", [FULL, 4])
def test_tuning_improves_the_reconstruction_and_leaves_G_alone(G, target, pivot, rank):
    before = copy.deepcopy(G.state_dict())
    result = tune(G, pivot, target, steps=25, rank=rank, perceptual=None, lr=3e-3)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert result.steps == 25 and result.history.shape == (25,) and not result.interrupted
    assert result.loss == pytest.approx(float(result.history.min()))
    assert result.loss < 0.7 * float(result.history[0])
    untuned = projector.render(G, pivot)
    assert _psnr(target, result.images) > _psnr(target, untuned) + 1.0
    assert result.update.rank == rank and result.update.fingerprint == G.source["fingerprint"]
    assert result.update.source["path"].endswith("tiny_ada.pkl")
    assert result.settings["steps_done"] == 25 and result.settings["rank"] == rank


def test_the_returned_images_are_the_tuned_generator_rendering_the_pivot(G, target, pivot, tmp_path):
    result = tune(G, pivot, target, steps=5, rank=4, perceptual=None, lr=3e-3)
    path = save_update(tmp_path / "t_tuned.safetensors", result.update)
    tuned = apply_update(G, load_update(path, G))
    # the same weights through the same module: identical floats
    assert np.array_equal(synthesize(tuned, pivot), result.images.numpy())
    # the loss the loop recorded is the loss of what it rendered: its best step's image gives its best loss
    # (float32 sums in a different order: rtol 1e-5)
    best = pixel_mse(result.images, _float(target))
    assert float(best) == pytest.approx(result.loss, rel=1e-5)


def test_zero_steps_returns_the_untuned_generator_exactly(G, target, pivot):
    result = tune(G, pivot, target, steps=0, rank=4, perceptual=None)
    assert result.steps == 0 and result.history.shape == (0,)
    assert np.array_equal(result.images.numpy(), projector.render(G, pivot).numpy())
    assert all(not t.any() for k, t in result.update.tensors.items() if not k.endswith("delta_down"))


def test_the_same_seed_repeats_exactly_on_the_cpu(G, target, pivot):
    a = tune(G, pivot, target, steps=4, rank=4, perceptual=None, seed=3)
    b = tune(G, pivot, target, steps=4, rank=4, perceptual=None, seed=3)
    assert all(torch.equal(a.update.tensors[k], b.update.tensors[k]) for k in a.update.tensors)


def test_given_noise_maps_stay_fixed_and_are_used(G, target, pivot):
    maps = [torch.randn([1, 1, *shape], generator=torch.Generator().manual_seed(i))
            for i, shape in enumerate(G.synthesis.noise_shapes())]
    kept = [m.clone() for m in maps]
    result = tune(G, pivot, target, noise=maps, steps=3, rank=1, perceptual=None)
    assert all(torch.equal(m, k) for m, k in zip(maps, kept))
    tuned = apply_update(G, result.update)
    with torch.no_grad():
        with_maps = tuned.synthesis(pivot, noise=maps)
    assert np.array_equal(result.images.numpy(), with_maps.numpy())
    # step 0's loss is the untuned render with those maps
    with torch.no_grad():
        start = pixel_mse(G.synthesis(pivot, noise=maps), _float(target))
    assert float(result.history[0]) == pytest.approx(float(start), rel=1e-5)


def test_a_mask_limits_the_loss_to_known_pixels(G, target, pivot):
    mask = np.zeros((G.resolution, G.resolution), np.float32)
    mask[:, : G.resolution // 2] = 1
    result = tune(G, pivot, target, steps=1, rank=1, perceptual=None, mask=mask)
    with torch.no_grad():
        untuned = G.synthesis(pivot)
    known = pixel_mse(untuned, _float(target), torch.from_numpy(mask)[None, None])
    assert float(result.history[0]) == pytest.approx(float(known), rel=1e-5)
    assert result.settings["masked"]


def test_a_perceptual_loss_is_built_from_its_name(G, target, pivot):
    result = tune(G, pivot, target, steps=2, rank=1, perceptual="vgg", vgg_weights="random:0")
    assert result.settings["perceptual"] == "vgg" and result.settings["perceptual_weight"] == 1.0
    assert float(result.history[0]) > float(pixel_mse(projector.render(G, pivot),
                                                       _float(target)))


def test_locality_starts_at_zero_and_holds_the_neighbourhood(G, target, pivot):
    free = tune(G, pivot, target, steps=15, rank=FULL, perceptual=None, lr=3e-3)
    held = tune(G, pivot, target, steps=15, rank=FULL, perceptual=None, lr=3e-3,
                locality=Locality(weight=10.0, samples=2))
    assert free.history_locality is None and held.history_locality.shape == (15,)
    # step 0: the update is zero, so the tuned and untuned renders are the same floats
    assert float(held.history_locality[0]) == 0.0 and float(held.history_locality[1:].max()) > 0
    assert held.settings["locality"] == {"weight": 10.0, "alpha": 30.0, "samples": 2, "truncation": 0.5}
    near = regularising_latents(G, pivot, Locality(samples=8), torch.Generator().manual_seed(99))
    untuned = synthesize(G, near)
    change = {name: np.abs(synthesize(apply_update(G, r.update), near) - untuned).mean()
              for name, r in (("free", free), ("held", held))}
    assert change["held"] < 0.7 * change["free"]


def test_regularising_latents_lie_alpha_from_the_pivot(G, pivot):
    latents = regularising_latents(G, pivot, Locality(samples=5, alpha=12.5), torch.Generator().manual_seed(0))
    assert latents.shape == (5, G.num_ws, G.w_dim)
    distances = (latents - pivot).flatten(1).norm(dim=1)
    torch.testing.assert_close(distances, torch.full([5], 12.5), rtol=1e-5, atol=0)


def test_locality_settings_are_checked():
    assert resolve(False) is None and resolve(True) == Locality()
    assert resolve({"weight": 0.5}) == Locality(weight=0.5)
    with pytest.raises(TuningError, match="unknown locality setting"):
        resolve({"strength": 1})
    with pytest.raises(TuningError, match="alpha > 0"):
        resolve(Locality(alpha=0))


def test_an_interrupt_keeps_the_best_update_so_far(G, target, pivot):
    def stop(stage, step, losses, best):
        assert stage == "tune" and losses.shape == (1,)
        if step == 2:
            raise KeyboardInterrupt

    result = tune(G, pivot, target, steps=10, rank=4, perceptual=None, callback=stop)
    assert result.interrupted and result.steps == 3 and result.history.shape == (3,)


def test_one_image_per_call(G, target, pivot):
    with pytest.raises(TuningError, match="one update per image, got 2 latents; tune each image on its own"):
        tune(G, pivot.expand(2, -1, -1), target, steps=1, perceptual=None)
    with pytest.raises(TuningError, match="one update per image, got 2 target images"):
        tune(G, pivot, np.stack([target, target]), steps=1, perceptual=None)


def test_wrong_inputs_are_refused(G, target, pivot):
    with pytest.raises(LatentError, match=r"pivot latent must be \[8, 512\]"):
        tune(G, pivot[:, :3], target, steps=1, perceptual=None)
    with pytest.raises(LatentError, match="NaN or infinite"):
        tune(G, torch.full_like(pivot, float("nan")), target, steps=1, perceptual=None)
    with pytest.raises(ImageError, match="targets must be"):
        tune(G, pivot, np.zeros((16, 16, 3), np.uint8), steps=1, perceptual=None)
    with pytest.raises(TuningError, match="rank must be"):
        tune(G, pivot, target, rank=0, perceptual=None)
    with pytest.raises(TuningError, match="steps must be >= 0"):
        tune(G, pivot, target, steps=-1, perceptual=None)
    with pytest.raises(LatentError, match="noise maps"):
        tune(G, pivot, target, noise=[torch.zeros(4, 4)], steps=1, perceptual=None)


# ---------------------------------------------------------------------------------------------------
# Characterisation: bench/tuning.py's test point, bounds just under its recorded figures


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "tuning.py"
    spec = importlib.util.spec_from_file_location("bench_tuning", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recorded():
    import json

    results = sorted((Path(__file__).resolve().parents[1] / "bench" / "results").glob("tuning-2*.json"))
    assert results, "bench/results/tuning-<date>.json is missing"
    return json.loads(results[-1].read_text())["test_point"]


def test_characterisation_tuning_the_astronaut_on_small(sg2_dir, astronaut_path):
    """`small`, the astronaut (out of domain), short W+ projection, then a short tuning at each rank of the
    test point: PSNR within 0.3 dB of the benchmark's, and tuning beats the latent alone by a margin."""
    bench = _bench()
    point, recorded = bench.TEST_POINT, _recorded()
    G = invert.load_generator(sg2_dir / f"{point['generator']}_ada.pkl")
    target = bench.astronaut(G.resolution)
    vgg = projector.build_perceptual("vgg", vgg_weights=bench.VGG)
    lpips = projector.build_perceptual("lpips", vgg_weights=bench.VGG)
    projection = projector.project(G, target, num_steps=point["w_steps"], perceptual=vgg)
    psnr_w = _psnr(target, projection.images)
    assert psnr_w > recorded["psnr_w"] - 0.3
    for rank in point["ranks"]:
        result = tune(G, projection.ws, target, steps=point["tune_steps"], rank=rank, perceptual=lpips)
        tuned = _psnr(target, result.images)
        assert tuned > recorded["psnr_tuned"][str(rank)] - 0.3, rank
        assert tuned > psnr_w + point["margin_db"], rank


def test_a_generator_without_fingerprint_is_refused_before_any_step(G, target, pivot):
    """An update is tied to its base network's fingerprint: a generator built without one (not through
    load_generator) is refused at once, not after the steps."""
    bare = copy.deepcopy(G)
    bare.source = {}
    with pytest.raises(TuningError, match="no network fingerprint"):
        tune(bare, pivot, target, steps=10_000, perceptual=None)
