"""`stylegan-invert edit LATENT.npy --boundary smile --strength 2`: InterfaceGAN editing, w' = w + strength n."""
import logging

import click

from invert.cli._latent_outputs import (animation_paths, batch_size_option, batch_slices, check_outputs, fps_option,
                                        generator_for_latents, gif_option, latent_record, mp4_option, out_path,
                                        sibling, strength_tag, through_update, tuned_inputs, update_files,
                                        write_animations, write_latent, write_png)
from invert.cli.options import FINITE_FLOAT, device_option, force_option, latent_generator_option, no_tuned_option

log = logging.getLogger(__name__)


@click.command()
@click.argument("latent", metavar="LATENT.npy", type=click.Path(dir_okay=False))
@latent_generator_option
@no_tuned_option
@click.option("--boundary", "-b", required=True, metavar="NAME[:K]|PATH[:K]",
              help="A direction: a name registered for this network or published for it (see `boundaries "
                   "list`), NAME:K for direction K of a set (e.g. ganspace:12), a boundary .npy file, or "
                   "FILE.safetensors:K.")
@click.option("--strength", type=FINITE_FLOAT, default=2.0, show_default=True,
              help="How far to move (negative: the other way): a distance in W for a boundary, in standard "
                   "deviations for a direction of a set.")
@click.option("--layers", default=None, metavar="RANGES",
              help="Only change these latent rows, e.g. 0-7 (default: all, or the rows a set was made for).")
@click.option("--keep", default=None, metavar="NAME|PATH,...",
              help="Boundaries of attributes to hold fixed: the direction is made orthogonal to each of them.")
@click.option("--sweep", default=None, metavar="START:STOP:COUNT",
              help="Also render an animation over the strength, e.g. -3:3:10, as <out stem>_sweep.gif.")
@gif_option
@mp4_option
@fps_option
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Result latent; the PNG and sweep go beside it. "
                   "[default: LATENT_BOUNDARY+STRENGTH.npy beside LATENT]")
@batch_size_option
@device_option
@force_option
def edit(latent, generator, no_tuned, boundary, strength, layers, keep, sweep, gif, mp4, fps, out, batch_size,
         device, force):
    """Move LATENT along a semantic direction and render the result.

    With --keep, InterfaceGAN's conditional editing: the boundary's direction minus its projection on
    the kept boundaries, renormalised, so those attributes stay as they are. The latent's noise maps,
    if it has any, are kept, and so is its tuned update (the result renders through it, and its record
    names it).
    """
    from pathlib import Path

    import numpy as np

    from invert.directions.resolve import direction_tag, resolve_direction
    from invert.editing import apply_direction, orthogonalize, parse_layers, parse_sweep
    from invert.latents import latent_paths, load_latent
    from invert.render import render

    if sweep is None and (gif or mp4):
        raise click.UsageError("--gif and --mp4 choose the format of the --sweep animation; add --sweep "
                               "START:STOP:COUNT")
    strengths = parse_sweep(sweep, what="--sweep") if sweep is not None else None
    kept_specs = [k.strip() for k in (keep or "").split(",") if k.strip()]
    out = out_path(out, beside=latent, stem=f"{Path(latent).stem}_{direction_tag(boundary)}{strength_tag(strength)}")
    animations = animation_paths(out, gif=gif, mp4=mp4, tag="_sweep") if sweep is not None else []
    found = tuned_inputs([latent], no_tuned=no_tuned)
    check_outputs([*latent_paths(out), sibling(out, ".png"), *animations], force=force, latents=[latent],
                  others=[spec for spec in [boundary, *kept_specs] if Path(spec).is_file()] + update_files(found))

    G, spec = generator_for_latents(generator, [latent], device)
    code = load_latent(latent, G)
    tuned_G, update = through_update(G, found[Path(latent)])
    primary = resolve_direction(boundary, G, generator_spec=spec)
    rows = parse_layers(layers, num_ws=G.num_ws, what="--layers") if layers is not None else primary.layers
    kept = [resolve_direction(k, G, generator_spec=spec) for k in kept_specs]
    direction = orthogonalize(primary.direction, [k.direction for k in kept])
    for k in kept:
        log.info("keeping %s fixed: its cosine with %s was %+.3f, now 0", k.name, primary.name,
                 _cosine(primary.direction, k.direction))
    if primary.unit == "sigma":
        log.info("%s: strength %g sd = %.4g in W (its sd is %.4g)", primary.name, strength, strength * primary.scale,
                 primary.scale)
    w = apply_direction(code.w, direction, strength=strength * primary.scale, layers=rows)

    write_latent(out, w, code.noise, latent_record(G, spec, "edit", [latent], update=update, out=out),
                 overwrite=force)
    write_png(sibling(out, ".png"), render(tuned_G, w[None], noise=code.noise)[0], tuned_G, command="edit",
              boundary=primary.name, strength=strength, overwrite=force,
              **({"boundary_file": primary.path} if primary.path else {}))
    if strengths is not None:
        def sweep_frames():
            for part in batch_slices(len(strengths), batch_size):
                ws = np.stack([apply_direction(code.w, direction, strength=value * primary.scale, layers=rows)
                               for value in strengths[part]])
                yield render(tuned_G, ws, noise=code.noise, batch_size=batch_size)

        write_animations(animations, sweep_frames(), fps=fps, overwrite=force)


def _cosine(a, b):
    """Mean cosine over rows of two (broadcastable) unit directions [w_dim] or [num_ws, w_dim]."""
    import numpy as np

    a, b = np.broadcast_arrays(np.atleast_2d(a), np.atleast_2d(b))
    return float(np.mean(np.sum(a * b, axis=-1)))
