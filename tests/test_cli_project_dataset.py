"""`stylegan-invert project` at dataset scale: folders of photos with bad ones among them, bounded memory,
runs killed and resumed, two runs into one folder, list files, and many processes through torchrun.

The generator is the 32x32 `tiny` fixture (or random:32) with random VGG16 weights and a few steps: these
tests are about what is written, skipped, resumed and shared, not about the optimisation.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from invert.cli import main
from invert.pipeline.run import LOCK_NAME

QUICK = ["--steps", "2", "--vgg-weights", "random"]
STATUS = re.compile(r'"status": "(\w+)"')


@pytest.fixture(scope="module")
def tiny(sg2_dir):
    return str(sg2_dir / "tiny_ada.pkl")


def invoke(*args):
    return CliRunner().invoke(main, ["project", *map(str, args)])


def write_astronaut(path, size, source):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(source).resize((size, size), Image.LANCZOS).save(path)


def make_dataset(root, source, *, good=35):
    """`good` copies of the astronaut photo at three sizes in nested folders, 3 broken files and 2 photos
    without a face -> (good paths, {bad path: the words its reason must contain})."""
    folders = ["", "a", "a/b", "c"]
    goods = []
    for i in range(good):
        path = root / folders[i % len(folders)] / f"face{i:02d}.{('png', 'jpg')[i % 2]}"
        write_astronaut(path, (200, 256, 320)[i % 3], source)
        goods.append(path)
    bad = {root / "empty.png": "cannot read image", root / "a" / "cut.png": "cannot read image",
           root / "c" / "notes.jpg": "cannot read image", root / "a" / "b" / "grey.png": "no face found",
           root / "gradient.png": "no face found"}
    (root / "empty.png").write_bytes(b"")
    (root / "a" / "cut.png").write_bytes((root / "face00.png").read_bytes()[:300])
    (root / "c" / "notes.jpg").write_text("not a photo")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(root / "a" / "b" / "grey.png")
    Image.fromarray(np.tile(np.linspace(0, 255, 96).astype(np.uint8)[None, :, None], (96, 1, 3))).save(
        root / "gradient.png")
    return goods, bad


def output_of(photo, root, out):
    return out / photo.parent.relative_to(root) / f"{photo.stem}.npy"


def manifest_rows(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def leftovers(folder):
    """Hidden files a failed or killed write could have left (the run's lock file is meant to stay)."""
    return [p.name for p in folder.rglob(".*") if p.name != LOCK_NAME]


def snapshot(folder):
    """{file: (inode, mtime)} of every output: a file written again gets a new inode (atomic writes)."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
            and p.suffix in (".npy", ".png", ".json") and p.name != "manifest.jsonl"}


@pytest.fixture(scope="module")
def astronaut(astronaut_path):
    from invert.images import load_rgb

    return load_rgb(astronaut_path)


def test_a_folder_with_bad_photos(tmp_path, tiny, astronaut):
    root, out = tmp_path / "photos", tmp_path / "out"
    goods, bad = make_dataset(root, astronaut)
    command = [root, "--recursive", "-g", tiny, *QUICK, "--batch-size", "8", "--workers", "2", "--outdir", out]
    result = invoke(*command)
    assert result.exit_code == 3, result.output
    # every good photo projected once, into its own sub-folder of --outdir
    written = sorted(out.rglob("*.npy"))
    assert written == sorted(output_of(p, root, out) for p in goods)
    assert len(result.stdout.splitlines()) == len(goods)
    for photo in goods:
        metrics = json.loads(output_of(photo, root, out).with_name(f"{photo.stem}_metrics.json").read_text())
        assert metrics["status"] == "projected" and metrics["input"] == str(photo)
        assert metrics["face_score"] > 1.0 and metrics["aligned"] is True
    # each bad one: one warning line with its reason
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == len(bad)
    for path, reason in bad.items():
        line = next(w for w in warnings if str(path) in w)
        assert reason in line and line.startswith("warning: skipped")
    assert result.stderr.strip().splitlines()[-1] == \
        f"40 input(s): 35 projected, 5 skipped, 0 failed; manifest {out / 'manifest.jsonl'}"
    # the manifest: one row per input, complete
    rows = manifest_rows(out)
    assert sorted(r["input"] for r in rows) == sorted(str(p) for p in [*goods, *bad])
    for r in rows:
        if r["status"] == "projected":
            assert (out / r["latent"]).is_file() and r["face_index"] == 0 and r["psnr"] > 5
            assert r["steps"] == {"w": 2, "noise": 0, "tune": 0} and r["seconds"] > 0 and r["reason"] is None
        else:
            assert r["status"] == "skipped" and r["latent"] is None and bad[Path(r["input"])] in r["reason"]
    assert not leftovers(out)

    # the same command again: nothing done twice, the bad ones reported again, the same exit code
    before = snapshot(out)
    again = invoke(*command)
    assert again.exit_code == 3, again.output
    assert again.stdout == "" and snapshot(out) == before
    assert again.stderr.strip().splitlines()[-1] == \
        f"40 input(s): 0 projected, 35 already projected, 5 skipped, 0 failed; manifest {out / 'manifest.jsonl'}"
    assert len(manifest_rows(out)) == 40


def test_memory_does_not_grow_with_the_number_of_inputs(tmp_path):
    """Peak Python/numpy memory (tracemalloc sees every numpy array: photos, targets, reconstructions) of a run
    over 40 photos is that of a run over 10: photos are read as they are needed and dropped once written.
    Holding every input's 128x128 target, as reading everything first would, costs 30 x 48 kB = 1.5 MB more;
    a 512x512 photo decoded is 0.75 MB."""
    rng = np.random.default_rng(0)

    def peak(count):
        folder = tmp_path / f"in{count}"
        folder.mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
        tracemalloc.start()
        result = invoke(folder, "-g", "random:128", "--no-align", "--steps", "0", "--perceptual-weight", "0",
                        "--vgg-weights", "random", "--batch-size", "4", "--workers", "0",
                        "--outdir", tmp_path / f"out{count}")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert result.exit_code == 0, result.output
        assert len(list((tmp_path / f"out{count}").glob("*.npy"))) == count
        return top

    peak(4)  # warm-up: caches, imports
    small, large = peak(10), peak(40)
    assert large - small < 750_000, (small, large)


def _child(args, cwd, **options):
    # one torch thread: on a machine busy with other work, threads spin-waiting for each other at every
    # parallel region make a run many times slower
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "invert", "project", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, **options)


def _finished(out):
    """Targets whose final metrics are written."""
    done = []
    for path in out.rglob("*_metrics.json"):
        try:
            match = STATUS.search(path.read_text())
        except OSError:
            continue
        if match and match.group(1) == "projected":
            done.append(path)
    return done


def _descendants(pid):
    """The processes started by `pid`, their children and so on (from /proc; torchrun puts its ranks in
    sessions of their own, so killing its process group would not reach them)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_when(out, child, count, *, tree=False):
    """SIGKILL `child` (and every process under it with `tree`: a crashed node) once `count` targets are
    written."""
    deadline = time.monotonic() + 240
    while len(_finished(out)) < count:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.02)
    for pid in (_descendants(child.pid) if tree else []) + [child.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.communicate(timeout=60)


def _random_photos(folder, count, *, size=40):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(count):
        paths.append(folder / f"r{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def _check_resumed(out, photos, before_kill):
    """Every photo projected exactly once, the ones finished before the kill untouched, nothing corrupt."""
    from invert.latents import ArrayFile

    rows = manifest_rows(out)
    assert sorted(r["input"] for r in rows) == sorted(p.name for p in photos)  # relative to the cwd
    assert all(r["status"] == "projected" for r in rows)
    for photo in photos:
        latent = out / f"{photo.stem}.npy"
        assert list(ArrayFile(latent).check(None)) == [8, 512]
        metrics = json.loads(latent.with_name(f"{photo.stem}_metrics.json").read_text())
        assert metrics["status"] == "projected"
        for name, path in metrics["outputs"].items():
            assert (out / os.path.basename(path)).stat().st_size > 0, name
        with Image.open(latent.with_name(f"{photo.stem}_proj.png")) as image:
            assert image.size == (32, 32)
    after = snapshot(out)
    for path, identity in before_kill.items():
        assert after[path] == identity, f"{path} was written again"
    assert not leftovers(out)


def test_a_killed_run_finishes_with_the_same_command(tmp_path):
    photos = _random_photos(tmp_path, 12)
    out = tmp_path / "out"
    command = [*[p.name for p in photos], "-g", "random:32", "--no-align", "--steps", "40", "--vgg-weights",
               "random", "--batch-size", "2", "--workers", "1", "--threads", "1", "--outdir", "out"]
    child = _child(command, tmp_path)
    _kill_when(out, child, 3)
    finished = {p.with_name(p.name.replace("_metrics.json", "")) for p in _finished(out)}
    assert 3 <= len(finished) < 12, "killed too late to test resuming"
    before = {path: identity for path, identity in snapshot(out).items()
              if path.name.split("_")[0].split(".")[0] in {f.name for f in finished}}
    rerun = subprocess.run([sys.executable, "-m", "invert", "project", *map(str, command)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert rerun.returncode == 0, rerun.stderr
    assert len(rerun.stdout.splitlines()) == 12 - len(finished)  # only the rest
    assert f"{len(finished)} already projected" in rerun.stderr
    _check_resumed(out, photos, before)


def test_two_runs_into_one_folder_are_refused(tmp_path):
    photos = _random_photos(tmp_path, 2)
    first = _child([photos[0].name, "-g", "random:32", "--no-align", "--steps", "100000", "--vgg-weights", "random",
                    "--outdir", "out"], tmp_path)
    try:
        deadline = time.monotonic() + 240
        while not list((tmp_path / "out").glob("*_metrics.json")):  # its claim: the run has started
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        second = invoke(tmp_path / photos[1].name, "-g", "random:32", "--no-align", *QUICK, "--outdir",
                        tmp_path / "out")
        assert second.exit_code == 1
        assert second.stderr.strip() == (f"Error: another stylegan-invert process is using the folder {tmp_path / 'out'} "
                                         f"(lock {tmp_path / 'out' / LOCK_NAME}); wait for it to finish or choose "
                                         "another folder")
        assert not (tmp_path / "out" / "r01.npy").exists()
        time.sleep(2)  # the first run optimises: a stop now saves its best result (before its first step there
        # is none, and its claim stays "started" for the next run to redo)
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143
    assert json.loads((tmp_path / "out" / "r00_metrics.json").read_text())["status"] == "interrupted"
    # once it is gone, the folder is free again
    assert invoke(tmp_path / photos[1].name, "-g", "random:32", "--no-align", *QUICK, "--outdir",
                  tmp_path / "out").exit_code == 0


def test_outputs_of_another_photo_with_the_same_name_are_never_taken_for_this_ones(tmp_path):
    """a/x.png projected into out/, then b/x.png (another photo, same size) into the same out/: its outputs would
    have the same names. It is refused, naming both, rather than counted as already projected; so is a.png
    edited since; --force projects it."""
    rng = np.random.default_rng(3)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / folder / "x.png")
    assert (tmp_path / "a" / "x.png").stat().st_size == (tmp_path / "b" / "x.png").stat().st_size
    out = tmp_path / "out"
    common = ["-g", "random:32", "--no-align", *QUICK, "--outdir", out]
    assert invoke(tmp_path / "a" / "x.png", *common).exit_code == 0
    first = np.load(out / "x.npy")
    index = (out / "manifest.jsonl").stat().st_ino
    other = invoke(tmp_path / "b" / "x.png", *common)
    assert other.exit_code == 1
    assert other.stderr.startswith(f"Error: {out / 'x_metrics.json'} exists: it was projected from another photo, "
                                   f"{tmp_path / 'a' / 'x.png'} (x.png, 4,")
    assert other.stderr.rstrip().endswith("pass --force to overwrite it")
    np.testing.assert_array_equal(np.load(out / "x.npy"), first)  # untouched
    assert (out / "manifest.jsonl").stat().st_ino == index  # a run refused before any work leaves the index be
    # the same photo again: already projected; edited since: refused too
    again = invoke(tmp_path / "a" / "x.png", *common)
    assert again.exit_code == 0 and again.stdout == ""
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "a" / "x.png")
    assert invoke(tmp_path / "a" / "x.png", *common).exit_code == 1
    forced = invoke(tmp_path / "b" / "x.png", *common, "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "x_metrics.json").read_text())["input"] == str(tmp_path / "b" / "x.png")


def test_the_same_command_from_another_folder_is_the_same_command(tmp_path, monkeypatch):
    """Files the results depend on (here the mask) count by name and content, not by the path typed: the
    same run typed with absolute paths finds its outputs complete; another mask, or another frame spacing
    of the animation, is another command."""
    photo = _random_photos(tmp_path, 1)[0]
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "mask.png")
    monkeypatch.chdir(tmp_path)
    common = ["-g", "random:32", "--no-align", *QUICK, "--gif", "--frame-every", "1"]
    assert invoke(photo.name, "--mask", "mask.png", *common, "--outdir", "out").exit_code == 0
    again = invoke(photo, "--mask", tmp_path / "mask.png", *common, "--outdir", tmp_path / "out")
    assert again.exit_code == 0 and again.stdout == ""
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(tmp_path / "mask.png")
    other = invoke(photo.name, "--mask", "mask.png", *common, "--outdir", "out")
    assert other.exit_code == 1 and "it was projected with other settings (mask_path" in other.stderr
    spacing = invoke(photo.name, *common[:-1], "2", "--outdir", "out2")
    assert spacing.exit_code == 0
    spaced = invoke(photo.name, *common, "--outdir", "out2")
    assert spaced.exit_code == 1 and "it was projected with other settings (video every 2 -> 1)" in spaced.stderr


def test_a_list_file_with_spaces_and_unicode(tmp_path, monkeypatch):
    data = tmp_path / "my data"
    names = ["holiday photo 1.png", "Zoë et été.png", "日本/写真 2.png"]
    for name, path in zip(names, _random_photos(tmp_path / "tmp", 3)):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, data / name)
    listing = data / "to do.txt"
    listing.write_text("# three photos\n" + "\n".join(names) + "\nmissing photo.png\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("--list", listing, "-g", "random:32", "--no-align", *QUICK, "--outdir", "out é")
    assert result.exit_code == 3, result.output  # the missing one is skipped
    out = tmp_path / "out é"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy")) == [
        "Zoë et été.npy", "holiday photo 1.npy", "日本/写真 2.npy"]
    assert f"warning: skipped: image not found: {data / 'missing photo.png'}" in result.stderr
    rows = manifest_rows(out)
    assert {r["input"]: r["status"] for r in rows} == {
        **{str(data / n): "projected" for n in names}, str(data / "missing photo.png"): "skipped"}
    assert json.loads((out / "日本" / "写真 2.json").read_text(encoding="utf-8"))["inputs"] == [str(data / names[2])]


def test_an_output_that_would_replace_an_input_photo_skips_that_photo(tmp_path):
    """A folder with me.png and me_aligned.png: me.png's aligned target would be me_aligned.png, an input."""
    for name in ("me.png", "me_aligned.png"):
        _random_photos(tmp_path / "tmp", 1)[0].rename(tmp_path / name)
    before = (tmp_path / "me_aligned.png").read_bytes()
    result = invoke(tmp_path / "me.png", tmp_path / "me_aligned.png", "-g", "random:32", "--no-align", *QUICK,
                    "--force")
    assert result.exit_code == 3
    assert (f"warning: skipped {tmp_path / 'me.png'}: its output {tmp_path / 'me_aligned.png'} would replace the "
            f"input {tmp_path / 'me_aligned.png'}; outputs never replace inputs") in result.stderr
    assert (tmp_path / "me_aligned.png").read_bytes() == before
    assert (tmp_path / "me_aligned.npy").exists() and not (tmp_path / "me.npy").exists()


# --- torchrun -----------------------------------------------------------------------------------------


def _torchrun(args, cwd, ranks=2, **options):
    """torchrun on this machine's CPUs (gloo), in a process group of its own (so it can be killed whole)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}",
               "-m", "invert", "project", *map(str, args)]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True, text=True, **options)


def test_torchrun_shares_the_inputs_between_two_processes(tmp_path):
    photos = _random_photos(tmp_path / "in", 12)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG broken")
    child = _torchrun(["in", "-g", "random:32", "--no-align", *QUICK, "--batch-size", "2", "--workers", "1",
                       "--device", "cpu", "--outdir", "out"], tmp_path)
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode != 0, stderr  # rank 0 exits 3 (one skipped); torchrun reports it as a failure
    assert "exitcode  : 3" in stderr
    out = tmp_path / "out"
    # each input once, the union complete
    assert sorted(line.split()[0] for line in stdout.splitlines()) == sorted(f"out/{p.stem}.npy" for p in photos)
    rows = manifest_rows(out)
    assert sorted(r["input"] for r in rows) == sorted([f"in/{p.name}" for p in photos] + ["in/broken.png"])
    ranks = [r["rank"] for r in rows]
    assert (ranks.count(0), ranks.count(1)) == (7, 6)  # 13 inputs: balanced shares
    assert not (out / "manifest.d").exists()  # merged
    # rank 0 prints the combined summary, once
    summaries = [line for line in stderr.splitlines() if line.startswith("13 input(s)")]
    assert summaries == ["13 input(s): 12 projected, 1 skipped, 0 failed; manifest out/manifest.jsonl (all ranks)"]
    assert not leftovers(out)


def test_a_killed_two_rank_run_resumes_with_one_process(tmp_path):
    photos = _random_photos(tmp_path, 12)
    out = tmp_path / "out"
    command = [*[p.name for p in photos], "-g", "random:32", "--no-align", "--steps", "60", "--vgg-weights", "random",
               "--batch-size", "1", "--workers", "0", "--threads", "1", "--device", "cpu", "--outdir", "out"]
    child = _torchrun(command, tmp_path)
    _kill_when(out, child, 3, tree=True)
    finished = {p.name.replace("_metrics.json", "") for p in _finished(out)}
    assert 3 <= len(finished) < 12, "killed too late to test resuming"
    assert list((out / "manifest.d").glob("*.jsonl")), "the killed ranks' rows are in their part files"
    before = {path: identity for path, identity in snapshot(out).items()
              if path.name.split("_")[0].split(".")[0] in finished}
    rerun = subprocess.run([sys.executable, "-m", "invert", "project", *map(str, command)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert rerun.returncode == 0, rerun.stderr
    assert len(rerun.stdout.splitlines()) == 12 - len(finished)
    _check_resumed(out, photos, before)
    assert not (out / "manifest.d").exists()


def test_sigterm_stops_every_rank_cleanly(tmp_path):
    """A scheduler stopping a torchrun job sends SIGTERM; torchrun forwards it to every rank, and each writes
    the batch it is optimising with its best result so far, then leaves without waiting for the others."""
    photos = _random_photos(tmp_path, 6)
    out = tmp_path / "out"
    child = _torchrun([*[p.name for p in photos], "-g", "random:32", "--no-align", "--steps", "100000",
                       "--vgg-weights", "random", "--batch-size", "1", "--workers", "0", "--device", "cpu",
                       "--outdir", "out"], tmp_path)
    deadline = time.monotonic() + 240
    while len(list(out.glob("*_metrics.json"))) < 2:  # both ranks have claimed their first photo
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    time.sleep(1)  # a few steps
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=180)
    assert child.returncode != 0
    written = sorted(out.glob("*_metrics.json"))
    assert len(written) == 2
    for path in written:
        metrics = json.loads(path.read_text())
        assert metrics["status"] == "interrupted" and metrics["steps"]["w"] >= 1
        assert np.load(path.with_name(path.name.replace("_metrics.json", ".npy"))).shape == (8, 512)
    assert stderr.count("Interrupted: saved the best result so far for 1 image(s); 2 not projected") == 2
    assert sorted(line.split()[-1] for line in stdout.splitlines()) == ["(interrupted)"] * 2
    rows = [json.loads(line) for part in (out / "manifest.d").glob("*.jsonl") for line in part.read_text().splitlines()]
    assert sorted(r["rank"] for r in rows) == [0, 1] and {r["status"] for r in rows} == {"interrupted"}
    assert not leftovers(out)


def test_an_unusable_output_folder_fails_before_the_generator_is_loaded(tmp_path, monkeypatch):
    import invert.checkpoints

    from test_fileio import read_only_folder

    def refuse(*args, **kwargs):
        raise AssertionError("the generator was loaded before the output folder was checked")

    monkeypatch.setattr(invert.checkpoints, "load_generator", refuse)
    photo = _random_photos(tmp_path, 1)[0]
    (tmp_path / "afile").write_text("in the way")
    result = invoke(photo, "-g", "random:32", "--no-align", *QUICK, "--outdir", tmp_path / "afile" / "sub")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: cannot write {tmp_path / 'afile' / 'sub' / 'manifest.jsonl'}: "
                                     f"{tmp_path / 'afile'} is a file, not a folder")
    with read_only_folder(tmp_path / "ro") as folder:
        result = invoke(photo, "-g", "random:32", "--no-align", *QUICK, "--outdir", folder)
        assert result.exit_code == 1 and "which is not writable (permission denied)" in result.stderr


def test_a_progress_bar_over_the_whole_run_on_a_terminal(tmp_path):
    """On a terminal, stderr shows photos settled / total with a rate and an ETA (tqdm); not in a pipe."""
    import fcntl
    import pty
    import struct
    import termios

    photos = _random_photos(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    child = subprocess.Popen([sys.executable, "-m", "invert", "project", *[p.name for p in photos], "broken.png",
                              "-g", "random:32", "--no-align", *QUICK, "--threads", "1", "--outdir", "out"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    child.wait(timeout=240)
    os.close(master)
    text = seen.decode(errors="replace")
    assert child.returncode == 3, text
    assert re.search(r"photos: +100%\|.*\| 4/4 \[", text), text  # the whole run: 3 projected + 1 skipped
    assert re.search(r"photos: +\d+%\|.*\| [0-3]/4 \[.*<", text), text  # on the way, with the time left
    assert "warning: skipped: cannot read image broken.png" in text
    quiet = subprocess.run([sys.executable, "-m", "invert", "project", photos[0].name, "-g", "random:32",
                            "--no-align", *QUICK, "--threads", "1", "--outdir", "piped"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=240)
    assert quiet.returncode == 0 and "photos" not in quiet.stderr and "%|" not in quiet.stderr
