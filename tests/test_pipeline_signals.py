"""A batch's outputs are written whole: stop signals wait until the writing ends, whichever thread of the
process the kernel hands them to (DataLoader, CUDA and tqdm threads included)."""
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
