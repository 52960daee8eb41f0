"""Threads: how many to use, and running the chunks of a batch on them.

This is the one place where tinyadv trades plainness for speed (PERFORMANCE.md). A batch is cut
into chunks of a few dozen images; each chunk goes through the whole network on one of a few
Python threads, with BLAS held to one thread meanwhile. NumPy's matrix products and tinyadv's
``nogil`` Numba kernels release the GIL, so the chunks really run at once, each in its own
core's cache, instead of two BLAS threads fighting over one large product.

The math does not change: chunks are cut at fixed places (``chunk_size``, or by default a size
that depends on the machine's cores, never on the thread count)
and their results are put back together in order, so a result is the same, bit for bit, for
any number of threads. The exception is a batch larger than a chunk that must run as one (a
model with BatchNorm in training mode or a stochastic layer, or the parameter gradients of a
binarized layer with the Galloway STE): it runs with BLAS on all the threads, and OpenBLAS's
multi-threaded products round differently with their thread count (reproducible for a fixed
one). Another ``chunk_size`` changes the last bits (float32 products
round differently with their number of rows; weight gradients are summed chunk by chunk).

The GIL. Between two kernels a chunk runs Python (each layer's checks, shapes and calls), which
holds the GIL; a thread back from a kernel while the other holds it sleeps until it is let go,
and waking takes tens of microseconds on a virtual machine (30-60 µs on a KVM guest whose idle
cores halt at once, without Linux's halt polling: README, Speed). Measured with uprobes on CPython's
``take_gil``/``drop_gil`` (2 cores, a Zen 4, inference of 512 float32 images): each thread held
the GIL 14% of the time and waited for it 8% (median wait 80-90 µs; since the trimming named at
the end of this paragraph, 11-12% and 6-7%; since Winograd's forward pass runs in one call,
``winograd._conv2d_blocks_numba``, 8-9% and 4%); a chunk's forward pass let go of it 17 times
(11.7 since), forward and backward 30-38 times, and the Python after a kernel runs with the
cache cold (the kernel has streamed its megabytes through it: a call's GIL-held part took 5.6 µs
on one image, 18 µs on 32). Two processes side by side ran at full speed each, two threads at
1.5-1.8 times one. So the Python on the chunks' path is kept short (what depends on shapes alone
is remembered, messages are written only for errors). Per image, two threads fell about a tenth
behind two processes in the same minutes (five pairs of runs taking turns): about 4 points
waiting for the GIL, about 3.5 idle at each call's start and end (the caller's Python before the
first chunk and after the last, and one thread finishing the last chunk alone), the rest more
time in Python; the kernels themselves, looped on two threads, ran as fast as in two processes.
Chunks of 256 images, with a fifth of the waits, ran no faster than chunks of 32
(``scripts/BENCHMARKS.md``). So the calling thread runs chunks itself (``map_chunks``) instead
of handing each to the pool and sleeping until they are done. A training step (batch 128,
float32) lets go of the GIL more often: 66 times a chunk (about a quarter at the compiled
kernels, one in seven at the matrix products, the rest at NumPy's copies, ufuncs, ``np.zeros``
and the loss's indexing), and each thread held it 13% of the time and waited for it 9%. Not
every hand-over costs alike: the loss's eleven a chunk (``np.arange``, ``argmax`` and fancy
indexing let go of it even at 32 × 10), taken out with masks, saved nothing measurable (0.99 ±
0.01 of the step's time), while the loss's Python itself, about 35 µs a chunk, cost about 5%.
On a free-threaded Python there is no GIL to wait for: on the Xeon of README's Speed, four
chunks ran 1.67-1.88 times as fast on two threads as on one on CPython 3.13t and 3.14t,
1.45-1.64 times on 3.11.
Where the machine's idle cores halt the moment they have nothing to run (a KVM guest without
halt polling, as that Xeon), a thread that slept starts late and runs slower after; there,
while chunks run, threads of the lowest priority keep the cores awake (``tinyadv/awake.py``).

Thread count: ``set_num_threads(n)``; by default ``NUMBA_NUM_THREADS``, else
``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``, else the number of cores this process may run on
(``os.sched_getaffinity`` where the system has it, so a ``taskset`` or a container's CPU set
counts; else ``os.cpu_count()``).

Memory reuse: a forward pass makes arrays of a few MB per chunk (the im2col rows) and drops
them a moment later. By default glibc's malloc hands such blocks back to the kernel and takes
fresh pages for the next ones, and every fresh page is a page fault (zeroing 4 KB); with two
threads faulting at once they also queue on the process's memory lock. So the first time
chunks run, tinyadv asks glibc (``mallopt``) to keep freed memory for reuse: blocks up to
64 MiB come from the heap (``M_MMAP_THRESHOLD``), up to 256 MiB of free heap is kept
(``M_TRIM_THRESHOLD``) and the heap grows 64 MiB at a time (``M_TOP_PAD``). This is a
setting of the whole process, like PyTorch's caching allocator: memory a program frees stays
in the process (up to about those sizes) instead of going back to the system. On a training
step of the talk's CNN (batch 128) it removed about 4,000 page faults per step. Not on glibc
(macOS, Windows, musl) nothing is changed.
"""

import contextlib
import ctypes
import glob
import math
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from .awake import cores_awake
from .checks import check_bool, check_positive_int


def _default_threads():
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isascii() and value.isdigit() and int(value) > 0:  # ("²".isdigit(), not int's)
            return int(value)
    return cores()


def cores():
    """The number of cores this process may run on (a ``taskset`` or a container's CPU set
    counts), whatever the thread count: ``Sequential`` sizes its default chunks by it, so that
    results do not change with ``set_num_threads``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


_state = {"threads": _default_threads(), "pool": None}
_lock = threading.Lock()
_in_chunk = threading.local()  # .running: this thread runs the chunks of a map_chunks call
_call = threading.local()  # .owner: the model call whose work this thread does (``working_for``)


def call_owner():
    """The model call whose work this thread does now (``working_for``), or None."""
    return getattr(_call, "owner", None)


class working_for:
    """``with working_for(owner):`` this thread does ``owner``'s work (a model call's chunk, on
    whichever thread takes it), and what a layer keeps for that call (``Conv2D.hold_weights``)
    is used by that call's work alone: a call from another Python thread meanwhile computes
    its own, from the weights as they are then."""

    def __init__(self, owner):
        self.owner = owner

    def __enter__(self):
        self.outer = getattr(_call, "owner", None)
        _call.owner = self.owner

    def __exit__(self, *exception):
        _call.owner = self.outer


def _forget_the_pool():
    """In the child of ``os.fork`` (multiprocessing's default start on Linux): the child has
    none of the parent's threads, and a pool that still counted them would take chunks and
    never run them. The child makes its own pool when it first needs one."""
    global _lock, _blas_lock
    _lock = threading.Lock()  # (the parent's may have been held by a thread the child lacks)
    _state["pool"] = None
    # The blocks of blas_threads open in the parent's other threads never close here; the
    # setting saved before them ("saved") comes back when the child's own next block closes.
    _blas_lock = threading.Lock()
    _blas_blocks["open"] = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_pool)


def get_num_threads():
    """Number of threads tinyadv runs chunks on."""
    return _state["threads"]


def set_num_threads(n):
    """Run chunks on ``n`` threads (1 = everything on the calling thread, BLAS as configured).
    Not from inside a chunk (RuntimeError): the threads it replaces are the ones running."""
    n = check_positive_int(n, "the number of threads")
    if getattr(_in_chunk, "running", False):  # shutting the pool down would wait for itself
        raise RuntimeError("set_num_threads cannot be called from inside a chunk")
    with _lock:
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
            _state["pool"] = None
        _state["threads"] = n


def _openblas_libraries():
    """Every OpenBLAS that NumPy/SciPy loaded, as ctypes libraries."""
    paths = set()
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:  # not Linux: look next to NumPy
        base = os.path.dirname(os.path.dirname(np.__file__))
        for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*", "scipy.libs/*openblas*"):
            paths.update(glob.glob(os.path.join(base, pattern)))
    libraries = []
    for path in sorted(paths):
        try:
            libraries.append(ctypes.CDLL(path))
        except OSError:
            continue
    return libraries


# OpenBLAS's openblas_get_corename, as NumPy's wheels (64-bit integers), SciPy's and other builds
# name it; gotoblas_corename, the internal function it calls in builds for many CPUs, last
# (NumPy 2.4's OpenBLAS exports both, NumPy 2.5's only the first).
_CORENAME_FUNCTIONS = ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                       "openblas_get_corename64_", "openblas_get_corename", "gotoblas_corename")


def openblas_kernels():
    """Names of the GEMM kernel sets (``"SkylakeX"``, ``"Haswell"``, ...) that the loaded
    OpenBLAS libraries use, one for each library. NumPy's and SciPy's wheels, built for many
    CPUs, pick them from the CPU when they are loaded, or take ``OPENBLAS_CORETYPE`` when it is
    set; tinyadv never changes them. On a CPU with AVX-512 the AVX2 kernels ("Haswell") are
    about half as fast: on a 2-core AMD Zen 5, a 2048² float32 product ran at 203-224 GFLOP/s
    with them, 390-400 with the AVX-512 ones ("SkylakeX")."""
    names = []
    for library in _openblas_libraries():
        for symbol in _CORENAME_FUNCTIONS:
            corename = getattr(library, symbol, None)
            if corename is not None:
                corename.restype = ctypes.c_char_p
                names.append(corename().decode())
                break
    return names


def openblas_function(name):
    """The address of the function ``name`` in the first loaded OpenBLAS (in the order of their
    paths) that exports it, or None."""
    for library in _openblas_libraries():
        function = getattr(library, name, None)
        if function is not None:
            return ctypes.cast(function, ctypes.c_void_p).value
    return None


def _openblas_setters():
    """``openblas_set_num_threads``-like functions of every OpenBLAS that NumPy/SciPy loaded
    (NumPy's wheels name theirs ``scipy_openblas_set_num_threads64_``, SciPy's, with 32-bit
    integers, ``scipy_openblas_set_num_threads``)."""
    setters = []
    for library in _openblas_libraries():
        for symbol in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                       "openblas_set_num_threads64_", "openblas_set_num_threads"):
            setter = getattr(library, symbol, None)
            getter = getattr(library, symbol.replace("set_num_threads", "get_num_threads"), None)
            if setter is not None and getter is not None:
                setters.append((setter, getter))
                break
    return setters


M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters


def keep_freed_memory():
    """Ask glibc's malloc to reuse freed blocks instead of returning them to the kernel (see
    the module docstring); returns whether it was applied (False when not on glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library by that name, or no mallopt
        return False
    applied = True
    for parameter, value in ((M_MMAP_THRESHOLD, 64 << 20), (M_TRIM_THRESHOLD, 256 << 20),
                             (M_TOP_PAD, 64 << 20)):
        applied &= mallopt(parameter, value) == 1
    return applied


_blas = {"setters": None, "modules": 0}


def _loaded_setters():
    """The setters of every OpenBLAS loaded now. Looking costs about 1 ms (the process's memory
    map), so they are looked for again only after an import: a new module is how another
    OpenBLAS comes in (SciPy's linear algebra brings its own)."""
    if _blas["setters"] is None:  # the first time: tune malloc, once
        keep_freed_memory()
    if _blas["setters"] is None or _blas["modules"] != len(sys.modules):
        _blas["setters"], _blas["modules"] = _openblas_setters(), len(sys.modules)
    return _blas["setters"]


_blas_blocks = {"open": [], "saved": None}  # the blocks of blas_threads open now, in any thread
_blas_lock = threading.Lock()


@contextlib.contextmanager
def blas_threads(n):
    """Within the block, every OpenBLAS loaded (NumPy's, and SciPy's own) uses ``n`` threads; a
    no-op when OpenBLAS is not found. Refuses n < 1 (OpenBLAS would take 0 or a negative count
    for all cores) and non-integers.

    OpenBLAS's count is one setting of the whole process, while blocks may be open in several
    Python threads at once (a model used from two threads). The setting the user had is saved
    when the first block opens and put back when the last one closes; a block that closes
    while others are open puts back the ``n`` of the most recently opened of them (a block
    nested in the same thread gets its enclosing block's ``n`` back). Each block restoring what
    it found instead left the process at 1 thread for good whenever two blocks overlapped
    without nesting (the second one found the first's 1)."""
    # (OpenBLAS caps it lower, and a C int would wrap: any count above 2**16, however large)
    n = min(check_positive_int(n, "n", maximum=math.inf), 1 << 16)
    block = [n]  # (told apart from the other blocks by identity)
    with _blas_lock:
        setters = _loaded_setters()
        if not _blas_blocks["open"] and _blas_blocks["saved"] is None:
            _blas_blocks["saved"] = [(setter, getter()) for setter, getter in setters]
        _blas_blocks["open"].append(block)
        for setter, _ in setters:
            setter(n)
    try:
        yield
    finally:
        with _blas_lock:
            blocks = _blas_blocks["open"]
            for index, other in enumerate(blocks):
                if other is block:
                    del blocks[index]
                    break
            if blocks:
                for setter, _ in setters:
                    setter(blocks[-1][0])
            elif _blas_blocks["saved"] is not None:
                for setter, value in _blas_blocks["saved"]:
                    setter(value)
                _blas_blocks["saved"] = None


def blas_on_one_thread():
    """Whether a :func:`blas_threads` block has OpenBLAS on one thread at this moment, as in the
    chunks that ``map_chunks`` runs (all but the one chunk of a batch that must run whole): the
    count set by the most recently opened block, the one in force. Outside every block, False
    (BLAS as the user configured it; not asked of OpenBLAS, so that the answer does not change
    with the libraries a call happens to load)."""
    last = _blas_blocks["open"][-1:]  # (a slice: another thread may close its block meanwhile)
    return bool(last) and last[0][0] == 1


def chunk_slices(n, chunk_size):
    """Cut range(n) into consecutive slices of ``chunk_size`` (the last may be shorter).
    Refuses n < 0 and chunk_size < 1 (0 is taken for an empty range: one empty slice)."""
    n = check_positive_int(n, "n", minimum=0)
    chunk_size = max(1, check_positive_int(chunk_size, "chunk_size", minimum=1 if n else 0))
    return [slice(start, min(start + chunk_size, n)) for start in range(0, max(n, 1), chunk_size)]


def row_chunks(n, row_bytes, chunk_bytes=1 << 20):
    """Slices of range(n) holding about ``chunk_bytes`` of rows of ``row_bytes`` each: the chunks
    of an elementwise pass over a batch (an attack's step), so that ``map_chunks`` runs them on
    the threads with a chunk's rows in the core's cache. Each value's arithmetic is the same on
    any thread, so the result is too. (A convolution also forms its im2col rows in such blocks
    of images, within a chunk: ``kernels.rows_product``, which counts both sizes in values
    rather than bytes; only their ratio matters.) Refuses n < 0, row_bytes < 0, chunk_bytes < 1."""
    row_bytes = check_positive_int(row_bytes, "row_bytes", minimum=0)
    chunk_bytes = check_positive_int(chunk_bytes, "chunk_bytes")
    return chunk_slices(n, max(1, chunk_bytes // max(row_bytes, 1)))


def map_chunks(work, slices, *, small=False):
    """``[work(s) for s in slices]``, in the order of ``slices`` (any iterable; a ``work`` that
    is not callable or a ``small`` that is not a bool is refused with TypeError).

    Several chunks run on ``get_num_threads()`` threads with BLAS at one thread each: the
    calling thread and ``get_num_threads() - 1`` helpers of a pool take the chunks in order,
    one at a time, until none is left. A single chunk runs on the calling thread, with BLAS at
    ``get_num_threads()`` threads unless the caller says it is ``small``: after a
    multi-threaded product OpenBLAS's idle threads keep spinning for a while (about 0.1 s) and
    take a core from the chunks that run next. Here a forward pass of one image with BLAS on 2
    threads made the next gradient of 512 images 28 ms (12%) slower. With more than one chunk
    the numbers do not depend on the thread count.

    The calling thread works instead of waiting: it starts the first chunk at once, with no
    chunk handed to the pool one by one, and a call whose last chunk it runs returns without
    waking from a sleep (2 cores, float32, fresh processes taking turns, 10 pairs: inference of
    512 images 1.04 times as fast as with the caller asleep until the pool's threads had run
    every chunk, the input gradient 1.03, a training step of 128 1.04).

    A chunk that raises stops the call as in the loop: the chunks not yet started never
    start, the ones running on other threads end before the exception reaches the caller, and
    the exception raised is that of the first chunk (in the order of ``slices``) that raised.

    Called again from inside a chunk (a loss that runs the model again on a batch, say), it
    runs its slices right there, one after the other: the cores are busy with the outer
    chunks already, and waiting for the pool from one of its own threads could wait forever.
    """
    if not callable(work):
        raise TypeError(f"work must be callable, got {type(work).__name__}")
    if not isinstance(slices, (list, tuple)):
        if not hasattr(slices, "__iter__"):
            raise TypeError(f"slices must be a list of chunks, got {type(slices).__name__}")
        slices = list(slices)  # (a generator has no len: the threads' branch needs one)
    small = check_bool(small, "small")
    threads = _state["threads"]
    if getattr(_in_chunk, "running", False):
        return [work(s) for s in slices]
    if threads == 1 or len(slices) == 1:
        with blas_threads(1 if small else threads):
            return [work(s) for s in slices]
    results = [None] * len(slices)
    order = iter(range(len(slices)))
    # Each chunk to one thread: the lock, not the GIL, makes next() one step (on a free-threaded
    # Python, 3.13t and later, two threads' next() on one iterator may return the same item).
    taking = threading.Lock()
    raised = []  # (index, exception) of the chunks that raised

    def take_chunks():
        """Run the next chunk not yet taken, until none is left or one has raised."""
        _in_chunk.running = True
        try:
            while not raised:
                with taking:
                    index = next(order, None)
                if index is None:
                    return
                try:
                    results[index] = work(slices[index])
                except BaseException as error:  # (KeyboardInterrupt too: the others stop)
                    raised.append((index, error))
                    return
        finally:
            _in_chunk.running = False

    # (the cores kept awake where they halt at once: one spinner a core, however many threads)
    with blas_threads(1), cores_awake(min(threads, cores())):
        with _lock:  # (set_num_threads in another thread shuts the pool down under it)
            if _state["pool"] is None:
                _state["pool"] = ThreadPoolExecutor(max(_state["threads"] - 1, 1),
                                                    thread_name_prefix="tinyadv")
            helpers = [_state["pool"].submit(take_chunks)
                       for _ in range(min(threads, len(slices)) - 1)]
        try:
            take_chunks()
        except BaseException as error:  # (outside a chunk: an interrupt between two of them)
            raised.append((len(slices), error))
            raise
        finally:  # the helpers end their chunks before the caller goes on
            wait(helpers)
    if raised:
        raise min(raised, key=lambda entry: entry[0])[1]
    return results
