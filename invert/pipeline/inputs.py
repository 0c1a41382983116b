"""Which photos a run projects: files, folders (with `recursive`, their sub-folders), glob patterns and list
files, enumerated lazily (one name at a time; no image is opened here).

Each input comes with the sub-folder its outputs go to under an output folder, so that a tree of photos
projected into one folder keeps its structure and `a/x.jpg` and `b/x.jpg` do not collide:

    spec                         input                      subfolder
    photos/ (recursive)          photos/a/x.jpg             a
    'photos/**/*.jpg'            photos/a/x.jpg             a          (below the pattern's fixed part)
    photos/x.jpg                 photos/x.jpg               ''
    list file entry a/x.jpg      <list's folder>/a/x.jpg    a          (relative entries keep their folders)
    list file entry /d/x.jpg     /d/x.jpg                   ''

List files (`list_file`): UTF-8 text with one path per line (blank lines and lines starting with '#'
ignored, surrounding whitespace stripped, so paths may contain spaces inside), or, for a name ending in
`.csv`, CSV whose column `path` (else the first column) holds the paths (CSV quoting allows any
character, commas and newlines included). A relative path in a list is relative to the folder of the
list file, not to the current folder, so a list kept beside its photos works from anywhere.

Inside folders and globs, hidden files (a leading '.') and the images an earlier projection wrote
(`X_aligned.png`, `X_proj.png`, `X_compare.png` beside `X_metrics.json`) are left out; files named
explicitly or listed are always used. The same file reached twice is used once.
"""
import csv
import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from invert.errors import ImageError
from invert.fileio import open_input
from invert.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

PROJECTION_IMAGE_TAGS = ("_aligned", "_proj", "_compare")


@dataclass(frozen=True)
class InputFile:
    """One photo to project, and the sub-folder (of an output folder) its outputs go to."""

    path: Path
    subfolder: str = ""


def enumerate_inputs(specs=(), *, recursive=False, list_file=None):
    """Yield an InputFile for every photo that `specs` (files, folders, glob patterns) and `list_file` name.

    Folders give their images in name order (with `recursive`, those of their sub-folders too, folder by
    folder); patterns their matches in name order ('**' matches sub-folders when `recursive`). A spec
    that names nothing (no such file, an empty folder, a pattern without matches) is an ImageError: it is
    a mistake in the command, not a bad photo. Listed paths are not checked here: a listed file that is
    missing is a bad input of the run, found when it is read.
    """
    seen = set()
    for item in _enumerate(specs, recursive=recursive, list_file=list_file):
        key = os.path.normcase(os.path.abspath(item.path))
        if key in seen:
            continue
        seen.add(key)
        yield item


def _enumerate(specs, *, recursive, list_file):
    for spec in specs:
        yield from _from_spec(str(spec), recursive=recursive)
    if list_file is not None:
        yield from _from_list(Path(list_file))


def _from_spec(spec, *, recursive):
    path = Path(spec)
    if path.is_dir():
        found = 0
        for item in _walk(path, recursive=recursive):
            found += 1
            yield item
        if not found:
            where = "or its sub-folders " if recursive else ""
            raise ImageError(f"no images to project in {spec} {where}(looked for {', '.join(IMAGE_SUFFIXES)})")
    elif not path.exists() and glob.has_magic(spec):
        found = 0
        base = _fixed_part(spec)
        for match in sorted(glob.iglob(spec, recursive=recursive)):
            match = Path(match)
            if match.is_file() and _is_image_name(match) and not _is_projection_output(match):
                found += 1
                yield InputFile(match, _subfolder(match.parent, base))
        if not found:
            raise ImageError(f"no images match {spec}")
    elif not path.exists():
        raise ImageError(f"image not found: {spec}")
    else:
        yield InputFile(path)


def _walk(folder, *, recursive):
    """The images in `folder` (and its sub-folders when `recursive`), sorted by name, folder by folder."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        root = Path(root)
        skipped = 0
        for name in sorted(files):
            path = root / name
            if name.startswith(".") or not _is_image_name(path):
                continue
            if _is_projection_output(path):
                skipped += 1
                continue
            yield InputFile(path, _subfolder(root, folder))
        if skipped:
            log.info("%s: left out %d image(s) written by an earlier projection", root, skipped)


def _from_list(list_file):
    base = list_file.parent
    for entry in read_list(list_file):
        path = Path(entry)
        if path.is_absolute():
            yield InputFile(path)
        else:
            yield InputFile(base / path, _subfolder(path.parent, Path(".")))


def read_list(list_file):
    """The paths in a list file, as written (see the module doc for the format)."""
    list_file = Path(list_file)
    handle = open_input(list_file, what="list file", error=ImageError, mode="r", encoding="utf-8-sig", newline="")
    count = 0
    try:
        with handle:
            entries = _csv_entries(handle, list_file) if list_file.suffix.lower() == ".csv" else _text_entries(handle)
            for entry in entries:
                count += 1
                yield entry
    except UnicodeDecodeError as exc:
        raise ImageError(f"list file {list_file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ImageError(f"list file {list_file}: {exc}") from None
    if not count:
        raise ImageError(f"list file {list_file} names no images")


def _text_entries(handle):
    for line in handle:
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def _csv_entries(handle, list_file):
    rows = csv.reader(handle)
    header = next(rows, None)
    if header is None:
        return
    names = [name.strip().lower() for name in header]
    if "path" in names:
        column = names.index("path")
    else:  # no header naming the column: the first column, and the first row is data
        column = 0
        if header and header[0].strip():
            yield header[0].strip()
    for number, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip():
            continue
        if column >= len(row):
            raise ImageError(f"list file {list_file}, row {number}: no value in the path column")
        if row[column].strip():
            yield row[column].strip()


def _is_image_name(path):
    return path.suffix.lower() in IMAGE_SUFFIXES


def _is_projection_output(path):
    """Whether `path` is an image an earlier projection wrote (its `<stem>_metrics.json` lies beside it)."""
    for tag in PROJECTION_IMAGE_TAGS:
        if path.stem.endswith(tag) and path.with_name(path.stem[: -len(tag)] + "_metrics.json").exists():
            return True
    return False


def _fixed_part(pattern):
    """The folder part of a glob pattern before its first wildcard: 'photos/*/x.jpg' -> 'photos'."""
    parts = []
    for part in Path(pattern).parts[:-1]:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _subfolder(folder, base):
    """`folder` relative to `base` as a POSIX path ('' when they are the same); never climbs out of `base`."""
    try:
        relative = Path(os.path.relpath(folder, base))
    except ValueError:  # another drive (Windows)
        return ""
    if relative == Path(".") or relative.parts[:1] == ("..",):
        return ""
    return relative.as_posix()
