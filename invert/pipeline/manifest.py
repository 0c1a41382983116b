"""The run manifest: `<outdir>/manifest.jsonl`, one JSON line per output (or per input that has none).

    {"input": "photos/a/x.jpg", "source": "/data/photos/a/x.jpg", "face_index": 0, "latent": "a/x.npy",
     "status": "projected", "reason": null, "psnr": 27.1, "ssim": 0.83, "lpips": 0.21,
     "steps": {"w": 1000, "noise": 0, "tune": 0}, "seconds": 41.2, "attempt": "20261205T101500.123456Z-3f9a2c",
     "rank": 0, "finished": "2026-12-05T10:17:02+00:00"}

`status` is projected, interrupted, failed (the latent of an earlier stage is there; `reason` says what
failed) or skipped (the photo cannot be used; no latent). `latent` is relative to the manifest's folder.
`attempt` names the run that wrote the row. `input` is the path as the command was given it, `source` the
same file's absolute path, which identifies the input whichever way later runs spell it.

How it is written without locks, also by many processes on a shared network file system: each process
(each rank of a torchrun) appends its rows to a file of its own, `<outdir>/manifest.d/<attempt>-rank<R>.jsonl`,
a batch at a time in one write, flushed to disk. Nobody else writes that file, so no lock is needed; a
process killed in the middle of a write leaves at most a torn last line, which readers ignore. At the end
of a run, rank 0 merges every part file (this run's, and those a killed run left) into `manifest.jsonl`
(written whole, atomically) and removes the parts it merged. Merging keeps, for each input, the rows of
the latest attempt that wrote rows for it, so a rerun's rows replace those of the run it redid.

Which inputs a rerun skips is decided from the outputs themselves (their metrics files), not from the
manifest: the manifest is the index of the folder, rebuilt from those files where rows are missing.
"""
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
PARTS = "manifest.d"


def manifest_path(outdir):
    return Path(outdir) / MANIFEST


def row_from_metrics(metrics, *, outdir, rank=0):
    """The manifest row of a target whose final metrics are `metrics` (a dict)."""
    latent = (metrics.get("outputs") or {}).get("latent")
    return {
        "input": metrics.get("input"),
        "source": metrics.get("input_path") or metrics.get("input"),
        "face_index": metrics.get("face_index"),
        "latent": _relative(latent, outdir),
        "status": metrics.get("status"),
        "reason": metrics.get("error"),
        "psnr": metrics.get("psnr"), "ssim": metrics.get("ssim"), "lpips": metrics.get("lpips"),  # the final image's
        "steps": metrics.get("steps"),
        "seconds": metrics.get("seconds_image"),
        "attempt": (metrics.get("run") or {}).get("attempt"),
        "rank": rank,
        "finished": metrics.get("finished"),
    }


def problem_row(input_path, problem, *, attempt, rank=0, face_index=None):
    """The row of an input (or target) that has no latent: skipped or failed, and why."""
    import datetime

    return {"input": str(input_path), "source": os.path.abspath(input_path), "face_index": face_index,
            "latent": None, "status": problem.kind,
            "reason": problem.message, "psnr": None, "ssim": None, "lpips": None, "steps": None, "seconds": None,
            "attempt": attempt, "rank": rank,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


class ManifestPart:
    """This process's part file: rows appended a batch at a time (see the module doc)."""

    def __init__(self, outdir, *, attempt, rank=0):
        self.path = Path(outdir) / PARTS / f"{attempt}-rank{rank}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = None

    def append(self, rows):
        """Append `rows` (dicts) in one write and flush them to disk."""
        from invert.report import json_ready

        rows = list(rows)
        if not rows:
            return
        data = "".join(json.dumps(json_ready(row), sort_keys=True, ensure_ascii=False) + "\n" for row in rows)
        if self._file is None:
            self._file = open(self.path, "ab", buffering=0)  # O_APPEND: every write goes to the end
        payload = memoryview(data.encode("utf-8"))
        while payload:  # an unbuffered write may write less than asked
            payload = payload[self._file.write(payload):]
        os.fsync(self._file.fileno())

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def read_rows(path):
    """The rows of a manifest or part file; a line that is not a JSON object (a torn last write) is skipped."""
    rows = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and "input" in row:
                    rows.append(row)
    except FileNotFoundError:
        pass
    return rows


def part_files(outdir):
    folder = Path(outdir) / PARTS
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def known_rows(outdir):
    """{(input, face_index, attempt)} of every row in the manifest and its part files."""
    rows = read_rows(manifest_path(outdir))
    for part in part_files(outdir):
        rows += read_rows(part)
    return {row_key(row) for row in rows}


def merge(outdir):
    """Merge the part files into manifest.jsonl (see the module doc) -> the number of rows it holds."""
    from invert.fileio import atomic_open

    outdir = Path(outdir)
    parts = part_files(outdir)
    rows = read_rows(manifest_path(outdir))
    for part in parts:
        rows += read_rows(part)
    latest = {}
    for row in rows:  # the latest attempt of each input
        attempt = str(row.get("attempt") or "")
        if attempt >= latest.get(_source(row), ""):
            latest[_source(row)] = attempt
    merged = {}
    for row in rows:
        if str(row.get("attempt") or "") == latest[_source(row)]:
            merged[row_key(row)] = row  # a row written twice (a resumed run) counts once
    ordered = sorted(merged.values(), key=lambda r: (str(r["input"]), r.get("face_index") is not None,
                                                     r.get("face_index") or 0))
    with atomic_open(manifest_path(outdir), "w", overwrite=True, encoding="utf-8") as handle:
        for row in ordered:
            handle.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    for part in parts:
        try:
            part.unlink()
        except OSError:
            pass
    try:
        (outdir / PARTS).rmdir()
    except OSError:
        pass  # not empty (a part appeared meanwhile) or gone
    return len(ordered)


def _source(row):
    """The input a row is about: its absolute path (`source`), whichever way the command line spelled it."""
    return str(row.get("source") or row.get("input"))


def row_key(row):
    """(input, face, attempt): what makes a row the same row when it is written twice."""
    return (_source(row), row.get("face_index"), row.get("attempt"))


def _relative(path, outdir):
    if path is None:
        return None
    try:
        return Path(os.path.relpath(path, outdir)).as_posix()
    except ValueError:
        return str(path)
