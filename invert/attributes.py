"""Facial attribute scores from dlib's 68 landmarks, to label generated images for InterfaceGAN boundaries.

Each score is a plain geometric measure, comparable across images (only their order matters for training
a boundary). Landmarks are float [68, 2] (x, y) pixels in the iBUG 300-W order: jaw 0-16, brows 17-26,
nose 27-35 (tip 30), eyes 36-41 and 42-47 (outer corners 36 and 45), outer lips 48-59 (corners 48 and 54),
inner lips 60-67. Scores that need a frame first undo the head's roll (the eye line becomes horizontal) and
measure lengths in units of the interocular distance (between the two eye centres).

- smile: mouth width + corner lift. Width is |p54 - p48|; lift is how far the corners sit above the
  centre of the inner lips (mean of 62 and 66), positive when raised. A neutral mouth is about 0.8-0.9,
  a broad smile above 1.
- mouth_open: the gap between the inner lips (mean of |p61 - p67|, |p62 - p66|, |p63 - p65|) over the
  mouth width |p54 - p48|; 0 when closed.
- eyes_open: the eye aspect ratio (Soukupova & Cech 2016), (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) for
  each eye's six points p1..p6, averaged over both eyes; about 0.3 open, under 0.2 nearly closed.
- yaw: how far the nose tip (30) sits from the middle of the face, as a signed fraction of the half
  width, averaged over two references: the outer face outline (0 and 16) and the outer eye corners
  (36 and 45). 0 is frontal; positive when the nose points towards the image's right (the person's left).
"""
import logging

import numpy as np
from PIL import Image

from invert.errors import ImageError, InvertError
from invert.faces import detect_faces

log = logging.getLogger(__name__)


def _check(landmarks):
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2):
        raise ImageError(f"expected 68 landmarks [68, 2], got {list(landmarks.shape)}")
    return landmarks


def normalise(landmarks):
    """[68, 2] -> [68, 2] with the eye line horizontal, origin between the eyes, interocular distance 1.

    The roll is taken modulo a half turn, so a set mirrored without re-indexing is not turned upside down.
    """
    landmarks = _check(landmarks)
    eye_left, eye_right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    dx, dy = eye_right - eye_left
    distance = np.hypot(dx, dy)
    if distance < 1e-9:
        return np.full_like(landmarks, np.nan)
    roll = np.arctan(dy / dx) if abs(dx) > 1e-12 else np.pi / 2
    cos, sin = np.cos(-roll), np.sin(-roll)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return (landmarks - (eye_left + eye_right) / 2) @ rotation.T / distance


def smile(landmarks):
    """Mouth width plus corner lift above the inner-lip centre, in interocular distances."""
    points = normalise(landmarks)
    width = np.hypot(*(points[54] - points[48]))
    lift = (points[62, 1] + points[66, 1]) / 2 - (points[48, 1] + points[54, 1]) / 2
    return float(width + lift)


def mouth_open(landmarks):
    """Inner-lip gap over outer mouth width (0 = closed)."""
    points = _check(landmarks)
    gap = np.mean([np.hypot(*(points[a] - points[b])) for a, b in ((61, 67), (62, 66), (63, 65))])
    width = np.hypot(*(points[54] - points[48]))
    return float(gap / width) if width > 1e-9 else float("nan")


def _eye_aspect_ratio(eye):
    p1, p2, p3, p4, p5, p6 = eye
    width = np.hypot(*(p4 - p1))
    if width < 1e-9:
        return float("nan")
    return (np.hypot(*(p2 - p6)) + np.hypot(*(p3 - p5))) / (2 * width)


def eyes_open(landmarks):
    """Eye aspect ratio averaged over both eyes."""
    points = _check(landmarks)
    return float((_eye_aspect_ratio(points[36:42]) + _eye_aspect_ratio(points[42:48])) / 2)


def yaw(landmarks):
    """Signed nose-tip offset from the face's middle over its half width; > 0 facing the image's right."""
    x = normalise(landmarks)[:, 0]
    offsets = []
    for a, b in ((0, 16), (36, 45)):
        half_width = abs(x[b] - x[a]) / 2
        offsets.append((x[30] - (x[a] + x[b]) / 2) / half_width if half_width > 1e-9 else np.nan)
    return float(np.mean(offsets))


# name -> function(landmarks [68, 2]) -> float
ATTRIBUTES = {"smile": smile, "mouth_open": mouth_open, "eyes_open": eyes_open, "yaw": yaw}


def get_attribute(name):
    """The scoring function of attribute `name`; InvertError listing the known names otherwise."""
    try:
        return ATTRIBUTES[name]
    except KeyError:
        raise InvertError(f"unknown attribute {name!r}; choose one of {', '.join(ATTRIBUTES)}") from None


def _check_images(images):
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ImageError(f"expected uint8 images [N, H, W, 3], got {images.dtype} {list(images.shape)}")
    return images


def image_landmarks(images, *, upsample=1, max_size=512, landmarks_path=None):
    """The best face's landmarks [68, 2] for each of uint8 images [N, H, W, 3] (None where no face).

    Images larger than `max_size` are downscaled first (faster; every score is scale-free), so the
    landmarks are in the coordinates of that downscaled copy.
    """
    images = _check_images(images)
    results = []
    for image in images:
        height, width = image.shape[:2]
        scale = max_size / max(height, width)
        if scale < 1:
            size = (max(round(width * scale), 1), max(round(height * scale), 1))
            image = np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
        faces = detect_faces(image, upsample=upsample, landmarks_path=landmarks_path)
        results.append(faces[0].landmarks if faces else None)
    found = sum(landmarks is not None for landmarks in results)
    log.debug("found a face in %d of %d images", found, len(results))
    return results


def score_landmarks(landmarks_list, attribute):
    """Score a list of landmarks [68, 2] (or None) -> float64 [N], NaN where None."""
    function = get_attribute(attribute)
    return np.array([np.nan if landmarks is None else function(landmarks) for landmarks in landmarks_list],
                    dtype=np.float64)


def score_images(images, attribute, *, upsample=1, max_size=512, landmarks_path=None):
    """Score `attribute` on uint8 images [N, H, W, 3] -> float64 [N], NaN where no face was found."""
    get_attribute(attribute)  # an unknown name fails before any detection
    landmarks = image_landmarks(images, upsample=upsample, max_size=max_size, landmarks_path=landmarks_path)
    return score_landmarks(landmarks, attribute)
