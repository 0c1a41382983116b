"""bench/bench_projection.py at the smallest size: what it writes, and how a time budget cuts it short."""
import importlib.util
import json
import math
import sys
import time
import types
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_projection.py"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")  # the module sets it for its own children; keep ours
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_projection", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(bench, monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["bench_projection.py", *map(str, args)])
    bench.main()


def test_budget_stops_new_measurements_and_results_say_so(bench, monkeypatch, tmp_path, capsys):
    # The budget is spent while the first path is measured: the clock jumps past any deadline once it ends.
    clock = {"now": 0.0}
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(
        monotonic=lambda: clock["now"], perf_counter=time.perf_counter, sleep=time.sleep))
    measure_path = bench.measure_path

    def measure_then_spend_the_budget(*args, **kwargs):
        result = measure_path(*args, **kwargs)
        clock["now"] = 1e9
        return result

    monkeypatch.setattr(bench, "measure_path", measure_then_spend_the_budget)
    run_main(bench, monkeypatch, "--generators", "random:64", "--batches", "1,2", "--paths",
             "batched fp32,+ channels_last", "--warmup", "0", "--steps", "2", "--repeats", "1",
             "--quality-steps", "2", "--quality-images", "1", "--budget-minutes", "1", "--threads", "1",
             "--out", tmp_path, "--name", "t")
    report = json.loads((tmp_path / "t.json").read_text())
    assert report["skipped"] == ["random:64: + channels_last"]
    assert [(r["batch"], r["path"]) for r in report["rows"]] == [
        (1, "baseline fp32 eager"), (1, "batched fp32"), (2, "baseline fp32 eager"), (2, "batched fp32")]
    baseline, batched = report["rows"][2], report["rows"][3]
    assert baseline["resolution"] == 64 and baseline["speedup_vs_baseline"] == 1.0
    assert batched["ms_per_image_step"] > 0 and all(r["first_step_s"] > 0 for r in report["rows"])
    assert batched["speedup_vs_baseline"] == pytest.approx(
        baseline["seconds_per_step"] / batched["seconds_per_step"], rel=1e-2)
    assert [q["path"] for q in report["quality"]] == ["baseline fp32 eager", "batched fp32"]
    # the batched path optimises each image as the baseline does: same PSNR after the same steps
    assert math.isfinite(report["quality"][0]["psnr_db"]) and abs(report["quality"][1]["delta_db"]) < 0.05
    markdown = (tmp_path / "t.md").read_text()
    assert f"| random:64 (64²) | 2 | batched fp32 | {batched['ms_per_image_step']:.1f} |" in markdown
    assert markdown.count(" |\n") >= 6 and "| speed-up | first step (s) |" in markdown
    assert "Not measured (the time budget was spent): random:64: + channels_last." in markdown
    assert (tmp_path / "latest-cpu.md").read_text() == markdown
    assert "skipped (time budget spent): + channels_last" in capsys.readouterr().out


def test_unknown_path_is_refused(bench, monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(bench, monkeypatch, "--paths", "warp drive", "--out", tmp_path)
    assert exit_info.value.code == 2
    assert "unknown path(s) warp drive; choose from: batched fp32" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
