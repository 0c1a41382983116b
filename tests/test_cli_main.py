"""The console script itself: version without torch, help, one-line errors, `python -m invert`."""
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from invert import __version__
from invert.cli import SUBCOMMANDS, main


def test_every_commands_help_answers_without_numpy_or_torch():
    """Help is what a user on a machine still installing torch reads; .ci/floors runs it without either."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom invert.cli import SUBCOMMANDS, main\n"
            "for name in SUBCOMMANDS:\n    assert CliRunner().invoke(main, [name, '--help']).exit_code == 0, name\n"
            "print(sorted({'numpy', 'torch'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "[]"


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


@pytest.mark.parametrize("setting", [None, "0", "1"])
def test_huge_pages_are_the_users_choice(setting):
    """The command line leaves THP_MEM_ALLOC_ENABLE as the user set it (off when unset: measured slower at
    64² and at 256² batch 1), and the library call turns it on before torch allocates, unless set to 0."""
    code = ("import os\nfrom invert.cli import main\n"
            "try:\n    main(['-q', 'info', 'random:32'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(os.environ.get('THP_MEM_ALLOC_ENABLE'))\n"
            "from invert.hugepages import request_cpu_huge_pages\n"
            "print(request_cpu_huge_pages(), os.environ['THP_MEM_ALLOC_ENABLE'])")
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if setting is not None:
        env["THP_MEM_ALLOC_ENABLE"] = setting
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    after_cli, after_request = result.stdout.splitlines()[-2:]
    assert after_cli == str(setting)
    assert after_request == {None: "True 1", "0": "False 0", "1": "True 1"}[setting]


def _invoke_failing(monkeypatch, exc, *args):
    """Run `stylegan-invert [args] info random:32` with the generator loader raising `exc`."""
    import invert.checkpoints

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(invert.checkpoints, "load_generator", fail)
    return CliRunner().invoke(main, [*args, "info", "random:32"])


def test_errors_get_the_flag_hints_of_the_failing_command(monkeypatch):
    from invert.cli import one_line
    from invert.cli.align import align
    from invert.cli.edit import edit
    from invert.errors import FaceNotFoundError, OutOfMemoryError, OutputExistsError

    assert one_line(OutputExistsError("x.png exists"), command=edit) == "x.png exists; pass --force to overwrite it"
    missing = FaceNotFoundError("no face found", remedies=("upsample", "skip_alignment"))
    assert one_line(missing, command=align) == "no face found; a larger --upsample finds smaller faces"
    assert one_line(OutOfMemoryError("out of memory while rendering"), command=edit) == \
        "out of memory while rendering; try a smaller --batch-size"
    # `info` has no --force: no hint it could not follow
    result = _invoke_failing(monkeypatch, OutputExistsError("x.png exists"))
    assert result.exit_code == 1 and result.stderr == "Error: x.png exists\n"


@pytest.mark.parametrize("exc, line", [
    (MemoryError(), "Error: out of memory"),
    (MemoryError("Unable to allocate 72.8 TiB for an array with shape (10000000000000,)"),
     "Error: out of memory (unable to allocate 72.8 TiB for an array with shape (10000000000000,))"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 40000000000000 bytes. Error code 12 (Cannot allocate memory)"),
     "Error: out of memory (tried to allocate 40000000000000 bytes)"),
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB total capacity)"),
     "Error: out of GPU memory (tried to allocate 20.00 MiB)"),
])
def test_running_out_of_memory_is_one_useful_line(monkeypatch, exc, line):
    result = _invoke_failing(monkeypatch, exc)
    assert result.exit_code == 1 and result.stderr == line + "\n"


def test_library_warnings_are_logged_not_printed():
    script = ("import sys, warnings\nimport invert.checkpoints\nfrom invert.cli import main\n"
              "real = invert.checkpoints.load_generator\n"
              "def noisy(*args, **kwargs):\n"
              "    warnings.warn('invalid value encountered in divide', RuntimeWarning)\n"
              "    return real(*args, **kwargs)\n"
              "invert.checkpoints.load_generator = noisy\nmain(sys.argv[1:])")
    for debug in ([], ["--debug"]):
        result = subprocess.run([sys.executable, "-c", script, *debug, "info", "random:32"], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        logged = [line for line in result.stderr.splitlines() if "invalid value" in line]
        if debug:  # one line on the invert.warnings logger, with where it came from
            assert len(logged) == 1 and logged[0].startswith("RuntimeWarning: invalid value encountered in divide (")
        else:
            assert logged == [] and "Warning" not in result.stderr


def test_torch_cuda_home_chatter_is_silenced():
    """torch.compile imports cpp_extension, which logs "No CUDA runtime is found" on GPU-less machines."""
    code = ("import logging\nfrom invert.cli import main\ntry:\n    main(['-q', 'weights', '--help'])\n"
            "except SystemExit:\n    pass\nimport torch.utils.cpp_extension\n"
            "print(logging.getLogger('torch.utils.cpp_extension').getEffectiveLevel())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "No CUDA runtime" not in result.stderr and result.stdout.split()[-1] == str(logging.ERROR)


@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_stop_signals_interrupt_like_ctrl_c_with_their_exit_code(name, code):
    """Each signal raises KeyboardInterrupt in the running command (which `project` turns into saving its
    best result); the exit code is 128 + the signal's number."""
    script = ("import os, signal, time, click\nfrom invert.cli import main\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # as in a terminal, even if started in
              # the background (where shells ignore SIGINT)
              "@click.command()\ndef wait():\n"
              "    try:\n        os.kill(os.getpid(), signal." + name + ")\n        time.sleep(30)\n"
              "    except KeyboardInterrupt as exc:\n        print('interrupted by', type(exc).__name__, flush=True)\n"
              "        raise\n"
              "import invert.cli\ninvert.cli.SUBCOMMANDS['wait'] = ('info', 'info', '')\n"
              "import invert.cli.info\ninvert.cli.info.info = wait\nmain(['wait'])")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    assert result.stdout.startswith("interrupted by")
    assert result.stderr.strip().splitlines()[-1] == f"Error: interrupted ({name})"


def test_an_ignored_hangup_stays_ignored():
    """Under nohup (SIGHUP ignored by the parent) the command keeps running through a hangup."""
    script = ("import os, signal, click\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
              "from invert.cli import main\n@click.command()\ndef wait():\n"
              "    os.kill(os.getpid(), signal.SIGHUP)\n    print('still running')\n"
              "import invert.cli, invert.cli.info\ninvert.cli.SUBCOMMANDS['wait'] = ('info', 'info', '')\n"
              "invert.cli.info.info = wait\nmain(['wait'])")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "still running", result.stderr
