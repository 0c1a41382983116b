"""FFHQ alignment: the quad's geometry on hand-made landmarks, and the astronaut photo aligned for real."""
import numpy as np
import pytest
from PIL import Image

from invert.align import align_face, align_faces, align_landmarks, ffhq_quad, select_face, to_aligned
from invert.errors import FaceNotFoundError, ImageError
from invert.faces import detect_faces
from invert.images import load_rgb

SIZE = 256
# Where FFHQ puts the eye centres when the eye distance sets the crop (the usual case): a quarter of the
# side apart around the middle, a little above the centre line.
CANONICAL_EYES = np.array([[0.375, 0.475], [0.625, 0.475]])


def eyes_and_mouth(eye_left, eye_right, mouth_left, mouth_right):
    """68 landmarks with only what the quad reads: both eyes (six points each) and the mouth corners."""
    landmarks = np.zeros((68, 2))
    ring = np.array([[-1, 0], [-0.5, -0.3], [0.5, -0.3], [1, 0], [0.5, 0.3], [-0.5, 0.3]]) * 10
    landmarks[36:42] = np.asarray(eye_left) + ring
    landmarks[42:48] = np.asarray(eye_right) + ring
    landmarks[48], landmarks[54] = mouth_left, mouth_right
    return landmarks


def eye_centres(landmarks):
    return np.stack([landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)])


@pytest.fixture(scope="module")
def astronaut(astronaut_path):
    return load_rgb(astronaut_path)


def test_quad_of_an_upright_face_is_an_axis_aligned_square():
    # Eyes 100 px apart at y=200, mouth 110 px below their midpoint.
    landmarks = eyes_and_mouth((250, 200), (350, 200), (260, 310), (340, 310))
    quad = ffhq_quad(landmarks)
    # Half side max(2 * 100, 1.8 * 110) = 200 around (300, 200 + 11); the x axis is 100 + 110 long before scaling.
    np.testing.assert_allclose(quad, [[100, 11], [100, 411], [500, 411], [500, 11]], atol=1e-9)
    np.testing.assert_allclose(to_aligned(quad, quad, size=SIZE), [[-0.5, -0.5], [-0.5, SIZE - 0.5],
                                                                  [SIZE - 0.5, SIZE - 0.5], [SIZE - 0.5, -0.5]])
    np.testing.assert_allclose((to_aligned(eye_centres(landmarks), quad, size=SIZE) + 0.5) / SIZE,
                               [[0.375, 189 / 400], [0.625, 189 / 400]])


def test_quad_follows_rotation_and_long_faces():
    landmarks = eyes_and_mouth((250, 200), (350, 200), (260, 310), (340, 310))
    angle = np.deg2rad(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([300.0, 250.0])
    rotated = (landmarks - centre) @ rotation.T + centre
    np.testing.assert_allclose(ffhq_quad(rotated), (ffhq_quad(landmarks) - centre) @ rotation.T + centre, atol=1e-9)

    # A face much longer than wide: the eye-to-mouth distance sets the side (1.8 x 150 = 270 > 2 x 100).
    long_face = eyes_and_mouth((250, 200), (350, 200), (280, 350), (320, 350))
    assert np.hypot(*(ffhq_quad(long_face)[3] - ffhq_quad(long_face)[0])) == pytest.approx(2 * 270)

    with pytest.raises(ImageError, match=r"68 landmarks \[68, 2\], got \[5, 2\]"):
        ffhq_quad(np.zeros((5, 2)))


def test_astronaut_eyes_land_on_the_canonical_positions(astronaut):
    face = select_face(astronaut)
    aligned = align_landmarks(astronaut, face.landmarks, size=SIZE, face=face)
    assert aligned.image.shape == (SIZE, SIZE, 3) and aligned.image.dtype == np.uint8
    assert aligned.padding == (0, 0, 0, 0)

    expected = to_aligned(eye_centres(face.landmarks), aligned.quad, size=SIZE)
    found = detect_faces(aligned.image)
    assert len(found) == 1
    measured = eye_centres(found[0].landmarks)
    np.testing.assert_allclose(measured, expected, atol=0.015 * SIZE)
    np.testing.assert_allclose(measured / SIZE, CANONICAL_EYES, atol=0.02)
    assert abs(measured[1, 1] - measured[0, 1]) < 0.01 * SIZE  # the head's roll is undone
    np.testing.assert_array_equal(align_face(astronaut, size=SIZE), aligned.image)


def test_face_near_the_border_is_reflect_padded(astronaut):
    cropped = np.ascontiguousarray(astronaut[60:, 130:])  # the crop square now reaches above the photo
    (aligned,) = align_faces(cropped, size=SIZE)
    left, top, right, bottom = aligned.padding
    assert top > 0 and min(aligned.padding) > 0  # once padding is needed, every side gets some

    measured = eye_centres(detect_faces(aligned.image)[0].landmarks) / SIZE
    np.testing.assert_allclose(measured, CANONICAL_EYES, atol=0.02)
    # The face itself matches the unpadded alignment; the padded strip is a blurred fill, not black.
    reference = align_face(astronaut, size=SIZE).astype(np.float32)
    middle = (slice(SIZE // 4, 3 * SIZE // 4),) * 2
    assert np.abs(aligned.image[middle].astype(np.float32) - reference[middle]).mean() < 6
    strip = aligned.image[:SIZE // 16].astype(np.float32)
    assert strip.mean() > 80
    assert np.abs(np.diff(strip, axis=1)).mean() < np.abs(np.diff(reference[middle], axis=1)).mean()


def test_small_outputs_shrink_the_photo_first(astronaut):
    # The astronaut's quad is ~175 px, so a 32 px output downscales the photo x2 before resampling.
    face = select_face(astronaut)
    small = align_landmarks(astronaut, face.landmarks, size=32).image
    reference = np.asarray(Image.fromarray(align_landmarks(astronaut, face.landmarks, size=SIZE).image)
                           .resize((32, 32), Image.LANCZOS), dtype=np.float32)
    assert small.shape == (32, 32, 3)
    assert np.abs(small.astype(np.float32) - reference).mean() < 6
    for size in (0, 4097):
        with pytest.raises(ImageError, match=f"aligned size must be between 1 and 4096 pixels, got {size}"):
            align_landmarks(astronaut, face.landmarks, size=size)


def test_face_index_and_all_faces(astronaut):
    every = align_faces(astronaut, size=64, min_score=0.05)  # the shirt fold (0.12) included
    assert [round(a.score, 2) for a in every] == [1.16, 0.12]
    np.testing.assert_array_equal(align_face(astronaut, size=64, face_index=1, min_score=0.05), every[1].image)
    assert np.abs(every[0].image.astype(int) - every[1].image.astype(int)).mean() > 20
    with pytest.raises(ImageError, match=r"face index 2 is out of range: found 2 face\(s\), indices 0 to 1"):
        align_face(astronaut, size=64, face_index=2, min_score=0.05)
    # by default (min_score 0.3) the fold is no face
    assert [round(a.score, 2) for a in align_faces(astronaut, size=64)] == [1.16]
    with pytest.raises(ImageError, match=r"face index 1 is out of range: found 1 face\(s\), indices 0 to 0"):
        align_face(astronaut, size=64, face_index=1)


def test_no_face_names_no_flag_but_its_remedies():
    with pytest.raises(FaceNotFoundError, match="no face found .*upsample 1.*larger, more frontal face$") as info:
        align_face(np.full((200, 200, 3), 128, np.uint8), size=64)
    assert "--" not in str(info.value) and info.value.remedies == ("upsample", "skip_alignment")


def test_detections_below_the_minimum_score_are_explained(astronaut):
    with pytest.raises(FaceNotFoundError, match=r"no face found: 2 detection\(s\) scored below the minimum face "
                                                r"score 2 \(the best 1.16\)") as info:
        align_face(astronaut, size=64, min_score=2)
    assert info.value.remedies == ("min_score",)
