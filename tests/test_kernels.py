"""The Numba kernels equal their readable NumPy references, in float32 and float64; the im2col
reference copies what its definition says; the im2col convolution equals the direct definition."""

import contextlib
from unittest import mock

import numba
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinyadv import kernels
from tinyadv.kernels import (col2im, col2im_reference, depth_to_space_reference, im2col,
                             im2col_reference, pad_channels_last, pad_channels_last_reference,
                             pad_space_to_depth, pad_space_to_depth_adjoint,
                             pad_space_to_depth_adjoint_reference, pad_space_to_depth_reference,
                             space_to_depth_reference)
from tinyadv.layers import conv
from tinyadv.layers.activations import (relu_backward, relu_backward_reference, relu_forward,
                                        relu_forward_reference)
from tinyadv.layers.conv import (conv2d_backward, conv2d_forward, conv2d_forward_naive,
                                 weight_from_space_to_depth, weight_rows_space_to_depth)

from plain_python import plain_python
from small_products import small_products


def blocks_of_one_image():
    """Within the block, a convolution forms its im2col rows one image at a time."""
    return mock.patch.object(kernels, "ROWS_BLOCK_VALUES", 1)


def blocks_of_two_images(values_per_image):
    """Blocks of two images, so that an odd batch ends with a short block of one."""
    return mock.patch.object(kernels, "ROWS_BLOCK_VALUES", 2 * values_per_image)


shapes = dict(n=st.integers(1, 3), c=st.integers(1, 4), hp=st.integers(3, 10), wp=st.integers(3, 10),
              kh=st.integers(1, 3), kw=st.integers(1, 3), stride=st.integers(1, 3),
              dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))


@given(**shapes)
def test_im2col_numba_equals_reference(n, c, hp, wp, kh, kw, stride, dtype, seed):
    xpad = np.random.default_rng(seed).normal(size=(n, hp, wp, c)).astype(dtype)
    fast, reference = im2col(xpad, kh, kw, stride), im2col_reference(xpad, kh, kw, stride)
    assert fast.dtype == reference.dtype == dtype
    np.testing.assert_array_equal(fast, reference)  # pure copies: bit for bit


@given(**shapes)
def test_im2col_reference_copies_every_receptive_field(n, c, hp, wp, kh, kw, stride, dtype, seed):
    """cols[n, i, j, p, q, c] = xpad[n, i*stride + p, j*stride + q, c], one entry at a time."""
    xpad = np.random.default_rng(seed).normal(size=(n, hp, wp, c)).astype(dtype)
    cols = im2col_reference(xpad, kh, kw, stride)
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    assert cols.shape == (n, ho, wo, kh, kw, c) and cols.dtype == dtype
    assert cols.flags.c_contiguous
    expected = np.empty_like(cols)
    for i in range(ho):
        for j in range(wo):
            for p in range(kh):
                for q in range(kw):
                    expected[:, i, j, p, q, :] = xpad[:, i * stride + p, j * stride + q, :]
    np.testing.assert_array_equal(cols, expected)  # pure copies: bit for bit


@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 6),
       pads=st.tuples(*[st.integers(0, 3)] * 4), channels_last_memory=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_pad_channels_last_numba_equals_reference(n, c, h, w, pads, channels_last_memory, dtype, seed):
    x = np.random.default_rng(seed).normal(size=(n, c, h, w)).astype(dtype)
    if channels_last_memory:  # an NCHW view of NHWC memory, as a convolution's output is
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    fast, reference = pad_channels_last(x, pads), pad_channels_last_reference(x, pads)
    assert fast.dtype == dtype and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, reference)


@given(**shapes)
def test_col2im_numba_equals_reference(n, c, hp, wp, kh, kw, stride, dtype, seed):
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    dcols = np.random.default_rng(seed).normal(size=(n, ho, wo, kh, kw, c)).astype(dtype)
    fast, reference = col2im(dcols, hp, wp, stride), col2im_reference(dcols, hp, wp, stride)
    assert fast.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12  # sums in a different order
    np.testing.assert_allclose(fast, reference, rtol=rtol, atol=rtol)


@given(**shapes)
def test_col2im_is_the_adjoint_of_im2col(n, c, hp, wp, kh, kw, stride, dtype, seed):
    """<im2col(x), d> = <x, col2im(d)> for every x and d: col2im is im2col's transpose."""
    rng = np.random.default_rng(seed)
    xpad = rng.normal(size=(n, hp, wp, c))
    d = rng.normal(size=im2col(xpad, kh, kw, stride).shape)
    lhs = np.sum(im2col(xpad, kh, kw, stride) * d)
    rhs = np.sum(xpad * col2im(d, hp, wp, stride))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


@given(n=st.integers(1, 3), c=st.integers(1, 4), hs=st.integers(1, 5), ws=st.integers(1, 5),
       stride=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_space_to_depth_reference_moves_every_pixel_into_its_block(n, c, hs, ws, stride, dtype,
                                                                   seed):
    """xs[n, i, j, (a·s + b)·C + c] = xpad[n, i·s + a, j·s + b, c], one entry at a time, and
    depth_to_space_reference undoes it."""
    xpad = np.random.default_rng(seed).normal(size=(n, hs * stride, ws * stride, c)).astype(dtype)
    xs = space_to_depth_reference(xpad, stride)
    assert xs.shape == (n, hs, ws, stride * stride * c) and xs.flags.c_contiguous
    for i in range(hs):
        for j in range(ws):
            for a in range(stride):
                for b in range(stride):
                    np.testing.assert_array_equal(xs[:, i, j, (a * stride + b) * c:][:, :c],
                                                  xpad[:, i * stride + a, j * stride + b, :])
    np.testing.assert_array_equal(depth_to_space_reference(xs, stride, c), xpad)


space_to_depth_shapes = dict(
    n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
    pads=st.tuples(*[st.integers(0, 3)] * 4), stride=st.integers(1, 3),
    extra=st.tuples(st.integers(-2, 2), st.integers(-2, 2)), channels_last_memory=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))


def space_to_depth_sizes(h, w, pads, stride, extra):
    """Hs, Ws: the blocks that cover the padded input, give or take ``extra`` (fewer cut its
    last rows or columns off, more reach past the padding into zeros), at least 1."""
    top, bottom, left, right = pads
    return (max(1, -(-(h + top + bottom) // stride) + extra[0]),
            max(1, -(-(w + left + right) // stride) + extra[1]))


@given(**space_to_depth_shapes)
def test_pad_space_to_depth_numba_equals_reference(n, c, h, w, pads, stride, extra,
                                                   channels_last_memory, dtype, seed):
    x = np.random.default_rng(seed).normal(size=(n, c, h, w)).astype(dtype)
    if channels_last_memory:  # an NCHW view of NHWC memory, as a convolution's output is
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    Hs, Ws = space_to_depth_sizes(h, w, pads, stride, extra)
    fast = pad_space_to_depth(x, pads, stride, Hs, Ws)
    assert fast.dtype == dtype and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, pad_space_to_depth_reference(x, pads, stride, Hs, Ws))
    dxs = np.random.default_rng(seed + 1).normal(size=fast.shape).astype(dtype)
    dx = pad_space_to_depth_adjoint(dxs, pads, stride, x.shape)
    assert dx.dtype == dtype and dx.flags.c_contiguous
    np.testing.assert_array_equal(dx, pad_space_to_depth_adjoint_reference(dxs, pads, stride,
                                                                           x.shape))


@given(**space_to_depth_shapes)
def test_pad_space_to_depth_adjoint_is_its_adjoint(n, c, h, w, pads, stride, extra,
                                                   channels_last_memory, dtype, seed):
    """<pad_space_to_depth(x), d> = <x, pad_space_to_depth_adjoint(d)> for every x and d (each
    of x's pixels lands in one place of xs or none), and the same for the references."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w))
    Hs, Ws = space_to_depth_sizes(h, w, pads, stride, extra)
    d = rng.normal(size=(n, Hs, Ws, stride * stride * c)).astype(dtype)
    if channels_last_memory:
        d = np.asfortranarray(d)  # (the adjoint takes any layout)
    for forward, adjoint in ((pad_space_to_depth, pad_space_to_depth_adjoint),
                             (pad_space_to_depth_reference, pad_space_to_depth_adjoint_reference)):
        dx = adjoint(d, pads, stride, x.shape)
        assert dx.shape == x.shape and dx.dtype == dtype
        np.testing.assert_allclose(np.sum(forward(x, pads, stride, Hs, Ws) * d), np.sum(x * dx),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12)


@given(f=st.integers(1, 3), c=st.integers(1, 4), k=st.integers(1, 3), stride=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_weight_rows_space_to_depth_match_the_blocks(f, c, k, stride, seed):
    """The weight in the order of the space-to-depth input's im2col rows multiplies each input
    value by the weight it meets in the convolution: its column (p', q', a, b, c) holds
    w[f, c, p'·s + a, q'·s + b]; weight_from_space_to_depth undoes the order."""
    HH, WW = k * stride, (k + 1) * stride
    w = np.random.default_rng(seed).normal(size=(f, c, HH, WW))
    rows = weight_rows_space_to_depth(w, stride)
    assert rows.shape == (f, HH * WW * c)
    columns = rows.reshape(f, k, k + 1, stride, stride, c)
    for p in range(HH):
        for q in range(WW):
            np.testing.assert_array_equal(columns[:, p // stride, q // stride, p % stride,
                                                  q % stride, :], w[:, :, p, q])
    np.testing.assert_array_equal(weight_from_space_to_depth(rows, w.shape, stride), w)


@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(2, 12), w=st.integers(2, 12),
       k=st.integers(1, 3), stride=st.integers(2, 3),
       padding=st.sampled_from([0, 1, (0, 2), "same", "valid"]), keep_rows=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_conv_by_space_to_depth_equals_im2col(n, c, h, w, k, stride, padding, keep_rows, dtype,
                                              seed):
    """A kernel a multiple of the stride, over few channels, takes im2col over the input's
    stride x stride blocks: the output, dx and dw of plain im2col (the output to rounding: its
    dot products add their terms in another order)."""
    from hypothesis import assume

    from tinyadv.layers.conv import resolve_padding

    HH, WW = k * stride, stride
    pads = resolve_padding(padding, h, w, HH, WW, stride)
    assume(h + pads[0] + pads[1] >= HH and w + pads[2] + pads[3] >= WW)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w)).astype(dtype)
    weight = rng.normal(size=(3, c, HH, WW)).astype(dtype)
    bias = rng.normal(size=3).astype(dtype)
    results = []
    for bytes_ in (conv.SPACE_TO_DEPTH_BYTES, 0):
        with mock.patch.object(conv, "SPACE_TO_DEPTH_BYTES", bytes_):
            out, cache = conv2d_forward(x, weight, bias, stride=stride, padding=padding,
                                        keep_rows=keep_rows, method="im2col")
            dout = np.random.default_rng(seed + 1).normal(size=out.shape).astype(dtype)
            results.append((cache[0], out) + conv2d_backward(dout, cache))
    assert [result[0] for result in results] == ["space_to_depth", "im2col"]
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for name, ours, plain in zip(("out", "dx", "dw", "db"), results[0][1:], results[1][1:]):
        assert ours.dtype == dtype and ours.shape == plain.shape, name
        np.testing.assert_allclose(ours, plain, rtol=tolerance, err_msg=name,
                                   atol=tolerance * max(1.0, np.abs(plain).max()))


@given(stride=st.integers(1, 3), padding=st.sampled_from([0, 1, 2, "same", "valid"]),
       dtype=st.sampled_from([np.float32, np.float64]), blocks=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv_equals_direct_definition(stride, padding, dtype, blocks, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 3, 9, 7)).astype(dtype)
    w = rng.normal(size=(4, 3, 3, 2)).astype(dtype)
    b = rng.normal(size=4).astype(dtype)
    if blocks:
        with blocks_of_one_image():
            out, _ = conv2d_forward(x, w, b, stride=stride, padding=padding)
    else:
        out, _ = conv2d_forward(x, w, b, stride=stride, padding=padding)
    assert out.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, conv2d_forward_naive(x, w, b, stride=stride, padding=padding),
                               rtol=rtol, atol=rtol * 10)


@given(stride=st.integers(1, 3), padding=st.sampled_from([0, 1, "same"]),
       method=st.sampled_from(["im2col", "winograd"]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_conv_gradients_are_the_same_with_rows_kept_or_rebuilt(stride, padding, method, dtype, seed):
    """keep_rows=False (evaluation mode) drops the im2col rows (or Winograd's transformed
    tiles) after the forward product and makes them again for dW: every output is the same, bit
    for bit."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 2, 11, 12)).astype(dtype)
    w = rng.normal(size=(5, 2) + ((3, 2) if method == "im2col" else (3 * stride, 3 * stride)))
    w = w.astype(dtype)
    b = rng.normal(size=5).astype(dtype)
    options = dict(stride=stride, padding=padding, method=method)
    out, kept = conv2d_forward(x, w, b, keep_rows=True, **options)
    out_dropped, dropped = conv2d_forward(x, w, b, keep_rows=False, **options)
    assert dropped[0] == method and kept[2] is not None
    assert dropped[2] is None  # the rows are not in the cache
    dout = rng.normal(size=out.shape).astype(dtype)
    np.testing.assert_array_equal(out_dropped, out)
    for with_rows, without in zip(conv2d_backward(dout, kept), conv2d_backward(dout, dropped)):
        assert without.dtype == dtype
        np.testing.assert_array_equal(without, with_rows)


@given(n=st.integers(0, 5), stride=st.integers(1, 3), padding=st.sampled_from([0, 1, "same"]),
       keep_rows=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
@example(n=5, stride=1, padding=1, keep_rows=False, dtype=np.float32, seed=0)  # blocks 2, 2, 1
def test_conv_by_blocks_of_images_equals_one_product(n, stride, padding, keep_rows, dtype, seed):
    """The im2col rows formed and multiplied a block of images at a time (here one image per
    block, then two, the last block short when n is odd), in the forward pass and for the input gradient, give what one product over the
    whole batch gives (up to BLAS's rounding: OpenBLAS may take another kernel for fewer rows),
    and the weight gradient from the kept or rebuilt rows too: to 1e-5 (float32) or 1e-12 of
    each entry or of the largest one, as test_models' chunked runner (float32 sums of the
    blocks' products round apart by about ε·Σ|terms|: n = 5, stride 1, padding 1, seed 1857 put
    an entry of 0.2 of a weight gradient whose largest is 49 1.2e-5 apart)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2, 10, 9)).astype(dtype)
    w = rng.normal(size=(3, 2, 3, 2)).astype(dtype)
    options = dict(stride=stride, padding=padding, keep_rows=keep_rows, method="im2col")
    out, cache = conv2d_forward(x, w, **options)
    dout = rng.normal(size=out.shape).astype(dtype)
    whole = (out,) + conv2d_backward(dout, cache)[:2]
    rows_values = out.shape[2] * out.shape[3] * w[0].size  # of one image
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for blocks in (blocks_of_one_image(), blocks_of_two_images(rows_values)):
        with blocks:
            out, cache = conv2d_forward(x, w, **options)
            blocked = (out,) + conv2d_backward(dout, cache)[:2]
        for by_blocks, at_once in zip(blocked, whole):
            assert by_blocks.dtype == dtype and by_blocks.shape == at_once.shape
            np.testing.assert_allclose(by_blocks, at_once, rtol=rtol, atol=rtol * max(
                1.0, float(np.abs(at_once).max(initial=0.0))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_writes_into_a_given_array(dtype):
    rng = np.random.default_rng(0)
    xpad = rng.normal(size=(2, 7, 6, 3)).astype(dtype)
    rows = im2col(xpad, 3, 2, 2)
    dxpad = np.full(xpad.shape, np.nan, dtype)  # overwritten, not added to
    assert col2im(rows, 7, 6, 2, out=dxpad) is dxpad
    np.testing.assert_array_equal(dxpad, col2im(rows, 7, 6, 2))
    for wrong in (np.empty((2, 7, 6, 4), dtype), np.empty(xpad.shape, np.float16),
                  np.empty((2, 7, 3, 6), dtype).transpose(0, 1, 3, 2)):
        with pytest.raises(ValueError, match="out must be a C-contiguous"):
            col2im(rows, 7, 6, 2, out=wrong)


@given(lead=st.sampled_from([((), ()), ((2,), (2,)), ((3,), ()), ((), (2,)), ((2, 1), (1, 3))]),
       M=st.integers(0, 70), K=st.integers(0, 12), N=st.integers(1, 9), rows=st.integers(1, 40),
       a_transposed=st.booleans(), b_transposed=st.booleans(),
       out_layout=st.sampled_from([None, "C", "transposed"]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
@example(lead=((2,), (2,)), M=128, K=12, N=9, rows=32, a_transposed=False, b_transposed=True,
         out_layout="C", dtype=np.float32, seed=0)  # whole pieces only
@example(lead=((3,), (3,)), M=64, K=12, N=9, rows=32, a_transposed=True, b_transposed=False,
         out_layout=None, dtype=np.float64, seed=0)  # as Winograd's weight gradient, Vᵀ dM
def test_matmul_in_rows_equals_one_product(lead, M, K, N, rows, a_transposed, b_transposed,
                                           out_layout, dtype, seed):
    """Products of ``rows`` rows each (the last M % rows as one more; stacks broadcast as
    np.matmul broadcasts them; a or b transposed or not; into a given out in any layout) give
    np.matmul's result, to 1e-5 (float32) or 1e-12 of the largest entry."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=lead[0] + (K, M)).astype(dtype).swapaxes(-1, -2) if a_transposed else \
        rng.normal(size=lead[0] + (M, K)).astype(dtype)
    b = rng.normal(size=lead[1] + (N, K)).astype(dtype).swapaxes(-1, -2) if b_transposed else \
        rng.normal(size=lead[1] + (K, N)).astype(dtype)
    expected = np.matmul(a, b)
    out = None
    if out_layout is not None:
        out = np.full(expected.shape, np.nan, dtype)
        if out_layout == "transposed":  # the same shape, not C-contiguous
            out = np.full(expected.shape[:-2] + (N, M), np.nan, dtype).swapaxes(-1, -2)
    result = kernels.matmul_in_rows(a, b, rows, out=out)
    assert result.shape == expected.shape and result.dtype == dtype
    assert out is None or result is out
    tolerance = (1e-5 if dtype == np.float32 else 1e-12) * max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(result, expected, rtol=0, atol=tolerance)


@given(M=st.integers(0, 100), N=st.integers(0, 4), rows=st.integers(1, 40))
@example(M=1, N=3, rows=32)  # one tile (a Winograd product of one row)
@example(M=65, N=3, rows=32)  # a last piece of one row
@example(M=64, N=1, rows=32)  # one filter (of one column)
def test_pieces_by_gemm_says_whether_no_piece_has_one_row_or_one_column(M, N, rows):
    """``pieces_by_gemm(M, N, rows)`` holds exactly when none of the pieces that
    ``matmul_in_rows`` multiplies (``rows`` rows each, then the last M % rows) has one row,
    and the product is not of one column: the pieces that matmul hands to gemm."""
    pieces = [rows] * (M // rows) + ([M % rows] if M % rows else [])
    assert kernels.pieces_by_gemm(M, N, rows) == (N != 1 and 1 not in pieces)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((1280, 192), (192, 32)), ((1280, 32), (32, 192)),
                                    ((25, 128, 128), (25, 128, 64)), ((70, 5), (5, 3))])
def test_matmul_cuts_a_product_only_where_openblas_multiplies_the_pieces_faster(shapes, dtype):
    """``kernels.matmul`` gives np.matmul's result (to 1e-5 in float32, 1e-12 in float64) and
    takes the pieces of 32 rows exactly when NumPy's OpenBLAS has the small-matrix path (as
    it reports: mocked here both ways), BLAS is on one thread, and the pieces fit 100³
    multiply-adds (all these shapes do) while the whole product does not (the last one's
    does: OpenBLAS takes the small path for it whole)."""
    from tinyadv.threads import blas_threads

    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=shape).astype(dtype) for shape in shapes)
    beyond = a.shape[-2] * a.shape[-1] * b.shape[-1] > 100**3
    expected = np.matmul(a, b)
    tolerance = (1e-5 if dtype == np.float32 else 1e-12) * float(np.abs(expected).max())
    for fast in (False, True):
        for threads in (None, 1, 2):
            with mock.patch.object(kernels, "_small_products_fast", lambda: fast), \
                    mock.patch.object(kernels, "matmul_in_rows",
                                      wraps=kernels.matmul_in_rows) as in_rows:
                if threads is None:
                    result = kernels.matmul(a, b)
                else:
                    with blas_threads(threads):
                        result = kernels.matmul(a, b)
            assert in_rows.called == (fast and threads == 1 and beyond)
            np.testing.assert_allclose(result, expected, rtol=0, atol=tolerance)
    with blas_threads(1), mock.patch.object(kernels, "_small_products_fast", lambda: True), \
            mock.patch.object(kernels, "matmul_in_rows") as in_rows:  # pieces past the bound
        kernels.matmul(np.ones((64, 1600), dtype), np.ones((1600, 64), dtype))
        kernels.matmul(np.ones((64, 3), np.float32), np.ones((3, 4), np.float64))  # mixed
        kernels.matmul(np.ones((32, 3), dtype), np.ones((3, 4), dtype))  # one piece's rows
    assert not in_rows.called


@pytest.mark.parametrize("names, fast", [
    (["SkylakeX"], True), (["Cooperlake"], True), (["SapphireRapids"], True),
    (["SkylakeX", "SkylakeX"], True), (["SkylakeX", "Haswell"], False), (["Haswell"], False),
    (["Zen"], False), ([], False)])
def test_the_small_products_are_taken_for_the_kernel_sets_that_have_them(names, fast):
    """OpenBLAS's AVX-512 kernel sets, SkylakeX and the two that take its float kernels
    (Cooperlake, SapphireRapids), have the small-matrix path; the others, or no OpenBLAS found,
    do not, and with several OpenBLAS loaded each must have it."""
    with mock.patch.object(kernels, "openblas_kernels", lambda: names):
        assert kernels._small_products_fast.__wrapped__() is fast


@given(n=st.integers(1, 3), c=st.integers(1, 3), hp=st.integers(3, 11), wp=st.integers(3, 11),
       kh=st.integers(1, 4), kw=st.integers(1, 4), stride=st.integers(1, 3), f=st.integers(1, 4),
       band=st.integers(1, 5), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_compiled_bands_equal_the_products_of_im2col_reference(n, c, hp, wp, kh, kw, stride, f,
                                                               band, dtype, seed):
    """The compiled row products, a band of output rows of one image at a time (the last band
    short when the band does not divide Ho), equal the products of the readable im2col rows:
    out = cols · Wᵀ, dW = doutᵀ · cols and dxpad = col2im(dout · W), to 1e-5 (float32) or
    1e-12 of the largest entry; with the ReLU asked for, the forward products come out as
    ReLU's reference gives them."""
    kh, kw = min(kh, hp), min(kw, wp)
    rng = np.random.default_rng(seed)
    xpad = rng.normal(size=(n, hp, wp, c)).astype(dtype)
    cols = im2col_reference(xpad, kh, kw, stride)
    ho, wo, k = cols.shape[1], cols.shape[2], kh * kw * c
    w_rows = rng.normal(size=(f, k)).astype(dtype)
    dout = rng.normal(size=(n, ho, wo, f)).astype(dtype)
    rows, dout_rows = cols.reshape(-1, k), dout.reshape(-1, f)
    gemm = kernels._gemm(np.dtype(dtype))
    if gemm is None:
        pytest.skip("no OpenBLAS cblas_?gemm found: the compiled bands are not used here")
    pixels, bands = xpad.reshape(n * hp, wp * c), (hp, kh, kw, c, stride, band, ho, wo)
    out = np.full((n * ho * wo, f), np.nan, dtype)
    kernels._rows_bands_numba(gemm, pixels, *bands, np.ascontiguousarray(w_rows.T), out, False,
                              False)
    out_relu = np.full_like(out, np.nan)  # (with the ReLU of an inference plan: the same bits)
    kernels._rows_bands_numba(gemm, pixels, *bands, np.ascontiguousarray(w_rows.T), out_relu,
                              False, True)
    np.testing.assert_array_equal(out_relu, relu_forward_reference(out)[0])
    dw_rows = np.zeros((f, k), dtype)
    kernels._rows_bands_numba(gemm, pixels, *bands, dout_rows, dw_rows, True, False)
    dxpad = np.zeros(xpad.shape, dtype)
    kernels._rows_bands_adjoint_numba(gemm, dout_rows, w_rows, *bands,
                                      dxpad.reshape(n * hp, wp * c))
    expected = [rows @ w_rows.T, dout_rows.T @ rows,
                col2im_reference((dout_rows @ w_rows).reshape(cols.shape), hp, wp, stride)]
    for result, reference in zip([out, dw_rows, dxpad], expected):
        tolerance = (1e-5 if dtype == np.float32 else 1e-12) * max(1.0, float(np.abs(reference).max()))
        np.testing.assert_allclose(result, reference, rtol=0, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fast", [False, True])
def test_row_products_take_the_bands_only_where_openblas_multiplies_them_fast(fast, dtype):
    """rows_product, rows_product_adjoint and rows_weight_gradient run the compiled bands when
    OpenBLAS has the small-matrix path (mocked both ways) and BLAS is on one thread, for conv1 of
    the talk's CNN (bands of 10 output rows: pieces of 160 rows by 192 by 32 filters), and give
    what the blocks give (to 1e-5 in float32, 1e-12 in float64); not for conv3's shapes (K =
    1,600: one output row of 2 pixels by 64 filters leaves pieces of at most 18 rows), nor in
    two dtypes, nor outside a blas_threads(1) block."""
    from tinyadv.threads import blas_threads

    rng = np.random.default_rng(0)
    xpad = rng.normal(size=(7, 38, 38, 3)).astype(dtype)
    w_rows = rng.normal(size=(32, 192)).astype(dtype)
    dout_rows = rng.normal(size=(7 * 256, 32)).astype(dtype)

    def all_three():
        return (kernels.rows_product(xpad, w_rows, 8, 8, 2, False)[0],
                kernels.rows_product_adjoint(dout_rows, w_rows, xpad.shape, 8, 8, 2, 16, 16),
                kernels.rows_weight_gradient(dout_rows, xpad, 8, 8, 2))

    blocks = all_three()
    names = ["_rows_bands_numba", "_rows_bands_adjoint_numba"]
    with mock.patch.object(kernels, "_small_products_fast", lambda: fast):
        with blas_threads(1), mock.patch.multiple(kernels, **{
                name: mock.DEFAULT for name in names}) as compiled:
            kernels.rows_weight_gradient(rng.normal(size=(7 * 4, 64)).astype(dtype),
                                         rng.normal(size=(7, 6, 6, 64)).astype(dtype), 5, 5, 1)
            kernels.rows_product(xpad.astype(np.float32), w_rows.astype(np.float64), 8, 8, 2, False)
            assert not any(kernel.called for kernel in compiled.values())
        for threads in (1, 2):
            with blas_threads(threads), contextlib.ExitStack() as stack:
                spies = [stack.enter_context(mock.patch.object(
                    kernels, name, wraps=getattr(kernels, name))) for name in names]
                bands = all_three()
                assert kernels._band(xpad, w_rows, 16, 16, 192, 32) == (
                    10 if fast and threads == 1 else 0)
            assert [spy.call_count for spy in spies] == [2 if fast and threads == 1 else 0,
                                                         1 if fast and threads == 1 else 0]
            for result, by_blocks in zip(bands, blocks):
                tolerance = (1e-5 if dtype == np.float32 else 1e-12) * float(np.abs(by_blocks).max())
                np.testing.assert_allclose(result, by_blocks, rtol=0, atol=tolerance)


def test_matmul_in_rows_refuses_what_it_cannot_multiply_by_name():
    a, b = np.ones((4, 3)), np.ones((3, 2))
    for args, message in [((a, np.ones((2, 2)), 2), "a has 3 columns, b 2 rows"),
                          ((np.ones(3), b, 2), "a must have at least 2 dimensions"),
                          ((a, np.ones(3), 2), "b must have at least 2 dimensions"),
                          ((a, b, 0), "rows must be >= 1"),
                          ((a.tolist(), b, 2), "a must be a NumPy array")]:
        with pytest.raises((ValueError, TypeError), match=message):
            kernels.matmul_in_rows(*args)
    for out in (np.ones((4, 2), np.float32), np.ones((2, 4)), [[0.0] * 2] * 4):
        with pytest.raises(ValueError, match=r"out must be a float64 array of shape \(4, 2\)"):
            kernels.matmul_in_rows(a, b, 2, out=out)


def bits(a):
    """The bytes of ``a``'s values in C order (NaN payloads and signs of zero included)."""
    return np.ascontiguousarray(a).tobytes()


def with_layout(a, layout):
    """The values of ``a`` in another memory layout ("broadcast": those of ``a[:1]``)."""
    if layout == "channels last":  # an NCHW view of NHWC memory, as a convolution's output is
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "reversed":  # negative strides
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "strided":  # a slice with steps: not one block of memory
        return np.repeat(a, 2, axis=-1)[..., ::2]
    if layout == "broadcast":  # stride 0 along the first axis (the values of a[:1] repeated)
        return np.broadcast_to(a[:1], a.shape)
    return a


layouts = st.sampled_from(["C", "channels last", "fortran", "reversed", "strided", "broadcast"])


@given(shape=st.tuples(*[st.integers(0, 4)] * 4), dtype=st.sampled_from([np.float32, np.float64]),
       x_layout=layouts, dout_layout=layouts, seed=st.integers(0, 2**16))
@example(shape=(3, 2, 2, 2), dtype=np.float64, x_layout="broadcast", dout_layout="C", seed=0)
def test_relu_numba_equals_reference(shape, dtype, x_layout, dout_layout, seed):
    """Bit for bit, special values included (NaN, ±∞, ±0), for every memory layout, with the
    reference's memory layout; the backward pass also when dout lies in memory in another
    order than the mask (it then takes the reference)."""
    rng = np.random.default_rng(seed)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30])
    x = rng.normal(size=shape)
    pick = rng.random(shape) < 0.3
    x[pick] = rng.choice(specials, size=int(pick.sum()))
    x = with_layout(x.astype(dtype), x_layout)
    out, mask = relu_forward(x)
    reference, reference_mask = relu_forward_reference(x)
    assert out.dtype == dtype
    assert [step for step, size in zip(out.strides, out.shape) if size > 1] == \
        [step for step, size in zip(reference.strides, out.shape) if size > 1]  # the same layout
    assert bits(out) == bits(reference)
    np.testing.assert_array_equal(mask, reference_mask)
    dout = rng.normal(size=shape)
    pick = rng.random(shape) < 0.3
    dout[pick] = rng.choice(specials, size=int(pick.sum()))
    dout = with_layout(dout.astype(dtype), dout_layout)
    with np.errstate(invalid="ignore"):  # ∞ · 0 = NaN, in both
        assert bits(relu_backward(dout, mask)) == bits(relu_backward_reference(dout, mask))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_relu_inside_the_compiled_products_equals_the_reference_on_special_values(dtype):
    """``_relu_in_place_numba``, which the bands and Winograd's blocks call for an inference
    plan, on NaN, ±∞, ±0, subnormals and the extremes: the reference's bits."""
    finfo = np.finfo(dtype)
    values = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, finfo.tiny / 4, -finfo.tiny / 4,
                       finfo.max, -finfo.max, 2.5, -2.5], dtype)
    expected, _ = relu_forward_reference(values)
    kernels._relu_in_place_numba(values)
    assert bits(values) == bits(expected)


@pytest.mark.parametrize("H, W, HH, WW, stride, pads", [
    (7, 7, 4, 2, 2, (1, 2, 0, 1)),   # rows: Ho 4, total 3; columns: Wo 4, total 1
    (8, 5, 2, 3, 1, (0, 1, 1, 1)),   # rows: total 1, all at the bottom; columns: total 2
    (5, 8, 3, 5, 3, (0, 1, 1, 2)),   # rows: Ho 2, total 1; columns: Wo 3, total 3
    (5, 5, 1, 1, 2, (0, 0, 0, 0)),   # a 1x1 kernel needs none
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_padding_puts_the_extra_row_and_column_at_the_bottom_and_right(H, W, HH, WW, stride,
                                                                          pads, dtype):
    """TensorFlow's SAME: Ho = ceil(H / stride), total = (Ho - 1)·stride + HH - H, top = total // 2
    and the rest at the bottom (columns alike). The pads are written out here, not computed by
    resolve_padding (which conv2d_forward_naive shares), and the convolution with "same" equals
    the definition on the input zero-padded by them with np.pad."""
    from tinyadv.layers.conv import resolve_padding
    assert resolve_padding("same", H, W, HH, WW, stride) == pads
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, H, W)).astype(dtype)
    w = rng.normal(size=(4, 3, HH, WW)).astype(dtype)
    top, bottom, left, right = pads
    xpad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out, _ = conv2d_forward(x, w, stride=stride, padding="same", method="im2col")
    assert out.shape[2:] == (-(-H // stride), -(-W // stride))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, conv2d_forward_naive(xpad, w, stride=stride, padding=0),
                               rtol=rtol, atol=rtol * 10)


@pytest.mark.parametrize("tall", [True, False])
def test_kernels_refuse_a_kernel_or_rows_past_the_input_in_either_direction(tall):
    """The compiled loops do not check their indices: a kernel taller or wider than the padded
    input, and dcols that cover more rows or more columns than Hp x Wp, are refused (ValueError
    naming the sizes), not read or written past the array's end. Each direction alone: the
    square cases elsewhere exceed both at once."""
    xpad = np.zeros((1, 4, 5, 2)) if tall else np.zeros((1, 5, 4, 2))
    HH, WW = (5, 1) if tall else (1, 5)
    with pytest.raises(ValueError, match=f"kernel {HH}x{WW} is larger than xpad's"):
        im2col(xpad, HH, WW, 1)
    w_rows = np.zeros((3, HH * WW * 2))
    with pytest.raises(ValueError, match=f"kernel {HH}x{WW} is larger than the padded input"):
        kernels.rows_product(xpad, w_rows, HH, WW, 1, False)
    with pytest.raises(ValueError, match=f"kernel {HH}x{WW} is larger than the padded input"):
        kernels.rows_weight_gradient(np.zeros((1, 3)), xpad, HH, WW, 1)
    with pytest.raises(ValueError, match=f"kernel {HH}x{WW} is larger than the padded input"):
        kernels.rows_product_adjoint(np.zeros((1, 3)), w_rows, xpad.shape, HH, WW, 1, 1, 1)
    dcols = np.zeros((1, 2, 2, 3, 3, 2))  # at stride 2 it covers 5x5 pixels
    Hp, Wp = (4, 5) if tall else (5, 4)
    with pytest.raises(ValueError, match=r"covers 5x5 pixels, more than Hp x Wp"):
        col2im(dcols, Hp, Wp, 2)
    assert col2im(dcols, 5, 5, 2).shape == (1, 5, 5, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_loops_stay_inside_their_arrays(dtype):
    """The compiled loops do not check their indices, so a loop that runs one step past a run
    or an axis writes past the array (or onto an entry that a later step writes again) and can
    still return the right values, corrupting memory. Run as plain Python (``plain_python``),
    where NumPy refuses an index past an axis's end (IndexError), the same loops give the
    references' values: im2col, col2im, the padding and the space-to-depth at strides and
    kernels that leave pixels unread, and at blocks that cut the input short or reach past its
    padding."""
    rng = np.random.default_rng(0)
    xpad = rng.normal(size=(2, 7, 6, 3)).astype(dtype)
    for HH, WW, stride in ((3, 2, 2), (2, 3, 1), (1, 1, 3)):
        ho, wo = (7 - HH) // stride + 1, (6 - WW) // stride + 1
        cols = np.zeros((2, ho, wo, HH, WW, 3), dtype)
        plain_python(kernels._im2col_numba)(xpad, HH, WW, stride, cols)
        np.testing.assert_array_equal(cols, im2col_reference(xpad, HH, WW, stride))
        dcols = rng.normal(size=cols.shape).astype(dtype)
        dxpad = np.zeros_like(xpad)
        plain_python(kernels._col2im_numba)(dcols, stride, dxpad)
        np.testing.assert_allclose(dxpad, col2im_reference(dcols, 7, 6, stride), rtol=1e-5)
    x = rng.normal(size=(2, 3, 4, 5)).astype(dtype)
    for top, bottom, left, right in ((1, 2, 0, 3), (0, 0, 2, 0)):
        padded = np.zeros((2, 4 + top + bottom, 5 + left + right, 3), dtype)
        plain_python(kernels._pad_channels_last_numba)(x, top, left, padded)
        np.testing.assert_array_equal(padded, pad_channels_last_reference(x, (top, bottom, left, right)))
    for pads, stride, Hs, Ws in (((1, 2, 0, 3), 2, 4, 4), ((0, 0, 2, 0), 3, 1, 2),
                                 ((3, 0, 0, 1), 2, 3, 2), ((0, 0, 0, 0), 2, 2, 2)):
        xs = np.zeros((2, Hs, Ws, stride * stride * 3), dtype)
        plain_python(kernels._pad_space_to_depth_numba)(x, pads[0], pads[2], stride, xs,
                                                        False)
        np.testing.assert_array_equal(xs, pad_space_to_depth_reference(x, pads, stride, Hs, Ws))
        dxs = rng.normal(size=xs.shape).astype(dtype)
        dx = np.zeros_like(x)
        plain_python(kernels._pad_space_to_depth_numba)(dx, pads[0], pads[2], stride, dxs,
                                                        True)
        np.testing.assert_array_equal(dx, pad_space_to_depth_adjoint_reference(dxs, pads, stride,
                                                                               x.shape))


@pytest.mark.parametrize("x_dtype, w_dtype, padding", [(">i8", "<i8", 0), (">i8", "<i8", 1),
                                                       ("<i8", ">i4", 0), (">f8", "<f8", 1),
                                                       (">f4", ">f4", 0)])
def test_conv_takes_arrays_in_the_other_byte_order(x_dtype, w_dtype, padding):
    """An input or weights stored big-endian (read from a file of another machine) give the
    numbers of the native arrays, as Conv2D's check_array makes them: the compiled kernels
    crashed on big-endian integers (Numba TypingError) and conv2d refused '>f8' as not float64.
    The kernels themselves refuse such an array by name (TypeError)."""
    rng = np.random.default_rng(0)
    x, w = rng.integers(-5, 5, (2, 3, 6, 5)), rng.integers(-5, 5, (4, 3, 3, 2))
    native_x, native_w = (x.astype(np.dtype(x_dtype).newbyteorder("=")),
                          w.astype(np.dtype(w_dtype).newbyteorder("=")))
    out, cache = conv2d_forward(x.astype(x_dtype), w.astype(w_dtype), padding=padding)
    expected, expected_cache = conv2d_forward(native_x, native_w, padding=padding)
    assert out.dtype == expected.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out, conv2d_forward_naive(x.astype(x_dtype), w.astype(w_dtype),
                                                            padding=padding))
    dout = rng.normal(size=out.shape)
    for got, wanted in zip(conv2d_backward(dout, cache), conv2d_backward(dout, expected_cache)):
        np.testing.assert_array_equal(got, wanted)
    with pytest.raises(TypeError, match="xpad must be in this machine's byte order, got dtype >i8"):
        im2col(np.zeros((1, 3, 3, 1), ">i8"), 2, 2, 1)
    with pytest.raises(TypeError, match="x must be in this machine's byte order"):
        pad_channels_last(np.zeros((1, 1, 3, 3), ">i8"), (1, 1, 1, 1))


def conv2d_gradients_naive(dout, x, w, stride, pads):
    """dx and dw by the definition (the module docstring of layers/conv.py), one output
    position at a time: dxpad[n, :, i·s + p, j·s + q] += Σ_f dout[n, f, i, j] w[f, :, p, q] and
    dw[f, c, p, q] = Σ_{n,i,j} dout[n, f, i, j] xpad[n, c, i·s + p, j·s + q]."""
    top, bottom, left, right = pads
    xpad = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    dxpad, dw = np.zeros_like(xpad), np.zeros(w.shape)
    HH, WW = w.shape[2:]
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, columns = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            dxpad[:, :, rows, columns] += np.tensordot(dout[:, :, i, j], w, axes=(1, 0))
            dw += np.tensordot(dout[:, :, i, j], xpad[:, :, rows, columns], axes=(0, 0))
    return dxpad[:, :, top:top + x.shape[2], left:left + x.shape[3]], dw


@given(n=st.integers(1, 3), c=st.integers(1, 3), f=st.integers(1, 3), h=st.integers(1, 8),
       w=st.integers(1, 8), kh=st.integers(1, 4), kw=st.integers(1, 4), stride=st.integers(1, 4),
       padding=st.sampled_from([0, 1, (0, 2), (2, 1), "same", "valid"]),
       method=st.sampled_from(["im2col", "winograd"]), keep_rows=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
@example(n=1, c=1, f=1, h=3, w=4, kh=3, kw=4, stride=4, padding="valid", method="im2col",
         keep_rows=True, dtype=np.float32, seed=0)  # the kernel is the image, stride > kernel
def test_conv_gradients_equal_the_definition(n, c, f, h, w, kh, kw, stride, padding, method,
                                             keep_rows, dtype, seed):
    """The output, input gradient and weight gradient of conv2d (im2col, or Winograd where the
    kernel is r·stride square) equal the definition, in float32 and float64, for single images
    and channels, non-square images and kernels, strides larger than the kernel, asymmetric
    SAME pads, kernels the size of the padded input; to 1e-5 (float32) or 1e-12 of the largest
    entry (Winograd: 1e-4 in float32, its transforms round more)."""
    from hypothesis import assume

    from tinyadv import winograd
    from tinyadv.layers.conv import resolve_padding

    if method == "winograd":
        kh = kw = stride * min(max(kh, 2), 5 if stride == 1 else 2)  # r·stride, 2 <= r <= 5
        assert winograd.applies(kh, kw, stride)
    pads = resolve_padding(padding, h, w, kh, kw, stride)
    assume(h + pads[0] + pads[1] >= kh and w + pads[2] + pads[3] >= kw)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w)).astype(dtype)
    weight = rng.normal(size=(f, c, kh, kw)).astype(dtype)
    out, cache = conv2d_forward(x, weight, stride=stride, padding=padding, keep_rows=keep_rows,
                                method=method)
    # (im2col over the input's stride x stride blocks where they make its rows of memory longer)
    assert cache[0] == method or (method, cache[0]) == ("im2col", "space_to_depth")
    dout = rng.normal(size=out.shape).astype(dtype)
    dx, dw, _ = conv2d_backward(dout, cache)
    expected = (conv2d_forward_naive(x.astype(np.float64), weight.astype(np.float64),
                                     stride=stride, padding=padding),
                ) + conv2d_gradients_naive(dout.astype(np.float64), x, weight, stride, pads)
    tolerance = 1e-12 if dtype == np.float64 else 1e-4 if method == "winograd" else 1e-5
    for name, ours, definition in zip(("out", "dx", "dw"), (out, dx, dw), expected):
        assert ours.dtype == dtype and ours.shape == definition.shape, name
        np.testing.assert_allclose(ours, definition, rtol=tolerance, err_msg=name,
                                   atol=tolerance * max(1.0, np.abs(definition).max()))


@pytest.mark.parametrize("N, C, F", [(2, 0, 3), (2, 3, 0), (2, 0, 0), (0, 3, 3), (0, 0, 0)])
@pytest.mark.parametrize("method", ["im2col", "winograd"])
@pytest.mark.parametrize("keep_rows", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_with_no_channels_or_no_filters_equals_the_definition(N, C, F, method, keep_rows,
                                                                   dtype):
    """No input channels (an empty sum: the output is the bias) or no filters (an empty output):
    the direct definition computed them, the fast paths raised "cannot reshape array of size 0
    into shape (0)" (a reshape(-1, K) with K = 0 or F = 0)."""
    x = np.ones((N, C, 6, 5), dtype)
    w = np.ones((F, C, 3, 3), dtype)
    b = np.arange(F, dtype=dtype)
    out, cache = conv2d_forward(x, w, b, keep_rows=keep_rows, method=method)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, conv2d_forward_naive(x, w, b))
    dx, dw, db = conv2d_backward(np.ones(out.shape, dtype), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert not dx.any() and not dw.any()  # empty sums (or empty arrays) in every case here
    np.testing.assert_array_equal(db, np.full(F, N * 4 * 3))


@pytest.mark.parametrize("layout, one_block", [
    ("C", True), ("channels last", True), ("fortran", True),
    ("reversed", False), ("strided", False), ("broadcast", False)])
def test_relu_runs_through_memory_in_order_exactly_when_it_is_one_block(layout, one_block):
    """The compiled ReLU takes an array as the 1-D view of its memory (``_in_memory_order``)
    when there is one (any order of the axes), and the reference otherwise: told apart by
    whether ``ravel`` made a view, with the result's values in the array's own order."""
    from tinyadv.layers.activations import _in_memory_order

    x = with_layout(np.arange(24.0).reshape(2, 3, 2, 2) - 11, layout)
    flat = _in_memory_order(x)
    assert (flat is not None) == one_block
    if one_block:
        assert np.shares_memory(flat, x) and flat.shape == (x.size,)
        np.testing.assert_array_equal(np.sort(flat), np.sort(x, axis=None))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_product_takes_the_transposed_weight_kept_by_its_caller(dtype):
    """A w_columns given (a Conv2D keeps it per batch) gives the bits of the one the bands make
    themselves, on the bands' path (one BLAS thread) and the blocks'; one not of w_rows's shape
    or dtype is refused: the compiled bands would read past it."""
    from tinyadv.threads import blas_threads

    rng = np.random.default_rng(1)
    xpad = rng.normal(size=(3, 38, 38, 3)).astype(dtype)
    w_rows = rng.normal(size=(32, 192)).astype(dtype)
    bands = kernels._rows_bands_numba
    for threads in (1, 2):
        calls = []
        with blas_threads(threads), small_products(True), mock.patch.object(
                kernels, "_rows_bands_numba", lambda *a: calls.append(1) or bands(*a)):
            alone = kernels.rows_product(xpad, w_rows, 8, 8, 2, False)[0]
            given = kernels.rows_product(xpad, w_rows, 8, 8, 2, False,
                                         kernels.weight_columns(w_rows))[0]
        assert bits(given) == bits(alone)
        if kernels._gemm(np.dtype(dtype)) is not None:  # (the bands: on one BLAS thread only)
            assert len(calls) == (2 if threads == 1 else 0)
    for wrong in (w_rows, w_rows.T.astype(np.float32 if dtype == np.float64 else np.float64)):
        with pytest.raises(ValueError, match="w_columns must be weight_columns"):
            kernels.rows_product(xpad, w_rows, 8, 8, 2, False, wrong)


@pytest.mark.parametrize("size", [1, 2, 7, 33])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_relu_loops_write_every_entry_of_their_outputs(size, dtype):
    """relu_forward and relu_backward hand the compiled loops arrays from np.empty_like, whose
    entries are whatever memory held before: a loop that skipped an entry (its last, say) could
    leave there the very value the reference gives, and test_relu_numba_equals_reference passed
    such a loop in about one run of three. Here every output starts as a value the loops never
    write (12345, a mask of the wrong truth values), so an entry left unwritten shows."""
    from tinyadv.layers import activations

    rng = np.random.default_rng(size)
    x = rng.normal(size=size).astype(dtype)
    specials = np.array([np.nan, 0.0, -np.inf, np.inf, -0.0], dtype)[:len(x[::3])]
    x[::3][:len(specials)] = specials  # (every third entry, while they last)
    reference, reference_mask = relu_forward_reference(x)
    out, mask = np.full(size, 12345, dtype), ~reference_mask
    activations._relu_numba(x, out, mask)
    assert bits(out) == bits(reference)
    np.testing.assert_array_equal(mask, reference_mask)
    dout = rng.normal(size=size).astype(dtype)
    dx = np.full(size, 12345, dtype)
    activations._relu_backward_numba(dout, reference_mask, dx)
    assert bits(dx) == bits(relu_backward_reference(dout, reference_mask))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing is compiled")
def test_every_kernel_is_compiled_without_numbas_cfunc_wrapper():
    """No kernel of tinyadv is passed to another as a first-class function, so none has Numba
    compile the C-callable wrapper that would need (kernels.py: 0.5-0.8 s of a cold start);
    ``winograd._combine``, only ever inlined, compiles no code of its own."""
    import importlib
    import pkgutil

    import tinyadv
    kernels_seen = []
    for module_info in pkgutil.walk_packages(tinyadv.__path__, "tinyadv."):
        module = importlib.import_module(module_info.name)
        for name, kernel in vars(module).items():
            if (isinstance(kernel, numba.core.registry.CPUDispatcher)
                    and kernel.py_func.__module__ == module.__name__ and name != "_combine"):
                kernels_seen.append(name)
                assert kernel.targetoptions.get("no_cfunc_wrapper") is True, name
    assert len(kernels_seen) >= 25  # every file's kernels were found
