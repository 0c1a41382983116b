"""Latent records: which generator a latent belongs to, in a small JSON file beside it.

A latent means something only to the network it was made with. Every latent the toolkit writes,
`<stem>.npy`, gets a record `<stem>.json` beside it (written by `invert.latents.save_latent`, which
is given the record by its caller), so that the editing commands can find the generator by themselves:

    {
      "format": "stylegan-invert latent record",
      "schema_version": 1,
      "latent": "photo.npy",                      # the file this record describes (same folder)
      "shape": [18, 512],                         # [num_ws, w_dim], or [N, num_ws, w_dim] for a stack
      "generator": {
        "spec": "ffhq-1024",                      # what the user gave: registry name, path or random:NAME
        "path": "/home/me/.cache/stylegan-invert/stylegan2-ffhq-1024x1024.pkl",   # resolved file
        "sha256": "<sha256 of that file>",
        "fingerprint": "<network fingerprint>",   # invert.checkpoints.fingerprint: one per network
        "format": "stylegan3-repository pickle",
        "random": false
      },
      "command": "project",                       # which command (or library caller) wrote it
      "inputs": ["face.png"],                     # what it was made from, as given
      "created": "2025-01-31T12:00:00+00:00",
      "stylegan_invert_version": "0.1.0",
      "tuned": null                               # relative path of a tuned-generator update (issue 12)
    }

Writing (what `project` and every other latent writer does):

    record = latent_record(G, generator_spec="ffhq-1024", command="project", inputs=["face.png"])
    save_latent("face.npy", w, noise, record=record)     # writes face.npy, face_noise.npz, face.json

Reading: `read_record(latent_path)` gives a `LatentRecord` or None when there is none;
`choose_generator(latent_paths, override=...)` decides which generator to load for some latents,
and `check_loaded(choice, G)` checks the loaded network against their records.
"""
import datetime
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from invert.errors import LatentError

log = logging.getLogger(__name__)

RECORD_FORMAT = "stylegan-invert latent record"
SCHEMA_VERSION = 1
# the generator a latent without a record is assumed to belong to: the network the toolkit is for
DEFAULT_GENERATOR = "ffhq-1024"


class GeneratorChoiceError(LatentError):
    """The latents' records cannot settle which generator to use (they disagree, one is unreadable, or the
    recorded generator now holds other weights): the user has to name the generator."""


def record_path(latent_path):
    """`dir/stem.npy` -> `dir/stem.json`: where a latent's record lives."""
    return Path(latent_path).with_suffix(".json")


def latent_record(G, *, generator_spec, command, inputs=(), shape=None, tuned=None):
    """The record of a latent made with generator `G` (a dict, written by `write_record`).

    `generator_spec` is what the user gave for the generator (a registry name, a path, random:NAME);
    `command` names what made the latent ('project', 'edit', ...); `inputs` what it was made from
    (paths or names, stored as given); `shape` the latent's shape (filled in by `save_latent` when
    None); `tuned` the path of a tuned-generator update relative to the latent's folder, or None.
    """
    from invert._version import __version__

    source = dict(getattr(G, "source", None) or {})
    path = source.get("path")
    if path and Path(path).exists():
        path = os.path.abspath(path)  # a record must still point at the file when read from another folder
    if not source.get("fingerprint"):
        raise LatentError("this generator has no network fingerprint (G.source['fingerprint']); load it with "
                          "invert.load_generator so that latents made with it can name it")
    return {
        "format": RECORD_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "latent": None,
        "shape": None if shape is None else [int(n) for n in shape],
        "generator": {
            "spec": str(generator_spec),
            "path": path,
            "sha256": source.get("sha256"),
            "fingerprint": source["fingerprint"],
            "format": source.get("format"),
            "random": bool(source.get("random")),
        },
        "command": str(command),
        "inputs": [str(item) for item in inputs],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stylegan_invert_version": __version__,
        "tuned": None if tuned is None else str(tuned),
    }


def write_record(latent_path, record, *, shape=None, overwrite=True):
    """Write `record` as the record of `latent_path` (atomically); returns the record's path.

    The record's `latent` field is set to the latent's file name, and `shape` when given.
    """
    from invert.fileio import save_json

    record = dict(record)
    record["latent"] = Path(latent_path).name
    if shape is not None:
        record["shape"] = [int(n) for n in shape]
    path = record_path(latent_path)
    save_json(path, record, overwrite=overwrite)
    return path


def is_record_file(path):
    """Whether `path` is a JSON file that says it is a latent record (readable or not otherwise)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")).get("format") == RECORD_FORMAT
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


@dataclass
class LatentRecord:
    """A record read back: the generator a latent belongs to, and how it was made."""

    path: Path                 # the record file
    spec: str                  # the generator as the user gave it
    generator_path: str        # the file it resolved to (None for random generators)
    fingerprint: str
    sha256: str = None
    format: str = None
    random: bool = False
    command: str = None
    tuned: str = None
    data: dict = field(default_factory=dict)   # everything in the file

    def describe(self):
        """'ffhq-1024 (network 0123456789ab)' for messages."""
        return f"{self.spec} (network {self.fingerprint[:12]})"


def read_record(latent_path):
    """The record beside `latent_path`, or None when there is none.

    A `<stem>.json` that is not a latent record (another tool's file, a boundary sidecar) counts as
    none; a record that cannot be read is a LatentError naming it.
    """
    path = record_path(latent_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeneratorChoiceError(f"cannot read latent record {path}: {' '.join(str(exc).split())}; fix or delete it, "
                          f"or name the generator explicitly") from None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        log.debug("%s is not a latent record; ignored", path)
        return None
    if data.get("schema_version") != SCHEMA_VERSION:
        raise GeneratorChoiceError(f"latent record {path} has schema_version {data.get('schema_version')!r}; this "
                                   f"version of stylegan-invert reads {SCHEMA_VERSION}")
    generator = data.get("generator")
    if not isinstance(generator, dict) or not generator.get("spec") or not generator.get("fingerprint"):
        raise GeneratorChoiceError(f"latent record {path} names no generator (it needs generator.spec and "
                          f"generator.fingerprint); fix or delete it, or name the generator explicitly")
    return LatentRecord(path=path, spec=str(generator["spec"]), generator_path=generator.get("path"),
                        fingerprint=str(generator["fingerprint"]), sha256=generator.get("sha256"),
                        format=generator.get("format"), random=bool(generator.get("random")),
                        command=data.get("command"), tuned=data.get("tuned"), data=data)


# ---------------------------------------------------------------------------------------------------
# which generator to load for some latents


@dataclass
class GeneratorChoice:
    """Which generator to load for some latents, and why.

    `load_spec` is what to pass to `load_generator`; `spec` what to write into the records of the
    results (the user's spelling, not the resolved path); `expected_fingerprint` the network the
    loaded generator must be (None when the user chose it, or no latent has a record); `records`
    maps each latent path to its record or None.
    """

    spec: str
    load_spec: str
    expected_fingerprint: str = None
    chosen_by: str = "record"            # 'user' | 'record' | 'default'
    records: dict = field(default_factory=dict)


def choose_generator(latent_paths, *, override=None, default=DEFAULT_GENERATOR):
    """Decide which generator to load for `latent_paths` (the inputs of one editing command).

    - `override` (the user's explicit choice) wins; records that disagree are only warned about once
      the generator is loaded (`check_loaded`), since applying a latent to another network of the
      same shape (a fine-tuned one) is a legitimate thing to do;
    - else the latents' records: all recorded latents must name one network (GeneratorChoiceError
      naming both otherwise); the recorded file is loaded if it still exists, else the recorded spec
      (a registry name downloads again, a moved file is an error from the loader);
    - else `default`, with a one-line warning.
    """
    paths = [Path(p) for p in latent_paths]
    if override is not None:
        return GeneratorChoice(spec=str(override), load_spec=str(override), chosen_by="user",
                               records={path: _read_or_none(path) for path in paths})
    records = {path: read_record(path) for path in paths}
    recorded = [(path, record) for path, record in records.items() if record is not None]
    if not recorded:
        names = ", ".join(str(p) for p in paths)
        log.warning("note: no record beside %s says which generator made %s; using %s", names,
                    "it" if len(paths) == 1 else "them", default)
        return GeneratorChoice(spec=default, load_spec=default, chosen_by="default", records=records)
    first_path, first = recorded[0]
    for path, record in recorded[1:]:
        if record.fingerprint != first.fingerprint:
            raise GeneratorChoiceError(
                f"{first_path} belongs to {first.describe()} but {path} to {record.describe()} (see their records "
                f"{first.path.name} and {record.path.name}); latents of different networks cannot be combined")
    for path, record in records.items():
        if record is None:
            log.info("%s has no record; assuming it belongs to %s like %s", path, first.describe(), first_path)
    recorded_file = first.generator_path
    load_spec = recorded_file if recorded_file and Path(recorded_file).is_file() else first.spec
    log.info("using generator %s, named by %s", first.spec, first.path)
    return GeneratorChoice(spec=first.spec, load_spec=load_spec, expected_fingerprint=first.fingerprint,
                           chosen_by="record", records=records)


def _read_or_none(path):
    """A latent's record, or None when it has none or an unreadable one (said once, as a warning)."""
    try:
        return read_record(path)
    except GeneratorChoiceError as exc:
        log.warning("warning: %s", exc)
        return None


def check_loaded(choice, G):
    """Check the generator loaded for `choice` against the latents' records.

    A generator chosen from the records must be the recorded network (LatentError naming both
    otherwise: the recorded file or registry name now holds other weights). A generator the user
    chose that is not the network some latent records is allowed, with a warning naming both.
    """
    fingerprint = (getattr(G, "source", None) or {}).get("fingerprint")
    if choice.expected_fingerprint is not None and fingerprint != choice.expected_fingerprint:
        recorded = next(r for r in choice.records.values() if r is not None)
        raise GeneratorChoiceError(f"the latents' record {recorded.path} names {recorded.describe()}, but "
                                   f"{choice.load_spec} now holds network {str(fingerprint)[:12]}; the file or "
                                   f"registry entry has changed (or, for a pickle that sets conv_clamp, the record "
                                   f"was written before fingerprints left conv_clamp out), so name the generator the "
                                   f"latents were made with explicitly")
    if choice.chosen_by == "user":
        for path, record in choice.records.items():
            if record is not None and record.fingerprint != fingerprint:
                log.warning("warning: %s was made with %s, not with %s (network %s) as asked; the result is that "
                            "latent rendered by another network", path, record.describe(), choice.spec,
                            str(fingerprint)[:12])
