"""Carlini–Wagner L2: closed-form accuracy, the "other" logit, best-not-last, binary search."""

import importlib
import inspect

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from attack_models import LinearModel, TwoLayerMLP
import tinyadv as ta
from tinyadv.attacks import cw_l2, cw_margin, cw_success, lp_norm
from tinyadv.gradcheck import central_difference_noise, numerical_gradient, rel_error

from tinyadv.theory import minimal_linear_distance
from tinyadv.threads import row_chunks

cw_module = importlib.import_module("tinyadv.attacks.cw")  # (tinyadv.attacks.cw_l2 is the function)
cw_image, cw_image_reference = cw_module.cw_image, cw_module.cw_image_reference
cw_adam_step, cw_adam_step_reference = cw_module.cw_adam_step, cw_module.cw_adam_step_reference


def _logistic(seed=0, n=12, d=30):
    rng = np.random.default_rng(seed)
    model = LinearModel(rng.normal(size=(1, d)), [0.1])
    return model, rng.uniform(0.3, 0.7, size=(n, d))


def _multiclass_min_l2(model, x):
    """min over j ≠ y of (z_y − z_j)/‖w_y − w_j‖₂ for a linear softmax model."""
    z = model.logits(x)
    y = z.argmax(1)
    dists = []
    for n in range(len(x)):
        dists.append(min((z[n, y[n]] - z[n, j]) / np.linalg.norm(model.w[y[n]] - model.w[j])
                         for j in range(z.shape[1]) if j != y[n]))
    return np.array(dists)


def test_cw_reaches_the_exact_minimal_l2_distance_within_five_percent():
    model, x = _logistic()
    x_adv = cw_l2(model, x)
    exact = minimal_linear_distance(model.w[0], model.b[0], x, 2)
    assert np.all((model.logits(x_adv)[:, 0] > 0) != (model.logits(x)[:, 0] > 0))
    ratio = lp_norm(x_adv - x, 2) / exact
    assert np.all(ratio >= 1.0 - 1e-9) and np.all(ratio <= 1.05)


def test_cw_other_logit_with_all_negative_logits():
    """Regression (torchattacks PR #168): max_{i≠y} Z_i by a −∞ mask, not by multiplying with 0."""
    logits = np.array([[-1.0, -5.0, -3.0], [-2.0, -0.5, -4.0]])
    y = np.array([0, 1])
    f, dlogits = cw_margin(logits, y)
    np.testing.assert_allclose(f, [2.0, 1.5])  # -1 - (-3) and -0.5 - (-2); masking by 0 gives 0
    np.testing.assert_allclose(dlogits, [[1, 0, -1], [-1, 1, 0]])
    f_t, d_t = cw_margin(logits, np.array([1, 2]), targeted=True, confidence=0.5)
    np.testing.assert_allclose(f_t, [-1 + 5 + 0.5, -0.5 + 4 + 0.5])
    np.testing.assert_allclose(d_t, [[1, -1, 0], [0, 1, -1]])

    # End to end: a linear softmax model whose logits are all very negative everywhere.
    rng = np.random.default_rng(1)
    model = LinearModel(rng.normal(size=(3, 20)), np.array([-50.0, -50.0, -50.0]))
    x = rng.uniform(0.3, 0.7, size=(8, 20))
    assert np.all(model.logits(x) < 0)
    x_adv = cw_l2(model, x, search_steps=6)
    assert np.all(model.logits(x_adv).argmax(1) != model.logits(x).argmax(1))
    ratio = lp_norm(x_adv - x, 2) / _multiclass_min_l2(model, x)
    assert np.all(ratio <= 1.05)


def test_cw_attacks_the_logits_of_a_saturated_float32_model():
    """REFERENCES.md §9, gradient masking (ART #1298, CleverHans #763/#350): attack logits, never
    probabilities. A logit margin of about 800 saturates the softmax even in float64 (p_y = 1,
    p_k = 0), so f on probabilities would have a zero gradient and CW would stand still; on the
    logits it reaches the minimal L2 distance of this linear model."""
    rng = np.random.default_rng(9)
    model = LinearModel(rng.normal(size=(3, 12)) * 20, np.array([900.0, 0.0, 0.0]))
    x = rng.uniform(0.3, 0.7, size=(4, 12)).astype(np.float32)
    y = np.zeros(4, dtype=np.int64)
    assert np.all(model.logits(x).argmax(1) == 0)
    x_adv = cw_l2(model, x, y, clip=None, search_steps=6, steps=200, lr=0.1)
    assert x_adv.dtype == np.float32 and np.all(model.logits(x_adv).argmax(1) != 0)
    ratio = lp_norm(x_adv.astype(np.float64) - x, 2) / _multiclass_min_l2(model, x.astype(np.float64))
    assert np.all(ratio >= 1 - 1e-6) and np.all(ratio <= 1.05)


def test_cw_margin_on_a_single_logit_model_reads_it_as_two_logits():
    f, dz = cw_margin(np.array([[2.0], [-1.0]]), np.array([1, 1]))
    np.testing.assert_allclose(f, [2.0, 0.0])  # Z_1 - Z_0 with Z_0 = 0
    np.testing.assert_allclose(dz, [[1.0], [0.0]])


@given(n=st.integers(1, 4), k=st.integers(1, 5), confidence=st.sampled_from([0.0, 0.5, 3.0]),
       targeted=st.booleans(), seed=st.integers(0, 2**16))
def test_cw_margin_gradient_matches_finite_differences(n, k, confidence, targeted, seed):
    """∂f/∂Z, which cw_l2 scales by c into the upstream gradient of every Adam step, equals
    central differences of f in float64: untargeted and targeted, K = 1 read as [0, z], on both
    sides of the hinge (f > 0 and f = 0). The logits are drawn 1e-3 or more away from f's kinks
    (its hinge, a tie for the largest other logit), where f has no derivative."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    y = rng.integers(0, max(k, 2), size=n)
    two = np.hstack([np.zeros((n, 1)), logits]) if k == 1 else logits
    rows = np.arange(n)
    others = np.sort(np.where(np.arange(two.shape[1]) == y[:, None], -np.inf, two), axis=1)
    if two.shape[1] > 2:
        assume(np.all(others[:, -1] - others[:, -2] > 1e-3))
    diff = others[:, -1] - two[rows, y]
    assume(np.all(np.abs((diff if targeted else -diff) + confidence) > 1e-3))
    options = dict(confidence=confidence, targeted=targeted)
    f, dlogits = cw_margin(logits, y, **options)
    assert dlogits.shape == logits.shape
    dout = rng.normal(size=n)
    numeric = numerical_gradient(lambda: cw_margin(logits, y, **options)[0], logits, dout)
    assert rel_error(dout[:, None] * dlogits, numeric) < 1e-6


class _Spy:
    """Wraps a model and records every input that the attack evaluates."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def logits(self, x):
        self.seen.append(x.copy())
        return self.model.logits(x)

    def input_gradient(self, x, g):
        return self.model.input_gradient(x, g)


def test_cw_returns_the_best_not_the_last():
    """Regression (AdverTorch PR #70): the smallest successful perturbation over all iterates."""
    model, x = _logistic(2, n=6)
    spy = _Spy(model)
    y = (model.logits(x)[:, 0] > 0).astype(int)
    x_adv = cw_l2(spy, x, y, c=1.0, search_steps=3, steps=200, lr=0.05, abort_early=False)
    iterates = np.stack(spy.seen[1:])  # the first call computes the clean prediction
    flipped = (model.logits(iterates.reshape(-1, x.shape[1]))[:, 0] > 0).reshape(len(iterates), -1) != y
    l2 = np.linalg.norm(iterates - x, axis=2)
    best = np.where(flipped, l2, np.inf).min(0)
    np.testing.assert_allclose(lp_norm(x_adv - x, 2), best)
    last_is_worse = (~flipped[-1]) | (l2[-1] > best + 1e-9)
    assert np.any(last_is_worse), "the last iterate should not be the best here"



@pytest.mark.parametrize("abort_early, iterates", [(True, 101), (False, 1000)])
def test_cw_abort_early_checks_the_loss_from_iteration_zero_as_the_reference(abort_early, iterates):
    """l2_attack.py compares the loss at iterations 0, 100, 200, ... of 1,000: a flat loss stops
    the round once iteration 100 has been scored, after 100 Adam steps."""
    model, x = _logistic(2, n=3)
    spy = _Spy(model)
    y = (model.logits(x)[:, 0] > 0).astype(int)
    cw_l2(spy, x, y, c=1.0, search_steps=1, steps=1000, lr=1e-12, abort_early=abort_early)
    assert len(spy.seen) - 1 == iterates  # the first call computes the clean prediction

class _FallingLoss:
    """A binary model whose logit falls by the factor ``per_check`` every 100 calls, whatever x:
    CW's loss on label 1 is then c·z (its distance term stays about 0 at lr = 1e-12)."""

    def __init__(self, per_check):
        self.rate, self.calls = per_check ** (1 / 100), 0

    def logits(self, x):
        self.calls += 1
        return np.full((len(x), 1), 1000.0 * self.rate ** self.calls)

    def input_gradient(self, x, g):
        return np.zeros_like(x)


@pytest.mark.parametrize("per_check, iterates", [(0.995, 1000), (0.99995, 101)])
def test_cw_abort_early_stops_when_the_loss_falls_by_less_than_a_ten_thousandth(per_check,
                                                                                iterates):
    """l2_attack.py: ``if l > prev*.9999: break`` at every tenth of the iterations. A loss that
    falls by 0.5% per check runs the whole round; one that falls by 0.005% stops at the second
    check (a threshold of 0.99, or of 0.999999, fails one of the two)."""
    model = _FallingLoss(per_check)
    x = np.full((2, 3), 0.5)
    cw_l2(model, x, np.array([1, 1]), c=1.0, search_steps=1, steps=1000, lr=1e-12)
    assert model.calls - 1 == iterates  # the first call computes the clean prediction


def test_cw_confidence_margin_is_met():
    model = TwoLayerMLP(10, 8, 4, seed=3)
    x = np.random.default_rng(3).uniform(0.2, 0.8, size=(8, 10))
    y = model.logits(x).argmax(1)
    x_adv = cw_l2(model, x, confidence=1.0, c=1.0, search_steps=4, steps=300, lr=0.05)
    z = model.logits(x_adv)
    done = np.any(x_adv != x, axis=1)
    assert done.sum() >= 6
    other = np.where(np.eye(4, dtype=bool)[y], -np.inf, z).max(1)
    assert np.all(other[done] - z[done, y[done]] >= 1.0)
    assert np.all(cw_success(z[done], y[done], confidence=1.0))


def test_cw_targeted_and_float32_in_the_box():
    rng = np.random.default_rng(4)
    model = LinearModel(rng.normal(size=(4, 16)), rng.normal(size=4))
    x = rng.uniform(0, 1, size=(6, 1, 4, 4)).astype(np.float32)
    target = (model.logits(x).argmax(1) + 1) % 4
    x_adv = cw_l2(model, x, target, targeted=True, c=1.0, search_steps=4, steps=300, lr=0.05)
    assert x_adv.dtype == np.float32 and x_adv.shape == x.shape
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    np.testing.assert_array_equal(model.logits(x_adv).argmax(1), target)


def test_cw_binary_search_raises_a_too_small_c():
    model, x = _logistic(5, n=6)
    weak = cw_l2(model, x, c=1e-6, search_steps=1, steps=200, lr=0.05)
    assert np.all(weak == x)  # c too small: nothing succeeds, x is returned
    searched = cw_l2(model, x, c=1e-6, search_steps=9, steps=200, lr=0.05)
    assert np.all((model.logits(searched)[:, 0] > 0) != (model.logits(x)[:, 0] > 0))


class _Recorder(_Spy):
    """A spy that also records the upstream gradient c·∂f/∂Z of every step."""

    def __init__(self, model):
        super().__init__(model)
        self.upstream = []

    def input_gradient(self, x, g):
        self.upstream.append(np.array(g, copy=True))
        return super().input_gradient(x, g)


def test_cw_binary_search_on_c_follows_the_reference_rule():
    """The c of every round, read off the attack's own upstream gradient, is the reference rule
    (l2_attack.py, REFERENCES.md §9) applied to the rounds' outcomes: success: upper = min(upper,
    c); failure: lower = max(lower, c); then c = (lower + upper)/2 if upper < 1e9, else 10·c
    after a failure and c unchanged after a success.
    A search that halves c on success, forgets the lower bound or never lowers the upper one
    fails here (REFERENCES.md names no peer issue for this rule)."""
    model, x = _logistic(1, n=8)
    spy = _Recorder(model)
    y = (model.logits(x)[:, 0] > 0).astype(int)
    rounds, steps, c0 = 8, 30, 1e-2
    cw_l2(spy, x, y, c=c0, search_steps=rounds, steps=steps, lr=0.05, abort_early=False)
    # each round starts at x′ ≈ x, where f > 0, so |c·∂f/∂Z| = c for every sample
    seen_c = np.abs(np.stack(spy.upstream).reshape(rounds, steps, len(x))[:, 0])
    iterates = np.stack(spy.seen[1:])  # the first call computes the clean prediction
    flipped = (model.logits(iterates.reshape(-1, x.shape[1]))[:, 0] > 0) != np.tile(y, len(iterates))
    succeeded = flipped.reshape(rounds, steps, len(x)).any(axis=1)

    c, lower, upper = np.full(len(x), c0), np.zeros(len(x)), np.full(len(x), 1e10)
    for r in range(rounds):
        np.testing.assert_allclose(seen_c[r], c, rtol=1e-12)
        upper = np.where(succeeded[r], np.minimum(upper, c), upper)
        lower = np.where(succeeded[r], lower, np.maximum(lower, c))
        c = np.where(upper < 1e9, (lower + upper) / 2, np.where(succeeded[r], c, 10 * c))
    # the test needs every branch: a first round that fails (×10) and one that succeeds (c
    # falls), and a failure after a success whose c is seen (a bisection between finite bounds)
    assert not succeeded[0].all() and succeeded[0].any()
    after_success = np.cumsum(succeeded, axis=0) > 0
    assert np.any(after_success[:-2] & ~succeeded[1:-1])


def test_cw_binary_search_keeps_a_successful_c_at_or_above_1e9_as_the_reference():
    """l2_attack.py, on success: upper = min(upper, c), and c = (lower + upper)/2 only if
    upper < 1e9, else c is left as it is; the ×10 belongs to the failure branch alone. A round
    that succeeds at c = 1e9 leaves c at 1e9 for the next round (raising it to 1e10 after a
    success was a bug)."""
    model, x = _logistic(1, n=8)
    spy = _Recorder(model)
    y = (model.logits(x)[:, 0] > 0).astype(int)
    rounds, steps, c0 = 2, 30, 1e9
    cw_l2(spy, x, y, c=c0, search_steps=rounds, steps=steps, lr=0.05, abort_early=False)
    seen_c = np.abs(np.stack(spy.upstream).reshape(rounds, steps, len(x))[:, 0])
    iterates = np.stack(spy.seen[1:1 + steps])  # round 1 (the first call: the clean prediction)
    flipped = (model.logits(iterates.reshape(-1, x.shape[1]))[:, 0] > 0) != np.tile(y, steps)
    assert flipped.reshape(steps, len(x)).any(axis=0).all()  # round 1 succeeded everywhere
    np.testing.assert_allclose(seen_c[0], c0, rtol=1e-12)
    np.testing.assert_allclose(seen_c[1], c0, rtol=1e-12)


def test_cw_default_learning_rate_is_in_the_reference_range():
    """REFERENCES.md §9: CW's Adam runs at lr 5e-3 to 1e-2 (the peers' defaults)."""
    assert 5e-3 <= inspect.signature(cw_l2).parameters["lr"].default <= 1e-2


def test_cw_without_a_box():
    model, x = _logistic(6, n=5)
    x_adv = cw_l2(model, x * 4 - 2, clip=None, search_steps=6)
    exact = minimal_linear_distance(model.w[0], model.b[0], x * 4 - 2, 2)
    assert np.all(lp_norm(x_adv - (x * 4 - 2), 2) / exact <= 1.05)


def test_cw_bad_input():
    model, x = _logistic(0, n=3)
    with pytest.raises(ValueError, match="c must be > 0"):
        cw_l2(model, x, c=0.0)
    with pytest.raises(ValueError, match="confidence"):
        cw_l2(model, x, confidence=-1.0)
    with pytest.raises(ValueError, match="targeted"):
        cw_l2(model, x, targeted=True)
    with pytest.raises(ValueError, match="outside"):
        cw_l2(model, x, y=np.array([0, 1, 2]))


@given(n=st.integers(1, 4), d=st.integers(1, 40), box=st.sampled_from([(0.0, 1.0), (-1.0, 2.0)]),
       dtype=st.sampled_from([np.float32, np.float64]), t=st.integers(1, 1000),
       seed=st.integers(0, 2**16))
def test_compiled_cw_step_equals_the_numpy_step(n, d, box, dtype, t, seed):
    """The image of w (x′, dx′/dw, ‖x′ − x‖₂²) and the Adam step, each one compiled pass, give the
    readable NumPy version's bits (the squared distances: to 1e-12, the sums run in another
    order), in both dtypes, with saturated tanh (|w| up to 20) included."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, 1, d)) * rng.choice([0.5, 5.0, 20.0], size=(n, 1, d))
    x64 = rng.uniform(*box, size=(n, 1, d))
    fast = cw_image(w, x64, box, dtype)
    slow = cw_image_reference(w, x64, box, dtype)
    assert fast[0].dtype == dtype and fast[0].shape == w.shape
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    np.testing.assert_allclose(fast[2], slow[2], rtol=1e-12, atol=1e-300)

    model_grad = rng.normal(size=w.shape).astype(dtype)
    m, v = rng.normal(size=w.shape), rng.random(w.shape) * rng.choice([0.0, 1.0], size=w.shape)
    states = [(w.copy(), m.copy(), v.copy()) for _ in range(2)]
    cw_adam_step(*states[0], fast[0], x64, model_grad, fast[1], lr=0.01, t=t)
    cw_adam_step_reference(*states[1], fast[0], x64, model_grad, fast[1], lr=0.01, t=t)
    for compiled, reference in zip(*states):
        np.testing.assert_array_equal(compiled, reference)


@given(n=st.integers(1, 3), d=st.integers(1, 12), box=st.sampled_from([(0.0, 1.0), (-1.0, 2.0), None]),
       compiled=st.booleans(), seed=st.integers(0, 2**16))
@example(n=1, d=1, box=(0.0, 1.0), compiled=False, seed=898)  # a saturated tanh (the noise above)
def test_cw_gradient_with_respect_to_w_matches_finite_differences(n, d, box, compiled, seed):
    """The gradient that CW's Adam steps take, ∇_w L = (2(x′ − x) + ∇ₓ′ c·f) · dx′/dw for
    L(w) = Σ_n ‖x′(w) − x‖₂² + c·f(x′(w)), equals central differences in float64, with or
    without a box: cw_image's dx′/dw against those of x′(w), and the gradient in the Adam step
    (read off m = 0.1·∇ after step 1 from m = v = 0) against those of L, c·f taken linear with
    the gradient g drawn here. (Adam's step is nearly blind to a constant factor in ∇ and the
    search on c to one in either term, so CW's end-to-end tests would not see one.)"""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, 1, d)) * rng.choice([0.3, 1.0, 3.0], size=(n, 1, d))
    x64 = rng.uniform(*(box or (-1.0, 1.0)), size=(n, 1, d))
    g = rng.normal(size=w.shape)  # ∇ₓ′ c·f, held fixed: c·f(x′) is g·x′ + const near x′
    x_new, dimage, l2sq = cw_image(w, x64, box, np.float64)
    dout = rng.normal(size=w.shape)
    numeric = numerical_gradient(lambda: cw_image(w, x64, box, np.float64)[0], w, dout)
    # x′ = mid + half·tanh(w) (x + w without a box) is rounded at the size of its terms, not of
    # its value: at a saturated edge of the box (x′ ≈ 1e-7, dx′/dw ≈ 2e-7) the noise of x′'s
    # central differences is eps·(|mid| + |half·tanh w|)/h, which |x′| (seed 898) underrated
    if box is None:
        size = np.abs(x64) + np.abs(w)
    else:
        size = abs(box[0] + box[1]) / 2 + (box[1] - box[0]) / 2 * np.abs(np.tanh(w))
    noise = central_difference_noise(size, dout, 1e-6)
    assert rel_error(dout * dimage, numeric, noise=noise) < 1e-6
    m, v = np.zeros_like(w), np.zeros_like(w)
    step = cw_adam_step if compiled else cw_adam_step_reference
    step(w.copy(), m, v, x_new, x64, g, dimage, lr=0.01, t=1)

    def terms():
        image, _, distances = cw_image(w, x64, box, np.float64)
        return np.concatenate([distances, (g * image).ravel()])

    numeric = numerical_gradient(lambda: np.sum(terms()), w, 1.0)
    # each term's rounding, at x′'s: (x′ − x)² is off by about 2|x′ − x|·eps·size + eps·(x′ − x)²,
    # g·x′ by eps·|g|·size
    diff = x_new - x64
    rounding = np.concatenate([np.sum((2 * np.abs(diff) * size + diff ** 2).reshape(n, -1), axis=1),
                               (np.abs(g) * size).ravel()])
    noise = central_difference_noise(np.maximum(rounding, np.abs(terms())), 1.0, 1e-6)
    assert rel_error(m / 0.1, numeric, noise=noise) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cw_with_the_compiled_steps_equals_cw_with_the_numpy_steps(monkeypatch, dtype):
    model = ta.Sequential(ta.layers.Linear(20, 16, seed=3, dtype=dtype), ta.layers.ReLU(),
                          ta.layers.Linear(16, 4, seed=4, dtype=dtype))
    x = np.random.default_rng(4).uniform(0.2, 0.8, size=(6, 20)).astype(dtype)
    options = dict(c=0.5, search_steps=3, steps=60, lr=0.05)
    fast = cw_l2(model, x, **options)
    monkeypatch.setattr(cw_module, "cw_image", cw_image_reference)
    monkeypatch.setattr(cw_module, "cw_adam_step", cw_adam_step_reference)
    np.testing.assert_array_equal(cw_l2(model, x, **options), fast)
    assert np.any(fast != x)  # some samples were attacked


@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_cw_step_in_chunks_of_rows_equals_the_numpy_step(restore_threads, threads):
    """64 samples of 5,000 values run as three chunks of rows, on one thread or two: the same
    bits as the NumPy step."""
    ta.set_num_threads(threads)
    rng = np.random.default_rng(threads)
    w, x64 = rng.normal(size=(64, 5000)) * 3, rng.random((64, 5000))
    assert len(row_chunks(64, w[:1].nbytes)) == 3
    fast, slow = cw_image(w, x64, (0.0, 1.0), np.float32), cw_image_reference(w, x64, (0.0, 1.0), np.float32)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    np.testing.assert_allclose(fast[2], slow[2], rtol=1e-12)
    model_grad = rng.normal(size=w.shape).astype(np.float32)
    states = [(w.copy(), rng.normal(size=w.shape), rng.random(w.shape)) for _ in range(2)]
    states[1] = tuple(a.copy() for a in states[0])
    cw_adam_step(*states[0], fast[0], x64, model_grad, fast[1], lr=0.01, t=7)
    cw_adam_step_reference(*states[1], fast[0], x64, model_grad, fast[1], lr=0.01, t=7)
    for compiled, reference in zip(*states):
        np.testing.assert_array_equal(compiled, reference)



def test_cw_success_breaks_ties_after_the_confidence_shift_by_the_lowest_class_as_the_reference():
    """l2_attack.py's compare shifts Z_y by κ and takes np.argmax, so a tie at margin exactly κ
    goes to the lower class index: a success or not by the order of the classes alone."""
    untargeted = np.array([[1.0, 0.0], [0.0, 1.0]])  # Z_y + 1 ties the other class
    assert cw_success(untargeted, np.array([1, 0]), confidence=1.0).tolist() == [True, False]
    targeted = np.array([[2.0, 0.0, 1.0], [1.0, 0.0, 2.0]])  # Z_t − 1 ties the other class
    assert cw_success(targeted, np.array([0, 2]), confidence=1.0,
                      targeted=True).tolist() == [True, False]
