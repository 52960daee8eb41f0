"""Slide "human-driven attacks": toggle pixels of a digit and watch the prediction change.

The talk lets a person attack a digit classifier by hand: click a pixel to switch it (0 ↔ 1),
look at the class probabilities, click again. A person soon learns which pixels matter; the
model has no say in which pixels a human considers meaningful. The automatic version of that
person is tinyadv's L0 pixel attack with k = 1 (``tinyadv/attacks/pixels.py``): switch the one
pixel with the largest first-order gain g_i·(t_i − x_i), g = ∇ₓ CE(z(x), y), t_i the end of the
box that g points to. On logistic regression g is a multiple of w, so it walks down the weight
image of REFERENCES.md §7 (the most negative weights first for a 3, the most positive for a 7).

Interactive window (a matplotlib backend with a display; without one the script says so and
asks for --demo):
    click a pixel   toggle it (≥ ½ → 0, < ½ → 1), prediction and confidence update live
    a               one automatic step: toggle the most influential pixel
    r               reset the digit            n   next digit            q   quit

The model is trained first (a few seconds) or loaded with --model from a ``.npz`` written by
``model.save`` (--save writes one): ``--model-kind logistic`` is logistic regression on 3 vs 7
(label 3 → 1, 7 → 0, as in §7), ``--model-kind cnn`` the CleverHans CNN (small: --nf 8) on all ten
digits.

--demo (headless, Agg backend) applies --steps automatic toggles to --digits test digits, writes
figures/human_attack.png (each digit after 0, k1, k2, ... toggles with the prediction and
confidence under it, and the curve of the true class's probability against the number of
toggles), and prints how many toggles flip the prediction over --eval-digits test digits.

    python scripts/human_attack.py                                   # the window, mini-MNIST
    python scripts/human_attack.py --demo                            # the figure, headless
    TINYADV_DATA=/root/tinyadv-data python scripts/human_attack.py --data mnist --demo
    TINYADV_DATA=/root/tinyadv-data python scripts/human_attack.py --data mnist --model-kind cnn --demo
"""

import argparse
import os

import matplotlib
import numpy as np

import tinyadv as ta
from tinyadv.cli import changed_flags, figure_path, file_path, nonnegative_int, positive_int, run_script
from tinyadv.data import DATASET_NAMES, load_dataset
from tinyadv.plots import save_figure, to_displayable

MODEL_KINDS = ("logistic", "cnn")
#: The number of logits of each kind's model: one (3 → 1, 7 → 0) or one per digit.
LOGITS = {"logistic": 1, "cnn": 10}
#: REFERENCES.md §7: the weight-pixel L0 attack with i = 50 (100 pixels set to 1) leaves the
#: 3-vs-7 logistic model at this accuracy (all digits pushed to one class).
PAPER_L0_ACCURACY = 0.4956
DEFAULT_OUT = os.path.join("figures", "human_attack.png")
#: matplotlib's backends that only write files: the window needs another one, and a display.
NON_INTERACTIVE = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")


def saved_model(path):
    """--model's type: the model that ``model.save`` wrote to ``path``, loaded when the flag is read."""
    try:
        return ta.load(path)
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def logit_count(model):
    """The number of logits of a model ending in a Linear layer: its last parameter's first axis."""
    return model.parameters()[-1].data.shape[0]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    parser.add_argument("--model-kind", choices=MODEL_KINDS, default="logistic")
    parser.add_argument("--model", type=saved_model, default=None,
                        help="load this .npz (from model.save, of --model-kind) instead of training")
    parser.add_argument("--save", type=file_path, default=None, help="write the trained model to this .npz")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="training epochs (default 10 for logistic, 3 for cnn)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use at most this many train and test digits")
    parser.add_argument("--nf", type=positive_int, default=8,
                        help="cnn trained here: filters of conv1 (the talk's model has 32)")
    parser.add_argument("--demo", action="store_true", help="no window: write the figure and the table")
    parser.add_argument("--steps", type=positive_int, default=40, help="demo: automatic toggles per digit")
    parser.add_argument("--digits", type=positive_int, default=4, help="demo: digits in the figure")
    parser.add_argument("--eval-digits", type=positive_int, default=200, help="demo: digits in the table")
    parser.add_argument("--out", type=figure_path, default=None, help=f"demo: the figure (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.model is not None and (args.save, args.epochs) != (None, None):
        parser.error("--save and --epochs are for training; --model loads a trained model instead")
    if changed_flags(parser, args, ("nf",)) and (args.model is not None or args.model_kind != "cnn"):
        parser.error("--nf sets the filters of a cnn trained here; "
                     + ("--model loads a trained model instead" if args.model is not None
                        else f"--model-kind {args.model_kind} has no filters"))
    if args.model is not None and logit_count(args.model) != LOGITS[args.model_kind]:
        parser.error(f"--model has {logit_count(args.model)} logits, but --model-kind {args.model_kind} needs "
                     f"{LOGITS[args.model_kind]} (logistic: 1, for 3 vs 7; cnn: 10, one per digit)")
    demo_only = changed_flags(parser, args, ("out", "steps", "digits", "eval_digits"))
    if not args.demo and demo_only:
        parser.error(f"{', '.join(demo_only)}: for --demo's figure and table only; the window "
                     "writes no file and takes your toggles")
    if not args.demo:
        # pyplot resolves the backend when imported: one asked for (MPLBACKEND=TkAgg) that finds
        # no display falls back to Agg there, and matplotlib.get_backend() before it names the wish
        import matplotlib.pyplot as plt
        if plt.get_backend().lower() in NON_INTERACTIVE:
            parser.error(f"no display for the window (matplotlib backend {plt.get_backend()}): "
                         "use --demo to write the figure instead")
    args.out = args.out or DEFAULT_OUT
    return args


# ---- the model ----------------------------------------------------------------------------


def load_digits(args, split):
    """(x, y, class names) of the chosen task: 3 vs 7 (names "7", "3") or all ten digits."""
    if args.model_kind == "logistic":
        x, y = load_dataset(args.data, split, classes=(3, 7), binary=True, limit=args.limit)
        return x, y, ("7", "3")
    x, y = load_dataset(args.data, split, limit=args.limit)
    return x, y, tuple(str(c) for c in range(10))


def build_model(args, x, y):
    """The model loaded from --model, or a fresh model of ``args.model_kind`` trained on (x, y) (Adam 1e-3)."""
    if args.model is not None:
        model = args.model
        try:
            model.logits(x[:1])
        except ValueError as error:
            raise SystemExit(f"--model does not take {args.data} images {x.shape[1:]} ({error}): "
                             f"give a model trained on {args.data}") from error
    else:
        if args.model_kind == "logistic":
            model = ta.logistic_regression(int(np.prod(x.shape[1:])), seed=args.seed)
        else:
            model = ta.cleverhans_cnn(in_channels=x.shape[1], nf=args.nf, image_size=x.shape[-1],
                                      bias=True, seed=args.seed)
        epochs = args.epochs if args.epochs is not None else (10 if args.model_kind == "logistic" else 3)
        ta.fit(model, x, y, epochs=epochs, seed=args.seed, progress=False)
        if args.save is not None:
            model.save(args.save)
    return model.eval()


# ---- the logic behind the window: pure functions and one small state class ----------------


def probabilities(model, x):
    """Class probabilities softmax(z) of a batch x (N, C, H, W) -> (N, K), K ≥ 2.

    A single-logit model z gives the two probabilities [1 − σ(z), σ(z)].
    """
    return ta.softmax(model.logits(x).astype(np.float64))


def toggle(x, row, col):
    """A copy of one image x (C, H, W) with pixel (row, col) switched: ≥ ½ → 0, < ½ → 1, in
    every channel."""
    x = np.array(x, copy=True)
    if not (0 <= row < x.shape[-2] and 0 <= col < x.shape[-1]):
        raise ValueError(f"pixel ({row}, {col}) is outside the {x.shape[-2]}×{x.shape[-1]} image")
    x[:, row, col] = np.where(x[:, row, col] >= 0.5, 0, 1)
    return x


def auto_step(model, x, y):
    """One automatic toggle per image: tinyadv's pixel attack with k = 1.

    Parameters
    ----------
    model : object with ``logits`` and ``input_gradient``
    x : ndarray, shape (N, C, H, W), in [0, 1]
    y : ndarray of int, shape (N,)
        The labels whose loss the toggle increases (the true labels).

    Returns
    -------
    x_new : ndarray, shape and dtype of x
    moved : ndarray of bool, shape (N,)
        False where no entry has a positive first-order gain (nothing changed).

    Notes
    -----
    g = ∇ₓ CE(z(x), y); t_i = 1 if g_i > 0 else 0; the entry with the largest g_i·(t_i − x_i) > 0
    is set to t_i (``ta.pixel_attack(model, x, y, k=1)``).
    """
    x_new = ta.pixel_attack(model, x, y, k=1)
    return x_new, np.any((x_new != x).reshape(len(x), -1), axis=1)


def pixel_at(xdata, ydata, shape):
    """The (row, col) of the image pixel under a click at data coordinates (xdata, ydata) of an
    ``imshow`` of an (H, W) image, or None outside it (pixel centres are at integers)."""
    if xdata is None or ydata is None:
        return None
    row, col = int(np.floor(ydata + 0.5)), int(np.floor(xdata + 0.5))
    if 0 <= row < shape[0] and 0 <= col < shape[1]:
        return row, col
    return None


class ToggleSession:
    """The state of the human attack: which digit, its original and current pixels, the toggles.

    All the window's logic lives here so that it runs (and is tested) without a window:
    ``click(row, col)``, ``step()``, ``reset()``, ``next()``, and ``key(k)`` which maps a key to
    one of them and returns what the window should do ("redraw", "quit" or None).
    """

    def __init__(self, model, images, labels, class_names):
        self.model = model
        self.images = images
        self.labels = np.asarray(labels)
        self.class_names = class_names
        self.index = 0
        self.reset()

    def reset(self):
        """Back to the original digit, no toggles."""
        self.original = self.images[self.index]
        self.current = self.original.copy()
        self.toggles = []

    def next(self):
        """The next digit (wrapping around)."""
        self.index = (self.index + 1) % len(self.images)
        self.reset()

    def click(self, row, col):
        """A human toggle of pixel (row, col)."""
        self.current = toggle(self.current, row, col)
        self.toggles.append(("human", row, col))

    def step(self):
        """An automatic toggle; returns the (row, col) it changed, or None."""
        x_new, moved = auto_step(self.model, self.current[None], self.labels[self.index:self.index + 1])
        if not moved[0]:
            return None
        changed = np.argwhere(np.any(x_new[0] != self.current, axis=0))[0]
        self.current = x_new[0]
        self.toggles.append(("auto", int(changed[0]), int(changed[1])))
        return int(changed[0]), int(changed[1])

    @property
    def label(self):
        return int(self.labels[self.index])

    def probabilities(self):
        """(K,) class probabilities of the current image."""
        return probabilities(self.model, self.current[None])[0]

    def prediction(self):
        """(predicted class, its probability) of the current image."""
        p = self.probabilities()
        return int(np.argmax(p)), float(np.max(p))

    def key(self, key):
        actions = {"a": self.step, "r": self.reset, "n": self.next}
        if key == "q":
            return "quit"
        if key in actions:
            actions[key]()
            return "redraw"
        return None


# ---- the window ---------------------------------------------------------------------------


def build_window(session):
    """The window's figure for ``session`` with its click and key handlers connected (not shown).

    Left: the current digit; right: a bar per class (green: the label, red: a wrong prediction).
    """
    import matplotlib.pyplot as plt

    fig, (ax_image, ax_bars) = plt.subplots(1, 2, figsize=(9, 4.5), gridspec_kw={"width_ratios": [1, 1.1]})
    manager = fig.canvas.manager
    if manager is not None and getattr(manager, "key_press_handler_id", None) is not None:
        fig.canvas.mpl_disconnect(manager.key_press_handler_id)   # matplotlib's r, q, ... keys
    artist = ax_image.imshow(to_displayable(session.current), cmap="gray", vmin=0, vmax=1)
    ax_image.set_xticks([])
    ax_image.set_yticks([])
    names = session.class_names
    bars = ax_bars.barh(np.arange(len(names)), session.probabilities(), color="C0")
    ax_bars.set_yticks(np.arange(len(names)), names)
    ax_bars.set_xlim(0, 1)
    ax_bars.set_xlabel("probability")
    fig.text(0.5, 0.01, "click: toggle a pixel   a: automatic toggle   r: reset   n: next digit   q: quit",
             ha="center", fontsize=9)

    def redraw():
        artist.set_data(to_displayable(session.current))
        p = session.probabilities()
        predicted, confidence = int(np.argmax(p)), float(np.max(p))
        for k, bar in enumerate(bars):
            bar.set_width(p[k])
            bar.set_color("C2" if k == session.label else ("C3" if k == predicted else "C0"))
        ax_image.set_title(f"digit {session.index}: label {names[session.label]}, "
                           f"{len(session.toggles)} toggles")
        ax_bars.set_title(f"prediction {names[predicted]} ({confidence:.3f})",
                          color="C2" if predicted == session.label else "C3")
        fig.canvas.draw_idle()

    def on_click(event):
        if event.inaxes is not ax_image:
            return
        pixel = pixel_at(event.xdata, event.ydata, session.current.shape[-2:])
        if pixel is not None:
            session.click(*pixel)
            redraw()

    def on_key(event):
        action = session.key(event.key)
        if action == "quit":
            plt.close(fig)
        elif action == "redraw":
            redraw()

    fig.canvas.mpl_connect("button_press_event", on_click)
    fig.canvas.mpl_connect("key_press_event", on_key)
    redraw()
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def run_window(session):
    """Open the interactive window on ``session`` (blocks until it is closed or q is pressed)."""
    import matplotlib.pyplot as plt

    build_window(session)
    plt.show()


# ---- the headless demo --------------------------------------------------------------------


def toggle_sequence(model, x, y, steps):
    """Apply ``steps`` automatic toggles to a batch; returns the images after 0..steps toggles.

    Returns
    -------
    frames : ndarray, shape (steps + 1, N, C, H, W)
    probs : ndarray, shape (steps + 1, N, K), the class probabilities of each frame
    """
    frames, probs = [x], [probabilities(model, x)]
    for _ in range(steps):
        x, _ = auto_step(model, x, y)
        frames.append(x)
        probs.append(probabilities(model, x))
    return np.stack(frames), np.stack(probs)


def toggles_to_flip(probs, y):
    """First number of toggles at which the prediction differs from y, per image (N,); −1 if
    it never does (or is already wrong at 0 toggles: 0)."""
    wrong = np.argmax(probs, axis=2) != y[None, :]
    return np.where(wrong.any(axis=0), np.argmax(wrong, axis=0), -1)


def plot_demo(frames, probs, y, class_names, path, title):
    import matplotlib.pyplot as plt

    steps, n = frames.shape[0] - 1, frames.shape[1]
    shown = np.unique(np.round(np.linspace(0, steps, min(steps + 1, 7))).astype(int))
    fig = plt.figure(figsize=(1.5 * len(shown) + 0.8, 1.75 * n + 3.2))
    grid = fig.add_gridspec(n + 1, len(shown), height_ratios=[1] * n + [1.7])
    for i in range(n):
        for j, t in enumerate(shown):
            ax = fig.add_subplot(grid[i, j])
            ax.imshow(to_displayable(frames[t, i]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            predicted = int(np.argmax(probs[t, i]))
            ax.set_xlabel(f"{class_names[predicted]} ({probs[t, i, predicted]:.2f})", fontsize=8,
                          color="C2" if predicted == y[i] else "C3")
            if i == 0:
                ax.set_title(f"{t} toggles", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"label {class_names[y[i]]}", fontsize=9)
    curve = fig.add_subplot(grid[n, :])
    for i in range(n):
        curve.plot(np.arange(steps + 1), probs[:, i, y[i]], "o-", ms=3, color=f"C{i}",
                   label=f"digit {i} (label {class_names[y[i]]})")
    curve.axhline(0.5, color="0.6", lw=0.8, ls=":")
    curve.set_xlabel("automatic toggles (pixel attack, k = 1 per step)")
    curve.set_ylabel("p(true label)")
    curve.set_ylim(-0.02, 1.02)
    curve.xaxis.get_major_locator().set_params(integer=True)
    curve.grid(True, alpha=0.3)
    curve.legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def run_demo(model, x, y, class_names, args):
    """Headless demo: the figure for the first --digits correctly classified digits and the
    table of toggles to flip over --eval-digits digits; returns the table's numbers."""
    correct = np.flatnonzero(model.predict(x) == y)
    if len(correct) == 0:
        raise SystemExit(f"the model classifies none of the {len(x)} test digits correctly: there "
                         f"is nothing to flip (train it longer)")
    chosen = correct[:args.digits]
    frames, probs = toggle_sequence(model, x[chosen], y[chosen], args.steps)
    for i, index in enumerate(chosen):
        line = " ".join(f"{class_names[int(np.argmax(p))]}({p.max():.2f})" for p in probs[:, i])
        print(f"digit {index} (label {class_names[y[index]]}): {line}")
    if args.model_kind == "logistic":
        kind = "logistic regression 3 vs 7"
    else:  # the filters of the model attacked (--model's, not --nf's default)
        conv1 = model["conv1"] if "conv1" in model else None
        kind = f"CNN nf={conv1.out_channels}, 10 digits" if conv1 is not None else "10 digits"
    plot_demo(frames, probs, y[chosen], class_names, args.out,
              f"Automatic pixel toggles on {kind} ({args.data}): prediction (confidence) under each image")

    evaluated = correct[:args.eval_digits]
    _, eval_probs = toggle_sequence(model, x[evaluated], y[evaluated], args.steps)
    flips = toggles_to_flip(eval_probs, y[evaluated])
    flipped = flips[flips >= 0]
    summary = dict(digits=len(evaluated), flipped=len(flipped) / max(len(evaluated), 1),
                   median=float(np.median(flipped)) if len(flipped) else float("nan"),
                   accuracy=float(np.mean(np.argmax(eval_probs[-1], axis=1) == y[evaluated])),
                   confidence=float(np.mean(eval_probs[-1].max(axis=1))))
    print(f"\n{summary['digits']} correctly classified test digits, "
          f"up to {args.steps} automatic toggles each")
    if args.model_kind == "logistic":
        reference = "paper (§7, 100 fixed pixels, 3 vs 7)", f"accuracy {PAPER_L0_ACCURACY}"
    else:  # (§7's number is the 3-vs-7 logistic model's; the ten-digit CNN has none of its own)
        reference = "no paper number: chance", f"accuracy {1 / len(class_names):.3f}"
    print(f"{'flipped':>8} | {'median toggles to flip':>22} | {'accuracy after':>14} | "
          f"{'mean max p after':>16} | {reference[0]}")
    print(f"{summary['flipped']:>8.3f} | {summary['median']:>22.1f} | {summary['accuracy']:>14.3f} | "
          f"{summary['confidence']:>16.3f} | {reference[1]}")
    print(f"wrote {args.out}")
    return summary


def main(argv=None):
    args = parse_args(argv)
    if args.demo:
        matplotlib.use("Agg")
    x_train, y_train, class_names = load_digits(args, "train")
    x_test, y_test, _ = load_digits(args, "test")
    model = build_model(args, x_train, y_train)
    clean = ta.accuracy(model, x_test, y_test)
    print(f"{args.model_kind} model on {args.data}: clean test accuracy {clean:.4f}")
    if args.demo:
        return run_demo(model, x_test, y_test, class_names, args)
    order = np.random.default_rng(args.seed).permutation(len(x_test))
    run_window(ToggleSession(model, x_test[order], y_test[order], class_names))
    return None


if __name__ == "__main__":
    run_script(main)
