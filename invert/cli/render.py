"""`stylegan-invert render LATENT.npy ...`: render latents to PNGs through their generator and tuned update."""
import logging

import click

from invert.cli._latent_outputs import check_outputs, generator_for_latents, tuned_inputs, update_files, write_png
from invert.cli.options import device_option, force_option, latent_generator_option, no_tuned_option

log = logging.getLogger(__name__)

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
    from invert.tuning import apply_update

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
    codes = [load_latent(path, G) for path in paths]  # every input read and checked before any image is written
    updates = {os.path.realpath(f.file): load_recorded(f, G) for f in found.values() if f is not None}  # once each
    tuned = {}  # update file -> G with it applied, built when first needed
    for path, png, code in zip(paths, pngs, codes):
        item = found[path]
        if item is None:
            rendering = G
        else:
            key = os.path.realpath(item.file)
            if key not in tuned:
                log.info("rendering %s through its tuned update %s (rank %s)", path, item.file, updates[key].rank)
                tuned[key] = apply_update(G, updates[key])
            rendering = tuned[key]
        write_png(png, render_latents(rendering, code.w[None], noise=code.noise)[0], rendering, command="render",
                  latent=path, overwrite=force)
