"""Demo: train a small CNN on real MNIST digits, attack it with FGSM, and look at what changed.

The talk's opening slide in one minute: a network that classifies real digits well is fooled by
perturbations x_adv = clip(x + ε·sign(∇ₓL), 0, 1) (FGSM, Goodfellow et al. 2015) that a person
barely notices at small ε. Everything runs offline on the bundled mini-MNIST (5,000 training
and 2,000 test digits of the official MNIST).

    python scripts/demo.py                      # laptop default, < 1 minute on 2 cores
    python scripts/demo.py --data mnist --epochs 5 --nf 32

Prints a table of clean and adversarial accuracy against ε and writes figures/demo.png: test
digits, clean and under FGSM at each ε, with the model's prediction and confidence.
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import tinyadv as ta  # noqa: E402
from tinyadv.cli import (figure_path, fraction, increasing, nonnegative_int,  # noqa: E402
                         positive_int, run_script)
from tinyadv.data import DATASET_NAMES, load_dataset  # noqa: E402
from tinyadv.plots import image_grid, save_figure  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--epochs", type=positive_int, default=6)
    parser.add_argument("--nf", type=positive_int, default=16, help="filters of conv1 (the talk's CNN: 32)")
    parser.add_argument("--train-limit", type=positive_int, default=None)
    parser.add_argument("--test-limit", type=positive_int, default=2000)
    parser.add_argument("--eps", type=fraction, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.3],
                        help="increasing FGSM budgets in [0, 1], the pixels' range")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--out", type=figure_path, default="figures/demo.png")
    args = parser.parse_args(argv)
    increasing(parser, args.eps, "--eps")

    began = time.perf_counter()
    x_train, y_train = load_dataset(args.data, "train", limit=args.train_limit)
    x_test, y_test = load_dataset(args.data, "test", limit=args.test_limit)
    channels, size = x_train.shape[1], x_train.shape[2]
    print(f"data: {args.data}, {len(x_train)} training and {len(x_test)} test images "
          f"of shape {x_train.shape[1:]}")

    model = ta.cleverhans_cnn(in_channels=channels, image_size=size, nf=args.nf, seed=args.seed)
    history = ta.fit(model, x_train, y_train, epochs=args.epochs, batch_size=64, seed=args.seed)
    print(f"trained cleverhans_cnn (nf={args.nf}, {model.num_parameters():,} weights) for "
          f"{args.epochs} epochs: training accuracy {history['accuracy'][-1]:.3f}")

    print("\n   eps   accuracy   mean confidence")
    adversarial, table = {}, {}
    for eps in args.eps:
        x_adv = ta.fgsm(model, x_test, y_test, eps=eps)
        probabilities = ta.softmax(model.logits(x_adv))
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
        confidence = float(probabilities.max(axis=1).mean())
        print(f"  {eps:4.2f}   {accuracy:8.3f}   {confidence:15.3f}")
        adversarial[eps] = x_adv
        table[eps] = (accuracy, confidence)

    shown = np.arange(min(8, len(x_test)))
    rows, captions = [], []
    for eps, x_adv in adversarial.items():
        probabilities = ta.softmax(model.logits(x_adv[shown]))
        rows.append(x_adv[shown])
        captions.append([f"{p.argmax()} ({p.max():.2f})" for p in probabilities])
    fig = image_grid(rows, captions=captions, row_titles=[f"ε = {eps:g}" for eps in adversarial],
                     title=f"FGSM on {args.data}: prediction (confidence); "
                           f"true labels {' '.join(str(v) for v in y_test[shown])}")
    save_figure(fig, args.out)
    print(f"\nwrote {args.out} in {time.perf_counter() - began:.1f} s in all")
    return {"eps": list(table), "accuracy": [a for a, _ in table.values()],
            "confidence": [c for _, c in table.values()],
            "train_accuracy": history["accuracy"][-1]}


if __name__ == "__main__":
    run_script(main)
