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
            raise InvertError(f"device {spec!r} requested but CUDA is not available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InvertError(f"device {spec!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise InvertError("device 'mps' requested but MPS is not available; use --device cpu")
    elif device.type != "cpu":
        raise InvertError(f"unsupported device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    return device
