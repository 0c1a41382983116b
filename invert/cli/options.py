"""Options shared by several subcommands, so each is spelled and documented once."""
import click

generator_option = click.option(
    "--generator", "-g", "generator", required=True, metavar="NAME|PATH",
    help="Generator: a registry name (see `weights list`), a checkpoint path, or random:NAME[:SEED].")
def _device(ctx, param, value):
    """Resolve --device to a torch.device when the command runs, naming the option in the error."""
    from invert.devices import resolve_device
    from invert.errors import InvertError

    try:
        return resolve_device(value)
    except InvertError as exc:
        raise InvertError(f"--device {value}: {exc}") from None


device_option = click.option(
    "--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:n]|mps", callback=_device,
    help="Where to compute.")
force_option = click.option("--force", is_flag=True, help="Overwrite existing outputs.")
