"""Chunks on threads change the speed, never the numbers."""

import copy
import ctypes
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from unittest import mock

import numpy as np
import pytest

import tinyadv as ta
from tinyadv import winograd
from tinyadv.layers import Conv2D
from tinyadv.layers import conv as conv_module
from tinyadv.threads import blas_threads, map_chunks, set_num_threads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_are_bit_identical_for_one_and_two_threads(restore_threads, dtype):
    rng = np.random.default_rng(0)
    x = rng.random((70, 3, 32, 32)).astype(dtype)
    y = rng.integers(0, 10, 70)
    g = rng.normal(size=(70, 10)).astype(dtype)
    runs = []
    for threads in (1, 2):
        set_num_threads(threads)
        model = ta.cleverhans_cnn(nf=8, seed=0, dtype=dtype)
        logits, gradient = model.logits(x), model.input_gradient(x, g)
        ta.train_step(model, ta.SGD(model.parameters(), lr=0.1, momentum=0.9), x, y)
        runs.append((logits, gradient, model.state_dict()["conv1.weight"]))
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)


def test_chunked_training_step_equals_one_chunk():
    """Summing parameter gradients over chunks gives the whole batch's gradient."""
    rng = np.random.default_rng(1)
    x, y = rng.random((10, 1, 28, 28)), rng.integers(0, 10, 10)
    grads = []
    for chunk_size in (10, 3):
        model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, seed=0, dtype=np.float64)
        model.chunk_size = chunk_size
        logits, caches = model.forward(x)
        model.zero_grad()
        model.backward(ta.cross_entropy(logits, y)[1], caches)
        grads.append([p.grad.copy() for p in model.parameters()])
    for whole, chunked in zip(*grads):
        np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("grad_dtype", [np.float32, np.float64])
def test_chunk_gradients_handed_over_in_any_order_add_up_as_one_after_the_other(grad_dtype):
    """``_GradientSum`` takes the chunks' gradients in whatever order the threads finish them
    (here shuffled, from four threads at once) and adds into p.grad what adding them into a
    zeroed p.grad one after the other in chunk order gives, bit for bit, float64 gradients
    into float32 parameters included; zeros of either sign too."""
    from tinyadv.models import _GradientSum
    rng = np.random.default_rng(2)
    model = ta.mlp([5, 4, 3], seed=0, dtype=np.float32)
    chunks = []
    for _ in range(9):
        chunk = []
        for _, layer in model.layers:
            grads = {}
            for name, p in layer.params.items():
                g = (rng.normal(size=p.data.shape) * 10.0 ** rng.integers(-8, 8, p.data.shape))
                g[rng.random(p.data.shape) < 0.2] = -0.0
                grads[name] = g.astype(grad_dtype)
            chunk.append(grads)
        chunks.append(chunk)
    expected = [np.zeros_like(p.grad) for p in model.parameters()]
    for chunk in chunks:
        for e, g in zip(expected, [g for grads in chunk for g in grads.values()]):
            e += g
    for _ in range(5):
        model.zero_grad()
        total = _GradientSum(model)
        order = list(rng.permutation(len(chunks)))
        threads = [threading.Thread(target=lambda: [total.add(i, chunks[i]) for i in iter(
            lambda: order.pop() if order else None, None)]) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total.into_parameters()
        for p, e in zip(model.parameters(), expected):
            assert p.grad.dtype == np.float32
            np.testing.assert_array_equal(p.grad, e)
            assert not np.signbit(p.grad[p.grad == 0]).any()


def test_a_chunk_that_raises_leaves_the_parameter_gradients_as_they_were(restore_threads):
    """Chunks summed before one raised reach no Parameter.grad: the call changes none."""
    set_num_threads(2)
    rng = np.random.default_rng(3)
    model = ta.cleverhans_cnn(nf=4, seed=0, dtype=np.float64)
    model.chunk_size = 5
    x = rng.random((20, 3, 32, 32))
    for p in model.parameters():
        p.grad[...] = rng.normal(size=p.grad.shape)
    before = [p.grad.copy() for p in model.parameters()]

    def grad_fn(logits, rows):
        if rows.start == 15:
            raise RuntimeError("the last chunk fails")
        return np.ones_like(logits)

    with pytest.raises(RuntimeError, match="the last chunk fails"):
        model.forward_backward(x, grad_fn)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.grad, b)


def _count_calls(monkeypatch, module, name):
    """Record the shape of the weight given to ``module.name`` at every call."""
    calls = []
    function = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *args: calls.append(args[0].shape) or function(*args))
    return calls


def _count_filter_transforms(monkeypatch):
    return _count_calls(monkeypatch, winograd, "filter_transform")


@pytest.mark.parametrize("threads", [1, 2])
def test_work_on_the_weights_alone_is_done_once_per_batch_with_the_same_numbers(
        restore_threads, monkeypatch, threads):
    """Winograd's transformed filters (conv2) and their transpose for the input gradient, and the
    weight in im2col's row order (conv1, conv3) are computed once per call of three chunks,
    and the results are the same bits as when every chunk computes them."""
    set_num_threads(threads)
    transforms = _count_filter_transforms(monkeypatch)
    transposes = _count_calls(monkeypatch, winograd, "transposed_filters")
    rows = _count_calls(monkeypatch, conv_module, "weight_rows")
    rng = np.random.default_rng(2)
    model = ta.cleverhans_cnn(nf=8, seed=0, dtype=np.float64)  # conv2 by Winograd
    model.chunk_size = 4
    x, g = rng.random((10, 3, 32, 32)), rng.normal(size=(10, 10))
    held = model.logits(x), model.input_gradient(x, g)
    assert transforms == [(16, 8, 6, 6)] * 2  # conv2's weights, once per call
    assert transposes == [(5, 5, 32, 16)]  # and Uᵀ from its U, once, for the input gradient
    assert sorted(rows) == sorted([(8, 3, 8, 8), (16, 16, 5, 5)] * 2)  # conv1's and conv3's
    assert all(getattr(layer, "_held", None) is None for _, layer in model.layers)

    for calls in (transforms, transposes, rows):
        calls.clear()
    monkeypatch.setattr(Conv2D, "hold_weights", lambda self: None)  # every chunk computes them
    every_chunk = model.logits(x), model.input_gradient(x, g)
    assert len(transforms) == 6 and len(transposes) == 3 and len(rows) == 12
    for first, second in zip(held, every_chunk):
        np.testing.assert_array_equal(first, second)


def test_a_binarized_layer_computes_from_its_new_sign_in_every_chunk(restore_threads,
                                                                      monkeypatch):
    """sign(W) is a new array in every chunk: what comes from it is computed there and not
    kept (nothing piles up over the chunks), with the numbers of a model that holds nothing."""
    set_num_threads(2)
    transforms = _count_filter_transforms(monkeypatch)
    kept = []
    release = Conv2D.release_weights
    monkeypatch.setattr(Conv2D, "release_weights",
                        lambda self: kept.append(len(self._held[1])) or release(self))
    rng = np.random.default_rng(5)
    model = ta.cleverhans_cnn(nf=8, binary="binary", seed=0, dtype=np.float64).eval()
    model.chunk_size = 4
    x, g = rng.random((10, 3, 32, 32)), rng.normal(size=(10, 10))
    held = model.logits(x), model.input_gradient(x, g)
    assert len(transforms) == 6  # conv2's sign(W), once in each of three chunks, twice
    assert kept == [2, 0, 0] * 2  # conv1 (full precision) keeps its rows and their transpose;
    # conv2 and conv3 nothing
    monkeypatch.setattr(Conv2D, "hold_weights", lambda self: None)
    monkeypatch.setattr(Conv2D, "release_weights", release)
    for first, second in zip(held, (model.logits(x), model.input_gradient(x, g))):
        np.testing.assert_array_equal(first, second)


def test_weights_changed_in_place_between_calls_are_transformed_again(restore_threads):
    x = np.random.default_rng(3).random((10, 3, 32, 32))
    model = ta.cleverhans_cnn(nf=8, seed=0, dtype=np.float64)
    model.chunk_size = 4
    before = model.logits(x)
    model["conv2"].params["weight"].data *= -0.5  # what an optimizer does: in place
    after = model.logits(x)
    fresh = ta.cleverhans_cnn(nf=8, seed=0, dtype=np.float64)
    fresh.chunk_size = 4
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(after, fresh.logits(x))
    assert not np.allclose(after, before)


@pytest.mark.parametrize("threads", [1, 2])
def test_an_evaluating_model_keeps_its_weight_forms_from_call_to_call(restore_threads,
                                                                      monkeypatch, threads):
    """In evaluation mode U, Uᵀ and the weight rows are computed once over many calls (an
    attack's), with the numbers of a model that keeps nothing; a weight changed in place (one
    bit) or replaced is transformed again, and a model back in training mode keeps nothing."""
    set_num_threads(threads)
    transforms = _count_filter_transforms(monkeypatch)
    transposes = _count_calls(monkeypatch, winograd, "transposed_filters")
    rows = _count_calls(monkeypatch, conv_module, "weight_rows")
    rng = np.random.default_rng(4)
    model = ta.cleverhans_cnn(nf=8, seed=0, dtype=np.float64).eval()
    model.chunk_size = 4
    x, g = rng.random((10, 3, 32, 32)), rng.normal(size=(10, 10))

    def calls():
        return [model.logits(x), model.input_gradient(x, g), model.logits(x[:3]),
                model.input_gradient(x, g)]

    kept = calls()
    assert transforms == [(16, 8, 6, 6)] and transposes == [(5, 5, 32, 16)]
    assert sorted(rows) == sorted([(8, 3, 8, 8), (16, 16, 5, 5)])
    with monkeypatch.context() as patch:  # every chunk computes them
        patch.setattr(Conv2D, "hold_weights", lambda self: None)
        for first, second in zip(kept, calls()):
            np.testing.assert_array_equal(first, second)

    weight = model["conv2"].params["weight"].data
    weight.view(np.uint64)[0, 0, 0, 0] ^= 1  # the last bit of one weight, in place
    fresh = ta.cleverhans_cnn(nf=8, seed=0, dtype=np.float64).eval()
    fresh.chunk_size = 4
    fresh.load_state_dict(model.state_dict())
    transforms.clear()
    np.testing.assert_array_equal(model.logits(x), fresh.logits(x))
    assert len(transforms) == 2  # the model's conv2 (changed) and the fresh one's
    model["conv2"].params["weight"].data = weight.copy()  # the same bytes, another array
    transforms.clear()
    model.logits(x)
    assert len(transforms) == 1

    copied = copy.deepcopy(model)  # its kept forms come under the original's ids: dropped
    transforms.clear()
    np.testing.assert_array_equal(copied.logits(x), model.logits(x))
    copied.logits(x)
    assert len(transforms) == 1 and len(copied["conv2"]._kept[2]) == 1  # (U, no stale entry)

    model.train()
    transforms.clear()
    model.logits(x), model.logits(x)
    assert len(transforms) == 2  # once per call
    assert all(layer._kept is None for _, layer in model.layers if isinstance(layer, Conv2D))


def test_a_model_called_again_from_inside_a_chunk_keeps_its_weights_held(restore_threads,
                                                                        monkeypatch):
    set_num_threads(2)
    calls = _count_filter_transforms(monkeypatch)
    rng = np.random.default_rng(4)
    model = ta.cleverhans_cnn(nf=8, seed=0, dtype=np.float64)
    model.chunk_size = 4
    x, g = rng.random((10, 3, 32, 32)), rng.normal(size=(10, 10))

    def grad_fn(logits, rows):  # a loss that runs the model again, inside the chunk
        return g[rows] + 0 * model.logits(x[rows])

    logits, dx = model.logits_and_input_gradient(x, grad_fn)
    assert len(calls) == 1 and model._holds == 0
    assert model["conv2"]._held is None
    np.testing.assert_array_equal(dx, model.input_gradient(x, g))


NESTED = """
import numpy as np, tinyadv as ta
from tinyadv.threads import map_chunks, set_num_threads
set_num_threads(2)
inner = lambda s: list(range(s.start, s.stop))
outer = lambda s: map_chunks(inner, [slice(i, i + 1) for i in range(s.start, s.stop)])
assert map_chunks(outer, [slice(0, 2), slice(2, 4), slice(4, 6)]) == [
    [[0], [1]], [[2], [3]], [[4], [5]]]
rng = np.random.default_rng(5)
model = ta.cleverhans_cnn(nf=8, seed=0, dtype=np.float64)
model.chunk_size = 4
x, g = rng.random((10, 3, 32, 32)), rng.normal(size=(10, 10))
def grad_fn(logits, rows):  # runs the model again on the whole batch: three chunks
    return g[rows] + 0 * model.logits(x)[rows]
logits, dx = model.logits_and_input_gradient(x, grad_fn)
np.testing.assert_array_equal(dx, model.input_gradient(x, g))
np.testing.assert_array_equal(logits, model.logits(x))
try:
    map_chunks(lambda s: set_num_threads(1), [slice(0, 1), slice(1, 2)])
except RuntimeError as error:
    assert "inside a chunk" in str(error)
else:
    raise AssertionError("set_num_threads inside a chunk did not raise")
print("done")
"""


def test_a_call_of_several_chunks_from_inside_a_chunk_runs_there_instead_of_waiting():
    """A chunk on a pool thread that runs the model again on a batch of several chunks (or any
    map_chunks) would wait for pool threads that are all busy waiting in turn: it must run its
    chunks itself. In a fresh process with a time limit, so that a hang fails the test."""
    finished = subprocess.run([sys.executable, "-c", NESTED], capture_output=True, text=True,
                              timeout=180)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "done"


FORKED = """
import os, numpy as np, tinyadv as ta
ta.set_num_threads(2)
model = ta.cleverhans_cnn(nf=8, seed=0)
x = np.random.default_rng(0).random((100, 3, 32, 32)).astype(np.float32)
before = model.logits(x)  # the parent's pool exists now
child = os.fork()
if child == 0:  # the child's chunks need threads of its own
    os._exit(0 if np.array_equal(model.logits(x), before) else 3)
_, status = os.waitpid(child, 0)
np.testing.assert_array_equal(model.logits(x), before)  # the parent's pool still works
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is a POSIX call")
def test_a_forked_child_runs_its_chunks_on_threads_of_its_own():
    """multiprocessing forks on Linux by default; a child that kept the parent's pool object
    (whose threads it does not have) waited forever for its first chunked call."""
    finished = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True,
                              timeout=180)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "0"  # the child's exit code: same logits


FORKED_DURING_A_CALL = """
import os, threading, time, numpy as np, tinyadv as ta
from tinyadv.layers.conv import conv2d_forward_naive
ta.set_num_threads(2)
model = ta.Sequential(ta.Conv2D(3, 4, 3, seed=0, dtype=np.float64), ta.Flatten(), chunk_size=2)
conv = model.layers[0][1]
x = np.random.default_rng(0).normal(size=(8, 3, 6, 6))
started = threading.Event()
def slow(out, rows):
    started.set()
    time.sleep(0.5)
    return np.zeros_like(out)
running = threading.Thread(target=model.forward_backward, args=(x, slow))
running.start()
started.wait()
child = os.fork()  # while the other thread's call holds the weights
if child == 0:
    conv.params["weight"].data *= 2.0  # in place: the same array
    expected = conv2d_forward_naive(x, conv.params["weight"].data, conv.params["bias"].data)
    same = np.allclose(model.logits(x), expected.reshape(8, -1), rtol=1e-12, atol=1e-12)
    os._exit(0 if same and model._holds == 0 and conv._held is None else 3)
_, status = os.waitpid(child, 0)
running.join()
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is a POSIX call")
def test_a_child_forked_during_a_call_of_another_thread_does_not_keep_its_held_weights():
    """The child has none of the threads of the parent's running call, which would release the
    weights at its end: it kept them held for ever, and computed with the transformed weights
    of the parent's call after its own weights had changed in place (stale logits)."""
    finished = subprocess.run([sys.executable, "-c", FORKED_DURING_A_CALL], capture_output=True,
                              text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "0"  # the child's exit code: the logits of its weights


class BatchSizes(ta.Layer):
    """The identity, recording the size of every chunk it is given."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(len(x))
        return x, None


@pytest.mark.parametrize("dtype, chunk_size, expected", [
    (np.float32, None, [32, 32, 6]), (np.float64, None, [32, 32, 6]),
    (np.float64, 25, [25, 25, 20])])
def test_chunks_are_32_images_by_default_in_both_dtypes(restore_threads, dtype, chunk_size,
                                                        expected):
    """70 images on 2 cores: fewer than a float32 chunk of 64 per core, so 32 images a chunk
    (on one core 70 would be enough for 64: the test below covers the core counts)."""
    set_num_threads(1)  # chunks in order, so the recorded sizes are in order
    recorder = BatchSizes()
    model = ta.Sequential(ta.Linear(3, 3, dtype=dtype), recorder, chunk_size=chunk_size)
    with mock.patch.object(ta.models, "cores", lambda: 2):
        model.logits(np.zeros((70, 3), dtype))
    assert recorder.seen == expected


def test_batchnorm_in_training_mode_sees_the_whole_batch():
    model = ta.Sequential(ta.Linear(3, 2, seed=0, dtype=np.float64), ta.BatchNorm(2, dtype=np.float64),
                          chunk_size=2)
    x = np.random.default_rng(0).normal(size=(6, 3))
    out = model.train().logits(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)  # normalised over all 6 rows


def test_batchnorm_in_training_mode_normalises_by_the_whole_batch_statistics(restore_threads):
    """Chunks of 2 rows each have mean 0 after their own normalisation too, so the test above
    cannot tell whole-batch statistics from per-chunk ones: here the output is the whole batch's
    (h − mean(h)) / √(var(h) + eps), and one training pass moves the running statistics once,
    by the whole batch's mean and unbiased variance."""
    set_num_threads(2)
    linear = ta.Linear(3, 2, seed=0, dtype=np.float64)
    model = ta.Sequential(("fc", linear), ("bn", ta.BatchNorm(2, dtype=np.float64)), chunk_size=2)
    x = np.random.default_rng(0).normal(size=(6, 3)) * 3 + 1
    h = x @ linear.params["weight"].data.T + linear.params["bias"].data
    out = model.train().logits(x)
    np.testing.assert_allclose(out, (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + 1e-5),
                               rtol=1e-10, atol=1e-12)
    state = model.state_dict()
    assert state["bn.num_batches_tracked"] == 1
    np.testing.assert_allclose(state["bn.running_mean"], 0.1 * h.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(state["bn.running_var"], 0.9 + 0.1 * h.var(axis=0, ddof=1), rtol=1e-10)


def test_map_chunks_keeps_order(restore_threads):
    set_num_threads(2)
    slices = [slice(i, i + 1) for i in range(50)]
    assert map_chunks(lambda s: s.start, slices) == list(range(50))


def test_map_chunks_runs_every_chunk_once_on_all_the_threads(restore_threads):
    set_num_threads(4)
    runs, threads = [], set()

    def work(s):
        runs.append(s.start)  # (one step: a chunk run twice at once is counted twice)
        threads.add(threading.get_ident())
        time.sleep(0.001)  # (lets go of the GIL: the threads take chunks in turns)
        return s.start

    assert map_chunks(work, [slice(i, i + 1) for i in range(200)]) == list(range(200))
    assert sorted(runs) == list(range(200)) and len(threads) == 4


def test_blas_on_one_thread_tells_the_count_of_the_block_in_force(restore_threads):
    """False outside every block (the user's setting, whatever it is), else the count of the
    most recently opened block, the one in force; inside map_chunks' chunks, True."""
    from tinyadv.threads import blas_on_one_thread
    assert not blas_on_one_thread()
    with blas_threads(1):
        assert blas_on_one_thread()
        with blas_threads(2):
            assert not blas_on_one_thread()
        assert blas_on_one_thread()
    with blas_threads(2):
        assert not blas_on_one_thread()
    assert not blas_on_one_thread()
    set_num_threads(2)
    assert map_chunks(lambda s: blas_on_one_thread(), [slice(0, 1), slice(1, 2)]) == [True, True]
    assert map_chunks(lambda s: blas_on_one_thread(), [slice(0, 1)], small=True) == [True]
    assert map_chunks(lambda s: blas_on_one_thread(), [slice(0, 1)]) == [False]


def test_blas_threads_restores_the_previous_setting():
    from tinyadv.threads import _openblas_setters
    setters = _openblas_setters()
    before = [getter() for _, getter in setters]
    with blas_threads(1):
        assert all(getter() == 1 for _, getter in setters)
    assert [getter() for _, getter in setters] == before


SCIPY_AFTER_FIRST_CALL = """
from tinyadv import threads
with threads.blas_threads(1):  # the first call: NumPy's OpenBLAS only
    pass
import scipy.linalg  # SciPy's wheels bring an OpenBLAS of their own (32-bit integers)
libraries = threads._openblas_libraries()
with threads.blas_threads(1):
    print(len(libraries), len(threads._openblas_setters()),
          [getter() for _, getter in threads._blas["setters"]])
"""


def test_blas_threads_sets_scipys_own_openblas_too():
    """SciPy's OpenBLAS names its setter otherwise than NumPy's, and comes in with an import
    after the first call; a SciPy routine run inside a chunk must not start threads."""
    printed = subprocess.run([sys.executable, "-c", SCIPY_AFTER_FIRST_CALL], check=True,
                             capture_output=True, text=True).stdout.split(maxsplit=2)
    libraries, setters, inside = int(printed[0]), int(printed[1]), printed[2].strip()
    if libraries < 2:
        pytest.skip("SciPy uses NumPy's OpenBLAS, or none, here")
    assert setters == libraries and inside == str([1] * libraries)


def test_openblas_kernels_names_the_kernel_set_that_openblas_uses():
    """In a fresh process OpenBLAS takes OPENBLAS_CORETYPE at load. Nehalem's kernels (SSE4.2)
    run on any x86-64 CPU of the last fifteen years, and every x86-64 build has them."""
    from tinyadv.threads import openblas_kernels
    if not openblas_kernels() or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("needs an OpenBLAS built for many x86-64 CPUs")
    code = "from tinyadv.threads import openblas_kernels; print(openblas_kernels())"
    environment = dict(os.environ, OPENBLAS_CORETYPE="Nehalem")
    printed = subprocess.run([sys.executable, "-c", code], env=environment, check=True,
                             capture_output=True, text=True).stdout
    assert printed.strip() == "['Nehalem']"


class _Corename:
    """A stand-in for a ctypes function of OpenBLAS that returns a core name."""

    def __init__(self, name):
        self.name, self.restype = name, None

    def __call__(self):
        assert self.restype is ctypes.c_char_p  # set before the call, as a char * needs
        return self.name


class _Library:
    def __init__(self, **functions):
        self.__dict__.update({symbol: _Corename(name) for symbol, name in functions.items()})


def test_openblas_kernels_asks_each_library_by_the_name_it_exports(monkeypatch):
    """NumPy 2.5's OpenBLAS exports scipy_openblas_get_corename64_ but no longer
    gotoblas_corename, SciPy's scipy_openblas_get_corename, a plain build openblas_get_corename:
    one name for each library, from the public function where there is one, none for a
    library without any."""
    from tinyadv import threads
    libraries = [
        _Library(scipy_openblas_get_corename64_=b"SkylakeX"),                       # NumPy 2.5
        _Library(gotoblas_corename=b"Zen", scipy_openblas_get_corename64_=b"Zen"),  # NumPy 2.4
        _Library(scipy_openblas_get_corename=b"Haswell"),                           # SciPy
        _Library(openblas_get_corename=b"Nehalem"),
        _Library(gotoblas_corename=b"Sandybridge"),
        _Library(),
    ]
    monkeypatch.setattr(threads, "_openblas_libraries", lambda: libraries)
    assert threads.openblas_kernels() == ["SkylakeX", "Zen", "Haswell", "Nehalem", "Sandybridge"]


def default_threads(environment, cores=None):
    """``get_num_threads()`` of a fresh process with ``environment`` (and, if given, allowed to
    run on ``cores`` only, as under ``taskset``)."""
    pin = f"os.sched_setaffinity(0, {set(cores)!r}); " if cores else ""
    code = f"import os; {pin}import tinyadv; print(tinyadv.get_num_threads())"
    names = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    base = {k: v for k, v in os.environ.items() if k not in names}
    printed = subprocess.run([sys.executable, "-c", code], env=dict(base, **environment),
                             check=True, capture_output=True, text=True).stdout
    return int(printed)


def test_default_thread_count_follows_the_environment_then_the_usable_cores():
    assert default_threads({"NUMBA_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}) == 3
    assert default_threads({"OMP_NUM_THREADS": "5"}) == 5
    assert default_threads({"OPENBLAS_NUM_THREADS": "4"}) == 4
    assert default_threads({"NUMBA_NUM_THREADS": "none", "OMP_NUM_THREADS": "2"}) == 2
    # "²".isdigit() is True but int("²") raises: the import failed on it
    assert default_threads({"OMP_NUM_THREADS": "²", "OPENBLAS_NUM_THREADS": "3"}) == 3
    if hasattr(os, "sched_getaffinity"):
        usable = sorted(os.sched_getaffinity(0))
        assert default_threads({}) == len(usable)
        assert default_threads({}, cores=usable[:1]) == 1  # a taskset of one core
    else:
        assert default_threads({}) == (os.cpu_count() or 1)


def test_set_num_threads_refuses_nonsense(restore_threads):
    for nonsense in (0, -1):
        with pytest.raises(ValueError, match="the number of threads must be >= 1"):
            set_num_threads(nonsense)
    for nonsense in (1.5, "2", True):  # (not an integer: TypeError, as everywhere in tinyadv)
        with pytest.raises(TypeError, match="the number of threads must be an integer"):
            set_num_threads(nonsense)
    set_num_threads(np.int64(1))  # a NumPy integer is an integer
    assert ta.get_num_threads() == 1 and type(ta.get_num_threads()) is int


@pytest.mark.parametrize("chunk_size, error, message", [
    (0, ValueError, "chunk_size must be >= 1"), (-3, ValueError, "chunk_size must be >= 1"),
    (2.5, TypeError, "chunk_size must be an integer"), ("8", TypeError, "chunk_size must be an integer"),
    (True, TypeError, "chunk_size must be an integer")])
def test_chunk_size_refuses_nonsense_when_built_and_when_set(chunk_size, error, message):
    with pytest.raises(error, match=message):
        ta.Sequential(ta.ReLU(), chunk_size=chunk_size)
    model = ta.Sequential(ta.ReLU(), chunk_size=np.int64(3))
    with pytest.raises(error, match=message):
        model.chunk_size = chunk_size
    assert model.chunk_size == 3 and type(model.chunk_size) is int
    model.chunk_size = None
    assert model._chunk_images(512, np.float64) == 32


@pytest.mark.parametrize("machine_cores", [1, 2, 4])
def test_default_chunks_hold_64_float32_images_where_every_core_gets_one(machine_cores):
    """The default chunks (``Sequential``'s ``chunk_size``): 64 float32 images where a batch
    has a chunk of 64 for every core, else 32 images (in float64 always), whatever the thread
    count; a chunk_size set wins."""
    model = ta.Sequential(ta.ReLU())

    def sizes(n, dtype):
        return [part.stop - part.start for part in model._chunks(n, np.dtype(dtype))]

    with mock.patch.object(ta.models, "cores", lambda: machine_cores):
        for threads in (1, 3):
            ta.set_num_threads(threads)
            try:
                enough = 64 * machine_cores  # (the fewest images with a chunk of 64 per core)
                assert sizes(enough, "float32") == [64] * machine_cores
                assert sizes(enough + 30, "float32") == [64] * machine_cores + [30]
                assert sizes(enough - 1, "float32") == [32] * (2 * machine_cores - 1) + [31]
                assert sizes(enough, "float64") == [32] * (2 * machine_cores)
                assert sizes(1, "float32") == sizes(1, "float64") == [1]
                model.chunk_size = 5
                assert sizes(12, "float32") == [5, 5, 2]
                model.chunk_size = None
            finally:
                ta.set_num_threads(ta.threads._default_threads())


def test_cores_counts_the_cores_this_process_may_run_on():
    expected = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count())
    assert ta.threads.cores() == expected >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the page-fault count and mallopt are glibc-on-Linux facts")
def test_repeated_passes_reuse_memory_instead_of_faulting_fresh_pages(restore_threads):
    """With malloc told to keep freed blocks (threads.keep_freed_memory), a repeated inference
    pass reuses the im2col buffers of the previous one. Before that change, logits on 512
    CIFAR-sized images cost about 20,000 minor page faults per call; now it is a handful."""
    set_num_threads(2)
    model = ta.cleverhans_cnn(seed=0).eval()
    x = np.random.default_rng(0).random((256, 3, 32, 32), dtype=np.float32)
    model.logits(x)
    model.logits(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model.logits(x)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 1000


def test_a_small_single_chunk_keeps_blas_to_one_thread(restore_threads):
    """OpenBLAS's idle threads spin after a multi-threaded product and slow the chunks that run
    next, so a batch of at most one chunk runs with BLAS on one thread; a large single chunk
    (BatchNorm in training mode sees the whole batch) still gets every thread."""
    from tinyadv.threads import _openblas_setters
    getters = [getter for _, getter in _openblas_setters()]
    if not getters or (os.cpu_count() or 1) < 2:
        pytest.skip("needs OpenBLAS and two cores")
    set_num_threads(2)
    seen_small = map_chunks(lambda s: [getter() for getter in getters], [slice(0, 1)], small=True)
    seen_large = map_chunks(lambda s: [getter() for getter in getters], [slice(0, 128)])
    assert seen_small[0] == [1] * len(getters) and seen_large[0] == [2] * len(getters)
    model = ta.mlp([4, 3], seed=0)
    calls = []
    model.layers[1][1].forward = lambda x, f=model.layers[1][1].forward: (
        calls.append([getter() for getter in getters]) or f(x))
    model.logits(np.zeros((1, 4), np.float32))
    assert calls == [[1] * len(getters)]


def test_blas_threads_restores_the_previous_setting_not_the_thread_count_and_after_an_error(
        restore_threads):
    """The previous OpenBLAS setting comes back, here 3 (neither the 1 of the block nor
    tinyadv's thread count, 2), also when the block, or a chunk of map_chunks (on the calling
    thread or on the pool), raises."""
    from tinyadv.threads import _openblas_setters
    setters = _openblas_setters()
    if not setters:
        pytest.skip("needs OpenBLAS")
    before = [getter() for _, getter in setters]

    def fail(part):
        raise KeyError("a chunk failed")

    try:
        set_num_threads(2)
        for setter, _ in setters:
            setter(3)
        with blas_threads(1):
            assert all(getter() == 1 for _, getter in setters)
        assert [getter() for _, getter in setters] == [3] * len(setters)
        with pytest.raises(KeyError), blas_threads(1):
            raise KeyError("the block failed")
        assert [getter() for _, getter in setters] == [3] * len(setters)
        for slices in ([slice(0, 1)], [slice(0, 1), slice(1, 2)]):
            with pytest.raises(KeyError, match="a chunk failed"):
                map_chunks(fail, slices, small=True)
            assert [getter() for _, getter in setters] == [3] * len(setters)
    finally:
        for (setter, _), value in zip(setters, before):
            setter(value)


def test_blas_threads_of_two_python_threads_overlapping_put_back_the_users_setting(
        restore_threads):
    """OpenBLAS's count is one setting of the process. Two Python threads each running a
    single small chunk (a model used from two threads): the second block found the first's 1
    and put it back when it closed after the first, leaving the process at 1 thread for good.
    Now the user's setting (here 3) comes back when the last block closes; a block nested in
    the same thread gets its enclosing block's count back."""
    from tinyadv.threads import _openblas_setters
    setters = _openblas_setters()
    if not setters:
        pytest.skip("needs OpenBLAS")
    before = [getter() for _, getter in setters]
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first(part):
        first_in.set()
        assert second_in.wait(10)

    def second(part):
        second_in.set()
        assert first_out.wait(10)
        return [getter() for _, getter in setters]

    try:
        set_num_threads(2)
        for setter, _ in setters:
            setter(3)
        one = threading.Thread(target=map_chunks, args=(first, [0]), kwargs=dict(small=True))
        one.start()
        assert first_in.wait(10)
        seen = []
        two = threading.Thread(target=lambda: seen.extend(map_chunks(second, [0], small=True)))
        two.start()
        one.join(10)
        first_out.set()
        two.join(10)
        assert seen == [[1] * len(setters)]  # (the second block still had its 1 after the first closed)
        assert [getter() for _, getter in setters] == [3] * len(setters)
        with blas_threads(1):
            with blas_threads(2):
                assert all(getter() == 2 for _, getter in setters)
            assert all(getter() == 1 for _, getter in setters)
        assert [getter() for _, getter in setters] == [3] * len(setters)
    finally:
        first_in.set(), second_in.set(), first_out.set()
        for (setter, _), value in zip(setters, before):
            setter(value)


def test_set_num_threads_runs_the_next_chunks_on_that_many_threads(restore_threads):
    """A pool made for another count is replaced: after 2 -> 3 three chunks run at once (each
    waits at a barrier of 3), after 3 -> 2 no more than two threads take the chunks."""
    import threading
    import time
    set_num_threads(2)
    assert map_chunks(lambda s: s.start, [slice(i, i + 1) for i in range(4)]) == [0, 1, 2, 3]
    set_num_threads(3)
    barrier = threading.Barrier(3, timeout=5)
    assert map_chunks(lambda s: barrier.wait() is not None, [slice(i, i + 1) for i in range(3)]) \
        == [True] * 3
    set_num_threads(2)

    def which_thread(part):
        time.sleep(0.005)
        return threading.get_ident()

    idents = map_chunks(which_thread, [slice(i, i + 1) for i in range(30)])
    assert 1 <= len(set(idents)) <= 2


def test_held_weights_are_kept_apart_by_the_other_arguments_of_the_transform():
    """While a layer holds its weights, Winograd's transformed filters are kept per tile size
    m (the transform's other argument): inputs whose outputs take F(3x3, 3x3) (6x6) and
    F(2x2, 3x3) (4x4) within one hold each get their own U, and the results equal the layer's
    without a hold."""
    rng = np.random.default_rng(3)
    layer = Conv2D(2, 3, 3, seed=0, dtype=np.float64)
    layer.method = "winograd"
    inputs = [rng.normal(size=(2, 2, 8, 8)), rng.normal(size=(2, 2, 6, 6))]
    assert [winograd.tile_size(s - 2, s - 2, 3) for s in (8, 6)] == [3, 2]
    free = [layer.forward(x)[0] for x in inputs]
    layer.hold_weights()
    try:
        held = [layer.forward(x)[0] for x in inputs + inputs[::-1]]
    finally:
        layer.release_weights()
    for out, expected in zip(held, free + free[::-1]):
        np.testing.assert_array_equal(out, expected)


def test_a_batch_of_exactly_one_chunk_is_small(restore_threads):
    """"A batch of at most one chunk is small": with chunk_size 4, a batch of 4 images runs its
    one chunk with BLAS on one thread, as a batch of 3 does; a batch of 5 runs two chunks, also
    with BLAS on one thread each (on the pool)."""
    from tinyadv.threads import _openblas_setters
    getters = [getter for _, getter in _openblas_setters()]
    if not getters or (os.cpu_count() or 1) < 2:
        pytest.skip("needs OpenBLAS and two cores")
    set_num_threads(2)
    model = ta.mlp([4, 3], seed=0)
    model.chunk_size = 4
    calls = []
    model.layers[1][1].forward = lambda x, f=model.layers[1][1].forward: (
        calls.append([getter() for getter in getters]) or f(x))
    for n, chunks in ((3, 1), (4, 1), (5, 2)):
        calls.clear()
        model.logits(np.zeros((n, 4), np.float32))
        assert calls == [[1] * len(getters)] * chunks, n


def test_chunk_slices_and_row_chunks_cut_where_documented():
    """chunk_slices: consecutive slices of chunk_size, the last shorter and ending at n, one
    empty slice for n = 0; row_chunks: as many whole rows as fit in chunk_bytes (at least one),
    rows of 0 bytes counted as 1."""
    from tinyadv.threads import chunk_slices, row_chunks
    assert chunk_slices(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert chunk_slices(8, 4) == [slice(0, 4), slice(4, 8)]
    assert chunk_slices(3, 5) == [slice(0, 3)]
    assert chunk_slices(0, 3) == [slice(0, 0)]
    assert row_chunks(10, 300, 1000) == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert row_chunks(10, 250, 1000) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert row_chunks(3, 5000, 1000) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert row_chunks(5, 0, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert row_chunks(4, 1 << 18) == [slice(0, 4)]  # the default: 1 MiB
    assert row_chunks(5, 1 << 18) == [slice(0, 4), slice(4, 5)]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_call_that_raises_in_a_chunk_releases_the_held_weights(restore_threads, threads):
    """A chunk that raises (NaN in its images) still releases the layers' held weights: the
    next call, after the weights changed in place, computes from the new ones."""
    set_num_threads(threads)
    rng = np.random.default_rng(4)
    model = ta.Sequential(Conv2D(2, 3, 3, seed=0, dtype=np.float64), ta.Flatten(), chunk_size=2)
    x = rng.normal(size=(4, 2, 5, 5))
    bad = x.copy()
    bad[3, 0, 0, 0] = np.nan  # in the second chunk
    with pytest.raises(ValueError, match="x contains NaN"):  # (raised in the chunk, not before)
        model.logits(bad)
    assert model._holds == 0
    assert all(getattr(layer, "_held", None) is None for _, layer in model.layers)
    model.layers[0][1].params["weight"].data *= 2.0  # in place: the same array
    expected = conv_module.conv2d_forward_naive(x, model.layers[0][1].params["weight"].data,
                                                model.layers[0][1].params["bias"].data)
    np.testing.assert_allclose(model.logits(x), expected.reshape(4, -1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [2, 3])
def test_a_call_that_raises_in_a_chunk_returns_only_once_no_chunk_runs_any_more(
        restore_threads, threads):
    """Like ``[work(s) for s in slices]``: once the exception reaches the caller, no chunk of
    that call is still running or starts later (the pool's other threads used to go on with
    theirs, calling ``grad_fn`` after the call had raised, on memory the caller owned again)."""
    set_num_threads(threads)
    model = ta.mlp([4, 3, 2], dtype=np.float64)
    model.chunk_size = 1
    x = np.random.default_rng(0).random((8, 4))
    calls, lock = [], threading.Lock()

    def grad_fn(out, rows):
        if rows.start == 0:
            raise RuntimeError("a bad chunk")
        time.sleep(0.05)
        with lock:
            calls.append(time.monotonic())
        return np.ones_like(out)

    model.zero_grad()
    with pytest.raises(RuntimeError, match="a bad chunk"):
        model.forward_backward(x, grad_fn)
    raised = time.monotonic()
    time.sleep(0.3)
    assert all(t <= raised for t in calls)
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_the_calling_thread_runs_chunks_too(restore_threads):
    """Two chunks on two threads, each waiting at a barrier of two: one runs on the calling
    thread, the other on the pool's one helper."""
    set_num_threads(2)
    barrier = threading.Barrier(2, timeout=5)
    idents = map_chunks(lambda part: barrier.wait() is not None and threading.get_ident(),
                        [slice(0, 1), slice(1, 2)])
    assert len(set(idents)) == 2 and threading.get_ident() in idents


def test_of_two_chunks_that_raise_the_first_ones_exception_reaches_the_caller(restore_threads):
    """As in the loop: chunk 0 raises after chunk 1 has raised (both were running), and the
    caller gets chunk 0's exception."""
    set_num_threads(2)
    barrier = threading.Barrier(2, timeout=5)

    def work(part):
        barrier.wait()
        if part.start == 0:
            time.sleep(0.05)
        raise ValueError(f"chunk {part.start}")

    with pytest.raises(ValueError, match="chunk 0"):
        map_chunks(work, [slice(0, 1), slice(1, 2), slice(2, 3)])


def test_set_num_threads_from_another_thread_never_fails_a_running_call(restore_threads):
    """The pool was taken under the lock and given the chunks after it: a set_num_threads of
    another thread in between shut it down, and the call raised 'cannot schedule new futures
    after shutdown'."""
    set_num_threads(2)
    errors, done = [], threading.Event()

    def calls():
        try:
            for _ in range(200):
                assert map_chunks(lambda part: part, list(range(6))) == list(range(6))
        except Exception as error:  # (any failure is the finding)
            errors.append(error)
        finally:
            done.set()

    caller = threading.Thread(target=calls)
    caller.start()
    count = 0
    while not done.is_set():
        set_num_threads(2 + count % 2)
        count += 1
    caller.join()
    assert errors == []


def test_a_pool_made_after_another_thread_changed_the_count_has_the_new_count(monkeypatch,
                                                                             restore_threads):
    """set_num_threads(3) in another thread can end between map_chunks reading the count (2) and
    taking the lock to make the pool: the pool must have the count of that moment (3), not the
    one read before; a pool of 2 would stay, under a setting of 3, until the next change."""
    import tinyadv.threads as threads
    ta.set_num_threads(2)
    lock = threads._lock

    class ChangedMeanwhile:
        def __enter__(self):
            monkeypatch.setattr(threads, "_lock", lock)  # (once: set_num_threads takes it too)
            ta.set_num_threads(3)  # what the other thread did, just before this call's turn
            return lock.__enter__()

        def __exit__(self, *exc):
            return lock.__exit__(*exc)

    monkeypatch.setattr(threads, "_lock", ChangedMeanwhile())
    assert threads.map_chunks(lambda s: s.start, [slice(0, 1), slice(1, 2)]) == [0, 1]
    # (the calling thread runs chunks too: the pool has the other threads of that count)
    assert threads._state["pool"]._max_workers == threads.get_num_threads() - 1 == 2


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_training_step_while_another_thread_evaluates_computes_with_its_new_weights(
        restore_threads, mode):
    """While another thread's call holds the model's weights (stopped after its convolutions,
    their forms of the weights kept), two training steps in this thread give the weights of
    the same steps alone: the steps' forward passes took the evaluation's forms of the old
    weights (Winograd's U, the weight rows) before the forms became each call's own."""
    set_num_threads(2)
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 40)
    alone, model = (ta.cleverhans_cnn(nf=8, seed=0).train(mode == "train") for _ in range(2))
    for steps_of in (alone, model):
        steps_of.chunk_size = 16
    optimizer = ta.SGD(alone.parameters(), lr=0.5)
    for _ in range(2):
        ta.train_step(alone, optimizer, x, y)

    inside, finish = threading.Event(), threading.Event()
    flatten = model["flatten"]

    def paused_forward(x_in, forward=flatten.forward):
        if threading.current_thread().name == "evaluator":
            inside.set()
            finish.wait(10)
        return forward(x_in)

    flatten.forward = paused_forward
    evaluator = threading.Thread(target=model.logits, args=(x[:8],), name="evaluator")
    evaluator.start()
    try:
        assert inside.wait(10)
        optimizer = ta.SGD(model.parameters(), lr=0.5)
        for _ in range(2):
            ta.train_step(model, optimizer, x, y)
    finally:
        finish.set()
        evaluator.join(10)
    for (name, ours), (_, theirs) in zip(model.named_parameters(), alone.named_parameters()):
        np.testing.assert_array_equal(ours.data, theirs.data, err_msg=name)
