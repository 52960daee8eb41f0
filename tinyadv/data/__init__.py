"""Real data for tinyadv: the bundled mini-MNIST and loaders for MNIST, Fashion-MNIST, CIFAR-10, SVHN.

Every loader returns ``(x, y)``: ``x`` float32 NCHW images in [0, 1] (uint8 on request), ``y``
int64 labels, with the same options everywhere (``split``, ``classes``, ``binary``, ``limit``,
``dtype``; see :mod:`tinyadv.data.select`; give them by name: the loaders of full data sets take
the data folder ``root`` first, as torchvision's do, so ``load_mnist(split="test")``). Full data sets live in the data folder
(``root`` argument, else ``$TINYADV_DATA``, else ``~/.cache/tinyadv``); a missing official file
is downloaded, verified and written atomically (:mod:`tinyadv.data.download`). Scripts call
:func:`load_dataset` with a name from :data:`DATASET_NAMES`.
"""

from tinyadv.data.cifar import load_cifar10, read_cifar_batch
from tinyadv.data.datasets import DATASET_NAMES, load_dataset
from tinyadv.data.download import ChecksumError, DataNotFoundError, data_root, fetch
from tinyadv.data.idx import read_idx
from tinyadv.data.mini import load_mini_mnist
from tinyadv.data.mnist import load_fashion_mnist, load_mnist
from tinyadv.data.preprocess import standardize, to_greyscale
from tinyadv.data.safe_pickle import UnsafePickleError, safe_load
from tinyadv.data.select import select_classes
from tinyadv.data.svhn import load_svhn, read_svhn_mat

__all__ = [
    "DATASET_NAMES", "load_dataset",
    "load_mini_mnist", "load_mnist", "load_fashion_mnist", "load_cifar10", "load_svhn",
    "select_classes", "to_greyscale", "standardize",
    "data_root", "fetch", "DataNotFoundError", "ChecksumError",
    "read_idx", "read_cifar_batch", "read_svhn_mat", "safe_load", "UnsafePickleError",
]
