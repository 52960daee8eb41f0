"""One entry point for the scripts: ``load_dataset(name, split)`` and the valid names for ``--data``.

The experiment scripts and the demo take ``--data`` with ``choices=DATASET_NAMES``; the default
``"mini-mnist"`` is bundled with tinyadv and needs no download, the others are read from (or
downloaded into) the data folder::

    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    x, y = load_dataset(args.data, "train", classes=(3, 7), binary=True)
"""

import numpy as np

from tinyadv.checks import check_bool
from tinyadv.data.cifar import load_cifar10
from tinyadv.data.mini import load_mini_mnist
from tinyadv.data.mnist import load_fashion_mnist, load_mnist
from tinyadv.data.svhn import load_svhn

DATASET_NAMES = ("mini-mnist", "mnist", "fashion-mnist", "cifar10", "svhn")


def load_dataset(name, split="train", *, root=None, classes=None, binary=False, limit=None,
                 dtype=np.float32, download=True, greyscale=False, standardize=False):
    """Load a data set by its ``--data`` name.

    Parameters
    ----------
    name : {"mini-mnist", "mnist", "fashion-mnist", "cifar10", "svhn"}
    split : {"train", "test"} ("extra" too for SVHN)
    root : str, optional
        Data folder (ignored by "mini-mnist", which is bundled); default ``$TINYADV_DATA`` or
        ``~/.cache/tinyadv``.
    classes, binary, limit, dtype
        As for every loader: class subset (``classes=(3, 7), binary=True`` is MNIST 3-vs-7
        with 3 -> 1, 7 -> 0), first ``limit`` examples, float32/float64 in [0, 1] or uint8.
    download : bool
        Download missing official files (not used by "mini-mnist").
    greyscale, standardize : bool
        SVHN preprocessing of REFERENCES §4 (only for "svhn").

    Returns
    -------
    x : ndarray, shape (N, C, H, W): (N, 1, 28, 28) for the MNISTs, (N, 3, 32, 32) for
        CIFAR-10 and SVHN ((N, 1, 32, 32) with ``greyscale``)
    y : ndarray of int64, shape (N,)
    """
    if not isinstance(name, str) or name not in DATASET_NAMES:
        raise ValueError(f"unknown data set {name!r}: use one of {', '.join(DATASET_NAMES)}")
    download = check_bool(download, "download")
    greyscale = check_bool(greyscale, "greyscale")
    standardize = check_bool(standardize, "standardize")
    if name != "svhn" and (greyscale or standardize):
        raise ValueError(f"greyscale and standardize are SVHN options, not available for {name!r}")
    options = dict(classes=classes, binary=binary, limit=limit, dtype=dtype)
    if name == "mini-mnist":
        return load_mini_mnist(split, **options)
    if name == "mnist":
        return load_mnist(root, split, download=download, **options)
    if name == "fashion-mnist":
        return load_fashion_mnist(root, split, download=download, **options)
    if name == "cifar10":
        return load_cifar10(root, split, download=download, **options)
    return load_svhn(root, split, download=download, greyscale=greyscale, standardize=standardize,
                     **options)
