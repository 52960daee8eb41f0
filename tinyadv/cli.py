"""Types for command-line flags (argparse's ``type=``), so that a bad flag fails when it is read.

The scripts in ``scripts/`` train for minutes before they attack or draw; a negative ε, zero
epochs or an output path inside a file should stop them at once, with argparse's usage error
naming the flag (exit code 2), not with a traceback after the training. Each function takes the
flag's text and returns its value, or raises ``argparse.ArgumentTypeError`` with the reason::

    parser.add_argument("--epochs", type=positive_int, default=6)
    parser.add_argument("--eps", type=nonnegative_float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--out", type=figure_path, default="figures/demo.png")
    args = parser.parse_args(argv)
    increasing(parser, args.eps, "--eps")

A relation between flags (a seed set smaller than the test set, say) is checked after parsing
with ``parser.error(...)``, which gives the same usage error. A data set that is neither in the
data folder nor downloadable ends a script run through :func:`run_script` with its message.
"""

import argparse
import math
import os
import sys

from .data.download import ChecksumError, DataNotFoundError
from .data.safe_pickle import UnsafePickleError
from .files import names_no_file


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def _int_from(text, minimum):
    """An integer >= ``minimum`` and < 2**63: the library refuses a larger count or size, which
    no array or loop counter holds, after the training before it."""
    value = _number(text, int)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    if value >= 2 ** 63:
        raise argparse.ArgumentTypeError(f"must be < 2**63, got {value}")
    return value


def positive_int(text):
    """An integer >= 1 and < 2**63 (epochs, sizes, steps, limits)."""
    return _int_from(text, 1)


def nonnegative_int(text):
    """An integer >= 0 (a seed: any size)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def count(text):
    """An integer >= 0 and < 2**63 (a count that may be zero, as epochs after others)."""
    return _int_from(text, 0)


#: float32's largest value: the scripts' models compute in float32, where a larger learning rate,
#: σ or temperature is infinite (refused by the library, but after the training before it).
LARGEST = 3.4028234663852886e38


def nonnegative_float(text):
    """A finite number >= 0 and at most float32's largest (ε, σ, a weight decay)."""
    value = _number(text, float)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    if value > LARGEST:
        raise argparse.ArgumentTypeError(f"must be at most {LARGEST:.4g} (float32's largest, in "
                                         f"which the models compute), got {text!r}")
    return value


def positive_float(text):
    """A finite number > 0 (a learning rate, a temperature, a step size)."""
    value = nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def fraction(text):
    """A number in [0, 1] (a fraction of pixels)."""
    value = nonnegative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def pixel_levels(text):
    """An L∞ budget in units of 1/255 (``--eps 8`` is 8/255): a number in [0, 255]."""
    value = nonnegative_float(text)
    if value > 255:
        raise argparse.ArgumentTypeError(f"must be in [0, 255] (units of 1/255), got {text!r}")
    return value


def folder(text):
    """A folder to write into: it may not exist yet (it is created), but it may not be a file
    (nor empty: ``os.makedirs("")`` fails; "." is the current folder). A leading ``~`` is
    expanded to the home folder, as :func:`tinyadv.files.check_path` does for files (a quoted
    "~/out" or ``--out=~/out`` reaches the script unexpanded by the shell)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder, got an empty name (use . for the current folder)")
    text = os.path.expanduser(text)
    path = os.path.abspath(text)
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):  # (else the figure fails after the training)
        raise argparse.ArgumentTypeError(f"cannot write into {parent}")
    return text


def file_path(text):
    """A file to write: not a folder, in a folder that exists or can be made (see ``folder``).

    An empty name and one ending in a path separator ("models/") name no file: they are refused
    here, as :func:`tinyadv.files.check_path` would refuse them when the file is written. A
    leading ``~`` is expanded (see ``folder``)."""
    if names_no_file(text):
        raise argparse.ArgumentTypeError(f"expected a file name, got {text!r}")
    text = os.path.expanduser(text)
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file name")
    folder(os.path.dirname(os.path.abspath(text)))
    return text


def figure_path(text):
    """A figure's file name (see ``file_path``) with an extension matplotlib can write by itself
    (not "pgf", which needs a LaTeX installation: it failed after the training)."""
    from matplotlib.backend_bases import FigureCanvasBase  # only scripts that draw need it

    extension = os.path.splitext(text)[1].lower().lstrip(".")
    formats = {name: kind for name, kind in FigureCanvasBase.get_supported_filetypes().items()
               if name != "pgf"}
    if extension not in formats:
        raise argparse.ArgumentTypeError(f"{text!r} does not end in a figure format matplotlib "
                                         f"writes ({', '.join(sorted(formats))})")
    return file_path(text)


def increasing(parser, values, flag):
    """``parser.error`` unless ``values`` (a list from ``nargs="+"``) is strictly increasing."""
    if any(b <= a for a, b in zip(values, values[1:])):
        parser.error(f"{flag} must be increasing (each value once), got {' '.join(map(str, values))}")


def changed_flags(parser, args, names):
    """The flags among ``names`` (argparse's dests, e.g. "train_limit") that the command line set
    to other than their defaults, as "--train-limit": for naming flags that a mode does not use."""
    return [f"--{name.replace('_', '-')}" for name in names
            if getattr(args, name) != parser.get_default(name)]


def preset_name(parser, args, paper):
    """The name a script with a ``--paper`` flag prints beside its sizes: "--paper" or "laptop
    default", followed by the flags among ``paper`` (the dests whose defaults --paper changes)
    that the command line set otherwise, e.g. "laptop default, but --nf, --epochs set"."""
    name = "--paper" if args.paper else "laptop default"
    changed = changed_flags(parser, args, paper)
    return f"{name}, but {', '.join(changed)} set" if changed else name


def physical_memory():
    """The machine's memory in bytes (``os.sysconf``), or None where it cannot say (Windows): for
    refusing, when a flag is read, sizes no machine of this one's memory could hold; a size
    below it may still not be free."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def run_script(main):
    """``main()`` of a script run from the command line (``if __name__ == "__main__":
    run_script(main)``), ending with the message alone, exit status 1, where a data file is
    missing and cannot be downloaded, arrives damaged, or is a pickle that asks to run code:
    the message says which file, and the traceback above it would only show the loaders'
    calls."""
    try:
        return main()
    except (DataNotFoundError, ChecksumError, UnsafePickleError) as error:
        sys.exit(f"{os.path.basename(sys.argv[0])}: error: {error}")
