"""One batch of targets through the stages: W+ (Image2StyleGAN), noise maps (Image2StyleGAN++), and pivotal
tuning per image (PTI), keeping each stage's result when a later one fails or is interrupted.

The W+ and noise stages are two calls of `invert.projector.project` (the second continues from the
first's latent with zero W+ steps), so the W+ result exists on its own: when the noise stage runs out
of memory or fails, the batch still has its W+ latents. Tuning (`invert.tuning.tune`) runs one image at
a time after both. Ctrl-C / SIGTERM inside a stage stops it with its best result so far; the stages
after it do not run.

Failures: out of memory stops the run (`BatchResult.stop`, to be raised once the batch is saved) — the
next batch would run out too; any other error in the W+ stage of a batch retries its images one by one,
so that only the image that fails is lost; an error in a later stage keeps the earlier stage's result
and marks the image 'failed' with the reason.
"""
import logging
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from invert.errors import InvertError, OutOfMemoryError
from invert.images import to_uint8
from invert.pipeline.outputs import FAILED, INTERRUPTED, PROJECTED
from invert.pipeline.targets import Problem

log = logging.getLogger(__name__)

# the projector's settings that belong to the noise stage (taken from the noise stage's own call)
NOISE_SETTINGS = ("noise", "noise_steps", "noise_lr", "noise_mse_weight", "noise_perceptual_weight",
                  "noise_regularize", "noise_renormalize", "resumed_noise")


@dataclass
class Outcome:
    """One target's result: the batch's projection and this target's row in it, the reconstruction after
    each stage that ran, the tuning (if it ran), and how it ended."""

    target: object                       # invert.pipeline.targets.Target
    projection: object                   # invert.projector.Projection of the whole batch (W+ and noise)
    index: int                           # this target's row in `projection`
    stage_images: dict                   # 'w', 'noise', 'tune' -> uint8 [R, R, 3], the stages that ran
    seconds: float                       # this target's share of the batch's time, plus its own tuning
    tuning: object = None                # invert.tuning.Tuning, or None
    status: str = PROJECTED              # 'projected' | 'interrupted' | 'failed' (a later stage failed)
    error: Optional[str] = None          # why, when status is 'failed'

    @property
    def ws(self):
        """float32 [num_ws, w_dim]."""
        return self.projection.ws[self.index]

    @property
    def noise(self):
        """None or the noise maps of this target, float32 [1, 1, r, r] each."""
        if self.projection.noise is None:
            return None
        return [n[self.index: self.index + 1] if n.shape[0] > 1 else n for n in self.projection.noise]

    @property
    def image(self):
        """The final reconstruction, uint8 [R, R, 3] (the tuned generator's when tuning ran)."""
        return self.stage_images[list(self.stage_images)[-1]]


@dataclass
class BatchResult:
    """What `run_stages` made of a batch."""

    outcomes: list = field(default_factory=list)   # targets with a result (possibly of an earlier stage only)
    failures: list = field(default_factory=list)   # (Target, Problem) for targets with no result at all
    stop: Optional[BaseException] = None           # raise once the batch is saved (out of memory)
    interrupted: bool = False                      # a stop signal arrived; save and stop


def run_stages(G, targets, *, settings, perceptual=None, tune_perceptual=None, init_ws=None, init_noise=None):
    """Project the targets (a list of Target, one batch) as `settings` (RunSettings) say -> BatchResult."""
    try:
        first, second, failure = _project(G, targets, settings=settings, perceptual=perceptual, init_ws=init_ws,
                                          init_noise=init_noise)
    except KeyboardInterrupt:  # outside the optimisation loops (setting up, rendering): nothing to save
        return BatchResult(interrupted=True)
    except Exception as exc:  # noqa: BLE001 - one bad image must not cost the batch
        if _is_out_of_memory(exc):
            return BatchResult(stop=_memory_error(exc, targets, G, "projecting"))
        if len(targets) > 1:
            log.warning("projecting a batch of %d failed (%s); projecting its images one by one", len(targets),
                        _one_line(exc))
            return _one_by_one(G, targets, settings=settings, perceptual=perceptual,
                               tune_perceptual=tune_perceptual, init_ws=init_ws, init_noise=init_noise)
        return BatchResult(failures=[(targets[0], Problem.from_exception(exc, FAILED))])

    projection = _combine(first, second)
    count = len(targets)
    result = BatchResult(interrupted=projection.interrupted)
    w_images = to_uint8(first.images)
    noise_images = None if second is None else to_uint8(second.images)
    for i, target in enumerate(targets):
        images = {"w": w_images[i]}
        if noise_images is not None:
            images["noise"] = noise_images[i]
        outcome = Outcome(target, projection, i, images, seconds=projection.seconds / count,
                          status=INTERRUPTED if projection.interrupted else PROJECTED)
        if failure is not None:
            outcome.status, outcome.error = FAILED, f"noise stage: {_one_line(failure)}"
        result.outcomes.append(outcome)
    if failure is not None and _is_out_of_memory(failure):
        result.stop = _memory_error(failure, targets, G, "optimising the noise maps of")
    if settings.tune is not None and not result.interrupted and result.stop is None:
        _tune_each(G, result, settings=settings, perceptual=tune_perceptual)
    return result


def _project(G, targets, *, settings, perceptual, init_ws, init_noise):
    """The W+ stage, then (when asked for and not interrupted) the noise stage -> (first Projection,
    second Projection or None, the exception that stopped the noise stage or None)."""
    from invert.projector import project

    images = np.stack([t.image for t in targets])
    masks = [t.mask for t in targets]
    mask = None if masks[0] is None else np.stack(masks)[:, None]
    options = dict(settings.projector)
    noise = bool(options.pop("noise", False))
    common = dict(perceptual=perceptual, mask=mask, init_noise=init_noise, video_every=settings.video_every,
                  progress=settings.progress, **options)
    first = project(G, images, init_ws=init_ws, noise=False, **common)
    if not noise or first.interrupted:
        return first, None, None
    common.update(num_steps=0)
    try:
        second = project(G, images, init_ws=first.ws, noise=True, **common)
    except KeyboardInterrupt:
        first.interrupted = True
        return first, None, None
    except Exception as exc:  # noqa: BLE001 - keep the W+ result
        return first, None, exc
    return first, second, None


def _combine(first, second):
    """One Projection from the W+ call and the noise call (None: there was none)."""
    if second is None:
        return first
    settings = dict(first.settings)
    settings.update({key: second.settings[key] for key in NOISE_SETTINGS if key in second.settings})
    frames = (first.frames[:-1] if first.frames else []) + second.frames  # the W+ call's final frame is the
    # noise stage's first
    return replace(second, ws=first.ws, loss_w=first.loss_w, history_w=first.history_w, frames=frames,
                   steps_w=first.steps_w, interrupted=first.interrupted or second.interrupted,
                   seconds=first.seconds + second.seconds, settings=settings)


def _tune_each(G, result, *, settings, perceptual):
    """Tune the outcomes of a batch one after the other; an interruption or out of memory ends the batch."""
    from invert.tuning import check_rank, tune

    options = settings.tune
    remaining = iter(list(result.outcomes))
    for outcome in remaining:
        if outcome.status != PROJECTED:
            continue
        tuning = None
        try:
            tuning = tune(G, outcome.ws, outcome.target.image, noise=outcome.noise, steps=options.steps, lr=options.lr,
                          rank=check_rank(options.rank), perceptual=perceptual, mask=outcome.target.mask,
                          locality=options.locality, seed=options.seed, progress=settings.progress)
        except KeyboardInterrupt:
            result.interrupted = True
        except Exception as exc:  # noqa: BLE001 - keep the projection
            if _is_out_of_memory(exc):
                outcome.status, outcome.error = FAILED, "tuning: out of memory"
                result.stop = exc if isinstance(exc, InvertError) else OutOfMemoryError(
                    f"out of {_memory_kind(G)} while tuning the generator at {G.resolution}x{G.resolution} "
                    "(tuning takes one image at a time: project without --tune, or on a device with more "
                    "memory)", remedies=())
            else:
                outcome.status, outcome.error = FAILED, f"tuning: {_one_line(exc)}"
                continue
        if tuning is not None:
            result.interrupted = result.interrupted or tuning.interrupted
            outcome.seconds += tuning.seconds
        if tuning is not None and tuning.steps > 0:  # stopped before its first step: nothing to save or apply
            outcome.tuning = tuning
            outcome.stage_images["tune"] = to_uint8(tuning.images)[0]
        if result.interrupted:
            outcome.status = INTERRUPTED
        if result.interrupted or result.stop is not None:
            for rest in remaining:  # projected, not tuned
                if rest.status == PROJECTED:
                    if result.interrupted:
                        rest.status = INTERRUPTED
                    else:
                        rest.status, rest.error = FAILED, "tuning did not run: the run stopped (out of memory)"
            return


def _one_by_one(G, targets, **options):
    combined = BatchResult()
    for target in targets:
        single = run_stages(G, [target], **options)
        combined.outcomes += single.outcomes
        combined.failures += single.failures
        if single.interrupted or single.stop is not None:
            combined.interrupted, combined.stop = single.interrupted, single.stop
            break
    return combined


def _is_out_of_memory(exc):
    from invert.render import is_out_of_memory

    return isinstance(exc, OutOfMemoryError) or is_out_of_memory(exc)


def _memory_error(exc, targets, G, doing):
    """OutOfMemoryError saying what ran out while doing what (its remedy: a smaller batch)."""
    if isinstance(exc, InvertError):
        return exc
    return OutOfMemoryError(f"out of {_memory_kind(G)} while {doing} a batch of {len(targets)} image(s) at "
                            f"{G.resolution}x{G.resolution}")


def _memory_kind(G):
    return "GPU memory" if G.w_avg.device.type == "cuda" else "memory"


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__

