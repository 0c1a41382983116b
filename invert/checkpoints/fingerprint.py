"""A network's fingerprint: which weights it computes with, whatever file they were read from.

The same StyleGAN2 network ships in several files (NVIDIA's ada and stylegan3-repository pickles, the
TensorFlow release, rosinality's conversion): different bytes, so different file sha256, but the same
tensors once converted to one layout. Everything tied to a network rather than to a file (boundaries and
other directions in W, a latent's record, a tuned update) is keyed by this fingerprint instead.

fingerprint = sha256 over the generator's config (canonical JSON) and, for every state-dict entry in
sorted name order, its name, its shape and its float32 little-endian bytes. Conversions between the
official formats are exact, so every format of one network gives one fingerprint (tested on the
conformance fixtures); any changed weight, buffer or setting gives another, except `conv_clamp`: a
run-time clipping of activations that formats record differently for the same weights (an ada or
stylegan3-repository pickle says 256, rosinality's conversion of it knows none), and that moves no
latent, so W and its directions are the same.
"""
import hashlib
import json

import torch


RUN_TIME_SETTINGS = ("conv_clamp",)  # config entries that are not part of the network (see the module doc)


def network_fingerprint(generator):
    """Hex sha256 of `generator`'s config and weights (see the module doc); ~0.2 s for FFHQ 1024."""
    digest = hashlib.sha256()
    # run-time settings count as unset (not dropped: fingerprints of networks without them stay as they were)
    config = {**generator.config.to_dict(), **{key: None for key in RUN_TIME_SETTINGS}}
    digest.update(json.dumps(config, sort_keys=True).encode())
    state = generator.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().to(device="cpu", dtype=torch.float32).contiguous()
        digest.update(f"\n{name} {list(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().astype("<f4", copy=False).tobytes())
    return digest.hexdigest()


def short(fingerprint):
    """The first 12 hex digits, for messages and folder names."""
    return str(fingerprint)[:12]

