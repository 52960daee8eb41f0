"""The losses and the gradient checker refuse bad input by name, never answer NaN or garbage,
and leave what they are given as it was."""

import copy
import warnings

import numpy as np
import pytest

import tinyadv as ta
from tinyadv.losses import as_two_logits, sample_weights

LOGITS = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
Y = np.array([0, 2])


# ---- cross_entropy ------------------------------------------------------------------------


@pytest.mark.parametrize("options, error, message", [
    (dict(total_weight=-1.0), ValueError, "total_weight must be a finite number >= 0"),
    (dict(total_weight=np.nan), ValueError, "total_weight must be a finite number >= 0"),
    (dict(total_weight=np.inf), ValueError, "total_weight must be a finite number >= 0"),
    (dict(total_weight=0.0), ValueError, "total_weight must be > 0"),
    (dict(total_weight="2"), TypeError, "total_weight must be a real number, got str"),
    (dict(total_weight=2.0, reduction="sum"), ValueError, "total_weight .* needs reduction='mean'"),
    (dict(total_weight=2.0, reduction="none"), ValueError, "total_weight .* needs reduction='mean'"),
])
def test_cross_entropy_checks_total_weight(options, error, message):
    with pytest.raises(error, match=message):
        ta.cross_entropy(LOGITS, Y, **options)


def test_total_weight_may_be_any_positive_number_or_a_0d_array():
    """Dividing by N instead of the sum of class weights is a convention some code uses."""
    weights = np.array([2.0, 1.0, 1.0])
    loss, _ = ta.cross_entropy(LOGITS, Y, class_weights=weights, total_weight=np.array(1.0))
    summed, _ = ta.cross_entropy(LOGITS, Y, class_weights=weights, reduction="sum")
    assert loss == pytest.approx(summed)


def test_a_bool_mask_is_class_weights_of_0_and_1():
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(ta.cross_entropy(LOGITS, Y, class_weights=mask)[1],
                                  ta.cross_entropy(LOGITS, Y, class_weights=mask.astype(float))[1])


def test_total_weight_gives_the_mean_of_the_whole_batch_part_by_part():
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(6, 3)).astype(np.float32), rng.integers(0, 3, size=6)
    weights = np.array([0.5, 1.0, 2.0])
    total = np.sum(sample_weights(y, weights, np.float32))  # as train_step computes it
    whole, dwhole = ta.cross_entropy(logits, y, class_weights=weights)
    parts = [ta.cross_entropy(logits[rows], y[rows], class_weights=weights, total_weight=total)
             for rows in (slice(0, 2), slice(2, 6))]
    assert sum(loss for loss, _ in parts) == pytest.approx(whole, rel=1e-6)
    np.testing.assert_allclose(np.concatenate([d for _, d in parts]), dwhole, rtol=1e-5)
    # a part whose samples all weigh 0 of a batch that weighs 0: loss and gradient 0
    loss, d = ta.cross_entropy(logits, np.zeros(6, int), class_weights=[0.0, 1.0, 1.0],
                               total_weight=0.0)
    assert loss == 0.0 and not np.any(d)


@pytest.mark.parametrize("logits, y, message", [
    (np.array([[1.0, np.nan]], np.float32), [0], "logits contains NaN"),
    (np.array([[1.0, -np.inf, 0.0]]), [0], "logits contains infinite values"),
    (np.zeros((2, 3), np.float32), [0, 3], r"y holds labels outside \[0, 2\]"),
    (np.zeros((1, 1)), [2], r"y holds labels outside \[0, 1\]"),  # (one logit: classes 0 and 1)
    (np.array([[-1e308, 0.0, 1e308]]), [0], "the cross-entropy or its gradient overflows float64"),
    (np.array([[0.0, 1.0]], np.float32), [0], "the cross-entropy or its gradient overflows float32"),
])
def test_cross_entropy_part_raises_what_cross_entropy_raises(logits, y, message):
    """A training step's chunks compute the loss in a compiled loop; logits that are not finite,
    a label with no logit, or a loss beyond the dtype (here a weight of 3e38 in float32, summed
    in float64 by the loop) raise the error cross_entropy raises, by name."""
    from tinyadv.losses import _cross_entropy_part

    weights = np.full(len(y), 3e38 if "float32" in message else 1.0, logits.dtype)
    with pytest.raises(ValueError, match=message):
        _cross_entropy_part(logits, np.array(y), weights, 1.0)


@pytest.mark.parametrize("logits, options, error, message", [
    (LOGITS, dict(temperature=1e-320), ValueError, "temperature .* is too small: logits / temperature overflows float64"),
    (LOGITS.astype(np.float32), dict(temperature=1e-39), ValueError, "overflows float32"),
    (np.zeros((2, 0)), {}, ValueError, r"logits must have at least one column .* got shape \(2, 0\)"),
    (np.zeros((2, 3), np.float32), dict(class_weights=[1e300, 1.0, 1.0]), ValueError,
     "class_weights holds 1e\\+300, more than float32 can hold"),
    (LOGITS, dict(class_weights=["a", "b", "c"]), TypeError, "class_weights must hold numbers"),
    (LOGITS, dict(class_weights=[1.0, np.nan, 1.0]), ValueError, "class_weights contains NaN"),
    (LOGITS, dict(class_weights=np.ones(4)), ValueError, "class_weights must have 3 entries"),
    (np.array([[-1e308, 0.0, 1e308]] * 2), {}, ValueError,  # l_0 = 2e308 > the largest float
     "the cross-entropy or its gradient overflows float64"),
])
def test_cross_entropy_refuses_what_would_give_nan(logits, options, error, message):
    with pytest.raises(error, match=message):
        ta.cross_entropy(logits, Y, **options)


@pytest.mark.filterwarnings("error")
def test_cross_entropy_takes_temperatures_beyond_the_float32_range_without_warnings():
    """A temperature past float32's range was cast with NumPy's RuntimeWarnings ("overflow
    encountered in cast", "divide by zero"): now 1e39 counts as infinite (z / T = 0: the
    loss of uniform probabilities, a zero gradient), and 1e-46 is refused by its message alone."""
    logits = LOGITS.astype(np.float32)
    loss, d = ta.cross_entropy(logits, Y, temperature=1e39)
    assert loss == pytest.approx(np.log(3)) and d.dtype == np.float32 and not np.any(d)
    with pytest.raises(ValueError, match="temperature 1e-46 is too small"):
        ta.cross_entropy(logits, Y, temperature=1e-46)


def test_cross_entropy_of_logits_further_apart_than_the_float_range_is_exact():
    """Only class 0 has target mass: the -inf log-probability of class 1 must not become NaN."""
    loss, d = ta.cross_entropy(np.array([[1e308, -1e308, 0.0]]), np.array([0]))
    assert loss == 0.0 and np.array_equal(d, np.zeros((1, 3)))


def test_cross_entropy_takes_integer_class_weights_and_float64_ones_beyond_float32():
    loss, _ = ta.cross_entropy(LOGITS, Y, class_weights=[1, 2, 3])
    assert loss == pytest.approx(ta.cross_entropy(LOGITS, Y, class_weights=[1.0, 2.0, 3.0])[0])
    loss, d = ta.cross_entropy(np.zeros((2, 3)), Y, class_weights=[1e300, 1.0, 1.0])
    assert loss == pytest.approx(np.log(3)) and np.all(np.isfinite(d))


# ---- softmax, log_softmax, logits_to_labels, as_two_logits ----------------------------------

FUNCTIONS = [ta.softmax, ta.log_softmax, ta.logits_to_labels, as_two_logits]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("z, error, message", [
    (np.array([[np.nan, 1.0]]), ValueError, "contains NaN"),
    (np.array([[np.inf, 1.0]]), ValueError, "(contains infinite values|NaN or \\+inf)"),
    (np.zeros((2, 0)), ValueError, r"must have at least one column .* got shape \(2, 0\)"),
    ("logits", TypeError, "must be a NumPy array, got str"),
])
def test_logit_functions_check_their_logits(function, z, error, message):
    with pytest.raises(error, match=message):
        function(z)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16])
def test_integer_and_half_precision_scores_are_read_as_float64(function, dtype):
    """A model may count votes: its integer scores are logits too."""
    z = np.array([[1, 5, 2], [3, 0, 0]])
    np.testing.assert_array_equal(function(z.astype(dtype)), function(z.astype(np.float64)))


def test_a_class_masked_with_minus_inf_is_never_chosen():
    z = np.array([[-np.inf, 1.0, 0.5], [2.0, -np.inf, 3.0]])
    assert ta.logits_to_labels(z).tolist() == [1, 2]
    p = ta.softmax(z)
    assert p[0, 0] == 0 and p[1, 1] == 0 and np.allclose(p.sum(axis=1), 1)
    with pytest.raises(ValueError, match="contains infinite values"):
        as_two_logits(z)  # the loss path refuses any infinity


@pytest.mark.parametrize("function", [ta.softmax, ta.log_softmax, ta.logits_to_labels])
@pytest.mark.parametrize("z, message", [
    (np.array([[-np.inf, -np.inf, -np.inf]]), "row 0: no class is left"),
    (np.array([[1.0, -np.inf], [-np.inf, -np.inf], [-np.inf, -np.inf]]),
     r"row 1 \(and 1 other rows\)"),
    (np.array([[0.0, 1.0], [-np.inf, -np.inf]], np.float32), "row 1"),
])
def test_a_row_with_every_class_masked_is_refused(function, z, message):
    """No class is left to predict, and softmax would be 0 / 0: NaN, with only a warning."""
    with pytest.raises(ValueError, match=f"every class masked with −inf in ({message})"):
        function(z)


@pytest.mark.parametrize("function", [ta.softmax, ta.log_softmax])
@pytest.mark.parametrize("z", [np.array([-np.inf, -np.inf]), np.array([-np.inf])])
def test_one_sample_with_every_class_masked_is_refused(function, z):
    with pytest.raises(ValueError, match="z has every class masked with −inf"):
        function(z)


def test_a_single_logit_masked_with_minus_inf_is_class_0():
    """One logit z is the two logits [0, z]: z = −inf leaves class 0."""
    z = np.array([[-np.inf], [2.0]])
    assert ta.logits_to_labels(z).tolist() == [0, 1]
    assert ta.softmax(z)[0].tolist() == [1.0, 0.0]


def test_softmax_of_one_sample_s_logits():
    np.testing.assert_allclose(ta.softmax(np.array([1.0, 2.0])), ta.softmax(np.array([[1.0, 2.0]]))[0])
    assert ta.log_softmax(np.array([0.0, 0.0])).shape == (2,)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_logit_functions_take_a_list_as_check_array_does(function):
    np.testing.assert_array_equal(function([[1.0, 2.0]]), function(np.array([[1.0, 2.0]])))


def test_softmax_and_log_softmax_agree_for_one_logit_read_as_zero_and_z():
    z = np.array([[2.0], [-0.5]])
    two = np.concatenate([np.zeros_like(z), z], axis=1)
    np.testing.assert_allclose(np.exp(ta.log_softmax(z)), ta.softmax(z), rtol=1e-15)
    np.testing.assert_allclose(ta.log_softmax(z), ta.log_softmax(two), rtol=1e-15)
    assert ta.log_softmax(z).shape == (2, 2)
    sigmoid = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(ta.softmax(z)[:, 1], sigmoid, rtol=1e-15)
    # cross_entropy's single-logit loss is unchanged: the logistic loss
    y = np.array([1, 0])
    loss, dz = ta.cross_entropy(z, y, reduction="none")
    np.testing.assert_allclose(loss, np.log1p(np.exp(-np.where(y == 1, 1, -1) * z[:, 0])), rtol=1e-12)
    np.testing.assert_allclose(dz[:, 0], sigmoid - y, rtol=1e-12)


# ---- penalties ----------------------------------------------------------------------------


@pytest.mark.parametrize("penalty", [ta.l1_penalty, ta.l2_penalty])
@pytest.mark.parametrize("weights, error, message", [
    (np.array([[1.0, 2.0], [3.0, 4.0]]), TypeError, r"weights must be a list or tuple of arrays, got ndarray; wrap a single array as \[w\]"),
    (lambda: ta.mlp([3, 2], seed=0).parameters(), TypeError, r"weights\[0\] is a Parameter: pass its array"),
    ([np.ones(2), np.array([1.0, np.nan])], ValueError, r"weights\[1\] contains NaN"),
    ([np.array([np.inf])], ValueError, r"weights\[0\] contains infinite values"),
    ([np.arange(3)], TypeError, r"weights\[0\] must be a floating-point array"),
])
def test_penalties_check_their_weights(penalty, weights, error, message):
    weights = weights() if callable(weights) else weights
    with pytest.raises(error, match=message):
        penalty(weights, 0.1)


def test_l1_penalty_of_huge_float32_weights_is_their_mean_in_float64():
    """λ·mean|W| of 1,000 float32 weights of 1e36 is 5e35, which float64 holds: the mean is taken
    in float64, where a float32 sum of the weights overflowed and was refused as overflowing
    float64, with a RuntimeWarning."""
    w = np.full(1000, 1e36, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = ta.l1_penalty([w], 0.5)
    assert value == pytest.approx(0.5 * float(np.float32(1e36)), rel=1e-12)
    np.testing.assert_array_equal(grads[0], np.full(1000, 0.5 / 1000, np.float32))


def test_l2_penalty_refuses_a_value_that_overflows():
    with pytest.raises(ValueError, match=r"the penalty of weights\[0\] overflows float64"):
        ta.l2_penalty([np.array([1e200])], 0.1)


BIG32 = np.array([1e30], np.float32)


@pytest.mark.parametrize("penalty, weights, lam, message", [
    # λ W overflows float32 (the value, in float64, does not)
    (ta.l2_penalty, [BIG32], 1e10,
     r"the gradient of l2_penalty with lam=1e\+10 overflows float32 at weights\[0\]"),
    # λ itself is more than float32 holds: inf · 0 would be NaN
    (ta.l2_penalty, [np.ones(2, np.float32), np.zeros(3, np.float32)], 1e39,
     r"the gradient of l2_penalty with lam=1e\+39 overflows float32 at weights\[0\]"),
    (ta.l1_penalty, [np.zeros(3, np.float32)], 1e39,
     r"the gradient of l1_penalty with lam=1e\+39 overflows float32"),
    # the value overflows float64
    (ta.l1_penalty, [BIG32], 1e300,
     r"l1_penalty with lam=1e\+300 overflows float64 \(its value is inf\): use a smaller lam"),
    (ta.l2_penalty, [np.array([1e150])], 1e300, r"l2_penalty with lam=1e\+300 overflows float64"),
    # each weight's term is finite, their sum is not (NaN with lam = 0)
    (ta.l2_penalty, [np.array([1e154]), np.array([1e154])], 0.0,
     r"l2_penalty with lam=0 overflows float64 \(its value is nan\): "
     r"the penalties of the weights sum to inf"),
])
def test_penalties_refuse_a_value_or_gradient_that_overflows(penalty, weights, lam, message):
    """Finite weights and λ must not give inf or NaN (they did, with only a RuntimeWarning)."""
    with pytest.raises(ValueError, match=message):
        penalty(weights, lam)


@pytest.mark.parametrize("penalty", [ta.l1_penalty, ta.l2_penalty])
def test_penalties_near_the_float32_limit_are_not_refused(penalty):
    w = [np.array([3e38, -1.0, 0.0], np.float32), np.zeros((0, 2), np.float32)]
    value, grads = penalty(w, 1.0)
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads)
    assert grads[0].dtype == np.float32


@pytest.mark.parametrize("penalty, expected", [(ta.l1_penalty, 2.5), (ta.l2_penalty, 15.0)])
def test_an_empty_weight_contributes_zero_to_the_penalty(penalty, expected):
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    value, grads = penalty([np.zeros((0, 3)), w], 1.0)
    assert value == expected
    assert grads[0].shape == (0, 3) and grads[1].shape == w.shape


# ---- numerical_gradient -------------------------------------------------------------------


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([0.0, 1.0, 2.0])

    def f():
        if x[0] != 0.0:
            raise RuntimeError("f failed")
        return x * 2

    with pytest.raises(RuntimeError, match="f failed"):
        ta.numerical_gradient(f, x, np.ones(3))
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("x, dout, h, error, message", [
    (np.arange(3), np.ones(3), 1e-6, TypeError, "x must be a float64 array .* got dtype int64"),
    ([0.0, 1.0, 2.0], np.ones(3), 1e-6, TypeError, "x must be the NumPy array that f reads, got list"),
    (np.array([0.0, np.nan, 1.0]), np.ones(3), 1e-6, ValueError, "x contains NaN"),
    (np.zeros(3), np.ones(3), 0.0, ValueError, "h must be > 0"),
    (np.zeros(3), np.ones(3), np.nan, ValueError, "h must be a finite number > 0"),
    (np.zeros(3), np.ones(3), "1e-6", TypeError, "h must be a real number"),
    (np.zeros(3), np.ones(1), 1e-6, ValueError, r"dout must have the shape of f\(\), \(3,\), got \(1,\)"),
    (np.zeros(3), np.array(["a", "b", "c"]), 1e-6, TypeError, "dout must be an array of numbers"),
])
def test_numerical_gradient_checks_its_arguments(x, dout, h, error, message):
    with pytest.raises(error, match=message):
        ta.numerical_gradient(lambda: np.asarray(x) * 2, x, dout, h)


def test_numerical_gradient_refuses_a_read_only_x():
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="x must be writeable"):
        ta.numerical_gradient(lambda: x * 2, x, np.ones(3))


# ---- rel_error ------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, noise, error, message", [
    # a NaN beside zeros made the scale 0 (Python's max(0.0, nan) is 0.0): "they agree", 0.0
    (np.zeros(3), np.array([0.0, np.nan, 0.0]), 0.0, ValueError, "b contains NaN"),
    (np.array([np.inf, 1.0]), np.ones(2), 0.0, ValueError, "a contains infinite values"),
    # the imaginary part was dropped with only a ComplexWarning: 0.0 for 1j against 0
    (np.array([1j]), np.zeros(1), 0.0, TypeError, "a must be a floating-point array"),
    ([0.0, None], [0.0, 0.0], 0.0, TypeError, "a must be an array or a list of real numbers"),
    (np.ones(2), np.ones(2), -1.0, ValueError, "noise must be a finite number >= 0"),
    (np.ones(2), np.ones(2), "0", TypeError, "noise must be a real number"),
    (np.ones(2), np.ones(2), 10 ** 400, ValueError, "noise must be a finite number >= 0"),
])
def test_rel_error_refuses_what_it_cannot_compare(a, b, noise, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error, match=message):
            ta.rel_error(a, b, noise)


def test_rel_error_takes_integers_lists_and_scalars():
    assert ta.rel_error(np.array([1, 2]), [1.0, 2.5]) == pytest.approx(0.2)
    assert ta.rel_error(2.0, np.float32(1.0)) == pytest.approx(0.5)
    assert ta.rel_error(np.zeros(2, np.float16), np.zeros(2)) == 0.0


def test_check_gradients_reports_a_nan_gradient_by_name():
    def nan_backward(dout, cache):
        grad = np.zeros_like(cache)
        grad[0] = np.nan
        return grad

    report = ta.check_gradients(lambda x: (np.zeros_like(x), x), nan_backward, [np.ones(3)])
    assert not report.passed
    assert "backward's gradient contains NaN" in report.problems["x"]
    assert "gradient of x does not match" in str(report)


# ---- check_gradients and check_layer --------------------------------------------------------


def double_forward(x):
    return 2 * x, None


def double_backward(dout, cache):
    return 2 * dout


@pytest.mark.parametrize("inputs, options, error, message", [
    (np.ones(3), {}, TypeError, r"inputs must be a list or tuple of arrays .* got ndarray; wrap a single array as \[x\]"),
    ([], {}, ValueError, "inputs must hold at least one array"),
    ([np.array([np.nan, 1.0])], {}, ValueError, "input 'x' contains NaN"),
    ({"x": np.array([np.inf])}, {}, ValueError, "input 'x' contains infinite values"),
    ([["a", "b"]], {}, TypeError, "input 'x' must be an array of numbers"),
    ([np.ones(3)], dict(tolerance=np.nan), ValueError, "tolerance must be a finite number > 0"),
    ([np.ones(3)], dict(tolerance=0.0), ValueError, "tolerance must be > 0"),
    ([np.ones(3)], dict(h=0.0), ValueError, "h must be > 0"),
    ([np.ones(3)], dict(seed=-1), ValueError, "seed must be a non-negative int"),
    ([np.ones(3)], dict(seed=1.5), TypeError, "seed must be an int"),
])
def test_check_gradients_checks_its_arguments(inputs, options, error, message):
    with pytest.raises(error, match=message):
        ta.check_gradients(double_forward, double_backward, inputs, **options)


@pytest.mark.parametrize("layer, x, options, error, message", [
    ("linear", np.array([[np.nan, 1.0]]), {}, ValueError, "x contains NaN"),
    ("linear", np.ones((1, 2)), dict(h=-1e-6), ValueError, "h must be a finite number > 0"),
    ("linear", np.ones((1, 2)), dict(tolerance=0), ValueError, "tolerance must be > 0"),
    ("linear", np.ones((1, 2)), dict(seed=-1), ValueError, "seed must be a non-negative int"),
    (np.ones(3), np.ones((1, 2)), {}, TypeError, "layer must be a tinyadv Layer"),
])
def test_check_layer_checks_its_arguments(layer, x, options, error, message):
    layer = ta.Linear(2, 2, seed=0) if isinstance(layer, str) else layer
    with pytest.raises(error, match=message):
        ta.check_layer(layer, x, **options)


def test_check_layer_leaves_the_layer_as_it_was():
    layer = ta.BatchNorm(3)  # float32, in training mode: a forward pass updates its statistics
    before = copy.deepcopy(layer)
    report = ta.check_layer(layer, np.random.default_rng(1).normal(size=(5, 3)) * 4 + 3)
    assert report.passed, str(report)
    for name, value in before.buffers.items():
        np.testing.assert_array_equal(layer.buffers[name], value)
        assert layer.buffers[name].dtype == value.dtype
    for name, p in before.params.items():
        np.testing.assert_array_equal(layer.params[name].data, p.data)
        assert layer.params[name].data.dtype == np.float32


def test_check_layer_judges_a_float32_layer_in_float64():
    layer = ta.Linear(6, 4, seed=0)
    assert layer.params["weight"].data.dtype == np.float32
    report = ta.check_layer(layer, np.random.default_rng(0).normal(size=(5, 6)))
    assert report.passed, str(report)
    assert layer.params["weight"].data.dtype == np.float32


def test_numerical_gradient_takes_a_scalar_dout_for_the_sum():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(ta.numerical_gradient(lambda: x ** 2, x, 1.0), 2 * x, rtol=1e-6)
