"""Option types shared by the commands: every float option is a finite number, checked at parsing time."""
import click
import pytest
from click.testing import CliRunner

from invert.cli import main
from invert.cli.options import FINITE_FLOAT, FiniteFloat


def test_finite_float_refuses_nan_and_infinities_and_keeps_its_range():
    @click.command()
    @click.option("--x", type=FINITE_FLOAT)
    @click.option("--rate", type=FiniteFloat(min=0, max=0.5, min_open=True))
    def command(x, rate):
        click.echo(f"{x} {rate}")

    runner = CliRunner()
    assert runner.invoke(command, ["--x", "-1e300", "--rate", "0.5"]).output == "-1e+300 0.5\n"
    for value in ("nan", "NaN", "inf", "-inf", "+Infinity", "1e999"):
        result = runner.invoke(command, ["--x", value])
        assert result.exit_code == 2 and f"Invalid value for '--x': '{value}' is not a finite number." in result.output
    result = runner.invoke(command, ["--rate", "0"])
    assert result.exit_code == 2 and "0.0 is not in the range 0<x<=0.5" in result.output
    assert runner.invoke(command, ["--x", "ten"]).exit_code == 2


# Every float option of every command.
PROJECT = ["photo.png", "-g", "random:32"]
FLOAT_OPTIONS = [
    *[("project", PROJECT, option) for option in ("--lr", "--mse-weight", "--perceptual-weight", "--noise-lr",
                                                  "--noise-perceptual-weight", "--noise-regularize", "--tune-lr",
                                                  "--min-face-score", "--fps")],
    ("generate", ["-g", "random:32", "--seeds", "0"], "--truncation"),
    ("edit", ["a.npy", "-g", "random:32", "-b", "b.npy"], "--strength"),
    ("edit", ["a.npy", "-g", "random:32", "-b", "b.npy", "--sweep", "0:1:3"], "--fps"),
    ("expression", ["a.npy", "b.npy", "c.npy", "-g", "random:32"], "--strength"),
    ("expression", ["a.npy", "b.npy", "c.npy", "-g", "random:32", "--sweep", "0:1:3"], "--fps"),
    ("morph", ["a.npy", "b.npy", "-g", "random:32"], "--fps"),
    ("boundaries train", ["-g", "random:32", "--attribute", "smile"], "--ratio"),
    ("boundaries train", ["-g", "random:32", "--attribute", "smile"], "--truncation"),
    ("boundaries discover", ["-g", "random:32"], "--truncation"),
    ("align", ["photo.png"], "--min-face-score"),
]


@pytest.mark.parametrize("command, args, option", FLOAT_OPTIONS)
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_every_float_option_must_be_finite(tmp_path, monkeypatch, command, args, option, value):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*command.split(), *args, option, value])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': '{value}' is not a finite number." in result.stderr
    assert result.stderr.startswith("Usage: ") and list(tmp_path.iterdir()) == []


def test_the_float_options_are_all_covered():
    """A new float option of any command must be a FiniteFloat, and listed above."""
    covered = {(command, option) for command, _, option in FLOAT_OPTIONS}
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        subcommands = command.commands.items() if isinstance(command, click.Group) else [(None, command)]
        for sub, cmd in subcommands:
            for param in cmd.params:
                if isinstance(param.type, click.types.FloatParamType) or isinstance(param.type, click.FloatRange):
                    full = name if sub is None else f"{name} {sub}"
                    assert isinstance(param.type, FiniteFloat), (full, param.opts)
                    assert (full, param.opts[0]) in covered, (full, param.opts)


def every_command():
    """(full name, click command) of every command and subcommand, groups and `project` included."""
    ctx = click.Context(main)
    found = [("", main)]
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        found.append((name, command))
        found += [(f"{name} {sub}", cmd) for sub, cmd in getattr(command, "commands", {}).items()]
    return found


def shown_options(command):
    """The options of `command` that its --help lists (hidden ones are old spellings on their way out)."""
    return [param for param in command.params if isinstance(param, click.Option) and not param.hidden]


def test_every_option_of_every_command_has_help():
    missing = [(name, param.opts) for name, command in every_command() for param in shown_options(command)
               if not (param.help or "").strip()]
    assert missing == []


def test_every_command_takes_quiet_verbose_and_debug_once():
    for name, command in every_command():
        flags = [opt for param in shown_options(command) for opt in param.opts]
        for opt in ("-q", "--quiet", "-v", "--verbose", "--debug"):
            assert flags.count(opt) == 1, (name, opt)


def kind(param):
    """What an option takes, as far as its meaning goes: a flag, an integer, a number, text, a file..."""
    if param.is_flag:
        return "flag"
    return {"integer": "integer", "integer range": "integer", "float": "number", "float range": "number",
            "text": "text", "choice": "choice", "file": "file", "directory": "folder"}.get(param.type.name,
                                                                                         param.type.name)


# One option name, one meaning: each name that two or more commands take, with what it takes (kind, metavar)
# wherever it appears. A name newly shared between commands must be added here, meaning the same everywhere.
SHARED = {
    "-g": ("text", "NAME|PATH"), "--generator": ("text", "NAME|PATH"),     # the generator the command uses
    "--layers": ("text", "RANGES"),           # latent (W+) rows, e.g. 0-7,9 (crossover's split is --split)
    "--truncation": ("number", None),         # truncation psi
    "--seed": ("integer", None),              # the seed of what the command samples
    "--seeds": ("text", None),                # a list of seeds to render, e.g. 0-3,7
    "--samples": ("integer", None),           # how many latents to sample
    "--strength": ("number", None),           # how far to move along the edit
    "--sweep": ("text", "START:STOP:COUNT"),  # an animation over the strength
    "--gif": ("flag", None), "--mp4": ("flag", None), "--fps": ("number", None),  # the animation's format, speed
    "--batch-size": ("integer", None),        # images per batch
    "--out": ("file", None),                  # the result file (its siblings go beside it)
    "--outdir": ("folder", None),             # the folder outputs go into
    "--save-latents": ("flag", None),         # also write the latents of what was rendered
    "--no-tuned": ("flag", None),             # ignore the latents' tuned updates
    "--name": ("text", None),                 # the name a direction is registered under
    "--register": ("flag", None), "--no-register": ("flag", None),  # register what was made for the network
    "--space": ("choice", "[w|w+]"),          # W or W+
    "--face-index": ("integer", "K"), "--all-faces": ("flag", None), "--upsample": ("integer", None),
    "--landmarks": ("file", "PATH"), "--min-face-score": ("number", None),  # face detection and alignment
    "--device": ("text", "auto|cpu|cuda[:n]|mps"),
    "--force": ("flag", None),                # overwrite existing outputs
    "-q": ("flag", None), "--quiet": ("flag", None), "-v": ("flag", None), "--verbose": ("flag", None),
    "--debug": ("flag", None),
}


def test_an_option_name_means_one_thing_in_every_command():
    uses = {}
    for name, command in every_command():
        for param in shown_options(command):
            for opt in param.opts + param.secondary_opts:
                uses.setdefault(opt, []).append((name, kind(param), param.metavar))
    for opt, found in uses.items():
        if len({command for command, _, _ in found}) > 1:
            assert opt in SHARED, (opt, found)
            assert {(k, metavar) for _, k, metavar in found} == {SHARED[opt]}, (opt, found)


# Options that exclude or need each other: a usage error (exit code 2, with the usage line), before any work.
CONFLICTS = [
    (["-q", "info", "random:32", "-v"], "-q/--quiet and -v/--verbose exclude each other"),
    (["crossover", "c.npy", "s.npy", "--split", "3", "--style-layers", "1"],
     "--split and --style-layers exclude each other"),
    (["edit", "a.npy", "-b", "smile.npy", "--mp4"],
     "--gif and --mp4 choose the format of the --sweep animation; add --sweep START:STOP:COUNT"),
    (["expression", "a.npy", "b.npy", "c.npy", "--gif"],
     "--gif and --mp4 choose the format of the --sweep animation; add --sweep START:STOP:COUNT"),
    (["boundaries", "train", "-g", "random:32", "--attribute", "glasses", "--latents", "codes.npy"],
     "--latents and --scores go together: N latents and their N scores"),
    (["boundaries", "train", "-g", "random:32", "--attribute", "glasses", "--latents", "codes.npy", "--scores",
      "scores.csv", "--samples", "10"],
     "--samples is for built-in attributes; with --latents every latent given is used"),
    (["align", "photo.png", "--face-index", "1", "--all-faces"], "--face-index and --all-faces exclude each other"),
]


@pytest.mark.parametrize("args, message", CONFLICTS, ids=lambda v: v[0] if isinstance(v, list) else None)
def test_conflicting_options_are_usage_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Usage: ") and result.stderr.splitlines()[-1] == f"Error: {message}"
    assert result.stdout == "" and list(tmp_path.iterdir()) == []
