"""FGM and PGD: the ε-ball and box guarantee, exactness on linear models, restarts, errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import tinyadv as ta
from attack_models import LinearModel, OnlyTheInterface, TwoLayerMLP
from tinyadv.attacks import cw_l2, fgm, fgsm, lp_norm, pgd
from tinyadv.attacks.base import cross_entropy_direction, loss_gradient
from tinyadv.attacks.pgd import _keep_best, gradient_step, gradient_step_reference
from tinyadv.threads import row_chunks
from tinyadv.losses import cross_entropy
from tinyadv.theory import minimal_linear_distance, minimal_linear_perturbation

NORMS = [1, 2, np.inf]


def _linear_problem(seed, n=8, d=12, k=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    model = LinearModel(rng.normal(size=(k, d)), rng.normal(size=k) * 0.1)
    x = rng.uniform(0.2, 0.8, size=(n, 1, 3, d // 3)).astype(dtype)
    return model, x


def _tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-10


@given(seed=st.integers(0, 2**16), norm=st.sampled_from(NORMS),
       eps=st.sampled_from([0.0, 0.05, 0.3, 3.0, 50.0]), dtype=st.sampled_from([np.float32, np.float64]),
       nonlinear=st.booleans(), targeted=st.booleans(), clip=st.sampled_from([(0.0, 1.0), None]))
def test_fgm_and_pgd_stay_in_the_ball_and_the_box(seed, norm, eps, dtype, nonlinear, targeted, clip):
    model, x = _linear_problem(seed, k=3, dtype=dtype)
    if nonlinear:
        model = TwoLayerMLP(12, 6, 3, activation="relu", seed=seed)
    y = np.random.default_rng(seed).integers(0, 3, size=len(x))
    outs = [fgm(model, x, y, eps=eps, norm=norm, targeted=targeted, clip=clip),
            pgd(model, x, y, eps=eps, alpha=eps / 4 + 0.01, steps=5, norm=norm, restarts=2,
                targeted=targeted, clip=clip, seed=seed)]
    for x_adv in outs:
        assert x_adv.shape == x.shape and x_adv.dtype == dtype
        assert np.all(lp_norm(x_adv - x, norm) <= eps * (1 + _tol(dtype)) + _tol(dtype))
        if clip is not None:
            assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    if eps == 0.0:
        np.testing.assert_array_equal(outs[0], x)
        np.testing.assert_array_equal(outs[1], x)


@given(seed=st.integers(0, 2**16), norm=st.sampled_from(NORMS), eps=st.sampled_from([0.01, 0.1, 0.5]))
def test_fgm_is_one_step_pgd_without_random_start(seed, norm, eps):
    model = TwoLayerMLP(12, 6, 4, seed=seed)
    _, x = _linear_problem(seed)
    np.testing.assert_array_equal(
        fgm(model, x, eps=eps, norm=norm),
        pgd(model, x, eps=eps, alpha=eps, steps=1, norm=norm, random_start=False, l1_quantile=None))


def test_fgsm_is_the_sign_step_and_uses_the_prediction_as_label():
    model = TwoLayerMLP(12, 6, 4, seed=1)
    _, x = _linear_problem(1)
    logits = model.logits(x)
    y_pred = logits.argmax(1)
    _, dlogits = cross_entropy(logits, y_pred, reduction="sum")
    expected = np.clip(x + 0.1 * np.sign(model.input_gradient(x, dlogits)), 0, 1)
    np.testing.assert_allclose(fgsm(model, x, eps=0.1), expected)
    np.testing.assert_allclose(fgsm(model, x, y_pred, eps=0.1), expected)


def test_fgm_l1_splits_eps_among_the_tied_largest_gradient_coordinates():
    """CleverHans ``optimize_linear`` (REFERENCES.md §9): FGM-L1 moves ε·sign(g_i)/#ties on each
    arg-max |g_i|. On logistic regression g ∝ ±w, so with three weights tied at the largest
    |w_i| each moves by ε/3 toward the boundary and the others stay."""
    w = np.array([2.0, -0.5, -2.0, 1.0, 0.0, 2.0, -1.5, 0.25, -2.0, 0.5, 1.0, -1.0])
    model = LinearModel(w[None], [0.0])
    x = np.random.default_rng(0).uniform(0.3, 0.7, size=(6, 12))
    side = np.sign(model.logits(x)[:, :1])  # +1: predicted 1, the step lowers w·x
    tied = np.abs(w) == 2.0
    x_adv = fgm(model, x, eps=0.3, norm=1, clip=None)
    np.testing.assert_allclose(x_adv - x, -side * 0.3 * np.sign(w) * tied / tied.sum(), atol=1e-15)


def test_fgsm_equals_the_exact_linf_answer_on_logistic_regression():
    """Goodfellow et al. 2015: for a linear model the sign step is the optimal L∞ perturbation."""
    model, x = _linear_problem(0, n=20)
    w, b = model.w[0], model.b[0]
    d_inf = minimal_linear_distance(w, b, x, np.inf)
    for n in range(len(x)):
        x_adv = fgsm(model, x[n:n + 1], eps=float(d_inf[n]), clip=None)
        exact = minimal_linear_perturbation(w, b, x[n:n + 1], np.inf)
        np.testing.assert_allclose(x_adv - x[n:n + 1], exact, atol=1e-12)
    over = fgsm(model, x, eps=1.0001 * float(d_inf.max()), clip=None)
    assert np.all((model.logits(over)[:, 0] > 0) != (model.logits(x)[:, 0] > 0))


@pytest.mark.parametrize("norm", NORMS)
def test_pgd_reaches_the_exact_minimal_distance_within_one_percent(norm):
    """On logistic regression PGD at ε = 1.01·d_p(x) flips every point; at 0.99·d_p none flips."""
    model, x = _linear_problem(3, n=16, d=30)
    d = minimal_linear_distance(model.w[0], model.b[0], x, norm)
    clean = model.logits(x)[:, 0] > 0
    for factor, flips in [(1.01, True), (0.99, False)]:
        for n in range(len(x)):
            x_adv = pgd(model, x[n:n + 1], eps=factor * d[n], alpha=factor * d[n] / 10, steps=40,
                        norm=norm, clip=None, seed=n)
            assert ((model.logits(x_adv)[0, 0] > 0) != clean[n]) == flips


def test_targeted_pgd_reaches_the_target():
    model, x = _linear_problem(4, n=10, k=5)
    target = (model.logits(x).argmax(1) + 1) % 5
    x_adv = pgd(model, x, target, eps=5.0, alpha=0.2, steps=50, norm=2, targeted=True, clip=None, seed=0)
    np.testing.assert_array_equal(model.logits(x_adv).argmax(1), target)


def _objective(model, x_adv, y):
    loss, _ = cross_entropy(model.logits(x_adv), y, reduction="none")
    return loss


def test_worst_restart_chosen_per_sample():
    """Regression (ART #714): each sample keeps its own best restart, not the batch's best."""
    model = TwoLayerMLP(12, 16, 4, activation="tanh", seed=5, scale=4.0)
    x = np.random.default_rng(5).uniform(0, 1, size=(40, 12))
    y = model.logits(x).argmax(1)
    kwargs = dict(eps=0.3, alpha=0.1, steps=2, norm=2)
    rng = np.random.default_rng(11)
    runs = [pgd(model, x, y, restarts=1, seed=rng, **kwargs) for _ in range(4)]
    both = pgd(model, x, y, restarts=4, seed=11, **kwargs)
    losses = np.stack([_objective(model, r, y) for r in runs])
    success = np.stack([model.logits(r).argmax(1) != y for r in runs])
    score = losses + 1e6 * success  # success first, then loss
    assert len(set(score.argmax(0))) > 1, "the test needs samples whose best restart differs"
    np.testing.assert_allclose(_objective(model, both, y), losses[score.argmax(0), np.arange(len(x))])


def _iterates_by_hand(model, x, labels, targeted, steps=6, **kwargs):
    """PGD's iterates without random start, step by step from x (the steps pgd takes)."""
    iterates, x_t = [], x
    for _ in range(steps):
        _, grad, _ = loss_gradient(model, x_t, labels, targeted)
        x_t = gradient_step(x, x_t, grad, **kwargs)
        iterates.append(x_t)
    return iterates


def test_pgd_keeps_the_best_iterate_not_the_last():
    """Iterates computed by hand with the same step; PGD returns the best of them per sample."""
    model = TwoLayerMLP(12, 16, 4, activation="tanh", seed=8, scale=6.0)
    x = np.random.default_rng(8).uniform(0, 1, size=(30, 12))
    y = model.logits(x).argmax(1)
    kwargs = dict(alpha=0.6, eps=1.0, norm=2, clip=(0.0, 1.0))
    iterates = _iterates_by_hand(model, x, y, False, **kwargs)
    losses = np.stack([_objective(model, it, y) for it in iterates])
    success = np.stack([model.logits(it).argmax(1) != y for it in iterates])
    score = losses + 1e6 * success
    last_not_best = score.argmax(0) != len(iterates) - 1
    assert np.any(last_not_best), "the test needs a sample whose last iterate is not its best"
    best = pgd(model, x, y, steps=6, random_start=False, **kwargs)
    np.testing.assert_allclose(_objective(model, best, y), losses[score.argmax(0), np.arange(len(x))])


@pytest.mark.parametrize("restarts", [1, 3])
def test_targeted_pgd_keeps_the_iterate_closest_to_the_target(restarts):
    """Targeted, the best iterate is the largest (reached t, −CE(z, t)), in the attack's own sign:
    the iterates computed by hand, the one with the highest target probability comes back (a
    targeted PGD that ranked its iterates by +CE(z, t), or ranked the last one differently from
    the others, would return a point farther from the target)."""
    model = TwoLayerMLP(12, 16, 4, activation="tanh", seed=8, scale=6.0)
    x = np.random.default_rng(8).uniform(0, 1, size=(30, 12))
    target = (model.logits(x).argmax(1) + 2) % 4
    kwargs = dict(alpha=0.6, eps=1.0, norm=2, clip=(0.0, 1.0))
    iterates = _iterates_by_hand(model, x, target, True, **kwargs)
    closeness = -np.stack([_objective(model, it, target) for it in iterates])
    reached = np.stack([model.logits(it).argmax(1) == target for it in iterates])
    score = closeness + 1e6 * reached
    best_index = score.argmax(0)
    assert np.any(best_index != len(iterates) - 1), "the test needs a sample whose last is not best"
    assert np.any(~reached.any(0)), "the test needs a sample that never reaches its target"
    best = pgd(model, x, target, steps=6, random_start=False, targeted=True, restarts=restarts,
               **kwargs)
    np.testing.assert_allclose(_objective(model, best, target),
                               -closeness[best_index, np.arange(len(x))])


def test_early_stop_freezes_successful_samples():
    model, x = _linear_problem(7, n=12)
    d2 = minimal_linear_distance(model.w[0], model.b[0], x, 2)
    alpha = 0.01
    x_adv = pgd(model, x, eps=10.0, alpha=alpha, steps=400, norm=2, random_start=False, clip=None,
                early_stop=True)
    assert np.all((model.logits(x_adv)[:, 0] > 0) != (model.logits(x)[:, 0] > 0))
    assert np.all(lp_norm(x_adv - x, 2) <= d2 + alpha + 1e-9)
    far = pgd(model, x, eps=10.0, alpha=alpha, steps=400, norm=2, random_start=False, clip=None)
    assert np.all(lp_norm(far - x, 2) > d2 + alpha)


@pytest.mark.parametrize("norm", [1, 2])
def test_pgd_random_start_is_uniform_in_the_ball_of_its_norm(norm):
    """Regression (CleverHans v4 torch, torchattacks #161): PGD-L2/L1 starts from a point uniform
    in the ε-ball of its own norm, not from the L∞ box projected onto that ball (in d = 10 most
    box points lie outside the L2 ball and land on its sphere). With steps=0 and no box PGD
    returns its start x + δ₀, and for a uniform point (‖δ₀‖/ε)^d ~ U(0, 1)."""
    d, n, eps = 10, 3000, 0.5
    rng = np.random.default_rng(norm)
    model = LinearModel(rng.normal(size=(2, d)))
    x = rng.uniform(0, 1, size=(n, d))
    start = pgd(model, x, eps=eps, alpha=0.0, steps=0, norm=norm, clip=None, seed=0)
    radius = lp_norm(start - x, norm) / eps
    assert radius.max() <= 1 + 1e-12
    assert stats.kstest(radius ** d, "uniform").pvalue > 1e-3


class _BoxWatcher(LinearModel):
    """A linear model that records the smallest and largest pixel it was ever called at."""

    seen = (np.inf, -np.inf)

    def logits(self, x):
        self.seen = (min(self.seen[0], x.min(initial=np.inf)),
                     max(self.seen[1], x.max(initial=-np.inf)))
        return super().logits(x)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("steps", [0, 2])
def test_pgd_random_start_is_in_the_box_as_well_as_the_ball(norm, steps):
    """x⁰ = Π_box(x + δ₀): the random start of pixels at the box's ends is clipped before the
    model sees it and before it is returned (steps = 0 returns x⁰ itself)."""
    rng = np.random.default_rng(norm if norm != np.inf else 3)
    model = _BoxWatcher(rng.normal(size=(3, 12)))
    x = rng.choice([0.0, 1.0], size=(20, 12))
    eps = {1: 3.0, 2: 1.0, np.inf: 0.3}[norm]
    x_adv = pgd(model, x, eps=eps, alpha=eps / 4, steps=steps, norm=norm, seed=0)
    assert 0.0 <= x_adv.min() and x_adv.max() <= 1.0
    assert np.all(lp_norm(x_adv - x, norm) <= eps * (1 + 1e-12))
    assert 0.0 <= model.seen[0] and model.seen[1] <= 1.0
    if steps == 0:
        assert not np.array_equal(x_adv, x)  # (a start was drawn)


def test_pgd_keeps_the_best_iterate_of_a_confident_sample():
    """A sample whose label leads by 60 cannot be flipped in an ε-ball of 0.05, and each L∞ step
    on this linear model raises its cross-entropy until the ball's face: the best iterate is the
    face, x + ε·sign(w_1 − w_0). When ``cross_entropy`` rounded these losses (about e^-60) to 0,
    all tied and x itself, the first, came back."""
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2, 20))
    x = rng.uniform(0.3, 0.7, size=(4, 20))
    model = LinearModel(w, [0.0, 0.0])
    z = model.logits(x)
    model = LinearModel(w, [60.0 - np.min(z[:, 0] - z[:, 1]), 0.0])  # margins of 60 and more
    assert np.all(model.logits(x)[:, 0] - model.logits(x)[:, 1] >= 60 - 1e-9)
    x_adv = pgd(model, x, eps=0.05, alpha=0.01, steps=10, random_start=False, clip=None)
    np.testing.assert_allclose(x_adv, x + 0.05 * np.sign(w[1] - w[0]), rtol=0, atol=1e-12)


def test_pgd_is_seeded():
    model = TwoLayerMLP(12, 6, 3, seed=0)
    _, x = _linear_problem(0)
    a = pgd(model, x, eps=0.2, alpha=0.05, steps=3, seed=4)
    np.testing.assert_array_equal(a, pgd(model, x, eps=0.2, alpha=0.05, steps=3, seed=4))
    assert not np.array_equal(a, pgd(model, x, eps=0.2, alpha=0.05, steps=3, seed=5))


class _WrongShapeModel(LinearModel):
    def input_gradient(self, x, grad_logits):
        return super().input_gradient(x, grad_logits).reshape(len(x), -1)


@pytest.mark.parametrize("attack", [
    lambda m, x, **k: fgm(m, x, eps=0.1, **k),
    lambda m, x, **k: pgd(m, x, eps=0.1, alpha=0.01, steps=2, **k),
])
def test_bad_input_gets_a_clear_error(attack):
    model, x = _linear_problem(0, k=3)
    with pytest.raises(ValueError, match="unknown norm"):
        attack(model, x, norm=3)
    with pytest.raises(ValueError, match="eps"):
        fgm(model, x, eps=-0.1)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        attack(model, bad)
    with pytest.raises(ValueError, match="outside"):
        attack(model, x, y=np.full(len(x), 3))
    with pytest.raises(ValueError, match="targeted"):
        attack(model, x, targeted=True)
    with pytest.raises(ValueError, match="input_gradient"):
        attack(_WrongShapeModel(model.w, model.b), x)
    with pytest.raises(ValueError, match="clip box"):
        attack(model, x + 2.0)
    with pytest.raises(TypeError, match="logits"):
        attack(object(), x)
    with pytest.raises(TypeError, match="floating"):
        attack(model, (x * 255).astype(np.uint8))


def test_pgd_rejects_bad_alpha_steps_restarts():
    model, x = _linear_problem(0)
    with pytest.raises(ValueError, match="alpha"):
        pgd(model, x, eps=0.1, alpha=-1.0, steps=2)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, eps=0.1, alpha=0.1, steps=-1)
    with pytest.raises(ValueError, match="restarts"):
        pgd(model, x, eps=0.1, alpha=0.1, steps=1, restarts=0)
    with pytest.raises(ValueError, match="l1_quantile"):
        pgd(model, x, eps=0.1, alpha=0.1, steps=1, norm=1, l1_quantile=1.0)


def _torch_mlp(model):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(model.w1))
        net[0].bias.copy_(torch.from_numpy(model.b1))
        net[2].weight.copy_(torch.from_numpy(model.w2))
        net[2].bias.copy_(torch.from_numpy(model.b2))
    return torch, net


@pytest.mark.parametrize("norm", [np.inf, 2])
def test_fgm_and_pgd_match_pytorch_on_the_same_weights(norm):
    model = TwoLayerMLP(12, 6, 3, seed=2)
    torch, net = _torch_mlp(model)
    _, x = _linear_problem(2)
    y = np.random.default_rng(2).integers(0, 3, size=len(x))

    def torch_pgd(eps, alpha, steps):
        x0 = torch.from_numpy(x.reshape(len(x), -1))
        xa = x0.clone()
        for _ in range(steps):
            xa.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(net(xa), torch.from_numpy(y), reduction="sum")
            (g,) = torch.autograd.grad(loss, xa)
            if norm == np.inf:
                xa = xa.detach() + alpha * g.sign()
                delta = torch.clamp(xa - x0, -eps, eps)
            else:
                g = g / torch.sqrt(torch.clamp((g * g).sum(1, keepdim=True), min=1e-12))
                delta = xa.detach() + alpha * g - x0
                delta = delta * torch.clamp(eps / delta.norm(dim=1, keepdim=True), max=1.0)
            xa = torch.clamp(x0 + delta, 0, 1)
        return xa.numpy().reshape(x.shape)

    eps = 0.1 if norm == np.inf else 0.5
    np.testing.assert_allclose(fgm(model, x, y, eps=eps, norm=norm), torch_pgd(eps, eps, 1), atol=1e-12)
    ours = pgd(model, x, y, eps=eps, alpha=eps / 5, steps=10, norm=norm, random_start=False)
    theirs = torch_pgd(eps, eps / 5, 10)
    # ours returns the best iterate; on this smooth model the loss grows every step, so it is the last
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


@given(logits=st.lists(st.floats(-30, 30), min_size=6, max_size=6), label=st.integers(0, 2))
def test_cross_entropy_direction_is_a_positive_multiple_of_the_gradient(logits, label):
    z = np.array(logits).reshape(2, 3)
    y = np.array([label, (label + 1) % 3])
    _, dz = cross_entropy(z, y, reduction="none")
    e = cross_entropy_direction(z, y)
    factor = np.sum(dz * e, axis=1) / np.sum(e * e, axis=1)
    assert np.all(factor > 0)
    np.testing.assert_allclose(dz, factor[:, None] * e, atol=1e-12)
    single = cross_entropy_direction(z[:, :1], np.array([1, 0]))
    np.testing.assert_allclose(np.sign(single[:, 0]), [-1, 1])  # d CE/dz = sigmoid(z) − y


@given(k=st.integers(1, 6), data=st.data())
def test_cross_entropy_direction_equals_its_closed_form_at_any_margin(k, data):
    """e_k = exp(z_k − max_{j≠y} z_j) for k ≠ y and e_y = −Σ_{k≠y} e_k, entry by entry to 1e-12
    relative, for margins up to 600 (where ∂CE/∂z itself is 0 and a comparison with it is
    empty); K = 1 is the two logits [0, z]: the direction +1 for y = 0, −1 for y = 1."""
    rows = data.draw(st.integers(1, 4))
    z = np.array(data.draw(st.lists(st.lists(st.floats(-300, 300), min_size=k, max_size=k),
                                    min_size=rows, max_size=rows)))
    y = np.array(data.draw(st.lists(st.integers(0, max(k, 2) - 1), min_size=rows, max_size=rows)))
    e = cross_entropy_direction(z, y)
    if k == 1:
        np.testing.assert_array_equal(e[:, 0], np.where(y == 0, 1.0, -1.0))
        return
    expected = np.empty_like(z)
    for i in range(rows):
        others = [j for j in range(k) if j != y[i]]
        top = max(z[i, j] for j in others)
        for j in others:
            expected[i, j] = math.exp(z[i, j] - top)
        expected[i, y[i]] = -math.fsum(expected[i, j] for j in others)
    np.testing.assert_allclose(e, expected, rtol=1e-12, atol=0)


def test_fgsm_moves_a_confident_float32_model():
    """A margin of 500 makes the float32 softmax gradient exactly zero; the attack still moves."""
    rng = np.random.default_rng(9)
    w = rng.normal(size=(3, 12))
    model = LinearModel(w, np.array([500.0, 0.0, 0.0]))
    x = rng.uniform(0.3, 0.7, size=(4, 12)).astype(np.float32)
    y = np.zeros(4, dtype=np.int64)
    _, dz32 = cross_entropy(model.logits(x), y)
    assert np.all(dz32 == 0)  # gradient masking by arithmetic
    x_adv = fgsm(model, x, y, eps=0.01)
    np.testing.assert_allclose(np.abs(x_adv - x), 0.01, rtol=1e-4)
    # ∇ₓCE ∝ Σ_{k≠y} p_k (w_k − w_y), with p_k ∝ exp(z_k) among the other classes
    z_others = model.logits(x.astype(np.float64))[:, 1:]
    p_others = np.exp(z_others - z_others.max(1, keepdims=True))
    expected = p_others @ (w[1:] - w[0])
    np.testing.assert_array_equal(np.sign(x_adv - x), np.sign(expected))


def test_l2_fgm_takes_a_full_eps_step_where_the_true_gradient_is_below_the_floor():
    """fgm's Notes: g is loss_gradient's scaled multiple of ∇ₓCE, so the L2 step is ε long even
    where ‖∇ₓCE‖ < 1e-6, whose own u = g/√max(1e-12, Σg²) would be 0.052 long (CleverHans)."""
    w = np.zeros((1, 4))
    w[0, 0] = 25.0
    model = LinearModel(w, np.array([0.0]))
    x = np.array([[0.8, 0.5, 0.5, 0.5]])  # logit 20, label 1
    true_grad = (1.0 / (1.0 + np.exp(-20.0)) - 1.0) * w  # ∇ₓ CE = (σ(z) − 1)·w
    assert np.linalg.norm(true_grad) < 1e-6
    x_adv = fgm(model, x, np.array([1]), eps=0.1, norm=2)
    np.testing.assert_allclose(x_adv - x, [[-0.1, 0.0, 0.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_forward_and_gradient_equals_the_two_calls_bit_for_bit(dtype):
    """Sequential.logits_and_input_gradient (one forward pass) is an optimisation only: the
    attacks give the same bits with it as through logits + input_gradient."""
    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, seed=0, dtype=dtype).eval()
    model.chunk_size = 3                       # several chunks, so rows are split as in real use
    rng = np.random.default_rng(0)
    x = rng.random((10, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, 10)
    g = rng.normal(size=(10, 10))
    logits, dx = model.logits_and_input_gradient(x, lambda z, rows: g[rows])
    np.testing.assert_array_equal(logits, model.logits(x))
    np.testing.assert_array_equal(dx, model.input_gradient(x, g.astype(dtype)))
    plain = OnlyTheInterface(model)
    for attack in (lambda m: fgsm(m, x, y, eps=0.1),
                   lambda m: pgd(m, x, y, eps=0.1, alpha=0.03, steps=3, restarts=2, seed=0),
                   lambda m: pgd(m, x, None, eps=1.0, alpha=0.3, steps=2, norm=2, seed=1),
                   lambda m: cw_l2(m, x, y, search_steps=2, steps=5)):
        np.testing.assert_array_equal(attack(model), attack(plain))


def test_fused_gradient_checks_the_shape_that_grad_fn_returns():
    model = ta.logistic_regression(4, seed=0)
    with pytest.raises(ValueError, match="grad_fn must return"):
        model.logits_and_input_gradient(np.zeros((2, 4), np.float32), lambda z, rows: np.zeros(3))


@given(n=st.integers(1, 4), d=st.integers(1, 50), eps=st.floats(0, 0.5), alpha=st.floats(0, 0.5),
       box=st.sampled_from([(0.0, 1.0), (-1.0, 1.0)]), dtype=st.sampled_from([np.float32, np.float64]),
       scalar=st.sampled_from([float, np.float64, np.float32]), seed=st.integers(0, 2**16))
def test_compiled_linf_step_equals_the_numpy_step(n, d, eps, alpha, box, dtype, scalar, seed):
    """The one-pass Numba L∞ step gives the bits of the readable NumPy step, with zero
    gradients and points on the faces of the box and of the ball included, and alpha and eps
    Python floats or NumPy scalars (NumPy float64 ones made the NumPy step compute in float64
    on float32 images)."""
    rng = np.random.default_rng(seed)
    x = rng.choice([box[0], box[1], 0.5], size=(n, d)) * (rng.random((n, d)) < 0.3) + \
        rng.uniform(*box, size=(n, d)) * (rng.random((n, d)) >= 0.3)
    x = np.clip(x, *box).astype(dtype)
    x_adv = np.clip(x + rng.choice([-eps, eps, 0.0], size=(n, d)), *box).astype(dtype)
    grad = (rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.8)).astype(dtype)
    options = dict(alpha=scalar(alpha), eps=scalar(eps), norm=np.inf, clip=box)
    fast = gradient_step(x, x_adv, grad, **options)
    assert fast.dtype == dtype
    np.testing.assert_array_equal(fast, gradient_step_reference(x, x_adv, grad, **options))



@pytest.mark.parametrize("l1_quantile", [None, 0.9])
@pytest.mark.parametrize("step", [gradient_step, gradient_step_reference])
def test_l1_step_is_spent_on_pixels_the_box_does_not_block(step, l1_quantile):
    """In L1 the gradient is zeroed where the box blocks the move (x_adv at the lower bound with
    g < 0, at the upper bound with g > 0) before the sparse direction is taken, so α goes to the
    largest movable |g_i|. Here the two largest |g_i| (5 up at the upper bound, −4 down at the
    lower bound) are both blocked: the step moves pixel 2 (g = 2) by α and nothing else. Had
    either bound not been checked, α went to a blocked pixel and the box undid the step."""
    x = np.full((1, 5), 0.5)
    x_adv = np.array([[1.0, 0.0, 0.5, 0.5, 0.5]])
    grad = np.array([[5.0, -4.0, 2.0, -1.0, 0.5]])
    x_new = step(x, x_adv, grad, alpha=0.25, eps=10.0, norm=1, clip=(0.0, 1.0),
                 l1_quantile=l1_quantile)
    np.testing.assert_array_equal(x_new, [[1.0, 0.0, 0.75, 0.5, 0.5]])

@pytest.mark.parametrize("threads", [1, 2])
def test_linf_step_and_best_iterate_in_chunks_of_samples_equal_the_numpy_ones(restore_threads,
                                                                             threads):
    """64 samples of 10,000 float32 values run as three chunks of samples, on one thread or
    two: the L∞ step gives the bits of the NumPy step, and the best-iterate bookkeeping replaces
    exactly the samples whose (success, loss) grew."""
    ta.set_num_threads(threads)
    rng = np.random.default_rng(threads)
    x = rng.random((64, 10, 1000)).astype(np.float32)
    assert len(row_chunks(64, x[:1].nbytes)) == 3
    x_adv = np.clip(x + rng.uniform(-0.03, 0.03, x.shape), 0, 1).astype(np.float32)
    grad = rng.normal(size=x.shape).astype(np.float32)
    options = dict(alpha=0.01, eps=0.03, norm=np.inf, clip=(0.0, 1.0))
    stepped = gradient_step(x, x_adv, grad, **options)
    np.testing.assert_array_equal(stepped, gradient_step_reference(x, x_adv, grad, **options))

    best_success, best_loss = rng.random(64) < 0.5, rng.normal(size=64)
    best = (x_adv.copy(), best_success.copy(), best_loss.copy())
    success, loss = rng.random(64) < 0.5, rng.normal(size=64)
    _keep_best(best, stepped, loss, success)
    better = (success & ~best_success) | ((success == best_success) & (loss > best_loss))
    assert 0 < better.sum() < 64
    np.testing.assert_array_equal(best[0], np.where(better[:, None, None], stepped, x_adv))
    np.testing.assert_array_equal(best[1], np.where(better, success, best_success))
    np.testing.assert_array_equal(best[2], np.where(better, loss, best_loss))


class _CountingForwards(OnlyTheInterface):
    """The two-method interface, counting the images that ``logits`` is asked about."""

    def __init__(self, model):
        super().__init__(model)
        self.images = 0

    def logits(self, x):
        self.images += len(x)
        return super().logits(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attacks_without_labels_take_them_from_their_first_pass(dtype):
    """FGM and PGD without a random start begin at x: with y=None the prediction comes from
    that first forward pass, not from one more. The answers are those of the labels given."""
    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, seed=0, dtype=dtype).eval()
    model.chunk_size = 3
    x = np.random.default_rng(0).random((7, 1, 28, 28)).astype(dtype)
    y = model.predict(x)

    def pgd_from_x(restarts):
        return lambda m, labels: pgd(m, x, labels, eps=0.1, alpha=0.05, steps=3,
                                     random_start=False, restarts=restarts)

    # Images fewer: given labels cost one image (to learn K); a second restart without a random
    # start begins at x too, so it reuses the first pass (7 images).
    for attack, fewer in ((lambda m, labels: fgsm(m, x, labels, eps=0.1), 1),
                          (pgd_from_x(1), 1), (pgd_from_x(2), 1 + 7)):
        np.testing.assert_array_equal(attack(model, None), attack(model, y))
        counting = _CountingForwards(model)
        np.testing.assert_array_equal(attack(counting, None), attack(model, y))
        given = _CountingForwards(model)
        attack(given, y)
        assert counting.images == given.images - fewer


@pytest.mark.parametrize("step", [gradient_step, gradient_step_reference])
def test_gradient_step_uses_the_checked_box(step):
    """Before, the box was checked and then used as given: clip=(0, 10**400) failed with
    OverflowError ("int too large to convert to float") in the cast for the compiled step, and
    clip=("0", "1") passed the check and failed in the reference's np.clip (UFuncTypeError)."""
    x = np.full((2, 3), 0.5, np.float32)
    grad = np.ones_like(x)
    expected = step(x, x, grad, alpha=0.1, eps=0.2, norm=np.inf, clip=(0.0, np.inf))
    np.testing.assert_array_equal(
        step(x, x, grad, alpha=0.1, eps=0.2, norm=np.inf, clip=(0, 10 ** 400)), expected)
    np.testing.assert_array_equal(
        step(x, x, grad, alpha=0.1, eps=0.2, norm=np.inf, clip=("0", "1")),
        step(x, x, grad, alpha=0.1, eps=0.2, norm=np.inf, clip=(0.0, 1.0)))
