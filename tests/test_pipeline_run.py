"""invert.pipeline.run's guards: a batch's outputs are written whole (stop signals wait until the writing
ends, whichever thread of the process the kernel hands them to: DataLoader, CUDA and tqdm threads
included), and the folder locks of a run over many folders."""
import os
import signal
import threading
import time

from invert.pipeline.run import _signals_deferred


def _send_from_another_thread(signum):
    sender = threading.Thread(target=os.kill, args=(os.getpid(), signum))
    sender.start()
    sender.join()


def test_a_stop_signal_waits_until_the_block_has_run():
    events = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: events.append("stopped"))
    try:
        with _signals_deferred():
            _send_from_another_thread(signal.SIGTERM)
            time.sleep(0.05)  # the interpreter checks for signals many times meanwhile
            events.append("written")
        time.sleep(0.01)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["written", "stopped"]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_signal_the_process_ignores_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with _signals_deferred():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            _send_from_another_thread(signal.SIGHUP)
        time.sleep(0.01)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def _lock_folders_with_limits(tmp_path, soft, hard, count):
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import resource, sys
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
        from invert.errors import InvertError
        from invert.pipeline.run import folder_locks
        folders = [Path({str(tmp_path)!r}) / f"f{{i}}" for i in range({count})]
        try:
            with folder_locks(folders):
                print("locked", len(folders))
        except InvertError as exc:
            print("error:", exc)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_a_run_over_many_photo_folders_holds_a_lock_in_each_or_says_why_not(tmp_path):
    """Without --outdir a run locks every folder it writes into: more than the default 1024 open files is
    fine where the hard limit allows (the soft limit is raised), else one line pointing to --outdir."""
    result = _lock_folders_with_limits(tmp_path / "raised", 64, 4096, 300)
    assert result.stdout.strip() == "locked 300", result.stderr
    result = _lock_folders_with_limits(tmp_path / "capped", 64, 64, 300)
    assert result.stdout.startswith("error: cannot hold the locks of the 300 folders this run writes into (Too "
                                    "many open files); project into one --outdir instead"), result.stderr


def test_a_rerun_a_moment_later_is_a_later_attempt():
    """The manifest keeps the rows of the latest attempt: ids of runs made one after the other sort in that
    order, also within one second (a quick rerun)."""
    from invert.pipeline.run import new_attempt_id

    ids = []
    for _ in range(20):
        ids.append(new_attempt_id())
        time.sleep(0.001)
    assert ids == sorted(ids) and len(set(ids)) == 20
