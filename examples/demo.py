"""Project an example photo end to end: `make demo` (or `python examples/demo.py [--steps N]`).

The photo is NASA's public-domain portrait of astronaut Eileen Collins, which ships inside the
scikit-image package (installed by `pip install -e '.[demo]'`). The generator is the official StyleGAN2
FFHQ 1024x1024 checkpoint, downloaded into the cache on first use; when it cannot be downloaded (offline)
the demo says so and uses the built-in random-weight generator `random:256` instead, which exercises the
whole pipeline but cannot reproduce a face (and, without torchvision's VGG16 file, random VGG weights).
"""
import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path


def example_photo(outdir):
    try:
        import skimage
    except ImportError:
        sys.exit("the demo photo comes with scikit-image: pip install scikit-image (or: make demo)")
    source = Path(skimage.__file__).parent / "data" / "astronaut.png"
    target = outdir / "astronaut.png"
    outdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def choose_generator():
    from invert.errors import WeightsError
    from invert.weights import resolve

    try:
        return str(resolve("ffhq-1024")), True
    except WeightsError as exc:
        logging.warning("could not get the official FFHQ checkpoint (%s)", exc)
        logging.warning("OFFLINE DEMO: using random:256, a RANDOM-weight generator; the result will not "
                        "look like the photo")
        return "random:256", False


def choose_vgg_weights():
    from invert.errors import WeightsError
    from invert.vgg_weights import find_weights

    try:
        return str(find_weights())
    except WeightsError as exc:
        logging.warning("could not get torchvision's VGG16 weights (%s)", exc)
        logging.warning("OFFLINE DEMO: the perceptual loss uses RANDOM VGG16 weights")
        return "random"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default="out/demo")
    parser.add_argument("--steps", type=int, default=None, help="W+ steps (default: 1000 on a GPU; on a CPU 200 with the trained checkpoint, 100 offline)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    outdir = Path(args.outdir)
    photo = example_photo(outdir)
    generator, trained = choose_generator()
    steps = args.steps or (1000 if torch.cuda.is_available() else (200 if trained else 100))
    command = [sys.executable, "-m", "invert", "project", str(photo), "--generator", generator,
               "--steps", str(steps), "--noise", "--noise-steps", str(max(steps // 4, 25)),
               "--vgg-weights", choose_vgg_weights(), "--outdir", str(outdir), "--force"]
    logging.info("running: %s", " ".join(command))
    sys.exit(subprocess.call(command))


if __name__ == "__main__":
    main()
