"""Benchmark: images per second of the talk's CNN (184,832 weights), tinyadv next to PyTorch.

Measures, in one run and at the same thread count, the workloads users wait for:

- training step, batch 128: forward + backward + SGD with momentum;
- inference, batch 512: logits;
- attack step, batch 512: forward + input gradient (what FGSM and every PGD step cost);
- FGSM, batch 512: the whole attack, ε = 8/255, against given labels;
- PGD-10, batch 512: L∞, ε = 8/255, step 2/255, 10 steps, random start (tinyadv's ``pgd`` also
  keeps the best iterate per sample, which costs one more forward pass in all, for the last
  iterate, than the plain loop that PyTorch users write and PyTorch runs here);

in float32 and float64, reporting the median over ``--repeats`` rounds after a warm-up, and the
ratio tinyadv / PyTorch when PyTorch is installed (it is optional: ``pip install torch``). In
each round tinyadv and PyTorch run one after the other, so that load from other jobs falls on
both; the ratio is taken in each round, and the median of those is printed with the lowest
and highest. Machines are noisy: compare the ratios of one run, not figures across runs.

It also reports, each in a fresh process, the import time and Numba's start: the first
training step (SGD's, then an Adam step: ``fit``'s default optimizer), input gradient, FGSM and
CW-L2 steps, an FGSM step in evaluation mode and logits in two chunks (every compiled kernel,
and the spinners of ``tinyadv/awake.py`` where they run) with a cold cache
(compiling: the median of three processes, each with a fresh cache, with the lowest and
highest) and a warm one (loading: the median of five processes, with the lowest and highest,
as one process's time moves by 10% from run to run; where those go: ``bench_start.py``). And
the peak memory that a training step allocates (tracemalloc, batch 128, float32), and the
images/s of CW-L2 and DeepFool on batch 500 (``--attacks``), next to the same two algorithms
written in PyTorch (``torch_cw_l2``, ``torch_deepfool``: batched, on the same weights; peers'
versions are slower still: torchattacks' DeepFool steps through the batch one image at a time).

The first lines name the CPU (its model, whether it has AVX-512, its L2 cache per core) and the
OpenBLAS kernels in use. OpenBLAS picks them for the CPU unless ``OPENBLAS_CORETYPE`` forces a
set: on a CPU with AVX-512, a forced ``Haswell`` (AVX2) halves tinyadv's GEMM rates while
PyTorch, which does not read that variable, keeps AVX-512. In a KVM guest they also say how long
an idle core polls before it halts (``halt_polling``): where it does not, tinyadv's threads wake
late. The last lines set each figure that has a target (README, Speed) against it: met, not met,
or not measured in this run.

    python scripts/bench_cnn.py
    python scripts/bench_cnn.py --repeats 7 --dtypes float32
    python scripts/bench_cnn.py --chunk-size 64 --no-compile   # try another chunk size
    python scripts/bench_cnn.py --torch-channels-last          # PyTorch tuned: channels-last
    NUMBA_NUM_THREADS=1 python scripts/bench_cnn.py --no-compile   # both on one thread

PyTorch runs by default on the contiguous NCHW tensors most users have; its CPU performance
guide recommends the channels-last memory format for convolutions (``--torch-channels-last``:
model and inputs converted once, outside the timed work), which changes its speed by workload
and machine: scripts/BENCHMARKS.md has runs of both.
"""

import argparse
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

import tinyadv as ta
from tinyadv.cli import nonnegative_int, positive_int
from tinyadv.awake import HALT_POLL
from tinyadv.threads import blas_threads, openblas_kernels

EPS, ALPHA = 8 / 255, 2 / 255


def round_seconds(*works, repeats):
    """Wall time of each of ``works`` in each of ``repeats`` rounds, after a warm-up (and Numba
    compilation): one array of ``repeats`` seconds per work. The works take turns within each
    round, so that a burst of load from another job on the machine slows both sides of a
    comparison alike. Each timed run follows an untimed run of the same work, as in a training
    loop or an attack's steps. Timed right after the other library's turn, a run measured the
    switch as well: tinyadv's training step came out about 25% slower than in a run of its
    own, PyTorch's 15-25%, and a 0.2 s pause before each timed run made both slower still
    (caches and thread pools start cold)."""
    for work in works:
        work()
    times = [[] for _ in works]
    for _ in range(repeats):
        for work, seconds in zip(works, times):
            work()
            seconds.append(timed(work))
    return [np.array(seconds) for seconds in times]


def layer_flops(model, image_shape=(3, 32, 32)):
    """FLOPs of each matrix product of a forward pass of one image. A convolution or linear
    layer with weight (F, ...) that makes an output of ``out.size`` numbers does
    ``out.size · weight.size / F`` multiply-adds; the backward pass has two products of the
    same size, one for the weight gradient and one for the input gradient."""
    x = np.zeros((1, *image_shape), model.dtype)
    flops = []
    for _, layer in model.layers:
        x, _ = layer.forward(x)
        if "weight" in layer.params:
            weight = layer.params["weight"].data
            flops.append(2 * x.size * weight.size // weight.shape[0])
    return flops


def workload_flops(model):
    """FLOPs per image of each workload: inference is one forward pass; an input gradient
    adds every layer's input-gradient product; a training step adds every weight gradient
    and the input gradients of all layers but the first; PGD-10 is ten input gradients (the
    plain loop: tinyadv's extra forward pass for the best iterate is not counted)."""
    flops = layer_flops(model)
    forward = sum(flops)
    return {"train step (128)": 3 * forward - flops[0], "inference (512)": forward,
            "forward + input gradient (512)": 2 * forward, "FGSM (512)": 2 * forward,
            "PGD-10 (512)": 20 * forward}


def cpu_description(cpuinfo="/proc/cpuinfo",
                    l2_size="/sys/devices/system/cpu/cpu0/cache/index2/size"):
    """The CPU's model, its widest vector instructions and its L2 cache per core, from Linux's
    /proc/cpuinfo and /sys (``platform.processor()`` elsewhere): pasted with a run, it says which
    kind of machine the figures came from (AVX-512 or not matters most: README, Speed)."""
    try:
        first_cpu = pathlib.Path(cpuinfo).read_text(encoding="utf-8").split("\n\n")[0]
    except OSError:
        return platform.processor() or "unknown"
    info = {}
    for line in first_cpu.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    flags = set(info.get("flags", "").split())
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    if "amx_tile" in flags:
        vectors += " and AMX"
    description = (f"{info.get('model name', 'unknown')} (family {info.get('cpu family', '?')}, "
                   f"model {info.get('model', '?')}; {vectors}")
    try:
        l2 = pathlib.Path(l2_size).read_text().strip()
        description += f"; L2 {l2}B per core"
    except OSError:
        pass
    return description + ")"


def halt_polling(path=HALT_POLL):
    """A line on the idle cores' halt polling in a KVM guest with Linux's cpuidle-haltpoll
    driver, or None where there is no such setting. An idle core polls for up to this many
    nanoseconds before it halts (Linux's default: 200,000); at 0 it halts at once, and a thread
    woken there (one that waited for Python's GIL) starts 30-60 µs late: on the Xeon of
    scripts/BENCHMARKS.md tinyadv ran 3-13% more images/s at 200,000 than at 0, and PyTorch,
    whose threads spin while they wait, the same."""
    try:
        nanoseconds = int(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None
    if nanoseconds == 0:
        return "guest halt polling: off (0 ns): woken threads start late here (README, Speed)"
    return f"guest halt polling: up to {nanoseconds:,} ns"


def gemm_rate(dtype, threads, size=2048, repeats=5):
    """The best FLOP/s of NumPy's matrix product on a large square matrix (its BLAS's peak,
    nearly), with BLAS on ``threads`` threads."""
    a = np.random.default_rng(0).random((size, size)).astype(dtype)
    with blas_threads(threads):
        a @ a
        best = min(timed(lambda: a @ a) for _ in range(repeats))
    return 2 * size**3 / best


def timed(work):
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def tinyadv_workloads(dtype, rng, chunk_size=None):
    model = ta.cleverhans_cnn(seed=0, dtype=dtype)
    model.chunk_size = chunk_size  # None: Sequential's default
    optimizer = ta.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x128 = rng.random((128, 3, 32, 32)).astype(dtype)
    y128 = rng.integers(0, 10, 128)
    x512 = rng.random((512, 3, 32, 32)).astype(dtype)
    y512 = rng.integers(0, 10, 512)
    g512 = rng.normal(size=(512, 10)).astype(dtype)

    def train():
        model.train()
        ta.train_step(model, optimizer, x128, y128)

    def infer():
        model.eval().logits(x512)

    def attack_step():
        model.eval().input_gradient(x512, g512)

    def fgsm():
        ta.fgsm(model.eval(), x512, y512, eps=EPS)

    def pgd10():
        ta.pgd(model.eval(), x512, y512, eps=EPS, alpha=ALPHA, steps=10, seed=0)

    return {"train step (128)": (train, 128), "inference (512)": (infer, 512),
            "forward + input gradient (512)": (attack_step, 512), "FGSM (512)": (fgsm, 512),
            "PGD-10 (512)": (pgd10, 512)}


def torch_cnn(torch_dtype, state=None, channels_last=False, *, in_channels=3, image_size=32):
    """The talk's CNN in PyTorch, with tinyadv's layer names, for square images of
    ``image_size`` pixels: PyTorch's own initialisation, or tinyadv's ``state`` (the same
    layouts, in the same order); with ``channels_last``, its weights in that memory format
    (give it inputs in it too: :func:`torch_input`)."""
    from collections import OrderedDict

    import torch
    from torch import nn

    side = (-(-image_size // 2) - 6) // 2 + 1 - 4  # conv1 (SAME, stride 2), conv2, conv3
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 32, 8, stride=2, padding=3, bias=False)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(32, 64, 6, stride=2, bias=False)), ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(64, 64, 5, stride=1, bias=False)), ("relu3", nn.ReLU()),
        ("flatten", nn.Flatten()), ("fc", nn.Linear(64 * side * side, 10, bias=False)),
    ])).to(torch_dtype)
    if state is not None:
        model.load_state_dict({key: torch.from_numpy(value) for key, value
                               in zip(model.state_dict(), state.values())})
    return model.to(memory_format=torch.channels_last) if channels_last else model


def torch_input(x, torch_dtype, channels_last=False):
    """The NumPy batch ``x`` as a PyTorch tensor of ``torch_dtype``, in the channels-last memory
    format if asked (the same numbers: only their order in memory changes)."""
    import torch

    x = torch.from_numpy(x).to(torch_dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def torch_workloads(dtype, rng, channels_last=False):
    import torch
    from torch import nn

    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    model = torch_cnn(torch_dtype, channels_last=channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x128 = torch_input(rng.random((128, 3, 32, 32)), torch_dtype, channels_last)
    y128 = torch.from_numpy(rng.integers(0, 10, 128))
    x512 = torch_input(rng.random((512, 3, 32, 32)), torch_dtype, channels_last)
    y512 = torch.from_numpy(rng.integers(0, 10, 512))
    g512 = torch.from_numpy(rng.normal(size=(512, 10))).to(torch_dtype)
    generator = torch.Generator().manual_seed(0)

    def train():
        optimizer.zero_grad()
        loss_fn(model(x128), y128).backward()
        optimizer.step()

    def infer():
        with torch.no_grad():
            model(x512)

    def attack_step():
        x = x512.clone().requires_grad_(True)
        torch.autograd.grad(model(x), x, g512)

    def loss_gradient(x):
        x = x.clone().requires_grad_(True)
        return torch.autograd.grad(loss_fn(model(x), y512), x)[0]

    def fgsm():
        (x512 + EPS * loss_gradient(x512).sign()).clamp(0, 1)

    def pgd10():
        start = (torch.rand(x512.shape, generator=generator, dtype=torch_dtype) * 2 - 1) * EPS
        x_adv = (x512 + start).clamp(0, 1)
        for _ in range(10):
            x_adv = x_adv + ALPHA * loss_gradient(x_adv).sign()
            x_adv = torch.min(torch.max(x_adv, x512 - EPS), x512 + EPS).clamp(0, 1)

    return {"train step (128)": (train, 128), "inference (512)": (infer, 512),
            "forward + input gradient (512)": (attack_step, 512), "FGSM (512)": (fgsm, 512),
            "PGD-10 (512)": (pgd10, 512)}


FIRST_WORK = """
for dtype in (np.float32, np.float64):
    model = ta.cleverhans_cnn(nf=8, dtype=dtype)
    x = np.zeros((8, 3, 32, 32), dtype)  # (conv1's rows more than one block: not kept)
    ta.train_step(model, ta.SGD(model.parameters(), lr=0.1), x, np.zeros(8, np.int64))
    ta.Adam(model.parameters()).step()  # (on the step's gradients: fit's default optimizer)
    model.input_gradient(x, np.ones((8, 10), dtype))
    ta.fgsm(model, x, eps=0.1)
    ta.cw_l2(model, x, search_steps=1, steps=2)
    ta.fgsm(model.eval(), x, eps=0.1)  # (in evaluation mode: Winograd's forward pass by blocks)
    model.chunk_size = 4  # two chunks on the threads: where idle cores halt at once, spinners
    model.logits(x)  # start (tinyadv/awake.py), and their kernel is compiled or loaded
"""
FIRST_RESULT = """
import time
began = time.perf_counter()
import numpy as np
import tinyadv as ta
imported = time.perf_counter()
""" + FIRST_WORK + """
print(imported - began, time.perf_counter() - imported)
"""


def last_line_in_fresh_process(program, cache_dir):
    """The last line that ``program`` prints, run in a fresh process with Numba's cache in
    ``cache_dir``."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    result = subprocess.run([sys.executable, "-c", program], env=environment, check=True,
                            capture_output=True, text=True)
    return result.stdout.splitlines()[-1]


def seconds_to_first_result(cache_dir):
    """Seconds that a fresh process spends importing tinyadv (NumPy and Numba included), then
    on its first training step (and Adam step), input gradient, FGSM and CW-L2 steps, an
    FGSM step in evaluation mode and logits in two chunks, in float32 and float64 (compiling or
    loading every Numba kernel), with Numba's cache in ``cache_dir``."""
    return tuple(float(value) for value in last_line_in_fresh_process(FIRST_RESULT,
                                                                      cache_dir).split())


def peak_training_memory(batch=128):
    """Peak bytes allocated during one float32 training step of the talk's CNN (tracemalloc)."""
    model = ta.cleverhans_cnn(seed=0)
    optimizer = ta.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x, y = rng.random((batch, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, batch)
    ta.train_step(model, optimizer, x, y)
    tracemalloc.start()
    ta.train_step(model, optimizer, x, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def torch_cw_l2(model, x, *, c=1e-2, steps=100, lr=5e-3, abort_early=True):
    """CW-L2 with one search round, as tinyadv's ``cw_l2(search_steps=1)`` runs it (untargeted,
    κ = 0, box [0, 1], abort early unless told not to, the best success kept), written the way
    PyTorch users write it (torchattacks' CW): w in x's dtype, ``torch.optim.Adam``, autograd.
    The backward pass goes to w alone (``backward(inputs=[w])``), as tinyadv's computes the
    input gradient alone: a plain ``loss.backward()`` also computes and accumulates the model's
    weight gradients, which nothing uses (1.20-1.29x PyTorch's time on 250 images, 2 cores)."""
    import torch

    with torch.no_grad():
        y = model(x).argmax(1)
    w = torch.atanh((2 * x - 1) * 0.999999).requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr)
    best_l2, best_x = torch.full((len(x),), float("inf"), dtype=x.dtype), x.clone()
    label = torch.nn.functional.one_hot(y, 10).bool()
    previous = float("inf")
    for t in range(1, steps + 1):
        x_new = (torch.tanh(w) + 1) / 2
        logits = model(x_new)
        l2sq = ((x_new - x) ** 2).flatten(1).sum(1)
        other = logits.masked_fill(label, -float("inf")).amax(1)  # −∞ mask (torchattacks #168)
        margin = logits.gather(1, y[:, None])[:, 0] - other
        loss = (l2sq + c * margin.clamp(min=0)).sum()
        with torch.no_grad():
            improved = (margin < 0) & (l2sq < best_l2)
            best_l2[improved] = l2sq[improved]
            best_x[improved] = x_new[improved]
        if abort_early and (t - 1) % max(steps // 10, 1) == 0:  # iterations 0, steps/10, ...
            if loss.item() > previous * 0.9999:
                break
            previous = loss.item()
        optimizer.zero_grad()
        loss.backward(inputs=[w])  # (not into the model's weights: an attack leaves them alone)
        optimizer.step()
    return best_x


def torch_deepfool(model, x, *, candidates=10, overshoot=0.02, steps=50):
    """DeepFool as tinyadv's ``deepfool`` runs it (top-k candidates of the clean logits, the
    overshoot once at the end, clipped to [0, 1]), batched: per step one forward pass over the
    samples still classified as at first and k − 1 backward passes through its graph. The
    candidates are read off the first step's pass, which is at x (as tinyadv's are), not from
    a forward pass of their own."""
    import torch

    r_tot = torch.zeros_like(x)
    x_i = x.clone()
    active = torch.ones(len(x), dtype=torch.bool)
    for step in range(steps):
        idx = active.nonzero()[:, 0]
        if len(idx) == 0:
            break
        x_at = x_i[idx].requires_grad_(True)
        z = model(x_at)
        if step == 0:  # at x itself, every sample: the clean logits
            top = torch.sort(z.detach(), dim=1, descending=True, stable=True).indices[:, :candidates]
            label = top[:, 0]
        rows = torch.arange(len(idx))
        still = z.argmax(1) == label[idx]
        active[idx] = still
        if not still.any():
            break
        f = torch.stack([z[rows, top[idx, j]] - z[rows, label[idx]] for j in range(1, top.shape[1])])
        w = torch.stack([torch.autograd.grad(f_j.sum(), x_at, retain_graph=True)[0] for f_j in f])
        norms = w.flatten(2).norm(dim=2).clamp(min=1e-12)  # (k − 1, n)
        distances = (f.detach().abs() + 1e-5) / norms
        best = distances.argmin(0)
        scale = (distances[best, rows] + 1e-4) / norms[best, rows]
        step_r = scale.view(-1, 1, 1, 1) * w[best, rows]
        moved = idx[still]
        r_tot[moved] += step_r[still]
        x_i[moved] = (x[moved] + r_tot[moved]).clamp(0, 1)
    return (x + (1 + overshoot) * r_tot).clamp(0, 1)


def attack_rates(batch, repeats, chunk_size=None, channels_last=False):
    """CW-L2 (1 search step, 100 iterations: without abort-early, which on these random images
    ends the round after 10) and DeepFool (defaults), float32, on ``batch`` random images and
    the untrained CNN: {name: (tinyadv's images/s, mean L2 of its
    perturbations, PyTorch's images/s, mean L2 and the median of the rounds' ratios
    tinyadv / PyTorch, or None without PyTorch)}. PyTorch runs the
    same algorithms on the same weights (``torch_cw_l2``, ``torch_deepfool``), in the same
    rounds; the mean L2 shows that both did the same work."""
    model = ta.cleverhans_cnn(seed=0).eval()
    model.chunk_size = chunk_size
    x = np.random.default_rng(0).random((batch, 3, 32, 32), dtype=np.float32)
    ours = {"CW-L2, 1 x 100 iterations": lambda: ta.cw_l2(model, x, search_steps=1, steps=100,
                                                          abort_early=False),
            "DeepFool (10 candidates, <= 50 steps)": lambda: ta.deepfool(model, x)}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        their_model = torch_cnn(torch.float32, model.state_dict(), channels_last).eval()
        x_t = torch_input(x, torch.float32, channels_last)
        theirs = {"CW-L2, 1 x 100 iterations":
                  lambda: torch_cw_l2(their_model, x_t, abort_early=False),
                  "DeepFool (10 candidates, <= 50 steps)": lambda: torch_deepfool(their_model, x_t)}

    def mean_l2(x_adv):
        return float(np.mean(np.linalg.norm((np.asarray(x_adv) - x).reshape(batch, -1), axis=1)))

    rates = {}
    for name, attack in ours.items():
        if torch is None:
            seconds, = round_seconds(attack, repeats=repeats)
            rates[name] = (batch / np.median(seconds), mean_l2(attack()), None)
            continue
        seconds, their_seconds = round_seconds(attack, theirs[name], repeats=repeats)
        rates[name] = (batch / np.median(seconds), mean_l2(attack()),
                       (batch / np.median(their_seconds), mean_l2(theirs[name]().detach()),
                        np.median(their_seconds / seconds)))  # (as the table's: one per round)
    return rates


# The targets of this benchmark (README, Speed): tinyadv / PyTorch in one run, the median ratio
# of the rounds, at least this much; the start, compile and memory figures at most this much.
RATIO_TARGETS = {("train step (128)", "float32"): 1.3, ("inference (512)", "float32"): 1.3,
                 ("FGSM (512)", "float32"): 1.5, ("PGD-10 (512)", "float32"): 1.5,
                 ("train step (128)", "float64"): 2.5, ("inference (512)", "float64"): 2.5,
                 ("FGSM (512)", "float64"): 2.5, ("PGD-10 (512)", "float64"): 2.5}
LIMITS = {"warm start": (0.5, "s"), "cold compile": (15.0, "s"),
          "peak memory of a training step": (500.0, "MB")}


def target_lines(ratios, figures):
    """One line per target: the figure measured in this run against it and "met" or "NOT met",
    or "not measured" (no PyTorch, a dtype left out, ``--no-compile``). ``ratios`` maps
    (workload, dtype) to the run's median ratio, ``figures`` the names of ``LIMITS`` to the
    run's figure (the median of the fresh processes for the two starts). A figure is judged as
    printed, to two decimals (a ratio printed 1.30 meets 1.3)."""
    lines = []
    for (workload, dtype), target in RATIO_TARGETS.items():
        ratio = ratios.get((workload, dtype))
        verdict = ("not measured" if ratio is None
                   else f"{ratio:.2f}: {'met' if round(ratio, 2) >= target else 'NOT met'}")
        lines.append(f"  {workload} {dtype}, ratio >= {target}: {verdict}")
    for name, (limit, unit) in LIMITS.items():
        figure = figures.get(name)
        verdict = ("not measured" if figure is None
                   else f"{figure:.2f} {unit}: {'met' if round(figure, 2) <= limit else 'NOT met'}")
        lines.append(f"  {name} <= {limit:g} {unit}: {verdict}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time check")
    parser.add_argument("--attacks", action="store_true", help="also time CW-L2 and DeepFool")
    parser.add_argument("--chunk-size", type=positive_int, default=None,
                        help="images per chunk for tinyadv (default: Sequential's, 64 float32 "
                             "images where each core gets a chunk, else 32); the best "
                             "size depends on the machine's caches (scripts/BENCHMARKS.md)")
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="run PyTorch's side in the channels-last memory format (model and "
                             "inputs), the tuning PyTorch's CPU performance guide recommends for "
                             "convolutions; by default its usual contiguous NCHW tensors")
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        torch = None
    threads = ta.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)  # the same thread count for both
    their_version = (f"{torch.__version__} ({torch.get_num_threads()} threads"
                     + (", channels-last" if args.torch_channels_last else "") + ")" if torch
                     else "not installed")
    chunk = (f"chunks of {args.chunk_size} images" if args.chunk_size else
             f"chunks of 64 float32 images at batches of {64 * ta.threads.cores()} or more, "
             f"else 32")
    cpu = cpu_description()
    print(f"CPU: {cpu}")
    gil = "" if getattr(sys, "_is_gil_enabled", lambda: True)() else ", free-threaded: no GIL"
    print(f"cores: {os.cpu_count()}, tinyadv threads: {threads} ({chunk}), "
          f"Python {platform.python_version()}{gil}, NumPy {np.__version__}, "
          f"PyTorch {their_version}")
    polling = halt_polling()
    if polling:
        print(polling)
    forced = os.environ.get("OPENBLAS_CORETYPE")
    print(f"OpenBLAS kernels: {', '.join(openblas_kernels()) or 'unknown'}"
          + (f" (forced by OPENBLAS_CORETYPE={forced})" if forced else " (chosen for this CPU)"))
    if forced and "AVX-512" in cpu:
        print("  (this CPU has AVX-512, which PyTorch uses; for OpenBLAS's own choice of kernels "
              "run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`: README, Speed)")
    rates = {name: gemm_rate(np.dtype(name), threads) for name in args.dtypes}
    print(f"NumPy's GEMM (2048², {threads} BLAS threads): "
          + ", ".join(f"{name} {rate / 1e9:,.0f} GFLOP/s" for name, rate in rates.items()))
    print("GEMM bound: images/s if every matrix product of the workload, counted as im2col's, ran "
          "at that rate and nothing else took time (Winograd's conv2 needs 100/324 of its products, "
          "and conv3, where taken, 36/100)")
    print("ratio: tinyadv's images/s over PyTorch's, the median over the rounds and in brackets "
          "the lowest and highest of one round")
    print(f"{'workload':34s} {'dtype':8s} {'tinyadv img/s':>14s} {'PyTorch img/s':>14s} "
          f"{'ratio':>18s} {'GEMM bound':>11s}")
    flops = workload_flops(ta.cleverhans_cnn(seed=0))  # the same in both dtypes
    medians, figures = {}, {}  # (the run's figures that have a target: target_lines)
    for name in args.dtypes:
        dtype = np.dtype(name).type
        rng = np.random.default_rng(args.seed)
        ours = tinyadv_workloads(dtype, rng, args.chunk_size)
        theirs = (torch_workloads(dtype, rng, args.torch_channels_last) if torch is not None
                  else {})
        for workload, (work, batch) in ours.items():
            bound = f"{rates[name] / flops[workload]:11,.0f}"
            if workload in theirs:
                ours_time, their_time = round_seconds(work, theirs[workload][0],
                                                      repeats=args.repeats)
                ratios = their_time / ours_time  # one per round: both timed within it
                medians[workload, name] = median = np.median(ratios)
                ratio = f"{median:.2f} ({ratios.min():.2f}-{ratios.max():.2f})"
                print(f"{workload:34s} {name:8s} {batch / np.median(ours_time):14,.0f} "
                      f"{batch / np.median(their_time):14,.0f} {ratio:>18s} {bound}", flush=True)
            else:
                ours_time, = round_seconds(work, repeats=args.repeats)
                print(f"{workload:34s} {name:8s} {batch / np.median(ours_time):14,.0f} "
                      f"{'':14s} {'':18s} {bound}", flush=True)

    figures["peak memory of a training step"] = peak_training_memory() / 2**20
    print(f"\npeak memory of a training step (float32, batch 128): "
          f"{figures['peak memory of a training step']:.0f} MB")
    if not args.no_compile:
        # (one cold start moved by 1-3 s from run to run: three, each in a fresh cache)
        with tempfile.TemporaryDirectory() as folder:
            caches = [os.path.join(folder, str(run)) for run in range(3)]
            cold = [seconds_to_first_result(cache)[1] for cache in caches]
            imported, warm = np.array([seconds_to_first_result(caches[-1]) for _ in range(5)]).T
        figures["cold compile"], figures["warm start"] = np.median(cold), np.median(warm)
        if sys.dont_write_bytecode:
            print("Python writes no bytecode here (PYTHONDONTWRITEBYTECODE): a module without a "
                  ".pyc file is compiled at every import")
        print(f"fresh process: import tinyadv {np.median(imported):.2f} s (NumPy and Numba "
              f"included); first train step (SGD and Adam), input gradient, FGSM and CW-L2 "
              f"steps, FGSM in evaluation mode, logits in two chunks, in float32 and float64: "
              f"cold Numba cache "
              f"{figures['cold compile']:.1f} s ({min(cold):.1f}-{max(cold):.1f}; compiling), "
              f"warm cache {figures['warm start']:.2f} s ({warm.min():.2f}-{warm.max():.2f}; "
              f"loading)")
    if args.attacks:
        print("\nattacks on 500 random images, float32, the same weights: tinyadv / PyTorch running "
              "the same algorithm (torch_cw_l2, torch_deepfool); mean L2 of the perturbations")
        for name, (rate, l2, theirs) in attack_rates(500, 3, args.chunk_size,
                                                     args.torch_channels_last).items():
            line = f"{name:38s} {rate:8,.0f} img/s, mean L2 {l2:.3f}"
            if theirs is not None:
                line += f"  |  PyTorch {theirs[0]:8,.0f} img/s, mean L2 {theirs[1]:.3f}: {theirs[2]:.2f}"
            print(line)
    print("\ntargets (README, Speed), this run:")
    print("\n".join(target_lines(medians, figures)))


if __name__ == "__main__":
    main()
