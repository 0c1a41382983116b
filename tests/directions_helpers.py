"""A stand-in for the official FFHQ network and its published directions, served from 127.0.0.1.

`fake_ffhq` points the weights registry's `ffhq-1024` and `ffhq-1024-tf` entries at the tiny conformance
fixture (tiny_ada.pkl and tiny_tf.pkl: one network in two formats), tells `invert.known_networks` to
expect that network's shape, and replaces the catalogue with files made here for it (smile, age, a
per-layer pose, a GANSpace PCA), their sha256 pinned. Nothing leaves the machine.
"""
import dataclasses
import hashlib
import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from file_server import FileServer

TINY_NUM_WS, TINY_W_DIM = 8, 512
PCA_COMPONENTS = 6


def torch_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def published_tensors(seed=0):
    """Directions made up for the tiny network, in the layouts encoder4editing publishes."""
    rng = np.random.default_rng(seed)
    smile = rng.standard_normal([1, TINY_W_DIM])
    pose = rng.standard_normal([1, TINY_NUM_WS, TINY_W_DIM]) * np.arange(1, TINY_NUM_WS + 1)[None, :, None]
    pose[0, 5] = 0  # a layer the direction leaves alone
    comp = np.linalg.qr(rng.standard_normal([TINY_W_DIM, PCA_COMPONENTS]))[0].T[:, None, :]  # [K, 1, w_dim]
    pca = {"mean": rng.standard_normal([1, TINY_W_DIM]), "comp": comp,
           "std": np.linspace(3.0, 0.5, PCA_COMPONENTS)}
    tensors = {"smile": smile / np.linalg.norm(smile), "age": rng.standard_normal([1, TINY_W_DIM]), "pose": pose}
    as_torch = {name: torch.tensor(value, dtype=torch.float32) for name, value in tensors.items()}
    as_torch["ganspace"] = {key: torch.tensor(value, dtype=torch.float32) for key, value in pca.items()}
    return as_torch


@pytest.fixture
def fake_ffhq(monkeypatch, sg2_dir):
    from invert import known_networks, weights
    from invert.directions import catalogue

    tensors = published_tensors()
    files = {"stylegan2-ffhq-1024x1024.pkl": (sg2_dir / "tiny_ada.pkl").read_bytes(),
             "stylegan2-ffhq-config-f.pkl": (sg2_dir / "tiny_tf.pkl").read_bytes()}
    files.update({f"{name}.pt": torch_bytes(value) for name, value in tensors.items()})
    server = FileServer(files)
    for name, filename in (("ffhq-1024", "stylegan2-ffhq-1024x1024.pkl"),
                           ("ffhq-1024-tf", "stylegan2-ffhq-config-f.pkl")):
        entry = dataclasses.replace(weights.REGISTRY[name], url=server.url(filename), sha256=sha256(files[filename]))
        monkeypatch.setitem(weights.REGISTRY, name, entry)
    network = dataclasses.replace(known_networks.KNOWN_NETWORKS[known_networks.FFHQ], num_ws=TINY_NUM_WS,
                                  w_dim=TINY_W_DIM)
    monkeypatch.setitem(known_networks.KNOWN_NETWORKS, known_networks.FFHQ, network)
    shapes = {"smile": (("", (1, TINY_W_DIM)),), "age": (("", (1, TINY_W_DIM)),),
              "pose": (("", (1, TINY_NUM_WS, TINY_W_DIM)),),
              "ganspace": (("mean", (1, TINY_W_DIM)), ("comp", (PCA_COMPONENTS, 1, TINY_W_DIM)),
                           ("std", (PCA_COMPONENTS,)))}
    entries = {name: dataclasses.replace(entry, url=server.url(f"{name}.pt"), sha256=sha256(files[f"{name}.pt"]),
                                         shapes=shapes[name])
               for name, entry in catalogue.CATALOGUE.items()}
    monkeypatch.setattr(catalogue, "CATALOGUE", entries)
    yield SimpleNamespace(server=server, files=files, tensors=tensors, entries=entries)
    server.close()
