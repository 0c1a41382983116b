"""Face detection, 68-point landmarks and identity descriptors, with dlib.

The model files come from the PyPI package `face_recognition_models`, found on disk without importing it
(its `__init__` needs `pkg_resources`); `landmarks_path` overrides the 68-point shape predictor. Loaded
models are cached per path.

Which face is "the" face: dlib's frontal detector also reports doubtful windows (on the astronaut test
photo, a shirt fold of almost the real face's size at score 0.12 against the face's 1.16). Detections
are therefore ranked in two tiers: the *confident* ones, whose score is at least CONFIDENT_FRACTION of the
best score, largest box first, then the doubtful rest, largest first. Index 0 of `detect_faces` is the
default face everywhere (`align_face`, `identity_similarity`, attribute scores). Detections scoring below
`min_score` (DEFAULT_MIN_SCORE) are not reported at all.

Large photos: the detector runs on a copy of at most DETECTION_MAX_PIXELS pixels; the landmarks are then
fitted on the full photo inside the detected box scaled back, so alignment keeps the full resolution.

Images are uint8 numpy arrays [H, W, 3] (RGB); points are (x, y) in pixels, x to the right, y down.
"""
import functools
import importlib.metadata
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from invert.errors import ImageError, InvertError, WeightsError
from invert.limits import MIN_FACE_SCORE

log = logging.getLogger(__name__)

MODELS_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HINT = "pip install face_recognition_models dlib-bin"

# A detection counts as confident when its score is at least this fraction of the best score.
CONFIDENT_FRACTION = 0.5
DEFAULT_MIN_SCORE = MIN_FACE_SCORE  # see invert.limits
# The detector's image pyramid grows with the photo (and 4x per upsampling step): 225 MB for 4 megapixels
# at upsample 1, about 7 GB for a 12000x12000 photo. Larger photos are detected on a copy downscaled to at
# most this many pixels, which still finds faces a fiftieth of a 12000-pixel side wide.
DETECTION_MAX_PIXELS = 4_000_000


@dataclass(frozen=True)
class Face:
    """One detected face."""

    box: tuple        # (left, top, right, bottom) in pixels, may reach outside the image
    score: float      # dlib detector score (> 0; larger is surer; the astronaut's face: 1.16)
    landmarks: np.ndarray  # float64 [68, 2], (x, y) in the iBUG 300-W order

    @property
    def area(self):
        left, top, right, bottom = self.box
        return max(right - left, 0) * max(bottom - top, 0)


class Identity(NamedTuple):
    """Identity agreement of two faces; both fields are None when either image has no face."""

    cosine: Optional[float]    # cosine similarity of the 128-d descriptors, 1 = same direction
    distance: Optional[float]  # euclidean distance; dlib treats < 0.6 as the same person


def _dlib():
    try:
        import dlib
    except ImportError:
        raise InvertError(f"face detection needs dlib: {INSTALL_HINT}", remedies=("skip_alignment",)) from None
    return dlib


def models_dir():
    """The `models` folder of the installed `face_recognition_models` package, or None."""
    try:
        spec = importlib.util.find_spec(MODELS_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "models"
        if candidate.is_dir():
            return candidate
    try:
        files = importlib.metadata.files(MODELS_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == LANDMARKS_FILE:
            return Path(file.locate()).parent
    return None


def model_path(filename, *, override=None, remedy=None):
    """Path of a dlib model file: `override` if given, else the copy in `face_recognition_models`.

    `remedy` names the setting that would give another path (see InvertError.remedies)."""
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise WeightsError(f"dlib model file not found: {path}")
        return path
    folder = models_dir()
    if folder is None or not (folder / filename).is_file():
        raise WeightsError(f"the dlib model {filename} is missing: {INSTALL_HINT}", remedies=(remedy,) if remedy else ())
    return folder / filename


@functools.lru_cache(maxsize=None)
def _detector():
    return _dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=4)
def _shape_predictor(path):
    log.debug("loading landmark model %s", path)
    try:
        return _dlib().shape_predictor(str(path))
    except RuntimeError as exc:
        raise WeightsError(f"cannot load the landmark model {path}: {' '.join(str(exc).split())}") from None


@functools.lru_cache(maxsize=4)
def _recognizer(path):
    log.debug("loading face recognition model %s", path)
    try:
        return _dlib().face_recognition_model_v1(str(path))
    except RuntimeError as exc:
        raise WeightsError(f"cannot load the face recognition model {path}: "
                           f"{' '.join(str(exc).split())}") from None


def _check_rgb(rgb):
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageError(f"expected a uint8 RGB image [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
    return np.ascontiguousarray(rgb)


def rank_detections(faces):
    """Order faces best first: confident ones (score >= CONFIDENT_FRACTION x best) largest first, then the rest."""
    if not faces:
        return []
    best = max(face.score for face in faces)
    return sorted(faces, key=lambda face: (face.score < CONFIDENT_FRACTION * best, -face.area, -face.score))


def detect_faces(rgb, *, upsample=1, landmarks_path=None, min_score=DEFAULT_MIN_SCORE):
    """Find the faces in uint8 [H, W, 3] and their 68 landmarks; a list of Face, best first (see module doc).

    `upsample` enlarges the image that many times (x2 each) before detecting, finding smaller faces
    (about 80 px wide at 0, 40 px at 1) at a cost of about 4x the time per step. Detections scoring
    below `min_score` are dropped (None keeps every one).
    """
    dlib = _dlib()
    rgb = _check_rgb(rgb)
    predictor = _shape_predictor(model_path(LANDMARKS_FILE, override=landmarks_path, remedy="landmarks_path"))
    factor = _detection_factor(rgb.shape[:2])
    if factor > 1:
        from PIL import Image

        small = np.asarray(Image.fromarray(rgb).reduce(factor))  # box filter: enough for a detector
        log.debug("detecting faces on a copy reduced %dx (%dx%d)", factor, small.shape[1], small.shape[0])
    else:
        small = rgb
    rects, scores, _ = _detector().run(small, int(upsample), 0.0)
    faces = []
    for rect, score in zip(rects, scores):
        if min_score is not None and score < min_score:
            continue
        if factor > 1:  # the box on the full photo; the landmarks are fitted there
            rect = dlib.rectangle(rect.left() * factor, rect.top() * factor, (rect.right() + 1) * factor - 1,
                                  (rect.bottom() + 1) * factor - 1)
        shape = predictor(rgb, rect)
        landmarks = np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float64)
        faces.append(Face(box=(rect.left(), rect.top(), rect.right(), rect.bottom()), score=float(score),
                          landmarks=landmarks))
    faces = rank_detections(faces)
    log.debug("found %d face(s): %s", len(faces), [(face.box, round(face.score, 2)) for face in faces])
    return faces


def _detection_factor(size):
    """The integer factor a photo of `size` (height, width) is reduced by for detection (1: not at all)."""
    height, width = size
    return max(1, int(np.ceil(np.sqrt(height * width / DETECTION_MAX_PIXELS))))


def face_descriptor(rgb, landmarks, *, recognition_path=None):
    """dlib's 128-d face recognition descriptor (float32 [128]) of the face with `landmarks` [68, 2] in `rgb`."""
    dlib = _dlib()
    rgb = _check_rgb(rgb)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2):
        raise ImageError(f"expected 68 landmarks [68, 2], got {list(landmarks.shape)}")
    recognizer = _recognizer(model_path(RECOGNITION_FILE, override=recognition_path))
    points = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
    (left, top), (right, bottom) = landmarks.min(axis=0), landmarks.max(axis=0)
    rect = dlib.rectangle(int(left), int(top), int(np.ceil(right)), int(np.ceil(bottom)))
    shape = dlib.full_object_detection(rect, points)
    return np.asarray(recognizer.compute_face_descriptor(rgb, shape), dtype=np.float32)


def identity_similarity(rgb_a, rgb_b, *, upsample=1, landmarks_path=None):
    """Compare the default face of two uint8 [H, W, 3] images; an Identity (None fields when a face is missing)."""
    descriptors = []
    for rgb in (rgb_a, rgb_b):
        faces = detect_faces(rgb, upsample=upsample, landmarks_path=landmarks_path)
        if not faces:
            return Identity(None, None)
        descriptors.append(face_descriptor(rgb, faces[0].landmarks).astype(np.float64))
    a, b = descriptors
    cosine = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    return Identity(cosine=cosine, distance=float(np.linalg.norm(a - b)))
