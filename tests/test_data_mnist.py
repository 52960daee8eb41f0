"""MNIST / Fashion-MNIST: the idx format and the loaders, on tiny files built in the official layout."""

import gzip
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyadv.data import load_fashion_mnist, load_mnist, read_idx
from tinyadv.data.idx import write_idx


def make_mnist(root, folder="mnist", n_train=30, n_test=20, seed=0, compress=True):
    """Write the four official idx files of a tiny data set into ``root/folder``; return arrays."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, folder), exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(os.path.join(root, folder, f"{prefix}-images-idx3-ubyte{suffix}"), x, compress=compress)
        write_idx(os.path.join(root, folder, f"{prefix}-labels-idx1-ubyte{suffix}"), y, compress=compress)
        out[prefix] = (x, y)
    return out


@given(st.lists(st.integers(0, 5), min_size=1, max_size=3), st.booleans(), st.integers(0, 2**32 - 1))
def test_idx_round_trip(tmp_path_factory, shape, compress, seed):
    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path_factory.mktemp("idx") / ("a.gz" if compress else "a")
    write_idx(path, arr, compress=compress)
    back = read_idx(path, ndim=len(shape))
    assert back.dtype == np.uint8 and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_loads_official_layout(tmp_path):
    ref = make_mnist(tmp_path)
    x, y = load_mnist(str(tmp_path), "train", download=False)
    assert x.shape == (30, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[:, 0] * 255, ref["train"][0], atol=1e-4)
    np.testing.assert_array_equal(y, ref["train"][1])
    xt, yt = load_mnist(str(tmp_path), "test", download=False, dtype=np.uint8)
    np.testing.assert_array_equal(xt[:, 0], ref["t10k"][0])


def test_decompressed_files_work_too(tmp_path):
    ref = make_mnist(tmp_path, compress=False)
    x, _ = load_mnist(str(tmp_path), "test", download=False, dtype=np.uint8)
    np.testing.assert_array_equal(x[:, 0], ref["t10k"][0])


def test_env_var_chooses_the_folder(tmp_path, monkeypatch):
    make_mnist(tmp_path, folder="fashion-mnist", seed=3)
    monkeypatch.setenv("TINYADV_DATA", str(tmp_path))
    x, y = load_fashion_mnist(split="test", classes=(3, 7), binary=True, download=False)
    assert x.shape == (4, 1, 28, 28) and y.tolist() == [1, 0, 1, 0]


def test_options_three_vs_seven_and_limit(tmp_path):
    make_mnist(tmp_path)
    x, y = load_mnist(str(tmp_path), classes=(3, 7), binary=True, limit=5, download=False)
    assert y.tolist() == [1, 0, 1, 0, 1] and x.shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match="split"):
        load_mnist(str(tmp_path), "val", download=False)


def test_missing_file_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(str(tmp_path), "train", download=False)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in str(info.value)


def corrupt(path, how):
    data = open(path, "rb").read()
    if how == "truncated_gzip":
        data = data[: len(data) // 2]
    elif how == "not_gzip":
        data = b"<html>404 Not Found</html>"
    elif how == "garbage_gzip":
        data = data[:10] + bytes(len(data) - 10)
    elif how == "short_payload":
        raw = gzip.decompress(data)
        data = gzip.compress(raw[:-100])
    elif how == "extra_payload":
        data = gzip.compress(gzip.decompress(data) + b"\x00" * 7)
    elif how == "bad_magic":
        raw = gzip.decompress(data)
        data = gzip.compress(b"\x12\x34" + raw[2:])
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("how, match", [
    ("truncated_gzip", "corrupted or truncated gzip"),
    ("not_gzip", "not a gzip file"),
    ("garbage_gzip", "corrupted or truncated gzip"),
    ("short_payload", "truncated or corrupted"),
    ("extra_payload", "truncated or corrupted"),
    ("bad_magic", "not an idx file"),
])
def test_corrupted_files_give_clear_errors(tmp_path, how, match):
    make_mnist(tmp_path)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    corrupt(path, how)
    with pytest.raises(ValueError, match=match) as info:
        load_mnist(str(tmp_path), download=False)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "Delete the damaged file" in str(info.value)


def test_wrong_shapes_and_labels_are_refused(tmp_path):
    make_mnist(tmp_path)
    folder = tmp_path / "mnist"
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 27), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(28, 27\), expected \(28, 28\)"):
        load_mnist(str(tmp_path), "test", download=False)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((19, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="19 images but .* 20 labels"):
        load_mnist(str(tmp_path), "test", download=False)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8))
    with pytest.raises(ValueError, match=r"label 10, outside \[0, 9\]"):
        load_mnist(str(tmp_path), "test", download=False)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros((20, 1), np.uint8))
    with pytest.raises(ValueError, match="2-dimensional array, expected 1"):
        load_mnist(str(tmp_path), "test", download=False)


def test_write_idx_refuses_non_uint8(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "a.gz", np.zeros(3, np.float32))
