"""Papernot et al. 2017 black-box attack: augmentation rule, query count, and a transfer that works."""

import numpy as np
import pytest

from attack_models import LinearModel
from tinyadv.attacks import jacobian_augmentation, papernot_blackbox, uniform_noise
from tinyadv.losses import cross_entropy


def _train_softmax_regression(model, x, y, epochs=300, lr=0.5):
    """A student's own trainer: full-batch gradient descent on the cross-entropy."""
    flat = x.reshape(len(x), -1)
    for _ in range(epochs):
        _, dz = cross_entropy(model.logits(x), y)
        model.w -= lr * dz.T @ flat
        model.b -= lr * dz.sum(0)


def _problem(seed=0, k=3, d=20):
    rng = np.random.default_rng(seed)
    oracle = LinearModel(rng.normal(size=(k, d)) * 3, np.zeros(k))
    x = rng.uniform(0, 1, size=(300, 1, 4, d // 4))
    oracle.b = -(oracle.logits(x) - oracle.b).mean(0)  # balance the classes
    return oracle, x


def test_jacobian_augmentation_steps_along_the_sign_of_the_label_logit_gradient():
    rng = np.random.default_rng(1)
    sub = LinearModel(rng.normal(size=(3, 8)), np.zeros(3))
    x = rng.uniform(0, 1, size=(5, 8))
    y = np.array([0, 1, 2, 1, 0])
    np.testing.assert_allclose(jacobian_augmentation(sub, x, y, -0.1) - x, -0.1 * np.sign(sub.w[y]))
    # One logit z: class 1 steps along +sign(∂z), class 0 along −sign(∂z), the signs of the
    # softmax's Jacobian (with the logits [0, z] class 0 did not move at all).
    binary = LinearModel(rng.normal(size=(1, 8)), [0.0])
    np.testing.assert_allclose(jacobian_augmentation(binary, x, y % 2, 0.1) - x,
                               0.1 * np.sign(binary.w[0]) * np.where(y % 2, 1, -1)[:, None])


def test_rounds_queries_and_the_periodic_step():
    oracle, x = _problem(2)
    sub = LinearModel(np.random.default_rng(3).normal(size=(3, 20)), np.zeros(3))
    sizes = []
    result = papernot_blackbox(oracle, sub, lambda m, xs, ys: sizes.append(len(xs)), x[:10], x[100:],
                               oracle.logits(x[100:]).argmax(1), rounds=4, lmbda=0.1, tau=1)
    assert sizes == [10, 20, 40, 80] and result.oracle_queries == 80
    np.testing.assert_array_equal(result.y_substitute, oracle.logits(result.x_substitute).argmax(1))
    xs, ys = result.x_substitute.reshape(80, -1), result.y_substitute
    for rho, sign in enumerate([+1, -1, +1]):  # tau = 1: the sign flips every round
        old = slice(0, 10 * 2 ** rho)
        new = slice(10 * 2 ** rho, 10 * 2 ** (rho + 1))
        np.testing.assert_allclose(xs[new] - xs[old], sign * 0.1 * np.sign(sub.w[ys[old]]), atol=1e-12)
    assert xs.max() > 1.0 or xs.min() < 0.0  # augmentation is not clipped


def test_transfer_from_a_trained_substitute_beats_random_noise():
    oracle, x = _problem(4)
    y = oracle.logits(x).argmax(1)
    sub = LinearModel(np.zeros((3, 20)), np.zeros(3))
    result = papernot_blackbox(oracle, sub, _train_softmax_regression, x[:30], x[100:], y[100:],
                               rounds=4, lmbda=0.1, eps=0.3)
    assert result.oracle_accuracy_clean == 1.0
    assert result.substitute_agreement > 0.7
    noise = uniform_noise(None, x[100:], eps=0.3, seed=0)
    noise_error = np.mean(oracle.logits(noise).argmax(1) != y[100:])
    assert result.transfer_success > 0.7 and result.transfer_success > noise_error + 0.3
    assert np.all(np.abs(result.x_adv - x[100:]) <= 0.3 + 1e-12)
    np.testing.assert_allclose(result.oracle_accuracy_adv, 1 - result.transfer_success)


def test_blackbox_bad_input():
    oracle, x = _problem(5)
    sub = LinearModel(np.zeros((3, 20)), np.zeros(3))
    y = oracle.logits(x).argmax(1)
    with pytest.raises(TypeError, match="oracle"):
        papernot_blackbox(object(), sub, _train_softmax_regression, x[:5], x, y)
    with pytest.raises(TypeError, match="train_substitute"):
        papernot_blackbox(oracle, sub, None, x[:5], x, y)
    with pytest.raises(ValueError, match="same image shape"):
        papernot_blackbox(oracle, sub, _train_softmax_regression, x[:5].reshape(5, -1), x, y)
    with pytest.raises(ValueError, match="y_test"):
        papernot_blackbox(oracle, sub, _train_softmax_regression, x[:5], x, y + 5)


def test_blackbox_names_x_test_when_it_leaves_the_box():
    """x_test outside the clip box, or with NaN, was reported as "x", a name the function lacks."""
    oracle, x = _problem(5)
    sub = LinearModel(np.zeros((3, 20)), np.zeros(3))
    y = oracle.logits(x).argmax(1)
    with pytest.raises(ValueError, match="^x_test has values in"):
        papernot_blackbox(oracle, sub, _train_softmax_regression, x[:5], x * 3, y)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="^x_test contains NaN"):
        papernot_blackbox(oracle, sub, _train_softmax_regression, x[:5], bad, y)
