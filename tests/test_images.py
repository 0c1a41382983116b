"""invert.images: photos read as a viewer shows them (EXIF orientation, 16-bit data), large-photo limits,
and animations written frame by frame."""
import struct
import tracemalloc
import warnings
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from invert import faces
from invert.align import align_face
from invert.errors import ImageError
from invert.images import AnimationWriter, load_rgb, save_animation

ORIENTATION = 0x0112  # the EXIF tag phones set instead of rotating the pixels


@pytest.fixture(scope="module")
def upright(astronaut_path):
    return np.asarray(Image.open(astronaut_path).convert("RGB"))


def write_png16(path, array):
    """uint16 [H, W] (grey), [H, W, 2] (grey + alpha), [H, W, 3] (RGB) or [H, W, 4] (RGBA) -> a 16-bit PNG.

    PIL writes 16-bit greyscale only, so the file is built here: signature, IHDR, one IDAT, IEND."""
    array = np.asarray(array, dtype=">u2")
    if array.ndim == 2:
        array = array[..., None]
    height, width, channels = array.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + row.tobytes() for row in array)  # filter type 0 on every row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type,
                                                                        0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("orientation, stored_as", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_phone_photos_are_turned_upright_before_detection(tmp_path, upright, orientation, stored_as):
    """A phone stores the sensor's pixels and says in EXIF how to turn them; viewers show them upright."""
    plain = tmp_path / "upright.jpg"
    Image.fromarray(upright).save(plain, quality=95)
    phone = tmp_path / f"phone{orientation}.jpg"
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(upright).transpose(stored_as).save(phone, quality=95, exif=exif)
    assert np.asarray(Image.open(phone)).shape == (512, 512, 3)  # square: only the content is turned

    read = load_rgb(phone)
    # JPEG blocks of the turned pixels round differently: a few levels on average
    assert np.abs(read.astype(int) - load_rgb(plain).astype(int)).mean() < 3
    aligned, reference = align_face(read, size=64), align_face(load_rgb(plain), size=64)
    assert np.abs(aligned.astype(int) - reference.astype(int)).mean() < 6
    # the stored pixels alone show the face on its side, and the detector does not find it
    assert faces.detect_faces(np.asarray(Image.open(phone).convert("RGB"))) == []


def test_16_bit_greyscale_aligns_like_8_bit(tmp_path, upright):
    grey8 = np.asarray(Image.fromarray(upright).convert("L"))
    Image.fromarray(grey8).save(tmp_path / "grey8.png")
    Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "grey16.png")  # mode I;16, full 16-bit range
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    eight, sixteen = load_rgb(tmp_path / "grey8.png"), load_rgb(tmp_path / "grey16.png")
    np.testing.assert_array_equal(sixteen, eight)  # v * 257 / 257: exactly the 8-bit values
    np.testing.assert_array_equal(align_face(sixteen, size=64), align_face(eight, size=64))


def test_every_16_bit_layout_is_scaled_not_clipped(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, (6, 5, 4), dtype=np.uint16)
    wide = values * 257 + rng.integers(0, 257, values.shape, dtype=np.uint16)  # 16-bit data, 8-bit top bytes
    expected_grey = np.repeat(np.rint(wide[..., 0] / 257).astype(np.uint8)[..., None], 3, axis=2)
    cases = {
        "grey": (write_png16(tmp_path / "g.png", wide[..., 0]), expected_grey),
        "grey+alpha": (write_png16(tmp_path / "ga.png", wide[..., :2]), np.repeat((wide[..., :1] >> 8), 3, 2)),
        "rgb": (write_png16(tmp_path / "rgb.png", wide[..., :3]), wide[..., :3] >> 8),
        "rgba": (write_png16(tmp_path / "rgba.png", wide), wide[..., :3] >> 8),
    }
    big_endian = Image.frombytes("I;16B", (5, 6), wide[..., 0].astype(">u2").tobytes())
    big_endian.save(tmp_path / "be.tif")
    cases["I;16B tiff"] = (tmp_path / "be.tif", expected_grey)
    Image.fromarray(wide[..., 0].astype(np.int32)).save(tmp_path / "i32.tif")  # mode I: read as 16-bit data
    cases["I tiff"] = (tmp_path / "i32.tif", expected_grey)
    Image.fromarray(wide[..., 0].astype(np.float32) / 65535).save(tmp_path / "f.tif")  # mode F: [0, 1]
    cases["F tiff"] = (tmp_path / "f.tif", expected_grey)
    for name, (path, expected) in cases.items():
        read = load_rgb(path)
        assert read.dtype == np.uint8 and read.shape == (6, 5, 3), name
        # rounding of the top byte (PIL) against rounding of v / 257 (ours): at most one level apart
        assert np.abs(read.astype(int) - expected.astype(int)).max() <= 1, name
        assert read.max() > 200, name  # scaled: not the clipped white, not the raw dark low bytes


def test_palette_with_transparency_reads_without_warnings(tmp_path):
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.info["transparency"] = b"\x00\xff"
    palette.save(tmp_path / "p.png", transparency=b"\x00\xff")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_rgb(tmp_path / "p.png")[0, 0].tolist() == [255, 0, 0]


def test_large_photos_read_without_warnings_up_to_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # PIL warns above this and refuses above twice it
    Image.new("L", (150, 100), 7).save(tmp_path / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_rgb(tmp_path / "big.png").shape == (100, 150, 3)
    Image.new("L", (150, 150), 7).save(tmp_path / "huge.png")
    with pytest.raises(ImageError, match="huge.png is too large: more than 20,000 pixels, .*; downscale it first"):
        load_rgb(tmp_path / "huge.png")


def test_large_photos_are_detected_on_a_copy_and_aligned_at_full_resolution(upright):
    """4096 x 4096 is over DETECTION_MAX_PIXELS: detection runs on a copy reduced 3x; the landmarks are fitted
    on the full photo, so the face aligns as in the 512 x 512 original."""
    large = np.asarray(Image.fromarray(upright).resize((4096, 4096), Image.BICUBIC))
    assert faces._detection_factor(large.shape[:2]) == 3
    (face,) = faces.detect_faces(large)
    (reference,) = faces.detect_faces(upright)
    assert face.score > 0.5
    # the same face: 8x the landmarks of the original, to a few original pixels (the box is the detector's
    # window at another scale of its pyramid: about the same place, not the same size)
    np.testing.assert_allclose(face.landmarks / 8, reference.landmarks, atol=3)
    np.testing.assert_allclose(np.array(face.box) / 8, reference.box, atol=12)
    aligned, expected = align_face(large, size=64), align_face(upright, size=64)
    assert np.abs(aligned.astype(int) - expected.astype(int)).mean() < 8


def test_animation_writer_streams_frames(tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, (7, 9, 11, 3), dtype=np.uint8)
    with AnimationWriter(tmp_path / "UP.GIF", fps=4) as writer:
        writer.append(frames[:3])
        for frame in frames[3:]:
            writer.append(frame)
    gif = Image.open(tmp_path / "UP.GIF")
    assert gif.n_frames == 7 and gif.info["duration"] == 250 and gif.info["loop"] == 0
    back = iio.imread(tmp_path / "UP.GIF", index=None)[..., :3]
    assert np.abs(back.astype(int) - frames.astype(int)).max() <= 8  # 256 colours per frame
    save_animation(tmp_path / "clip.mp4", frames, fps=4)
    assert iio.imread(tmp_path / "clip.mp4", index=None).shape == (7, 10, 12, 3)  # padded to even sizes
    with pytest.raises(ImageError, match="no frames to write"):
        save_animation(tmp_path / "empty.gif", [])
    with pytest.raises(ImageError, match=r"frame 1 is \[4, 4\], the first was \[9, 11\]"):
        save_animation(tmp_path / "mixed.gif", [frames[0], frames[0, :4, :4]])
    with pytest.raises(ImageError, match="unsupported animation format '.avi'"):
        save_animation(tmp_path / "x.avi", frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["UP.GIF", "clip.mp4"]


def test_animation_memory_does_not_grow_with_its_length(tmp_path):
    frame = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)

    def peak(count):
        tracemalloc.start()
        with AnimationWriter(tmp_path / f"{count}.gif") as writer:
            for _ in range(count):
                writer.append(frame)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    peak(2)  # warm-up: first-use allocations of PIL's and imageio's modules
    short, long = peak(10), peak(300)
    assert long < short + 100_000, (short, long)  # 300 frames held would be 3.7 MB
