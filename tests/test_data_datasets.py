"""load_dataset (the scripts' --data entry point) and the real offline copies when they are present.

The offline tests read the data folder (``$TINYADV_DATA``, else ``~/.cache/tinyadv``) with
``download=False`` and skip each data set that is not there, so they never fail on a machine
without it. Prepare it with ``python ../shared/data/install_offline_data.py DIR`` and
``TINYADV_DATA=DIR``.
"""

import argparse
import os

import numpy as np
import pytest

from tinyadv.data import DATASET_NAMES, data_root, load_dataset, load_mini_mnist
from tinyadv.data.idx import write_idx


def test_names_work_as_argparse_choices():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", choices=DATASET_NAMES, default="mini-mnist")
    assert parser.parse_args([]).data == "mini-mnist"
    assert parser.parse_args(["--data", "cifar10"]).data == "cifar10"
    assert set(DATASET_NAMES) == {"mini-mnist", "mnist", "fashion-mnist", "cifar10", "svhn"}


def test_mini_mnist_through_load_dataset():
    x, y = load_dataset("mini-mnist", "test", classes=(3, 7), binary=True, limit=9)
    x_ref, y_ref = load_mini_mnist("test", classes=(3, 7), binary=True, limit=9)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_mnist_through_load_dataset_reads_root(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([3, 7, 3], np.uint8))
    x, y = load_dataset("mnist", "test", root=str(tmp_path), dtype=np.uint8, download=False)
    np.testing.assert_array_equal(x[:, 0], images)
    assert y.tolist() == [3, 7, 3]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(name="MNIST"), ValueError, "unknown data set 'MNIST'"),
    (dict(name="cifar-10"), ValueError, "use one of mini-mnist, mnist"),
    (dict(name=None), ValueError, "unknown data set"),
    (dict(name="mnist", greyscale=True), ValueError, "SVHN options"),
    (dict(name="mini-mnist", standardize=True), ValueError, "SVHN options"),
    (dict(name="mini-mnist", split="dev"), ValueError, "split must be one of"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_dataset(**kwargs)


# --- real offline copies, when present ------------------------------------------------------

OFFICIAL = {
    ("mnist", "train"): [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    ("mnist", "test"): [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    ("fashion-mnist", "train"): [6000] * 10,
    ("fashion-mnist", "test"): [1000] * 10,
    ("cifar10", "train"): [5000] * 10,
    ("cifar10", "test"): [1000] * 10,
}
FOLDERS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py"}
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@pytest.mark.parametrize("name, split", sorted(OFFICIAL))
def test_offline_copy_has_documented_shapes_and_counts(name, split):
    root = data_root()
    if not os.path.isdir(os.path.join(root, FOLDERS[name])):
        pytest.skip(f"{name} is not in {root} (see ../shared/data/README.md)")
    x, y = load_dataset(name, split, root=root, download=False, dtype=np.uint8)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert x.shape == (sum(OFFICIAL[name, split]),) + SHAPES[name]
    assert np.bincount(y, minlength=10).tolist() == OFFICIAL[name, split]
    # real images use the whole pixel range, and are not constant
    assert x.min() == 0 and x.max() == 255 and x.std() > 40
