"""Photos -> projection targets, in DataLoader worker processes while the device optimises.

`TargetDataset` is a map-style `torch.utils.data.Dataset`: item i reads input i, turns it upright, finds
and aligns its face(s) the FFHQ way (or centre-crops it with `align=False`), reads the mask, and returns
a `PreparedInput` holding uint8 targets [R, R, 3] — or, when the photo cannot be used (unreadable, no
face, a mask of the wrong size), the `Problem`, so that one bad photo never stops the others.
`target_loader` wraps it in a DataLoader with `workers` processes that prepare a few inputs ahead, in
order; with 0 workers the main process prepares each input when it is needed.

Memory: at most `prefetch` inputs per worker wait in the loader (their aligned targets, uint8 3 MB each
at 1024²), plus the photo each worker is reading.
"""
import logging
import math
import signal
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from invert.errors import ImageError, InvertError

log = logging.getLogger(__name__)

SKIPPED, FAILED = "skipped", "failed"


@dataclass(frozen=True)
class Problem:
    """Why an input (or target) has no result: `kind` 'skipped' (the photo cannot be used) or 'failed'
    (anything else); `remedies` as in InvertError (settings that would help)."""

    kind: str
    message: str
    remedies: tuple = ()

    @classmethod
    def from_exception(cls, exc, kind=None):
        if isinstance(exc, InvertError):
            return cls(kind or (SKIPPED if isinstance(exc, ImageError) else FAILED), _one_line(exc),
                       tuple(exc.remedies))
        return cls(kind or FAILED, f"{type(exc).__name__}: {_one_line(exc)}")


@dataclass
class Target:
    """One image to project: a photo's aligned face (or the photo itself with align off)."""

    index: int                        # the input's position in the run (see PreparedInput)
    face: Optional[int]               # the face's index among the detections (None with align off)
    image: np.ndarray                 # uint8 [R, R, 3]
    mask: Optional[np.ndarray] = None  # float32 [R, R] in [0, 1], 1 = known pixel
    face_score: Optional[float] = None  # the face detector's score
    faces_found: Optional[int] = None   # how many faces the photo has (every-face mode only)


@dataclass
class PreparedInput:
    """Input `index` of a run: its targets, or the problem that left it without any."""

    index: int
    targets: list = field(default_factory=list)
    problem: Optional[Problem] = None


def prepare_targets(path, index, options):
    """Read the photo at `path` and make its targets (a list of Target) as `options` (TargetOptions) say."""
    from invert.images import load_rgb
    from invert.projector import prepare_target, read_mask

    rgb = load_rgb(path)
    if not options.align:
        mask = None
        if options.mask_path is not None:
            mask = read_mask(options.mask_path, resolution=options.resolution, image_size=rgb.shape[:2])
        return [Target(index, None, prepare_target(rgb, options.resolution), mask=mask)]
    from invert import align

    detection = dict(upsample=options.upsample, landmarks_path=options.landmarks_path,
                     min_score=options.min_face_score)
    if options.all_faces:
        faces = align.find_faces(rgb, **detection)
        return [Target(index, k, align.align_landmarks(rgb, face.landmarks, size=options.resolution,
                                                       face=face).image,
                       face_score=face.score, faces_found=len(faces)) for k, face in enumerate(faces)]
    face = align.select_face(rgb, face_index=options.face_index, **detection)
    aligned = align.align_landmarks(rgb, face.landmarks, size=options.resolution, face=face)
    return [Target(index, options.face_index or 0, aligned.image, face_score=aligned.score)]


class TargetDataset(torch.utils.data.Dataset):
    """Item i: `PreparedInput` of `inputs[i]` (a list of (run index, InputFile)); never raises for a bad
    photo (see the module doc)."""

    def __init__(self, inputs, options):
        self.inputs, self.options = list(inputs), options

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, i):
        index, item = self.inputs[i]
        try:
            return PreparedInput(index, prepare_targets(item.path, index, self.options))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure belongs to this photo alone
            if isinstance(exc, MemoryError):
                exc = ImageError(f"out of memory while reading {item.path}; downscale it first")
            return PreparedInput(index, problem=Problem.from_exception(exc))


def target_loader(dataset, *, workers=0, prefetch=2):
    """A DataLoader over `dataset` that yields one PreparedInput at a time, in order, prepared by `workers`
    processes (`prefetch` inputs ahead each); 0 workers prepare in the main process."""
    options = dict(batch_size=None, shuffle=False, num_workers=int(workers), collate_fn=_as_is)
    if workers:
        options.update(prefetch_factor=max(1, int(prefetch)), worker_init_fn=_worker_init, persistent_workers=False)
    return torch.utils.data.DataLoader(dataset, **options)


def prefetch_for(batch_size, workers):
    """Inputs each worker prepares ahead: enough that about two batches wait while one is optimised."""
    return max(2, math.ceil(2 * batch_size / max(1, workers)))


def _as_is(item):
    return item


def _worker_init(worker_id):
    """Workers leave stopping to the main process: Ctrl-C (sent to the whole terminal's process group) is
    ignored, and SIGTERM/SIGHUP end the worker quietly, so that its exit is not reported as a crash while
    the main process saves its batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, _exit_quietly)
    torch.set_num_threads(1)  # the main process's threads optimise; a worker reads and aligns one photo


def _exit_quietly(signum, frame):
    import os

    os._exit(0)


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__
