"""Images per hour of `stylegan-invert project` over a folder of photos, with and without DataLoader workers.

    python bench/dataset_throughput.py [--count 24] [--size 1536] [--generator random:64] [--steps 20]
                                       [--settings 0,4,4/1] [--repeats 2] [--device cpu] [--note "..."]

Each setting is a worker count, optionally with the main process's torch threads after a slash
(`4/1`: 4 workers, --threads 1; without it, torch's default).

Makes `count` copies of the astronaut test photo (upscaled to size x size, so that finding and aligning the
face costs what a camera photo's does), then runs the command as a user would, in a fresh process per run,
once per worker count and repeat, alternating the settings so that a change in the machine's load hits
each alike. Reports the wall time of the whole command (start-up, generator, alignment, optimisation,
writing), images per hour and the speed-up against the first setting's run of the same repeat; every run
in a fresh folder. Results go to bench/results/dataset-throughput-<device>-<date>.{json,md};
`--report JSON` rewrites the .md of an earlier run.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def astronaut_photo():
    """The fixtures' astronaut photo, found as the tests find the fixtures (quality.fixtures_dir)."""
    sys.path.insert(0, str(HERE))
    from quality import fixtures_dir

    return fixtures_dir().parent / "images" / "astronaut.png"


def make_photos(folder, count, size, source):
    from PIL import Image

    folder.mkdir(parents=True)
    with Image.open(source) as photo:
        big = photo.convert("RGB").resize((size, size), Image.LANCZOS)
    for i in range(count):
        big.save(folder / f"photo{i:03d}.jpg", quality=92)


def run_once(photos, out, args, setting):
    workers, _, threads = setting.partition("/")
    command = [sys.executable, "-m", "invert", "-q", "project", str(photos), "-g", args.generator, "--steps",
               str(args.steps), "--batch-size", str(args.batch_size), "--workers", workers, "--vgg-weights",
               "random", "--device", args.device, "--outdir", str(out)] + (["--threads", threads] if threads else [])
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return seconds


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--size", type=int, default=1536)
    parser.add_argument("--generator", default="random:64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--settings", default="0,4,4/1")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--photo", help="the photo to copy (default: the fixtures' astronaut.png)")
    parser.add_argument("--note", default="")
    parser.add_argument("--report", metavar="JSON", help="only rewrite the .md of an earlier run's .json")
    args = parser.parse_args()
    if args.report:
        data = json.loads(Path(args.report).read_text())
        Path(args.report).with_suffix(".md").write_text(report(data["setup"], data["runs"]))
        return

    counts = args.settings.split(",")
    scratch = Path(tempfile.mkdtemp(prefix="throughput-"))
    try:
        photos = scratch / "photos"
        make_photos(photos, args.count, args.size, args.photo or astronaut_photo())
        runs = []
        for repeat in range(args.repeats):
            for workers in counts:
                load = load_average()
                seconds = run_once(photos, scratch / f"out-{workers.replace('/', '-')}-{repeat}", args, workers)
                runs.append({"workers": workers, "repeat": repeat, "seconds": round(seconds, 2),
                             "images_per_hour": round(args.count * 3600 / seconds), "load_before": load})
                print(f"workers/threads {workers}, run {repeat + 1}: {seconds:.1f} s, {args.count * 3600 / seconds:.0f} "
                      f"images/hour (load average {load})", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    import torch

    date = datetime.date.today().isoformat()
    setup = {"count": args.count, "size": args.size, "generator": args.generator, "steps": args.steps,
             "batch_size": args.batch_size, "device": args.device, "cpus": os.cpu_count(),
             "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
             "date": date, "note": args.note, "settings": counts}
    stem = HERE / "results" / f"dataset-throughput-{args.device.split(':')[0]}-{date}"
    stem.with_suffix(".json").write_text(json.dumps({"setup": setup, "runs": runs}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(report(setup, runs))
    print(f"written to {stem}.md and .json")


def report(setup, runs):
    """The Markdown table of one benchmark run: each run's time and its speed relative to the run with the
    first setting (the baseline, normally --workers 0) of the same repeat."""
    counts = setup["settings"]
    baseline = {r["repeat"]: r["seconds"] for r in runs if r["workers"] == counts[0]}
    lines = [f"# `project` over a folder: images per hour, {setup['device']}, {setup['date']}", "",
             f"{setup['count']} photos of {setup['size']}x{setup['size']} (the astronaut, upscaled; aligned with "
             f"dlib), generator `{setup['generator']}`, {setup['steps']} W+ steps, batch {setup['batch_size']}, "
             f"random VGG16 weights; {setup['cpus']} CPU(s), torch {setup['torch']}. Wall time of the whole "
             "command, fresh process per run, settings alternated; speed-up against the same repeat's "
             f"`--workers {counts[0]}` run.", ""]
    if setup.get("note"):
        lines += [setup["note"], ""]
    lines += ["| workers[/threads] | run | seconds | images/hour | speed-up | load average before |",
              "|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        load = f"{r['load_before']:.2f}" if r["load_before"] is not None else ""
        lines.append(f"| {r['workers']} | {r['repeat'] + 1} | {r['seconds']:.1f} | {r['images_per_hour']:,} | "
                     f"{baseline[r['repeat']] / r['seconds']:.2f}x | {load} |")
    ratios = {w: [baseline[r["repeat"]] / r["seconds"] for r in runs if r["workers"] == w] for w in counts}
    lines += ["", "Speed-up range per setting: " + ", ".join(
        f"{w}: {min(v):.2f}-{max(v):.2f}x" for w, v in ratios.items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
