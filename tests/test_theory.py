"""Property tests for tinyadv.theory: each test's name and docstring state the claim it checks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinyadv.gradcheck import numerical_gradient
from tinyadv.theory import (
    accuracy_and_distance,
    activation_change,
    adversarial_logistic_loss,
    deviation_angle,
    dual_direction,
    dual_norm,
    fit_logistic_regression,
    folded_normal_mean,
    linear_scores,
    linearity_ratio,
    linearity_sweep,
    logistic_loss,
    minimal_linear_distance,
    minimal_linear_perturbation,
    nearest_centroid,
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

NORMS = [1, 2, np.inf]
finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


@st.composite
def affine_problems(draw):
    """Draw (w, b, x): D in [1, 12] features, N in [1, 6] samples, w not all zero."""
    d = draw(st.integers(1, 12))
    n = draw(st.integers(1, 6))
    w = draw(arrays(np.float64, d, elements=finite).filter(lambda v: np.abs(v).max() > 1e-3))
    b = draw(finite)
    x = draw(arrays(np.float64, (n, d), elements=finite))
    return w, b, x


def random_directions(rng, shape, norm):
    """Unit-L_p rows of three kinds (Gaussian, sign vectors, one-hot): the extremes of each ball."""
    n, d = shape
    kind = rng.integers(0, 3, size=n)
    gauss = rng.standard_normal((n, d))
    signs = rng.choice([-1.0, 1.0], size=(n, d))
    onehot = np.zeros((n, d))
    onehot[np.arange(n), rng.integers(0, d, size=n)] = rng.choice([-1.0, 1.0], size=n)
    r = np.where(kind[:, None] == 0, gauss, np.where(kind[:, None] == 1, signs, onehot))
    r[np.all(r == 0, axis=1), 0] = 1.0
    return r / np.linalg.norm(r, ord=norm, axis=1, keepdims=True)


# Entries 0 or of magnitude in [0.01, 3]: times 2**k they stay exact and normal in the dtype for
# every k in SCALE_EXPONENTS (float32 keeps 24 bits from 2**-126 to 2**128).
nonzero_scalable = st.one_of(st.floats(0.01, 3.0), st.floats(-3.0, -0.01))
scalable = st.one_of(st.just(0.0), nonzero_scalable)
SCALE_EXPONENTS = {np.float64: st.integers(-1000, 1000), np.float32: st.integers(-115, 120)}


@st.composite
def scaled_pairs(draw, size=st.integers(1, 8)):
    """Draw (dtype, w, v, k, j): two non-zero vectors of one dtype and length, and exponents of
    powers of two to scale them by (exactly) over the whole range of the dtype."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n = draw(size)
    w, v = (draw(arrays(dtype, n, elements=scalable).filter(np.any)) for _ in range(2))
    return dtype, w, v, draw(SCALE_EXPONENTS[dtype]), draw(SCALE_EXPONENTS[dtype])


# --- the exact minimal perturbation of a linear classifier ---------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@given(problem=affine_problems())
def test_minimal_perturbation_lands_on_the_boundary(norm, problem):
    """w·(x + δ) + b = 0 for the minimal δ, in L1, L2 and L∞."""
    w, b, x = problem
    delta = minimal_linear_perturbation(w, b, x, norm)
    scale = np.abs(x) @ np.abs(w) + abs(b) + 1.0
    np.testing.assert_allclose(linear_scores(w, b, x + delta) / scale, 0.0, atol=1e-12)


@pytest.mark.parametrize("norm", NORMS)
@given(problem=affine_problems())
def test_minimal_perturbation_norm_equals_the_distance(norm, problem):
    """||δ||_p equals |w·x + b| / ||w||_q (q the dual norm), in L1, L2 and L∞."""
    w, b, x = problem
    delta = minimal_linear_perturbation(w, b, x, norm)
    distance = minimal_linear_distance(w, b, x, norm)
    expected = np.abs(x @ w + b) / np.linalg.norm(w, ord=dual_norm(norm))
    np.testing.assert_allclose(distance, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(delta, ord=norm, axis=1), distance,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("norm", NORMS)
@given(problem=affine_problems(), seed=st.integers(0, 2**32 - 1))
def test_no_perturbation_smaller_than_the_distance_crosses(norm, problem, seed):
    """Random perturbations with ||r||_p < distance never change the sign of w·x + b."""
    w, b, x = problem
    rng = np.random.default_rng(seed)
    f = linear_scores(w, b, x)
    distance = minimal_linear_distance(w, b, x, norm)
    radius = distance * (1.0 - 1e-6) * rng.uniform(0.0, 1.0, size=len(x)) ** 0.1
    for _ in range(20):
        r = radius[:, None] * random_directions(rng, x.shape, norm)
        moved = linear_scores(w, b, x + r)
        clear = np.abs(f) > 1e-6
        assert np.all(np.sign(moved[clear]) == np.sign(f[clear]))


@pytest.mark.parametrize("norm", NORMS)
@given(problem=affine_problems())
def test_overshoot_crosses_the_boundary(norm, problem):
    """(1 + overshoot)·δ with overshoot > 0 flips the sign of w·x + b (DeepFool's overshoot)."""
    w, b, x = problem
    f = linear_scores(w, b, x)
    moved = linear_scores(w, b, x + minimal_linear_perturbation(w, b, x, norm, overshoot=0.02))
    clear = np.abs(f) > 1e-6
    assert np.all(np.sign(moved[clear]) == -np.sign(f[clear]))


def test_minimal_perturbation_closed_forms_per_norm():
    """δ is −f·w/||w||² (L2), −f·sign(w)/||w||_1 (L∞), and −f/w_i on the largest |w_i| (L1)."""
    w = np.array([1.0, -3.0, 2.0])
    b = 0.5
    x = np.array([[1.0, 1.0, 1.0]])          # f = 1 - 3 + 2 + 0.5 = 0.5
    np.testing.assert_allclose(minimal_linear_perturbation(w, b, x, 2), [-0.5 * w / 14.0])
    np.testing.assert_allclose(minimal_linear_perturbation(w, b, x, np.inf),
                               [-0.5 * np.sign(w) / 6.0])
    np.testing.assert_allclose(minimal_linear_perturbation(w, b, x, 1), [[0.0, 0.5 / 3.0, 0.0]])


def test_l1_perturbation_splits_ties_evenly():
    """With two coordinates of largest |w_i| the L1 step puts half the mass on each."""
    w = np.array([2.0, -2.0, 1.0])
    x = np.array([[1.0, 0.0, 0.0]])          # f = 2
    delta = minimal_linear_perturbation(w, 0.0, x, 1)
    np.testing.assert_allclose(delta, [[-0.5, 0.5, 0.0]])
    assert np.sum(np.abs(delta)) == pytest.approx(1.0)   # = |f| / ||w||_inf


def test_images_and_any_weight_shape_give_the_same_perturbation():
    """x of shape (N, C, H, W) with w shaped (C, H, W), (D,) or (1, D) gives one and the same δ."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 2, 4, 4))
    w = rng.standard_normal((2, 4, 4))
    for norm in NORMS:
        delta = minimal_linear_perturbation(w, np.array([0.1]), x, norm)
        assert delta.shape == x.shape
        for other in (w.reshape(-1), w.reshape(1, -1)):
            np.testing.assert_array_equal(minimal_linear_perturbation(other, 0.1, x, norm), delta)


@pytest.mark.parametrize("norm", NORMS)
def test_float32_in_float32_out(norm):
    """The dtype of x is kept: float32 in, float32 out, and still on the boundary."""
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(5, 10)).astype(np.float32)
    w = rng.standard_normal(10)
    delta = minimal_linear_perturbation(w, 0.2, x, norm)
    assert delta.dtype == np.float32
    assert minimal_linear_distance(w, 0.2, x, norm).dtype == np.float32
    np.testing.assert_allclose(linear_scores(w, 0.2, x + delta), 0.0, atol=1e-5)


def test_point_on_the_boundary_needs_no_perturbation():
    """A point with w·x + b = 0 is at distance 0 and its δ is 0."""
    w = np.array([1.0, -1.0])
    x = np.array([[2.0, 2.0]])
    for norm in NORMS:
        assert minimal_linear_distance(w, 0.0, x, norm)[0] == 0.0
        np.testing.assert_array_equal(minimal_linear_perturbation(w, 0.0, x, norm), 0.0)


@pytest.mark.parametrize("norm", NORMS)
def test_dual_direction_attains_hoelder_equality(norm):
    """||u||_p = 1 and w·u = ||w||_q: the direction that reaches Hölder's bound."""
    w = np.random.default_rng(2).standard_normal(7)
    u = dual_direction(w, norm)
    assert np.linalg.norm(u, ord=norm) == pytest.approx(1.0)
    assert w @ u == pytest.approx(np.linalg.norm(w, ord=dual_norm(norm)))


X23 = np.ones((2, 3))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: minimal_linear_distance(np.ones(3), 0.0, X23, 3), ValueError, "norm"),
        (lambda: minimal_linear_distance(np.ones(4), 0.0, X23, 2), ValueError, "feature"),
        (lambda: minimal_linear_distance(np.zeros(3), 0.0, X23, 2), ValueError, "zero"),
        (lambda: minimal_linear_distance(np.ones(3), 0.0, X23.astype(int), 2), TypeError, "float"),
        (lambda: minimal_linear_distance(np.ones(3), 0.0, np.ones(3), 2), ValueError, "dimensions"),
        (lambda: minimal_linear_distance(np.ones(3), np.ones(2), X23, 2), ValueError, "b "),
        (lambda: minimal_linear_distance(np.ones(3), 0.0, X23 * np.nan, 2), ValueError, "NaN"),
        (lambda: minimal_linear_perturbation(np.ones(3), 0.0, np.ones((2, 3)), 2, overshoot=-1),
         ValueError, "overshoot"),
        (lambda: worst_case_linear_perturbation(np.ones(3), np.ones((2, 3)), np.array([0, 1]),
                                                eps=0.1, norm=2),
         ValueError, "-1 or \\+1"),
        (lambda: worst_case_margin(np.ones(3), 0.0, np.ones((2, 3)), np.array([1, -1]), eps=-0.1),
         ValueError, "eps"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, error, match):
    """Unknown norm, wrong w size, zero w, integer or 1-D or NaN x, bad b, negative overshoot or
    eps, and labels outside {−1, +1} each raise an error that names the problem."""
    with pytest.raises(error, match=match):
        call()


# --- worst case inside an eps-ball; weight decay scales, adversarial training translates ----------


@pytest.mark.parametrize("norm", NORMS)
@given(problem=affine_problems(), eps=st.floats(0.0, 2.0), seed=st.integers(0, 2**32 - 1))
def test_worst_case_perturbation_lowers_the_margin_by_eps_times_dual_norm(norm, problem, eps, seed):
    """η = −ε·y·u_p has ||η||_p = ε, lowers y·f by exactly ε·||w||_q = ||w||_q·(y·d_p − ε), and no
    random η of the ε-ball lowers it more."""
    w, b, x = problem
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], size=len(x))
    eta = worst_case_linear_perturbation(w, x, y, eps=eps, norm=norm)
    np.testing.assert_allclose(np.linalg.norm(eta, ord=norm, axis=1), eps, atol=1e-12)
    margin = y * linear_scores(w, b, x + eta)
    w_q = np.linalg.norm(w, ord=dual_norm(norm))
    np.testing.assert_allclose(margin, y * linear_scores(w, b, x) - eps * w_q, atol=1e-9)
    np.testing.assert_allclose(worst_case_margin(w, b, x, y, eps=eps, norm=norm), margin, atol=1e-9)
    for _ in range(10):
        r = eps * rng.uniform(size=(len(x), 1)) * random_directions(rng, x.shape, norm)
        assert np.all(y * linear_scores(w, b, x + r) >= margin - 1e-9)


@given(problem=affine_problems(), eps=st.floats(0.0, 2.0), seed=st.integers(0, 2**32 - 1))
def test_adversarial_training_translates_the_distance_by_eps(problem, eps, seed):
    """REFERENCES §7 (b = 0): y·wᵀ(x − ε·y·w/||w||) = ||w||·(y·d(x) − ε), d(x) = wᵀx/||w||."""
    w, _, x = problem
    y = np.random.default_rng(seed).choice([-1, 1], size=len(x))
    w_norm = np.linalg.norm(w)
    left = y * ((x - eps * y[:, None] * w / w_norm) @ w)
    right = w_norm * (y * signed_distance(w, 0.0, x) - eps)
    np.testing.assert_allclose(left, right, atol=1e-9)


@given(problem=affine_problems(), c=st.floats(1e-3, 1e3))
def test_weight_decay_scales_the_score_but_not_the_distance(problem, c):
    """wᵀx + b = ||w||·d(x), and scaling (w, b) by c > 0 multiplies the score by c and leaves every
    distance d_p unchanged: shrinking ||w|| cannot by itself move the boundary."""
    w, b, x = problem
    np.testing.assert_allclose(linear_scores(w, b, x),
                               np.linalg.norm(w) * signed_distance(w, b, x), atol=1e-9)
    for norm in NORMS:
        np.testing.assert_allclose(signed_distance(c * w, c * b, x, norm),
                                   signed_distance(w, b, x, norm), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(minimal_linear_distance(c * w, c * b, x, norm),
                                   minimal_linear_distance(w, b, x, norm), rtol=1e-9, atol=1e-9)


# eps = m·10^k over the whole float64 range, from 1e-300 to beyond float32's and float64's maxima
eps_over_scales = st.builds(lambda m, k: m * 10.0**k, st.floats(1.0, 1.7), st.integers(-300, 307))


def fits_or_refused(call, largest, dtype, rtol):
    """Return ``call()`` when |result| ``largest`` (computed in float64) is well inside the range
    of ``dtype``; check it raises the ValueError naming eps and the dtype when it is well beyond
    (and return None); in between, either is right."""
    top = float(np.finfo(dtype).max)
    if largest > top * (1 + 10 * rtol):
        refusal = rf"eps=.* is too large: .* not be finite in {dtype.__name__}"
        with pytest.raises(ValueError, match=refusal):
            call()
        return None
    if largest < top * (1 - 10 * rtol):
        result = call()
        assert result.dtype == dtype and np.all(np.isfinite(result))
        return result
    return None


@pytest.mark.parametrize("norm", NORMS)
@given(problem=affine_problems(), eps=eps_over_scales,
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_worst_case_results_are_exact_or_refuse_an_eps_beyond_the_dtype(norm, problem, eps, dtype,
                                                                         seed):
    """For ε over the whole float64 range, η = −ε·y·u_p, the margin y·f(x) − ε·||w||_q and the loss
    ζ(−y·f(x) + ε·||w||_q) are returned (finite, in x's dtype) while they fit in it, and refused
    with a ValueError naming eps and the dtype once they do not (not returned as ±inf)."""
    w, b, x = problem
    x = x.astype(dtype)
    x64 = x.astype(np.float64)
    y = np.random.default_rng(seed).choice([-1, 1], size=len(x))
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    tiny = np.finfo(dtype).tiny                     # below it, the dtype's subnormals round
    u = dual_direction(w, norm)
    with np.errstate(over="ignore"):
        penalty = eps * np.linalg.norm(w, ord=dual_norm(norm))
    clean = y * (x64 @ w + b)

    eta = fits_or_refused(lambda: worst_case_linear_perturbation(w, x, y, eps=eps, norm=norm),
                          eps * np.abs(u).max(), dtype, rtol)
    if eta is not None:
        np.testing.assert_allclose(eta, -eps * y[:, None] * u[None, :], rtol=rtol, atol=tiny)
    with np.errstate(over="ignore"):
        largest_margin = np.abs(clean - penalty).max()
    margin = fits_or_refused(lambda: worst_case_margin(w, b, x, y, eps=eps, norm=norm),
                             largest_margin, dtype, rtol)
    if margin is not None:
        np.testing.assert_allclose(margin, clean - penalty, rtol=rtol,
                                   atol=rtol * (np.abs(clean).max() + penalty) + tiny)
    with np.errstate(over="ignore"):
        z = penalty - clean
    loss = fits_or_refused(lambda: adversarial_logistic_loss(w, b, x, y, eps=eps, norm=norm),
                           z.max(), dtype, rtol)
    if loss is not None:
        np.testing.assert_allclose(loss, np.logaddexp(0.0, z), rtol=rtol,
                                   atol=rtol * (np.abs(clean).max() + penalty) + tiny)


# --- Goodfellow et al. 2015: the activation change eps*m*n ----------------------------------------


@given(w=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 300)), elements=finite),
       eps=st.floats(0.0, 1.0))
def test_sign_perturbation_changes_the_activation_by_exactly_eps_m_n(w, eps):
    """For η = ε·sign(w): ||η||_∞ ≤ ε and w·η = ε·||w||_1 = ε·m·n, m = mean |w_j|, for each unit."""
    eta = sign_perturbation(w, eps=eps)
    assert np.all(np.abs(eta) <= eps)
    change = activation_change(w, eps=eps)
    n = w.shape[1]
    np.testing.assert_allclose(change, np.sum(w * eta, axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(change, eps * np.mean(np.abs(w), axis=1) * n, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(change, eps * np.linalg.norm(w, ord=1, axis=1), rtol=1e-12,
                               atol=1e-12)


@given(w=arrays(np.float64, st.integers(1, 50), elements=finite), eps=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32 - 1))
def test_sign_perturbation_is_the_largest_change_in_the_linf_ball(w, eps, seed):
    """No η with ||η||_∞ ≤ ε changes w·x more than ε·sign(w) does."""
    rng = np.random.default_rng(seed)
    eta = eps * rng.uniform(-1.0, 1.0, size=(100, w.size))
    eta[:50] = eps * rng.choice([-1.0, 1.0], size=(50, w.size))    # the corners of the ball
    assert np.all(eta @ w <= activation_change(w, eps=eps) + 1e-12)


@st.composite
def weights_of_either_dtype(draw):
    """One unit's weights (n,) or M units' (M, n), float32 or float64, entries in [-3, 3]."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(st.tuples(st.integers(1, 50)) | st.tuples(st.integers(1, 4), st.integers(1, 50)))
    return draw(arrays(dtype, shape, elements=finite))


@given(w=weights_of_either_dtype(), eps=eps_over_scales)
def test_sign_perturbation_and_change_are_exact_or_refuse_an_eps_beyond_the_dtype(w, eps):
    """For ε over the whole float64 range, ε·sign(w) and the change ε·||w||_1 (made by that η,
    so refused as well when η is) are returned (finite, in w's dtype) while they fit in it, and
    refused with a ValueError naming eps and the dtype once they do not (not returned as ±inf,
    nor as NaN where w_j = 0)."""
    dtype = w.dtype.type
    rtol = 1e-5 if dtype == np.float32 else 1e-12       # a float32 sum of up to 50 terms
    w64 = w.astype(np.float64)
    l1 = np.abs(w64).sum(axis=-1)
    atol = np.finfo(dtype).tiny * (1.0 + l1.max())       # ε·sign(w) subnormal in the dtype
    largest_eta = eps if np.any(w) else 0.0
    eta = fits_or_refused(lambda: sign_perturbation(w, eps=eps), largest_eta, dtype, rtol)
    if eta is not None:
        np.testing.assert_allclose(eta, eps * np.sign(w64), rtol=rtol, atol=atol)
    with np.errstate(over="ignore"):
        largest_change = max(largest_eta, eps * l1.max())
    change = fits_or_refused(lambda: activation_change(w, eps=eps), largest_change, dtype, rtol)
    if change is not None:
        np.testing.assert_allclose(change, eps * l1, rtol=rtol, atol=atol)


@settings(max_examples=10)
@given(w_mean=st.floats(-1.0, 1.0), w_std=st.floats(0.1, 1.0), eps=st.floats(0.01, 0.5),
       seed=st.integers(0, 2**32 - 1))
def test_expected_activation_change_grows_linearly_in_n(w_mean, w_std, eps, seed):
    """With w_j drawn from one fixed distribution, the mean of ε·||w||_1 is ε·E|w_j|·n: the
    change per dimension is the same at n = 50 and at n = 3200 (a 64-fold larger change)."""
    sweep = linearity_sweep([50, 200, 800, 3200], eps=eps, w_mean=w_mean, w_std=w_std,
                            trials=100, seed=seed)
    per_dimension = sweep["activation_change"] / sweep["n"]
    np.testing.assert_allclose(per_dimension, eps * folded_normal_mean(w_mean, w_std), rtol=0.1)
    np.testing.assert_allclose(sweep["expected_change"], eps * folded_normal_mean(w_mean, w_std)
                               * sweep["n"])


def test_folded_normal_mean_matches_sampling():
    """E|w| for w ~ N(μ, σ²) from the closed form agrees with a large sample."""
    rng = np.random.default_rng(3)
    for mean, std in [(0.0, 1.0), (0.5, 0.5), (-2.0, 0.3), (1.0, 0.0)]:
        sample = np.abs(rng.normal(mean, std, size=400_000)).mean()
        assert folded_normal_mean(mean, std) == pytest.approx(sample, rel=1e-2, abs=1e-3)


# --- Tanay & Griffin 2016: w.x grows with n too --------------------------------------------------


@settings(max_examples=10)
@given(w_mean=st.floats(0.3, 1.0), std_fraction=st.floats(0.1, 1.0), eps=st.floats(0.01, 0.5),
       seed=st.integers(0, 2**32 - 1))
def test_linearity_ratio_does_not_grow_with_n_when_distributions_are_fixed(
        w_mean, std_fraction, eps, seed):
    """When w and x keep their per-coordinate distributions (E[w_j x_j] ≠ 0), ε·||w||_1/|w·x|
    stays at ε·E|w_j|/|E[w_j x_j]| from n = 200 to n = 3200 while ε·||w||_1 grows 16-fold."""
    sweep = linearity_sweep([200, 800, 3200], eps=eps, w_mean=w_mean, w_std=std_fraction * w_mean,
                            trials=100, seed=seed)
    np.testing.assert_allclose(sweep["ratio"], sweep["ratio_limit"], rtol=0.1)
    for grows in (sweep["activation_change"], sweep["clean_activation"]):
        assert grows[-1] / grows[0] == pytest.approx(16, rel=0.1)


@settings(max_examples=10)
@given(w_std=st.floats(0.1, 1.0), seed=st.integers(0, 2**32 - 1))
def test_linearity_ratio_grows_like_sqrt_n_when_w_is_unrelated_to_x(w_std, seed):
    """The ratio is flat only because w·x grows like n: with E[w_j x_j] = 0 (w_mean = 0) |w·x| is
    of order √n and the ratio grows like √n (×4 from n = 200 to 3200) — the case Goodfellow et
    al.'s argument describes. Over seeds 0-2999 the growth ranged 3.04-5.63 (median 4.01, the
    upper tail longer: 3.0-5.3 failed for seed 1798), so the bounds are 4 ×/÷ 1.75, still far from
    flat (1) and from linear growth (16)."""
    sweep = linearity_sweep([200, 3200], eps=0.1, w_mean=0.0, w_std=w_std, trials=400, seed=seed)
    assert 4 / 1.75 < sweep["ratio"][1] / sweep["ratio"][0] < 4 * 1.75
    assert sweep["ratio_limit"] == np.inf


def test_linearity_ratio_shapes_and_errors():
    """One w for all inputs or one per input; mismatched shapes are refused."""
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(5, 8))
    w = rng.standard_normal(8)
    ratio = linearity_ratio(w, x, eps=0.1)
    np.testing.assert_allclose(ratio, linearity_ratio(np.tile(w, (5, 1)), x, eps=0.1))
    np.testing.assert_allclose(ratio, 0.1 * np.abs(w).sum() / np.abs(x @ w))
    with pytest.raises(ValueError, match="shape"):
        linearity_ratio(np.ones(7), x, eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        linearity_ratio(w, x, eps=-0.1)
    with pytest.raises(ValueError, match="trials"):
        linearity_sweep([10], eps=0.1, w_mean=0.0, w_std=1.0, trials=0)


@st.composite
def ratio_problems(draw):
    """Draw (w, x, eps, k, j): x (N, n) float32 or float64, w (n,) or (N, n) float32 or float64
    (float64 w with float32 x may lie beyond float32) with no zero entry, and exponents k, j of
    exact scales 2^k of w and 2^j of x over the whole range of their dtype."""
    x_dtype, w_dtype = draw(st.sampled_from([np.float64, np.float32])), draw(
        st.sampled_from([np.float64, np.float32]))
    n_samples, n = draw(st.integers(1, 4)), draw(st.integers(1, 8))
    w_shape = draw(st.sampled_from([(n,), (n_samples, n)]))
    w = draw(arrays(w_dtype, w_shape, elements=nonzero_scalable))
    x = draw(arrays(x_dtype, (n_samples, n), elements=scalable))
    return w, x, draw(eps_over_scales), draw(SCALE_EXPONENTS[w_dtype]), draw(
        SCALE_EXPONENTS[x_dtype])


@given(problem=ratio_problems())
def test_linearity_ratio_is_exact_at_every_scale_or_refused(problem):
    """ε·||w||_1/|w·x| for w·2^k and x·2^j (k, j over their dtypes' whole ranges, float64 w with
    float32 x included) is ε·2^-j·||w||_1/|w·x|: computed exactly while it fits in x's dtype,
    refused by a ValueError naming eps and the dtype once it does not; never NaN (w beyond x's
    dtype), never a spurious inf or 0/0 (sums that underflow)."""
    w, x, eps, k, j = problem
    w64, x64 = w.astype(np.float64), x.astype(np.float64)
    l1 = np.broadcast_to(np.abs(w64).sum(axis=-1), x.shape[:1])
    terms = np.abs(w64 * x64).sum(axis=1)                    # Σ|w_j x_j| >= |w·x|
    dot = np.abs((w64 * x64).sum(axis=1))
    if np.any(dot <= 1e-3 * terms):
        return  # w·x (nearly) 0 for some sample: covered by test_linearity_ratio_shapes_and_errors
    dtype = x.dtype.type
    rtol = (1e-5 if dtype == np.float32 else 1e-12) * np.max(terms / dot)  # w·x's cancellation
    # the exact ratio ε·2^-j·||w||_1/|w·x| as mantissa·2^exponent, which cannot overflow
    eps_mantissa, eps_exponent = np.frexp(eps)
    mantissa, exponent = np.frexp(l1 / dot)
    mantissa, exponent = eps_mantissa * mantissa, eps_exponent + exponent - j
    with np.errstate(over="ignore"):
        expected = np.ldexp(mantissa, np.clip(exponent, -1100, 1100))    # 0 or inf beyond
    beyond = expected.max() / float(np.finfo(dtype).max)   # > 1: beyond the range of x's dtype

    def call():
        return linearity_ratio(w * w.dtype.type(2.0) ** k, x * dtype(2.0) ** j, eps=eps)

    if beyond > 1 + 10 * rtol:
        with pytest.raises(ValueError, match=f"would not be finite in {dtype.__name__}.*eps ="):
            call()
    elif beyond < 1 - 10 * rtol:
        ratio = call()
        assert ratio.dtype == dtype
        np.testing.assert_allclose(ratio, expected, rtol=rtol, atol=float(np.finfo(dtype).tiny))


# --- the adversarial logistic loss ---------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@given(problem=affine_problems(), eps=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_adversarial_logistic_loss_is_the_loss_at_the_worst_point_for_both_labels(
        norm, problem, eps, seed):
    """ζ(−y(wᵀx + b) + ε||w||_q) equals the logistic loss at x − ε·y·u_p (for L∞: x − ε·y·sign(w))
    for y = +1 and y = −1, and no random point of the ε-ball has a larger loss."""
    w, b, x = problem
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], size=len(x))
    adversarial = adversarial_logistic_loss(w, b, x, y, eps=eps, norm=norm)
    worst = x + worst_case_linear_perturbation(w, x, y, eps=eps, norm=norm)
    np.testing.assert_allclose(adversarial, logistic_loss(w, b, worst, y), rtol=1e-9, atol=1e-12)
    if norm == np.inf:
        np.testing.assert_allclose(worst, x - eps * y[:, None] * np.sign(w))
    for _ in range(10):
        r = eps * rng.uniform(size=(len(x), 1)) * random_directions(rng, x.shape, norm)
        assert np.all(logistic_loss(w, b, x + r, y) <= adversarial * (1 + 1e-9) + 1e-12)


@given(problem=affine_problems(), eps=st.floats(0.01, 1.0))
def test_goodfellow_printed_adversarial_loss_holds_only_for_positive_labels(problem, eps):
    """The paper's ζ(y(ε||w||_1 − wᵀx − b)) equals the adversarial loss for y = +1, but for
    y = −1 it is the loss at the *best* point x − ε·sign(w) of the ball, below the true one."""
    w, b, x = problem
    for label in (1, -1):
        y = np.full(len(x), label)
        printed = softplus(y * (eps * np.abs(w).sum() - x @ w - b))
        correct = adversarial_logistic_loss(w, b, x, y, eps=eps)
        if label == 1:
            np.testing.assert_allclose(printed, correct, rtol=1e-12)
        else:
            best = logistic_loss(w, b, x + eps * y[:, None] * np.sign(w), y)
            np.testing.assert_allclose(printed, best, rtol=1e-9, atol=1e-12)
            assert np.all(printed < correct)


@given(problem=affine_problems(), eps=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_logistic_loss_is_softplus_of_scale_times_distance(problem, eps, seed):
    """REFERENCES §7: the loss is softplus(−y·||w||·d(x)); under the L2 worst case it becomes
    softplus(−||w||·(y·d(x) − ε)): the scale ||w|| multiplies, the attack shifts d by ε."""
    w, b, x = problem
    y = np.random.default_rng(seed).choice([-1, 1], size=len(x))
    d = signed_distance(w, b, x)
    w_norm = np.linalg.norm(w)
    np.testing.assert_allclose(logistic_loss(w, b, x, y), softplus(-y * w_norm * d), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(adversarial_logistic_loss(w, b, x, y, eps=eps, norm=2),
                               softplus(-w_norm * (y * d - eps)), rtol=1e-9, atol=1e-12)


def test_softplus_and_sigmoid_are_stable_and_keep_the_dtype():
    """ζ(±1000) and σ(±1000) give 1000/0 and 1/0 without overflow; float32 stays float32."""
    z = np.array([-1000.0, 0.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(softplus(z), [0.0, np.log(2.0), 1000.0])
        np.testing.assert_allclose(sigmoid(z), [0.0, 0.5, 1.0])
    assert softplus(z.astype(np.float32)).dtype == np.float32
    w = np.ones(3)
    x = np.ones((2, 3), np.float32)
    assert adversarial_logistic_loss(w, 0.0, x, np.array([1, -1]), eps=0.1).dtype == np.float32


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-700.0, max_value=0.0), st.sampled_from([np.float32, np.float64]))
def test_sigmoid_keeps_its_digits_for_negative_scores(z, dtype):
    """σ(z) for z < 0 against the definition 1/(1 + e^−z) in Python floats: within a few ulps,
    not the (1 + tanh(z/2))/2 that gave σ(−40) = 0 (float64) and σ(−17) = 6.0e-8 instead of
    4.1e-8 (float32). In float32, scores whose σ is below its normal range are left out."""
    exact = 1.0 / (1.0 + math.exp(-z))
    if dtype == np.float32:
        z = float(np.float32(z))
        exact = 1.0 / (1.0 + math.exp(-z))
        if exact < np.finfo(np.float32).tiny:
            return
    got = float(sigmoid(np.array([z], dtype=dtype))[0])
    assert got == pytest.approx(exact, rel=4 * float(np.finfo(dtype).eps), abs=0.0)


# --- the plain gradient-descent logistic fit -----------------------------------------------------


@given(n=st.integers(1, 8), d=st.integers(1, 5), weight_decay=st.sampled_from([0.0, 0.01, 0.3, 2.0]),
       init_std=st.floats(0.1, 2.0), seed=st.integers(0, 2**16))
def test_fit_logistic_regressions_step_is_the_gradient_of_its_loss(n, d, weight_decay, init_std, seed):
    """The second step of gradient descent, (w₁ − w₂)/η and (b₁ − b₂)/η (a fit of one step and
    one of two, from the same seed), is the central-difference gradient at (w₁, b₁) of mean
    ζ(−s·(Xw + b)) + (λ/2)||w||² (s = 2y − 1), in float64, with and without weight decay."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, 2, size=n)
    s = 2.0 * y - 1.0
    lr = 0.5
    options = dict(weight_decay=weight_decay, lr=lr, init_std=init_std, seed=seed)
    w1, b1 = fit_logistic_regression(x, y, steps=1, **options)
    w2, b2 = fit_logistic_regression(x, y, steps=2, **options)
    step = np.concatenate([w1 - w2, [b1 - b2]]) / lr
    params = np.concatenate([w1, [b1]])

    def loss():
        return np.mean(softplus(-s * (x @ params[:-1] + params[-1]))) \
            + 0.5 * weight_decay * params[:-1] @ params[:-1]

    expected = numerical_gradient(loss, params, np.ones(()))
    scale = max(np.abs(expected).max(), 1e-3)  # (the subtraction w₁ − w₂ rounds at |w|·2⁻⁵²)
    np.testing.assert_allclose(step, expected, rtol=0, atol=1e-6 * scale + 1e-12 * np.abs(params).max() / lr)


def test_fit_logistic_regression_reaches_the_minimum_of_the_regularised_loss():
    """With weight decay the loss mean ζ(−s·(Xw + b)) + (λ/2)||w||² (s = 2y − 1) is strongly
    convex; at the fitted (w, b) its central-difference gradient is zero (to 1e-7)."""
    x, y, _ = submanifold_data(40, 30, off_manifold_noise=0.1, seed=0)
    s = 2.0 * y - 1.0
    for lam in (0.05, 1.0):
        w, b = fit_logistic_regression(x, y, weight_decay=lam, steps=5000, seed=0)
        params = np.concatenate([w, [b]])

        def loss():
            return np.mean(softplus(-s * (x @ params[:-1] + params[-1]))) \
                + 0.5 * lam * params[:-1] @ params[:-1]

        assert np.abs(numerical_gradient(loss, params, np.ones(()))).max() < 1e-7
        assert loss() < 0.5                      # well below log 2: it did learn


def test_fit_logistic_regression_is_seeded_and_keeps_the_dtype():
    """Same seed, same weights; float32 data give float32 weights that classify well."""
    x, y, _ = submanifold_data(60, 10, seed=1)
    w1, b1 = fit_logistic_regression(x, y, steps=200, seed=5)
    w2, b2 = fit_logistic_regression(x, y, steps=200, seed=5)
    np.testing.assert_array_equal(w1, w2)
    assert b1 == b2
    w32, _ = fit_logistic_regression(x.astype(np.float32), y, steps=200, seed=5)
    assert w32.dtype == np.float32
    assert accuracy_and_distance(w1, b1, x, y)[0] > 0.9


def test_fit_logistic_regression_refuses_bad_input():
    """Labels must be class ids 0/1; lr > 0; weight decay >= 0; steps an integer."""
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="labels"):
        fit_logistic_regression(x, np.array([0, 1, 2, 1]))
    with pytest.raises(TypeError, match="integer"):
        fit_logistic_regression(x, np.array([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="lr"):
        fit_logistic_regression(x, np.array([0, 1, 0, 1]), lr=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        fit_logistic_regression(x, np.array([0, 1, 0, 1]), weight_decay=-1.0)
    with pytest.raises(TypeError, match="steps"):
        fit_logistic_regression(x, np.array([0, 1, 0, 1]), steps=1.5)


# --- Tanay & Griffin 2016: boundary tilting ------------------------------------------------------


@given(w=arrays(np.float64, 6, elements=finite).filter(lambda v: np.linalg.norm(v) > 0.1),
       direction=arrays(np.float64, 6, elements=finite), angle=st.floats(0.0, np.pi))
def test_tilt_keeps_the_weight_norm_and_deviates_by_exactly_the_angle(w, direction, angle):
    """||w_θ|| = ||w|| and the deviation angle between w_θ and w is θ."""
    v = direction - (direction @ w) / (w @ w) * w
    if np.linalg.norm(v) < 1e-3 * max(np.linalg.norm(direction), 1e-3):
        return  # direction (almost) parallel to w: nothing to tilt towards
    w_theta, _ = tilt_boundary(w, 0.3, direction, angle)
    assert np.linalg.norm(w_theta) == pytest.approx(np.linalg.norm(w))
    assert deviation_angle(w_theta, w) == pytest.approx(angle, abs=1e-6)


@given(w=arrays(np.float32, st.integers(2, 64), elements=nonzero_scalable),
       c=st.sampled_from([3.0, -1.0, 0.1, 7.3, -2.5e3]), same_dtype=st.booleans(),
       angle=st.floats(0.05, 3.0))
def test_a_direction_parallel_to_a_float32_w_is_refused(w, c, same_dtype, angle):
    """A direction c·w (in w's float32, or exact in float64) has no component orthogonal to w:
    it is refused, not tilted towards. Catches a projection done in float32, whose residual of
    ~1e-7·||direction|| used to pass for a direction and gave a w_θ with ||w_θ|| ≠ ||w|| (by
    up to 25%) and a deviation angle ≠ θ."""
    direction = (np.float32(c) * w) if same_dtype else c * w.astype(np.float64)
    with pytest.raises(ValueError, match="parallel"):
        tilt_boundary(w, 0.3, direction, angle)


@given(w=arrays(np.float32, 6, elements=nonzero_scalable),
       direction=arrays(np.float32, 6, elements=nonzero_scalable), angle=st.floats(0.0, np.pi))
def test_tilting_a_float32_w_keeps_its_norm_and_deviates_by_the_angle(w, direction, angle):
    """The float32 analogue of the float64 property: ||w_θ|| = ||w|| and angle(w_θ, w) = θ to
    float32 rounding, for any direction not (nearly) parallel to w."""
    w64, d64 = w.astype(np.float64), direction.astype(np.float64)
    v = d64 - (d64 @ w64) / (w64 @ w64) * w64
    if np.linalg.norm(v) < 1e-3 * np.linalg.norm(d64):
        return  # direction (almost) parallel to w: nothing to tilt towards
    w_theta, _ = tilt_boundary(w, 0.3, direction, angle)
    assert w_theta.dtype == np.float32
    assert np.linalg.norm(w_theta.astype(np.float64)) == pytest.approx(np.linalg.norm(w64),
                                                                       rel=1e-6)
    assert deviation_angle(w_theta, w) == pytest.approx(angle, abs=1e-5)


@given(pair=scaled_pairs())
def test_deviation_angle_does_not_depend_on_the_scale_of_either_vector(pair):
    """deviation_angle(2^k·w, 2^j·v) = deviation_angle(w, v) for k, j over the whole range of the
    dtype (2^±1000 in float64, 2^-115..2^120 in float32): the norms of huge vectors do not
    overflow to a NaN angle, and tiny non-zero vectors are not called zero."""
    dtype, w, v, k, j = pair
    angle = deviation_angle(w * dtype(2.0) ** k, v * dtype(2.0) ** j)
    # compared through cos θ, which the rounding of w·v/(||w||·||v||) moves by a few ulp
    assert np.cos(angle) == pytest.approx(np.cos(deviation_angle(w, v)),
                                          abs=8 * float(np.finfo(dtype).eps))
    assert np.isfinite(angle)


@given(pair=scaled_pairs(size=st.integers(2, 8)), angle=st.floats(0.0, np.pi))
def test_tilt_is_homogeneous_in_w_and_ignores_the_scale_of_the_direction(pair, angle):
    """tilt_boundary(2^k·w, b, 2^j·v, θ) = 2^k·tilt_boundary(w, b, v, θ) for k, j over the whole
    range of the dtype: huge weights do not give NaN or inf, tiny ones are not called zero, and a
    tiny or huge direction is not called parallel to w."""
    dtype, w, direction, k, j = pair
    w64, d64 = w.astype(np.float64), direction.astype(np.float64)
    v = d64 - (d64 @ w64) / (w64 @ w64) * w64
    if np.linalg.norm(v) < 1e-3 * np.linalg.norm(d64):
        return  # direction (almost) parallel to w: nothing to tilt towards
    w_theta, b_theta = tilt_boundary(w, 0.3, direction, angle)
    w_scaled, b_scaled = tilt_boundary(w * dtype(2.0) ** k, 0.3, direction * dtype(2.0) ** j, angle)
    assert w_scaled.dtype == dtype and b_scaled == b_theta
    np.testing.assert_allclose(np.ldexp(w_scaled.astype(np.float64), -k), w_theta,
                               rtol=0, atol=1e4 * np.finfo(dtype).eps * np.linalg.norm(w64))


def orthogonal_direction(basis, seed):
    """A unit vector orthogonal to the columns of ``basis`` (the data subspace)."""
    g = np.random.default_rng(seed).standard_normal(basis.shape[0])
    g -= basis @ (basis.T @ g)
    return g / np.linalg.norm(g)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), dim=st.integers(3, 60), angle=st.floats(0.0, 1.5))
def test_tilting_off_the_data_keeps_every_prediction_and_scales_distances_by_cos(seed, dim, angle):
    """For data on a subspace S and a tilt towards v ⊥ S: f_θ(x) = cos θ·f(x), so every
    prediction is the same and every L2 distance to the boundary is multiplied by cos θ."""
    x, y, basis = submanifold_data(50, dim, seed=seed)
    w, b = nearest_centroid(x, y)
    w_theta, b_theta = tilt_boundary(w, b, orthogonal_direction(basis, seed), angle)
    scale = np.abs(x @ w + b).max() + 1.0
    np.testing.assert_allclose(linear_scores(w_theta, b_theta, x) / scale,
                               np.cos(angle) * linear_scores(w, b, x) / scale, atol=1e-12)
    np.testing.assert_allclose(minimal_linear_distance(w_theta, b_theta, x, 2),
                               np.cos(angle) * minimal_linear_distance(w, b, x, 2), atol=1e-9)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), dim=st.integers(3, 60))
def test_adversarial_distance_shrinks_monotonically_with_tilt_at_fixed_accuracy(seed, dim):
    """Tilting the nearest-centroid boundary off the data from 0° to 89.9°: the accuracy stays
    exactly the same while the mean minimal L2 adversarial distance strictly decreases towards 0."""
    x, y, basis = submanifold_data(60, dim, seed=seed)
    angles = np.radians([0.0, 10.0, 30.0, 50.0, 70.0, 85.0, 89.9])
    w, b = nearest_centroid(x, y)
    accuracy, distance = tilting_sweep(w, b, orthogonal_direction(basis, seed), angles, x, y)
    assert np.all(accuracy == accuracy[0])
    assert np.all(np.diff(distance) < 0)
    assert distance[-1] < 0.01 * distance[0]


@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1))
def test_weight_decay_reduces_the_tilt_of_an_overfitted_logistic_regression(seed):
    """40 samples in ℝ^200 on a plane plus small off-plane noise: the logistic fit without weight
    decay tilts away from the nearest-centroid direction; λ = 1 tilts less (under 15°) and has the
    larger adversarial distance on fresh data from the same distribution."""
    x, y, _ = submanifold_data(1040, 200, off_manifold_noise=0.1, seed=seed)
    angle, fits = weight_decay_tilt(x[:40], y[:40], [0.0, 1.0], steps=1000, seed=seed)
    assert angle[1] < angle[0]
    assert angle[1] < np.radians(15)
    distance = [accuracy_and_distance(w, b, x[40:], y[40:])[1] for w, b in fits]
    assert distance[1] > distance[0]


def test_strong_weight_decay_gives_the_nearest_centroid_direction():
    """As λ grows the fitted w turns into μ_1 − μ_0: the deviation angle falls like 1/λ."""
    x, y, _ = submanifold_data(40, 200, off_manifold_noise=0.1, seed=0)
    angle, _ = weight_decay_tilt(x, y, [0.0, 1.0, 10.0, 100.0], steps=3000, seed=0)
    assert np.all(np.diff(angle) < 0)
    assert angle[-1] < np.radians(0.1)


def test_nearest_centroid_scores_the_closer_centroid_positive():
    """w·x + b > 0 exactly when x is closer to the class-1 mean than to the class-0 mean."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((30, 4))
    y = np.arange(30) % 2
    w, b = nearest_centroid(x, y)
    mu0, mu1 = x[y == 0].mean(0), x[y == 1].mean(0)
    probe = rng.standard_normal((200, 4)) * 3
    closer = np.linalg.norm(probe - mu1, axis=1) < np.linalg.norm(probe - mu0, axis=1)
    np.testing.assert_array_equal(probe @ w + b > 0, closer)


def test_submanifold_data_lies_on_its_subspace():
    """Without off-manifold noise every sample is in span(basis); with it the noise is orthogonal
    to the subspace; the basis is orthonormal, the classes balanced, the draw seeded."""
    x, y, basis = submanifold_data(20, 15, manifold_dim=3, seed=7)
    assert x.shape == (20, 15) and y.dtype == np.int64 and basis.shape == (15, 3)
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(x - x @ basis @ basis.T, 0.0, atol=1e-12)
    assert np.sum(y == 1) == 10
    x2, _, _ = submanifold_data(20, 15, manifold_dim=3, off_manifold_noise=0.5, seed=7)
    np.testing.assert_allclose(x2 @ basis, x @ basis, atol=1e-12)
    assert np.abs(x2 - x).max() > 0.1
    np.testing.assert_array_equal(submanifold_data(20, 15, manifold_dim=3, seed=7)[0], x)


# (k, separation, spread, noise): scales 2^k from 2^-900 up, and at k = 1020 (parameters up to
# 2^1023) spreads large enough that the data often overflow float64
submanifold_scales = st.one_of(
    st.tuples(st.integers(-900, 1000), st.floats(0.5, 8.0), st.floats(0.0, 8.0),
              st.floats(0.0, 8.0)),
    st.tuples(st.just(1020), st.floats(0.5, 8.0), st.floats(4.0, 8.0), st.floats(4.0, 8.0)),
)


@given(scales=submanifold_scales, seed=st.integers(0, 2**32 - 1))
def test_submanifold_data_scales_exactly_or_is_refused(scales, seed):
    """Multiplying separation, spread and off-manifold noise by 2^k multiplies the data by 2^k,
    from 2^-900 up to where they would overflow float64: there the call is refused by a
    ValueError naming the scales, not answered with inf or NaN data."""
    k, separation, spread, noise = scales
    x, y, basis = submanifold_data(40, 8, manifold_dim=2, separation=separation, spread=spread,
                                   off_manifold_noise=noise, seed=seed)
    with np.errstate(over="ignore"):
        scaled = np.ldexp(x, k)
    kwargs = dict(manifold_dim=2, separation=math.ldexp(separation, k),
                  spread=math.ldexp(spread, k), off_manifold_noise=math.ldexp(noise, k), seed=seed)
    if not np.all(np.isfinite(scaled)):
        with pytest.raises(ValueError, match="separation=.* are too large: .* float64"):
            submanifold_data(40, 8, **kwargs)
    elif np.abs(scaled).max() < np.finfo(np.float64).max / 100:   # no intermediate overflow
        x_k, y_k, basis_k = submanifold_data(40, 8, **kwargs)
        np.testing.assert_allclose(x_k, scaled, rtol=1e-12, atol=math.ldexp(1e-12, k))
        np.testing.assert_array_equal(y_k, y)
        np.testing.assert_array_equal(basis_k, basis)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: submanifold_data(10, 2, manifold_dim=3), ValueError, "manifold_dim"),
        (lambda: submanifold_data(10, 5, separation=-1.0), ValueError, "separation"),
        (lambda: nearest_centroid(np.ones((4, 2)), np.zeros(4, dtype=int)), ValueError, "both"),
        (lambda: deviation_angle(np.ones(3), np.ones(4)), ValueError, "shape"),
        (lambda: deviation_angle(np.zeros(3), np.ones(3)), ValueError, "zero"),
        (lambda: tilt_boundary(np.ones(3), 0.0, 2 * np.ones(3), 0.1), ValueError, "parallel"),
        (lambda: tilt_boundary(np.ones(3), 0.0, np.zeros(3), 0.1), ValueError,
         "direction is all zeros"),
        (lambda: tilt_boundary(np.zeros(3), 0.0, np.ones(3), 0.1), ValueError, "zeros"),
    ],
)
def test_tilting_refuses_bad_input(call, error, match):
    """Subspace larger than the space, negative separation, one class only, mismatched or zero
    vectors, and a tilt direction parallel to w each raise an error that names the problem."""
    with pytest.raises(error, match=match):
        call()
