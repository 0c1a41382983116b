"""Projection quality on the conformance fixture generators: PSNR after the W+ stage and after the noise stage.

    python3 bench/quality.py                  # the full run behind bench/results/quality.md (1 CPU core, ~1 h)
    python3 bench/quality.py --quick          # a smoke run (fewer steps), written to bench/results/quality_quick.*

No trained generator or VGG16 weights exist offline, so this measures what can be measured: how well the
projector recovers targets that the generator itself can produce. Targets are rendered by the `small` and
`adalike` fixtures (64x64, official random-weight StyleGAN2 networks) from random W+ codes (each layer's
w mapped from its own z) with fresh random noise maps (not the stored ones the projector starts from),
converted to 8 bit with invert.images.to_uint8, written as PNG and read back, then projected with
--no-align semantics. VGG16 has seeded random weights (`random:0`): the perceptual term is a random-feature
distance, not ImageNet features, so absolute numbers will differ with real weights and real photos.

One W+ run per generator gives every step count: the best-so-far latent after k steps (read through the
projector's callback) is exactly what a k-step run returns. Every checkpoint's latent is then given its
own noise stage. PSNR and SSIM are on 8-bit images, averaged over the targets; seconds are CPU seconds
of this process, run on one thread (--threads) so that other jobs on the machine do not inflate them.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from invert.checkpoints import load_generator  # noqa: E402
from invert.images import load_rgb, save_png, to_uint8  # noqa: E402
from invert.metrics import psnr, ssim  # noqa: E402
from invert.projector import (NOISE_LEARNING_RATE, NOISE_STEPS, NUM_STEPS, build_perceptual,  # noqa: E402
                              noise_statistics, prepare_target, project, render)

GENERATORS = ("small", "adalike")
VGG = "random:0"
# W+ step counts per generator (5000, the paper's count, on `small` only: it costs 25 CPU minutes).
FULL = dict(targets=2, checkpoints={"small": (20, 100, 300, 1000, 2000, 5000), "adalike": (20, 100, 300, 1000, 2000)},
            noise_lrs=(0.1, 0.3, 1.0, 3.0, 10.0), noise_checkpoints=(50, 100, 300, 1000), alt_steps=300)
QUICK = dict(targets=2, checkpoints={"small": (20, 100), "adalike": (20, 100)}, noise_lrs=(0.3, 1.0),
             noise_checkpoints=(50, 100), alt_steps=50)
# Noise-stage options compared by --noise-options (name -> project() options), from a W+ latent of
# NOISE_OPTIONS_W_STEPS steps. 1e5 is the regulariser weight of NVIDIA's projector.
NOISE_OPTIONS = {
    "none (Image2StyleGAN++)": dict(noise_regularize=0.0, noise_renormalize=False),
    "renormalise": dict(noise_regularize=0.0, noise_renormalize=True),
    "regulariser 1e5": dict(noise_regularize=1e5, noise_renormalize=False),
    "regulariser 1e5 + renormalise": dict(noise_regularize=1e5, noise_renormalize=True),
    "renormalise, lr 0.1": dict(noise_regularize=0.0, noise_renormalize=True, noise_lr=0.1),
    "regulariser 1e3": dict(noise_regularize=1e3, noise_renormalize=False),
    "regulariser 1e5 + renormalise, lr 0.1 (NVIDIA's)": dict(noise_regularize=1e5, noise_renormalize=True,
                                                              noise_lr=0.1),
}
NOISE_OPTIONS_W_STEPS = 300
# The fast point the tests check (tests/test_projector.py::test_quality_on_small_matches_the_benchmark).
TEST_POINT = dict(generator="small", steps=20, noise_steps=50)


def fixtures_dir():
    """The conformance fixtures' stylegan2/ folder: $STYLEGAN_INVERT_FIXTURES (the fixtures folder or its
    parent) or ../shared/fixtures beside the repository, as the tests look for them."""
    candidates = []
    if os.environ.get("STYLEGAN_INVERT_FIXTURES"):
        env = Path(os.environ["STYLEGAN_INVERT_FIXTURES"])
        candidates += [env / "stylegan2", env / "fixtures" / "stylegan2"]
    candidates += [ROOT.parent / "shared" / "fixtures" / "stylegan2", ROOT / "shared" / "fixtures" / "stylegan2"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    sys.exit("conformance fixtures not found: put them at ../shared/fixtures or set STYLEGAN_INVERT_FIXTURES")


def make_targets(G, count, seed, folder):
    """Render `count` targets from random W+ codes and fresh noise, round-trip them through PNG -> uint8."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn([count * G.num_ws, G.z_dim], generator=generator)
    with torch.no_grad():
        ws = G.mapping(z)[:, 0].reshape(count, G.num_ws, G.w_dim)
        noise = [torch.randn([count, 1, *shape], generator=generator) for shape in G.synthesis.noise_shapes()]
        pixels = to_uint8(G.synthesis(ws, noise=noise))
    targets = []
    for i, image in enumerate(pixels):
        path = Path(folder) / f"target{seed}_{i}.png"
        save_png(path, image)
        targets.append(load_rgb(path))
    return np.stack(targets)


def scores(targets, images):
    reconstructions = to_uint8(images)
    p = [psnr(t, r) for t, r in zip(targets, reconstructions)]
    s = [ssim(t, r) for t, r in zip(targets, reconstructions)]
    return {"psnr": float(np.mean(p)), "psnr_each": [round(v, 3) for v in p], "ssim": float(np.mean(s))}


def region_psnr(targets, images, region):
    """PSNR over the pixels where `region` [R, R] is True, 8-bit."""
    reconstructions = to_uint8(images).astype(np.float64)
    values = []
    for t, r in zip(targets.astype(np.float64), reconstructions):
        mse = np.mean((t[region] - r[region]) ** 2)
        values.append(10 * np.log10(255.0 ** 2 / mse))
    return float(np.mean(values))


class Checkpoints:
    """A project() callback that keeps the best-so-far tensors and the CPU time at chosen step counts."""

    def __init__(self, steps):
        self.steps, self.best, self.seconds = set(steps), {}, {}
        self.start = time.process_time()

    def __call__(self, stage, step, losses, best):
        if step + 1 in self.steps:
            self.best[step + 1] = [b.clone() for b in best]
            self.seconds[step + 1] = time.process_time() - self.start


def w_plus_curve(G, targets, perceptual, checkpoints, *, noise_lr, noise_steps):
    """One long W+ run; per checkpoint: W+ scores, then a noise stage from that latent."""
    keep = Checkpoints(checkpoints)
    project(G, targets, num_steps=max(checkpoints), perceptual=perceptual, callback=keep)
    rows = []
    for steps in checkpoints:
        ws = keep.best[steps][0].expand(-1, G.num_ws, -1)
        row = {"steps": steps, "cpu_seconds": round(keep.seconds[steps], 1), **scores(targets, render(G, ws))}
        started = time.process_time()
        after = project(G, targets, num_steps=0, init_ws=ws, perceptual=perceptual, noise=True,
                        noise_steps=noise_steps, noise_lr=noise_lr)
        row["noise"] = {"steps": noise_steps, "lr": noise_lr, "cpu_seconds": round(time.process_time() - started, 1),
                        **scores(targets, after.images)}
        rows.append(row)
        print(f"  W+ {steps:5d} steps: PSNR {row['psnr']:.2f} dB; + noise: {row['noise']['psnr']:.2f} dB "
              f"({row['cpu_seconds']:.0f} s)", flush=True)
    return rows, keep.best


def noise_sweep(G, targets, perceptual, ws, lrs, checkpoints):
    rows = []
    for lr in lrs:
        keep = Checkpoints(checkpoints)
        project(G, targets, num_steps=0, init_ws=ws, perceptual=perceptual, noise=True,
                noise_steps=max(checkpoints), noise_lr=lr, callback=keep)
        row = {"lr": lr, "by_steps": {}}
        for steps in checkpoints:
            row["by_steps"][steps] = {"cpu_seconds": round(keep.seconds[steps], 1),
                                      **scores(targets, render(G, ws, keep.best[steps]))}
        rows.append(row)
        print(f"  noise lr {lr}: " + ", ".join(f"{s}: {v['psnr']:.2f}" for s, v in row["by_steps"].items()), flush=True)
    return rows


def alternatives(G, targets, steps, noise_lr):
    """Other settings on the same targets, `steps` W+ steps each (+ the default noise stage)."""
    vgg = build_perceptual("vgg", vgg_weights=VGG)
    runs = {
        "W+ / VGG (default)": dict(perceptual=vgg),
        "W (one w for all layers)": dict(perceptual=vgg, space="w"),
        "W+ / LPIPS": dict(perceptual=build_perceptual("lpips", vgg_weights=VGG)),
        "W+ / pixel MSE only": dict(perceptual=None, perceptual_weight=0.0),
        "W+ / init random (seed 0)": dict(perceptual=vgg, init="random"),
    }
    rows = []
    for name, options in runs.items():
        started = time.process_time()
        result = project(G, targets, num_steps=steps, noise=True, noise_steps=NOISE_STEPS, noise_lr=noise_lr,
                         **options)
        w_only = render(G, result.ws)
        rows.append({"name": name, "steps": steps, "w": scores(targets, w_only), "noise": scores(targets, result.images),
                     "cpu_seconds": round(time.process_time() - started, 1)})
        print(f"  {name}: {rows[-1]['w']['psnr']:.2f} -> {rows[-1]['noise']['psnr']:.2f} dB", flush=True)
    # inpainting: the right half is unknown
    mask = np.zeros((G.resolution, G.resolution), np.float32)
    mask[:, : G.resolution // 2] = 1
    started = time.process_time()
    result = project(G, targets, num_steps=steps, perceptual=vgg, mask=mask, noise=True, noise_steps=NOISE_STEPS,
                     noise_lr=noise_lr)
    known = mask.astype(bool)
    w_only = render(G, result.ws)
    mean_w = render(G, G.w_avg.expand(len(targets), G.num_ws, -1))
    rows.append({"name": "mask: left half known", "steps": steps, "cpu_seconds": round(time.process_time() - started, 1),
                 "w": {"psnr_known": region_psnr(targets, w_only, known),
                       "psnr_unknown": region_psnr(targets, w_only, ~known)},
                 "noise": {"psnr_known": region_psnr(targets, result.images, known),
                           "psnr_unknown": region_psnr(targets, result.images, ~known)},
                 "mean_w_psnr_unknown": region_psnr(targets, mean_w, ~known)})
    print(f"  mask: known {rows[-1]['w']['psnr_known']:.2f}, unknown {rows[-1]['w']['psnr_unknown']:.2f} dB", flush=True)
    return rows


def noise_summary(maps, count):
    """Over images and maps: mean of the per-map std, the largest per-map std, the largest |value|."""
    stats = [m for per_image in noise_statistics(maps, count) for m in per_image]
    return {"std_mean": round(float(np.mean([m["std"] for m in stats])), 3),
            "std_max": round(max(m["std"] for m in stats), 3), "max_abs": round(max(m["max_abs"] for m in stats), 3),
            "mean_abs_max": round(max(abs(m["mean"]) for m in stats), 3)}


def noise_options(G, targets, perceptual, *, noise_steps, noise_lr):
    """Each NOISE_OPTIONS setting's noise stage from the same W+ latent: PSNR, SSIM and the maps' statistics."""
    base = project(G, targets, num_steps=NOISE_OPTIONS_W_STEPS, perceptual=perceptual)
    rows = [{"name": "W+ only", **scores(targets, base.images)}]
    for name, options in NOISE_OPTIONS.items():
        started = time.process_time()
        result = project(G, targets, num_steps=0, init_ws=base.ws, perceptual=perceptual, noise=True,
                         noise_steps=noise_steps, **{"noise_lr": noise_lr, **options})
        rows.append({"name": name, **options, "cpu_seconds": round(time.process_time() - started, 1),
                     **scores(targets, result.images), "noise": noise_summary(result.noise, len(targets))})
        print(f"  {name}: {rows[-1]['psnr']:.2f} dB, noise std {rows[-1]['noise']['std_mean']:.2f} "
              f"(max {rows[-1]['noise']['std_max']:.2f}), max |n| {rows[-1]['noise']['max_abs']:.1f}", flush=True)
    return rows


def photo_target(G):
    """The astronaut test photo, centre-cropped and resized to G's resolution: a target outside G's domain."""
    path = fixtures_dir().parent / "images" / "astronaut.png"
    return prepare_target(load_rgb(path), G.resolution)[None] if path.is_file() else None


def noise_options_markdown(report):
    lines = ["# Noise stage: keeping the noise maps plausible", "",
             f"Generated by `python3 bench/quality.py --noise-options` on {report['date']} ({report['machine']}, "
             f"torch {report['torch']}, {report['threads']} thread(s)).", "",
             f"Each generator's targets are first projected for {NOISE_OPTIONS_W_STEPS} W+ steps; from that latent "
             f"each setting runs {report['noise_steps']} noise steps at lr {report['noise_lr']} unless it says otherwise "
             "(pixel MSE). VGG16 "
             "has seeded random weights. PSNR/SSIM on 8-bit images, mean over targets. The generator was trained "
             "with N(0, 1) noise: 'std' is each map's standard deviation (mean over maps, and the largest), "
             "'max |n|' the largest single value; maps far from std 1 or with large values are no longer noise "
             "the generator knows, and carry image content instead.", "",
             "| targets | setting | PSNR (dB) | SSIM | noise std (mean) | noise std (max) | max \\|n\\| | CPU s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for target_name, rows in report["noise_options"].items():
        for r in rows:
            if "noise" not in r:
                lines.append(f"| {target_name} | {r['name']} | {r['psnr']:.2f} | {r['ssim']:.3f} | | | | |")
                continue
            n = r["noise"]
            lines.append(f"| {target_name} | {r['name']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {n['std_mean']:.2f} | "
                         f"{n['std_max']:.2f} | {n['max_abs']:.1f} | {r['cpu_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def run_noise_options(args):
    """--noise-options: the NOISE_OPTIONS comparison alone, written to noise-options.{json,md}."""
    fixtures = fixtures_dir()
    report = {"date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()} {platform.system()}, {platform.processor() or 'cpu'}",
              "torch": torch.__version__, "threads": torch.get_num_threads(), "vgg16": VGG,
              "noise_steps": NOISE_STEPS, "noise_lr": NOISE_LEARNING_RATE, "noise_options": {}}
    vgg = build_perceptual("vgg", vgg_weights=VGG)
    with tempfile.TemporaryDirectory() as folder:
        for name in GENERATORS:
            G = load_generator(fixtures / f"{name}_ada.pkl")
            print(f"{name}: noise options", flush=True)
            report["noise_options"][f"{name}, 2 in-domain renders"] = noise_options(
                G, make_targets(G, 2, seed=1, folder=folder), vgg, noise_steps=NOISE_STEPS, noise_lr=NOISE_LEARNING_RATE)
            photo = photo_target(G)
            if photo is not None and name == GENERATORS[0]:
                print(f"{name}: noise options on the astronaut photo", flush=True)
                report["noise_options"][f"{name}, astronaut photo"] = noise_options(
                    G, photo, vgg, noise_steps=NOISE_STEPS, noise_lr=NOISE_LEARNING_RATE)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "noise-options.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "noise-options.md").write_text(noise_options_markdown(report))
    print(f"wrote {args.out / 'noise-options'}.md and .json")


def test_point(G, targets):
    """The cheap configuration the test suite re-runs (first target alone, 20 W+ + 50 noise steps)."""
    vgg = build_perceptual("vgg", vgg_weights=VGG)
    w = project(G, targets[:1], num_steps=TEST_POINT["steps"], perceptual=vgg)
    both = project(G, targets[:1], num_steps=TEST_POINT["steps"], perceptual=vgg, noise=True,
                   noise_steps=TEST_POINT["noise_steps"])
    return {**TEST_POINT, "noise_lr": NOISE_LEARNING_RATE, "psnr_w": scores(targets[:1], w.images)["psnr"],
            "psnr_noise": scores(targets[:1], both.images)["psnr"]}


def conclusions(report):
    """Sentences computed from the numbers: what the default step count costs, which noise lr wins."""
    out = []
    for name, rows in report["w_plus"].items():
        by_steps = {r["steps"]: r for r in rows}
        longest = max(by_steps)
        default = NUM_STEPS if NUM_STEPS in by_steps else None
        if default and longest > default:
            d, l = by_steps[default], by_steps[longest]
            out.append(f"{name}: the default {default} W+ steps reach {d['psnr']:.2f} dB, {l['psnr'] - d['psnr']:.2f} dB "
                       f"under {longest} steps ({l['psnr']:.2f} dB) for {d['cpu_seconds'] / l['cpu_seconds']:.0%} of "
                       f"the time; after the noise stage the gap is {l['noise']['psnr'] - d['noise']['psnr']:+.2f} dB.")
        gain = [r["noise"]["psnr"] - r["psnr"] for r in rows]
        out.append(f"{name}: the noise stage adds {min(gain):.1f} to {max(gain):.1f} dB over the W+ result.")
    for name, rows in report["noise_sweep"].items():
        last = max(rows[0]["by_steps"], key=int)
        best = max(rows, key=lambda r: r["by_steps"][last]["psnr"])
        out.append(f"{name}: best noise lr after {last} noise steps: {best['lr']} "
                   f"({best['by_steps'][last]['psnr']:.2f} dB); the default is {NOISE_LEARNING_RATE}.")
    return out


def write_markdown(path, report):
    lines = ["# Projection quality on the fixture generators", "",
             f"Generated by `python3 bench/quality.py` on {report['date']} ({report['machine']}, "
             f"torch {report['torch']}, {report['threads']} threads).", "",
             "**Read this first.** No trained weights exist offline: the generators are the official random-weight "
             "conformance fixtures (64x64) and VGG16 has seeded random weights (`--vgg-weights random:0`), so the "
             "perceptual term is a random-feature distance, not ImageNet features. Targets are renders of random W+ "
             "codes with fresh random noise, so a perfect projection exists for the W+ part but not for the noise "
             "(the projector starts from the stored maps). The numbers show how the method converges and what "
             "each stage and setting adds; absolute numbers for real photos with the FFHQ generator and real VGG16 "
             "weights will differ.", "",
             f"Targets: {report['targets_per_generator']} per generator, projected together (a batch gives each "
             "image the result it gets alone). PSNR/SSIM on 8-bit images, mean over targets. CPU seconds are this "
             "process's, on one thread, for the whole batch.", ""]
    lines += ["## W+ steps, then the noise stage", "",
              f"Each row's noise stage: {report['noise_steps']} steps at lr {report['noise_lr']} from that row's W+ latent.", "",
              "| generator | W+ steps | PSNR W+ (dB) | SSIM W+ | CPU s (W+) | PSNR + noise (dB) | SSIM + noise | CPU s (noise) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rows in report["w_plus"].items():
        for r in rows:
            lines.append(f"| {name} | {r['steps']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['cpu_seconds']:.0f} | "
                         f"{r['noise']['psnr']:.2f} | {r['noise']['ssim']:.3f} | {r['noise']['cpu_seconds']:.0f} |")
    lines += ["", "## Noise stage: learning rate and steps", "",
              "From the W+ latent after 1000 steps (or the longest quick run). PSNR (dB) after k noise steps.", ""]
    steps = list(next(iter(report["noise_sweep"].values()))[0]["by_steps"])
    lines += ["| generator | noise lr | " + " | ".join(f"{s} steps" for s in steps) + " |",
              "|---|---:|" + "---:|" * len(steps)]
    for name, rows in report["noise_sweep"].items():
        for r in rows:
            lines.append(f"| {name} | {r['lr']} | " + " | ".join(f"{r['by_steps'][s]['psnr']:.2f}" for s in steps) + " |")
    lines += ["", f"## Other settings (`{report['alternatives_generator']}`, {report['alt_steps']} W+ steps, "
              f"then {report['noise_steps']} noise steps)", "",
              "| setting | PSNR W+ (dB) | PSNR + noise (dB) | CPU s |", "|---|---:|---:|---:|"]
    for r in report["alternatives"]:
        if "psnr" in r["w"]:
            lines.append(f"| {r['name']} | {r['w']['psnr']:.2f} | {r['noise']['psnr']:.2f} | {r['cpu_seconds']:.0f} |")
    for r in report["alternatives"]:
        if "psnr_known" in r["w"]:
            lines += ["", f"Mask (left half known, right half inpainted), PSNR against the full target: known half "
                      f"{r['w']['psnr_known']:.2f} dB after W+ / {r['noise']['psnr_known']:.2f} dB after noise; unknown half "
                      f"{r['w']['psnr_unknown']:.2f} / {r['noise']['psnr_unknown']:.2f} dB (the mean w scores "
                      f"{r['mean_w_psnr_unknown']:.2f} dB there). The unknown half is filled by the generator; "
                      "the noise stage, which only sees known pixels, sharpens the known half only."]
    tp = report["test_point"]
    lines += ["", "## Test point", "",
              f"`{tp['generator']}`, first target alone, {tp['steps']} W+ steps: {tp['psnr_w']:.2f} dB; then "
              f"{tp['noise_steps']} noise steps at lr {tp['noise_lr']}: {tp['psnr_noise']:.2f} dB. "
              "tests/test_projector.py asserts bounds just under these, so a regression fails.", ""]
    if report.get("conclusions"):
        lines += ["## Conclusions", ""] + [f"- {c}" for c in report["conclusions"]] + [""]
    path.write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps, for a smoke test of this script")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 keeps CPU seconds meaningful on a shared machine)")
    parser.add_argument("--noise-options", action="store_true",
                        help="only compare the noise stage's regularisation options (bench/results/noise-options.md)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.noise_options:
        run_noise_options(args)
        return
    config = QUICK if args.quick else FULL
    fixtures = fixtures_dir()
    report = {"date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()} {platform.system()}, {platform.processor() or 'cpu'}",
              "torch": torch.__version__, "threads": torch.get_num_threads(), "vgg16": VGG,
              "targets_per_generator": config["targets"], "noise_steps": NOISE_STEPS, "noise_lr": NOISE_LEARNING_RATE,
              "alt_steps": config["alt_steps"], "alternatives_generator": GENERATORS[0],
              "w_plus": {}, "noise_sweep": {}}
    vgg = build_perceptual("vgg", vgg_weights=VGG)
    with tempfile.TemporaryDirectory() as folder:
        for name in GENERATORS:
            G = load_generator(fixtures / f"{name}_ada.pkl")
            targets = make_targets(G, config["targets"], seed=1, folder=folder)
            print(f"{name}: W+ curve", flush=True)
            checkpoints = config["checkpoints"][name]
            sweep_from = 1000 if 1000 in checkpoints else max(checkpoints)
            rows, best = w_plus_curve(G, targets, vgg, checkpoints, noise_lr=NOISE_LEARNING_RATE,
                                      noise_steps=NOISE_STEPS)
            report["w_plus"][name] = rows
            print(f"{name}: noise sweep", flush=True)
            ws = best[sweep_from][0].expand(-1, G.num_ws, -1)
            report["noise_sweep"][name] = noise_sweep(G, targets, vgg, ws, config["noise_lrs"],
                                                      config["noise_checkpoints"])
            if name == GENERATORS[0]:
                print(f"{name}: other settings", flush=True)
                report["alternatives"] = alternatives(G, targets, config["alt_steps"], NOISE_LEARNING_RATE)
                report["test_point"] = test_point(G, targets)
    report["conclusions"] = conclusions(report)
    stem = "quality_quick" if args.quick else "quality"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(args.out / f"{stem}.md", report)
    print(f"wrote {args.out / stem}.md and .json")


if __name__ == "__main__":
    main()
