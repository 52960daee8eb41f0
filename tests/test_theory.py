"""Property tests for tinyadv.theory: each test's name and docstring state the claim it checks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinyadv.theory import (
    dual_direction,
    dual_norm,
    linear_scores,
    minimal_linear_distance,
    minimal_linear_perturbation,
    signed_distance,
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


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: minimal_linear_distance(np.ones(3), 0.0, np.ones((2, 3)), 3), ValueError, "norm"),
        (lambda: minimal_linear_distance(np.ones(4), 0.0, np.ones((2, 3)), 2), ValueError, "feature"),
        (lambda: minimal_linear_distance(np.zeros(3), 0.0, np.ones((2, 3)), 2), ValueError, "zero"),
        (lambda: minimal_linear_distance(np.ones(3), 0.0, np.ones((2, 3), int), 2), TypeError, "float"),
        (lambda: minimal_linear_distance(np.ones(3), 0.0, np.ones(3), 2), ValueError, "dimensions"),
        (lambda: minimal_linear_distance(np.ones(3), np.ones(2), np.ones((2, 3)), 2), ValueError, "b "),
        (lambda: minimal_linear_distance(np.ones(3), 0.0, np.full((2, 3), np.nan), 2), ValueError, "NaN"),
        (lambda: minimal_linear_perturbation(np.ones(3), 0.0, np.ones((2, 3)), 2, overshoot=-1),
         ValueError, "overshoot"),
        (lambda: worst_case_linear_perturbation(np.ones(3), np.ones((2, 3)), np.array([0, 1]), 0.1, 2),
         ValueError, "-1 or \\+1"),
        (lambda: worst_case_margin(np.ones(3), 0.0, np.ones((2, 3)), np.array([1, -1]), -0.1),
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
    eta = worst_case_linear_perturbation(w, x, y, eps, norm)
    np.testing.assert_allclose(np.linalg.norm(eta, ord=norm, axis=1), eps, atol=1e-12)
    margin = y * linear_scores(w, b, x + eta)
    w_q = np.linalg.norm(w, ord=dual_norm(norm))
    np.testing.assert_allclose(margin, y * linear_scores(w, b, x) - eps * w_q, atol=1e-9)
    np.testing.assert_allclose(worst_case_margin(w, b, x, y, eps, norm), margin, atol=1e-9)
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
