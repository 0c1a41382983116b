"""Updates for the tuning tests: random non-zero updates of a given rank (no optimisation needed)."""
import torch

from invert.tuning.update import TunedUpdate, layout


def random_update(G, rank, *, seed=0, size=0.05):
    """A TunedUpdate for G of `rank` with every tensor random (N(0, size^2)), so every entry changes."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {key: torch.randn(shape, generator=generator) * size for key, shape in layout(G, rank).items()}
    return TunedUpdate(rank=rank, tensors=tensors, fingerprint=G.source["fingerprint"],
                       source={k: G.source[k] for k in ("format", "path", "sha256") if k in G.source},
                       settings={"made_by": "tests"})


def delta64(update, name):
    """The change of entry `name` in float64, from the stored tensors (factors multiplied in float64)."""
    if name + ".delta" in update.tensors:
        return update.tensors[name + ".delta"].double()
    return update.tensors[name + ".delta_up"].double() @ update.tensors[name + ".delta_down"].double()


def directly_updated(G, weighted):
    """A deep copy of G with W + sum(weight * ΔW) written into its weights, computed in float64 from the
    stored tensors and rounded once to float32: an independent path from invert.tuning.update (which
    multiplies factors and adds in float32). `weighted` is [(update, weight), ...]."""
    import copy

    H = copy.deepcopy(G)
    state = H.state_dict()
    with torch.no_grad():
        for name in weighted[0][0].parameter_names:
            total = state[name].double()
            for update, weight in weighted:
                total = total + weight * delta64(update, name).reshape(total.shape)
            state[name].copy_(total.float())
    return H


def save_tuned_latent(path, G, w, update, *, spec, noise=None):
    """What `project --tune` leaves: latent `w` at `path` (with `noise`), `update` saved beside it as
    <stem>_tuned.safetensors, and a record naming the generator (as `spec`) and that file. Returns the
    update's path."""
    from invert.latents import save_latent
    from invert.records import latent_record
    from invert.tuning import save_update, tuned_path

    update_path = save_update(tuned_path(path), update)
    save_latent(path, w, noise, record=latent_record(G, generator_spec=spec, command="project",
                                                     tuned=update_path.name))
    return update_path
