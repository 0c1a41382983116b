"""The weights registry: official generator files by name, downloaded once into a cache and checked on use.

A registry entry names one published file. `resolve(name)` returns its path in the cache, downloading it
first if it is absent. The transfer is torch.hub's `download_url_to_file` (a temporary file beside the
destination, renamed into place only when complete); the file's sha256 is then checked against the
publisher's where one is published. Where none is, the sha256 of the first download is recorded in
`<cache>/checksums.json` and every later use is checked against it (trust on first use).

An interrupted download starts again from the beginning: torch.hub does not resume, and resuming would
mean keeping an HTTP client of our own for a one-time transfer.

VGG16 is not in this registry: torchvision downloads and hash-checks it into the torch hub cache
(`invert.vgg_weights`). A `vgg16-397923af.pth` that an earlier version downloaded into this cache is still
read from there (see `invert.vgg_weights.find_weights`); nothing re-downloads it.

The cache is $STYLEGAN_INVERT_HOME, or ~/.cache/stylegan-invert. Reading it (listing, verifying, loading)
never needs it to be writable; only downloads and the first record of a checksum write to it.
"""
import json
import logging
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from invert.errors import OutputError, WeightsError
from invert.fileio import save_json, sha256_file
from invert.paths import home_dir

log = logging.getLogger(__name__)

CHECKSUMS_FILE = "checksums.json"


@dataclass(frozen=True)
class Entry:
    """One published file of the registry."""

    name: str  # registry name, e.g. 'ffhq-1024'
    kind: str  # what it is for: 'generator'
    url: str
    filename: str  # name of the file in the cache
    description: str
    format: str  # what the file holds, for `weights list` and the checkpoint loader's messages
    size: Optional[int] = None  # bytes, where known
    sha256: Optional[str] = None  # full hex digest, only where the publisher gives one


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
]}


def cache_dir():
    """The folder holding downloaded weights: $STYLEGAN_INVERT_HOME or ~/.cache/stylegan-invert.

    Not created here: reading needs no folder, and a download creates it.
    """
    return home_dir()


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
        moved = ("; VGG16 is no longer in this registry: torchvision downloads it into the torch hub cache "
                 "on first use") if name == "vgg16" else ""
        raise WeightsError(f"unknown weights name {name!r}; known names: {known}{moved}")
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
    return download(name, registry=registry, progress=progress)


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


def download(name_or_url, *, dest=None, expected_sha256=None, progress=True, force=False, registry=None):
    """Download a registry file (by name) or any URL into the cache; returns the local Path.

    An existing destination is kept (and checked) unless `force`. For a registry name the entry's
    published checksum applies and, where none is published, the sha256 is recorded for later checks.
    For a URL, `expected_sha256` (if given) is checked; the file is named after the URL's last part.
    """
    registry = _registry(registry)
    if name_or_url in registry:
        entry = registry[name_or_url]
        dest = Path(dest) if dest is not None else cache_dir() / entry.filename
        if dest.is_file() and not force:
            ok, message = _check_entry_file(entry, dest)
            if not ok:
                raise WeightsError(message)
            return dest
        log.info("downloading %s from %s", entry.name, entry.url)
        digest = _fetch(entry.url, dest, expected_sha256=expected_sha256 or entry.sha256, size=entry.size,
                        progress=progress, hint_name=entry.name)
        if entry.sha256 is None:
            previous = _load_records().get(entry.name, {}).get("sha256")
            if previous and previous != digest:
                log.warning("%s: the new download's sha256 %s replaces the recorded %s", entry.name, digest,
                            previous)
            _record(entry, digest)
        return dest
    if "://" not in name_or_url:
        get_entry(name_or_url, registry=registry)  # raises, listing the known names
    if dest is None:
        filename = Path(urllib.parse.urlparse(name_or_url).path).name
        if not filename:
            raise WeightsError(f"cannot derive a file name from {name_or_url}; pass dest=")
        dest = cache_dir() / filename
    dest = Path(dest)
    if dest.is_file() and not force:
        problem = _checksum_problem(sha256_file(dest), expected_sha256)
        if problem:
            raise WeightsError(f"{dest}: {problem}; download it again with force=True")
        return dest
    _fetch(name_or_url, dest, expected_sha256=expected_sha256, progress=progress)
    return dest


# --- registry entries: published checksums and trust on first use ---

def _check_entry_file(entry, path):
    """(ok, message) for a cached registry file; records its sha256 if nothing is published or recorded."""
    redownload = f"re-download it with `stylegan-invert weights download {entry.name} --force`"
    if entry.size is not None and path.stat().st_size != entry.size:
        return False, (f"{entry.name}: {path} has {path.stat().st_size} bytes, expected {entry.size}; "
                       f"{redownload}")
    actual = sha256_file(path)
    problem = _checksum_problem(actual, entry.sha256)
    if problem:
        return False, f"{entry.name}: {path} {problem}; {redownload}"
    if entry.sha256 is not None:
        return True, f"{entry.name}: ok (sha256 {actual[:16]}... matches the published checksum)"
    recorded = _load_records().get(entry.name, {}).get("sha256")
    if recorded is None:
        if _record(entry, actual):
            return True, f"{entry.name}: ok (sha256 {actual[:16]}... recorded now; nothing was recorded before)"
        return True, (f"{entry.name}: ok (sha256 {actual[:16]}...; nothing was recorded before, and the "
                      f"cache {cache_dir()} is not writable, so it was not recorded now)")
    if recorded != actual:
        return False, (f"{entry.name}: {path} has sha256 {actual[:16]}..., but {recorded[:16]}... was "
                       f"recorded when it was first downloaded; {redownload}")
    return True, f"{entry.name}: ok (sha256 {actual[:16]}... matches the one recorded at first download)"


def _checksum_problem(actual, expected_sha256):
    """None if `actual` matches (or nothing is expected), else what is wrong (a phrase)."""
    if expected_sha256 is not None and actual != expected_sha256.lower():
        return f"has sha256 {actual}, expected {expected_sha256.lower()}"
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
    """Record `digest` as entry's trusted sha256 -> True, or False (with a warning) if the cache is read-only."""
    records = _load_records()
    records[entry.name] = {"sha256": digest, "url": entry.url, "filename": entry.filename}
    try:
        save_json(cache_dir() / CHECKSUMS_FILE, records)
    except (OSError, OutputError) as exc:  # a read-only cache: the check still happened
        log.warning("could not record the sha256 of %s in %s (%s); it is checked again next time",
                    entry.name, cache_dir() / CHECKSUMS_FILE, getattr(exc, "strerror", None) or exc)
        return False
    return True


# --- the transfer ---

def _fetch(url, dest, *, expected_sha256=None, size=None, progress=True, hint_name=None):
    """Download `url` to `dest` through a temporary file, check size and sha256, rename -> hex sha256."""
    import torch.hub

    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot create {dest.parent} ({exc.strerror or exc}); "
                           f"{_by_hand(dest, hint_name)}") from None
    if not os.access(dest.parent, os.W_OK):
        raise WeightsError(f"cannot download into {dest.parent}: it is not writable. {_by_hand(dest, hint_name)}")
    # torch.hub writes its own temporary file and renames it to `tmp` when complete (file mode from the
    # umask, unlike tempfile's 0600); `tmp` is renamed to `dest` only once its checksum has been checked.
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.download")
    try:
        try:
            # torch.hub shows its bar whenever asked; only ask when a person is watching stderr
            torch.hub.download_url_to_file(url, str(tmp), progress=progress and sys.stderr.isatty())
        except urllib.error.HTTPError as exc:
            raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; "
                               f"{_by_hand(dest, hint_name)}") from None
        except ValueError as exc:
            raise WeightsError(f"cannot download {url!r}: {exc}") from None
        except (urllib.error.URLError, OSError) as exc:  # http.client errors are OSErrors or become URLError
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            raise WeightsError(f"could not download {url} ({reason}); this machine may be offline. "
                               f"{_by_hand(dest, hint_name)}") from None
        except Exception as exc:  # noqa: BLE001 - e.g. http.client.IncompleteRead of a dropped connection
            raise WeightsError(f"download of {url} was interrupted ({type(exc).__name__}: {exc}); "
                               "run the same command again") from None
        actual_size = os.path.getsize(tmp)
        if size is None and expected_sha256 is None:
            announced = _announced_size(url)  # torch.hub keeps a body cut short by a dropped connection
            if announced is not None and announced != actual_size:
                raise WeightsError(f"download of {url} was interrupted after {actual_size} of {announced} bytes; "
                                   "run the same command again")
        problem = f"has {actual_size} bytes, expected {size}" if size is not None and actual_size != size else None
        digest = sha256_file(tmp)
        problem = problem or _checksum_problem(digest, expected_sha256)
        if problem:
            again = f"`stylegan-invert weights download {hint_name}`" if hint_name else "the download"
            raise WeightsError(f"the file downloaded from {url} {problem}; it was deleted. "
                               f"Try {again} again, or check the URL")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("saved %s (sha256 %s)", dest, digest)
    return digest


def _announced_size(url):
    """The Content-Length that a HEAD request for `url` announces, or None if it announces none."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "stylegan-invert"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            length = response.headers.get("Content-Length")
    except (OSError, ValueError):
        return None
    return int(length) if length and length.isdigit() else None


def _by_hand(dest, hint_name):
    then = f", then run `stylegan-invert weights verify {hint_name}`" if hint_name else ""
    return f"Download the file by other means and put it at {dest}{then}"
