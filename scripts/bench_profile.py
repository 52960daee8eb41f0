"""Profile: where one chunk's time goes in the talk's CNN, layer by layer, on one thread.

``bench_cnn.py`` times whole workloads on all cores; this script says where the time of one of
their chunks goes. It runs one chunk of ``--images`` images (by default ``Sequential``'s chunk
of bench_cnn's batch, a training batch of 128 or 512 images otherwise: on 2 cores 64 float32
images, 32 float64 ones) through the layers of ``cleverhans_cnn`` as ``Sequential`` does, and times each
layer's forward and backward pass in place, over ``--passes`` passes:

- ``--mode train``: forward, then backward with the weight gradients and without the first
  layer's input gradient (a training step's chunk);
- ``--mode eval``: forward, then backward with the input gradients only (an attack's step);
- ``--mode infer``: forward only, layer by layer (``logits`` itself runs its chunks through
  an inference plan, the same compiled calls with less Python between them and each ReLU
  inside the convolution before it: ``tinyadv/plans.py``; the last line's chunks are
  ``logits``'s).

Next to each convolution and linear layer it prints the FLOPs of its matrix products and the
time the same products take alone, at the same shapes, run back to back, and next to each
convolution the time its copies take alone in the same way (padding into channels-last and
im2col, and col2im for an input gradient; for a layer that takes Winograd's products, conv2 of
the talk's CNN on CIFAR-10 images, its transforms instead). The rest of a layer's time is
layout changes and what running inside the network costs the products and copies (their
operands are no longer hot in the cache). Alone, an im2col layer's products are one product
over the whole chunk each; in place, its forward product and input gradient run a block of
images at a time (``rows_product`` in ``tinyadv/kernels.py``), which can make the layer
faster in place than its products and copies alone. The last line compares the products' rate
with NumPy's on a 1024² product.

Everything above runs on one thread (tinyadv's and BLAS's); the first lines name the OpenBLAS
kernels (see bench_cnn.py about ``OPENBLAS_CORETYPE``). The last line is about the threads: a
batch of two chunks per thread, passed through the model (the chunk's work of the mode) on one
thread and on all of tinyadv's threads, and the same share of work (two chunks on one thread)
in as many processes side by side as there are threads, against one process alone. Processes
share the cores' caches and memory as threads do, but not the GIL: what the threads lose beyond
what the processes lose is the process's own, the threads' waits for the GIL and the serial part
of a call (the weights held, the chunks' results gathered): ``scripts/BENCHMARKS.md``. In a
KVM guest the first lines also give the idle cores' halt polling: without it a thread woken from
its wait for the GIL starts tens of microseconds late (``bench_cnn.halt_polling``).

    python scripts/bench_profile.py
    python scripts/bench_profile.py --dtype float64 --mode eval
    python scripts/bench_profile.py --mode infer
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

import tinyadv as ta
from tinyadv import winograd
from tinyadv.cli import nonnegative_int, positive_int
from tinyadv.kernels import (col2im, im2col, matmul, output_size, pad_space_to_depth,
                             pad_space_to_depth_adjoint)
from tinyadv.layers.conv import padded_channels_last, resolve_padding
from tinyadv.threads import blas_threads, openblas_kernels
from bench_cnn import cpu_description, gemm_rate, halt_polling  # the script beside this one


def takes_input_gradient(mode, first):
    """Whether the mode's pass computes a layer's input gradient: in eval, and in train for
    every layer but the first (a training step does not need dL/dx); never in infer."""
    return mode == "eval" or (mode == "train" and not first)


def product_shapes(layer, x, out, by_winograd):
    """The layer's forward product as ``(count, M, K, N)``: ``count`` products rows(M, K) ·
    weight(K, N). For im2col (and Linear) one product: N outputs per position (the filters), K
    weights per output, M positions (images × output pixels); for Winograd's F(m×m, r×r) n²,
    one per point of the n×n transformed tile: M tiles, K = stride²·C channels of the phases."""
    weight = layer.params["weight"].data
    N = weight.shape[0]
    if by_winograd:
        _, _, n, Th, Tw = winograd.tiling(weight.shape[2], layer.stride, *out.shape[2:])
        return n * n, x.shape[0] * Th * Tw, layer.stride**2 * x.shape[1], N
    return 1, out.size // N, weight.size // N, N


def products_alone(count, M, K, N, dtype, mode, first, passes, rng):
    """(seconds per pass, FLOPs) of the layer's products alone: forward rows · W, then the
    weight gradient rowsᵀ · dout (train) and the input gradient dout · Wᵀ (eval, and train
    but for the first layer; infer has the forward product alone), each ``count`` times
    (stacked, as ``np.matmul`` runs Winograd's). The products go
    through ``kernels.matmul``, as the layers' do (in pieces of 32 rows where OpenBLAS
    multiplies those faster), but im2col's weight gradient through ``np.matmul``; a
    convolution that multiplies its rows band by band from compiled loops (conv1 on OpenBLAS's
    SkylakeX kernels: ``kernels._rows_bands_numba``) can beat these in place."""
    rows = rng.random((count, M, K)).astype(dtype)
    weight = rng.random((count, K, N)).astype(dtype)
    if count == 1:  # im2col keeps its weight as rows (N, K), and Winograd's U is (K, N)
        weight = np.ascontiguousarray(weight.transpose(0, 2, 1)).transpose(0, 2, 1)
    # (and Winograd's Uᵀ, (N, K), in C order: winograd.transposed_filters, kept per batch)
    weight_t = weight.transpose(0, 2, 1) if count == 1 else winograd.transposed_filters(weight)
    dout = rng.random((count, M, N)).astype(dtype)
    products = [lambda: matmul(rows, weight)]
    if mode == "train":  # (Winograd's weight gradient as its layer multiplies it)
        weight_gradient = matmul if count > 1 else np.matmul
        products.append(lambda: weight_gradient(rows.transpose(0, 2, 1), dout))
    if takes_input_gradient(mode, first):
        products.append(lambda: matmul(dout, weight_t))
    return seconds_per_pass(products, passes), 2 * count * M * K * N * len(products)


def copies_alone(layer, x, mode, first, passes, by_winograd, by_blocks):
    """Seconds per pass of a convolution's copies alone, at the layer's shapes: padding into
    channels-last (when the layer pads) and im2col for the forward product, then col2im for the
    input gradient (eval, and train but for the first layer); for a layer that takes im2col over
    its input's stride x stride blocks (``by_blocks``: conv1 in float32, "Space to depth" in
    tinyadv/kernels.py), the padding into blocks and back instead. For a Winograd layer its
    transforms instead: of the input tiles and the output (forward; not of the filters, which a
    model transforms once per batch, not per chunk: ``Conv2D.hold_weights``); back (not in
    infer), of the output gradient, then of the filter gradient (train) and the input tiles'
    gradient (eval, and train but for the first layer)."""
    weight = layer.params["weight"].data
    F, C, HH, WW = weight.shape
    s = layer.stride
    pads = resolve_padding(layer.padding, x.shape[2], x.shape[3], HH, WW, s)
    xpad = padded_channels_last(x, pads)
    first_gradient = takes_input_gradient(mode, first)
    if by_winograd:
        Ho, Wo = output_size(xpad.shape[1], HH, s, 0, 0), output_size(xpad.shape[2], WW, s, 0, 0)
        r, m, n, Th, Tw = winograd.tiling(HH, s, Ho, Wo)
        U = winograd.filter_transform(weight, s, m)
        V = winograd.input_transform(xpad, s, m, r, Th, Tw)
        M = np.ones((n, n, V.shape[2], F), weight.dtype)
        dout = winograd.output_transform(M, x.shape[0], m, Th, Tw)
        copies = [lambda: winograd.input_transform(xpad, s, m, r, Th, Tw),
                  lambda: winograd.output_transform(M, x.shape[0], m, Th, Tw)]
        if mode != "infer":
            copies.append(lambda: winograd.output_transform_adjoint(dout, n, m, Th, Tw))
        if mode == "train":
            copies.append(lambda: winograd.filter_transform_adjoint(U, s, C, m))
        if first_gradient:
            copies.append(lambda: winograd.input_transform_adjoint(V, s, m, xpad.shape, Th, Tw))
        return seconds_per_pass(copies, passes)

    Ho, Wo = output_size(x.shape[2], HH, s, *pads[:2]), output_size(x.shape[3], WW, s, *pads[2:])
    Hs, Ws = Ho - 1 + HH // s, Wo - 1 + WW // s  # (by blocks: the blocks that it reads)

    def rows():
        if by_blocks:
            return im2col(pad_space_to_depth(x, pads, s, Hs, Ws), HH // s, WW // s, 1)
        return im2col(padded_channels_last(x, pads), HH, WW, s)

    copies = [rows]
    if first_gradient:
        dcols = rows()
        copies.append((lambda: pad_space_to_depth_adjoint(col2im(dcols, Hs, Ws, 1), pads, s,
                                                          x.shape)) if by_blocks else
                      (lambda: col2im(dcols, xpad.shape[1], xpad.shape[2], s)))
    return seconds_per_pass(copies, passes)


def seconds_per_pass(works, passes):
    """Seconds that running each of ``works`` once takes, over ``passes`` passes after one more."""
    for work in works:
        work()
    began = time.perf_counter()
    for _ in range(passes):
        for work in works:
            work()
    return (time.perf_counter() - began) / passes


def layer_times(model, x, mode, passes):
    """Seconds per pass of each layer's forward and backward (forward alone in infer), timed
    in place: {(name, step)}. The layers hold their weights meanwhile, as in a model's call, so
    what a layer computes from its weights alone (Winograd's U, the weight in im2col's row
    order) is computed once, not in every pass: the time of a chunk in a batch of many."""
    steps = ("forward",) if mode == "infer" else ("forward", "backward")
    seconds = {(name, step): 0.0 for name, _ in model.layers for step in steps}

    def one_pass(timed):
        caches, h = [], x
        for name, layer in model.layers:
            began = time.perf_counter()
            h, cache = layer.forward(h)
            seconds[name, "forward"] += timed * (time.perf_counter() - began)
            caches.append(cache)
        if mode == "infer":
            return
        dout = np.ones_like(h)
        for index in range(len(model.layers) - 1, -1, -1):
            name, layer = model.layers[index]
            began = time.perf_counter()
            dout, _ = layer.backward(dout, caches[index],
                                     need_input_grad=takes_input_gradient(mode, index == 0),
                                     need_param_grads=mode == "train")
            seconds[name, "backward"] += timed * (time.perf_counter() - began)

    for _, layer in model.layers:  # as Sequential holds them for the chunks of a batch
        layer.hold_weights()
    try:
        for _ in range(20):
            one_pass(0)
        for _ in range(passes):
            one_pass(1)
    finally:
        for _, layer in model.layers:
            layer.release_weights()
    return {key: value / passes for key, value in seconds.items()}


def chunks_through_the_model(model, x, mode, calls, *, warm=True):
    """Median seconds of ``calls`` passes of ``x`` through ``model`` as the mode's chunks run,
    after one more (unless not ``warm``): forward and backward with the weight gradients
    (train) or the input gradient (eval), or forward alone (infer: ``logits``)."""
    def ones(logits, rows):
        return np.ones_like(logits)

    seconds = []
    for _ in range(calls + warm):
        began = time.perf_counter()
        if mode == "infer":
            model.logits(x)
        else:
            model.forward_backward(x, ones, need_input_grad=mode == "eval",
                                   need_param_grads=mode == "train")
        seconds.append(time.perf_counter() - began)
    model.zero_grad()
    return float(np.median(seconds[warm:]))


ONE_THREAD = """
import sys, time
import numpy as np
import tinyadv as ta
sys.path.insert(0, sys.argv[1])
from bench_profile import chunks_through_the_model
dtype, mode, duration = sys.argv[2], sys.argv[3], float(sys.argv[4])
n, chunk, seed = (int(value) for value in sys.argv[5:8])
ta.set_num_threads(1)
model = ta.cleverhans_cnn(seed=seed, dtype=dtype).train(mode == "train")
model.chunk_size = chunk
x = np.random.default_rng(seed).random((n, 3, 32, 32)).astype(dtype)
chunks_through_the_model(model, x, mode, 1)  # (compiled kernels loaded, memory in place)
print("ready", flush=True)
sys.stdin.readline()  # all the processes start together
seconds, end = [], time.perf_counter() + duration
while not seconds or time.perf_counter() < end:
    seconds.append(chunks_through_the_model(model, x, mode, 1, warm=False))
print(np.median(seconds))
"""


def processes_side_by_side(count, dtype, mode, n, chunk, seed, duration):
    """Median seconds per pass of ``n`` images in chunks of ``chunk`` in each of ``count`` fresh
    processes, each on one thread (``ONE_THREAD``), which start passing together once all are
    ready and pass for ``duration`` seconds, so that they run side by side the whole time."""
    arguments = [sys.executable, "-c", ONE_THREAD, os.path.dirname(os.path.abspath(__file__)),
                 str(dtype), mode, str(duration), str(n), str(chunk), str(seed)]
    running = [subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True) for _ in range(count)]
    try:
        for process in running:
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a process of the side-by-side run failed before its passes")
        for process in running:
            process.stdin.write("go\n")
            process.stdin.flush()
        printed = [process.communicate()[0] for process in running]
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
    if any(process.returncode for process in running):
        raise RuntimeError("a process of the side-by-side run failed")
    return [float(text.split()[-1]) for text in printed]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--mode", default="train", choices=["train", "eval", "infer"])
    parser.add_argument("--images", type=positive_int, default=None,
                        help="images in the chunk (default: Sequential's chunk)")
    parser.add_argument("--passes", type=positive_int, default=300)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(args.seed)

    model = ta.cleverhans_cnn(seed=args.seed, dtype=dtype).train(args.mode == "train")
    n = args.images or model._chunk_images(128 if args.mode == "train" else 512, dtype)
    x = rng.random((n, 3, 32, 32)).astype(dtype)
    threads = ta.get_num_threads()
    ta.set_num_threads(1)
    try:
        with blas_threads(1):  # also tunes malloc as Sequential does (see tinyadv/threads.py)
            seconds = layer_times(model, x, args.mode, args.passes)
            rate = gemm_rate(dtype, 1, size=1024)
            h, products, copies = x, {}, {}
            for index, (name, layer) in enumerate(model.layers):
                out, cache = layer.forward(h)
                # a convolution's cache says how it formed its products
                by_winograd = isinstance(layer, ta.layers.Conv2D) and cache[0] == "winograd"
                if isinstance(layer, ta.layers.Conv2D):
                    copies[name] = copies_alone(layer, h, args.mode, index == 0, args.passes,
                                                by_winograd, cache[0] == "space_to_depth")
                if "weight" in layer.params:
                    products[name] = products_alone(*product_shapes(layer, h, out, by_winograd),
                                                    dtype, args.mode, index == 0, args.passes, rng)
                h = out
    finally:
        ta.set_num_threads(threads)

    print(f"CPU: {cpu_description()}")
    polling = halt_polling()  # in a KVM guest: how late a thread woken from the GIL starts
    if polling:
        print(polling)
    print(f"OpenBLAS kernels: {openblas_kernels()}; one thread; {args.dtype}, {args.mode} mode, "
          f"a chunk of {n} images, {args.passes} passes")
    print(f"{'layer':8s} {'forward ms':>10s} {'backward ms':>11s} {'share':>6s}   "
          f"products: MFLOP, ms alone, GFLOP/s alone   copies: ms alone")
    total = sum(seconds.values())
    for name, _ in model.layers:
        forward, backward = seconds[name, "forward"], seconds.get((name, "backward"), 0.0)
        share = (forward + backward) / total
        line = f"{name:8s} {1e3 * forward:10.3f} {1e3 * backward:11.3f} {share:6.1%}"
        if name in products:
            alone, flops = products[name]
            line += f"   {flops / 1e6:7.1f} {1e3 * alone:7.3f} {flops / alone / 1e9:7.1f}"
        if name in copies:
            line += f"   {1e3 * copies[name]:16.3f}"
        print(line)
    alone = sum(s for s, _ in products.values())
    flops = sum(f for _, f in products.values())
    copied = sum(copies.values())
    print(f"chunk: {1e3 * total:.3f} ms ({n / total:,.0f} images/s); its matrix products alone: "
          f"{1e3 * alone:.3f} ms ({alone / total:.0%} of it), {flops / alone / 1e9:.1f} GFLOP/s "
          f"against {rate / 1e9:.1f} for a 1024² product; its copies alone (padding, im2col, "
          f"col2im; Winograd's transforms): {1e3 * copied:.3f} ms ({copied / total:.0%})")

    # The threads: a batch of two chunks per thread, on one thread and on all of them, against
    # the same work per thread in processes side by side.
    calls = max(3, args.passes // 30)
    batch = rng.random((2 * n * threads, 3, 32, 32)).astype(dtype)
    model.chunk_size = n
    ta.set_num_threads(1)
    try:
        on_one = chunks_through_the_model(model, batch, args.mode, calls)
    finally:
        ta.set_num_threads(threads)
    on_all = chunks_through_the_model(model, batch, args.mode, calls)
    duration = args.passes / 150  # (2 s of passes by default)
    share = (dtype, args.mode, 2 * n, n, args.seed, duration)  # one thread's share of the work
    alone, = processes_side_by_side(1, *share)
    side_by_side = processes_side_by_side(threads, *share)
    print(f"threads: {2 * threads} chunks took {1e3 * on_one:.2f} ms on one thread, "
          f"{1e3 * on_all:.2f} ms on {threads} ({on_one / on_all:.2f}x); 2 chunks on one thread "
          f"took {1e3 * alone:.2f} ms in one process alone, "
          f"{' and '.join(f'{1e3 * t:.2f}' for t in side_by_side)} ms in {threads} processes side "
          f"by side: what the threads lose beyond that is the process's own (the GIL, and the "
          f"call's serial part)")
    threads_report = dict(one_thread=on_one, all_threads=on_all, alone=alone,
                          side_by_side=side_by_side)
    return seconds, products, copies, threads_report


if __name__ == "__main__":
    main()
