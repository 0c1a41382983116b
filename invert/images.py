"""Image and animation input/output shared by every command.

Conventions: generator images are float tensors [N, 3, R, R] in the nominal range [-1, 1] (random-weight
networks overshoot; values are clipped only when converting to 8 bit). 8-bit images are numpy uint8
arrays [H, W, 3].
"""
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from invert.errors import ImageError
from invert.fileio import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def load_rgb(path, *, what="image"):
    """Read an image file as uint8 [H, W, 3] (alpha dropped, greyscale expanded).

    `what` names the file in error messages ("image", "mask", ...).
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise ImageError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"expected {'an' if what[0] in 'aeiou' else 'a'} {what} file, got a directory: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot read {what} {path}: {' '.join(str(exc).split())}") from None


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


def save_png(path, pixels, *, metadata=None):
    """Write uint8 [H, W, 3] as PNG, atomically; `metadata` {key: text} goes into PNG text chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = None
    if metadata:
        info = PngInfo()
        for key, value in metadata.items():
            info.add_text(str(key), str(value))
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp, format="PNG", pnginfo=info)


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


def save_animation(path, frames, *, fps=10, loop=True):
    """Write uint8 frames [H, W, 3] as GIF or MP4 (chosen by the suffix of `path`), atomically.

    `loop` plays a GIF forever (MP4 players decide for themselves).
    """
    import imageio.v3 as iio

    path = Path(path)
    suffix = path.suffix.lower()
    frames = [np.ascontiguousarray(frame) for frame in frames]
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0 if loop else 1)
        elif suffix == ".mp4":
            _write_mp4(tmp, frames, fps=fps)
        else:
            raise ImageError(f"unsupported animation format {suffix!r}; use .gif or .mp4")


def _write_mp4(path, frames, *, fps):
    import imageio.v2 as imageio

    # H.264 with yuv420p needs even sizes; pad by edge replication rather than resample.
    height, width = frames[0].shape[:2]
    pad_h, pad_w = height % 2, width % 2
    try:
        writer = imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                    pixelformat="yuv420p", macro_block_size=1,
                                    ffmpeg_log_level="error")
    except Exception as exc:  # imageio-ffmpeg missing or broken
        raise ImageError(f"cannot write MP4 ({exc}); install imageio-ffmpeg or use --gif") from None
    with writer:
        for frame in frames:
            if pad_h or pad_w:
                frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            writer.append_data(frame)
