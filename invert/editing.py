"""Latent arithmetic: Image2StyleGAN's morph, crossover and expression transfer, InterfaceGAN's edits.

Pure numpy functions on W+ codes w [num_ws, w_dim] (float32 in, float32 out; arithmetic in float64).
Layer selections are lists of row indices into w, parsed from strings such as "0-3,8-17".
"""
import math
import re

import numpy as np

from invert.errors import BoundaryError, InvertError
from invert.limits import MAX_FRAMES

_LAYER_RANGE = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


def parse_layers(spec, *, num_ws, what="layers"):
    """'0-3,8-17' / '5' / 'all' / None -> sorted list of distinct row indices in [0, num_ws).

    `what` names the option in messages (e.g. '--layers'). Ranges are inclusive.
    """
    if spec is None or str(spec).strip().lower() in ("", "all"):
        return list(range(num_ws))
    allowed = f"this generator has {num_ws} layers, numbered 0-{num_ws - 1}"
    rows = set()
    for part in str(spec).split(","):
        part = part.strip()
        match = _LAYER_RANGE.match(part)
        if not match:
            example = f"0-{num_ws // 2 - 1},{num_ws // 2 + 1}-{num_ws - 1}"
            raise InvertError(f"{what} {spec!r}: cannot read {part!r}; write layer numbers and inclusive "
                              f"ranges such as {example} ({allowed})")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if first > last:
            raise InvertError(f"{what} {spec!r}: range {part!r} runs backwards; write it as {last}-{first}")
        for row in (first, last):
            if not 0 <= row < num_ws:
                raise InvertError(f"{what} {spec!r}: layer {row} is out of range; {allowed}")
        rows.update(range(first, last + 1))
    return sorted(rows)


def format_layers(rows):
    """The inverse of `parse_layers`: [0, 1, 2, 5] -> '0-2,5'."""
    rows, parts = sorted(set(int(r) for r in rows)), []
    for i, row in enumerate(rows):
        if i == 0 or rows[i - 1] != row - 1:
            start = row
        if i + 1 == len(rows) or rows[i + 1] != row + 1:
            parts.append(f"{start}" if start == row else f"{start}-{row}")
    return ",".join(parts)


def split_style_layers(split, *, num_ws, what="layers"):
    """Image2StyleGAN's crossover split: rows [0, split) from content, [split, num_ws) from style.

    Returns the style rows. `split` must lie in 1..num_ws-1 so that both latents contribute.
    """
    if not 1 <= int(split) <= num_ws - 1:
        raise InvertError(f"{what} {split}: must be between 1 and {num_ws - 1} (this generator has {num_ws} "
                          f"layers; rows below the split come from the content latent, the rest from style)")
    return list(range(int(split), num_ws))


def parse_sweep(spec, *, what="sweep"):
    """'a:b:n' -> float64 [n] evenly spaced values from a to b inclusive (n >= 2)."""
    parts = str(spec).split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise InvertError(f"{what} {spec!r}: expected START:STOP:COUNT, e.g. -3:3:10") from None
    if count < 2:
        raise InvertError(f"{what} {spec!r}: COUNT must be at least 2 (got {count})")
    if count > MAX_FRAMES:
        raise InvertError(f"{what} {spec!r}: COUNT must be at most {MAX_FRAMES} (got {count}); an animation of "
                          f"more frames takes hours to render and gigabytes of disk")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise InvertError(f"{what} {spec!r}: START and STOP must be finite numbers")
    return np.linspace(start, stop, count)


def interpolate(a, b, *, steps):
    """Linear interpolation (1 - t) a + t b for t = linspace(0, 1, steps): [steps, *a.shape] float32.

    The first item is exactly `a` and the last exactly `b`.
    """
    if int(steps) < 2:
        raise InvertError(f"steps must be at least 2 (got {steps})")
    return interpolate_at(a, b, np.linspace(0.0, 1.0, int(steps)))


def interpolate_at(a, b, t):
    """(1 - t) a + t b for each t in the 1-d array `t`: [len(t), *a.shape] float32 (t = 0 gives exactly a,
    t = 1 exactly b). For rendering a long interpolation a batch of t at a time."""
    a, b = _f64(a), _f64(b)
    if a.shape != b.shape:
        raise InvertError(f"cannot interpolate arrays of shapes {list(a.shape)} and {list(b.shape)}")
    t = np.asarray(t, dtype=np.float64).reshape([-1] + [1] * a.ndim)
    return ((1.0 - t) * a + t * b).astype(np.float32)


def lerp(a, b, t):
    """(1 - t) a + t b for one t, float32."""
    return ((1.0 - float(t)) * _f64(a) + float(t) * _f64(b)).astype(np.float32)


def paired_noise(noise_a, noise_b, *, default):
    """Noise maps of two latents to combine: each latent's own, `default` (the generator's stored maps,
    `invert.latents.default_noise`) standing in for a latent without; None when neither has any.

    Returns (maps_a, maps_b), two lists of [r, r] arrays, or None.
    """
    if noise_a is None and noise_b is None:
        return None
    maps_a, maps_b = (list(default) if n is None else list(n) for n in (noise_a, noise_b))
    if len(maps_a) != len(maps_b):
        raise InvertError(f"cannot pair {len(maps_a)} noise maps with {len(maps_b)}")
    return maps_a, maps_b


def interpolate_noise(noise_a, noise_b, *, steps, default):
    """Morph's noise: (frames, midpoint) with frames a list of [steps, r, r] maps interpolated like the
    latents and midpoint the maps at t = 0.5 ([r, r] each); (None, None) when neither latent has noise."""
    pair = paired_noise(noise_a, noise_b, default=default)
    if pair is None:
        return None, None
    frames = [interpolate(na, nb, steps=steps) for na, nb in zip(*pair)]
    return frames, [lerp(na, nb, 0.5) for na, nb in zip(*pair)]


def crossover_noise(content_noise, style_noise, *, style_layers, default):
    """Crossover's noise: map i feeds the conv layer of latent row i, so it comes from the latent that row
    comes from (STYLE for `style_layers`, CONTENT otherwise); None when neither latent has noise."""
    pair = paired_noise(content_noise, style_noise, default=default)
    if pair is None:
        return None
    rows = set(style_layers)
    return [s if i in rows else c for i, (c, s) in enumerate(zip(*pair))]


def crossover(content, style, *, style_layers):
    """w [num_ws, w_dim] with the rows in `style_layers` taken from `style`, all others from `content`."""
    content, style = np.asarray(content), np.asarray(style)
    if content.shape != style.shape:
        raise InvertError(f"content {list(content.shape)} and style {list(style.shape)} latents differ in shape")
    out = np.array(content, dtype=np.float32)
    out[list(style_layers)] = style[list(style_layers)]
    return out


def expression(target, neutral, expressive, *, strength, layers=None):
    """Image2StyleGAN's expression transfer: w1 + strength (w3 - w2) on `layers` (all by default).

    target w1, neutral w2, expressive w3: each [num_ws, w_dim]. Rows outside `layers` are w1's.
    """
    w1, w2, w3 = _f64(target), _f64(neutral), _f64(expressive)
    if not w1.shape == w2.shape == w3.shape:
        raise InvertError(f"latent shapes differ: {list(w1.shape)}, {list(w2.shape)}, {list(w3.shape)}")
    rows = _rows(layers, w1.shape[0])
    out = w1.copy()
    out[rows] = w1[rows] + float(strength) * (w3[rows] - w2[rows])
    return out.astype(np.float32)


def apply_direction(w, direction, *, strength, layers=None):
    """InterfaceGAN's edit w + strength n on `layers` (all by default).

    w [num_ws, w_dim]; direction n [w_dim] (the same for every layer) or [num_ws, w_dim] (per layer).
    """
    w = _f64(w)
    n = _f64(direction)
    if n.shape not in ((w.shape[1],), w.shape):
        raise BoundaryError(f"direction of shape {list(n.shape)} does not fit a latent of shape "
                            f"{list(w.shape)}; expected [{w.shape[1]}] or {list(w.shape)}")
    n = np.broadcast_to(n, w.shape)
    rows = _rows(layers, w.shape[0])
    out = w.copy()
    out[rows] = w[rows] + float(strength) * n[rows]
    return out.astype(np.float32)


def normalized_direction(n):
    """A direction as every edit uses it: [w_dim] to unit length; [num_ws, w_dim] (per layer) scaled as a whole
    so that the root-mean-square length of its non-zero rows is 1. One scale for all rows keeps the layers'
    relative weights (rescaling each row would give the layers a direction barely moves the weight of those
    that carry it); for equal rows, e.g. a W direction copied to every layer, each row has length 1, so a
    strength is the distance moved per edited layer. Zero rows stay zero; all zeros gives all zeros."""
    n = _f64(n)
    norms = np.linalg.norm(n, axis=-1)
    if not (norms > 0).any():
        return n.copy()
    return n / np.sqrt(np.mean(np.square(norms[norms > 0])))


def orthogonalize(direction, keep, *, tolerance=1e-6):
    """Conditional editing: `direction` made orthogonal to every boundary in `keep`, then normalised
    (`normalized_direction`).

    InterfaceGAN's rule n' = n - (n.c) c for one kept unit boundary c; for several, the projection onto
    the span of all of them (found by SVD, which also copes with kept boundaries that are not mutually
    orthogonal or are linearly dependent) is removed, so n' is orthogonal to each. Shapes: [w_dim], or
    [num_ws, w_dim] for per-layer directions, done row by row (a [w_dim] boundary applies to every row).
    Returns float64 of the broadcast shape; a direction that lies within the kept span is an error.
    """
    n = _f64(direction)
    keep = [_f64(c) for c in keep]
    if not keep:
        return normalized_direction(n)
    shapes = {x.shape for x in [n, *keep]}
    per_layer = [s for s in shapes if len(s) == 2]
    w_dim = n.shape[-1]
    if any(s[-1] != w_dim for s in shapes) or len(set(per_layer)) > 1 or any(len(s) not in (1, 2) for s in shapes):
        raise BoundaryError(f"boundaries of shapes {sorted(list(s) for s in shapes)} cannot be combined; use "
                            f"[{w_dim}] or one [num_ws, {w_dim}] shape for all")
    if not per_layer:
        return normalized_direction(_project_out(n, np.stack(keep), tolerance))
    shape = per_layer[0]
    n, keep = np.broadcast_to(n, shape), [np.broadcast_to(c, shape) for c in keep]
    out = np.zeros(shape)
    for row in range(shape[0]):
        if np.linalg.norm(n[row]) == 0:
            continue  # a per-layer direction that leaves this layer alone
        out[row] = _project_out(n[row], np.stack([c[row] for c in keep]), tolerance, row=row)
    return normalized_direction(out)


def _project_out(n, kept, tolerance, row=None):
    """n [D] minus its projection on the row span of kept [K, D]; an error when (almost) nothing is left."""
    original = np.linalg.norm(n)
    kept = kept[np.linalg.norm(kept, axis=1) > 0]
    if len(kept):
        u, s, _ = np.linalg.svd(kept.T, full_matrices=False)
        basis = u[:, s > s.max() * 1e-10]
        n = n - basis @ (basis.T @ n)
        n = n - basis @ (basis.T @ n)  # a second pass removes the rounding left by the first
    if np.linalg.norm(n) < tolerance * original:
        where = "" if row is None else f" (layer {row})"
        raise BoundaryError(f"the direction lies within the span of the kept boundaries{where}, so nothing "
                            f"is left to edit; keep fewer attributes")
    return n


def _rows(layers, num_ws):
    rows = list(range(num_ws)) if layers is None else list(layers)
    for row in rows:
        if not 0 <= row < num_ws:
            raise InvertError(f"layer {row} is out of range; this latent has {num_ws} layers, numbered "
                              f"0-{num_ws - 1}")
    return rows


def _f64(x):
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
