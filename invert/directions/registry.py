"""Where named directions are registered: manifests keyed by the network they belong to.

A direction only means something for the network it was made on, so names are registered per network
fingerprint (`G.source['fingerprint']`, one per network whatever file format it was loaded from) in a
`manifest.json`:

    {"schema_version": 2,
     "networks": {"<network fingerprint>": {
         "smile": {"file": "<path relative to the manifest>", "space": "w", ...},
         "sefa":  {"file": "1d40dfb43e57/sefa.safetensors"},                 # a set: used as sefa:K
         "bangs": {"file": "1d40dfb43e57/sefa.safetensors", "component": 3}  # one component of a set
     }},
     "generators": {"<checkpoint file sha256>": {...}}}

`generators` is schema 1's section, keyed by the sha256 of a checkpoint file: still read (for the
generator loaded from that very file), and moved under the network's fingerprint when one of its names
is looked up through that generator in the user's manifest, or a name is registered with it (listing
moves nothing), so that the same network
loaded from another format finds the entries too.

Names are looked up in the user's manifest ($STYLEGAN_INVERT_HOME/boundaries/manifest.json) first, then
in the package's (`<repo>/boundaries/` or an installed copy under `invert/data/boundaries/`). Every
read-modify-write of the user's manifest holds `invert.fileio.locked`, so parallel registrations never
lose an entry.
"""
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from invert.errors import BoundaryError, InvertError
from invert.paths import home_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
MANIFEST_NAME = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class NameTakenError(BoundaryError):
    """A name is already registered for the network, for another file; replacing it must be asked for."""


def user_boundaries_dir():
    """$STYLEGAN_INVERT_HOME/boundaries (default ~/.cache/stylegan-invert/boundaries); not created here."""
    return home_dir() / "boundaries"


def user_manifest_path():
    return user_boundaries_dir() / MANIFEST_NAME


def package_manifest_paths():
    """The package's manifests that exist: <repo>/boundaries/manifest.json, invert/data/boundaries/manifest.json."""
    package = Path(__file__).resolve().parents[1]
    candidates = [package.parent / "boundaries" / MANIFEST_NAME, package / "data" / "boundaries" / MANIFEST_NAME]
    return [path for path in candidates if path.is_file()]


def manifest_search_path():
    """Manifests in lookup order: the user's first, then the package's."""
    return [user_manifest_path(), *package_manifest_paths()]


def network_key(G):
    """The key directions are registered under: the network fingerprint (`G.source['fingerprint']`)."""
    key = (getattr(G, "source", None) or {}).get("fingerprint")
    if not key:
        raise BoundaryError("this generator has no network fingerprint, so no direction can be tied to it; "
                            "load it with invert.load_generator")
    return str(key)


def legacy_key(G):
    """Schema 1's key for G: the sha256 of the checkpoint file it was loaded from (None if unknown)."""
    key = (getattr(G, "source", None) or {}).get("sha256")
    return str(key) if key else None


def key_folder(key):
    """A folder name for a network key: its first 16 characters, filesystem-safe."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(key))[:16]


def check_name(name):
    if not _NAME.match(str(name)):
        raise BoundaryError(f"direction name {name!r} must be letters, digits, '_', '.', '+' or '-' (it names "
                            f"files and manifest entries)")
    return str(name)


@dataclass
class Entry:
    """One registered name: `path` is absolute; `component` picks one direction of a set file (else None);
    `info` holds the manifest entry's other fields; `legacy` is True for a schema-1 entry (keyed by a
    checkpoint file's sha256)."""

    key: str
    name: str
    path: Path
    manifest: Path
    component: int = None
    info: dict = field(default_factory=dict)
    legacy: bool = False


def read_manifest(path):
    """A manifest as {'schema_version': 2, 'networks': {...}, 'generators': {...}} (empty when the file does
    not exist). A malformed manifest is an error naming the file."""
    path = Path(path)
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "networks": {}, "generators": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"cannot read boundary manifest {path}: {' '.join(str(exc).split())}; fix or "
                            f"delete it") from None
    if not isinstance(data, dict):
        raise BoundaryError(f"boundary manifest {path} must hold a JSON object; see boundaries/README.md")
    version = data.get("schema_version", 1)
    if version not in READABLE_SCHEMAS:
        raise BoundaryError(f"boundary manifest {path} has schema_version {version!r}; this version of "
                            f"stylegan-invert reads {' and '.join(map(str, READABLE_SCHEMAS))}")
    sections = {"networks": data.get("networks", {}), "generators": data.get("generators", {})}
    if "networks" not in data and "generators" not in data:
        raise BoundaryError(f"boundary manifest {path} has no 'networks' object; see boundaries/README.md for "
                            f"the schema")
    for section, keys in sections.items():
        if not isinstance(keys, dict):
            raise BoundaryError(f"boundary manifest {path}: '{section}' must be an object")
        for key, names in keys.items():
            if not isinstance(names, dict) or not all(_valid_entry(e) for e in names.values()):
                raise BoundaryError(f"boundary manifest {path}: the entries of {key} must be "
                                    f'{{"name": {{"file": "relative/path.npy", ...}}}}')
    return {**{k: v for k, v in data.items() if k not in sections}, "schema_version": SCHEMA_VERSION, **sections}


def _valid_entry(entry):
    component = entry.get("component") if isinstance(entry, dict) else None
    return (isinstance(entry, dict) and isinstance(entry.get("file"), str)
            and (component is None or (isinstance(component, int) and component >= 0)))


def list_entries(key=None, *, legacy=None, manifests=None):
    """Registered names, in lookup order (the user's manifest first).

    With `key` (a network fingerprint), only that network's: its entries and those of schema 1 under
    `legacy` (the sha256 of the file the generator was loaded from). Without, every entry.
    """
    entries = []
    for manifest in manifest_search_path() if manifests is None else manifests:
        data = read_manifest(manifest)
        for section, is_legacy in (("networks", False), ("generators", True)):
            for entry_key, names in data[section].items():
                if key is not None and entry_key != (legacy if is_legacy else key):
                    continue
                for name, info in names.items():
                    entries.append(_entry(manifest, entry_key, name, info, legacy=is_legacy))
    return entries


def _entry(manifest, key, name, info, *, legacy):
    rest = {k: v for k, v in info.items() if k not in ("file", "component")}
    return Entry(key=key, name=name, path=(Path(manifest).parent / info["file"]).resolve(),
                 manifest=Path(manifest), component=info.get("component"), info=rest, legacy=legacy)


def find_entry(name, key, *, legacy=None, manifests=None):
    """The first registered `name` for network `key` (or schema 1's `legacy` key), or None.

    A schema-1 hit in the user's manifest is migrated to `key` on the way (see the module doc).
    """
    for entry in list_entries(key, legacy=legacy, manifests=manifests):
        if entry.name == name:
            if entry.legacy and entry.manifest == user_manifest_path():
                try:
                    migrate(entry.manifest, legacy=entry.key, key=key)
                except (OSError, InvertError) as exc:  # a read-only home: the old entry still serves
                    log.debug("could not migrate %s: %s", entry.manifest, exc)
            return entry
    return None


def register(path, *, key, name, component=None, legacy=None, manifest=None, info=None, force=False):
    """Add `path` (a boundary or a direction set, or with `component` one direction of a set) to a manifest
    (the user's by default) as `name` for network `key`; returns the manifest path.

    The file is stored relative to the manifest's folder (absolute when outside it). Replacing an entry
    that points elsewhere needs `force` (NameTakenError otherwise). Entries of schema 1 under `legacy` are
    moved to `key` first. Runs under the manifest's lock, so concurrent registrations all survive.
    """
    from invert.fileio import locked, save_json

    manifest = Path(manifest) if manifest is not None else user_manifest_path()
    check_name(name)
    with locked(_lock_path(manifest), what=str(manifest)):
        data = read_manifest(manifest)
        if legacy:
            _move_legacy(data, legacy=legacy, key=key)
        names = data["networks"].setdefault(key, {})
        new = {"file": _file_ref(path, manifest), **({"component": int(component)} if component is not None else {})}
        _refuse_replacing(names.get(name), new, name=name, manifest=manifest, force=force)
        names[name] = {**new, **(info or {})}
        save_json(manifest, _clean(data))
    return manifest


def check_registration(key, name, path, *, component=None, legacy=None, manifest=None, force=False):
    """Raise before any work if registering `path` as `name` would replace another entry without force."""
    manifest = Path(manifest) if manifest is not None else user_manifest_path()
    data = read_manifest(manifest)
    old = data["networks"].get(key, {}).get(name) or (data["generators"].get(legacy, {}).get(name) if legacy else None)
    new = {"file": _file_ref(path, manifest), **({"component": int(component)} if component is not None else {})}
    _refuse_replacing(old, new, name=name, manifest=manifest, force=force)


def migrate(manifest, *, legacy, key):
    """Move schema 1's entries under `legacy` (a checkpoint sha256) to network `key`, under the lock.

    Names already registered for `key` win over the legacy ones (which are then dropped with a note).
    """
    from invert.fileio import locked, save_json

    manifest = Path(manifest)
    with locked(_lock_path(manifest), what=str(manifest)):
        data = read_manifest(manifest)
        if legacy not in data["generators"]:
            return
        _move_legacy(data, legacy=legacy, key=key)
        save_json(manifest, _clean(data))
    log.info("moved the boundaries of checkpoint %s... to network %s... in %s", legacy[:12], key[:12], manifest)


def _move_legacy(data, *, legacy, key):
    moved = data["generators"].pop(legacy, {})
    names = data["networks"].setdefault(key, {})
    for name, info in moved.items():
        if name in names and names[name] != info:
            log.warning("note: %s was registered both for checkpoint %s... and for network %s...; keeping the "
                        "network's entry (%s)", name, legacy[:12], key[:12], names[name]["file"])
            continue
        names[name] = info


def _clean(data):
    """What is written: schema 2, `generators` only while it still holds legacy entries."""
    out = {k: v for k, v in data.items() if k != "generators"}
    out["networks"] = {k: v for k, v in data["networks"].items() if v}
    out["schema_version"] = SCHEMA_VERSION
    if data["generators"]:
        out["generators"] = data["generators"]
    return out


def _refuse_replacing(old, new, *, name, manifest, force):
    same = old is not None and old.get("file") == new["file"] and old.get("component") == new.get("component")
    if old is not None and not same and not force:
        where = old["file"] + (f" component {old['component']}" if old.get("component") is not None else "")
        raise NameTakenError(f"{name!r} is already registered for this network in {manifest} ({where}); choose "
                             f"another name, or replace it")


def _lock_path(manifest):
    return Path(manifest).with_name(Path(manifest).name + ".lock")


def _file_ref(path, manifest):
    """How a manifest refers to `path`: relative to the manifest's folder when inside it, else absolute."""
    path, folder = Path(path).resolve(), Path(manifest).parent.resolve()
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)
