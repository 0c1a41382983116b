"""`stylegan-invert project`: project photos into a generator's W+ space (Image2StyleGAN/++, then optionally
pivotal tuning), one photo or a whole dataset, on one device or many (torchrun).

The command parses and checks every option, then calls the library (invert.pipeline) and prints what it
reports. For each target (`<stem>` the photo's name, `<stem>_face{K}` with --all-faces), beside the photo
or in --outdir (a tree of photos keeps its sub-folders there):

    <stem>.npy, <stem>.json   the latent float32 [num_ws, w_dim], and its record (generator, tuned update)
    <stem>_noise.npz          the noise maps (with --noise or --resume-noise): noise_0 ... float32 [r, r]
    <stem>_tuned.safetensors  with --tune: the tuned generator update (PTI), named in the record
    <stem>_aligned.png        the target actually used (aligned face, or the centre-cropped, resized image)
    <stem>_proj.png           the reconstruction (through the tuned generator when tuning ran)
    <stem>_compare.png        target | reconstruction
    <stem>_metrics.json       status, PSNR/SSIM/LPIPS after each stage, identity similarity, face score,
                              steps, time, device, every setting, the generator's source; written first
                              (status "started") and last, so an incomplete set is recognisable
    <stem>_progress.gif|mp4   with --gif or --mp4: the optimisation, target | current
With --outdir also `manifest.jsonl`, one row per output (invert.pipeline.manifest).

Exit codes: 0 every input projected (now or by an earlier run of the same command); 1 an error stopped the
run (nothing written is lost); 2 a usage error; 3 the run finished but some inputs were skipped (unreadable,
no face) or failed, each reported on stderr and in the manifest; 128 + N when stopped by signal N (130
Ctrl-C, 143 SIGTERM, 129 SIGHUP), after writing the best result so far of the batch being optimised.
"""
import logging
import sys
from pathlib import Path

import click

from invert.cli.deprecated import RenamedOption
from invert.cli.options import FiniteFloat, device_option, force_option
from invert.limits import MIN_FACE_SCORE

log = logging.getLogger(__name__)

EXIT_INCOMPLETE = 3  # some inputs skipped or failed; the others are written
TUNE_OPTIONS = ("tune_steps", "tune_lr", "tune_rank", "tune_locality")


def _tune_rank(ctx, param, value):
    """--tune-rank R|full -> R (int) or 'full', a usage error otherwise."""
    from invert.errors import TuningError
    from invert.tuning import check_rank

    try:
        return check_rank(int(value) if str(value).strip().isdigit() else str(value).strip().lower())
    except (TuningError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("project")
@click.argument("images", nargs=-1)
@click.option("--generator", "-g", "generator", default=None, metavar="NAME|PATH",
              help="Generator: a registry name (see `weights list`), a checkpoint path, or random:NAME[:SEED]. "
                   "[default: ffhq-1024]")
@click.option("--outdir", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Write outputs and the run's manifest.jsonl here instead of beside each image; photos from "
                   "sub-folders keep their sub-folders.")
@click.option("--recursive", "-r", is_flag=True, help="Also project the images in the folders' sub-folders.")
@click.option("--list", "list_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also project the images FILE lists: one path per line, or a .csv with a 'path' column. "
                   "Relative paths are relative to FILE's folder.")
@click.option("--workers", type=click.IntRange(min=0), metavar="N",
              help="Processes that read and align photos while the device optimises (0: the main process "
                   "does it between batches). [default: 4 on a GPU; 0 on a CPU, where they share the "
                   "optimisation's cores (bench/README.md)]")
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(min=0),
              help="W+ optimisation steps (Image2StyleGAN ran 5000; see bench/README.md).")
@click.option("--lr", default=0.01, show_default=True, type=FiniteFloat(min=0, min_open=True),
              help="Adam learning rate of the W+ stage.")
@click.option("--space", type=click.Choice(["w+", "w"]), default="w+", show_default=True, metavar="[w|w+]",
              help="Optimise one w per layer (w+) or one w for all layers (w).")
@click.option("--loss", "loss_kind", type=click.Choice(["vgg", "lpips"]), default="vgg", show_default=True,
              help="Perceptual term: Image2StyleGAN's VGG16 feature MSE, or LPIPS (VGG).")
@click.option("--mse-weight", default=1.0, show_default=True, type=FiniteFloat(min=0),
              help="Weight of the pixel MSE.")
@click.option("--perceptual-weight", default=1.0, show_default=True, type=FiniteFloat(min=0),
              help="Weight of the perceptual term.")
@click.option("--init", type=click.Choice(["mean", "random"]), default="mean", show_default=True,
              help="Start from the mean w, or from the mapping of a random z (see --seed).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of --init random; runs repeat exactly.")
@click.option("--noise/--no-noise", default=False, show_default=True,
              help="After the W+ stage, optimise the noise maps (Image2StyleGAN++).")
@click.option("--noise-steps", default=300, show_default=True, type=click.IntRange(min=0),
              help="Steps of the noise stage.")
@click.option("--noise-lr", default=1.0, show_default=True, type=FiniteFloat(min=0, min_open=True),
              help="Adam learning rate of the noise stage.")
@click.option("--noise-perceptual-weight", default=0.0, show_default=True, type=FiniteFloat(min=0),
              help="Perceptual term in the noise stage (pixel MSE alone by default).")
@click.option("--noise-regularize", default=0.0, show_default=True, type=FiniteFloat(min=0), metavar="WEIGHT",
              help="Weight of NVIDIA's noise regulariser (its projector: 1e5): keeps the maps from copying image "
                   "structure, at the cost of most of what the noise stage adds to PSNR (bench/README.md).")
@click.option("--noise-renormalize", is_flag=True,
              help="Reset every noise map to mean 0, std 1 after each step (as NVIDIA's projector): the maps "
                   "stay plausible N(0, 1) noise, for 7-11 dB less PSNR than free maps (bench/README.md).")
@click.option("--tune", is_flag=True,
              help="After projecting, tune the generator around the latent (pivotal tuning, PTI) and save the "
                   "update as <stem>_tuned.safetensors (see docs/tuning.md).")
@click.option("--tune-steps", default=350, show_default=True, type=click.IntRange(min=1),
              help="Steps of pivotal tuning.")
@click.option("--tune-lr", default=3e-4, show_default=True, type=FiniteFloat(min=0, min_open=True),
              help="Adam learning rate of pivotal tuning.")
@click.option("--tune-rank", default="16", show_default=True, metavar="R|full", callback=_tune_rank,
              help="Rank of each convolution's update (about 4 MB per photo for FFHQ at 16), or 'full'.")
@click.option("--tune-locality", is_flag=True,
              help="PTI's locality regulariser: other latents keep their images (about twice the tuning time).")
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
@click.option("--min-face-score", default=MIN_FACE_SCORE, show_default=True, type=FiniteFloat(min=0),
              help="Ignore detections the face detector scores lower (a clear frontal face scores about 1).")
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path), metavar="LATENT.npy",
              help="Continue from a saved latent (one image only); its <stem>_noise.npz is used when present.")
@click.option("--resume-noise", type=click.Path(dir_okay=False, path_type=Path), metavar="NOISE.npz",
              help="Noise maps to continue from (default: the one beside --resume, if any).")
@click.option("--gif", is_flag=True, help="Also write the optimisation as an animation, <stem>_progress.gif "
                                            "(target | current).")
@click.option("--mp4", is_flag=True, help="Also write the optimisation as an animation, <stem>_progress.mp4 "
                                            "(H.264; target | current).")
@click.option("--video", is_flag=True, hidden=True)  # deprecated: --mp4 (or --gif with --video-format gif)
@click.option("--video-format", type=click.Choice(["mp4", "gif"]), hidden=True)  # deprecated: --gif / --mp4
@click.option("--frame-every", "frame_every", type=click.IntRange(min=1), metavar="K", cls=RenamedOption,
              old=["--video-every"], help="A frame of the animation every K steps (default: about 100 in all).")
@click.option("--fps", default=10.0, show_default=True, type=FiniteFloat(min=0.1, max=100),
              help="Frames per second of the animation.")
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
@click.pass_context
def project(ctx, images, generator, outdir, recursive, list_file, workers, steps, lr, space, loss_kind, mse_weight,
            perceptual_weight, init, seed, noise, noise_steps, noise_lr, noise_perceptual_weight, noise_regularize,
            noise_renormalize, tune, tune_steps, tune_lr, tune_rank, tune_locality, mask, batch_size, align,
            landmarks_path, face_index, all_faces, upsample, min_face_score, resume, resume_noise, gif, mp4,
            video, video_format, frame_every, fps, vgg_weights, amp, channels_last, compile_, compile_mode, tf32,
            threads, device, force):
    """Project IMAGES (files, folders or glob patterns) into a generator and save latents and images.

    Photos that cannot be used (unreadable, no face) are reported and skipped; the others go on. Run the
    same command again to finish a run that was stopped: what is complete is kept, the rest is redone.
    Under torchrun, each process takes its share of the photos on its own GPU.

    \b
    Examples:
      stylegan-invert project face.png
      stylegan-invert project photos/ -r -g ffhq-1024 --noise --outdir out/
      stylegan-invert project --list todo.csv --outdir out/ --tune
      torchrun --standalone --nproc-per-node 8 -m invert project photos/ -r --outdir out/
      stylegan-invert project aligned.png --no-align --mask keep.png

    Exit codes: 0 all projected; 1 error; 2 usage error; 3 some inputs skipped or failed (the others are
    written); 128+N stopped by signal N, after writing the best result so far.
    """
    import torch

    from invert.cli import interrupt_exit_code
    from invert.cli.verbosity import show_progress
    from invert.errors import InvertError
    from invert.pipeline import RunSettings, TargetOptions, TuneOptions, enumerate_inputs, folder_locks, \
        project_dataset, run_folders
    from invert.pipeline.distributed import Coordinator, device_for, from_environment

    _check_usage(ctx, images=images, list_file=list_file, all_faces=all_faces, face_index=face_index,
                 resume=resume, resume_noise=resume_noise, tune=tune, mask=mask, align=align)
    animation = _animation_format(ctx, gif=gif, mp4=mp4, video=video, video_format=video_format,
                                  frame_every=frame_every)
    ranks = from_environment()
    dev = device_for(ranks, device)
    if threads:
        torch.set_num_threads(threads)

    inputs = list(enumerate_inputs(images, recursive=recursive, list_file=list_file))
    if resume is not None and len(inputs) != 1:
        raise InvertError(f"--resume continues one projection; give exactly one image (got {len(inputs)})")
    _check_before_work(outdir=outdir, mask=mask, align=align, landmarks_path=landmarks_path, upsample=upsample)

    coordinator = Coordinator(ranks, dev)
    try:
        with folder_locks(run_folders(inputs, outdir), coordinator):
            G, spec = _load_generator(generator, dev)
            init_ws, init_noise, resumed_files = _resume(G, resume, resume_noise)
            models = _perceptual_models(loss_kind, vgg_weights, perceptual_weight,
                                        noise_perceptual_weight if noise else 0, dev)
            tune_perceptual = _tune_perceptual(models, loss_kind, vgg_weights, dev) if tune else None
            _bf16_tip(amp, dev)
            total_steps = steps + (noise_steps if noise else 0)
            progress = show_progress() and ranks.is_main  # one rank's bars: the ranks share a terminal
            settings = RunSettings(
                targets=TargetOptions(resolution=G.resolution, align=align, face_index=face_index,
                                      all_faces=all_faces, landmarks_path=_str(landmarks_path), upsample=upsample,
                                      min_face_score=min_face_score, mask_path=_str(mask)),
                projector=dict(num_steps=steps, lr=lr, space=space, init=init, seed=seed, mse_weight=mse_weight,
                               perceptual_weight=perceptual_weight, noise=noise, noise_steps=noise_steps,
                               noise_lr=noise_lr, noise_perceptual_weight=noise_perceptual_weight,
                               noise_regularize=noise_regularize, noise_renormalize=noise_renormalize, amp=amp,
                               channels_last=channels_last, compile=compile_mode or compile_, tf32=tf32),
                loss=loss_kind,
                tune=TuneOptions(steps=tune_steps, lr=tune_lr, rank=tune_rank, locality=tune_locality, seed=seed)
                if tune else None,
                generator_spec=spec, outdir=_str(outdir),
                video_format=animation,
                video_every=(frame_every or max(1, total_steps // 100)) if animation else 0, fps=fps,
                batch_size=batch_size, workers=_workers(workers, dev), force=force,
                resume_paths=tuple(str(p) for p in (resume, resume_noise) if p is not None), progress=progress)
            printer = _Printer(ctx.command, show_bar=progress)
            summary = project_dataset(G, inputs, settings=settings, models=models, tune_perceptual=tune_perceptual,
                                      init_ws=init_ws, init_noise=init_noise, coordinator=coordinator,
                                      reporter=printer,
                                      run_inputs=[mask, landmarks_path, *resumed_files])
    finally:
        coordinator.close()

    if summary.stopped:
        click.echo(f"Interrupted: saved the best result so far for {summary.interrupted} image(s); "
                   f"{summary.unfinished} not projected", err=True)
        sys.exit(interrupt_exit_code())
    if ranks.is_main and (summary.inputs > 1 or not summary.all_done):
        click.echo(_summary_line(summary, distributed=ranks.distributed), err=True)
    if ranks.is_main and not summary.all_done:
        sys.exit(EXIT_INCOMPLETE)


def _check_usage(ctx, *, images, list_file, all_faces, face_index, resume, resume_noise, tune, mask, align):
    """Option combinations that make no sense: usage errors (exit 2) before anything is read."""
    if not images and list_file is None:
        raise click.UsageError("give the images to project (files, folders or patterns), or --list FILE")
    if mask is not None and align:
        raise click.UsageError("--mask needs --no-align: alignment moves the face but not the mask. Align the "
                               "photo first (stylegan-invert align), draw the mask on the aligned image, then "
                               "project that with --no-align --mask")
    if all_faces and face_index is not None:
        raise click.UsageError("--face-index and --all-faces exclude each other")
    if resume_noise is not None and resume is None:
        raise click.UsageError("--resume-noise needs --resume")
    if resume is not None and all_faces:
        raise click.UsageError("--resume continues one projection; it cannot be used with --all-faces")
    if not tune:
        for name in TUNE_OPTIONS:
            if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT):
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(f"{flag} needs --tune")


def _animation_format(ctx, *, gif, mp4, video, video_format, frame_every):
    """'gif', 'mp4' or None from --gif/--mp4 (and the deprecated --video [--video-format F])."""
    from invert.cli.deprecated import note

    if video or video_format is not None:
        old = "--video" + (f" --video-format {video_format}" if video_format is not None else "")
        new = "--gif" if video_format == "gif" else "--mp4"
        if gif or mp4:
            raise click.UsageError(f"{old} is the old spelling of {new}; give --gif or --mp4 only", ctx=ctx)
        note(old, new)
        gif, mp4 = video_format == "gif", video_format != "gif"
    if gif and mp4:
        raise click.UsageError("--gif and --mp4 exclude each other in project: the optimisation is written as "
                               "one animation", ctx=ctx)
    if frame_every is not None and not (gif or mp4):
        raise click.UsageError("--frame-every spaces the animation's frames; add --gif or --mp4", ctx=ctx)
    return "gif" if gif else "mp4" if mp4 else None


def _check_before_work(*, outdir, mask, align, landmarks_path, upsample):
    """What would fail for every photo, found before the generator is loaded: the output folder, the mask,
    the face models."""
    from invert.fileio import check_folder_for

    if outdir is not None:
        from invert.pipeline.manifest import MANIFEST

        check_folder_for(Path(outdir) / MANIFEST)
    if mask is not None:
        from invert.images import load_rgb
        from invert.projector import read_mask

        rgb = load_rgb(mask, what="mask")
        read_mask(mask, resolution=rgb.shape[0], image_size=rgb.shape[:2])  # greyscale, some known pixels
    if align:
        import numpy as np

        from invert.faces import detect_faces

        detect_faces(np.zeros((8, 8, 3), np.uint8), upsample=0, landmarks_path=landmarks_path)  # loads dlib


def _load_generator(generator, device):
    """The generator, `ffhq-1024` when none is named (said in one line) -> (G, the spec to record)."""
    from invert.checkpoints import load_generator
    from invert.known_networks import note_loaded
    from invert.records import DEFAULT_GENERATOR

    if generator is None:
        generator = DEFAULT_GENERATOR
        log.info("no --generator given: using %s, the official FFHQ 1024x1024 network", generator)
    G = load_generator(generator, device=device)
    note_loaded(G)  # the first load of a registry FFHQ file records its network fingerprint
    return G, generator


def _resume(G, resume, resume_noise):
    """-> (latent, noise maps, the files read) of --resume/--resume-noise."""
    if resume is None:
        return None, None, []
    from invert.latents import latent_paths, load_latent, load_noise

    latent = load_latent(resume, G, with_noise=resume_noise is None)
    noise = latent.noise
    if resume_noise is not None:
        noise = load_noise(resume_noise, noise_shapes=G.synthesis.noise_shapes())
    log.info("resuming from %s%s", resume, " with its noise maps" if noise is not None else "")
    return latent.w, noise, [*latent_paths(resume), resume_noise]


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
        raise WeightsError(f"{exc}; or pass --vgg-weights PATH", remedies=exc.remedies) from None


def _tune_perceptual(models, loss_kind, vgg_weights, device):
    """LPIPS, the loss of pivotal tuning (PTI's): the run's own when it has one, else built from the same
    VGG16 weights (random weights included: tuning then runs, its LPIPS is meaningless)."""
    from invert.errors import WeightsError
    from invert.projector import build_perceptual

    if loss_kind == "lpips" and models.perceptual is not None:
        return models.perceptual
    if models.lpips is not None:
        return models.lpips
    try:
        return build_perceptual("lpips", vgg_weights=vgg_weights, device=device)
    except WeightsError as exc:
        if vgg_weights is not None:
            raise
        raise WeightsError(f"{exc}; or pass --vgg-weights PATH", remedies=exc.remedies) from None


def _workers(workers, device):
    """--workers, or its default: DataLoader workers keep a GPU fed; on a CPU they share the optimisation's
    cores (4 workers: 1.02-1.13x on 2 cores with alignment at its heaviest, 20 steps; less at 1000), so none."""
    if workers is not None:
        return workers
    return 4 if device.type in ("cuda", "mps") else 0


def _bf16_tip(amp, device):
    from invert.devices import bf16_autocast_pays

    if amp == "off" and bf16_autocast_pays(device):
        log.info("Tip: this CPU has AMX: --amp bf16 projected 1.2-2.2x faster on such a CPU, within 0.1 dB "
                 "after 1000 steps (bench/README.md)")


class _Printer:
    """The run's reports on the terminal: a line per latent on stdout, a line per problem and a progress
    bar over the whole run on stderr (the bar only on a terminal, and only on rank 0)."""

    def __init__(self, command, *, show_bar):
        self.command, self.show_bar, self.bar = command, show_bar, None

    def start(self, total, done):
        if self.show_bar and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc="photos", unit="photo", file=sys.stderr,
                            dynamic_ncols=True, position=1)

    def advance(self, count=1):
        if self.bar is not None:
            self.bar.update(count)

    def projected(self, record, paths):
        from invert.report import summary_line

        line = summary_line(paths["latent"], record)
        if record.get("tuned"):
            line += "  (tuned)"
        self._echo(line, err=False)

    def problem(self, input_path, problem, *, face=None):
        from invert.cli import one_line
        from invert.errors import InvertError

        what = f"{input_path} (face {face})" if face is not None else str(input_path)
        reason = one_line(InvertError(problem.message, remedies=problem.remedies), command=self.command)
        named = str(input_path) in reason and face is None  # "cannot read image X: ..." names it already
        self._echo(f"warning: {problem.kind}: {reason}" if named else f"warning: {problem.kind} {what}: {reason}",
                   err=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _echo(self, line, *, err):
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr if err else sys.stdout)
        else:
            click.echo(line, err=err)


def _summary_line(summary, *, distributed):
    parts = [f"{summary.projected} projected"]
    if summary.already:
        parts.append(f"{summary.already} already projected")
    parts += [f"{summary.skipped} skipped", f"{summary.failed} failed"]
    line = f"{summary.inputs} input(s): " + ", ".join(parts)
    if summary.manifest:
        line += f"; manifest {summary.manifest}"
    return line + (" (all ranks)" if distributed else "")


def _str(path):
    return None if path is None else str(path)
