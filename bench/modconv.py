"""Why the generator modulates activations, not weights: one synthesis step (forward + backward to W+)
at batch 1 with each form of StyleGAN2's modulated convolution, measured in the same run.

    python3 bench/modconv.py                                  # random:64,128,256 on the CPU
    python3 bench/modconv.py --generators random:ffhq-1024 --device cuda

'activations' is invert.networks.ops.modulated_conv2d: x * styles, one convolution with the shared
weight, then * demodulation coefficients. 'weights' is ada's fused form for one image: the weight itself
is modulated and demodulated, then one convolution. The weights form saves the elementwise passes over
the activations, but the weight now depends on the latent, so the backward pass must also compute the
convolution's weight gradient, which costs about as much as the convolution itself.
Results: bench/results/modconv-<device kind>-<date>.md.
"""
import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as the command line runs
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from invert.checkpoints import load_generator  # noqa: E402
from invert.devices import resolve_device  # noqa: E402
from invert.networks import ops  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ACTIVATIONS = ops.modulated_conv2d


def weight_modulated_conv2d(x, weight, styles, *, demodulate=True, up=False, resample_filter=None):
    """ada's fused modulated convolution for one image ([1, I, H, W]); other batch sizes use the default."""
    if x.shape[0] != 1:
        return ACTIVATIONS(x, weight, styles, demodulate=demodulate, up=up, resample_filter=resample_filter)
    w = weight * styles.reshape(1, -1, 1, 1)  # [O, I, k, k]
    if demodulate:
        w = w * (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
    w = w.to(x.dtype)
    if up:
        x = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
        return ops.fir_filter(x, resample_filter, pad=(1, 1, 1, 1), gain=4.0)
    return F.conv2d(x, w, padding=weight.shape[-1] // 2)


FORMS = {"activations": ACTIVATIONS, "weights": weight_modulated_conv2d}


def synthesis_step(G, ws, device):
    images = G.synthesis(ws, noise_mode="const")
    images.square().mean().backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return images.detach()


def measure(G, device, *, repeats):
    ws = G.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1).clone().requires_grad_(True)
    images = {}
    for name, form in FORMS.items():  # warm-up, and the two forms' images for the agreement check
        ops.modulated_conv2d = form
        images[name] = synthesis_step(G, ws, device)
    times = {name: [] for name in FORMS}
    try:
        for _ in range(repeats):  # interleaved, so that machine load hits both forms alike
            for name, form in FORMS.items():
                ops.modulated_conv2d = form
                start = time.perf_counter()
                synthesis_step(G, ws, device)
                times[name].append(time.perf_counter() - start)
    finally:
        ops.modulated_conv2d = ACTIVATIONS
    difference = float((images["activations"] - images["weights"]).abs().max())
    return {name: statistics.median(t) for name, t in times.items()}, difference


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default="random:64,random:128,random:256")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = []
    for spec in args.generators.split(","):
        G = load_generator(spec, device=device, verbose=False)
        seconds, difference = measure(G, device, repeats=args.repeats)
        ratio = seconds["activations"] / seconds["weights"]
        rows.append(f"| {spec} ({G.resolution}²) | {seconds['activations'] * 1000:.1f} | "
                    f"{seconds['weights'] * 1000:.1f} | ×{ratio:.2f} | {difference:.1e} |")
        print(rows[-1], flush=True)
    date = datetime.datetime.now().isoformat(timespec="seconds")
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    text = "\n".join([
        "# Modulated convolution: activations vs weights (batch 1)", "",
        f"{device.type}{threads}, torch {torch.__version__}, {date}. One synthesis step (forward and backward "
        f"to the W+ latent), median of {args.repeats}, the two forms interleaved. Speed of the weights form "
        "relative to the activations form (the default); below ×1 it is slower.", "",
        "| generator | activations (ms) | weights (ms) | weights speed | max image difference |",
        "|---|---:|---:|---:|---:|", *rows, ""])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"modconv-{device.type}-{date[:10]}.md"
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
