"""Trade-offs: accuracy against randomly swapped pixels, next to accuracy against the L∞ budget.

The talk's "trade-offs" slide (REFERENCES.md §8; reference script run_rand_attack.py of
uoguelph-mlrg/adversarial_training_vs_weight_decay): a model tuned for L∞ robustness is not
robust to every fault. At 20% of the pixels randomly swapped the paper measures Madry's WRN
≈ 45%, CNN-L2 ≈ 64%, CNN ≈ 63% and the naturally trained WRN-Nat ≈ 20%; all fall to ≈ 10%
(chance) at 100%. The WRNs are not trained here; this script measures CNN and CNN-L2 from
train_cifar_cnn.py.

Pixel swapping is ``tinyadv.swap_pixels``: one random permutation π of the D = C·H·W entries
per batch, and about round(f·D) entries exchanged in pairs (π_i ↔ π_{D−1−i}); each channel
value counts as one "pixel", as in the reference script (which flattens the image). At
f = 1 this is the reference's full reversal of π: the image is a random shuffle of its own
values. The L∞ curve beside it is PGD (``--pgd-steps`` steps of ε/4, random start) on the same
test images.

    TINYADV_DATA=/root/tinyadv-data python scripts/pixel_swap_tradeoff.py --data cifar10

Writes figures/pixel_swap_tradeoff.png (left: accuracy against the fraction swapped; right:
accuracy against ε under PGD; the paper's values at 20% and 100% as crosses) and
figures/pixel_swap_examples.png (one test image at each fraction).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinyadv as ta  # noqa: E402
from tinyadv.cli import (folder, fraction, increasing, nonnegative_int, pixel_levels,  # noqa: E402
                         positive_int, run_script)
from tinyadv.data import DATASET_NAMES, load_dataset  # noqa: E402
from tinyadv.plots import image_grid, save_figure  # noqa: E402
from train_cifar_cnn import load_trained  # noqa: E402  (the script beside this one)

COLOURS = {"CNN-L2": "tab:blue", "CNN": "tab:orange", "WRN": "tab:green", "WRN-Nat": "tab:red"}
#: REFERENCES.md §8: accuracy with 20% of the pixels swapped (all ≈ 10% at 100%).
PAPER_AT_20 = {"WRN": 0.45, "CNN-L2": 0.64, "CNN": 0.63, "WRN-Nat": 0.20}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--checkpoints", type=folder, default="checkpoints")
    parser.add_argument("--test-limit", type=positive_int, default=1000)
    parser.add_argument("--fractions", type=fraction, nargs="+",
                        default=[0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0],
                        help="fractions of the pixels swapped, increasing")
    parser.add_argument("--pgd-limit", type=positive_int, default=300,
                        help="first N test images for the (slow) PGD curve (at most --test-limit)")
    parser.add_argument("--eps", type=pixel_levels, nargs="+", default=[0, 4, 8, 16, 24, 32],
                        help="ε of the PGD curve, in units of 1/255, increasing")
    parser.add_argument("--pgd-steps", type=positive_int, default=10)
    parser.add_argument("--figures", type=folder, default="figures")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    increasing(parser, args.fractions, "--fractions")
    increasing(parser, args.eps, "--eps")
    if args.pgd_limit > args.test_limit:
        parser.error(f"--pgd-limit {args.pgd_limit} is more than --test-limit {args.test_limit}")

    began = time.perf_counter()
    x, y = load_dataset(args.data, "test", limit=args.test_limit)
    models = load_trained(args.checkpoints, args.data, x)
    swapped = {name: ta.sweep(model, x, y, ta.swap_pixels, args.fractions, param="fraction",
                              seed=args.seed, progress=False)["accuracy"]
               for name, model in models.items()}
    x_pgd, y_pgd = x[:args.pgd_limit], y[:args.pgd_limit]
    eps = np.array(args.eps, dtype=np.float64) / 255
    linf = {name: ta.sweep(model, x_pgd, y_pgd, ta.pgd, eps, steps=args.pgd_steps, seed=args.seed,
                           level_kwargs=lambda e: {"alpha": e / 4}, progress=False)["accuracy"]
            for name, model in models.items()}

    print(f"data: {args.data}; pixel swapping on the first {len(x)} test images, "
          f"PGD-{args.pgd_steps} (step ε/4, random start) on the first {len(x_pgd)}")
    print("\nfraction swapped " + "".join(f"{name:>9}" for name in models))
    for i, f in enumerate(args.fractions):
        print(f"  {f:6.0%}         " + "".join(f"{swapped[n][i]:9.3f}" for n in models))
    print("\n  ε·255          " + "".join(f"{name:>9}" for name in models))
    for i, e in enumerate(args.eps):
        print(f"  {e:6g}         " + "".join(f"{linf[n][i]:9.3f}" for n in models))

    print("\naccuracy            tinyadv   paper (REFERENCES §8)")
    for target, paper in ((0.2, PAPER_AT_20), (1.0, None)):
        if target not in args.fractions:
            continue
        i = args.fractions.index(target)
        for name in models:
            reference = f"≈ {paper[name]:.2f}" if paper else "≈ 0.10"
            print(f"  {name:<7} {target:4.0%} swapped {swapped[name][i]:7.3f}   {reference}")
    print("  (WRN ≈ 0.45 and WRN-Nat ≈ 0.20 at 20% are not trained here)")

    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2), sharey=True)
    for name in models:
        axes[0].plot(args.fractions, swapped[name], "-o", color=COLOURS[name], markersize=4,
                     label=f"{name} (tinyadv)")
        axes[1].plot(args.eps, linf[name], "-o", color=COLOURS[name], markersize=4,
                     label=f"{name} (tinyadv)")
    for name, value in PAPER_AT_20.items():
        axes[0].plot([0.2], [value], "x", color=COLOURS[name], markersize=9, mew=2,
                     label=f"{name} at 20% (paper)")
    axes[0].plot([1.0], [0.1], "x", color="black", markersize=9, mew=2, label="all at 100% (paper)")
    for ax in axes:
        ax.axhline(0.1, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_xlabel("fraction of pixels (channel values) randomly swapped")
    axes[0].set_ylabel("accuracy")
    axes[0].set_ylim(0, 1)
    axes[0].set_title(f"random pixel swapping ({len(x)} test images)", fontsize=10)
    axes[1].set_xlabel("ε (L∞, in units of 1/255)")
    axes[1].set_title(f"PGD-{args.pgd_steps} ({len(x_pgd)} test images)", fontsize=10)
    fig.suptitle(f"{args.data}: trade-offs between fault types (dotted: chance)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.figures, "pixel_swap_tradeoff.png"))
    plt.close(fig)

    rows = [ta.swap_pixels(None, x[:4], fraction=f, seed=args.seed) for f in args.fractions]
    rows = [np.stack([row[k] for row in rows]) for k in range(len(rows[0]))]
    fig = image_grid(rows, captions=[[f"{f:.0%}" for f in args.fractions]] * len(rows),
                     title="test images with a fraction of their pixels swapped")
    save_figure(fig, os.path.join(args.figures, "pixel_swap_examples.png"))
    plt.close(fig)
    print(f"\nwrote {args.figures}/pixel_swap_tradeoff.png and pixel_swap_examples.png "
          f"in {time.perf_counter() - began:.0f} s")
    return {"fractions": np.array(args.fractions), "swapped": swapped, "eps": np.array(args.eps),
            "linf": linf}


if __name__ == "__main__":
    run_script(main)
