"""invert.editing: latent arithmetic against plain numpy, layer parsing, and conditional directions."""
import numpy as np
import pytest

from invert import editing
from invert.editing import (apply_direction, crossover, expression, interpolate, lerp, orthogonalize, parse_layers,
                            parse_sweep, split_style_layers)
from invert.errors import BoundaryError, InvertError

NUM_WS, W_DIM = 18, 16


def latents(count, seed=0):
    return np.random.default_rng(seed).standard_normal([count, NUM_WS, W_DIM]).astype(np.float32)


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# --- layer selections -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, rows", [
    (None, list(range(18))), ("all", list(range(18))), ("5", [5]), ("0-3,8-17", [0, 1, 2, 3, *range(8, 18)]),
    (" 2 - 4 , 3, 17 ", [2, 3, 4, 17]), ("9-9", [9]),
])
def test_parse_layers(spec, rows):
    assert parse_layers(spec, num_ws=NUM_WS) == rows


@pytest.mark.parametrize("spec, message", [
    ("0-18", "--layers '0-18': layer 18 is out of range; this generator has 18 layers, numbered 0-17"),
    ("20", "layer 20 is out of range; this generator has 18 layers, numbered 0-17"),
    ("5-2", "range '5-2' runs backwards; write it as 2-5"),
    ("a-b", "cannot read 'a-b'; write layer numbers and inclusive ranges such as 0-8,10-17"),
    ("-1", "cannot read '-1'"),
    ("1,,2", "cannot read ''"),
])
def test_parse_layers_errors(spec, message):
    with pytest.raises(InvertError) as info:
        parse_layers(spec, num_ws=NUM_WS, what="--layers")
    assert message in str(info.value)


def test_split_style_layers():
    assert split_style_layers(9, num_ws=18) == list(range(9, 18))
    assert split_style_layers(1, num_ws=8) == list(range(1, 8))
    for bad in (0, 8, 30):
        with pytest.raises(InvertError, match=f"--layers {bad}: must be between 1 and 7 "):
            split_style_layers(bad, num_ws=8, what="--layers")


def test_parse_sweep():
    np.testing.assert_allclose(parse_sweep("-3:3:7"), [-3, -2, -1, 0, 1, 2, 3])
    np.testing.assert_allclose(parse_sweep("0:1.5:4"), [0, 0.5, 1, 1.5])
    for bad, message in [("1:2", "expected START:STOP:COUNT"), ("a:b:3", "expected START:STOP:COUNT"),
                         ("0:1:1", "COUNT must be at least 2"), ("0:inf:3", "must be finite")]:
        with pytest.raises(InvertError, match=message):
            parse_sweep(bad)


# --- arithmetic ---------------------------------------------------------------------------------------


def test_interpolate_matches_numpy_and_hits_endpoints_exactly():
    a, b = latents(2)
    ws = interpolate(a, b, steps=7)
    assert ws.shape == (7, NUM_WS, W_DIM) and ws.dtype == np.float32
    np.testing.assert_array_equal(ws[0], a)
    np.testing.assert_array_equal(ws[-1], b)
    for i, t in enumerate(np.linspace(0, 1, 7)):
        np.testing.assert_allclose(ws[i], (1 - t) * a + t * b, atol=1e-6, rtol=0)
    np.testing.assert_allclose(lerp(a, b, 0.5), (a + b) / 2, atol=1e-6, rtol=0)
    with pytest.raises(InvertError, match="at least 2"):
        interpolate(a, b, steps=1)
    with pytest.raises(InvertError, match=r"shapes \[18, 16\] and \[16\]"):
        interpolate(a, b[0], steps=3)


def test_interpolate_noise_maps():
    na, nb = np.zeros([4, 4], np.float32), np.ones([4, 4], np.float32)
    maps = interpolate(na, nb, steps=5)
    assert maps.shape == (5, 4, 4)
    np.testing.assert_allclose(maps[:, 0, 0], [0, 0.25, 0.5, 0.75, 1])


def test_crossover_takes_exactly_the_named_rows():
    content, style = latents(2, seed=1)
    rows = parse_layers("0-3,8-17", num_ws=NUM_WS)
    out = crossover(content, style, style_layers=rows)
    for row in range(NUM_WS):
        np.testing.assert_array_equal(out[row], style[row] if row in rows else content[row])
    split = crossover(content, style, style_layers=split_style_layers(9, num_ws=NUM_WS))
    np.testing.assert_array_equal(split[:9], content[:9])
    np.testing.assert_array_equal(split[9:], style[9:])


def test_expression_matches_numpy():
    w1, w2, w3 = latents(3, seed=2)
    np.testing.assert_allclose(expression(w1, w2, w3, strength=1.5), w1 + 1.5 * (w3 - w2), atol=1e-5, rtol=0)
    rows = [0, 1, 2, 7]
    out = expression(w1, w2, w3, strength=-0.7, layers=rows)
    expected = w1.copy()
    expected[rows] = w1[rows] - 0.7 * (w3[rows] - w2[rows])
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)
    untouched = [r for r in range(NUM_WS) if r not in rows]
    np.testing.assert_array_equal(out[untouched], w1[untouched])
    np.testing.assert_array_equal(expression(w1, w2, w3, strength=0.0), w1)


def test_apply_direction_matches_numpy():
    (w,) = latents(1, seed=3)
    rng = np.random.default_rng(4)
    n = unit(rng.standard_normal(W_DIM))
    np.testing.assert_allclose(apply_direction(w, n, strength=2.5), w + 2.5 * n, atol=1e-5, rtol=0)
    per_layer = unit(rng.standard_normal([NUM_WS, W_DIM]))
    out = apply_direction(w, per_layer, strength=-1.0, layers=[3, 4])
    expected = w.copy()
    expected[3:5] -= per_layer[3:5]
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(out[5:], w[5:])
    with pytest.raises(BoundaryError, match=r"direction of shape \[5\] does not fit a latent of shape \[18, 16\]"):
        apply_direction(w, np.ones(5), strength=1)
    with pytest.raises(InvertError, match="layer 18 is out of range"):
        apply_direction(w, n, strength=1, layers=[18])


# --- conditional editing --------------------------------------------------------------------------------


def test_orthogonalize_one_boundary_is_interfacegans_rule():
    rng = np.random.default_rng(5)
    n, c = unit(rng.standard_normal(W_DIM)), unit(rng.standard_normal(W_DIM))
    out = orthogonalize(n, [c])
    expected = n - (n @ c) * c
    np.testing.assert_allclose(out, expected / np.linalg.norm(expected), atol=1e-12)
    assert abs(out @ c) < 1e-6
    assert abs(np.linalg.norm(out) - 1) < 1e-6


def test_orthogonalize_several_correlated_boundaries():
    rng = np.random.default_rng(6)
    base = unit(rng.standard_normal(W_DIM))
    n = unit(base + 0.5 * rng.standard_normal(W_DIM))
    keep = [unit(base + 0.3 * rng.standard_normal(W_DIM)) for _ in range(3)]  # far from mutually orthogonal
    keep.append(unit(keep[0] + keep[1]))  # and one linearly dependent on the others
    out = orthogonalize(n, keep)
    for c in keep:
        assert abs(out @ c) < 1e-6
    assert abs(np.linalg.norm(out) - 1) < 1e-6
    # a sequential one-at-a-time projection would not be orthogonal to the earlier ones
    seq = n.copy()
    for c in keep:
        seq = unit(seq - (seq @ c) * c)
    assert max(abs(seq @ c) for c in keep) > 1e-3


def test_orthogonalize_per_layer_directions():
    rng = np.random.default_rng(7)
    n = unit(rng.standard_normal([NUM_WS, W_DIM]))
    n[2] = 0  # a layer this boundary leaves alone
    c_layer, c_w = unit(rng.standard_normal([NUM_WS, W_DIM])), unit(rng.standard_normal(W_DIM))
    out = orthogonalize(n, [c_layer, c_w])
    assert out.shape == (NUM_WS, W_DIM)
    np.testing.assert_array_equal(out[2], 0)
    for row in set(range(NUM_WS)) - {2}:
        assert abs(out[row] @ c_layer[row]) < 1e-6 and abs(out[row] @ c_w) < 1e-6
    norms = np.linalg.norm(out, axis=1)
    assert abs(np.sqrt(np.mean(np.delete(norms, 2) ** 2)) - 1) < 1e-9  # normalised as a whole
    w_only = orthogonalize(unit(rng.standard_normal(W_DIM)), [c_layer])
    assert w_only.shape == (NUM_WS, W_DIM)


def test_orthogonalize_without_keep_just_normalises():
    np.testing.assert_allclose(orthogonalize(np.array([3.0, 4.0]), []), [0.6, 0.8])


def test_orthogonalize_errors():
    rng = np.random.default_rng(8)
    c1, c2 = unit(rng.standard_normal(W_DIM)), unit(rng.standard_normal(W_DIM))
    with pytest.raises(BoundaryError, match="lies within the span of the kept boundaries"):
        orthogonalize(unit(c1 + 2 * c2), [c1, c2])
    with pytest.raises(BoundaryError, match="cannot be combined"):
        orthogonalize(c1, [np.ones(W_DIM + 1)])
    with pytest.raises(BoundaryError, match="cannot be combined"):
        orthogonalize(np.ones([4, W_DIM]), [np.ones([5, W_DIM])])


def test_format_layers_inverts_parse_layers():
    assert editing.format_layers([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert editing.format_layers([3]) == "3" and editing.format_layers([]) == ""
    for spec in ("0-17", "0-3,8-17", "1,3,5"):
        assert editing.format_layers(editing.parse_layers(spec, num_ws=18)) == spec


def test_noise_pairing():
    rng = np.random.default_rng(0)
    default = [rng.standard_normal([r, r]).astype(np.float32) for r in (4, 8, 8)]
    own = [rng.standard_normal([r, r]).astype(np.float32) for r in (4, 8, 8)]
    assert editing.paired_noise(None, None, default=default) is None
    a, b = editing.paired_noise(own, None, default=default)
    assert all(x is y for x, y in zip(a, own)) and all(x is y for x, y in zip(b, default))
    with pytest.raises(InvertError, match="cannot pair 3 noise maps with 2"):
        editing.paired_noise(own, own[:2], default=default)

    frames, mid = editing.interpolate_noise(None, own, steps=3, default=default)
    for f, m, d, o in zip(frames, mid, default, own):
        assert f.shape == (3,) + d.shape
        np.testing.assert_array_equal(f[0], d)
        np.testing.assert_array_equal(f[-1], o)
        np.testing.assert_allclose(m, (d + o) / 2, atol=1e-6)   # float32 midpoint of float32 maps
    assert editing.interpolate_noise(None, None, steps=3, default=default) == (None, None)

    mixed = editing.crossover_noise(own, None, style_layers=[1, 2], default=default)
    assert mixed[0] is own[0] and mixed[1] is default[1] and mixed[2] is default[2]
    assert editing.crossover_noise(None, None, style_layers=[1], default=default) is None
