"""How many samples GANSpace's PCA of W needs: components from N samples against a 1,000,000-sample reference.

    python bench/ganspace_samples.py [--generator random:ffhq-1024] [--count 10] [--device cpu]

Prints, for each N, the seconds taken and per component |cos| with the reference direction and the ratio of
the standard deviations; writes the table to bench/results/ganspace-samples-<device>.md. The reference and
each trial use different seeds, so the numbers include sampling error on both sides.
"""
import argparse
import time
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="random:ffhq-1024")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trials", default="10000,100000")
    parser.add_argument("--reference", type=int, default=1_000_000)
    args = parser.parse_args()

    from invert.checkpoints import load_generator
    from invert.directions.discover import ganspace

    G = load_generator(args.generator, device=args.device)
    start = time.perf_counter()
    reference = ganspace(G, count=args.count, samples=args.reference, seed=1, device=args.device)
    rows = [f"| {args.reference:,} (reference) | {time.perf_counter() - start:.1f} | | |"]
    for samples in (int(n) for n in args.trials.split(",")):
        start = time.perf_counter()
        trial = ganspace(G, count=args.count, samples=samples, seed=2, device=args.device)
        seconds = time.perf_counter() - start
        cosines = np.abs(np.sum(trial.directions * reference.directions, axis=1))
        ratios = trial.std / reference.std
        rows.append(f"| {samples:,} | {seconds:.1f} | {' '.join(f'{c:.3f}' for c in cosines)} | "
                    f"{' '.join(f'{r:.3f}' for r in ratios)} |")
    table = "\n".join([f"GANSpace PCA of W on `{args.generator}` ({args.device}), top {args.count} components "
                       f"against a {args.reference:,}-sample reference.\n",
                       "| samples | seconds | abs(cos) per component | sd ratio per component |",
                       "|---|---|---|---|", *rows])
    print(table)
    out = Path(__file__).parent / "results" / f"ganspace-samples-{args.device.split(':')[0]}.md"
    out.write_text(table + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
