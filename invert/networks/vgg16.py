"""VGG16 convolutional features for the perceptual loss (Image2StyleGAN) and for LPIPS.

`VGG16Features` is torchvision's own `vgg16().features`, cut after the last layer asked for, with taps
on the post-ReLU activations of the layers asked for. Its parameter names are torchvision's
(`features.0.weight`, ..., `features.28.bias`), so torchvision's ImageNet state dict loads into it with
every tensor checked. This module only builds the network and checks tensors; where the weights come
from (torch hub cache, a user's file, seeded random weights) is `invert.vgg_weights`.

torchvision's `features` indices, and the names used here for the post-ReLU activations:

    conv1_1 1   conv1_2 3   (pool 4)
    conv2_1 6   conv2_2 8   (pool 9)
    conv3_1 11  conv3_2 13  conv3_3 15  (pool 16)
    conv4_1 18  conv4_2 20  conv4_3 22  (pool 23)
    conv5_1 25  conv5_2 27  conv5_3 29

Image2StyleGAN's perceptual loss reads conv1_1, conv1_2, conv3_2 and conv4_2 (indices 1, 3, 13, 20).
"""
import functools

import torch
from torch import nn

from invert.errors import WeightsError

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


def _torchvision_features():
    """torchvision's `vgg16().features` with no memory behind it (meta device): the layer structure only.

    Built on the meta device because `vgg16()` also builds a 120M-parameter classifier that is not used.
    """
    from torchvision.models import vgg16

    with torch.device("meta"):
        return vgg16(weights=None).features


@functools.lru_cache(maxsize=None)
def _feature_shapes():
    return {f"features.{key}": tuple(value.shape) for key, value in _torchvision_features().state_dict().items()}


def feature_shapes():
    """{'features.K.weight': shape, 'features.K.bias': shape} for every conv of torchvision's VGG16, in order."""
    return dict(_feature_shapes())


def needed_keys(last_index):
    """The state-dict keys a network cut after `features[last_index]` needs."""
    return [key for key in _feature_shapes() if int(key.split(".")[1]) <= last_index]


def check_state(state, where="the VGG16 weights"):
    """A torchvision VGG16 state dict -> its `features.*` tensors as float32; `classifier.*` is dropped.

    Every `features` tensor present must have torchvision's shape; any other key means the dict is not a
    torchvision VGG16 and is a WeightsError naming `where` and the key.
    """
    if not isinstance(state, dict):
        raise WeightsError(f"{where} holds a {type(state).__name__}, not a torchvision VGG16 state dict")
    shapes, features = _feature_shapes(), {}
    for key, value in state.items():
        if isinstance(key, str) and key.startswith("classifier."):
            continue
        if key not in shapes:
            raise WeightsError(f"{where} is not a torchvision VGG16 state dict: unexpected tensor {key!r}")
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shapes[key]:
            got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(f"{where}: {key} has shape {got}, expected {list(shapes[key])}")
        features[key] = value.float()
    return features


class VGG16Features(nn.Module):
    """images [N, 3, H, W] in [-1, 1] -> list of post-ReLU feature maps [N, C_l, H_l, W_l], one per layer.

    The images are mapped to [0, 1] and normalised with ImageNet's mean and std, as torchvision's VGG16
    expects. Only the layers up to the deepest one asked for exist, so nothing is computed past it.
    The parameters are uninitialised until `build_features` (or load_state_dict) fills them.
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
        self.features = _torchvision_features()[: self.last_index + 1].to_empty(device="cpu")
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # the tapped activations must survive the next layer
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        self.source = {}

    def forward(self, images):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [N, 3, H, W], got {list(images.shape)}")
        x = ((images + 1) * 0.5 - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        outputs, wanted = {}, set(self.taps)
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                outputs[index] = x
        return [outputs[i] for i in self.taps]


def build_features(state, *, layers=IMAGE2STYLEGAN_LAYERS, info=None, device="cpu"):
    """A `VGG16Features` for `layers` holding the tensors of `state`, checked strictly, eval, no grad.

    `info` ({'source': ..., 'random': bool}, from `invert.vgg_weights.load_state`) is kept as `.source`.
    """
    net = VGG16Features(layers)
    keys = needed_keys(net.last_index)
    missing = [key for key in keys if key not in state]
    if missing:
        where = (info or {}).get("source", "the VGG16 weights")
        raise WeightsError(f"{where} lacks {missing[0]} (needed for layer(s) {', '.join(net.layers)})")
    net.load_state_dict({key: state[key] for key in keys}, strict=True)
    net.source = dict(info or {})
    return net.eval().requires_grad_(False).to(device)
