"""The spinners that keep idle cores awake while chunks run (tinyadv/awake.py): when they start,
that they sleep again after the grace period and then use no CPU time, that the kernel ends on a
closed pipe, and that a forked child does not inherit them. Their speed is measured in
scripts/BENCHMARKS.md, not here."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tinyadv import awake
from tinyadv.threads import cores, get_num_threads, map_chunks, set_num_threads

linux_only = pytest.mark.skipif(not (sys.platform.startswith("linux") and hasattr(os, "SCHED_IDLE")),
                                reason="SCHED_IDLE is Linux's")


@pytest.mark.parametrize("setting, halt_poll, expected", [
    ("0", "0", False), ("1", "200000", True), ("", "0", True), ("", "200000", False),
    ("", None, False), ("yes", "0", True)])
@linux_only
def test_wanted_follows_the_halt_polling_and_the_override(monkeypatch, tmp_path, setting,
                                                          halt_poll, expected):
    path = tmp_path / "guest_halt_poll_ns"
    if halt_poll is not None:
        path.write_text(halt_poll + "\n")
    monkeypatch.setattr(awake, "HALT_POLL", str(path))
    monkeypatch.setenv("TINYADV_SPIN", setting)
    assert awake.wanted() is expected


def test_wanted_is_false_where_the_system_has_no_sched_idle(monkeypatch):
    monkeypatch.setenv("TINYADV_SPIN", "1")
    monkeypatch.delattr(os, "SCHED_IDLE", raising=False)
    assert awake.wanted() is False


def _cpu_seconds(thread):
    """User and system time of a thread, from /proc (Linux)."""
    with open(f"/proc/self/task/{thread.native_id}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@linux_only
def test_spinners_start_with_a_call_and_sleep_after_the_grace_period(monkeypatch):
    monkeypatch.setenv("TINYADV_SPIN", "1")
    monkeypatch.setattr(awake, "_enabled", [])  # (decided again, with the override)
    threads = get_num_threads()
    set_num_threads(2)
    try:
        assert map_chunks(lambda part: part * 2, [1, 2, 3]) == [2, 4, 6]  # (the numbers alone)
        assert awake._enabled == [True]
        spinners = awake._spinners[:2]
        expected = min(2, cores())  # (one a core)
        assert len(spinners) == expected and all(thread.is_alive() for thread, *_ in spinners)
        assert awake._running[0] == 0  # (no call running now)
        deadline = time.monotonic() + 5
        while any(asleep[0] == 0 for _, asleep, _, _ in spinners) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert all(asleep[0] == 1 for _, asleep, _, _ in spinners)  # asleep after the grace
        before = [_cpu_seconds(thread) for thread, *_ in spinners]
        time.sleep(0.5)
        after = [_cpu_seconds(thread) for thread, *_ in spinners]
        assert all(b - a < 0.05 for a, b in zip(before, after))  # asleep: no CPU time
        map_chunks(lambda part: part, [1, 2])  # a call wakes them again
        assert any(asleep[0] == 0 for _, asleep, _, _ in spinners)
    finally:
        set_num_threads(threads)


@linux_only
def test_no_more_spinners_than_cores_however_many_threads(monkeypatch):
    # (set_num_threads(100000) started a spinner and a pipe for each: "Too many open files")
    monkeypatch.setenv("TINYADV_SPIN", "1")
    monkeypatch.setattr(awake, "_enabled", [])
    monkeypatch.setattr(awake, "_spinners", list(awake._spinners))  # (this test's own list)
    threads = get_num_threads()
    set_num_threads(cores() + 3)
    try:
        assert map_chunks(lambda part: part + 1, list(range(cores() + 5))) == list(
            range(1, cores() + 6))
        assert 1 <= len(awake._spinners) <= cores()
    finally:
        set_num_threads(threads)


@linux_only
def test_the_kernel_spins_while_a_call_runs_and_ends_on_a_closed_pipe():
    running, asleep = np.ones(1, np.int64), np.zeros(1, np.int64)
    read_end, write_end = os.pipe()
    thread = threading.Thread(target=awake._spin_numba,
                              args=(running, asleep, read_end, 10**7, np.zeros(2, np.int64)))
    thread.start()
    os.write(write_end, b"\0")
    time.sleep(0.1)
    assert thread.is_alive() and asleep[0] == 0  # spinning while running[0] > 0
    running[0] = 0  # (seen through the atomic load: a plain one would spin on forever)
    deadline = time.monotonic() + 5
    while asleep[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert asleep[0] == 1
    os.close(write_end)  # read() gives 0: the kernel returns
    thread.join(5)
    os.close(read_end)
    assert not thread.is_alive()


FORKED = """
import os
os.environ["TINYADV_SPIN"] = "1"
from tinyadv import awake
from tinyadv.threads import cores, get_num_threads, map_chunks, set_num_threads
set_num_threads(2)
map_chunks(lambda part: part, [1, 2])  # the parent's spinners start
assert len(awake._spinners) == 2
child = os.fork()
if child == 0:  # the child: none of them, nothing running, and spinners of its own when it calls
    ok = not awake._spinners and awake._running[0] == 0
    ok = ok and map_chunks(lambda part: part + 1, [1, 2]) == [2, 3] and len(awake._spinners) == 2
    os._exit(0 if ok else 3)
_, status = os.waitpid(child, 0)
print(os.waitstatus_to_exitcode(status))
"""


@linux_only
@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is a POSIX call")
def test_a_forked_child_starts_without_the_parents_spinners():
    """In a fresh process with a time limit, so that a hang fails the test."""
    finished = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True,
                              timeout=180)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "0"
