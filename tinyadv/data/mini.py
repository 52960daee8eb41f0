"""mini-MNIST: 7,000 real MNIST digits shipped inside tinyadv, for offline work and tests.

The bundle ``tinyadv/data/mini_mnist.npz`` (about 1.2 MB) was built by
``scripts/make_mini_mnist.py`` from the official MNIST files: 5,000 training digits (500 per
class, drawn with seed 0 from the official 60,000, kept in file order) and the first 2,000
official test digits. It needs no download, so every example, test and script default works
on a machine without internet. MNIST is by LeCun, Cortes and Burges, licensed CC BY-SA 3.0.
"""

import os

import numpy as np

from tinyadv.data.select import check_split, finish

MINI_MNIST_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mini_mnist.npz")


def load_mini_mnist(split="train", *, classes=None, binary=False, limit=None, dtype=np.float32):
    """Load the bundled mini-MNIST digits.

    Parameters
    ----------
    split : {"train", "test"}
        "train": 5,000 digits, 500 per class; "test": the first 2,000 official test digits.
    classes : sequence of int, optional
        Keep only these digits; labels stay the digit ids (``classes=(3, 7)`` -> labels 3, 7).
    binary : bool
        Relabel two classes as ``classes[0] -> 1``, ``classes[1] -> 0``. The papers' MNIST
        3-vs-7 logistic regression (Goodfellow et al. 2015 §5; Galloway, Tanay & Taylor 2018)
        is ``load_mini_mnist(classes=(3, 7), binary=True)``: 3 -> 1, 7 -> 0.
    limit : int, optional
        Keep the first ``limit`` examples after class filtering.
    dtype : {np.float32, np.float64, np.uint8}
        Floats are pixels / 255 in [0, 1]; uint8 returns the raw pixels.

    Returns
    -------
    x : ndarray, shape (N, 1, 28, 28), ``dtype``
    y : ndarray of int64, shape (N,)
    """
    split = check_split(split)
    with np.load(MINI_MNIST_PATH, allow_pickle=False) as bundle:
        x, y = bundle[f"x_{split}"], bundle[f"y_{split}"]
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
        raise ValueError(f"{MINI_MNIST_PATH} is damaged: images {x.dtype} {x.shape}, labels {y.shape}; "
                         f"rebuild it with scripts/make_mini_mnist.py")
    return finish(x[:, None], y, num_classes=10, classes=classes, binary=binary, limit=limit, dtype=dtype)
