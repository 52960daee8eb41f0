"""Benchmark: wall time to reach a test accuracy on CIFAR-10, tinyadv next to PyTorch.

The talk's CNN (``cleverhans_cnn()``, 184,832 weights, no biases) is trained with the same
recipe in both: Adam lr 1e-3, batch 128, the same initial weights (tinyadv's state dict loaded
into the PyTorch model), the same shuffling order. After every epoch each is evaluated on the
test images. The script prints the wall time (training time only, evaluation excluded) at which
each first reaches ``--target`` accuracy (60% by default). tinyadv's time includes its first
steps' loading of the compiled Numba kernels from the cache (about 0.4 s), or their compiling
where the cache is cold, after an install or once a module of tinyadv has changed (on a Zen 4
its first epoch then took 14.6 s against 6.2-7.7 s for the others): run it twice then.

    TINYADV_DATA=~/tinyadv-data python scripts/bench_train_cifar.py --data cifar10
    python scripts/bench_train_cifar.py --train-limit 2000 --target 0.3     # a quick look

PyTorch is optional (``pip install torch``); without it only tinyadv is timed. With
``--torch-channels-last`` PyTorch trains in the channels-last memory format (the model once, each
batch as it is drawn), as its CPU performance guide recommends for convolutions (bench_cnn.py
has the same option).
"""

import argparse
import time

import numpy as np

import tinyadv as ta
from tinyadv.cli import fraction, nonnegative_int, positive_int, run_script
from tinyadv.data import DATASET_NAMES, load_dataset
from bench_cnn import torch_cnn  # the script beside this one


def tinyadv_trainer(model):
    optimizer = ta.Adam(model.parameters(), lr=1e-3)

    def train_epoch(x, y, order, batch_size):
        model.train()
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            ta.train_step(model, optimizer, x[batch], y[batch])

    def test_accuracy(x, y):
        return ta.accuracy(model.eval(), x, y)

    return train_epoch, test_accuracy


def torch_trainer(model_numpy, in_channels, image_size, channels_last=False):
    import torch
    from torch import nn

    model = torch_cnn(torch.float32, model_numpy.state_dict(), channels_last,
                      in_channels=in_channels, image_size=image_size)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch(x, y, order, batch_size):
        model.train()
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            images = torch.from_numpy(x[batch]).contiguous(memory_format=memory_format)
            loss_fn(model(images), torch.from_numpy(y[batch])).backward()
            optimizer.step()

    def test_accuracy(x, y):
        model.eval()
        with torch.no_grad():
            predictions = torch.cat([model(torch.from_numpy(x[i:i + 1000])).argmax(1)
                                     for i in range(0, len(x), 1000)])
        return float((predictions.numpy() == y).mean())

    return train_epoch, test_accuracy


def time_to_target(name, trainer, x, y, x_test, y_test, *, target, epochs, batch_size, seed):
    """Train epoch by epoch; returns (seconds to target or None, accuracies per epoch)."""
    train_epoch, test_accuracy = trainer
    rng = np.random.default_rng(seed)
    elapsed, accuracies, reached = 0.0, [], None
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        began = time.perf_counter()
        train_epoch(x, y, order, batch_size)
        elapsed += time.perf_counter() - began
        accuracies.append(test_accuracy(x_test, y_test))
        print(f"  {name:8s} epoch {epoch:2d}: {elapsed:7.1f} s of training, test accuracy "
              f"{accuracies[-1]:.3f}", flush=True)
        if accuracies[-1] >= target:
            reached = elapsed
            break
    return reached, accuracies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="cifar10")
    parser.add_argument("--target", type=fraction, default=0.60)
    parser.add_argument("--epochs", type=positive_int, default=20, help="give up after this many epochs")
    parser.add_argument("--train-limit", type=positive_int, default=None)
    parser.add_argument("--test-limit", type=positive_int, default=None)
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="train PyTorch's model in the channels-last memory format")
    args = parser.parse_args(argv)

    x, y = load_dataset(args.data, "train", limit=args.train_limit)
    x_test, y_test = load_dataset(args.data, "test", limit=args.test_limit)
    channels, size = x.shape[1], x.shape[2]
    print(f"{args.data}: {len(x)} training and {len(x_test)} test images; target test accuracy "
          f"{args.target:.0%}; threads: tinyadv {ta.get_num_threads()}", flush=True)

    model = ta.cleverhans_cnn(in_channels=channels, image_size=size, seed=args.seed)
    trainers = {"tinyadv": tinyadv_trainer(model)}
    try:
        import torch
        torch.set_num_threads(ta.get_num_threads())  # the same thread count for both
        trainers["PyTorch"] = torch_trainer(ta.cleverhans_cnn(in_channels=channels, image_size=size,
                                                              seed=args.seed), channels, size,
                                               args.torch_channels_last)
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"
              + (", channels-last" if args.torch_channels_last else ""))
    except ImportError:
        print("PyTorch is not installed: timing tinyadv only")

    results = {}
    for name, trainer in trainers.items():
        results[name] = time_to_target(name, trainer, x, y, x_test, y_test, target=args.target,
                                       epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    print(f"\n{'':8s} {'seconds to ' + format(args.target, '.0%'):>16s} {'epochs':>7s} {'best accuracy':>14s}")
    for name, (seconds, accuracies) in results.items():
        shown = f"{seconds:.1f}" if seconds is not None else "not reached"
        print(f"{name:8s} {shown:>16s} {len(accuracies):7d} {max(accuracies):14.3f}")
    if all(seconds is not None for seconds, _ in results.values()) and len(results) == 2:
        print(f"tinyadv / PyTorch speed: {results['PyTorch'][0] / results['tinyadv'][0]:.2f}x")
    return results


if __name__ == "__main__":
    run_script(main)
