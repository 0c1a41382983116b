"""`stylegan-invert morph A.npy B.npy --frames N`: Image2StyleGAN morphing, w(t) = (1 - t) a + t b.

Tuned updates: frame t renders through (1 - t) ΔA + t ΔB (invert.tuned_latents.frame_update; an untuned end
counts as zero), so each end is exactly its latent's own tuned rendering and the identity each update
carries fades with its latent. The midpoint's update, (ΔA + ΔB) / 2, is saved as `<out stem>_tuned.safetensors`
for its record to name, unless both ends name the same file (then every frame uses that one).
"""
import logging

import click

from invert.cli._latent_outputs import (animation_paths, batch_size_option, batch_slices, check_outputs, fps_option,
                                        generator_for_latents, gif_option, latent_record, mp4_option, out_path,
                                        sibling, tuned_inputs, update_files, write_animations, write_latent, write_png)
from invert.cli.deprecated import RenamedOption
from invert.cli.options import device_option, force_option, latent_generator_option, no_tuned_option
from invert.limits import MAX_FRAMES

log = logging.getLogger(__name__)


@click.command()
@click.argument("latent_a", metavar="A.npy", type=click.Path(dir_okay=False))
@click.argument("latent_b", metavar="B.npy", type=click.Path(dir_okay=False))
@latent_generator_option
@no_tuned_option
@click.option("--frames", "frame_count", type=click.IntRange(2, MAX_FRAMES), default=30, show_default=True,
              cls=RenamedOption, old=["--steps"], help="Frames from A to B, both included.")
@gif_option
@mp4_option
@fps_option
@click.option("--loop", is_flag=True, help="Append the frames in reverse, so the animation returns to A.")
@click.option("--save-latents", is_flag=True, help="Also write the frame latents [frames, num_ws, w_dim] as "
                                                   "<out stem>_frames.npy (with its record, _frames.json).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Result latent (the midpoint, t = 0.5); the image, animation and frames go beside it. "
                   "[default: A_B_morph.npy beside A]")
@batch_size_option
@device_option
@force_option
def morph(latent_a, latent_b, generator, no_tuned, frame_count, gif, mp4, fps, loop, save_latents, out, batch_size,
          device, force):
    """Interpolate linearly from latent A to latent B and render the frames as an animation.

    Noise maps are interpolated too when either latent carries them (the generator's stored maps stand
    in for the other), and so are the latents' tuned updates: frame t renders through (1 - t) of A's
    update plus t of B's (an untuned end counts as none). Writes the midpoint latent (--out) and its
    PNG, the midpoint's update (<out stem>_tuned.safetensors, unless A and B share one), the GIF/MP4, and
    with --save-latents every frame's latent.
    """
    import contextlib
    from pathlib import Path

    import numpy as np

    from invert.editing import interpolate_at, lerp, paired_noise
    from invert.fileio import NpyStream, same_file
    from invert.latents import default_noise, latent_paths, load_latent
    from invert.records import record_path, write_record
    from invert.render import render
    from invert.tuned_latents import frame_update, load_recorded
    from invert.tuning import apply_update, save_update, tuned_path
    from invert.tuning.update import blend_as_update

    out = out_path(out, beside=latent_a, stem=f"{Path(latent_a).stem}_{Path(latent_b).stem}_morph")
    animations = animation_paths(out, gif=gif, mp4=mp4)
    frames_path = sibling(out, "_frames.npy")
    found = tuned_inputs([latent_a, latent_b], no_tuned=no_tuned)
    found_a, found_b = found[Path(latent_a)], found[Path(latent_b)]
    shared = found_a is not None and found_b is not None and same_file(found_a.file, found_b.file)
    blends = (found_a is not None or found_b is not None) and not shared  # each frame its own blend
    mid_update_path = tuned_path(out)
    check_outputs([*latent_paths(out), sibling(out, ".png"), *animations] + [mid_update_path] * blends
                  + [frames_path, record_path(frames_path)] * save_latents, force=force, latents=[latent_a, latent_b],
                  others=update_files(found))

    G, spec = generator_for_latents(generator, [latent_a, latent_b], device)
    a, b = load_latent(latent_a, G), load_latent(latent_b, G)
    update_a = load_recorded(found_a, G)
    update_b = update_a if shared else load_recorded(found_b, G)
    pair = paired_noise(a.noise, b.noise, default=default_noise(G))
    noise_a, noise_b = pair if pair is not None else (None, None)
    mid_noise = None if pair is None else [lerp(na, nb, 0.5) for na, nb in zip(noise_a, noise_b)]
    mid = lerp(a.w, b.w, 0.5)

    def through(update):
        return G if update is None else apply_update(G, update)

    mid_update = frame_update(update_a, update_b, 0.5)
    if blends:  # a new update: saved (as a plain update of the summed rank) for the midpoint's record to name
        mid_update = blend_as_update(G, mid_update)
        click.echo(str(save_update(mid_update_path, mid_update, overwrite=force)))
        log.info("morph: frame t renders through (1 - t) of %s plus t of %s; the midpoint's blend is saved as %s",
                 found_a.file if found_a else "no update (A)", found_b.file if found_b else "no update (B)",
                 mid_update_path)
    elif shared:
        log.info("morph: A and B name the same tuned update %s; every frame renders through it", found_a.file)
    mid_G = through(mid_update)
    write_latent(out, mid, mid_noise, latent_record(G, spec, "morph", [latent_a, latent_b], update=mid_update, out=out),
                 overwrite=force)
    write_png(sibling(out, ".png"), render(mid_G, mid[None], noise=mid_noise)[0], mid_G, command="morph", t=0.5,
              overwrite=force)

    t = np.linspace(0.0, 1.0, frame_count)
    parts = batch_slices(frame_count, batch_size)

    def frame_latents(part):
        """ws [n, num_ws, w_dim] and noise maps (each [n, r, r], or None) of the frames in slice `part`."""
        ws = interpolate_at(a.w, b.w, t[part])
        if mid_noise is None:
            return ws, None
        return ws, [interpolate_at(na, nb, t[part]) for na, nb in zip(noise_a, noise_b)]

    frames_G = None if blends else through(update_a)

    def frame_images(part):
        """(ws [n, num_ws, w_dim], uint8 images [n, R, R, 3]) of the frames in slice `part`, each rendered
        through its own update."""
        ws, noise = frame_latents(part)
        if not blends:
            return ws, render(frames_G, ws, noise=noise, batch_size=batch_size)
        # every frame has its own weights (its own blend of the two updates): one image at a time
        return ws, np.stack([render(through(frame_update(update_a, update_b, t_i)), ws[i:i + 1],
                                    noise=None if noise is None else [m[i] for m in noise])[0]
                             for i, t_i in enumerate(t[part])])

    with contextlib.ExitStack() as stack:
        stream = None
        if save_latents:
            stream = stack.enter_context(NpyStream(frames_path, shape=(frame_count, G.num_ws, G.w_dim),
                                                   overwrite=force))

        def frames():
            for part in parts:
                ws, images = frame_images(part)
                if stream is not None:
                    stream.append(ws)
                yield images
            if loop:
                # back to A: frames frame_count-2 ... 0, rendered in the very batches of the way there, so
                # identical
                for part in reversed(parts):
                    back = frame_images(part)[1][::-1]
                    yield back[1:] if part.stop == frame_count else back

        write_animations(animations, frames(), fps=fps, overwrite=force)
    if save_latents:
        # the frames' record names an update only when every frame renders through the same one
        record = latent_record(G, spec, "morph", [latent_a, latent_b], update=None if blends else update_a,
                               out=frames_path)
        click.echo(str(frames_path))
        click.echo(str(write_record(frames_path, record, shape=(frame_count, G.num_ws, G.w_dim), overwrite=force)))
