"""Every experiment of the talk in one command: rebuild figures/ and check each claim.

A. Galloway's talk "Adversarial examples are not mysterious, generalization is" makes one claim
per slide, and each slide has its script in scripts/. This script runs them all in sequence, in
this process (each script's ``main(argv)``, loaded by path), with one data choice, one seed and
one figures folder, and ends with a table: for every claim, the paper's number, tinyadv's number,
and whether the claim holds in this run. "Holds" is a comparison stated in the claim (a
direction, or a threshold: "≈" numbers of REFERENCES.md get ±3 points, exact ones ±2 points).

    TINYADV_DATA=/root/tinyadv-data python scripts/run_all.py --fast     # ≤ 10 minutes on 2 cores
    TINYADV_DATA=/root/tinyadv-data python scripts/run_all.py            # ≤ 60 minutes on 2 cores
    python scripts/run_all.py --fast --only demo logistic_3v7            # a subset

Sizes. ``--fast`` gives every model a token training budget (the CIFAR CNNs: 5,000 images,
2 clean epochs and 1 adversarial epoch) and attacks few test images with few steps; it skips
the paper-protocol run of logistic_3v7. On full MNIST and CIFAR-10 it took 2.0 minutes on an
idle 2-core machine (2026-12-05; 10.3 minutes on 2026-12-02, on a 2-core machine that was also
running another 2-core job, before the speed-ups).
Several claims are expected not to hold at that size: the models are far from trained.
The default runs the scripts' own laptop defaults where they fit the hour (train_cifar_cnn,
noisy_examples, pixel_swap_tradeoff, fooling_images, fault_tolerance, linearity,
boundary_tilting, cifar_filters, the logistic_3v7 paper protocol) and smaller sizes elsewhere:
demo (2 epochs over the training set), logistic_3v7 (10 epochs instead of 30), binarized_mnist
(4,000 digits, 3 epochs, PGD-20 and CW-L2 with 50 steps), blackbox_mnist (2 oracle epochs),
human_attack's CNN (2 epochs), cifar_robustness (300 test images instead of 500),
random_labels (1,000 images instead of 2,000); it took 17.5 minutes on an idle 2-core machine
(2026-12-05), 4.6 of them training the CIFAR CNNs (58 minutes on the busy machine above, before
the speed-ups of scripts/BENCHMARKS.md). Every experiment's
arguments are in EXPERIMENTS below, printed before it runs, and written to the summary.

Data. ``--data-mnist`` (default "mnist" when the full MNIST is in the data folder, ``$TINYADV_DATA``
or ``~/.cache/tinyadv``, else the bundled "mini-mnist") and ``--data-cifar`` (default "cifar10"
when present, else "mini-mnist") are passed to the MNIST and the CIFAR/SVHN experiments. Nothing
is downloaded. There is no SVHN copy: fault_tolerance and fooling_images' SVHN protocol run on
--data-cifar, as their own docstrings say. Every chosen experiment's arguments go through the
script's own checks before anything runs: a data set one of them refuses (logistic_3v7 takes
28×28 greyscale digits only) stops the command at once, naming the experiment.

Checkpoints. train_cifar_cnn.py writes the two CIFAR CNNs that four later scripts (and
fooling_images) read, with resumable checkpoints, into one folder per configuration,
``<checkpoints>/run_all_<preset>_<data>_seed<seed>/``, so that a fast run never resumes from a
default one. Run the same command again after an interruption and training continues; delete
the folder to retrain. A reader run without the two models in that folder is reported as failed
and not run (fooling_images would train models of its own, not the talk's CNNs).

An experiment that raises is reported as failed and the others still run; the exit status is 1
if any failed. Writes every script's figures into ``--figures`` and the summary table, with the
command, data and times, to ``<figures>/run_all_summary.md``.
"""

import argparse
import contextlib
import importlib.util
import io
import os
import pathlib
import shlex
import sys
import time
import traceback
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from tinyadv.cli import folder, nonnegative_int  # noqa: E402
from tinyadv.data import DATASET_NAMES, load_dataset  # noqa: E402
from tinyadv.files import atomic_path  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


# ---- the claims: one small function per experiment, reading the script's returned results ----


class Claim(NamedTuple):
    claim: str
    paper: str
    tinyadv: str
    holds: bool


def near(value, paper, tolerance):
    """|value − paper| ≤ tolerance (accuracies and rates as fractions)."""
    return abs(value - paper) <= tolerance


def falls(curve, slack=0.02):
    """A curve (L,) that never rises by more than ``slack`` and ends below where it starts."""
    curve = np.asarray(curve, dtype=np.float64)
    return bool(np.all(np.diff(curve) <= slack) and curve[-1] < curve[0])


def claims_demo(r):
    i = r["eps"].index(0.25)
    error, confidence = 1 - r["accuracy"][i], r["confidence"][i]
    return [Claim("CNN: FGSM ε = 0.25 error ≥ 89.4% (Goodfellow's maxout net on MNIST)",
                  "89.4% error", f"{error:.1%} error", error >= 0.894),
            Claim("CNN: FGSM ε = 0.25 mean confidence ≥ 79.3% (Goodfellow's shallow softmax)",
                  "79.3% (softmax), 97.6% (maxout)", f"{confidence:.1%}", confidence >= 0.793)]


def claims_linearity(r):
    n, change, expected = r["n"], r["activation_change"], r["expected_change"]
    ratio, unrelated = r["ratio"], r["ratio_unrelated"]
    linear = bool(np.all(np.abs(change / expected - 1) < 0.1))
    flat = np.max(ratio) / np.min(ratio) - 1 < 0.1 and unrelated[-1] / unrelated[0] > 3
    return [Claim("w·η = ε‖w‖₁ grows like ε·m·n (within 10% at every n)", "ε·m·n",
                  f"{change[-1]:.1f} vs {expected[-1]:.1f} at n = {int(n[-1])}", linear),
            Claim("ε‖w‖₁/|w·x| stays flat in n (within 10% at every n); grows when w is unrelated "
                  "to x",
                  "constant (Tanay & Griffin)",
                  f"{np.min(ratio):.3f}–{np.max(ratio):.3f} over n; unrelated {unrelated[0]:.2f} → "
                  f"{unrelated[-1]:.2f}", flat)]


def claims_boundary_tilting(r):
    acc, dist, angle = r["acc_plane"], r["dist_plane"], r["angle_degrees"]
    same_accuracy = acc.max() - acc.min() <= 0.01
    return [Claim("tilting shrinks the adversarial distance at unchanged accuracy",
                  "distance ∝ cos θ, accuracy fixed",
                  f"distance {dist[0]:.2f} → {dist[-1]:.3f}, accuracy {acc.min():.3f}–{acc.max():.3f}",
                  bool(same_accuracy and dist[-1] < 0.1 * dist[0])),
            Claim("weight decay reduces the tilt (largest λ vs λ = 0)", "smaller angle",
                  f"{angle[0]:.1f}° (λ = {r['weight_decays'][0]:g}) → {angle[-1]:.1f}° "
                  f"(λ = {r['weight_decays'][-1]:g})", bool(angle[-1] < angle[0]))]


def claims_logistic_3v7(r):
    natural, l2, expert = r["natural"], r["l2"], r["expert"]
    return [Claim("natural logistic model: clean error within 2 points of Goodfellow's",
                  "1.6% error", f"{1 - natural['clean']:.1%} error",
                  near(1 - natural["clean"], 0.016, 0.02)),
            Claim("natural logistic model: FGSM ε = 0.25 error ≥ 97% (99% − 2 points)", "99% error",
                  f"{1 - natural['fgsm']:.1%} error", 1 - natural["fgsm"] >= 0.97),
            Claim("L2 weight decay (λ₂ = 3.25) raises FGSM accuracy above natural's",
                  "0.3572 vs 0.01", f"{l2['fgsm']:.4f} vs {natural['fgsm']:.4f}",
                  l2["fgsm"] > natural["fgsm"]),
            Claim("expert init w = mean(3) − mean(7): FGSM accuracy (±2 points)", "0.3960",
                  f"{expert['fgsm']:.4f}", near(expert["fgsm"], 0.3960, 0.02)),
            Claim("binarized sign(w)·mean|w|: FGSM accuracy (±2 points)", "0.0000",
                  f"{r['binarized']['fgsm']:.4f}", near(r["binarized"]["fgsm"], 0.0, 0.02))]


def claims_logistic_3v7_paper(r):
    rows = []
    for name, (clean, fgsm) in (("l2", (0.9603, 0.3572)), ("l1", (0.9642, 0.5805)),
                                ("expert-l2", (0.9603, 0.4087))):
        ours = r[name]
        rows.append(Claim(f"paper protocol, {name}: clean and FGSM accuracy (±2 points)",
                          f"{clean:.4f} / {fgsm:.4f}", f"{ours['clean']:.4f} / {ours['fgsm']:.4f}",
                          near(ours["clean"], clean, 0.02) and near(ours["fgsm"], fgsm, 0.02)))
    return rows


def claims_binarized_mnist(r):
    """The script's own claim checks (REFERENCES §3) at its default --tolerance, which run_all
    does not change."""
    module = load_script("binarized_mnist")
    return [Claim(claim, "qualitative (§3)", evidence, bool(holds))
            for claim, evidence, holds in module.claims(r, module.parse_args([]))]


def claims_blackbox_mnist(r):
    result, _ = r
    return [Claim("substitute's FGSM ε = 0.3 transfers: oracle misclassification ≥ 82.24% "
                  "(84.24% − 2 points)", "84.24% (MetaMind)", f"{result.transfer_success:.2%} "
                  f"({result.oracle_queries} queries)", result.transfer_success >= 0.8224)]


def toggles_evidence(r):
    return f"{r['accuracy']:.4f} ({r['flipped']:.0%} flipped, median {r['median']:g} toggles)"


def claims_human_attack(r):
    return [Claim("≤ 40 greedy pixel toggles leave accuracy below §7's 100 fixed pixels",
                  "0.4956 (§7, 3 vs 7)", toggles_evidence(r), r["accuracy"] <= 0.4956)]


def claims_human_attack_cnn(r):
    """The 10-digit CNN has no paper number of its own (§7's 0.4956 is the 3-vs-7 logistic
    model's, near chance for two classes): the claim is that the toggles bring it to chance
    for ten classes or below."""
    return [Claim("≤ 40 greedy pixel toggles bring the 10-digit CNN to chance (accuracy ≤ 0.10)",
                  "qualitative (slide: human-driven attacks)", toggles_evidence(r),
                  r["accuracy"] <= 0.10)]


def claims_train_cifar_cnn(r):
    accuracy = {name: acc for name, _, acc, _, _ in r}
    return [Claim("CNN-L2 clean accuracy ≈ 69–70% (±3 points)", "≈ 69–70%",
                  f"{accuracy['CNN-L2']:.1%}", 0.66 <= accuracy["CNN-L2"] <= 0.73),
            Claim("CNN clean accuracy ≈ 66–67% (±3 points)", "≈ 66–67%",
                  f"{accuracy['CNN']:.1%}", 0.63 <= accuracy["CNN"] <= 0.70),
            Claim("weight decay does not cost clean accuracy (CNN-L2 ≥ CNN)", "≈ 70% vs ≈ 67%",
                  f"{accuracy['CNN-L2']:.1%} vs {accuracy['CNN']:.1%}",
                  accuracy["CNN-L2"] >= accuracy["CNN"])]


def claims_cifar_robustness(r):
    eps = list(r["eps"])
    near25 = int(np.argmin(np.abs(np.asarray(eps) - 25)))
    pgd = r["CNN-L2 PGD"]
    return [Claim("PGD accuracy falls as ε grows (CNN-L2 and CNN)", "≈ 70% → ≈ 12%",
                  f"CNN-L2 {pgd[0]:.3f} → {pgd[-1]:.3f}, CNN {r['CNN PGD'][0]:.3f} → "
                  f"{r['CNN PGD'][-1]:.3f}", falls(pgd) and falls(r["CNN PGD"])),
            Claim(f"CNN-L2 under PGD at ε = {eps[near25]:g}/255 ≈ 12% (±3 points)",
                  "≈ 12% at ε ≈ 25/255", f"{pgd[near25]:.1%}", near(pgd[near25], 0.12, 0.03))]


def claims_cifar_filters(r):
    norms, zeros = r["norms"], r["zero_filters"]
    deep = all(norms["CNN-L2", layer] < norms["CNN", layer] for layer in ("conv2", "conv3"))
    return [Claim("weight decay shrinks conv2 and conv3 (‖W‖₂ CNN → CNN-L2)",
                  "59.0 → 8.1, 75.4 → 10.0",
                  f"{norms['CNN', 'conv2']:.1f} → {norms['CNN-L2', 'conv2']:.1f}, "
                  f"{norms['CNN', 'conv3']:.1f} → {norms['CNN-L2', 'conv3']:.1f}", deep),
            Claim("CNN-L2 has several (≥ 2) zero conv1 filters, CNN none", "several / none",
                  f"{zeros['CNN-L2']} / {zeros['CNN']}", zeros["CNN-L2"] >= 2 and zeros["CNN"] == 0)]


def claims_noisy_examples(r):
    ends = {name: sweep["accuracy"][-1] for name, sweep in r.items()}
    return [Claim("Gaussian noise drives accuracy down to chance (≤ 13% at the largest σ)",
                  "→ 10% (§4, AWGN)", ", ".join(f"{n} {a:.1%}" for n, a in ends.items()),
                  all(falls(sweep["accuracy"], 0.03) for sweep in r.values())
                  and max(ends.values()) <= 0.13)]


def claims_pixel_swap_tradeoff(r):
    fractions = list(r["fractions"])
    at20, at100 = fractions.index(0.2), fractions.index(1.0)
    swapped = r["swapped"]
    return [Claim("accuracy with 20% of pixels swapped (±3 points)", "CNN-L2 ≈ 64%, CNN ≈ 63%",
                  f"CNN-L2 {swapped['CNN-L2'][at20]:.1%}, CNN {swapped['CNN'][at20]:.1%}",
                  near(swapped["CNN-L2"][at20], 0.64, 0.03) and near(swapped["CNN"][at20], 0.63, 0.03)),
            Claim("all models at chance with 100% swapped (±3 points)", "≈ 10%",
                  f"CNN-L2 {swapped['CNN-L2'][at100]:.1%}, CNN {swapped['CNN'][at100]:.1%}",
                  all(near(s[at100], 0.10, 0.03) for s in swapped.values()))]


def claims_fooling_images(r):
    confidence = {name: float(result.confidence.mean()) for name, result in r["cifar"].items()}
    return [Claim("fooling images from noise reach high confidence (≥ 90%, CIFAR protocol)",
                  "99.99% (Nguyen et al.)", ", ".join(f"{n} {c:.1%}" for n, c in confidence.items()),
                  min(confidence.values()) >= 0.90),
            Claim("CNN-L2 classifies CNN's fooling images with a low mean margin (≤ 28% + 2 points)",
                  "28% (SVHN)", f"{r['cross_margin']:.1%}", r["cross_margin"] <= 0.30)]


def claims_fault_tolerance(r):
    ends = {name: {fault: curve[-1] for fault, curve in model["curves"].items()}
            for name, model in r["results"].items()}     # fault -> (SNR, I(T;Y), accuracy)
    awgn = [e["AWGN"] for e in ends.values()]
    # the lowest I(T;Y) anywhere along every attack's curve (not only at its end: BIM-L∞'s
    # curves dip and rise again)
    attacks = [min(row[1] for fault, curve in model["curves"].items() if fault != "AWGN"
                   for row in curve) for model in r["results"].values()]
    awgn_text = " / ".join(f"{mi:.2f} bits at {acc:.2f}" for _, mi, acc in awgn)
    attacks_text = " / ".join(f"{mi:.2f}" for mi in attacks)
    drop = {name: d["BIM-L2 one-target"] for name, d in r["drops"].items()}
    wd, no_wd = drop["weight decay"], drop["no weight decay"]
    return [Claim("only AWGN drives I(T;Y) to 0 (≤ 0.1 bits) with accuracy; the attacks do not",
                  "only AWGN", f"AWGN {awgn_text}, attacks ≥ {attacks_text} bits throughout",
                  all(mi <= 0.1 and acc <= 0.15 for _, mi, acc in awgn)
                  and all(mi > 0.1 for mi in attacks)),
            Claim("one-target BIM-L2 lowers I(T;Y) by ≈ 0.50 bits with weight decay, ≈ 0.75 "
                  "without (±0.15)", "≈ 0.50 / ≈ 0.75 bits", f"{wd:.2f} / {no_wd:.2f} bits",
                  near(wd, 0.50, 0.15) and near(no_wd, 0.75, 0.15))]


def claims_random_labels(r):
    final = {name: float(curve[-1]) for name, curve in r["curves"].items()}
    highest = float(np.max(r["curves"]["adversarial"]))  # "stays": at every epoch
    chance = float(r["chance"])
    return [Claim("random labels: natural fits better than adversarial", "natural → 100% (Zhang)",
                  f"{final['natural']:.3f} vs {final['adversarial']:.3f}",
                  final["natural"] > final["adversarial"]),
            Claim("adversarial training stays near chance (≤ chance + 5 points at every epoch)",
                  "does not learn random labels",
                  f"{final['adversarial']:.3f} at the end, at most {highest:.3f} (chance {chance:.3f})",
                  highest <= chance + 0.05)]


# ---- the experiments: one row per script run, with the arguments of each preset --------------


class Experiment(NamedTuple):
    """One run of one script: the arguments of each preset (None: not run at that size)
    and the function that reads its claims from the results."""

    name: str       # row name in the tables, and what --only selects
    script: str     # scripts/<script>.py
    data: str       # "mnist", "cifar" (the --data-* option passed as --data) or None
    output: str     # a file name (passed as --out), "folder" (--figures) or None (no figures)
    fast: list
    default: list
    claims: object  # claims_<name>(results) -> list of Claim, from the script's return value


DEMO_EPS = ["--eps", "0", "0.05", "0.1", "0.2", "0.25", "0.3"]  # the demo's own, plus Goodfellow's 0.25

EXPERIMENTS = (
    Experiment("demo", "demo", "mnist", "demo.png",
               ["--epochs", "1", "--train-limit", "10000", "--test-limit", "1000"] + DEMO_EPS,
               ["--epochs", "2", "--test-limit", "2000"] + DEMO_EPS,
               claims_demo),
    Experiment("linearity", "linearity", None, "linearity.png", [], [],
               claims_linearity),
    Experiment("boundary_tilting", "boundary_tilting", None, "boundary_tilting.png", [], [],
               claims_boundary_tilting),
    Experiment("logistic_3v7", "logistic_3v7", "mnist", "folder",
               ["--epochs", "3", "--sweep-points", "11"],
               ["--epochs", "10", "--sweep-points", "26"],
               claims_logistic_3v7),
    Experiment("logistic_3v7_paper", "logistic_3v7", "mnist", "folder",
               None,
               ["--paper-protocol", "--sweep-points", "26"],
               claims_logistic_3v7_paper),
    Experiment("binarized_mnist", "binarized_mnist", "mnist", "binarized_mnist.png",
               ["--nf", "16", "--train-limit", "3000", "--epochs", "2", "--adv-after", "1",
                "--adv-models", "--variants", "A", "B", "S", "--test-limit", "300",
                "--pgd-limit", "100", "--pgd-steps", "10", "--sweep-limit", "50",
                "--sweep-steps", "5", "--cw-limit", "20", "--cw-steps", "30",
                "--spsa-limit", "20", "--spsa-steps", "5"],
               ["--train-limit", "4000", "--epochs", "3", "--adv-after", "2",
                "--pgd-steps", "20", "--cw-steps", "50"],
               claims_binarized_mnist),
    Experiment("blackbox_mnist", "blackbox_mnist", "mnist", "blackbox_mnist.png",
               ["--nf", "16", "--oracle-epochs", "1", "--train-limit", "20000",
                "--test-limit", "1150", "--sub-epochs", "5"],
               ["--oracle-epochs", "2"],
               claims_blackbox_mnist),
    Experiment("human_attack", "human_attack", "mnist", "human_attack.png",
               ["--demo", "--eval-digits", "100"],
               ["--demo"],
               claims_human_attack),
    Experiment("human_attack_cnn", "human_attack", "mnist", "human_attack_cnn.png",
               ["--demo", "--model-kind", "cnn", "--epochs", "1", "--limit", "10000",
                "--eval-digits", "100"],
               ["--demo", "--model-kind", "cnn", "--epochs", "2"],
               claims_human_attack_cnn),
    Experiment("train_cifar_cnn", "train_cifar_cnn", "cifar", None,
               ["--train-limit", "5000", "--test-limit", "1000", "--clean-epochs", "2",
                "--adv-epochs", "1"],
               [],
               claims_train_cifar_cnn),
    Experiment("cifar_robustness", "cifar_robustness", "cifar", "folder",
               ["--test-limit", "200", "--steps", "5", "--eps", "0", "4", "8", "16", "24", "32",
                "--examples", "4", "--example-eps", "8", "32"],
               ["--test-limit", "300"],
               claims_cifar_robustness),
    Experiment("cifar_filters", "cifar_filters", "cifar", "folder", [], [],
               claims_cifar_filters),
    Experiment("noisy_examples", "noisy_examples", "cifar", "folder",
               ["--test-limit", "500"],
               [],
               claims_noisy_examples),
    Experiment("pixel_swap_tradeoff", "pixel_swap_tradeoff", "cifar", "folder",
               ["--test-limit", "500", "--pgd-limit", "100", "--pgd-steps", "5"],
               [],
               claims_pixel_swap_tradeoff),
    Experiment("fooling_images", "fooling_images", "cifar", "folder",
               ["--per-class", "2", "--sweep-per-class", "1", "--eps", "25"],
               [],
               claims_fooling_images),
    Experiment("fault_tolerance", "fault_tolerance", "cifar", "folder",
               ["--train-limit", "5000", "--epochs", "3", "--test-limit", "200", "--steps", "30"],
               [],
               claims_fault_tolerance),
    Experiment("random_labels", "random_labels", "cifar", "folder",
               ["--train-limit", "500", "--epochs", "10"],
               ["--train-limit", "1000", "--epochs", "30"],
               claims_random_labels),
)
#: Scripts that read or write the CIFAR CNNs of train_cifar_cnn.py.
CHECKPOINT_SCRIPTS = ("train_cifar_cnn", "cifar_robustness", "cifar_filters", "noisy_examples",
                      "pixel_swap_tradeoff", "fooling_images")
#: The two models train_cifar_cnn.py writes, which every other CHECKPOINT_SCRIPTS reads.
CIFAR_MODELS = ("cifar_cnn.npz", "cifar_cnn_l2.npz")


# ---- running the experiments ------------------------------------------------------------------


class Run(NamedTuple):
    name: str
    data: str
    argv: list
    seconds: float
    status: str     # "ok", "failed" or "skipped"
    error: str
    claims: list


def load_script(name):
    """scripts/<name>.py as a module (loaded by path: scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def loadable(name):
    """True when both splits of data set ``name`` are in the data folder (nothing is downloaded)."""
    try:
        for split in ("train", "test"):
            load_dataset(name, split, limit=1, dtype=np.uint8, download=False)
    except (OSError, ValueError):
        return False
    return True


def script_argv(experiment, options, data, args, checkpoints):
    """The command line of one experiment: its preset options plus data, seed and output paths."""
    argv = list(options) + ["--seed", str(args.seed)]
    if experiment.data is not None:
        argv += ["--data", data[experiment.data]]
    if experiment.output == "folder":
        argv += ["--figures", args.figures]
    elif experiment.output is not None:
        argv += ["--out", os.path.join(args.figures, experiment.output)]
    if experiment.script in CHECKPOINT_SCRIPTS:
        argv += ["--checkpoints", checkpoints]
    return argv


def missing_models(experiment, argv):
    """The error of a reader of train_cifar_cnn's models when one is missing from the
    ``--checkpoints`` folder of its ``argv``, else None.

    fooling_images trains models of its own when --checkpoints has none, which are not the
    talk's CNNs of section 11: run_all reports it as failed instead of checking its claims on
    other models (the other readers stop by themselves)."""
    if experiment.script not in CHECKPOINT_SCRIPTS or experiment.script == "train_cifar_cnn":
        return None
    checkpoints = argv[argv.index("--checkpoints") + 1]
    for name in CIFAR_MODELS:
        path = os.path.join(checkpoints, name)
        if not os.path.exists(path):
            return f"missing trained model {path}: run the train_cifar_cnn experiment first (same preset, data and seed)"
    return None


def refused_arguments(experiment, argv):
    """What the script's own argument checks say of ``argv`` (its ``parse_args``, where it has
    one), or None when they accept it. run_all asks every chosen experiment before running any,
    so that a data set one of them refuses (logistic_3v7 takes 28×28 greyscale digits only) stops
    the command at once instead of failing that experiment after the others' training."""
    script = load_script(experiment.script)
    if not hasattr(script, "parse_args"):
        return None
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            script.parse_args(argv)
    except SystemExit as stop:  # (parser.error's last line is "prog: error: <message>")
        text = said.getvalue().strip()
        last = text.splitlines()[-1] if text else str(stop.code)
        return last.partition(" error: ")[2] or last
    return None


def run_experiment(experiment, argv):
    """Run one script in this process; returns (status, error, claims). Never raises."""
    if (missing := missing_models(experiment, argv)) is not None:
        return "failed", missing, []
    try:
        # the module held while its main runs: on CPython 3.14.4's free-threaded build, a module
        # dropped while its function ran had its globals freed under it by the garbage collector
        script = load_script(experiment.script)
        results = script.main(argv)
        return "ok", "", experiment.claims(results)
    except (Exception, SystemExit) as error:  # a script exits with SystemExit on bad input
        traceback.print_exc()
        return "failed", f"{type(error).__name__}: {error}", []
    finally:
        plt.close("all")


# ---- the summary ------------------------------------------------------------------------------


def text_table(header, rows):
    """Rows of strings as aligned columns, a rule under the header."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(header, rows):
    def cell(value):
        return str(value).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(c) for c in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(claim):
    return "holds" if claim.holds else "does not hold"


def summary_tables(runs):
    """(header, rows) of the experiments table and of the claims table."""
    experiments = [(r.name, r.data, f"{r.seconds:.0f} s" if r.status != "skipped" else "–",
                    r.status if not r.error else f"{r.status}: {r.error}") for r in runs]
    claims = [(r.name, c.claim, c.paper, c.tinyadv, verdict(c)) for r in runs for c in r.claims]
    return ((("experiment", "data", "wall time", "status"), experiments),
            (("experiment", "claim", "paper", "tinyadv", "verdict"), claims))


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file and os.replace (tinyadv.files)."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true",
                        help="the small preset: ≤ 10 minutes on 2 cores (default preset: ≤ 60)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[e.name for e in EXPERIMENTS],
                        help="run only these experiments (the CIFAR readers need train_cifar_cnn's "
                             "models): " + ", ".join(e.name for e in EXPERIMENTS))
    parser.add_argument("--data-mnist", choices=DATASET_NAMES, default=None,
                        help="data of the MNIST experiments (default: mnist if present, else mini-mnist)")
    parser.add_argument("--data-cifar", choices=DATASET_NAMES, default=None,
                        help="data of the CIFAR/SVHN experiments (default: cifar10 if present, "
                             "else mini-mnist)")
    parser.add_argument("--figures", type=folder, default="figures",
                        help="output folder of every figure")
    parser.add_argument("--checkpoints", type=folder, default="checkpoints",
                        help="folder of the CIFAR CNNs (a subfolder per preset, data and seed)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/run_all.py",
                          *(sys.argv[1:] if argv is None else argv)])

    data = {"mnist": args.data_mnist or ("mnist" if loadable("mnist") else "mini-mnist"),
            "cifar": args.data_cifar or ("cifar10" if loadable("cifar10") else "mini-mnist")}
    preset = "fast" if args.fast else "default"
    checkpoints = os.path.join(args.checkpoints, f"run_all_{preset}_{data['cifar']}_seed{args.seed}")
    chosen = [e for e in EXPERIMENTS if args.only is None or e.name in args.only]
    argvs = {e.name: script_argv(e, options, data, args, checkpoints) for e in chosen
             if (options := e.fast if args.fast else e.default) is not None}
    refused = [f"{e.name} refuses {shlex.join(argvs[e.name])}: {message}" for e in chosen
               if e.name in argvs and (message := refused_arguments(e, argvs[e.name]))]
    if refused:
        parser.error("; ".join(refused))
    print(f"run_all, {preset} preset: {len(chosen)} experiments; MNIST experiments on "
          f"{data['mnist']}, CIFAR/SVHN experiments on {data['cifar']}; seed {args.seed}; "
          f"figures in {args.figures}, CIFAR CNNs in {checkpoints}", flush=True)

    began = time.perf_counter()
    runs = []
    for experiment in tqdm(chosen, desc="experiments", unit="experiment"):
        used = data.get(experiment.data, "–")
        if experiment.name not in argvs:
            runs.append(Run(experiment.name, used, [], 0.0, "skipped", f"not run at {preset} size", []))
            continue
        script_args = argvs[experiment.name]
        print(f"\n== {experiment.name}: python scripts/{experiment.script}.py "
              f"{shlex.join(script_args)}", flush=True)
        start = time.perf_counter()
        status, error, claims = run_experiment(experiment, script_args)
        seconds = time.perf_counter() - start
        print(f"== {experiment.name}: {status} in {seconds:.0f} s", flush=True)
        runs.append(Run(experiment.name, used, script_args, seconds, status, error, claims))
    total = time.perf_counter() - began

    (experiment_header, experiment_rows), (claim_header, claim_rows) = summary_tables(runs)
    failed = [r for r in runs if r.status == "failed"]
    budget = 10 if args.fast else 60
    print(f"\n{text_table(experiment_header, experiment_rows)}")
    print(f"total wall time {total / 60:.1f} min (budget for the whole {preset} preset: "
          f"{budget} min on 2 cores)")
    print(f"\nclaims: paper's number, tinyadv's number in this run\n"
          f"{text_table(claim_header, claim_rows)}")
    held = sum(c.holds for r in runs for c in r.claims)
    print(f"{held} of {len(claim_rows)} claims hold")
    if failed:
        print(f"{len(failed)} experiment(s) failed: "
              + "; ".join(f"{r.name} ({r.error})" for r in failed))

    path = os.path.join(args.figures, "run_all_summary.md")
    setting = (f"Preset: {preset}. Data: MNIST experiments on {data['mnist']}, CIFAR/SVHN "
               f"experiments on {data['cifar']}. Seed {args.seed}. Total wall time "
               f"{total / 60:.1f} min ({time.strftime('%Y-%m-%d %H:%M')}).")
    arguments = [f"`{shlex.join(r.argv)}`" if r.argv else "" for r in runs]
    write_atomically(path, "\n".join([
        "# run_all summary", "", f"    {command}", "", setting, "",
        "## Experiments", "",
        markdown_table(experiment_header + ("arguments",),
                       [row + (a,) for row, a in zip(experiment_rows, arguments)]), "",
        f"## Claims ({held} of {len(claim_rows)} hold)", "",
        markdown_table(claim_header, claim_rows), ""]))
    print(f"wrote {path}")
    return {"runs": runs, "claims": claim_rows, "status": 1 if failed else 0, "summary": path}


if __name__ == "__main__":
    sys.exit(main()["status"])
