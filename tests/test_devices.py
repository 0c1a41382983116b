"""Device choice and the bf16 hardware probe."""
import pytest
import torch

from invert import devices
from invert.errors import InvertError


def test_resolve_device():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device(" CPU ") == torch.device("cpu")
    with pytest.raises(InvertError, match="unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"):
        devices.resolve_device("tpu")


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert devices.resolve_device("auto") == torch.device(expected)


def test_unavailable_devices_are_refused_without_naming_a_flag(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(InvertError, match="'cuda' requested but CUDA is not available; compute on 'cpu' instead"):
        devices.resolve_device("cuda")
    with pytest.raises(InvertError, match="'mps' requested but MPS is not available") as info:
        devices.resolve_device("mps")
    assert "--" not in str(info.value)  # the command line adds its option's name


@pytest.mark.parametrize("amx,expected", [(True, True), (False, False)])
def test_bf16_autocast_pays_only_where_measured(monkeypatch, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)  # AMD EPYC: x1.04, no tip
    assert devices.bf16_autocast_pays("cpu") is expected
    assert devices.bf16_autocast_pays("meta") is False


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
