"""Winograd's F(m, r) down the rows, im2col across: the NumPy references compute the
convolution, each backward reference is the adjoint of its forward one, the compiled kernel
equals the references in float32 and float64, and the layer's gradients equal im2col's and
finite differences."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinyadv as ta
from tinyadv import kernels, winograd_rows
from tinyadv.gradcheck import check_layer
from tinyadv.layers.conv import conv2d_backward, conv2d_forward, conv2d_forward_naive

dtypes = st.sampled_from([np.float32, np.float64])
shapes = dict(stride=st.integers(1, 2), r=st.integers(2, 5), c=st.integers(1, 3),
              f=st.integers(1, 3), ww=st.integers(1, 5), h=st.integers(0, 5),
              w=st.integers(0, 5), padding=st.sampled_from([0, 1, (1, 0), (0, 2), "same"]),
              dtype=dtypes, seed=st.integers(0, 2**16))


def tolerance(dtype):
    """Relative to the largest entry: F(m, r) down one direction rounds as the direct sum does,
    within a few times (over 128 channels, 1.8e-6 of the largest output in float32 for the
    talk's conv1; the sums here are shorter)."""
    return 2e-5 if dtype == np.float32 else 1e-12


def assert_close(fast, reference, dtype, tol=None):
    tol = tolerance(dtype) if tol is None else tol
    np.testing.assert_allclose(fast, reference, rtol=tol, atol=tol * np.abs(reference).max())


def problem(stride, r, c, f, ww, h, w, dtype, seed, images=2):
    """x (images, C, H, W) and weights (F, C, r·s, WW) of one convolution."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(images, c, r * stride + h, ww + w)).astype(dtype)
    return x, rng.normal(size=(f, c, r * stride, ww)).astype(dtype)


@given(**shapes)
@example(stride=2, r=4, c=3, f=3, ww=8, h=24, w=24, padding="same", dtype=np.float32, seed=0)
def test_convolution_equals_the_definition_and_im2col(stride, r, c, f, ww, h, w, padding, dtype,
                                                      seed):
    """Output heights that m divides and that it does not, any kernel width; forced here with
    ``method``, whether or not ``auto`` would take it. The gradients equal im2col's."""
    x, weight = problem(stride, r, c, f, ww, h, w, dtype, seed)
    out, cache = conv2d_forward(x, weight, stride=stride, padding=padding, method="winograd_rows")
    assert cache[0] == "winograd_rows" and out.dtype == dtype
    assert_close(out, conv2d_forward_naive(x, weight, stride=stride, padding=padding), dtype)
    _, by_im2col = conv2d_forward(x, weight, stride=stride, padding=padding, method="im2col")
    dout = np.random.default_rng(seed + 1).normal(size=out.shape).astype(dtype)
    for ours, expected in zip(conv2d_backward(dout, cache)[:2], conv2d_backward(dout, by_im2col)[:2]):
        assert ours.shape == expected.shape and ours.dtype == dtype
        assert_close(ours, expected, dtype)


@given(**shapes, images=st.integers(1, 4), blocks_of_one=st.booleans())
def test_compiled_kernel_equals_the_numpy_references(stride, r, c, f, ww, h, w, padding, dtype,
                                                     seed, images, blocks_of_one):
    """The kernel (products by OpenBLAS's gemm, called from the compiled loop) against the
    NumPy references that run where no gemm is found: the output and both gradients, to 1e-5
    of the largest entry in float32 and 1e-12 in float64; with ``blocks_of_one`` the kernel's
    loop over blocks runs an image at a time (BLOCK_VALUES = 1), as on images too large for one
    block."""
    if kernels._gemm(np.dtype(dtype)) is None:
        pytest.skip("no OpenBLAS gemm found: the references are all that runs")
    x, weight = problem(stride, r, c, f, ww, h, w, dtype, seed, images)
    options = dict(stride=stride, padding=padding, method="winograd_rows")
    dout = None
    results = []
    for gemm in (winograd_rows._gemm, lambda dtype: None):
        original, block_values = winograd_rows._gemm, winograd_rows.BLOCK_VALUES
        winograd_rows._gemm = gemm
        winograd_rows.BLOCK_VALUES = 1 if blocks_of_one else block_values
        try:
            out, cache = conv2d_forward(x, weight, **options)
            if dout is None:
                dout = np.random.default_rng(seed + 1).normal(size=out.shape).astype(dtype)
            results.append((out,) + conv2d_backward(dout, cache)[:2])
        finally:
            winograd_rows._gemm, winograd_rows.BLOCK_VALUES = original, block_values
    for fast, reference in zip(*results):
        assert_close(fast, reference, dtype, tol=1e-5 if dtype == np.float32 else 1e-12)


@given(stride=st.integers(1, 3), r=st.integers(2, 5), c=st.integers(1, 3), ww=st.integers(1, 4),
       ty=st.integers(1, 3), extra=st.integers(0, 2), f=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_backward_references_are_the_adjoints_of_the_forward_ones(stride, r, c, ww, ty, extra, f,
                                                                  seed):
    """<T(x), y> = <x, Tᵀ(y)> for the input, output and filter transforms (float64)."""
    rng = np.random.default_rng(seed)
    m = winograd_rows.tile_rows(2 * ty, r)
    n = m + r - 1
    xpad = rng.normal(size=(2, stride * (m * ty + r - 1) + extra, ww + stride * extra, c))
    V = winograd_rows.input_transform_reference(xpad, stride, m, r, ww, ty)
    dV = rng.normal(size=V.shape)
    dxpad = winograd_rows.input_transform_adjoint_reference(dV, stride, m, xpad.shape, ww, ty)
    np.testing.assert_allclose(np.vdot(V, dV), np.vdot(xpad, dxpad), rtol=1e-10)
    Wo = (xpad.shape[2] - ww) // stride + 1
    M = rng.normal(size=(n, 2 * ty * Wo, f))
    out = winograd_rows.output_transform_reference(M, 2, m, Wo)
    dout = rng.normal(size=out.shape)
    dM = winograd_rows.output_transform_adjoint_reference(dout, n, m)
    np.testing.assert_allclose(np.vdot(out, dout), np.vdot(M, dM), rtol=1e-10)
    w = rng.normal(size=(f, c, r * stride, ww))
    U = winograd_rows.filter_transform(w, stride, m)
    dU = rng.normal(size=U.shape)
    np.testing.assert_allclose(np.vdot(U, dU),
                               np.vdot(w, winograd_rows.filter_transform_adjoint(dU, stride, c, m)),
                               rtol=1e-10)


@given(batch=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), stride=st.integers(1, 3),
       r=st.integers(2, 5), ww=st.integers(1, 4), h=st.integers(0, 4), w=st.integers(0, 4),
       padding=st.sampled_from([0, 1, (1, 0), "same", "valid"]), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_layer_backward_matches_finite_differences(batch, c, f, stride, r, ww, h, w, padding, bias,
                                                   seed):
    layer = ta.Conv2D(c, f, (r * stride, ww), stride=stride, padding=padding, bias=bias,
                      seed=seed, dtype=np.float64)
    layer.method = "winograd_rows"
    x = np.random.default_rng(seed).normal(size=(batch, c, r * stride + h, ww + w))
    report = check_layer(layer, x, seed=seed, tolerance=1e-6)
    assert report.passed, str(report)


def _non_finite(a):
    return ~np.isfinite(a)


@given(**shapes, special=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_values_reach_at_least_the_outputs_of_the_definition(stride, r, c, f, ww, h, w,
                                                                        padding, dtype, seed,
                                                                        special):
    """A NaN or ±∞ in the input makes non-finite every output the definition makes non-finite
    (by tiles of m = 2, exactly those); one in dout, every gradient entry im2col's does."""
    x, weight = problem(stride, r, c, f, ww, h, w, dtype, seed)
    rng = np.random.default_rng(seed + 2)
    x[tuple(rng.integers(0, size) for size in x.shape)] = special
    options = dict(stride=stride, padding=padding)
    with np.errstate(invalid="ignore", over="ignore"):
        out, cache = conv2d_forward(x, weight, method="winograd_rows", **options)
        definition = conv2d_forward_naive(x, weight, **options)
        assert np.all(_non_finite(out)[_non_finite(definition)])
        if cache[1].shape[0] - r + 1 == 2:
            np.testing.assert_array_equal(_non_finite(out), _non_finite(definition))
        x[_non_finite(x)] = 0
        _, cache = conv2d_forward(x, weight, method="winograd_rows", **options)
        _, by_im2col = conv2d_forward(x, weight, method="im2col", **options)
        dout = rng.normal(size=out.shape).astype(dtype)
        dout[tuple(rng.integers(0, size) for size in dout.shape)] = special
        for ours, expected in zip(conv2d_backward(dout, cache)[:2],
                                  conv2d_backward(dout, by_im2col)[:2]):
            assert np.all(_non_finite(ours)[_non_finite(expected)])


def test_tile_rows_takes_whole_tiles_and_the_fewest_multiplications():
    assert winograd_rows.tile_rows(16, 4) == 2  # the talk's conv1: F(2, 4), 8 tiles of 5 rows
    assert winograd_rows.tile_rows(6, 3) == 3  # 2 tiles of 5 rows < 3 tiles of 4
    assert winograd_rows.tile_rows(7, 3) == 3  # no whole tiles: 3 tiles of 5 < 4 of 4
    assert winograd_rows.tile_rows(9, 5) == 2  # n = m + 4 <= 6: only m = 2
    with pytest.raises(ValueError, match="r must be <= 5"):
        winograd_rows.tile_rows(4, 6)


def test_auto_leaves_it_to_be_asked_for():
    """Not in ``auto`` yet (its compile time: the module docstring): the talk's conv1 takes
    im2col (over its input's 2 x 2 blocks of pixels in float32: layers/conv.py), conv2 the
    square method."""
    for channels, filters, size, kernel, stride, padding, expected in (
            (3, 32, 32, 8, 2, "same", "space_to_depth"), (32, 64, 16, 6, 2, 0, "winograd")):
        x = np.zeros((1, channels, size, size), np.float32)
        w = np.zeros((filters, channels, kernel, kernel), np.float32)
        assert conv2d_forward(x, w, stride=stride, padding=padding)[1][0] == expected


def test_refuses_what_it_cannot_compute():
    x, w = np.zeros((1, 2, 8, 8)), np.zeros((2, 2, 3, 3))
    with pytest.raises(ValueError, match="r\\*stride rows"):
        conv2d_forward(x, w, stride=2, method="winograd_rows")
    with pytest.raises(TypeError, match="float32 or float64"):
        conv2d_forward(x.astype(np.int64), w.astype(np.int64), method="winograd_rows")
    with pytest.raises(ValueError, match="winograd_rows"):
        conv2d_forward(x, w, method="winograd_columns")
    with pytest.raises(TypeError, match="float32 or float64"):
        winograd_rows.filter_transform(np.ones((1, 1, 4, 2), np.int64), 2, 2)
    with pytest.raises(ValueError, match="read"):
        winograd_rows.input_transform_reference(np.zeros((1, 5, 4, 1)), 1, 2, 3, 2, 2)
