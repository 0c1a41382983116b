"""A restricted unpickler for NVIDIA's network pickles that never runs code a pickle asks for.

Official pickles reconstruct their modules with `torch_utils.persistence._reconstruct_persistent_obj`,
which `exec`s the `module_src` stored in the file, and the TensorFlow ones carry `build_module_src` for
the same purpose. Here every global a pickle names is looked up in an explicit allowlist, and the
persistence hooks resolve to inert record types: the source is kept as a string and never executed.
Any other global (os.system, builtins.eval, subprocess.Popen, ...) stops the load with an error naming
it. Tensor storages embedded as bytes are read by `torch.load(..., weights_only=True)`, so a payload
hidden inside a tensor's state is refused by torch's own restricted unpickler. (An own parser of those
storage records was ~40 ms faster per load; every load hashes the whole file anyway, so it was dropped.)
"""
import collections
import io
import pickle
import re

import numpy as np
import torch

from invert.errors import CheckpointError, UnsafePickleError


class PersistentObject:
    """What `_reconstruct_persistent_obj(meta)` becomes: a class name and the module's `__dict__`.

    ada/stylegan3 `meta` = {'type': 'class', 'version': int, 'module_src': str, 'class_name': str,
    'state': dict}. Only `class_name` and `state` are kept; `module_src` is dropped unread.
    """

    def __init__(self, class_name, state):
        self.class_name = class_name
        self.state = state

    @property
    def parameters(self):
        return self.state.get("_parameters") or {}

    @property
    def buffers(self):
        return self.state.get("_buffers") or {}

    @property
    def children(self):
        return self.state.get("_modules") or {}

    @property
    def init_kwargs(self):
        return self.state.get("_init_kwargs") or {}

    def tensors(self, prefix=""):
        """Parameters and buffers of this module and its children, named as in a state_dict."""
        out = {}
        for name, value in list(self.parameters.items()) + list(self.buffers.items()):
            if value is not None:
                out[prefix + name] = value
        for name, child in self.children.items():
            if isinstance(child, PersistentObject):
                out.update(child.tensors(prefix + name + "."))
        return out

    def class_names(self):
        names = {self.class_name}
        for child in self.children.values():
            if isinstance(child, PersistentObject):
                names |= child.class_names()
        return names

    def __repr__(self):
        return f"PersistentObject({self.class_name})"


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise CheckpointError("malformed persistent object in network pickle")
    return PersistentObject(str(meta.get("class_name")), meta["state"])


class TFNetwork:
    """What `dnnlib.tflib.network.Network` becomes: its pickled state (name, static_kwargs, components,
    variables); `build_module_src` is dropped unread."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise CheckpointError("malformed TensorFlow network state in pickle")
        state = dict(state)
        state.pop("build_module_src", None)
        self.__dict__.update(state)

    @property
    def variables(self):
        return dict(self.__dict__.get("variables") or [])

    def __repr__(self):
        return f"TFNetwork({self.__dict__.get('name')})"


class EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict (a dict with attribute access)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _load_storage_from_bytes(data):
    """torch.storage._load_from_bytes: a legacy torch.save stream holding one storage, read by torch's
    own restricted unpickler (weights_only=True)."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("malformed tensor storage in pickle")
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        refusal = weights_only_refusal(exc)
        if refusal:
            raise UnsafePickleError(f"refused a tensor storage inside the pickle: {refusal}") from None
        raise CheckpointError(f"corrupt tensor storage in pickle: {torch_load_problem(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - any failure here means a corrupt file
        raise CheckpointError(f"corrupt tensor storage in pickle: {_first_line(exc)}") from None


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if isinstance(storage, torch.TypedStorage):
        dtype, untyped = storage.dtype, storage._untyped_storage
    elif isinstance(storage, torch.UntypedStorage):
        dtype, untyped = torch.uint8, storage
    else:
        raise CheckpointError("malformed tensor in pickle (its storage is not a torch storage)")
    try:
        tensor = torch.empty((0,), dtype=dtype)
        tensor.set_(untyped, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))
    except RuntimeError as exc:
        raise CheckpointError(f"malformed tensor in pickle: {_first_line(exc)}") from None
    return tensor


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *extra):
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("malformed parameter in pickle")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data)


def _numpy_reconstruct(subtype, shape, dtype_code):
    if subtype is not np.ndarray:
        raise UnsafePickleError("refused numpy array reconstruction of a type other than numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("refused a numpy object scalar in pickle")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type()


def _numpy_dtype(spec, align=False, copy=False):
    dtype = np.dtype(spec, align, copy)
    if dtype.hasobject:
        raise UnsafePickleError("refused a numpy object dtype in pickle")
    return dtype


def _safe_set(items=()):
    return set(items)


# (module, name) -> the object it resolves to. numpy 1.x pickles spell `numpy.core`, numpy 2 `numpy._core`.
ALLOWED_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): _safe_set,
    ("__builtin__", "set"): _safe_set,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves only `ALLOWED_GLOBALS` and no persistent ids."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load: the pickle asks for {module}.{name}, which is not an allowed "
                "network-pickle global (nothing was executed)") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("refused to load: the pickle uses persistent ids, which network pickles do not")


def restricted_load(stream):
    """Unpickle one object from a binary stream with the allowlist; errors are CheckpointError."""
    try:
        return RestrictedUnpickler(stream).load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError, RecursionError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"not a readable network pickle ({exc.__class__.__name__}: {_first_line(exc)})") from None


def weights_only_refusal(exc):
    """What torch.load(weights_only=True) refused, from its UnpicklingError, without torch's advice to load
    with weights_only=False: 'it asks for MODULE.NAME, ...'. None when no global was refused (a corrupt
    file raises UnpicklingError too; see `torch_load_problem`)."""
    match = re.search(r"GLOBAL ([\w.]+)", str(exc))
    if match is None:
        return None
    return (f"it asks for {match.group(1)}, which is not tensor data; nothing was executed. Only files that "
            "hold tensors and plain data are read")


def torch_load_problem(exc):
    """torch.load's error as one short line, without its advice to load with weights_only=False."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
    elif "weights_only" in text:
        text = "not readable as tensor data"
    return " ".join(text.split())[:200] or type(exc).__name__


def _first_line(exc):
    text = " ".join(str(exc).split())
    return text[:300] if text else exc.__class__.__name__
