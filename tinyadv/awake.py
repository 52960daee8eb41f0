"""Keeping idle cores awake while chunks run, where the machine's idle cores halt at once.

Why. On a virtual machine whose idle cores halt the moment they have nothing to run (a KVM guest
with Linux's ``cpuidle-haltpoll`` driver and its polling switched off,
``/sys/module/haltpoll/parameters/guest_halt_poll_ns`` at 0, as on the Xeon of README's Speed),
a thread woken on a halted core starts only once the host has woken the core (30-60 µs there),
and runs slower for a while after. The threads of ``map_chunks`` sleep often: a thread back from
a compiled kernel while the other runs Python waits for the GIL, about 25 times a float32 training
step of 128 images there, and the pool's worker sleeps between calls. Two processes did 1.45
times the work of two threads on that machine, and busy loops of the lowest priority in separate
processes, one on each core, which kept the cores from halting, ran the training steps 1.07-1.12
times as fast (``scripts/BENCHMARKS.md``). OpenMP's runtimes keep their threads spinning for a
while after each parallel region for the same reason (``KMP_BLOCKTIME``); PyTorch's threads do.

What. While a ``map_chunks`` call runs chunks on several threads (:func:`cores_awake`), and for
``GRACE_SECONDS`` after the last such call ends (so that the cores stay awake across a training
loop's Python between its steps), one spinner thread per chunk thread (at most one per core:
``map_chunks`` asks for no more), each pinned to a core of its own, spins at the lowest
priority, ``SCHED_IDLE``: it runs only when its core has nothing else to run, and the core is
taken from it the moment a thread there wakes. A spinner is a
daemon thread that enters one ``nogil`` kernel, :func:`_spin_numba`, and never comes back to
Python: it blocks in ``read()`` on its own pipe while no call has run for the grace period, and a
call that starts writes a byte to the pipe of each spinner that has gone to sleep. Nothing it
does touches the numbers. On that Xeon, taking turns in one process with the spinners switched
off (30 rounds): the float32 training step 1.113 times as fast, inference of 512 images 1.050,
float64 1.100 and 1.077 in a slow hour; 1.041, 1.001, 1.051 and 1.035 in a fast one.

When. Only where the idle cores halt at once (the file above reads 0) and Linux lets a thread
take ``SCHED_IDLE``: elsewhere an idle core wakes in microseconds (bare metal) or polls for a
while before it halts, and on a core with two hardware threads a spinning one takes from its
busy sibling. The environment variable ``TINYADV_SPIN`` overrides the choice: ``0`` never,
``1`` wherever ``SCHED_IDLE`` exists.
"""

import contextlib
import os
import platform
import sys
import threading

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic

GRACE_SECONDS = 0.1  # how long spinners keep spinning after the last chunked call has ended
HALT_POLL = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"


def wanted():
    """Whether spinners should run here (the module docstring, "When")."""
    setting = os.environ.get("TINYADV_SPIN", "")
    if setting == "0" or not (sys.platform.startswith("linux") and hasattr(os, "SCHED_IDLE")):
        return False
    if setting == "1":
        return True
    try:
        with open(HALT_POLL) as file:
            return file.read().strip() == "0"
    except OSError:  # no cpuidle-haltpoll driver: bare metal, or another hypervisor's guest
        return False


@intrinsic
def _load_acquire(typingctx, counts):
    """counts[0], read with an atomic acquire load: a plain load in the spinning loop would be
    read once and kept in a register (nothing in the loop writes it), and the loop never end."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(array.data, "acquire", 8)
    return types.int64(counts), codegen


@intrinsic
def _pause(typingctx):
    """x86's ``pause``, which tells the core that the loop around it spins (it yields the core's
    resources to a sibling thread and saves power); nothing on other processors."""
    def codegen(context, builder, signature, args):
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(function, [])
        return context.get_dummy_value()
    return types.none(), codegen


# The C library's read(fd, buffer, count) and clock_gettime(clock, timespec), called by name
# (the addresses are looked up where the code is loaded, so the kernel can be cached; pointers
# are passed as 64-bit integers, as the calling convention of x86-64 and AArch64 passes them).
_read = types.ExternalFunction("read", types.int64(types.int32, types.int64, types.uint64))
_clock_gettime = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.int64))
_CLOCK_MONOTONIC = 1  # (Linux's)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _spin_numba(running, asleep, fd, grace_ns, clock):
    """A spinner's whole life: sleep in read() on ``fd`` until a byte comes, then spin while
    ``running[0]`` (the chunked calls running now) is above 0 and for ``grace_ns`` after it
    was last seen so, then say so in ``asleep[0]`` and sleep again; end when the pipe is
    closed (read() gives 0) or read() fails (a signal's EINTR too: then the calls run without
    this spinner, as where there is none). ``clock`` (2,) int64 is room for a struct timespec
    (seconds, nanoseconds) and, at each read(), for the byte read (no arrays made in the kernel:
    each kind of np.zeros is one more compile)."""
    while True:
        if _read(fd, clock.ctypes.data, 1) != 1:
            return
        last = -1  # (the time of the first look, or of the last call seen running)
        while True:
            _clock_gettime(_CLOCK_MONOTONIC, clock.ctypes.data)
            now = clock[0] * 1_000_000_000 + clock[1]
            if last < 0 or _load_acquire(running) > 0:
                last = now
            elif now - last > grace_ns:
                break
            _pause()
        asleep[0] = 1


_spinners = []  # [(thread, asleep (1,) int64, write end of its pipe, read end)]
_running = np.zeros(1, np.int64)  # the map_chunks calls running now, on any thread
_lock = threading.Lock()


def _compile():
    """Have the calling thread compile (or load) the kernel: a spinner at the lowest priority
    would hold Numba's compiler lock while the chunks wait for it. On a closed pipe the kernel
    returns at once."""
    read_end, write_end = os.pipe()
    os.close(write_end)
    _spin_numba(np.zeros(1, np.int64), np.zeros(1, np.int64), read_end, 0, np.zeros(2, np.int64))
    os.close(read_end)


def _start_spinner():
    """Start one more spinner; False where its thread cannot take SCHED_IDLE."""
    if not _spinners:
        _compile()
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # (a call never waits on a spinner)
    asleep = np.ones(1, np.int64)  # (raised by the spinner only; a call lowers it to wake it)
    took = []
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[len(_spinners) % len(cpus)]  # (a core of its own, while there are enough)

    def spin():
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            os.sched_setaffinity(0, {cpu})
        except OSError:
            return
        took.append(True)
        _spin_numba(_running, asleep, read_end, int(GRACE_SECONDS * 1e9), np.zeros(2, np.int64))

    thread = threading.Thread(target=spin, name="tinyadv-spinner", daemon=True)
    thread.start()
    while thread.is_alive() and not took:  # (until it has its priority, or has failed to)
        thread.join(0.001)
    if not took:
        os.close(read_end)
        os.close(write_end)
        return False
    _spinners.append((thread, asleep, write_end, read_end))
    return True


_enabled = []  # [whether spinners run here], decided at the first call


@contextlib.contextmanager
def cores_awake(threads):
    """Around the chunks of a ``map_chunks`` call on ``threads`` threads: while the block runs,
    and for ``GRACE_SECONDS`` after, ``threads`` spinners keep the cores awake where
    :func:`wanted` says so and their threads could take ``SCHED_IDLE``; elsewhere nothing."""
    with _lock:
        if not _enabled:
            _enabled.append(wanted())
        while _enabled[0] and len(_spinners) < threads:
            _enabled[0] = _start_spinner()
        counted = _enabled[0]
        if counted:
            _running[0] += 1
            for _, asleep, write_end, _ in _spinners[:threads]:
                if asleep[0]:  # (asleep in read(), or about to be: a byte wakes it)
                    asleep[0] = 0
                    try:
                        os.write(write_end, b"\0")
                    except BlockingIOError:  # (its pipe full: it has bytes to wake to)
                        pass
    try:
        yield
    finally:
        if counted:
            with _lock:
                _running[0] -= 1


def _forget_the_spinners():
    """In the child of ``os.fork``: the spinners are the parent's threads; the child closes its
    copies of their pipes and starts its own when it first runs chunks."""
    global _lock
    _lock = threading.Lock()
    for _, _, write_end, read_end in _spinners:
        os.close(write_end)
        os.close(read_end)
    _spinners.clear()
    _running[0] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_spinners)
