"""The `stylegan-invert` console script: a click group whose subcommands live one per module.

Subcommand modules are imported only when their command runs, so `stylegan-invert --version` and
`--help` answer without importing torch. Errors users can cause (`InvertError`, unreadable files) are
printed as one line on stderr with exit code 1; `--debug` shows the traceback instead.
"""
import importlib
import logging
import os
import sys

import click

from invert._version import __version__

# command name -> (module under invert.cli, attribute, one-line help shown by --help)
SUBCOMMANDS = {
    "info": ("info", "info", "Describe a generator checkpoint."),
    "generate": ("generate", "generate", "Render images (and latents) from seeds."),
    "convert": ("convert", "convert", "Convert a checkpoint to stylegan-invert's own format."),
    "weights": ("weights", "weights", "List, download and verify registry weights."),
    "align": ("align", "align", "Detect and align faces the FFHQ way."),
    "project": ("project", "project", "Project photos into W+ (Image2StyleGAN/++)."),
    "morph": ("morph", "morph", "Interpolate between two latents."),
    "crossover": ("crossover", "crossover", "Style transfer by swapping layer ranges."),
    "expression": ("expression", "expression", "Expression arithmetic w1 + strength*(w3 - w2)."),
    "edit": ("edit", "edit", "Move a latent along a semantic boundary."),
    "boundaries": ("boundaries", "boundaries", "Train, discover, list and register semantic directions."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx):
        return list(SUBCOMMANDS)

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS:
            return None
        module_name, attr, _ = SUBCOMMANDS[name]
        module = importlib.import_module(f"invert.cli.{module_name}")
        return getattr(module, attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, _, help_text) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place where every error becomes one line
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {one_line(exc)}", err=True)
            sys.exit(1)


def one_line(exc):
    """The message of `exc` as a single line; unexpected errors also name their type."""
    from invert.errors import InvertError

    message = " ".join(str(exc).split()) or exc.__class__.__name__
    if isinstance(exc, InvertError):
        return message
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or message}: {exc.filename}"
    return f"{exc.__class__.__name__}: {message} (run with --debug for a traceback)"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stylegan-invert")
@click.option("--debug", is_flag=True, envvar="STYLEGAN_INVERT_DEBUG", help="Show tracebacks for errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
@click.pass_context
def main(ctx, debug, quiet):
    """stylegan-invert: project photos into StyleGAN2 and edit their latents."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=logging.DEBUG if debug else level, format="%(message)s", stream=sys.stderr)
    os.environ.setdefault("KMP_WARNINGS", "0")  # silence Intel OpenMP's deprecation chatter (a user's setting wins)
    # Before torch allocates anything: large CPU tensors on transparent huge pages (a user's setting wins).
    from invert.hugepages import request_cpu_huge_pages

    request_cpu_huge_pages()
