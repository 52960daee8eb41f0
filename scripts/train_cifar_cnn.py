"""Train the talk's CIFAR-10 CNN with and without weight decay, both adversarially trained.

The talk's CIFAR-10 slides ("L∞ adversarial examples", "robustness", "first-layer filters",
"noisy examples", "trade-offs") compare two copies of the CleverHans basic CNN (REFERENCES.md §8;
reference repo uoguelph-mlrg/adversarial_training_vs_weight_decay): 184,832 weights, no biases,

    "CNN"     adversarial training only,
    "CNN-L2"  the same plus weight decay 1e-3·Σ ½‖W‖² in both phases.

Protocol (Galloway, Tanay & Taylor 2018, after Madry et al. 2018): Adam lr 1e-3, batch 128;
a clean phase, then ½ CE(clean) + ½ CE(PGD) with PGD L∞ ε = 8/255, step 2/255, 7 iterations,
random start, attack labels = the model's predictions. The paper trains 50 clean + 200
adversarial epochs on all 50,000 images (``--paper``).

The laptop default is much shorter: the first 20,000 training images, 10 clean epochs and
3 adversarial epochs per model. On an idle 2-core machine (2026-12-05) a clean epoch took about
4 s (≈ 5,300 images/s) and an adversarial epoch about 30 s (PGD-7 dominates), so both models
trained in about 4.5 minutes; the printed output gives the measured time of every run.
Expect clean accuracies below the paper's 66–70%: the models see two fifths of the data for a
twentieth of the epochs.

    TINYADV_DATA=/root/tinyadv-data python scripts/train_cifar_cnn.py --data cifar10
    TINYADV_DATA=/root/tinyadv-data python scripts/train_cifar_cnn.py --data cifar10 --paper

Each phase writes a resumable checkpoint (``<checkpoints>/cifar_cnn[_l2]_{clean,adv}.ckpt.npz``,
``fit(checkpoint=..., resume=True)``): run the same command again after an interruption and it
continues after the last finished epoch. The flags that shape the training are recorded in
``<checkpoints>/cifar_cnn_settings.json``, and a run with other values (``--eps``, ``--lr``,
``--seed``, ...) in the same folder is refused once a checkpoint or a model is there: it would
take the finished checkpoints for its own. Only ``--adv-epochs`` may grow, to train on. The
final models are ``<checkpoints>/cifar_cnn.npz`` and ``cifar_cnn_l2.npz`` (``tinyadv.load``),
read through ``load_trained`` below by cifar_robustness.py, cifar_filters.py, noisy_examples.py
and pixel_swap_tradeoff.py. With ``--data mini-mnist`` (the default, for the smoke test) the same
CNN is built for 1×28×28 inputs.
"""

import argparse
import json
import os
import time

import tinyadv as ta
from tinyadv.cli import count, folder, fraction, nonnegative_int, positive_float, positive_int, run_script
from tinyadv.data import DATASET_NAMES, load_dataset
from tinyadv.files import atomic_path

#: (file stem, weight decay λ₂, the paper's clean test accuracy) of the two models (REFERENCES §8).
MODELS = (("cifar_cnn", 0.0, "≈ 66–67%"), ("cifar_cnn_l2", 1e-3, "≈ 69–70%"))
NAMES = {"cifar_cnn": "CNN", "cifar_cnn_l2": "CNN-L2"}
#: The flags that shape the training, recorded beside the checkpoints (``--adv-epochs`` may grow).
SETTINGS = ("data", "train_limit", "clean_epochs", "batch_size", "lr", "eps", "alpha", "steps",
            "seed")


def trained_files(checkpoints):
    """The files of a training that ``checkpoints`` holds: the phases' checkpoints and the final
    models."""
    names = [f"{stem}{end}" for stem, _, _ in MODELS
             for end in ("_clean.ckpt.npz", "_adv.ckpt.npz", ".npz")]
    return [name for name in names if os.path.exists(os.path.join(checkpoints, name))]


def settings_error(args):
    """Why the checkpoints in ``args.checkpoints`` may not be resumed with ``args``, or None.
    Settings recorded by a run that saved nothing (it failed before its first epoch ended: a
    learning rate beyond float32, say) bind nothing: this run records its own."""
    path = os.path.join(args.checkpoints, "cifar_cnn_settings.json")
    if not os.path.exists(path) or not trained_files(args.checkpoints):
        return None
    try:
        with open(path) as file:
            recorded = json.load(file)
    except (OSError, ValueError) as error:
        return f"{path} cannot be read ({error}): delete it or use another --checkpoints folder"
    differ = [k for k in SETTINGS if k in recorded and recorded[k] != getattr(args, k)]
    if recorded.get("adv_epochs", 0) > args.adv_epochs:
        differ.append("adv_epochs")
    if not differ:
        return None
    was = ", ".join(f"--{k.replace('_', '-')} {recorded[k]}" for k in differ)
    now = ", ".join(f"--{k.replace('_', '-')} {getattr(args, k)}" for k in differ)
    return (f"{path} records checkpoints trained with {was}; this run asks {now}: "
            f"use another --checkpoints folder (only --adv-epochs may grow)")


def load_trained(checkpoints, data, x=None, names=("CNN-L2", "CNN")):
    """The models this script trained, ``{name: model}`` in the order of ``names``, read from
    ``checkpoints`` (in evaluation mode) for the scripts that study them. A missing file, or a
    model that does not take images shaped like ``x`` (N, C, H, W), ends the program with a
    message naming the command that makes the models, and so do models that the settings
    recorded beside them say were trained on another data set than ``data`` (Fashion-MNIST
    models read MNIST's images, or SVHN models CIFAR-10's, without an error otherwise)."""
    command = f"python scripts/train_cifar_cnn.py --data {data} --checkpoints {checkpoints}"
    settings = os.path.join(checkpoints, "cifar_cnn_settings.json")
    try:
        with open(settings) as file:
            trained_on = json.load(file).get("data", data)
    except (OSError, ValueError, AttributeError):  # (none recorded: models from elsewhere)
        trained_on = data
    if trained_on != data:
        raise SystemExit(f"the models in {checkpoints} were trained on {trained_on} ({settings}), "
                         f"this run reads {data}: pass --data {trained_on}, or run `{command}` "
                         f"with another --checkpoints folder")
    stems = {name: stem for stem, name in NAMES.items()}
    models = {}
    for name in names:
        path = os.path.join(checkpoints, f"{stems[name]}.npz")
        if not os.path.exists(path):
            raise SystemExit(f"missing trained model {path}: run `{command}` first")
        model = ta.load(path)
        if x is not None:
            try:
                model.logits(x[:1])
            except ValueError as error:
                raise SystemExit(f"{path} does not take {data} images {x.shape[1:]} ({error}): "
                                 f"run `{command}`") from error
        models[name] = model
    return models


def train_one(stem, weight_decay, x, y, args):
    """Train one model in two resumable phases; returns (model, seconds, history of each phase)."""
    channels, size = x.shape[1], x.shape[2]
    model = ta.cleverhans_cnn(in_channels=channels, image_size=size, seed=args.seed)
    optimizer = ta.Adam(model.parameters(), lr=args.lr)
    began = time.perf_counter()
    clean = ta.fit(model, x, y, epochs=args.clean_epochs, batch_size=args.batch_size,
                   optimizer=optimizer, weight_decay=weight_decay, seed=args.seed,
                   checkpoint=os.path.join(args.checkpoints, f"{stem}_clean.ckpt.npz"), resume=True)
    # ½ CE(clean) + ½ CE(PGD), attacking the model's own predictions (no label leaking), as in
    # the reference code (Madry et al. 2018; Goodfellow et al. 2015)
    hook = ta.adversarial_hook(ta.pgd, eps=args.eps, alpha=args.alpha, steps=args.steps,
                               random_start=True)
    adversarial = ta.fit(model, x, y, epochs=args.adv_epochs, batch_size=args.batch_size,
                         optimizer=optimizer, weight_decay=weight_decay, batch_hook=hook,
                         seed=args.seed + 1, checkpoint=os.path.join(args.checkpoints,
                                                                     f"{stem}_adv.ckpt.npz"),
                         resume=True)
    return model, time.perf_counter() - began, clean, adversarial


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--train-limit", type=positive_int, default=20000,
                        help="first N training images (paper: all 50,000)")
    parser.add_argument("--test-limit", type=positive_int, default=None,
                        help="default: the whole test set")
    parser.add_argument("--clean-epochs", type=count, default=10, help="paper: 50")
    parser.add_argument("--adv-epochs", type=count, default=3, help="paper: 200")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--lr", type=positive_float, default=1e-3)
    parser.add_argument("--eps", type=fraction, default=8 / 255,
                        help="PGD's L∞ budget on pixels in [0, 1] (default 8/255 ≈ 0.0314)")
    parser.add_argument("--alpha", type=positive_float, default=2 / 255,
                        help="PGD's step on pixels in [0, 1] (default 2/255 ≈ 0.0078)")
    parser.add_argument("--steps", type=positive_int, default=7)
    parser.add_argument("--paper", action="store_true",
                        help="the paper's protocol: all training images, 50 clean + 200 "
                             "adversarial epochs (days on two cores); explicit flags win")
    parser.add_argument("--checkpoints", type=folder, default="checkpoints")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    if args.paper:  # the paper's sizes become the defaults, so that explicit flags win
        parser.set_defaults(train_limit=None, clean_epochs=50, adv_epochs=200)
        args = parser.parse_args(argv)
    if args.clean_epochs + args.adv_epochs == 0:
        parser.error("--clean-epochs 0 with --adv-epochs 0 trains nothing")
    if (error := settings_error(args)) is not None:
        parser.error(error)

    x_train, y_train = load_dataset(args.data, "train", limit=args.train_limit)
    x_test, y_test = load_dataset(args.data, "test", limit=args.test_limit)
    print(f"data: {args.data}, {len(x_train)} training and {len(x_test)} test images of shape "
          f"{x_train.shape[1:]}")
    print(f"protocol: {args.clean_epochs} clean epochs, then {args.adv_epochs} epochs of "
          f"½CE(clean) + ½CE(PGD-L∞ ε = {args.eps * 255:g}/255, step {args.alpha * 255:g}/255, "
          f"{args.steps} iterations, random start); Adam lr {args.lr:g}, batch {args.batch_size}")
    print("paper (REFERENCES §8): 50,000 images, 50 clean + 200 adversarial epochs")
    os.makedirs(args.checkpoints, exist_ok=True)
    settings = {k: getattr(args, k) for k in SETTINGS + ("adv_epochs",)}
    with atomic_path(os.path.join(args.checkpoints, "cifar_cnn_settings.json")) as temporary:
        with open(temporary, "w") as file:
            json.dump(settings, file, indent=1)

    rows = []
    for stem, weight_decay, paper in MODELS:
        print(f"\ntraining {NAMES[stem]} (weight decay {weight_decay:g}) ...")
        model, seconds, clean, adversarial = train_one(stem, weight_decay, x_train, y_train, args)
        path = os.path.join(args.checkpoints, f"{stem}.npz")
        model.save(path)
        model.eval()
        accuracy = ta.accuracy(model, x_test, y_test)
        last = adversarial if adversarial["accuracy"] else clean
        print(f"{NAMES[stem]}: {model.num_parameters():,} weights, {seconds:.0f} s "
              f"(this session; resumed epochs are not re-timed), final training-batch accuracy "
              f"{last['accuracy'][-1]:.3f}; saved {path}")
        rows.append((NAMES[stem], weight_decay, accuracy, paper, seconds))

    print("\nclean test accuracy        tinyadv   paper (full protocol)")
    for name, weight_decay, accuracy, paper, _ in rows:
        print(f"  {name:<7} (λ₂ = {weight_decay:<5g})     {accuracy:7.3f}   {paper}")
    print(f"total training time: {sum(r[4] for r in rows):.0f} s")
    return rows


if __name__ == "__main__":
    run_script(main)
