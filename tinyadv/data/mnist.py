"""MNIST and Fashion-MNIST: 28x28 greyscale images in ten classes, read from the official idx files.

Both data sets come as the same four gzipped idx files (see :mod:`tinyadv.data.idx`)::

    <root>/mnist/train-images-idx3-ubyte.gz   train-labels-idx1-ubyte.gz
                 t10k-images-idx3-ubyte.gz    t10k-labels-idx1-ubyte.gz
    <root>/fashion-mnist/  (same names)

A file already there is used as it is (a decompressed copy without ``.gz`` works too) after a
structure check; a missing file is downloaded from the official mirrors and verified against its
published MD5 (see :mod:`tinyadv.data.download`). MNIST: LeCun, Cortes and Burges (CC BY-SA 3.0);
Fashion-MNIST: Xiao, Rasul and Vollgraf 2017, Zalando (MIT licence).
"""

import os

import numpy as np

from tinyadv.checks import check_bool
from tinyadv.data.download import REPAIR_HINT, data_root, fetch, missing_file_message
from tinyadv.data.idx import read_idx
from tinyadv.data.select import check_split, finish

# Mirrors and MD5s of the gzipped files as published; the same values are in torchvision's
# torchvision/datasets/mnist.py (classes MNIST and FashionMNIST).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def _locate(folder, name, mirrors, md5, *, download):
    """Return the path of ``name`` in ``folder`` (or its decompressed twin), downloading if absent."""
    path = os.path.join(folder, name)
    if os.path.exists(path):
        return path
    plain = path[: -len(".gz")]
    if os.path.exists(plain):
        return plain
    urls = [mirror + name for mirror in mirrors]
    if not download:
        raise FileNotFoundError(missing_file_message(path, urls))
    return fetch(urls, path, md5=md5)


def read_idx_pair(images_path, labels_path, *, num_classes=10, image_shape=(28, 28)):
    """Read and structure-check an images/labels pair of idx files.

    Returns
    -------
    x : ndarray of uint8, shape (N, 1, H, W)
    y : ndarray of int64, shape (N,)
    """
    x = read_idx(images_path, ndim=3)
    y = read_idx(labels_path, ndim=1)
    if x.shape[1:] != tuple(image_shape):
        raise ValueError(f"{images_path} holds images of shape {x.shape[1:]}, expected {tuple(image_shape)}")
    if len(x) != len(y):
        raise ValueError(f"{images_path} holds {len(x)} images but {labels_path} holds {len(y)} labels")
    if y.size and y.max() >= num_classes:
        raise ValueError(f"{labels_path} holds label {y.max()}, outside [0, {num_classes - 1}]")
    return x[:, None], y.astype(np.int64)


def _load_idx_dataset(subfolder, mirrors, md5s, root, split, download, **options):
    """Shared body of :func:`load_mnist` and :func:`load_fashion_mnist`."""
    split = check_split(split)
    download = check_bool(download, "download")
    folder = os.path.join(data_root(root), subfolder)
    prefix = "train" if split == "train" else "t10k"
    paths = [_locate(folder, f"{prefix}-{kind}-idx{d}-ubyte.gz", mirrors,
                     md5s[f"{prefix}-{kind}-idx{d}-ubyte.gz"], download=download)
             for kind, d in (("images", 3), ("labels", 1))]
    try:
        x, y = read_idx_pair(*paths)
    except ValueError as err:
        raise ValueError(f"{err}. {REPAIR_HINT}") from None
    return finish(x, y, num_classes=10, **options)


def load_mnist(root=None, split="train", *, classes=None, binary=False, limit=None,
               dtype=np.float32, download=True):
    """Load MNIST handwritten digits (LeCun et al. 1998) from ``<root>/mnist/``.

    Parameters
    ----------
    root : str, optional
        Data folder; default ``$TINYADV_DATA`` or ``~/.cache/tinyadv``. A split's name such as
        "test" is refused (ValueError) unless it is a folder here: pass ``split="test"``.
    split : {"train", "test"}
        60,000 training or 10,000 test digits in the official files.
    classes : sequence of int, optional
        Keep only these digits, labels unchanged.
    binary : bool
        With ``classes=(a, b)``: relabel a -> 1, b -> 0. The papers' 3-vs-7 task
        (Goodfellow et al. 2015 §5; Galloway, Tanay & Taylor 2018: 3 -> 1, 7 -> 0) is
        ``classes=(3, 7), binary=True``.
    limit : int, optional
        Keep the first ``limit`` examples after filtering.
    dtype : {np.float32, np.float64, np.uint8}
        Floats are pixels / 255 in [0, 1]; uint8 returns the raw pixels.
    download : bool
        Download missing files from the official mirrors (default). If False, a missing file is
        a ``FileNotFoundError`` that says where to put it.

    Returns
    -------
    x : ndarray, shape (N, 1, 28, 28), ``dtype``
    y : ndarray of int64, shape (N,)
    """
    return _load_idx_dataset("mnist", MNIST_MIRRORS, MNIST_MD5, root, split, download,
                             classes=classes, binary=binary, limit=limit, dtype=dtype)


def load_fashion_mnist(root=None, split="train", *, classes=None, binary=False, limit=None,
                       dtype=np.float32, download=True):
    """Load Fashion-MNIST (Xiao et al. 2017) from ``<root>/fashion-mnist/``.

    Ten clothing classes (0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal,
    6 shirt, 7 sneaker, 8 bag, 9 ankle boot) in MNIST's format: same options and shapes as
    :func:`load_mnist`.

    Returns
    -------
    x : ndarray, shape (N, 1, 28, 28), ``dtype``
    y : ndarray of int64, shape (N,)
    """
    return _load_idx_dataset("fashion-mnist", FASHION_MNIST_MIRRORS, FASHION_MNIST_MD5, root, split,
                             download, classes=classes, binary=binary, limit=limit, dtype=dtype)
