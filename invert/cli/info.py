"""`stylegan-invert info CHECKPOINT`: what a checkpoint holds, read from its tensors; or what a tuned-update
file (`<stem>_tuned.safetensors`) tunes, for which network, and how it was made."""
import click


@click.command()
@click.argument("checkpoint", metavar="CHECKPOINT|UPDATE.safetensors")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(checkpoint, as_json):
    """Describe a generator CHECKPOINT (path, registry name or random:NAME), or a tuned update written by
    `project --tune` (a .safetensors file): what it tunes, its base network and its settings.

    CHECKPOINT is positional, not -g as in the other commands: the file is what this command describes,
    not a generator it uses for other work.
    """
    import json

    if checkpoint.lower().endswith(".safetensors"):
        from invert.tuning import describe_update

        description = describe_update(checkpoint)
        if as_json:
            click.echo(json.dumps(description, indent=2))
            return
        _print(_update_summary(description))
        return

    from invert.checkpoints import load_generator
    from invert.checkpoints.summary import describe

    generator = load_generator(checkpoint, device="cpu")
    description = describe(generator)
    if as_json:
        click.echo(json.dumps(description, indent=2))
        return
    _print(description)


def _print(description):
    for key, value in description.items():
        if isinstance(value, dict):
            value = " ".join(f"{k}:{v}" for k, v in value.items())
        click.echo(f"{key:<22} {value}")


def _update_summary(d):
    """The text lines of `info` for a tuned update, from `describe_update`'s dict."""
    convs = d["layers"] - d["torgb"]
    weights = f"{d['factored']} conv weights as rank-{d['rank']} factors, {d['layers'] - d['factored']} in full" \
        if d["rank"] != "full" else "every weight in full"
    return {
        "kind": "tuned update (pivotal tuning)",
        "path": d["path"],
        "bytes": d["bytes"],
        "rank": d["rank"],
        "tunes": f"{d['layers']} modulated convolutions ({convs} synthesis layers, {d['torgb']} ToRGB): weights "
                 f"and biases; {weights}",
        "tensors": d["tensors"],
        "values": d["values"],
        "base network": d["base"],
        "base fingerprint": d["fingerprint"],
        "base source": d["source"],
        "settings": d["settings"],
        "software": d["software"],
    }
