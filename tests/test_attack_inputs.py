"""Bad input to the attacks and corruptions fails at the door, with a message that names it.

One test per defect found by probing the public functions of ``pixels``, ``corruptions``,
``fooling``, ``blackbox``, ``spsa`` and ``cw``: empty batches, x outside the box, unchecked
shapes, labels, dtypes and flags, and huge-but-finite parameters that used to overflow and then
blame x.
"""

import numpy as np
import pytest

import tinyadv as ta
from attack_models import TwoLayerMLP
from tinyadv.attacks import (cw_l2, cw_margin, cw_success, fooling_images, gaussian_noise,
                             jacobian_augmentation, margin_loss, oracle_labels, papernot_blackbox,
                             pixel_attack, salt_and_pepper, spsa, spsa_gradient, swap_pixels,
                             uniform_noise)


def _images(n=4, d=12, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 0.9, size=(n, d)).astype(dtype)


def _model(d=12, k=3):
    return TwoLayerMLP(d, 6, k, seed=0)


class _LogitsOnly:
    """A model with nothing but ``logits``: all a black-box attack may ask for."""

    def __init__(self, model):
        self.model = model

    def logits(self, x):
        return self.model.logits(x)


def _no_training(model, x, y):
    pass


# 1. SPSA needs only logits -------------------------------------------------------------------

def test_spsa_runs_on_a_model_with_only_logits():
    x = _images()
    x_adv = spsa(_LogitsOnly(_model()), x, eps=0.1, steps=2, samples=4, seed=0)
    assert x_adv.shape == x.shape and np.all(np.abs(x_adv - x) <= 0.1 + 1e-12)


# 2. Empty batches ----------------------------------------------------------------------------

@pytest.mark.parametrize("attack", [
    lambda m, x: pixel_attack(m, x, k=3),
    lambda m, x: pixel_attack(m, x, np.zeros(0, dtype=np.int64), k=3, targeted=True),
    lambda m, x: swap_pixels(None, x, fraction=0.5, seed=0),
], ids=["pixel_attack", "pixel_attack_targeted", "swap_pixels"])
def test_an_empty_batch_gives_an_empty_result_shaped_like_x(attack):
    x = np.zeros((0, 1, 3, 4), dtype=np.float32)
    out = attack(ta.mlp([12, 3]).eval(), x)
    assert out.shape == x.shape and out.dtype == x.dtype


def test_oracle_labels_of_an_empty_batch_are_an_empty_int64_array():
    labels = oracle_labels(ta.mlp([12, 3]).eval(), np.zeros((0, 12), dtype=np.float32))
    assert labels.shape == (0,) and labels.dtype == np.int64


@pytest.mark.parametrize("empty", ["x_seed", "x_test"])
def test_papernot_blackbox_refuses_an_empty_seed_or_test_set(empty):
    x, model = _images(), _model()
    sets = {"x_seed": x, "x_test": x}
    sets[empty] = x[:0]
    y_test = np.zeros(len(sets["x_test"]), dtype=np.int64)
    with pytest.raises(ValueError, match=f"{empty} is empty"):
        papernot_blackbox(model, _model(), _no_training, sets["x_seed"], sets["x_test"], y_test,
                          rounds=1)


# 3. Noise needs x inside the box -------------------------------------------------------------

@pytest.mark.parametrize("noise", [
    lambda x: uniform_noise(None, x, eps=0.1, seed=0),
    lambda x: gaussian_noise(None, x, sigma=0.1, seed=0),
    lambda x: salt_and_pepper(None, x, fraction=0.5, seed=0),
], ids=["uniform_noise", "gaussian_noise", "salt_and_pepper"])
def test_noise_refuses_x_outside_the_clip_box(noise):
    with pytest.raises(ValueError, match="outside the clip box"):
        noise(_images() + 2.0)


# 4. fooling_images checks clip, shape, classes, dtype and start ------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"clip": (1.0, 0.0)}, ValueError, "low < high"),
    ({"clip": 0.5}, TypeError, "clip must be a pair"),
    ({"clip": (0.0, 1.0, 2.0)}, TypeError, "clip must be a pair"),
    ({"shape": 12}, TypeError, "shape must be a tuple of ints"),
    ({"shape": (12.5,)}, TypeError, "shape must be a tuple of ints"),
    ({"shape": (-12,)}, ValueError, "positive ints"),
    ({"shape": ()}, ValueError, "positive ints"),
    ({"classes": [1.5]}, TypeError, "classes must hold integer"),
    ({"classes": [-1]}, ValueError, "classes holds labels outside"),
    ({"classes": []}, ValueError, "classes must name at least one class"),
    ({"dtype": None}, TypeError, "dtype must be np.float32 or np.float64"),
    ({"dtype": "nope"}, TypeError, "dtype must be np.float32 or np.float64"),
    ({"dtype": np.int32}, TypeError, "dtype must be np.float32 or np.float64"),
    ({"start": np.full((3, 12), 128, dtype=np.uint8)}, TypeError, "start must be a floating"),
])
def test_fooling_images_refuses_bad_settings(kwargs, error, message):
    kwargs = {"shape": (12,), "steps": 1, **kwargs}
    with pytest.raises(error, match=message):
        fooling_images(_model(), **kwargs)


# 5. The substitute needs a logit for every oracle label --------------------------------------

@pytest.mark.parametrize("k_substitute", [1, 2])
def test_papernot_blackbox_refuses_a_substitute_with_fewer_classes(k_substitute):
    x = _images()
    oracle = _LogitsOnly(_model(k=3))
    y = oracle_labels(oracle, x)
    with pytest.raises(ValueError, match="substitute has 2 classes but the oracle has 3"):
        papernot_blackbox(oracle, _model(k=k_substitute), _no_training, x, x, y, rounds=2)


# 6. oracle_labels checks x and batch_size ----------------------------------------------------

@pytest.mark.parametrize("x, batch_size, error, message", [
    (np.full((2, 12), 3, dtype=np.uint8), 8, TypeError, "x must be a floating"),
    (np.zeros(12), 8, ValueError, "x must have at least 2 dimensions"),
    (np.full((2, 12), np.nan), 8, ValueError, "x contains NaN"),
    (np.zeros((2, 12)), 0, ValueError, "batch_size must be >= 1"),
    (np.zeros((2, 12)), 1.5, TypeError, "batch_size must be an integer"),
    (np.zeros((2, 12)), 8, TypeError, "oracle must have a method logits"),
])
def test_oracle_labels_refuses_bad_input(x, batch_size, error, message):
    oracle = object() if "oracle" in message else _model()
    with pytest.raises(error, match=message):
        oracle_labels(oracle, x, batch_size)


def test_oracle_labels_converts_a_list_and_batches():
    x, model = _images(5), _model()
    expected = model.logits(x).argmax(1)
    np.testing.assert_array_equal(oracle_labels(model, x.tolist(), batch_size=2), expected)


# 7. jacobian_augmentation checks x, y and lmbda ----------------------------------------------

@pytest.mark.parametrize("change, error, message", [
    ({"y": np.array([0, 1, 2, -1])}, ValueError, "y holds labels outside"),
    ({"y": np.array([0, 1, 2, 3])}, ValueError, "y holds labels outside"),
    ({"y": np.array([0.0, 1.0, 2.0, 1.0])}, TypeError, "y must hold integer"),
    ({"y": np.array([0, 1])}, ValueError, r"y must have shape \(4,\)"),
    ({"x": np.full((4, 12), 3, dtype=np.uint8)}, TypeError, "x must be a floating"),
    ({"lmbda": np.nan}, ValueError, "lmbda must be finite"),
    ({"lmbda": np.inf}, ValueError, "lmbda must be finite"),
    ({"lmbda": "0.1"}, TypeError, "lmbda must be a real number"),
    ({"lmbda": 10 ** 400}, ValueError, "lmbda must be finite"),  # (were np.isfinite's TypeError
    ({"lmbda": True}, TypeError, "lmbda must be a real number"),  # "ufunc 'isfinite' not supported")
    ({"x": _images(dtype=np.float32), "lmbda": 1e39}, ValueError, "lmbda=1e\\+39 is too large"),
])
def test_jacobian_augmentation_refuses_bad_input(change, error, message):
    args = {"x": _images(), "y": np.array([0, 1, 2, 1]), "lmbda": 0.1, **change}
    with pytest.raises(error, match=message):
        jacobian_augmentation(_model(), args["x"], args["y"], args["lmbda"])


def test_jacobian_augmentation_takes_any_finite_real_lmbda():
    """Before, a Fraction or an int beyond int64 failed in np.isfinite with "ufunc 'isfinite'
    not supported for the input types"."""
    from fractions import Fraction
    x, y = _images(), np.array([0, 1, 2, 1])
    expected = jacobian_augmentation(_model(), x, y, 0.5)
    np.testing.assert_array_equal(jacobian_augmentation(_model(), x, y, Fraction(1, 2)), expected)
    huge = jacobian_augmentation(_model(), x, y, 2 ** 70)
    np.testing.assert_array_equal(huge, jacobian_augmentation(_model(), x, y, 2.0 ** 70))


def test_jacobian_augmentation_allows_a_negative_lmbda():
    x = _images()
    x_new = jacobian_augmentation(_model(), x, np.array([0, 1, 2, 1]), -0.1)
    np.testing.assert_allclose(np.abs(x_new - x), 0.1)


# 8. margin_loss checks labels; spsa_gradient checks delta, samples and rng -------------------

@pytest.mark.parametrize("y, error, message", [
    (np.array([-1, 0]), ValueError, "y holds labels outside"),
    (np.array([3, 0]), ValueError, "y holds labels outside"),
    (np.array([0.0, 1.0]), TypeError, "y must hold integer"),
    (np.array([0]), ValueError, r"y must have shape \(2,\)"),
])
def test_margin_loss_refuses_bad_labels(y, error, message):
    with pytest.raises(error, match=message):
        margin_loss(np.zeros((2, 3)), y)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"delta": 0.0}, ValueError, "delta must be > 0"),
    ({"delta": -0.1}, ValueError, "delta must be a finite number > 0"),
    ({"delta": 1e308}, ValueError, "delta=1e\\+308 is too large"),
    ({"samples": 3}, ValueError, "samples must be even"),
    ({"samples": 0}, ValueError, "samples must be >= 2"),
    ({"samples": 4.0}, TypeError, "samples must be an integer"),
    ({"rng": 0}, TypeError, "rng must be a numpy.random.Generator"),
    ({"rng": np.random.RandomState(0)}, TypeError, "rng must be a numpy.random.Generator"),
])
def test_spsa_gradient_refuses_bad_settings(kwargs, error, message):
    kwargs = {"delta": 0.01, "samples": 4, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(error, match=message):
        spsa_gradient(lambda pts, i: np.sum(pts, axis=1), _images(), **kwargs)


# 9. SPSA refuses an odd number of samples ----------------------------------------------------

def test_spsa_takes_any_finite_real_lr():
    """lr was checked and then used as given: a Fraction made the Adam step an object array and
    failed in NumPy ("Cannot cast ufunc 'subtract' output from dtype('O')"), where eps and delta
    as Fractions worked. Now lr is the checked float, as they are."""
    from fractions import Fraction
    x = _images()
    expected = spsa(_model(), x, eps=0.1, steps=2, samples=4, lr=0.25, seed=0)
    np.testing.assert_array_equal(spsa(_model(), x, eps=0.1, steps=2, samples=4,
                                       lr=Fraction(1, 4), seed=0), expected)


def test_spsa_refuses_an_odd_number_of_samples():
    with pytest.raises(ValueError, match="samples must be even"):
        spsa(_model(), _images(), eps=0.1, steps=1, samples=5, seed=0)


# 10. CW: c is bounded by the search's cap -----------------------------------------------------

@pytest.mark.parametrize("function", [cw_margin, cw_success])
@pytest.mark.parametrize("y, error, message", [
    (np.array([0, 1, -1]), ValueError, r"y holds labels outside \[0, 3\]"),  # used to wrap around
    (np.array([0, 1, 4]), ValueError, r"y holds labels outside \[0, 3\]"),
    (np.array([0, 1]), ValueError, r"y must have shape \(3,\)"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "y must hold integer class labels"),
])
def test_cw_objective_and_success_check_their_labels(function, y, error, message):
    logits = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(error, match=message):
        function(logits, y)
    with pytest.raises(ValueError, match="confidence must be a finite number >= 0"):
        function(logits, np.array([0, 1, 2]), confidence=-1.0)


def test_cw_refuses_an_initial_c_above_the_cap():
    with pytest.raises(ValueError, match="c must be <= 1e\\+10"):
        cw_l2(_model(), _images(dtype=np.float32), c=1e39, steps=1, search_steps=1)


class _GradientSpy:
    """Records the largest upstream gradient |c·∂f/∂Z| that the attack asks for."""

    def __init__(self, model):
        self.model, self.largest = model, []

    def logits(self, x):
        return self.model.logits(x)

    def input_gradient(self, x, grad_logits):
        self.largest.append(float(np.abs(grad_logits).max()))
        return self.model.input_gradient(x, grad_logits)


def test_cw_stops_growing_c_at_the_cap():
    """With an unreachable margin κ every round fails, so c grows ×10 per round up to 1e10."""
    spy = _GradientSpy(_model())
    cw_l2(spy, _images(), c=1e8, confidence=1e6, steps=1, search_steps=5)
    np.testing.assert_allclose(spy.largest, [1e8, 1e9, 1e10, 1e10, 1e10])


def test_cw_long_failing_search_in_float32_stays_finite():
    """Without the cap, c reaches 1e39 here, beyond float32, and the iterate becomes NaN."""
    x = _images(dtype=np.float32)
    x_adv = cw_l2(_model(), x, c=1e8, confidence=1e6, steps=2, search_steps=35)
    assert x_adv.dtype == np.float32 and np.all(np.isfinite(x_adv))


# 11. Boolean flags must be booleans ----------------------------------------------------------

_X, _Y = _images(2), np.array([0, 1])


@pytest.mark.parametrize("call, flag", [
    (lambda bad: pixel_attack(_model(), _X, _Y, k=2, targeted=bad), "targeted"),
    (lambda bad: cw_l2(_model(), _X, _Y, steps=1, search_steps=1, targeted=bad), "targeted"),
    (lambda bad: cw_l2(_model(), _X, steps=1, search_steps=1, abort_early=bad), "abort_early"),
    (lambda bad: spsa(_model(), _X, _Y, eps=0.1, steps=1, samples=2, targeted=bad), "targeted"),
    (lambda bad: spsa(_model(), _X, eps=0.1, steps=1, samples=2, random_start=bad), "random_start"),
    (lambda bad: spsa(_model(), _X, eps=0.1, steps=1, samples=2, early_stop=bad), "early_stop"),
    (lambda bad: margin_loss(np.zeros((2, 3)), _Y, targeted=bad), "targeted"),
    (lambda bad: cw_margin(np.zeros((2, 3)), _Y, targeted=bad), "targeted"),
    (lambda bad: cw_success(np.zeros((2, 3)), _Y, targeted=bad), "targeted"),
])
@pytest.mark.parametrize("bad", ["False", 1, None])
def test_flags_refuse_values_that_are_not_booleans(call, flag, bad):
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        call(bad)


# 12. Huge but finite parameters --------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda x: uniform_noise(None, x, eps=1e308, clip=None), "eps"),
    (lambda x: uniform_noise(None, x.astype(np.float32), eps=1e39, clip=None), "eps"),
    (lambda x: gaussian_noise(None, x.astype(np.float32), sigma=1e39, clip=None, seed=0), "sigma"),
    (lambda x: gaussian_noise(None, x, sigma=1e308, clip=None, seed=0), "sigma"),
    (lambda x: spsa(_model(), x, eps=0.1, steps=1, samples=2, delta=1e308), "delta"),
    (lambda x: spsa(_model(), x, eps=1e308, steps=1, samples=2, clip=None), "eps"),
    (lambda x: papernot_blackbox(_model(), _model(), _no_training, x.astype(np.float32),
                                 x.astype(np.float32), np.zeros(len(x), dtype=np.int64),
                                 rounds=3, lmbda=1e39), "lmbda"),
])
def test_a_parameter_too_large_for_the_dtype_is_refused_by_name(call, name):
    with pytest.raises(ValueError, match=f"{name}=.* is too large"):
        call(_images())


def test_fooling_images_takes_a_range_of_classes_and_an_array_shape():
    model = ta.mlp([36, 3]).eval()
    result = ta.fooling_images(model, np.array([1, 6, 6]), classes=range(2), steps=1)
    assert result.images.shape == (2, 1, 6, 6) and result.targets.tolist() == [0, 1]


# 13. A model in training mode, with labels given ----------------------------------------------

_WITH_LABELS = {
    "fgsm": lambda m, x, y: ta.fgsm(m, x, y, eps=0.1),
    "pgd": lambda m, x, y: ta.pgd(m, x, y, eps=0.1, alpha=0.05, steps=2, seed=0),
    "pgd_targeted": lambda m, x, y: ta.pgd(m, x, y, eps=0.1, alpha=0.05, steps=2, seed=0,
                                           targeted=True),
    "cw_l2": lambda m, x, y: cw_l2(m, x, y, steps=3, search_steps=1),
    "spsa": lambda m, x, y: spsa(m, x, y, eps=0.1, steps=1, samples=2, seed=0),
    "pixel_attack": lambda m, x, y: pixel_attack(m, x, y, k=2),
    "deepfool": lambda m, x, y: ta.deepfool(m, x, steps=2),
    "jacobian_augmentation": lambda m, x, y: jacobian_augmentation(m, x, y, 0.1),
    "papernot_blackbox": lambda m, x, y: papernot_blackbox(
        m, m, lambda *args: None, x, x, y, rounds=2).x_adv,
}


@pytest.mark.parametrize("attack", _WITH_LABELS.values(), ids=_WITH_LABELS.keys())
def test_attacks_given_labels_run_on_a_model_in_training_mode(attack):
    """Attacks use the model in whatever mode it is in. To check given labels (and DeepFool and
    the black-box attack, always) they read K off the first sample alone, which in training mode
    is a batch of one: a BatchNorm on vectors refused it ('needs more than one value per
    feature, got input of shape (1, 6)') though fgsm(model, x) without labels ran. In training
    mode the whole batch tells K now; in evaluation mode one sample still does."""
    model = ta.Sequential(ta.Linear(12, 6), ta.BatchNorm(6), ta.ReLU(), ta.Linear(6, 3))
    assert model.training  # as built
    x = _images(dtype=np.float32)
    x_adv = attack(model, x, np.array([0, 1, 2, 0]))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and np.all(np.isfinite(x_adv))


@pytest.mark.parametrize("training", [False, True])
def test_the_number_of_logits_is_read_off_one_sample_outside_training_mode(training):
    seen = []

    class Spy:
        def __init__(self):
            self.model, self.training = _model(), training

        def logits(self, x):
            seen.append(len(x))
            return self.model.logits(x)

        def input_gradient(self, x, g):
            return self.model.input_gradient(x, g)

    x = _images()
    ta.fgsm(Spy(), x, np.array([0, 1, 2, 0]), eps=0.1)
    assert seen[0] == (len(x) if training else 1)


def test_evaluation_and_the_attack_checker_take_labels_for_a_model_in_training_mode():
    """evaluate's functions and check_attack read K to check given labels as the attacks do:
    off one sample they ran a batch of one through a model in training mode, which a BatchNorm
    on vectors refused ('needs more than one value per feature')."""
    model = ta.Sequential(ta.Linear(12, 6), ta.BatchNorm(6), ta.ReLU(), ta.Linear(6, 3))
    x, y = _images(), np.array([0, 1, 2, 0])
    accuracy = ta.robust_accuracy(model, x, y, progress=False)
    assert accuracy == np.mean(model.logits(x).argmax(1) == y)  # (one batch: the same statistics)
    report = ta.check_attack(ta.fgsm, model, x, y, eps=0.1)
    assert report.results and report.passed, str(report)


class GradientWith:
    """A TwoLayerMLP whose input gradient holds one bad value (NaN, or a float64 1e40 that is
    inf in float32): the attacks must name input_gradient, not return NaN pixels or blame the
    logits a step later."""

    def __init__(self, bad):
        self.mlp, self.bad = TwoLayerMLP(12, 8, 3, seed=0), bad

    def logits(self, x):
        return self.mlp.logits(x)

    def input_gradient(self, x, grad_logits):
        g = self.mlp.input_gradient(x, grad_logits).astype(np.float64)
        g.flat[5] = self.bad
        return g


@pytest.mark.parametrize("bad", [np.nan, 1e40])
@pytest.mark.parametrize("attack", [
    lambda m, x: ta.fgsm(m, x, eps=0.1), lambda m, x: ta.fgm(m, x, eps=0.5, norm=2),
    lambda m, x: ta.fgm(m, x, eps=2.0, norm=1), lambda m, x: ta.pgd(m, x, eps=0.1, alpha=0.02, steps=3),
    lambda m, x: ta.cw_l2(m, x, steps=3, search_steps=1), lambda m, x: ta.deepfool(m, x)])
def test_a_non_finite_input_gradient_is_named(bad, attack):
    x = np.random.default_rng(0).uniform(0.1, 0.9, (4, 1, 3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="model.input_gradient returned NaN or infinite values"):
        attack(GradientWith(bad), x)
