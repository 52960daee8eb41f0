"""Evaluation: robust_accuracy and sweep (exact on logistic regression, batched, seeded, quiet on
request), the worst-case robustness table, perturbation sizes, confidence and margin, I(T;Y) and
SNR, and the gradient-masking report (it must flag a model whose gradients are masked)."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attack_models import LinearModel, OnlyTheInterface, TwoLayerMLP
from tinyadv.attacks import fgsm, pgd, spsa
from tinyadv.evaluate import (RobustnessTable, confidence_and_margin, gradient_masking_report,
                              label_entropy, mean_snr, mutual_information, perturbation_stats,
                              robust_accuracy, robustness_table, sweep, vanishing_gradients)
from tinyadv.losses import softmax
from tinyadv.models import mlp
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


def test_sweep_confidence_is_that_of_the_attacked_inputs_at_every_level():
    """The mean top softmax probability on FGSM's output at each ε; only the clean level's was
    checked, so a confidence read off the clean inputs, or level 0's repeated, passed."""
    model, x, y = _problem(1)
    levels = [0.0, 0.02, 0.1]
    result = sweep(model, x, y, fgsm, levels, batch_size=8, progress=False, clip=None)
    expected = [np.mean(softmax(model.logits(fgsm(model, x, y, eps=e, clip=None))).max(1))
                for e in levels]
    np.testing.assert_allclose(result["confidence"], expected, rtol=1e-12)
    assert len(set(np.round(expected, 6))) == len(levels)  # (the levels differ)


def test_integer_levels_stay_integers():
    model, x, y = _problem(5, n=10)
    seen = []

    def attack(model, x, y, *, k):
        seen.append(k)
        return x

    sweep(model, x, y, attack, [1, 2], param="k", progress=False)
    assert seen == [1, 2] and all(isinstance(k, int) for k in seen)


def test_sweep_passes_the_levels_in_their_order_and_returns_its_own_copy():
    """Levels are passed exactly (float32 ones as the Python float of the same number), in the
    order given; a given array was returned as "levels" itself, so that refilling it for the
    next sweep changed the result already returned."""
    model, x, y = _problem(5, n=10)
    seen = []

    def attack(model, x, y, *, eps):
        seen.append(eps)
        return x

    levels = np.array([0.3, 0.1, 0.2], dtype=np.float32)
    result = sweep(model, x, y, attack, levels, progress=False)
    assert seen == [float(v) for v in levels] and all(type(v) is float for v in seen)
    levels[:] = 9.0
    np.testing.assert_array_equal(result["levels"], np.array([0.3, 0.1, 0.2], dtype=np.float32))


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


# ---- robustness_table: several attacks, worst case per sample -------------------------------

def _flip(which):
    """An 'attack' on a bias-free linear model that flips the prediction of the chosen samples."""
    def attack(model, x, y, *, eps):
        x_adv = x.copy()
        chosen = which(x) & (eps > 0)
        x_adv[chosen] = -x[chosen]
        return x_adv
    return attack


def test_worst_case_counts_a_sample_robust_only_if_every_attack_fails():
    """Attacks that succeed on disjoint sets of samples: each leaves the other set, the worst
    case none."""
    rng = np.random.default_rng(0)
    model = LinearModel(rng.normal(size=(1, 8)))
    x = rng.normal(size=(40, 8))
    y = (model.logits(x)[:, 0] > 0).astype(np.int64)
    positive = x[:, 0] > 0
    table = robustness_table(model, x, y, {"positive": _flip(lambda v: v[:, 0] > 0),
                                           "other": _flip(lambda v: v[:, 0] <= 0)},
                             [0.0, 0.1], batch_size=7, progress=False)
    np.testing.assert_allclose(table.accuracy["positive"], [1.0, 1 - positive.mean()])
    np.testing.assert_allclose(table.accuracy["other"], [1.0, positive.mean()])
    np.testing.assert_allclose(table.accuracy["worst case"], [1.0, 0.0])
    assert table.correct["worst case"].shape == (2, 40)
    text = str(table)
    assert "worst case" in text and "positive" in text and f"{positive.mean():.3f}" in text


def test_robustness_table_fgsm_row_is_the_closed_form_and_pgd_kwargs_are_passed():
    model, x, y = _problem(1)
    d_inf = minimal_linear_distance(model.w[0], 0.0, x, np.inf)
    correct = (model.logits(x)[:, 0] > 0) == y
    eps = [0.0, 0.01, 0.05]
    table = robustness_table(model, x, y, {
        "FGSM": (fgsm, {"clip": None}),
        "PGD": (pgd, {"steps": 5, "clip": None, "seed": 0}, lambda e: {"alpha": e / 2})},
        eps, progress=False)
    np.testing.assert_allclose(table.accuracy["FGSM"], [np.mean(correct & (d_inf > e)) for e in eps])
    assert np.all(table.accuracy["worst case"] <= np.minimum(table.accuracy["FGSM"],
                                                               table.accuracy["PGD"]))
    # Each ε gets its own level_kwargs (α = ε/2); no test saw α taken at another ε.
    pgd_alone = [robust_accuracy(model, x, y, pgd, eps=e, alpha=e / 2, steps=5, clip=None, seed=0,
                                 progress=False) for e in eps]
    np.testing.assert_array_equal(table.accuracy["PGD"], pgd_alone)
    seen = []

    def spy(model, x, y, *, eps, alpha):
        seen.append((eps, alpha))
        return x

    robustness_table(model, x, y, {"spy": (spy, {}, lambda e: {"alpha": e / 2})}, eps, progress=False)
    assert seen == [(e, e / 2) for e in eps]


def test_robustness_table_plots_one_line_per_attack_and_the_worst_case():
    import matplotlib.pyplot as plt

    model, x, y = _problem(2)
    table = robustness_table(model, x, y, {"FGSM": (fgsm, {"clip": None})}, [0.0, 0.02, 0.1],
                             progress=False)
    ax = table.plot(label_prefix="linear ", eps_scale=255)
    assert [line.get_label() for line in ax.get_lines()] == ["linear FGSM", "linear worst case"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [0.0, 5.1, 25.5])
    plt.close(ax.figure)


def test_robustness_table_plot_takes_line_properties_and_refuses_bad_options():
    """marker= or ms= crashed with "got multiple values for keyword argument" (they were passed
    twice to ax.plot); a NaN eps_scale drew nothing under the label "ε × nan", a label_prefix
    that is not a str or an ax that is not an Axes failed inside the plotting, and a failed
    draw without ax left its new figure open in pyplot."""
    import matplotlib.pyplot as plt

    plt.close("all")
    table = RobustnessTable([0.0, 0.1], {"A": np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)})
    ax = table.plot(marker="s", ms=5, lw=2)
    assert [(line.get_marker(), line.get_markersize()) for line in ax.get_lines()] == [("s", 5)] * 2
    assert ax.get_lines()[1].get_color() == "k" and ax.get_lines()[1].get_linestyle() == "--"
    assert ax.get_xlabel() == "ε" and ax.get_ylabel() == "accuracy"
    plt.close("all")
    for kwargs, error, match in [(dict(eps_scale=np.nan), ValueError, "eps_scale"),
                                 (dict(eps_scale=0), ValueError, "eps_scale"),
                                 (dict(eps_scale="255"), TypeError, "eps_scale"),
                                 (dict(label_prefix=3), TypeError, "label_prefix"),
                                 (dict(label="x"), TypeError, "label_prefix"),
                                 (dict(ax="axes"), TypeError, "ax must be"),
                                 (dict(no_such_property=1), AttributeError, "no_such_property")]:
        with pytest.raises(error, match=match):
            table.plot(**kwargs)
    assert plt.get_fignums() == []


def test_robustness_table_keeps_its_own_copy_of_eps_and_the_outcomes():
    """The table held the caller's bool and float64 arrays themselves: filling the same buffer
    again for the next model changed ``correct`` and ``eps`` of the table already made, but not
    its ``accuracy`` (computed once), so the two disagreed."""
    eps, outcome = np.array([0.0, 0.1]), np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
    table = RobustnessTable(eps, {"A": outcome})
    eps[:], outcome[:] = 9.0, False
    np.testing.assert_array_equal(table.eps, [0.0, 0.1])
    np.testing.assert_array_equal(table.correct["A"].mean(axis=1), table.accuracy["A"])
    np.testing.assert_allclose(table.accuracy["A"], [2 / 3, 1 / 3])


@pytest.mark.parametrize("attacks, eps, error, match", [
    ({}, [0.1], TypeError, "non-empty dict"),
    ({"a": 3}, [0.1], TypeError, "callable"),
    ({"worst case": fgsm}, [0.1], ValueError, "rename"),
    ({"a": fgsm}, [-0.1], ValueError, "≥ 0"),
    ({"a": fgsm}, [], ValueError, "non-empty"),
])
def test_robustness_table_bad_input(attacks, eps, error, match):
    model, x, y = _problem()
    with pytest.raises(error, match=match):
        robustness_table(model, x, y, attacks, eps, progress=False)


# ---- perturbation sizes, confidence and margin ---------------------------------------------------

def test_perturbation_stats_in_every_norm():
    x = np.zeros((3, 1, 2, 2))
    x_adv = x.copy()
    x_adv[0, 0, 0, 0] = 0.5                      # L0 1, L1 .5, L2 .5, L∞ .5
    x_adv[1] = -0.25                             # L0 4, L1 1, L2 .5, L∞ .25
    stats = perturbation_stats(x, x_adv, mask=np.array([True, True, False]))
    np.testing.assert_allclose(stats[0]["per_sample"], [1, 4, 0])
    np.testing.assert_allclose(stats[1]["per_sample"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(stats[2]["per_sample"], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(stats[np.inf]["per_sample"], [0.5, 0.25, 0.0])
    assert stats[1]["mean"] == pytest.approx(0.75) and stats[np.inf]["median"] == pytest.approx(0.375)
    assert np.isnan(perturbation_stats(x, x_adv, mask=np.zeros(3, bool))[2]["mean"])
    with pytest.raises(ValueError, match="same shape"):
        perturbation_stats(x, x_adv[:2])
    with pytest.raises(ValueError, match="mask"):
        perturbation_stats(x, x_adv, mask=np.ones(2, bool))


def test_perturbation_stats_of_a_delta_beyond_float64_is_inf_without_a_warning():
    """x_adv − x of −1e308 − 1e308 is beyond float64: its L1, L2 and L∞ sizes are inf, as the
    docstring says, and L0 counts it; the subtraction no longer warns of the overflow."""
    x, x_adv = np.array([[1e308, 0.0], [1.0, 0.0]]), np.array([[-1e308, 0.0], [2.0, 0.0]])
    with np.errstate(all="raise"):
        stats = perturbation_stats(x, x_adv)
    for norm in (1, 2, np.inf):
        np.testing.assert_array_equal(stats[norm]["per_sample"], [np.inf, 1.0])
    np.testing.assert_array_equal(stats[0]["per_sample"], [1.0, 1.0])


@pytest.mark.parametrize("sizes", [[1e308, 1.5e308, 1.7e308], [1.5e308, 1.7e308], [1e308] * 5,
                                   [1e-300, 1.0, 1.7e308, 1.7e308]])
def test_perturbation_stats_mean_and_median_of_huge_sizes_are_finite(sizes):
    """Sizes near the float64 maximum, each finite, gave a mean (NumPy sums first) and a median
    of two middle values (NumPy adds them) of inf; they are the direct numbers now."""
    sizes = np.array(sizes)
    x = np.zeros((len(sizes), 2))
    x_adv = np.stack([sizes, np.zeros_like(sizes)], axis=1)
    with np.errstate(over="raise"):
        stats = perturbation_stats(x, x_adv)
    exact_mean = float(sum(Fraction(v) for v in sizes) / len(sizes))
    middle = np.sort(sizes)[[(len(sizes) - 1) // 2, len(sizes) // 2]]
    exact_median = float((Fraction(middle[0]) + Fraction(middle[1])) / 2)
    for norm in (1, 2, np.inf):
        np.testing.assert_array_equal(stats[norm]["per_sample"], sizes)
        assert stats[norm]["mean"] == pytest.approx(exact_mean, rel=1e-15)
        assert stats[norm]["median"] == exact_median
    ordinary = np.random.default_rng(0).uniform(0, 1, size=(7, 3))  # (NumPy's numbers kept)
    stats = perturbation_stats(np.zeros_like(ordinary), ordinary)
    assert stats[1]["mean"] == float(np.mean(ordinary.sum(axis=1)))
    assert stats[1]["median"] == float(np.median(ordinary.sum(axis=1)))


def test_confidence_and_margin_from_known_logits():
    model = LinearModel(np.eye(3))                    # logits = x
    x = np.log(np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]))
    confidence, margin = confidence_and_margin(model, x, batch_size=1)
    np.testing.assert_allclose(confidence, [0.7, 0.4])
    np.testing.assert_allclose(margin, [0.5, 0.0], atol=1e-12)
    binary = LinearModel(np.array([[1.0]]))           # one logit z: probabilities [1-σ(z), σ(z)]
    confidence, margin = confidence_and_margin(binary, np.array([[0.0], [np.log(3.0)]]))
    np.testing.assert_allclose(confidence, [0.5, 0.75])
    np.testing.assert_allclose(margin, [0.0, 0.5], atol=1e-12)


# ---- I(T;Y) and SNR (Galloway, Golubeva & Taylor 2018) -------------------------------------------

def test_mutual_information_exact_cases():
    y = np.repeat(np.arange(4), 25)
    assert mutual_information(y, y, 4, guard=0) == pytest.approx(2.0)
    # A fixed relabelling carries the same information with accuracy 0.
    assert mutual_information((y + 1) % 4, y, 4, guard=0) == pytest.approx(2.0)
    # A prediction independent of the label: P(t, y) = P(t) P(y) exactly.
    t, y = np.tile(np.arange(4), 4), np.repeat(np.arange(4), 4)
    assert mutual_information(t, y, 4) == pytest.approx(0.0, abs=1e-12)
    # The 1e-4 guard only lowers the estimate slightly.
    assert 1.99 < mutual_information(y, y, 4) < 2.0
    assert label_entropy(y, 4) == pytest.approx(2.0)


def test_mutual_information_guard_moves_many_classes_as_documented():
    """T = Y over K equally frequent classes: the paper's estimator with its guard g = 1e-4
    (H(Y) − H(Y|T), g inside each log) stays near log2 K (the docstring's numbers); guard=0
    gives log2 K. The estimator this replaced, with g beside P(t, y) and P(t)·P(y), gave 3.45
    bits for K = 1,000."""
    y = np.tile(np.arange(1000), 100)
    assert mutual_information(y, y, 1000, guard=0) == pytest.approx(np.log2(1000), rel=1e-12)
    assert mutual_information(y, y, 1000) == pytest.approx(9.828, abs=0.001)
    y = np.tile(np.arange(100), 1000)
    assert mutual_information(y, y, 100) == pytest.approx(6.630, abs=0.001)
    y = np.tile(np.arange(10), 10_000)
    assert mutual_information(y, y, 10) == pytest.approx(3.321, abs=0.001)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=60))
def test_mutual_information_between_zero_and_label_entropy(pairs):
    t, y = (np.array(v, dtype=np.int64) for v in zip(*pairs))
    mi = mutual_information(t, y, 5, guard=0)
    assert -1e-9 <= mi <= label_entropy(y, 5) + 1e-9


def matrix_mutual_information(t, y, k, guard=1e-4):
    """The paper's estimator (its code's ``ft_utils.mi``) on the K × K confusion matrix, class by
    class: H(Y) = −Σ_y p(y) log2(p(y) + g), H(Y|T) = Σ_t p(t) · −Σ_y p(y|t) log2(p(y|t) + g)."""
    def entropy(p):  # (0 · log2(0 + g) is 0, g = 0 included)
        p = p[p > 0]
        return -np.dot(p, np.log2(p + guard))

    confusion = np.zeros((k, k))
    np.add.at(confusion, (t, y), 1.0)
    n = confusion.sum()
    h_y_given_t = sum(row.sum() / n * entropy(row / row.sum()) for row in confusion if row.sum())
    return float(entropy(confusion.sum(axis=0) / n) - h_y_given_t)


def random_pairs(rng, k, n):
    y = rng.integers(0, k, n)
    return np.where(rng.random(n) < rng.random(), y, rng.integers(0, k, n)), y


@pytest.mark.parametrize("k", [1, 2, 3, 7, 8, 10, 100, 129, 1000, 1100])
def test_mutual_information_and_entropy_are_the_confusion_matrix_ones(k):
    rng = np.random.default_rng(k)
    for n in (1, 2, 50, 999, 5000, 100_000):
        t, y = random_pairs(rng, k, n)
        for guard in (1e-4, 0.0):
            assert mutual_information(t, y, k, guard=guard) == pytest.approx(
                matrix_mutual_information(t, y, k, guard), rel=1e-12, abs=1e-15)
        p = np.bincount(y, minlength=k) / n
        p = p[p > 0]
        assert label_entropy(y, k) == float(-(p * np.log2(p)).sum()) + 0.0


@pytest.mark.parametrize("k", [10 ** 7, 2 ** 31, 2 ** 31 + 1, 10 ** 12, 2 ** 63])
def test_mutual_information_and_entropy_take_any_number_of_classes(k):
    """They made the K × K matrix (K = 10⁷: 728 TiB, MemoryError) or K counts (10¹²: 7 TiB);
    now the cells that hold a pair only, whatever the labels' values."""
    rng = np.random.default_rng(1)
    t, y = random_pairs(rng, 10, 3000)
    far = [0, 1, 2, 3, 4, k // 3, k // 2, k - 3, k - 2, k - 1]  # ten labels over [0, K), in order
    relabel = np.array(far, dtype=np.int64)
    assert mutual_information(relabel[y], relabel[y], k) == mutual_information(y, y, 10)
    assert label_entropy(relabel[y], k) == label_entropy(y, 10)
    assert mutual_information(relabel[t], relabel[y], k) == mutual_information(t, y, 10)
    shifted = mutual_information(t + (k - 10), y + (k - 10), k)  # (the same cells' order)
    assert shifted == mutual_information(t + 2 ** 20, y + 2 ** 20, 2 ** 20 + 10)


@pytest.mark.parametrize("k", [10 ** 12, 2 ** 62])
def test_label_entropy_takes_any_number_of_classes(k):
    """It counted all K classes (10¹²: 7 TiB, MemoryError)."""
    y = np.array([0, k - 1, k - 1, 5])
    assert label_entropy(y, k) == label_entropy(np.array([0, 2, 2, 1]), 3) == 1.5


@pytest.mark.parametrize("t, y, k, error", [
    (np.array([0, 1]), np.array([0]), 2, ValueError),
    (np.array([0, 2]), np.array([0, 1]), 2, ValueError),
    (np.array([0.0, 1.0]), np.array([0, 1]), 2, TypeError),
    (np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2, ValueError),
    (np.array([0]), np.array([0]), 0, ValueError),
])
def test_mutual_information_rejects_bad_input(t, y, k, error):
    with pytest.raises(error):
        mutual_information(t, y, k)


def test_snr_skips_unperturbed_images_and_matches_the_formula():
    x = np.ones((3, 1, 2, 2))
    x_noisy = x.copy()
    x_noisy[1] += 1.0  # ‖δ‖ = ‖x‖: 20·log10(2)
    x_noisy[2] += 0.5  # ‖δ‖ = ‖x‖/2: 20·log10(3); image 0 has δ = 0 and is skipped
    assert mean_snr(x, x_noisy) == pytest.approx(10 * np.log10(2) + 10 * np.log10(3))
    assert np.isnan(mean_snr(x, x))
    with pytest.raises(ValueError, match="same shape"):
        mean_snr(x, x[:2])


@pytest.mark.parametrize("scale", [1e-200, 1e-170, 1e160, 1e200])
def test_snr_of_tiny_or_huge_images_is_the_formula_not_nan(scale):
    """‖x‖₂ and ‖δ‖₂ whose squares underflow or overflow float64: with δ = x the SNR is
    20·log10(2) at any scale, and δ ≠ 0 next to x = 0 is 0 dB. (A δ of 1e-200 was taken for
    δ = 0 and skipped, so every image was, and the mean came back NaN; 1e200 gave inf / inf.)"""
    x = np.full((2, 1, 2, 2), scale)
    assert mean_snr(x, 2 * x) == pytest.approx(20 * np.log10(2), rel=1e-12)
    assert mean_snr(np.zeros_like(x), x) == 0.0


def test_snr_whose_ratio_leaves_float64_is_the_formula_not_inf():
    """‖x‖₂/‖δ‖₂ beyond float64's largest number (δ of 1e-320 on a unit image, of 1e-200 on one
    of 1e200) gave an SNR of inf with an overflow warning, which made the mean over all images
    inf; the paper skips only δ = 0. It is 20·log10(‖x‖/‖δ‖) there (the 1 is below the last bit)."""
    x = np.array([[1.0, 0.0], [1e200, 0.0], [1.0, 1.0]])
    x_noisy = np.array([[1.0, 1e-320], [1e200, 1e-200], [2.0, 2.0]])
    expected = [-20 * math.log10(1e-320), 20 * 400.0, 20 * math.log10(2)]
    with np.errstate(all="raise"):
        assert mean_snr(x[:1], x_noisy[:1]) == pytest.approx(expected[0], rel=1e-12)
        assert mean_snr(x[1:2], x_noisy[1:2]) == pytest.approx(expected[1], rel=1e-12)
        assert mean_snr(x, x_noisy) == pytest.approx(np.mean(expected), rel=1e-12)


def test_snr_of_images_near_the_largest_float64_is_the_formula_not_nan():
    """δ = x_noisy − x and ‖x‖ beyond float64's largest number (x = 1e308 against −1e308, or
    ‖x‖ of four values of 1e308) gave inf / inf: NaN, with overflow warnings. The ratio of the
    norms is the same for both taken a power of two smaller."""
    x = np.array([[1e308, 1e308, 1e308, 1e308], [1e308, 0.0, 1e308, 0.0], [1.0, 0.0, 0.0, 0.0]])
    x_noisy = np.array([[-1e308] * 4, [1.7e308, 0.0, 1e308, 0.0], [0.5, 0.0, 0.0, 0.0]])
    expected = [20 * math.log10(1.5), 20 * math.log10(1 + math.sqrt(2) / 0.7), 20 * math.log10(3)]
    with np.errstate(all="raise"):
        for row in range(3):
            assert mean_snr(x[row:row + 1], x_noisy[row:row + 1]) == pytest.approx(expected[row],
                                                                                   rel=1e-12)
        assert mean_snr(x, x_noisy) == pytest.approx(np.mean(expected), rel=1e-12)


# ---- gradient-masking report ---------------------------------------------------------------------

class MaskedGradients(OnlyTheInterface):
    """The linear model's logits with an input gradient of zero: a caricature of gradient masking."""

    def input_gradient(self, x, grad_logits):
        return np.zeros_like(x)


def _masking_problem():
    rng = np.random.default_rng(5)
    model = LinearModel(rng.normal(size=(2, 16)))
    x = rng.uniform(0.3, 0.7, size=(40, 16))
    return model, x, model.logits(x).argmax(1)


def _white_box(model, x, y, *, eps):
    return pgd(model, x, y, eps=eps, alpha=eps / 4, steps=10, seed=0)


def _spsa(model, x, y):
    return spsa(model, x, y, eps=0.3, steps=10, samples=32, lr=0.05, seed=0)


def test_vanishing_gradients_flags_a_saturated_softmax_only():
    model = mlp([4, 3], seed=0)
    x = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    y = np.array([0, 1])
    model["fc1"].params["weight"].data = np.eye(3, 4, dtype=np.float32)
    assert not vanishing_gradients(model, x, y).any()
    model["fc1"].params["weight"].data = 1e4 * np.eye(3, 4, dtype=np.float32)  # logit gap 1e4
    assert vanishing_gradients(model, x, y).all()


def test_vanishing_gradients_flags_an_infinite_or_nan_gradient():
    """A gradient with an infinite or NaN entry is as useless to an attack as a zero one: the
    samples whose gradient has one are flagged, a finite nonzero gradient is not."""

    class Broken:  # logits z = x[:, :3]; its gradient passes dL/dz and puts inf, NaN at entry 3
        def logits(self, x):
            return x[:, :3].copy()

        def input_gradient(self, x, grad_logits):
            grad = np.zeros_like(x)
            grad[:, :3] = grad_logits
            grad[:2, 3] = [np.inf, np.nan]
            return grad

    x = np.eye(3, 4)
    np.testing.assert_array_equal(vanishing_gradients(Broken(), x, np.array([0, 1, 2])),
                                  [True, True, False])


def test_masking_report_is_clean_on_a_linear_model():
    model, x, y = _masking_problem()
    report = gradient_masking_report(model, x, y, eps=[0.3, 0.5, 1.0], white_box=_white_box,
                                     gradient_free=_spsa)
    assert not report.masked, str(report)
    assert "no sign of gradient masking" in str(report)


def test_masking_report_flags_zero_gradients_a_flat_curve_and_a_stronger_gradient_free_attack():
    model, x, y = _masking_problem()
    transfer = _white_box(model, x, y, eps=0.3)            # crafted on the unmasked twin
    report = gradient_masking_report(MaskedGradients(model), x, y, eps=[0.3, 0.5, 1.0],
                                     white_box=_white_box, gradient_free=_spsa, transfer=transfer)
    assert report.masked
    text = " | ".join(report.flags)
    for expected in ("zero or not finite", "far above chance", "gradient-free attack beats",
                     "transfer attack beats"):
        assert expected in text, text
    assert str(report).endswith(text.replace(" | ", "; "))


class FirstPixel:
    """One logit z = x₀ (label 1 when x₀ > 0) whose input gradient is zero on the rows with
    x₁ < ``dead`` (x₁ holds each row's place in [0, 1])."""

    def __init__(self, dead):
        self.dead = dead

    def logits(self, x):
        return x[:, :1].copy()

    def input_gradient(self, x, grad_logits):
        grad = np.zeros_like(x)
        grad[:, 0] = grad_logits[:, 0]
        grad[x[:, 1] < self.dead] = 0
        return grad


def _fooled(x, accuracy):
    """x with x₀ = −1 (misclassified) on all but the last ``accuracy`` fraction of its rows."""
    x_adv = x.copy()
    x_adv[x[:, 1] < 1 - accuracy, 0] = -1.0
    return x_adv


@pytest.mark.parametrize("dead, curve, gradient_free, transfer, expected", [
    (0.10, [0.58, 0.56, 0.55], 0.54, 0.54, []),                        # every check at its edge
    (0.20, [0.58, 0.56, 0.55], None, None, ["zero or not finite"]),    # 20% > 10% dead gradients
    (0.00, [0.70, 0.68, 0.65], None, None, ["far above chance"]),      # 0.65 > chance 0.5 + 0.1
    (0.00, [0.58, 0.55, 0.58], None, None, []),                        # a rise of 0.03 ≤ 0.05
    (0.00, [0.58, 0.51, 0.59], None, None, ["rises with"]),            # a rise of 0.08 > 0.05
    (0.00, [0.60, 0.50, 0.40], 0.56, 0.56, []),                        # 0.56 ≥ 0.60 − 0.05
    (0.00, [0.60, 0.50, 0.40], 0.50, 0.52, ["gradient-free attack beats", "transfer attack beats"]),
    (0.00, [0.70, 0.65, 0.60], None, None, []),                        # 0.60 = chance + 0.1 exactly
])
def test_masking_report_thresholds_are_the_documented_ones(dead, curve, gradient_free, transfer,
                                                          expected):
    """Each check against its documented threshold, on attacks that fool a chosen fraction of
    100 samples: more than 10% dead gradients, the last white-box accuracy above chance + 0.1,
    a rise above ``tolerance`` (0.05) between two ε, and a gradient-free or transfer attack
    more than ``tolerance`` below the white-box accuracy at the first ε (not the last: there
    0.40 would hide both). The report on a real model cannot tell 10% from 50% dead gradients,
    or the first ε from the last."""
    n = 100
    x = np.zeros((n, 2))
    x[:, 0], x[:, 1] = 1.0, (np.arange(n) + 0.5) / n
    y = np.ones(n, dtype=np.int64)
    eps = [0.1, 0.2, 0.3]
    accuracy = dict(zip(eps, curve))
    report = gradient_masking_report(
        FirstPixel(dead), x, y, eps=eps, white_box=lambda m, x, y, *, eps: _fooled(x, accuracy[eps]),
        gradient_free=None if gradient_free is None else lambda m, x, y: _fooled(x, gradient_free),
        transfer=None if transfer is None else _fooled(x, transfer))
    assert len(report.flags) == len(expected), str(report)
    for words in expected:
        assert any(words in flag for flag in report.flags), str(report)
    assert f"{dead:.1%} of 100 samples" in str(report)


def test_masking_report_differences_of_exactly_the_tolerance_do_not_count():
    """Accuracies are multiples of 1/N, and their float differences are off in the last bit:
    0.53 − 0.48 is 0.05000000000000004, so a rise, or a gradient-free or transfer attack, of
    exactly ``tolerance`` = 0.05 was flagged as "more than tolerance" at some accuracies (0.48
    and 0.53 of 100 samples) and not at others (0.50 and 0.55). Now none is; a difference above
    the tolerance (0.05 > 0.049, or 0.06) still counts."""
    n = 100
    x = np.zeros((n, 2))
    x[:, 0], x[:, 1] = 1.0, (np.arange(n) + 0.5) / n
    y = np.ones(n, dtype=np.int64)

    def flags(curve, other, tolerance=0.05):
        accuracy = dict(zip([0.1, 0.2], curve))
        return gradient_masking_report(
            FirstPixel(0.0), x, y, eps=[0.1, 0.2], tolerance=tolerance,
            white_box=lambda m, x, y, *, eps: _fooled(x, accuracy[eps]),
            gradient_free=lambda m, x, y: _fooled(x, other), transfer=_fooled(x, other)).flags

    for low, high in [(0.48, 0.53), (0.50, 0.55), (0.09, 0.14), (0.02, 0.07)]:
        assert flags([high, high], low) == [] and flags([low, high], high) == []
        assert flags([high, high], low, tolerance=0.049) != []
        assert flags([low, high], high, tolerance=0.049) != []
    assert len(flags([0.53, 0.59], 0.47)) == 3  # a rise of 0.06 and two attacks 0.06 better


def test_masking_report_reads_chance_off_num_classes():
    """``num_classes`` sets chance: 0.40 at the largest ε is near chance 0.5 for the two logits
    of ``FirstPixel``, far above chance 0.1 for ten classes (the argument was never tested)."""
    n = 100
    x = np.zeros((n, 2))
    x[:, 0], x[:, 1] = 1.0, (np.arange(n) + 0.5) / n
    y = np.ones(n, dtype=np.int64)
    white_box = lambda m, x, y, *, eps: _fooled(x, 0.40)
    report = gradient_masking_report(FirstPixel(0.0), x, y, eps=[0.1], white_box=white_box)
    assert not report.masked and "(chance 0.50)" in str(report)
    report = gradient_masking_report(FirstPixel(0.0), x, y, eps=[0.1], white_box=white_box,
                                     num_classes=10)
    assert report.flags == ["white-box accuracy stays at 0.40 at ε = 0.1, far above chance"]
    assert "(chance 0.10)" in str(report)


def test_masking_report_bad_input():
    model, x, y = _masking_problem()
    with pytest.raises(ValueError, match="increasing"):
        gradient_masking_report(model, x, y, eps=[0.5, 0.3], white_box=_white_box)
    with pytest.raises(ValueError, match="shaped like x"):
        gradient_masking_report(model, x, y, eps=[0.3], white_box=_white_box, transfer=x[:3])


def test_masking_report_refuses_a_gradient_free_attack_that_returns_nothing():
    """A gradient-free attack that returns None (a forgotten return) skipped check 3 without a
    word: "no sign of gradient masking" from one check fewer than asked for."""
    model, x, y = _masking_problem()
    with pytest.raises(TypeError, match="the gradient-free attack must return x_adv shaped like x"):
        gradient_masking_report(model, x, y, eps=[0.3], white_box=_white_box,
                                gradient_free=lambda m, x, y: None)
