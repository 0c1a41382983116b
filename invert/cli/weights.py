"""`stylegan-invert weights`: list, download and verify the registry's official files."""
import click

from invert import weights as registry
from invert.cli.verbosity import show_progress


@click.group("weights")
def weights():
    """List, download and verify registry weights (cached in $STYLEGAN_INVERT_HOME)."""


@weights.command("list")
def list_cmd():
    """Show every registry entry: kind, whether it is cached, its path (or URL) and what it is."""
    header = ("NAME", "KIND", "STATUS", "PATH / URL", "DESCRIPTION")
    rows = [(row["name"], row["kind"], "cached" if row["cached"] else "not cached",
             str(row["path"]) if row["cached"] else row["url"], row["description"])
            for row in registry.list_entries()]
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header) - 1)]
    for cells in [header, *rows]:
        click.echo("  ".join([*(cell.ljust(width) for cell, width in zip(cells, widths)), cells[-1]]))
    click.echo(f"cache: {registry.cache_dir()}")


@weights.command("download")
@click.argument("name")
@click.option("--force", is_flag=True, help="Download again even if the file is cached.")
def download(name, force):
    """Download registry file NAME into the cache (checked against its checksum) and print its path."""
    registry.get_entry(name)  # an unknown name fails before any network access
    click.echo(registry.download(name, force=force, progress=show_progress()))


@weights.command("verify")
@click.argument("names", nargs=-1)
@click.pass_context
def verify(ctx, names):
    """Check cached files against their sha256 (all cached entries unless NAMEs are given)."""
    if not names:
        names = [row["name"] for row in registry.list_entries() if row["cached"]]
        if not names:
            click.echo(f"no registry weights are cached in {registry.cache_dir()}")
            return
    for name in names:
        registry.get_entry(name)
    failures = 0
    for name in names:
        ok, message = registry.verify(name)
        if ok:
            click.echo(message)
        else:
            failures += 1
            click.echo(f"Error: {message}", err=True)
    if failures:
        ctx.exit(1)
