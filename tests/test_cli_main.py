"""The console script itself: version without torch, help, one-line errors, `python -m invert`."""
import subprocess
import sys

from click.testing import CliRunner

from invert import __version__
from invert.cli import SUBCOMMANDS, main


def test_version_answers_without_importing_torch():
    code = ("import sys\nfrom invert.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nprint('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [f"stylegan-invert, version {__version__}", "False"]


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "invert", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_every_listed_subcommand_loads():
    runner = CliRunner()
    for name in SUBCOMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2 and "No such command 'frobnicate'" in result.output
