"""Data safety across the commands: outputs written exactly where named, never over an input, checked before
any work, streamed, with the umask's permissions; full disks, signals, warnings and memory as one clean line."""
import json
import os
import select
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from editing_helpers import RANDOM, error_line, load, reuse_generators, run, write_latents
from invert.cli import main
from test_fileio import read_only_folder

assert reuse_generators  # fixture, used by name


def hidden(folder):
    """Files a failed or half-done write could have left behind (the atomic writes' hidden files); the lock
    file that keeps two `project` runs out of one folder is meant to stay."""
    from invert.pipeline.run import LOCK_NAME

    return [p.name for p in folder.rglob(".*") if p.name != LOCK_NAME]


def unit_boundary(path, G):
    direction = np.random.default_rng(3).standard_normal([1, G.w_dim]).astype(np.float32)
    np.save(path, direction / np.linalg.norm(direction))
    return path


@pytest.fixture
def no_generator(monkeypatch):
    """Fail the test if a command loads its generator (the checks must come first)."""
    import invert.checkpoints

    def refuse(*args, **kwargs):
        raise AssertionError("the generator was loaded before the outputs were checked")

    monkeypatch.setattr(invert.checkpoints, "load_generator", refuse)


def editing_command(name, tmp_path, G):
    """The arguments of editing command `name` on latents written into tmp_path."""
    latents = write_latents(G, tmp_path, ["a", "b", "c"])
    a, b, c = (latents[k][0] for k in "abc")
    return {
        "edit": ["edit", a, "-g", RANDOM, "-b", unit_boundary(tmp_path / "smile.npy", G)],
        "morph": ["morph", a, b, "-g", RANDOM, "--frames", 3],
        "crossover": ["crossover", a, b, "-g", RANDOM, "--split", 4],
        "expression": ["expression", a, b, c, "-g", RANDOM],
    }[name]


@pytest.mark.parametrize("command", ["edit", "morph", "crossover", "expression"])
def test_out_with_an_upper_case_suffix_writes_exactly_that_file(tmp_path, command):
    G = load(RANDOM)
    out = tmp_path / "up" / "RESULT.NPY"
    result = run(*editing_command(command, tmp_path, G), "--out", out)
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (G.num_ws, G.w_dim)
    assert np.asarray(Image.open(tmp_path / "up" / "RESULT.png")).shape == (32, 32, 3)
    expected = sorted(["RESULT.NPY", "RESULT.json", "RESULT.png"] + (["RESULT.gif"] if command == "morph" else []))
    assert sorted(p.name for p in out.parent.iterdir()) == expected


def test_boundaries_train_out_with_an_upper_case_suffix(tmp_path):
    G = load(RANDOM)
    rng = np.random.default_rng(0)
    np.save(tmp_path / "codes.npy", rng.standard_normal([60, G.w_dim]).astype(np.float32))
    (tmp_path / "scores.csv").write_text("\n".join(str(v) for v in rng.standard_normal(60)) + "\n")
    out = tmp_path / "up" / "B.NPY"
    result = run("boundaries", "train", "-g", RANDOM, "--attribute", "x", "--latents", tmp_path / "codes.npy",
                 "--scores", tmp_path / "scores.csv", "--ratio", 0.25, "--out", out, "--no-register")
    assert result.exit_code == 0, result.output
    normal = np.load(out)
    assert normal.shape == (1, G.w_dim) and abs(np.linalg.norm(normal) - 1) < 1e-5
    assert len(list(out.parent.iterdir())) == 2 and not hidden(out.parent)  # the boundary and its sidecar


@pytest.mark.parametrize("command", ["edit", "morph", "crossover", "expression"])
def test_an_output_that_is_an_input_is_refused_even_with_force(tmp_path, command):
    G = load(RANDOM)
    args = editing_command(command, tmp_path, G)
    target = tmp_path / ("b.npy" if command in ("morph", "crossover", "expression") else "a.npy")
    before = target.read_bytes()
    message = error_line(run(*args, "--out", tmp_path / "sub" / ".." / target.name, "--force"))
    assert message == (f"Error: the output {tmp_path / 'sub' / '..' / target.name} would replace the input "
                       f"{target}; outputs never replace inputs, so write it under another name or into another "
                       f"folder")
    assert target.read_bytes() == before


def test_an_input_noise_file_is_an_input_too(tmp_path):
    """x.npy's noise output x_noise.npz is a hard link to the input a_noise.npz: the same file."""
    G = load(RANDOM)
    args = editing_command("edit", tmp_path, G)
    np.savez(tmp_path / "a_noise.npz", **{f"noise_{i}": np.zeros(s, np.float32)
                                          for i, s in enumerate(G.synthesis.noise_shapes())})
    os.link(tmp_path / "a_noise.npz", tmp_path / "x_noise.npz")
    message = error_line(run(*args, "--out", tmp_path / "x.npy", "--force"))
    assert message.startswith(f"Error: the output {tmp_path / 'x_noise.npz'} would replace the input "
                              f"{tmp_path / 'a_noise.npz'}")


def test_align_never_replaces_an_input_photo(tmp_path, astronaut_path):
    """The reproduction: a folder with me.png and me_aligned.png; me.png's output is me_aligned.png."""
    for name in ("me.png", "me_aligned.png"):
        Image.open(astronaut_path).save(tmp_path / name)
    before = (tmp_path / "me_aligned.png").read_bytes()
    result = CliRunner().invoke(main, ["align", str(tmp_path / "me.png"), str(tmp_path / "me_aligned.png"),
                                       "--force", "--size", "64"])
    assert result.exit_code == 1 and "would replace the input" in result.stderr
    assert (tmp_path / "me_aligned.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.png", "me_aligned.png"]


def test_generate_convert_and_boundaries_never_replace_their_inputs(tmp_path, no_generator):
    (tmp_path / "seed0000.png").write_bytes(b"a checkpoint that happens to be named like an output")
    message = error_line(run("generate", "-g", tmp_path / "seed0000.png", "--seeds", 0, "--outdir", tmp_path,
                             "--force"))
    assert "the output" in message and "would replace the input" in message
    (tmp_path / "g.pt").write_bytes(b"checkpoint")
    assert "would replace the input" in error_line(run("convert", tmp_path / "g.pt", tmp_path / "g.pt", "--force"))
    np.save(tmp_path / "codes.npy", np.zeros([4, 512], np.float32))
    (tmp_path / "scores.csv").write_text("1\n2\n3\n4\n")
    message = error_line(run("boundaries", "train", "-g", RANDOM, "--attribute", "x", "--latents",
                             tmp_path / "codes.npy", "--scores", tmp_path / "scores.csv", "--out",
                             tmp_path / "codes.npy", "--force"))
    assert "would replace the input" in message


@pytest.mark.parametrize("command", ["edit", "morph", "crossover", "expression", "generate", "convert",
                                     "boundaries"])
def test_unwritable_outputs_fail_before_the_generator_is_loaded(tmp_path, command, no_generator):
    G = load(RANDOM)
    (tmp_path / "afile").write_text("in the way")
    below_a_file = tmp_path / "afile" / "sub" / "x.npy"
    if command == "generate":
        args = ["generate", "-g", RANDOM, "--seeds", "0-3", "--outdir", below_a_file.parent]
        path = below_a_file.parent / "seed0000.png"
    elif command == "convert":
        args = ["convert", RANDOM, below_a_file]
        path = below_a_file
    elif command == "boundaries":
        args = ["boundaries", "train", "-g", RANDOM, "--attribute", "smile", "--out", below_a_file]
        path = below_a_file
    else:
        args = [*editing_command(command, tmp_path, G), "--out", below_a_file]
        path = below_a_file
    assert error_line(run(*args)) == f"Error: cannot write {path}: {tmp_path / 'afile'} is a file, not a folder"
    with read_only_folder(tmp_path / "ro") as folder:
        relocated = [str(a).replace(str(tmp_path / "afile"), str(folder)) for a in args]
        message = error_line(run(*relocated))
        assert f"{folder}, which is not writable (permission denied)" in message


def test_counts_and_sizes_are_bounded_before_any_work(tmp_path, no_generator):
    started = time.perf_counter()
    message = error_line(run("generate", "-g", RANDOM, "--seeds", "0-999999999", "--outdir", tmp_path))
    assert message == ("Error: seed list '0-999999999' asks for 1000000000 images; one run renders at most 100000 "
                       "(split the range over several runs)")
    assert time.perf_counter() - started < 5 and not list(tmp_path.iterdir())
    G = load(RANDOM)
    args = editing_command("edit", tmp_path, G)
    assert error_line(run(*args, "--sweep", "0:1:100000000")) == (
        "Error: --sweep '0:1:100000000': COUNT must be at most 10000 (got 100000000); an animation of more frames "
        "takes hours to render and gigabytes of disk")
    latents = [tmp_path / "a.npy", tmp_path / "b.npy"]
    morph = run("morph", *latents, "-g", RANDOM, "--frames", 100000000)
    assert morph.exit_code == 2 and "'--frames': 100000000 is not in the range 2<=x<=10000" in morph.stderr
    align = run("align", tmp_path / "a.png", "--size", 100000)
    assert align.exit_code == 2 and "'--size': 100000 is not in the range 8<=x<=4096" in align.stderr


def test_a_sweep_streams_its_frames(tmp_path):
    """Peak (numpy) memory of `edit --sweep` does not grow with the frame count: frames are rendered and
    written a batch at a time. Holding 400 frames' latents and images would take 7.7 MB here."""
    G = load(RANDOM)
    args = editing_command("edit", tmp_path, G)

    def peak(count):
        tracemalloc.start()
        result = run(*args, "--sweep", f"-2:2:{count}", "--out", tmp_path / f"s{count}.npy")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.exit_code == 0, result.output
        return peak

    peak(2)  # first use of the modules involved
    short, long = peak(10), peak(400)
    assert long < short + 500_000, (short, long)
    assert Image.open(tmp_path / "s400_sweep.gif").n_frames == 400


def _child_cli(args, cwd, *, umask=None, file_size_limit=None):
    code = ["import os, resource, sys"]
    if umask is not None:
        code.append(f"os.umask({umask})")
    if file_size_limit is not None:
        code.append(f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size_limit}, {file_size_limit}))")
    code.append("from invert.cli import main")
    code.append(f"main({[str(a) for a in args]!r}, prog_name='stylegan-invert')")
    return subprocess.run([sys.executable, "-c", "\n".join(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_outputs_get_the_umask_permissions_also_with_force(tmp_path):
    result = _child_cli(["generate", "-g", RANDOM, "--seeds", "0", "--outdir", "out"], tmp_path, umask=0o022)
    assert result.returncode == 0, result.stderr
    png = tmp_path / "out" / "seed0000.png"
    assert oct(png.stat().st_mode & 0o777) == "0o644"
    png.chmod(0o600)
    result = _child_cli(["generate", "-g", RANDOM, "--seeds", "0", "--outdir", "out", "--force"], tmp_path, umask=0o022)
    assert result.returncode == 0, result.stderr
    assert oct(png.stat().st_mode & 0o777) == "0o644"


def test_a_file_size_limit_is_one_clean_line_and_leaves_no_partial_file(tmp_path):
    G = load(RANDOM)
    write_latents(G, tmp_path, ["a", "b"])
    # the latent (16 KiB) and the PNG fit under 100 kB; a GIF of 300 frames of noise-like images does not
    result = _child_cli(["morph", "a.npy", "b.npy", "-g", RANDOM, "--frames", 300, "--out", "m.npy"], tmp_path,
                        file_size_limit=100_000)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == ("Error: cannot write m.gif: file too large (the file-size "
                                                      "limit is 100000 bytes)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy", "m.json", "m.npy", "m.png"]
    assert np.load(tmp_path / "m.npy").shape == (G.num_ws, G.w_dim)


def test_sigterm_saves_the_best_result_like_ctrl_c(tmp_path):
    """A batch scheduler stops a job with SIGTERM: `project` keeps and writes its best result, exit 143."""
    import fcntl
    import pty
    import re
    import struct
    import termios

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "r.png")
    master, slave = pty.openpty()  # a terminal for stderr, so the progress bar shows when the steps run
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm draws nothing 0 wide
    child = subprocess.Popen([sys.executable, "-m", "invert", "project", "r.png", "-g", RANDOM, "--no-align",
                              "--vgg-weights", "random", "--steps", "100000", "--outdir", "out"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 240
    try:
        while not re.search(rb"W\+.*\| *[1-9]\d*/100000", seen):  # the W+ bar after a step: the optimisation runs
            assert time.monotonic() < deadline and child.poll() is None, seen.decode(errors="replace")
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 4096)
        child.send_signal(signal.SIGTERM)
        while child.poll() is None:  # keep reading: a blocked terminal would stall the child
            if select.select([master], [], [], 0.5)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)
    stdout = child.stdout.read().decode()
    assert child.returncode == 143, (child.returncode, seen.decode(errors="replace"))
    assert b"interrupted after" in seen and "(interrupted)" in stdout
    out = tmp_path / "out"
    assert np.load(out / "r.npy").shape == (8, 512)
    assert np.asarray(Image.open(out / "r_proj.png")).shape == (32, 32, 3)
    metrics = json.loads((out / "r_metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["steps"]["w"] >= 1
    assert not hidden(out)
