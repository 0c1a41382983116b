"""PTI's locality regularisation: latents near the pivot must keep rendering as the untuned generator does.

Roich et al., "Pivotal Tuning for Latent-based Editing of Real Images" (ACM TOG 2022), section 3.3 and
their released settings. Each tuning step draws `samples` random latents w_z (the mapping of a random z
at truncation psi 0.5) and moves from the pivot w_p towards each by a fixed distance alpha:

    w_r = w_p + alpha * (w_z - w_p) / ||w_z - w_p||       (the norm over the whole [num_ws, w_dim] latent)

then penalises the difference between the tuned generator's image of w_r and the untuned one's with the
same loss as the reconstruction (perceptual + pixel MSE, same weights), averaged over the samples:

    total = L_reconstruction + weight * mean_r L(G_tuned(w_r), G(w_r))

PTI's values: weight (lambda_R) 0.1, alpha 30, one sample per step, psi 0.5; their reconstruction and
regulariser both use LPIPS + 1 * L2. alpha is an absolute distance in W+, chosen by PTI for FFHQ
(random mapped w lie about 20 from w_avg per layer there, and 16 to 20 in the conformance fixtures, so
it means about the same on both). The regulariser renders with the generator's stored noise maps (the
toolkit's rendering convention; PTI's code used no noise there).
"""
from dataclasses import asdict, dataclass

import torch

from invert.errors import TuningError


@dataclass(frozen=True)
class Locality:
    """Settings of the locality regulariser (PTI's by default)."""

    weight: float = 0.1        # lambda_R: weight of the regulariser in the total loss
    alpha: float = 30.0        # distance from the pivot to each regularising latent, in W+
    samples: int = 1           # regularising latents per step
    truncation: float = 0.5    # truncation psi of the random w that set the directions

    def to_dict(self):
        return asdict(self)


def resolve(locality):
    """`locality` as given to `tune` (False/None, True, a dict or a Locality) -> Locality or None."""
    if locality is None or locality is False:
        return None
    if locality is True:
        return Locality()
    if isinstance(locality, dict):
        try:
            locality = Locality(**locality)
        except TypeError as exc:
            raise TuningError(f"unknown locality setting: {exc}") from None
    if not isinstance(locality, Locality):
        raise TuningError(f"locality must be True, False or a Locality, got {type(locality).__name__}")
    if locality.weight < 0 or locality.alpha <= 0 or int(locality.samples) < 1:
        raise TuningError("locality needs weight >= 0, alpha > 0 and at least one sample")
    return locality


def regularising_latents(G, pivot, settings, generator):
    """w_r [samples, num_ws, w_dim] on G's device: `settings.alpha` from `pivot` [1, num_ws, w_dim]
    towards mapped random latents; `generator` (a CPU torch.Generator) draws the z."""
    z = torch.randn([int(settings.samples), G.z_dim], generator=generator).to(pivot.device)
    with torch.no_grad():
        w_z = G.mapping(z, truncation_psi=settings.truncation).float()
        direction = w_z - pivot
        norm = direction.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, 1, 1)
        return pivot + settings.alpha * direction / norm
