"""Pivotal tuning on the fixture generators: fidelity, file size and locality for full vs rank 1/4/16.

    python3 bench/tuning.py            # the full run behind bench/results/tuning-<date>.* (~40 CPU minutes, 1 thread)
    python3 bench/tuning.py --quick    # a smoke run (a few steps), written to bench/results/tuning-quick-<date>.*

    # the same in parallel parts (one process each), then merged (adds the test point and the report):
    python3 bench/tuning.py --generators small --targets astronaut --part --out /tmp/parts --name small-a
    ...                                                # small in-domain, adalike astronaut / in-domain
    python3 bench/tuning.py --merge /tmp/parts/*.json

No trained generator or VGG16 weights exist offline, so this measures what can be measured on the
official random-weight conformance fixtures `small` and `adalike` (64x64). Targets per generator:

- out of domain: the astronaut photo, centre-cropped and resized to 64x64 (no generator of these can
  make it: this is what tuning is for);
- in domain: 2 renders of random W+ codes with fresh noise, through 8-bit PNG (as bench/quality.py).

Each target is projected alone with the projector's defaults (1000 W+ steps, then the 300-step noise
stage; VGG16 with seeded random weights, `random:0`), then tuned from that pivot (latent and noise
maps) with `invert.tuning.tune`'s defaults (350 steps, Adam lr 3e-4, LPIPS with the same random VGG16
trunk + L2) at every rank. The astronaut is also tuned from its W+ latent alone (stored noise maps) at
every rank, and with PTI's locality regulariser (see FULL). Reported per run:

- PSNR / SSIM of the 8-bit reconstruction (invert.metrics);
- the `_tuned.safetensors` file's size in bytes;
- locality, far: mean PSNR between the tuned and untuned renders of 32 random latents (the mapping of
  random z, seeded; their distance to the pivot is reported), high = other images are left alone;
- locality, near: the same for 32 latents at PTI's distance (30) from the pivot towards random w (the
  neighbourhood PTI's regulariser protects);
- CPU seconds of this process (one thread unless --threads says otherwise).
"""
import argparse
import datetime
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality import fixtures_dir, make_targets  # noqa: E402

from invert.checkpoints import load_generator  # noqa: E402
from invert.images import load_rgb, to_uint8  # noqa: E402
from invert.metrics import psnr, ssim  # noqa: E402
from invert.projector import build_perceptual, prepare_target, project, render  # noqa: E402
from invert.tuning import DEFAULT_RANK, TUNE_LEARNING_RATE, Locality, apply_update, layout, save_update, tune  # noqa: E402
from invert.tuning.locality import regularising_latents  # noqa: E402

GENERATORS = ("small", "adalike")
VGG = "random:0"
# Every target is tuned from its full projection (W+ and noise maps) at every rank; the out-of-domain one
# also from its W+ latent alone (stored noise maps), at every rank, with the locality regulariser at
# `locality_ranks`, and at the other learning rates of `sweep_lrs` at `sweep_ranks`.
FULL = dict(w_steps=1000, noise_steps=300, tune_steps=350, ranks=("full", 1, 4, 16), locality_ranks=("full",),
            in_domain=2, probes=32, sweep_lrs=(), sweep_ranks=(4,))
QUICK = dict(w_steps=20, noise_steps=20, tune_steps=10, ranks=("full", 1, 4, 16), locality_ranks=("full", 4),
             in_domain=1, probes=8, sweep_lrs=(1e-3,), sweep_ranks=(4,))
# The fast point the tests check (tests/test_tuning_pivotal.py, the characterisation tests): `small`, the
# astronaut, W+ only (no noise stage), then a short tuning at each of these ranks, pixel MSE + LPIPS.
TEST_POINT = dict(generator="small", w_steps=30, tune_steps=40, ranks=("full", 16), margin_db=0.5)
# FFHQ 1024 (StyleGAN2 config-f) channel widths, for the file sizes a real user gets.
FFHQ_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}


def astronaut(resolution):
    path = fixtures_dir().parent / "images" / "astronaut.png"
    return prepare_target(load_rgb(path), resolution)


def score(target, images):
    image = to_uint8(images)[0]
    return {"psnr": round(psnr(target, image), 3), "ssim": round(ssim(target, image), 4)}


def mean_psnr(images_a, images_b):
    values = [psnr(a, b) for a, b in zip(to_uint8(images_a), to_uint8(images_b))]
    return float(np.mean([min(v, 100.0) for v in values]))  # identical renders count as 100 dB


def probes(G, pivot, count, seed):
    """Latents far from the pivot (mapped random z) and near it (PTI's regulariser's: 30 towards random w)."""
    z = torch.randn([count, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        far = G.mapping(z)
    near = regularising_latents(G, pivot, Locality(samples=count), torch.Generator().manual_seed(seed + 1))
    distance = float((far - pivot).flatten(1).norm(dim=1).mean())
    return far, near, distance


PIVOTS = {"noise": "W+ and noise", "w": "W+ alone"}


def tuned_run(G, target, pivot, noise, lpips, *, rank, locality, steps, far, near, base_far, base_near, folder,
              lr=TUNE_LEARNING_RATE):
    started = time.process_time()
    result = tune(G, pivot, target, noise=noise, steps=steps, rank=rank, perceptual=lpips, locality=locality, lr=lr)
    seconds = time.process_time() - started
    path = save_update(Path(folder) / f"r{rank}{'_loc' if locality else ''}_tuned.safetensors", result.update)
    tuned = apply_update(G, result.update)
    return {"rank": rank, "locality": bool(locality), "lr": lr, **score(target, result.images),
            "file_bytes": path.stat().st_size, "values": result.update.num_values,
            "locality_far": round(mean_psnr(base_far, render(tuned, far)), 2),
            "locality_near": round(mean_psnr(base_near, render(tuned, near)), 2),
            "loss_start": round(float(result.history[0]), 5), "loss_best": round(result.loss, 5),
            "cpu_seconds": round(seconds, 1)}


def run_target(G, name, kind, target, vgg, lpips, config, folder):
    """Project `target`, then tune it (see FULL for which runs)."""
    print(f"  {name} ({kind})", flush=True)
    started = time.process_time()
    projection = project(G, target, num_steps=config["w_steps"], perceptual=vgg, noise=True,
                         noise_steps=config["noise_steps"])
    row = {"target": name, "kind": kind, "w": score(target, render(G, projection.ws)),
           "noise": score(target, projection.images), "projection_cpu_seconds": round(time.process_time() - started, 1)}
    pivot = projection.ws.to(G.w_avg.device)
    far, near, distance = probes(G, pivot, config["probes"], seed=1000)
    row["far_distance"] = round(distance, 1)
    print(f"    W+ {row['w']['psnr']:.2f} dB, + noise {row['noise']['psnr']:.2f} dB "
          f"(far probes at mean distance {distance:.0f})", flush=True)
    common = dict(steps=config["tune_steps"], far=far, near=near, base_far=render(G, far), base_near=render(G, near),
                  folder=folder)
    runs = [("noise", projection.noise, rank, False) for rank in config["ranks"]]
    if kind == "out-of-domain":
        runs += [("w", None, rank, False) for rank in config["ranks"]]
        runs += [("w", None, rank, True) for rank in config["locality_ranks"]]
    row["tuned"] = []
    for pivot_kind, noise, rank, locality in runs:
        run = {"pivot": pivot_kind, **tuned_run(G, target, pivot, noise, lpips, rank=rank, locality=locality,
                                                **common)}
        row["tuned"].append(run)
        print(f"    from {PIVOTS[pivot_kind]}, {_variant(run)}: {run['psnr']:.2f} dB, SSIM {run['ssim']:.3f}, "
              f"{run['file_bytes']} bytes, locality far {run['locality_far']:.1f} / near "
              f"{run['locality_near']:.1f} dB ({run['cpu_seconds']:.0f} s)", flush=True)
    row["lr_sweep"] = []
    if kind == "out-of-domain":  # other learning rates, from the W+ pivot of the target tuning is for
        for lr in config["sweep_lrs"]:
            for rank in config["sweep_ranks"]:
                run = {"pivot": "w", **tuned_run(G, target, pivot, None, lpips, rank=rank, locality=False, lr=lr,
                                                 **common)}
                row["lr_sweep"].append(run)
                print(f"    from W+ alone, rank {rank}, lr {lr:g}: {run['psnr']:.2f} dB, locality far "
                      f"{run['locality_far']:.1f} / near {run['locality_near']:.1f} dB", flush=True)
    return row


def test_point(lpips):
    point = TEST_POINT
    G = load_generator(fixtures_dir() / f"{point['generator']}_ada.pkl", verbose=False)
    target = astronaut(G.resolution)
    projection = project(G, target, num_steps=point["w_steps"], perceptual=build_perceptual("vgg", vgg_weights=VGG))
    out = {**point, "ranks": list(point["ranks"]), "psnr_w": score(target, projection.images)["psnr"], "psnr_tuned": {},
           "cpu_seconds": {}}
    for rank in point["ranks"]:
        started = time.process_time()
        result = tune(G, projection.ws, target, steps=point["tune_steps"], rank=rank, perceptual=lpips)
        out["psnr_tuned"][str(rank)] = score(target, result.images)["psnr"]
        out["cpu_seconds"][str(rank)] = round(time.process_time() - started, 1)
    return out


def ffhq_sizes(ranks):
    """Bytes of the tensors of an update of each rank for FFHQ 1024 (config-f), from the shapes alone."""
    from invert.networks.stylegan2 import Generator, GeneratorConfig

    with torch.device("meta"):
        G = Generator(GeneratorConfig(resolution=1024, channels=FFHQ_CHANNELS))
    weights = sum(m.numel() for name, m in G.synthesis.named_parameters() if name.endswith("weight")
                  and "affine" not in name)
    sizes = {str(rank): 4 * sum(math.prod(s) for s in layout(G, rank).values()) for rank in ranks}
    return {"conv_weight_values": weights, "synthesis_values": sum(p.numel() for p in G.synthesis.parameters()),
            "bytes": sizes}


def summarise(report):
    """Per generator: mean over the targets of each kind (out-of-domain / in-domain) for every stage; a kind
    without that run (the W+-alone runs are out-of-domain only) is None."""
    out = {}
    for name, rows in report["generators"].items():
        kinds = {"out-of-domain": [r for r in rows if r["kind"] == "out-of-domain"],
                 "in-domain": [r for r in rows if r["kind"] == "in-domain"]}
        table = [{"stage": label, **{kind: _mean([r[key] for r in members], ("psnr", "ssim"))
                                     for kind, members in kinds.items()}}
                 for label, key in (("W+", "w"), ("+ noise", "noise"))]
        ood = kinds["out-of-domain"][0]
        for run in ood["tuned"]:
            entry = {"stage": f"tuned from {PIVOTS[run['pivot']]}, {_variant(run)}", "pivot": run["pivot"],
                     "rank": run["rank"], "locality": run["locality"]}
            every = []
            for kind, members in kinds.items():
                found = [t for r in members for t in r["tuned"] if _same(t, run)]
                entry[kind] = _mean(found, ("psnr", "ssim")) if found else None
                every += found
            entry.update(_mean(every, ("file_bytes", "locality_far", "locality_near", "cpu_seconds")))
            table.append(entry)
        out[name] = table
    return out


def _mean(runs, metrics):
    return {m: round(float(np.mean([r[m] for r in runs])), 3) for m in metrics}


def _same(a, b):
    return (a["pivot"], a["rank"], a["locality"]) == (b["pivot"], b["rank"], b["locality"])


def _variant(run):
    return f"rank {run['rank']}" + (" + locality" if run["locality"] else "")


def write_markdown(path, report):
    cfg = report["config"]
    lines = ["# Pivotal tuning on the fixture generators", "",
             f"Generated by `python3 bench/tuning.py{' --quick' if report['quick'] else ''}` on {report['date']} "
             f"({report['machine']}, torch {report['torch']}, {report['threads']} thread(s)).", "",
             "**Read this first.** The generators are the official random-weight conformance fixtures (64x64) and "
             "VGG16 has seeded random weights (`random:0`), so LPIPS and the VGG loss are random-feature distances. "
             "The numbers compare the variants with each other on the same targets; absolute figures for photos with "
             "the FFHQ generator and real VGG16 weights will differ.", "",
             f"Per generator: the astronaut photo (out of domain, centre-cropped to 64x64) and {cfg['in_domain']} "
             f"in-domain targets, each projected alone ({cfg['w_steps']} W+ steps, then {cfg['noise_steps']} noise "
             f"steps), then tuned for {cfg['tune_steps']} steps (Adam lr 3e-4, "
             "LPIPS + L2: the defaults). PSNR/SSIM on 8-bit images. File: the `_tuned.safetensors` size. Locality: "
             f"mean PSNR between tuned and untuned renders of {cfg['probes']} latents, far (mapped random z) and near "
             "(distance 30 from the pivot towards random w, as PTI's regulariser samples); untuned = 100 dB. CPU "
             "seconds per tuning run. Two pivots: the W+ latent with the noise stage's maps (the whole pipeline; "
             "every target), and, for the astronaut, the W+ latent alone with the generator's stored maps (no noise "
             "stage). Locality columns are means over the runs of that row.", ""]
    for name, table in report["summary"].items():
        lines += [f"## {name}", "",
                  "| stage | astronaut PSNR (dB) | astronaut SSIM | in-domain PSNR (dB) | in-domain SSIM | file (bytes) "
                  "| locality far (dB) | locality near (dB) | CPU s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for e in table:
            extra = (f"{e['file_bytes']:,.0f} | {e['locality_far']:.1f} | {e['locality_near']:.1f} | {e['cpu_seconds']:.0f}"
                     if "file_bytes" in e else " | | | ")
            cells = [f"{e[k]['psnr']:.2f} | {e[k]['ssim']:.3f}" if e[k] else "– | –" for k in ("out-of-domain", "in-domain")]
            lines.append(f"| {e['stage']} | {cells[0]} | {cells[1]} | {extra} |")
        far = [r["far_distance"] for r in report["generators"][name]]
        lines += ["", f"Far probes lie {min(far):.0f} to {max(far):.0f} from the pivots (W+ distance over all layers).", ""]
    if cfg["sweep_lrs"]:
        lines += ["## Learning rate (astronaut, tuned from W+ alone)", "",
                  "| generator | rank | lr | PSNR (dB) | SSIM | locality far (dB) | locality near (dB) |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for name, rows in report["generators"].items():
            ood = next(r for r in rows if r["kind"] == "out-of-domain")
            runs = ood["lr_sweep"] + [t for t in ood["tuned"] if t["pivot"] == "w" and not t["locality"]
                                      and t["rank"] in cfg["sweep_ranks"]]
            for run in sorted(runs, key=lambda t: (str(t["rank"]), t["lr"])):
                lines.append(f"| {name} | {run['rank']} | {run['lr']:g} | {run['psnr']:.2f} | {run['ssim']:.3f} | "
                             f"{run['locality_far']:.1f} | {run['locality_near']:.1f} |")
        lines.append("")
    sizes = report["ffhq_sizes"]
    lines += ["## File size for FFHQ 1024 (config-f), from the shapes", "",
              f"The synthesis network has {sizes['synthesis_values']:,} values, {sizes['conv_weight_values']:,} of them "
              "in modulated conv weights.", "", "| rank | update tensors (bytes) |", "|---|---:|"]
    for rank, size in sizes["bytes"].items():
        lines.append(f"| {rank} | {size:,} ({size / 1e6:.2f} MB) |")
    tp = report["test_point"]
    lines += ["", "## Test point", "",
              f"`{tp['generator']}`, the astronaut, {tp['w_steps']} W+ steps: {tp['psnr_w']:.2f} dB; then "
              f"{tp['tune_steps']} tuning steps: " + ", ".join(f"rank {r}: {v:.2f} dB" for r, v in tp["psnr_tuned"].items())
              + f". tests/test_tuning_pivotal.py (characterisation tests) asserts bounds 0.3 dB under these, and "
              f"that every rank beats the W+ latent by more than {tp['margin_db']} dB.", ""]
    if report.get("conclusions"):
        lines += ["## Conclusions", ""] + [f"- {c}" for c in report["conclusions"]] + [""]
    path.write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run with few steps")
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--targets", choices=("all", "astronaut", "in-domain"), default="all",
                        help="measure only these targets (to run parts in parallel)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--name", help="file stem of the results (default tuning[-quick]-<date>)")
    parser.add_argument("--part", action="store_true",
                        help="measure the generators only (no test point): a part for --merge")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="combine parts (run in parallel, one per generator), add the test point, write the report")
    parser.add_argument("--test-point-only", type=Path, metavar="JSON",
                        help="recompute only the test point of an earlier run's JSON and rewrite its .json/.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = QUICK if args.quick else FULL
    date = datetime.date.today().isoformat()
    stem = args.name or (f"tuning-quick-{date}" if args.quick else f"tuning-{date}")
    if args.test_point_only or args.merge:
        if args.merge:
            parts = [json.loads(path.read_text()) for path in args.merge]
            report = parts[0]
            for part in parts[1:]:
                for name, rows in part["generators"].items():
                    report["generators"].setdefault(name, []).extend(rows)
            for rows in report["generators"].values():  # the out-of-domain target first
                rows.sort(key=lambda r: (r["kind"] != "out-of-domain", r["target"]))
        else:
            report = json.loads(args.test_point_only.read_text())
            stem, args.out = args.test_point_only.stem, args.test_point_only.parent
        finish(report)
        _write(args.out, stem, report)
        print(f"wrote {args.out / stem}.json and .md", flush=True)
        return
    vgg = build_perceptual("vgg", vgg_weights=VGG)
    lpips = build_perceptual("lpips", vgg_weights=VGG)
    report = {"date": date, "quick": args.quick, "machine": f"{platform.machine()} {platform.system()}, cpu",
              "torch": torch.__version__, "threads": args.threads, "config": {key: list(v) if isinstance(v, tuple) else v
                                                             for key, v in config.items()}, "vgg_weights": VGG,
              "default_rank": DEFAULT_RANK, "generators": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.generators.split(","):
            print(name, flush=True)
            G = load_generator(fixtures_dir() / f"{name}_ada.pkl", verbose=False)
            rows = report["generators"][name] = []
            targets = [("astronaut", "out-of-domain", astronaut(G.resolution))] + [
                (f"in-domain {i}", "in-domain", t) for i, t in enumerate(make_targets(G, config["in_domain"], 7, folder))]
            targets = [t for t in targets if args.targets in ("all", t[0] if t[1] == "out-of-domain" else t[1])]
            for target_name, kind, target in targets:
                rows.append(run_target(G, target_name, kind, target, vgg, lpips, config, folder))
                _write(args.out, stem, report)  # after each target, so a long run leaves results as it goes
    if not args.part:
        finish(report)
        _write(args.out, stem, report)
    print(f"wrote {args.out / stem}.json" + ("" if args.part else " and .md"), flush=True)


def finish(report):
    """Add what does not depend on the generators' runs: FFHQ file sizes, the test point, the summary."""
    report["default_rank"] = DEFAULT_RANK
    report["ffhq_sizes"] = ffhq_sizes(report["config"]["ranks"])
    report["test_point"] = test_point(build_perceptual("lpips", vgg_weights=VGG))
    print(f"test point: {report['test_point']}", flush=True)
    report["summary"] = summarise(report)
    report["conclusions"] = conclusions(report)


def conclusions(report):
    """Sentences computed from the summary: what tuning adds over its pivot at each rank, and what it costs
    in locality and file size."""
    out = []
    for name, table in report["summary"].items():
        stages = {e["stage"]: e for e in table}
        for pivot, before in (("noise", "+ noise"), ("w", "W+")):
            runs = [e for e in table if e.get("pivot") == pivot and not e["locality"]]
            if not runs:
                continue
            base = stages[before]["out-of-domain"]["psnr"]
            gains = ", ".join(f"rank {e['rank']} {e['out-of-domain']['psnr'] - base:+.2f} dB (locality far "
                              f"{e['locality_far']:.1f} dB)" for e in runs)
            out.append(f"{name}, astronaut, tuned from {PIVOTS[pivot]} ({base:.2f} dB before): {gains}.")
            held = [e for e in table if e.get("pivot") == pivot and e["locality"]]
            for e in held:
                free = next(r for r in runs if r["rank"] == e["rank"])
                out.append(f"{name}, from {PIVOTS[pivot]}, rank {e['rank']} with the locality regulariser: "
                           f"{e['out-of-domain']['psnr'] - free['out-of-domain']['psnr']:+.2f} dB on the astronaut, "
                           f"locality far {e['locality_far'] - free['locality_far']:+.1f} dB / near "
                           f"{e['locality_near'] - free['locality_near']:+.1f} dB.")
    return out


def _write(folder, stem, report):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    if "summary" in report:
        write_markdown(folder / f"{stem}.md", report)


if __name__ == "__main__":
    main()
