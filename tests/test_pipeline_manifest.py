"""invert.pipeline.manifest: per-process part files, torn lines, and the merge into manifest.jsonl."""
import json
import os
import subprocess
import sys

from invert.pipeline import manifest
from invert.pipeline.targets import Problem


def row(name, attempt, status="projected", face=None):
    return {"input": name, "source": os.path.abspath(name), "face_index": face, "attempt": attempt, "status": status,
            "latent": f"{name}.npy"}


def rows_of(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_part_is_appended_a_batch_at_a_time_and_read_back(tmp_path):
    part = manifest.ManifestPart(tmp_path, attempt="A", rank=3)
    part.append([row("a", "A"), row("b", "A")])
    part.append([])
    part.append([row("c", "A")])
    part.close()
    assert part.path == tmp_path / "manifest.d" / "A-rank3.jsonl"
    assert [r["input"] for r in manifest.read_rows(part.path)] == ["a", "b", "c"]


def test_a_torn_last_line_is_ignored(tmp_path):
    """A process killed in the middle of a write leaves part of a line: readers skip it, the rest counts."""
    path = tmp_path / "part.jsonl"
    path.write_text(json.dumps(row("a", "A")) + "\n" + json.dumps(row("b", "A"))[:17], encoding="utf-8")
    assert [r["input"] for r in manifest.read_rows(path)] == ["a"]


def test_a_process_killed_mid_write_loses_no_earlier_batch(tmp_path):
    """SIGKILL right after a batch was appended: the batch is on disk (the append is flushed and synced)."""
    code = ("import os, signal, sys\nfrom invert.pipeline import manifest\n"
            f"part = manifest.ManifestPart({str(tmp_path)!r}, attempt='K', rank=0)\n"
            "part.append([{'input': f'x{i}', 'face_index': 0, 'attempt': 'K'} for i in range(50)])\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.returncode == -9
    assert len(manifest.read_rows(tmp_path / "manifest.d" / "K-rank0.jsonl")) == 50


def test_merge_keeps_the_latest_attempt_of_each_input_and_removes_the_parts(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in [row("a", "20260101T000000Z-aa", "interrupted"),
                                                row("b", "20260101T000000Z-aa")]), encoding="utf-8")
    for rank, rows in enumerate([[row("a", "20260102T000000Z-bb"), row("c", "20260102T000000Z-bb", face=1),
                                  row("c", "20260102T000000Z-bb", face=0)],
                                 [row("b", "20260101T000000Z-aa"),  # rebuilt from its metrics: same row
                                  row("d", "20260102T000000Z-bb", "skipped")]]):
        part = manifest.ManifestPart(tmp_path, attempt="20260102T000000Z-bb", rank=rank)
        part.append(rows)
        part.close()
    assert manifest.merge(tmp_path) == 5
    merged = rows_of(tmp_path / "manifest.jsonl")
    assert [(r["input"], r["face_index"], r["status"]) for r in merged] == [
        ("a", None, "projected"), ("b", None, "projected"), ("c", 0, "projected"), ("c", 1, "projected"),
        ("d", None, "skipped")]
    assert not (tmp_path / "manifest.d").exists()
    assert manifest.merge(tmp_path) == 5  # merging again changes nothing
    assert rows_of(tmp_path / "manifest.jsonl") == merged


def test_a_redone_input_replaces_every_row_of_its_earlier_attempt(tmp_path):
    """An input skipped by one run and projected (two faces) by the next has only the new rows."""
    part = manifest.ManifestPart(tmp_path, attempt="1", rank=0)
    part.append([manifest.problem_row("p.png", Problem("skipped", "no face found"), attempt="1")])
    part.close()
    manifest.merge(tmp_path)
    part = manifest.ManifestPart(tmp_path, attempt="2", rank=0)
    part.append([row("p.png", "2", face=0), row("p.png", "2", face=1)])
    part.close()
    manifest.merge(tmp_path)
    assert [(r["face_index"], r["status"]) for r in rows_of(tmp_path / "manifest.jsonl")] == [
        (0, "projected"), (1, "projected")]


def test_rows_from_metrics_name_the_latent_relative_to_the_manifest(tmp_path):
    metrics = {"input": "photos/x.png", "face_index": 0, "status": "projected", "psnr": 30.5, "ssim": 0.9,
               "lpips": None, "steps": {"w": 10, "noise": 0, "tune": 5}, "seconds_image": 1.5,
               "outputs": {"latent": str(tmp_path / "sub" / "x.npy")}, "run": {"attempt": "A"},
               "finished": "2026-12-05T10:00:00+00:00"}
    made = manifest.row_from_metrics(metrics, outdir=tmp_path, rank=2)
    assert made == {"input": "photos/x.png", "source": "photos/x.png", "face_index": 0, "latent": "sub/x.npy", "status": "projected",
                    "reason": None, "psnr": 30.5, "ssim": 0.9, "lpips": None, "steps": {"w": 10, "noise": 0, "tune": 5},
                    "seconds": 1.5, "attempt": "A", "rank": 2, "finished": "2026-12-05T10:00:00+00:00"}
    assert os.path.isabs(metrics["outputs"]["latent"])


def test_an_input_spelled_two_ways_is_one_input(tmp_path, monkeypatch):
    """A photo skipped by a run given `photos/p.png` and projected by one given its absolute path: the
    manifest keeps only the new row (rows name the file by its absolute path, `source`)."""
    monkeypatch.chdir(tmp_path)
    part = manifest.ManifestPart(tmp_path, attempt="1", rank=0)
    part.append([manifest.problem_row("photos/p.png", Problem("skipped", "no face found"), attempt="1")])
    part.close()
    manifest.merge(tmp_path)
    absolute = str(tmp_path / "photos" / "p.png")
    metrics = {"input": absolute, "input_path": absolute, "face_index": None, "status": "projected",
               "outputs": {"latent": str(tmp_path / "p.npy")}, "run": {"attempt": "2"}}
    part = manifest.ManifestPart(tmp_path, attempt="2", rank=0)
    part.append([manifest.row_from_metrics(metrics, outdir=tmp_path)])
    part.close()
    manifest.merge(tmp_path)
    assert [(r["input"], r["source"], r["status"]) for r in rows_of(tmp_path / "manifest.jsonl")] == [
        (absolute, absolute, "projected")]
