"""-q/--quiet, -v/--verbose and --debug: what reaches stderr, for the whole command line.

They are accepted before the subcommand (options of the group) and after it: the lazy group adds them to
every command it loads (`add_to`), so `stylegan-invert -q edit ...` and `stylegan-invert edit ... -q` mean
the same, in every command, without each module declaring them.

    (none)       results on stdout; notes (log INFO), warnings and errors on stderr
    -q           results and errors only: notes, warnings and progress bars silenced
    -v           also the toolkit's debug lines (the `invert` loggers), e.g. which files were read
    --debug      tracebacks instead of one-line errors, and every library's debug lines

-q and -v exclude each other (a usage error); -q with --debug keeps the tracebacks but not the debug lines.
The settings live in the context tree's shared `meta`, so a flag given after the subcommand updates the
logging set up by the group before the subcommand's arguments are read (the flags are eager: read before
any other option, so even a deprecation note logged while parsing follows them).
"""
import contextlib
import logging
import sys

import click

SETTINGS = "invert.verbosity"  # key in click's shared ctx.meta: {"quiet": bool, "verbose": bool, "debug": bool}


def settings(ctx=None):
    """The verbosity flags given so far anywhere on the command line (all False outside a command)."""
    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    if ctx is None:
        return {"quiet": False, "verbose": False, "debug": False}
    return ctx.meta.setdefault(SETTINGS, {"quiet": False, "verbose": False, "debug": False})


def show_progress():
    """Whether to draw progress bars: on a terminal, unless -q."""
    return sys.stderr.isatty() and not settings()["quiet"]


def _record(ctx, param, value):
    if not value:
        return
    settings(ctx)[param.name] = True
    if ctx.parent is not None:  # given after the subcommand: the group has set up logging already
        configure_logging(ctx)


def options():
    """Fresh click.Option objects for -q, -v and --debug (one set per command that takes them)."""
    common = dict(is_flag=True, is_eager=True, expose_value=False, callback=_record)
    return [
        click.Option(["-q", "--quiet"], help="Print only results and errors (no notes, warnings or progress "
                                             "bars).", **common),
        click.Option(["-v", "--verbose"], help="Also print the toolkit's debug lines.", **common),
        click.Option(["--debug"], envvar="STYLEGAN_INVERT_DEBUG", help="Show tracebacks for errors (and every "
                                                                       "library's debug lines).", **common),
    ]


def add_to(command):
    """Give `command` (and, for a group, each of its subcommands) -q, -v and --debug; once."""
    if not any(param.name == "quiet" for param in command.params):
        command.params.extend(options())
    for sub in getattr(command, "commands", {}).values():
        add_to(sub)
    return command


def configure_logging(ctx):
    """Set the log levels for the flags given so far; -q with -v is a usage error (exit code 2)."""
    flags = settings(ctx)
    if flags["quiet"] and flags["verbose"]:
        raise click.UsageError("-q/--quiet and -v/--verbose exclude each other", ctx=ctx)
    logging.basicConfig(format="%(message)s", stream=sys.stderr)  # does nothing if the root logger has handlers
    root_level = logging.ERROR if flags["quiet"] else logging.DEBUG if flags["debug"] else logging.INFO
    logging.getLogger().setLevel(root_level)
    logging.getLogger("invert").setLevel(logging.DEBUG if flags["verbose"] else logging.NOTSET)
    # torch.compile imports cpp_extension, which warns about CUDA_HOME on machines without a GPU driver
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.NOTSET if flags["debug"] else logging.ERROR)


@contextlib.contextmanager
def kept_log_levels():
    """Restore the root and `invert` log levels afterwards, so a command run in-process (tests, a Python
    caller of `main`) leaves the caller's logging as it was."""
    loggers = [logging.getLogger(), logging.getLogger("invert")]
    levels = [logger.level for logger in loggers]
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
