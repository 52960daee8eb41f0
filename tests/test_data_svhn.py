"""SVHN cropped digits (.mat read with scipy.io.loadmat) and the greyscale/standardisation of REFERENCES §4."""

import os

import numpy as np
import pytest
import scipy.io
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyadv.data import load_svhn, read_svhn_mat, standardize, to_greyscale


def make_svhn(root, split="test", n=12, seed=0, labels=None):
    """Write ``root/svhn/<split>_32x32.mat`` in the official layout; return (X, y) as stored."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = np.asarray(labels if labels is not None else (np.arange(n) % 10) + 1, dtype=np.uint8).reshape(-1, 1)
    os.makedirs(os.path.join(root, "svhn"), exist_ok=True)
    scipy.io.savemat(os.path.join(root, "svhn", f"{split}_32x32.mat"), {"X": X, "y": y})
    return X, y


def test_loads_official_layout_and_label_ten_is_zero(tmp_path):
    X, y = make_svhn(tmp_path, "train", n=12)
    x, labels = load_svhn(str(tmp_path), "train", download=False, dtype=np.uint8)
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.uint8 and labels.dtype == np.int64
    # X[row, col, channel, image] -> x[image, channel, row, col]
    assert x[5, 2, 7, 11] == X[7, 11, 2, 5]
    np.testing.assert_array_equal(x, X.transpose(3, 2, 0, 1))
    assert labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    xf, _ = load_svhn(str(tmp_path), "train", download=False)
    assert xf.dtype == np.float32 and 0 <= xf.min() and xf.max() <= 1


@pytest.mark.parametrize("options", [{}, {"dtype": np.float64}, {"limit": 5}, {"greyscale": True}])
def test_float_images_are_c_contiguous_like_every_loader_s(tmp_path, options):
    # (x / 255 of the (32, 32, 3, N) file's transposed view kept its memory order: image
    # index fastest, which made each forward pass of a CNN on a batch about twice as slow)
    X, _ = make_svhn(tmp_path, "train", n=12)
    x, _ = load_svhn(str(tmp_path), "train", download=False, **options)
    assert x.flags.c_contiguous
    if not options.get("greyscale"):
        np.testing.assert_array_equal(x, X.transpose(3, 2, 0, 1)[: len(x)].astype(x.dtype) / 255)

def test_class_subset_uses_digit_ids(tmp_path):
    make_svhn(tmp_path, n=6, labels=[10, 3, 7, 10, 3, 1])
    x, y = load_svhn(str(tmp_path), "test", classes=(0, 3), download=False)
    assert y.tolist() == [0, 3, 0, 3]
    _, yb = load_svhn(str(tmp_path), "test", classes=(0, 3), binary=True, download=False)
    assert yb.tolist() == [1, 0, 1, 0]


def test_greyscale_is_bt601_luma(tmp_path):
    make_svhn(tmp_path)
    x, _ = load_svhn(str(tmp_path), "test", download=False, dtype=np.float64)
    g, _ = load_svhn(str(tmp_path), "test", greyscale=True, download=False, dtype=np.float64)
    assert g.shape == (12, 1, 32, 32) and g.dtype == np.float64
    np.testing.assert_allclose(g[:, 0], 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2], rtol=1e-12)


def test_paper_preprocessing(tmp_path):
    make_svhn(tmp_path, n=50)
    x, _ = load_svhn(str(tmp_path), "test", greyscale=True, standardize=True, download=False)
    assert x.shape == (50, 1, 32, 32) and x.dtype == np.float32
    g, _ = load_svhn(str(tmp_path), "test", greyscale=True, download=False, dtype=np.float64)
    centred = g - g.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(x, centred / centred.std(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=0), 1.0, rtol=1e-4)


@given(hnp.arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(1, 3), st.integers(1, 4),
                                        st.integers(1, 4)),
                  elements=st.floats(0, 1, allow_nan=False)))
def test_standardize_properties(x):
    x_std, pixel_std = standardize(x)
    assert x_std.dtype == x.dtype and pixel_std.shape == x.shape[1:]
    centred = x_std * np.maximum(pixel_std, 1e-8)
    # per-image mean removed
    np.testing.assert_allclose(centred.mean(axis=(1, 2, 3)), 0, atol=1e-9)
    # where a pixel varies across images, its standardised std is 1
    varies = pixel_std > 1e-6
    np.testing.assert_allclose(x_std.std(axis=0)[varies], 1, rtol=1e-6)
    # the training statistics can be reused on other images
    again, same = standardize(x, pixel_std)
    np.testing.assert_allclose(again, x_std)
    assert same is pixel_std or np.array_equal(same, pixel_std)


def test_preprocess_keeps_float32():
    x = np.random.default_rng(0).random((4, 3, 5, 5)).astype(np.float32)
    assert to_greyscale(x).dtype == np.float32
    assert standardize(to_greyscale(x))[0].dtype == np.float32


@pytest.mark.parametrize("call, error, match", [
    (lambda: to_greyscale(np.zeros((2, 1, 4, 4))), ValueError, "3 colour channels"),
    (lambda: to_greyscale(np.zeros((2, 3, 4, 4), np.uint8)), TypeError, "floating-point"),
    (lambda: standardize(np.zeros((1, 1, 4, 4))), ValueError, "at least 2 images"),
    (lambda: standardize(np.zeros((3, 1, 4, 4)), np.ones((1, 4, 5))), ValueError, "pixel_std must have shape"),
])
def test_preprocess_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_uint8_with_preprocessing_is_refused(tmp_path):
    make_svhn(tmp_path)
    with pytest.raises(ValueError, match="produce floats"):
        load_svhn(str(tmp_path), "test", greyscale=True, dtype=np.uint8, download=False)


def test_bad_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="'train', 'test', 'extra'"):
        load_svhn(str(tmp_path), "valid", download=False)
    with pytest.raises(FileNotFoundError) as info:
        load_svhn(str(tmp_path), "extra", download=False)
    assert str(tmp_path / "svhn" / "extra_32x32.mat") in str(info.value)


@pytest.mark.parametrize("contents, match", [
    ({"X": np.zeros((32, 32, 3, 2), np.uint8)}, "lacks the variables"),
    ({"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1), np.uint8)}, r"shape \(32, 32, 3, N\)"),
    ({"X": np.zeros((32, 32, 3, 2), np.float64), "y": np.ones((2, 1), np.uint8)}, "uint8"),
    ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1), np.uint8)}, r"shape \(2, 1\)"),
    ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [1]], np.uint8)}, "1..10"),
    ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[11], [1]], np.uint8)}, "1..10"),
])
def test_wrong_structure_is_refused(tmp_path, contents, match):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, contents)
    with pytest.raises(ValueError, match=match):
        read_svhn_mat(str(path))


# the 128-byte header of a MATLAB v7.3 file (an HDF5 file), which scipy.io.loadmat does not
# read: it raised NotImplementedError, naming neither the file nor what to do
V73_HEADER = b"MATLAB 7.3 MAT-file, HDF5 schema 1.00 .".ljust(116) + b"\x00" * 8 + b"\x00\x02IM"


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty", "v7.3", "header-only-20",
                                 "header-only-126"])
def test_corrupted_mat_gives_clear_error(tmp_path, how):
    # (a download cut inside the 128-byte header was scipy's raw "IndexError: index out of
    # range", which load_svhn let through without naming the file)
    make_svhn(tmp_path, n=40)
    path = tmp_path / "svhn" / "test_32x32.mat"
    data = path.read_bytes()
    data = {"truncated": data[: len(data) // 2], "garbage": b"\x00\xff" * 500, "empty": b"",
            "v7.3": V73_HEADER + b"\x89HDF\r\n\x1a\n" + b"\x00" * 100,
            "header-only-20": data[:20], "header-only-126": data[:126]}[how]
    path.write_bytes(data)
    with pytest.raises(ValueError, match="test_32x32.mat") as info:
        load_svhn(str(tmp_path), "test", download=False)
    assert "Delete the damaged file" in str(info.value)
