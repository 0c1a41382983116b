"""The StyleGAN2 generator (config-f, 'skip' architecture) in plain PyTorch.

Parameter and buffer names are exactly those of NVIDIA's stylegan2-ada-pytorch `Generator.state_dict()`
(`mapping.fc0.weight`, `synthesis.b8.conv0.affine.bias`, ...), so every checkpoint format is converted
to that one layout and loaded with `strict=True`. Tensors hold the raw equalised-learning-rate values;
the run-time gains are applied in `forward`, as in the official code.

Shapes: z [N, z_dim]; ws [N, num_ws, w_dim]; images [N, img_channels, R, R], nominally in [-1, 1].
"""
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from invert.networks import ops


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that fixes the network's shape and arithmetic; read from a checkpoint, never guessed."""

    resolution: int                      # output side R, a power of two >= 8
    channels: dict                       # {resolution: feature channels} for 4, 8, ..., R
    z_dim: int = 512                     # input latent size
    w_dim: int = 512                     # intermediate latent size
    mapping_layers: int = 8              # fully connected layers in the mapping network
    mapping_lr_multiplier: float = 0.01  # equalised-lr multiplier of the mapping network
    img_channels: int = 3                # output colour channels
    conv_clamp: float = None             # clamp of conv and ToRGB outputs (ada's conv_clamp), None = off
    resample_taps: tuple = field(default=(1, 3, 3, 1))  # 1-D FIR taps of up-sampling

    def __post_init__(self):
        object.__setattr__(self, "channels", {int(r): int(c) for r, c in self.channels.items()})
        object.__setattr__(self, "resample_taps", tuple(self.resample_taps))

    @property
    def block_resolutions(self):
        return [2 ** i for i in range(2, int(math.log2(self.resolution)) + 1)]

    @property
    def num_ws(self):
        return 2 * int(math.log2(self.resolution)) - 2

    def to_dict(self):
        d = asdict(self)
        d["channels"] = {str(r): c for r, c in self.channels.items()}
        d["resample_taps"] = list(self.resample_taps)
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["channels"] = {int(r): int(c) for r, c in d["channels"].items()}
        return cls(**d)


class FullyConnectedLayer(nn.Module):
    """y = x @ (weight * lr/sqrt(in)).T + bias * lr, optionally with the scaled leaky ReLU."""

    def __init__(self, in_features, out_features, *, activation="linear", lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)  # [out, in]
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        weight = self.weight * self.weight_gain
        bias = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if self.activation == "lrelu":
            return ops.bias_lrelu(x.matmul(weight.t()), bias)
        return torch.addmm(bias.unsqueeze(0), x, weight.t())


class MappingNetwork(nn.Module):
    """z [N, z_dim] -> ws [N, num_ws, w_dim]: normalise z, `num_layers` scaled-lrelu FC layers, broadcast."""

    def __init__(self, *, z_dim, w_dim, num_ws, num_layers, lr_multiplier):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, w_dim, num_ws, num_layers
        features = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            layer = FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, truncation_psi=1.0, truncation_cutoff=None):
        x = ops.normalize_2nd_moment(z.to(torch.float32))
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            # w_avg + psi * (w - w_avg) on the first `truncation_cutoff` layers (all by default)
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws = ws.clone()
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally up-sampling by 2), plus noise, bias, scaled lrelu and clamp."""

    def __init__(self, in_channels, out_channels, *, w_dim, resolution, up, conv_clamp, resample_taps):
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.register_buffer("resample_filter", ops.make_resample_filter(resample_taps))

    def forward(self, x, w, *, noise_mode="const", noise=None):
        """x [N, I, H, W], w [N, w_dim]; `noise` [N or 1, 1, R, R] replaces the stored map when given."""
        styles = self.affine(w)
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up,
                                 resample_filter=self.resample_filter)
        if noise is not None:
            x = x + noise.to(x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        elif noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            x = x + torch.randn(shape, device=x.device, dtype=x.dtype) * self.noise_strength
        return ops.bias_lrelu(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation, plus bias and clamp."""

    def __init__(self, in_channels, out_channels, *, w_dim, conv_clamp):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x, w):
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False)
        return ops.bias_linear(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (const | up-sampling conv0), conv1, ToRGB added to the up-sampled skip image."""

    def __init__(self, in_channels, out_channels, *, w_dim, resolution, img_channels, conv_clamp,
                 resample_taps):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", ops.make_resample_filter(resample_taps))
        layer_args = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp, resample_taps=resample_taps)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=True, **layer_args)
        self.conv1 = SynthesisLayer(out_channels, out_channels, up=False, **layer_args)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x, img, ws, *, noise_mode="const", noise=(None, None)):
        """ws [N, num_conv + 1, w_dim]: one w per conv layer, then the ToRGB's w."""
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode=noise_mode, noise=noise[0])
        else:
            x = self.conv0(x, ws[:, 0], noise_mode=noise_mode, noise=noise[0])
            x = self.conv1(x, ws[:, 1], noise_mode=noise_mode, noise=noise[1])
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else ops.upsample_2x(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, R, R].

    W+ routing: block b4 takes ws[:, 0] (conv1) and ws[:, 1] (ToRGB); the block at 2^(k+3) takes
    ws[:, 2k+1] (conv0), ws[:, 2k+2] (conv1) and ws[:, 2k+3] (ToRGB), so each ToRGB shares its w with
    the next block's conv0. Noise maps run in the same order: num_ws - 1 of them, one per conv layer.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.num_ws = config.num_ws
        for res in config.block_resolutions:
            in_channels = config.channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_channels, config.channels[res], w_dim=config.w_dim, resolution=res,
                                   img_channels=config.img_channels, conv_clamp=config.conv_clamp,
                                   resample_taps=config.resample_taps)
            setattr(self, f"b{res}", block)

    def blocks(self):
        return [getattr(self, f"b{res}") for res in self.config.block_resolutions]

    def noise_layers(self):
        """The conv layers that take noise, in noise-index order."""
        layers = []
        for block in self.blocks():
            if block.in_channels:
                layers.append(block.conv0)
            layers.append(block.conv1)
        return layers

    def noise_shapes(self):
        return [(layer.resolution, layer.resolution) for layer in self.noise_layers()]

    def forward(self, ws, noise_mode="const", noise=None):
        """`noise_mode` is 'const' (stored maps), 'random' or 'none'; `noise`, a list of num_ws - 1 maps
        [N or 1, 1, r, r] (or [r, r]), replaces the stored maps (Image2StyleGAN++ optimises these)."""
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', not {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.config.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.config.w_dim}], got {list(ws.shape)}")
        if noise is not None and len(noise) != self.num_ws - 1:
            raise ValueError(f"expected {self.num_ws - 1} noise maps, got {len(noise)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_index = noise_index = 0
        for block in self.blocks():
            block_ws = ws[:, w_index: w_index + block.num_conv + 1]
            block_noise = [None, None]
            if noise is not None:
                for j in range(block.num_conv):
                    block_noise[j] = _noise_map(noise[noise_index + j])
            x, img = block(x, img, block_ws, noise_mode=noise_mode, noise=block_noise)
            w_index += block.num_conv
            noise_index += block.num_conv
        return img


def _noise_map(noise):
    if noise.ndim == 2:
        return noise[None, None]
    return noise


class Generator(nn.Module):
    """The whole generator: `.mapping(z, truncation_psi)` -> ws, `.synthesis(ws, noise_mode)` -> images.

    Attributes a user reads: z_dim, w_dim, num_ws, resolution, w_avg [w_dim], config, and `source`, a
    dict describing where the weights came from (format, path, sha256, whether they are random).
    """

    def __init__(self, config, *, source=None):
        super().__init__()
        self.config = config
        self.source = dict(source or {})
        self.z_dim, self.w_dim = config.z_dim, config.w_dim
        self.num_ws, self.resolution, self.img_channels = config.num_ws, config.resolution, config.img_channels
        self.mapping = MappingNetwork(z_dim=config.z_dim, w_dim=config.w_dim, num_ws=config.num_ws,
                                      num_layers=config.mapping_layers,
                                      lr_multiplier=config.mapping_lr_multiplier)
        self.synthesis = SynthesisNetwork(config)

    @property
    def w_avg(self):
        return self.mapping.w_avg

    @property
    def is_random(self):
        return bool(self.source.get("random"))

    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, truncation_psi=truncation_psi), noise_mode=noise_mode)
