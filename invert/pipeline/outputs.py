"""The files written for each projected target, and what an earlier run left of them (resuming).

For a target with stem S (the photo's name; `S_face{K}` for every face), in the output folder:

    S_metrics.json        written FIRST with status "started" (the claim: these files are this command's),
                          and LAST again with the final status and every measurement
    S_aligned.png         the target
    S.npy, S.json         the latent and its record (S_noise.npz with the noise maps)
    S_tuned.safetensors   the tuned update (tuning only)
    S_proj.png, S_compare.png, S_progress.mp4|gif (video only)

So an incomplete set is always detectable: its metrics say "started" (killed), "interrupted" or
"failed", or are missing while other files are there (not written by this toolkit's projection).

`examine` sorts a target's earlier outputs into:
- fresh     nothing there: project it;
- complete  final metrics with status "projected", written by the same command (the same result key,
            see invert.pipeline.settings), every listed output present and the latent of the right
            shape: skip it;
- partial   metrics of the same command with another status, or with a missing or broken file:
            project it again, replacing those files (they are this command's own unfinished outputs);
- conflict  files there that another command wrote (other settings, another generator, no metrics
            at all), or that were projected from another photo with the same output names (another folder's
            x.jpg, or x.jpg edited since: `input_file`, see `input_identity`): never replaced without `force`.
"""
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

STARTED, PROJECTED, INTERRUPTED, FAILED, SKIPPED = "started", "projected", "interrupted", "failed", "skipped"
FRESH, PARTIAL, COMPLETE, CONFLICT = "fresh", "partial", "complete", "conflict"

# the hidden files invert.fileio writes before publishing a file: .<name>.<8 hex digits><suffix>
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}(?:\.tmp|\.mp4|\.safetensors)$")
# what `output_paths` appends to a target's stem (temporary names keep the first 200 characters of the name)
_OUTPUT_SUFFIXES = ("_metrics.json", "_aligned.png", "_noise.npz", "_tuned.safetensors", "_proj.png", "_compare.png",
                    "_progress.mp4", "_progress.gif", ".npy", ".json")
_FACE = re.compile(r"_face\d+$")


def output_folder(item, outdir):
    """Where an input's outputs go: `outdir`/its sub-folder, or beside the photo without an outdir."""
    if outdir is None:
        return item.path.parent
    return Path(outdir) / item.subfolder if item.subfolder else Path(outdir)


def target_stem(item, face=None):
    """'photo' for the one face of photo.jpg; 'photo_face2' for face 2 when every face is projected."""
    return item.path.stem if face is None else f"{item.path.stem}_face{face}"


def output_paths(stem, folder, *, noise_file=False, tune=False, video_format=None):
    """The files written for one target: {'metrics', 'aligned', 'latent', 'record', 'noise'?, 'tuned'?,
    'proj', 'compare', 'video'?} (the optional ones only when they are written)."""
    folder = Path(folder)
    paths = {"metrics": folder / f"{stem}_metrics.json", "aligned": folder / f"{stem}_aligned.png",
             "latent": folder / f"{stem}.npy", "record": folder / f"{stem}.json"}
    if noise_file:
        paths["noise"] = folder / f"{stem}_noise.npz"
    if tune:
        paths["tuned"] = folder / f"{stem}_tuned.safetensors"
    paths["proj"] = folder / f"{stem}_proj.png"
    paths["compare"] = folder / f"{stem}_compare.png"
    if video_format:
        paths["video"] = folder / f"{stem}_progress.{video_format}"
    return paths


def touched_paths(paths):
    """Every file writing `paths` may create, replace or remove: the outputs, and the latent's noise file and
    record even when none is written (invert.latents.save_latent removes stale ones)."""
    from invert.latents import latent_paths

    return list(dict.fromkeys([*paths.values(), *latent_paths(paths["latent"])]))


def input_identity(path):
    """What tells one input photo from another with the same output names, without reading it whole: its
    file name, size, and the sha256 of its first and last 64 KiB (where two photos of the same size
    differ; a copy to another machine keeps all three). Recorded in the metrics as `input_file`; None when
    the file cannot be read."""
    import hashlib

    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            digest = hashlib.sha256(handle.read(_ENDS))
            if size > _ENDS:
                handle.seek(max(_ENDS, size - _ENDS))
                digest.update(handle.read(_ENDS))
    except OSError:
        return None
    return {"name": Path(path).name, "size": size, "sha256_ends": digest.hexdigest()}


_ENDS = 64 * 1024


def read_metrics(path):
    """The metrics JSON at `path` as a dict; None when there is none; {} when it is not ours or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Earlier:
    """What an earlier run left of one input's outputs (see the module doc)."""

    state: str
    records: list = field(default_factory=list)   # the final metrics of each target (complete only)
    reason: Optional[str] = None                  # conflict: why the files are not this command's
    path: Optional[Path] = None                   # conflict: the first file in the way


def examine(item, *, outdir, key, all_faces, noise_file, tune, video_format, latent_shape):
    """Sort the earlier outputs of input `item` (an InputFile) for a run whose result key is `key`."""
    folder = output_folder(item, outdir)
    naming = dict(noise_file=noise_file, tune=tune, video_format=video_format)
    check = dict(key=key, latent_shape=latent_shape, source=item.path)
    first = output_paths(target_stem(item, 0 if all_faces else None), folder, **naming)
    states = [_examine_target(first, **check)]
    if states[0].state == COMPLETE and all_faces:
        faces = states[0].records[0].get("faces_found")
        if not isinstance(faces, int) or faces < 1:
            return Earlier(PARTIAL)
        for k in range(1, faces):
            paths = output_paths(target_stem(item, k), folder, **naming)
            states.append(_examine_target(paths, **check))
    for state in (CONFLICT, PARTIAL, FRESH):
        found = next((s for s in states if s.state == state), None)
        if found is not None:
            return found if state != FRESH or len(states) == 1 else Earlier(PARTIAL)
    return Earlier(COMPLETE, records=[s.records[0] for s in states])


def _examine_target(paths, *, key, latent_shape, source):
    metrics = read_metrics(paths["metrics"])
    if metrics is None:
        for path in touched_paths(paths):
            if os.path.lexists(path):
                return Earlier(CONFLICT, reason="it was not written by a projection of this toolkit", path=path)
        return Earlier(FRESH)
    run = metrics.get("run") if isinstance(metrics.get("run"), dict) else {}
    if run.get("key") != key:
        return Earlier(CONFLICT, reason=_difference(run.get("key"), key), path=paths["metrics"])
    earlier_source = metrics.get("input_file")
    source = input_identity(source) if isinstance(earlier_source, dict) else None  # read only when needed
    if source is not None and earlier_source != source:
        return Earlier(CONFLICT, path=paths["metrics"], reason=(
            f"it was projected from another photo, {metrics.get('input')} ({_describe(earlier_source)}; this one: "
            f"{_describe(source)})"))
    if metrics.get("status") != PROJECTED:
        return Earlier(PARTIAL)
    listed = metrics.get("outputs") if isinstance(metrics.get("outputs"), dict) else {}
    expected = {name: str(path) for name, path in paths.items()}
    if any(listed.get(name) is None for name in expected) or not all(Path(p).is_file() for p in expected.values()):
        return Earlier(PARTIAL)
    if not _latent_fits(paths["latent"], latent_shape):
        return Earlier(PARTIAL)
    return Earlier(COMPLETE, records=[metrics])


def _latent_fits(path, shape):
    """Whether the .npy at `path` holds a numeric array of `shape`, judged by its header alone."""
    from invert.errors import LatentError
    from invert.latents import ArrayFile

    try:
        arrays = ArrayFile(path)
        return not arrays.is_archive and list(arrays.check(None)) == list(shape)
    except LatentError:
        return False


def _describe(identity):
    try:
        return f"{identity['name']}, {identity['size']:,} bytes, content {str(identity['sha256_ends'])[:12]}"
    except (KeyError, TypeError, ValueError):
        return "unknown"


def _difference(earlier, now):
    """Why outputs with result key `earlier` are not this run's (`now`), in words."""
    if not isinstance(earlier, dict):
        return "it was written by another command or version of this toolkit"
    if earlier.get("generator") != now.get("generator"):
        return f"it was projected with another generator (network {str(earlier.get('generator'))[:12]})"
    changed = []
    for section in now:
        old, new = earlier.get(section), now[section]
        if isinstance(old, dict) and isinstance(new, dict):
            prefix = "" if section in ("projector", "targets") else f"{section} "  # "video every 2 -> 1"
            changed += [f"{prefix}{name} {old.get(name)!r} -> {new.get(name)!r}" for name in sorted(set(old) | set(new))
                        if old.get(name) != new.get(name)]
        elif old != new:
            changed.append(f"{section} {old!r} -> {new!r}")
    return "it was projected with other settings (" + ", ".join(changed[:4]) + (", ..." if len(changed) > 4 else "") \
        + ")"


def sweep_temporary(folders, stems, *, all_faces=False):
    """Remove hidden files that a killed run left while writing an output of one of `stems` ((folder, stem)
    pairs; with `all_faces`, every face's outputs `stem_face{K}`) into `folders` (invert.fileio's
    `.<name>.<8 hex>.tmp`). Only a run that holds the folders' lock may call this, for its own inputs:
    other writers there (other ranks) write other stems. Returns the count."""
    wanted = {(str(folder), stem) for folder, stem in stems}
    removed = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMPORARY.match(entry.name)
            if not match or not entry.is_file(follow_symlinks=False):
                continue
            if any((str(folder), stem) in wanted for stem in _stems_of(match.group("name"), all_faces=all_faces)):
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError:
                    pass
    if removed:
        log.info("removed %d unfinished temporary file(s) left by an earlier run", removed)
    return removed


def _stems_of(name, *, all_faces):
    """Every stem whose outputs could be called `name`: each suffix stripped in turn (x_metrics.json is
    x's metrics, or the record of an input named x_metrics; membership in the wanted set decides), and with
    `all_faces` also the `_face{K}` (x_face1.jpg's own files are not x.jpg's otherwise)."""
    for suffix in _OUTPUT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            yield stem
            if all_faces and _FACE.search(stem):
                yield _FACE.sub("", stem)
