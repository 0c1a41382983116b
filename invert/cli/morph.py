"""`stylegan-invert morph A.npy B.npy --steps N`: Image2StyleGAN morphing, w(t) = (1 - t) a + t b."""
import click

from invert.cli._latent_outputs import (animation_paths, batch_size_option, batch_slices, check_outputs, fps_option,
                                        generator_for_latents, gif_option, latent_record, mp4_option, out_path,
                                        sibling, write_animations, write_latent, write_png)
from invert.cli.options import device_option, force_option, latent_generator_option
from invert.limits import MAX_FRAMES


@click.command()
@click.argument("latent_a", metavar="A.npy", type=click.Path(dir_okay=False))
@click.argument("latent_b", metavar="B.npy", type=click.Path(dir_okay=False))
@latent_generator_option
@click.option("--steps", type=click.IntRange(2, MAX_FRAMES), default=30, show_default=True,
              help="Frames from A to B, both included.")
@gif_option
@mp4_option
@fps_option
@click.option("--loop", is_flag=True, help="Append the frames in reverse, so the animation returns to A.")
@click.option("--save-latents", is_flag=True, help="Also write the frame latents [steps, num_ws, w_dim] as "
                                                   "<out stem>_frames.npy (with its record, _frames.json).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Result latent (the midpoint, t = 0.5); the image, animation and frames go beside it. "
                   "[default: A_B_morph.npy beside A]")
@batch_size_option
@device_option
@force_option
def morph(latent_a, latent_b, generator, steps, gif, mp4, fps, loop, save_latents, out, batch_size, device, force):
    """Interpolate linearly from latent A to latent B and render the frames as an animation.

    Noise maps are interpolated too when either latent carries them (the generator's stored maps stand
    in for the other). Writes the midpoint latent (--out) and its PNG, the GIF/MP4, and with
    --save-latents every frame's latent.
    """
    import contextlib
    from pathlib import Path

    import numpy as np

    from invert.editing import interpolate_at, lerp, paired_noise
    from invert.fileio import NpyStream
    from invert.latents import default_noise, latent_paths, load_latent
    from invert.records import record_path, write_record
    from invert.render import render

    out = out_path(out, beside=latent_a, stem=f"{Path(latent_a).stem}_{Path(latent_b).stem}_morph")
    animations = animation_paths(out, gif=gif, mp4=mp4)
    frames_path = sibling(out, "_frames.npy")
    check_outputs([*latent_paths(out), sibling(out, ".png"), *animations]
                  + [frames_path, record_path(frames_path)] * save_latents, force=force, latents=[latent_a, latent_b])

    G, spec = generator_for_latents(generator, [latent_a, latent_b], device)
    a, b = load_latent(latent_a, G), load_latent(latent_b, G)
    pair = paired_noise(a.noise, b.noise, default=default_noise(G))
    noise_a, noise_b = pair if pair is not None else (None, None)
    mid_noise = None if pair is None else [lerp(na, nb, 0.5) for na, nb in zip(noise_a, noise_b)]
    mid = lerp(a.w, b.w, 0.5)

    record = latent_record(G, spec, "morph", [latent_a, latent_b])
    write_latent(out, mid, mid_noise, record, overwrite=force)
    write_png(sibling(out, ".png"), render(G, mid[None], noise=mid_noise)[0], G, command="morph", t=0.5,
              overwrite=force)

    t = np.linspace(0.0, 1.0, steps)
    parts = batch_slices(steps, batch_size)

    def frame_latents(part):
        """ws [n, num_ws, w_dim] and noise maps (each [n, r, r], or None) of the frames in slice `part`."""
        ws = interpolate_at(a.w, b.w, t[part])
        if mid_noise is None:
            return ws, None
        return ws, [interpolate_at(na, nb, t[part]) for na, nb in zip(noise_a, noise_b)]

    with contextlib.ExitStack() as stack:
        stream = None
        if save_latents:
            stream = stack.enter_context(NpyStream(frames_path, shape=(steps, G.num_ws, G.w_dim), overwrite=force))

        def frames():
            for part in parts:
                ws, noise = frame_latents(part)
                if stream is not None:
                    stream.append(ws)
                yield render(G, ws, noise=noise, batch_size=batch_size)
            if loop:
                # back to A: frames steps-2 ... 0, rendered in the very batches of the way there, so identical
                for part in reversed(parts):
                    ws, noise = frame_latents(part)
                    back = render(G, ws, noise=noise, batch_size=batch_size)[::-1]
                    yield back[1:] if part.stop == steps else back

        write_animations(animations, frames(), fps=fps, overwrite=force)
    if save_latents:
        click.echo(str(frames_path))
        click.echo(str(write_record(frames_path, record, shape=(steps, G.num_ws, G.w_dim), overwrite=force)))
