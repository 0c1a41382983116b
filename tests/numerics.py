"""Comparing float results that were computed along different paths.

Different batch sizes, CPU kernels (oneDNN and MKL choose them per batch size and per instruction set),
thread counts and devices sum in different orders, so float32 results of a deep network agree to
rounding that grows with the network's depth and with the magnitude of its activations, not bit for
bit. Such results are compared relative to the largest magnitude involved: an element-wise rtol would
fail on the elements that happen to be near zero. Bit-identity is asserted only where it is real: the
same code path on the same input. `make test` runs the tests marked `numerics` a second time with
oneDNN, MKL and ATen held to AVX2 and one thread, so a tolerance that only holds on one CPU fails there.
"""
import numpy as np


def as_float64(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def assert_close_to_scale(actual, expected, *, rtol):
    """Every |actual - expected| <= rtol x max|expected| (both arrays or tensors of one shape)."""
    actual, expected = as_float64(actual), as_float64(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    difference = float(np.abs(actual - expected).max()) if expected.size else 0.0
    assert difference <= rtol * scale, (f"max |difference| {difference:.3g} exceeds {rtol:g} x the largest "
                                        f"magnitude {scale:.3g} (= {rtol * scale:.3g})")
