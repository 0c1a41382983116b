"""Device choice and the bf16 hardware probe."""
import pytest
import torch

from invert import devices
from invert.errors import InvertError


def test_resolve_device():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device(" CPU ") == torch.device("cpu")
    assert devices.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(InvertError, match="unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"):
        devices.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvertError, match="CUDA is not available; use --device cpu"):
            devices.resolve_device("cuda")


@pytest.mark.parametrize("amx,avx512_bf16,expected", [(True, False, True), (False, True, True),
                                                      (False, False, False)])
def test_native_bf16_on_cpu_reads_the_cpu_flags(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert devices.native_bf16("cpu") is expected


def test_native_bf16_is_false_when_the_probe_is_missing_or_fails(monkeypatch):
    def broken():
        raise RuntimeError("cpuinfo unavailable")

    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", broken)
    assert devices.native_bf16("cpu") is False
    assert devices.native_bf16("meta") is False
