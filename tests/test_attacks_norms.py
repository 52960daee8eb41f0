"""The per-norm building blocks: uniform random starts, steepest directions, exact projections."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import optimize, stats

from tinyadv.attacks.norms import lp_norm, normalize, project, project_l1_ball, random_start

NORMS = [1, 2, np.inf]
DUAL = {1: np.inf, 2: 2, np.inf: 1}

vectors = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 7)),
                 elements=st.floats(-3, 3, allow_subnormal=False))
radii = st.sampled_from([0.0, 1e-3, 0.3, 1.0, 5.0])


@pytest.mark.parametrize("norm", NORMS)
def test_lp_norm_matches_numpy(norm):
    delta = np.random.default_rng(0).normal(size=(5, 2, 3))
    expected = np.linalg.norm(delta.reshape(5, -1), ord=norm, axis=1)
    np.testing.assert_allclose(lp_norm(delta, norm), expected)


@given(delta=vectors, eps=radii, norm=st.sampled_from(NORMS))
def test_projection_lands_in_ball_and_is_idempotent(delta, eps, norm):
    p = project(delta, eps, norm)
    assert np.all(lp_norm(p, norm) <= eps * (1 + 1e-12) + 1e-12)
    np.testing.assert_allclose(project(p, eps, norm), p, atol=1e-12)
    inside = lp_norm(delta, norm) <= eps
    np.testing.assert_array_equal(p[inside], delta[inside])


@given(delta=vectors, eps=radii, norm=st.sampled_from(NORMS))
def test_projection_satisfies_the_variational_inequality(delta, eps, norm):
    """P is the projection iff <delta - P, z - P> <= 0 for every z in the ball."""
    p = project(delta, eps, norm)
    z = random_start(np.random.default_rng(1), (200,) + delta.shape[1:], eps, norm)
    for n in range(delta.shape[0]):
        assert np.all((z - p[n]) @ (delta[n] - p[n]) <= 1e-9)


@pytest.mark.parametrize("norm", NORMS)
@given(delta=vectors, eps=radii)
def test_projection_satisfies_the_variational_inequality_at_the_worst_point_of_the_ball(norm, delta,
                                                                                     eps):
    """The same condition checked exactly (REFERENCES.md §9: exact projections; L1 by sorting,
    Duchi et al. 2008): max over the ball of <δ − P, z> is ε·‖δ − P‖_dual, so P is the
    projection iff ε·‖δ − P‖_dual <= <δ − P, P>. The 200 random z above caught an L1
    "projection" by rescaling, δ·min(1, ε/‖δ‖₁), in about 2 runs of 10."""
    p = project(delta, eps, norm)
    r = delta - p
    worst = eps * lp_norm(r, DUAL[norm])
    assert np.all(worst <= np.sum(r * p, axis=1) + 1e-9 * (1 + worst))


def _scipy_l1_projection(v, eps):
    """argmin ||a - b - v||^2 s.t. sum(a + b) <= eps, a, b >= 0 (a QP that SLSQP solves)."""
    d = v.size
    fun = lambda ab: np.sum((ab[:d] - ab[d:] - v) ** 2)
    jac = lambda ab: np.concatenate([2 * (ab[:d] - ab[d:] - v), -2 * (ab[:d] - ab[d:] - v)])
    cons = [{"type": "ineq", "fun": lambda ab: eps - ab.sum(), "jac": lambda ab: -np.ones(2 * d)}]
    res = optimize.minimize(fun, np.zeros(2 * d), jac=jac, constraints=cons, method="SLSQP",
                            bounds=[(0, None)] * (2 * d), options={"ftol": 1e-14, "maxiter": 500})
    return res.x[:d] - res.x[d:]


@given(delta=vectors, eps=st.sampled_from([0.1, 0.5, 1.0, 2.0]))
def test_l1_projection_matches_scipy(delta, eps):
    p = project_l1_ball(delta, eps)
    for n in range(delta.shape[0]):
        np.testing.assert_allclose(p[n], _scipy_l1_projection(delta[n], eps), atol=1e-5)


def test_l1_projection_of_a_known_vector():
    # v = (3, -1, 0.5), eps = 2: theta = 1 -> (2, 0, 0); eps = 3: theta = 0.5 -> (2.5, -0.5, 0).
    v = np.array([[3.0, -1.0, 0.5]])
    np.testing.assert_allclose(project_l1_ball(v, 2.0), [[2.0, 0.0, 0.0]])
    np.testing.assert_allclose(project_l1_ball(v, 3.0), [[2.5, -0.5, 0.0]])
    np.testing.assert_allclose(project_l1_ball(v, 0.0), [[0.0, 0.0, 0.0]])


def _exact_l1_projection(v, eps):
    """Duchi et al. 2008, Fig. 1, in exact rational arithmetic (v, eps: floats)."""
    v, eps = [Fraction(float(a)) for a in v], Fraction(float(eps))
    if sum(abs(a) for a in v) <= eps:
        return np.array(v, dtype=float)
    mu, total, theta = sorted((abs(a) for a in v), reverse=True), Fraction(0), None
    for j, m in enumerate(mu, 1):
        total += m
        if m - (total - eps) / j > 0:
            theta = (total - eps) / j
    return np.array([float((1 if a > 0 else -1) * max(abs(a) - theta, Fraction(0))) for a in v])


@pytest.mark.parametrize("v, eps, expected", [
    ([1.0, 1.0], 1e-17, [5e-18, 5e-18]),            # ε below the rounding error of max |v|
    ([1e17, -1e17], 1.0, [0.5, -0.5]),
    ([1e308, 1e308], 1.0, [0.5, 0.5]),              # ‖v‖₁ overflows
    ([0.1, -0.1, 0.1, 0.0], 3e-20, [1e-20, -1e-20, 1e-20, 0.0]),  # a three-way tie
])
def test_l1_projection_is_exact_when_eps_is_tiny_next_to_v(v, eps, expected):
    """θ = (Σμ − ε)/ρ lost ε by cancellation: ρ came out 0 (a division by zero) and the
    projection was 0 instead of ε spread over the largest entries."""
    with np.errstate(over="ignore"):
        p = project_l1_ball(np.array([v]), eps)[0]
    np.testing.assert_allclose(p, expected, rtol=1e-12, atol=0)


@given(mu=st.lists(st.sampled_from([0.0, 0.1, 0.2, 1 / 3, 0.7, 1.0]), min_size=1, max_size=9),
       signs=st.lists(st.booleans(), min_size=9, max_size=9),
       scale=st.sampled_from([1e-5, 1.0, 1e5]),
       ratio=st.sampled_from([1e-12, 1e-6, 0.01, 0.3, 1.0, 2.0]))
def test_l1_projection_matches_exact_arithmetic_with_ties(mu, signs, scale, ratio):
    """Ties, zeros, points inside, and ε far below ‖v‖₁, against rationals (was off by 8e-5·ε)."""
    v = np.array([m * scale * (1 if s else -1) for m, s in zip(mu, signs)])
    eps = ratio * float(np.abs(v).sum())
    p = project_l1_ball(v[None], eps)[0]
    np.testing.assert_allclose(p, _exact_l1_projection(v, eps), rtol=0, atol=1e-14 * eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm", NORMS)
def test_projection_keeps_dtype(norm, dtype):
    delta = np.random.default_rng(0).normal(size=(3, 4)).astype(dtype)
    assert project(delta, 0.5, norm).dtype == dtype
    assert normalize(delta, norm).dtype == dtype


@given(g=vectors, norm=st.sampled_from(NORMS))
def test_normalize_is_the_steepest_unit_direction(g, norm):
    """<g, u> = ||g||_dual with ||u||_p = 1, or u = 0 when g = 0."""
    g = np.where(np.abs(g) < 1e-3, 0.0, g)  # L2 divides by max(1e-6, ||g||): keep away from that floor
    u = normalize(g, norm)
    nonzero = lp_norm(g, np.inf) > 0
    assert np.all(u[~nonzero] == 0)
    np.testing.assert_allclose(lp_norm(u, norm)[nonzero], 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.sum(g * u, axis=1), lp_norm(g, DUAL[norm]), rtol=1e-6)


@given(g=vectors, scale=st.sampled_from([0.0, 1e-9, 1e-7, 3e-7, 1e-5, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_normalize_l2_floors_the_sum_of_squares_at_1e_minus_12(g, scale, dtype):
    """CleverHans ``optimize_linear`` (REFERENCES.md §9): u = g/√max(1e-12, Σg²). Below the floor
    (‖g‖₂ < 1e-6) the step is g·1e6, shorter than a unit step, and g = 0 gives u = 0; a floor
    put on ‖g‖₂ itself (max(1e-12, ‖g‖₂)) would make every tiny gradient a unit step."""
    g = (g * scale).astype(dtype)
    g64 = g.astype(np.float64)
    expected = g64 / np.sqrt(np.maximum(1e-12, np.sum(g64 ** 2, axis=1, keepdims=True)))
    u = normalize(g, 2)
    assert u.dtype == dtype
    np.testing.assert_allclose(u, expected, rtol=1e-6 if dtype == np.float32 else 1e-12,
                               atol=np.finfo(dtype).tiny)  # (subnormal float32 entries round)


@given(g=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 7)),
                elements=st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])))
def test_l1_direction_splits_the_step_among_tied_largest_coordinates(g):
    """CleverHans ``optimize_linear`` (REFERENCES.md §9): the exact L1 direction puts
    sign(g_i)/#ties on every coordinate with |g_i| = max |g|, not all of it on the first arg-max
    (``np.argmax``), which is also a steepest direction and so passes the test above."""
    u = normalize(g, 1, l1_quantile=None)
    largest = np.abs(g).max(axis=1, keepdims=True)
    tied = (np.abs(g) == largest) & (largest > 0)
    expected = np.sign(g) * tied / np.maximum(tied.sum(axis=1, keepdims=True), 1)
    np.testing.assert_allclose(u, expected, rtol=1e-15, atol=0)


@given(g=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 7)),
                elements=st.just(0.0) | st.floats(-3, 3, allow_subnormal=False)),
       q=st.sampled_from([0.0, 0.5, 0.9, 0.99]))
def test_sparse_l1_direction_covers_the_top_quantile(g, q):
    """SLIDE (Tramèr & Boneh 2019): equal weight on the coordinates with |g_i| ≥ the q-quantile
    of the *nonzero* |g_i|. Half the entries drawn are 0 (a ReLU network's input gradient has
    many), without which a quantile taken over every |g_i|, zeros included, passed in about 4
    runs of 5: g = (0, 0, 0, 0, 1, 2, 3, 4) at q = 0.5 has τ = 2.5 and moves 3 and 4 only
    (τ = 0.5 over all eight would move 1, 2, 3 and 4)."""
    np.testing.assert_array_equal(normalize(np.array([[0.0, 0, 0, 0, 1, 2, -3, 4]]), 1, l1_quantile=0.5),
                                  [[0, 0, 0, 0, 0, 0, -0.5, 0.5]])
    u = normalize(g, 1, l1_quantile=q)
    for n in range(g.shape[0]):
        a = np.abs(g[n])
        if not np.any(a > 0):
            assert np.all(u[n] == 0)
            continue
        chosen = a >= np.quantile(a[a > 0], q)
        np.testing.assert_allclose(u[n], np.sign(g[n]) * chosen / chosen.sum())
    np.testing.assert_array_equal(normalize(g, 1, l1_quantile=None), normalize(g, 1))


@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("d", [1, 3, 20])
def test_random_start_radius_is_uniform_in_the_ball(norm, d):
    """For a uniform point of a d-ball, (||delta|| / eps)^d ~ U(0, 1); also stays inside."""
    eps = 0.7
    delta = random_start(np.random.default_rng(123), (4000, d), eps, norm)
    r = lp_norm(delta, norm) / eps
    assert r.max() <= 1 + 1e-12
    assert stats.kstest(r ** d, "uniform").pvalue > 1e-3


def test_l2_start_uniform_in_the_ball():
    """Regression (CleverHans v4 torch, torchattacks #161): box sample then rescale is not uniform.

    For a uniform point of the L2 ball, s = delta/||delta|| is uniform on the sphere, so
    s_1^2 ~ Beta(1/2, (d - 1)/2), and the radius law is t^d. The buggy start fails both.
    """
    d, eps, n = 10, 0.5, 4000
    delta = random_start(np.random.default_rng(7), (n, d), eps, 2)
    r = lp_norm(delta, 2)
    assert stats.kstest((r / eps) ** d, "uniform").pvalue > 1e-3
    assert stats.kstest((delta[:, 0] / r) ** 2, stats.beta(0.5, (d - 1) / 2).cdf).pvalue > 1e-3

    buggy = project(np.random.default_rng(7).uniform(-eps, eps, size=(n, d)), eps, 2)
    rb = lp_norm(buggy, 2)
    assert stats.kstest((rb / eps) ** d, "uniform").pvalue < 1e-6


def test_l1_start_direction_is_uniform_on_the_simplex_faces():
    """|delta|/||delta||_1 of a uniform L1-ball point is Dirichlet(1, ..., 1): |s_1| ~ Beta(1, d-1)."""
    d = 6
    delta = random_start(np.random.default_rng(3), (4000, d), 1.0, 1)
    s = np.abs(delta[:, 0]) / lp_norm(delta, 1)
    assert stats.kstest(s, stats.beta(1, d - 1).cdf).pvalue > 1e-3


def test_linf_start_is_uniform_per_coordinate():
    delta = random_start(np.random.default_rng(5), (500, 8), 0.3, np.inf)
    assert stats.kstest(delta.ravel(), stats.uniform(-0.3, 0.6).cdf).pvalue > 1e-3


def test_random_start_is_seeded_and_zero_at_eps_zero():
    a = random_start(np.random.default_rng(9), (3, 5), 0.5, 2, np.float32)
    b = random_start(np.random.default_rng(9), (3, 5), 0.5, 2, np.float32)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.all(random_start(np.random.default_rng(9), (3, 5), 0.0, 1) == 0)


def test_l2_direction_and_projection_survive_a_norm_beyond_float64():
    """‖δ‖₂ of (1.5e308, 1.5e308) is inf in float64 (lp_norm is right to say so), and δ/inf was
    0: normalize gave the zero direction and project the origin instead of ε·δ/‖δ‖₂."""
    delta = np.array([[1.5e308, -1.5e308], [3.0, 4.0]])
    with np.errstate(over="ignore"):
        u = normalize(delta, 2)
        p = project(delta, 2.0, 2)
    np.testing.assert_allclose(u, [[2 ** -0.5, -2 ** -0.5], [0.6, 0.8]], rtol=1e-15)
    np.testing.assert_allclose(p, [[2 ** 0.5, -2 ** 0.5], [1.2, 1.6]], rtol=1e-15)
