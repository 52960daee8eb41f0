"""SPSA: the gradient estimate, the evaluation point, the ε-ball, and success on linear models."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from attack_models import LinearModel, TwoLayerMLP
from tinyadv.attacks import lp_norm, margin_loss, spsa, spsa_gradient
from tinyadv.theory import minimal_linear_distance


def test_spsa_gradient_of_a_quadratic_is_unbiased_and_divides_by_delta():
    """Regression (CleverHans #1087): the estimate is L·v/δ, so its scale does not depend on δ."""
    a = np.random.default_rng(0).normal(size=(3, 8))
    x = np.random.default_rng(1).normal(size=(3, 8))
    loss_fn = lambda pts, i: np.sum(a[i] * pts, axis=1) + 0.5 * np.sum(pts ** 2, axis=1)
    for delta in [1e-3, 1e-1]:
        g = spsa_gradient(loss_fn, x, delta=delta, samples=20000, rng=np.random.default_rng(2))
        np.testing.assert_allclose(g, a + x, atol=0.1)


def test_spsa_gradient_sends_at_most_batch_size_points_and_takes_an_empty_batch():
    """``batch_size`` is the largest number of points per call of ``loss_fn``: when the 2N
    points of one direction ±v exceed it, they go in slices (all 10 went at once for N = 5,
    batch_size = 4), with the same estimate. An empty batch gives an empty estimate (it divided
    by 2N = 0: ZeroDivisionError)."""
    a = np.random.default_rng(0).normal(size=(5, 3))
    x = np.random.default_rng(1).uniform(size=(5, 3))

    def estimate(batch_size):
        sizes = []

        def loss_fn(pts, i):
            sizes.append(len(pts))
            return np.sum(a[i] * pts, axis=1) + np.sum(pts ** 2, axis=1)

        g = spsa_gradient(loss_fn, x, delta=0.01, samples=6, rng=np.random.default_rng(2),
                          batch_size=batch_size)
        assert max(sizes) <= batch_size and sum(sizes) == 6 * len(x)
        return g

    whole = estimate(10)  # one direction's 10 points per call, as before
    for batch_size in [1, 3, 4, 7]:
        np.testing.assert_array_equal(estimate(batch_size), whole)

    calls = []
    g = spsa_gradient(lambda pts, i: calls.append(i) or np.zeros(len(pts)), np.zeros((0, 3)),
                      delta=0.01, samples=4, rng=np.random.default_rng(0))
    assert g.shape == (0, 3) and g.dtype == np.float64 and not calls


def test_margin_loss_with_negative_logits_and_a_single_logit():
    np.testing.assert_allclose(margin_loss(np.array([[-1.0, -5.0, -3.0]]), np.array([0])), [2.0])
    targeted = margin_loss(np.array([[-1.0, -5.0, -3.0]]), np.array([2]), targeted=True)
    np.testing.assert_allclose(targeted, [2.0])
    np.testing.assert_allclose(margin_loss(np.array([[1.5]]), np.array([1])), [1.5])


class _Spy:
    def __init__(self, model):
        self.model, self.seen = model, []

    def logits(self, x):
        self.seen.append(x.copy())
        return self.model.logits(x)

    def input_gradient(self, x, g):
        raise AssertionError("SPSA must not use gradients")


def test_spsa_evaluation_point():
    """Regression (CleverHans #1249): the loss is evaluated at x + p ± δv, p the current perturbation."""
    model = TwoLayerMLP(10, 8, 3, seed=1)
    x = np.random.default_rng(1).uniform(0.2, 0.8, size=(2, 10))
    spy = _Spy(model)
    spsa(spy, x, eps=0.1, steps=4, delta=0.01, samples=8, lr=0.02, random_start=False,
         early_stop=False, seed=0)
    # calls: clean prediction, then per step [iterate x + p, the 2·4·2 sampled points],
    # then the last iterate
    iterates = spy.seen[1::2]
    sampled = spy.seen[2::2]
    assert len(sampled) == 4 and len(iterates) == 5
    for t, pts in enumerate(sampled):
        pts = pts.reshape(2, 4, 2, 10)  # (±, direction, sample, D)
        center = (pts[0] + pts[1]) / 2
        np.testing.assert_allclose(center, np.broadcast_to(iterates[t], center.shape), atol=1e-12)
        np.testing.assert_allclose(np.abs(pts[0] - pts[1]) / 2, 0.01, rtol=1e-9)
        assert np.all(np.abs(iterates[t] - x) <= 0.1 + 1e-12)
    assert np.all(iterates[0] == x) and not np.allclose(iterates[-1], x)


def test_spsa_steps_are_adam_on_the_antithetic_estimate():
    """Uesato et al. 2018, Alg. 1, and CleverHans ``SPSA`` (REFERENCES.md §9): the perturbation
    p takes Adam steps (β₁ = 0.9, β₂ = 0.999, ε = 1e-8, bias-corrected) on
    ĝ = mean over ±v of L(x + p ± δv)·(±v)/δ, then is clipped to the ε-ball and the box. The
    estimate and the Adam steps are recomputed here from the points the attack evaluated; a
    signed-gradient step, Adam without bias correction, or ĝ multiplied by δv (CleverHans
    #1087, which Adam's ε = 1e-8 makes visible) give other iterates."""
    model = TwoLayerMLP(10, 8, 3, seed=2)
    x = np.random.default_rng(2).uniform(0.2, 0.8, size=(2, 10))
    spy = _Spy(model)
    eps, delta, lr, pairs = 0.1, 0.01, 0.02, 4
    spsa(spy, x, eps=eps, steps=4, delta=delta, samples=2 * pairs, lr=lr, random_start=False,
         early_stop=False, seed=0)
    y = model.logits(x).argmax(1)
    iterates, sampled = spy.seen[1::2], spy.seen[2::2]  # as in test_spsa_evaluation_point
    p, m, v = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for t, pts in enumerate(sampled, start=1):
        losses = margin_loss(model.logits(pts), np.tile(y, 2 * pairs)).reshape(2, pairs, len(x))
        pts = pts.reshape(2, pairs, len(x), 10)
        direction = np.sign(pts[0] - pts[1])                   # v_j, each entry ±1
        g = np.sum((losses[0] - losses[1])[..., None] * direction, axis=0) / (2 * pairs * delta)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g ** 2
        p = p - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        p = np.clip(x + np.clip(p, -eps, eps), 0, 1) - x
        np.testing.assert_allclose(iterates[t] - x, p, rtol=1e-9, atol=1e-12)


def test_spsa_returns_the_iterate_with_the_lowest_margin():
    """The documented return value: per sample, the iterate x + p (of the clean start and the
    ``steps`` Adam steps) whose margin is lowest, not the last one. With a large learning rate
    Adam overshoots, so for some samples the lowest margin comes before the last step; returning
    the last iterate (CleverHans ``projected_optimization`` does) passed every test of SPSA."""
    model = TwoLayerMLP(10, 8, 3, seed=3)
    x = np.random.default_rng(3).uniform(0.2, 0.8, size=(8, 10))
    y = model.logits(x).argmax(1)
    spy = _Spy(model)
    x_adv = spsa(spy, x, y, eps=0.3, steps=8, samples=8, lr=0.2, random_start=False,
                 early_stop=False, seed=0)
    iterates = np.stack(spy.seen[1::2])  # (steps + 1, N, D): given y, no clean prediction call
    assert len(iterates) == 9
    margins = np.stack([margin_loss(model.logits(it), y) for it in iterates])
    best = np.argmin(margins, axis=0)
    assert np.any(best < len(iterates) - 1)  # (else the last iterate would pass)
    np.testing.assert_array_equal(x_adv, iterates[best, np.arange(len(x))])


def test_spsa_random_start_is_uniform_in_the_linf_ball():
    """CleverHans ``projected_optimization`` (REFERENCES.md §9): with ``random_start`` the first
    iterate is x + p, p ~ U(−ε, ε) per entry (here no entry reaches the box), seeded. No test
    looked at it: a start drawn from U(0, ε), or no start at all, passed every test of SPSA."""
    model = TwoLayerMLP(10, 8, 3, seed=6)
    x = np.random.default_rng(6).uniform(0.3, 0.7, size=(60, 10))
    spy = _Spy(model)
    spsa(spy, x, eps=0.1, steps=1, samples=2, lr=0.01, early_stop=False, seed=3)
    start = spy.seen[1]  # the first call computes the clean prediction, the second sees x + p
    p = (start - x) / 0.1
    assert np.all(np.abs(p) <= 1 + 1e-12)
    assert stats.kstest(p.ravel(), stats.uniform(-1, 2).cdf).pvalue > 1e-3
    again = _Spy(model)
    spsa(again, x, eps=0.1, steps=1, samples=2, lr=0.01, early_stop=False, seed=3)
    np.testing.assert_array_equal(again.seen[1], start)


@given(seed=st.integers(0, 1000), eps=st.sampled_from([0.0, 0.05, 0.5, 3.0]),
       dtype=st.sampled_from([np.float32, np.float64]), targeted=st.booleans())
def test_spsa_stays_in_the_ball_and_the_box(seed, eps, dtype, targeted):
    model = TwoLayerMLP(12, 6, 3, seed=seed)
    x = np.random.default_rng(seed).uniform(0, 1, size=(3, 1, 3, 4)).astype(dtype)
    y = np.random.default_rng(seed + 1).integers(0, 3, size=3)
    x_adv = spsa(model, x, y, eps=eps, steps=3, samples=8, lr=0.1, targeted=targeted, seed=seed)
    assert x_adv.dtype == dtype and x_adv.shape == x.shape
    assert np.all(lp_norm(x_adv - x, np.inf) <= eps + 1e-6)
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_spsa_finds_the_linf_adversarial_of_logistic_regression():
    """Just above the exact L∞ distance every point flips, without a single gradient call."""
    rng = np.random.default_rng(3)
    model = LinearModel(rng.normal(size=(1, 20)), [0.0])
    x = rng.uniform(0.3, 0.7, size=(10, 20))
    d_inf = minimal_linear_distance(model.w[0], 0.0, x, np.inf)
    clean = model.logits(x)[:, 0] > 0
    flipped = []
    for n in range(len(x)):
        x_adv = spsa(_Spy(model), x[n:n + 1], eps=1.05 * d_inf[n], steps=100, samples=128,
                     lr=0.1 * d_inf[n], clip=None, seed=n)
        flipped.append((model.logits(x_adv)[0, 0] > 0) != clean[n])
    assert all(flipped)


def test_spsa_is_seeded_and_targeted_works():
    rng = np.random.default_rng(4)
    model = LinearModel(rng.normal(size=(3, 12)), rng.normal(size=3))
    x = rng.uniform(0, 1, size=(6, 12))
    target = (model.logits(x).argmax(1) + 1) % 3
    a = spsa(model, x, target, eps=1.0, steps=60, samples=16, lr=0.05, targeted=True, seed=0)
    np.testing.assert_array_equal(a, spsa(model, x, target, eps=1.0, steps=60, samples=16, lr=0.05,
                                          targeted=True, seed=0))
    assert np.mean(model.logits(a).argmax(1) == target) >= 0.8


def test_spsa_defaults_are_the_papers():
    """REFERENCES.md §9 (Uesato et al. 2018; CleverHans ``SPSA``): Adam lr 0.01, δ 0.01 and 128
    samples by default; a call without them gives the bits of a call with them."""
    model = TwoLayerMLP(12, 6, 3, seed=5)
    x = np.random.default_rng(5).uniform(0, 1, size=(3, 12))
    np.testing.assert_array_equal(
        spsa(model, x, eps=0.1, steps=2, seed=0),
        spsa(model, x, eps=0.1, steps=2, seed=0, lr=0.01, delta=0.01, samples=128))


def test_spsa_bad_input():
    model = TwoLayerMLP(12, 6, 3, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, size=(2, 12))
    with pytest.raises(ValueError, match="delta"):
        spsa(model, x, eps=0.1, steps=2, delta=0.0)
    with pytest.raises(ValueError, match="eps"):
        spsa(model, x, eps=-0.1, steps=2)
    with pytest.raises(ValueError, match="samples"):
        spsa(model, x, eps=0.1, steps=2, samples=1)
    with pytest.raises(ValueError, match="targeted"):
        spsa(model, x, eps=0.1, steps=2, targeted=True)
