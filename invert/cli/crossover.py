"""`stylegan-invert crossover CONTENT.npy STYLE.npy --split 9`: Image2StyleGAN style transfer."""
import click

from invert.cli._latent_outputs import (check_outputs, generator_for_latents, latent_record, note_unused, out_path,
                                        sibling, through_update, tuned_inputs, update_files, write_latent, write_png)
from invert.cli.deprecated import RenamedOption
from invert.cli.options import device_option, force_option, latent_generator_option, no_tuned_option


@click.command()
@click.argument("content", metavar="CONTENT.npy", type=click.Path(dir_okay=False))
@click.argument("style", metavar="STYLE.npy", type=click.Path(dir_okay=False))
@latent_generator_option
@no_tuned_option
@click.option("--split", "split", type=int, default=None, metavar="N", cls=RenamedOption, old=["--layers"],
              help="Rows 0..N-1 come from CONTENT, the rest from STYLE. [default: half the rows, 9 of 18 at "
                   "1024x1024 as in Image2StyleGAN]")
@click.option("--style-layers", default=None, metavar="RANGES",
              help="Instead of --split: exactly the latent rows taken from STYLE, e.g. 0-3,8-17.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Result latent; the PNG goes beside it. [default: CONTENT_STYLE_crossover.npy beside CONTENT]")
@device_option
@force_option
def crossover(content, style, generator, no_tuned, split, style_layers, out, device, force):
    """Take the coarse and middle layers (structure) from CONTENT and the fine layers (texture, colour)
    from STYLE, render the result and save it.

    Noise map i feeds the conv layer of latent row i, so it comes from the same latent as that row
    (the generator's stored map where that latent has none). The result renders through CONTENT's tuned
    update, if it has one: it keeps CONTENT's face (STYLE's update is not used).
    """
    from pathlib import Path

    from invert.editing import crossover as cross, crossover_noise, parse_layers, split_style_layers
    from invert.latents import default_noise, latent_paths, load_latent
    from invert.render import render

    if split is not None and style_layers is not None:
        raise click.UsageError("--split and --style-layers exclude each other")
    out = out_path(out, beside=content, stem=f"{Path(content).stem}_{Path(style).stem}_crossover")
    found = tuned_inputs([content, style], no_tuned=no_tuned)
    check_outputs([*latent_paths(out), sibling(out, ".png")], force=force, latents=[content, style],
                  others=update_files(found))

    G, spec = generator_for_latents(generator, [content, style], device)
    if style_layers is not None:
        rows = parse_layers(style_layers, num_ws=G.num_ws, what="--style-layers")
    else:
        rows = split_style_layers(G.num_ws // 2 if split is None else split, num_ws=G.num_ws, what="--split")
    c, s = load_latent(content, G), load_latent(style, G)
    tuned_G, update = through_update(G, found[Path(content)])
    note_unused(found, content, "crossover")
    w = cross(c.w, s.w, style_layers=rows)
    noise = crossover_noise(c.noise, s.noise, style_layers=rows, default=default_noise(G))

    write_latent(out, w, noise, latent_record(G, spec, "crossover", [content, style], update=update, out=out),
                 overwrite=force)
    write_png(sibling(out, ".png"), render(tuned_G, w[None], noise=noise)[0], tuned_G, command="crossover",
              style_layers=",".join(map(str, rows)), overwrite=force)
