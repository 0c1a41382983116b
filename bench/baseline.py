"""The baseline the benchmark compares against: the straightforward float32 eager projection loop.

This is the Image2StyleGAN seed scripts' approach, kept deliberately plain: one image at a time, both
the reconstruction and the target resized and passed through VGG16 at every step, no autocast, default
memory format, nothing compiled. It uses the same generator, the same VGG16 layers and the same loss as
`invert.projector.project`, so the two differ only in how the work is done.
"""
import torch
import torch.nn.functional as F

PERCEPTUAL_SIZE = 256


def _vgg_input(images):
    if images.shape[-1] > PERCEPTUAL_SIZE:
        images = F.interpolate(images, size=(PERCEPTUAL_SIZE, PERCEPTUAL_SIZE), mode="area")
    return images


def baseline_project_one(G, vgg, target, *, num_steps, lr=0.01, callback=None):
    """Project one target [1, 3, R, R] in [-1, 1] -> best latent [1, num_ws, w_dim].

    `vgg` is an `invert.networks.vgg16.VGG16Features`; `callback(step)` runs after every step.
    """
    latent = G.w_avg.detach().reshape(1, 1, -1).repeat(1, G.num_ws, 1).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    best, best_loss = latent.detach().clone(), float("inf")
    for step in range(num_steps):
        image = G.synthesis(latent, noise_mode="const")
        loss = F.mse_loss(image, target)
        ours, theirs = vgg(_vgg_input(image)), vgg(_vgg_input(target))  # target recomputed every step
        for a, b in zip(ours, theirs):
            loss = loss + F.mse_loss(a, b)
        if loss.item() < best_loss:  # a host sync every step, as the seed scripts do
            best_loss, best = loss.item(), latent.detach().clone()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if callback is not None:
            callback(step)
    return best
