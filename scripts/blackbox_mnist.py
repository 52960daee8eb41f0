"""Slide "practical black-box attacks": fool a model you can only ask for labels.

Papernot, McDaniel, Goodfellow, Jha, Celik & Swami 2017 ("Practical black-box attacks against
machine learning", AsiaCCS; CleverHans ``examples/mnist_blackbox.py``; REFERENCES.md §6) train a
local substitute from the oracle's labels alone: 150 seed digits, then ρ = 0…5 rounds of
Jacobian-based dataset augmentation x + λ_ρ·sign(∂Z_ŷ(x)/∂x) with the periodic step λ_ρ = ±0.1
(τ = 3), each new point labelled by one oracle query. FGSM examples (ε = 0.3) crafted on the
substitute transfer to the oracle: the paper's MetaMind DNN misclassified 84.24% of them.

Here the oracle is the CleverHans basic CNN (label smoothing 0.1, Adam 1e-3, batch 128), the
substitute the MLP 784 → 200 → 200 → 10 trained 10 epochs per round (a fresh Adam each round,
weights continued), and the attack is ``tinyadv.attacks.papernot_blackbox``. The first 150 test
digits are the seed set and are removed from evaluation. After every round the script also
records the substitute's test accuracy and how well FGSM crafted on it transfers at that point
(bookkeeping for the figure; those evaluation queries are not counted as the attacker's).

    python scripts/blackbox_mnist.py                                   # bundled mini-MNIST
    TINYADV_DATA=/root/tinyadv-data python scripts/blackbox_mnist.py --data mnist   # a few minutes
    TINYADV_DATA=... python scripts/blackbox_mnist.py --data mnist --paper          # nf 64, 10 epochs

Laptop default: the oracle has nf = 32 (paper 64) and trains 3 epochs (paper 10) on all training
digits. Writes figures/blackbox_mnist.png (substitute accuracy and transfer per round) and
figures/blackbox_mnist_examples.png (transferred examples with the oracle's labels; beside
--out, in its format).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinyadv as ta  # noqa: E402
from tinyadv.attacks import oracle_labels, papernot_blackbox  # noqa: E402
from tinyadv.cli import (figure_path, fraction, nonnegative_int, positive_float,  # noqa: E402
                         positive_int, preset_name, run_script)
from tinyadv.data import DATASET_NAMES, load_dataset  # noqa: E402
from tinyadv.plots import image_grid, save_figure  # noqa: E402

PAPER_MISCLASSIFICATION = 0.8424   # MetaMind's DNN on the transferred MNIST examples (Papernot et al. 2017)
PAPER = dict(nf=64, oracle_epochs=10, train_limit=None)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--nf", type=positive_int, default=32, help="oracle CNN filters (paper: 64)")
    parser.add_argument("--oracle-epochs", type=positive_int, default=3, help="oracle training epochs (paper: 10)")
    parser.add_argument("--train-limit", type=positive_int, default=None, help="oracle training digits (paper: all)")
    parser.add_argument("--test-limit", type=positive_int, default=None, help="test digits incl. the seed set")
    parser.add_argument("--seed-size", type=positive_int, default=150,
                        help="first test digits used as seed set (fewer than --test-limit)")
    parser.add_argument("--rounds", type=positive_int, default=6, help="substitute rounds ρ = 0 … rounds−1")
    parser.add_argument("--sub-epochs", type=positive_int, default=10, help="substitute epochs per round")
    parser.add_argument("--lmbda", type=positive_float, default=0.1, help="Jacobian augmentation step λ")
    parser.add_argument("--tau", type=positive_int, default=3, help="period of the step's sign")
    parser.add_argument("--eps", type=fraction, default=0.3, help="FGSM ε on the substitute, in [0, 1]")
    parser.add_argument("--paper", action="store_true",
                        help="the paper's oracle (nf 64, 10 epochs, all training digits); explicit flags win")
    parser.add_argument("--out", type=figure_path, default=os.path.join("figures", "blackbox_mnist.png"))
    args = parser.parse_args(argv)
    if args.paper:  # the paper's values become the defaults, so that explicit flags win
        parser.set_defaults(**PAPER)
        args = parser.parse_args(argv)
    if args.test_limit is not None and args.seed_size >= args.test_limit:
        parser.error(f"--seed-size ({args.seed_size}) must be smaller than --test-limit ({args.test_limit}): "
                     "the other test digits are the evaluation set")
    if args.rounds > 64:  # (papernot_blackbox refuses it too, but after the oracle's training)
        parser.error(f"--rounds must be <= 64 (the substitute's data doubles every round), got "
                     f"{args.rounds}")
    try:  # (the second figure, written last, beside --out)
        figure_path(examples_path(args.out))
    except argparse.ArgumentTypeError as error:
        parser.error(f"--out {args.out}: the examples' figure: {error}")
    args.preset = preset_name(parser, args, PAPER)
    return args


def examples_path(out):
    """The transferred examples' figure beside ``out``, in its format."""
    stem, suffix = os.path.splitext(out)
    return f"{stem}_examples{suffix}"


def round_tracker(x_eval, y_eval, oracle, args):
    """``train_substitute`` for papernot_blackbox that also records, after every round, the
    substitute's accuracy on the evaluation digits and the transfer of FGSM crafted on it."""
    log = {"queries": [], "substitute_accuracy": [], "oracle_accuracy_adv": []}

    def train_substitute(substitute, x, y):
        ta.fit(substitute, x, y, epochs=args.sub_epochs, batch_size=128, seed=args.seed + len(log["queries"]),
               progress=False)
        log["queries"].append(len(x))   # every point of the set was labelled by one oracle query
        log["substitute_accuracy"].append(float(np.mean(substitute.predict(x_eval) == y_eval)))
        x_adv = ta.fgsm(substitute, x_eval, eps=args.eps)
        log["oracle_accuracy_adv"].append(float(np.mean(oracle_labels(oracle, x_adv) == y_eval)))
    return train_substitute, log


def main(argv=None):
    args = parse_args(argv)
    began = time.perf_counter()
    x_train, y_train = load_dataset(args.data, "train", limit=args.train_limit)
    x_test, y_test = load_dataset(args.data, "test", limit=args.test_limit)
    if args.seed_size >= len(x_test):
        raise SystemExit(f"--seed-size ({args.seed_size}) must be smaller than the {len(x_test)} test "
                         f"images of {args.data}: the rest are the ones attacked")
    x_seed = x_test[:args.seed_size]
    x_eval, y_eval = x_test[args.seed_size:], y_test[args.seed_size:]
    print(f"data: {args.data}; oracle trained on {len(x_train)} digits; seed set = the first "
          f"{len(x_seed)} test digits; evaluation on the other {len(x_eval)}")

    oracle = ta.cleverhans_cnn(in_channels=x_train.shape[1], image_size=x_train.shape[2], nf=args.nf,
                               seed=args.seed)
    ta.fit(oracle, x_train, y_train, epochs=args.oracle_epochs, batch_size=128, label_smoothing=0.1,
           seed=args.seed)
    oracle.eval()
    print(f"oracle: cleverhans_cnn nf = {args.nf}, {args.oracle_epochs} epochs, label smoothing 0.1 "
          f"({args.preset}{'' if args.paper else '; paper nf 64, 10 epochs'}), "
          f"test accuracy {np.mean(oracle.predict(x_eval) == y_eval):.4f}")

    sizes = [int(np.prod(x_train.shape[1:])), 200, 200, 10]  # (784 inputs on MNIST)
    substitute = ta.mlp(sizes, seed=args.seed)
    train_substitute, log = round_tracker(x_eval, y_eval, oracle, args)
    result = papernot_blackbox(oracle, substitute, train_substitute, x_seed, x_eval, y_eval,
                               rounds=args.rounds, lmbda=args.lmbda, tau=args.tau, eps=args.eps)

    print(f"\nsubstitute MLP {'-'.join(map(str, sizes))}, {args.sub_epochs} epochs per round, "
          f"λ = ±{args.lmbda} (τ = {args.tau}), FGSM ε = {args.eps}")
    print(f"{'round ρ':>8} {'oracle queries':>15} {'substitute acc':>15} {'oracle acc on FGSM':>19}")
    for rho, (q, acc, adv) in enumerate(zip(log["queries"], log["substitute_accuracy"],
                                            log["oracle_accuracy_adv"])):
        print(f"{rho:>8d} {q:>15d} {acc:>15.4f} {adv:>19.4f}")
    print(f"\n{'':<44}{'tinyadv':>10}{'paper':>10}")
    print(f"{'oracle queries to train the substitute':<44}{result.oracle_queries:>10d}"
          f"{150 * 2 ** 5:>10d}   (150·2^5; 6,400 in the paper's own variant)")
    print(f"{'oracle accuracy, clean':<44}{result.oracle_accuracy_clean:>10.4f}{'':>10}")
    print(f"{'substitute/oracle agreement on test digits':<44}{result.substitute_agreement:>10.4f}{'':>10}")
    print(f"{'oracle accuracy on transferred FGSM':<44}{result.oracle_accuracy_adv:>10.4f}{'':>10}")
    print(f"{'oracle misclassification (transfer success)':<44}{result.transfer_success:>10.4f}"
          f"{PAPER_MISCLASSIFICATION:>10.4f}   (paper: MetaMind's DNN, not this oracle)")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rounds = np.arange(len(log["queries"]))
    left.plot(rounds, log["substitute_accuracy"], marker="o", label="substitute test accuracy")
    left.plot(rounds, 1 - np.array(log["oracle_accuracy_adv"]), marker="s",
              label="oracle misclassification of FGSM from substitute")
    left.axhline(PAPER_MISCLASSIFICATION, color="gray", ls="--", label="paper: 84.24% (MetaMind)")
    left.set_xlabel("substitute training round ρ")
    left.set_ylabel("fraction of test digits")
    left.set_ylim(0, 1.02)
    left.set_title(f"Jacobian augmentation, λ = ±{args.lmbda}, τ = {args.tau}, FGSM ε = {args.eps}")
    left.legend(fontsize=8, loc="lower right")
    right.plot(rounds, log["queries"], marker="o")
    right.set_yscale("log", base=2)
    right.set_xlabel("substitute training round ρ")
    right.set_ylabel("oracle queries so far (labelled points)")
    right.set_title(f"queries: {args.seed_size}·2^ρ")
    fig.suptitle(f"Practical black-box attack (Papernot et al. 2017) on {args.data}: oracle CNN nf = {args.nf}")
    fig.tight_layout()
    save_figure(fig, args.out)

    shown = np.arange(min(8, len(x_eval)))
    pred_clean = oracle_labels(oracle, x_eval[shown])
    pred_adv = oracle_labels(oracle, result.x_adv[shown])
    examples = image_grid([x_eval[shown], result.x_adv[shown]],
                          captions=[[f"oracle: {p}" for p in pred_clean], [f"oracle: {p}" for p in pred_adv]],
                          row_titles=["clean", f"FGSM ε={args.eps:g}\non substitute"], cell_size=1.7,
                          title=f"transferred examples (true labels {' '.join(str(v) for v in y_eval[shown])})")
    save_figure(examples, examples_path(args.out))
    print(f"\nwrote {args.out} and {examples_path(args.out)} in {time.perf_counter() - began:.0f} s "
          f"in all")
    return result, log


if __name__ == "__main__":
    run_script(main)
