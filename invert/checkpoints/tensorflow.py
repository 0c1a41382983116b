"""The original TensorFlow StyleGAN2 pickles: a tuple (G, D, Gs) of `dnnlib.tflib.network.Network`.

We take `Gs` and convert its variables to ada names with the same transforms as ada's `legacy.py`:
dense and conv weights transposed, the up-sampling conv `Conv0_up` flipped spatially, `mod_bias` + 1,
noise maps squeezed. `dlatent_avg` lives on Gs itself, not on its mapping component.
"""
import re

import numpy as np
import torch

from invert.checkpoints.unpickler import TFNetwork
from invert.checkpoints.layout import name_noise_maps
from invert.errors import CheckpointError

TF = "TensorFlow StyleGAN2 pickle"

# TF defaults of G_main / G_mapping / G_synthesis_stylegan2 for kwargs a file may omit.
_DEFAULTS = {"mapping_lrmul": 0.01, "architecture": "skip", "label_size": 0, "conv_clamp": None}

_IGNORED = {"lod"}  # Gs's progressive-growing level of detail: a training-time scalar


def is_tf_pickle(obj):
    return isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, TFNetwork) for n in obj)


def _array(value, name):
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise CheckpointError(f"{TF}: variable {name} is not a float array")
    return torch.from_numpy(np.array(value, dtype=np.float32))


def convert(networks):
    """(G, D, Gs) -> (format name, ada state dict, conv_clamp, mapping lr multiplier, notes)."""
    gs = networks[2]
    kwargs = dict(getattr(gs, "static_kwargs", {}) or {})
    settings = {**_DEFAULTS, **kwargs}
    if settings["architecture"] != "skip":
        raise CheckpointError(f"{TF}: generator architecture {settings['architecture']!r}; only 'skip' is supported")
    if int(settings["label_size"] or 0) != 0:
        raise CheckpointError(f"{TF}: conditional generator (label_size={settings['label_size']}); "
                              "only unconditional generators are supported")
    components = getattr(gs, "components", {}) or {}
    if "mapping" not in components or "synthesis" not in components:
        raise CheckpointError(f"{TF}: Gs lacks its mapping/synthesis components")
    state = {}
    unused = []
    for name, value in gs.variables.items():
        if name == "dlatent_avg":
            state["mapping.w_avg"] = _array(value, name)
        elif name not in _IGNORED:
            unused.append(f"Gs/{name}")
    for name, value in components["mapping"].variables.items():
        m = re.fullmatch(r"Dense(\d+)/(weight|bias)", name)
        if not m:
            unused.append(f"mapping/{name}")
            continue
        tensor = _array(value, name)
        state[f"mapping.fc{m.group(1)}.{m.group(2)}"] = tensor.t() if m.group(2) == "weight" else tensor
    for name, value in components["synthesis"].variables.items():
        target = _synthesis_name(name)
        if target is None:
            unused.append(f"synthesis/{name}")
            continue
        state[target] = _synthesis_tensor(name, _array(value, name))
    if unused:
        raise CheckpointError(f"{TF}: unexpected variable {unused[0]} (refusing to ignore it)")
    noises = {key[1]: state.pop(key) for key in [k for k in state if isinstance(k, tuple)]}
    state.update(name_noise_maps(noises))
    return TF, state, settings["conv_clamp"], settings["mapping_lrmul"], {"static_kwargs": dict(kwargs)}


def _synthesis_name(name):
    if m := re.fullmatch(r"noise(\d+)", name):
        return ("noise", int(m.group(1)))
    if name == "4x4/Const/const":
        return "synthesis.b4.const"
    m = re.fullmatch(r"(\d+)x\d+/(Conv|Conv0_up|Conv1|ToRGB)/(weight|mod_weight|mod_bias|noise_strength|bias)", name)
    if not m:
        return None
    res, layer, var = m.groups()
    layer = {"Conv": "conv1", "Conv0_up": "conv0", "Conv1": "conv1", "ToRGB": "torgb"}[layer]
    if layer == "conv1" and (m.group(2) == "Conv") != (res == "4"):
        return None
    var = {"mod_weight": "affine.weight", "mod_bias": "affine.bias"}.get(var, var)
    return f"synthesis.b{res}.{layer}.{var}"


def _synthesis_tensor(name, tensor):
    if name.startswith("noise"):
        return tensor.reshape(tensor.shape[-2:]) if tensor.ndim == 4 and tensor.shape[:2] == (1, 1) else tensor
    if name == "4x4/Const/const":
        return tensor[0] if tensor.ndim == 4 else tensor
    if name.endswith("/mod_weight"):
        return tensor.t()
    if name.endswith("/mod_bias"):
        return tensor + 1
    if name.endswith("/weight"):
        if "Conv0_up" in name:
            tensor = tensor.flip([0, 1])
        return tensor.permute(3, 2, 0, 1)  # [kh, kw, I, O] -> [O, I, kh, kw]
    return tensor
