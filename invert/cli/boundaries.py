"""`stylegan-invert boundaries train|list|register`: InterfaceGAN boundaries, tied to one generator."""
import sys

import click

from invert.cli.options import FINITE_FLOAT, FiniteFloat, device_option, force_option, generator_option


@click.group()
def boundaries():
    """Train, list and register InterfaceGAN boundaries (semantic directions) for a generator.

    Boundaries are registered per generator (by its checkpoint sha256) in
    $STYLEGAN_INVERT_HOME/boundaries/manifest.json; `edit --boundary NAME` looks them up there.
    """


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
@click.option("--space", type=click.Choice(["w", "wp"]), default="w", show_default=True,
              help="Classify W codes (one direction for every layer) or whole W+ codes (per-layer directions).")
@click.option("--ratio", type=FiniteFloat(min=0, max=0.5, min_open=True), default=0.02, show_default=True,
              help="Keep the top and bottom RATIO of the samples by score (InterfaceGAN's 2%).")
@click.option("--truncation", "truncation_psi", type=FINITE_FLOAT, default=1.0, show_default=True,
              help="Truncation psi when sampling latents.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Images rendered and scored per batch.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples and the validation split.")
@click.option("--name", default=None,
              help="Name to register it under. [default: the attribute, plus _wp for --space wp]")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Boundary .npy (a .json sidecar goes beside it). "
                   "[default: $STYLEGAN_INVERT_HOME/boundaries/<sha256[:16]>/NAME.npy]")
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

    from invert import boundaries as lib
    from invert.cli._latent_outputs import load_generator_for
    from invert.errors import BoundaryError
    from invert.fileio import check_writable

    if (latents_path is None) != (scores_path is None):
        raise BoundaryError("--latents and --scores go together: N latents and their N scores")
    own = latents_path is not None
    if own and samples is not None:
        raise BoundaryError("--samples is for built-in attributes; with --latents every latent given is used")
    if not own and attribute not in lib.BUILTIN_ATTRIBUTES:
        raise BoundaryError(f"no built-in scorer for {attribute!r} (built-in: {', '.join(lib.BUILTIN_ATTRIBUTES)}); "
                            f"score your own latents and pass --latents codes.npy --scores scores.csv")
    if not 0 < ratio <= 0.5:
        raise BoundaryError(f"--ratio {ratio:g} must be in (0, 0.5]")
    name = lib.check_name(name or (attribute if space == "w" else f"{attribute}_wp"))
    inputs = [p for p in (latents_path, scores_path, generator) if p and Path(p).is_file()]
    if out is not None:  # checked before the generator is loaded; the default path needs its sha256
        out = Path(out)
        if out.suffix.lower() != ".npy":
            raise BoundaryError(f"--out {out} must end in .npy")
        check_writable([out, lib.sidecar_path(out)], force=force, inputs=inputs)

    G = load_generator_for(generator, device)
    key = lib.generator_key(G)
    out = out if out is not None else lib.user_boundaries_dir() / lib.key_folder(key) / f"{name}.npy"
    check_writable([out, lib.sidecar_path(out)], force=force, inputs=inputs)
    if register:
        lib.check_registration(key, name, out, force=force)

    if own:
        from invert.latents import load_latent_stack

        codes = load_latent_stack(latents_path, num_ws=G.num_ws, w_dim=G.w_dim)
        scores = lib.read_scores(scores_path)
        if len(scores) != len(codes):
            raise BoundaryError(f"{latents_path} holds {len(codes)} latents but {scores_path} holds {len(scores)} "
                                f"scores; give one score per latent, in the same order")
        scorer = f"user scores from {Path(scores_path).name}"
    else:
        samples = samples or lib.DEFAULT_SAMPLES
        codes, scores = lib.sample_and_score(G, attribute=attribute, samples=samples, batch_size=batch_size,
                                             seed=seed, truncation_psi=truncation_psi,
                                             progress=sys.stderr.isatty())
        scorer = f"invert.attributes ({attribute}, dlib landmarks)"
    fit = lib.train_boundary(codes, scores, space=space, num_ws=G.num_ws, ratio=ratio, seed=seed)
    info = lib.sidecar_info(G, fit, space=space, attribute=attribute, ratio=ratio, seed=seed, scorer=scorer,
                            generator_spec=generator)
    for path in lib.save_boundary(out, fit.normal, info=info):
        click.echo(str(path))
    if register:
        manifest = lib.register_boundary(out, key=key, name=name, force=force,
                                         info={"attribute": attribute, "space": space,
                                               "accuracy": round(fit.accuracy, 4)})
        click.echo(f"registered {name!r} for generator {key} in {manifest}")
    click.echo(f"validation accuracy {fit.accuracy:.4f} on {fit.validation} held-out samples "
               f"(train {fit.train_accuracy:.4f}); kept {fit.kept} of {fit.samples} scored"
               + (f", {fit.dropped} dropped without a score" if fit.dropped else ""))


@boundaries.command(name="list")
@click.option("--generator", "-g", "generator", default=None, metavar="NAME|PATH",
              help="Only the boundaries of this generator (default: every generator).")
@device_option
def list_(generator, device):
    """Show the registered boundaries: the user's manifest first, then the package's."""
    from invert import boundaries as lib

    key = None
    if generator is not None:
        from invert.cli._latent_outputs import load_generator_for

        key = lib.generator_key(load_generator_for(generator, device))
    entries = lib.list_entries(key)
    if not entries:
        where = f" for generator {key}" if key else ""
        click.echo(f"no boundaries registered{where} (looked in "
                   f"{', '.join(str(m) for m in lib.manifest_search_path())})", err=True)
        return
    for entry in entries:
        details = "  ".join(f"{k}={entry.info[k]}" for k in ("space", "accuracy") if k in entry.info)
        missing = "" if entry.path.is_file() else "  (FILE MISSING)"
        click.echo(f"{entry.key}  {entry.name}  {entry.path}  {details}{missing}".rstrip())


@boundaries.command()
@click.argument("path", metavar="BOUNDARY.npy", type=click.Path(dir_okay=False))
@generator_option
@click.option("--name", required=True, help="The name `edit --boundary NAME` will use.")
@device_option
@force_option
def register(path, generator, name, device, force):
    """Register a boundary file you already have, so `edit --boundary NAME` finds it.

    For example one converted from InterfaceGAN for this very checkpoint. The file is checked against
    the generator's shapes; a sidecar naming another generator is refused.
    """
    from invert import boundaries as lib
    from invert.cli._latent_outputs import load_generator_for
    from invert.errors import BoundaryError

    lib.check_name(name)
    G = load_generator_for(generator, device)
    key = lib.generator_key(G)
    lib.load_boundary_file(path, num_ws=G.num_ws, w_dim=G.w_dim)
    trained_for = (lib.read_sidecar(path) or {}).get("generator_sha256")
    if trained_for and trained_for != key:
        raise BoundaryError(f"{path} was trained for generator {trained_for}, not this one ({key}); its sidecar "
                            f"{lib.sidecar_path(path)} says so")
    manifest = lib.register_boundary(path, key=key, name=name, force=force)
    click.echo(f"registered {name!r} for generator {key} in {manifest}")
