"""VGG16 convolutional features for the perceptual loss (Image2StyleGAN) and for LPIPS.

`VGG16Features` is torchvision's `vgg16().features` cut after the last layer asked for: the same layer
indices and parameter names (`features.0.weight`, ..., `features.19.bias`), so torchvision's ImageNet file
`vgg16-397923af.pth` loads into it with every tensor checked (its classifier tensors are ignored).

torchvision's `features` indices, and the names used here for the post-ReLU activations:

    conv1_1 1   conv1_2 3   (pool 4)
    conv2_1 6   conv2_2 8   (pool 9)
    conv3_1 11  conv3_2 13  conv3_3 15  (pool 16)
    conv4_1 18  conv4_2 20  conv4_3 22  (pool 23)
    conv5_1 25  conv5_2 27  conv5_3 29

Image2StyleGAN's perceptual loss reads conv1_1, conv1_2, conv3_2 and conv4_2 (indices 1, 3, 13, 20).

Weights come from, in order: a path the user gives, torchvision's file in the torch hub cache
(`$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth`, TORCH_HOME defaulting to ~/.cache/torch), then the
weights registry (`invert.weights.resolve('vgg16')`, which downloads once). `random` / `random:SEED` builds
seeded random weights; it exists for tests and benchmarks on machines without the file and is never
chosen automatically.
"""
import logging
import re
from pathlib import Path

import torch
from torch import nn

from invert.errors import WeightsError

log = logging.getLogger(__name__)

TORCHVISION_FILENAME = "vgg16-397923af.pth"

# torchvision's VGG16 'D' configuration: output channels of each 3x3 conv, 'M' for a 2x2 max-pool.
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

LAYER_INDEX = {
    "conv1_1": 1, "conv1_2": 3,
    "conv2_1": 6, "conv2_2": 8,
    "conv3_1": 11, "conv3_2": 13, "conv3_3": 15,
    "conv4_1": 18, "conv4_2": 20, "conv4_3": 22,
    "conv5_1": 25, "conv5_2": 27, "conv5_3": 29,
}
IMAGE2STYLEGAN_LAYERS = ("conv1_1", "conv1_2", "conv3_2", "conv4_2")

# ImageNet statistics torchvision's VGG16 was trained with (inputs in [0, 1] before normalising).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def feature_shapes():
    """{'features.K.weight': shape, 'features.K.bias': shape} for every conv of torchvision's VGG16."""
    shapes, index, channels = {}, 0, 3
    for item in _CFG:
        if item == "M":
            index += 1
            continue
        shapes[f"features.{index}.weight"] = (item, channels, 3, 3)
        shapes[f"features.{index}.bias"] = (item,)
        channels = item
        index += 2  # conv, ReLU
    return shapes


FEATURE_SHAPES = feature_shapes()


def needed_keys(last_index):
    """The state-dict keys a network cut after `features[last_index]` needs."""
    return [key for key in FEATURE_SHAPES if int(key.split(".")[1]) <= last_index]


class VGG16Features(nn.Module):
    """images [N, 3, H, W] in [-1, 1] -> list of post-ReLU feature maps [N, C_l, H_l, W_l], one per layer.

    The images are mapped to [0, 1] and normalised with ImageNet's mean and std, as torchvision's VGG16
    expects. Only the layers up to the deepest one asked for exist, so nothing is computed past it.
    `source` (a dict: path or random seed, `random` flag) says where the weights came from.
    """

    def __init__(self, layers=IMAGE2STYLEGAN_LAYERS):
        super().__init__()
        unknown = [name for name in layers if name not in LAYER_INDEX]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layer(s) {unknown or layers}; choose from {', '.join(LAYER_INDEX)}")
        self.layers = tuple(layers)
        self.taps = [LAYER_INDEX[name] for name in self.layers]
        self.last_index = max(self.taps)
        modules, channels = [], 3
        for item in _CFG:
            if len(modules) > self.last_index:
                break
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features = nn.Sequential(*modules[: self.last_index + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        self.source = {}

    def forward(self, images):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [N, 3, H, W], got {list(images.shape)}")
        x = ((images + 1) * 0.5 - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        outputs, wanted = [], set(self.taps)
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                outputs.append(x)
        by_index = dict(zip(sorted(wanted), outputs))
        return [by_index[i] for i in self.taps]


def hub_checkpoint_path():
    """Where torchvision keeps its VGG16 file: $TORCH_HOME/hub/checkpoints/vgg16-397923af.pth."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILENAME


def _is_random(source):
    return isinstance(source, str) and re.fullmatch(r"random(:\d+)?", source) is not None


def find_weights(source=None, *, download=True):
    """Decide where VGG16 weights come from -> a Path, or the string 'random[:SEED]'.

    `source`: None or 'auto' (hub cache, then the registry), a file path, or 'random[:SEED]'.
    With `download=False` the registry is asked only for a file it already holds.
    Raises WeightsError, saying where to put the file, when none can be found.
    """
    if source not in (None, "auto"):
        if _is_random(source):
            return source
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsError(f"VGG16 weights file not found: {path} (expected torchvision's {TORCHVISION_FILENAME})")
        return path
    hub = hub_checkpoint_path()
    if hub.is_file():
        return hub
    from invert import weights

    cached = weights.cached_path("vgg16")
    if not download and not cached.is_file():
        raise WeightsError(f"no VGG16 weights at {hub} or {cached}")
    try:
        return weights.resolve("vgg16")
    except WeightsError as exc:
        raise WeightsError(
            f"VGG16 weights (torchvision's {TORCHVISION_FILENAME}, 528 MB) are needed for the perceptual loss "
            f"and could not be downloaded ({exc}). Put the file at {hub} or {cached}, or pass --vgg-weights PATH"
        ) from None


def random_state(seed=0):
    """Seeded random weights in torchvision's layout (every conv of `features`), torchvision's init."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in FEATURE_SHAPES.items():
        if key.endswith(".weight"):
            fan_out = shape[0] * shape[2] * shape[3]  # kaiming normal, mode='fan_out', ReLU gain
            state[key] = torch.randn(shape, generator=generator) * (2.0 / fan_out) ** 0.5
        else:
            state[key] = torch.zeros(shape)
    return state


def read_state(path):
    """Read a torchvision-format VGG16 state dict (weights only) -> {'features.K.*': tensor}.

    Every `features` tensor present must have torchvision's shape; `classifier.*` tensors are dropped;
    any other key means the file is not a torchvision VGG16 and is an error naming it.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"VGG16 weights file not found: {path}") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for a bad file
        raise WeightsError(f"cannot read VGG16 weights {path}: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a torchvision VGG16 state dict")
    features = {}
    for key, value in state.items():
        if isinstance(key, str) and key.startswith("classifier."):
            continue
        if key not in FEATURE_SHAPES:
            raise WeightsError(f"{path} is not a torchvision VGG16 state dict: unexpected tensor {key!r}")
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != FEATURE_SHAPES[key]:
            got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(f"{path}: {key} has shape {got}, expected {list(FEATURE_SHAPES[key])}")
        features[key] = value.float()
    return features


def load_state(source=None):
    """Resolve `source` (see `find_weights`) and read it -> (state dict, info dict).

    info: {'source': path or 'random:SEED', 'random': bool}. Random weights log a warning.
    """
    where = find_weights(source)
    if isinstance(where, str):
        seed = int(where.split(":")[1]) if ":" in where else 0
        log.warning("VGG16 with RANDOM weights (%s): perceptual distances are not ImageNet features", where)
        return random_state(seed), {"source": f"random:{seed}", "random": True}
    log.info("VGG16 weights: %s", where)
    return read_state(where), {"source": str(where), "random": False}


def build_features(state, *, layers=IMAGE2STYLEGAN_LAYERS, info=None, device="cpu"):
    """A `VGG16Features` for `layers` holding the tensors of `state`, checked strictly, eval, no grad."""
    net = VGG16Features(layers)
    keys = needed_keys(net.last_index)
    missing = [key for key in keys if key not in state]
    if missing:
        where = (info or {}).get("source", "the VGG16 weights")
        raise WeightsError(f"{where} lacks {missing[0]} (needed for layer(s) {', '.join(net.layers)})")
    net.load_state_dict({key: state[key] for key in keys}, strict=True)
    net.source = dict(info or {})
    return net.eval().requires_grad_(False).to(device)


def load_vgg16(source=None, *, layers=IMAGE2STYLEGAN_LAYERS, device="cpu"):
    """`load_state` + `build_features`: a ready VGG16 feature extractor for `layers`."""
    state, info = load_state(source)
    return build_features(state, layers=layers, info=info, device=device)
