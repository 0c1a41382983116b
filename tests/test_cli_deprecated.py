"""Renamed options: the new name works, the old spelling still works for one release (with a one-line note
naming the new one, and hidden from --help), and giving both is a usage error."""
import logging
import re

import numpy as np
import pytest
from PIL import Image

from editing_helpers import RANDOM, load, reuse_generators, run, write_latents

assert reuse_generators  # fixture, used by name

# command, its other arguments, the new spelling and the old one, with a value that differs from the default
RENAMES = [
    ("generate", ["-g", RANDOM, "--seeds", "3", "--outdir", "OUT"], ["--truncation", "0.5"], ["--trunc", "0.5"]),
    ("generate", ["--seeds", "3", "--outdir", "OUT"], ["-g", RANDOM], [RANDOM]),
    ("crossover", ["c.npy", "s.npy", "-g", RANDOM, "--out", "OUT/x.npy"], ["--split", "3"], ["--layers", "3"]),
    ("morph", ["a.npy", "b.npy", "-g", RANDOM, "--save-latents", "--out", "OUT/m.npy"], ["--frames", "3"],
     ["--steps", "3"]),
]
NOTES = {"--trunc": "--trunc is deprecated and will be removed in the next release; use --truncation",
         RANDOM: f"the positional CHECKPOINT is deprecated and will be removed in the next release; use "
                 f"--generator {RANDOM}",
         "--layers": "--layers is deprecated and will be removed in the next release; use --split",
         "--steps": "--steps is deprecated and will be removed in the next release; use --frames"}


def outputs(folder):
    """{file name: decoded content} of what a command wrote into `folder` (records left out: they name
    their inputs' paths)."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".npy":
            found[path.name] = np.load(path)
        elif path.suffix in (".png", ".gif"):
            found[path.name] = np.asarray(Image.open(path))
    return found


def notes(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "invert.cli.deprecated"]


@pytest.mark.parametrize("command, args, new, old", RENAMES, ids=lambda v: v if isinstance(v, str) else None)
def test_the_old_spelling_does_what_the_new_one_does_with_a_note(tmp_path, monkeypatch, caplog, command, args, new,
                                                                 old):
    monkeypatch.chdir(tmp_path)
    G = load(RANDOM)
    write_latents(G, tmp_path, ["c", "s", "a", "b"], seed=4)
    written = {}
    for label, spelling in (("default", []), ("new", new), ("old", old)):
        if label == "default" and command == "generate" and new[0] == "-g":
            continue  # generate needs its generator one way or the other
        caplog.clear()
        folder = tmp_path / label
        with caplog.at_level(logging.WARNING):
            result = run(command, *[a.replace("OUT", label) for a in args], *spelling)
        assert result.exit_code == 0, result.output
        written[label] = outputs(folder)
        assert notes(caplog) == ([NOTES[old[0]]] if label == "old" else [])
    assert written["new"].keys() == written["old"].keys() and written["new"]
    for name, content in written["new"].items():
        np.testing.assert_array_equal(written["old"][name], content)  # the same run, bit for bit
    if "default" in written:  # and the option did something
        default = written["default"]
        assert not all(np.array_equal(default[name], content) for name, content in written["new"].items())


@pytest.mark.parametrize("command, old", [("generate", "--trunc"), ("crossover", "--layers"), ("morph", "--steps"),
                                          ("generate", "CHECKPOINT")])
def test_old_spellings_are_hidden_from_help(command, old):
    text = run(command, "--help").stdout
    assert text.startswith(f"Usage: main {command} [OPTIONS]")
    assert not re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", text), text


@pytest.mark.parametrize("command, args, message", [
    ("generate", ["-g", RANDOM, "--seeds", "0", "--trunc", "1", "--truncation", "1"],
     "--trunc is the old spelling of --truncation; give --truncation only"),
    ("generate", [RANDOM, "-g", RANDOM, "--seeds", "0"],
     "--generator and the positional CHECKPOINT (its old spelling) name the same thing; give --generator only"),
    ("crossover", ["c.npy", "s.npy", "--split", "3", "--layers", "3"],
     "--layers is the old spelling of --split; give --split only"),
    ("morph", ["a.npy", "b.npy", "--frames", "3", "--steps", "3"],
     "--steps is the old spelling of --frames; give --frames only"),
    ("generate", ["-g", RANDOM, "--seeds", "0", "--trunc", "x"],
     "Invalid value for '--trunc' (now --truncation): 'x' is not a valid float."),
    ("crossover", ["c.npy", "s.npy", "--layers", "0-7"],
     "Invalid value for '--layers' (now --split): '0-7' is not a valid integer."),
])
def test_both_spellings_or_a_bad_old_value_are_usage_errors(tmp_path, monkeypatch, command, args, message):
    monkeypatch.chdir(tmp_path)
    result = run(command, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Usage: main {command} [OPTIONS]")
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert list(tmp_path.iterdir()) == []
