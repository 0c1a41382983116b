"""The console script itself: version without torch, help, one-line errors, `python -m invert`."""
import os
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


def _kernel_offers_huge_pages():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def test_cli_puts_large_cpu_tensors_on_huge_pages_before_torch_allocates():
    """The command sets THP_MEM_ALLOC_ENABLE first thing, so torch's allocator uses it: 3 x 256 MiB of
    fresh tensors fault in 2 MiB pages (~400 faults), not 4 KiB pages (~200,000). A user's 0 wins."""
    if not _kernel_offers_huge_pages():
        import pytest

        pytest.skip("this kernel has transparent huge pages off (/sys/kernel/mm/transparent_hugepage/enabled)")
    code = ("import os, resource, sys\nfrom invert.cli import main\n"
            "try:\n    main(['-q', 'info', 'random:32'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "import torch\nbefore = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "for _ in range(3):\n    x = torch.ones(64, 1024, 1024); del x\n"
            "print(os.environ['THP_MEM_ALLOC_ENABLE'], resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)")
    faults = {}
    for setting in (None, "0"):
        env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
        if setting is not None:
            env["THP_MEM_ALLOC_ENABLE"] = setting
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, result.stderr
        value, count = result.stdout.split()[-2:]
        assert value == (setting or "1")
        faults[setting] = int(count)
    assert faults["0"] > 150_000
    assert faults[None] < 20_000
