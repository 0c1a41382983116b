"""`stylegan-invert expression TARGET.npy NEUTRAL.npy EXPRESSIVE.npy --strength 1`: Image2StyleGAN's
expression transfer, w = w1 + strength (w3 - w2)."""
import click

from invert.cli._latent_outputs import (animation_paths, batch_size_option, batch_slices, check_outputs, fps_option,
                                        generator_for_latents, gif_option, latent_record, mp4_option, out_path,
                                        note_unused, sibling, strength_tag, through_update, tuned_inputs,
                                        update_files, write_animations, write_latent, write_png)
from invert.cli.options import FINITE_FLOAT, device_option, force_option, latent_generator_option, no_tuned_option


@click.command()
@click.argument("target", metavar="TARGET.npy", type=click.Path(dir_okay=False))
@click.argument("neutral", metavar="NEUTRAL.npy", type=click.Path(dir_okay=False))
@click.argument("expressive", metavar="EXPRESSIVE.npy", type=click.Path(dir_okay=False))
@latent_generator_option
@no_tuned_option
@click.option("--strength", type=FINITE_FLOAT, default=1.0, show_default=True,
              help="How much of the expression (EXPRESSIVE - NEUTRAL) to add to TARGET.")
@click.option("--layers", default=None, metavar="RANGES",
              help="Only change these latent rows, e.g. 0-7 (default: all).")
@click.option("--sweep", default=None, metavar="START:STOP:COUNT",
              help="Also render an animation over the strength, e.g. 0:2:10, as <out stem>_sweep.gif.")
@gif_option
@mp4_option
@fps_option
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Result latent; the PNG and sweep go beside it. "
                   "[default: TARGET_expression+STRENGTH.npy beside TARGET]")
@batch_size_option
@device_option
@force_option
def expression(target, neutral, expressive, generator, no_tuned, strength, layers, sweep, gif, mp4, fps, out,
               batch_size, device, force):
    """Add the expression that turns NEUTRAL into EXPRESSIVE (two latents of one person) to TARGET.

    TARGET's noise maps, if it has any, are kept, and so is its tuned update: the result is TARGET's
    face, so it renders through TARGET's update (NEUTRAL's and EXPRESSIVE's are not used).
    """
    from pathlib import Path

    from invert.editing import expression as transfer, parse_layers, parse_sweep
    from invert.latents import latent_paths, load_latent
    from invert.render import render

    if sweep is None and (gif or mp4):
        raise click.UsageError("--gif and --mp4 choose the format of the --sweep animation; add --sweep "
                               "START:STOP:COUNT")
    strengths = parse_sweep(sweep, what="--sweep") if sweep is not None else None
    out = out_path(out, beside=target, stem=f"{Path(target).stem}_expression{strength_tag(strength)}")
    animations = animation_paths(out, gif=gif, mp4=mp4, tag="_sweep") if sweep is not None else []
    found = tuned_inputs([target, neutral, expressive], no_tuned=no_tuned)
    check_outputs([*latent_paths(out), sibling(out, ".png"), *animations], force=force,
                  latents=[target, neutral, expressive], others=update_files(found))

    G, spec = generator_for_latents(generator, [target, neutral, expressive], device)
    rows = parse_layers(layers, num_ws=G.num_ws, what="--layers")
    w1, w2, w3 = (load_latent(path, G) for path in (target, neutral, expressive))
    tuned_G, update = through_update(G, found[Path(target)])
    note_unused(found, target, "expression")
    w = transfer(w1.w, w2.w, w3.w, strength=strength, layers=rows)

    write_latent(out, w, w1.noise, latent_record(G, spec, "expression", [target, neutral, expressive],
                                                 update=update, out=out), overwrite=force)
    write_png(sibling(out, ".png"), render(tuned_G, w[None], noise=w1.noise)[0], tuned_G, command="expression",
              strength=strength, overwrite=force)
    if strengths is not None:
        import numpy as np

        def sweep_frames():
            for part in batch_slices(len(strengths), batch_size):
                ws = np.stack([transfer(w1.w, w2.w, w3.w, strength=value, layers=rows) for value in strengths[part]])
                yield render(tuned_G, ws, noise=w1.noise, batch_size=batch_size)

        write_animations(animations, sweep_frames(), fps=fps, overwrite=force)
