"""Bad input found by a probe of the public API (2026-12-07) that earlier tests had not tried:
ragged label lists, numbers finite as Python floats but infinite (or 0) in float32, sizes whose
arrays could not exist, and checked numbers that were then used unconverted. Each is refused
with a message naming the argument, or, where the number is fine, computes as a float would."""

import fractions
import warnings

import numpy as np
import pytest

import tinyadv as ta
from tinyadv import attacks, evaluate, theory
from tinyadv.data import standardize

RAGGED = [[0], [1, 2], 2, 0]


def _params_model(dtype=np.float32):
    return ta.mlp([4, 5, 3], seed=0, dtype=dtype)


# ---- labels given as ragged lists: the argument is named, not NumPy's "inhomogeneous shape" ----

@pytest.mark.parametrize("call", [
    lambda: ta.mutual_information(np.array([0, 1, 1, 0]), RAGGED, 3),
    lambda: ta.label_entropy(RAGGED, 3),
    lambda: ta.permuted_labels(RAGGED, 0),
    lambda: ta.fooling_images(_params_model(), (4,), steps=1, classes=RAGGED),
])
def test_a_ragged_list_of_labels_is_named(call):
    with pytest.raises(ValueError, match=r"(y|classes) is a ragged list"):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: ta.label_entropy(np.zeros((2, 2), np.int64), 3), "y"),
    (lambda: ta.permuted_labels(np.zeros((2, 2), np.int64), 0), "y"),
    (lambda: ta.fooling_images(_params_model(), (4,), steps=1, classes=[[0, 1]]), "classes"),
])
def test_labels_of_two_axes_are_refused_as_not_a_vector(call, name):
    with pytest.raises(ValueError, match=f"{name} must be a vector of labels"):
        call()


def test_labels_of_any_length_keep_their_checks():
    assert ta.label_entropy([0, 1, 1, 0], 2) == 1.0
    assert sorted(ta.permuted_labels([2, 0, 1], 0).tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="classes must name at least one class"):
        ta.fooling_images(_params_model(), (4,), steps=1, classes=[])
    with pytest.raises(ValueError, match="outside"):
        ta.fooling_images(_params_model(), (4,), steps=1, classes=[3])


# ---- numbers checked, then used as given: a Fraction or a float16 computes as its float --------

def test_a_fraction_guard_computes_as_its_float():
    t, y = np.array([0, 1, 1, 0, 2]), np.array([0, 1, 2, 0, 2])
    assert ta.mutual_information(t, y, 3, guard=fractions.Fraction(1, 10)) == \
        ta.mutual_information(t, y, 3, guard=0.1)


def test_a_fraction_weight_decay_trains_as_its_float():
    x = np.random.default_rng(0).uniform(size=(4, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    losses = []
    for weight_decay in (fractions.Fraction(1, 10), 0.1):
        model = _params_model()
        losses.append(ta.train_step(model.train(), ta.SGD(model.parameters(), lr=0.1), x, y,
                                    weight_decay=weight_decay, l1=fractions.Fraction(1, 100)
                                    if isinstance(weight_decay, fractions.Fraction) else 0.01))
    assert losses[0] == losses[1]


def test_cw_compares_a_float16_c_without_an_overflow_warning():
    x = np.random.default_rng(0).uniform(0.1, 0.9, (2, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ta.cw_l2(_params_model(), x, c=np.float16(0.1), steps=1, search_steps=1).shape == (2, 4)


# ---- numbers that float32 cannot hold ----------------------------------------------------------

@pytest.mark.parametrize("make, name", [
    (lambda p: ta.SGD(p, lr=1e39), "lr"),
    (lambda p: ta.Adam(p, lr=1e39), "lr"),
    (lambda p: ta.Adam(p, eps=1e39), "eps"),
    (lambda p: ta.SGD(p, lr=1.0, decoupled_weight_decay=1e39), "decoupled_weight_decay"),
    (lambda p: ta.SGD(p, lr=1e20, decoupled_weight_decay=1e20), "lr \\* decoupled_weight_decay"),
])
def test_optimizer_numbers_beyond_float32_are_refused_for_float32_parameters(make, name):
    with pytest.raises(ValueError, match=f"{name} is .*beyond float32"):
        make(_params_model().parameters())
    make(_params_model(np.float64).parameters())  # (float64 holds them)


def test_the_optimizer_names_parameters_that_are_not_iterable():
    with pytest.raises(TypeError, match="iterable of parameters"):
        ta.SGD(None)


def test_cross_entropy_refuses_a_total_weight_that_is_0_or_infinite_in_the_logits_dtype():
    z = np.random.default_rng(0).normal(size=(4, 3))
    y = np.array([0, 1, 2, 0])
    for total_weight in (1e-50, 1e39):
        with pytest.raises(ValueError, match="total_weight .* is 0 or infinite in the logits' float32"):
            ta.cross_entropy(z.astype(np.float32), y, total_weight=total_weight)
        loss, _ = ta.cross_entropy(z, y, total_weight=total_weight)  # (float64 holds it)
        assert loss == pytest.approx(ta.cross_entropy(z, y, reduction="sum")[0] / total_weight,
                                     rel=1e-12)


def test_layers_refuse_a_number_beyond_their_dtype():
    with pytest.raises(ValueError, match="init is 1e\\+39, beyond float32"):
        ta.ScaledReLU(1e39)
    assert ta.ScaledReLU(1e39, dtype=np.float64).params["scale"].data[0] == 1e39
    with pytest.raises(ValueError, match="Scale's factor is 1e\\+39, beyond float32"):
        ta.Scale(1e39).forward(np.ones((2, 3), np.float32))
    assert ta.Scale(1e39).forward(np.ones((2, 3)))[0][0, 0] == 1e39


@pytest.mark.parametrize("scale", [1e20, 3e38])
def test_standardize_refuses_float32_images_whose_statistics_overflow(scale):
    x = np.random.default_rng(0).uniform(0.5, 1.0, (4, 3, 2, 2)) * scale
    with pytest.raises(ValueError, match="overflow float32 .* pass x in float64"):
        standardize(x.astype(np.float32))
    x_std, pixel_std = standardize(x)  # float64 holds them: finite, unit spread
    assert np.all(np.isfinite(x_std)) and np.all(pixel_std > 0)


def test_standardize_refuses_an_overflowing_quotient_with_a_given_std():
    x = np.zeros((2, 1, 1, 2), np.float32)
    x[:, 0, 0, 0] = 3e38
    with pytest.raises(ValueError, match="overflow float32"):
        standardize(x, np.full((1, 1, 2), 1e-3, np.float32))


# ---- sizes whose arrays could not exist ---------------------------------------------------------

def test_random_start_refuses_a_shape_past_numpys_limit():
    with pytest.raises(ValueError, match="shape=.*the random start would have shape"):
        attacks.random_start(np.random.default_rng(0), (2**62, 2**62), 0.1, 2)


def test_submanifold_data_refuses_a_basis_past_numpys_limit():
    with pytest.raises(ValueError, match="manifold_dim=.*the basis"):
        theory.submanifold_data(10, 2**41, manifold_dim=2**40)


def test_papernot_blackbox_refuses_rounds_whose_training_set_could_not_exist():
    model = _params_model()
    x = np.random.default_rng(0).uniform(size=(4, 4)).astype(np.float32)
    trained = []

    def train(substitute, x_sub, y_sub):
        trained.append(len(x_sub))

    with pytest.raises(ValueError, match="rounds=64 from 4 seed points"):
        ta.papernot_blackbox(model, _params_model(), train, x, x, np.zeros(4, np.int64),
                             rounds=64, lmbda=0.001)
    with pytest.raises(ValueError, match="rounds must be <= 64"):
        ta.papernot_blackbox(model, _params_model(), train, x, x, np.zeros(4, np.int64),
                             rounds=65, lmbda=0.001)
    assert trained == []  # (refused before the first round)


# ---- a table whose attack takes the combined row's name -----------------------------------------

def test_a_robustness_table_refuses_an_attack_named_worst_case():
    with pytest.raises(ValueError, match="'worst case' is the name of the combined row"):
        evaluate.RobustnessTable([0.1], {"pgd": np.array([[True, False]]),
                                         "worst case": np.array([[True, True]])})
