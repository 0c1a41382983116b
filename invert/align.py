"""FFHQ-style face alignment: the crop NVIDIA used to build FFHQ, computed from dlib's 68 landmarks.

The procedure, so a projected photo looks like the generator's training data:

1. Oriented square ("quad") from the landmarks: its x axis follows the eye-to-eye vector corrected by the
   perpendicular of the eye-to-mouth vector; its half side is max(2 x eye distance, 1.8 x eye-to-mouth
   distance); its centre is the eye midpoint moved a tenth of the way to the mouth.
2. Shrink: when the quad is more than twice the output size, downscale the photo (Lanczos) by the integer
   factor floor(side / size / 2) first, so the final resampling never skips pixels.
3. Crop to the quad's bounding box plus a border of a tenth of its side.
4. Pad: where the quad still reaches outside the photo, extend it by reflection (at least 0.3 x side), blur
   the padding (gaussian, sigma = 0.02 x side) and fade it towards the photo's median colour further out,
   so the generator never sees a hard edge or a mirrored second face at full contrast.
5. Resample the quad to a square 4x the output size (bilinear), then downscale to the output (Lanczos).

Images are uint8 [H, W, 3]; points are (x, y) pixels; a quad is float64 [4, 2] with the corners that land
on the output's top-left, bottom-left, bottom-right and top-right, in photo coordinates.
"""
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from invert.errors import FaceNotFoundError, ImageError
from invert.faces import DEFAULT_MIN_SCORE, Face, detect_faces, rank_detections
from invert.limits import MAX_ALIGN_SIZE

log = logging.getLogger(__name__)

SUPERSAMPLE = 4  # the quad is resampled at this multiple of the output size, then downscaled (FFHQ: 4096 for 1024)
MAX_SIZE = MAX_ALIGN_SIZE  # see invert.limits


@dataclass(frozen=True)
class AlignedFace:
    """One aligned face and how it was cut out."""

    image: np.ndarray        # uint8 [size, size, 3]
    quad: np.ndarray         # float64 [4, 2], photo coordinates (see module doc)
    face: Optional[Face]     # the detection it came from (None when landmarks were given directly)
    padding: tuple           # (left, top, right, bottom) reflect padding in photo pixels; zeros if none

    @property
    def score(self):
        """The face detector's score of this face (None when landmarks were given directly)."""
        return None if self.face is None else self.face.score


def ffhq_quad(landmarks):
    """The FFHQ crop square for 68 landmarks [68, 2] -> float64 [4, 2] (TL, BL, BR, TR corners)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2):
        raise ImageError(f"expected 68 landmarks [68, 2], got {list(landmarks.shape)}")
    eye_left = landmarks[36:42].mean(axis=0)
    eye_right = landmarks[42:48].mean(axis=0)
    eye_mid = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_mid = (landmarks[48] + landmarks[54]) / 2
    eye_to_mouth = mouth_mid - eye_mid

    # The face's "right": the eye line plus the eye-to-mouth line turned a quarter turn to point along it.
    x_axis = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    x_axis /= max(np.hypot(*x_axis), 1e-12)
    x_axis *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y_axis = np.array([-x_axis[1], x_axis[0]])  # x turned by +90 degrees: "down" in the face
    centre = eye_mid + eye_to_mouth * 0.1
    return np.stack([centre - x_axis - y_axis, centre - x_axis + y_axis,
                     centre + x_axis + y_axis, centre + x_axis - y_axis])


def to_aligned(points, quad, *, size):
    """Map photo points [..., 2] to pixel coordinates of the size x size image cut from `quad` [4, 2]."""
    points = np.asarray(points, dtype=np.float64)
    quad = np.asarray(quad, dtype=np.float64)
    across, down = quad[3] - quad[0], quad[1] - quad[0]
    offset = points - quad[0]
    u = offset @ across / (across @ across)
    v = offset @ down / (down @ down)
    # Pixel centres sit at +0.5 in the continuous coordinates the resampling works in.
    return np.stack([u, v], axis=-1) * size - 0.5


def _reflect_pad(pixels, pad, *, qsize):
    """float32 [H, W, 3] -> reflect-padded by pad=(left, top, right, bottom), blurred and faded outwards."""
    left, top, right, bottom = pad
    padded = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), mode="reflect")
    height, width = padded.shape[:2]
    ys = np.arange(height, dtype=np.float32)[:, None, None]
    xs = np.arange(width, dtype=np.float32)[None, :, None]
    # 0 at the photo's edge, 1 at the outer edge of the padding, negative inside the photo.
    outward = np.maximum(np.maximum(1 - xs / left, 1 - (width - 1 - xs) / right),
                         np.maximum(1 - ys / top, 1 - (height - 1 - ys) / bottom))
    sigma = qsize * 0.02
    blurred = gaussian_filter(padded, [sigma, sigma, 0])
    padded += (blurred - padded) * np.clip(outward * 3 + 1, 0, 1)
    padded += (np.median(padded, axis=(0, 1)) - padded) * np.clip(outward, 0, 1)
    return padded


def extract_quad(rgb, quad, *, size):
    """Cut `quad` [4, 2] out of uint8 [H, W, 3] as uint8 [size, size, 3]; also the padding used (photo px)."""
    image = Image.fromarray(np.ascontiguousarray(rgb))
    quad = np.asarray(quad, dtype=np.float64).copy()
    qsize = np.hypot(*(quad[3] - quad[0]))

    shrink = int(np.floor(qsize / size * 0.5))
    if shrink > 1:
        image = image.resize((round(image.width / shrink), round(image.height / shrink)), Image.LANCZOS)
        quad /= shrink
        qsize /= shrink
    else:
        shrink = 1

    border = max(int(np.rint(qsize * 0.1)), 3)
    low, high = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    crop = (max(low[0] - border, 0), max(low[1] - border, 0),
            min(high[0] + border, image.width), min(high[1] + border, image.height))
    if crop[2] - crop[0] < image.width or crop[3] - crop[1] < image.height:
        image = image.crop(crop)
        quad -= crop[:2]

    pad = (max(border - low[0] + crop[0], 0), max(border - low[1] + crop[1], 0),
           max(high[0] - crop[0] - image.width + border, 0), max(high[1] - crop[1] - image.height + border, 0))
    if max(pad) > border - 4:
        pad = tuple(max(int(p), int(np.rint(qsize * 0.3)), 1) for p in pad)
        log.debug("reflect-padding the photo by %s px", pad)
        pixels = _reflect_pad(np.asarray(image, dtype=np.float32), pad, qsize=qsize)
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        quad += pad[:2]
        padding = tuple(p * shrink for p in pad)
    else:
        padding = (0, 0, 0, 0)

    transform_size = size * SUPERSAMPLE
    image = image.transform((transform_size, transform_size), Image.QUAD, tuple((quad + 0.5).flatten()),
                            Image.BILINEAR)
    image = image.resize((size, size), Image.LANCZOS)
    return np.asarray(image), padding


def align_landmarks(rgb, landmarks, *, size=1024, face=None):
    """Align the face with `landmarks` [68, 2] in uint8 [H, W, 3]; an AlignedFace of size x size."""
    if not 1 <= int(size) <= MAX_SIZE:
        raise ImageError(f"the aligned size must be between 1 and {MAX_SIZE} pixels, got {size}")
    quad = ffhq_quad(landmarks)
    image, padding = extract_quad(rgb, quad, size=int(size))
    return AlignedFace(image=image, quad=quad, face=face, padding=padding)


def find_faces(rgb, *, upsample=1, landmarks_path=None, min_score=DEFAULT_MIN_SCORE):
    """detect_faces, raising FaceNotFoundError when there is none (saying so when every detection scored
    below `min_score`)."""
    every = detect_faces(rgb, upsample=upsample, landmarks_path=landmarks_path, min_score=None)
    faces = rank_detections([face for face in every if face.score >= min_score])
    if not faces:
        if every:
            best = max(face.score for face in every)
            raise FaceNotFoundError(f"no face found: {len(every)} detection(s) scored below the minimum face score "
                                    f"{min_score:g} (the best {best:.2f}), too low to be taken for a face",
                                    remedies=("min_score",))
        raise FaceNotFoundError(f"no face found (dlib frontal detector, upsample {upsample}); use a photo with "
                                f"a larger, more frontal face", remedies=("upsample", "skip_alignment"))
    return faces


def select_face(rgb, *, face_index=None, upsample=1, landmarks_path=None, min_score=DEFAULT_MIN_SCORE):
    """The Face to align: `face_index` in detect_faces' order (best first), or the best one when None."""
    faces = find_faces(rgb, upsample=upsample, landmarks_path=landmarks_path, min_score=min_score)
    index = 0 if face_index is None else int(face_index)
    if not 0 <= index < len(faces):
        raise ImageError(f"face index {index} is out of range: found {len(faces)} face(s), "
                         f"indices 0 to {len(faces) - 1}")
    return faces[index]


def align_face(rgb, *, size=1024, face_index=None, landmarks_path=None, upsample=1, min_score=DEFAULT_MIN_SCORE):
    """Detect and align one face of uint8 [H, W, 3] -> uint8 [size, size, 3].

    The best face (see invert.faces) unless `face_index` picks another; FaceNotFoundError if none.
    """
    face = select_face(rgb, face_index=face_index, upsample=upsample, landmarks_path=landmarks_path,
                       min_score=min_score)
    return align_landmarks(rgb, face.landmarks, size=size, face=face).image


def align_faces(rgb, *, size=1024, landmarks_path=None, upsample=1, min_score=DEFAULT_MIN_SCORE):
    """Align every face of uint8 [H, W, 3], best first -> list of AlignedFace; FaceNotFoundError if none."""
    faces = find_faces(rgb, upsample=upsample, landmarks_path=landmarks_path, min_score=min_score)
    return [align_landmarks(rgb, face.landmarks, size=size, face=face) for face in faces]
