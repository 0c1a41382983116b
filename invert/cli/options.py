"""Options shared by several subcommands, so each is spelled and documented once."""
import click

generator_option = click.option(
    "--generator", "-g", "generator", required=True, metavar="NAME|PATH",
    help="Generator: a registry name (see `weights list`), a checkpoint path, or random:NAME[:SEED].")
latent_generator_option = click.option(
    "--generator", "-g", "generator", default=None, metavar="NAME|PATH",
    help="Generator: a registry name, a checkpoint path, or random:NAME[:SEED]. [default: the one named in the "
         "input latents' records (<stem>.json beside each), else ffhq-1024]")
device_option = click.option(
    "--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:n]|mps",
    help="Where to compute.")
force_option = click.option("--force", is_flag=True, help="Overwrite existing outputs.")
