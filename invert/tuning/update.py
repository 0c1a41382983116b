"""A tuned update: what pivotal tuning changes in a generator, and how to apply it without changing G.

What is tuned. For every modulated convolution of the synthesis network (each SynthesisLayer and each
ToRGB) the update holds a change of its `weight` and of its `bias`; nothing else changes:

- conv weights [O, I, k, k]: ΔW, either in full ('full') or as a product of two factors (rank R):
  ΔW = up @ down, up [O, R], down [R, I*k*k], viewed back as [O, I, k, k];
- biases [O]: Δb in full (a few thousand values for FFHQ 1024, so never factorised);
- frozen: the mapping network (the pivot latent is fixed, so W itself is unchanged), the affine
  layers (the map from w to styles, through which every edit direction in W acts: keeping it makes an
  edit move the styles exactly as on the untuned generator), the noise strengths and stored noise maps
  (the per-image noise is the noise stage's job) and the 4x4 const input.

A layer whose factors would hold at least as many values as its weight (ToRGB's 3 output channels at
ranks >= 3, any layer at a rank near its width) is stored in full instead: the file never grows by
factorising.

Names. Update tensors are named after the generator's own state-dict entry: `<name>.delta` (full, the
entry's shape), or `<name>.delta_up` [O, R] and `<name>.delta_down` [R, I*k*k] (e.g.
`synthesis.b8.conv0.weight.delta_up`). Tuning starts with `delta_up` = 0 and every other delta = 0, so
the untuned generator is exactly where it starts.

Applying. `apply_update(G, update, scale=s)` returns a new Generator computing with W + s*ΔW and
b + s*Δb that shares every other tensor with G (G itself is never modified); `blend_updates` combines
several updates of one network, e.g. (1 - t)*ΔA + t*ΔB for a morph frame. `apply_update` computes the
weights with `updated_weights`, the function the tuning loop differentiates through, so a render through
an applied update is what the optimiser saw.
"""
import copy
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from invert.checkpoints.fingerprint import short
from invert.errors import TuningError

FULL = "full"
_DELTA, _UP, _DOWN = ".delta", ".delta_up", ".delta_down"


@dataclass
class TunedUpdate:
    """A tuned update of one base network; tensors float32 on the CPU, keyed by stored name (see module doc).

    `fingerprint` and `source` identify the base network (`G.source['fingerprint']`, and its format,
    path and sha256); `settings` records how it was made; `path` is the file it was read from or saved
    to, if any.
    """

    rank: object                       # 'full' or an int R >= 1
    tensors: dict                      # stored name -> tensor
    fingerprint: str
    source: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    path: str = None

    @property
    def parameter_names(self):
        """The generator state-dict entries this update changes, in stored order."""
        return _parameter_names(self.tensors)

    @property
    def num_values(self):
        return sum(t.numel() for t in self.tensors.values())

    @property
    def nbytes(self):
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    @property
    def blended(self):
        return "blend" in (self.settings or {})

    def delta(self, name):
        """The change of entry `name`: the stored tensor, or up @ down [O, I*k*k] for a factored entry
        (reshape it to the entry's [O, I, k, k])."""
        if name + _DELTA in self.tensors:
            return self.tensors[name + _DELTA]
        return self.tensors[name + _UP] @ self.tensors[name + _DOWN]

    def describe_base(self):
        return describe_network(self.source, self.fingerprint)


def describe_network(source, fingerprint):
    """'<path> (<format>, fingerprint <12 hex>)': how messages name a network."""
    source = source or {}
    where = source.get("path") or "an unnamed network"
    fmt = f"{source['format']}, " if source.get("format") else ""
    return f"{where} ({fmt}fingerprint {short(fingerprint) if fingerprint else 'unknown'})"


# ---------------------------------------------------------------------------------------------------
# Which tensors, in which form


def tuned_modules(G):
    """[(prefix, module)] for every modulated conv of G.synthesis, in synthesis order:
    ('synthesis.b4.conv1', SynthesisLayer), ('synthesis.b4.torgb', ToRGBLayer), ..."""
    modules = []
    for block in G.synthesis.blocks():
        prefix = f"synthesis.b{block.resolution}"
        if block.in_channels:
            modules.append((f"{prefix}.conv0", block.conv0))
        modules.append((f"{prefix}.conv1", block.conv1))
        modules.append((f"{prefix}.torgb", block.torgb))
    return modules


def check_rank(rank):
    """'full' or a positive int (a digit string is accepted) -> 'full' or int; TuningError otherwise."""
    if rank == FULL:
        return FULL
    if isinstance(rank, str) and rank.strip().isdigit():
        rank = int(rank)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise TuningError(f"rank must be 'full' or a positive integer, got {rank!r}")
    return rank


def factorised(shape, rank):
    """Whether a weight of `shape` [O, I, k, k] is stored as rank-`rank` factors (fewer values than in full)."""
    if rank == FULL:
        return False
    out, inner = shape[0], int(torch.Size(shape[1:]).numel())
    return rank * (out + inner) < out * inner


def layout(G, rank):
    """{stored name: shape} of an update of `rank` for G, in stored order (see the module doc)."""
    rank = check_rank(rank)
    shapes = {}
    for prefix, module in tuned_modules(G):
        weight = tuple(module.weight.shape)
        if factorised(weight, rank):
            shapes[f"{prefix}.weight{_UP}"] = (weight[0], rank)
            shapes[f"{prefix}.weight{_DOWN}"] = (rank, int(torch.Size(weight[1:]).numel()))
        else:
            shapes[f"{prefix}.weight{_DELTA}"] = weight
        shapes[f"{prefix}.bias{_DELTA}"] = tuple(module.bias.shape)
    return shapes


def initial_tensors(G, rank, *, seed=0):
    """The starting update for `rank`: every delta and every `delta_up` zero, so ΔW = 0 exactly;
    `delta_down` [R, I*k*k] drawn from N(0, 1/R) with `seed` (see `down_init_std`)."""
    generator = torch.Generator().manual_seed(int(seed))
    tensors = {}
    for key, shape in layout(G, rank).items():
        if key.endswith(_DOWN):
            tensors[key] = torch.randn(shape, generator=generator) * down_init_std(shape[0])
        else:
            tensors[key] = torch.zeros(shape)
    return tensors


def down_init_std(rank):
    """Standard deviation of the random factor at the start: 1/sqrt(R).

    The raw conv weights are ~N(0, 1) (equalised learning rate), and Adam moves `delta_up` by about lr
    per step, so ΔW = up @ down first moves by about lr * sqrt(R) * std = lr per entry: the same
    step size as tuning the weight in full, whatever the rank.
    """
    return 1.0 / float(rank) ** 0.5


# ---------------------------------------------------------------------------------------------------
# Computing the updated weights


def updated_weights(G, tensors, *, scale=1.0, prefix="synthesis."):
    """{entry name without `prefix`: W + scale * ΔW} for every entry the update `tensors` changes.

    Differentiable in `tensors` (the tuning loop calls it every step) and used as it is by
    `apply_update`. Tensors are moved to G's device. Entries are computed in float32.
    """
    state = dict(G.named_parameters())
    out = {}
    for name in _parameter_names(tensors):
        base = state[name]
        if name + _DELTA in tensors:  # a blend may hold it flat [O, I*k*k]
            new = torch.add(base, tensors[name + _DELTA].to(base.device).reshape(base.shape), alpha=scale)
        else:  # W + scale * up @ down in one fused call, on W viewed as [O, I*k*k]
            up, down = tensors[name + _UP].to(base.device), tensors[name + _DOWN].to(base.device)
            new = torch.addmm(base.reshape(base.shape[0], -1), up, down, alpha=scale).reshape(base.shape)
        out[name[len(prefix):] if name.startswith(prefix) else name] = new
    return out


def apply_update(G, update, *, scale=1.0):
    """A Generator computing with G's weights plus `scale` times `update`; G is left unchanged.

    Only the updated tensors are new (W + scale*ΔW, b + scale*Δb): every other parameter and buffer is
    shared with G, so this costs the size of the tuned tensors, not of the network. `update` must be
    made for G (same fingerprint, same layout); `scale` 0 gives G's images, 1 the tuned ones.
    `source` is G's plus `tuned`: {file, rank, scale, tensors}; `source['fingerprint']` stays the base
    network's, since W (the mapping network) is unchanged and everything keyed by it still applies.
    """
    check_update(G, update)
    with torch.no_grad():
        new_values = updated_weights(G, update.tensors, scale=float(scale), prefix="")
    shared = {id(t): t for t in [*G.parameters(), *G.buffers()]}
    tuned = copy.deepcopy(G, memo=shared)  # module tree copied, tensors shared
    for name, value in new_values.items():
        module_name, attr = name.rsplit(".", 1)
        setattr(tuned.get_submodule(module_name), attr, nn.Parameter(value.detach(), requires_grad=False))
    tuned.source = dict(G.source)
    tuned.source["tuned"] = {"file": update.path, "rank": update.rank, "scale": float(scale),
                             "tensors": len(update.tensors)}
    return tuned


def blend_updates(weighted):
    """[(update or None, weight), ...] -> one in-memory TunedUpdate equal to sum(weight * Δ); None is zero.

    Every update must be of the same base network. Factored entries stay factored: their factors are
    concatenated (weights folded into `delta_up`, ranks add up), which is exact and costs no full ΔW;
    an entry stored in full in any of them is summed in full. A morph frame at t uses
    [(update_a, 1 - t), (update_b, t)]. A blend is for rendering (`apply_update`), not for saving.
    """
    pairs = [(u, float(w)) for u, w in weighted if u is not None]
    if not pairs:
        raise TuningError("nothing to blend: every update is None")
    first = pairs[0][0]
    for other, _ in pairs[1:]:
        if other.fingerprint != first.fingerprint:
            raise TuningError(f"cannot blend updates of different networks: one was tuned for "
                              f"{first.describe_base()}, another for {other.describe_base()}")
        if other.parameter_names != first.parameter_names:
            raise TuningError("cannot blend updates that change different tensors")
    tensors = {}
    for name in first.parameter_names:
        if all(name + _UP in u.tensors for u, _ in pairs):
            tensors[name + _UP] = torch.cat([w * u.tensors[name + _UP] for u, w in pairs], dim=1)
            tensors[name + _DOWN] = torch.cat([u.tensors[name + _DOWN] for u, _ in pairs], dim=0)
        else:
            shape = next(u.tensors[name + _DELTA].shape for u, _ in pairs if name + _DELTA in u.tensors)
            tensors[name + _DELTA] = sum(w * u.delta(name).reshape(shape) for u, w in pairs)
    low_rank = all(u.rank != FULL for u, _ in pairs)
    rank = sum(u.rank for u, _ in pairs) if low_rank else FULL
    settings = {"blend": [{"file": u.path, "rank": u.rank, "weight": w} for u, w in pairs]}
    return TunedUpdate(rank=rank, tensors=tensors, fingerprint=first.fingerprint, source=dict(first.source),
                       settings=settings)


def blend_as_update(G, blend):
    """A blend (`blend_updates`) as a plain update of G, which `save_update` writes and `load_update` checks.

    Its rank is the blend's ('full' if any part was full, else the parts' ranks added up), and its
    tensors are those `layout(G, rank)` lists: the concatenated factors as they are, and an entry that
    layout stores in full (ToRGB at a summed rank >= 3, say) multiplied out. It renders as the blend
    does, up to the float32 rounding of the multiplied-out entries. The blend's parts (absolute file
    names, ranks, weights) are kept in its settings under 'blended_from'. (Used for a morph's midpoint, whose record must name one file.)
    """
    check_update(G, blend)
    rank = check_rank(blend.rank)
    tensors = {}
    for key, shape in layout(G, rank).items():
        if key in blend.tensors and tuple(blend.tensors[key].shape) == tuple(shape):
            tensors[key] = blend.tensors[key]
        elif key.endswith(_DELTA):
            tensors[key] = blend.delta(key[: -len(_DELTA)]).reshape(shape)
        else:  # a factor the blend lacks: only possible for a blend not made by blend_updates
            raise TuningError(f"the blend has no {key!r} of shape {list(shape)}; it cannot be stored as an update "
                              f"of rank {rank}")
    parts = [dict(part, file=part["file"] and os.path.abspath(part["file"]))
             for part in (blend.settings or {}).get("blend", [])]
    settings = {"blended_from": parts}
    return TunedUpdate(rank=rank, tensors=tensors, fingerprint=blend.fingerprint, source=dict(blend.source or {}),
                       settings=settings)


def check_update(G, update, *, what=None):
    """Refuse (TuningError) an update that is not for G: another network, tensors G does not have or of
    other shapes, another dtype than float32, NaN or infinite values.

    A saved or tuned update must hold exactly the tensors `layout(G, rank)` lists; a blend (in memory)
    may hold factors of any rank for the same entries.
    """
    what = what or (update.path and str(update.path)) or "the tuned update"
    mine = G.source.get("fingerprint")
    if mine is None:
        raise TuningError("the generator has no fingerprint; load it with invert.load_generator")
    if update.fingerprint != mine:
        raise TuningError(f"{what} was tuned for {update.describe_base()}, not for the loaded generator "
                          f"{describe_network(G.source, mine)}; load the network it was made for")
    if not update.blended:
        try:
            rank = check_rank(update.rank)
        except TuningError as exc:
            raise TuningError(f"{what}: {exc}") from None
        expected = layout(G, rank)
        for key in update.tensors:
            if key not in expected:
                raise TuningError(f"{what} holds {key!r}, which an update of rank {rank} for this generator "
                                  "does not have; the file is corrupt or was made by other software")
        for key, shape in expected.items():
            if key not in update.tensors:
                raise TuningError(f"{what} lacks {key!r}; the file is incomplete or corrupt")
            if tuple(update.tensors[key].shape) != tuple(shape):
                raise TuningError(f"{what}: {key} is {list(update.tensors[key].shape)}, this generator needs "
                                  f"{list(shape)}; the file is corrupt or was made for another network")
    else:
        entries = {f"{prefix}.{attr}": getattr(module, attr).shape
                   for prefix, module in tuned_modules(G) for attr in ("weight", "bias")}
        for name in update.parameter_names:
            if name not in entries or _delta_numel(update.tensors, name) != entries[name].numel():
                raise TuningError(f"{what}: {name} does not fit this generator")
    for key, tensor in update.tensors.items():
        if tensor.dtype != torch.float32:
            raise TuningError(f"{what}: {key} is {str(tensor.dtype).replace('torch.', '')}, expected float32")
        if not torch.isfinite(tensor).all():
            raise TuningError(f"{what}: {key} holds NaN or infinite values; the file is corrupt")


# ---------------------------------------------------------------------------------------------------


def _delta_numel(tensors, name):
    """How many values the delta of entry `name` has, from the tensors' shapes (without multiplying factors)."""
    if name + _DELTA in tensors:
        return tensors[name + _DELTA].numel()
    up, down = tensors.get(name + _UP), tensors.get(name + _DOWN)
    if up is None or down is None or up.ndim != 2 or down.ndim != 2 or up.shape[1] != down.shape[0]:
        return -1
    return up.shape[0] * down.shape[1]


def _parameter_of(key):
    for suffix in (_UP, _DOWN, _DELTA):
        if key.endswith(suffix):
            return key[: -len(suffix)]
    raise TuningError(f"update tensor {key!r} is not named <entry>.delta, .delta_up or .delta_down")


def _parameter_names(tensors):
    names = []
    for key in tensors:
        name = _parameter_of(key)
        if name not in names:
            names.append(name)
    return names


