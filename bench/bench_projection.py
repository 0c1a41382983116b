"""Projection benchmark: seconds per step, images per hour, memory and quality, fast paths vs baseline.

    python bench/bench_projection.py                 # CPU-sized run (a few minutes): 64² and 128², batch 1 and 4
    python bench/bench_projection.py --full          # GPU: FFHQ config-f at 1024² and a 256² net, batch 1, 4, 16

Every figure is measured in the same run against the baseline: the straightforward float32 eager loop
(bench/baseline.py: one image at a time, target resized and passed through VGG at every step) on the
same network. Generators have random weights of the official shapes (`random:ffhq-1024` is config-f:
1024², 18x512); projection costs exactly what it costs with trained weights. VGG16 uses torchvision's
ImageNet weights when they are on disk, else seeded random weights (same cost; noted in the results).

Speed: per configuration, `--warmup` steps are run and discarded, then `--steps` steps are timed one
by one (CUDA synchronised); the figure is the median step over `--repeats` runs. Images per hour assume
1000 W+ steps per image. Memory is CUDA's max_memory_allocated on a GPU; on the CPU it is the largest
growth of the resident set during the run (warm-up included, sampled every 2 ms) above what the process
already held, so memory kept by glibc from an earlier path is not counted again: not a peak. The first
step of a path is reported on its own: compiling and capturing CUDA graphs happen there, and a user pays
them once per run.

Quality: each path projects the same in-domain targets (rendered from random W+ codes by the same
generator and quantised to 8 bits, so they are exactly reachable) for `--quality-steps` steps from the
same start as the baseline; the table reports PSNR on the 8-bit images and its difference from the
baseline. A path that loses more than 0.1 dB must stay off by default.

Huge pages (CPU): "+ huge pages" is THP_MEM_ALLOC_ENABLE=1 (invert/hugepages.py; off by default).
PyTorch reads it once per process, so this process measures everything else without it and those
paths run in a child process that rebuilds the same generator, targets and VGG.

Results go to bench/results/<device kind>-<date>.json and .md (or --name), and bench/results/latest-<device kind>.md.
They are rewritten after every measurement, so a run that is cut short keeps what it measured; with
`--budget-minutes`, nothing new starts once the budget is spent and the results list what was skipped.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

# PyTorch reads THP_MEM_ALLOC_ENABLE at its first allocation, once per process: this process measures
# with the default allocator, and paths that need huge pages run in a child process (see PROCESS_ENV).
if "--child" not in sys.argv:
    os.environ["THP_MEM_ALLOC_ENABLE"] = "0"
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import baseline_project_one  # noqa: E402

from invert.checkpoints import load_generator  # noqa: E402
from invert.devices import resolve_device  # noqa: E402
from invert.images import from_uint8, to_uint8  # noqa: E402
from invert.losses import VGGPerceptual  # noqa: E402
from invert.metrics import psnr  # noqa: E402
from invert.networks import vgg16  # noqa: E402
from invert.projector import project, render  # noqa: E402
from invert import vgg_weights  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
QUALITY_TOLERANCE_DB = 0.1

# name -> project() keyword options; each path adds one switch to the batched fp32 path.
PATHS = {
    "batched fp32": {},
    "+ channels_last": {"channels_last": True},
    "+ tf32": {"tf32": True},
    "+ bf16 autocast": {"amp": "bf16"},
    "+ fp16 autocast": {"amp": "fp16"},
    "+ huge pages": {},
    "bf16 + channels_last + huge pages": {"amp": "bf16", "channels_last": True},
    # compiling is slow: these come last, so that a run cut short by --budget-minutes has the rest
    "+ compile": {"compile": True},
    "+ compile, CUDA graphs": {"compile": "reduce-overhead"},
    "bf16 + channels_last + compile": {"amp": "bf16", "channels_last": True, "compile": True},
}
CUDA_ONLY = {"+ tf32", "+ fp16 autocast", "+ compile, CUDA graphs"}
# Paths that differ in a process-wide setting read once at start-up; they are measured in a child process.
PROCESS_ENV = {name: {"THP_MEM_ALLOC_ENABLE": "1"} for name in PATHS if name.endswith("huge pages")}
CPU_ONLY = set(PROCESS_ENV)  # huge pages concern PyTorch's CPU allocator only


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or sampled resident-set growth on the CPU."""

    def __init__(self, device):
        self.device, self.peak = device, 0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self.start = _rss()
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, _rss() - self.start)
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self.running = False
            self.thread.join()
            self.peak = max(self.peak, _rss() - self.start)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class StepTimer:
    """Records the wall time of every step (synchronising CUDA) through a step callback."""

    def __init__(self, device):
        self.device, self.times = device, []
        self.last = None

    def start(self):
        self._sync()
        self.last = time.perf_counter()

    def __call__(self, *args):
        self._sync()
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def median(self, skip):
        return statistics.median(self.times[skip:])


def make_targets(G, count, seed):
    """In-domain targets: renders of random W+ codes (a different mapped z per layer, psi 0.7), 8-bit."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn([count * G.num_ws, G.z_dim], generator=g).to(G.w_avg.device)
    with torch.no_grad():
        ws = G.mapping(z, truncation_psi=0.7)[:, 0].reshape(count, G.num_ws, G.w_dim)
        return to_uint8(render(G, ws))


def time_baseline(G, vgg, target, *, warmup, steps, repeats, device):
    """Median seconds of one baseline step for one image, its peak memory, and its first step's seconds."""
    medians, peak, first = [], 0, None
    target_t = torch.from_numpy(from_uint8(target)).to(device)
    for _ in range(repeats):
        timer = StepTimer(device)
        with PeakMemory(device) as mem:
            timer.start()
            baseline_project_one(G, vgg, target_t, num_steps=warmup + steps, callback=timer)
        medians.append(timer.median(warmup))
        peak = max(peak, mem.peak)
        first = timer.times[0] if first is None else first
    return statistics.median(medians), peak, first


def time_path(G, perceptual, targets, options, *, warmup, steps, repeats, device):
    """Median seconds of one step of `project` on the whole batch `targets`, its peak memory, and the
    seconds of the very first step (compiling or capturing CUDA graphs happens there)."""
    medians, peak, first = [], 0, None
    for _ in range(repeats):
        timer = StepTimer(device)
        with PeakMemory(device) as mem:
            timer.start()
            project(G, targets, num_steps=warmup + steps, perceptual=perceptual, callback=timer, **options)
        medians.append(timer.median(warmup))
        peak = max(peak, mem.peak)
        first = timer.times[0] if first is None else first
    return statistics.median(medians), peak, first


def baseline_quality(G, vgg, targets, *, steps, device):
    """PSNR (8-bit) after `steps` W+ steps of the baseline, one image at a time."""
    baseline_ws = torch.cat([baseline_project_one(G, vgg, torch.from_numpy(from_uint8(t)).to(device),
                                                  num_steps=steps) for t in targets])
    return _psnr_of(G, baseline_ws, targets)


def path_quality(G, perceptual, targets, name, *, steps):
    """PSNR (8-bit) after `steps` W+ steps of path `name` on the whole batch `targets`."""
    result = project(G, targets, num_steps=steps, perceptual=perceptual, **PATHS[name])
    return _psnr_of(G, result.ws, targets)


def measure_path(G, perceptual, targets, name, job):
    """Every measurement of one path: {'batches': {B: [seconds, peak]}, 'psnr': dB or None}."""
    device = G.w_avg.device
    timings = {}
    for batch in job["batches"]:
        try:
            timings[batch] = time_path(G, perceptual, targets[:batch], PATHS[name], warmup=job["warmup"],
                                       steps=job["steps"], repeats=job["repeats"], device=device)
        except Exception as exc:  # noqa: BLE001 - a path unsupported here is reported, not fatal
            timings[batch] = f"{type(exc).__name__}: {exc}"
    score = None
    if job["quality_steps"] and not any(isinstance(t, str) for t in timings.values()):
        score = path_quality(G, perceptual, targets[:job["quality_images"]], name, steps=job["quality_steps"])
    return {"batches": timings, "psnr": score}


def measure_in_child(name, job):
    """measure_path in a fresh process with PROCESS_ENV[name] set (the parent keeps its own settings)."""
    env = dict(os.environ, **PROCESS_ENV[name])
    completed = subprocess.run([sys.executable, __file__, "--child", json.dumps(dict(job, path=name))],
                               env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"batches": {b: f"child process failed: {last}" for b in job["batches"]}, "psnr": None}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"batches": {int(b): v for b, v in result["batches"].items()}, "psnr": result["psnr"]}


def child_main(job):
    """Entry point of the child process: rebuild the same generator, targets and VGG, measure, print JSON."""
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    device = resolve_device(job["device"])
    G = load_generator(job["spec"], device=device, verbose=False)
    targets = make_targets(G, job["target_count"], seed=1)
    _, perceptual, _ = perceptual_network(device)
    print(json.dumps(measure_path(G, perceptual, targets, job["path"], job)))


def _psnr_of(G, ws, targets):
    reconstructions = to_uint8(render(G, ws.to(G.w_avg.device)))
    return float(np.mean([psnr(r, t) for r, t in zip(reconstructions, targets)]))


def perceptual_network(device):
    try:
        state, info = vgg_weights.load_state(None, download=False)
    except Exception:  # noqa: BLE001 - no file on disk: random weights cost the same
        state, info = vgg_weights.load_state("random:0")
    vgg = vgg16.build_features(state, info=info, device=device)
    return vgg, VGGPerceptual(vgg), info


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {torch.get_num_threads()} threads"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--full", action="store_true", help="1024² config-f and 256², batch 1, 4, 16")
    parser.add_argument("--generators", help="comma-separated random:NAME generators (overrides the preset)")
    parser.add_argument("--batches", help="comma-separated batch sizes (overrides the preset)")
    parser.add_argument("--paths", help="comma-separated path names to measure (default: all that apply)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quality-steps", type=int, default=None)
    parser.add_argument("--quality-images", type=int, default=None)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--note", default="", help="a remark stored with the results (e.g. machine load)")
    parser.add_argument("--budget-minutes", type=float,
                        help="start no new measurement after this many minutes (the results say what was skipped)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", help="results file stem (default: <device kind>-<date>)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one path's measurements, as JSON
    return parser, parser.parse_args()


def plan(parser, args, device):
    """The presets for `device`, overridden by the arguments -> dict of what to measure and how."""
    gpu, cpu = device.type == "cuda", device.type == "cpu"
    full = args.full
    paths = [p for p in (args.paths.split(",") if args.paths else PATHS)
             if (gpu or p not in CUDA_ONLY) and (cpu or p not in CPU_ONLY)]
    if not gpu:  # torch.compile on a 2-core CPU spends minutes compiling; measure it only when asked
        paths = [p for p in paths if args.paths or "compile" not in p]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {', '.join(unknown)}; choose from: {', '.join(PATHS)}")
    # GPU preset: sized so that 1024² with every path fits a few minutes of a lent machine (bench/gpu_run.sh)
    return {
        "generators": (args.generators.split(",") if args.generators
                       else ["random:ffhq-1024", "random:256"] if full else ["random:64", "random:128"]),
        "batches": [int(b) for b in args.batches.split(",")] if args.batches else ([1, 4, 16] if full else [1, 4]),
        "warmup": args.warmup if args.warmup is not None else (5 if gpu else 2),
        "steps": args.steps or (20 if gpu else 4),
        "repeats": args.repeats or (2 if gpu else 1),
        "quality_steps": 0 if args.no_quality else (args.quality_steps or (200 if gpu else 30)),
        "quality_images": args.quality_images or (4 if gpu else 2),
        "paths": paths,
    }


def main():
    parser, args = parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        # PyTorch allows TF32 in cuDNN convolutions by default; the projector runs strict float32 unless
        # asked (tf32=True), so the baseline must too, or it would be timed at TF32 speed.
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    config = plan(parser, args, device)
    vgg, perceptual, vgg_info = perceptual_network(device)
    report = {
        "device": device_name(device), "device_type": device.type, "torch": torch.__version__,
        "python": platform.python_version(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "vgg_weights": vgg_info["source"], "warmup": config["warmup"], "steps": config["steps"],
        "repeats": config["repeats"], "quality_steps": config["quality_steps"], "note": args.note, "rows": [],
        "quality": [], "skipped": [],
    }
    deadline = time.monotonic() + args.budget_minutes * 60 if args.budget_minutes else None

    def out_of_time(spec, what):
        if deadline is not None and time.monotonic() > deadline:
            report["skipped"].append(f"{spec}: {what}")
            print(f"  skipped (time budget spent): {what}", flush=True)
            return True
        return False

    for spec in config["generators"]:
        if not out_of_time(spec, "everything"):
            measure_generator(spec, device, vgg, perceptual, config, report, out_of_time, args)
    write_results(report, Path(args.out), name=args.name)


def measure_generator(spec, device, vgg, perceptual, config, report, out_of_time, args):
    """The baseline and every path of `config` on generator `spec`, the results rewritten after each."""
    batches, quality_images = config["batches"], config["quality_images"]
    G = load_generator(spec, device=device, verbose=False)
    target_count = max(max(batches), quality_images)
    targets = make_targets(G, target_count, seed=1)
    print(f"{spec}: {G.resolution}², {G.num_ws}x{G.w_dim}", flush=True)
    baseline = time_baseline(G, vgg, targets[0], warmup=config["warmup"], steps=config["steps"],
                             repeats=config["repeats"], device=device)
    base_step = baseline[0]
    print(f"  baseline fp32 eager {base_step * 1000:8.1f} ms/image-step", flush=True)
    reference = None
    if config["quality_steps"]:
        reference = baseline_quality(G, vgg, targets[:quality_images], steps=config["quality_steps"], device=device)
        print(f"  quality {'baseline fp32 eager':<34} {reference:6.2f} dB", flush=True)
    job = {"spec": spec, "device": str(device), "threads": torch.get_num_threads(), "batches": batches,
           "warmup": config["warmup"], "steps": config["steps"], "repeats": config["repeats"],
           "target_count": target_count, "quality_steps": config["quality_steps"], "quality_images": quality_images}
    measured = {}
    add_generator_results(report, spec, G, batches, baseline, reference, measured, quality_images)
    write_results(report, Path(args.out), name=args.name, quiet=True)
    for name in config["paths"]:
        if out_of_time(spec, name):
            continue
        measured[name] = (measure_in_child(name, job) if name in PROCESS_ENV
                          else measure_path(G, perceptual, targets, name, job))
        print_path(name, measured[name], batches, base_step, reference)
        add_generator_results(report, spec, G, batches, baseline, reference, measured, quality_images)
        write_results(report, Path(args.out), name=args.name, quiet=True)
    del G
    if device.type == "cuda":
        torch.cuda.empty_cache()


def print_path(name, result, batches, base_step, reference):
    for batch in batches:
        timing = result["batches"][batch]
        if isinstance(timing, str):
            print(f"  batch {batch:>2}  {name:<34} failed: {timing}", flush=True)
        else:
            print(f"  batch {batch:>2}  {name:<34} {timing[0] / batch * 1000:8.1f} ms/image-step "
                  f"x{base_step * batch / timing[0]:.2f}", flush=True)
    if result["psnr"] is not None and reference is not None:
        print(f"  quality {name:<34} {result['psnr']:6.2f} dB ({result['psnr'] - reference:+.2f})", flush=True)


def add_generator_results(report, spec, G, batches, baseline, reference, measured, quality_images):
    """(Re)write the rows and quality entries of generator `spec` from what has been measured so far;
    `baseline` is time_baseline's (seconds per step, peak memory, first step)."""
    report["rows"] = [r for r in report["rows"] if r["generator"] != spec]
    report["quality"] = [q for q in report["quality"] if q["generator"] != spec]
    base_step, base_mem, base_first = baseline
    for batch in batches:
        base = base_step * batch  # the baseline projects one image at a time
        report["rows"].append(_row(spec, G, batch, "baseline fp32 eager", (base, base_mem, base_first), base,
                                   batch))
        for name, result in measured.items():
            timing = result["batches"][batch]
            if not isinstance(timing, str):
                report["rows"].append(_row(spec, G, batch, name, timing, base, batch))
    if reference is None:
        return
    scores = {"baseline fp32 eager": reference}
    scores.update({name: m["psnr"] for name, m in measured.items() if m["psnr"] is not None})
    for name, value in scores.items():
        delta = value - reference
        report["quality"].append({"generator": spec, "path": name, "steps": report["quality_steps"],
                                  "images": quality_images, "psnr_db": round(value, 3), "delta_db": round(delta, 3),
                                  "keeps_quality": delta >= -QUALITY_TOLERANCE_DB})


def _row(spec, G, batch, name, timing, baseline_seconds, batch_size):
    seconds, memory, first = timing
    return {"generator": spec, "resolution": G.resolution, "batch": batch, "path": name,
            "seconds_per_step": round(seconds, 5), "ms_per_image_step": round(seconds / batch_size * 1000, 2),
            "images_per_hour_at_1000_steps": round(3600 / (seconds * 1000 / batch_size), 2),
            "peak_memory_mb": round(memory / 2 ** 20, 1), "speedup_vs_baseline": round(baseline_seconds / seconds, 3),
            "first_step_s": round(first, 3)}


def write_results(report, outdir, *, name=None, quiet=False):
    outdir.mkdir(parents=True, exist_ok=True)
    kind = report["device_type"]
    stem = name or f"{kind}-{report['date'][:10]}"
    (outdir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (outdir / f"{stem}.md").write_text(markdown)
    (outdir / f"latest-{kind}.md").write_text(markdown)
    if not quiet:
        print(f"wrote {outdir / f'{stem}.json'} and .md")


def to_markdown(report):
    lines = [f"# Projection benchmark: {report['device']}", "",
             f"torch {report['torch']}, Python {report['python']}, {report['date']}. "
             f"Median of {report['repeats']} run(s) of {report['steps']} timed steps after {report['warmup']} "
             f"warm-up steps. VGG16 weights: {report['vgg_weights']}. Generators have random weights of the "
             "official shapes (same cost as trained ones). Images/hour assume 1000 W+ steps per image. Memory: "
             "CUDA's peak allocation on a GPU; on a CPU the resident-set growth during the run, above what the "
             "process already held (not a peak). First step: "
             "seconds of a path's very first step (compiling and CUDA-graph capture happen there), outside the "
             "per-step figures."
             + (f" Note: {report['note']}" if report.get("note") else ""), "",
             "| generator | batch | path | ms per image-step | images/hour | memory (MB) | speed-up | "
             "first step (s) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for row in report["rows"]:
        lines.append(f"| {row['generator']} ({row['resolution']}²) | {row['batch']} | {row['path']} | "
                     f"{row['ms_per_image_step']:.1f} | {row['images_per_hour_at_1000_steps']:.1f} | "
                     f"{row['peak_memory_mb']:.0f} | ×{row['speedup_vs_baseline']:.2f} | "
                     f"{row['first_step_s']:.1f} |")
    if report["quality"]:
        lines += ["", f"Quality after {report['quality_steps']} W+ steps on in-domain targets (PSNR on 8-bit images; "
                  f"a path more than {QUALITY_TOLERANCE_DB} dB below the baseline stays off by default):", "",
                  "| generator | path | PSNR (dB) | Δ vs baseline (dB) | keeps quality |", "|---|---|---:|---:|---|"]
        for q in report["quality"]:
            lines.append(f"| {q['generator']} | {q['path']} | {q['psnr_db']:.2f} | {q['delta_db']:+.2f} | "
                         f"{'yes' if q['keeps_quality'] else 'no'} |")
    if report.get("skipped"):
        lines += ["", "Not measured (the time budget was spent): " + "; ".join(report["skipped"]) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
