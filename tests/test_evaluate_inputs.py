"""Bad arguments to the evaluation functions (evaluate.py, metrics.py, attackcheck.py) fail at
the door with a message naming them, and the seed of a sweep means the same with an int or a
Generator."""

import numpy as np
import pytest

import tinyadv as ta
from tinyadv.evaluate import RobustnessTable


@pytest.fixture
def setup():
    x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
    model = ta.mlp([784, 10]).eval()
    return model, x, ta.predict(model, x)


def unchanged(model, x, y=None, *, eps, seed=None):
    return x


def test_empty_batches_give_nan_summaries_or_a_clear_error():
    empty = np.zeros((0, 1, 4, 4), np.float32)
    stats = ta.perturbation_stats(empty, empty)
    assert stats[2]["per_sample"].shape == (0,) and np.isnan(stats[2]["mean"])
    with pytest.raises(ValueError, match="x is empty"):
        ta.mean_snr(empty, empty)


@pytest.mark.parametrize("call", [lambda: ta.mutual_information(np.array([0, 1]), np.array([0, 1]), 1),
                                  lambda: ta.label_entropy(np.array([0, 1]), 1)])
def test_one_class_means_label_0_only(call):
    with pytest.raises(ValueError, match=r"labels outside \[0, 0\] \(num_classes is 1\)"):
        call()
    assert ta.label_entropy(np.zeros(5, int), 1) == 0.0
    assert ta.mutual_information(np.zeros(5, int), np.zeros(5, int), 1) == 0.0


def test_entropy_of_one_class_is_plus_zero():
    assert np.copysign(1.0, ta.label_entropy(np.array([3, 3]), 5)) == 1.0


class NaNLogits:
    def logits(self, x):
        return np.full((len(x), 3), np.nan, dtype=x.dtype)


class TooFewLogits:
    def logits(self, x):
        return np.zeros((1, 3), dtype=x.dtype)


@pytest.mark.parametrize("model, error, message", [
    (NaNLogits(), ValueError, "model.logits returned NaN"),
    (TooFewLogits(), ValueError, r"model.logits must return shape \(N, K\) = \(8, K\)"),
    (None, TypeError, "model must have a method logits"),
    ("mlp", TypeError, "model must have a method logits"),
])
def test_predict_and_accuracy_check_the_model_and_its_logits(setup, model, error, message):
    _, x, _ = setup
    with pytest.raises(error, match=message):
        ta.predict(model, x)
    with pytest.raises(error, match=message):
        ta.accuracy(model, x, np.zeros(8, dtype=int))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(eps=0.5), ValueError, "eps is set by the levels"),
    (dict(level_kwargs=lambda level: {"eps": 9}), ValueError, "level_kwargs must not set eps"),
    (dict(level_kwargs={"alpha": 1}), TypeError, "level_kwargs must be a callable"),
    (dict(level_kwargs=lambda level: None), TypeError, "level_kwargs must return a dict"),
    (dict(param=3), TypeError, r"param must be the name of a keyword argument \(a str\)"),
])
def test_sweep_refuses_keywords_that_fight_the_levels(setup, kwargs, error, message):
    model, x, y = setup
    with pytest.raises(error, match=message):
        ta.sweep(model, x, y, unchanged, [0.1], progress=False, **kwargs)


@pytest.mark.parametrize("levels", [[0.1, [0.2]], ["a"], [1j], [True], [], [[0.1]]])
def test_levels_must_be_a_flat_list_of_real_numbers(setup, levels):
    model, x, y = setup
    message = "must be a non-empty 1-D sequence of real numbers"
    if levels != ["a"]:
        with pytest.raises(ValueError, match="levels must be a non-empty 1-D sequence of numbers or strings"):
            ta.sweep(model, x, y, unchanged, levels, progress=False)
    with pytest.raises(ValueError, match=f"eps {message}"):
        ta.robustness_table(model, x, y, {"none": unchanged}, levels, progress=False)
    with pytest.raises(ValueError, match=f"eps {message}"):
        ta.gradient_masking_report(model, x, y, eps=levels, white_box=unchanged)


def test_masked_levels_are_refused_when_they_mask_entries_and_read_as_their_data_when_not(setup):
    """As check_array treats a masked x. Before, np.asarray read the values under the mask: an
    eps masked out as 1e9 was attacked with (and printed in the table)."""
    model, x, y = setup
    masked = np.ma.array([0.1, 1e9], mask=[False, True])
    for call, name in [
            (lambda e: ta.robustness_table(model, x, y, {"none": unchanged}, e, progress=False), "eps"),
            (lambda e: ta.sweep(model, x, y, unchanged, e, progress=False), "levels"),
            (lambda e: ta.gradient_masking_report(model, x, y, eps=e, white_box=unchanged), "eps"),
            (lambda e: RobustnessTable(e, {"a": np.ones((e.size, 3), bool)}), "eps")]:
        with pytest.raises(ValueError, match=f"{name} is a masked array with 1 masked entries"):
            call(masked)
    unmasked = np.ma.array([0.1, 0.2])
    table = ta.robustness_table(model, x, y, {"none": unchanged}, unmasked, progress=False)
    assert type(table.eps) is np.ndarray and table.eps.tolist() == [0.1, 0.2]
    assert ta.sweep(model, x, y, unchanged, unmasked, progress=False)["levels"].tolist() == [0.1, 0.2]


@pytest.mark.parametrize("levels, param", [(["1", "2", "inf"], "norm"), ([1, 3], "k")])
def test_a_sweep_passes_its_levels_as_given_strings_and_integers_included(setup, levels, param):
    model, x, y = setup
    seen = []

    def attack(model, x, y, **kwargs):
        seen.append(kwargs[param])
        return x

    ta.sweep(model, x, y, attack, levels, param=param, progress=False)
    assert seen == levels and [type(v) for v in seen] == [type(v) for v in levels]


@pytest.mark.parametrize("attacks, error, message", [
    ({1: unchanged}, TypeError, "attack names must be strings"),
    ({"a": (unchanged, 3)}, TypeError, "the kwargs of attack 'a' must be a dict"),
    ({"a": (unchanged, {"eps": 9})}, ValueError, "the kwargs of attack 'a' must not set eps"),
    ({"a": (unchanged, {}, {"alpha": 1})}, TypeError, "the level_kwargs of attack 'a' must be a callable"),
    ({"a": (unchanged, {}, lambda eps: {"eps": 9})}, ValueError,
     "the level_kwargs of attack 'a' must not set eps"),
])
def test_robustness_table_checks_each_attack_spec(setup, attacks, error, message):
    model, x, y = setup
    with pytest.raises(error, match=message):
        ta.robustness_table(model, x, y, attacks, [0.1], progress=False)


def test_robust_accuracy_refuses_attack_keywords_without_an_attack(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match=r"attack keyword arguments \['eps'\] were given but attack is None"):
        ta.robust_accuracy(model, x, y, eps=0.3, progress=False)


@pytest.mark.parametrize("output, error, message", [
    (lambda x: x * np.nan, ValueError, "the attack's output contains NaN"),
    (lambda x: (x * 255).astype(np.uint8), TypeError, "the attack's output must be a floating-point array"),
])
def test_a_bad_attack_output_is_named_as_such(setup, output, error, message):
    model, x, y = setup
    with pytest.raises(error, match=message):
        ta.robust_accuracy(model, x, y, lambda m, xb, yb: output(xb), progress=False)


def test_a_generator_seed_starts_every_level_alike_as_an_int_seed_does(setup):
    model, x, y = setup
    draws = []

    def attack(model, x, y, *, eps, seed):
        draws.append(seed.random())
        return x

    ta.sweep(model, x, y, attack, [0.1, 0.2], progress=False, seed=0)
    ta.sweep(model, x, y, attack, [0.1, 0.2], progress=False, seed=np.random.default_rng(0))
    table_draws = len(draws)
    ta.robustness_table(model, x, y, {"a": (attack, {"seed": np.random.default_rng(0)}),
                                      "b": (attack, {"seed": 0})}, [0.1, 0.2], progress=False)
    assert len(set(draws)) == 1 and len(draws) == table_draws + 4


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(white_box=None), TypeError, "white_box must be callable"),
    (dict(white_box="pgd"), TypeError, "white_box must be callable"),
    (dict(white_box=unchanged, gradient_free="spsa"), TypeError, "gradient_free must be callable or None"),
    (dict(white_box=unchanged, num_classes=1), ValueError, "num_classes must be >= 10"),
    (dict(white_box=unchanged, num_classes=3), ValueError, "num_classes must be >= 10"),
    (dict(white_box=unchanged, num_classes=2.5), TypeError, "num_classes must be an integer"),
    (dict(white_box=unchanged, eps=[0.1, np.nan]), ValueError, "eps must be an increasing sequence of finite"),
    (dict(white_box=unchanged, eps=[0.2, 0.1]), ValueError, "eps must be an increasing sequence"),
])
def test_gradient_masking_report_checks_its_arguments_before_any_work(setup, kwargs, error, message):
    model, x, y = setup
    calls = []

    def counting(model, x, y=None, *, eps):
        calls.append(eps)
        return x

    kwargs = dict(dict(eps=[0.1, 0.5]), **kwargs)
    if kwargs.get("white_box") is unchanged:
        kwargs["white_box"] = counting
    with pytest.raises(error, match=message):
        ta.gradient_masking_report(model, x, y, **kwargs)
    assert calls == []


@pytest.fixture
def small():
    model = ta.mlp([12, 8, 3]).eval()
    x = np.random.default_rng(0).uniform(0.1, 0.9, (10, 1, 3, 4)).astype(np.float32)
    return model, x


@pytest.mark.parametrize("change, error, message", [
    (dict(attack="fgsm"), TypeError, "attack must be callable"),
    (dict(model=None), TypeError, "model must have a method logits"),
    (dict(eps=-0.1), ValueError, "eps must be a finite number >= 0"),
    (dict(eps=np.nan), ValueError, "eps must be a finite number >= 0"),
    (dict(eps="0.1"), TypeError, "eps must be a real number"),
    (dict(x=np.zeros((0, 1, 3, 4), np.float32)), ValueError, "x is empty"),
    (dict(x=np.zeros((10, 1, 3, 4), np.uint8)), TypeError, "x must be a floating-point array"),
    (dict(y=np.full(10, 3)), ValueError, r"y holds labels outside \[0, 2\]"),
    (dict(clip="01"), TypeError, r"clip must be a pair \(low, high\) or None"),
    (dict(comparison_size=0), ValueError, "comparison_size must be >= 1"),
    (dict(comparison_size=2.5), TypeError, "comparison_size must be an integer"),
    (dict(seed="0"), TypeError, "seed must be an int, a numpy.random.Generator or None"),
])
def test_check_attack_refuses_its_own_bad_arguments_instead_of_blaming_the_attack(small, change, error, message):
    model, x = small
    arguments = dict(attack=ta.fgsm, model=model, x=x, y=None, eps=0.1)
    arguments.update(change)
    with pytest.raises(error, match=message):
        ta.check_attack(arguments.pop("attack"), arguments.pop("model"), arguments.pop("x"), **arguments)


def test_check_attack_with_a_generator_seed_finds_a_seeded_attack_repeatable(small):
    model, x = small
    report = ta.check_attack(ta.spsa, model, x, eps=0.1, seed=np.random.default_rng(0),
                             steps=3, samples=16, lr=0.05)
    assert "repeatable" not in report.failures


def test_check_attack_takes_no_seed_for_a_deterministic_attack_and_a_logits_only_model(small):
    model, x = small
    assert ta.check_attack(ta.fgsm, model, x, eps=0.1, seed=None).passed

    class LogitsOnly:
        def logits(self, x):
            return model.logits(x)

    report = ta.check_attack(ta.spsa, LogitsOnly(), x, eps=0.1, seed=0, steps=2, samples=8, lr=0.05)
    assert "runs" not in report.failures


@pytest.mark.parametrize("progress", ["no", 0, None])
@pytest.mark.parametrize("evaluation", ["robust_accuracy", "sweep", "robustness_table"])
def test_the_progress_flag_of_an_evaluation_must_be_a_bool(setup, evaluation, progress, capsys):
    """progress="no" showed the bar (a non-empty string is true)."""
    model, x, y = setup
    calls = {"robust_accuracy": lambda **k: ta.robust_accuracy(model, x, y, unchanged, eps=0.1, **k),
             "sweep": lambda **k: ta.sweep(model, x, y, unchanged, [0.1], **k),
             "robustness_table": lambda **k: ta.robustness_table(model, x, y, {"a": unchanged},
                                                                 [0.1], **k)}
    with pytest.raises(TypeError, match=f"progress must be True or False, got {progress!r}"):
        calls[evaluation](progress=progress)
    calls[evaluation](progress=np.False_)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("size", [1e200, 1e-200, 1e154, 1e-160, 1e300])
def test_perturbation_stats_l2_is_right_where_the_squares_leave_float64(size):
    """√Σδ² of δ = 1e200 was inf (the squares overflow) and of 1e-200 was 0 (they underflow)."""
    x = np.zeros((2, 1, 2, 2))
    x_adv = x + np.array([size, 1.0])[:, None, None, None] * np.array([1.0, -2.0, 0.0, 2.0]).reshape(1, 1, 2, 2)
    stats = ta.perturbation_stats(x, x_adv)
    np.testing.assert_allclose(stats[2]["per_sample"], [3.0 * size, 3.0], rtol=1e-15)
    np.testing.assert_array_equal(stats[2]["per_sample"], ta.attacks.lp_norm(x_adv - x, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_perturbation_stats_l2_of_ordinary_perturbations_is_unchanged_to_the_bit(dtype):
    """Only the rows whose squares may leave float64 are measured by lp_norm's scaling; the
    others keep √Σδ² summed NumPy's way (lp_norm's einsum differs in the last bit)."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 3, 8, 8)).astype(dtype)
    x_adv = np.clip(x + rng.normal(0, 0.03, x.shape), 0, 1).astype(dtype)
    x_adv[:4] = x[:4]  # (δ = 0: an L2 of 0)
    delta = (x_adv.astype(np.float64) - x).reshape(64, -1)
    np.testing.assert_array_equal(ta.perturbation_stats(x, x_adv)[2]["per_sample"],
                                  np.sqrt((delta ** 2).sum(axis=1)))
