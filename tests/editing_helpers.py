"""Helpers shared by the CLI tests of the latent-editing commands (morph, crossover, expression, edit,
boundaries): generators to run them on, latent files to feed them, and CliRunner invocation."""
from functools import lru_cache

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from invert.checkpoints import load_generator as real_load_generator
from invert.cli import main

RANDOM = "random:32"


@pytest.fixture(params=[RANDOM, "tiny_ada"])
def spec(request):
    """What the tests pass as --generator: 'random:32', then the tiny ada fixture (skipped when absent)."""
    if request.param == RANDOM:
        return RANDOM
    return str(request.getfixturevalue("sg2_dir") / "tiny_ada.pkl")


@pytest.fixture(autouse=True)
def reuse_generators(monkeypatch):
    """The commands get their generator from `load` (once per session per spec, on the CPU) instead of
    loading it on every run: loading dominates these tests' time, and no command modifies it.
    `test_commands_load_their_generator` in test_cli_edit.py runs the real loading path."""
    import invert.checkpoints

    monkeypatch.setattr(invert.checkpoints, "load_generator", lambda generator, device=None: load(generator))


@lru_cache(maxsize=4)
def load(spec):
    """The generator for `spec`, loaded once per test session (the commands never modify it)."""
    return real_load_generator(spec, device="cpu")


def sample_ws(G, count, seed):
    """count W+ codes [count, num_ws, w_dim] that differ per layer (as projected latents do)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn([count * G.num_ws, G.z_dim], generator=generator)
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
    return w.reshape(count, G.num_ws, G.w_dim).numpy().astype(np.float32)


def random_noise(G, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in G.synthesis.noise_shapes()]


def run(*args):
    """Invoke `stylegan-invert ARGS`; returns click's Result (stdout and stderr kept apart)."""
    runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def error_line(result):
    """The one-line error the CLI printed (asserting it is one line and the exit code is 1)."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def output_paths(result):
    """The paths the command printed on stdout, one per line."""
    return [line for line in result.stdout.splitlines() if line.strip()]


def write_latents(G, folder, names, *, seed=0):
    """Save one W+ latent per name as folder/NAME.npy; returns {name: (path, w)}."""
    ws = sample_ws(G, len(names), seed)
    out = {}
    for name, w in zip(names, ws):
        np.save(folder / f"{name}.npy", w)
        out[name] = (folder / f"{name}.npy", w)
    return out


def check_record(latent_path, G, *, spec, command, inputs, shape=None):
    """Assert that the record beside `latent_path` names G (as `spec`), the command and its inputs."""
    import json

    record = json.loads(latent_path.with_suffix(".json").read_text())
    assert record["format"] == "stylegan-invert latent record" and record["schema_version"] == 1
    assert record["latent"] == latent_path.name
    assert record["generator"]["spec"] == str(spec)
    assert record["generator"]["fingerprint"] == G.source["fingerprint"]
    assert record["generator"]["sha256"] == G.source["sha256"] and record["generator"]["path"] == G.source["path"]
    assert record["generator"]["random"] == G.is_random
    assert record["command"] == command and record["inputs"] == [str(i) for i in inputs]
    assert record["shape"] == list(shape or [G.num_ws, G.w_dim]) and record["tuned"] is None
    return record


def read_animation(path):
    """Decoded frames of a GIF or MP4 as uint8 [T, H, W, 3]."""
    import imageio.v3 as iio

    frames = iio.imread(path, index=None) if str(path).endswith(".gif") else \
        np.stack(list(iio.imiter(path, plugin="FFMPEG")))
    return frames[..., :3]
