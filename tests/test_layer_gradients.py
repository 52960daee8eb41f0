"""Every layer's backward equals central finite differences in float64 (relative error < 1e-6),
over shapes, strides, paddings and batch sizes drawn by Hypothesis — parameters included."""

import copy
import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from scipy.special import log_softmax as scipy_log_softmax

import tinyadv as ta
from tinyadv import kernels
from tinyadv.gradcheck import check_gradients, check_layer, numerical_gradient, rel_error
from tinyadv.layers.activations import straight_through

from small_products import small_products

TOL = 1e-6


def away_from_zero(rng, shape, margin=0.05):
    """Values with |x| >= margin, so that ReLU and sign are differentiable at every point."""
    return rng.choice([-1.0, 1.0], size=shape) * (margin + rng.random(shape))


def assert_passes(report):
    assert report.passed, str(report)


@given(n=st.integers(1, 3), c=st.integers(1, 3), f=st.integers(1, 4), h=st.integers(0, 5),
       w=st.integers(0, 5), kh=st.integers(1, 8), kw=st.integers(1, 8), stride=st.integers(1, 3),
       padding=st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"]),
                         st.tuples(st.integers(0, 2), st.integers(0, 2))),
       bias=st.booleans(), training=st.booleans(), blocks=st.booleans(),
       seed=st.integers(0, 2**16))
@example(n=2, c=3, f=4, h=4, w=4, kh=8, kw=8, stride=2, padding="same", bias=True, training=True,
         blocks=False, seed=0)  # the talk's conv1 (8×8, stride 2, "same"), small
def test_conv2d_backward_matches_finite_differences(n, c, f, h, w, kh, kw, stride, padding, bias,
                                                    training, blocks, seed):
    """Kernels up to the talk's 8×8 (its conv2 6×6, conv3 5×5), on images h and w pixels larger
    than the kernel."""
    layer = ta.Conv2D(c, f, (kh, kw), stride=stride, padding=padding, bias=bias, seed=seed,
                      dtype=np.float64)
    layer.training = training  # evaluation mode rebuilds the im2col rows for the weight gradient
    x = np.random.default_rng(seed).normal(size=(n, c, kh + h, kw + w))
    # blocks: the rows formed and multiplied one image at a time (kernels.rows_product)
    with mock.patch.object(kernels, "ROWS_BLOCK_VALUES", 1 if blocks else kernels.ROWS_BLOCK_VALUES):
        assert_passes(check_layer(layer, x, seed=seed, tolerance=TOL))


@pytest.mark.parametrize("c, f, k, stride, padding, size", [
    (3, 8, 8, 2, "same", 12),  # conv1's shape, small
    (4, 8, 6, 2, 0, 20),  # conv2's
    (4, 6, 3, 1, 1, 10), (2, 5, 4, 2, 1, 15)])
@pytest.mark.parametrize("training", [True, False])
def test_conv2d_backward_through_the_compiled_bands_matches_finite_differences(
        c, f, k, stride, padding, size, training):
    """Where OpenBLAS multiplies small products fast (its AVX-512 kernels, BLAS on one thread)
    im2col's rows are formed and multiplied band by band in compiled loops (``kernels.py``):
    forced here on any machine (elsewhere the pieces are slower, not other numbers): the input
    gradient through the bands, and in evaluation mode, which keeps no rows, the forward pass
    and the weight gradient too."""
    if kernels._gemm(np.dtype(np.float64)) is None:
        pytest.skip("no cblas_dgemm in the OpenBLAS that NumPy loaded: the bands never run")
    from tinyadv.threads import blas_threads
    calls = []
    forward, adjoint = kernels._rows_bands_numba, kernels._rows_bands_adjoint_numba
    layer = ta.Conv2D(c, f, k, stride=stride, padding=padding, seed=1, dtype=np.float64)
    layer.method, layer.training = "im2col", training
    x = np.random.default_rng(2).normal(size=(3, c, size, size))
    with blas_threads(1), small_products(True), \
            mock.patch.object(kernels, "_rows_bands_numba",
                              lambda *a: calls.append("gradient" if a[-2] else "forward") or forward(*a)), \
            mock.patch.object(kernels, "_rows_bands_adjoint_numba",
                              lambda *a: calls.append("adjoint") or adjoint(*a)):
        assert_passes(check_layer(layer, x, seed=0, tolerance=TOL))
    assert set(calls) == ({"adjoint"} if training else {"forward", "gradient", "adjoint"})


@given(n=st.integers(1, 4), d=st.integers(1, 6), m=st.integers(1, 5), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_linear_backward_matches_finite_differences(n, d, m, bias, seed):
    layer = ta.Linear(d, m, bias=bias, seed=seed, dtype=np.float64)
    x = np.random.default_rng(seed).normal(size=(n, d))
    assert_passes(check_layer(layer, x, seed=seed, tolerance=TOL))


@given(shape=st.sampled_from([(2, 3), (3, 2, 2, 2), (1, 1, 3, 1)]), seed=st.integers(0, 2**16))
def test_relu_flatten_scale_backward_match_finite_differences(shape, seed):
    x = away_from_zero(np.random.default_rng(seed), shape)
    for layer in (ta.ReLU(), ta.Flatten(), ta.Scale(-0.7), ta.ScaledReLU(0.3, dtype=np.float64)):
        assert_passes(check_layer(layer, x, seed=seed, tolerance=TOL))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_forward_is_max_with_zero_at_the_edges(dtype):
    """max(x, 0): 0 at −∞ (not NaN, as x · 1{x > 0} would give), ∞ and NaN kept; the dtype and
    the memory order of a channels-last input kept; the gradient passes where x > 0 only."""
    values = np.array([-np.inf, -1.5, -0.0, 0.0, 2.5, np.inf, np.nan], dtype=dtype)
    out, mask = ta.layers.activations.relu_forward(values)
    np.testing.assert_array_equal(out, np.array([0, 0, 0, 0, 2.5, np.inf, np.nan], dtype=dtype))
    assert out.dtype == dtype
    np.testing.assert_array_equal(ta.layers.activations.relu_backward(np.ones_like(values), mask),
                                  [0, 0, 0, 0, 1, 1, 0])
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(dtype).transpose(0, 3, 1, 2)
    out, _ = ta.ReLU().forward(x)
    assert out.strides == x.strides


@given(shape=st.sampled_from([(4, 3), (2, 3, 2, 2), (3, 2, 3, 1), (5, 1)]), training=st.booleans(),
       seed=st.integers(0, 2**16))
def test_batchnorm_backward_matches_finite_differences(shape, training, seed):
    rng = np.random.default_rng(seed)
    layer = ta.BatchNorm(shape[1], dtype=np.float64)
    layer.params["weight"].data = rng.normal(size=shape[1])
    layer.params["bias"].data = rng.normal(size=shape[1])
    layer.buffers["running_mean"] = rng.normal(size=shape[1])
    layer.buffers["running_var"] = rng.random(shape[1]) + 0.5
    layer.training = training
    x = rng.normal(size=shape) * 2 + 1
    assert_passes(check_layer(layer, x, seed=seed, tolerance=TOL))


def test_batchnorm_updates_running_statistics_like_pytorch():
    """running ← 0.9 running + 0.1 batch statistic, the variance unbiased (m/(m−1))."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3, 2, 2)) * 3 + 2
    layer = ta.BatchNorm(3, dtype=np.float64)
    layer.forward(x)
    m = 8 * 2 * 2
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(layer.buffers["running_var"],
                               0.9 + 0.1 * x.var(axis=(0, 2, 3)) * m / (m - 1))
    assert layer.buffers["num_batches_tracked"] == 1


@given(n=st.integers(1, 5), k=st.integers(1, 5), smoothing=st.sampled_from([0.0, 0.1, 0.5]),
       temperature=st.sampled_from([1.0, 0.25, 4.0]), weighted=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none", "mean of a larger batch"]),
       seed=st.integers(0, 2**16))
def test_cross_entropy_value_is_the_documented_formula_and_its_gradient_matches_finite_differences(
        n, k, smoothing, temperature, weighted, reduction, seed):
    """Every option, and the mean over a larger batch that a chunk's loss takes (``total_weight``:
    the chunk's sum divided by the whole batch's weight, as the fused training step uses it).

    The value from its definition with SciPy's log-softmax: l_n = −Σ_k q_nk log softmax(z_n/T)_k,
    q = (1 − s)·onehot(y) + s/K, weighted by w_{y_n}, then summed, or divided by Σ w_n (or
    total_weight); the finite differences alone hold the gradient to the value, not the value to
    this (a temperature that multiplied the logits, or smoothing spread over the K − 1 other
    classes, each planted in value and gradient alike, passed them)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    y = rng.integers(0, max(k, 2), size=n)
    weights = rng.random(max(k, 2)) + 0.1 if weighted else None
    options = dict(label_smoothing=smoothing, temperature=temperature, class_weights=weights,
                   reduction=reduction)
    if reduction == "mean of a larger batch":
        options.update(reduction="mean", total_weight=float(rng.uniform(n, 4 * n)))
    loss, dlogits = ta.cross_entropy(logits, y, **options)

    z = np.hstack([np.zeros((n, 1)), logits]) if k == 1 else logits  # one logit: [0, z]
    classes = z.shape[1]
    q = (1 - smoothing) * np.eye(classes)[y] + smoothing / classes
    per_sample = -np.sum(q * scipy_log_softmax(z / temperature, axis=1), axis=1)
    w = np.ones(n) if weights is None else weights[y]
    if reduction == "none":
        expected = w * per_sample
    elif reduction == "sum":
        expected = np.sum(w * per_sample)
    else:
        expected = np.sum(w * per_sample) / options.get("total_weight", np.sum(w))
    np.testing.assert_allclose(loss, expected, rtol=1e-12, atol=1e-15)

    h = 1e-6
    numeric = numerical_gradient(lambda: np.sum(ta.cross_entropy(logits, y, **options)[0]),
                                 logits, 1.0, h)
    # Each sample's loss is a log-sum-exp, log(Σ exp(z_k − max z)), whose sum is ≥ 1: it is
    # rounded to about eps whatever the loss, so a central difference cannot resolve changes
    # below ~n·eps/h (a confident sample at temperature 0.25 has a gradient of 1e-13).
    noise = n * np.finfo(np.float64).eps * (1.0 if weights is None else weights.max()) / h
    # Where that noise reaches 1% of the gradient (27 draws in 20,000), any gradient of its size
    # would pass: such draws are left to the value check above, as gradcheck leaves them.
    assume(noise < 1e-2 * max(np.abs(dlogits).max(), np.abs(numeric).max()))
    assert rel_error(dlogits, numeric, noise=noise) < TOL


@given(n=st.integers(1, 40), k=st.integers(1, 12), scale=st.sampled_from([0.01, 1.0, 30.0, 300.0]),
       smoothing=st.sampled_from([0.0, 0.1, 0.5]), weighted=st.booleans(),
       larger=st.sampled_from([1.0, 1.5, 4.0]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
@example(n=1, k=1, scale=300.0, smoothing=0.0, weighted=False, larger=1.5, dtype=np.float32,
         seed=1)  # (a gradient of -6.3e-46: -0.0 from float64, float32's -1.4e-45 by cross_entropy)
def test_cross_entropy_part_equals_cross_entropy(n, k, scale, smoothing, weighted, larger, dtype,
                                                 seed):
    """The compiled loss of a training step's chunks gives cross_entropy's loss and gradient
    with total_weight (the mean of a larger batch), sample weights and label smoothing, one
    logit or several: to 1e-5 (float32) or 1e-12 (float64) of each entry, or of the largest, or
    to the dtype's smallest subnormal number where the largest is that small (there the spacing
    of the numbers is that subnormal: no precision relative to the entries is left)."""
    from tinyadv.losses import _cross_entropy_part, sample_weights

    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, k)) * scale).astype(dtype)
    y = rng.integers(0, max(k, 2), size=n)
    class_weights = rng.random(max(k, 2)) + 0.1 if weighted else None
    w = sample_weights(y, class_weights, dtype)
    total = np.sum(w) * larger
    loss, dlogits = ta.cross_entropy(logits, y, label_smoothing=smoothing,
                                     class_weights=class_weights, total_weight=total)
    part_loss, part_dlogits = _cross_entropy_part(logits, y, w, total, label_smoothing=smoothing)
    assert isinstance(part_loss, float)
    assert part_dlogits.dtype == dtype and part_dlogits.shape == logits.shape
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert part_loss == pytest.approx(loss, rel=tolerance, abs=tolerance * 1e-3)
    np.testing.assert_allclose(part_dlogits, dlogits, rtol=tolerance,
                               atol=max(tolerance * np.abs(dlogits).max(),
                                        np.finfo(dtype).smallest_subnormal))


@given(n=st.integers(1, 5), k=st.integers(1, 5), scale=st.sampled_from([1.0, 30.0, 300.0]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_cross_entropy_and_its_gradient_are_accurate_where_the_label_leads(n, k, scale, dtype,
                                                                          seed):
    """Each sample's loss (z_m − z_y) + log1p(s), z_m the largest logit and s = Σ_{k≠m} e^{z_k −
    z_m}, and each entry of its gradient p − onehot(y), the label's p_y − 1 being −s/(1 + s)
    where the label leads, against the same sums in Python's math.fsum, in float64: to the
    rounding of the differences z_k − z_m in the logits' dtype (4ε·max|z| relative for the loss,
    8ε·max|z| for the gradient). Also where the label leads by more than 37 (17 in float32): there
    log(1 + s) rounded the loss to 0 (and printed -0.0), and exp(log p_y) − 1 gave the label's
    entry 0 beside the other classes' nonzero p_k."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, k)) * scale).astype(dtype)
    y = rng.integers(0, max(k, 2), size=n)
    loss, dz = ta.cross_entropy(logits, y, reduction="none")
    z = np.hstack([np.zeros((n, 1)), logits]).astype(float) if k == 1 else logits.astype(float)
    expected_loss, expected_dz = [], []
    for row, label in zip(z.tolist(), y):
        m = row.index(max(row))
        s = math.fsum(math.exp(v - row[m]) for i, v in enumerate(row) if i != m)
        expected_loss.append((row[m] - row[label]) + math.log1p(s))
        p = [math.exp((v - row[m]) - math.log1p(s)) for v in row]
        p[label] = -s / (1 + s) if label == m else p[label] - 1
        expected_dz.append(p)
    expected_loss = np.array(expected_loss)
    expected_dz = np.array(expected_dz)[:, 1:] if k == 1 else np.array(expected_dz)
    assert np.all(np.signbit(loss) == 0) and dz.dtype == dtype
    eps, tiny = float(np.finfo(dtype).eps), float(np.finfo(dtype).tiny)
    largest = np.maximum(1.0, np.abs(z).max(axis=1))
    assert np.all(np.abs(loss - expected_loss) <= 4 * eps * largest * expected_loss + tiny)
    rtol = 8 * eps * largest[:, None]
    assert np.all(np.abs(dz - expected_dz) <= rtol * np.abs(expected_dz) + tiny)


@given(n=st.integers(1, 5), k=st.integers(1, 5), scale=st.sampled_from([1.0, 30.0, 300.0]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_log_softmax_is_accurate_where_one_class_leads(n, k, scale, dtype, seed):
    """Every log p_k = (z_k − z_m) − log1p(Σ_{j≠m} exp(z_j − z_m)), z_m the largest logit,
    against the same sum in Python's math.fsum: to 4ε·max|z| relative, also for the leading
    class when it leads by more than 37 (17 in float32), where 0 − log(1 + sum) gave 0."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, k)) * scale).astype(dtype)
    log_p = ta.log_softmax(logits)
    z = np.hstack([np.zeros((n, 1)), logits]).astype(float) if k == 1 else logits.astype(float)
    expected = []
    for row in z.tolist():
        m = row.index(max(row))
        rest = math.log1p(math.fsum(math.exp(v - row[m]) for i, v in enumerate(row) if i != m))
        expected.append([(v - row[m]) - rest for v in row])
    assert log_p.dtype == dtype and np.all(log_p <= 0)
    rtol = 4 * float(np.finfo(dtype).eps) * np.maximum(1.0, np.abs(z).max(axis=1, keepdims=True))
    assert np.all(np.abs(log_p - expected) <= rtol * np.abs(expected) + float(np.finfo(dtype).tiny))


def test_single_logit_cross_entropy_is_the_logistic_loss():
    """softmax CE on [0, z] equals log(1 + exp(−z)) for label 1 and log(1 + exp(z)) for label 0."""
    z = np.array([[-3.0], [0.5], [2.0]])
    y = np.array([1, 0, 1])
    loss, dz = ta.cross_entropy(z, y, reduction="none")
    sign = np.where(y == 1, 1.0, -1.0)
    np.testing.assert_allclose(loss, np.log1p(np.exp(-sign * z[:, 0])), rtol=1e-12)
    sigmoid = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(dz[:, 0], sigmoid - y, rtol=1e-12)


@given(shapes=st.lists(st.sampled_from([(3, 2), (4,), (2, 1, 3), (1,)]), min_size=1, max_size=3),
       lam=st.just(0.0) | st.floats(1e-3, 10.0), seed=st.integers(0, 2**16))
def test_penalty_gradients_match_finite_differences(shapes, lam, seed):
    """λ·W and λ·sign(W) for several weights of any shape, λ = 0 included (a λ as small as
    1e-300 is left out: the changes of the value in a central difference round to 0)."""
    rng = np.random.default_rng(seed)
    weights = [away_from_zero(rng, shape) for shape in shapes]
    for penalty in (ta.l2_penalty, ta.l1_penalty):
        _, grads = penalty(weights, lam)
        for w, g in zip(weights, grads):
            numeric = numerical_gradient(lambda: np.array(penalty(weights, lam)[0]), w, 1.0)
            assert rel_error(g, numeric) < TOL


# ---- straight-through estimators: stand-ins, not derivatives -----------------------------


@pytest.mark.parametrize("ste", ["hubara", "galloway"])
def test_sign_ste_is_not_the_derivative_and_matches_the_documented_stand_in(ste):
    rng = np.random.default_rng(0)
    x = away_from_zero(rng, (4, 5)) * 1.5
    dout = rng.normal(size=x.shape) * 2
    layer = ta.Sign(ste)
    out, cache = layer.forward(x)
    assert set(np.unique(out)) == {-1.0, 1.0}
    dx, _ = layer.backward(dout, cache)
    numeric = numerical_gradient(lambda: layer.forward(x)[0], x, dout)
    assert np.all(numeric == 0)  # sign is flat away from 0 ...
    assert rel_error(dx, numeric) > 0.5  # ... so the STE fails the finite-difference check
    expected = dout * (np.abs(x) <= 1) if ste == "hubara" else np.clip(dout, -1, 1)
    np.testing.assert_array_equal(dx, expected)


def test_hubara_ste_passes_the_gradient_at_plus_and_minus_one():
    """1{|x| ≤ 1} includes its edges (REFERENCES.md §7), where Hubara et al.'s clipped weights
    sit: the gradient passes at x = ±1 and stops just beyond (the random x above never hits
    ±1 exactly, and 1{|x| < 1} passed it). Galloway's clip(dout, −1, 1) ignores x."""
    x = np.array([-1.5, -1.0 - 1e-12, -1.0, -0.25, 0.0, 0.25, 1.0, 1.0 + 1e-12, 1.5])
    dout = np.array([3.0, -2.0, 0.5, -4.0, 2.0, 0.75, -3.0, 1.0, 2.5])
    np.testing.assert_array_equal(straight_through(dout, x, "hubara"),
                                  [0.0, 0.0, 0.5, -4.0, 2.0, 0.75, -3.0, 0.0, 0.0])
    np.testing.assert_array_equal(straight_through(dout, x, "galloway"),
                                  [1.0, -1.0, 0.5, -1.0, 1.0, 0.75, -1.0, 1.0, 1.0])

@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("ste", ["hubara", "galloway"])
def test_binary_linear_uses_sign_of_weights_and_the_ste_for_their_gradient(scale, ste):
    rng = np.random.default_rng(1)
    layer = ta.BinaryLinear(5, 3, scale=scale, ste=ste, bias=False, seed=0, dtype=np.float64)
    layer.params["weight"].data = rng.normal(size=(3, 5)) * 1.5
    w = layer.params["weight"].data
    alpha = np.mean(np.abs(w)) if scale else 1.0
    x = rng.normal(size=(4, 5))
    out, cache = layer.forward(x)
    np.testing.assert_allclose(out, x @ (alpha * np.sign(w)).T)
    dout = rng.normal(size=out.shape) * 3
    _, grads = layer.backward(dout, cache)
    dwb = dout.T @ x  # exact gradient with respect to the binarized weight
    ste_part = (alpha * dwb * (np.abs(w) <= 1)) if ste == "hubara" else np.clip(alpha * dwb, -1, 1)
    expected = ste_part + (np.sign(w) * np.mean(dwb * np.sign(w)) if scale else 0)
    np.testing.assert_allclose(grads["weight"], expected)
    numeric = numerical_gradient(lambda: layer.forward(x)[0], w, dout)
    assert rel_error(grads["weight"], numeric) > 0.1  # a stand-in, not the derivative


def test_binary_conv_input_gradient_is_exact():
    """Only the weight gradient is a stand-in: the gradient with respect to x is exact."""
    layer = ta.BinaryConv2D(2, 3, 3, padding=1, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(2, 2, 5, 5))
    errors = check_layer(layer, x).errors
    assert errors["x"] < TOL and errors["weight"] > 0.1


@given(kind=st.sampled_from(["linear", "conv", "stochastic conv"]), scale=st.booleans(),
       ste=st.sampled_from(["hubara", "galloway"]), n=st.integers(1, 3), c=st.integers(1, 3),
       f=st.integers(1, 3), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_binarized_layers_exact_gradients_match_finite_differences(kind, scale, ste, n, c, f, bias,
                                                                   seed):
    """Only the straight-through part of a binarized layer's weight gradient is a stand-in; the
    rest is a derivative and matches central differences in float64: dL/dx and dL/db of
    BinaryLinear, BinaryConv2D and StochasticBinaryConv2D (its Bernoulli draw held fixed), and
    for a scaled layer the term sign(W)·mean(dW_b ⊙ sign(W)) through α = mean|W| (the weight
    gradient minus STE(α·dW_b, W); 0 without scale, as sign is flat away from 0)."""
    rng = np.random.default_rng(seed)
    options = dict(bias=bias, seed=seed, dtype=np.float64)
    if kind == "linear":
        layer = ta.BinaryLinear(c * 4, f, scale=scale, ste=ste, **options)
        x = rng.normal(size=(n, c * 4))
    elif kind == "conv":
        layer = ta.BinaryConv2D(c, f, 3, scale=scale, ste=ste, padding=1, **options)
        x = rng.normal(size=(n, c, 4, 5))
    else:
        layer = ta.StochasticBinaryConv2D(c, f, 3, ste=ste, stride=2, **options)
        x = rng.normal(size=(n, c, 5, 5))
    w_shape = layer.params["weight"].shape
    layer.params["weight"].data = away_from_zero(rng, w_shape) * 1.5  # |W| > 1 too (hubara's 0)
    if bias:
        layer.params["bias"].data = rng.normal(size=f)
    draws = getattr(layer, "rng", None)
    state = None if draws is None else draws.bit_generator.state

    def forward(x, *params):  # the parameters in the order of ``inputs`` below
        for name, value in zip(list(inputs)[1:], params):
            layer.params[name].data = value
        if state is not None:
            draws.bit_generator.state = state  # the same Bernoulli draw at every evaluation
        return layer.forward(x)

    def backward(dout, cache):
        dx, grads = layer.backward(dout, cache)
        gradients = [dx] + ([grads["bias"]] if bias else [])
        if kind != "stochastic conv":
            w = layer.params["weight"].data
            plain = copy.copy(layer)
            plain.weight_gradient = lambda dw_binary: dw_binary  # dL/dW_b, exact
            dw_binary = plain.backward(dout, cache)[1]["weight"]
            alpha = np.mean(np.abs(w)) if scale else 1.0
            d = alpha * dw_binary  # the STEs written out (REFERENCES.md §7), not the library's
            by_hand = d * (np.abs(w) <= 1) if ste == "hubara" else np.clip(d, -1, 1)
            gradients.append(grads["weight"] - by_hand)
        return gradients

    inputs = dict(x=x)
    if bias:
        inputs["bias"] = layer.params["bias"].data
    if kind != "stochastic conv":
        inputs["weight"] = layer.params["weight"].data
    assert_passes(check_gradients(forward, backward, inputs, seed=seed, tolerance=TOL))


def test_stochastic_binary_conv_resamples_from_its_own_generator():
    x = np.random.default_rng(0).normal(size=(2, 2, 5, 5))
    a = ta.StochasticBinaryConv2D(2, 3, 3, seed=5, dtype=np.float64)
    b = ta.StochasticBinaryConv2D(2, 3, 3, seed=5, dtype=np.float64)
    first, second = a(x), a(x)
    assert not np.allclose(first, second)  # resampled at every forward pass
    np.testing.assert_array_equal(first, b(x))  # same seed, same draws
    assert set(np.unique(a.effective_weight())) <= {-1.0, 1.0}


def test_stochastic_binary_weights_follow_hardsigmoid_probabilities():
    layer = ta.StochasticBinaryConv2D(1, 1, 1, bias=False, seed=0, dtype=np.float64)
    layer.params["weight"].data = np.array([[[[0.5]]]])  # P(+1) = (0.5 + 1) / 2 = 0.75
    draws = np.array([layer.effective_weight()[0, 0, 0, 0] for _ in range(4000)])
    assert abs(np.mean(draws == 1) - 0.75) < 0.03


@pytest.mark.parametrize("ste", ["hubara", "galloway"])
def test_stochastic_binary_weight_gradient_is_the_ste_masked_where_the_weight_leaves_minus_one_one(
        ste):
    """dW = STE(dW_b, W)·1{|W| ≤ 1} (module docstring): beyond ±1 hardsigmoid(W) is flat, so no
    gradient; Galloway's clip alone does not zero it there (and dropping the mask passed every
    test). dW_b, the exact gradient with respect to the drawn ±1 weights, is taken from the same
    forward pass with the STE replaced by the identity."""
    rng = np.random.default_rng(2)
    layer = ta.StochasticBinaryConv2D(2, 3, 3, ste=ste, padding=1, seed=4, dtype=np.float64)
    w = rng.uniform(-2, 2, size=layer.params["weight"].shape)
    w[0, 0, 0, 0], w[1, 0, 0, 0] = 1.0, -1.0  # the edges pass
    layer.params["weight"].data = w
    x = rng.normal(size=(2, 2, 5, 5))
    out, cache = layer.forward(x)
    dout = rng.normal(size=out.shape) * 5
    _, grads = layer.backward(dout, cache)
    plain = copy.copy(layer)
    plain.weight_gradient = lambda dw_binary: dw_binary
    dw_binary = plain.backward(dout, cache)[1]["weight"]
    inside = np.abs(w) <= 1
    assert inside.any() and not inside.all() and np.any(np.abs(dw_binary[~inside]) > 0)
    expected = (dw_binary if ste == "hubara" else np.clip(dw_binary, -1, 1)) * inside
    np.testing.assert_array_equal(grads["weight"], expected)

def test_unknown_ste_variant_is_refused():
    with pytest.raises(ValueError, match="unknown STE variant"):
        ta.Sign("tanh")
    with pytest.raises(ValueError, match="unknown STE variant"):
        ta.BinaryConv2D(1, 1, 3, ste="identity")


@pytest.mark.parametrize("padding", [(2, 0), (0, 1), (1, 3), (3, 1)])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("training", [True, False])
def test_conv2d_with_other_row_and_column_padding_matches_finite_differences(padding, stride,
                                                                            training):
    """padding = (rows, columns) with rows != columns: the input gradient is cut from the padded
    one at (top, left), two offsets that the square paddings of the test above never tell
    apart; the forward pass equals the definition on the input zero-padded with np.pad."""
    from tinyadv.layers.conv import conv2d_forward_naive
    layer = ta.Conv2D(2, 3, (3, 2), stride=stride, padding=padding, seed=5, dtype=np.float64)
    layer.training = training
    x = np.random.default_rng(5).normal(size=(2, 2, 6, 5))
    rows, columns = padding
    xpad = np.pad(x, ((0, 0), (0, 0), (rows, rows), (columns, columns)))
    out, _ = layer.forward(x)
    np.testing.assert_allclose(out, conv2d_forward_naive(xpad, layer.params["weight"].data,
                                                         layer.params["bias"].data, stride=stride),
                               rtol=1e-12, atol=1e-12)
    assert_passes(check_layer(layer, x, seed=5, tolerance=TOL))


def _layers_to_ask():
    """(name, layer factory, input shape): every layer type, the convolution by each method."""
    def conv(method, **options):
        def make():
            layer = ta.Conv2D(4, 5, 6, stride=2, seed=0, dtype=np.float64, **options)
            layer.method = method
            return layer
        return make
    return [
        ("linear", lambda: ta.Linear(6, 4, seed=0, dtype=np.float64), (5, 6)),
        ("linear without bias", lambda: ta.Linear(6, 4, bias=False, seed=0, dtype=np.float64), (5, 6)),
        *[(f"conv {method}", conv(method), (3, 4, 22, 22))  # (9×9 outputs: bands of 45 rows)
          for method in ("im2col", "winograd", "winograd_rows")],
        ("conv without bias", conv("im2col", bias=False), (3, 4, 22, 22)),
        ("conv1 in float32 (auto: space to depth)",  # (its rows over the input's 2×2 blocks)
         lambda: ta.Conv2D(3, 8, 8, stride=2, padding="same", seed=0), (3, 3, 32, 32)),
        ("batchnorm 2-D", lambda: ta.BatchNorm(6, dtype=np.float64), (5, 6)),
        ("batchnorm 4-D", lambda: ta.BatchNorm(4, dtype=np.float64), (3, 4, 5, 5)),
        ("relu", ta.ReLU, (3, 4, 5, 5)),
        ("scaled relu", lambda: ta.ScaledReLU(dtype=np.float64), (3, 4, 5, 5)),
        ("scale", lambda: ta.Scale(0.25), (5, 6)),
        ("flatten", ta.Flatten, (3, 4, 5, 5)),
        ("sign", lambda: ta.Sign(), (5, 6)),
        ("binary linear", lambda: ta.BinaryLinear(6, 4, scale=True, seed=0, dtype=np.float64), (5, 6)),
        ("binary conv", lambda: ta.BinaryConv2D(4, 5, 3, padding=1, ste="hubara", seed=0,
                                               dtype=np.float64), (3, 4, 6, 6)),
    ]


LAYERS_TO_ASK = _layers_to_ask()


@pytest.mark.parametrize("small_products_fast", [False, True])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name, make, shape", LAYERS_TO_ASK, ids=[n for n, _, _ in LAYERS_TO_ASK])
def test_a_backward_asked_for_one_gradient_gives_that_gradients_bits(name, make, shape, training,
                                                                     small_products_fast):
    """backward(need_input_grad=False) gives the full call's parameter gradients and no dx;
    backward(need_param_grads=False) gives its dx and no parameter gradient: what
    input_gradient and the training step's first layer ask for, bit for bit, for every layer
    type and every convolution method, in training and evaluation mode, and with BLAS on one
    thread where OpenBLAS's small products are taken as fast (the compiled bands, Winograd's
    pieces)."""
    from tinyadv.threads import blas_threads
    layer = make()
    layer.training = training
    rng = np.random.default_rng(1)
    dtype = next(iter(layer.params.values())).data.dtype if layer.params else np.float64
    x = rng.normal(size=shape).astype(dtype)
    with small_products(small_products_fast), blas_threads(1 if small_products_fast else 2):
        out, cache = layer.forward(x)
        dout = rng.normal(size=out.shape)
        dx, grads = layer.backward(dout, cache)
        only_params = layer.backward(dout, cache, need_input_grad=False)
        only_x = layer.backward(dout, cache, need_param_grads=False)
    assert only_params[0] is None and set(only_params[1]) == set(grads)
    for key in grads:
        np.testing.assert_array_equal(only_params[1][key], grads[key], err_msg=key)
    assert not only_x[1]
    np.testing.assert_array_equal(only_x[0], dx)
