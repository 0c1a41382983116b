"""`stylegan-invert project`: project photos into a generator's W+ space (Image2StyleGAN/++).

For each input photo, written beside it (or in --outdir), with <stem> the photo's name (`<stem>_face{K}`
with --all-faces):

    <stem>.npy            the latent, float32 [num_ws, w_dim]
    <stem>_noise.npz      the noise maps (with --noise or --resume-noise): noise_0 ... float32 [r, r]
    <stem>_aligned.png    the target actually used (aligned face, or the centre-cropped, resized image)
    <stem>_proj.png       the reconstruction, G.synthesis(latent, noise=noise maps)
    <stem>_compare.png    target | reconstruction
    <stem>_metrics.json   PSNR, SSIM, LPIPS, identity similarity, steps, time, device, every setting,
                          the generator's source (and a warning when its weights are random)
    <stem>_progress.mp4   with --video (or .gif with --video-format gif): the optimisation, target | current

Every input is read, aligned and checked, and every output path checked, before the first step.
"""
import glob
import logging
import sys
from pathlib import Path

import click

from invert.cli.options import device_option, force_option, generator_option

log = logging.getLogger(__name__)

OUTPUT_TAGS = ("_aligned.png", "_proj.png", "_compare.png", "_metrics.json")


def collect_inputs(specs):
    """Files, folders (their images, not recursive) and glob patterns -> list of image Paths, in order.

    Inside folders and globs, files that an earlier projection wrote (`X_aligned.png`, `X_proj.png`,
    `X_compare.png` beside an `X_metrics.json`) are skipped; files named explicitly are always used.
    """
    from invert.errors import ImageError
    from invert.images import IMAGE_SUFFIXES

    paths, skipped = [], 0
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif not path.exists() and glob.has_magic(str(spec)):
            found = sorted(Path(p) for p in glob.glob(str(spec)) if Path(p).is_file()
                           and Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"no images match {spec}")
        else:
            paths.append(path)
            continue
        kept = [p for p in found if not _is_projection_output(p)]
        skipped += len(found) - len(kept)
        if not kept:
            raise ImageError(f"no images to project in {spec}")
        paths += kept
    if skipped:
        log.info("skipped %d image(s) written by an earlier projection", skipped)
    return list(dict.fromkeys(paths))


def _is_projection_output(path):
    for tag in ("_aligned", "_proj", "_compare"):
        if path.stem.endswith(tag) and path.with_name(path.stem[: -len(tag)] + "_metrics.json").exists():
            return True
    return False


def output_paths(stem, folder, *, video_format=None):
    """The files written for one target: {'latent', 'noise', 'aligned', 'proj', 'compare', 'metrics'[, 'video']}."""
    folder = Path(folder)
    paths = {"latent": folder / f"{stem}.npy", "noise": folder / f"{stem}_noise.npz",
             "aligned": folder / f"{stem}_aligned.png", "proj": folder / f"{stem}_proj.png",
             "compare": folder / f"{stem}_compare.png", "metrics": folder / f"{stem}_metrics.json"}
    if video_format:
        paths["video"] = folder / f"{stem}_progress.{video_format}"
    return paths


@click.command("project")
@click.argument("images", nargs=-1, required=True)
@generator_option
@click.option("--outdir", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Write outputs here instead of beside each image.")
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(min=0),
              help="W+ optimisation steps (Image2StyleGAN ran 5000; see bench/results/quality.md).")
@click.option("--lr", default=0.01, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Adam learning rate of the W+ stage.")
@click.option("--space", type=click.Choice(["w+", "w"]), default="w+", show_default=True,
              help="Optimise one w per layer (w+) or one w for all layers (w).")
@click.option("--loss", "loss_kind", type=click.Choice(["vgg", "lpips"]), default="vgg", show_default=True,
              help="Perceptual term: Image2StyleGAN's VGG16 feature MSE, or LPIPS (VGG).")
@click.option("--mse-weight", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Weight of the pixel MSE.")
@click.option("--perceptual-weight", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Weight of the perceptual term.")
@click.option("--init", type=click.Choice(["mean", "random"]), default="mean", show_default=True,
              help="Start from the mean w, or from the mapping of a random z (see --seed).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of --init random; runs repeat exactly.")
@click.option("--noise/--no-noise", default=False, show_default=True,
              help="After the W+ stage, optimise the noise maps (Image2StyleGAN++).")
@click.option("--noise-steps", default=300, show_default=True, type=click.IntRange(min=0),
              help="Steps of the noise stage.")
@click.option("--noise-lr", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Adam learning rate of the noise stage.")
@click.option("--noise-perceptual-weight", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Perceptual term in the noise stage (pixel MSE alone by default).")
@click.option("--mask", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Greyscale mask, white = known pixels: the loss ignores the rest (inpainting, local edits). "
                   "Needs --no-align.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1),
              help="Images optimised together (each with its own latent).")
@click.option("--align/--no-align", default=True, show_default=True,
              help="Align the face the FFHQ way first (dlib); --no-align centre-crops and resizes instead.")
@click.option("--landmarks", "landmarks_path", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="dlib 68-point shape predictor for alignment.")
@click.option("--face-index", type=click.IntRange(min=0), metavar="K", help="Project face K instead of the best one.")
@click.option("--all-faces", is_flag=True, help="Project every face, as <stem>_face{K}.")
@click.option("--upsample", default=1, show_default=True, type=click.IntRange(0, 3),
              help="Face detector upsampling (finds smaller faces; slower).")
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path), metavar="LATENT.npy",
              help="Continue from a saved latent (one image only); its <stem>_noise.npz is used when present.")
@click.option("--resume-noise", type=click.Path(dir_okay=False, path_type=Path), metavar="NOISE.npz",
              help="Noise maps to continue from (default: the one beside --resume, if any).")
@click.option("--video", is_flag=True, help="Also write the optimisation as an animation.")
@click.option("--video-format", type=click.Choice(["mp4", "gif"]), default="mp4", show_default=True,
              help="Format of the --video animation.")
@click.option("--video-every", type=click.IntRange(min=1), metavar="K",
              help="A frame every K steps (default: about 100 frames in all).")
@click.option("--fps", default=10.0, show_default=True, type=click.FloatRange(min=0.1, max=100),
              help="Frames per second of the --video animation.")
@click.option("--vgg-weights", metavar="PATH|random[:SEED]",
              help="torchvision's vgg16-397923af.pth (default: torch hub cache, then download). "
                   "'random' = random weights, for tests only.")
@click.option("--amp", type=click.Choice(["off", "bf16", "fp16"]), default="off", show_default=True,
              help="Mixed precision for generator and VGG (latents and loss stay float32).")
@click.option("--channels-last", is_flag=True, help="Run VGG16 in channels-last memory format.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the networks (falls back if it fails).")
@click.option("--compile-mode", type=click.Choice(["default", "reduce-overhead", "max-autotune"]),
              help="torch.compile mode (implies --compile); 'reduce-overhead' replays the networks as CUDA "
                   "graphs on a GPU.")
@click.option("--tf32", is_flag=True, help="Allow TF32 on CUDA.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch (default: torch's choice).")
@device_option
@force_option
def project(images, generator, outdir, steps, lr, space, loss_kind, mse_weight, perceptual_weight, init, seed,
            noise, noise_steps, noise_lr, noise_perceptual_weight, mask, batch_size, align, landmarks_path,
            face_index, all_faces, upsample, resume, resume_noise, video, video_format, video_every, fps,
            vgg_weights, amp, channels_last, compile_, compile_mode, tf32, threads, device, force):
    """Project IMAGES (files, folders or glob patterns) into a generator and save latents and images.

    \b
    Examples:
      stylegan-invert project face.png --generator ffhq-1024
      stylegan-invert project photos/ -g ffhq-1024 --noise --outdir out/
      stylegan-invert project aligned.png -g ffhq-1024 --no-align --mask keep.png
    """
    import torch

    from invert import projector
    from invert.devices import bf16_autocast_pays, resolve_device
    from invert.errors import InvertError

    if all_faces and face_index is not None:
        raise click.UsageError("--face-index and --all-faces exclude each other")
    if mask is not None and align:
        raise InvertError("--mask needs --no-align: alignment moves the face but not the mask. Align the photo "
                          "first (stylegan-invert align), draw the mask on the aligned image, then project "
                          "that with --no-align --mask")
    if resume_noise is not None and resume is None:
        raise click.UsageError("--resume-noise needs --resume")

    inputs = collect_inputs(images)
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    import invert

    G = invert.load_generator(generator, device=dev)
    targets = _read_targets(inputs, G.resolution, align=align, face_index=face_index, all_faces=all_faces,
                            landmarks_path=landmarks_path, upsample=upsample, mask_path=mask)
    if resume is not None and len(targets) != 1:
        raise InvertError(f"--resume continues one projection; give exactly one image (got {len(targets)} targets)")
    plan = _plan_outputs(targets, outdir, video_format=video_format if video else None, force=force)
    init_ws, init_noise = _resume(G, resume, resume_noise)

    models = _perceptual_models(loss_kind, vgg_weights, perceptual_weight, noise_perceptual_weight if noise else 0,
                                dev)
    total_steps = steps + (noise_steps if noise else 0)
    every = (video_every or max(1, total_steps // 100)) if video else 0
    options = dict(num_steps=steps, lr=lr, space=space, init=init, seed=seed, mse_weight=mse_weight,
                   perceptual_weight=perceptual_weight, noise=noise, noise_steps=noise_steps, noise_lr=noise_lr,
                   noise_perceptual_weight=noise_perceptual_weight, amp=amp, channels_last=channels_last,
                   compile=compile_mode or compile_, tf32=tf32, video_every=every, progress=sys.stderr.isatty())
    context = dict(generator=G, models=models, fps=fps, align=align, loss_kind=loss_kind)

    if amp == "off" and bf16_autocast_pays(dev):
        log.info("Tip: this CPU has AMX: --amp bf16 projected 1.2-2.2x faster on such a CPU, within 0.1 dB "
                 "after 1000 steps (bench/README.md)")

    written = 0
    for start in range(0, len(plan), batch_size):
        batch = plan[start: start + batch_size]
        masks = [t["mask"] for t, _ in batch]
        result = projector.project(
            G, [t["image"] for t, _ in batch], perceptual=models.perceptual, init_ws=init_ws, init_noise=init_noise,
            mask=None if masks[0] is None else _masks_array(masks), **options)
        _save_batch(batch, result, context)
        written += len(batch)
        if result.interrupted:
            click.echo(f"Interrupted: saved the best result so far for {len(batch)} image(s); "
                       f"{len(plan) - written} not projected", err=True)
            sys.exit(130)


def _masks_array(masks):
    import numpy as np

    return np.stack(masks)[:, None]


def _read_targets(inputs, resolution, *, align, face_index, all_faces, landmarks_path, upsample, mask_path):
    """Read (and align) every input -> list of {'input', 'stem', 'image' uint8 [R, R, 3], 'mask', 'face'}."""
    from invert.errors import ImageError
    from invert.images import load_rgb
    from invert.projector import prepare_target, read_mask

    targets = []
    for path in inputs:
        rgb = load_rgb(path)
        if not align:
            mask = None if mask_path is None else read_mask(mask_path, resolution=resolution,
                                                            image_size=rgb.shape[:2])
            targets.append({"input": path, "stem": path.stem, "image": prepare_target(rgb, resolution),
                            "mask": mask, "face": None})
            continue
        from invert import align as alignment

        try:
            if all_faces:
                faces = alignment.align_faces(rgb, size=resolution, landmarks_path=landmarks_path, upsample=upsample)
                for k, face in enumerate(faces):
                    targets.append({"input": path, "stem": f"{path.stem}_face{k}", "image": face.image,
                                    "mask": None, "face": k})
            else:
                image = alignment.align_face(rgb, size=resolution, face_index=face_index,
                                             landmarks_path=landmarks_path, upsample=upsample)
                targets.append({"input": path, "stem": path.stem, "image": image, "mask": None,
                                "face": face_index or 0})
        except ImageError as exc:
            message = str(exc)
            if "--no-align" not in message:
                message += "; pass --no-align to project the image as it is"
            raise type(exc)(f"{path}: {message}") from None
    return targets


def _plan_outputs(targets, outdir, *, video_format, force):
    """Pair each target with its output paths; refuse clashes and (without --force) existing files."""
    from invert.errors import InvertError
    from invert.fileio import check_writable

    plan, owners = [], {}
    for target in targets:
        folder = outdir if outdir is not None else target["input"].parent
        paths = output_paths(target["stem"], folder, video_format=video_format)
        key = paths["latent"].resolve()
        if key in owners:
            raise InvertError(f"{owners[key]} and {target['input']} would both write {paths['latent']}; "
                              "rename one or project them into different --outdir folders")
        owners[key] = target["input"]
        plan.append((target, paths))
    check_writable([path for _, paths in plan for path in paths.values()], force=force)
    return plan


def _resume(G, resume, resume_noise):
    if resume is None:
        return None, None
    from invert.latents import load_latent, load_noise

    latent = load_latent(resume, G, with_noise=resume_noise is None)
    noise = latent.noise
    if resume_noise is not None:
        noise = load_noise(resume_noise, noise_shapes=G.synthesis.noise_shapes())
    log.info("resuming from %s%s", resume, " with its noise maps" if noise is not None else "")
    return latent.w, noise


def _perceptual_models(loss_kind, vgg_weights, perceptual_weight, noise_perceptual_weight, device):
    """invert.report.perceptual_models, with the command line's option named when VGG16 weights are missing."""
    from invert.errors import WeightsError
    from invert.report import perceptual_models

    try:
        return perceptual_models(loss_kind, vgg_weights=vgg_weights, perceptual_weight=perceptual_weight,
                                 noise_perceptual_weight=noise_perceptual_weight, device=device)
    except WeightsError as exc:
        if vgg_weights is not None:
            raise
        raise WeightsError(f"{exc}; or pass --vgg-weights PATH") from None


def _save_batch(batch, result, context):
    """Write every output of one projected batch and print a line per image."""
    from invert.fileio import save_json
    from invert.images import generator_metadata, save_animation, save_png, side_by_side, to_uint8
    from invert.latents import save_latent
    from invert.report import json_ready, projection_record, summary_line

    G = context["generator"]
    metadata = generator_metadata(G)  # rendered images name their generator (and say when it is random)
    reconstructions = to_uint8(result.images)
    for i, (target, paths) in enumerate(batch):
        noise = None if result.noise is None else [n[i if n.shape[0] > 1 else 0] for n in result.noise]
        save_latent(paths["latent"], result.ws[i], noise=noise)
        save_png(paths["aligned"], target["image"])
        save_png(paths["proj"], reconstructions[i], metadata=metadata)
        save_png(paths["compare"], side_by_side(target["image"], reconstructions[i]), metadata=metadata)
        if "video" in paths and result.frames:
            frames = [side_by_side(target["image"], frame[i]) for frame in result.frames]
            save_animation(paths["video"], frames, fps=context["fps"])
        record = projection_record(result, i, target=target["image"], generator=G, models=context["models"], extra={
            "input": str(target["input"]), "aligned": context["align"], "face_index": target["face"],
            "outputs": {name: str(path) for name, path in paths.items() if name != "noise" or noise is not None}})
        record["settings"].update(loss=context["loss_kind"], mask=target["mask"] is not None)
        save_json(paths["metrics"], json_ready(record))
        click.echo(summary_line(paths["latent"], record))
