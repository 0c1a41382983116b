"""Published directions, fetched on first use: edits that work on the official FFHQ network with no training.

The encoder4editing repository (Tov et al., MIT licence) ships InterfaceGAN directions in W for the
official StyleGAN2 config-f FFHQ network, and a GANSpace PCA of its W space. Each entry pins the file's
sha256; a file is downloaded into `<cache>/directions/` the first time it is needed (through
`invert.weights.download`, which checks the checksum before the file is kept), read with
`torch.load(weights_only=True)` and checked against the shapes recorded here.

An entry belongs to one network (`invert.known_networks`): it is offered only for a generator that is
that network, i.e. whose fingerprint was recorded when one of the network's registry files was loaded.
"""
import logging
from dataclasses import dataclass
from pathlib import Path

from invert.errors import BoundaryError, WeightsError
from invert.known_networks import FFHQ

log = logging.getLogger(__name__)

_E4E = "https://raw.githubusercontent.com/omertov/encoder4editing/master/editings/"
_E4E_CITATION = ("Tov, Alaluf, Nitzan, Patashnik, Cohen-Or: Designing an Encoder for StyleGAN Image Manipulation, "
                 "SIGGRAPH 2021 (encoder4editing)")
_INTERFACEGAN = "Shen, Gu, Tang, Zhou: Interpreting the Latent Space of GANs for Semantic Face Editing, CVPR 2020"
_GANSPACE = "Härkönen, Hertzmann, Lehtinen, Paris: GANSpace: Discovering Interpretable GAN Controls, NeurIPS 2020"


@dataclass(frozen=True)
class PublishedDirection:
    """One published file: a single direction (kind 'boundary', used as NAME) or a set (kind 'set', NAME:K).

    `shapes` maps each tensor of the file to its shape: `{"": shape}` for a file holding one tensor,
    `{"mean": ..., "comp": ..., "std": ...}` for a GANSpace dict.
    """

    name: str
    kind: str
    network: str            # an `invert.known_networks` name
    url: str
    sha256: str
    filename: str           # under <cache>/directions/
    shapes: tuple           # ((tensor key, shape), ...)
    licence: str
    citation: str
    description: str

    @property
    def shape_map(self):
        return {key: tuple(shape) for key, shape in self.shapes}


CATALOGUE = {entry.name: entry for entry in [
    PublishedDirection(
        name="smile", kind="boundary", network=FFHQ,
        url=_E4E + "interfacegan_directions/smile.pt",
        sha256="817a7e732b59dee9eba862bec8bd7e8373568443bc9f9731a21cf9b0356f0653",
        filename="encoder4editing/smile.pt", shapes=(("", (1, 512)),), licence="MIT",
        citation=f"{_INTERFACEGAN}; file from {_E4E_CITATION}",
        description="InterfaceGAN smile direction in W"),
    PublishedDirection(
        name="age", kind="boundary", network=FFHQ,
        url=_E4E + "interfacegan_directions/age.pt",
        sha256="50074516b1629707d89b5e43d6b8abd1792212fa3b961a87a11323d6a5222ae0",
        filename="encoder4editing/age.pt", shapes=(("", (1, 512)),), licence="MIT",
        citation=f"{_INTERFACEGAN}; file from {_E4E_CITATION}",
        description="InterfaceGAN age direction in W"),
    PublishedDirection(
        name="pose", kind="boundary", network=FFHQ,
        url=_E4E + "interfacegan_directions/pose.pt",
        sha256="736e0eacc8488fa0b020a2e7bd256b957284c364191dfea693705e5d06d43e7d",
        filename="encoder4editing/pose.pt", shapes=(("", (1, 18, 512)),), licence="MIT",
        citation=f"{_INTERFACEGAN}; file from {_E4E_CITATION}",
        description="InterfaceGAN head pose (yaw) direction, one per W+ layer"),
    PublishedDirection(
        name="ganspace", kind="set", network=FFHQ,
        url=_E4E + "ganspace_pca/ffhq_pca.pt",
        sha256="4d7f9df1c96180d9026b9cb8d04753579fbf385f321a9d0e263641601c5e5d36",
        filename="encoder4editing/ffhq_pca.pt",
        shapes=(("mean", (1, 512)), ("comp", (80, 1, 512)), ("std", (80,))), licence="MIT",
        citation=f"{_GANSPACE}; file from {_E4E_CITATION}",
        description="GANSpace PCA of W: 80 components with their standard deviations (use ganspace:K)"),
]}


def published_path(entry):
    """Where `entry`'s file lives in the cache (whether or not it is there yet)."""
    from invert import weights

    return Path(weights.cache_dir()) / "directions" / entry.filename


def is_downloaded(entry):
    return published_path(entry).is_file()


def entries_for(G):
    """The published entries that belong to `G`'s network (none unless it is a known network)."""
    from invert.known_networks import network_of

    network = network_of(G)
    return [entry for entry in CATALOGUE.values() if network is not None and entry.network == network]


def find_published(name, G):
    """The published entry `name` for generator G, or None (also None when G is not its network)."""
    return next((entry for entry in entries_for(G) if entry.name == name), None)


def fetch(entry, *, progress=True):
    """The local path of `entry`'s file, downloaded (and checked against its pinned sha256) if absent.

    A file already in the cache is checked too. Raises BoundaryError saying where the file comes
    from and where to put it when it cannot be fetched, or when its checksum is wrong.
    """
    from invert import weights
    from invert.fileio import sha256_file

    dest = published_path(entry)
    replace = dest.is_file() and sha256_file(dest) != entry.sha256  # damaged or replaced: fetch it again
    if replace:
        log.warning("warning: %s does not have the pinned sha256 of the published %r; downloading it again", dest,
                    entry.name)
    elif not dest.is_file():
        log.info("downloading the published direction %r (%s licence) from %s", entry.name, entry.licence, entry.url)
    try:
        return Path(weights.download(entry.url, dest=dest, expected_sha256=entry.sha256, progress=progress,
                                     force=replace))
    except WeightsError as exc:
        raise BoundaryError(f"the published direction {entry.name!r} is not available ({' '.join(str(exc).split())}); "
                            f"its file {Path(entry.filename).name} comes from {entry.url}: put a copy with sha256 "
                            f"{entry.sha256} at {dest}") from None


def read_published(entry, path):
    """The tensors of a published file -> {key: float64 array}, each checked against `entry.shapes`."""
    import pickle

    import torch

    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise BoundaryError(f"cannot read the published direction file {path}: {' '.join(str(exc).split())[:200]}; "
                            f"delete it to download it again") from None
    expected = entry.shape_map
    if set(expected) == {""} and torch.is_tensor(obj):
        obj = {"": obj}
    if not isinstance(obj, dict) or set(obj) != set(expected) or not all(torch.is_tensor(v) for v in obj.values()):
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise BoundaryError(f"published direction file {path} holds {found}, not the tensors "
                            f"{sorted(k or 'tensor' for k in expected)} the catalogue expects")
    arrays = {}
    for key, shape in expected.items():
        found = tuple(obj[key].shape)
        if found != shape:
            raise BoundaryError(f"published direction file {path}: {key or 'the tensor'} has shape {list(found)}, "
                                f"the catalogue expects {list(shape)}")
        arrays[key] = obj[key].detach().to(torch.float64).numpy()
    return arrays


def load_published_boundary(entry, *, num_ws, w_dim, progress=True):
    """A published single direction -> float64 [w_dim] or [num_ws, w_dim], unit per row."""
    from invert.directions.boundary_file import as_direction

    path = fetch(entry, progress=progress)
    return as_direction(read_published(entry, path)[""], num_ws=num_ws, w_dim=w_dim,
                        source=f"published direction {entry.name!r} ({path})")


def load_published_set(entry, *, w_dim, progress=True):
    """A published GANSpace PCA -> DirectionSet (components [K, w_dim], std [K], mean [w_dim])."""
    from invert.directions.direction_set import make_set

    path = fetch(entry, progress=progress)
    arrays = read_published(entry, path)
    comp = arrays["comp"].reshape(arrays["comp"].shape[0], -1)
    if comp.shape[1] != w_dim:
        raise BoundaryError(f"published direction set {entry.name!r} is for w_dim {comp.shape[1]}; this generator "
                            f"has w_dim {w_dim}")
    dset = make_set(comp, arrays["std"], arrays["mean"],
                    metadata={"method": "published", "source": entry.url, "licence": entry.licence,
                              "citation": entry.citation, "layers": None})
    dset.path = path
    return dset
