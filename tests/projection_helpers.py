"""Targets for the projection tests: images a generator can make exactly (random W+, fresh noise)."""
import torch

from invert.images import to_uint8


def render_in_domain(G, count, *, seed):
    """uint8 [count, R, R, 3]: renders of random W+ codes (a different mapped z per layer) with fresh
    random noise maps, so the W+ part is exactly reachable and the noise part is not the stored maps."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn([count * G.num_ws, G.z_dim], generator=generator)
    with torch.no_grad():
        ws = G.mapping(z)[:, 0].reshape(count, G.num_ws, G.w_dim)
        noise = [torch.randn([count, 1, *shape], generator=generator) for shape in G.synthesis.noise_shapes()]
        return to_uint8(G.synthesis(ws, noise=noise))
