"""What a projection run is asked to do: how targets are made, how they are projected (and tuned), and
what is written where.

`RunSettings.result_key(G, ...)` is the part that decides the results: two runs with the same key are
"the same command", so a run finds the complete outputs of an earlier one with the same key and does not
redo them (invert.pipeline.outputs). Speed switches that leave the numbers alone up to float rounding
(batch size, workers, threads, device, torch.compile, channels-last, TF32) are not part of it; anything
that changes the latents or the set of files written is. Files are keyed by name and content, not by
path (the same command typed from another folder, or on another machine, is the same command).
"""
from dataclasses import dataclass, field
from typing import Optional

from invert.faces import DEFAULT_MIN_SCORE
from invert.tuning import DEFAULT_RANK, TUNE_LEARNING_RATE, TUNE_STEPS

# invert.projector.project options that only change speed, not the result (up to float rounding)
SPEED_OPTIONS = ("channels_last", "compile", "tf32")
VIDEO_FORMATS = ("mp4", "gif")


@dataclass(frozen=True)
class TargetOptions:
    """How a photo becomes targets: aligned faces (dlib, FFHQ crop) or the centre-cropped image."""

    resolution: int                    # the generator's
    align: bool = True
    face_index: Optional[int] = None   # None: the best face
    all_faces: bool = False            # every face, as <stem>_face{K}
    landmarks_path: Optional[str] = None
    upsample: int = 1
    min_face_score: float = DEFAULT_MIN_SCORE
    mask_path: Optional[str] = None    # one mask for every image (needs align=False)


@dataclass(frozen=True)
class TuneOptions:
    """Pivotal tuning after the projection (invert.tuning.tune): PTI's defaults."""

    steps: int = TUNE_STEPS
    lr: float = TUNE_LEARNING_RATE
    rank: object = DEFAULT_RANK        # R >= 1 or 'full'
    locality: bool = False
    seed: int = 0


@dataclass
class RunSettings:
    """Everything a run needs besides the generator, the perceptual networks and the inputs."""

    targets: TargetOptions
    projector: dict = field(default_factory=dict)  # keyword options of invert.projector.project
    loss: str = "vgg"                              # the perceptual loss's kind, for the records
    tune: Optional[TuneOptions] = None
    generator_spec: str = ""                       # as the user gave it, for the latents' records
    outdir: Optional[str] = None                   # None: outputs beside each photo
    video_format: Optional[str] = None             # 'mp4' | 'gif' | None (no animation)
    video_every: int = 0
    fps: float = 10.0
    batch_size: int = 4
    workers: int = 0
    force: bool = False                            # redo and replace everything
    resume_paths: tuple = ()                       # the latent (and noise file) a projection continues from
    progress: bool = False                         # progress bars on stderr

    @property
    def noise(self):
        return bool(self.projector.get("noise"))

    def result_key(self, G, *, vgg_info=None, has_init_noise=False):
        """The settings that decide the outputs, as a JSON-ready dict (see the module doc)."""
        projector = {k: v for k, v in self.projector.items() if k not in SPEED_OPTIONS}
        targets = dict(vars(self.targets))
        for name in ("landmarks_path", "mask_path"):
            targets[name] = _file_key(targets.get(name))
        return {
            "generator": (G.source or {}).get("fingerprint"),
            "vgg16": _vgg_key(vgg_info),
            "loss": self.loss,
            "projector": projector,
            "targets": targets,
            "tune": None if self.tune is None else vars(self.tune).copy(),
            "resume": [_file_key(p) for p in self.resume_paths],
            "noise_file": bool(self.noise or has_init_noise),
            "video": None if not self.video_format else {"format": self.video_format, "every": self.video_every,
                                                         "fps": self.fps},
        }


def _file_key(path):
    """A file the results depend on (landmark model, mask, resumed latent) by its name and content, not by
    its path: the same command typed with a relative path, or finished on another machine, is the same."""
    if path is None:
        return None
    from pathlib import Path

    from invert.fileio import sha256_file

    try:
        return {"name": Path(path).name, "sha256": sha256_file(path)}
    except OSError:
        return {"name": Path(path).name, "sha256": None}


def _vgg_key(info):
    """VGG16's part of the key: random weights by their seed; a weights file by its name (not its folder,
    which differs between machines that hold the same file)."""
    if not info:
        return None
    source = str(info.get("source"))
    if info.get("random"):
        return source
    from pathlib import Path

    return Path(source).name
