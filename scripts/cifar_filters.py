"""First-layer filters and per-layer weight norms of the CIFAR-10 CNNs, with and without decay.

The talk's filter slide (REFERENCES.md §8; reference repo uoguelph-mlrg/
adversarial_training_vs_weight_decay): after adversarial training, CNN-L2's conv1 filters
(weight decay 1e-3·Σ ½‖W‖²) are edge and colour-blob detectors, several of them exactly zero;
CNN's (no weight decay) are noisy. Weight decay also keeps the deeper layers small: the paper's
Frobenius norms ‖W‖₂ without / with weight decay are conv1 7.3 / 6.3, conv2 59.0 / 8.1,
conv3 75.4 / 10.0, fc 3.0 / 4.7.

Display: each of the 32 filters (8×8×3) is min-max scaled to [0, 1] on its own,
(W − min W) / (max W − min W), so the picture shows each filter's pattern, not its size; a
filter whose entries are all equal (a zero filter) is drawn mid-grey. A filter counts as
(near-)zero when its norm is below ``--zero-tol`` times the largest conv1 filter norm of the
same model.

    TINYADV_DATA=/root/tinyadv-data python scripts/cifar_filters.py --data cifar10

Writes figures/cifar_filters.png (the two filter grids) and figures/cifar_weight_norms.png
(per-layer norms, tinyadv next to the paper, log scale). The models come from
train_cifar_cnn.py (``--checkpoints``).
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

from tinyadv.cli import folder, fraction, nonnegative_int  # noqa: E402
from tinyadv.data import DATASET_NAMES  # noqa: E402
from tinyadv.plots import save_figure  # noqa: E402
from train_cifar_cnn import load_trained  # noqa: E402  (the script beside this one)

LAYERS = ("conv1", "conv2", "conv3", "fc")
#: REFERENCES.md §8: per-layer ‖W‖₂ (without weight decay, with weight decay).
PAPER_NORMS = {"conv1": (7.3, 6.3), "conv2": (59.0, 8.1), "conv3": (75.4, 10.0), "fc": (3.0, 4.7)}


def filter_mosaic(weight, *, columns=8, gap=1):
    """Tile conv filters into one image, each min-max scaled to [0, 1] on its own.

    Parameters
    ----------
    weight : ndarray, shape (F, C, HH, WW), C = 1 or 3

    Returns
    -------
    mosaic : ndarray, shape (R·(HH+gap)+gap, columns·(WW+gap)+gap, 3), R = ⌈F/columns⌉;
        gaps are white. Each filter is (W − min W)/(max W − min W), or 0.5 when max = min.
    """
    f, c, hh, ww = weight.shape
    rows = -(-f // columns)
    mosaic = np.ones((rows * (hh + gap) + gap, columns * (ww + gap) + gap, 3))
    for k in range(f):
        w = weight[k].astype(np.float64)
        span = w.max() - w.min()
        w = (w - w.min()) / span if span > 0 else np.full_like(w, 0.5)
        tile = np.repeat(w, 3, axis=0) if c == 1 else w
        r, col = divmod(k, columns)
        top, left = gap + r * (hh + gap), gap + col * (ww + gap)
        mosaic[top:top + hh, left:left + ww] = tile.transpose(1, 2, 0)
    return mosaic


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist",
                        help="the data the models were trained on (only names the command to run)")
    parser.add_argument("--checkpoints", type=folder, default="checkpoints")
    parser.add_argument("--zero-tol", type=fraction, default=0.05,
                        help="a filter is (near-)zero below this fraction of the largest "
                             "filter norm, in (0, 1]")
    parser.add_argument("--figures", type=folder, default="figures")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="unused: nothing here is random")
    args = parser.parse_args(argv)
    if args.zero_tol == 0:
        parser.error("--zero-tol must be > 0: below 0·max no filter counts, not even a zero one")

    models = load_trained(args.checkpoints, args.data, names=("CNN", "CNN-L2"))
    norms, zero_filters = {}, {}
    for name, model in models.items():
        for layer in LAYERS:
            norms[name, layer] = float(np.linalg.norm(model[layer].params["weight"].data))
        filter_norms = np.linalg.norm(model["conv1"].params["weight"].data.reshape(
            model["conv1"].out_channels, -1).astype(np.float64), axis=1)
        zero_filters[name] = int(np.sum(filter_norms < args.zero_tol * filter_norms.max()))

    print("per-layer weight norm ‖W‖₂ (Frobenius)   tinyadv CNN / CNN-L2   paper CNN / CNN-L2")
    for layer in LAYERS:
        paper = PAPER_NORMS[layer]
        print(f"  {layer:<6}{'':34}{norms['CNN', layer]:7.2f} / {norms['CNN-L2', layer]:<7.2f}"
              f"   {paper[0]:7.1f} / {paper[1]:<5.1f}")
    weight = models["CNN"]["conv1"].params["weight"].data
    print(f"\n(near-)zero conv1 filters (norm < {args.zero_tol:g}·max), of {weight.shape[0]}: "
          + ", ".join(f"{name} {count}" for name, count in zero_filters.items())
          + "   (paper: CNN-L2 has several exactly zero, CNN none)")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, (name, model) in zip(axes, models.items()):
        w = model["conv1"].params["weight"].data
        ax.imshow(filter_mosaic(w), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}: conv1 {w.shape[0]} filters {w.shape[2]}×{w.shape[3]}×{w.shape[1]}, "
                     f"‖W‖₂ = {norms[name, 'conv1']:.2f}\n{zero_filters[name]} (near-)zero",
                     fontsize=9)
    fig.suptitle("first-layer filters, each min-max scaled to [0, 1] on its own "
                 "(a zero filter is mid-grey)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.figures, "cifar_filters.png"))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    positions = np.arange(len(LAYERS))
    bars = (("CNN (tinyadv)", [norms["CNN", l] for l in LAYERS], "tab:orange", None),
            ("CNN (paper)", [PAPER_NORMS[l][0] for l in LAYERS], "tab:orange", "//"),
            ("CNN-L2 (tinyadv)", [norms["CNN-L2", l] for l in LAYERS], "tab:blue", None),
            ("CNN-L2 (paper)", [PAPER_NORMS[l][1] for l in LAYERS], "tab:blue", "//"))
    for i, (label, values, colour, hatch) in enumerate(bars):
        ax.bar(positions + (i - 1.5) * 0.2, values, width=0.2, label=label, color=colour,
               hatch=hatch, alpha=0.55 if hatch else 1.0, edgecolor="black", linewidth=0.5)
    ax.set_xticks(positions, LAYERS)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_ylabel("‖W‖₂ (Frobenius norm)")
    ax.set_title("per-layer weight norms, with and without weight decay")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.figures, "cifar_weight_norms.png"))
    plt.close(fig)
    print(f"\nwrote {args.figures}/cifar_filters.png and cifar_weight_norms.png")
    return {"norms": norms, "zero_filters": zero_filters}


if __name__ == "__main__":
    main()
