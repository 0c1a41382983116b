"""What the latent-editing commands (morph, crossover, expression, edit) share: output naming and writing.

Each command writes its result latent to --out (a .npy) and everything else beside it under the same
stem: `<stem>_noise.npz`, `<stem>.json` (the record naming its generator), `<stem>.png`, `<stem>.gif` /
`<stem>.mp4`, `<stem>_frames.npy`. Without --out the stem is derived from the inputs and the files go
beside the first input. Without -g the generator is the one the input latents' records name.

Every output is checked before the generator is loaded (`check_outputs`: writable, not an input, not
existing without --force) and written atomically, never replacing a file without --force. Animations are
rendered and written a batch of frames at a time.

Tuned updates (invert.tuned_latents): an input whose record names one renders through it unless --no-tuned;
which input's update a result uses is each command's choice. The result's record names that update
(relative to the result's folder) and its PNG says which was applied (`tuned_update`, `tuned_rank`).
"""
import logging
from pathlib import Path

import click

from invert.cli.options import FiniteFloat

log = logging.getLogger(__name__)

batch_size_option = click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
                                 help="Images rendered per batch.")
fps_option = click.option("--fps", type=FiniteFloat(min=0.1, max=100), default=10.0, show_default=True,
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


def latent_record(G, spec, command, inputs, *, update=None, out=None):
    """The record of result `out`, made with G from `inputs`; it names `update` (a TunedUpdate read from or
    saved to a file) when the result was rendered through it."""
    from invert.records import latent_record as record
    from invert.tuned_latents import reference

    tuned = reference(update.path, out) if update is not None else None
    return record(G, generator_spec=spec, command=command, inputs=inputs, tuned=tuned)


def tuned_inputs(latents, *, no_tuned):
    """{Path(latent): the tuned update its record names (a RecordedUpdate) or None}, all None with --no-tuned.

    Only the records are read, before any work: the update files are inputs for the output checks."""
    from invert.tuned_latents import recorded_updates

    if no_tuned:
        return {Path(p): None for p in latents}
    return recorded_updates(latents)


def update_files(found):
    """The update files named in `found` (from `tuned_inputs`)."""
    return [item.file for item in found.values() if item is not None]


def through_update(G, found):
    """(the generator to render with, the update or None): G with the update `found` names applied, else G."""
    from invert.tuned_latents import load_recorded
    from invert.tuning import apply_update

    update = load_recorded(found, G)
    if update is None:
        return G, None
    log.info("rendering %s through its tuned update %s (rank %s)", found.latent, found.file, update.rank)
    return apply_update(G, update), update


def note_unused(found, used, command):
    """Say (log) which inputs' tuned updates `command` does not render through: it uses `used`'s only."""
    used = Path(used)
    for latent, item in found.items():
        if item is not None and latent != used:
            log.info("%s: the tuned update of %s (%s) is not used; %s renders through %s's%s", command, latent,
                     item.file, command, used, "" if found.get(used) else ", which has none")


def check_outputs(paths, *, force, latents=(), others=()):
    """Before any computation: every output writable, none an input, none existing unless --force.

    `latents` are input latent files (their noise files count as inputs too); `others` any other input
    files (boundaries, checkpoints); names that are not files (registry names) are ignored.
    """
    from pathlib import Path

    from invert.fileio import check_writable
    from invert.latents import latent_paths

    inputs = [p for latent in latents for p in latent_paths(latent)] + [Path(p) for p in others if p]
    check_writable(paths, force=force, inputs=inputs)


def batch_slices(count, batch_size):
    """slice(0, b), slice(b, 2b), ... covering range(count): the batches an animation is rendered in."""
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def write_latent(out, w, noise, record, *, overwrite):
    from invert.latents import save_latent

    for path in save_latent(out, w, noise, record=record, overwrite=overwrite):
        click.echo(str(path))


def write_png(path, pixels, G, *, overwrite, **metadata):
    """Save the image `pixels` rendered by G (tuned or not: its tuned update is named in the metadata)."""
    import os

    from invert.images import generator_metadata, save_png

    tuned = (G.source or {}).get("tuned")
    if tuned is not None:
        metadata = {"tuned_update": os.path.abspath(tuned["file"]) if tuned["file"] else "(not saved)",
                    "tuned_rank": tuned["rank"], **metadata}
    save_png(path, pixels, metadata={**generator_metadata(G), **{k: str(v) for k, v in metadata.items()}},
             overwrite=overwrite)
    click.echo(str(path))


def write_animations(paths, frame_batches, *, fps, overwrite):
    """Append every batch of uint8 frames [n, R, R, 3] from the iterable `frame_batches` to each animation in
    `paths` as it comes: memory holds one batch, whatever the number of frames."""
    import contextlib

    from invert.images import AnimationWriter

    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(AnimationWriter(path, fps=fps, loop=True, overwrite=overwrite))
                   for path in paths]
        for frames in frame_batches:
            for writer in writers:
                writer.append(frames)
    for path in paths:
        click.echo(str(path))
