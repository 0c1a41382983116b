"""stylegan-invert: optimisation-based StyleGAN2 inversion and latent editing.

The pipeline, one module per step: `load_generator` (checkpoints/) -> `align` -> `project` (projector)
-> latents (latents, records) -> edits (editing, directions) -> images (images).

Heavy imports (torch) happen on first use of an attribute, so `import invert` is cheap.
"""
from invert._version import __version__
from invert.errors import InvertError

_LAZY = {
    "load_generator": ("invert.checkpoints", "load_generator"),
    "save_generator": ("invert.checkpoints", "save_generator"),
    "project": ("invert.projector", "project"),
    "align_face": ("invert.align", "align_face"),
}

__all__ = ["__version__", "InvertError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module 'invert' has no attribute {name!r}")
