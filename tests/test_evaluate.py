"""robust_accuracy and sweep: exact on logistic regression, batched, seeded, quiet on request."""

import numpy as np
import pytest

from attack_models import LinearModel, TwoLayerMLP
from tinyadv.attacks import fgsm, pgd
from tinyadv.evaluate import robust_accuracy, sweep
from tinyadv.losses import softmax
from tinyadv.theory import minimal_linear_distance


def _problem(seed=0, n=50, d=16):
    rng = np.random.default_rng(seed)
    model = LinearModel(rng.normal(size=(1, d)), [0.0])
    x = rng.uniform(0.2, 0.8, size=(n, d))
    y = ((model.logits(x)[:, 0] + rng.normal(0, 1, size=n)) > 0).astype(np.int64)  # some errors
    return model, x, y


def test_clean_accuracy():
    model, x, y = _problem()
    expected = np.mean((model.logits(x)[:, 0] > 0) == y)
    assert 0.5 < expected < 1.0
    assert robust_accuracy(model, x, y, batch_size=7, progress=False) == expected


def test_fgsm_sweep_on_logistic_regression_matches_the_closed_form():
    """FGSM is the exact L∞ attack on a linear model: a correct point survives iff d∞(x) > ε."""
    model, x, y = _problem(1)
    d_inf = minimal_linear_distance(model.w[0], 0.0, x, np.inf)
    correct = (model.logits(x)[:, 0] > 0) == y
    levels = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1]
    result = sweep(model, x, y, fgsm, levels, batch_size=8, progress=False, clip=None)
    expected = [np.mean(correct & (d_inf > eps)) for eps in levels]
    np.testing.assert_allclose(result["accuracy"], expected)
    assert expected[0] > expected[-1]
    np.testing.assert_array_equal(result["levels"], levels)
    clean_conf = np.mean(softmax(model.logits(x)).max(1))
    np.testing.assert_allclose(result["confidence"][0], clean_conf)
    assert np.all((result["confidence"] >= 0.5) & (result["confidence"] <= 1.0))


def test_batching_does_not_change_a_deterministic_attack():
    model = TwoLayerMLP(16, 8, 3, seed=2)
    x = np.random.default_rng(2).uniform(0, 1, size=(30, 16))
    y = np.random.default_rng(3).integers(0, 3, size=30)
    whole = np.mean(model.logits(fgsm(model, x, y, eps=0.1)).argmax(1) == y)
    assert robust_accuracy(model, x, y, fgsm, eps=0.1, batch_size=4, progress=False) == whole


def test_level_kwargs_and_seed_are_passed():
    model = TwoLayerMLP(16, 8, 3, seed=4)
    x = np.random.default_rng(4).uniform(0, 1, size=(20, 16))
    y = model.logits(x).argmax(1)
    seen = []

    def spy(model, x, y, *, eps, alpha, seed):
        seen.append((eps, alpha, seed))
        return pgd(model, x, y, eps=eps, alpha=alpha, steps=3, seed=seed)

    a = sweep(model, x, y, spy, [0.1, 0.2], level_kwargs=lambda eps: {"alpha": eps / 4},
              batch_size=10, progress=False, seed=0)
    assert [(e, al) for e, al, _ in seen] == [(0.1, 0.025)] * 2 + [(0.2, 0.05)] * 2
    assert isinstance(seen[0][2], np.random.Generator) and seen[0][2] is seen[1][2]
    b = sweep(model, x, y, spy, [0.1, 0.2], level_kwargs=lambda eps: {"alpha": eps / 4},
              batch_size=10, progress=False, seed=0)
    np.testing.assert_array_equal(a["accuracy"], b["accuracy"])


def test_integer_levels_stay_integers():
    model, x, y = _problem(5, n=10)
    seen = []

    def attack(model, x, y, *, k):
        seen.append(k)
        return x

    sweep(model, x, y, attack, [1, 2], param="k", progress=False)
    assert seen == [1, 2] and all(isinstance(k, int) for k in seen)


def test_progress_bar_can_be_turned_off(capsys):
    model, x, y = _problem(6, n=10)
    sweep(model, x, y, fgsm, [0.0, 0.1], progress=False)
    robust_accuracy(model, x, y, progress=False)
    assert capsys.readouterr().err == ""
    sweep(model, x, y, fgsm, [0.0, 0.1], progress=True)
    assert "sweep over eps" in capsys.readouterr().err


def test_evaluate_bad_input():
    model, x, y = _problem(7, n=10)
    with pytest.raises(ValueError, match="outside"):
        robust_accuracy(model, x, np.full(10, 2), progress=False)
    with pytest.raises(ValueError, match="shaped like its input"):
        robust_accuracy(model, x, y, lambda m, x, y: x[:, :3], progress=False)
    with pytest.raises(ValueError, match="levels"):
        sweep(model, x, y, fgsm, [], progress=False)
    with pytest.raises(TypeError, match="callable"):
        sweep(model, x, y, "fgsm", [0.1], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        robust_accuracy(model, x, y, batch_size=0, progress=False)
