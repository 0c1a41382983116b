"""Images per hour of `stylegan-invert project` over a folder of photos, with and without DataLoader workers.

    python bench/dataset_throughput.py [--count 24] [--size 1536] [--generator random:64] [--steps 20]
                                       [--settings 0,4,4/1] [--repeats 2] [--device cpu] [--note "..."]

Each setting is a worker count, optionally with the main process's torch threads after a slash
(`4/1`: 4 workers, --threads 1; without it, torch's default).

Makes `count` copies of the astronaut test photo (upscaled to size x size, so that finding and aligning the
face costs what a camera photo's does), then runs the command as a user would, in a fresh process per run,
once per worker count and repeat, alternating the settings so that a change in the machine's load hits
each alike. Reports the wall time of the whole command (start-up, generator, alignment, optimisation,
writing) and images per hour; the first run of each setting in a fresh folder. Results go to
bench/results/dataset-throughput-<device>-<date>.{json,md}.
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
    args = parser.parse_args()

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
             "date": date, "note": args.note}
    best = {w: max(r["images_per_hour"] for r in runs if r["workers"] == w) for w in counts}  # w: "4/1"
    stem = HERE / "results" / f"dataset-throughput-{args.device.split(':')[0]}-{date}"
    stem.with_suffix(".json").write_text(json.dumps({"setup": setup, "runs": runs, "best": best}, indent=2) + "\n")
    lines = [f"# `project` over a folder: images per hour, {args.device}, {date}", "",
             f"{args.count} photos of {args.size}x{args.size} (the astronaut, upscaled; aligned with dlib), "
             f"generator `{args.generator}`, {args.steps} W+ steps, batch {args.batch_size}, random VGG16 weights; "
             f"{os.cpu_count()} CPU(s), torch {torch.__version__}. Wall time of the whole command, fresh process "
             f"per run, settings alternated.", ""]
    if args.note:
        lines += [args.note, ""]
    lines += ["| workers[/threads] | run | seconds | images/hour | load average before |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['workers']} | {r['repeat'] + 1} | {r['seconds']:.1f} | {r['images_per_hour']:,} | "
              f"{r['load_before'] if r['load_before'] is not None else ''} |" for r in runs]
    lines += ["", "Best of the runs: " + ", ".join(f"{w}: {best[w]:,} images/hour" for w in counts) + "."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"written to {stem}.md and .json")


if __name__ == "__main__":
    main()
