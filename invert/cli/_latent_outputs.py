"""What the latent-editing commands (morph, crossover, expression, edit) share: output naming and writing.

Each command writes its result latent to --out (a .npy) and everything else beside it under the same
stem: `<stem>_noise.npz`, `<stem>.json` (the record naming its generator), `<stem>.png`, `<stem>.gif` /
`<stem>.mp4`, `<stem>_frames.npy`. Without --out the stem is derived from the inputs and the files go
beside the first input. Without -g the generator is the one the input latents' records name.
"""
from pathlib import Path

import click

batch_size_option = click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
                                 help="Images rendered per batch.")
fps_option = click.option("--fps", type=click.FloatRange(min=0.1, max=100), default=10.0, show_default=True,
                          help="Frames per second of the animation.")
gif_option = click.option("--gif", "gif", is_flag=True, help="Write the animation as GIF (the default).")
mp4_option = click.option("--mp4", "mp4", is_flag=True, help="Write the animation as MP4 (H.264).")


def out_path(out, *, beside, stem):
    """--out as a Path (it must end in .npy), or `<folder of beside>/<stem>.npy` when not given."""
    from invert.errors import InvertError

    if out is None:
        return Path(beside).with_name(f"{stem}.npy")
    out = Path(out)
    if out.suffix.lower() != ".npy":
        raise InvertError(f"--out {out} must end in .npy (it names the result latent; images are written "
                          f"beside it)")
    return out


def sibling(out, suffix):
    """`dir/stem.npy` + '_frames.npy' -> `dir/stem_frames.npy`; + '.png' -> `dir/stem.png`."""
    return out.with_name(out.stem + suffix)


def animation_paths(out, *, gif, mp4, tag=""):
    """The animation files asked for (GIF when neither flag is given)."""
    suffixes = [".gif"] * (gif or not mp4) + [".mp4"] * bool(mp4)
    return [sibling(out, tag + suffix) for suffix in suffixes]


def strength_tag(value):
    """2 -> '+2.0', -0.25 -> '-0.25': how strengths appear in default file names."""
    text = f"{value:+g}"
    return text if any(c in text for c in ".e") or not text[1:].isdigit() else text + ".0"


def load_generator_for(generator, device):
    from invert.checkpoints import load_generator
    from invert.devices import resolve_device
    from invert.known_networks import note_loaded

    G = load_generator(generator, device=resolve_device(device))
    note_loaded(G)  # the first load of a registry FFHQ file records its network fingerprint
    return G


def generator_for_latents(generator, latents, device):
    """The generator to edit `latents` with: -g when given, else the one their records name (see
    invert.records), else ffhq-1024. Returns (G, the generator spec to record in the results)."""
    from invert import records

    try:
        choice = records.choose_generator(latents, override=generator)
        G = load_generator_for(choice.load_spec, device)
        records.check_loaded(choice, G)
    except records.GeneratorChoiceError as exc:
        raise records.GeneratorChoiceError(f"{exc} (-g GENERATOR chooses one)") from None
    return G, choice.spec


def latent_record(G, spec, command, inputs):
    from invert.records import latent_record as record

    return record(G, generator_spec=spec, command=command, inputs=inputs)


def check_outputs(paths, *, force):
    from invert.fileio import check_writable

    check_writable(paths, force=force)


def write_latent(out, w, noise, record):
    from invert.latents import save_latent

    for path in save_latent(out, w, noise, record=record):
        click.echo(str(path))


def write_png(path, pixels, G, **metadata):
    from invert.images import generator_metadata, save_png

    save_png(path, pixels, metadata={**generator_metadata(G), **{k: str(v) for k, v in metadata.items()}})
    click.echo(str(path))


def write_animations(paths, frames, *, fps):
    from invert.images import save_animation

    for path in paths:
        save_animation(path, frames, fps=fps, loop=True)
        click.echo(str(path))
