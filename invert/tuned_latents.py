"""Latents with a tuned generator update: found through their records, applied when they are rendered, and
carried to the records of what is made from them.

`project --tune` saves `<stem>_tuned.safetensors` beside a latent and writes its name into the latent's
record (`tuned`: a path relative to the record's folder; invert.records). Every command that renders
latents does, for its inputs:

    found = recorded_updates([a, b])             # before any work: {latent: RecordedUpdate or None}
    update = load_recorded(found[a], G)          # checked against G; one-line errors naming record and file
    tuned_G = apply_update(G, update)            # render through it (G itself is unchanged)
    record = latent_record(G, ..., tuned=reference(update.path, result))   # the result points to it

Which update a result renders through when its inputs carry different ones is each command's choice
(see docs/tuning.md): `frame_update` is morph's, a blend of the two ends' updates per frame.

Errors carry the remedy `ignore_tuned` (render with the plain generator), which the CLI turns into its flag.
"""
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from invert.errors import TuningError

log = logging.getLogger(__name__)

IGNORE_TUNED = "ignore_tuned"  # the remedy every error here names


@dataclass(frozen=True)
class RecordedUpdate:
    """The tuned update a latent's record names."""

    latent: Path   # the latent
    record: Path   # its record, `<stem>.json`
    file: Path     # the update file: the record's `tuned` resolved against the record's folder


def recorded_update(latent_path):
    """The tuned update named by the record of `latent_path` -> RecordedUpdate, or None when the latent has
    no record or its record names none (`tuned`: null).

    Only the record is read (the file is checked by `load_recorded`). An unreadable record counts as none
    here: choosing the generator reports it (invert.records.choose_generator).
    """
    from invert.records import GeneratorChoiceError, read_record

    try:
        record = read_record(latent_path)
    except GeneratorChoiceError:
        return None
    if record is None or record.tuned is None:
        return None
    if not isinstance(record.tuned, str) or not record.tuned.strip():
        raise TuningError(f"latent record {record.path} has tuned: {record.tuned!r}, which is not a file name; "
                          f"write there the tuned update's path relative to the record's folder, or null",
                          remedies=(IGNORE_TUNED,))
    return RecordedUpdate(latent=Path(latent_path), record=record.path, file=record.path.parent / record.tuned)


def recorded_updates(latent_paths):
    """{Path(latent): RecordedUpdate or None} for each of `latent_paths` (see `recorded_update`)."""
    return {Path(path): recorded_update(path) for path in latent_paths}


def load_recorded(found, G):
    """The update `found` (a RecordedUpdate, or None) names, loaded and checked against G -> TunedUpdate or None.

    A missing file, a corrupt one, one made for another network (both named) are each a TuningError
    naming the record and the file.
    """
    from invert.tuning import load_update

    if found is None:
        return None
    if not os.path.lexists(found.file):
        raise TuningError(f"the tuned update {found.file} named by latent record {found.record} does not exist; "
                          f"put it back, or set tuned to null in the record", remedies=(IGNORE_TUNED,))
    try:
        update = load_update(found.file, G)
    except TuningError as exc:
        raise TuningError(f"cannot use the tuned update {found.file} named by latent record {found.record}: {exc}",
                          remedies=(IGNORE_TUNED,)) from None
    log.debug("read the tuned update %s (rank %s) of %s", found.file, update.rank, found.latent)
    return update


def reference(update_path, result_path):
    """How the record of the latent `result_path` names the update file `update_path`: relative to the
    result's folder (so `tuned` is found wherever the result was written), absolute where no relative
    path exists (another drive)."""
    folder = os.path.abspath(Path(result_path).parent)
    try:
        return os.path.relpath(os.path.abspath(update_path), folder)
    except ValueError:
        return os.path.abspath(update_path)


def frame_update(update_a, update_b, t):
    """The update a morph frame at `t` in [0, 1] renders through: (1 - t) ΔA + t ΔB, None meaning untuned.

    `update_a` and `update_b` are TunedUpdates or None (an untuned end counts as a zero update). A term
    of weight 0 is left out, so the ends are exactly each latent's own update (or the plain generator);
    the same update at both ends is that update at every t.
    """
    from invert.tuning import blend_updates

    if update_a is not None and update_a is update_b:
        return update_a
    terms = [(u, w) for u, w in ((update_a, 1.0 - float(t)), (update_b, float(t))) if u is not None and w != 0.0]
    if not terms:
        return None
    if len(terms) == 1 and terms[0][1] == 1.0:
        return terms[0][0]
    return blend_updates(terms)
