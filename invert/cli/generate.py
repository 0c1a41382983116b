"""`stylegan-invert generate -g GENERATOR --seeds 0-3,7`: render seeds to seed0000.png (+ .npy latents)."""
from pathlib import Path

import click

from invert.cli.deprecated import PositionalAlias, RenamedOption
from invert.cli.options import FINITE_FLOAT, device_option, force_option, generator_option


@click.command()
@click.argument("checkpoint", cls=PositionalAlias, option="generator")  # before -g existed; one more release
@generator_option
@click.option("--seeds", required=True, help="Seeds, e.g. 0-3,7.")
@click.option("--truncation", "truncation_psi", type=FINITE_FLOAT, default=1.0, show_default=True,
              cls=RenamedOption, old=["--trunc"],
              help="Truncation psi: 1 = none; smaller pulls w towards the average (less variety, fewer artefacts).")
@click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const", show_default=True,
              help="Noise inputs: the generator's stored maps (const: the same image every run), fresh random "
                   "maps (random: details change from run to run), or no noise (none).")
@click.option("--outdir", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Folder for seedNNNN.png (and the latents).")
@click.option("--save-latents", is_flag=True, help="Also write seedNNNN.npy, float32 [num_ws, w_dim], and its "
                                                   "record seedNNNN.json (which generator it belongs to).")
@device_option
@force_option
def generate(generator, seeds, truncation_psi, noise_mode, outdir, save_latents, device, force):
    """Render images from seeds with the generator -g (each seed's z made as NVIDIA's tools make it)."""
    from invert.checkpoints import load_generator
    from invert.devices import resolve_device
    from invert.fileio import check_writable, save_npy
    from invert.generate import generate_images, parse_seeds
    from invert.images import generator_metadata, save_png, to_uint8
    from invert.known_networks import note_loaded
    from invert.records import latent_record, record_path, write_record

    seed_list = parse_seeds(seeds)
    outdir = Path(outdir)
    names = [outdir / f"seed{seed:04d}" for seed in seed_list]
    check_writable([n.with_suffix(".png") for n in names]
                   + ([p for n in names for p in (n.with_suffix(".npy"), record_path(n))] if save_latents else []),
                   force=force, inputs=[generator] if Path(generator).is_file() else [])
    G = load_generator(generator, device=resolve_device(device))
    note_loaded(G)
    metadata = generator_metadata(G)
    # rendered 8 at a time and written as they come: memory holds one batch, whatever the number of seeds
    for seed, ws, image in generate_images(G, seed_list, truncation_psi=truncation_psi,
                                           noise_mode=noise_mode):
        stem = outdir / f"seed{seed:04d}"
        save_png(stem.with_suffix(".png"), to_uint8(image[None])[0],
                 metadata={**metadata, "seed": seed, "truncation_psi": truncation_psi}, overwrite=force)
        click.echo(str(stem.with_suffix(".png")))
        if save_latents:
            save_npy(stem.with_suffix(".npy"), ws.astype("float32"), overwrite=force)
            click.echo(str(stem.with_suffix(".npy")))
            record = latent_record(G, generator_spec=generator, command="generate",
                                   inputs=[f"seed {seed}, truncation {truncation_psi:g}"])
            click.echo(str(write_record(stem.with_suffix(".npy"), record, shape=ws.shape, overwrite=force)))
