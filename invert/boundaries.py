"""InterfaceGAN boundaries: semantic directions in W, their files, where they are registered, and training.

A boundary is the unit normal of a hyperplane that separates latents with and without an attribute;
moving a latent along it changes the attribute (`invert.editing.apply_direction`). Files:

- `<name>.npy`: float32 [1, w_dim] or [w_dim] (one direction for every layer), or [num_ws, w_dim]
  (per-layer directions; also read as InterfaceGAN's flattened [1, num_ws * w_dim]). Unit-normalised
  on load, row by row for per-layer ones, so `strength` is the distance moved in each edited layer.
- `<name>.json` beside it (optional): how it was made, including `generator_sha256`.

A boundary is only meaningful for the generator it was trained on, so boundaries are registered per
generator in a `manifest.json`:

    {"schema_version": 1,
     "generators": {"<generator sha256>": {"<name>": {"file": "<path relative to the manifest>", ...}}}}

Names are looked up in the user's manifest ($STYLEGAN_INVERT_HOME/boundaries/manifest.json) first, then
in the package's (`<repo>/boundaries/` or an installed copy under `invert/data/boundaries/`).
"""
import csv
import datetime
import json
import logging
import math
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invert.paths import home_dir
from invert.errors import BoundaryError
from invert.fileio import save_json, save_npy

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
# the attributes `invert.attributes` can measure on rendered faces (kept here so that naming them in a
# message does not import dlib)
BUILTIN_ATTRIBUTES = ("smile", "mouth_open", "eyes_open", "yaw")
DEFAULT_SAMPLES = 10000
MIN_KEPT_PER_SIDE = 5
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


# ---------------------------------------------------------------------------------------------------
# where boundaries live


def user_boundaries_dir():
    """$STYLEGAN_INVERT_HOME/boundaries (default ~/.cache/stylegan-invert/boundaries); not created here."""
    return home_dir() / "boundaries"


def user_manifest_path():
    return user_boundaries_dir() / MANIFEST_NAME


def package_manifest_paths():
    """The package's manifests that exist: <repo>/boundaries/manifest.json, invert/data/boundaries/manifest.json."""
    package = Path(__file__).resolve().parent
    candidates = [package.parent / "boundaries" / MANIFEST_NAME, package / "data" / "boundaries" / MANIFEST_NAME]
    return [path for path in candidates if path.is_file()]


def manifest_search_path():
    """Manifests in lookup order: the user's first, then the package's."""
    return [user_manifest_path(), *package_manifest_paths()]


def generator_key(G):
    """The key boundaries are registered under: the checkpoint's sha256 (`G.source['sha256']`)."""
    key = (getattr(G, "source", None) or {}).get("sha256")
    if not key:
        raise BoundaryError("this generator has no checkpoint sha256, so no boundary can be tied to it; "
                            "load it from a checkpoint file or registry name")
    return str(key)


def key_folder(key):
    """A folder name for a generator key: the first 16 characters of the sha256, filesystem-safe."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)[:16]


def check_name(name):
    if not _NAME.match(str(name)):
        raise BoundaryError(f"boundary name {name!r} must be letters, digits, '_', '.', '+' or '-' (it names "
                            f"files and manifest entries)")
    return str(name)


# ---------------------------------------------------------------------------------------------------
# manifests


@dataclass
class Entry:
    """One registered boundary: `path` is absolute, `info` holds the manifest entry's other fields."""

    key: str
    name: str
    path: Path
    manifest: Path
    info: dict = field(default_factory=dict)


def read_manifest(path):
    """A manifest as {'schema_version': 1, 'generators': {key: {name: {'file': ..., ...}}}}; {} entries
    if the file does not exist. A malformed manifest is an error naming the file."""
    path = Path(path)
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "generators": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"cannot read boundary manifest {path}: {' '.join(str(exc).split())}; fix or "
                            f"delete it") from None
    generators = data.get("generators") if isinstance(data, dict) else None
    if not isinstance(generators, dict):
        raise BoundaryError(f"boundary manifest {path} has no 'generators' object; see boundaries/README.md "
                            f"for the schema")
    if data.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise BoundaryError(f"boundary manifest {path} has schema_version {data.get('schema_version')!r}; "
                            f"this version of stylegan-invert reads {SCHEMA_VERSION}")
    for key, names in generators.items():
        if not isinstance(names, dict) or not all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                                  for e in names.values()):
            raise BoundaryError(f"boundary manifest {path}: the entries of generator {key} must be "
                                f'{{"name": {{"file": "relative/path.npy", ...}}}}')
    return data


def list_entries(key=None, *, manifests=None):
    """Registered boundaries (for generator `key`, or all), in lookup order: the user's first."""
    entries = []
    for manifest in manifest_search_path() if manifests is None else manifests:
        generators = read_manifest(manifest)["generators"]
        for gen_key, names in generators.items():
            if key is not None and gen_key != key:
                continue
            for name, info in names.items():
                entries.append(Entry(key=gen_key, name=name, path=(Path(manifest).parent / info["file"]).resolve(),
                                     manifest=Path(manifest), info={k: v for k, v in info.items() if k != "file"}))
    return entries


def find_entry(name, key, *, manifests=None):
    """The first registered boundary `name` for generator `key`, or None."""
    for entry in list_entries(key, manifests=manifests):
        if entry.name == name:
            return entry
    return None


def register_boundary(path, *, key, name, manifest=None, info=None, force=False):
    """Add `path` to a manifest (the user's by default) as boundary `name` of generator `key`.

    The file is stored relative to the manifest's folder (absolute when outside it). Replacing an entry
    that points elsewhere needs `force`. Returns the manifest path.
    """
    manifest = Path(manifest) if manifest is not None else user_manifest_path()
    check_name(name)
    data = read_manifest(manifest)
    names = data["generators"].setdefault(key, {})
    relative = _file_ref(path, manifest)
    old = names.get(name)
    if old and old["file"] != relative and not force:
        raise BoundaryError(f"boundary {name!r} is already registered for this generator in {manifest} "
                            f"({old['file']}); pass --force to replace it")
    names[name] = {"file": relative, **(info or {})}
    data["schema_version"] = SCHEMA_VERSION
    save_json(manifest, data)
    return manifest


def check_registration(key, name, path, *, manifest=None, force=False):
    """Raise before any work if registering `path` as `name` would replace another entry without force."""
    manifest = Path(manifest) if manifest is not None else user_manifest_path()
    old = read_manifest(manifest)["generators"].get(key, {}).get(name)
    relative = _file_ref(path, manifest)
    if old and old["file"] != relative and not force:
        raise BoundaryError(f"boundary {name!r} is already registered for this generator in {manifest} "
                            f"({old['file']}); pass --force to replace it")


def _file_ref(path, manifest):
    """How a manifest refers to `path`: relative to the manifest's folder when inside it, else absolute."""
    path, folder = Path(path).resolve(), Path(manifest).parent.resolve()
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------------
# boundary files


@dataclass
class Boundary:
    """A loaded boundary: `direction` float64 [w_dim] or [num_ws, w_dim], unit (per row)."""

    name: str
    direction: np.ndarray
    path: Path
    info: dict = None


def sidecar_path(path):
    return Path(path).with_suffix(".json")


def read_sidecar(path):
    """The JSON sidecar beside a boundary file as a dict, or None when there is none."""
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"cannot read boundary sidecar {side}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise BoundaryError(f"boundary sidecar {side} must hold a JSON object")
    return data


def load_boundary_file(path, *, num_ws, w_dim):
    """Read a boundary .npy and unit-normalise it: float64 [w_dim] or [num_ws, w_dim] (per-layer rows).

    Accepts [w_dim], [1, w_dim], [num_ws, w_dim], [1, num_ws, w_dim] and [1, num_ws * w_dim]. A per-layer
    row of zeros stays zero (that layer is not edited).
    """
    from invert.latents import read_array
    from invert.errors import LatentError

    path = Path(path)
    try:
        array = read_array(path, what="boundary", key="boundary")
    except LatentError as exc:
        raise BoundaryError(str(exc)) from None
    shape = list(array.shape)
    if array.size == w_dim and shape in ([w_dim], [1, w_dim]):
        direction = array.reshape(w_dim)
    elif array.size == num_ws * w_dim and shape in ([num_ws, w_dim], [1, num_ws, w_dim], [1, num_ws * w_dim]):
        direction = array.reshape(num_ws, w_dim)
    else:
        raise BoundaryError(f"boundary {path} has shape {shape}; this generator expects [1, {w_dim}] or [{w_dim}] "
                            f"(one direction) or [{num_ws}, {w_dim}] (per layer)")
    direction = direction.astype(np.float64)
    if not np.isfinite(direction).all():
        raise BoundaryError(f"boundary {path} contains non-finite values (NaN or inf)")
    norms = np.linalg.norm(direction, axis=-1, keepdims=True)
    if not (norms > 0).any():
        raise BoundaryError(f"boundary {path} is all zeros, so it has no direction")
    return np.divide(direction, norms, out=np.zeros_like(direction), where=norms > 0)


def looks_like_path(spec):
    spec = str(spec)
    return os.sep in spec or "/" in spec or spec.lower().endswith((".npy", ".npz")) or Path(spec).is_file()


def resolve_boundary(spec, G, *, generator_spec=None, manifests=None):
    """A boundary by registered name or by file path, checked against generator G -> `Boundary`.

    A name is looked up in the user's manifest, then the package's; a missing name is an error that gives
    the command to train it. A boundary whose sidecar names another generator sha256 is refused when found
    by name, and only warned about when the user named the file. `generator_spec` (what the user typed for
    --generator) makes the suggested command exact.
    """
    key = generator_key(G)
    spec = str(spec)
    if looks_like_path(spec):
        path = Path(spec)
        if not path.is_file():
            raise BoundaryError(f"boundary file not found: {path}")
        direction = load_boundary_file(path, num_ws=G.num_ws, w_dim=G.w_dim)
        info = read_sidecar(path)
        trained_for = (info or {}).get("generator_sha256")
        if trained_for and trained_for != key:
            log.warning("warning: boundary %s was trained for generator %s, not this one (%s); edits may "
                        "not mean what its name says", path, _short(trained_for), _short(key))
        return Boundary(name=path.stem, direction=direction, path=path, info=info)
    name = check_name(spec)
    searched = manifest_search_path() if manifests is None else list(manifests)
    entry = find_entry(name, key, manifests=searched)
    if entry is None:
        raise BoundaryError(f"no boundary {name!r} is registered for generator {_short(key)} (looked in "
                            f"{', '.join(str(m) for m in searched)}); train one with: "
                            f"{train_command(name, generator_spec or _generator_spec(G))}")
    if not entry.path.is_file():
        raise BoundaryError(f"boundary {name!r} is registered in {entry.manifest} as {entry.path}, which does "
                            f"not exist; train it again with: "
                            f"{train_command(name, generator_spec or _generator_spec(G))} --force")
    info = read_sidecar(entry.path)
    trained_for = (info or {}).get("generator_sha256")
    if trained_for and trained_for != key:
        raise BoundaryError(f"boundary {name!r} ({entry.path}) was trained for generator {_short(trained_for)}, "
                            f"not this one ({_short(key)}); its manifest entry in {entry.manifest} is wrong. "
                            f"Train one for this generator with: "
                            f"{train_command(name, generator_spec or _generator_spec(G))}")
    direction = load_boundary_file(entry.path, num_ws=G.num_ws, w_dim=G.w_dim)
    return Boundary(name=name, direction=direction, path=entry.path, info=info)


def train_command(name, generator_spec):
    """The exact command that trains boundary `name` for a generator."""
    generator = shlex.quote(str(generator_spec))
    if name in BUILTIN_ATTRIBUTES:
        return (f"stylegan-invert boundaries train --generator {generator} --attribute {name} "
                f"--samples {DEFAULT_SAMPLES}")
    return (f"stylegan-invert boundaries train --generator {generator} --attribute {shlex.quote(name)} "
            f"--latents codes.npy --scores scores.csv")


def save_boundary(path, normal, *, info):
    """Write the unit normal (float32 [1, w_dim] or [num_ws, w_dim]) and its JSON sidecar, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise BoundaryError(f"boundary output {path} must end in .npy")
    save_npy(path, np.asarray(normal, dtype=np.float32))
    save_json(sidecar_path(path), info)
    return [path, sidecar_path(path)]


# ---------------------------------------------------------------------------------------------------
# training (InterfaceGAN): sample, score, keep the extremes, fit a linear classifier


@dataclass
class BoundaryFit:
    """A trained boundary: `normal` float32 [1, w_dim] (space 'w') or [num_ws, w_dim] ('wp'), unit norm."""

    normal: np.ndarray
    accuracy: float        # on the held-out validation split
    train_accuracy: float
    samples: int           # codes with a finite score
    dropped: int           # codes without one (no face found, empty cell)
    kept: int              # codes used: the top and bottom `ratio` together
    validation: int        # of which held out


def train_boundary(codes, scores, *, space="w", num_ws=None, ratio=0.02, val_fraction=0.3, seed=0, l2=None):
    """Fit InterfaceGAN's boundary to latents and their attribute scores.

    codes [N, w_dim] (W) or [N, num_ws, w_dim] (W+); scores [N] (NaN for samples without a score, which
    are dropped and counted). The samples with the top and bottom `ratio` of scores become the positive
    and negative class; `val_fraction` of each is held out for the reported accuracy. A linear classifier
    with bias is fitted by minimising the L2-regularised squared hinge loss (a linear SVM like LinearSVC
    with C=1: `l2` defaults to 1 / n_train) with L-BFGS.

    Space 'w' needs W codes and returns a [1, w_dim] normal. Space 'wp' classifies flattened W+ codes
    (W codes are copied to each of `num_ws` layers) and returns a [num_ws, w_dim] normal, unit as a
    whole. `seed` fixes the validation split.
    """
    from scipy.optimize import minimize

    codes = np.asarray(codes)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if space not in ("w", "wp"):
        raise BoundaryError(f"space must be 'w' or 'wp', not {space!r}")
    if codes.ndim not in (2, 3):
        raise BoundaryError(f"latents must be [N, w_dim] or [N, num_ws, w_dim], got {list(codes.shape)}")
    if codes.shape[0] != scores.shape[0]:
        raise BoundaryError(f"{codes.shape[0]} latents but {scores.shape[0]} scores; they must match one to one")
    if not 0 < ratio <= 0.5:
        raise BoundaryError(f"ratio {ratio:g} must be in (0, 0.5]: the top and bottom `ratio` of the samples "
                            f"are kept")
    if not 0 < val_fraction < 1:
        raise BoundaryError(f"val_fraction {val_fraction:g} must be between 0 and 1")
    if space == "w" and codes.ndim == 3:
        raise BoundaryError(f"latents of shape {list(codes.shape)} are W+ codes; train them with --space wp, "
                            f"or give W codes [N, w_dim] for --space w")
    if space == "wp" and codes.ndim == 2 and not num_ws:
        raise BoundaryError("space 'wp' with W codes [N, w_dim] needs num_ws to copy them to every layer")

    valid = np.flatnonzero(np.isfinite(scores))
    dropped = len(scores) - len(valid)
    per_side = int(len(valid) * ratio)
    if per_side < MIN_KEPT_PER_SIDE:
        raise BoundaryError(f"too few samples to train on: {len(valid)} of {len(scores)} have a score ({dropped} "
                            f"dropped: no face found or no score given), and the top and bottom {ratio:g} of "
                            f"{len(valid)} are {per_side} per side; at least {MIN_KEPT_PER_SIDE} per side are "
                            f"needed: use more --samples or a larger --ratio")
    order = valid[np.argsort(scores[valid], kind="stable")]
    negative, positive = order[:per_side], order[-per_side:]
    if scores[positive].min() <= scores[negative].max():
        raise BoundaryError(f"the top {per_side} and bottom {per_side} scores overlap (all between "
                            f"{scores[valid].min():g} and {scores[valid].max():g}): the attribute barely varies "
                            f"over these samples")

    rng = np.random.default_rng(seed)
    n_val = min(max(1, int(round(per_side * val_fraction))), per_side - 1)
    positive, negative = rng.permutation(positive), rng.permutation(negative)
    x_train, y_train = _features(codes, [positive[n_val:], negative[n_val:]], space=space, num_ws=num_ws)
    x_val, y_val = _features(codes, [positive[:n_val], negative[:n_val]], space=space, num_ws=num_ws)
    # centre, and scale by a single number: conditions the problem without tilting the normal
    mean = x_train.mean(axis=0)
    scale = float(np.sqrt(((x_train - mean) ** 2).mean())) or 1.0
    x_train, x_val = (x_train - mean) / scale, (x_val - mean) / scale
    n_train, dim = x_train.shape
    lam = 1.0 / n_train if l2 is None else float(l2)
    # With far fewer samples than dimensions the optimal weight lies in the span of the samples (the
    # penalty is |w|^2), so solve in an orthonormal basis Q of that span: w = Q c, x.w = (x Q).c, |w| = |c|.
    basis = np.linalg.qr(x_train.T)[0] if 4 * n_train < dim else None
    features = x_train @ basis if basis is not None else x_train

    def objective(params):
        weight, bias = params[:-1], params[-1]
        slack = np.maximum(1.0 - y_train * (features @ weight + bias), 0.0)
        loss = (slack ** 2).mean() + 0.5 * lam * weight @ weight
        d_out = -2.0 * slack * y_train / n_train
        return loss, np.concatenate([features.T @ d_out + lam * weight, [d_out.sum()]])

    result = minimize(objective, np.zeros(features.shape[1] + 1), jac=True, method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-9})
    weight, bias = result.x[:-1], result.x[-1]
    if basis is not None:
        weight = basis @ weight
    norm = float(np.linalg.norm(weight))
    if not np.isfinite(norm) or norm == 0:
        raise BoundaryError("the classifier found no direction: the kept latents do not separate at all")
    train_accuracy = float(np.mean(((x_train @ weight + bias) > 0) == (y_train > 0)))
    accuracy = float(np.mean(((x_val @ weight + bias) > 0) == (y_val > 0)))
    normal = (weight / norm).reshape(-1 if space == "wp" else 1, codes.shape[-1])
    log.info("boundary: %d samples scored, %d dropped, %d kept, validation accuracy %.3f",
             len(valid), dropped, 2 * per_side, accuracy)
    return BoundaryFit(normal=normal.astype(np.float32), accuracy=accuracy, train_accuracy=train_accuracy,
                       samples=len(valid), dropped=dropped, kept=2 * per_side, validation=2 * n_val)


def _features(codes, groups, *, space, num_ws):
    """Rows of `codes` for a positive and a negative index group -> (x float64 [M, D], y in {+1, -1} [M])."""
    positive, negative = groups
    x = np.asarray(codes[np.concatenate([positive, negative])], dtype=np.float64)
    if space == "wp" and x.ndim == 2:
        x = np.repeat(x[:, None], num_ws, axis=1)
    y = np.concatenate([np.ones(len(positive)), -np.ones(len(negative))])
    return x.reshape(len(x), -1), y


def sample_and_score(G, *, attribute, samples, batch_size=16, seed=0, truncation_psi=1.0, device=None,
                     progress=False):
    """Sample `samples` latents, render them and measure `attribute` on each face.

    z ~ N(0, I) from `seed` -> w = mapping(z) -> image -> `invert.attributes.score_images` (dlib landmarks).
    Returns (codes float32 [samples, w_dim], scores float64 [samples] with NaN where no face was found).
    `progress` shows a bar on stderr.
    """
    import torch

    from invert import attributes
    from invert.render import render

    if attribute not in attributes.ATTRIBUTES:
        raise BoundaryError(f"unknown attribute {attribute!r}; the built-in ones are "
                            f"{', '.join(sorted(attributes.ATTRIBUTES))}, or give your own --latents and --scores")
    if device is None:
        device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(int(seed))
    codes, scores = [], []
    bar = _progress(total=samples, enabled=progress, desc=f"scoring {attribute}")
    try:
        for start in range(0, samples, batch_size):
            count = min(batch_size, samples - start)
            z = torch.randn([count, G.z_dim], generator=generator)
            with torch.no_grad():
                ws = G.mapping(z.to(device), truncation_psi=truncation_psi)
            images = render(G, ws, batch_size=batch_size, device=device)
            codes.append(ws[:, 0].float().cpu().numpy())
            scores.append(np.asarray(attributes.score_images(images, attribute), dtype=np.float64).reshape(-1))
            bar.update(count)
    finally:
        bar.close()
    return np.concatenate(codes), np.concatenate(scores)


def read_scores(path):
    """Scores from a CSV/text file: one number per row in a single column, or the column named 'score'
    of a file with a header row. Empty cells, 'nan' and 'NA' mean no score (dropped when training).
    Returns float64 [N]."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BoundaryError(f"scores file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoundaryError(f"cannot read scores file {path}: {' '.join(str(exc).split())}") from None
    rows = [(number, row) for number, row in enumerate(csv.reader(text.splitlines()), start=1)
            if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")]
    if not rows:
        raise BoundaryError(f"scores file {path} holds no scores")
    column = 0
    first_number, first = rows[0]
    if not all(_is_number(cell) for cell in first):
        header = [cell.strip().lower() for cell in first]
        rows = rows[1:]
        if len(header) > 1:
            if "score" not in header:
                raise BoundaryError(f"scores file {path} has columns {first}; name the scores column 'score'")
            column = header.index("score")
    elif len(first) > 1:
        raise BoundaryError(f"scores file {path} has {len(first)} columns; put the scores in one column, or add a "
                            f"header row that names the scores column 'score'")
    values = []
    for number, row in rows:
        cell = row[column].strip() if column < len(row) else ""
        if cell.lower() in ("", "nan", "na", "n/a", "none"):
            values.append(math.nan)
            continue
        try:
            values.append(float(cell))
        except ValueError:
            raise BoundaryError(f"scores file {path}, line {number}: {cell!r} is not a number") from None
    if not values:
        raise BoundaryError(f"scores file {path} holds no scores")
    return np.asarray(values, dtype=np.float64)


def sidecar_info(G, fit, *, space, attribute, ratio, seed, scorer, generator_spec=None):
    """The JSON sidecar written beside a trained boundary."""
    from invert._version import __version__

    return {
        "generator_sha256": generator_key(G),
        "generator": str(generator_spec or _generator_spec(G)),
        "attribute": attribute,
        "space": space,
        "shape": list(fit.normal.shape),
        "samples": fit.samples,
        "dropped": fit.dropped,
        "kept": fit.kept,
        "validation_samples": fit.validation,
        "accuracy": round(fit.accuracy, 6),
        "train_accuracy": round(fit.train_accuracy, 6),
        "ratio": ratio,
        "seed": seed,
        "scorer": scorer,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "stylegan_invert_version": __version__,
    }


def _progress(*, total, enabled, desc):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=not enabled, leave=False)


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return cell.strip().lower() in ("", "nan", "na", "n/a", "none")


def _generator_spec(G):
    return (getattr(G, "source", None) or {}).get("path") or "GENERATOR"


def _short(key):
    return key[:12] + "..." if len(key) > 15 else key
