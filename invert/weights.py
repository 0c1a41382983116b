"""The weights registry: official files by name, downloaded once into a cache and checked on every use.

A registry entry names one published file (a generator checkpoint or the VGG16 used by the perceptual
loss). `resolve(name)` returns its path in the cache, downloading it first if it is absent. Downloads
stream into `<file>.part`, resume an interrupted `.part` with an HTTP Range request, are checked against
the publisher's sha256 (or sha256 prefix, as torchvision puts in its file names) and only then are
renamed into place, so the cache never holds a half-written or unchecked file.

Where the publisher gives no checksum, the sha256 of the first download is recorded in
`<cache>/checksums.json` and every later use is checked against it (trust on first use).

The cache is $STYLEGAN_INVERT_HOME, or ~/.cache/stylegan-invert.
"""
import hashlib
import http.client
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from invert.paths import home_dir
from invert.errors import WeightsError
from invert.fileio import save_json

log = logging.getLogger(__name__)

CHECKSUMS_FILE = "checksums.json"
CHUNK = 1 << 20
USER_AGENT = "stylegan-invert (python urllib)"


@dataclass(frozen=True)
class Entry:
    """One published file of the registry."""

    name: str  # registry name, e.g. 'ffhq-1024'
    kind: str  # 'generator' | 'vgg16'
    url: str
    filename: str  # name of the file in the cache
    description: str
    format: str  # what the file holds, for `weights list` and the checkpoint loader's messages
    size: int | None = None  # bytes, where known
    sha256: str | None = None  # full hex digest, only where the publisher gives one
    sha256_prefix: str | None = None  # leading hex digits of the sha256 (torchvision's file names)


REGISTRY = {entry.name: entry for entry in [
    Entry(
        name="ffhq-1024", kind="generator",
        url="https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
            "stylegan2-ffhq-1024x1024.pkl",
        filename="stylegan2-ffhq-1024x1024.pkl",
        description="StyleGAN2 config-f, FFHQ 1024x1024 (NVIDIA, stylegan3 repository release)",
        format="PyTorch pickle of the stylegan2-ada-pytorch / stylegan3 code"),
    Entry(
        name="ffhq-1024-tf", kind="generator",
        url="https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl",
        filename="stylegan2-ffhq-config-f.pkl",
        description="StyleGAN2 config-f, FFHQ 1024x1024 (NVIDIA, original TensorFlow release)",
        format="TensorFlow 1.x dnnlib pickle of the original stylegan2 code"),
    Entry(
        name="ffhq-1024-ada", kind="generator",
        url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl",
        filename="stylegan2-ada-ffhq.pkl",
        description="StyleGAN2-ADA, FFHQ 1024x1024 (NVIDIA, stylegan2-ada-pytorch release)",
        format="PyTorch pickle of the stylegan2-ada-pytorch code"),
    Entry(
        name="vgg16", kind="vgg16",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        filename="vgg16-397923af.pth",
        description="VGG16 trained on ImageNet (torchvision), for the perceptual loss",
        format="torch state_dict of torchvision.models.vgg16",
        size=553433881, sha256_prefix="397923af"),
]}


def cache_dir():
    """The folder holding downloaded weights: $STYLEGAN_INVERT_HOME or ~/.cache/stylegan-invert."""
    return home_dir(create=True)


def _registry(registry):
    return REGISTRY if registry is None else registry


def is_registry_name(spec, *, registry=None):
    """Whether `spec` (a string given for a generator or weights file) names a registry entry."""
    return isinstance(spec, str) and spec in _registry(registry)


def get_entry(name, *, registry=None):
    """The registry entry called `name`; an unknown name raises WeightsError listing the known ones."""
    registry = _registry(registry)
    if name not in registry:
        known = ", ".join(sorted(registry)) or "(none)"
        raise WeightsError(f"unknown weights name {name!r}; known names: {known}")
    return registry[name]


def cached_path(name, *, registry=None):
    """Where the registry file `name` lives in the cache (whether or not it is there yet)."""
    return cache_dir() / get_entry(name, registry=registry).filename


def list_entries(*, registry=None):
    """One dict per registry entry: name, kind, description, format, url, size, cached (bool), path."""
    rows = []
    for entry in _registry(registry).values():
        path = cache_dir() / entry.filename
        rows.append({"name": entry.name, "kind": entry.kind, "description": entry.description,
                     "format": entry.format, "url": entry.url, "size": entry.size,
                     "cached": path.is_file(), "path": path})
    return rows


def resolve(name, *, registry=None, progress=True):
    """The local path of registry file `name`, downloaded first if absent and checked either way.

    Raises WeightsError when the download fails or the cached file does not match its checksum.
    """
    entry = get_entry(name, registry=registry)
    path = cache_dir() / entry.filename
    if path.is_file():
        ok, message = _check_entry_file(entry, path)
        if not ok:
            raise WeightsError(message)
        return path
    return _download_entry(entry, dest=path, progress=progress, force=False)


def verify(name, *, registry=None):
    """Check the cached file of `name` against its published or recorded sha256 -> (ok, message).

    A file with no published checksum and no record yet (e.g. put in the cache by hand) is recorded now.
    """
    entry = get_entry(name, registry=registry)
    path = cache_dir() / entry.filename
    if not path.is_file():
        return False, (f"{name}: not downloaded (expected at {path}); "
                       f"run `stylegan-invert weights download {name}`")
    return _check_entry_file(entry, path)


def download(name_or_url, *, dest=None, expected_sha256=None, sha256_prefix=None, progress=True,
             force=False, registry=None, timeout=60):
    """Download a registry file (by name) or any URL into the cache; returns the local Path.

    An existing destination is kept (and checked) unless `force`. For a registry name the entry's
    checksums apply and, where none is published, the sha256 is recorded for later checks. A partial
    `<dest>.part` from an interrupted download is resumed where the server supports Range requests.
    """
    registry = _registry(registry)
    if name_or_url in registry:
        entry = registry[name_or_url]
        dest = Path(dest) if dest is not None else cache_dir() / entry.filename
        return _download_entry(entry, dest=dest, progress=progress, force=force, timeout=timeout,
                               expected_sha256=expected_sha256, sha256_prefix=sha256_prefix)
    if "://" not in name_or_url:
        get_entry(name_or_url, registry=registry)  # raises, listing the known names
    if dest is None:
        filename = Path(urllib.parse.urlparse(name_or_url).path).name
        if not filename:
            raise WeightsError(f"cannot derive a file name from {name_or_url}; pass dest=")
        dest = cache_dir() / filename
    dest = Path(dest)
    if dest.is_file() and not force:
        actual = sha256_of(dest)
        problem = _checksum_problem(actual, expected_sha256, sha256_prefix)
        if problem:
            raise WeightsError(f"{dest}: {problem}; download it again with force=True")
        return dest
    _fetch(name_or_url, dest, expected_sha256=expected_sha256, sha256_prefix=sha256_prefix,
           progress=progress, force=force, timeout=timeout)
    return dest


def sha256_of(path):
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- registry entries: published checksums and trust on first use ---

def _download_entry(entry, *, dest, progress, force, timeout=60, expected_sha256=None, sha256_prefix=None):
    if dest.is_file() and not force:
        ok, message = _check_entry_file(entry, dest)
        if not ok:
            raise WeightsError(message)
        return dest
    log.info("downloading %s from %s", entry.name, entry.url)
    digest = _fetch(entry.url, dest, expected_sha256=expected_sha256 or entry.sha256,
                    sha256_prefix=sha256_prefix or entry.sha256_prefix, size=entry.size,
                    progress=progress, force=force, timeout=timeout, hint_name=entry.name)
    if entry.sha256 is None:
        previous = _load_records().get(entry.name, {}).get("sha256")
        if previous and previous != digest:
            log.warning("%s: the new download's sha256 %s replaces the recorded %s", entry.name, digest,
                        previous)
        _record(entry, digest)
    return dest


def _check_entry_file(entry, path):
    """(ok, message) for a cached registry file; records its sha256 if nothing is published or recorded."""
    redownload = f"re-download it with `stylegan-invert weights download {entry.name} --force`"
    if entry.size is not None and path.stat().st_size != entry.size:
        return False, (f"{entry.name}: {path} has {path.stat().st_size} bytes, expected {entry.size}; "
                       f"{redownload}")
    actual = sha256_of(path)
    problem = _checksum_problem(actual, entry.sha256, entry.sha256_prefix)
    if problem:
        return False, f"{entry.name}: {path} {problem}; {redownload}"
    if entry.sha256 is not None:
        return True, f"{entry.name}: ok (sha256 {actual[:16]}... matches the published checksum)"
    recorded = _load_records().get(entry.name, {}).get("sha256")
    if recorded is None:
        _record(entry, actual)
        return True, f"{entry.name}: ok (sha256 {actual[:16]}... recorded now; nothing was recorded before)"
    if recorded != actual:
        return False, (f"{entry.name}: {path} has sha256 {actual[:16]}..., but {recorded[:16]}... was "
                       f"recorded when it was first downloaded; {redownload}")
    return True, f"{entry.name}: ok (sha256 {actual[:16]}... matches the one recorded at first download)"


def _checksum_problem(actual, expected_sha256, sha256_prefix):
    """None if `actual` passes the given checks, else what is wrong (a phrase)."""
    if expected_sha256 is not None and actual != expected_sha256.lower():
        return f"has sha256 {actual}, expected {expected_sha256.lower()}"
    if sha256_prefix is not None and not actual.startswith(sha256_prefix.lower()):
        return f"has sha256 {actual}, expected one starting with {sha256_prefix.lower()}"
    return None


def _load_records():
    path = cache_dir() / CHECKSUMS_FILE
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path} is unreadable ({exc}); delete it and run "
                           f"`stylegan-invert weights verify` to record the cached files again") from exc
    return records if isinstance(records, dict) else {}


def _record(entry, digest):
    records = _load_records()
    records[entry.name] = {"sha256": digest, "url": entry.url, "filename": entry.filename}
    save_json(cache_dir() / CHECKSUMS_FILE, records)


# --- HTTP ---

def _fetch(url, dest, *, expected_sha256=None, sha256_prefix=None, size=None, progress=True, force=False,
           timeout=60, hint_name=None):
    """Stream `url` into `<dest>.part` (resuming it when possible), check it, rename it to `dest`.

    Returns the file's hex sha256.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if force or (part.exists() and size is not None and part.stat().st_size > size):
        _unlink(part)
    offset = part.stat().st_size if part.exists() else 0

    digest = hashlib.sha256()
    try:
        response = _open(url, dest, offset, timeout=timeout, hint_name=hint_name)
    except _RangeNotSatisfiable as exc:
        if exc.total == offset:  # the .part already holds the whole file
            response = None
        else:
            _unlink(part)
            offset = 0
            response = _open(url, dest, 0, timeout=timeout, hint_name=hint_name)

    if response is None:
        _hash_file(part, digest)
    else:
        with response as resp:
            if offset and resp.status == 206 and _range_start(resp.headers.get("Content-Range")) == offset:
                mode = "ab"
                log.info("resuming %s at byte %d", dest.name, offset)
                _hash_file(part, digest)
            else:
                if offset:
                    log.info("the server does not resume downloads; restarting %s", dest.name)
                mode, offset = "wb", 0
            length = resp.headers.get("Content-Length")
            expected_total = offset + int(length) if length and length.isdigit() else size
            received = _stream(resp, part, mode, digest, offset=offset, total=expected_total,
                               desc=dest.name, progress=progress, url=url)
            if expected_total is not None and offset + received < expected_total:
                raise WeightsError(
                    f"download of {url} was interrupted after {offset + received} of {expected_total} "
                    f"bytes; run the same command again to resume it from {part}")

    actual = digest.hexdigest()
    actual_size = part.stat().st_size
    problem = None
    if size is not None and actual_size != size:
        problem = f"has {actual_size} bytes, expected {size}"
    problem = problem or _checksum_problem(actual, expected_sha256, sha256_prefix)
    if problem:
        _unlink(part)
        again = f"`stylegan-invert weights download {hint_name}`" if hint_name else "the download"
        raise WeightsError(f"the file downloaded from {url} {problem}; it was deleted. "
                           f"Try {again} again, or check the URL")
    os.replace(part, dest)
    log.info("saved %s (sha256 %s)", dest, actual)
    return actual


class _RangeNotSatisfiable(Exception):
    """The server answered 416 to a Range request; `total` is the file size it reported, if any."""

    def __init__(self, total):
        super().__init__(total)
        self.total = total


def _open(url, dest, offset, *, timeout, hint_name):
    """urlopen, asking for bytes `offset`- when `offset` > 0; raises WeightsError or _RangeNotSatisfiable."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            raise _RangeNotSatisfiable(_range_total(exc.headers.get("Content-Range"))) from exc
        raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; "
                           f"{_by_hand(dest, hint_name)}") from exc
    except ValueError as exc:
        raise WeightsError(f"cannot download {url!r}: {exc}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(f"could not download {url} ({reason}); this machine may be offline. "
                           f"{_by_hand(dest, hint_name)}") from exc


def _by_hand(dest, hint_name):
    then = f", then run `stylegan-invert weights verify {hint_name}`" if hint_name else ""
    return f"Download the file by other means and put it at {dest}{then}"


def _stream(resp, part, mode, digest, *, offset, total, desc, progress, url):
    """Copy the response body to `part` (appending for 'ab'), updating `digest`; returns bytes received."""
    from tqdm import tqdm

    received = 0
    show = progress and sys.stderr.isatty()
    with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                     unit_divisor=1024, desc=desc, file=sys.stderr, disable=not show,
                                     leave=False) as bar:
        try:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise WeightsError(f"download of {url} was interrupted after {offset + received} bytes ({exc}); "
                               f"run the same command again to resume it from {part}") from exc
    return received


def _hash_file(path, digest):
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)


def _range_start(content_range):
    """The first byte of a 'bytes START-END/TOTAL' Content-Range, or None."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", content_range or "")
    return int(match.group(1)) if match else None


def _range_total(content_range):
    """The TOTAL of a 'bytes */TOTAL' (or 'bytes A-B/TOTAL') Content-Range, or None."""
    match = re.fullmatch(r"\s*bytes\s+(?:\*|\d+-\d+)/(\d+)\s*", content_range or "")
    return int(match.group(1)) if match else None


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
