"""Fooling images from noise, for models with and without weight decay.

The talk's "fooling images" slide (Nguyen, Yosinski & Clune 2015, "Deep neural networks are easily
fooled", CVPR; REFERENCES.md §5 and §8): a targeted iterative attack started from noise makes,
for every class, an image that the model assigns to that class. How *recognisable* the result
is says what the model learned: a model with weight decay draws edges and blobs of the class, a
model without stays noisy and is fooled with a larger margin. Reported per image: the confidence
p_t of the target class and the margin, top-1 minus top-2 softmax probability
(``tinyadv.fooling_images``).

Two protocols, both on the same two models:

* CIFAR-10 (reference script ``cifar10_fooling_images.py``): x₀ = 0.5 + U(0, 0.1), targeted
  BIM-L∞, ε = 1 (unbounded), step 0.005, 50 iterations, clipped to [0, 1], seed 0;
* SVHN (input-fault paper): x₀ ~ N(0, 0.1²), targeted BIM-L2 step 0.1, 100 iterations, no
  clipping. There is no SVHN copy on the project machine: this protocol runs on the data at hand
  (``--data``), with the models of this script (inputs in [0, 1], not the paper's standardised
  greyscale SVHN), and the output says so.

Also measured: how the weight-decay model classifies the baseline's CIFAR-protocol fooling images
(paper, SVHN: mean margin only 28%), and the attack success and margin against a bound ε of the
CIFAR protocol (paper §8: CNN-L2's success peaks ≈ 98% near ε ≈ 25/255 with margin ≈ 14–17%).
50 steps of 0.005 move a pixel at most 0.25 ≈ 64/255, so ε ≥ 64/255 is the unbounded attack.

Models: "CNN" and "CNN-L2" (REFERENCES §8, the talk's CleverHans CNN without biases, weight decay
0 and 1e-3·Σ ½‖W‖², ``--weight-decay``). With ``--checkpoints DIR`` the adversarially trained models of
train_cifar_cnn.py are read from DIR/cifar_cnn.npz and DIR/cifar_cnn_l2.npz when present;
otherwise this script trains both itself, naturally (no adversarial phase): laptop default the
first 5,000 training images, 6 epochs, Adam lr 1e-3.

    TINYADV_DATA=/root/tinyadv-data python scripts/fooling_images.py --data cifar10

Writes figures/fooling_images.png (one fooling image per class per model and protocol, with
confidence and margin) and, with an ε sweep, figures/fooling_images_eps.png (success and margin
against ε, and the summary table).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinyadv as ta  # noqa: E402
from tinyadv.cli import (changed_flags, folder, increasing, nonnegative_float,  # noqa: E402
                         nonnegative_int, pixel_levels, positive_int, run_script)
from tinyadv.data import DATASET_NAMES, load_dataset  # noqa: E402
from tinyadv.data.cifar import CIFAR10_CLASSES  # noqa: E402
from tinyadv.plots import image_grid, save_figure  # noqa: E402

MODELS = (("CNN-L2", "cifar_cnn_l2"), ("CNN", "cifar_cnn"))
COLOURS = {"CNN-L2": "tab:blue", "CNN": "tab:orange"}
CIFAR = dict(start="uniform", norm=np.inf, alpha=0.005, steps=50, clip=(0.0, 1.0))
SVHN = dict(start="gaussian", norm=2, alpha=0.1, steps=100, clip=None)


def file_name(text):
    """A flag's type: a plain file name, not empty and without a folder."""
    if text in ("", ".", "..") or os.path.basename(text) != text:
        raise argparse.ArgumentTypeError(f"must be a plain file name (no folder), got {text!r}")
    return text


def get_models(args, x_train, y_train, training_flags=()):
    """{name: (model, how it was obtained)}: read from --checkpoints when present, else trained.
    ``training_flags``, the training flags given on the command line, are named as unused for a
    model that was read."""
    unused = f"; {', '.join(training_flags)} not used for it" if training_flags else ""
    models = {}
    for name, stem in MODELS:
        weight_decay = args.weight_decay if name == "CNN-L2" else 0.0
        path = os.path.join(args.checkpoints, f"{stem}.npz") if args.checkpoints else None
        if path and os.path.exists(path):
            model = ta.load(path)
            model.eval()
            try:
                model.logits(x_train[:1])
            except ValueError as error:
                raise SystemExit(f"{path} does not take {args.data} images {x_train.shape[1:]} "
                                 f"({error}): give --checkpoints of models trained on "
                                 f"{args.data}, or none to train them here") from error
            models[name] = (model, f"read {path} (train_cifar_cnn.py: clean + PGD-7 adversarial)"
                                   + unused)
            continue
        model = ta.cleverhans_cnn(in_channels=x_train.shape[1], nf=args.nf,
                                  image_size=x_train.shape[2], seed=args.seed)
        start = time.perf_counter()
        ta.fit(model, x_train, y_train, epochs=args.epochs, batch_size=128,
               optimizer=ta.Adam(model.parameters(), lr=1e-3), weight_decay=weight_decay,
               seed=args.seed, progress=False)
        model.eval()
        models[name] = (model, f"trained here: {len(x_train)} images, {args.epochs} clean epochs, "
                               f"λ₂ = {weight_decay:g} ({time.perf_counter() - start:.0f} s)")
    return models


def margins(model, x):
    """(predicted class, margin p₍₁₎ − p₍₂₎) of the model's softmax on x (N, C, H, W)."""
    p = ta.softmax(model.logits(x).astype(np.float64))
    top2 = np.sort(p, axis=1)[:, -2:]
    return p.argmax(axis=1), top2[:, 1] - top2[:, 0]


def summary(result):
    """Success rate, mean confidence and mean margin of a FoolingResult."""
    return (float(result.success.mean()), float(result.confidence.mean()),
            float(result.margin.mean()))


def display(images):
    """Min-max scale each image into [0, 1] for display (unclipped SVHN-protocol images)."""
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    return (images - low) / np.maximum(high - low, 1e-12)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--checkpoints", type=folder, default=None,
                        help="folder with train_cifar_cnn.py's cifar_cnn.npz / cifar_cnn_l2.npz")
    parser.add_argument("--train-limit", type=positive_int, default=5000)
    parser.add_argument("--epochs", type=positive_int, default=6)
    parser.add_argument("--weight-decay", type=nonnegative_float, default=1e-3,
                        help="λ₂ of CNN-L2 when training here (§8: 1e-3; §4, SVHN: 1e-2)")
    parser.add_argument("--name", type=file_name, default="fooling_images",
                        help="figure names: <name>.png and <name>_eps.png in --figures")
    parser.add_argument("--nf", type=positive_int, default=32,
                        help="conv1 filters when training here")
    parser.add_argument("--per-class", type=positive_int, default=10,
                        help="fooling images per class")
    parser.add_argument("--eps", type=pixel_levels, nargs="*",
                        default=[2, 4, 8, 16, 25, 32, 48, 64],
                        help="bounds of the ε sweep in /255, increasing (empty: no sweep and no "
                             "<name>_eps.png)")
    parser.add_argument("--sweep-per-class", type=positive_int, default=5)
    parser.add_argument("--figures", type=folder, default="figures")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    increasing(parser, args.eps, "--eps")

    began = time.perf_counter()
    x_train, y_train = load_dataset(args.data, "train", limit=args.train_limit)
    shape = x_train.shape[1:]
    training_flags = changed_flags(parser, args, ("train_limit", "epochs", "weight_decay", "nf"))
    models = get_models(args, x_train, y_train, training_flags)
    names = CIFAR10_CLASSES if args.data == "cifar10" else tuple(str(k) for k in range(10))
    svhn_source = "SVHN" if args.data == "svhn" else f"{args.data} (no SVHN on this machine)"
    print(f"data: {args.data}, images {shape}")
    for name, (_, how) in models.items():
        print(f"  {name}: {how}")

    cifar = {name: ta.fooling_images(model, shape, per_class=args.per_class, seed=args.seed, **CIFAR)
             for name, (model, _) in models.items()}
    svhn = {name: ta.fooling_images(model, shape, per_class=args.per_class, seed=args.seed, **SVHN)
            for name, (model, _) in models.items()}
    cross_pred, cross_margin = margins(models["CNN-L2"][0], cifar["CNN"].images)
    cross_agree = float(np.mean(cross_pred == cifar["CNN"].targets))
    back_pred, back_margin = margins(models["CNN"][0], cifar["CNN-L2"].images)

    print(f"\nfooling images, {args.per_class} per class "
          f"(success / mean confidence / mean margin = top-1 − top-2 softmax)")
    print("  protocol                              model     success  confidence  margin")
    for label, results in (("CIFAR-10: 0.5+U(0,0.1), BIM-L∞ 0.005×50", cifar),
                           (f"SVHN: N(0,0.1²), BIM-L2 0.1×100 on {args.data}", svhn)):
        for name, result in results.items():
            success, confidence, margin = summary(result)
            print(f"  {label:<38} {name:<8} {success:8.3f} {confidence:10.3f} {margin:8.3f}")
    print(f"\nCNN-L2 on CNN's fooling images: agrees with the target {cross_agree:.3f}, "
          f"mean margin {cross_margin.mean():.3f}   (paper, SVHN: mean margin only 0.28)")
    print(f"CNN on CNN-L2's fooling images: agrees {np.mean(back_pred == cifar['CNN-L2'].targets):.3f}, "
          f"mean margin {back_margin.mean():.3f}")

    sweep = {}
    if args.eps:
        print("\nCIFAR protocol with a bound ε: success / mean margin   "
              "(paper §8: CNN-L2 success peaks ≈ 0.98 near ε ≈ 25/255, margin ≈ 0.14–0.17)")
        print("  ε·255 " + "".join(f"{name:>20}" for name in models))
        for name, (model, _) in models.items():
            sweep[name] = np.array([summary(ta.fooling_images(
                model, shape, per_class=args.sweep_per_class, seed=args.seed, eps=e / 255,
                **CIFAR)) for e in args.eps])
        for i, e in enumerate(args.eps):
            print(f"  {e:5g} " + "".join(f"{sweep[n][i, 0]:12.3f} {sweep[n][i, 2]:7.3f}"
                                         for n in models))

    first = slice(None, None, args.per_class)  # one image per class
    rows, captions, titles = [], [], []
    for label, results, show in (("CIFAR", cifar, lambda a: a), ("SVHN prot.", svhn, display)):
        for name, result in results.items():
            rows.append(show(result.images[first]))
            captions.append([f"{names[t]}\np={c:.2f} m={m:.2f}" for t, c, m in zip(
                result.targets[first], result.confidence[first], result.margin[first])])
            titles.append(f"{name}\n{label}")
    fig = image_grid(rows, captions=captions, row_titles=titles, cell_size=1.35,
                     title=f"fooling images of models trained on {args.data}; p = confidence, "
                           f"m = margin (top-1 − top-2)\nCIFAR protocol: 0.5+U(0,0.1), BIM-L∞ "
                           f"0.005×50, clipped; SVHN protocol on {svhn_source}: N(0,0.1²), "
                           f"BIM-L2 0.1×100, unclipped, shown min-max scaled")
    save_figure(fig, os.path.join(args.figures, f"{args.name}.png"))
    plt.close(fig)

    result = {"cifar": cifar, "svhn": svhn, "cross_margin": float(cross_margin.mean()),
              "cross_agree": cross_agree, "sweep": sweep}
    if not sweep:
        print(f"\nno ε sweep (--eps without values), so no {args.name}_eps.png; wrote "
              f"{args.figures}/{args.name}.png in {time.perf_counter() - began:.0f} s")
        return result

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.5]})
    for name in models:
        axes[0].plot(args.eps, sweep[name][:, 0], "-o", color=COLOURS[name], markersize=4,
                     label=name)
        axes[1].plot(args.eps, sweep[name][:, 2], "-o", color=COLOURS[name], markersize=4,
                     label=name)
    for ax, label in zip(axes[:2], ("attack success (prediction = target)",
                                    "mean margin (top-1 − top-2 softmax)")):
        ax.axvline(25, color="grey", ls=":", lw=1, label="paper: CNN-L2 peak near 25/255")
        ax.set_xlabel("ε·255 (L∞ bound of the CIFAR protocol)")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].axhline(0.98, color="tab:blue", ls="--", lw=0.8)
    axes[1].axhspan(0.14, 0.17, color="tab:blue", alpha=0.15)
    cells = [[f"{name}, {label}", f"{s:.2f}", f"{c:.2f}", f"{m:.2f}"]
             for label, results in (("CIFAR prot.", cifar), ("SVHN prot.", svhn))
             for name, result in results.items() for s, c, m in [summary(result)]]
    cells.append(["CNN-L2 on CNN's images", f"{cross_agree:.2f}", "—", f"{cross_margin.mean():.2f}"])
    cells.append(["paper (SVHN): CNN-L2 on CNN's", "—", "—", "0.28"])
    axes[2].axis("off")
    table = axes[2].table(cellText=cells, colLabels=["model, protocol", "success", "confidence",
                                                     "margin"], loc="center", cellLoc="center",
                          colWidths=[0.46, 0.18, 0.18, 0.18])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.4)
    axes[2].set_title(f"{args.per_class} fooling images per class", fontsize=9)
    fig.suptitle(f"fooling images on {args.data} against the L∞ bound ε "
                 f"({args.sweep_per_class} per class; paper values dashed/shaded)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, os.path.join(args.figures, f"{args.name}_eps.png"))
    plt.close(fig)
    print(f"\nwrote {args.figures}/{args.name}.png and {args.name}_eps.png "
          f"in {time.perf_counter() - began:.0f} s")
    return result


if __name__ == "__main__":
    run_script(main)
