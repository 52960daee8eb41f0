"""Edge cases and bad arguments of tinyadv.theory and tinyadv.plots: empty batches give empty
results, tiny or huge weights give exact distances, every bad argument fails at the door with a
message naming it, and the theory functions are seeded (seed=0) by default."""

import inspect
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from tinyadv.plots import image_grid, signed_image_grid, to_displayable
from tinyadv.theory import (
    accuracy_and_distance,
    activation_change,
    adversarial_logistic_loss,
    deviation_angle,
    dual_direction,
    fit_logistic_regression,
    folded_normal_mean,
    linear_scores,
    linearity_ratio,
    linearity_sweep,
    logistic_loss,
    minimal_linear_distance,
    minimal_linear_perturbation,
    sigmoid,
    sign_perturbation,
    signed_distance,
    softplus,
    submanifold_data,
    tilt_boundary,
    tilting_sweep,
    weight_decay_tilt,
    worst_case_linear_perturbation,
    worst_case_margin,
)

W3 = np.ones(3)
NO_LABELS = np.zeros(0, dtype=int)
Y4 = np.array([0, 1, 0, 1])
X42 = np.array([[-1.0, 0.0], [1.0, 0.0], [-2.0, 0.5], [2.0, -0.5]])


def raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- 11. an empty batch ---------------------------------------------------------------------------


@pytest.mark.parametrize("x", [np.zeros((0, 3)), np.zeros((0, 1, 3), np.float32)])
@pytest.mark.parametrize(
    "call, per_sample",
    [
        (lambda x: linear_scores(W3, 0.5, x), False),
        (lambda x: signed_distance(W3, 0.5, x), False),
        (lambda x: minimal_linear_distance(W3, 0.5, x, np.inf), False),
        (lambda x: minimal_linear_perturbation(W3, 0.5, x, 1), True),
        (lambda x: worst_case_linear_perturbation(W3, x, NO_LABELS, eps=0.1, norm=2), True),
        (lambda x: worst_case_margin(W3, 0.5, x, NO_LABELS, eps=0.1), False),
        (lambda x: logistic_loss(W3, 0.5, x, NO_LABELS), False),
        (lambda x: adversarial_logistic_loss(W3, 0.5, x, NO_LABELS, eps=0.1), False),
    ],
)
def test_an_empty_batch_gives_empty_results(call, per_sample, x):
    """x of shape (0, ...) gives results of shape (0,) (or x's shape for perturbations) in x's
    dtype, as NumPy would, instead of a reshape error."""
    out = call(x)
    assert out.shape == (x.shape if per_sample else (0,))
    assert out.dtype == x.dtype


# --- 12. norms of tiny and huge weights -----------------------------------------------------------


@pytest.mark.parametrize(
    "w, x_dtype, norm",
    [
        (np.array([1e-23, 1e-23], np.float32), np.float32, 2),  # squares underflow in float32
        (np.array([1e20, 1e20], np.float32), np.float32, 2),    # squares overflow in float32
        (np.array([1e-200, 1e-200]), np.float64, 2),
        (np.array([1e200, 1e200]), np.float64, 2),
        (np.array([1e-50, 1e-50]), np.float32, 1),              # float64 w below float32's range
        (np.array([1e-50, 1e-50]), np.float32, 2),
        (np.array([1e-50, 1e-50]), np.float32, np.inf),
    ],
)
def test_tiny_and_huge_weights_give_the_exact_distance(w, x_dtype, norm):
    """The distance of x = (1, 1) to w·x = 0 with w ∝ (1, 1) is 2/||(1, 1)||_q whatever the
    scale of w; the minimal perturbation is −(1, 1) and the direction (1, 1)/||(1, 1)||_p."""
    x = np.ones((1, 2), x_dtype)
    q_norm = {1: 1.0, 2: math.sqrt(2.0), np.inf: 2.0}[norm]       # ||(1, 1)||_q, q dual to p
    distance = minimal_linear_distance(w, 0.0, x, norm)
    assert distance.dtype == x_dtype
    np.testing.assert_allclose(distance, [2.0 / q_norm], rtol=1e-6)
    np.testing.assert_allclose(signed_distance(w, 0.0, x, norm), [2.0 / q_norm], rtol=1e-6)
    np.testing.assert_allclose(minimal_linear_perturbation(w, 0.0, x, norm), -x, rtol=1e-6)
    p_norm = {1: 2.0, 2: math.sqrt(2.0), np.inf: 1.0}[norm]
    np.testing.assert_allclose(dual_direction(w, norm), [1 / p_norm, 1 / p_norm], rtol=1e-6)


def test_float64_weights_beyond_float32_range_with_float32_x():
    """w = (1e300, 1) is not rounded to float32 (inf) before use: the distance of x = (1, 1) is
    (1e300 + 1)/||w||_2 = 1, not NaN; the worst-case margin keeps its scale."""
    w = np.array([1e300, 1.0])
    x = np.ones((1, 2), np.float32)
    np.testing.assert_allclose(minimal_linear_distance(w, 0.0, x, 2), [1.0], rtol=1e-6)
    w32 = np.array([1e20, 1e20], np.float32)
    margin = worst_case_margin(w32, 0.0, x, np.array([1]), eps=0.5)
    np.testing.assert_allclose(margin, [math.sqrt(2) * 1e20 * (math.sqrt(2) - 0.5)], rtol=1e-6)


X32 = np.ones((1, 3), np.float32)
POS = np.array([1])


@pytest.mark.parametrize(
    "call",
    [
        lambda: worst_case_linear_perturbation(W3, X32, POS, eps=1e300, norm=np.inf),
        lambda: worst_case_margin(W3, 0.0, X32, POS, eps=1e300),
        lambda: adversarial_logistic_loss(W3, 0.0, X32, POS, eps=1e300),
    ],
)
def test_an_eps_beyond_float32_is_refused_not_turned_into_inf(call):
    """With float32 x, ε = 1e300 makes η, the worst-case margin and the adversarial loss ±1e300,
    which float32 cannot hold: refused by name rather than returned as ±inf."""
    raises(call, ValueError, r"eps=1e\+300 is too large: .* would not be finite in float32")


def test_sign_perturbation_and_change_refuse_an_eps_beyond_the_dtype():
    """ε = 1e300 with float32 w, and a change ε·||w||_1 = 6e38 > 3.4e38, are refused by name;
    ε·sign(0) is 0 even when ε is beyond the dtype."""
    w = np.ones(3, np.float32)
    raises(lambda: sign_perturbation(w, eps=1e300), ValueError,
           r"eps=1e\+300 is too large: eps·sign\(w\) would not be finite in float32")
    raises(lambda: activation_change(w, eps=2e38), ValueError,
           r"eps=2e\+38 is too large: the change .* would not be finite in float32")
    assert activation_change(w, eps=1e38) == np.float32(3e38)
    np.testing.assert_array_equal(sign_perturbation(np.zeros(2, np.float32), eps=1e300), 0.0)


def test_an_eps_beyond_float64_is_refused_by_name():
    """ε = 1e308 with ||w||_1 = 3: the loss 3e308 is beyond float64 and refused naming eps (not
    "z contains infinite values", which names no argument); the margin 3 − √3·1e308 (||w||_2 = √3)
    still fits and is returned."""
    x = np.ones((1, 3))
    raises(lambda: adversarial_logistic_loss(W3, 0.0, x, POS, eps=1e308), ValueError,
           r"eps=1e\+308 is too large: .* would not be finite in float64")
    np.testing.assert_allclose(worst_case_margin(W3, 0.0, x, POS, eps=1e308),
                               [-math.sqrt(3) * 1e308], rtol=1e-12)


def test_scores_beyond_the_dtype_are_named_not_eps():
    """A loss or margin that would not fit even with ε = 0 blames the scores, not ε."""
    raises(lambda: logistic_loss(W3, 1e300, X32, np.array([-1])), ValueError,
           "would not be finite in float32: the scores w·x \\+ b are too large")
    raises(lambda: worst_case_margin(W3, 1e300, X32, POS, eps=0.1), ValueError,
           "even with eps = 0: the scores")


TINY_W = np.array([1e-300, 0.0, 0.0])   # ||w||_q = 1e-300: a distance of 1e300·|w·x + b|


@pytest.mark.parametrize(
    "call, what",
    [
        (lambda x: linear_scores(np.full(3, 1e300), 0.0, x), "the scores"),
        (lambda x: signed_distance(TINY_W, float(x[0, 0]), x), "the signed distance"),
        (lambda x: minimal_linear_distance(TINY_W, float(x[0, 0]), x, 2), "the distance"),
        (lambda x: minimal_linear_perturbation(TINY_W, float(x[0, 0]), x, np.inf),
         "the minimal perturbation"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_beyond_the_dtype_are_refused_not_returned_as_inf(call, what, dtype):
    """A score of 3e300 or a distance of 1e300 does not fit in float32; with x = b = 1e10 the
    score 3e310 and the distance 1e310 do not fit in float64 either: each is refused naming the
    result and the dtype (it was ±inf, with a RuntimeWarning at most), and no warning leaks."""
    x = np.full((1, 3), 1.0 if dtype == np.float32 else 1e10, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raises(lambda: call(x), ValueError,
               f"{what}.* would not be finite in {np.dtype(dtype).name}: rescale w, b or x")


def test_worst_case_margin_with_a_norm_of_w_beyond_float64():
    """||(1e308, 1e308)||_1 = 2e308 exceeds float64, but the worst-case L∞ margin at x = (1, 1)
    with ε = 1.5 is 2e308·(1 − 1.5) = −1e308, which fits: returned, not −inf."""
    margin = worst_case_margin(np.full(2, 1e308), 0.0, np.ones((1, 2)), POS, eps=1.5, norm=np.inf)
    np.testing.assert_allclose(margin, [-1e308], rtol=1e-12)


@pytest.mark.parametrize(
    "w, w_ref",
    [
        (np.array([1e200, 0.0]), np.array([1e200, 1e199])),                  # squares overflow
        (np.array([1e20, 0.0], np.float32), np.array([1e20, 1e19], np.float32)),
        (np.array([1e-200, 0.0]), np.array([1e-200, 1e-201])),               # squares underflow
        (np.array([1e-30, 0.0], np.float32), np.array([1e-30, 1e-31], np.float32)),
        (np.array([1e300, 0.0]), np.array([1e-300, 1e-301])),
    ],
)
def test_deviation_angle_of_tiny_and_huge_weights(w, w_ref):
    """The angle between (1, 0) and (1, ~0.1), at any scale: arctan(w_ref[1]/w_ref[0]), not NaN
    (norms that overflow) nor "zero weight vector" (norms that underflow)."""
    expected = math.atan(float(w_ref[1]) / float(w_ref[0]))
    rel = 1e-5 if w.dtype == np.float32 else 1e-9           # arccos near 1 in float32
    assert deviation_angle(w, w_ref) == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deviation_angle_stays_in_zero_to_pi(dtype):
    """Opposite vectors are π apart and equal ones 0, to the last bit, in either dtype: arccos of
    the rounded cosine gave π − 1.5e-8 and 1.5e-8 for about a quarter of random float64 vectors,
    and float32's π, 3.1415927410 (above π), for float32 ones."""
    for w in np.random.default_rng(0).standard_normal((40, 5)).astype(dtype):
        assert deviation_angle(w, -w) == math.pi
        assert deviation_angle(w, w) == 0.0


@pytest.mark.parametrize(
    "w, direction",
    [
        (np.array([1e20, 0.0], np.float32), np.array([0.0, 1.0], np.float32)),  # ||w||² = inf
        (np.array([1e-30, 0.0], np.float32), np.array([0.0, 1.0], np.float32)),  # ||w||² = 0
        (np.array([1e-200, 0.0]), np.array([0.0, 1.0])),
        (np.array([1e200, 0.0]), np.array([0.0, 1.0])),
        (np.array([1.0, 0.0]), np.array([0.0, 1e-200])),                        # not "parallel"
        (np.array([1.0, 0.0]), np.array([1e200, 1e200])),
    ],
)
def test_tilt_boundary_of_tiny_and_huge_vectors(w, direction):
    """w = (s, 0) tilted by 0.5 towards e_2 is s·(cos 0.5, sin 0.5) at any scale s."""
    w_theta, b_theta = tilt_boundary(w, 2.0, direction, 0.5)
    assert w_theta.dtype == w.dtype and b_theta == pytest.approx(2.0 * math.cos(0.5))
    np.testing.assert_allclose(w_theta / w[0], [math.cos(0.5), math.sin(0.5)], rtol=1e-6)


@pytest.mark.parametrize("w", [np.array([3e38, 3e38], np.float32), np.array([1.5e308, 1.5e308])])
def test_tilt_boundary_refuses_a_tilted_w_beyond_the_dtype(w):
    """w tilted by 0.5 towards (1, −1) has an entry (cos 0.5 + sin 0.5)·max|w| ≈ 1.36·max|w|,
    beyond float32's (float64's) range for these w: refused rather than returned as inf."""
    with pytest.raises(ValueError, match=f"would not be finite in {w.dtype}"):
        tilt_boundary(w, 0.0, np.array([1.0, -1.0]), 0.5)


# --- 13. fit_logistic_regression ------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: fit_logistic_regression(np.zeros((0, 2)), NO_LABELS), ValueError,
         "x holds no samples"),
        (lambda: fit_logistic_regression(np.full((4, 2), 1e200), Y4), ValueError,
         "x is too large"),
        (lambda: fit_logistic_regression(np.full((4, 2), 1e20, np.float32), Y4), ValueError,
         "x is too large"),
        (lambda: fit_logistic_regression(np.ones((4, 2), np.float32), Y4, init_std=1e300),
         ValueError, "init_std"),
        (lambda: fit_logistic_regression(np.ones((4, 2), np.float32), Y4, lr=1e300, steps=3),
         ValueError, "diverged"),
    ],
)
def test_fit_logistic_regression_names_the_real_problem(call, error, match):
    """No samples, data too large for the default step size, an init_std that overflows and a
    diverging iteration are named, instead of a complaint about an lr the user never passed or
    a silent (nan, nan)."""
    raises(call, error, match)


# --- 14. sigmoid checks its input like softplus ---------------------------------------------------


@pytest.mark.parametrize(
    "z, error, match",
    [
        (np.array([0.0, np.nan]), ValueError, "z contains NaN"),
        (np.array([np.inf]), ValueError, "z contains infinite"),
        (np.zeros(2, np.float16), TypeError, "float32 or float64"),
        (np.zeros(2, int), TypeError, "z must be a floating-point"),
        (0.5, TypeError, "z must be a NumPy array"),
    ],
)
def test_sigmoid_refuses_bad_input_like_softplus(z, error, match):
    raises(lambda: softplus(z), error, match)
    raises(lambda: sigmoid(z), error, match)


def test_sigmoid_takes_a_list_like_softplus():
    np.testing.assert_allclose(sigmoid([0.0, 1000.0]), [0.5, 1.0])


# --- 15. folded_normal_mean -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "mean, std, error, match",
    [
        (np.nan, 1.0, ValueError, "mean must be finite"),
        (np.inf, 1.0, ValueError, "mean must be finite"),
        ("1", 1.0, TypeError, "mean must be a real number"),
        (None, 1.0, TypeError, "mean must be a real number"),
    ],
)
def test_folded_normal_mean_refuses_bad_input(mean, std, error, match):
    raises(lambda: folded_normal_mean(mean, std), error, match)


def test_folded_normal_mean_handles_a_vanishing_std():
    """std → 0 gives |mean| (no ZeroDivisionError), tiny scales are exact, and the switch to
    |mean| at |mean| = 40·std is continuous."""
    assert folded_normal_mean(1.0, 1e-320) == 1.0
    assert folded_normal_mean(-3.0, 0.0) == 3.0
    exact = math.sqrt(2 / math.pi) * math.exp(-0.5) + math.erf(1 / math.sqrt(2))
    assert folded_normal_mean(1e-300, 1e-300) == pytest.approx(1e-300 * exact, rel=1e-12)
    below, above = folded_normal_mean(1.0, 1 / 39.999), folded_normal_mean(1.0, 1 / 40.001)
    assert below == pytest.approx(1.0, rel=1e-15) and above == 1.0


# --- 16. linearity_sweep and linearity_ratio ------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: linearity_sweep([2], eps=0.1, w_mean=np.nan, w_std=1.0), ValueError, "w_mean"),
        (lambda: linearity_sweep([2], eps=0.1, w_mean="0", w_std=1.0), TypeError, "w_mean"),
        (lambda: linearity_sweep([2], eps=0.1, w_mean=0.0, w_std=-1.0), ValueError, "w_std"),
        (lambda: linearity_sweep(5, eps=0.1, w_mean=0.0, w_std=1.0), TypeError, "dims"),
        # w = 0 in every trial: named by w_mean and w_std, not as an internal linearity_ratio
        (lambda: linearity_sweep([2], eps=0.1, w_mean=0.0, w_std=0.0), ValueError,
         "w_mean = 0 and w_std = 0 make every w zero"),
        # draws of N(1e308, 1e308²) overflow: named, not "w contains infinite values" (n = 4)
        # nor a clean_activation of inf with a RuntimeWarning (n = 1)
        (lambda: linearity_sweep([4], eps=0.1, w_mean=1e308, w_std=1e308), ValueError,
         "w_mean=1e.308 and w_std=1e.308 are too large"),
        (lambda: linearity_sweep([1], eps=0.1, w_mean=1e308, w_std=1e308), ValueError,
         "w_mean=1e.308 and w_std=1e.308 are too large"),
        (lambda: linearity_ratio(np.array([1.0, -1.0]), np.array([[1.0, 1.0]]), eps=0.0),
         ValueError, "0/0"),
        # n = 0 features: ||w||_1 = w·x = 0, the documented 0/0 (was NumPy's "zero-size array
        # to reduction operation maximum which has no identity")
        (lambda: linearity_ratio(np.ones(0), np.ones((2, 0)), eps=0.1), ValueError,
         r"0/0 for sample\(s\) \[0, 1\]"),
    ],
)
def test_linearity_functions_name_the_bad_argument(call, error, match):
    raises(call, error, match)


@pytest.mark.parametrize(
    "w, x, expected",
    [
        (np.array([1e300, 1.0]), np.ones((1, 2), np.float32), 0.1),       # w beyond float32
        (np.array([1e308, 1e308]), np.ones((1, 2)), 0.1),                 # ||w||_1 beyond float64
        (np.full(2, 1e-30, np.float32), np.full((1, 2), 1e-20, np.float32), 1e19),  # w·x = 2e-50
        (np.array([[1e300, 1.0], [1.0, 2.0]]), np.array([[1.0, 1.0], [0.0, 0.0]], np.float32),
         [0.1, np.inf]),                                                   # w·x = 0: inf
    ],
)
def test_linearity_ratio_of_weights_beyond_or_below_the_dtype(w, x, expected):
    """ε·||w||_1/|w·x| (ε = 0.1) is computed where x's dtype would cast w to inf (NaN before),
    overflow ||w||_1 or underflow w·x to 0 (a spurious inf): the exact ratio, in x's dtype."""
    ratio = linearity_ratio(w, x, eps=0.1)
    assert ratio.dtype == x.dtype
    np.testing.assert_allclose(ratio, expected, rtol=1e-6)


def test_linearity_ratio_beyond_the_dtype_is_refused():
    """ε·||w||_1/|w·x| = 1e38·2/2e-5 = 1e43 does not fit in float32: refused naming eps."""
    raises(lambda: linearity_ratio(np.ones(2, np.float32), np.full((1, 2), 1e-5, np.float32),
                                   eps=1e38),
           ValueError, r"would not be finite in float32 for sample\(s\) \[0\].*eps = 1e\+38")


# --- 17. tilt_boundary ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "b, angle, error, match",
    [
        (0.0, np.nan, ValueError, "angle must be finite"),
        (0.0, None, TypeError, "angle must be a real number"),
        (0.0, "0.5", TypeError, "angle must be a real number"),
        (0.0, np.array([0.1, 0.2]), TypeError, "angle must be a real number"),
        (np.nan, 0.1, ValueError, "b must be finite"),
        (None, 0.1, TypeError, "b must be a real number"),
        ("0.5", 0.1, TypeError, "b must be a real number"),
        (np.ones(2), 0.1, ValueError, "b must be a scalar"),
    ],
)
def test_tilt_boundary_requires_finite_real_angle_and_bias(b, angle, error, match):
    raises(lambda: tilt_boundary(np.array([1.0, 0.0]), b, np.array([0.0, 1.0]), angle),
           error, match)


# --- 18. accuracy_and_distance, tilting_sweep, weight_decay_tilt ----------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: accuracy_and_distance(W3, 0.0, X42, Y4), ValueError, "one weight per feature"),
        (lambda: accuracy_and_distance(np.array([1.0, 0.0]), np.array([10.0, -10.0, 10.0, -10.0]),
                                       X42, Y4), ValueError, "b must be a scalar"),
        (lambda: accuracy_and_distance(np.ones(2), "0", X42, Y4), TypeError, "b must be a real"),
        (lambda: accuracy_and_distance(np.ones(2), 0.0, np.zeros((0, 2)), NO_LABELS),
         ValueError, "x holds no samples"),
        (lambda: tilting_sweep(np.array([1.0, 0.0]), 0.0, np.array([0.0, 1.0]), 0.5, X42, Y4),
         TypeError, "angles"),
        (lambda: tilting_sweep(np.array([1.0, 0.0]), 0.0, np.array([0.0, 1.0]), ["0.5"], X42, Y4),
         TypeError, "each of angles"),
        (lambda: weight_decay_tilt(X42, Y4, 0.5), TypeError, "weight_decays"),
        (lambda: weight_decay_tilt(X42, Y4, [0.1, -1.0]), ValueError, "each of weight_decays"),
    ],
)
def test_tilting_functions_name_the_bad_argument(call, error, match):
    raises(call, error, match)


@pytest.mark.parametrize("kwargs", [dict(spread=1e308), dict(off_manifold_noise=1e308),
                                    dict(separation=1.7e308, spread=1e308)])
def test_submanifold_data_refuses_scales_that_overflow(kwargs):
    """Scales whose data overflow float64 (inf, or NaN from inf − inf in the projection of the
    noise) are refused by name; separation = 1e308 alone still gives finite data (|x| <= 5e307)."""
    raises(lambda: submanifold_data(100, 10, **kwargs), ValueError,
           "separation=.*spread=.*off_manifold_noise=.* are too large: .* float64")
    assert np.all(np.isfinite(submanifold_data(100, 10, separation=1e308)[0]))


@pytest.mark.parametrize("call, match", [
    (lambda: submanifold_data(2 ** 62, 10), r"n_samples=4611686018427387904, dim=10: the data "
                                            r"would have shape \(4611686018427387904, 10\)"),
    (lambda: submanifold_data(10, 2 ** 62), r"n_samples=10, dim=4611686018427387904: the data"),
    (lambda: submanifold_data(10 ** 30, 10), r"n_samples must be < 2\*\*63"),
    (lambda: linearity_sweep([4], eps=0.1, w_mean=1.0, w_std=1.0, trials=2 ** 62),
     r"trials=4611686018427387904 units of n=4 inputs: the weights would have shape"),
    (lambda: linearity_sweep([4, 2 ** 62], eps=0.1, w_mean=1.0, w_std=1.0),
     r"trials=200 units of n=4611686018427387904 inputs: the weights"),
    (lambda: linearity_sweep([10 ** 30], eps=0.1, w_mean=1.0, w_std=1.0),
     r"each of dims must be < 2\*\*63"),
])
def test_sizes_no_array_can_hold_are_refused_by_name(call, match):
    """Before: NumPy's "array is too big" (or a Numba/NumPy error beyond int64), naming nothing;
    now before anything is drawn."""
    raises(call, ValueError, match)


def test_tilting_sweep_with_no_angles_gives_empty_arrays():
    """No angles: empty results, but the other arguments are still checked."""
    accuracy, distance = tilting_sweep(np.array([1.0, 0.0]), 0.0, np.array([0.0, 1.0]), [], X42, Y4)
    assert accuracy.shape == distance.shape == (0,)
    with pytest.raises(ValueError, match="x contains NaN"):
        tilting_sweep(np.array([1.0, 0.0]), 0.0, np.array([0.0, 1.0]), [], X42 * np.nan, Y4)


# --- 19. plots ------------------------------------------------------------------------------------

IMG = np.full((2, 1, 4, 4), 0.5)
WEIGHTS = np.linspace(-1.0, 1.0, 9).reshape(3, 3)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: image_grid([]), ValueError, "rows is empty"),
        (lambda: image_grid(IMG[0]), ValueError, "rows\\[0\\] must have 4 dimensions"),
        (lambda: image_grid([IMG[:1], IMG]), ValueError, "same number M"),
        (lambda: image_grid([IMG, IMG[:1]]), ValueError, "same number M"),
        (lambda: image_grid([IMG[:0]]), ValueError, "holds no images"),
        (lambda: image_grid([IMG, IMG], captions=[["a", "b"]]), ValueError, "one list per row"),
        (lambda: image_grid([IMG], captions=[["a"]]), ValueError, "captions\\[0\\] must hold 2"),
        (lambda: image_grid([IMG], captions=[["a", "b", "c"]]), ValueError, "must hold 2"),
        (lambda: image_grid([IMG], captions="ab"), TypeError, "captions must be a list"),
        (lambda: image_grid([IMG], captions=["ab"]), TypeError, "captions\\[0\\] must be a list"),
        (lambda: image_grid([IMG], captions=[[1, 2]]), TypeError, "must hold strings"),
        (lambda: image_grid([IMG, IMG], row_titles=["a"]), ValueError, "row_titles must hold 2"),
        (lambda: image_grid([IMG], row_titles=["a", "b"]), ValueError, "row_titles must hold 1"),
        (lambda: image_grid([IMG], row_titles="a"), TypeError, "row_titles must be a list"),
        (lambda: image_grid([IMG * np.nan]), ValueError, "NaN"),
        (lambda: image_grid([(IMG * 255).astype(np.uint8)]), TypeError, "/ 255"),
        (lambda: image_grid([np.zeros((2, 2, 4, 4))]), ValueError, "C = 1 or 3"),
        (lambda: image_grid([IMG], cell_size=0), ValueError, "cell_size"),
        (lambda: image_grid([IMG], cell_size=1e308), ValueError, "cell_size=1e\\+308 inches for 1 × 2 cells"),
        (lambda: image_grid([IMG], cell_size=1e5), ValueError, "at most 10,000 a side"),
        (lambda: signed_image_grid([WEIGHTS], cell_size=2e4), ValueError, "cell_size=20000 inches"),
        (lambda: signed_image_grid([]), ValueError, "images is empty"),
        (lambda: signed_image_grid([WEIGHTS], ncols=0), ValueError, "ncols"),
        (lambda: signed_image_grid([WEIGHTS], ncols=-1), ValueError, "ncols"),
        (lambda: signed_image_grid([WEIGHTS], ncols=1.5), TypeError, "ncols"),
        (lambda: signed_image_grid([WEIGHTS, WEIGHTS], titles=["a"]), ValueError, "titles"),
        (lambda: signed_image_grid([WEIGHTS, WEIGHTS], titles="ab"), TypeError, "titles"),
        (lambda: signed_image_grid([WEIGHTS * np.nan]), ValueError, "NaN"),
        (lambda: signed_image_grid([WEIGHTS[None]]), ValueError, "2 dimensions"),
        (lambda: signed_image_grid(WEIGHTS), ValueError, "for a single image pass \\[w\\]"),
        (lambda: to_displayable(np.zeros((4, 5, 3))), ValueError, "C = 1 or 3"),
        (lambda: to_displayable(np.zeros((1, 0, 3))), ValueError, "empty"),
    ],
)
def test_plots_refuse_bad_input(call, error, match):
    """Empty or ragged grids, too few or too many captions and titles, a string where a list
    belongs, NaN or 0..255 pixels, a bad ncols and images of the wrong shape are refused before
    anything is drawn."""
    try:
        raises(call, error, match)
    finally:
        plt.close("all")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: image_grid([np.zeros((2, 2, 4, 4))]), "C = 1 or 3"),
        (lambda: image_grid([IMG, np.zeros((2, 1, 0, 4))]), "empty"),
        (lambda: signed_image_grid([WEIGHTS, np.array([[1e308, -1e308]])]), "too large"),
        (lambda: signed_image_grid([WEIGHTS], cmap="no such map"), "cmap"),
    ],
)
def test_plots_leave_no_figure_open_when_they_refuse(call, match):
    """A refused image (found cell by cell, or by matplotlib itself: an unknown colour map) left
    the figure already opened in pyplot's list, where the caller, who never got it, could not
    close it: 100 such calls kept 100 figures."""
    plt.close("all")
    for _ in range(3):
        with pytest.raises(ValueError, match=match):
            call()
    assert plt.get_fignums() == []


def test_plots_draw_the_documented_shapes():
    """(H, W) and (C, H, W) images, C = 1 or 3, display; valid grids are drawn."""
    assert to_displayable(np.zeros((4, 5))).shape == (4, 5)
    assert to_displayable(np.zeros((1, 4, 5))).shape == (4, 5)
    assert to_displayable(np.full((3, 4, 5), 2.0)).max() == 1.0
    figures = [
        image_grid([IMG, IMG], captions=[["a", "b"], ("c", "d")], row_titles=["x", "y"]),
        signed_image_grid([WEIGHTS, np.arange(9).reshape(3, 3)], titles=["w", "v"], ncols=5),
    ]
    assert [len(f.axes) for f in figures] == [4, 4]                   # 2 images + 2 colour bars
    plt.close("all")


# --- 27. theory functions are seeded by default ---------------------------------------------------

SEEDED = [
    (submanifold_data, lambda **kw: submanifold_data(12, 5, **kw)[0]),
    (linearity_sweep, lambda **kw: linearity_sweep([3, 9], eps=0.1, w_mean=0.2, w_std=1.0,
                                                   trials=5, **kw)["ratio"]),
    (fit_logistic_regression, lambda **kw: fit_logistic_regression(X42, Y4, steps=2, **kw)[0]),
    (weight_decay_tilt, lambda **kw: weight_decay_tilt(X42, Y4, [0.0], steps=0, **kw)[0]),
]


@pytest.mark.parametrize("function, call", SEEDED, ids=[f.__name__ for f, _ in SEEDED])
def test_theory_functions_default_to_seed_zero(function, call):
    """Without a seed, two calls agree and equal seed=0 (not fresh OS entropy each time)."""
    assert inspect.signature(function).parameters["seed"].default == 0
    np.testing.assert_array_equal(call(), call())
    np.testing.assert_array_equal(call(), call(seed=0))


def test_ranges_and_0d_arrays_are_sequences_and_numbers_too():
    assert linearity_sweep(range(10, 30, 10), eps=0.1, w_mean=0.1, w_std=1.0, trials=3)["ratio"].shape == (2,)
    w_tilted, _ = tilt_boundary(np.array([1.0, 0.0]), 0.0, np.array([0.0, 5.0]), np.array(0.3))
    np.testing.assert_allclose(w_tilted, [np.cos(0.3), np.sin(0.3)])
