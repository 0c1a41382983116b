"""Landmark attribute scores: geometry on a hand-made face, and real scores on the astronaut photo."""
import numpy as np
import pytest
from PIL import Image

from invert.attributes import (ATTRIBUTES, eyes_open, image_landmarks, mouth_open, normalise, score_images,
                               score_landmarks, smile, yaw)
from invert.errors import ImageError, InvertError
from invert.images import load_rgb

# Index permutation that swaps the face's left and right in the 68-point scheme.
MIRROR = np.array([*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, *range(35, 30, -1),
                   45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
                   54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
                   64, 63, 62, 61, 60, 67, 66, 65])


def template():
    """A symmetric frontal face in units of about half its width, centred on x = 0, y down."""
    t = np.pi - np.pi * np.arange(17) / 16
    jaw = np.stack([np.cos(t), 1.2 * np.sin(t)], axis=1)
    brows = [(x, -0.35) for x in np.linspace(-0.75, -0.15, 5)] + [(x, -0.35) for x in np.linspace(0.15, 0.75, 5)]
    nose = [(0, y) for y in np.linspace(-0.2, 0.35, 4)] + [(x, 0.45) for x in np.linspace(-0.15, 0.15, 5)]
    eye = [(-0.15, 0), (-0.05, -0.05), (0.05, -0.05), (0.15, 0), (0.05, 0.05), (-0.05, 0.05)]
    eyes = [(x - 0.4, y - 0.1) for x, y in eye] + [(x + 0.4, y - 0.1) for x, y in eye]
    outer_lips = [(-0.3, 0.75), (-0.2, 0.7), (-0.1, 0.67), (0, 0.68), (0.1, 0.67), (0.2, 0.7),
                  (0.3, 0.75), (0.2, 0.82), (0.1, 0.85), (0, 0.86), (-0.1, 0.85), (-0.2, 0.82)]
    inner_lips = [(-0.25, 0.75), (-0.1, 0.74), (0, 0.74), (0.1, 0.74), (0.25, 0.75), (0.1, 0.76), (0, 0.76),
                  (-0.1, 0.76)]
    landmarks = np.array([*jaw, *brows, *nose, *eyes, *outer_lips, *inner_lips], dtype=np.float64)
    assert landmarks.shape == (68, 2)
    return landmarks


def mirror(landmarks):
    flipped = landmarks.copy()
    flipped[:, 0] *= -1
    return flipped[MIRROR]


def in_photo(landmarks, *, degrees=20, scale=90, offset=(300, 240)):
    """Place normalised landmarks in a photo: rotated, scaled and moved."""
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return landmarks @ rotation.T * scale + np.asarray(offset)


def test_template_is_symmetric_and_scores_are_similarity_invariant():
    face = template()
    np.testing.assert_allclose(mirror(face), face, atol=1e-12)
    points = normalise(in_photo(face))
    np.testing.assert_allclose(points[[36, 45]], [[-0.6875, 0], [0.6875, 0]], atol=1e-9)  # eye distance 0.8 -> 1
    for name, function in ATTRIBUTES.items():
        assert function(in_photo(face)) == pytest.approx(function(face), abs=1e-9), name
    assert yaw(face) == pytest.approx(0, abs=1e-12)


def test_raised_mouth_corners_smile_more():
    face = template()
    raised, lowered = face.copy(), face.copy()
    raised[[48, 54], 1] -= 0.06
    lowered[[48, 54], 1] += 0.06
    wide = face.copy()
    wide[48, 0] -= 0.05
    wide[54, 0] += 0.05
    assert smile(in_photo(raised)) > smile(in_photo(face)) > smile(in_photo(lowered))
    assert smile(in_photo(wide)) == pytest.approx(smile(face) + 0.1 / 0.8)
    # Width 0.6 / 0.8 eye distance, corners level with the inner-lip centre.
    assert smile(face) == pytest.approx(0.75)


def test_open_mouth_and_closed_eyes():
    face = template()
    assert mouth_open(face) == pytest.approx(0.02 / 0.6)
    opened = face.copy()
    opened[65:68, 1] += 0.2
    assert mouth_open(in_photo(opened)) == pytest.approx(0.22 / 0.6)

    assert eyes_open(face) == pytest.approx(0.2 / 0.6)  # (0.1 + 0.1) / (2 * 0.3)
    squint = face.copy()
    squint[[37, 38, 43, 44], 1] += 0.03
    assert eyes_open(in_photo(squint)) == pytest.approx(0.14 / 0.6)


def test_yaw_sign_follows_the_nose_and_flips_in_the_mirror():
    turned = template()
    turned[27:36, 0] += 0.2  # nose towards the image's right
    assert yaw(in_photo(turned)) == pytest.approx(0.2 / 0.55 / 2 + 0.2 / 1.0 / 2)
    assert yaw(in_photo(mirror(turned))) == pytest.approx(-yaw(turned))
    # Without re-indexing a mirror image keeps the eye line and still flips the sign.
    raw = turned.copy()
    raw[:, 0] *= -1
    assert yaw(raw) == pytest.approx(-yaw(turned))


def test_bad_landmarks_and_unknown_attribute():
    with pytest.raises(ImageError, match=r"68 landmarks \[68, 2\], got \[68\]"):
        smile(np.zeros(68))
    assert np.isnan(smile(np.zeros((68, 2))))  # degenerate: both eyes at one point
    with pytest.raises(InvertError, match="unknown attribute 'age'; choose one of smile, mouth_open, eyes_open, yaw"):
        score_images(np.zeros((1, 8, 8, 3), np.uint8), "age")
    with pytest.raises(ImageError, match=r"uint8 images \[N, H, W, 3\], got uint8 \[8, 8, 3\]"):
        score_images(np.zeros((8, 8, 3), np.uint8), "smile")
    np.testing.assert_allclose(score_landmarks([None, template()], "smile"), [np.nan, 0.75])


def test_scores_on_the_astronaut(astronaut_path):
    photo = load_rgb(astronaut_path)
    grey = np.full_like(photo, 128)
    found = image_landmarks(np.stack([photo, grey]))
    assert found[0].shape == (68, 2) and found[1] is None
    scores = {name: score_landmarks(found, name) for name in ATTRIBUTES}
    np.testing.assert_array_equal(score_images(np.stack([photo, grey]), "smile"), scores["smile"])
    for name, values in scores.items():
        assert values.shape == (2,) and values.dtype == np.float64 and np.isnan(values[1]), name
    assert scores["smile"][0] > 1.0            # a broad, toothy smile
    assert 0.05 < scores["mouth_open"][0] < 0.3  # teeth showing, lips apart
    assert 0.25 < scores["eyes_open"][0] < 0.45
    assert abs(scores["yaw"][0]) < 0.1          # nearly frontal

    # Generator-sized images without a face give NaN; large ones are scored on a downscaled copy.
    tiny = np.asarray(Image.fromarray(photo).resize((32, 32)))[None]
    assert np.isnan(score_images(tiny, "smile")).all()
    large = np.asarray(Image.fromarray(photo).resize((1024, 1024), Image.BICUBIC))[None]
    assert score_images(large, "smile")[0] == pytest.approx(scores["smile"][0], abs=0.05)
