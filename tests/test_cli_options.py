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
    ("generate", ["random:32", "--seeds", "0"], "--trunc"),
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
