"""Slides "interpretability of logistic regression" and "candidate examples": MNIST 3 vs 7.

Goodfellow, Shlens & Szegedy (2015) train logistic regression to tell 3s from 7s and break it
with FGSM at ε = 0.25 (1.6% clean error, 99% error under attack). Galloway, Tanay & Taylor
(2018, "Adversarial training versus weight decay", REFERENCES.md §7) train the same model
σ(x·w) (no bias, label 3 → 1, 7 → 0) in several ways and look at w as a 28×28 image: with L2
weight decay it is a smooth "3 minus 7" template, without it is noisy, FGSM adversarial training
makes it sparse (like L1). This script trains

    natural       sigmoid cross-entropy, truncated-normal(0.1) init
    l2            + λ₂·½‖w‖²        (λ₂ = 3.25 as in §7)
    l1            + λ₁·mean|w|      (λ₁ = 3.25 as in §7)
    adversarial   trained on FGSM examples x_adv = clip(x + ε·sign(∇ₓL), 0, 1), ε = 0.25, of
                  each batch (the reference trains on x_adv only; --adv-mix gives Goodfellow's
                  ½ CE(clean) + ½ CE(adversarial))
    expert        no training: w = mean(3s) − mean(7s) of the training set
    expert-l2     expert init, then trained with λ₂ = 0.05
    binarized     sign(w)·mean|w| of the trained natural model

and prints, for each, clean test accuracy, FGSM accuracy at ε = 0.25, the mean ‖x_adv − x‖₂ and
‖w‖₂ next to the papers' numbers. Figures (in --figures, prefix logistic_3v7_, or
logistic_3v7_paper_ with --paper-protocol):

    _weights.png     w of every model as a 28×28 image (red > 0 votes 3, blue < 0 votes 7)
    _sweep.png       FGSM accuracy against ε for every model, with §7's expert-L2 points
    _candidates.png  clean test digits and the FGSM candidates of each model, with predictions
    _l0.png          §7's L0 attack (the i most positive and i most negative weight pixels set
                     to 1, i ≤ 50) against tinyadv's pixel_attack with the same 2i pixels

Training protocols
------------------
Laptop default: the same model, init and losses, trained with Adam lr 1e-3, batch 128, for
--epochs (30) epochs over all training 3s and 7s, shuffled (ta.fit): a few seconds per model,
about two minutes for the whole script on full MNIST. Training to convergence changes one
model in kind: expert-l2 forgets its expert start and becomes the λ₂ = 0.05 optimum (the loss
is strictly convex), while the reference's 10,000 steps at lr 1e-5 move each weight by at most
0.1 and so stay near the expert template.

--paper-protocol: the reference code (uoguelph-mlrg/adversarial_training_vs_weight_decay,
logistic/logistic.py): Adam lr 1e-5, batch 128, --paper-steps steps (50,000; expert-l2 10,000),
unshuffled minibatches starting at s = (step·128) mod (⌊N/128⌋ − 1), so only the first
⌊N/128⌋ − 2 + 128 ≈ 214 training images are ever used (the largest start plus a batch); on full MNIST the first 5,000 training
images are dropped first (TensorFlow's input_data keeps them as its validation split). The
reference's binarized model was trained through a straight-through estimator; here it is the
natural model binarized after training in both protocols. About 4 minutes of training on an
idle 2-core machine (FGSM training is 4× slower per step), 10 minutes on a busy one.

    python scripts/logistic_3v7.py                                   # bundled mini-MNIST
    TINYADV_DATA=/root/tinyadv-data python scripts/logistic_3v7.py --data mnist
    TINYADV_DATA=/root/tinyadv-data python scripts/logistic_3v7.py --data mnist --paper-protocol
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinyadv as ta  # noqa: E402
from tinyadv.checks import check_positive_int  # noqa: E402
from tinyadv.cli import (  # noqa: E402
    folder,
    fraction,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    run_script,
)
from tinyadv.data import load_dataset, select_classes  # noqa: E402
from tinyadv.init import truncated_normal  # noqa: E402
from tinyadv.plots import image_grid, save_figure, signed_image_grid  # noqa: E402

MODELS = ("natural", "l2", "l1", "adversarial", "expert", "expert-l2", "binarized")
GREYSCALE_28 = ("mini-mnist", "mnist", "fashion-mnist")  # the data sets of 28×28 greyscale images

#: The papers' numbers: clean acc, FGSM acc at ε = 0.25, mean ‖x_adv − x‖₂, ‖w‖₂ (None: not
#: reported). natural's clean and FGSM numbers are Goodfellow et al. (2015, REFERENCES §1:
#: 1.6% and 99% error); everything else is Galloway, Tanay & Taylor (2018, §7).
PAPER = {
    "natural": (0.984, 0.01, None, 7.17),
    "l2": (0.9603, 0.3572, None, None),
    "l1": (0.9642, 0.5805, None, None),
    "adversarial": (None, None, None, 1.97),
    "expert": (0.9485, 0.3960, 4.92, None),
    "expert-l2": (0.9603, 0.4087, None, 4.05),
    "binarized": (0.9696, 0.0000, None, None),
}
#: §7's FGSM ε-sweep of the expert-L2 model (ε, accuracy).
PAPER_EXPERT_L2_SWEEP = ((0.05, 0.9313), (0.06, 0.9254), (0.07, 0.9132), (0.08, 0.8994),
                         (0.09, 0.8867), (0.50, 0.0000))
#: §7's L0 attack at i = 50: accuracy and mean confidence 2|σ(z) − ½| (model not named; 0.4956 is
#: 1010/2038, the share of 3s in the test set: every digit pushed to "3").
PAPER_L0 = (50, 0.4956, 0.9725)
COLORS = {name: f"C{i}" for i, name in enumerate(MODELS)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--data", choices=GREYSCALE_28, default="mini-mnist",
                        help="28×28 greyscale images (the weight images and the L0 attack need them)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use at most this many train and test digits")
    parser.add_argument("--eps", type=fraction, default=0.25, help="FGSM L∞ budget in [0, 1] (the papers' 0.25)")
    parser.add_argument("--l2", type=nonnegative_float, default=3.25, help="λ₂ of the l2 model (§7: 3.25)")
    parser.add_argument("--l1", type=nonnegative_float, default=3.25, help="λ₁ of the l1 model (§7: 3.25)")
    parser.add_argument("--expert-l2", type=nonnegative_float, default=0.05, help="λ₂ of expert-l2 (§7: 0.05)")
    parser.add_argument("--adv-mix", action="store_true",
                        help="adversarial training on ½ clean + ½ FGSM (Goodfellow) instead of FGSM only")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="laptop protocol only: epochs over all digits (default 30)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="laptop protocol only: Adam learning rate (default 1e-3)")
    parser.add_argument("--paper-protocol", action="store_true",
                        help="the reference code's training: Adam lr 1e-5, --paper-steps steps (over the "
                             "first ≈214 digits at the default steps)")
    parser.add_argument("--paper-steps", type=positive_int, default=None,
                        help="--paper-protocol only: Adam steps (default 50,000)")
    parser.add_argument("--paper-expert-steps", type=positive_int, default=None,
                        help="--paper-protocol only: Adam steps of expert-l2 (default 10,000)")
    parser.add_argument("--max-pixels", type=positive_int, default=50,
                        help="largest i of the L0 attack, at most 392 (2i pixels of a 28×28 digit)")
    parser.add_argument("--sweep-points", type=positive_int, default=51,
                        help="ε values from 0 to 0.5 in the sweep, at least 2")
    parser.add_argument("--figures", type=folder, default="figures", help="folder for the logistic_3v7_*.png files")
    args = parser.parse_args(argv)
    if args.paper_protocol and (args.epochs, args.lr) != (None, None):
        parser.error("--epochs and --lr set the laptop protocol; --paper-protocol trains --paper-steps at lr 1e-5")
    if not args.paper_protocol and (args.paper_steps, args.paper_expert_steps) != (None, None):
        parser.error("--paper-steps and --paper-expert-steps need --paper-protocol")
    if 2 * args.max_pixels > 28 * 28:
        parser.error(f"--max-pixels must be <= 392 (2i pixels of a 28×28 digit), got {args.max_pixels}")
    if args.sweep_points < 2:
        parser.error(f"--sweep-points must be >= 2 (ε = 0 and ε = 0.5), got {args.sweep_points}")
    args.epochs, args.lr = args.epochs or 30, args.lr or 1e-3
    args.paper_steps, args.paper_expert_steps = args.paper_steps or 50_000, args.paper_expert_steps or 10_000
    return args


# ---- data and models ----------------------------------------------------------------------


def load_data(args):
    """(x_train, y_train, x_test, y_test) of 3 (label 1) vs 7 (label 0), NCHW float32."""
    x_test, y_test = load_dataset(args.data, "test", classes=(3, 7), binary=True, limit=args.limit)
    if args.paper_protocol:
        x, y = load_dataset(args.data, "train")
        if len(x) == 60_000:         # TensorFlow's input_data: the first 5,000 are validation
            x, y = x[5000:], y[5000:]
        x_train, y_train = select_classes(x, y, (3, 7), binary=True)
        if args.limit is not None:
            x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    else:
        x_train, y_train = load_dataset(args.data, "train", classes=(3, 7), binary=True,
                                        limit=args.limit)
    if len(np.unique(y_train)) < 2:
        raise SystemExit(f"the first {len(y_train)} training digits are all "
                         f"{'3s' if y_train[0] == 1 else '7s'}: the expert initialisation needs both "
                         f"classes; give a larger --limit")
    return x_train, y_train, x_test, y_test


def paper_model(n_features, seed):
    """σ(x·w): logistic regression without bias, w ~ truncated normal(0, 0.1²) (§7)."""
    model = ta.logistic_regression(n_features, bias=False, seed=seed)
    rng = np.random.default_rng(seed)
    set_weights(model, truncated_normal(rng, (n_features,), 0.1))
    return model


def set_weights(model, w):
    weight = model["fc"].params["weight"]
    weight.data = np.asarray(w, dtype=weight.data.dtype).reshape(weight.data.shape)


def weights_of(model):
    """w of a logistic model as a flat float64 vector (n_features,)."""
    return model["fc"].params["weight"].data.astype(np.float64).ravel()


def expert_weights(x, y):
    """w = mean(x | y = 1) − mean(x | y = 0): the mean 3 minus the mean 7, flattened."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return flat[y == 1].mean(axis=0) - flat[y == 0].mean(axis=0)


def binarize(w):
    """sign(w)·mean|w|: one bit per weight and one shared scale (§7)."""
    return np.sign(w) * np.mean(np.abs(w))


# ---- training -----------------------------------------------------------------------------


def paper_batch_starts(n, batch_size, steps):
    """The reference code's minibatch starts s = (step·B) mod (⌊N/B⌋ − 1), shape (steps,).

    The modulus is the number of batches, not of images, so s < ⌊N/B⌋ − 1 and only the first
    ⌊N/B⌋ − 2 + B images are ever used (≈ 214 of MNIST's 3s and 7s).
    """
    modulus = max(n // batch_size - 1, 1)
    return (np.arange(steps) * batch_size) % modulus


def train(model, x, y, args, *, steps, weight_decay=0.0, l1=0.0, adversarial=False):
    """Train ``model`` in place by the chosen protocol; returns the wall time in seconds."""
    began = time.perf_counter()
    hook = ta.adversarial_hook(ta.fgsm, mix=args.adv_mix, true_labels=True, eps=args.eps) if adversarial else None
    if not args.paper_protocol:
        ta.fit(model, x, y, epochs=args.epochs, batch_size=128,
               optimizer=ta.Adam(model.parameters(), lr=args.lr), weight_decay=weight_decay, l1=l1,
               batch_hook=hook, seed=args.seed, progress=False)
        return time.perf_counter() - began
    optimizer = ta.Adam(model.parameters(), lr=1e-5)
    model.train()
    for step, s in enumerate(paper_batch_starts(len(x), 128, steps)):
        xb, yb = x[s:s + 128], y[s:s + 128]
        if hook is not None:
            xb, yb = hook(model, xb, yb, epoch=0, step=step, rng=None)
            model.train()  # the hook attacks in evaluation mode; the step trains (as fit does)
        ta.train_step(model, optimizer, xb, yb, weight_decay=weight_decay, l1=l1)
    model.eval()
    return time.perf_counter() - began


def build_models(x_train, y_train, args):
    """The seven models of the table, trained; returns ({name: model}, {name: seconds})."""
    n_features = int(np.prod(x_train.shape[1:]))
    models, seconds = {}, {}
    steps = args.paper_steps
    plans = {"natural": dict(), "l2": dict(weight_decay=args.l2), "l1": dict(l1=args.l1),
             "adversarial": dict(adversarial=True)}
    for name, options in plans.items():
        models[name] = paper_model(n_features, args.seed)
        seconds[name] = train(models[name], x_train, y_train, args, steps=steps, **options)
    models["expert"] = paper_model(n_features, args.seed)
    set_weights(models["expert"], expert_weights(x_train, y_train))
    seconds["expert"] = 0.0
    models["expert-l2"] = paper_model(n_features, args.seed)
    set_weights(models["expert-l2"], expert_weights(x_train, y_train))
    seconds["expert-l2"] = train(models["expert-l2"], x_train, y_train, args,
                                 steps=args.paper_expert_steps, weight_decay=args.expert_l2)
    models["binarized"] = paper_model(n_features, args.seed)
    set_weights(models["binarized"], binarize(weights_of(models["natural"])))
    seconds["binarized"] = 0.0
    for model in models.values():
        model.eval()
    return models, seconds


# ---- evaluation ---------------------------------------------------------------------------


def fgsm_report(model, x, y, eps):
    """Clean accuracy, FGSM accuracy, mean ‖x_adv − x‖₂ over the images, and x_adv (N, C, H, W).

    FGSM at the true labels, x_adv = clip(x + ε·sign(∇ₓ CE), 0, 1), as the reference code.
    """
    x_adv = ta.fgsm(model, x, y, eps=eps)
    distance = np.linalg.norm((x_adv - x).reshape(len(x), -1).astype(np.float64), axis=1)
    return ta.accuracy(model, x, y), ta.accuracy(model, x_adv, y), float(distance.mean()), x_adv


def binary_confidence(model, x):
    """The reference code's confidence 2|σ(z) − ½| per image (N,): 0 at the boundary, 1 far away."""
    z = model.logits(x)[:, 0].astype(np.float64)
    return 2 * np.abs(1 / (1 + np.exp(-z)) - 0.5)


def weight_pixel_attack(w, x, i):
    """§7's L0 attack: set the i most positive and the i most negative weight pixels to 1.

    Parameters
    ----------
    w : ndarray, shape (D,)   the model's weights (D = C·H·W)
    x : ndarray, shape (N, C, H, W)
    i : int, 0 <= i <= D/2

    Returns
    -------
    x_adv : ndarray, shape and dtype of x, with the same 2i pixels set to 1 in every image.

    Notes
    -----
    The pixels depend on w only, not on the image or its label: turning on the most negative
    pixels pushes every digit towards 7 (label 0), turning on the most positive ones towards 3,
    and the two halves differ in |w|, so the attack drives all digits to one class.

    ``ta.pixel_attack(model, x, y, k=2i)`` is the per-image, label-aware version: on logistic
    regression ∇ₓCE = (σ(z) − y)·w, so it switches the 2i pixels with the largest
    |w_j|·|t_j − x_j|, turning on dark pixels that vote against the label and turning off lit
    pixels that vote for it, and never spends a pixel on the label's side. It therefore needs
    far fewer pixels (l0 figure: dashed against solid curves).
    """
    i = check_positive_int(i, "i", minimum=0)
    if 2 * i > len(w):
        raise ValueError(f"i = {i} asks for {2 * i} pixels but the image has only {len(w)}")
    order = np.argsort(w, kind="stable")
    chosen = np.concatenate([order[:i], order[len(w) - i:]]) if i > 0 else np.zeros(0, dtype=int)
    flat = x.reshape(len(x), -1).copy()
    flat[:, chosen] = 1
    return flat.reshape(x.shape)


def l0_curves(model, x, y, pixels):
    """Accuracy and mean 2|σ − ½| under §7's attack and under ta.pixel_attack with k = 2i.

    Returns a dict of four arrays of shape (len(pixels),): "fixed_acc", "fixed_conf"
    (§7's attack) and "greedy_acc", "greedy_conf" (tinyadv's per-image pixel attack).
    """
    w = weights_of(model)
    curves = {key: np.zeros(len(pixels)) for key in ("fixed_acc", "fixed_conf", "greedy_acc", "greedy_conf")}
    for j, i in enumerate(pixels):
        for kind, x_adv in (("fixed", weight_pixel_attack(w, x, i)),
                            ("greedy", ta.pixel_attack(model, x, y, k=2 * int(i)))):
            curves[f"{kind}_acc"][j] = ta.accuracy(model, x_adv, y)
            curves[f"{kind}_conf"][j] = binary_confidence(model, x_adv).mean()
    return curves


# ---- printing and plotting ----------------------------------------------------------------


def paper_cell(value, digits=4):
    return "–" if value is None else f"{value:.{digits}f}"


def cell(value, paper, digits, width):
    """``value (paper)`` right-aligned, "–" where the paper gives no number."""
    return f"{value:>{width}.{digits}f} ({paper_cell(paper, digits):>{width}})"


def protocol_suffix(args):
    return " (paper protocol)" if args.paper_protocol else ""


def print_table(results, args):
    protocol = f"paper protocol (Adam 1e-5, the first {args.paper_digits} digits)" if args.paper_protocol else \
        f"laptop protocol (Adam {args.lr:g}, {args.epochs} epochs over all digits)"
    at_paper_eps = args.eps == 0.25
    print(f"MNIST 3 vs 7 logistic regression σ(x·w), {protocol}; FGSM ε = {args.eps}; "
          f"paper's numbers in parentheses (natural: Goodfellow 2015, others: Galloway et al. 2018)"
          + ("" if at_paper_eps else "; their FGSM columns and the adversarial model's norm are at "
             "ε = 0.25, not shown"))
    header = f"{'model':<12} | {'clean acc':>17} | {'FGSM acc':>17} | {'mean L2 x_adv-x':>15} | " \
             f"{'||w||_2':>15} | {'train s':>7}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        paper = PAPER[name]
        if not at_paper_eps:
            paper = (paper[0], None, None, None if name == "adversarial" else paper[3])
        print(f"{name:<12} | {cell(r['clean'], paper[0], 4, 7)} | {cell(r['fgsm'], paper[1], 4, 7)} | "
              f"{cell(r['distance'], paper[2], 2, 6)} | {cell(r['w_norm'], paper[3], 2, 6)} | "
              f"{r['seconds']:>7.1f}")


def plot_weights(models, results, path, args):
    names = list(models)
    images = [weights_of(models[n]).reshape(args.image_shape) for n in names]
    titles = [f"{n}\n‖w‖₂ = {results[n]['w_norm']:.2f}, FGSM acc {results[n]['fgsm']:.2f}"
              for n in names]
    fig = signed_image_grid(images, titles=titles, ncols=4,
                            title="Logistic regression 3 (red, w > 0) vs 7 (blue, w < 0): weights as images"
                                  + protocol_suffix(args))
    save_figure(fig, path)
    plt.close(fig)


def plot_sweep(sweeps, path, args):
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, curve in sweeps.items():
        ax.plot(curve["levels"], curve["accuracy"], "-", color=COLORS[name], label=name)
    eps_ref, acc_ref = zip(*PAPER_EXPERT_L2_SWEEP)
    ax.plot(eps_ref, acc_ref, "x", color=COLORS["expert-l2"], ms=9, mew=2,
            label="expert-l2, Galloway et al. 2018")
    ax.plot([0.25], [PAPER["natural"][1]], "*", color=COLORS["natural"], ms=12,
            label="natural, Goodfellow et al. 2015")
    ax.axvline(args.eps, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel(r"FGSM $L_\infty$ budget $\varepsilon$")
    ax.set_ylabel("test accuracy (3 vs 7)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("FGSM on logistic regression, MNIST 3 vs 7" + protocol_suffix(args))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_candidates(models, x, y, adversarial, path, args, columns=8):
    """Row 0: clean digits; one row per model: its FGSM candidates with its prediction."""
    names = [n for n in models if n != "expert"]
    rows, captions = [x[:columns]], [[f"label {'3' if t else '7'}" for t in y[:columns]]]
    for name in names:
        x_adv = adversarial[name][:columns]
        p3 = 1 / (1 + np.exp(-models[name].logits(x_adv)[:, 0].astype(np.float64)))
        rows.append(x_adv)
        captions.append([f"{'3' if p > 0.5 else '7'} ({max(p, 1 - p):.2f})" for p in p3])
    fig = image_grid(rows, captions=captions, row_titles=["clean"] + names,
                     title=f"FGSM candidates at ε = {args.eps}: prediction (confidence) of each model "
                           "on its own x_adv")
    save_figure(fig, path)
    plt.close(fig)


def plot_l0(curves, pixels, path, args):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for name, c in curves.items():
        left.plot(pixels, c["fixed_acc"], "-", color=COLORS[name], label=f"{name}")
        left.plot(pixels, c["greedy_acc"], "--", color=COLORS[name], lw=1)
        right.plot(pixels, c["fixed_conf"], "-", color=COLORS[name])
        right.plot(pixels, c["greedy_conf"], "--", color=COLORS[name], lw=1)
    i_ref, acc_ref, conf_ref = PAPER_L0
    left.plot([i_ref], [acc_ref], "k*", ms=12, label="Galloway et al. 2018 (i = 50)")
    right.plot([i_ref], [conf_ref], "k*", ms=12)
    left.plot([], [], "k-", label="§7: i most ± weight pixels set to 1")
    left.plot([], [], "k--", lw=1, label="ta.pixel_attack, k = 2i, per image")
    left.set_ylabel("test accuracy (3 vs 7)")
    right.set_ylabel(r"mean confidence $2|\sigma(z) - 1/2|$")
    for ax in (left, right):
        ax.set_xlabel("i (2i pixels changed)")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
    fig.legend(*left.get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8)
    fig.suptitle("L0 attacks on logistic regression, MNIST 3 vs 7" + protocol_suffix(args))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    save_figure(fig, path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    x_train, y_train, x_test, y_test = load_data(args)
    args.image_shape = x_train.shape[-2:]
    print(f"{args.data}: {len(x_train)} training and {len(x_test)} test digits (3 -> 1, 7 -> 0)")
    if args.paper_protocol:
        used = min(len(x_train), int(paper_batch_starts(len(x_train), 128, args.paper_steps).max()) + 128)
        print(f"paper protocol: minibatches only ever cover the first {used} training digits")
        args.paper_digits = used  # (for the table's heading)
    models, seconds = build_models(x_train, y_train, args)

    results, adversarial, sweeps, curves = {}, {}, {}, {}
    levels = np.round(np.linspace(0.0, 0.5, args.sweep_points), 4)
    pixels = np.arange(args.max_pixels + 1)
    for name, model in models.items():
        clean, robust, distance, adversarial[name] = fgsm_report(model, x_test, y_test, args.eps)
        results[name] = dict(clean=clean, fgsm=robust, distance=distance,
                             w_norm=float(np.linalg.norm(weights_of(model))), seconds=seconds[name])
        sweeps[name] = ta.sweep(model, x_test, y_test, ta.fgsm, levels, progress=False)
        curves[name] = l0_curves(model, x_test, y_test, pixels)
    print_table(results, args)

    print(f"\nFGSM accuracy against eps (expert-l2 paper values: "
          f"{', '.join(f'{e:g} -> {a:.4f}' for e, a in PAPER_EXPERT_L2_SWEEP)})")
    shown = [e for e in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5) if np.min(np.abs(levels - e)) < 1e-9]
    print(f"{'model':<12} " + " ".join(f"{e:>6g}" for e in shown))
    for name, curve in sweeps.items():
        accuracies = [curve["accuracy"][int(np.argmin(np.abs(curve["levels"] - e)))] for e in shown]
        print(f"{name:<12} " + " ".join(f"{a:>6.3f}" for a in accuracies))

    print(f"\nL0 attack, accuracy / mean 2|sigma - 1/2| (paper, model not named: i = 50 -> "
          f"{PAPER_L0[1]:.4f} / {PAPER_L0[2]:.4f})")
    marks = [i for i in (5, 10, 25, 50) if i <= args.max_pixels] or [args.max_pixels]
    print(f"{'model':<12} " + " ".join(f"{'§7 i=' + str(i):>13}" for i in marks) + " | "
          + " ".join(f"{'greedy k=' + str(2 * i):>14}" for i in marks))
    for name, c in curves.items():
        fixed = (f"{c['fixed_acc'][i]:.3f}/{c['fixed_conf'][i]:.3f}".rjust(13) for i in marks)
        greedy = (f"{c['greedy_acc'][i]:.3f}/{c['greedy_conf'][i]:.3f}".rjust(14) for i in marks)
        print(f"{name:<12} " + " ".join(fixed) + " | " + " ".join(greedy))

    prefix = os.path.join(args.figures, "logistic_3v7_paper_" if args.paper_protocol else "logistic_3v7_")
    plot_weights(models, results, prefix + "weights.png", args)
    plot_sweep(sweeps, prefix + "sweep.png", args)
    plot_candidates(models, x_test, y_test, adversarial, prefix + "candidates.png", args)
    plot_l0(curves, pixels, prefix + "l0.png", args)
    print(f"wrote {prefix}{{weights,sweep,candidates,l0}}.png")
    return results


if __name__ == "__main__":
    run_script(main)
