"""`stylegan-invert render LATENT.npy ...`: render latents to PNGs through their generator and tuned update."""
import click

from invert.cli._latent_outputs import (check_outputs, generator_for_latents, through_update, tuned_inputs,
                                        update_files, write_png)
from invert.cli.options import device_option, force_option, latent_generator_option, no_tuned_option

SUFFIX = "_render.png"


@click.command()
@click.argument("latents", metavar="LATENT.npy...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@latent_generator_option
@no_tuned_option
@click.option("--outdir", type=click.Path(file_okay=False), default=None,
              help="Folder for the images. [default: beside each latent]")
@device_option
@force_option
def render(latents, generator, no_tuned, outdir, device, force):
    """Render each LATENT, with its noise maps if it has any, to <stem>_render.png.

    The generator is the one the latents' records name (or -g), and each latent renders through the
    tuned update its record names, if any (--no-tuned: the plain generator). Every latent and update is
    checked before the first image is written.
    """
    import os
    from pathlib import Path

    from invert.errors import InvertError
    from invert.fileio import same_file
    from invert.latents import load_latent
    from invert.render import render as render_latents
    from invert.tuned_latents import load_recorded

    paths = [Path(p) for p in latents]
    pngs = [(Path(outdir) if outdir is not None else p.parent) / f"{p.stem}{SUFFIX}" for p in paths]
    for i, png in enumerate(pngs):
        for j in range(i):
            if same_file(png, pngs[j]):
                raise InvertError(f"{paths[j]} and {paths[i]} would both be rendered to {png}; render them into "
                                  f"separate folders")
    found = tuned_inputs(paths, no_tuned=no_tuned)
    check_outputs(pngs, force=force, latents=paths, others=update_files(found))

    G, _ = generator_for_latents(generator, paths, device)
    for path in paths:  # every input checked before any image is written
        load_latent(path, G)
    for item in {os.path.realpath(f.file): f for f in found.values() if f is not None}.values():  # each file once
        load_recorded(item, G)
    rendering, current = G, None  # one tuned generator at a time, reused while latents share its update
    for path, png in zip(paths, pngs):
        item = found[path]
        if item is None:
            rendering, current = G, None
        elif current is None or not same_file(item.file, current):
            rendering, current = through_update(G, item)[0], item.file
        code = load_latent(path, G)
        write_png(png, render_latents(rendering, code.w[None], noise=code.noise)[0], rendering, command="render",
                  latent=path, overwrite=force)
