"""The public gradient checker catches known-wrong backward passes and names the mistake."""

import numpy as np
import pytest

import tinyadv as ta
from tinyadv.layers import conv2d_backward, conv2d_forward, linear_backward, linear_forward


def leaky_relu_forward(x, slope=0.1):
    return np.where(x > 0, x, slope * x), x


def leaky_relu_backward(dout, x):
    return dout * np.where(x > 0, 1.0, 0.1)


def away_from_zero(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * (0.1 + rng.random(shape))


def test_a_students_leaky_relu_passes():
    report = ta.check_gradients(leaky_relu_forward, leaky_relu_backward, [away_from_zero((4, 5))])
    assert report.passed and list(report.errors) == ["x"]
    assert "all gradients match" in str(report)


def test_a_sign_error_is_caught_and_named():
    def tanh_forward(x):
        y = np.tanh(x)
        return y, y

    def tanh_backward_with_sign_error(dout, y):
        return -dout * (1 - y ** 2)

    report = ta.check_gradients(tanh_forward, tanh_backward_with_sign_error,
                                [np.random.default_rng(0).normal(size=(3, 4))])
    assert not report.passed
    assert "wrong sign" in report.problems["x"] and "WRONG" in str(report)


def test_a_missing_factor_is_caught_and_named():
    def square_forward(x):
        return x ** 2, x

    def square_backward_missing_two(dout, x):
        return dout * x  # forgot the 2 of d(x²)/dx = 2x

    report = ta.check_gradients(square_forward, square_backward_missing_two,
                                [np.random.default_rng(1).normal(size=(5,))])
    assert not report.passed
    assert "off by a constant factor" in report.problems["x"] and "0.5" in report.problems["x"]


def test_tinyadv_pairs_pass_with_names_taken_from_the_signature():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=2)
    report = ta.check_gradients(linear_forward, linear_backward, [x, w, b])
    assert report.passed and list(report.errors) == ["x", "w", "b"]
    x, w = rng.normal(size=(2, 2, 6, 5)), rng.normal(size=(3, 2, 3, 3))
    report = ta.check_gradients(lambda x, w: conv2d_forward(x, w, stride=2, padding=1),
                                lambda dout, cache: conv2d_backward(dout, cache)[:2], {"x": x, "w": w})
    assert report.passed, str(report)


def test_check_layer_covers_input_and_every_parameter():
    layer = ta.BatchNorm(3, dtype=np.float64)
    report = ta.check_layer(layer, np.random.default_rng(1).normal(size=(5, 3)))
    assert report.passed and set(report.errors) == {"x", "weight", "bias"}


def test_forward_must_return_out_and_cache():
    with pytest.raises(TypeError, match="forward must return \\(out, cache\\)"):
        ta.check_gradients(lambda x: x * 2, lambda dout, cache: dout, [np.ones(3)])


def near_zero_bias_case():
    """A float64 convolution whose bias gradient (-1.8e-4) is a sum of 18 upstream values that
    nearly cancel: Hypothesis found it failing before the checker knew its noise floor."""
    layer = ta.Conv2D(1, 1, (3, 1), bias=True, seed=264, dtype=np.float64)
    x = np.random.default_rng(264).normal(size=(3, 1, 3, 6))
    return layer, x


def test_a_near_zero_gradient_is_judged_beyond_the_noise_of_central_differences():
    layer, x = near_zero_bias_case()
    report = ta.check_layer(layer, x, seed=264)
    assert report.passed, str(report)
    # Without the noise floor the same numbers give a relative error above the tolerance.
    out, cache = layer.forward(x)
    dout = np.random.default_rng(264).normal(size=out.shape)
    _, grads = layer.backward(dout, cache)
    numeric = ta.numerical_gradient(lambda: layer.forward(x)[0], layer.params["bias"].data, dout)
    assert ta.rel_error(grads["bias"], numeric) > 1e-6


def test_the_noise_floor_does_not_hide_a_wrong_near_zero_gradient():
    layer, x = near_zero_bias_case()
    backward = layer.backward
    layer.backward = lambda dout, cache, **kw: (
        lambda dx, grads: (dx, dict(grads, bias=grads["bias"] * 1.01)))(*backward(dout, cache, **kw))
    report = ta.check_layer(layer, x, seed=264)
    assert not report.passed and report.errors["bias"] > 1e-3


@pytest.mark.parametrize("x0", [1.0, 0.05, -3.0])
def test_numerical_gradient_divides_by_the_step_float32_actually_takes(x0):
    """1 + 1e-6 is 1 + 1.013e-6 in float32: dividing by 2h gave a slope of 3.93 for 4."""
    x = np.array([x0, 2 * x0], dtype=np.float32)
    numeric = ta.numerical_gradient(lambda: 2.0 * x.astype(np.float64) ** 2, x, 1.0)
    np.testing.assert_allclose(numeric, 4 * x.astype(np.float64), rtol=1e-6)


@pytest.mark.parametrize("x0, dtype", [(100.0, np.float32), (3e11, np.float64)])
def test_numerical_gradient_refuses_a_step_below_the_dtypes_resolution(x0, dtype):
    """x ± h rounded to x: the difference was 0 and the gradient silently 0."""
    x = np.array([0.5, x0], dtype=dtype)
    with pytest.raises(ValueError, match=r"h=1e-06 is below the resolution of .* at x\[1\]"):
        ta.numerical_gradient(lambda: 2.0 * x.astype(np.float64), x, 1.0)


def test_a_wrong_gradient_does_not_pass_when_central_differences_are_all_noise():
    """Outputs of 1e9 against a gradient of 1: the noise floor used to swallow the whole
    gradient, and a backward returning 0 passed with error 0."""
    x = np.random.default_rng(0).normal(size=(4, 4))
    for backward in (lambda dout, cache: 0 * dout, lambda dout, cache: dout):
        report = ta.check_gradients(lambda x: (x + 1e9, None), backward, [x])
        assert not report.passed
        assert "too noisy to check" in report.problems["x"]


def test_a_forward_in_float32_is_named_as_too_noisy_to_check():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)).astype(np.float32)
    report = ta.check_gradients(lambda x: (x.astype(np.float32) @ w, None),
                                lambda dout, cache: dout @ w.T.astype(np.float64), [x])
    assert not report.passed and "computes in float32" in report.problems["x"]


def test_numerical_gradient_of_an_empty_array_is_empty():
    # It refused x of shape (0, 4) as "not a contiguous array it can perturb in place".
    x = np.zeros((0, 4))
    grad = ta.gradcheck.numerical_gradient(lambda: x * 2, x, np.zeros((0, 4)))
    assert grad.shape == (0, 4) and grad.dtype == np.float64
    with pytest.raises(ValueError, match="contiguous"):
        ta.gradcheck.numerical_gradient(lambda: 1.0, np.zeros((3, 4)).T, 1.0)


def test_a_backward_that_returns_none_for_every_input_is_refused():
    """It checked nothing and reported "all gradients match central differences"."""
    x, w = np.linspace(-1, 1, 6).reshape(2, 3), np.ones((3, 2))
    for backward, inputs in ((lambda dout, cache: None, [x]),
                             (lambda dout, cache: (None,), [x]),
                             (lambda dout, cache: (None, None), [x, w])):
        with pytest.raises(ValueError, match="None for every input: there is no gradient to check"):
            ta.check_gradients(lambda *a: (a[0] @ a[1] if len(a) == 2 else np.tanh(a[0]), a),
                               backward, inputs)
