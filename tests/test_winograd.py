"""Winograd's F(m×m, r×r): its matrices are exact, the Numba transforms equal their NumPy
references in float32 and float64, each backward transform is the adjoint of its forward one,
and a convolution by Winograd equals the direct definition, its gradients those of im2col and
of finite differences."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyadv as ta
from tinyadv import kernels, winograd
from tinyadv.gradcheck import check_layer
from tinyadv.layers.activations import relu_forward_reference
from tinyadv.layers.conv import conv2d_backward, conv2d_forward, conv2d_forward_naive

from plain_python import plain_python
from small_products import small_products

dtypes = st.sampled_from([np.float32, np.float64])
tilings = st.sampled_from([(2, 3), (3, 3), (2, 5), (2, 2), (3, 2), (2, 4)])  # (m, r)
sizes = dict(batch=st.integers(1, 3), c=st.integers(1, 5), th=st.integers(1, 3),
             tw=st.integers(1, 3), stride=st.integers(1, 3), tiling=tilings,
             extra=st.integers(0, 2), dtype=dtypes, seed=st.integers(0, 2**16))


def tolerance(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12  # sums in a different order


def winograd_tolerance(dtype, m, r):
    """How far F(m×m, r×r) may round from a direct sum, relative to the largest entry.

    Its transforms multiply entries by up to 2 (and by fractions) and add them back, so a
    rounding error of the direct sum grows by about β² with β = max_i Σ_j |Aᵀ|_ij (|G|·1)_j
    (|Bᵀ|·1)_j / r: 4 for F(2×2, 2×2), 66 for F(3×3, 3×3), 133 for F(2×2, 5×5). Over 1,500
    random convolutions in float32 (the shapes of the test below) the output and both
    gradients stayed within 1.05·ε·β² of their largest entry; this allows 3·ε·β², and never
    less than the transforms' own tolerance."""
    BT, G, AT = (np.abs(np.array(matrix, dtype=float)) for matrix in winograd.matrices(m, r))
    beta = (AT @ ((G @ np.ones(r)) * (BT @ np.ones(BT.shape[1])))).max() / r
    return max(tolerance(dtype), 3 * np.finfo(dtype).eps * beta ** 2)


def assert_close(fast, reference, dtype):
    """Equal to the tolerance, relative to each entry or to the largest one (the transforms'
    sums cancel: an entry can be far smaller than the terms it sums)."""
    tol = tolerance(dtype)
    np.testing.assert_allclose(fast, reference, rtol=tol, atol=tol * np.abs(reference).max())


def padded_input(batch, c, th, tw, stride, m, r, extra, dtype, seed):
    """An input that just holds th × tw tiles, plus ``extra`` pixels no tile reads."""
    shape = (batch, stride * (m * th + r - 1) + extra, stride * (m * tw + r - 1) + extra, c)
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("m, r", [(2, 3), (3, 3), (2, 5), (2, 2), (3, 2), (2, 4), (4, 3)])
def test_matrices_compute_the_correlation(m, r):
    """Aᵀ[(G g) ⊙ (Bᵀ d)] = the correlation y_i = Σ_k g_k d_(i+k), for 1-D g and d of rational
    numbers, in exact arithmetic, with the small fractions that the float64 entries round (to
    the nearest float64: 1/6 is not a binary fraction)."""
    exact = []
    for M in winograd.matrices(m, r):
        fractions = [[Fraction(v).limit_denominator(1000) for v in row] for row in M]
        np.testing.assert_array_equal(M, np.array(fractions, dtype=float))
        exact.append(np.array(fractions, dtype=object))
    BT, G, AT = exact
    n = m + r - 1
    assert BT.shape == (n, n) and G.shape == (n, r) and AT.shape == (m, n)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(5):
        g = np.array([Fraction(int(v), 7) for v in rng.integers(-9, 10, r)], dtype=object)
        d = np.array([Fraction(int(v), 3) for v in rng.integers(-9, 10, n)], dtype=object)
        y = AT.dot(G.dot(g) * BT.dot(d))
        assert list(y) == [sum(g[k] * d[i + k] for k in range(r)) for i in range(m)]


def test_the_docstring_matrices_of_f2x3():
    BT, G, AT = winograd.matrices(2, 3)
    np.testing.assert_array_equal(BT, [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]])
    np.testing.assert_array_equal(G, [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    np.testing.assert_array_equal(AT, [[1, 1, 1, 0], [0, 1, -1, 1]])


@given(**sizes)
def test_input_transforms_numba_equal_references(batch, c, th, tw, stride, tiling, extra, dtype,
                                                 seed):
    m, r = tiling
    n = m + r - 1
    xpad = padded_input(batch, c, th, tw, stride, m, r, extra, dtype, seed)
    fast = winograd.input_transform(xpad, stride, m, r, th, tw)
    reference = winograd.input_transform_reference(xpad, stride, m, r, th, tw)
    assert fast.dtype == dtype and fast.shape == (n, n, batch * th * tw, stride * stride * c)
    assert_close(fast, reference, dtype)
    dV = np.random.default_rng(seed + 1).normal(size=fast.shape).astype(dtype)
    fast = winograd.input_transform_adjoint(dV, stride, m, xpad.shape, th, tw)
    reference = winograd.input_transform_adjoint_reference(dV, stride, m, xpad.shape, th, tw)
    assert fast.dtype == dtype and fast.shape == xpad.shape
    assert_close(fast, reference, dtype)


@given(batch=st.integers(1, 3), f=st.integers(1, 5), th=st.integers(1, 3), tw=st.integers(1, 3),
       tiling=tilings, dtype=dtypes, seed=st.integers(0, 2**16))
def test_output_transforms_numba_equal_references(batch, f, th, tw, tiling, dtype, seed):
    m, r = tiling
    n = m + r - 1
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n, batch * th * tw, f)).astype(dtype)
    fast = winograd.output_transform(M, batch, m, th, tw)
    reference = winograd.output_transform_reference(M, batch, m, th, tw)
    assert fast.dtype == dtype and fast.shape == (batch, m * th, m * tw, f)
    assert_close(fast, reference, dtype)
    dout = rng.normal(size=fast.shape).astype(dtype)
    fast = winograd.output_transform_adjoint(dout, n, m, th, tw)
    reference = winograd.output_transform_adjoint_reference(dout, n, m, th, tw)
    assert fast.dtype == dtype and fast.shape == M.shape
    assert_close(fast, reference, dtype)


@given(f=st.integers(1, 5), c=st.integers(1, 5), stride=st.integers(1, 3), tiling=tilings,
       dtype=dtypes, seed=st.integers(0, 2**16))
def test_filter_transform_adjoint_numba_equals_reference(f, c, stride, tiling, dtype, seed):
    """(The forward filter transform is NumPy only: nothing to hold it equal to.)"""
    m, r = tiling
    n = m + r - 1
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(f, c, r * stride, r * stride)).astype(dtype)
    U = winograd.filter_transform(w, stride, m)
    assert U.dtype == dtype and U.shape == (n, n, stride * stride * c, f)
    dU = rng.normal(size=U.shape).astype(dtype)
    fast = winograd.filter_transform_adjoint(dU, stride, c, m)
    reference = winograd.filter_transform_adjoint_reference(dU, stride, c, m)
    assert fast.dtype == dtype and fast.shape == w.shape
    assert_close(fast, reference, dtype)


@given(**sizes)
def test_backward_transforms_are_the_adjoints_of_the_forward_ones(batch, c, th, tw, stride, tiling,
                                                                   extra, dtype, seed):
    """<T(a), b> = <a, T*(b)> for the input, output and filter transforms and their adjoints,
    for the Numba kernels and the references alike (float64 sums)."""
    m, r = tiling
    n = m + r - 1
    rng = np.random.default_rng(seed)
    xpad = padded_input(batch, c, th, tw, stride, m, r, extra, np.float64, seed)
    dV = rng.normal(size=(n, n, batch * th * tw, stride * stride * c))
    M = rng.normal(size=(n, n, batch * th * tw, 3))
    dout = rng.normal(size=(batch, m * th, m * tw, 3))
    w = rng.normal(size=(3, c, r * stride, r * stride))
    dU = rng.normal(size=(n, n, stride * stride * c, 3))
    pairs = [
        (np.vdot(winograd.input_transform(xpad, stride, m, r, th, tw), dV),
         np.vdot(xpad, winograd.input_transform_adjoint(dV, stride, m, xpad.shape, th, tw))),
        (np.vdot(winograd.input_transform_reference(xpad, stride, m, r, th, tw), dV),
         np.vdot(xpad, winograd.input_transform_adjoint_reference(dV, stride, m, xpad.shape, th, tw))),
        (np.vdot(winograd.output_transform(M, batch, m, th, tw), dout),
         np.vdot(M, winograd.output_transform_adjoint(dout, n, m, th, tw))),
        (np.vdot(winograd.output_transform_reference(M, batch, m, th, tw), dout),
         np.vdot(M, winograd.output_transform_adjoint_reference(dout, n, m, th, tw))),
        (np.vdot(winograd.filter_transform(w, stride, m), dU),
         np.vdot(w, winograd.filter_transform_adjoint(dU, stride, c, m))),
        (np.vdot(winograd.filter_transform(w, stride, m), dU),
         np.vdot(w, winograd.filter_transform_adjoint_reference(dU, stride, c, m))),
    ]
    for forward, backward in pairs:
        np.testing.assert_allclose(forward, backward, rtol=1e-10, atol=1e-10)


@given(stride=st.integers(1, 2), r=st.integers(2, 5), c=st.integers(1, 4), f=st.integers(1, 4),
       h=st.integers(0, 6), w=st.integers(0, 6), padding=st.sampled_from([0, 1, "same"]),
       bias=st.booleans(), dtype=dtypes, seed=st.integers(0, 2**16))
def test_winograd_convolution_equals_the_definition_and_im2col(stride, r, c, f, h, w, padding, bias,
                                                               dtype, seed):
    """Output sizes that m divides and that it does not; the gradients equal im2col's."""
    rng = np.random.default_rng(seed)
    k = r * stride
    x = rng.normal(size=(2, c, k + h, k + w)).astype(dtype)
    weight = rng.normal(size=(f, c, k, k)).astype(dtype)
    b = rng.normal(size=f).astype(dtype) if bias else None
    out, cache = conv2d_forward(x, weight, b, stride=stride, padding=padding, method="winograd")
    assert cache[0] == "winograd" and out.dtype == dtype
    n = cache[1].shape[0]  # U (n, n, s²·C, F), n = m + r − 1
    rtol = winograd_tolerance(dtype, n - r + 1, r)
    scale = np.abs(out).max()
    np.testing.assert_allclose(out, conv2d_forward_naive(x, weight, b, stride=stride, padding=padding),
                               rtol=rtol, atol=rtol * scale)
    out_im2col, cache_im2col = conv2d_forward(x, weight, b, stride=stride, padding=padding,
                                              method="im2col")
    assert cache_im2col[0] in ("im2col", "space_to_depth")
    dout = rng.normal(size=out.shape).astype(dtype)
    for by_winograd, by_im2col in zip(conv2d_backward(dout, cache), conv2d_backward(dout, cache_im2col)):
        if by_im2col is None:
            assert by_winograd is None
            continue
        assert by_winograd.shape == by_im2col.shape and by_winograd.dtype == dtype
        np.testing.assert_allclose(by_winograd, by_im2col, rtol=rtol,
                                   atol=rtol * np.abs(by_im2col).max())


@given(batch=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), stride=st.integers(1, 3),
       r=st.integers(2, 5), h=st.integers(0, 4), w=st.integers(0, 4), padding=st.sampled_from([0, 1, (1, 0), (0, 2), "same", "valid"]),
       bias=st.booleans(), training=st.booleans(), seed=st.integers(0, 2**16))
def test_winograd_layer_backward_matches_finite_differences(batch, c, f, stride, r, h, w, padding,
                                                            bias, training, seed):
    layer = ta.Conv2D(c, f, r * stride, stride=stride, padding=padding, bias=bias, seed=seed,
                      dtype=np.float64)
    layer.method = "winograd"
    layer.training = training  # evaluation mode rebuilds the transformed tiles for dW
    x = np.random.default_rng(seed).normal(size=(batch, c, r * stride + h, r * stride + w))
    report = check_layer(layer, x, seed=seed, tolerance=1e-6)
    assert report.passed, str(report)


def test_tile_size_takes_the_fewest_multiplications():
    assert winograd.tile_size(6, 6, 3) == 3  # 4 tiles of 5×5 = 100 < 9 tiles of 4×4 = 144
    assert winograd.tile_size(2, 2, 5) == 2  # 1 tile of 6×6 = 36 < 1 of 7×7 = 49
    assert winograd.tile_size(4, 4, 3) == 2  # 4 tiles of 4×4 = 64 < 4 of 5×5 = 100
    assert winograd.tile_size(32, 32, 3) == 2  # whole tiles, though 11² tiles of 5×5 are fewer
    assert winograd.tile_size(5, 5, 3) == 3  # no whole tiles: 4 tiles of 5×5 < 9 of 4×4
    assert winograd.tiling(6, 2, 6, 6) == (3, 3, 5, 2, 2)  # the talk's conv2: r, m, n, Th, Tw


@pytest.mark.parametrize("fast", [False, True])
def test_auto_takes_winograd_where_it_is_faster(fast):
    """A kernel of 3·stride square, every tile whole, and s²·C >= 32 channels; or of 5·stride
    with s²·C >= 64 where OpenBLAS has its small-matrix path (taken as there or not, here)."""
    conv3 = "winograd" if fast else "im2col"
    cases = ((32, 12, 3, 1, "winograd"), (8, 12, 6, 2, "winograd"), (4, 18, 9, 3, "winograd"),
             (32, 34, 3, 1, "winograd"),  # 32×32 outputs: whole tiles of 2×2
             (32, 16, 6, 2, "winograd"), (64, 6, 5, 1, conv3),  # the talk's conv2 and conv3
             (32, 6, 5, 1, "im2col"), (64, 7, 5, 1, "im2col"),  # too few channels; 3×3 outputs
             (32, 12, 3, 2, "im2col"), (32, 12, 7, 1, "im2col"), (32, 12, (3, 6), 2, "im2col"),
             (32, 12, 1, 1, "im2col"), (16, 12, 3, 1, "im2col"), (32, 13, 3, 1, "im2col"),
             (32, 14, 6, 2, "im2col"))  # the talk's conv2 on MNIST: 5×5 outputs
    with small_products(fast):
        for channels, size, kernel, stride, expected in cases:
            x = np.zeros((1, channels, size, size))
            w = np.zeros((1, channels) + ((kernel, kernel) if isinstance(kernel, int) else kernel))
            assert conv2d_forward(x, w, stride=stride)[1][0] == expected, (channels, size, kernel, stride)


def test_integer_arrays_take_im2col_and_stay_exact():
    """Winograd's transforms have fractions; integers would be truncated, so auto takes im2col."""
    rng = np.random.default_rng(0)
    x, w = rng.integers(-5, 5, (1, 32, 8, 8)), rng.integers(-5, 5, (2, 32, 3, 3))
    out, cache = conv2d_forward(x, w)
    assert cache[0] == "im2col" and out.dtype == np.int64
    np.testing.assert_array_equal(out, conv2d_forward_naive(x, w))
    assert conv2d_forward(x.astype(np.float32), w.astype(np.float64))[1][0] == "winograd"


@pytest.mark.parametrize("x_dtype, w_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_a_float32_and_a_float64_operand_give_the_float64_convolution(x_dtype, w_dtype):
    """Mixed operands compute in float64 throughout, as im2col's product would: the transforms
    used to run in each operand's own dtype, rounding the filters (or tiles) to float32."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 16, 16)).astype(x_dtype)
    w = rng.normal(size=(8, 32, 3, 3)).astype(w_dtype)
    out, cache = conv2d_forward(x, w, padding=1, method="winograd")
    exact, exact_cache = conv2d_forward(x.astype(np.float64), w.astype(np.float64), padding=1,
                                        method="winograd")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, exact)
    dx, dw, _ = conv2d_backward(np.ones_like(out), cache)
    dx_exact, dw_exact, _ = conv2d_backward(np.ones_like(out), exact_cache)
    np.testing.assert_array_equal(dx, dx_exact)
    np.testing.assert_array_equal(dw, dw_exact)


@pytest.mark.parametrize("nf", [8, 32])
def test_a_float32_model_given_float64_images_computes_in_float64(nf):
    """A float64 batch keeps its dtype through a float32 model (tinyadv's convention), and the
    numbers are then the float64 model's with the same weights, to the last bit. (Linear and
    conv3's im2col product gave matmul the float32 weights transposed: NumPy cast them into a
    C-ordered copy, which OpenBLAS's AVX-512 kernels multiply with other rounding than the
    float64 model's transposed view; logits were off by 2e-16.)"""
    model = ta.cleverhans_cnn(nf=nf, seed=0)
    model64 = ta.cleverhans_cnn(nf=nf, seed=0, dtype=np.float64)
    model64.load_state_dict(model.state_dict())
    x = np.random.default_rng(1).random((40, 3, 32, 32))  # two chunks, conv2 by Winograd
    np.testing.assert_array_equal(model.logits(x), model64.logits(x))
    np.testing.assert_array_equal(model.input_gradient(x, np.ones((40, 10))),
                                  model64.input_gradient(x, np.ones((40, 10))))


def test_bad_method_names_the_problem():
    x, w = np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="method must be"):
        conv2d_forward(x, w, method="fft")
    with pytest.raises(ValueError, match="r\\*stride"):
        conv2d_forward(x, w, stride=2, method="winograd")
    with pytest.raises(TypeError, match="float32 or float64"):
        conv2d_forward(x.astype(np.int64), w, method="winograd")


@pytest.mark.parametrize("module", ["winograd", "winograd_rows"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_input_gradient_takes_a_given_transpose_of_the_filters(module, dtype):
    """``transposed_filters(U)`` is Uᵀ at every point in C order; given to the backward pass
    (as a layer passes the one it keeps for a batch) it gives the gradients computed without
    it, bit for bit, also a float32 Ut given in float64 (taken in U's dtype); one of another
    shape is refused."""
    from tinyadv import winograd_rows
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 14, 14)).astype(dtype)
    w = rng.normal(size=(4, 3, 6, 6)).astype(dtype)
    out, cache = conv2d_forward(x, w, stride=2, method=module)
    U = cache[1]
    Ut = winograd.transposed_filters(U)
    points = U.shape[:-2]
    assert Ut.flags.c_contiguous and Ut.shape == (int(np.prod(points)),) + U.shape[:-3:-1]
    np.testing.assert_array_equal(Ut, U.reshape(-1, *U.shape[-2:]).transpose(0, 2, 1))
    dout = rng.normal(size=out.shape).astype(dtype)
    dout_last = dout.transpose(0, 2, 3, 1)
    if module == "winograd":  # (the cache: method, U, V, x's shape, xpad or None, xpad's shape)
        def backward(**kwargs):
            return winograd.conv2d_backward(dout_last, U, w.shape, 2, cache[5], V=cache[2],
                                            **kwargs)
    else:
        def backward(**kwargs):
            return winograd_rows.conv2d_backward(dout_last, U, w.shape, 2, cache[4], **kwargs)
    expected = backward()
    for transposed in (Ut, Ut.astype(np.float64)):  # (a float32 U's, exactly, in float64)
        for got, want in zip(backward(Ut=transposed), expected):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="Ut must be transposed_filters"):
        backward(Ut=Ut[:, :, :-1])
    with pytest.raises(ValueError, match="dimensions"):
        winograd.transposed_filters(U.reshape(-1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_at_the_talks_conv2_in_a_chunk_equal_im2cols(dtype, monkeypatch):
    """Inside a chunk (BLAS on one thread) at the talk's conv2 (32 images, 32 → 64 channels,
    6×6 at stride 2), where OpenBLAS runs its small-matrix kernels the products go in pieces of
    32 rows, the weight gradient's Vᵀ dM (a transposed view cut along its rows) among them: the
    gradients equal im2col's (to 1e-5 of the largest in float32, 1e-12 in float64). The
    backward pass's products are cut in its one compiled call, where OpenBLAS's gemm can be
    called from it, else by ``matmul_in_rows``. (Small products are taken as fast here on any
    machine: where OpenBLAS's AVX2 kernels run, the pieces are slower, not other numbers.)"""
    from tinyadv.threads import blas_threads
    monkeypatch.setattr(kernels, "_small_products_fast", lambda: True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 32, 16, 16)).astype(dtype)
    w = rng.normal(size=(64, 32, 6, 6)).astype(dtype)
    pieces, one_call_rows = [], []
    in_rows, one_call = kernels.matmul_in_rows, winograd._conv2d_backward_numba
    monkeypatch.setattr(kernels, "matmul_in_rows",
                        lambda a, *rest: pieces.append(a.strides[-1] != a.itemsize) or
                        in_rows(a, *rest))
    monkeypatch.setattr(winograd, "_conv2d_backward_numba",
                        lambda *arguments: one_call_rows.append(arguments[11:13]) or
                        one_call(*arguments))
    with blas_threads(1):
        out, cache = conv2d_forward(x, w, stride=2, method="winograd")
        dout = rng.normal(size=out.shape).astype(dtype)
        dx, dw, _ = conv2d_backward(dout, cache)
    _, cache_im2col = conv2d_forward(x, w, stride=2, method="im2col")
    dx_im2col, dw_im2col, _ = conv2d_backward(dout, cache_im2col)
    assert_close(dw, dw_im2col, dtype)
    assert_close(dx, dx_im2col, dtype)
    # the pieces of the forward pass; of the weight gradient (a transposed) and the input gradient
    if kernels._gemm(np.dtype(dtype)) is not None:
        assert pieces == [False] and one_call_rows == [(32, 32)]
    else:
        assert pieces == [False, True, False] and one_call_rows == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 32, 16, 64, 6, 2),  # the talk's conv2 on a chunk
                                   (37, 32, 16, 64, 6, 2),  # ... and a last block of 5 images
                                   (32, 64, 6, 64, 5, 1),  # the talk's conv3 (whole products)
                                   (3, 5, 11, 4, 4, 2), (0, 3, 9, 4, 6, 2),
                                   (1, 2, 5, 3, 3, 1),  # one tile: products of one row
                                   (2, 3, 8, 1, 3, 1)])  # one filter: of one column
@pytest.mark.parametrize("one_thread", [True, False])
def test_the_forward_pass_by_blocks_equals_the_steps_bit_for_bit(dtype, shape, one_thread,
                                                                  monkeypatch):
    """A layer in evaluation mode keeps no tiles: its forward pass runs a block of images at a
    time in one compiled call (``_conv2d_blocks_numba``), the products in the pieces the steps
    cut them into (inside a chunk, BLAS on one thread; whole outside). Its output is the steps'
    bit for bit, within the tolerance of the definition, and the gradients from its cache
    (the weight gradient transforms the input again) equal those of the kept tiles. (The layer
    takes the blocks only where OpenBLAS multiplies small pieces in place; here on any machine,
    with whole products, one block, where it has no such path or BLAS runs on two threads.)"""
    from tinyadv.threads import blas_threads
    monkeypatch.setattr(winograd, "_small_products_here", lambda a, b: True)
    # (and matmul's pieces, kernels.product_rows, where BLAS runs on one thread)
    monkeypatch.setattr(kernels, "_small_products_fast", lambda: True)
    N, C, H, F, k, stride = shape
    rng = np.random.default_rng(N + C)
    x = rng.normal(size=(N, C, H, H)).astype(dtype)
    w = rng.normal(size=(F, C, k, k)).astype(dtype)
    blocks, images = winograd._conv2d_blocks_numba, []
    monkeypatch.setattr(winograd, "_conv2d_blocks_numba",
                        lambda *arguments: images.append(arguments[10]) or blocks(*arguments))
    with blas_threads(1 if one_thread else 2):
        out, cache = conv2d_forward(x, w, stride=stride, method="winograd", keep_rows=True)
        by_blocks, cache_blocks = conv2d_forward(x, w, stride=stride, method="winograd",
                                                 keep_rows=False)
        dout = rng.normal(size=out.shape).astype(dtype)
        gradients = conv2d_backward(dout, cache)
        gradients_blocks = conv2d_backward(dout, cache_blocks)
        with monkeypatch.context() as fused:  # the ReLU inside the call (inference plans ask it)
            fused.setattr(winograd, "_conv2d_blocks_numba",
                          lambda *arguments: blocks(*arguments[:-1], True))
            with_relu, _ = conv2d_forward(x, w, stride=stride, method="winograd", keep_rows=False)
    if kernels._gemm(np.dtype(dtype)) is not None and one_thread and shape[:2] in ((32, 32), (37, 32)):
        assert images == [8]  # blocks of 8 images at the talk's conv2 (for 37, a last one of 5)
    assert cache_blocks[2] is None and cache[2] is not None  # (no tiles kept by blocks)
    np.testing.assert_array_equal(by_blocks, out)
    if images:  # (where the blocks kernel ran: not for products of one row or one column)
        np.testing.assert_array_equal(with_relu, relu_forward_reference(out)[0])
    for got, want in zip(gradients_blocks, gradients):
        np.testing.assert_array_equal(got, want)
    if N:
        rtol = winograd_tolerance(dtype, cache[1].shape[0] - k // stride + 1, k // stride)
        np.testing.assert_allclose(by_blocks, conv2d_forward_naive(x, w, stride=stride),
                                   rtol=rtol, atol=rtol * np.abs(out).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, one_calls", [
    ((32, 32, 16, 64, 6, 2), 6),  # the talk's conv2 on a chunk
    ((37, 32, 16, 64, 6, 2), 6),  # ... and a last piece of 20 rows
    ((32, 64, 6, 64, 5, 1), 6),  # the talk's conv3 (whole products)
    ((3, 5, 11, 4, 4, 2), 6), ((0, 3, 9, 4, 6, 2), 6),
    ((1, 2, 5, 3, 3, 1), 2),  # one tile: dV's products are of one row (steps but dw alone)
    ((2, 3, 8, 1, 3, 1), 2)])  # one filter: dU's of one column (steps but dxpad alone)
@pytest.mark.parametrize("one_thread", [True, False])
def test_the_backward_pass_in_one_call_equals_the_steps_bit_for_bit(dtype, shape, one_calls,
                                                                     one_thread, monkeypatch):
    """Where OpenBLAS's gemm can be called from compiled code, ``_conv2d_backward`` runs its
    steps in one call (``_conv2d_backward_numba``): the same gradients bit for bit as the steps
    one by one, for either gradient alone and both, from the kept tiles V or from the input
    transformed again, with the products in pieces (BLAS on one thread, small products taken
    as fast here on any machine) or whole; but not where a product has one row or one column,
    which matmul hands to gemv (``kernels.pieces_by_gemm``): of the six calls, ``one_calls``."""
    from tinyadv.threads import blas_threads
    monkeypatch.setattr(winograd, "_small_products_here", lambda a, b: True)
    # (and matmul's pieces, kernels.product_rows, where BLAS runs on one thread)
    monkeypatch.setattr(kernels, "_small_products_fast", lambda: True)
    N, C, H, F, k, stride = shape
    rng = np.random.default_rng(N + C + F)
    xpad = rng.normal(size=(N, H, H, C)).astype(dtype)
    w = rng.normal(size=(F, C, k, k)).astype(dtype)
    Ho = Wo = (H - k) // stride + 1
    calls = []
    one_call = winograd._conv2d_backward_numba
    monkeypatch.setattr(winograd, "_conv2d_backward_numba",
                        lambda *arguments: calls.append(1) or one_call(*arguments))
    with blas_threads(1 if one_thread else 2):
        _, U, V, xpad_read = winograd.conv2d(xpad, w, stride, Ho, Wo)
        dout = rng.normal(size=(N, Ho, Wo, F)).astype(dtype)
        for need_input_grad, need_param_grads in ((True, True), (True, False), (False, True)):
            for tiles in (V, None):
                def backward():
                    return winograd.conv2d_backward(
                        dout, U, w.shape, stride, xpad_read.shape, V=tiles, xpad=xpad_read,
                        need_input_grad=need_input_grad, need_param_grads=need_param_grads)
                in_one_call = backward()
                with monkeypatch.context() as steps:
                    steps.setattr(winograd, "_one_call_gemm", lambda *arrays: None)
                    by_steps = backward()
                for got, want, needed in zip(in_one_call, by_steps,
                                             (need_input_grad, need_param_grads)):
                    assert (got is None) == (want is None) == (not needed)
                    if needed:
                        assert got.dtype == want.dtype == dtype
                        np.testing.assert_array_equal(got, want)
    assert len(calls) == (one_calls if kernels._gemm(np.dtype(dtype)) is not None else 0)


@pytest.fixture
def blocks_calls(monkeypatch):
    """A list that gets an entry at each call of Winograd's blocks kernel (which still runs)."""
    calls = []
    blocks = winograd._conv2d_blocks_numba
    monkeypatch.setattr(winograd, "_conv2d_blocks_numba",
                        lambda *arguments: calls.append(1) or blocks(*arguments))
    return calls


@pytest.mark.parametrize("pieces", [True, False])
def test_the_forward_pass_runs_by_blocks_only_where_products_come_in_pieces(pieces, blocks_calls,
                                                                            monkeypatch):
    """Where OpenBLAS multiplies small pieces of products in place (``_small_products_here``) a
    layer in evaluation mode runs its forward pass by blocks; elsewhere its products are whole,
    the blocks kernel measured no faster than the steps and costs compiling: the steps run."""
    monkeypatch.setattr(winograd, "_small_products_here", lambda a, b: pieces)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8, 16, 16)).astype(np.float32)
    w = rng.normal(size=(16, 8, 6, 6)).astype(np.float32)
    kept, _ = conv2d_forward(x, w, stride=2, method="winograd", keep_rows=True)
    out, cache = conv2d_forward(x, w, stride=2, method="winograd", keep_rows=False)
    assert len(blocks_calls) == (1 if pieces and kernels._gemm(np.float32) is not None else 0)
    assert cache[2] is None  # (no tiles kept either way)
    np.testing.assert_array_equal(out, kept)


def test_a_model_in_evaluation_mode_runs_winograd_by_blocks_where_products_come_in_pieces(
        blocks_calls):
    """Where OpenBLAS multiplies small pieces in place (taken as there, here), a model's
    inference takes the blocks in its chunks (BLAS on one thread there), so that the fast path
    cannot go quietly unused."""
    if kernels._gemm(np.float32) is None:
        pytest.skip("no cblas_sgemm in the OpenBLAS that NumPy loaded: the layer takes the steps")
    model = ta.cleverhans_cnn(nf=8, seed=0).eval()  # (conv2: 4 phases of 8 channels, Winograd)
    x = np.random.default_rng(0).random((70, 3, 32, 32), dtype=np.float32)
    with small_products(True):
        model.logits(x)
    assert len(blocks_calls) == 3  # (conv2 in each of the three chunks)


def test_a_block_is_the_fewest_images_whose_tiles_fill_whole_pieces(monkeypatch):
    """Pieces of 32 rows: 4 tiles an image (the talk's conv2) make blocks of 8 images, 3 tiles
    of 32 images, 64 tiles of one; products not cut into pieces are one block of all N."""
    monkeypatch.setattr(winograd, "product_rows", lambda M, K, N, a, b: min(32, M))
    a = np.zeros(1, np.float32)
    assert winograd._pieces_and_block(32, 4, 128, 64, a, a) == (32, 8)
    assert winograd._pieces_and_block(37, 4, 128, 64, a, a) == (32, 8)
    assert winograd._pieces_and_block(40, 3, 128, 64, a, a) == (32, 32)
    assert winograd._pieces_and_block(5, 64, 128, 64, a, a) == (32, 1)
    assert winograd._pieces_and_block(8, 4, 128, 64, a, a) == (32, 8)  # (32 tiles: whole)
    assert winograd._pieces_and_block(0, 4, 128, 64, a, a) == (1, 1)  # (no tiles: no pieces)
    monkeypatch.setattr(winograd, "product_rows", lambda M, K, N, a, b: M)
    assert winograd._pieces_and_block(32, 4, 128, 64, a, a) == (128, 32)


def test_the_block_loop_stays_inside_its_arrays(monkeypatch):
    """As the transforms (test_transform_loops_stay_inside_their_arrays): the compiled block
    loop run as plain Python, with its transforms as Python too, where NumPy refuses an index
    past an axis's end, on blocks of 2 images and a last block of 1, gives the steps' output
    (and with the ReLU, its ReLU)."""
    for name in ("_input_transform_numba", "_output_transform_numba", "_combine"):
        monkeypatch.setattr(winograd, name, plain_python(getattr(winograd, name)))
    gemm = kernels._gemm(np.float64)
    if gemm is None:
        pytest.skip("no cblas_dgemm in the OpenBLAS that NumPy loaded")
    rng = np.random.default_rng(0)
    m, r, stride, Th, Tw, N, C, F = 2, 3, 2, 2, 1, 5, 2, 3
    n = m + r - 1
    xpad = padded_input(N, C, Th, Tw, stride, m, r, 1, np.float64, 0)
    U = rng.normal(size=(n, n, stride * stride * C, F))
    BT, _, AT = (np.array(a, dtype=float) for a in winograd.matrices(m, r))
    out = np.zeros((N, m * Th, m * Tw, F))
    blocks = plain_python(winograd._conv2d_blocks_numba)
    blocks(gemm, xpad, stride, m, BT, AT, Th, Tw, U, 3, 2, out, False)
    V = winograd.input_transform_reference(xpad, stride, m, r, Th, Tw)
    M = np.einsum("xytk,xykf->xytf", V, U)
    assert_close(out, winograd.output_transform_reference(M, N, m, Th, Tw), np.float64)
    out_relu = np.zeros_like(out)  # (with the ReLU an inference plan asks for: max(out, 0))
    blocks(gemm, xpad, stride, m, BT, AT, Th, Tw, U, 3, 2, out_relu, True)
    np.testing.assert_array_equal(out_relu, np.maximum(out, 0))


def test_tile_size_takes_tiles_whole_in_both_directions_on_rectangular_outputs():
    """"Of 2 and 3, those that divide Ho and Wo if any do": a size that divides only one of the
    two is not whole. The rule written out here against every output up to 13×13; and the auto
    choice takes Winograd only where the tiles are whole both ways."""
    assert winograd.tile_size(4, 3, 3) == 3  # no whole tiles: 2 tiles of 5×5 = 50 < 4 of 4×4
    assert winograd.tile_size(3, 4, 3) == 3
    assert winograd.tile_size(6, 4, 3) == 2  # 2 is whole both ways, 3 only down
    assert winograd.tile_size(4, 6, 3) == 2
    for r in (2, 3, 4, 5):
        sizes = [m for m in (2, 3) if m + r - 1 <= 6]
        for Ho in range(1, 14):
            for Wo in range(1, 14):
                whole = [m for m in sizes if Ho % m == 0 and Wo % m == 0]
                cost = {m: -(-Ho // m) * -(-Wo // m) * (m + r - 1) ** 2 for m in sizes}
                expected = min(whole or sizes, key=lambda m: (cost[m], m))
                assert winograd.tile_size(Ho, Wo, r) == expected, (Ho, Wo, r)
    for Ho, Wo, expected in ((12, 12, True), (12, 13, False), (13, 12, False), (9, 6, True)):
        assert winograd.faster_than_im2col(32, 3, 3, 1, Ho, Wo) is expected, (Ho, Wo)


@pytest.mark.parametrize("short", ["rows", "columns"])
def test_transforms_refuse_an_input_or_gradient_short_in_one_direction_alone(short):
    """2x2 tiles of F(2, 3) at stride 1 read 6x6 pixels: an input (or xpad_shape) one pixel
    short in the rows alone, or in the columns alone, is refused by the Numba transforms and
    their references (the compiled loops would read or write past the array), and so is a dout
    of the wrong width or height for the output transform's adjoint."""
    rng = np.random.default_rng(0)
    shape = (1, 5, 6, 1) if short == "rows" else (1, 6, 5, 1)
    xpad = rng.normal(size=shape)
    for transform in (winograd.input_transform, winograd.input_transform_reference):
        with pytest.raises(ValueError, match=r"is too small for 2x2 tiles of F\(2, 3\)"):
            transform(xpad, 1, 2, 3, 2, 2)
    dV = rng.normal(size=(4, 4, 4, 1))
    for adjoint in (winograd.input_transform_adjoint, winograd.input_transform_adjoint_reference):
        with pytest.raises(ValueError, match=r"is too small for 2x2 tiles of F\(2, 3\)"):
            adjoint(dV, 1, 2, shape, 2, 2)
    for dout_shape in (((1, 3, 4, 2), (1, 6, 4, 2)) if short == "rows"
                       else ((1, 4, 3, 2), (1, 4, 6, 2))):
        for adjoint in (winograd.output_transform_adjoint,
                        winograd.output_transform_adjoint_reference):
            with pytest.raises(ValueError, match=r"dout must have m\*Th x m\*Tw = 4x4 pixels"):
                adjoint(rng.normal(size=dout_shape), 4, 2, 2, 2)
    assert winograd.input_transform(rng.normal(size=(1, 6, 6, 1)), 1, 2, 3, 2, 2).shape == \
        (4, 4, 4, 1)


@pytest.mark.parametrize("m, r, stride", [(2, 3, 2), (3, 2, 1), (2, 5, 1)])
def test_transform_loops_stay_inside_their_arrays(m, r, stride, monkeypatch):
    """The compiled transforms do not check their indices: a loop over the wrong axis of a
    matrix (G is n×r, not square) reads past it and writes past the scratch tiles, and can still
    return the right values while corrupting memory. Run as plain Python (``plain_python``, with
    _combine and _adjoint_sandwich as Python too), where NumPy refuses an index past an axis's
    end (IndexError), the five transforms give the references' values."""
    rng = np.random.default_rng(m * 10 + r)
    n, th, tw, c, f = m + r - 1, 2, 1, 2, 3
    xpad = padded_input(2, c, th, tw, stride, m, r, 1, np.float64, 0)
    BT, G, AT = winograd.matrices(m, r)
    T, K = 2 * th * tw, stride * stride * c
    monkeypatch.setattr(winograd, "_combine", plain_python(winograd._combine))
    monkeypatch.setattr(winograd, "_adjoint_sandwich", plain_python(winograd._adjoint_sandwich))
    V = np.zeros((n, n, T, K))
    plain_python(winograd._input_transform_numba)(xpad, stride, m, BT, th, tw, V)
    assert_close(V, winograd.input_transform_reference(xpad, stride, m, r, th, tw), np.float64)
    dxpad = np.zeros_like(xpad)
    plain_python(winograd._input_transform_adjoint_numba)(V, stride, m, BT, th, tw, dxpad)
    assert_close(dxpad, winograd.input_transform_adjoint_reference(V, stride, m, xpad.shape, th,
                                                                   tw), np.float64)
    M = rng.normal(size=(n, n, T, f))
    out = np.zeros((2, m * th, m * tw, f))
    plain_python(winograd._output_transform_numba)(M, m, AT, th, tw, out)
    assert_close(out, winograd.output_transform_reference(M, 2, m, th, tw), np.float64)
    dM = np.zeros_like(M)
    plain_python(winograd._output_transform_adjoint_numba)(out, m, AT, th, tw, dM)
    assert_close(dM, winograd.output_transform_adjoint_reference(out, n, m, th, tw), np.float64)
    dU = rng.normal(size=(n, n, K, f))
    dw = np.zeros((f, c, r * stride, r * stride))
    plain_python(winograd._filter_transform_adjoint_numba)(dU, stride, G, dw)
    assert_close(dw, winograd.filter_transform_adjoint_reference(dU, stride, c, m), np.float64)


@pytest.mark.parametrize("x_dtype, w_dtype, expected", [
    (np.uint8, np.uint8, np.uint64), (np.int8, np.int8, np.int64), (np.uint8, np.int8, np.int64),
    (np.int16, np.uint16, np.int64), (np.int32, np.int32, np.int64), (np.uint32, np.int64, np.int64)])
def test_small_integer_arrays_are_summed_in_64_bits(x_dtype, w_dtype, expected):
    """uint8 images and kernels: their convolution used to come back as uint8, every sum taken
    modulo 256 (here 2·9·100·2 = 3600 came back as 16); summed in 64 bits as np.sum sums small
    integers, it is exact, the direct definition's too."""
    x = np.full((1, 2, 5, 5), 100, x_dtype)
    w = np.full((1, 2, 3, 3), 2, w_dtype)
    for convolution in (conv2d_forward, conv2d_forward_naive):
        out = convolution(x, w, padding=1)
        out = out[0] if isinstance(out, tuple) else out
        assert out.dtype == expected
        assert out[0, 0, 2, 2] == 2 * 9 * 100 * 2 and out[0, 0, 0, 0] == 2 * 4 * 100 * 2
    out, cache = conv2d_forward(x, w, padding=1)
    exact = conv2d_forward(x.astype(np.float64), w.astype(np.float64), padding=1)
    np.testing.assert_array_equal(out, exact[0])
    for got, wanted in zip(conv2d_backward(np.ones(out.shape), cache),
                           conv2d_backward(np.ones(out.shape), exact[1])):
        np.testing.assert_array_equal(got, wanted)


def _non_finite(a):
    return ~np.isfinite(a)


@given(stride=st.integers(1, 2), r=st.integers(2, 5), c=st.integers(1, 3), f=st.integers(1, 3),
       h=st.integers(0, 5), w=st.integers(0, 5), padding=st.sampled_from([0, 1, "same"]),
       special=st.sampled_from([np.nan, np.inf, -np.inf]), dtype=dtypes,
       seed=st.integers(0, 2**16))
def test_non_finite_values_reach_at_least_the_outputs_of_the_definition(stride, r, c, f, h, w,
                                                                        padding, special, dtype,
                                                                        seed):
    """A NaN or ±∞ in the input (or in dout) makes non-finite every output (and gradient) that
    the direct definition (im2col's gradients) makes non-finite: never lost; by tiles of m = 2
    exactly those, by m = 3 possibly more of the tile ("NaN and ∞" in winograd.py)."""
    rng = np.random.default_rng(seed)
    k = r * stride
    x = rng.normal(size=(2, c, k + h, k + w)).astype(dtype)
    weight = rng.normal(size=(f, c, k, k)).astype(dtype)
    x[tuple(rng.integers(0, size) for size in x.shape)] = special
    options = dict(stride=stride, padding=padding)
    with np.errstate(invalid="ignore", over="ignore"):
        out, cache = conv2d_forward(x, weight, method="winograd", **options)
        definition = conv2d_forward_naive(x, weight, **options)
        m = cache[1].shape[0] - r + 1
        assert np.all(_non_finite(out)[_non_finite(definition)])
        if m == 2:
            np.testing.assert_array_equal(_non_finite(out), _non_finite(definition))
        _, by_im2col = conv2d_forward(x, weight, method="im2col", **options)
        dout = rng.normal(size=out.shape).astype(dtype)
        # the weight gradient of a non-finite input, and both gradients of a non-finite dout
        dw, dw_im2col = conv2d_backward(dout, cache)[1], conv2d_backward(dout, by_im2col)[1]
        assert np.all(_non_finite(dw)[_non_finite(dw_im2col)])
        x[_non_finite(x)] = 0
        _, cache = conv2d_forward(x, weight, method="winograd", **options)
        _, by_im2col = conv2d_forward(x, weight, method="im2col", **options)
        dout[tuple(rng.integers(0, size) for size in dout.shape)] = special
        for by_winograd, expected in zip(conv2d_backward(dout, cache)[:2],
                                         conv2d_backward(dout, by_im2col)[:2]):
            assert np.all(_non_finite(by_winograd)[_non_finite(expected)])


@given(batch=st.integers(1, 2), c=st.integers(1, 3), th=st.integers(1, 2), tw=st.integers(1, 2),
       stride=st.integers(1, 2), tiling=tilings, special=st.sampled_from([np.nan, np.inf, -np.inf]),
       dtype=dtypes, seed=st.integers(0, 2**16))
def test_transforms_numba_equal_references_where_the_references_are_finite(batch, c, th, tw, stride,
                                                                          tiling, special, dtype,
                                                                          seed):
    """With a NaN or ±∞ among their inputs the Numba transforms skip the matrices' zeros, the
    references multiply by them (0 · NaN = NaN): wherever a reference is finite, its Numba loop
    is finite and equal to it (and non-finite where the reference is ±∞)."""
    m, r = tiling
    n = m + r - 1
    rng = np.random.default_rng(seed)
    xpad = padded_input(batch, c, th, tw, stride, m, r, 0, dtype, seed)
    T, K = batch * th * tw, stride * stride * c

    def with_special(a):
        a = a.copy()
        a[tuple(rng.integers(0, size) for size in a.shape)] = special
        return a

    pairs = [
        (winograd.input_transform, winograd.input_transform_reference,
         (with_special(xpad), stride, m, r, th, tw)),
        (winograd.input_transform_adjoint, winograd.input_transform_adjoint_reference,
         (with_special(rng.normal(size=(n, n, T, K)).astype(dtype)), stride, m, xpad.shape, th, tw)),
        (winograd.output_transform, winograd.output_transform_reference,
         (with_special(rng.normal(size=(n, n, T, 2)).astype(dtype)), batch, m, th, tw)),
        (winograd.output_transform_adjoint, winograd.output_transform_adjoint_reference,
         (with_special(rng.normal(size=(batch, m * th, m * tw, 2)).astype(dtype)), n, m, th, tw)),
        (winograd.filter_transform_adjoint, winograd.filter_transform_adjoint_reference,
         (with_special(rng.normal(size=(n, n, K, 2)).astype(dtype)), stride, c, m)),
    ]
    tol = tolerance(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        for fast_transform, reference_transform, arguments in pairs:
            fast, reference = fast_transform(*arguments), reference_transform(*arguments)
            finite = np.isfinite(reference)
            assert np.all(np.isfinite(fast[finite])), fast_transform.__name__
            assert np.all(_non_finite(fast)[np.isinf(reference)]), fast_transform.__name__
            np.testing.assert_allclose(fast[finite], reference[finite], rtol=tol,
                                       atol=tol * np.abs(reference[finite]).max(initial=1.0))
