"""Face detection, landmark ranking, model lookup and identity descriptors (dlib, on the astronaut photo)."""
import subprocess
import sys

import numpy as np
import pytest

from invert import faces
from invert.errors import ImageError, InvertError, WeightsError
from invert.faces import Face, detect_faces, face_descriptor, identity_similarity, rank_detections
from invert.images import load_rgb


@pytest.fixture(scope="module")
def astronaut(astronaut_path):
    return load_rgb(astronaut_path)


def test_models_are_found_without_importing_their_package():
    code = ("import sys, invert.faces as f; d = f.models_dir(); "
            "assert (d / f.LANDMARKS_FILE).is_file() and (d / f.RECOGNITION_FILE).is_file(), d; "
            "assert 'face_recognition_models' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_models_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(faces, "models_dir", lambda: None)
    with pytest.raises(WeightsError, match=r"is missing: pip install face_recognition_models dlib-bin$") as info:
        detect_faces(np.zeros((64, 64, 3), np.uint8))
    assert info.value.remedies == ("landmarks_path",)  # the CLI adds its --landmarks flag
    with pytest.raises(WeightsError, match="dlib model file not found: .*nope.dat"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), landmarks_path=tmp_path / "nope.dat")


def test_corrupt_landmark_model_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"not a dlib model")
    with pytest.raises(WeightsError, match="cannot load the landmark model .*bad.dat"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), landmarks_path=bad)


def test_missing_dlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(InvertError, match="pip install face_recognition_models dlib-bin"):
        faces._dlib()


def test_models_are_loaded_once_per_path():
    path = faces.model_path(faces.LANDMARKS_FILE)
    assert faces._shape_predictor(path) is faces._shape_predictor(path)


def test_astronaut_face_wins_over_the_spurious_detection(astronaut):
    assert [round(face.score, 2) for face in detect_faces(astronaut, upsample=1)] == [1.16]  # min_score 0.3
    found = detect_faces(astronaut, upsample=1, min_score=None)
    assert len(found) == 2
    best, spurious = found
    assert best.box == (175, 76, 265, 166) and best.score == pytest.approx(1.16, abs=0.02)
    assert spurious.box == (126, 335, 215, 425) and spurious.score == pytest.approx(0.12, abs=0.02)
    assert best.landmarks.shape == (68, 2) and best.landmarks.dtype == np.float64
    # Outer eye corners, as documented in the fixtures' README.
    np.testing.assert_allclose(best.landmarks[36], [195, 101], atol=3)
    np.testing.assert_allclose(best.landmarks[45], [255, 105], atol=3)
    assert len(detect_faces(astronaut, upsample=0)) == 1


def test_ranking_prefers_confident_then_large():
    def face(size, score):
        return Face(box=(0, 0, size, size), score=score, landmarks=np.zeros((68, 2)))

    small_sure, big_doubtful, big_sure, mid_sure = face(50, 1.0), face(200, 0.2), face(90, 0.8), face(70, 1.4)
    ranked = rank_detections([small_sure, big_doubtful, big_sure, mid_sure])
    assert [id(face) for face in ranked] == [id(big_sure), id(mid_sure), id(small_sure), id(big_doubtful)]
    assert rank_detections([]) == []


def test_no_face_and_bad_input(astronaut):
    assert detect_faces(np.full((128, 128, 3), 128, np.uint8)) == []
    with pytest.raises(ImageError, match=r"uint8 RGB image \[H, W, 3\], got float32 \[8, 8\]"):
        detect_faces(np.zeros((8, 8), np.float32))
    with pytest.raises(ImageError, match=r"68 landmarks \[68, 2\], got \[5, 2\]"):
        face_descriptor(astronaut, np.zeros((5, 2)))


def test_descriptor_separates_the_face_from_the_spurious_detection(astronaut):
    best, spurious = detect_faces(astronaut, min_score=0)
    descriptor = face_descriptor(astronaut, best.landmarks)
    assert descriptor.shape == (128,) and descriptor.dtype == np.float32
    np.testing.assert_array_equal(descriptor, face_descriptor(astronaut, best.landmarks))
    assert np.linalg.norm(descriptor - face_descriptor(astronaut, spurious.landmarks)) > 0.6


def test_identity_similarity(astronaut):
    same = identity_similarity(astronaut, astronaut)
    assert same.cosine == pytest.approx(1.0, abs=1e-6) and same.distance == pytest.approx(0.0, abs=1e-5)

    shifted = np.ascontiguousarray(np.pad(astronaut, ((0, 0), (12, 0), (0, 0)), mode="edge")[:, :512])
    moved = identity_similarity(astronaut, shifted)
    assert moved.cosine > 0.99 and moved.distance < 0.2  # dlib: < 0.6 is the same person

    blank = np.full_like(astronaut, 200)
    assert identity_similarity(astronaut, blank) == (None, None)
    assert identity_similarity(blank, astronaut).cosine is None
