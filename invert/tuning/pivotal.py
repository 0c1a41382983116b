"""Pivotal tuning (Roich et al., "Pivotal Tuning for Latent-based Editing of Real Images", ACM TOG 2022).

After projection, the latent is frozen as the pivot and the synthesis network is fine-tuned so that the
pivot renders the target: the identity and detail that no latent reaches are put into the weights, in
a small neighbourhood of the pivot, and the latent stays where edits work. `tune(G, ws, target)` is the
whole stage, one plain function with keyword-only options:

- what changes: the conv weights and biases of every SynthesisLayer and ToRGB (see invert.tuning.update
  for the choice), in full (`rank='full'`) or as a rank-R product up @ down trained directly, starting
  exactly at the untuned generator (`up` = 0);
- what stays: the pivot latent, its noise maps (given ones or the stored ones), the mapping network,
  the affine layers, the noise strengths and the const input; G itself is never modified (the loop
  renders through `torch.func.functional_call` with W + ΔW);
- the loss, as PTI's: mse_weight * pixel MSE + perceptual_weight * a perceptual distance (LPIPS, PTI's
  choice, by default; or Image2StyleGAN's VGG loss), plus PTI's locality regulariser with
  `locality=True` (invert.tuning.locality);
- PTI's optimiser: Adam, lr 3e-4, 350 steps.

One image per call: an update belongs to one image (PTI tunes one generator per image). The update with
the lowest reconstruction loss seen is returned (the locality term is random from step to step, so it
does not choose). Ctrl-C stops cleanly with the best update so far (`interrupted=True`).
"""
import logging
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call

from invert.errors import LatentError, TuningError
from invert.losses import ProjectionLoss
from invert.projector import BETAS, EPS, _initial_noise, _mask_tensor, _perceptual_name, _target_tensor, \
    build_perceptual
from invert.tuning import locality as locality_mod
from invert.tuning.update import TunedUpdate, apply_update, check_rank, initial_tensors, updated_weights

log = logging.getLogger(__name__)

TUNE_STEPS = 350
TUNE_LEARNING_RATE = 3e-4
DEFAULT_RANK = 16  # chosen by bench/tuning.py: see docs/tuning.md


@dataclass
class Tuning:
    """What `tune` returns; tensors float32 on the CPU."""

    update: TunedUpdate              # the best update (lowest reconstruction loss)
    images: torch.Tensor             # [1, 3, R, R] the pivot rendered through the tuned generator
    loss: float                      # best reconstruction loss
    history: torch.Tensor            # [steps] reconstruction loss at every step
    history_locality: torch.Tensor = None  # [steps] locality loss at every step, None without it
    steps: int = 0                   # steps done
    interrupted: bool = False
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)


def tune(G, ws, target, *, noise=None, steps=TUNE_STEPS, lr=TUNE_LEARNING_RATE, betas=BETAS, eps=EPS,
         rank=DEFAULT_RANK, perceptual="lpips", vgg_weights=None, mse_weight=1.0, perceptual_weight=1.0,
         mask=None, locality=False, seed=0, progress=False, callback=None):
    """Tune G's synthesis weights around the pivot `ws` so that it renders `target` -> Tuning.

    Runs on the device G is on. Options (all keyword-only):
      ws             the pivot: [num_ws, w_dim] or [1, num_ws, w_dim] (e.g. `Projection.ws`), fixed.
      target         uint8 [R, R, 3] / [1, R, R, 3], or a float tensor [1, 3, R, R] in [-1, 1].
      noise          num_ws - 1 noise maps ([r, r] or [1, 1, r, r]; e.g. `Projection.noise`), fixed; None
                     uses the generator's stored maps.
      steps, lr, betas, eps   Adam (PTI: 350 steps, lr 3e-4).
      rank           'full' (every tuned tensor in full) or R >= 1 (rank-R factors per conv weight).
      perceptual     'lpips' (PTI's choice), 'vgg' (Image2StyleGAN's layers), None (pixel MSE only), or a
                     ready network from `invert.projector.build_perceptual` (to reuse the projection's).
      vgg_weights    where the VGG16 weights come from when `perceptual` is a name.
      mse_weight, perceptual_weight   the weights of the two loss terms (PTI: 1 and 1).
      mask           [R, R] / [1, 1, R, R] in [0, 1], 1 = known pixel: the reconstruction loss only sees
                     known pixels (the locality term compares whole images).
      locality       PTI's locality regulariser: False, True (PTI's settings), or a
                     `invert.tuning.Locality` / dict of its fields.
      seed           seeds the random factor of a low-rank update and the locality latents; with the same
                     seed a run on the CPU repeats exactly.
      progress       a tqdm progress bar with the loss on stderr.
      callback       called after every step as callback('tune', step, losses, best): losses [1] the
                     reconstruction loss of that step, best the best-so-far update tensors (read-only).
    """
    started = time.perf_counter()
    device = G.w_avg.device
    rank = check_rank(rank)
    if not (getattr(G, "source", None) or {}).get("fingerprint"):  # the update names its base network
        raise TuningError("this generator has no network fingerprint, so no update can be tied to it; load it "
                          "with invert.load_generator")
    if steps < 0:
        raise TuningError("the number of tuning steps must be >= 0")
    if not lr > 0:
        raise TuningError(f"the tuning learning rate must be > 0, got {lr}")
    settings_locality = locality_mod.resolve(locality)
    pivot = _pivot(G, ws)
    targets = _target_tensor(target, G.resolution, device)
    if targets.shape[0] != 1:
        raise TuningError(f"pivotal tuning fits one update per image, got {targets.shape[0]} target images; "
                          "tune each image on its own")
    maps = _initial_noise(G, 1, noise)
    mask_t = _mask_tensor(mask, 1, G.resolution, device)

    if isinstance(perceptual, str):
        perceptual = build_perceptual(perceptual, vgg_weights=vgg_weights, device=device) \
            if perceptual_weight and steps else None
    if perceptual is None:
        perceptual_weight = 0.0
    loss_fn = ProjectionLoss(perceptual if perceptual_weight else None, mse_weight=mse_weight,
                             perceptual_weight=perceptual_weight)
    prepared = loss_fn.prepare(targets, mask_t)

    random = torch.Generator().manual_seed(int(seed))
    params = {key: t.to(device).requires_grad_(True) for key, t in initial_tensors(G, rank, seed=seed).items()}
    best = {key: t.detach().clone() for key, t in params.items()}
    best_loss = float("inf")
    history, history_loc = [], []
    settings = dict(steps=steps, lr=lr, betas=list(betas), eps=eps, rank=rank, perceptual=_perceptual_name(perceptual),
                    mse_weight=mse_weight, perceptual_weight=perceptual_weight, masked=mask_t is not None,
                    noise_given=noise is not None, seed=seed,
                    locality=settings_locality.to_dict() if settings_locality else None)

    def render(latent, weights):
        return functional_call(G.synthesis, weights, (latent,), {"noise_mode": "const", "noise": maps})

    done, interrupted = 0, False
    bar = _progress_bar(steps, progress)
    optimizer = torch.optim.Adam(params.values(), lr=lr, betas=betas, eps=eps) if steps else None
    try:
        for step in range(steps):
            weights = updated_weights(G, params)
            losses = loss_fn(render(pivot, weights), prepared)  # [1]
            total = losses.sum()
            if settings_locality is not None:
                latents = locality_mod.regularising_latents(G, pivot, settings_locality, random)
                with torch.no_grad():
                    untuned = G.synthesis(latents, noise_mode="const")
                tuned = functional_call(G.synthesis, weights, (latents,), {"noise_mode": "const"})
                regulariser = loss_fn(tuned, loss_fn.prepare(untuned)).mean()
                total = total + settings_locality.weight * regulariser
                history_loc.append(float(regulariser.detach()))
            current = float(losses[0].detach())
            if current < best_loss:
                best_loss = current
                for key, value in params.items():
                    best[key].copy_(value.detach())
            history.append(current)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            done = step + 1
            if bar is not None:
                bar.update(1)
                if step % 10 == 0 or done == steps:
                    bar.set_postfix(loss=f"{current:.4f}")
            if callback is not None:
                callback("tune", step, losses.detach(), best)
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted after %d tuning step(s); keeping the best update so far", done)
    finally:
        if bar is not None:
            bar.close()

    settings.update(steps_done=done, best_loss=best_loss if history else None)
    update = TunedUpdate(rank=rank, tensors={key: t.detach().cpu() for key, t in best.items()},
                         fingerprint=G.source.get("fingerprint"), source=_base_source(G.source),
                         settings=settings)
    with torch.no_grad():
        images = apply_update(G, update).synthesis(pivot, noise_mode="const", noise=maps).float().cpu()
    return Tuning(update=update, images=images, loss=best_loss, history=torch.tensor(history),
                  history_locality=torch.tensor(history_loc) if settings_locality is not None else None,
                  steps=done, interrupted=interrupted, seconds=time.perf_counter() - started, settings=settings)


def _pivot(G, ws):
    """ws [num_ws, w_dim] or [1, num_ws, w_dim] (tensor or array) -> float32 [1, num_ws, w_dim] on G's device."""
    ws = torch.as_tensor(np.asarray(ws.detach().cpu() if isinstance(ws, torch.Tensor) else ws), dtype=torch.float32)
    if ws.ndim == 2:
        ws = ws[None]
    if ws.ndim != 3 or tuple(ws.shape[1:]) != (G.num_ws, G.w_dim):
        raise LatentError(f"the pivot latent must be [{G.num_ws}, {G.w_dim}] or [1, {G.num_ws}, {G.w_dim}] for "
                          f"this generator, got {list(ws.shape)}")
    if ws.shape[0] != 1:
        raise TuningError(f"pivotal tuning fits one update per image, got {ws.shape[0]} latents; "
                          "tune each image on its own")
    if not torch.isfinite(ws).all():
        raise LatentError("the pivot latent holds NaN or infinite values")
    return ws.to(G.w_avg.device)


def _base_source(source):
    """What a tuned file records of its base network: where it came from, not run-time details."""
    return {key: source[key] for key in ("format", "path", "sha256", "random") if key in source}


def _progress_bar(total, enabled):
    if not enabled or not total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="tune", unit="step", file=sys.stderr, leave=False, dynamic_ncols=True)
