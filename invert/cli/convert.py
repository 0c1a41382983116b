"""`stylegan-invert convert SRC DST.pt`: rewrite any supported checkpoint in our own format."""
import click

from invert.cli.options import force_option


@click.command()
@click.argument("source", metavar="CHECKPOINT")
@click.argument("destination", type=click.Path(dir_okay=False))
@force_option
def convert(source, destination, force):
    """Convert CHECKPOINT to a stylegan-invert .pt file (torch.load(weights_only=True) can read it)."""
    from invert.checkpoints import load_generator, save_generator
    from invert.fileio import check_writable

    check_writable([destination], force=force)
    generator = load_generator(source, device="cpu")
    save_generator(generator, destination)
    click.echo(destination)
