"""From what a user names (`smile`, `ganspace:12`, `my_set.safetensors:3`, `boundary.npy`) to a direction.

    NAME            a name registered for the generator's network (the user's manifest, then the
                    package's: `invert.directions.registry`), else a published direction of that
                    network (`invert.directions.catalogue`)
    NAME:K          direction K of a registered or published direction set
    PATH.npy        a boundary file (`invert.directions.boundary_file`)
    PATH.safetensors:K   direction K of a direction set file (`invert.directions.direction_set`)

A single direction's strength is a distance in W (per edited layer); a set member's strength is in
units of its standard deviation (sigma), as GANSpace does, so the `Direction` carries that `scale`.
"""
import logging
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invert.directions import registry
from invert.directions.boundary_file import load_boundary_file, read_sidecar
from invert.directions.direction_set import SUFFIX as SET_SUFFIX, load_direction_set
from invert.directions.sampling import BUILTIN_ATTRIBUTES, DEFAULT_SAMPLES
from invert.errors import BoundaryError

log = logging.getLogger(__name__)

_INDEXED = re.compile(r"^(.+):(\d+)$")
DISCOVERY_METHODS = ("sefa", "ganspace")


@dataclass
class Direction:
    """A direction to edit along: `direction` float64 [w_dim] or [num_ws, w_dim], unit per row.

    An edit of strength s moves a latent by s * `scale` along it: `scale` is 1 for a boundary (strength
    in W units) and the member's std for a member of a direction set (strength in sigma). `layers` are
    the W+ rows it is meant for (a set's layers; None: every row).
    """

    name: str
    direction: np.ndarray
    scale: float = 1.0
    unit: str = "W"
    layers: list = None
    source: str = ""
    path: Path = None
    info: dict = field(default_factory=dict)


def split_index(spec):
    """'ganspace:12' -> ('ganspace', 12); 'smile' -> ('smile', None)."""
    match = _INDEXED.match(str(spec))
    return (match.group(1), int(match.group(2))) if match else (str(spec), None)


def looks_like_path(spec):
    spec = str(spec)
    return (os.sep in spec or "/" in spec or spec.lower().endswith((".npy", ".npz", SET_SUFFIX))
            or Path(spec).is_file())


def direction_tag(spec):
    """How a direction appears in default file names: 'smile', 'ganspace_12', 'x/sefa.safetensors:3' -> 'sefa_3'."""
    base, index = split_index(spec)
    stem = Path(base).stem if looks_like_path(base) else base
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem)
    return stem if index is None else f"{stem}_{index}"


def resolve_direction(spec, G, *, generator_spec=None, manifests=None, progress=True):
    """The direction `spec` names (see the module doc), checked against generator G -> `Direction`.

    A missing name is an error that gives the command to train it (or, for a published name of another
    network, says which network it belongs to). A registered file whose sidecar or metadata names
    another network is refused; a file named by path that does so is only warned about.
    `generator_spec` (what the user gave for the generator) makes suggested commands exact.
    """
    base, index = split_index(spec)
    if looks_like_path(base):
        return _from_path(Path(base), index, G)
    name = registry.check_name(base)
    key, legacy = registry.network_key(G), registry.legacy_key(G)
    searched = registry.manifest_search_path() if manifests is None else list(manifests)
    entry = registry.find_entry(name, key, legacy=legacy, manifests=searched)
    if entry is not None:
        return _from_entry(entry, index, G, generator_spec=generator_spec)
    from invert.directions import catalogue

    published = catalogue.find_published(name, G)
    if published is not None:
        return _from_catalogue(published, index, G, progress=progress)
    raise BoundaryError(_not_found(name, G, searched, generator_spec=generator_spec))


def _from_path(path, index, G):
    if path.suffix.lower() == SET_SUFFIX:
        dset = load_direction_set(path)
        _check_network(dset.metadata.get("network_fingerprint"), G, what=f"direction set {path}", strict=False)
        return _member(dset, _require_index(index, label=str(path), count=len(dset)), G, name=path.stem,
                       source=f"file {path}")
    if index is not None:
        raise BoundaryError(f"{path} is a boundary file holding one direction; ':{index}' picks a direction of a "
                            f"direction set (.safetensors)")
    if not path.is_file():
        raise BoundaryError(f"boundary file not found: {path}")
    direction = load_boundary_file(path, num_ws=G.num_ws, w_dim=G.w_dim)
    info = read_sidecar(path) or {}
    _check_sidecar(info, G, name=path.stem, what=f"boundary {path}", strict=False, legacy=True)
    return Direction(name=path.stem, direction=direction, source=f"file {path}", path=path, info=info)


def _from_entry(entry, index, G, *, generator_spec):
    name = entry.name
    if not entry.path.is_file():
        raise BoundaryError(f"{name!r} is registered in {entry.manifest} as {entry.path}, which does not exist; "
                            f"train or register it again: {train_command(name, generator_spec or _spec(G))} --force")
    where = f"registered in {entry.manifest}"
    if entry.path.suffix.lower() == SET_SUFFIX:
        dset = load_direction_set(entry.path)
        _check_network(dset.metadata.get("network_fingerprint"), G, what=f"{name!r} ({entry.path})", strict=True,
                       manifest=entry.manifest)
        if entry.component is not None:
            if index is not None:
                raise BoundaryError(f"{name!r} is direction {entry.component} of {entry.path}, a single direction; "
                                    f"use it as {name!r} without ':{index}'")
            member = _member(dset, dset.check_index(entry.component, name=str(entry.path)), G, name=name,
                             source=where)
            member.name = name
            return member
        return _member(dset, _require_index(index, label=name, count=len(dset)), G, name=name, source=where)
    if index is not None:
        raise BoundaryError(f"{name!r} is a single direction ({entry.path}); ':{index}' picks a direction of a set")
    info = read_sidecar(entry.path) or {}
    _check_sidecar(info, G, name=name, what=f"boundary {name!r} ({entry.path})", strict=True, legacy=entry.legacy,
                   manifest=entry.manifest, generator_spec=generator_spec)
    direction = load_boundary_file(entry.path, num_ws=G.num_ws, w_dim=G.w_dim)
    return Direction(name=name, direction=direction, source=where, path=entry.path, info=info)


def _from_catalogue(entry, index, G, *, progress):
    from invert.directions import catalogue

    source = f"published ({entry.licence} licence): {entry.citation}"
    if entry.kind == "set":
        dset = catalogue.load_published_set(entry, w_dim=G.w_dim, progress=progress)
        return _member(dset, _require_index(index, label=entry.name, count=len(dset)), G, name=entry.name,
                       source=source)
    if index is not None:
        raise BoundaryError(f"{entry.name!r} is a single published direction; ':{index}' picks a direction of a set")
    direction = catalogue.load_published_boundary(entry, num_ws=G.num_ws, w_dim=G.w_dim, progress=progress)
    return Direction(name=entry.name, direction=direction, source=source, path=catalogue.published_path(entry),
                     info={"url": entry.url, "licence": entry.licence, "citation": entry.citation})


def _member(dset, index, G, *, name, source):
    """Direction `index` of a set: strength in units of its std, meant for the set's layers (checked against G)."""
    where = dset.path or name
    if dset.directions.shape[1] != G.w_dim:
        raise BoundaryError(f"direction set {where} holds directions of w_dim {dset.directions.shape[1]}; this "
                            f"generator has w_dim {G.w_dim}")
    if dset.layers and max(dset.layers) >= G.num_ws:
        raise BoundaryError(f"direction set {where} was made for layers up to {max(dset.layers)}; this generator has "
                            f"{G.num_ws} layers, numbered 0-{G.num_ws - 1}")
    return Direction(name=f"{name}_{index}", direction=dset.directions[index], scale=float(dset.std[index]),
                     unit="sigma", layers=dset.layers, source=source, path=dset.path,
                     info={"component": index, "std": float(dset.std[index]), **dset.metadata})


def _require_index(index, *, label, count):
    if index is None:
        raise BoundaryError(f"{label} is a set of {count} directions; pick one as {label}:K with K in 0-{count - 1}")
    if not 0 <= index < count:
        raise BoundaryError(f"{label} holds {count} directions, numbered 0-{count - 1}; there is no direction "
                            f"{index}")
    return index


def _check_network(fingerprint, G, *, what, strict, manifest=None):
    """Refuse (strict) or warn about a file that names another network than G's."""
    mine = registry.network_key(G)
    if not fingerprint or fingerprint == mine:
        return
    message = f"{what} was made for network {fingerprint[:12]}..., not this one ({mine[:12]}...)"
    if strict:
        raise BoundaryError(f"{message}; its manifest entry in {manifest} is wrong")
    log.warning("warning: %s; edits may not mean what its name says", message)


def _check_sidecar(info, G, *, name, what, strict, legacy, manifest=None, generator_spec=None):
    """A boundary's sidecar against G: its network fingerprint, or (files from before fingerprints) the
    checkpoint sha256, which only identifies the network when looked up by that same file's key."""
    train = f"Train one for this network with: {train_command(name, generator_spec or _spec(G))}"
    if info.get("network_fingerprint"):
        try:
            _check_network(info["network_fingerprint"], G, what=what, strict=strict, manifest=manifest)
        except BoundaryError as exc:
            raise BoundaryError(f"{exc}. {train}") from None
        return
    trained_for, mine = info.get("generator_sha256"), registry.legacy_key(G)
    if not trained_for or not legacy or trained_for == mine:
        return
    message = f"{what} was trained for generator {_short(trained_for)}, not this one ({_short(mine)})"
    if strict:
        raise BoundaryError(f"{message}; its manifest entry in {manifest} is wrong. {train}")
    log.warning("warning: %s; edits may not mean what its name says", message)


def _not_found(name, G, searched, *, generator_spec):
    from invert.directions.catalogue import CATALOGUE
    from invert.known_networks import KNOWN_NETWORKS

    key = registry.network_key(G)
    message = f"no direction {name!r} is registered for network {_short(key)} (looked in " \
              f"{', '.join(str(m) for m in searched)})"
    published = CATALOGUE.get(name)
    if published is not None:
        network = KNOWN_NETWORKS[published.network]
        message += (f"; the published {name!r} belongs to {network.name} (weights "
                    f"{', '.join(network.registry_names)}), and this generator has not been seen to be that network")
    if name in DISCOVERY_METHODS or (published is not None and published.kind == "set"):
        method = name if name in DISCOVERY_METHODS else "ganspace"
        return (f"{message}; find directions of this network with: stylegan-invert boundaries discover --generator "
                f"{shlex.quote(str(generator_spec or _spec(G)))} --method {method}")
    return f"{message}; train one with: {train_command(name, generator_spec or _spec(G))}"


def train_command(name, generator_spec):
    """The exact command that trains boundary `name` for a generator."""
    generator = shlex.quote(str(generator_spec))
    if name in BUILTIN_ATTRIBUTES:
        return (f"stylegan-invert boundaries train --generator {generator} --attribute {name} "
                f"--samples {DEFAULT_SAMPLES}")
    return (f"stylegan-invert boundaries train --generator {generator} --attribute {shlex.quote(name)} "
            f"--latents codes.npy --scores scores.csv")


def _spec(G):
    return (getattr(G, "source", None) or {}).get("path") or "GENERATOR"


def _short(key):
    key = str(key)
    return key[:12] + "..." if len(key) > 15 else key
