"""Robust training does not learn random labels: training accuracy on permuted labels.

The talk's slide on memorisation (after Zhang et al. 2017, "Understanding deep learning requires
rethinking generalization", ICLR): a network trained naturally fits *random* labels, given
enough epochs; a model trained adversarially on the same data with the same budget does not,
because a perturbation of ε around every training image cannot carry an arbitrary label.

Protocol here: the first ``--train-limit`` training images of the data set, with their labels
replaced by a fixed seeded permutation of the training labels (the class frequencies are kept,
the link between image and label is destroyed), and three copies of the talk's CleverHans CNN
(REFERENCES.md §8; no biases, Adam lr 1e-3, batch 128), trained for the same number of epochs:

    natural        cross-entropy only,
    weight decay   plus ½ λ₂ Σ ‖W‖²  (λ₂ = 1e-3, CNN-L2's value),
    adversarial    ½ CE(clean) + ½ CE(x_adv) through ``fit(batch_hook=...)``, x_adv = FGSM
                   (default) or PGD-k in L∞ at ε = 8/255 against the (random) training labels.

After every epoch the clean training accuracy on the random labels is measured over the whole
training subset in evaluation mode (``validation_data`` = the training set). Chance is the
accuracy of always predicting the most frequent label. The laptop default (the first 2,000
training images of --data: the bundled mini-MNIST unless --data names another, CIFAR-10 in the
command below; 30 epochs) is chosen so that the natural model is well past chance by the end; the claim is read
from the last epoch.

    TINYADV_DATA=/root/tinyadv-data python scripts/random_labels.py --data cifar10

Writes figures/random_labels.png (training accuracy against epoch, chance marked).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinyadv as ta  # noqa: E402
from tinyadv.cli import (changed_flags, folder, fraction, nonnegative_float,  # noqa: E402
                         nonnegative_int, positive_float, positive_int, run_script)
from tinyadv.data import DATASET_NAMES, load_dataset  # noqa: E402
from tinyadv.plots import save_figure  # noqa: E402

COLOURS = {"natural": "tab:orange", "weight decay": "tab:blue", "adversarial": "tab:green"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--train-limit", type=positive_int, default=2000,
                        help="first N training images")
    parser.add_argument("--epochs", type=positive_int, default=30)
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--lr", type=positive_float, default=1e-3)
    parser.add_argument("--weight-decay", type=nonnegative_float, default=1e-3)
    parser.add_argument("--attack", choices=("fgsm", "pgd"), default="fgsm")
    parser.add_argument("--eps", type=fraction, default=8 / 255,
                        help="L∞ budget on pixels in [0, 1] (default 8/255 ≈ 0.0314)")
    parser.add_argument("--alpha", type=positive_float, default=2 / 255,
                        help="PGD step on pixels in [0, 1] (default 2/255)")
    parser.add_argument("--steps", type=positive_int, default=7, help="PGD iterations")
    parser.add_argument("--nf", type=positive_int, default=32,
                        help="filters of conv1 (paper's CNN: 32)")
    parser.add_argument("--figures", type=folder, default="figures")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    if args.attack == "fgsm" and changed_flags(parser, args, ("alpha", "steps")):
        parser.error("--alpha and --steps set PGD's iterations: add --attack pgd")

    began = time.perf_counter()
    x, y_true = load_dataset(args.data, "train", limit=args.train_limit)
    y = ta.permuted_labels(y_true, args.seed)
    num_classes = int(y_true.max()) + 1
    chance = np.bincount(y).max() / len(y)
    attack_name = ("FGSM" if args.attack == "fgsm"
                   else f"PGD-{args.steps} (step {args.alpha * 255:g}/255)")
    print(f"data: {args.data}, first {len(x)} training images {x.shape[1:]}, labels permuted "
          f"(seed {args.seed}); {np.mean(y == y_true):.3f} of them keep their true label")
    print(f"budget: {args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr:g}, each model; "
          f"adversarial = ½ clean + ½ {attack_name} L∞ ε = {args.eps * 255:g}/255")

    # ½ CE(clean) + ½ CE(x_adv), x_adv against the (random) training labels themselves
    if args.attack == "fgsm":
        adversarial_hook = ta.adversarial_hook(ta.fgsm, true_labels=True, eps=args.eps)
    else:
        adversarial_hook = ta.adversarial_hook(ta.pgd, true_labels=True, eps=args.eps,
                                               alpha=args.alpha, steps=args.steps)
    variants = (("natural", 0.0, None),
                ("weight decay", args.weight_decay, None),
                ("adversarial", 0.0, adversarial_hook))
    curves, seconds = {}, {}
    for name, weight_decay, hook in variants:
        model = ta.cleverhans_cnn(in_channels=x.shape[1], nf=args.nf, image_size=x.shape[2],
                                  num_classes=num_classes, seed=args.seed)
        start = time.perf_counter()
        history = ta.fit(model, x, y, epochs=args.epochs, batch_size=args.batch_size,
                         optimizer=ta.Adam(model.parameters(), lr=args.lr),
                         weight_decay=weight_decay, batch_hook=hook, validation_data=(x, y),
                         seed=args.seed, progress=False)
        curves[name] = np.asarray(history["val_accuracy"])
        seconds[name] = time.perf_counter() - start
        print(f"  {name:<13} λ₂ = {weight_decay:<6g} training accuracy by epoch: "
              + " ".join(f"{a:.2f}" for a in curves[name]) + f"   ({seconds[name]:.0f} s)")

    print(f"\nclean training accuracy on random labels after {args.epochs} epochs "
          f"(chance {chance:.3f})")
    print("  model           tinyadv   paper / talk")
    claims = {"natural": "memorises (Zhang et al. 2017: → 100% given enough epochs)",
              "weight decay": "—",
              "adversarial": "does not learn random labels (stays near chance)"}
    for name in curves:
        print(f"  {name:<14} {curves[name][-1]:8.3f}   {claims[name]}")

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    epochs = np.arange(1, args.epochs + 1)
    for name, accuracy in curves.items():
        label = name if name != "adversarial" else f"adversarial (½ clean + ½ {attack_name})"
        if name == "weight decay":
            label += f" (λ₂ = {args.weight_decay:g})"
        ax.plot(epochs, accuracy, "-o", markersize=3, color=COLOURS[name], label=label)
    ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training accuracy on random labels")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{args.data}: {len(x)} training images with permuted labels, "
                 f"CNN nf={args.nf}, L∞ ε = {args.eps * 255:g}/255", fontsize=9)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.figures, "random_labels.png"))
    plt.close(fig)
    print(f"\nwrote {args.figures}/random_labels.png in {time.perf_counter() - began:.0f} s")
    return {"curves": curves, "chance": chance, "seconds": seconds}


if __name__ == "__main__":
    run_script(main)
