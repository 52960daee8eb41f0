"""Build tinyadv/data/mini_mnist.npz, the small real MNIST subset bundled with tinyadv.

    python scripts/make_mini_mnist.py [MNIST_DIR]     # default: ../shared/data/mnist

MNIST_DIR holds the four official idx files (``train-images-idx3-ubyte.gz`` ...). The bundle
holds 5,000 training digits, 500 per class drawn without replacement with a fixed seed from
the official 60,000 (indices kept sorted, so file order is preserved), and the first 2,000
official test digits. Images are stored as uint8 (N, 28, 28), labels as uint8, together with
the chosen training indices and the seed, so the subset can be rebuilt and audited. The file is
written with ``np.savez_compressed`` (no pickled objects) and replaced atomically.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, licensed CC BY-SA 3.0.
"""

import argparse
import os

import numpy as np

from tinyadv.cli import file_path, nonnegative_int
from tinyadv.data.idx import read_idx
from tinyadv.files import atomic_path

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_SRC = os.path.join(REPO, "..", "shared", "data", "mnist")
DEFAULT_OUT = os.path.join(REPO, "tinyadv", "data", "mini_mnist.npz")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")


def mnist_folder(text):
    """The src argument's type: a folder holding the four official MNIST files."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no folder {text!r} (it should hold {', '.join(FILES)})")
    missing = [name for name in FILES if not os.path.isfile(os.path.join(text, name))]
    if missing:
        raise argparse.ArgumentTypeError(f"the folder {text!r} lacks {', '.join(missing)}")
    return text


def build(src, *, per_class=500, n_test=2000, seed=0):
    """Return the arrays of the bundle, read from the official files in ``src``."""
    x_train = read_idx(os.path.join(src, "train-images-idx3-ubyte.gz"), ndim=3)
    y_train = read_idx(os.path.join(src, "train-labels-idx1-ubyte.gz"), ndim=1)
    x_test = read_idx(os.path.join(src, "t10k-images-idx3-ubyte.gz"), ndim=3)
    y_test = read_idx(os.path.join(src, "t10k-labels-idx1-ubyte.gz"), ndim=1)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y_train == k), size=per_class, replace=False)
             for k in range(10)]
    idx = np.sort(np.concatenate(picks))
    return {
        "x_train": x_train[idx], "y_train": y_train[idx],
        "x_test": x_test[:n_test], "y_test": y_test[:n_test],
        "train_indices": idx.astype(np.int32), "seed": np.int64(seed),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", nargs="?", type=mnist_folder, default=DEFAULT_SRC,
                        help="folder with the official MNIST .gz files")
    parser.add_argument("--out", type=file_path, default=DEFAULT_OUT, help="output .npz (default: the bundled file)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    arrays = build(args.src, seed=args.seed)
    with atomic_path(args.out, suffix=".npz") as temporary:
        np.savez_compressed(temporary, **arrays)
    counts = np.bincount(arrays["y_train"], minlength=10)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB): "
          f"train {arrays['x_train'].shape} per class {counts.tolist()}, test {arrays['x_test'].shape}")


if __name__ == "__main__":
    main()
