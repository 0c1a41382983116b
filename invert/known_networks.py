"""Published networks known by name, recognised by their fingerprint once their weights have been seen.

Published directions (`invert.directions.catalogue`) were computed on one network: the official
StyleGAN2 config-f FFHQ generator. Its network fingerprint (`invert.checkpoints.fingerprint`) can only
be computed from its weights, which are not shipped, so it is learnt: when a generator is loaded from
the file of one of the weights registry's FFHQ entries (`ffhq-1024`, `ffhq-1024-tf`, `ffhq-1024-ada`:
one network in three file formats), its fingerprint is recorded in `$STYLEGAN_INVERT_HOME/networks.json`,
and from then on any generator with that fingerprint is that network, wherever its file lives:

    {"schema_version": 1,
     "networks": {"stylegan2-ffhq-config-f": {"fingerprints": {
         "<fingerprint>": {"registry_name": "ffhq-1024", "path": "...", "recorded": "2025-01-31T12:00:00+00:00"}}}}}

The file is updated under `invert.fileio.locked`, so parallel runs never lose a record.
"""
import datetime
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from invert.errors import InvertError
from invert.paths import home_dir

log = logging.getLogger(__name__)

NETWORKS_FILE = "networks.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class KnownNetwork:
    """A published network: its weights registry entries and the shape that a generator of it has."""

    name: str
    description: str
    registry_names: tuple     # weights registry entries whose files hold this network
    num_ws: int
    w_dim: int


FFHQ = "stylegan2-ffhq-config-f"
KNOWN_NETWORKS = {network.name: network for network in [
    KnownNetwork(name=FFHQ, description="StyleGAN2 config-f trained on FFHQ at 1024x1024 (NVIDIA)",
                 registry_names=("ffhq-1024", "ffhq-1024-tf", "ffhq-1024-ada"), num_ws=18, w_dim=512),
]}


def networks_file():
    return home_dir() / NETWORKS_FILE


def read_records(path=None):
    """{network name: {fingerprint: {...}}} from networks.json ({} when absent)."""
    path = Path(path) if path is not None else networks_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        networks = data["networks"]
        return {name: dict(entry["fingerprints"]) for name, entry in networks.items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvertError(f"cannot read {path} ({' '.join(str(exc).split()) or type(exc).__name__}); delete it: "
                          f"it is rebuilt the next time a registry generator is loaded") from None


def network_of(G):
    """The name of the known network `G` is, or None.

    A generator is a known network when its fingerprint has been recorded for it, or when it was
    loaded from the cached file of one of that network's registry entries (recorded now).
    """
    fingerprint = (getattr(G, "source", None) or {}).get("fingerprint")
    if not fingerprint:
        return None
    for name, fingerprints in read_records().items():
        if fingerprint in fingerprints:
            return name
    return note_loaded(G)


def note_loaded(G, spec=None):
    """Record `G`'s fingerprint if it was loaded from a known network's registry file; returns the
    network's name or None. `spec` (what the user gave) is accepted for callers that have it; the
    file the generator was read from is what decides."""
    from invert import weights

    source = getattr(G, "source", None) or {}
    fingerprint, loaded_from = source.get("fingerprint"), source.get("path")
    if not fingerprint or not loaded_from or str(loaded_from).startswith("random:"):
        return None
    loaded_from = Path(loaded_from).resolve()
    for network in KNOWN_NETWORKS.values():
        for registry_name in network.registry_names:
            if not weights.is_registry_name(registry_name):
                continue
            if Path(weights.cached_path(registry_name)).resolve() != loaded_from:
                continue
            if (G.num_ws, G.w_dim) != (network.num_ws, network.w_dim):
                log.warning("warning: %s holds a [%d, %d] generator, not %s's [%d, %d]; it is not recorded as "
                            "that network", loaded_from, G.num_ws, G.w_dim, network.name, network.num_ws,
                            network.w_dim)
                return None
            _record(network, fingerprint, registry_name=registry_name, path=str(loaded_from))
            return network.name
    return None


def fingerprints_of(name):
    """The recorded fingerprints of known network `name` (a dict, possibly empty)."""
    return read_records().get(name, {})


def _record(network, fingerprint, *, registry_name, path):
    """Add `fingerprint` to `network`'s records; one it already has needs no lock and no write (a read-only
    home serves known networks), and a record that cannot be written costs a warning, not the command."""
    from invert.errors import OutputError

    target = networks_file()
    if fingerprint in read_records(target).get(network.name, {}):
        return
    try:
        _write_record(target, network, fingerprint, registry_name=registry_name, path=path)
    except (OSError, OutputError) as exc:
        log.warning("warning: could not record network %s of %s in %s (%s); the published directions are "
                    "offered for it once it is recorded", fingerprint[:12], registry_name, target,
                    " ".join(str(exc).split()))


def _write_record(target, network, fingerprint, *, registry_name, path):
    from invert.fileio import locked, save_json

    with locked(target.with_name(target.name + ".lock"), what=str(target)):
        records = read_records(target)
        known = records.setdefault(network.name, {})
        if fingerprint in known:
            return
        others = {fp: info.get("registry_name") for fp, info in known.items()}
        if others:
            log.warning("warning: %s holds network %s, but %s was recorded for %s before; both are now taken "
                        "to be %s", registry_name, fingerprint[:12],
                        ", ".join(f"{fp[:12]} ({name})" for fp, name in others.items()), network.name, network.name)
        known[fingerprint] = {"registry_name": registry_name, "path": path,
                              "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        save_json(target, {"schema_version": SCHEMA_VERSION,
                           "networks": {name: {"fingerprints": fps} for name, fps in records.items()}})
    log.info("recorded network %s of %s (%s) in %s", fingerprint[:12], registry_name, network.name, target)
