"""Choosing a torch device from what the user typed (`auto`, `cpu`, `cuda`, `cuda:1`, `mps`)."""
import torch

from invert.errors import InvertError


def resolve_device(spec="auto"):
    """Return a torch.device; `auto` picks CUDA, then MPS, then CPU. Unavailable devices are an error."""
    if isinstance(spec, torch.device):
        return spec
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise InvertError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InvertError(f"device {spec!r} requested but CUDA is not available; compute on 'cpu' instead")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InvertError(f"device {spec!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise InvertError("device 'mps' requested but MPS is not available; compute on 'cpu' instead")
    elif device.type != "cpu":
        raise InvertError(f"unsupported device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def native_bf16(device):
    """Whether `device` computes bfloat16 in hardware: a CPU with AMX or AVX512-BF16, or a CUDA GPU that
    supports it without emulation (Ampere or newer). Elsewhere bf16 autocast is emulated and slower."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # older torch: no including_emulation
            return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        for check in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):  # private, so guarded
            try:
                if getattr(torch.cpu, check)():
                    return True
            except Exception:  # noqa: BLE001 - a missing or failing probe means: not known to be native
                continue
    return False


def bf16_autocast_pays(device):
    """Whether bf16 autocast was measured to speed projection up on this kind of device.

    Measured (bench/README.md): on a CPU with AMX tiles, x1.2-2.2 over float32; on an AMD EPYC with
    AVX512-BF16 but no AMX, x1.04, which is not worth results that differ from float32. So: only AMX CPUs.
    GPUs have not been measured yet, so the answer there is False.
    """
    device = torch.device(device)
    if device.type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_amx_tile_supported())  # private, so guarded
    except Exception:  # noqa: BLE001 - a missing or failing probe means: not known to pay
        return False
