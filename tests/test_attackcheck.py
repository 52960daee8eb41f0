"""The public attack checker passes tinyadv's attacks and catches attacks that break the contract,
naming what they broke."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyadv as ta
from attack_models import TwoLayerMLP
from tinyadv.attackcheck import LinearModel
from tinyadv.gradcheck import numerical_gradient, rel_error


@pytest.fixture
def model_and_data():
    rng = np.random.default_rng(0)
    model = ta.mlp([12, 8, 3], seed=0).eval()
    return model, rng.uniform(0.1, 0.9, size=(10, 1, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("norm", [np.inf, 2, 1])
def test_tinyadv_attacks_keep_the_contract(model_and_data, norm):
    model, x = model_and_data
    eps = {np.inf: 0.1, 2: 0.5, 1: 2.0}[norm]
    for attack, extra in ((ta.fgm, {}), (ta.pgd, {"alpha": eps / 4, "steps": 10})):
        report = ta.check_attack(attack, model, x, eps=eps, norm=norm, **extra)
        assert report.passed, str(report)


def test_spsa_and_fgsm_keep_the_contract(model_and_data):
    model, x = model_and_data
    assert ta.check_attack(ta.fgsm, model, x, eps=0.1).passed
    report = ta.check_attack(ta.spsa, model, x, eps=0.1, steps=20, samples=64, lr=0.05)
    assert report.passed, str(report)


def iterative_fgsm_without_projection(model, x, y=None, *, eps, steps=5, clip=(0.0, 1.0)):
    """A broken BIM: steps of ε each and never projected back onto the ball."""
    for _ in range(steps):
        x = np.clip(ta.fgsm(model, x, y, eps=eps, clip=None), *clip).astype(x.dtype)
    return x


def fgsm_without_clip(model, x, y=None, *, eps):
    """A broken FGSM: forgets the pixel box."""
    return ta.fgsm(model, x, y, eps=eps, clip=None)


def fgsm_descending(model, x, y=None, *, eps, clip=(0.0, 1.0)):
    """A broken FGSM: steps down the loss instead of up."""
    return ta.fgsm(model, x, y, eps=eps, targeted=True, clip=clip) if y is not None else x


def test_an_attack_that_forgets_to_project_fails_naming_the_ball(model_and_data):
    model, x = model_and_data
    report = ta.check_attack(iterative_fgsm_without_projection, model, x, eps=0.05)
    assert not report.passed and "inside the L∞ ball" in report.failures
    assert "does the attack project" in report.failures["inside the L∞ ball"]


def test_an_attack_that_forgets_to_clip_fails_naming_the_box(model_and_data):
    model, x = model_and_data
    report = ta.check_attack(fgsm_without_clip, model, np.clip(x * 1.5 - 0.2, 0, 1), eps=0.3)
    assert list(report.failures) == ["inside the pixel box"]
    assert "does the attack clip" in str(report)


def test_an_attack_weaker_than_fgsm_on_a_linear_model_fails(model_and_data):
    model, x = model_and_data
    report = ta.check_attack(fgsm_descending, model, x, eps=0.1)
    assert "≥ FGM on a linear model" in report.failures


    assert "ascent direction" in report.failures["≥ FGM on a linear model"]


def test_pgd_whose_steps_cannot_cross_the_ball_from_a_random_start_is_told_so(model_and_data):
    # steps·alpha = eps: from a random start a coordinate may need 2·eps; the hint named only the
    # gradient's sign before
    model, x = model_and_data
    report = ta.check_attack(ta.pgd, model, x, eps=0.1, alpha=0.025, steps=4, random_start=True)
    assert list(report.failures) == ["≥ FGM on a linear model"]
    assert "steps·alpha = 0.1 is less than 2·eps = 0.2" in report.failures["≥ FGM on a linear model"]
    assert ta.check_attack(ta.pgd, model, x, eps=0.1, alpha=0.025, steps=8, random_start=True).passed


def test_a_random_attack_without_seed_is_not_repeatable(model_and_data):
    model, x = model_and_data

    def unseeded_noise(model, x, y=None, *, eps):
        return np.clip(x + np.random.default_rng().uniform(-eps, eps, x.shape), 0, 1).astype(x.dtype)

    report = ta.check_attack(unseeded_noise, model, x, eps=0.1)
    assert "repeatable" in report.failures
    assert "takes no seed argument" in report.failures["repeatable"]


def test_a_student_model_works_with_the_checker():
    model = LinearModel(np.arange(12.0) - 6, 0.5)
    x = np.random.default_rng(1).uniform(0, 1, size=(6, 12))
    assert ta.check_attack(ta.fgsm, model, x, eps=0.2).passed


@given(n=st.integers(1, 4), k=st.integers(1, 4), shape=st.sampled_from([(6,), (2, 3), (1, 2, 3)]),
       seed=st.integers(0, 2**16))
def test_linear_model_input_gradient_matches_finite_differences(n, k, shape, seed):
    """The student-style model's input_gradient(x, g) = g·W, reshaped like x, is the gradient of
    Σ g ⊙ logits(x) by central differences in float64, for K = 1 and more classes and images
    of any shape."""
    rng = np.random.default_rng(seed)
    model = LinearModel(rng.normal(size=(k, 6)), rng.normal(size=k))
    x = rng.normal(size=(n, *shape))
    g = rng.normal(size=(n, k))
    numeric = numerical_gradient(lambda: model.logits(x), x, g)
    assert rel_error(model.input_gradient(x, g), numeric) < 1e-6


@given(n=st.integers(1, 4), k=st.integers(1, 4), activation=st.sampled_from(["tanh", "relu"]),
       seed=st.integers(0, 2**16))
def test_the_attack_tests_two_layer_network_has_the_gradient_of_its_logits(n, k, activation, seed):
    """tests/attack_models.py's TwoLayerMLP, the nonlinear model of most attack tests, backprops
    by hand: its input_gradient is the central-difference gradient of Σ g ⊙ logits(x) (float64;
    ReLU kinks are 1e-6 away with probability ~1e-6 here)."""
    rng = np.random.default_rng(seed)
    model = TwoLayerMLP(6, 5, k, activation=activation, seed=seed)
    x = rng.normal(size=(n, 2, 3))
    g = rng.normal(size=(n, k))
    numeric = numerical_gradient(lambda: model.logits(x), x, g)
    assert rel_error(model.input_gradient(x, g), numeric) < 1e-6


def fgsm_three_steps_in_place(model, x, y=None, *, eps, clip=(0.0, 1.0)):
    """A broken BIM: steps x itself in place (never copies it) and never projects."""
    for _ in range(3):
        x[...] = ta.fgsm(model, x, y, eps=eps, clip=clip)
    return x


def test_an_attack_that_leaves_the_box_only_at_the_top_fails_naming_the_box(model_and_data):
    """x + ε, never clipped: no value falls below the box's low end, some rise above its high
    end (x up to 0.9, ε = 0.3); the box check looks at both ends."""
    model, x = model_and_data
    report = ta.check_attack(lambda model, x, y=None, *, eps: x + x.dtype.type(eps), model, x,
                             eps=0.3)
    assert "inside the pixel box" in report.failures, str(report)
    assert "inside the L∞ ball" not in report.failures, str(report)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_an_attack_that_returns_nan_or_infinity_fails_naming_it(model_and_data, bad):
    model, x = model_and_data

    def broken(model, x, y=None, *, eps):
        x_adv = x.copy()
        x_adv[0, 0, 0, 0] = bad
        return x_adv

    report = ta.check_attack(broken, model, x, eps=0.1)
    assert "no NaN or infinity" in report.failures, str(report)
    assert "repeatable" not in report.failures, str(report)  # (the same bits twice, NaN too)


@pytest.mark.parametrize("eps", [1.0, 10.0])
def test_an_l1_attack_a_thousandth_outside_the_ball_fails_in_float32_on_cifar_sized_images(eps):
    """The L1 slack was d times the L∞ one: 2.8e-3 at ε = 1 and 1.6e-2 at ε = 10 on 3×32×32
    float32 images, so this attack passed; a rounding bound leaves 3.7e-4."""
    x = np.random.default_rng(0).uniform(0.2, 0.8, (4, 3, 32, 32)).astype(np.float32)
    model = ta.logistic_regression(x[0].size, seed=0).eval()

    def past_the_ball(model, x, y=None, *, eps, norm, clip):
        x_adv = ta.pgd(model, x, y, eps=eps, norm=norm, clip=clip, alpha=eps / 4, steps=10,
                       seed=0)
        x_adv[:, 0, 0, 0] = np.where(x_adv[:, 0, 0, 0] >= x[:, 0, 0, 0],
                                     x_adv[:, 0, 0, 0] + 1e-3, x_adv[:, 0, 0, 0] - 1e-3)
        return x_adv

    report = ta.check_attack(past_the_ball, model, x, eps=eps, norm=1)
    assert "inside the L1 ball" in report.failures, str(report)
    assert ta.check_attack(ta.pgd, model, x, eps=eps, norm=1, alpha=eps / 4, steps=10).passed


def test_an_attack_that_writes_into_x_fails_and_the_callers_x_is_kept(model_and_data):
    """x_adv − x was measured after the attack had overwritten x: 0, so three ε-steps passed."""
    model, x = model_and_data
    clean = x.copy()
    report = ta.check_attack(fgsm_three_steps_in_place, model, x, eps=0.05)
    np.testing.assert_array_equal(x, clean)
    assert not report.passed
    assert {"leaves x unchanged", "inside the L∞ ball"} <= set(report.failures), str(report)


def test_an_attack_that_fails_on_a_second_call_is_reported_not_raised(model_and_data):
    model, x = model_and_data
    calls = []

    def once(model, x, y=None, *, eps):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("no second run")
        return x

    report = ta.check_attack(once, model, x, eps=0.1)
    assert "raised RuntimeError on a second call" in report.failures["repeatable"]


@pytest.mark.parametrize("comparison_size", [1, 2, 10])
def test_the_strength_check_can_fail_on_few_comparison_points(model_and_data, comparison_size):
    # (One miss was forgiven at any size: with one point the check passed an attack that never
    # flips anything.)
    model, x = model_and_data
    report = ta.check_attack(fgsm_descending, model, x, eps=0.5, comparison_size=comparison_size)
    assert "≥ FGM on a linear model" in report.failures, str(report)
    assert ta.check_attack(ta.fgsm, model, x, eps=0.5, comparison_size=comparison_size).passed


@pytest.mark.parametrize("comparison_size, message", [
    (10 ** 30, "comparison_size must be < 2\\*\\*63"),
    (2 ** 62, r"comparison_size=4611686018427387904 images of shape \(1, 3, 4\): the comparison "
              r"batch would have shape \(4611686018427387904, 1, 3, 4\), more than the 2\*\*63"),
])
def test_a_comparison_batch_no_array_can_hold_is_refused_before_the_attack_runs(
        model_and_data, comparison_size, message):
    """Before: "array is too big" from NumPy after the attack had run."""
    model, x = model_and_data
    with pytest.raises(ValueError, match=message):
        ta.check_attack(ta.fgsm, model, x, eps=0.1, comparison_size=comparison_size)


def test_linear_model_takes_an_empty_batch():
    # (reshape(len(x), -1) cannot infer a size of an empty batch: it raised before)
    model = LinearModel(np.ones((3, 12)))
    x = np.zeros((0, 1, 3, 4), np.float32)
    assert model.logits(x).shape == (0, 3)
    assert ta.fgsm(model, x, eps=0.1).shape == x.shape
