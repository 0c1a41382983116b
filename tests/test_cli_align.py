"""`stylegan-invert align` through click's CliRunner."""
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from invert.cli import main
from invert.faces import detect_faces


def invoke(*args):
    return CliRunner().invoke(main, ["align", *map(str, args)])


@pytest.fixture
def photo(astronaut_path, tmp_path):
    path = tmp_path / "astronaut.png"
    shutil.copyfile(astronaut_path, path)
    return path


def decode(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_align_writes_beside_the_photo_and_refuses_to_overwrite(photo):
    result = invoke(photo, "--size", 256)
    assert result.exit_code == 0, result.output
    written = photo.parent / "astronaut_aligned.png"
    assert result.stdout.splitlines() == [f"{written}  face score 1.16"]
    aligned = decode(written)
    assert aligned.shape == (256, 256, 3)
    eyes = detect_faces(aligned)[0].landmarks
    np.testing.assert_allclose(eyes[36:42].mean(axis=0) / 256, [0.375, 0.475], atol=0.02)
    assert sorted(p.name for p in photo.parent.iterdir()) == ["astronaut.png", "astronaut_aligned.png"]

    again = invoke(photo, "--size", 64)
    assert again.exit_code == 1
    assert again.stderr.strip() == f"Error: {written} exists; pass --force to overwrite it"
    assert decode(written).shape == (256, 256, 3)
    forced = invoke(photo, "--size", 64, "--force")
    assert forced.exit_code == 0 and decode(written).shape == (64, 64, 3)


def test_all_faces_and_face_index_into_outdir(photo, tmp_path):
    outdir = tmp_path / "out"
    result = invoke(photo, "--size", 64, "--all-faces", "--outdir", outdir, "--min-face-score", 0.1)
    assert result.exit_code == 0, result.output
    names = [outdir / "astronaut_face0_aligned.png", outdir / "astronaut_face1_aligned.png"]
    assert result.stdout.splitlines() == [f"{names[0]}  face score 1.16", f"{names[1]}  face score 0.12"]
    face0, face1 = decode(names[0]), decode(names[1])

    result = invoke(photo, "--size", 64, "--face-index", 1, "--outdir", outdir, "--min-face-score", 0.1)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(decode(outdir / "astronaut_aligned.png"), face1)
    assert np.abs(face0.astype(int) - face1.astype(int)).mean() > 20

    result = invoke(photo, "--face-index", 5, "--outdir", tmp_path / "none")
    assert result.exit_code == 1
    assert "face index 5 is out of range: found 1 face(s)" in result.stderr  # the fold is below 0.3
    assert not (tmp_path / "none").exists()

    both = invoke(photo, "--face-index", 0, "--all-faces")
    assert both.exit_code == 2 and "exclude each other" in both.stderr


def test_no_face_fails_before_writing_anything(photo, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((160, 160, 3), 128, np.uint8)).save(grey)
    result = invoke(photo, grey, "--size", 64)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    # align has no --no-align; the hint it can give is its own --upsample
    assert lines == [f"Error: {grey}: no face found (dlib frontal detector, upsample 1); use a photo with a larger, "
                     f"more frontal face; a larger --upsample finds smaller faces"]
    assert result.stdout == ""
    assert not (tmp_path / "astronaut_aligned.png").exists()


def test_unreadable_and_missing_inputs(tmp_path, photo):
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    result = invoke(broken)
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: cannot read image {broken}")

    result = invoke(tmp_path / "missing.jpg")
    assert result.exit_code == 1 and "image not found" in result.stderr

    result = invoke(photo, "--landmarks", tmp_path / "nope.dat")
    assert result.exit_code == 1 and f"dlib model file not found: {tmp_path / 'nope.dat'}" in result.stderr


def test_two_photos_with_one_output_name_are_refused(photo, tmp_path):
    other = tmp_path / "sub" / "astronaut.jpg"
    other.parent.mkdir()
    Image.open(photo).convert("RGB").save(other)
    result = invoke(photo, other, "--size", 64, "--outdir", tmp_path / "out")
    assert result.exit_code == 1 and "would both be written to" in result.stderr
    assert not (tmp_path / "out").exists()
