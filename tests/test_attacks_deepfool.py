"""DeepFool: exact on linear models, overshoot applied once, candidates, box and errors."""

import importlib
import unittest.mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attack_models import LinearModel, OnlyTheInterface, TwoLayerMLP
import tinyadv as ta
from tinyadv.attacks import deepfool, lp_norm
from tinyadv.gradcheck import numerical_gradient
from tinyadv.theory import minimal_linear_distance, minimal_linear_perturbation
from tinyadv.threads import row_chunks

deepfool_module = importlib.import_module("tinyadv.attacks.deepfool")


def _logistic(seed=0, n=10, d=20):
    rng = np.random.default_rng(seed)
    return LinearModel(rng.normal(size=(1, d)), [0.2]), rng.uniform(0.3, 0.7, size=(n, d))


def test_one_step_on_logistic_regression_is_the_closed_form():
    """STYLE §5: one DeepFool step on a linear model is −f(x)·w/‖w‖² (plus the reference nudge)."""
    model, x = _logistic()
    w = model.w[0]
    x_adv = deepfool(model, x, steps=1, overshoot=0.0, clip=None)
    exact = minimal_linear_perturbation(w, model.b[0], x, 2)
    nudge = 1e-5 / np.linalg.norm(w) + 1e-4  # r = ((|f| + 1e-5)/‖w‖ + 1e-4)·w/‖w‖
    np.testing.assert_allclose(lp_norm(x_adv - x - exact, 2), nudge, rtol=1e-6)


def test_deepfool_reaches_the_exact_minimal_l2_distance_within_one_percent():
    model, x = _logistic(1)
    x_adv = deepfool(model, x, overshoot=0.0, clip=None)
    exact = minimal_linear_distance(model.w[0], model.b[0], x, 2)
    assert np.all((model.logits(x_adv)[:, 0] > 0) != (model.logits(x)[:, 0] > 0))
    ratio = lp_norm(x_adv - x, 2) / exact
    assert np.all(ratio >= 1.0) and np.all(ratio <= 1.01)


def test_deepfool_is_exact_on_a_multiclass_linear_model():
    rng = np.random.default_rng(2)
    model = LinearModel(rng.normal(size=(6, 15)), rng.normal(size=6))
    x = rng.uniform(0.3, 0.7, size=(10, 15))
    z, y = model.logits(x), model.logits(x).argmax(1)
    exact = np.array([min((z[n, y[n]] - z[n, j]) / np.linalg.norm(model.w[y[n]] - model.w[j])
                          for j in range(6) if j != y[n]) for n in range(len(x))])
    x_adv = deepfool(model, x, candidates=6, overshoot=0.0, clip=None)
    assert np.all(model.logits(x_adv).argmax(1) != y)
    np.testing.assert_allclose(lp_norm(x_adv - x, 2) / exact, 1.0, atol=0.01)


@pytest.mark.parametrize("candidates", [3, 6])
def test_one_step_goes_to_the_closest_linearised_boundary_among_the_top_candidates(candidates):
    """Moosavi-Dezfooli et al. 2016, Alg. 2 (REFERENCES.md §9): each step picks, among the top-k
    classes of the clean logits, the l minimising (|f_l| + 1e-5)/‖w_l‖₂ and moves by
    ((|f_l| + 1e-5)/‖w_l‖₂ + 1e-4)·w_l/‖w_l‖₂. Rows of w of very different norms make the
    smallest |f_k| or the smallest |f_k|/‖w_k‖₂² another class for some samples (a choice by
    |f_k|/‖w_k‖₂² passed the tests of the full run above)."""
    rng = np.random.default_rng(6)
    k, d = 6, 15
    w = rng.normal(size=(k, d)) * np.array([0.2, 0.5, 1.0, 2.0, 4.0, 8.0])[:, None]
    model = LinearModel(w, rng.normal(size=k))
    x = rng.uniform(0.3, 0.7, size=(40, d))
    z = model.logits(x)
    top = np.argsort(-z, axis=1, kind="stable")[:, :candidates]
    rows = np.arange(len(x))[:, None]
    y, others = top[:, :1], top[:, 1:]
    f = np.abs(z[rows, others] - z[rows, y])
    w_diff = w[others] - w[y]                                   # (N, k − 1, D)
    norms = np.linalg.norm(w_diff, axis=2)
    pick = np.argmin((f + 1e-5) / norms, axis=1)
    n = np.arange(len(x))
    step = ((f[n, pick] + 1e-5) / norms[n, pick] + 1e-4)[:, None] * w_diff[n, pick] / norms[n, pick, None]
    x_adv = deepfool(model, x, candidates=candidates, overshoot=0.0, steps=1, clip=None)
    np.testing.assert_allclose(x_adv - x, step, rtol=1e-9, atol=1e-12)
    assert np.any(pick != np.argmin(f, axis=1)) and np.any(pick != np.argmin(f / norms ** 2, axis=1))


def test_deepfool_overshoot_placement():
    """Regression (CleverHans #1008): overshoot scales the total perturbation once, at the end."""
    model = TwoLayerMLP(12, 10, 5, activation="tanh", seed=3, scale=3.0)
    x = np.random.default_rng(3).uniform(0.2, 0.8, size=(12, 12))
    plain = deepfool(model, x, overshoot=0.0, clip=None)
    over = deepfool(model, x, overshoot=0.02, clip=None)
    np.testing.assert_allclose(over - x, 1.02 * (plain - x), rtol=1e-10, atol=1e-12)
    assert np.all(model.logits(plain).argmax(1) != model.logits(x).argmax(1))


def test_deepfool_default_overshoot_is_two_percent():
    """REFERENCES.md §9 (the authors' and CleverHans's default): without ``overshoot`` the result
    is x₀ + 1.02·r_tot."""
    model = TwoLayerMLP(12, 10, 5, activation="tanh", seed=3, scale=3.0)
    x = np.random.default_rng(3).uniform(0.2, 0.8, size=(12, 12))
    plain = deepfool(model, x, overshoot=0.0, clip=None)
    np.testing.assert_allclose(deepfool(model, x, clip=None) - x, 1.02 * (plain - x), rtol=1e-10,
                               atol=1e-12)


def test_deepfool_stays_in_the_box_and_keeps_dtype():
    model = TwoLayerMLP(12, 10, 3, seed=4)
    x = np.random.default_rng(4).uniform(0, 1, size=(7, 3, 2, 2)).astype(np.float32)
    x_adv = deepfool(model, x)
    assert x_adv.dtype == np.float32 and x_adv.shape == x.shape
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_deepfool_uses_only_the_top_candidates():
    """With candidates=2 only the runner-up class may be reached first on a linear model."""
    rng = np.random.default_rng(5)
    model = LinearModel(rng.normal(size=(5, 10)), rng.normal(size=5))
    x = rng.uniform(0.3, 0.7, size=(20, 10))
    runner_up = np.argsort(-model.logits(x), axis=1)[:, 1]
    x_adv = deepfool(model, x, candidates=2, overshoot=0.0, clip=None, steps=1)
    z = model.logits(x_adv)
    # one step moves just across the boundary with the runner-up: Z_ru − Z_y = 1e-5 + 1e-4·‖w_ru − w_y‖
    y = model.logits(x).argmax(1)
    expected = 1e-5 + 1e-4 * np.linalg.norm(model.w[runner_up] - model.w[y], axis=1)
    np.testing.assert_allclose(z[np.arange(20), runner_up] - z[np.arange(20), y], expected, rtol=1e-5)


def test_deepfool_bad_input():
    model, x = _logistic(0, n=3)
    with pytest.raises(ValueError, match="candidates"):
        deepfool(model, x, candidates=1)
    with pytest.raises(ValueError, match="overshoot"):
        deepfool(model, x, overshoot=-0.1)
    with pytest.raises(ValueError, match="NaN"):
        deepfool(model, np.full_like(x, np.nan))


@given(k_logits=st.sampled_from([1, 2, 3, 5]), candidates=st.integers(2, 5), tinyadv_model=st.booleans(),
       seed=st.integers(0, 2**16))
@settings(deadline=None)
def test_candidate_gradients_are_central_differences_of_the_logit_differences(
        k_logits, candidates, tinyadv_model, seed):
    """w_c = ∇(Z_c − Z_ŷ) for each candidate c after the top one ŷ (the two logits [0, z] of a
    binary model), on nonlinear models in float64: a tinyadv ReLU network (its one forward pass
    for all candidates) and the hand-written tanh network (a gradient call per candidate)."""
    k = min(candidates, max(k_logits, 2))
    if tinyadv_model:
        model = ta.mlp([6, 7, k_logits], seed=seed, dtype=np.float64)
    else:
        model = TwoLayerMLP(6, 7, k_logits, seed=seed)
    x = np.random.default_rng(seed).uniform(0, 1, size=(3, 6))

    def candidates_of(two_logits, rows):
        return np.argsort(-two_logits, axis=1, kind="stable")[:, :k]

    z, w = deepfool_module._logits_and_candidate_gradients(model, x, candidates_of, k, k_logits)
    assert w.shape == (k - 1,) + x.shape
    top = candidates_of(z, slice(None))
    for i in range(len(x)):
        point = x[i:i + 1].copy()
        for j in range(1, k):
            def difference():
                two = ta.attacks.base.as_two_logits(model.logits(point))
                return two[0, top[i, j]] - two[0, top[i, 0]]
            expected = numerical_gradient(difference, point, 1.0)[0]
            np.testing.assert_allclose(w[j - 1, i], expected, rtol=1e-6,
                                       atol=1e-7 * max(np.abs(expected).max(), 1.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_forward_for_all_candidates_equals_one_gradient_call_per_candidate(dtype):
    """Sequential.logits_and_input_gradients (one forward pass, one backward per upstream
    gradient) is an optimisation only: the same bits as input_gradient per gradient, and
    DeepFool gives the same result with it as through the two-method interface."""
    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, seed=0, dtype=dtype).eval()
    model.chunk_size = 3
    rng = np.random.default_rng(0)
    x = rng.random((10, 1, 28, 28)).astype(dtype)
    g = rng.normal(size=(4, 10, 10)).astype(dtype)
    logits, dx = model.logits_and_input_gradients(x, lambda z, rows: g[:, rows])
    np.testing.assert_array_equal(logits, model.logits(x))
    assert dx.shape == (4, 10, 1, 28, 28) and dx.dtype == dtype
    for m in range(4):
        np.testing.assert_array_equal(dx[m], model.input_gradient(x, g[m]))
    np.testing.assert_array_equal(deepfool(model, x, candidates=4),
                                  deepfool(OnlyTheInterface(model), x, candidates=4))
    with pytest.raises(ValueError, match="grad_fn must return"):
        model.logits_and_input_gradients(x, lambda z, rows: g[0, rows])


@pytest.mark.parametrize("threads", [1, 2])
def test_deepfool_in_chunks_of_samples_gives_the_same_bits_on_any_thread_count(
        restore_threads, threads):
    """The linearised step runs on chunks of samples (here 30 samples of 20,000 values: five
    chunks) on the threads; each row is computed on its own, so one thread and two give the
    result of one pass over the whole batch."""
    model = TwoLayerMLP(20_000, 16, 5, seed=1, scale=3.0)
    x = np.random.default_rng(2).uniform(0.2, 0.8, size=(30, 20_000))
    assert len(row_chunks(30, x[:1].nbytes)) == 5
    ta.set_num_threads(threads)
    chunked = deepfool(model, x, candidates=4)
    with unittest.mock.patch.object(deepfool_module, "row_chunks", lambda n, row_bytes: [slice(0, n)]):
        whole = deepfool(model, x, candidates=4)
    np.testing.assert_array_equal(chunked, whole)
    assert np.mean(np.argmax(model.logits(chunked), axis=1) != np.argmax(model.logits(x), axis=1)) > 0.9


def test_deepfool_on_a_batch_equals_deepfool_on_each_sample_alone():
    """Samples that cross their boundary at different steps leave the batch at different steps;
    the others' steps must go on as if alone (up to the model's own rounding: a product of one
    row and of thirty are summed differently)."""
    model = TwoLayerMLP(200, 16, 5, seed=1, scale=3.0)
    x = np.random.default_rng(2).uniform(0.2, 0.8, size=(30, 200))
    label = np.argmax(model.logits(x), axis=1)
    crossed_at_once = np.argmax(model.logits(deepfool(model, x, overshoot=0.0, steps=1)), axis=1) != label
    assert 0 < crossed_at_once.sum() < 30  # some need more steps than others
    alone = np.concatenate([deepfool(model, x[i:i + 1], candidates=4) for i in range(30)])
    np.testing.assert_allclose(deepfool(model, x, candidates=4), alone, rtol=0, atol=1e-10)


def test_deepfool_names_candidate_gradients_of_the_wrong_shape():
    class OneGradientTooFew:
        def __init__(self, model):
            self.model = model
            self.logits, self.input_gradient = model.logits, model.input_gradient

        def logits_and_input_gradients(self, x, grad_fn):
            logits, dx = self.model.logits_and_input_gradients(x, grad_fn)
            return logits, dx[1:]

    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=2, seed=0, dtype=np.float64).eval()
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    with pytest.raises(ValueError, match="must return 3 gradients shaped like x"):
        deepfool(OneGradientTooFew(model), x, candidates=4)
