"""Bad input to the gradient attacks (pgd, fgm, fgsm, deepfool) and to the norm functions fails
at the door, with a message that names it; odd but valid input gives the right answer.

One section per defect found by probing: empty batches in the L1 and L2 norms, flags that
accepted any value, huge but finite parameters that overflowed (and then blamed x, or returned
infinite pixels), norm functions that checked nothing, and an L2 norm that overflowed in
float32.
"""

import numpy as np
import pytest

import tinyadv as ta
from attack_models import LinearModel
from tinyadv.attacks.norms import lp_norm, normalize, project, project_l1_ball, random_start


def _images(n=4, dtype=np.float32):
    return np.random.default_rng(0).random((n, 1, 4, 4), dtype=dtype)


def _model():
    return ta.mlp([16, 3]).eval()


# 1. Empty batches in every norm ----------------------------------------------------------------

@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("attack", [
    lambda m, x, norm: ta.pgd(m, x, eps=1.0, alpha=0.2, steps=2, norm=norm),
    lambda m, x, norm: ta.pgd(m, x, eps=1.0, alpha=0.2, steps=2, norm=norm, random_start=False,
                              restarts=2),
    lambda m, x, norm: ta.fgm(m, x, eps=1.0, norm=norm),
], ids=["pgd", "pgd_from_x", "fgm"])
def test_an_empty_batch_gives_an_empty_result_shaped_like_x(attack, norm):
    x = _images()[:0]
    x_adv = attack(_model(), x, norm)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype


@pytest.mark.parametrize("call, shape", [
    (lambda d: lp_norm(d, 1), (0,)),
    (lambda d: lp_norm(d, 2), (0,)),
    (lambda d: normalize(d, 1, l1_quantile=0.5), (0, 3, 2)),
    (lambda d: normalize(d, 2), (0, 3, 2)),
    (lambda d: project(d, 1.0, 2), (0, 3, 2)),
    (lambda d: project_l1_ball(d, 1.0), (0, 3, 2)),
    (lambda d: random_start(np.random.default_rng(0), d.shape, 1.0, 2), (0, 3, 2)),
    (lambda d: random_start(np.random.default_rng(0), d.shape, 1.0, 1), (0, 3, 2)),
], ids=["lp_norm_1", "lp_norm_2", "normalize_1", "normalize_2", "project_2", "project_l1_ball",
        "random_start_2", "random_start_1"])
def test_the_norm_functions_take_an_empty_batch(call, shape):
    assert call(np.zeros((0, 3, 2))).shape == shape


# 2. Flags must be bools ------------------------------------------------------------------------

@pytest.mark.parametrize("attack, flag", [
    (lambda m, x, kw: ta.pgd(m, x, eps=0.1, alpha=0.1, steps=1, **kw), "random_start"),
    (lambda m, x, kw: ta.pgd(m, x, eps=0.1, alpha=0.1, steps=1, **kw), "targeted"),
    (lambda m, x, kw: ta.pgd(m, x, eps=0.1, alpha=0.1, steps=1, **kw), "early_stop"),
    (lambda m, x, kw: ta.fgm(m, x, eps=0.1, norm=2, **kw), "targeted"),
    (lambda m, x, kw: ta.fgsm(m, x, eps=0.1, **kw), "targeted"),
], ids=["pgd_random_start", "pgd_targeted", "pgd_early_stop", "fgm_targeted", "fgsm_targeted"])
@pytest.mark.parametrize("value", ["False", 0, None])
def test_flags_must_be_true_or_false(attack, flag, value):
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        attack(_model(), _images(), {flag: value})


def test_numpy_bools_are_flags():
    x_adv = ta.pgd(_model(), _images(), eps=0.1, alpha=0.1, steps=1, random_start=np.False_)
    x_fgm = ta.fgm(_model(), _images(), eps=0.1)
    np.testing.assert_array_equal(x_adv, x_fgm)


# 3. Huge but finite parameters are refused by name ---------------------------------------------

@pytest.mark.parametrize("attack, message", [
    (lambda m, x: ta.pgd(m, x, eps=1e308, alpha=0.1, steps=1), r"eps=1e\+308 is too large"),
    (lambda m, x: ta.pgd(m, x, eps=1e39, alpha=0.1, steps=2, random_start=False),
     r"eps=1e\+39 is too large"),
    (lambda m, x: ta.pgd(m, x, eps=1.0, alpha=1e308, steps=3, norm=2),
     r"alpha=1e\+308 is too large"),
    (lambda m, x: ta.pgd(m, x, eps=1e38, alpha=1e38, steps=2, clip=None),
     r"alpha=1e\+38 is too large"),
    (lambda m, x: ta.fgm(m, x, eps=1e39, clip=None), r"eps=1e\+39 is too large"),
    (lambda m, x: ta.fgsm(m, x, eps=1e39, clip=None), r"eps=1e\+39 is too large"),
    (lambda m, x: ta.deepfool(m, x, overshoot=1e308, clip=None),
     r"overshoot=1e\+308 is too large"),
], ids=["pgd_eps", "pgd_eps_no_start", "pgd_alpha", "pgd_alpha_from_the_ball", "fgm_eps",
        "fgsm_eps", "deepfool_overshoot"])
def test_parameters_that_move_x_beyond_its_dtype_are_refused(attack, message):
    with pytest.raises(ValueError, match=message):
        attack(_model(), _images())


def test_fgm_takes_a_large_eps_that_fits_in_the_dtype():
    """FGM's one step starts at x, so ε up to max(float32)/2 stays finite (pgd's alpha check
    counts the ball only when a step can start from it)."""
    x = _images()
    x_adv = ta.fgm(_model(), x, eps=1e38, clip=None)
    assert np.all(np.isfinite(x_adv)) and np.allclose(np.abs(x_adv - x), 1e38, rtol=1e-6)


def test_deepfool_takes_a_huge_overshoot_inside_a_box():
    x = _images()
    x_adv = ta.deepfool(_model(), x, overshoot=1e308)
    assert np.all((x_adv >= 0) & (x_adv <= 1))


# 4. The norm functions check their arguments ---------------------------------------------------

_D = np.array([[0.5, -2.0]])
_INTS = np.array([[3, -4]])


@pytest.mark.parametrize("call, error, message", [
    (lambda: lp_norm(_D, 3), ValueError, "unknown norm 3"),
    (lambda: normalize(_D, 0), ValueError, "unknown norm 0"),
    (lambda: project(_D, 1.0, "l3"), ValueError, "unknown norm 'l3'"),
    (lambda: random_start(np.random.default_rng(0), (2, 3), 1.0, None), ValueError,
     "unknown norm None"),
    (lambda: project(_D, -1.0, 2), ValueError, "eps must be a finite number >= 0, got -1.0"),
    (lambda: project(_D, -1, np.inf), ValueError, "eps must be a finite number >= 0"),
    (lambda: project(_D, np.nan, 2), ValueError, "eps must be a finite number >= 0, got nan"),
    (lambda: project(_D, "1", 2), TypeError, "eps must be a real number"),
    (lambda: project_l1_ball(_D, -1.0), ValueError, "eps must be a finite number >= 0"),
    (lambda: random_start(np.random.default_rng(0), (2, 3), -1, np.inf), ValueError,
     "eps must be a finite number >= 0"),
    (lambda: random_start(np.random.default_rng(0), (2, 3), 1e308, np.inf), ValueError,
     r"eps=1e\+308 is too large"),
    (lambda: random_start(np.random.default_rng(0), (2, 3), 1e39, 2, np.float32), ValueError,
     r"eps=1e\+39 is too large"),
    (lambda: random_start(0, (2, 3), 1.0, np.inf), TypeError,
     "rng must be a numpy.random.Generator"),
    (lambda: random_start(np.random.RandomState(0), (2, 3), 1.0, 2), TypeError,
     "rng must be a numpy.random.Generator"),
    (lambda: random_start(np.random.default_rng(0), (2, -3), 1.0, 2), ValueError,
     "shape must be"),
    (lambda: random_start(np.random.default_rng(0), 6, 1.0, 2), TypeError,
     "shape must be a tuple of ints"),
    (lambda: random_start(np.random.default_rng(0), (2, 3), 1.0, 2, np.int64), TypeError,
     "dtype must be np.float32 or np.float64"),
    (lambda: normalize(_INTS, 2), TypeError, "g must be a floating-point array"),
    (lambda: project(_INTS, 1.0, np.inf), TypeError, "delta must be a floating-point array"),
    (lambda: project_l1_ball(_INTS, 1.0), TypeError, "delta must be a floating-point array"),
    (lambda: lp_norm(np.array(2.0), 2), ValueError, "delta must have at least 1 dimensions"),
    (lambda: normalize(_D, 1, l1_quantile=1.5), ValueError, r"l1_quantile must be in \[0, 1\)"),
    (lambda: normalize(_D, 1, l1_quantile="0.5"), TypeError, "l1_quantile must be a number"),
    (lambda: ta.pgd(_model(), _images(), eps=1.0, alpha=0.5, steps=1, norm=1, l1_quantile=False),
     TypeError, "l1_quantile must be a number"),
])
def test_the_norm_functions_refuse_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name, expected", [("inf", 2.0), ("linf", 2.0), ("l2", np.hypot(0.5, 2)),
                                            ("1", 2.5)])
def test_lp_norm_reads_the_names_that_pgd_accepts(name, expected):
    np.testing.assert_allclose(lp_norm(_D, name), [expected])


# 5. The L2 norm neither overflows nor underflows -----------------------------------------------

@pytest.mark.parametrize("scale, dtype", [(1e20, np.float32), (1e-30, np.float32),
                                          (1e200, np.float64), (1e-200, np.float64)])
def test_the_l2_norm_of_huge_and_tiny_entries(scale, dtype):
    delta = np.array([[3.0, 4.0]], dtype=np.float64) * scale
    np.testing.assert_allclose(lp_norm(delta.astype(dtype), 2), [5.0 * scale], rtol=1e-6)
    p = project(delta.astype(dtype), scale, 2)  # radius ‖δ‖/5: the projection is δ/5
    np.testing.assert_allclose(p, delta.astype(dtype) / 5, rtol=1e-6)


@pytest.mark.parametrize("scale, dtype", [(1e20, np.float32), (1e200, np.float64)])
def test_normalize_l2_of_huge_entries_is_a_unit_vector(scale, dtype):
    g = np.array([[3.0, 4.0]], dtype=dtype) * dtype(scale)
    np.testing.assert_allclose(normalize(g, 2), [[0.6, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(project(g, 1.0, 2), [[0.6, 0.8]], rtol=1e-6)


def test_fgm_l2_moves_by_eps_on_a_model_with_huge_weights():
    """A float32 logistic model with weights ±1e18: Σg² overflowed and the step was 0."""
    rng = np.random.default_rng(0)
    x = rng.random((4, 784), dtype=np.float32)
    model = LinearModel(np.where(rng.random(784) < 0.5, -1e18, 1e18))
    x_adv = ta.fgm(model, x, eps=1.0, norm=2, clip=None)
    np.testing.assert_allclose(lp_norm(x_adv.astype(np.float64) - x, 2), 1.0, rtol=1e-5)


def test_lp_norm_measures_integer_arrays_and_random_start_takes_an_array_shape():
    np.testing.assert_array_equal(lp_norm(_INTS, 2), [5.0])
    assert random_start(np.random.default_rng(0), np.array([2, 3]), 0.1, 2).shape == (2, 3)
