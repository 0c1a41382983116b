"""Projecting images into a StyleGAN2 generator: Image2StyleGAN (W+) and Image2StyleGAN++ (noise).

`project(G, target, *, ...)` is the whole algorithm, one plain function with keyword-only options:

1. W+ stage (Image2StyleGAN, Abdal et al. 2019): a latent [N, num_ws, w_dim] starts at the mean w
   (`G.w_avg`) and is optimised with Adam (lr 0.01, betas 0.9/0.999, eps 1e-8) against
   mse_weight * pixel MSE + perceptual_weight * VGG16 feature MSE (conv1_1, conv1_2, conv3_2, conv4_2 of
   the images at most 256 pixels wide). `space='w'` optimises one w [N, 1, w_dim] broadcast to all
   layers instead; `perceptual='lpips'` uses LPIPS as the perceptual term.
2. Noise stage (Image2StyleGAN++, Abdal et al. 2020), with `noise=True`: the W+ latent is frozen and the
   per-layer noise maps, started from the generator's stored maps, are optimised with their own Adam,
   steps and learning rate (sequentially, not jointly, as the paper found necessary). Its loss is the
   pixel MSE alone by default (`noise_perceptual_weight=0`): the noise maps are there to restore the
   high-frequency detail the W+ code cannot express.

A batch of N targets is optimised together, each image with its own latent. The loss is a SUM over the
batch of per-image means, so each latent gets the gradient it would get alone, and Adam's updates are
per-parameter: a batch gives each image the result it would get alone (up to float rounding).
With a mask, both loss terms only see the known pixels (white): this fills in the unknown region
(inpainting) and lets a local edit be embedded. The noise stage then only moves noise values over known
pixels (the mask resized to each noise map): noise fitted to the known pixels would otherwise spill into
the filled-in region.

The best latent of each image (lowest loss seen) is returned, not the last one. Ctrl-C
(KeyboardInterrupt) stops the optimisation cleanly: the result so far comes back with
`interrupted=True`.

Defaults: 1000 W+ steps (the paper ran 5000; bench/results/quality.md measures what fewer cost), 300
noise steps at lr 1.0 (chosen by the same benchmark). Speed options (`amp`, `channels_last`, `compile`,
`tf32`) are all off by default.
"""
import contextlib
import logging
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from invert.errors import ImageError, InvertError, LatentError
from invert.images import from_uint8, to_uint8

log = logging.getLogger(__name__)

NUM_STEPS = 1000
LEARNING_RATE = 0.01
NOISE_STEPS = 300
NOISE_LEARNING_RATE = 1.0
NOISE_REGULARIZE = 0.0  # weight of NVIDIA's noise regulariser (its projector uses 1e5); see bench/README.md
NOISE_RENORMALIZE = False  # renormalise each noise map to mean 0, std 1 after every step
BETAS = (0.9, 0.999)
EPS = 1e-8
AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# torch.compile modes; 'reduce-overhead' also replays the compiled kernels as CUDA graphs on a GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclass
class Projection:
    """What `project` returns; tensors are float32 on the CPU, one row per target image.

    `noise` is None when no noise maps were optimised or given (the generator's stored maps apply).
    `images` are the reconstructions rendered in float32 from `ws` (and `noise`), one image at a time,
    exactly what `G.synthesis(ws[i:i+1], noise=[n[i] for n in noise])` gives.
    """

    ws: torch.Tensor                 # [N, num_ws, w_dim], the best latent of each image
    noise: list                      # None, or num_ws - 1 maps [N, 1, r, r]
    images: torch.Tensor             # [N, 3, R, R] in [-1, 1] (unclipped)
    loss_w: torch.Tensor             # [N] best loss of the W+ stage
    loss_noise: torch.Tensor = None  # [N] best loss of the noise stage, None without one
    history_w: torch.Tensor = None   # [steps_w, N] loss at every W+ step
    history_noise: torch.Tensor = None  # [steps_noise, N]
    frames: list = field(default_factory=list)  # uint8 [N, R, R, 3] snapshots, every `video_every` steps
    steps_w: int = 0                 # W+ steps done
    steps_noise: int = 0             # noise steps done
    interrupted: bool = False        # stopped early by KeyboardInterrupt
    seconds: float = 0.0
    device: str = "cpu"
    settings: dict = field(default_factory=dict)
    noise_stats: list = None         # per image, per noise map: {'resolution', 'mean', 'std', 'max_abs'}


# ---------------------------------------------------------------------------------------------------
# Targets and masks


def prepare_target(rgb, resolution):
    """uint8 [H, W, 3] -> uint8 [resolution, resolution, 3]: centre crop to a square, Lanczos resize."""
    from PIL import Image

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageError(f"expected a uint8 RGB image [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = rgb[top: top + side, left: left + side]
    if side != resolution:
        square = np.asarray(Image.fromarray(square).resize((resolution, resolution), Image.LANCZOS))
    return np.ascontiguousarray(square)


def read_mask(path, *, resolution, image_size=None):
    """Read a mask file -> float32 [resolution, resolution] in [0, 1]; white (1) marks known pixels.

    The mask must be greyscale (or black and white), drawn either on the input image itself
    (`image_size` = (height, width) of the image; it is then cropped and resized exactly like the image)
    or at the generator's resolution, and must mark at least one known pixel.
    """
    from pathlib import Path

    from invert.images import load_rgb

    path = Path(path)
    rgb = load_rgb(path, what="mask")
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    if (spread > 16).mean() > 0.001:
        raise ImageError(f"mask {path} is a colour image; a mask must be greyscale: white = known pixels, "
                         "black = pixels to fill in")
    sizes = [(resolution, resolution)] + ([tuple(image_size)] if image_size is not None else [])
    if rgb.shape[:2] not in sizes:
        expected = " or ".join(f"{w}x{h}" for h, w in dict.fromkeys(sizes))
        raise ImageError(f"mask {path} is {rgb.shape[1]}x{rgb.shape[0]} pixels; expected {expected} "
                         "(the size of the image it belongs to, or the generator's resolution)")
    grey = prepare_target(np.repeat(rgb.mean(axis=2, keepdims=True), 3, axis=2).round().astype(np.uint8),
                          resolution)[..., 0]
    mask = grey.astype(np.float32) / 255.0
    if mask.max() < 0.5:
        raise ImageError(f"mask {path} has no known (white) pixels; white marks the pixels to keep")
    return mask


def _target_tensor(target, resolution, device):
    """uint8 [R, R, 3] / [N, R, R, 3] arrays or float [N, 3, R, R] tensors in [-1, 1] -> float32 [N, 3, R, R]."""
    if isinstance(target, torch.Tensor) and target.dtype != torch.uint8:
        images = target.detach().float()
        if images.ndim == 3:
            images = images[None]
    else:
        array = target.cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
        if array.dtype != np.uint8:
            raise ImageError(f"a target array must be uint8 [N, R, R, 3]; got {array.dtype} (pass floats as a "
                             "torch tensor [N, 3, R, R] in [-1, 1])")
        images = torch.from_numpy(from_uint8(array))
    if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != (resolution, resolution):
        raise ImageError(f"targets must be [N, 3, {resolution}, {resolution}] for this generator, "
                         f"got {list(images.shape)}")
    return images.to(device).contiguous()


def _mask_tensor(mask, count, resolution, device):
    """None or [R, R] / [N, R, R] / [N or 1, 1, R, R] in [0, 1] -> float32 [N or 1, 1, R, R]."""
    if mask is None:
        return None
    mask = torch.as_tensor(np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask), dtype=torch.float32)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[:, None]
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, count) \
            or tuple(mask.shape[2:]) != (resolution, resolution):
        raise ImageError(f"mask must be [{resolution}, {resolution}] or [N, 1, {resolution}, {resolution}], "
                         f"got {list(mask.shape)}")
    if mask.min() < 0 or mask.max() > 1:
        raise ImageError("mask values must lie in [0, 1] (1 = known pixel)")
    if (mask.flatten(1).sum(dim=1) == 0).any():
        raise ImageError("mask has no known pixels (all zero) for at least one image")
    return mask.to(device)


# ---------------------------------------------------------------------------------------------------
# Speed options


def _compile_mode(compile):
    """`compile` as given to project (False/None/'off', True, or a torch.compile mode) -> mode or None."""
    if compile in (False, None, "off"):
        return None
    if compile is True:
        return "default"
    if compile not in COMPILE_MODES:
        raise InvertError(f"unknown compile mode {compile!r}; use off, {', '.join(COMPILE_MODES)}")
    return compile


class _GuardedCompile:
    """torch.compile(fn), falling back to plain `fn` (with one log line) if compiling or running it fails."""

    def __init__(self, fn, name, mode="default"):
        self.fn, self.name, self.compiled = fn, name, None
        try:
            self.compiled = torch.compile(fn, mode=mode)
        except Exception as exc:  # noqa: BLE001 - any failure means: run uncompiled
            log.warning("torch.compile of %s failed (%s: %s); running it uncompiled", name, type(exc).__name__, exc)

    def __call__(self, *args, **kwargs):
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                log.warning("torch.compile of %s failed (%s: %s); running it uncompiled", self.name,
                            type(exc).__name__, " ".join(str(exc).split())[:200])
                self.compiled = None
        return self.fn(*args, **kwargs)


@contextlib.contextmanager
def _tf32(enabled, device):
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def _configured(perceptual, *, channels_last, compile):
    """Apply channels_last / compile to the perceptual network for the duration of a projection."""
    if perceptual is None:
        yield
        return
    saved_layout = perceptual.channels_last
    trunk = perceptual.trunk_module
    try:
        if channels_last:
            trunk.to(memory_format=torch.channels_last)
            perceptual.channels_last = True
        if compile:
            perceptual.extractor = _GuardedCompile(perceptual.trunk, "the perceptual network", compile)
        yield
    finally:
        perceptual.extractor = None
        perceptual.channels_last = saved_layout
        if channels_last:
            trunk.to(memory_format=torch.contiguous_format)


# ---------------------------------------------------------------------------------------------------
# The optimisation


def build_perceptual(kind="vgg", *, vgg_weights=None, state=None, info=None, device="cpu"):
    """The perceptual network for `kind` 'vgg' (Image2StyleGAN layers) or 'lpips', on `device`.

    Weights: `state`/`info` from `invert.vgg_weights.load_state`, or else `vgg_weights` (a path,
    'random[:SEED]', or None for torchvision's file in the torch hub cache, downloaded there if absent).
    """
    from invert import losses, vgg_weights as weights_source
    from invert.networks import vgg16

    if kind not in ("vgg", "lpips"):
        raise InvertError(f"unknown perceptual loss {kind!r}; use 'vgg' or 'lpips'")
    if state is None:
        state, info = weights_source.load_state(vgg_weights)
    if kind == "lpips":
        return losses.LPIPSPerceptual(state, info=info).to(device)
    return losses.VGGPerceptual(vgg16.build_features(state, info=info, device=device))


def project(G, target, *, num_steps=NUM_STEPS, lr=LEARNING_RATE, betas=BETAS, eps=EPS, space="w+",
            init="mean", init_ws=None, seed=0, perceptual="vgg", vgg_weights=None, mse_weight=1.0,
            perceptual_weight=1.0, mask=None, noise=False, noise_steps=NOISE_STEPS, noise_lr=NOISE_LEARNING_RATE,
            noise_mse_weight=1.0, noise_perceptual_weight=0.0, noise_regularize=NOISE_REGULARIZE,
            noise_renormalize=NOISE_RENORMALIZE, init_noise=None, amp="off", channels_last=False, compile=False,
            tf32=False, video_every=0, progress=False, callback=None):
    """Project target images into G's W+ space (and, with `noise`, its noise maps) -> Projection.

    Runs on the device G is on. Options (all keyword-only):
      target         uint8 [R, R, 3] or [N, R, R, 3] arrays, or a float tensor [N, 3, R, R] in [-1, 1];
                     R = G.resolution.
      num_steps, lr, betas, eps   the W+ stage's Adam (Image2StyleGAN: lr 0.01, betas 0.9/0.999, eps 1e-8).
      space          'w+' (one w per layer) or 'w' (one w for all layers).
      init           'mean' (G.w_avg, Image2StyleGAN's choice for faces) or 'random' (mapping of a random z
                     drawn from `seed`); `init_ws` [N, num_ws, w_dim] (or [num_ws, w_dim]) overrides both
                     (resuming a projection).
      seed           seeds `init='random'`; with the same seed a run on the CPU repeats exactly.
      perceptual     'vgg' (Image2StyleGAN's VGG16 layers), 'lpips', None (pixel MSE only), or a ready
                     network from `build_perceptual` (to reuse it across batches). A name is only
                     loaded when a perceptual weight is non-zero.
      vgg_weights    where the VGG16 weights come from when `perceptual` is a name (see build_perceptual).
      mse_weight, perceptual_weight   the weights of the two W+ loss terms.
      mask           [R, R] / [N, 1, R, R] in [0, 1], 1 = known pixel: both losses only see known pixels.
      noise          run the Image2StyleGAN++ noise stage after the W+ stage.
      noise_steps, noise_lr, noise_mse_weight, noise_perceptual_weight   that stage's Adam and loss.
      noise_regularize   weight of NVIDIA's multi-scale noise regulariser (squared autocorrelation of each
                     map with its one-pixel shifts, at every scale down to 8x8), which keeps the maps from
                     encoding image content; 0 = off (Image2StyleGAN++ has none).
      noise_renormalize  after every noise step, shift and scale each map to mean 0, std 1 (as NVIDIA's
                     projector does), so the maps stay plausible N(0, 1) noise.
      init_noise     num_ws - 1 maps ([r, r] or [N or 1, 1, r, r]) replacing the stored ones: used (fixed)
                     in the W+ stage and as the noise stage's start.
      amp            'off', 'bf16' or 'fp16': autocast of generator + perceptual network; latents, noise
                     and the loss stay float32 (fp16 uses a gradient scaler).
      channels_last  run the perceptual network in channels-last memory format.
      compile        torch.compile the synthesis and perceptual networks: True (mode 'default') or a mode
                     from COMPILE_MODES; 'reduce-overhead' replays them as CUDA graphs on a GPU. Falls
                     back, with a log line, when compiling fails.
      tf32           allow TF32 matmuls/convolutions on CUDA for the run (restored afterwards).
      video_every    keep a uint8 snapshot of the current reconstructions every k steps (0 = none).
      progress       show a tqdm progress bar with the loss on stderr.
      callback       called after every step as callback(stage, step, losses, best): stage 'w' or 'noise',
                     step counting from 0, losses [N] of that step, best the best-so-far tensors
                     ([N, num_ws or 1, w_dim] latent, or the noise maps), read-only; after step k-1 they
                     are exactly what a k-step run returns.
    """
    started = time.perf_counter()
    _check_options(space=space, init=init, amp=amp, num_steps=num_steps, noise_steps=noise_steps,
                   noise_regularize=noise_regularize)
    compile = _compile_mode(compile)
    device = G.w_avg.device
    targets = _target_tensor(target, G.resolution, device)
    count = targets.shape[0]
    mask_t = _mask_tensor(mask, count, G.resolution, device)

    needs_perceptual = bool(num_steps and perceptual_weight) or bool(noise and noise_steps and noise_perceptual_weight)
    if isinstance(perceptual, str):
        perceptual = build_perceptual(perceptual, vgg_weights=vgg_weights, device=device) if needs_perceptual else None
    if perceptual is None:  # pixel MSE only
        perceptual_weight = noise_perceptual_weight = 0.0
    from invert.losses import ProjectionLoss

    loss_w = ProjectionLoss(perceptual if perceptual_weight else None, mse_weight=mse_weight,
                            perceptual_weight=perceptual_weight)
    loss_n = ProjectionLoss(perceptual if noise_perceptual_weight else None, mse_weight=noise_mse_weight,
                            perceptual_weight=noise_perceptual_weight)
    ws_start = _initial_ws(G, count, init=init, init_ws=init_ws, seed=seed)
    noise_start = _initial_noise(G, count, init_noise)
    settings = dict(num_steps=num_steps, lr=lr, betas=list(betas), eps=eps, space=space, init=init,
                    resumed=init_ws is not None, seed=seed,
                    perceptual=_perceptual_name(perceptual), mse_weight=mse_weight,
                    perceptual_weight=perceptual_weight, masked=mask_t is not None, noise=bool(noise),
                    noise_steps=noise_steps if noise else 0, noise_lr=noise_lr, noise_mse_weight=noise_mse_weight,
                    noise_perceptual_weight=noise_perceptual_weight, noise_regularize=noise_regularize,
                    noise_renormalize=bool(noise_renormalize), resumed_noise=init_noise is not None,
                    amp=amp, channels_last=channels_last, compile=compile or False, tf32=tf32, batch_size=count)
    synthesis = _GuardedCompile(G.synthesis, "the synthesis network", compile) if compile else G.synthesis
    run = _Run(count=count, amp=amp, device=device, progress=progress, video_every=video_every,
               callback=callback, cuda_graphs=compile == "reduce-overhead" and device.type == "cuda")
    adam = dict(betas=betas, eps=eps)

    with _tf32(tf32, device), _configured(perceptual, channels_last=channels_last, compile=compile):
        ws, loss_best_w, history_w, steps_w = _w_plus_stage(
            run, G, synthesis, ws_start, noise_start, space=space, loss=loss_w, targets=targets, mask=mask_t,
            steps=num_steps, lr=lr, **adam)
        noise_out, loss_best_n, history_n, steps_n = noise_start, None, None, 0
        if noise and not run.interrupted:
            noise_out, loss_best_n, history_n, steps_n = _noise_stage(
                run, G, synthesis, ws, _noise_or_stored(G, noise_start), loss=loss_n, targets=targets,
                mask=mask_t, steps=noise_steps, lr=noise_lr, regularize=noise_regularize,
                renormalize=noise_renormalize, **adam)

    images = render(G, ws, noise_out)
    if video_every:
        run.frames.append(to_uint8(images))
    noise_cpu = None if noise_out is None else [n.detach().cpu() for n in noise_out]
    return Projection(
        ws=ws.detach().cpu(), noise=noise_cpu, images=images, loss_w=loss_best_w.cpu(),
        loss_noise=None if loss_best_n is None else loss_best_n.cpu(), history_w=history_w, history_noise=history_n,
        frames=run.frames, steps_w=steps_w, steps_noise=steps_n, interrupted=run.interrupted,
        seconds=time.perf_counter() - started, device=str(device), settings=settings,
        noise_stats=None if noise_cpu is None else noise_statistics(noise_cpu, count))


def _check_options(*, space, init, amp, num_steps, noise_steps, noise_regularize):
    if space not in ("w+", "w"):
        raise InvertError(f"unknown latent space {space!r}; use 'w+' or 'w'")
    if init not in ("mean", "random"):
        raise InvertError(f"unknown init {init!r}; use 'mean' or 'random'")
    if amp not in AMP_DTYPES:
        raise InvertError(f"unknown amp mode {amp!r}; use off, bf16 or fp16")
    if num_steps < 0 or noise_steps < 0:
        raise InvertError("step counts must be >= 0")
    if not noise_regularize >= 0:  # also refuses NaN
        raise InvertError(f"the noise regulariser's weight must be >= 0, got {noise_regularize}")


def _w_plus_stage(run, G, synthesis, ws_start, fixed_noise, *, space, loss, targets, mask, steps, lr, betas, eps):
    """Image2StyleGAN: optimise the latent, noise maps fixed -> (ws [N, num_ws, w_dim], best loss [N],
    history [steps, N], steps done). In W space the latent is [N, 1, w_dim], broadcast to every layer."""
    num_ws = G.num_ws
    if space == "w":
        if not torch.equal(ws_start, ws_start[:, :1].expand_as(ws_start)):
            raise LatentError("the starting latent differs between layers, so it is not a W code; "
                              "resume it with space 'w+'")
        latent = ws_start[:, :1].clone().requires_grad_(True)
    else:
        latent = ws_start.clone().requires_grad_(True)

    def render_w():
        return synthesis(latent.expand(-1, num_ws, -1), noise_mode="const", noise=fixed_noise)

    prepared = loss.prepare(targets, mask) if steps else None
    best, best_loss, history, done = run.stage("w", [latent], render_w, loss, prepared, steps=steps, lr=lr,
                                               betas=betas, eps=eps)
    return best[0].expand(-1, num_ws, -1).contiguous(), best_loss, history, done


def _noise_stage(run, G, synthesis, ws, start_maps, *, loss, targets, mask, steps, lr, betas, eps, regularize,
                 renormalize):
    """Image2StyleGAN++: optimise the noise maps, latent frozen -> (maps [N, 1, r, r] each, best loss [N],
    history [steps, N], steps done). With a mask only values over known pixels move."""
    count = ws.shape[0]
    maps = [n.expand(count, -1, -1, -1).clone().requires_grad_(True) for n in start_maps]
    known = None
    if mask is not None:
        known = _known_cells(maps, mask)
        _freeze_unknown_noise(maps, known)

    def render_noise():
        return synthesis(ws, noise_mode="const", noise=maps)

    def objective(images, prepared):
        value = loss(images, prepared)
        return value + regularize * noise_regularization(maps) if regularize else value

    after_step = (lambda: renormalize_noise(maps, known)) if renormalize else None
    prepared = loss.prepare(targets, mask) if steps else None
    return run.stage("noise", maps, render_noise, objective, prepared, steps=steps, lr=lr, betas=betas, eps=eps,
                     after_step=after_step)


def noise_regularization(maps):
    """NVIDIA's noise regulariser, per image [N]: for every map [N, 1, r, r] and each of its scales down to
    8x8 (2x2 average pooling), the squared mean of the map times its one-pixel shift, along x and along y.

    It is zero for white noise and grows when neighbouring values are correlated, i.e. when a map starts
    to carry image structure.
    """
    import torch.nn.functional as F

    total = 0
    for noise_map in maps:
        x = noise_map.float()
        while True:
            total = total + (x * torch.roll(x, shifts=1, dims=3)).mean(dim=(1, 2, 3)).square()
            total = total + (x * torch.roll(x, shifts=1, dims=2)).mean(dim=(1, 2, 3)).square()
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return total


@torch.no_grad()
def renormalize_noise(maps, known=None):
    """Shift and scale every map [N, 1, r, r], per image, to mean 0 and std 1 (in place).

    `known` (the cells a mask lets move, see `_known_cells`) limits the write to those cells, so maps over
    unknown pixels keep their values.
    """
    for i, noise_map in enumerate(maps):
        centred = noise_map - noise_map.mean(dim=(2, 3), keepdim=True)
        normalized = centred * centred.square().mean(dim=(2, 3), keepdim=True).clamp_min(1e-12).rsqrt()
        if known is None:
            noise_map.copy_(normalized)
        else:
            noise_map.copy_(torch.where(known[i].bool(), normalized, noise_map))


def noise_statistics(maps, count):
    """Per image, per map: {'resolution', 'mean', 'std', 'max_abs'} of noise maps [N or 1, 1, r, r] (CPU).

    Unregularised noise optimisation can drift far from the N(0, 1) noise the generator was trained with
    (std of several, large single values); these numbers show how far.
    """
    stats = []
    for i in range(count):
        per_map = []
        for noise_map in maps:
            values = noise_map[i if noise_map.shape[0] > 1 else 0].double()
            per_map.append({"resolution": int(values.shape[-1]), "mean": round(float(values.mean()), 4),
                            "std": round(float(values.std(unbiased=False)), 4),
                            "max_abs": round(float(values.abs().max()), 4)})
        stats.append(per_map)
    return stats


def render(G, ws, noise=None):
    """Render ws [N, num_ws, w_dim] (and noise maps [N or 1, 1, r, r]) one image at a time, in float32.

    Returns float32 [N, 3, R, R] on the CPU: for each image exactly what a later
    `G.synthesis(ws[i:i+1], noise=maps_i)` gives, so saved latents reproduce saved images.
    """
    images = []
    with torch.no_grad():
        for i in range(ws.shape[0]):
            maps = None if noise is None else [n[i: i + 1] if n.shape[0] > 1 else n for n in noise]
            images.append(G.synthesis(ws[i: i + 1].to(G.w_avg.device), noise_mode="const", noise=maps).float().cpu())
    return torch.cat(images)


def _perceptual_name(perceptual):
    if perceptual is None:
        return None
    return "lpips" if hasattr(perceptual, "model") else "vgg"


def _initial_ws(G, count, *, init, init_ws, seed):
    device = G.w_avg.device
    if init_ws is not None:
        ws = torch.as_tensor(np.asarray(init_ws.cpu() if isinstance(init_ws, torch.Tensor) else init_ws),
                             dtype=torch.float32)
        if ws.ndim == 2:
            ws = ws[None]
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (G.num_ws, G.w_dim) or ws.shape[0] not in (1, count):
            raise LatentError(f"a starting latent must be [{G.num_ws}, {G.w_dim}] or [N, {G.num_ws}, {G.w_dim}] "
                              f"for this generator, got {list(ws.shape)}")
        if not torch.isfinite(ws).all():
            raise LatentError("the starting latent holds NaN or infinite values")
        return ws.expand(count, -1, -1).clone().to(device)
    if init == "random":
        z = torch.randn([count, G.z_dim], generator=torch.Generator().manual_seed(int(seed)))
        with torch.no_grad():
            return G.mapping(z.to(device)).float()
    return G.w_avg.detach().float().reshape(1, 1, -1).expand(count, G.num_ws, -1).clone()


def _initial_noise(G, count, init_noise):
    """None, or num_ws - 1 float32 maps [N or 1, 1, r, r] on G's device, checked against the generator."""
    if init_noise is None:
        return None
    shapes = G.synthesis.noise_shapes()
    if len(init_noise) != len(shapes):
        raise LatentError(f"expected {len(shapes)} noise maps for this generator, got {len(init_noise)}")
    maps = []
    for i, (n, shape) in enumerate(zip(init_noise, shapes)):
        n = torch.as_tensor(np.asarray(n.cpu() if isinstance(n, torch.Tensor) else n), dtype=torch.float32)
        if n.ndim == 2:
            n = n[None, None]
        if n.ndim != 4 or tuple(n.shape[1:]) != (1, *shape) or n.shape[0] not in (1, count):
            raise LatentError(f"noise map {i} must be {list(shape)} or [N, 1, {shape[0]}, {shape[1]}], "
                              f"got {list(n.shape)}")
        maps.append(n.to(G.w_avg.device))
    return maps


def _known_cells(maps, mask):
    """Per noise map, 1 where the mask resized to that map is mostly known (>= 0.5), else 0: [N or 1, 1, r, r]."""
    import torch.nn.functional as F

    return [(F.interpolate(mask, size=m.shape[-2:], mode="area") >= 0.5).to(m.dtype) for m in maps]


def _freeze_unknown_noise(maps, known):
    """Zero the gradient of noise values whose cell is mostly unknown (`known` from `_known_cells`).

    Adam never moves a value whose gradient is always zero, so the filled-in region keeps the stored
    noise instead of noise fitted to the known pixels next to it.
    """
    for noise_map, cells in zip(maps, known):
        noise_map.register_hook(lambda grad, cells=cells: grad * cells)


def _noise_or_stored(G, noise):
    if noise is not None:
        return noise
    return [layer.noise_const.detach().float()[None, None].clone() for layer in G.synthesis.noise_layers()]


class _Run:
    """State shared by the stages of one projection: amp, progress, snapshots, interruption."""

    def __init__(self, *, count, amp, device, progress, video_every, callback, cuda_graphs=False):
        self.count, self.device, self.progress = count, device, progress
        self.cuda_graphs = cuda_graphs
        self.amp_dtype = AMP_DTYPES[amp]
        self.video_every, self.callback = video_every, callback
        self.frames, self.interrupted = [], False

    def stage(self, name, params, render_fn, loss_fn, prepared, *, steps, lr, betas, eps, after_step=None):
        """Optimise `params` (each [N, ...]) for `steps` Adam steps -> (best params, best loss [N],
        loss history [steps_done, N] on the CPU, steps done). `after_step()` runs after each update."""
        best = [p.detach().clone() for p in params]
        best_loss = torch.full([self.count], float("inf"), device=self.device)
        history = []
        if steps == 0:
            return best, best_loss, torch.zeros([0, self.count]), 0
        optimizer = torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)
        scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        autocast = torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                  enabled=self.amp_dtype is not None)
        bar = _progress_bar(steps, name, self.progress)
        done = 0
        try:
            for step in range(steps):
                if self.cuda_graphs:  # a new iteration: the previous step's graph outputs may be reused
                    torch.compiler.cudagraph_mark_step_begin()
                with autocast:
                    images = render_fn()
                    losses = loss_fn(images, prepared)  # [N], float32
                current = losses.detach()
                improved = current < best_loss
                best_loss = torch.where(improved, current, best_loss)
                for kept, param in zip(best, params):
                    kept.copy_(torch.where(improved.view(-1, *[1] * (param.ndim - 1)), param.detach(), kept))
                history.append(current)
                if self.video_every and step % self.video_every == 0:
                    self.frames.append(to_uint8(images.detach()))
                optimizer.zero_grad(set_to_none=True)
                total = losses.sum()
                if scaler is not None:
                    scaler.scale(total).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    total.backward()
                    optimizer.step()
                if after_step is not None:
                    after_step()
                done = step + 1
                if bar is not None:
                    bar.update(1)
                    if step % 10 == 0 or done == steps:
                        bar.set_postfix(loss=f"{float(current.mean()):.4f}")
                if self.callback is not None:
                    self.callback(name, step, current, best)
        except KeyboardInterrupt:
            self.interrupted = True
            log.warning("interrupted after %d %s step(s); keeping the best result so far", done, name)
        finally:
            if bar is not None:
                bar.close()
        history = torch.stack(history).cpu() if history else torch.zeros([0, self.count])
        return [b.detach() for b in best], best_loss, history, done


def _progress_bar(total, name, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="W+" if name == "w" else "noise", unit="step", file=sys.stderr, leave=False,
                dynamic_ncols=True)
