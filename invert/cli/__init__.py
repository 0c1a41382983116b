"""The `stylegan-invert` console script: a click group whose subcommands live one per module.

Subcommand modules are imported only when their command runs, so `stylegan-invert --version` and
`--help` answer without importing torch. Errors users can cause (`InvertError`, unreadable files) are
printed as one line on stderr with exit code 1, followed by the flag that would fix them where the
command has one (see HINTS); `--debug` shows the traceback instead. Running out of memory is one line
too. Usage errors exit with 2.

Signals: SIGTERM and SIGHUP (a batch scheduler stopping a job, a closed terminal) stop a run the way
Ctrl-C does: a KeyboardInterrupt (`Interrupted`, carrying the signal) is raised where the program is,
so `project` keeps and writes the best result so far. The exit code is 128 + the signal's number:
130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP. A signal the parent process chose to ignore
(`nohup`) stays ignored.

Python warnings from the libraries underneath are logged on the `invert.warnings` logger at debug level
(shown with -v or --debug), never printed raw. -q, -v and --debug: see invert.cli.verbosity.
"""
import contextlib
import importlib
import logging
import os
import signal
import sys
import warnings

import click

from invert._version import __version__
from invert.cli import verbosity

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
    "render": ("render", "render", "Render latents through their generator and tuned update."),
    "boundaries": ("boundaries", "boundaries", "Train, discover, list and register semantic directions."),
}


# A library error's remedy (InvertError.remedies) -> (the parameter of a command that provides it, its flag,
# the hint added to the message when the failing command has that parameter).
HINTS = {
    "overwrite": ("force", "--force", "pass --force to overwrite it"),
    "skip_alignment": ("align", "--no-align", "pass --no-align to use the image as it is"),
    "landmarks_path": ("landmarks_path", "--landmarks", "or pass --landmarks PATH"),
    "upsample": ("upsample", "--upsample", "a larger --upsample finds smaller faces"),
    "min_score": ("min_face_score", "--min-face-score", "lower --min-face-score to accept them"),
    "batch_size": ("batch_size", "--batch-size", "try a smaller --batch-size"),
    "ignore_tuned": ("no_tuned", "--no-tuned", "pass --no-tuned to render without it"),
}
STOP_SIGNALS = ("SIGTERM", "SIGHUP")


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) turned into the KeyboardInterrupt that Ctrl-C raises."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received_signals = []  # stop signals received by this process, in order


def interrupt_exit_code(exc=None):
    """The exit code for a run stopped by `exc` (or by the last stop signal received): 128 + signal."""
    signum = getattr(exc, "signum", None) or (_received_signals[-1] if _received_signals else signal.SIGINT)
    return 128 + int(signum)


def _raise_interrupted(signum, frame):
    _received_signals.append(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def _stop_signals_interrupt():
    """While the block runs, SIGTERM and SIGHUP raise Interrupted (unless the parent made us ignore them)."""
    previous = {}
    try:
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is signal.SIG_DFL:
                previous[number] = signal.signal(number, _raise_interrupted)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _warnings_to_logging():
    """Python warnings go to the `invert.warnings` logger at debug level instead of stderr, one line each."""
    log = logging.getLogger("invert.warnings")

    def show(message, category, filename, lineno, file=None, line=None):
        log.debug("%s: %s (%s:%s)", category.__name__, " ".join(str(message).split()), filename, lineno)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["invert.command"] = command  # for the flag hints of its errors
        return name, command, rest

    def list_commands(self, ctx):
        return list(SUBCOMMANDS)

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS:
            return None
        module_name, attr, _ = SUBCOMMANDS[name]
        module = importlib.import_module(f"invert.cli.{module_name}")
        return verbosity.add_to(getattr(module, attr))  # -q, -v and --debug after the subcommand too

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, _, help_text) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            with _stop_signals_interrupt(), _warnings_to_logging(), verbosity.kept_log_levels():
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt as exc:
            name = signal.Signals(getattr(exc, "signum", signal.SIGINT)).name
            click.echo(f"Error: interrupted ({name})", err=True)
            sys.exit(interrupt_exit_code(exc))
        except Exception as exc:  # noqa: BLE001 - the one place where every error becomes one line
            if verbosity.settings(ctx)["debug"]:
                raise
            click.echo(f"Error: {one_line(exc, command=ctx.meta.get('invert.command'))}", err=True)
            sys.exit(1)


def one_line(exc, *, command=None):
    """The message of `exc` as a single line, with the flag hints of `command`; unexpected errors also
    name their type."""
    from invert.errors import InvertError

    message = " ".join(str(exc).split()) or exc.__class__.__name__
    memory = _out_of_memory(exc)
    if memory is not None:
        return _with_hints(memory, exc.remedies if isinstance(exc, InvertError) else ("batch_size",), command)
    if isinstance(exc, InvertError):
        return _with_hints(message, exc.remedies, command)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or message}: {exc.filename}"
    return f"{exc.__class__.__name__}: {message} (run with --debug for a traceback)"


def _with_hints(message, remedies, command):
    """`message` plus the hint of each remedy that `command` (or one of its subcommands) has a flag for."""
    names = set()
    for cmd in [command] + list(getattr(command, "commands", {}).values()) if command is not None else []:
        names.update(param.name for param in cmd.params)
    for remedy in remedies:
        param, flag, hint = HINTS.get(remedy, (None, None, None))
        if param in names and flag not in message:
            message = f"{message.rstrip('.')}; {hint}"
    return message


def _out_of_memory(exc):
    """One line for an allocation that failed (numpy, torch on the CPU or a GPU), or None."""
    from invert.errors import OutOfMemoryError

    text = " ".join(str(exc).split())
    if isinstance(exc, OutOfMemoryError):
        return text
    if isinstance(exc, MemoryError):
        detail = text[:1].lower() + text[1:] if text else ""
        return "out of memory" + (f" ({detail})" if detail else "")
    if isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "can't allocate memory" in text):
        import re

        request = re.search(r"(?:tried to allocate|Tried to allocate) ([\d.]+ ?[KMGT]?i?B|\d+ bytes)", text)
        where = "GPU memory" if "CUDA" in text or "MPS" in text else "memory"
        return f"out of {where}" + (f" (tried to allocate {request.group(1)})" if request else "")
    return None


@verbosity.add_to
@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stylegan-invert")
@click.pass_context
def main(ctx):
    """stylegan-invert: project photos into StyleGAN2 and edit their latents.

    -q, -v and --debug work before or after the command: `stylegan-invert -q edit ...` and
    `stylegan-invert edit ... -q` are the same.
    """
    verbosity.configure_logging(ctx)
    os.environ.setdefault("KMP_WARNINGS", "0")  # silence Intel OpenMP's deprecation chatter (a user's setting wins)
    # Transparent huge pages stay off unless the user sets THP_MEM_ALLOC_ENABLE=1: measured faster at 128²-256²
    # with batch 4, slower at 64² and at 256² batch 1 (bench/README.md), and the resolution is only known
    # after torch has allocated, too late to choose per size.
