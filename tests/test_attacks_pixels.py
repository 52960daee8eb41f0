"""Corruptions and the L0 pixel attack: budgets, statistics, exact choices, the sweep API."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from attack_models import LinearModel, TwoLayerMLP
import tinyadv as ta
from tinyadv.attacks import gaussian_noise, pixel_attack, salt_and_pepper, swap_pixels, uniform_noise
from tinyadv.attacks.base import loss_gradient
from tinyadv.evaluate import sweep


def _images(seed=0, n=20, shape=(1, 6, 6), dtype=np.float64):
    return np.random.default_rng(seed).uniform(0, 1, size=(n,) + shape).astype(dtype)


def test_gaussian_noise_has_the_right_scale_and_is_seeded():
    """200,000 draws: the sample's std is within 4 standard errors (σ/√(2n) = 7.9e-5) of σ, so a
    scale off by 1% fails (with 5,000 draws and a 4% tolerance, σ·0.98 passed), and its mean
    within 4 standard errors of 0."""
    x = np.full((2000, 1, 10, 10), 0.5)
    noisy = gaussian_noise(None, x, sigma=0.05, seed=0)
    assert abs(np.std(noisy - x) - 0.05) < 4 * 0.05 / np.sqrt(2 * x.size)
    assert abs(np.mean(noisy - x)) < 4 * 0.05 / np.sqrt(x.size)
    np.testing.assert_array_equal(noisy, gaussian_noise(None, x, sigma=0.05, seed=0))
    big = gaussian_noise(None, x.astype(np.float32), sigma=10.0, seed=1)
    assert big.dtype == np.float32 and big.min() >= 0 and big.max() <= 1
    assert np.array_equal(gaussian_noise(None, x, sigma=0.0, seed=0), x)


@given(eps=st.sampled_from([0.0, 0.01, 0.3, 2.0]), seed=st.integers(0, 1000))
def test_uniform_noise_stays_in_the_linf_ball_and_box(eps, seed):
    """In the ball and the box, and really noise: where the box does not clip (x ± ε inside
    it), x̃ − x is U(−ε, ε) (a uniform_noise returning x, or drawing U(0, ε), passed the bounds
    alone); seeded. (The images are drawn from another seed than the noise: from the same one,
    x and x̃ − x would be the same uniform draws, perfectly correlated.)"""
    x = _images(seed + 1001, n=100)
    noisy = uniform_noise(None, x, eps=eps, seed=seed)
    assert np.all(np.abs(noisy - x) <= eps) and noisy.min() >= 0 and noisy.max() <= 1
    np.testing.assert_array_equal(noisy, uniform_noise(None, x, eps=eps, seed=seed))
    if eps == 0.0:
        np.testing.assert_array_equal(noisy, x)
        return
    free = (x - eps >= 0) & (x + eps <= 1)  # entries that the box cannot clip
    if not free.any():  # (ε = 0.3 leaves 40% of the 3,600 entries free, ε = 2 none)
        assert np.mean(noisy != x) > 0.5
        return
    noise = (noisy - x)[free] / eps
    assert stats.kstest(noise, stats.uniform(-1, 2).cdf).pvalue > 1e-6  # (U(0, ε): 1e-200)


def test_salt_and_pepper_hits_the_fraction_with_box_values():
    x = _images(1, n=100) * 0.5 + 0.25
    noisy = salt_and_pepper(None, x, fraction=0.2, seed=2)
    changed = noisy != x
    assert abs(changed.mean() - 0.2) < 0.01
    assert set(np.unique(noisy[changed])) == {0.0, 1.0}
    assert abs(np.mean(noisy[changed] == 1.0) - 0.5) < 0.03
    with pytest.raises(ValueError, match="clip box"):
        salt_and_pepper(None, x, fraction=0.2, clip=None)


@given(fraction=st.floats(0, 1), seed=st.integers(0, 1000))
def test_swap_pixels_swaps_pairs_and_keeps_values(fraction, seed):
    x = _images(seed, n=4)
    swapped = swap_pixels(None, x, fraction=fraction, seed=seed)
    flat, flat_s = x.reshape(4, -1), swapped.reshape(4, -1)
    m = 2 * (int(round(fraction * 36)) // 2)
    assert np.all(np.sum(flat != flat_s, axis=1) == m)  # values are distinct almost surely
    np.testing.assert_array_equal(np.sort(flat, axis=1), np.sort(flat_s, axis=1))
    np.testing.assert_array_equal(swap_pixels(None, swapped, fraction=fraction, seed=seed), x)


def test_corruptions_reject_bad_levels():
    x = _images()
    with pytest.raises(ValueError, match="fraction"):
        swap_pixels(None, x, fraction=1.5)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_noise(None, x, sigma=-1.0)
    with pytest.raises(ValueError, match="NaN"):
        uniform_noise(None, np.full_like(x, np.nan), eps=0.1)


def _logistic(seed=0):
    rng = np.random.default_rng(seed)
    model = LinearModel(rng.normal(size=(1, 36)), [0.0])
    return model, _images(seed)


def test_pixel_attack_switches_the_top_k_gains():
    model, x = _logistic(3)
    _, grad, _ = loss_gradient(model, x, (model.logits(x)[:, 0] > 0).astype(int), False)
    g = grad.reshape(len(x), -1)
    gain = g * (np.where(g > 0, 1.0, 0.0) - x.reshape(len(x), -1))
    x_adv = pixel_attack(model, x, k=5)
    changed = (x_adv != x).reshape(len(x), -1)
    for n in range(len(x)):
        assert set(np.flatnonzero(changed[n])) == set(np.argsort(-gain[n])[:5])
    assert set(np.unique(x_adv.reshape(len(x), -1)[changed])) <= {0.0, 1.0}


def test_pixel_attack_greedy_equals_one_shot_on_logistic_regression():
    """The gradient of a logistic model is a multiple of w: the ranking never changes."""
    model, x = _logistic(4)
    greedy = pixel_attack(model, x, k=7, pixels_per_step=1)
    np.testing.assert_array_equal(greedy, pixel_attack(model, x, k=7))


@pytest.mark.parametrize("per_step", [None, 1, 3])
def test_pixel_attack_switches_only_entries_with_a_positive_gain(per_step):
    """Only entries with gain g_i·(t_i − x_i) > 0 are switched. With k = 20 and five nonzero
    weights on logistic regression, g = c·w (c ≠ 0, of one sign per sample) has 31 zero entries:
    those keep their value, as does an entry that sits at its target end already (gain 0);
    the five others go to their ends. Switching the zero-gain entries too (sent to the lower
    end, as g_i > 0 is false) changed x where the loss gains nothing."""
    w = np.zeros(36)
    w[[2, 7, 11, 20, 33]] = [1.5, -2.0, 0.7, -0.4, 1.1]
    model = LinearModel(w[None], [0.0])
    x = _images(9, n=6) * 0.8 + 0.1
    y = (model.logits(x)[:, 0] > 0).astype(np.int64)
    sign = np.where(y == 1, -1.0, 1.0)[:, None]  # the sign of c: the loss pushes z away from y
    target = np.where(sign * w > 0, 1.0, 0.0)
    flat = x.reshape(6, -1)
    flat[0, 2] = target[0, 2]  # already at its end: nothing to gain there
    expected = np.where(w != 0, target, flat)
    x_adv = pixel_attack(model, x, y, k=20, pixels_per_step=per_step)
    np.testing.assert_array_equal(x_adv.reshape(6, -1), expected)

class _Bowl:
    """One logit z = 10·(x₀ − 0.7)² + 0.5·x₁ (label 1 when z > 0). Lowering z (the untargeted
    attack on label 1) wants x₀ toward 0.7, so x₀ = 0.4 goes up to 1, and from 1 back down."""

    def logits(self, x):
        return (10.0 * (x[:, :1] - 0.7) ** 2 + 0.5 * x[:, 1:2]).copy()

    def input_gradient(self, x, grad_logits):
        grad = np.zeros_like(x)
        grad[:, 0] = grad_logits[:, 0] * 20.0 * (x[:, 0] - 0.7)
        grad[:, 1] = grad_logits[:, 0] * 0.5
        return grad


def test_pixel_attack_never_switches_an_entry_twice():
    """Each step switches entries "not yet switched": on ``_Bowl`` x₀ = 0.4 goes to 1 in the
    first step (the largest gain), and the second step, where the gradient at x₀ = 1 asks for 0
    with a gain 24 times that of x₁, must switch x₁ instead. Without the mark, x₀ went
    back to 0 and spent the budget (no test saw it)."""
    x = np.array([[0.4, 0.5, 0.5]])
    x_adv = pixel_attack(_Bowl(), x, k=2, pixels_per_step=1)
    np.testing.assert_array_equal(x_adv, [[1.0, 0.0, 0.5]])


@given(k=st.integers(0, 40), per_step=st.sampled_from([None, 1, 3]), seed=st.integers(0, 100))
def test_pixel_attack_respects_the_l0_budget_and_box(k, per_step, seed):
    model = TwoLayerMLP(36, 8, 3, seed=seed)
    x = _images(seed, n=5).astype(np.float32)
    x_adv = pixel_attack(model, x, k=k, pixels_per_step=per_step)
    assert x_adv.dtype == np.float32 and x_adv.shape == x.shape
    assert np.all(np.sum((x_adv != x).reshape(5, -1), axis=1) <= k)
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_pixel_attack_sweep_over_k_is_monotone_and_reaches_zero():
    model, x = _logistic(5)
    y = (model.logits(x)[:, 0] > 0).astype(np.int64)
    result = sweep(model, x, y, pixel_attack, [0, 1, 2, 4, 8, 16, 36], param="k", progress=False)
    acc = result["accuracy"]
    assert acc[0] == 1.0 and acc[-1] == 0.0 and np.all(np.diff(acc) <= 0)


def test_targeted_pixel_attack():
    rng = np.random.default_rng(6)
    model = LinearModel(rng.normal(size=(4, 36)), rng.normal(size=4))
    x = _images(6)
    target = (model.logits(x).argmax(1) + 2) % 4
    x_adv = pixel_attack(model, x, target, k=36, pixels_per_step=2, targeted=True)
    assert np.mean(model.logits(x_adv).argmax(1) == target) >= 0.9


def test_noise_sweep_runs_through_the_same_api():
    model = TwoLayerMLP(36, 8, 3, seed=7)
    x = _images(7, n=30)
    y = model.logits(x).argmax(1)
    result = sweep(model, x, y, gaussian_noise, [0.0, 0.1, 1.0], param="sigma", seed=0, progress=False)
    assert result["accuracy"][0] == 1.0 and result["accuracy"][-1] < 1.0
    swap = sweep(model, x, y, swap_pixels, [0.0, 1.0], param="fraction", seed=0, progress=False)
    assert swap["accuracy"][0] == 1.0


def test_pixel_attack_bad_input():
    model, x = _logistic(0)
    with pytest.raises(ValueError, match="clip box"):
        pixel_attack(model, x, k=3, clip=None)
    with pytest.raises(ValueError, match="k must be"):
        pixel_attack(model, x, k=-1)
    with pytest.raises(ValueError, match="targeted"):
        pixel_attack(model, x, k=3, targeted=True)


@pytest.mark.parametrize("per_step", [None, 2])
def test_pixel_attack_without_labels_takes_them_from_its_first_pass(per_step):
    """The first step is at x: with y=None the prediction comes from its forward pass, and
    every later step still gets the gradient at its own point (the same answers as with the
    labels given)."""
    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, seed=0, dtype=np.float64).eval()
    x = np.random.default_rng(0).random((5, 1, 28, 28))
    y = model.predict(x)
    options = dict(k=6, pixels_per_step=per_step)
    np.testing.assert_array_equal(pixel_attack(model, x, **options),
                                  pixel_attack(model, x, y, **options))
