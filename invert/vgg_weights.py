"""Where the VGG16 weights come from: torchvision's file, a file the user names, or seeded random weights.

`source` (everywhere a VGG16 is built) is one of:
- None or 'auto': torchvision's ImageNet weights (`VGG16_Weights.IMAGENET1K_V1`, `vgg16-397923af.pth`,
  528 MB) in the torch hub cache, `$TORCH_HOME/hub/checkpoints/` (TORCH_HOME defaults to ~/.cache/torch),
  downloaded and hash-checked there by torchvision when absent: the file torchvision itself and the
  lpips package use, so it is downloaded once for all of them;
- a path to a torchvision-format VGG16 state dict;
- 'random' or 'random:SEED': seeded random weights, for tests and offline demos (never chosen
  automatically; every result made with them says so).

Earlier versions downloaded the same file into stylegan-invert's own cache ($STYLEGAN_INVERT_HOME);
a file found there is used rather than downloaded again.
"""
import contextlib
import io
import logging
import pickle
import re
from pathlib import Path

import torch

from invert.errors import WeightsError
from invert.networks import vgg16

log = logging.getLogger(__name__)

TORCHVISION_FILENAME = "vgg16-397923af.pth"  # torchvision's name; 397923af is its sha256 prefix


def hub_checkpoint_path():
    """Where torchvision keeps its VGG16 file: $TORCH_HOME/hub/checkpoints/vgg16-397923af.pth."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILENAME


def _legacy_cache_path():
    from invert.paths import home_dir

    return home_dir() / TORCHVISION_FILENAME


def is_random(source):
    """Whether `source` asks for seeded random weights ('random' or 'random:SEED')."""
    return isinstance(source, str) and re.fullmatch(r"random(:\d+)?", source) is not None


def find_weights(source=None, *, download=True, progress=True):
    """Decide where VGG16 weights come from -> a Path, or the string 'random[:SEED]'.

    `source`: None or 'auto' (the torch hub cache, downloading there through torchvision if absent and
    `download`), a file path, or 'random[:SEED]'. Raises WeightsError, saying where the file is expected,
    when it is missing and cannot be downloaded.
    """
    if source not in (None, "auto"):
        if is_random(source):
            return source
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsError(f"VGG16 weights file not found: {path} (expected torchvision's {TORCHVISION_FILENAME})")
        return path
    hub = hub_checkpoint_path()
    if hub.is_file():
        return hub
    legacy = _legacy_cache_path()
    if legacy.is_file():
        log.info("VGG16 weights from %s (an earlier version's download; torchvision keeps them at %s)", legacy, hub)
        return legacy
    missing = (f"VGG16 weights are missing: the perceptual loss needs torchvision's ImageNet VGG16 "
               f"({TORCHVISION_FILENAME}, 528 MB) at {hub}")
    if not download:
        raise WeightsError(f"{missing}; it is downloaded there on first use")
    _download_with_torchvision(hub, missing, progress=progress)
    return hub


def _download_with_torchvision(hub, missing, *, progress):
    """torchvision's own download of VGG16_Weights.IMAGENET1K_V1 into the hub cache (sha256-prefix checked)."""
    import sys

    from torchvision.models import VGG16_Weights

    url = VGG16_Weights.IMAGENET1K_V1.url
    log.info("downloading VGG16 weights from %s to %s", url, hub)
    try:
        hub.parent.mkdir(parents=True, exist_ok=True)
        # torchvision's download path: check_hash compares the file's sha256 with the prefix in its name.
        # It prints its own "Downloading: ..." to stdout, where our results go; the log line above says it.
        with contextlib.redirect_stdout(io.StringIO()):
            torch.hub.load_state_dict_from_url(url, progress=progress and sys.stderr.isatty(), check_hash=True,
                                               weights_only=True, map_location="meta")
    except OSError as exc:  # offline (URLError is an OSError), or the folder is not writable
        if getattr(exc, "reason", None) is not None:
            why = f"it could not be downloaded ({exc.reason}); this machine may be offline"
        elif exc.errno is not None and exc.filename is not None:
            why = f"it could not be downloaded there: {hub.parent} is not writable"
        else:
            why = f"it could not be downloaded ({exc})"
        raise WeightsError(f"{missing}, and {why}. Download {url} by other means and put it at {hub}") from None
    except RuntimeError as exc:  # torch.hub: 'invalid hash value'
        raise WeightsError(f"{missing}, and the download from {url} failed its checksum ({exc}); "
                           "it was deleted: try again") from None


def random_state(seed=0):
    """Seeded random weights in torchvision's layout (every conv of `features`), torchvision's init."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in vgg16.feature_shapes().items():
        if key.endswith(".weight"):
            fan_out = shape[0] * shape[2] * shape[3]  # kaiming normal, mode='fan_out', ReLU gain
            state[key] = torch.randn(shape, generator=generator) * (2.0 / fan_out) ** 0.5
        else:
            state[key] = torch.zeros(shape)
    return state


def read_state(path):
    """Read a torchvision-format VGG16 state dict file (weights only) -> {'features.K.*': float32 tensor}.

    torch.load(weights_only=True) executes nothing; a file that asks for more is refused, naming what it
    asked for. Shapes and keys are checked by `invert.networks.vgg16.check_state`.
    """
    from invert.checkpoints.unpickler import torch_load_problem, weights_only_refusal

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"VGG16 weights file not found: {path}") from None
    except pickle.UnpicklingError as exc:
        refusal = weights_only_refusal(exc)
        if refusal:
            raise WeightsError(f"refused to read VGG16 weights {path}: {refusal}") from None
        raise WeightsError(f"cannot read VGG16 weights {path}: {torch_load_problem(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for a bad file
        raise WeightsError(f"cannot read VGG16 weights {path}: {' '.join(str(exc).split())[:200]}") from None
    return vgg16.check_state(state, where=str(path))


def load_state(source=None, *, download=True):
    """Resolve `source` (see `find_weights`) and read it -> (state dict, info dict).

    info: {'source': path or 'random:SEED', 'random': bool}. Random weights log a warning.
    """
    where = find_weights(source, download=download)
    if isinstance(where, str):
        seed = int(where.split(":")[1]) if ":" in where else 0
        log.warning("VGG16 with RANDOM weights (%s): perceptual distances are not ImageNet features", where)
        return random_state(seed), {"source": f"random:{seed}", "random": True}
    log.info("VGG16 weights: %s", where)
    return read_state(where), {"source": str(where), "random": False}


def load_vgg16(source=None, *, layers=vgg16.IMAGE2STYLEGAN_LAYERS, device="cpu"):
    """`load_state` + `invert.networks.vgg16.build_features`: a ready VGG16 feature extractor for `layers`."""
    state, info = load_state(source)
    return vgg16.build_features(state, layers=layers, info=info, device=device)
