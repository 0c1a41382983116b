"""`stylegan-invert info CHECKPOINT`: what a checkpoint holds, read from its tensors."""
import click


@click.command()
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(checkpoint, as_json):
    """Describe a generator CHECKPOINT (path, registry name or random:NAME)."""
    import json

    from invert.checkpoints import load_generator
    from invert.checkpoints.summary import describe

    generator = load_generator(checkpoint, device="cpu")
    description = describe(generator)
    if as_json:
        click.echo(json.dumps(description, indent=2))
        return
    for key, value in description.items():
        if isinstance(value, dict):
            value = " ".join(f"{k}:{v}" for k, v in value.items())
        click.echo(f"{key:<22} {value}")
