"""-q, -v and --debug, before or after the subcommand: what reaches stderr.

The runs go through a child process, whose stderr is a real one (under pytest, log records go to pytest's
capture instead), all in one child so torch is imported once; each run's stderr is fenced by a marker line.
"""
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from editing_helpers import RANDOM, load, random_noise, write_latents
from invert.cli import main
from invert.latents import save_latent

CHILD = """
import json, sys
from invert.cli import main
for args in json.loads(sys.argv[1]):
    print("=== run", flush=True)
    print("=== run", file=sys.stderr, flush=True)
    try:
        main(args, prog_name="stylegan-invert")
    except SystemExit as exc:
        print(f"=== exit {exc.code}", file=sys.stderr, flush=True)
"""


def run_in_child(runs, cwd):
    """[(exit code, stdout lines, stderr lines)] of `stylegan-invert ARGS` for each ARGS in `runs`."""
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps([[str(a) for a in args] for args in runs])],
                            cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    outs = result.stdout.split("=== run\n")[1:]
    errs = result.stderr.split("=== run\n")[1:]
    assert len(outs) == len(errs) == len(runs), result.stderr
    parsed = []
    for out, err in zip(outs, errs):
        lines = err.splitlines()
        assert lines[-1].startswith("=== exit "), err
        parsed.append((int(lines[-1].split()[-1]), out.splitlines(), lines[:-1]))
    return parsed


@pytest.fixture
def edit_inputs(tmp_path):
    """An edit whose run logs on every level: a warning (random weights), a note (--keep) and a debug line
    (the latent's noise maps read)."""
    G = load(RANDOM)
    path, w = write_latents(G, tmp_path, ["p"], seed=1)["p"]
    save_latent(path, w, random_noise(G, seed=2))
    rng = np.random.default_rng(0)
    for name in ("smile", "age"):
        np.save(tmp_path / f"{name}.npy", rng.standard_normal(G.w_dim).astype(np.float32))
    return ["edit", "p.npy", "-g", RANDOM, "-b", "smile.npy", "--keep", "age.npy", "--force"]


def test_quiet_and_verbose_before_or_after_the_subcommand(tmp_path, edit_inputs):
    edit = edit_inputs
    runs = run_in_child([edit, ["-q", *edit], [*edit, "-q"], ["-v", *edit], [*edit, "--verbose"],
                         [*edit, "--quiet", "--debug"]], tmp_path)
    results = ["p_smile+2.0.npy", "p_smile+2.0_noise.npz", "p_smile+2.0.json", "p_smile+2.0.png"]
    for code, out, _ in runs:
        assert code == 0 and out == results  # results on stdout, whatever the verbosity
    warning = f"using {RANDOM}: RANDOM weights (not a trained model; images are not faces)"
    debug = "read noise maps from p_noise.npz"

    default, quiet_before, quiet_after, verbose_before, verbose_after, quiet_debug = (err for _, _, err in runs)
    assert warning in default and any(line.startswith("keeping age fixed") for line in default)
    assert debug not in default
    assert quiet_before == quiet_after == quiet_debug == []  # no notes, no warnings
    for err in (verbose_before, verbose_after):
        assert debug in err
        assert [line for line in err if line != debug] == default  # -v adds the debug lines, nothing else


def test_quiet_silences_deprecation_notes_given_before_it(tmp_path):
    """The flags are read before every other option: `--steps 2 -q` logs no note about --steps."""
    G = load(RANDOM)
    write_latents(G, tmp_path, ["a", "b"])
    morph = ["morph", "a.npy", "b.npy", "-g", RANDOM, "--steps", 2, "--force"]
    (code, out, err), (quiet_code, quiet_out, quiet_err) = run_in_child([morph, [*morph, "-q"]], tmp_path)
    assert code == quiet_code == 0 and out == quiet_out and "a_b_morph.gif" in out
    assert "--steps is deprecated and will be removed in the next release; use --frames" in err
    assert quiet_err == []


@pytest.mark.parametrize("args", [["-q", "-v", "info", RANDOM], ["-q", "info", RANDOM, "-v"],
                                  ["info", RANDOM, "-v", "-q"]])
def test_quiet_and_verbose_exclude_each_other(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Usage: ")
    assert result.stderr.splitlines()[-1] == "Error: -q/--quiet and -v/--verbose exclude each other"
    assert result.stdout == ""


def test_debug_after_the_subcommand_shows_the_traceback(monkeypatch):
    import invert.checkpoints

    def fail(*args, **kwargs):
        raise ValueError("broken on purpose")

    monkeypatch.setattr(invert.checkpoints, "load_generator", fail)
    one_line = CliRunner().invoke(main, ["info", RANDOM])
    assert one_line.exit_code == 1 and one_line.stderr.startswith("Error: ValueError: broken on purpose")
    traced = CliRunner().invoke(main, ["info", RANDOM, "--debug"])
    assert isinstance(traced.exception, ValueError) and str(traced.exception) == "broken on purpose"


def test_a_run_leaves_the_callers_log_levels_as_they_were():
    """`main` run in-process (tests, Python callers) sets levels for its run only."""
    root, invert_logger = logging.getLogger(), logging.getLogger("invert")
    before = root.level, invert_logger.level
    for args in (["-v", "info", RANDOM], ["info", RANDOM, "-q"]):
        assert CliRunner().invoke(main, args).exit_code == 0
        assert (root.level, invert_logger.level) == before
