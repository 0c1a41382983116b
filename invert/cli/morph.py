"""`stylegan-invert morph A.npy B.npy --steps N`: Image2StyleGAN morphing, w(t) = (1 - t) a + t b."""
import click

from invert.cli._latent_outputs import (animation_paths, batch_size_option, check_outputs, fps_option, gif_option,
                                        generator_for_latents, latent_record, mp4_option, out_path, sibling,
                                        write_animations, write_latent, write_png)
from invert.cli.options import device_option, force_option, latent_generator_option


@click.command()
@click.argument("latent_a", metavar="A.npy", type=click.Path(dir_okay=False))
@click.argument("latent_b", metavar="B.npy", type=click.Path(dir_okay=False))
@latent_generator_option
@click.option("--steps", type=int, default=30, show_default=True,
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
    from pathlib import Path

    import numpy as np

    from invert.editing import interpolate, interpolate_noise, lerp
    from invert.errors import InvertError
    from invert.latents import default_noise, latent_paths, load_latent
    from invert.records import record_path
    from invert.render import render

    if steps < 2:
        raise InvertError(f"--steps must be at least 2 (got {steps}): the first frame is A, the last B")
    out = out_path(out, beside=latent_a, stem=f"{Path(latent_a).stem}_{Path(latent_b).stem}_morph")
    animations = animation_paths(out, gif=gif, mp4=mp4)
    frames_path = sibling(out, "_frames.npy")
    check_outputs([*latent_paths(out), sibling(out, ".png"), *animations]
                  + [frames_path, record_path(frames_path)] * save_latents, force=force)

    G, spec = generator_for_latents(generator, [latent_a, latent_b], device)
    a, b = load_latent(latent_a, G), load_latent(latent_b, G)
    ws = interpolate(a.w, b.w, steps=steps)                                    # [steps, num_ws, w_dim]
    noise, mid_noise = interpolate_noise(a.noise, b.noise, steps=steps, default=default_noise(G))
    frames = render(G, ws, noise=noise, batch_size=batch_size)
    if loop:
        frames = np.concatenate([frames, frames[-2::-1]])
    mid = lerp(a.w, b.w, 0.5)

    record = latent_record(G, spec, "morph", [latent_a, latent_b])
    write_latent(out, mid, mid_noise, record)
    write_png(sibling(out, ".png"), render(G, mid[None], noise=mid_noise)[0], G, command="morph", t=0.5)
    write_animations(animations, frames, fps=fps)
    if save_latents:
        from invert.fileio import save_npy
        from invert.records import write_record

        save_npy(frames_path, ws)
        click.echo(str(frames_path))
        click.echo(str(write_record(frames_path, record, shape=ws.shape)))
