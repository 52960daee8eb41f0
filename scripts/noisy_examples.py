"""Accuracy and confidence of the CIFAR-10 CNNs under additive Gaussian noise.

The talk's "noisy examples" slide and the input-fault paper (Galloway, Golubeva & Taylor 2018,
REFERENCES.md §4): a model should degrade in proportion to the severity of a fault, and random
noise is the fault that drives accuracy to chance together with the information in the
prediction. Here the fault is white Gaussian noise,

    x̃ = clip(x + σ·ξ, 0, 1),   ξ ~ N(0, I)          (``tinyadv.gaussian_noise``)

swept over σ with ``tinyadv.sweep(..., param="sigma")`` (one generator per level, restarted at
every level, so the curve is not jagged from re-drawing) on the first ``--test-limit`` test
images, for CNN and CNN-L2 from train_cifar_cnn.py. Mean confidence is the mean over images of
the largest softmax probability. REFERENCES.md gives no CIFAR-10 number for this slide; the
claim checked is the direction: accuracy falls towards chance (10%) as σ grows, and a model
that is not overconfident loses confidence with it.

    TINYADV_DATA=/root/tinyadv-data python scripts/noisy_examples.py --data cifar10

Writes figures/noisy_examples.png (accuracy and mean confidence against σ) and
figures/noisy_examples_grid.png (test images at a few σ with CNN-L2's prediction).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinyadv as ta  # noqa: E402
from tinyadv.cli import (folder, increasing, nonnegative_float, nonnegative_int,  # noqa: E402
                         positive_int, run_script)
from tinyadv.data import DATASET_NAMES, load_dataset  # noqa: E402
from tinyadv.data.cifar import CIFAR10_CLASSES  # noqa: E402
from tinyadv.plots import image_grid, save_figure  # noqa: E402
from train_cifar_cnn import load_trained  # noqa: E402  (the script beside this one)

COLOURS = {"CNN-L2": "tab:blue", "CNN": "tab:orange"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--checkpoints", type=folder, default="checkpoints")
    parser.add_argument("--test-limit", type=positive_int, default=2000)
    parser.add_argument("--sigma", type=nonnegative_float, nargs="+",
                        default=[0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0],
                        help="noise levels of the curves, increasing")
    parser.add_argument("--examples", type=positive_int, default=8,
                        help="images in the grid (at most --test-limit)")
    parser.add_argument("--example-sigma", type=nonnegative_float, nargs="+",
                        default=[0.1, 0.3, 1.0],
                        help="σ of the grid's rows (after a clean row)")
    parser.add_argument("--figures", type=folder, default="figures")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    increasing(parser, args.sigma, "--sigma")
    if args.examples > args.test_limit:
        parser.error(f"--examples {args.examples} is more than --test-limit {args.test_limit}")

    began = time.perf_counter()
    x, y = load_dataset(args.data, "test", limit=args.test_limit)
    models = load_trained(args.checkpoints, args.data, x)
    results = {name: ta.sweep(model, x, y, ta.gaussian_noise, args.sigma, param="sigma",
                              seed=args.seed, progress=False)
               for name, model in models.items()}

    print(f"data: {args.data}, first {len(x)} test images, x̃ = clip(x + σ·N(0, I), 0, 1)")
    print("\n    σ   " + "".join(f"{name + ' acc':>12}{name + ' conf':>13}" for name in models))
    for i, sigma in enumerate(args.sigma):
        print(f"  {sigma:5.2f} " + "".join(f"{results[n]['accuracy'][i]:12.3f}"
                                           f"{results[n]['confidence'][i]:13.3f}" for n in models))
    print("paper: no CIFAR-10 numbers in REFERENCES §8; §4 (SVHN): only AWGN drives accuracy "
          "to chance together with the information in the prediction")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in models:
        axes[0].plot(args.sigma, results[name]["accuracy"], "-o", color=COLOURS[name],
                     markersize=4, label=name)
        axes[1].plot(args.sigma, results[name]["confidence"], "-o", color=COLOURS[name],
                     markersize=4, label=name)
    axes[0].axhline(0.1, color="grey", lw=0.8, ls=":", label="chance (10%)")
    axes[1].axhline(0.1, color="grey", lw=0.8, ls=":", label="uniform (1/10)")
    for ax, label in zip(axes, ("accuracy", "mean confidence (max softmax probability)")):
        ax.set_xlabel("noise σ (pixels in [0, 1])")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{args.data}: Gaussian noise, first {len(x)} test images", fontsize=10)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.figures, "noisy_examples.png"))
    plt.close(fig)

    names = CIFAR10_CLASSES if args.data == "cifar10" else tuple(str(k) for k in range(10))
    shown = slice(0, args.examples)
    model = models["CNN-L2"]
    rows, captions, titles = [], [], []
    for sigma in [0.0] + list(args.example_sigma):
        x_noisy = ta.gaussian_noise(None, x[shown], sigma=sigma, seed=args.seed)
        p = ta.softmax(model.logits(x_noisy).astype(np.float64))
        rows.append(x_noisy)
        captions.append([f"{names[q.argmax()]} {q.max():.2f}" for q in p])
        titles.append(f"σ = {sigma:g}")
    captions[0] = [f"true {names[k]}\n{c}" for k, c in zip(y[shown], captions[0])]
    fig = image_grid(rows, captions=captions, row_titles=titles,
                     title="noisy examples: CNN-L2's prediction and confidence")
    save_figure(fig, os.path.join(args.figures, "noisy_examples_grid.png"))
    plt.close(fig)
    print(f"\nwrote {args.figures}/noisy_examples.png and noisy_examples_grid.png "
          f"in {time.perf_counter() - began:.0f} s")
    return results


if __name__ == "__main__":
    run_script(main)
