"""The files users hold were written by Python 3.7, numpy 1.x and older torch: read those variants too.

The fixtures were written with protocol 4 and numpy 2 names. Here the same G_ema tree is written again
the way NVIDIA's 2020-21 pickles were: protocol 3 (GLOBAL opcodes), `builtins.set` for empty sets,
`numpy.core.multiarray.scalar`, storages as legacy torch.save blobs, a smaller set of module-state keys,
and (stylegan3 repository) kwargs without conv_clamp / num_fp16_res, which must then default to 256.
"""
import collections
import io
import pickle
import pickletools
import sys
import types

import numpy as np
import pytest
import torch

from invert.checkpoints import load_generator
from numerics import assert_close_to_scale

pytestmark = pytest.mark.numerics  # official images reproduced: float32 rounding relative to their magnitude
from invert.checkpoints.unpickler import PersistentObject, restricted_load


def _fake_global(module_name, name):
    """A function that pickle will write as GLOBAL module_name.name (the module is faked if absent)."""
    def fn(*args):  # pragma: no cover - never called, only named
        raise AssertionError
    fn.__module__, fn.__qualname__, fn.__name__ = module_name, name, name
    return fn


class _LegacyPickler(pickle.Pickler):
    def __init__(self, file, fakes):
        super().__init__(file, protocol=3)
        self.fakes = fakes

    def reducer_override(self, obj):
        if isinstance(obj, PersistentObject):
            state = {"training": False, "_parameters": collections.OrderedDict(obj.parameters),
                     "_buffers": collections.OrderedDict(obj.buffers),
                     "_non_persistent_buffers_set": set(),
                     "_backward_hooks": collections.OrderedDict(), "_forward_hooks": collections.OrderedDict(),
                     "_forward_pre_hooks": collections.OrderedDict(), "_state_dict_hooks": collections.OrderedDict(),
                     "_load_state_dict_pre_hooks": collections.OrderedDict(),
                     "_modules": collections.OrderedDict(obj.children), "_init_args": (),
                     "_init_kwargs": obj.init_kwargs}
            for key, value in obj.state.items():
                if not key.startswith("_") and key not in state:
                    state[key] = value
            meta = dict(type="class", version=4, module_src="# source omitted", class_name=obj.class_name,
                        state=state)
            return self.fakes["persist"], (meta,)
        if isinstance(obj, torch.Tensor):
            storage = obj.detach().contiguous().clone()
            return torch._utils._rebuild_tensor_v2, (_StorageBlob(storage), 0, tuple(obj.shape),
                                                     tuple(storage.stride()), False, collections.OrderedDict())
        if isinstance(obj, _StorageBlob):
            # old torch saved typed storages (torch.FloatStorage), in the legacy non-zip layout
            typed = torch.storage.TypedStorage(wrap_storage=obj.tensor.untyped_storage(), dtype=obj.tensor.dtype,
                                               _internal=True)
            buffer = io.BytesIO()
            torch.save(typed, buffer, _use_new_zipfile_serialization=False)
            return torch.storage._load_from_bytes, (buffer.getvalue(),)
        if isinstance(obj, np.floating):
            return self.fakes["scalar"], (obj.dtype, obj.tobytes())
        if type(obj).__name__ == "EasyDict":
            return self.fakes["easydict"], (), None, None, iter(obj.items())
        return NotImplemented


class _StorageBlob:
    def __init__(self, tensor):
        self.tensor = tensor


@pytest.fixture()
def fake_modules(monkeypatch):
    fakes = {"persist": _fake_global("torch_utils.persistence", "_reconstruct_persistent_obj"),
             "scalar": _fake_global("numpy.core.multiarray", "scalar"),
             "easydict": type("EasyDict", (dict,), {"__module__": "dnnlib.util"})}
    for parent in ("torch_utils", "dnnlib"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    for module_name, attr, obj in [("torch_utils.persistence", "_reconstruct_persistent_obj", fakes["persist"]),
                                   ("numpy.core.multiarray", "scalar", fakes["scalar"]),
                                   ("dnnlib.util", "EasyDict", fakes["easydict"])]:
        module = types.ModuleType(module_name)
        setattr(module, attr, obj)
        monkeypatch.setitem(sys.modules, module_name, module)
    return fakes


def _rewrite(snapshot, path, fakes, kwargs_edit=None):
    g_ema = snapshot["G_ema"]
    if kwargs_edit:
        kwargs_edit(g_ema.state["_init_kwargs"])
    with open(path, "wb") as f:
        _LegacyPickler(f, fakes).dump({"G_ema": g_ema, "training_set_kwargs": {"resolution": 32}})


def _globals(path):
    return {arg for op, arg, _ in pickletools.genops(path.read_bytes()) if op.name == "GLOBAL"}


def test_python37_numpy1_era_ada_pickle(sg2_dir, tmp_path, fake_modules):
    with open(sg2_dir / "adalike_ada.pkl", "rb") as f:
        snapshot = restricted_load(f)
    path = tmp_path / "legacy.pkl"
    _rewrite(snapshot, path, fake_modules)
    data = path.read_bytes()
    assert data[:2] == b"\x80\x03"
    names = _globals(path)
    assert {"numpy.core.multiarray scalar", "builtins set", "torch_utils.persistence _reconstruct_persistent_obj",
            "torch.storage _load_from_bytes"} <= names
    G = load_generator(path)
    e = np.load(sg2_dir / "adalike_expected.npz")
    with torch.no_grad():
        assert_close_to_scale(G.synthesis(torch.from_numpy(e["ws"])), e["img"], rtol=1e-5)
        # |img_big| reaches 1080 (ToRGB driven past conv_clamp): 2e-2 is 2e-5 of it
        assert float((G.synthesis(torch.from_numpy(e["ws_big"])) - torch.from_numpy(e["img_big"])).abs().max()) < 2e-2
    assert G.config.conv_clamp == 256


def test_stylegan3_repo_pickle_without_clamp_kwargs_defaults_to_256(sg2_dir, tmp_path, fake_modules):
    with open(sg2_dir / "tiny_sg3repo.pkl", "rb") as f:
        snapshot = restricted_load(f)
    path = tmp_path / "sg3_default.pkl"

    def drop_fp32_keys(kwargs):
        kwargs.pop("conv_clamp")
        kwargs.pop("num_fp16_res")

    _rewrite(snapshot, path, fake_modules, drop_fp32_keys)
    G = load_generator(path)
    assert G.source["format"].startswith("stylegan3-repository")
    assert G.config.conv_clamp == 256
    e = np.load(sg2_dir / "tiny_expected.npz")
    with torch.no_grad():  # ordinary images stay far below the clamp, so they still match
        assert_close_to_scale(G.synthesis(torch.from_numpy(e["ws"])), e["img"], rtol=1e-5)
