"""Profile: where a fresh process's first results spend their time, on a cold and a warm cache.

``bench_cnn.py`` times a fresh process's first results (its ``FIRST_WORK``: a training step with
SGD and with Adam, an input gradient, FGSM and CW-L2 steps, an FGSM step in evaluation mode and
logits in two chunks, in float32 and float64, which runs every cached Numba kernel of tinyadv)
after the import, on a cold Numba cache (compiling every kernel; target 15 s) and on a warm one
(loading them; target 0.5 s). This script says where those seconds go.

- **Cold**, in a fresh process with a fresh cache: the seconds that Numba spends compiling each
  kernel, its own (a kernel that it calls is compiled while the caller is typed; those seconds
  are the callee's, on its own line), split into LLVM's part (optimising the IR and emitting
  machine code: the time Numba holds its LLVM lock) and the rest, Numba's own Python (reading
  the bytecode, inlining, type inference, lowering to LLVM IR, writing the cache); then the
  time outside any compile (Numba setting up its CPU target, the work itself). Every compile
  pays a fixed cost besides its code's: the cold part's last line compiles a trivial kernel (a
  loop over an array) to show it.
- **Warm**, in a fresh process on the cache that the cold one filled: SciPy's import (Numba
  imports ``scipy.linalg``, to look for a BLAS, when it first sets up its CPU target: timed
  here on its own, first), the rest of Numba's set-up (``target_context.refresh()``, what the
  first call of any kernel runs), loading the kernels from the cache and running the work
  (the work is run a second time in the same process: the first run's time beyond the second's
  is the loading, and tinyadv's own first calls, 0.03 s of the 0.15 s on the Xeon).

Both are single processes, and a process's figures move by 5-10% from one to the next (more
from hour to hour on a shared machine): ``--repeats`` runs several of each and prints the
medians. Recording Numba's events costs time of its own, most of it inside the compiles: on a
Zen 5 the first results on a cold cache took 12.9 s with the two listeners against 11.95 s
without (medians of four fresh caches each, taking turns), so the cold figure here runs about
1 s above ``bench_cnn.py``'s. ``scripts/BENCHMARKS.md`` has profiles and what was tried.

    python scripts/bench_start.py
    python scripts/bench_start.py --repeats 3
"""

import argparse
import collections
import json
import os
import tempfile
import textwrap

import numpy as np

from tinyadv.cli import positive_int
from bench_cnn import FIRST_WORK, last_line_in_fresh_process  # the script beside this one

COLD = """
import json, time
import numba
from numba.core import event
compiles, llvm = event.RecordingListener(), event.RecordingListener()
event.register("numba:compile", compiles)
event.register("numba:llvm_lock", llvm)
import numpy as np
import tinyadv as ta
began = time.perf_counter()
{work}
seconds = time.perf_counter() - began

def trivial(a):
    for i in range(a.size):
        a[i] += 1.0

trivial = numba.njit(trivial)
began = time.perf_counter()
trivial(np.zeros(4))
trivial_seconds = time.perf_counter() - began

def name(event):
    function = event.data["dispatcher"].py_func
    return f"{{function.__module__}}.{{function.__qualname__}}"

events = [(t, e.is_start, "compile", name(e)) for t, e in compiles.buffer
          if e.data["dispatcher"].py_func is not trivial.py_func]
events += [(t, e.is_start, "llvm", "") for t, e in llvm.buffer]
print(json.dumps({{"seconds": seconds, "trivial": trivial_seconds, "events": events}}))
"""

WARM = """
import json, time
import numpy as np
import tinyadv as ta

def first_results():
{work}

began = time.perf_counter()
import scipy.linalg  # (what Numba's set-up imports first)
scipy_imported = time.perf_counter()
from numba.core.registry import cpu_target
cpu_target.target_context.refresh()  # (what the first call of a kernel runs first)
set_up = time.perf_counter()
first_results()
first = time.perf_counter()
first_results()
second = time.perf_counter()
print(json.dumps({{"SciPy's import": scipy_imported - began,
                  "the rest of Numba's set-up": set_up - scipy_imported,
                  "loading the kernels (and first calls)": (first - set_up) - (second - first),
                  "the work": second - first}}))
"""


def run(program, cache_dir):
    """The JSON that ``program`` prints last, run in a fresh process with Numba's cache in
    ``cache_dir``."""
    return json.loads(last_line_in_fresh_process(program, cache_dir))


def compile_seconds(events):
    """{kernel: (seconds, seconds in LLVM, compiles)} from Numba's events in one process:
    ``events`` are ``(time, is_start, kind, kernel)`` with kind "compile" (of ``kernel``; they
    nest: a kernel's callees compile while it is typed) or "llvm" (Numba holds its LLVM lock).
    Each stretch of time between two events goes to the innermost compile open then, if any,
    and to its LLVM part while the lock is held. (Sorted by time alone, stably: two events of
    one listener at the same instant keep the order in which they came.)"""
    seconds, in_llvm, compiles = (collections.Counter() for _ in range(3))
    open_compiles, llvm_depth, last = [], 0, None
    for time, is_start, kind, kernel in sorted(events, key=lambda event: event[0]):
        if open_compiles:
            seconds[open_compiles[-1]] += time - last
            if llvm_depth:
                in_llvm[open_compiles[-1]] += time - last
        last = time
        if kind == "compile" and is_start:
            open_compiles.append(kernel)
            compiles[kernel] += 1
        elif kind == "compile":
            if not open_compiles or open_compiles.pop() != kernel:
                raise ValueError(f"the compile of {kernel} ends without having started")
        else:
            llvm_depth += 1 if is_start else -1
    if open_compiles or llvm_depth:
        raise ValueError("events end inside a compile or with Numba's LLVM lock held")
    return {kernel: (seconds[kernel], in_llvm[kernel], compiles[kernel]) for kernel in compiles}


def cold_lines(runs):
    """The cold start's lines from the medians of ``runs`` (each a COLD process's JSON)."""
    tables = [compile_seconds(run["events"]) for run in runs]
    median = {kernel: np.median([table.get(kernel, (0, 0, 0)) for table in tables], axis=0)
              for kernel in set().union(*tables)}
    kernels = sorted(median, key=lambda kernel: -median[kernel][0])
    total = np.median([run["seconds"] for run in runs])
    names = {kernel: kernel.removeprefix("tinyadv.") for kernel in kernels}
    width = max([len(name) for name in names.values()] + [len("kernel")])
    lines = [f"cold: a fresh process with a fresh Numba cache, {total:.1f} s after the import",
             f"{'kernel':{width}s} {'compiles':>8s} {'seconds':>8s} {'in LLVM':>8s} "
             f"{'in Numba':>8s}"]
    for kernel in kernels:
        seconds, llvm, compiles = median[kernel]
        lines.append(f"{names[kernel]:{width}s} {compiles:8.0f} {seconds:8.2f} {llvm:8.2f} "
                     f"{seconds - llvm:8.2f}")
    seconds, llvm, compiles = np.sum(list(median.values()), axis=0)
    trivial = np.median([run["trivial"] for run in runs])
    lines += [f"{'all':{width}s} {compiles:8.0f} {seconds:8.2f} {llvm:8.2f} {seconds - llvm:8.2f}",
              f"outside the compiles (Numba's set-up, the work): {total - seconds:.2f} s",
              f"a trivial kernel (a loop over an array) compiles here in {trivial:.3f} s: "
              f"{compiles:.0f} compiles, {compiles * trivial:.1f} s at least"]
    return lines


def warm_lines(runs):
    """The warm start's line from the medians of ``runs`` (each a WARM process's JSON)."""
    parts = {part: np.median([run[part] for run in runs]) for part in runs[0]}
    return [f"warm: a fresh process on that cache, {sum(parts.values()):.2f} s after the "
            "import: " + ", ".join(f"{part} {seconds:.3f} s" for part, seconds in parts.items())]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=1,
                        help="processes of each kind (a fresh cache for each cold one)")
    args = parser.parse_args(argv)

    work = textwrap.indent(FIRST_WORK.strip("\n"), "    ")
    with tempfile.TemporaryDirectory() as folder:
        caches = [os.path.join(folder, str(repeat)) for repeat in range(args.repeats)]
        cold = [run(COLD.format(work=FIRST_WORK), cache) for cache in caches]
        warm = [run(WARM.format(work=work), caches[-1]) for _ in range(args.repeats)]
    print("\n".join(cold_lines(cold) + [""] + warm_lines(warm)))


if __name__ == "__main__":
    main()
