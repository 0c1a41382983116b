"""`stylegan-invert convert SRC DST.pt`: rewrite any supported checkpoint in our own format."""
import click

from invert.cli.options import force_option


@click.command()
@click.argument("source", metavar="CHECKPOINT")
@click.argument("destination", type=click.Path(dir_okay=False))
@force_option
def convert(source, destination, force):
    """Convert CHECKPOINT (path or registry name) to a stylegan-invert .pt file, DESTINATION
    (torch.load(weights_only=True) can read it).

    CHECKPOINT is positional, as in cp, not -g as in the other commands: the file is what this command
    converts, not a generator it uses for other work.
    """
    from pathlib import Path

    from invert.checkpoints import load_generator, save_generator
    from invert.fileio import atomic_path, check_writable

    check_writable([destination], force=force, inputs=[source] if Path(source).is_file() else [])
    generator = load_generator(source, device="cpu")
    # into a hidden file published without replacing anything unless --force (save_generator's own atomic
    # write replaces, and its target here is that hidden file)
    with atomic_path(destination, suffix=".pt", overwrite=force) as tmp:
        save_generator(generator, tmp)
    click.echo(destination)
