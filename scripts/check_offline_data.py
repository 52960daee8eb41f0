"""Check the real data sets in a data folder: shapes, dtypes, ranges and class counts.

    python ../shared/data/install_offline_data.py ~/tinyadv-data     # on a machine without internet
    python scripts/check_offline_data.py --root ~/tinyadv-data      # or TINYADV_DATA=... / the cache

Loads every split of every data set found in the folder (never downloads), compares the number
of images per class with the official counts, and for MNIST compares the MD5 of the decompressed
idx files with the official ones (the offline copies' train .gz files were re-compressed, so only
their contents can be compared). Prints one line per split; exits with status 1 if anything
differs, 0 otherwise, and 2 (a usage error) if the folder does not exist. A data set absent
from the folder is reported as skipped.
"""

import argparse
import gzip
import hashlib
import os
import sys
import time
import zlib

import numpy as np

from tinyadv.data import data_root, load_cifar10, load_fashion_mnist, load_mnist, load_svhn

# Official sizes and images per class (MNIST from its idx files; Fashion-MNIST and CIFAR-10 are
# balanced). SVHN is checked by total only.
EXPECTED = {
    ("mnist", "train"): [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    ("mnist", "test"): [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    ("fashion-mnist", "train"): [6000] * 10,
    ("fashion-mnist", "test"): [1000] * 10,
    ("cifar10", "train"): [5000] * 10,
    ("cifar10", "test"): [1000] * 10,
    ("svhn", "train"): 73257,
    ("svhn", "test"): 26032,
}
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32), "svhn": (3, 32, 32)}
LOADERS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10, "svhn": load_svhn}
PRESENT = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py", "svhn": "svhn"}
# CIFAR-10 may also be there as its official archive alone, which the loader checks and extracts.
ARCHIVES = {"cifar10": "cifar-10-python.tar.gz"}
# MD5 of the decompressed official MNIST idx files (../shared/data/README.md).
MNIST_CONTENT_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}


def check_split(root, name, split):
    """Load one split; return (ok, report line)."""
    t0 = time.perf_counter()
    x, y = LOADERS[name](root, split, download=False, dtype=np.uint8)
    seconds = time.perf_counter() - t0
    counts = np.bincount(y, minlength=10).tolist()
    expected = EXPECTED[(name, split)]
    ok = x.shape[1:] == SHAPES[name] and x.dtype == np.uint8 and y.dtype == np.int64 and len(x) == len(y)
    ok = ok and (counts == expected if isinstance(expected, list) else len(y) == expected)
    line = (f"{'ok  ' if ok else 'FAIL'} {name:14s} {split:5s} x {str(x.shape):20s} y {len(y):6d}  "
            f"per class {counts}  mean pixel {x.mean() / 255:.4f}  ({seconds:.1f} s)")
    return ok, line


def check_mnist_contents(root):
    """Compare the decompressed MNIST files with the official MD5s; return (ok, lines)."""
    ok, lines = True, []
    for name, want in MNIST_CONTENT_MD5.items():
        path = os.path.join(root, "mnist", name)
        try:
            with gzip.open(path, "rb") as f:
                got = hashlib.md5(f.read()).hexdigest()
        except (OSError, EOFError, zlib.error) as err:  # a damaged file is a FAIL line, not the end
            ok = False
            lines.append(f"FAIL mnist contents {name}: {type(err).__name__}: {err}")
            continue
        ok &= got == want
        lines.append(f"{'ok  ' if got == want else 'FAIL'} mnist contents {name}: md5 {got}")
    return ok, lines


def existing_folder(text):
    """--root's type: a folder that exists (this script reads, never downloads)."""
    if os.path.isfile(os.path.expanduser(text)):
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    if not os.path.isdir(os.path.expanduser(text)):
        raise argparse.ArgumentTypeError(f"no folder {text!r}")
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=existing_folder, default=None,
                        help="data folder (default: $TINYADV_DATA or ~/.cache/tinyadv)")
    args = parser.parse_args(argv)
    root = data_root(args.root)
    if not os.path.isdir(root):
        parser.error(f"no data folder {root} (from $TINYADV_DATA or the default): give --root")
    print(f"data folder: {root}")
    all_ok, checked = True, 0
    for name in LOADERS:
        archive = ARCHIVES.get(name)
        if not (os.path.isdir(os.path.join(root, PRESENT[name]))
                or archive and os.path.exists(os.path.join(root, archive))):
            print(f"skip {name:14s} (no {PRESENT[name]}/{f' or {archive}' if archive else ''} in the folder)")
            continue
        for split in ("train", "test"):
            try:
                ok, line = check_split(root, name, split)
            except (OSError, ValueError) as err:
                ok, line = False, f"FAIL {name:14s} {split:5s} {type(err).__name__}: {err}"
            print(line)
            all_ok &= ok
            checked += 1
        if name == "mnist" and all(os.path.exists(os.path.join(root, "mnist", f)) for f in MNIST_CONTENT_MD5):
            ok, lines = check_mnist_contents(root)
            print("\n".join(lines))
            all_ok &= ok
    verdict = "nothing to check" if checked == 0 else "all as documented" if all_ok else "SOME DIFFER"
    print(f"{checked} splits checked: {verdict}")
    if checked == 0 and os.path.basename(os.path.normpath(root)) in PRESENT.values():
        print(f"({root} is a data set's own folder: the data folder is the one that holds it, "
              f"--root {os.path.dirname(os.path.normpath(root))})")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
