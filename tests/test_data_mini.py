"""The bundled mini-MNIST: shapes, dtypes, balance, range, 3-vs-7 relabelling, bad arguments."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyadv.data import load_mini_mnist, select_classes
from tinyadv.data.mini import MINI_MNIST_PATH


def test_train_split_is_balanced_real_digits():
    x, y = load_mini_mnist()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == [500] * 10
    assert x.min() == 0.0 and x.max() == 1.0
    # real digits: mostly black background, a few percent of saturated strokes
    assert 0.05 < x.mean() < 0.25


def test_test_split_is_first_2000_official():
    x, y = load_mini_mnist("test")
    assert x.shape == (2000, 1, 28, 28) and y.shape == (2000,)
    # the first ten labels of the official t10k file
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_bundle_loads_without_pickle_and_indices_sorted():
    with np.load(MINI_MNIST_PATH, allow_pickle=False) as bundle:
        idx = bundle["train_indices"]
        assert bundle["x_train"].dtype == np.uint8
        assert set(bundle.files) == {"x_train", "y_train", "x_test", "y_test", "train_indices", "seed"}
    assert len(idx) == 5000 and np.all(np.diff(idx) > 0) and idx[-1] < 60000


def test_uint8_is_raw_pixels_and_float_is_scaled():
    xu, yu = load_mini_mnist("test", dtype=np.uint8, limit=50)
    xf, yf = load_mini_mnist("test", limit=50)
    x64, _ = load_mini_mnist("test", limit=50, dtype=np.float64)
    assert xu.dtype == np.uint8 and x64.dtype == np.float64
    np.testing.assert_array_equal(yu, yf)
    np.testing.assert_allclose(xf, xu.astype(np.float32) / 255, rtol=0, atol=1e-7)
    np.testing.assert_allclose(x64, xu / 255.0, rtol=0, atol=0)


def test_class_subset_keeps_ids_and_file_order():
    x_all, y_all = load_mini_mnist("test")
    x, y = load_mini_mnist("test", classes=(7, 3))
    keep = (y_all == 3) | (y_all == 7)
    np.testing.assert_array_equal(y, y_all[keep])
    np.testing.assert_array_equal(x, x_all[keep])


def test_three_vs_seven_binary_relabelling():
    _, y_ids = load_mini_mnist(classes=(3, 7))
    x, y = load_mini_mnist(classes=(3, 7), binary=True)
    assert len(x) == 1000 and set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(y, (y_ids == 3).astype(np.int64))
    # order of classes decides which one is positive
    _, y_rev = load_mini_mnist(classes=(7, 3), binary=True)
    np.testing.assert_array_equal(y_rev, 1 - y)


def test_limit_is_first_after_filtering():
    x_f, y_f = load_mini_mnist(classes=(3, 7), binary=True)
    x, y = load_mini_mnist(classes=(3, 7), binary=True, limit=17)
    assert len(x) == 17
    np.testing.assert_array_equal(x, x_f[:17])
    np.testing.assert_array_equal(y, y_f[:17])
    x_big, _ = load_mini_mnist("test", limit=10**6)
    assert len(x_big) == 2000


def test_select_classes_on_plain_arrays():
    x = np.arange(6)[:, None]
    y = np.array([3, 7, 1, 3, 7, 0])
    xs, ys = select_classes(x, y, (3, 7), binary=True)
    assert xs.ravel().tolist() == [0, 1, 3, 4] and ys.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(split="validation"), ValueError, "split must be one of"),
    (dict(split=1), ValueError, "split must be one of"),
    (dict(classes=(3, 10)), ValueError, r"class id 10 is outside \[0, 9\]"),
    (dict(classes=(-1,)), ValueError, "outside"),
    (dict(classes=()), ValueError, "at least one class"),
    (dict(classes=(3, 3)), ValueError, "distinct"),
    (dict(classes="37"), TypeError, "sequence of class ids"),
    (dict(classes=(3.0, 7)), TypeError, "integer class ids"),
    (dict(binary=True), ValueError, r"binary=True needs classes=\(positive, negative\)"),
    (dict(classes=(1, 3, 7), binary=True), ValueError, "exactly two classes"),
    (dict(limit=0), ValueError, "limit must be >= 1"),
    (dict(limit=2.5), TypeError, "limit must be an integer"),
    (dict(dtype=np.int32), ValueError, "dtype must be"),
    (dict(dtype="not a dtype"), TypeError, "dtype must be"),
    (dict(dtype=None), TypeError, "got None"),
])
def test_bad_arguments_give_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_mini_mnist(**kwargs)


@given(st.lists(st.integers(0, 9), min_size=1, max_size=60),
       st.lists(st.integers(0, 9), min_size=2, max_size=2, unique=True))
def test_select_classes_properties(labels, pair):
    y = np.array(labels)
    x = np.arange(len(y))
    xs, ys = select_classes(x, y, pair)
    # keeps exactly the examples of the chosen classes, in file order, with their ids
    np.testing.assert_array_equal(xs, x[np.isin(y, pair)])
    np.testing.assert_array_equal(ys, y[xs])
    xb, yb = select_classes(x, y, pair, binary=True)
    np.testing.assert_array_equal(xb, xs)
    np.testing.assert_array_equal(yb, (ys == pair[0]).astype(np.int64))


def test_make_mini_mnist_rebuilds_a_bundle_of_the_same_form(tmp_path, capsys):
    """scripts/make_mini_mnist.py on made-up files in the official layout: 500 digits per class,
    sorted indices, the same bytes for the same seed, and no temporary file left behind."""
    from script_loading import load_script

    from tinyadv.data.idx import write_idx

    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), 520))
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", (labels[:, None, None] * 25).repeat(28, 1).repeat(28, 2))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (2100, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 2100, dtype=np.uint8))
    script = load_script("make_mini_mnist")

    out = tmp_path / "out" / "mini.npz"
    script.main([str(tmp_path), "--out", str(out), "--seed", "3"])
    first = out.read_bytes()
    script.main([str(tmp_path), "--out", str(out), "--seed", "3"])
    assert out.read_bytes() == first
    assert "wrote" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["mini.npz"]
    with np.load(out, allow_pickle=False) as bundle, np.load(MINI_MNIST_PATH, allow_pickle=False) as shipped:
        assert set(bundle.files) == set(shipped.files)
        for key in bundle.files:
            assert bundle[key].dtype == shipped[key].dtype and bundle[key].shape == shipped[key].shape
        idx = bundle["train_indices"]
        assert np.all(np.diff(idx) > 0) and int(bundle["seed"]) == 3
        np.testing.assert_array_equal(bundle["y_train"], labels[idx])
        np.testing.assert_array_equal(bundle["x_train"][:, 0, 0], labels[idx] * 25)
        assert np.bincount(bundle["y_train"], minlength=10).tolist() == [500] * 10
