"""`stylegan-invert boundaries train|discover|list|register`: semantic directions, tied to one network."""
import logging

import click

from invert.cli.options import FINITE_FLOAT, FiniteFloat, device_option, force_option, generator_option
from invert.cli.verbosity import show_progress

log = logging.getLogger(__name__)


@click.group()
def boundaries():
    """Train, discover, list and register semantic directions (boundaries and direction sets) for a network.

    Names are registered per network (by its fingerprint, the same for every file format of it) in
    $STYLEGAN_INVERT_HOME/boundaries/manifest.json; `edit --boundary NAME` looks them up there, then
    among the published directions of that network (`boundaries list -g G` shows all).
    """


def _space(ctx, param, value):
    """--space w|w+ -> the library's 'w' | 'wp' (InterfaceGAN's name for W+). The old spelling 'wp' is still
    accepted, with a note: every command spells W+ 'w+'."""
    if value == "wp":
        from invert.cli.deprecated import note

        note("--space wp", "--space w+")
    return "wp" if value in ("w+", "wp") else value


@boundaries.command()
@generator_option
@click.option("--attribute", required=True, metavar="NAME",
              help="smile, mouth_open, eyes_open or yaw (measured with dlib landmarks on rendered faces), "
                   "or any name for your own --latents/--scores.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Latents to sample and score for a built-in attribute. [default: 10000]")
@click.option("--latents", "latents_path", type=click.Path(dir_okay=False), default=None,
              help="Your own latents instead of sampling: [N, w_dim] or [N, num_ws, w_dim] .npy.")
@click.option("--scores", "scores_path", type=click.Path(dir_okay=False), default=None,
              help="Their scores or labels, one per latent in the same order (CSV: one column, or a column "
                   "named 'score' under a header row; empty = no score).")
@click.option("--space", type=click.Choice(["w", "w+", "wp"]), default="w", show_default=True, metavar="[w|w+]",
              callback=_space,
              help="Classify W codes (one direction for every layer) or whole W+ codes (per-layer directions).")
@click.option("--ratio", type=FiniteFloat(min=0, max=0.5, min_open=True), default=0.02, show_default=True,
              help="Keep the top and bottom RATIO of the samples by score (InterfaceGAN's 2%).")
@click.option("--truncation", "truncation_psi", type=FINITE_FLOAT, default=1.0, show_default=True,
              help="Truncation psi when sampling latents.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Images rendered and scored per batch.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples and the validation split.")
@click.option("--name", default=None,
              help="Name to register it under. [default: the attribute, plus _wp for --space w+]")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Boundary .npy (a .json sidecar goes beside it). "
                   "[default: $STYLEGAN_INVERT_HOME/boundaries/<fingerprint[:16]>/NAME.npy]")
@click.option("--register/--no-register", default=True, show_default=True,
              help="Register it in the user's manifest, so `edit --boundary NAME` finds it.")
@device_option
@force_option
def train(generator, attribute, samples, latents_path, scores_path, space, ratio, truncation_psi, batch_size, seed,
          name, out, register, device, force):
    """Train a boundary the InterfaceGAN way: score latents, keep the extremes, fit a linear SVM.

    Prints the boundary's path and its accuracy on a held-out split of the kept samples.
    """
    from pathlib import Path

    from invert.cli._latent_outputs import load_generator_for
    from invert.directions import registry
    from invert.directions.boundary_file import save_boundary, sidecar_path
    from invert.directions.interfacegan import sidecar_info, train_boundary
    from invert.directions.sampling import BUILTIN_ATTRIBUTES, DEFAULT_SAMPLES, sample_and_score
    from invert.errors import BoundaryError
    from invert.fileio import check_writable

    if (latents_path is None) != (scores_path is None):
        raise click.UsageError("--latents and --scores go together: N latents and their N scores")
    own = latents_path is not None
    if own and samples is not None:
        raise click.UsageError("--samples is for built-in attributes; with --latents every latent given is used")
    if not own and attribute not in BUILTIN_ATTRIBUTES:
        raise BoundaryError(f"no built-in scorer for {attribute!r} (built-in: {', '.join(BUILTIN_ATTRIBUTES)}); "
                            f"score your own latents and pass --latents codes.npy --scores scores.csv")
    name = registry.check_name(name or (attribute if space == "w" else f"{attribute}_wp"))
    inputs = [p for p in (latents_path, scores_path, generator) if p and Path(p).is_file()]
    if out is not None:  # checked before the generator is loaded; the default path needs its fingerprint
        out = Path(out)
        if out.suffix.lower() != ".npy":
            raise BoundaryError(f"--out {out} must end in .npy")
        check_writable([out, sidecar_path(out)], force=force, inputs=inputs)

    G = load_generator_for(generator, device)
    key, legacy = registry.network_key(G), registry.legacy_key(G)
    out = out if out is not None else registry.user_boundaries_dir() / registry.key_folder(key) / f"{name}.npy"
    check_writable([out, sidecar_path(out)], force=force, inputs=inputs)
    if register:
        _with_force_hint(registry.check_registration, key, name, out, legacy=legacy, force=force)

    if own:
        from invert.directions.scores import read_scores
        from invert.latents import load_latent_stack

        codes = load_latent_stack(latents_path, num_ws=G.num_ws, w_dim=G.w_dim)
        scores = read_scores(scores_path)
        if len(scores) != len(codes):
            raise BoundaryError(f"{latents_path} holds {len(codes)} latents but {scores_path} holds {len(scores)} "
                                f"scores; give one score per latent, in the same order")
        scorer = f"user scores from {Path(scores_path).name}"
    else:
        samples = samples or DEFAULT_SAMPLES
        codes, scores = sample_and_score(G, attribute=attribute, samples=samples, batch_size=batch_size, seed=seed,
                                         truncation_psi=truncation_psi, progress=show_progress())
        scorer = f"invert.attributes ({attribute}, dlib landmarks)"
    fit = train_boundary(codes, scores, space=space, num_ws=G.num_ws, ratio=ratio, seed=seed)
    info = sidecar_info(G, fit, space=space, attribute=attribute, ratio=ratio, seed=seed, scorer=scorer,
                        generator_spec=generator)
    for path in save_boundary(out, fit.normal, info=info):
        click.echo(str(path))
    if register:
        manifest = _with_force_hint(registry.register, out, key=key, name=name, legacy=legacy, force=force,
                                    info={"attribute": attribute, "space": space, "accuracy": round(fit.accuracy, 4)})
        click.echo(f"registered {name!r} for network {key} in {manifest}")
    click.echo(f"validation accuracy {fit.accuracy:.4f} on {fit.validation} held-out samples "
               f"(train {fit.train_accuracy:.4f}); kept {fit.kept} of {fit.samples} scored"
               + (f", {fit.dropped} dropped without a score" if fit.dropped else ""))


@boundaries.command()
@generator_option
@click.option("--method", type=click.Choice(["sefa", "ganspace"]), required=True,
              help="sefa: eigenvectors of the style weights (seconds, no sampling); ganspace: PCA of sampled w.")
@click.option("--count", type=click.IntRange(min=1), default=10, show_default=True, help="Directions to keep.")
@click.option("--layers", default=None, metavar="RANGES",
              help="W+ rows the directions are for, e.g. 0-7 (coarse: pose, shape); SeFa factorises the style "
                   "weights of exactly these rows. [default: all]")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="GANSpace: w sampled for the PCA [default: 1,000,000 on a GPU, 100,000 on a CPU]. SeFa: w "
                   "sampled to measure each direction's sd [default: 10,000].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampled w.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Direction set (.safetensors); the contact sheet goes beside it as .png. "
                   "[default: $STYLEGAN_INVERT_HOME/boundaries/<fingerprint[:16]>/METHOD.safetensors]")
@click.option("--sheet/--no-sheet", default=True, show_default=True,
              help="Render the preview contact sheet: a row per direction, columns from -3 to +3 sd.")
@click.option("--seeds", "sheet_seeds", default="0-2", show_default=True, help="Seeds of the sheet's columns.")
@click.option("--strengths", default="-3:3:5", show_default=True, metavar="START:STOP:COUNT",
              help="The sheet's strengths, in sd.")
@click.option("--truncation", "truncation_psi", type=FiniteFloat(min=0, max=1), default=0.7, show_default=True,
              help="Truncation psi of the sheet's seeds.")
@click.option("--tile-size", type=click.IntRange(8, 1024), default=None,
              help="Pixels per sheet tile. [default: the resolution, at most 256]")
@click.option("--register/--no-register", default=True, show_default=True,
              help="Register the set under the method's name for this network, so that `edit --boundary "
                   "sefa:K` (or ganspace:K) finds it.")
@device_option
@force_option
def discover(generator, method, count, layers, samples, seed, out, sheet, sheet_seeds, strengths, truncation_psi,
             tile_size, register, device, force):
    """Find directions of any network without labels (SeFa or GANSpace) and preview them.

    Writes a direction set (directions, their sd in W, the mean of W) and a labelled contact sheet, and
    registers the set as METHOD for the network: use a direction as `edit --boundary METHOD:K` (or
    `SET.safetensors:K`), or name it: `boundaries register SET.safetensors:K --name bangs`.
    """
    from pathlib import Path

    from invert.cli._latent_outputs import load_generator_for
    from invert.directions import discover as lib, registry
    from invert.directions.direction_set import save_direction_set
    from invert.editing import parse_layers, parse_sweep
    from invert.errors import BoundaryError
    from invert.fileio import check_writable
    from invert.generate import parse_seeds

    seeds = parse_seeds(sheet_seeds)
    sheet_strengths = parse_sweep(strengths, what="--strengths")
    G = load_generator_for(generator, device)
    rows = parse_layers(layers, num_ws=G.num_ws, what="--layers")
    key = registry.network_key(G)
    out = Path(out) if out is not None else \
        registry.user_boundaries_dir() / registry.key_folder(key) / f"{method}.safetensors"
    if out.suffix.lower() != ".safetensors":
        raise BoundaryError(f"--out {out} must end in .safetensors")
    sheet_path = out.with_suffix(".png")
    check_writable([out] + [sheet_path] * sheet, force=force)
    taken = registry.find_entry(method, key) if register and not force else None
    if taken is not None and (taken.path != out.resolve() or taken.component is not None):
        raise registry.NameTakenError(f"{method!r} is already registered for this network ({taken.path}); pass "
                                      "--force to register the new set in its place, or --no-register")
    if count > G.w_dim:
        raise BoundaryError(f"--count {count} is more than this network's w_dim ({G.w_dim})")

    device = next(G.parameters()).device
    if method == "sefa":
        dset = lib.sefa(G, count=count, rows=rows, std_samples=samples or lib.SEFA_STD_SAMPLES, seed=seed)
    else:
        dset = lib.ganspace(G, count=count, samples=samples, rows=rows, seed=seed, device=device,
                            progress=show_progress())
    dset.metadata["generator"] = str(generator)
    click.echo(str(save_direction_set(out, dset)))
    if sheet:
        from invert.directions.contact_sheet import contact_sheet
        from invert.images import generator_metadata, save_png

        preview = contact_sheet(G, dset, seeds=seeds, strengths=sheet_strengths, tile=tile_size,
                                truncation_psi=truncation_psi)
        save_png(sheet_path, preview.image, metadata={**generator_metadata(G), "direction_set": str(out)})
        click.echo(str(sheet_path))
    if register:
        manifest = _with_force_hint(registry.register, out, key=key, name=method, force=force,
                                    info={"method": method, "count": len(dset)})
        click.echo(f"registered {method!r} for network {key} in {manifest}")
    for k in range(len(dset)):
        extra = f"  eigenvalue {dset.eigenvalues[k]:.4g}" if dset.eigenvalues is not None else ""
        log.info("  %s:%d  sd %.4g%s", out, k, dset.std[k], extra)
    log.info("use one as --boundary %s:K, or name it: stylegan-invert boundaries register %s:K --name NAME",
             method if register else out, out)


@boundaries.command(name="list")
@click.option("--generator", "-g", "generator", default=None, metavar="NAME|PATH",
              help="Every name available for this generator's network, published ones included "
                   "(default: everything registered, for every network).")
@device_option
def list_(generator, device):
    """Show the registered and published directions: name, kind, source, licence, and whether the file is there."""
    from invert.directions import registry
    from invert.directions.catalogue import CATALOGUE, entries_for, is_downloaded, published_path

    if generator is not None:
        from invert.cli._latent_outputs import load_generator_for

        G = load_generator_for(generator, device)
        key = registry.network_key(G)
        entries = registry.list_entries(key, legacy=registry.legacy_key(G))
        published = entries_for(G)
    else:
        key, entries, published = None, registry.list_entries(), list(CATALOGUE.values())
    rows = []
    for entry in entries:
        kind = _kind(entry.path, entry.component)
        status = "ok" if entry.path.is_file() else "FILE MISSING"
        details = "  ".join(f"{k}={entry.info[k]}" for k in ("space", "accuracy") if k in entry.info)
        network = entry.key[:12] + (" (checkpoint sha256)" if entry.legacy else "")
        rows.append([network, entry.name, kind, f"registered ({entry.manifest})", "-", status, str(entry.path),
                     details])
    for item in published:
        kind = "set (NAME:K)" if item.kind == "set" else "boundary"
        status = "downloaded" if is_downloaded(item) else "not downloaded"
        where = str(published_path(item)) if is_downloaded(item) else item.url
        rows.append([item.network, item.name, kind, "published (encoder4editing)", item.licence, status, where, ""])
    if not rows:
        where = f" for network {key}" if key else ""
        click.echo(f"no directions registered{where} (looked in "
                   f"{', '.join(str(m) for m in registry.manifest_search_path())})", err=True)
        return
    header = ["NETWORK", "NAME", "KIND", "SOURCE", "LICENCE", "STATUS", "FILE", ""]
    if key is not None:
        click.echo(f"network {key}", err=True)
        header, rows = header[1:], [row[1:] for row in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _kind(path, component):
    if path.suffix.lower() == ".safetensors":
        return "set (NAME:K)" if component is None else f"set direction {component}"
    return "boundary"


@boundaries.command()
@click.argument("path", metavar="FILE[:K]")
@click.option("--generator", "-g", "generator", default=None, metavar="NAME|PATH",
              help="The generator it belongs to (required for a boundary .npy; a direction set names its network).")
@click.option("--name", required=True, help="The name `edit --boundary NAME` will use (NAME:K for a whole set).")
@device_option
@force_option
def register(path, generator, name, device, force):
    """Register a boundary .npy, a direction set (.safetensors), or one direction of a set (FILE:K).

    The file is checked against the generator's shapes and against the network its sidecar or metadata
    names; one that names another network is refused.
    """
    from pathlib import Path

    from invert.directions import registry
    from invert.directions.direction_set import SUFFIX, load_direction_set
    from invert.directions.resolve import split_index
    from invert.errors import BoundaryError

    registry.check_name(name)
    file, index = split_index(path)
    file = Path(file)
    G = None
    if generator is not None:
        from invert.cli._latent_outputs import load_generator_for

        G = load_generator_for(generator, device)
    if file.suffix.lower() == SUFFIX:
        dset = load_direction_set(file)
        if index is not None:
            dset.check_index(index, name=str(file))
        made_for = dset.metadata.get("network_fingerprint")
        if G is not None:
            key, legacy = registry.network_key(G), registry.legacy_key(G)
            if made_for and made_for != key:
                raise BoundaryError(f"{file} was made for network {made_for}, not this one ({key}); its metadata "
                                    f"says so")
            if dset.directions.shape[1] != G.w_dim:
                raise BoundaryError(f"{file} holds directions of w_dim {dset.directions.shape[1]}; this generator "
                                    f"has w_dim {G.w_dim}")
        elif made_for:
            key, legacy = made_for, None
        else:
            raise BoundaryError(f"{file} names no network in its metadata; give the generator it belongs to with -g")
    else:
        if index is not None:
            raise BoundaryError(f"{file} is a boundary file holding one direction; FILE:K names a direction of a set "
                                f"(.safetensors)")
        if G is None:
            raise BoundaryError(f"registering boundary {file} needs the generator it belongs to: give it with -g")
        key, legacy = _check_boundary_file(file, G)
    manifest = _with_force_hint(registry.register, file, key=key, name=name, component=index, legacy=legacy,
                                force=force)
    click.echo(f"registered {name!r} for network {key} in {manifest}")


def _check_boundary_file(file, G):
    from invert.directions import registry
    from invert.directions.boundary_file import load_boundary_file, read_sidecar, sidecar_path
    from invert.errors import BoundaryError

    key, legacy = registry.network_key(G), registry.legacy_key(G)
    load_boundary_file(file, num_ws=G.num_ws, w_dim=G.w_dim)
    side = read_sidecar(file) or {}
    made_for, trained_for = side.get("network_fingerprint"), side.get("generator_sha256")
    if made_for and made_for != key:
        raise BoundaryError(f"{file} was trained for network {made_for}, not this one ({key}); its sidecar "
                            f"{sidecar_path(file)} says so")
    if not made_for and trained_for and trained_for != legacy:
        raise BoundaryError(f"{file} was trained for generator {trained_for}, not this one ({legacy}); its sidecar "
                            f"{sidecar_path(file)} says so")
    return key, legacy


def _with_force_hint(function, *args, **kwargs):
    """Call a registry function, adding the command line's way to replace a taken name to its error."""
    from invert.directions.registry import NameTakenError

    try:
        return function(*args, **kwargs)
    except NameTakenError as exc:
        raise NameTakenError(f"{exc} with --force") from None
