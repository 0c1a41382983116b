"""Image and animation input/output shared by every command.

Conventions: generator images are float tensors [N, 3, R, R] in the nominal range [-1, 1] (random-weight
networks overshoot; values are clipped only when converting to 8 bit). 8-bit images are numpy uint8
arrays [H, W, 3].

Photos are read as a viewer shows them: turned upright by their EXIF orientation (what phones write
instead of rotating the pixels), with 16-bit data scaled to 8 bits. Every output is written atomically
(invert.fileio); animations frame by frame, so their length costs disk, not memory.
"""
import io
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from invert.errors import ImageError
from invert.fileio import atomic_open, atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def max_photo_pixels():
    """The largest photo read, in pixels: PIL's decompression-bomb limit (2 x Image.MAX_IMAGE_PIXELS,
    179 megapixels by default, e.g. 16000 x 11000), above which PIL refuses to decode. Up to it photos
    are read without PIL's warning; face detection works on a downscaled copy (invert.faces)."""
    return None if Image.MAX_IMAGE_PIXELS is None else 2 * Image.MAX_IMAGE_PIXELS


def load_rgb(path, *, what="image"):
    """Read an image file as uint8 [H, W, 3], upright by its EXIF orientation.

    Greyscale is expanded, alpha dropped, palettes applied; 16-bit data ('I;16' greyscale PNG/TIFF,
    16-bit RGB, greyscale with alpha) is scaled to 8 bits, not clipped. 32-bit integer greyscale ('I') is
    read as 16-bit data, float greyscale ('F') as [0, 1]. `what` names the file in messages ("mask", ...).
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is max_photo_pixels
            with Image.open(path) as image:
                image.load()
                return _to_rgb8(_upright(image))
    except FileNotFoundError:
        raise ImageError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"expected {'an' if what[0] in 'aeiou' else 'a'} {what} file, got a directory: {path}") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{what} {path} is too large: more than {max_photo_pixels():,} pixels, the most that is "
                         f"decoded (a guard against decompression bombs); downscale it first") from None
    except MemoryError:
        raise ImageError(f"out of memory while reading {what} {path}; downscale it first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error) as exc:
        raise ImageError(f"cannot read {what} {path}: {' '.join(str(exc).split())}") from None


def _upright(image):
    """`image` turned as its EXIF orientation says (in place where PIL can: photos can be large)."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except TypeError:  # pragma: no cover - Pillow before 9.4
        return ImageOps.exif_transpose(image)


def _to_rgb8(image):
    """A decoded PIL image of any mode -> uint8 [H, W, 3]."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # convert("RGB") would clip these at 255 (a 16-bit photo turns white); scale them instead
        values = np.asarray(image).astype(np.float64)
        full_scale = 1.0 if mode == "F" else 65535.0
        grey = np.clip(np.rint(values * (255.0 / full_scale)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # PIL warns when such a palette goes straight to RGB
    return np.asarray(image if mode == "RGB" else image.convert("RGB"))


def to_uint8(images):
    """Generator output [N, 3, H, W] in [-1, 1] (tensor or array) -> uint8 [N, H, W, 3], clipped."""
    if hasattr(images, "detach"):
        images = images.detach().float().cpu().numpy()
    images = np.asarray(images, dtype=np.float32)
    pixels = np.rint((images.transpose(0, 2, 3, 1) + 1.0) * 127.5)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def from_uint8(pixels):
    """uint8 [H, W, 3] or [N, H, W, 3] -> float32 array [N, 3, H, W] in [-1, 1]."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3:
        pixels = pixels[None]
    return pixels.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0


def save_png(path, pixels, *, metadata=None, overwrite=True):
    """Write uint8 [H, W, 3] as PNG to exactly `path`, atomically; `metadata` {key: text} goes into PNG
    text chunks. `overwrite=False` never replaces an existing file (see invert.fileio)."""
    from PIL.PngImagePlugin import PngInfo

    info = None
    if metadata:
        info = PngInfo()
        for key, value in metadata.items():
            info.add_text(str(key), str(value))
    with atomic_open(path, overwrite=overwrite) as handle:
        Image.fromarray(np.ascontiguousarray(pixels)).save(handle, format="PNG", pnginfo=info)


def generator_metadata(generator):
    """PNG text metadata naming the generator; random-weight generators say so loudly."""
    source = getattr(generator, "source", {}) or {}
    meta = {"Software": "stylegan-invert", "generator": source.get("path", ""),
            "generator_sha256": source.get("sha256", "")}
    if source.get("random"):
        meta["random_generator"] = "true: RANDOM weights, not a trained model"
    return meta


def side_by_side(*images):
    """Concatenate uint8 [H, W, 3] images horizontally (resized to the first one's height)."""
    height = images[0].shape[0]
    resized = []
    for image in images:
        if image.shape[0] != height:
            width = round(image.shape[1] * height / image.shape[0])
            image = np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))
        resized.append(image)
    return np.concatenate(resized, axis=1)


ANIMATION_SUFFIXES = (".gif", ".mp4")


def save_animation(path, frames, *, fps=10, loop=True, overwrite=True):
    """Write uint8 frames [H, W, 3] (an iterable) as GIF or MP4, chosen by the suffix of `path` in any case,
    atomically. `loop` plays a GIF forever (MP4 players decide for themselves)."""
    with AnimationWriter(path, fps=fps, loop=loop, overwrite=overwrite) as writer:
        for frame in frames:
            writer.append(frame)


class AnimationWriter:
    """A GIF or MP4 written frame by frame, so memory does not grow with the number of frames.

        with AnimationWriter("sweep.gif", fps=10) as writer:
            for batch in batches:
                writer.append(batch)       # uint8 [H, W, 3] or [N, H, W, 3]

    The file appears, atomically, when the block ends without error (at least one frame needed). GIF
    frames are quantised to their own 256-colour palette each and written as they come; MP4 frames go
    to ffmpeg (H.264, yuv420p; odd sizes padded by one row/column of edge pixels).
    """

    def __init__(self, path, *, fps=10, loop=True, overwrite=True):
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in ANIMATION_SUFFIXES:
            raise ImageError(f"unsupported animation format {self.path.suffix!r} ({self.path}); use .gif or .mp4")
        self.fps, self.loop, self.overwrite = float(fps), loop, overwrite
        self.frames, self.size = 0, None
        self._context = self._target = None

    def __enter__(self):
        # ffmpeg picks its container by the file name's extension, hence the suffix of the hidden file
        self._context = atomic_path(self.path, suffix=".mp4" if self.kind == ".mp4" else None,
                                    overwrite=self.overwrite)
        tmp = self._context.__enter__()
        try:
            self._target = open(tmp, "wb") if self.kind == ".gif" else tmp
        except BaseException as exc:
            self._context.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def append(self, frames):
        frames = np.asarray(frames)
        for frame in frames if frames.ndim == 4 else frames[None]:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if self.size is None:
                self.size = frame.shape[:2]
                self._start()
            elif frame.shape[:2] != self.size:
                raise ImageError(f"animation {self.path}: frame {self.frames} is {list(frame.shape[:2])}, the "
                                 f"first was {list(self.size)}")
            self._gif_frame(frame) if self.kind == ".gif" else self._mp4_frame(frame)
            self.frames += 1

    def __exit__(self, kind, value, traceback):
        error = value
        if error is None and not self.frames:
            error = ImageError(f"animation {self.path}: no frames to write")
        try:
            self._finish(ok=error is None)
        except BaseException as exc:  # closing flushes the last data: a full disk can show here
            error = error or exc
        if error is None:
            self._context.__exit__(None, None, None)  # publishes the file
            return False
        # removes the hidden file; raises the error translated to name the destination where it applies
        self._context.__exit__(type(error), error, error.__traceback__)
        if error is not value:
            raise error
        return False

    def _start(self):
        height, width = self.size
        if self.kind == ".gif":
            # GIF89a header without a global palette (each frame brings its own), then the loop extension
            self._target.write(b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0))
            if self.loop:
                self._target.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00")
            return
        import imageio.v2 as imageio

        try:
            self._target = imageio.get_writer(self._target, format="FFMPEG", mode="I", fps=self.fps,
                                              codec="libx264", pixelformat="yuv420p", macro_block_size=1,
                                              ffmpeg_log_level="error")
        except Exception as exc:  # imageio-ffmpeg missing or broken
            raise ImageError(f"cannot write MP4 {self.path} ({' '.join(str(exc).split())}); install "
                             f"imageio-ffmpeg, or write a GIF") from None

    def _gif_frame(self, frame):
        # PIL encodes the frame as a one-frame GIF (LZW, its own palette); its image block is copied out with
        # that palette as the block's local colour table, behind a graphic control extension for the delay.
        buffer = io.BytesIO()
        Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE).save(buffer, format="GIF")
        data = buffer.getbuffer()
        flags = data[10]  # logical screen descriptor: global colour table present (0x80), its size (low 3 bits)
        table_end = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        start = table_end
        while data[start] == 0x21:  # skip extension blocks ('!', label, sub-blocks up to a zero length)
            start += 2
            while data[start]:
                start += data[start] + 1
            start += 1
        if data[start] != 0x2C or data[-1] != 0x3B:
            raise ImageError(f"animation {self.path}: unexpected GIF layout from PIL")  # pragma: no cover
        delay = max(1, round(100.0 / self.fps))  # GIF delays are in hundredths of a second
        self._target.write(b"!\xf9\x04\x00" + struct.pack("<H", delay) + b"\x00\x00")
        descriptor = bytes(data[start:start + 10])
        local_flags = (descriptor[9] & 0x40) | (0x80 | (flags & 7) if flags & 0x80 else 0)
        self._target.write(descriptor[:9] + bytes([local_flags]))
        self._target.write(data[13:table_end])
        self._target.write(data[start + 10:-1])
        data.release()

    def _mp4_frame(self, frame):
        pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2  # H.264 in yuv420p needs even sizes
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        self._target.append_data(frame)

    def _finish(self, *, ok):
        if self._target is None or isinstance(self._target, Path):
            return
        if self.kind == ".gif" and ok:
            self._target.write(b";")  # the GIF trailer
        self._target.close()
