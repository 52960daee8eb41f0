"""Winograd's F(2×2, 3×3): the Numba transforms equal their NumPy references in float32 and
float64, each backward transform is the adjoint of its forward one, and a convolution by
Winograd equals the direct definition, its gradients those of im2col and of finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyadv as ta
from tinyadv import winograd
from tinyadv.gradcheck import check_layer
from tinyadv.layers.conv import conv2d_backward, conv2d_forward, conv2d_forward_naive

dtypes = st.sampled_from([np.float32, np.float64])
sizes = dict(n=st.integers(1, 3), c=st.integers(1, 5), th=st.integers(1, 3), tw=st.integers(1, 3),
             stride=st.integers(1, 3), extra=st.integers(0, 2), dtype=dtypes, seed=st.integers(0, 2**16))


def tolerance(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12  # sums in a different order


def padded_input(n, c, th, tw, stride, extra, dtype, seed):
    """An input that just holds th × tw tiles, plus ``extra`` pixels no tile reads."""
    shape = (n, stride * (2 * th + 2) + extra, stride * (2 * tw + 2) + extra, c)
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@given(**sizes)
def test_input_transform_numba_equals_reference(n, c, th, tw, stride, extra, dtype, seed):
    xpad = padded_input(n, c, th, tw, stride, extra, dtype, seed)
    fast = winograd.input_transform(xpad, stride, th, tw)
    reference = winograd.input_transform_reference(xpad, stride, th, tw)
    assert fast.dtype == dtype and fast.shape == (4, 4, n * th * tw, stride * stride * c)
    np.testing.assert_allclose(fast, reference, rtol=tolerance(dtype), atol=tolerance(dtype))


@given(**sizes)
def test_input_transform_adjoint_numba_equals_reference(n, c, th, tw, stride, extra, dtype, seed):
    shape = padded_input(n, c, th, tw, stride, extra, dtype, seed).shape
    dV = np.random.default_rng(seed + 1).normal(size=(4, 4, n * th * tw, stride * stride * c))
    dV = dV.astype(dtype)
    fast = winograd.input_transform_adjoint(dV, stride, shape, th, tw)
    reference = winograd.input_transform_adjoint_reference(dV, stride, shape, th, tw)
    assert fast.dtype == dtype and fast.shape == shape
    np.testing.assert_allclose(fast, reference, rtol=tolerance(dtype), atol=tolerance(dtype))


@given(n=st.integers(1, 3), f=st.integers(1, 5), th=st.integers(1, 3), tw=st.integers(1, 3),
       dtype=dtypes, seed=st.integers(0, 2**16))
def test_output_transforms_numba_equal_references(n, f, th, tw, dtype, seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(4, 4, n * th * tw, f)).astype(dtype)
    fast, reference = (winograd.output_transform(M, n, th, tw),
                       winograd.output_transform_reference(M, n, th, tw))
    assert fast.dtype == dtype and fast.shape == (n, 2 * th, 2 * tw, f)
    np.testing.assert_allclose(fast, reference, rtol=tolerance(dtype), atol=tolerance(dtype))
    dout = rng.normal(size=(n, 2 * th, 2 * tw, f)).astype(dtype)
    fast, reference = (winograd.output_transform_adjoint(dout, th, tw),
                       winograd.output_transform_adjoint_reference(dout, th, tw))
    assert fast.dtype == dtype and fast.shape == M.shape
    np.testing.assert_allclose(fast, reference, rtol=tolerance(dtype), atol=tolerance(dtype))


@given(f=st.integers(1, 5), c=st.integers(1, 5), stride=st.integers(1, 3), dtype=dtypes,
       seed=st.integers(0, 2**16))
def test_filter_transforms_numba_equal_references(f, c, stride, dtype, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(f, c, 3 * stride, 3 * stride)).astype(dtype)
    fast, reference = winograd.filter_transform(w, stride), winograd.filter_transform_reference(w, stride)
    assert fast.dtype == dtype and fast.shape == (4, 4, stride * stride * c, f)
    np.testing.assert_allclose(fast, reference, rtol=tolerance(dtype), atol=tolerance(dtype))
    dU = rng.normal(size=fast.shape).astype(dtype)
    fast = winograd.filter_transform_adjoint(dU, stride, c)
    reference = winograd.filter_transform_adjoint_reference(dU, stride, c)
    assert fast.dtype == dtype and fast.shape == w.shape
    np.testing.assert_allclose(fast, reference, rtol=tolerance(dtype), atol=tolerance(dtype))


@given(**sizes)
def test_backward_transforms_are_the_adjoints_of_the_forward_ones(n, c, th, tw, stride, extra,
                                                                   dtype, seed):
    """<T(a), b> = <a, T*(b)> for the input, output and filter transforms and their adjoints,
    for the Numba kernels and the references alike (float64 sums)."""
    rng = np.random.default_rng(seed)
    xpad = padded_input(n, c, th, tw, stride, extra, np.float64, seed)
    dV = rng.normal(size=(4, 4, n * th * tw, stride * stride * c))
    M = rng.normal(size=(4, 4, n * th * tw, 3))
    dout = rng.normal(size=(n, 2 * th, 2 * tw, 3))
    w = rng.normal(size=(3, c, 3 * stride, 3 * stride))
    dU = rng.normal(size=(4, 4, stride * stride * c, 3))
    pairs = [
        (np.vdot(winograd.input_transform(xpad, stride, th, tw), dV),
         np.vdot(xpad, winograd.input_transform_adjoint(dV, stride, xpad.shape, th, tw))),
        (np.vdot(winograd.input_transform_reference(xpad, stride, th, tw), dV),
         np.vdot(xpad, winograd.input_transform_adjoint_reference(dV, stride, xpad.shape, th, tw))),
        (np.vdot(winograd.output_transform(M, n, th, tw), dout),
         np.vdot(M, winograd.output_transform_adjoint(dout, th, tw))),
        (np.vdot(winograd.output_transform_reference(M, n, th, tw), dout),
         np.vdot(M, winograd.output_transform_adjoint_reference(dout, th, tw))),
        (np.vdot(winograd.filter_transform(w, stride), dU),
         np.vdot(w, winograd.filter_transform_adjoint(dU, stride, c))),
        (np.vdot(winograd.filter_transform_reference(w, stride), dU),
         np.vdot(w, winograd.filter_transform_adjoint_reference(dU, stride, c))),
    ]
    for forward, backward in pairs:
        np.testing.assert_allclose(forward, backward, rtol=1e-10, atol=1e-10)


@given(stride=st.integers(1, 2), c=st.integers(1, 4), f=st.integers(1, 4), h=st.integers(0, 5),
       w=st.integers(0, 5), padding=st.sampled_from([0, 1, "same"]), bias=st.booleans(),
       dtype=dtypes, seed=st.integers(0, 2**16))
def test_winograd_convolution_equals_the_definition_and_im2col(stride, c, f, h, w, padding, bias,
                                                               dtype, seed):
    """Output sizes odd and even; the gradients equal those of the im2col products."""
    rng = np.random.default_rng(seed)
    k = 3 * stride
    x = rng.normal(size=(2, c, k + h, k + w)).astype(dtype)
    weight = rng.normal(size=(f, c, k, k)).astype(dtype)
    b = rng.normal(size=f).astype(dtype) if bias else None
    out, cache = conv2d_forward(x, weight, b, stride=stride, padding=padding, method="winograd")
    assert cache[0] == "winograd" and out.dtype == dtype
    rtol = tolerance(dtype)
    scale = np.abs(out).max()
    np.testing.assert_allclose(out, conv2d_forward_naive(x, weight, b, stride=stride, padding=padding),
                               rtol=rtol, atol=rtol * scale)
    out_im2col, cache_im2col = conv2d_forward(x, weight, b, stride=stride, padding=padding,
                                              method="im2col")
    assert cache_im2col[0] == "im2col"
    dout = rng.normal(size=out.shape).astype(dtype)
    for by_winograd, by_im2col in zip(conv2d_backward(dout, cache), conv2d_backward(dout, cache_im2col)):
        if by_im2col is None:
            assert by_winograd is None
            continue
        assert by_winograd.shape == by_im2col.shape and by_winograd.dtype == dtype
        np.testing.assert_allclose(by_winograd, by_im2col, rtol=rtol,
                                   atol=rtol * np.abs(by_im2col).max())


@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), stride=st.integers(1, 2),
       h=st.integers(0, 3), w=st.integers(0, 3), padding=st.sampled_from([0, 1]),
       training=st.booleans(), seed=st.integers(0, 2**16))
def test_winograd_layer_backward_matches_finite_differences(n, c, f, stride, h, w, padding, training,
                                                            seed):
    layer = ta.Conv2D(c, f, 3 * stride, stride=stride, padding=padding, seed=seed, dtype=np.float64)
    layer.method = "winograd"
    layer.training = training  # evaluation mode rebuilds the transformed tiles for dW
    x = np.random.default_rng(seed).normal(size=(n, c, 3 * stride + h, 3 * stride + w))
    report = check_layer(layer, x, seed=seed, tolerance=1e-6)
    assert report.passed, str(report)


def test_auto_takes_winograd_where_it_is_faster():
    """A kernel of 3·stride square, even output sizes, and s²·C >= 32 channels in the products."""
    for channels, size, kernel, stride, expected in (
            (32, 12, 3, 1, "winograd"), (8, 12, 6, 2, "winograd"), (4, 18, 9, 3, "winograd"),
            (32, 12, 3, 2, "im2col"), (32, 12, 5, 1, "im2col"), (32, 12, (3, 6), 2, "im2col"),
            (16, 12, 3, 1, "im2col"), (32, 13, 3, 1, "im2col"), (8, 15, 6, 2, "im2col")):
        x = np.zeros((1, channels, size, size))
        w = np.zeros((1, channels) + ((kernel, kernel) if isinstance(kernel, int) else kernel))
        assert conv2d_forward(x, w, stride=stride)[1][0] == expected


def test_integer_arrays_take_im2col_and_stay_exact():
    """Winograd's filter transform halves; integers would be truncated, so auto takes im2col."""
    rng = np.random.default_rng(0)
    x, w = rng.integers(-5, 5, (1, 32, 8, 8)), rng.integers(-5, 5, (2, 32, 3, 3))
    out, cache = conv2d_forward(x, w)
    assert cache[0] == "im2col" and out.dtype == np.int64
    np.testing.assert_array_equal(out, conv2d_forward_naive(x, w))
    assert conv2d_forward(x.astype(np.float32), w.astype(np.float64))[1][0] == "winograd"


def test_bad_method_names_the_problem():
    x, w = np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="method must be"):
        conv2d_forward(x, w, method="fft")
    with pytest.raises(ValueError, match="3\\*stride"):
        conv2d_forward(x, w, stride=2, method="winograd")
    with pytest.raises(TypeError, match="float32 or float64"):
        conv2d_forward(x.astype(np.int64), w, method="winograd")
