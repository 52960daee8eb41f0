"""Benchmark: images per second of the talk's CNN (184,832 weights), tinyadv next to PyTorch.

Measures, in one run and at the same thread count, the workloads users wait for:

- training step, batch 128: forward + backward + SGD with momentum;
- inference, batch 512: logits;
- attack step, batch 512: forward + input gradient (what FGSM and every PGD step cost);

in float32 and float64, reporting the median over ``--repeats`` runs after a warm-up, and the
ratio tinyadv / PyTorch when PyTorch is installed (it is optional: ``pip install torch``).
Machines are noisy: compare the ratios of one run, not figures across runs.

    python scripts/bench_cnn.py
    python scripts/bench_cnn.py --repeats 7 --dtypes float32
"""

import argparse
import os
import time

import numpy as np

import tinyadv as ta


def median_seconds(work, repeats):
    work()  # warm-up (and Numba compilation)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def tinyadv_workloads(dtype, rng):
    model = ta.cleverhans_cnn(seed=0, dtype=dtype)
    optimizer = ta.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x128 = rng.random((128, 3, 32, 32)).astype(dtype)
    y128 = rng.integers(0, 10, 128)
    x512 = rng.random((512, 3, 32, 32)).astype(dtype)
    g512 = rng.normal(size=(512, 10)).astype(dtype)

    def train():
        model.train()
        ta.train_step(model, optimizer, x128, y128)

    def infer():
        model.eval().logits(x512)

    def attack_step():
        model.eval().input_gradient(x512, g512)

    return {"train step (128)": (train, 128), "inference (512)": (infer, 512),
            "forward + input gradient (512)": (attack_step, 512)}


def torch_workloads(dtype, rng):
    import torch
    from torch import nn

    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    model = nn.Sequential(
        nn.Conv2d(3, 32, 8, stride=2, padding=3, bias=False), nn.ReLU(),
        nn.Conv2d(32, 64, 6, stride=2, bias=False), nn.ReLU(),
        nn.Conv2d(64, 64, 5, stride=1, bias=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 10, bias=False),
    ).to(torch_dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x128 = torch.from_numpy(rng.random((128, 3, 32, 32))).to(torch_dtype)
    y128 = torch.from_numpy(rng.integers(0, 10, 128))
    x512 = torch.from_numpy(rng.random((512, 3, 32, 32))).to(torch_dtype)
    g512 = torch.from_numpy(rng.normal(size=(512, 10))).to(torch_dtype)

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

    return {"train step (128)": (train, 128), "inference (512)": (infer, 512),
            "forward + input gradient (512)": (attack_step, 512)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        torch = None
    threads = os.cpu_count()
    print(f"cores: {os.cpu_count()}, NumPy {np.__version__}, "
          f"PyTorch {torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else 'not installed'}")
    print(f"{'workload':34s} {'dtype':8s} {'tinyadv img/s':>14s} {'PyTorch img/s':>14s} {'ratio':>7s}")
    for name in args.dtypes:
        dtype = np.dtype(name).type
        rng = np.random.default_rng(args.seed)
        ours = tinyadv_workloads(dtype, rng)
        theirs = torch_workloads(dtype, rng) if torch is not None else {}
        for workload, (work, batch) in ours.items():
            ours_rate = batch / median_seconds(work, args.repeats)
            line = f"{workload:34s} {name:8s} {ours_rate:14,.0f}"
            if workload in theirs:
                their_work, _ = theirs[workload]
                their_rate = batch / median_seconds(their_work, args.repeats)
                line += f" {their_rate:14,.0f} {ours_rate / their_rate:7.2f}"
            print(line, flush=True)
    del threads


if __name__ == "__main__":
    main()
