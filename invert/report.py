"""What a projection produced, as numbers a person or a script can read: the perceptual networks it used,
and one record per image (metrics, losses, settings, sources) ready for JSON.

    from invert.report import perceptual_models, projection_record, json_ready, summary_line

    models = perceptual_models("vgg", vgg_weights=None, device="cpu")
    result = project(G, targets, perceptual=models.perceptual)
    record = projection_record(result, 0, target=targets[0], generator=G, models=models)
    json.dumps(json_ready(record))
"""
import logging
import math
from dataclasses import dataclass
from typing import Any, Optional

from invert.errors import WeightsError

log = logging.getLogger(__name__)

RANDOM_GENERATOR_WARNING = ("RANDOM generator weights: this is not a trained model, so the reconstruction says "
                            "nothing about real projection quality")


@dataclass
class PerceptualModels:
    """The networks of one projection run: the loss's perceptual network and the LPIPS metric model."""

    perceptual: Any               # VGGPerceptual / LPIPSPerceptual for the loss, or None (no perceptual term)
    lpips: Any                    # LPIPSPerceptual for the metrics, or None
    lpips_note: Optional[str]     # why there is no LPIPS metric, or None
    vgg_info: Optional[dict]      # {'source', 'random'} of the VGG16 weights, or None when none were loaded


def perceptual_models(loss_kind="vgg", *, vgg_weights=None, perceptual_weight=1.0, noise_perceptual_weight=0.0,
                      device="cpu"):
    """Build the loss's perceptual network ('vgg' or 'lpips') and the LPIPS model for the metrics.

    Both read the same VGG16 weights (`vgg_weights`: see `invert.vgg_weights.find_weights`). When neither
    perceptual weight is non-zero, no network is built for the loss and the weights are only read if
    they are already on disk (nothing is downloaded just for a metric). LPIPS is left out, with a note
    saying why, when the weights are random or unavailable.
    """
    from invert import vgg_weights as weights_source
    from invert.losses import LPIPSPerceptual
    from invert.projector import build_perceptual

    need_loss = bool(perceptual_weight or noise_perceptual_weight)
    if need_loss:
        state, info = weights_source.load_state(vgg_weights)
    else:
        try:
            state, info = weights_source.load_state(vgg_weights, download=False)
        except WeightsError as exc:
            return PerceptualModels(None, None, f"VGG16 weights unavailable ({exc})", None)
    perceptual = build_perceptual(loss_kind, state=state, info=info, device=device) if need_loss else None
    if info["random"]:
        return PerceptualModels(perceptual, None, "VGG16 weights are random; LPIPS would be meaningless", info)
    if loss_kind == "lpips" and perceptual is not None:
        return PerceptualModels(perceptual, perceptual, None, info)
    try:
        return PerceptualModels(perceptual, LPIPSPerceptual(state, info=info).to(device), None, info)
    except WeightsError as exc:
        return PerceptualModels(perceptual, None, str(exc), info)


def projection_record(result, index, *, target, generator, models, extra=None, reconstruction=None, metrics=None):
    """The record of image `index` of a `Projection`: metrics against `target` (uint8 [R, R, 3]), losses,
    steps, time, device, settings, the generator's and VGG16's sources, the noise maps' statistics.

    `reconstruction` (uint8 [R, R, 3]) is the image the metrics measure, when it is not the projection's
    own (a tuned generator's render of the latent); `metrics` its `reconstruction_metrics`, when the caller
    has measured them already. `extra` (a dict) is merged in last: what the caller
    knows and the projection does not (input path, alignment, output paths). Floats that are not finite
    stay as they are; `json_ready` turns them to None.
    """
    from invert import __version__
    from invert.images import to_uint8
    from invert.metrics import reconstruction_metrics

    if reconstruction is None:
        reconstruction = to_uint8(result.images[index: index + 1])[0]
    loss = result.loss_noise if result.loss_noise is not None else result.loss_w
    vgg_info = models.vgg_info
    if metrics is None:
        metrics = reconstruction_metrics(target, reconstruction, lpips_model=models.lpips, lpips_note=models.lpips_note)
    record = {
        **metrics,
        "loss": float(loss[index]), "loss_w": float(result.loss_w[index]),
        "loss_noise": None if result.loss_noise is None else float(result.loss_noise[index]),
        "steps": {"w": result.steps_w, "noise": result.steps_noise},
        "interrupted": result.interrupted, "seconds": round(result.seconds, 3),
        "seconds_note": f"wall time of the batch of {result.ws.shape[0]} image(s) projected together",
        "device": result.device, "settings": dict(result.settings),
        "noise_maps": None if result.noise_stats is None else result.noise_stats[index],
        "generator": dict(generator.source), "random_generator": bool(generator.is_random),
        "vgg16": vgg_info, "random_vgg16": bool((vgg_info or {}).get("random")),
        "version": __version__,
    }
    if generator.is_random:
        record["warning"] = RANDOM_GENERATOR_WARNING
    record.update(extra or {})
    return record


def stage_metrics(target, reconstructions, *, models, final=None):
    """PSNR, SSIM and LPIPS of each stage's reconstruction: {stage: uint8 [R, R, 3]} -> {stage: {'psnr', 'ssim',
    'lpips'[, 'psnr_note', 'lpips_note']}} against `target` (identity similarity is left to the final image).
    `final` = (image, its reconstruction_metrics): a stage whose image it is is not measured again."""
    import numpy as np

    from invert.metrics import reconstruction_metrics

    out = {}
    for stage, image in reconstructions.items():
        if final is not None and np.array_equal(image, final[0]):
            metrics = final[1]
        else:
            metrics = reconstruction_metrics(target, image, lpips_model=models.lpips, lpips_note=models.lpips_note,
                                             identity=False)
        out[stage] = {key: value for key, value in metrics.items() if not key.startswith("identity")}
    return out


def json_ready(value):
    """`value` with tuple -> list, dict keys -> str, and non-finite floats (an identical image's PSNR) -> None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_line(latent_path, record):
    """One line for a projected image: its latent's path, PSNR, SSIM, LPIPS and identity where measured."""
    psnr = record["psnr"]
    parts = [str(latent_path), f"PSNR {psnr:.2f} dB" if psnr is not None and math.isfinite(psnr) else "PSNR inf",
             f"SSIM {record['ssim']:.4f}"]
    if record["lpips"] is not None:
        parts.append(f"LPIPS {record['lpips']:.4f}")
    if record["identity_similarity"] is not None:
        parts.append(f"identity {record['identity_similarity']:.3f}")
    if record["interrupted"]:
        parts.append("(interrupted)")
    return "  ".join(parts)
