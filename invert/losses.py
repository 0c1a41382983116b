"""The projection losses: pixel MSE plus a perceptual distance (Image2StyleGAN's VGG16 features, or LPIPS).

Every loss here returns one value per image, shape [N], so that the projector can sum them over a batch
(each image's latent then gets exactly the gradient it would get alone) and keep the best latent of each
image separately. Images are [N, 3, H, W] in [-1, 1]; masks are [N or 1, 1, H, W] in [0, 1] with 1 marking
known pixels.

The perceptual networks see images at most `size` pixels wide (256, as in Image2StyleGAN and NVIDIA's
projector): larger images are area-downsampled, smaller ones are used as they are (VGG is fully
convolutional, and upsampling would only cost time). Target features are computed once, by `prepare`.
"""
import re
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from invert.errors import WeightsError

PERCEPTUAL_SIZE = 256


def downsample(images, size=PERCEPTUAL_SIZE):
    """Area-downsample [N, C, H, W] to [N, C, size, size] when H > size; smaller images pass unchanged."""
    if size is None or images.shape[-1] <= size:
        return images
    return F.interpolate(images, size=(size, size), mode="area")


def masked_mean(values, mask=None):
    """Per-image mean of `values` [N, C, h, w] -> [N]; weighted by `mask` [N or 1, 1, H, W] resized to h x w.

    With a mask, the result is sum(mask * values) / (sum(mask) * C): the mean over known positions.
    """
    if mask is None:
        return values.mean(dim=(1, 2, 3))
    mask = mask.to(values.dtype)
    if mask.shape[-2:] != values.shape[-2:]:
        mask = F.interpolate(mask, size=values.shape[-2:], mode="area")
    mask = mask.expand(values.shape[0], 1, *values.shape[-2:])
    known = mask.sum(dim=(1, 2, 3)) * values.shape[1]
    return (values * mask).sum(dim=(1, 2, 3)) / known.clamp_min(1e-8)


def pixel_mse(images, target, mask=None):
    """Mean squared error per image [N] between [N, 3, H, W] images, over the known pixels of `mask`."""
    return masked_mean((images.float() - target.float()).square(), mask)


class _FeatureDistance(nn.Module):
    """What the perceptual losses share: mask, downsample to `size`, memory format, then the trunk.

    Subclasses set `size`, `channels_last` and `extractor` (a replacement for `trunk`, e.g. a compiled
    one, set by the projector) and define `trunk_module`, `trunk(images)` and `distance`.
    """

    def features(self, images, mask=None):
        """images [N, 3, H, W] -> list of feature maps (the images masked first, when a mask is given)."""
        if mask is not None:
            images = images * mask.to(images.dtype)
        images = downsample(images, self.size)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return (self.extractor or self.trunk)(images)


class VGGPerceptual(_FeatureDistance):
    """Image2StyleGAN's perceptual loss: sum over VGG16 layers of the feature MSE, per image.

    `vgg` is a `VGG16Features` (conv1_1, conv1_2, conv3_2, conv4_2 by default). With a mask, both
    images are multiplied by it before VGG (unknown pixels become 0, mid-grey) and each layer's squared
    differences are averaged over the mask resized to that layer's resolution.
    """

    def __init__(self, vgg, *, size=PERCEPTUAL_SIZE, channels_last=False):
        super().__init__()
        self.vgg, self.size, self.channels_last = vgg, size, channels_last
        self.extractor = None  # a replacement for `trunk` (a compiled one), set by the projector

    @property
    def trunk_module(self):
        return self.vgg

    def trunk(self, images):
        """The network itself: (downsampled, masked) images -> list of feature maps."""
        return self.vgg(images)

    def distance(self, features, target_features, mask=None):
        """Per-image [N] sum over layers of mean squared feature differences (in float32)."""
        total = 0
        for ours, theirs in zip(features, target_features):
            total = total + masked_mean((ours.float() - theirs.float()).square(), mask)
        return total


class LPIPSPerceptual(_FeatureDistance):
    """LPIPS (Zhang et al. 2018, the `lpips` package, net='vgg', v0.1) as a per-image loss and metric.

    The package's learned linear layers (shipped inside it) are used as they are; its VGG16 trunk gets
    the tensors of `vgg_state` (torchvision layout, conv1_1 .. conv5_3), so LPIPS reads the same VGG16
    weights file as the rest of the toolkit instead of downloading its own. With a mask, each layer's
    weighted distance map is averaged over the mask resized to that layer, instead of over the image.
    """

    def __init__(self, vgg_state, *, size=PERCEPTUAL_SIZE, info=None):
        super().__init__()
        try:
            import lpips
        except ImportError:  # pragma: no cover - lpips is a dependency
            raise WeightsError("the lpips package is not installed; `pip install lpips`") from None
        from invert.networks.vgg16 import needed_keys

        missing = [key for key in needed_keys(29) if key not in vgg_state]
        if missing:
            where = (info or {}).get("source", "the VGG16 weights")
            raise WeightsError(f"{where} lacks {missing[0]}, which LPIPS needs (conv1_1 to conv5_3)")
        self.size = size
        self._normalize = lpips.normalize_tensor
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's deprecation notes about `pretrained=`
            self.model = lpips.LPIPS(net="vgg", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        trunk = {}
        for key in self.model.net.state_dict():
            index, name = re.fullmatch(r"slice\d+\.(\d+)\.(weight|bias)", key).groups()
            trunk[key] = vgg_state[f"features.{index}.{name}"]
        self.model.net.load_state_dict(trunk, strict=True)
        self.model.eval().requires_grad_(False)
        self.source = dict(info or {})
        self.channels_last = False
        self.extractor = None  # a replacement for `trunk` (a compiled one), set by the projector

    @property
    def trunk_module(self):
        return self.model.net

    def trunk(self, images):
        return list(self.model.net(self.model.scaling_layer(images)))

    def distance(self, features, target_features, mask=None):
        total = 0
        for lin, ours, theirs in zip(self.model.lins, features, target_features):
            diff = (self._normalize(ours.float()) - self._normalize(theirs.float())).square()
            total = total + masked_mean(lin.float()(diff), mask)
        return total

    def forward(self, images_a, images_b):
        """LPIPS distance per image [N] between two batches [N, 3, H, W] in [-1, 1]."""
        return self.distance(self.features(images_a), self.features(images_b))


@dataclass
class PreparedTarget:
    """A target batch with everything the loss needs from it, computed once."""

    images: torch.Tensor    # [N, 3, R, R] in [-1, 1]
    mask: torch.Tensor      # [N or 1, 1, R, R] in [0, 1], or None
    features: list          # perceptual features of the (masked) target, or None


class ProjectionLoss(nn.Module):
    """mse_weight * pixel MSE + perceptual_weight * perceptual distance, per image [N].

    `perceptual` is a `VGGPerceptual` or `LPIPSPerceptual`, or None for pixel MSE alone.
    """

    def __init__(self, perceptual, *, mse_weight=1.0, perceptual_weight=1.0):
        super().__init__()
        if perceptual is None and perceptual_weight:
            raise ValueError("perceptual_weight > 0 needs a perceptual network")
        self.perceptual = perceptual
        self.mse_weight, self.perceptual_weight = float(mse_weight), float(perceptual_weight)

    @property
    def uses_perceptual(self):
        return self.perceptual is not None and self.perceptual_weight != 0

    def prepare(self, target, mask=None):
        """Compute the target's features once -> PreparedTarget."""
        features = None
        if self.uses_perceptual:
            with torch.no_grad():
                # clone: a compiled trunk replayed as a CUDA graph reuses its output memory on the next run
                features = [f.detach().clone() for f in self.perceptual.features(target, mask)]
        return PreparedTarget(images=target, mask=mask, features=features)

    def forward(self, images, prepared):
        """images [N, 3, R, R] -> loss per image [N] (float32)."""
        features = None
        if self.uses_perceptual:
            features = self.perceptual.features(images, prepared.mask)  # under the caller's autocast, if any
        with torch.autocast(images.device.type, enabled=False):  # the loss itself always in float32
            loss = torch.zeros(images.shape[0], device=images.device)
            if self.mse_weight:
                loss = loss + self.mse_weight * pixel_mse(images, prepared.images, prepared.mask)
            if features is not None:
                distance = self.perceptual.distance(features, prepared.features, prepared.mask)
                loss = loss + self.perceptual_weight * distance
        return loss
