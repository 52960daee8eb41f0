"""The attack helpers that run on every step (base, pgd.gradient_step, the CW image and Adam step)
refuse bad input with a message naming the argument, in O(1) checks, and still take valid edge
input."""

import numpy as np
import pytest

import tinyadv as ta
from tinyadv.attacks.base import (check_gradient, check_logits, cross_entropy_direction,
                                  is_success, loss_gradient, num_classes)
from tinyadv.attacks.cw import cw_adam_step, cw_adam_step_reference, cw_image, cw_image_reference
from tinyadv.attacks.pgd import gradient_step, gradient_step_reference
from tinyadv.optim import adam_update

L = np.array([[2.0, 1, 0], [0, 3, 1]])  # predicts [0, 1]
X = np.full((2, 4), 0.5)
G = np.array([[1.0, -2, 3, 0], [0, 0, 1, 1]])
STEPS = [gradient_step, gradient_step_reference]


def _mlp_and_batch():
    return ta.mlp([4, 5, 3], seed=0, dtype=np.float64), np.random.default_rng(0).uniform(size=(2, 4))


# ---- is_success --------------------------------------------------------------------------------

@pytest.mark.parametrize("y, targeted, error, match", [
    (np.array([-1, 7]), False, ValueError, r"y holds labels outside \[0, 2\]"),
    (np.array([0, 3]), True, ValueError, r"y holds labels outside \[0, 2\]"),
    (np.array([0]), False, ValueError, r"y must have shape \(2,\)"),
    (np.array([0.0, 1.0]), False, TypeError, "y must hold integer"),
    (np.array([0, 1]), "False", TypeError, "targeted must be True or False"),
])
def test_is_success_checks_labels_and_targeted(y, targeted, error, match):
    with pytest.raises(error, match=match):
        is_success(L, y, targeted)


def test_is_success_takes_valid_labels():
    np.testing.assert_array_equal(is_success(L, np.array([0, 0], dtype=np.uint8), False), [False, True])
    np.testing.assert_array_equal(is_success(L, [0, 0], np.True_), [True, False])
    # a single logit is a binary model: label 1 is in range
    np.testing.assert_array_equal(is_success(np.array([[2.0], [-1.0]]), np.array([1, 1]), False),
                                  [False, True])
    assert is_success(np.zeros((0, 3)), np.zeros(0, dtype=int), False).shape == (0,)


# ---- gradient_step -----------------------------------------------------------------------------

@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("options, match", [
    (dict(eps=-0.1), "eps must be a finite number >= 0"),
    (dict(eps=np.nan), "eps must be a finite number >= 0"),
    (dict(eps=-np.inf), "eps must be a finite number >= 0"),
    (dict(alpha=-0.1), "alpha must be a finite number >= 0"),
    (dict(alpha=np.inf), "alpha must be a finite number >= 0"),
    (dict(clip=(1.0, 0.0)), "clip must satisfy low < high"),
    (dict(clip=(0.5, 0.5)), "clip must satisfy low < high"),
])
@pytest.mark.parametrize("norm", [np.inf, 2, 1])
def test_gradient_step_refuses_bad_scalars_and_box(step, options, match, norm):
    kwargs = dict(alpha=0.1, eps=0.1, norm=norm, clip=(0.0, 1.0)) | options
    with pytest.raises(ValueError, match=match):
        step(X, X, G, **kwargs)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("norm", [np.inf, 2, 1])
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_gradient_step_refuses_arrays_of_another_shape(step, norm, clip):
    options = dict(alpha=0.1, eps=0.1, norm=norm, clip=clip)
    with pytest.raises(ValueError, match=r"grad must have the shape of x \(2, 4\), got \(1, 4\)"):
        step(X, X, G[:1], **options)
    with pytest.raises(ValueError, match=r"x_adv must have the shape of x \(2, 4\), got \(4,\)"):
        step(X, X[0], G, **options)
    with pytest.raises(TypeError, match="grad must be a NumPy array, got list"):
        step(X, X, G.tolist(), **options)
    with pytest.raises(ValueError, match="unknown norm"):
        step(X, X, G, alpha=0.1, eps=0.1, norm=3, clip=clip)


@pytest.mark.parametrize("step", STEPS)
def test_gradient_step_wants_a_batch_where_adam_takes_a_scalar_parameter(step):
    # One shape check serves both (checks.check_same_shape): batch=True for the attacks' steps,
    # which index samples first; Adam's update takes a 0-d parameter such as a learned scale.
    zero_d = np.array(0.5)
    with pytest.raises(ValueError, match=r"x must have at least one dimension \(N first\)"):
        step(zero_d, zero_d, zero_d, alpha=0.1, eps=0.1, norm=np.inf, clip=(0.0, 1.0))
    data, m, v = np.array(1.0), np.array(0.0), np.array(0.0)
    adam_update(data, np.array(2.0), m, v, 0.1, 0.9, 0.999, 1e-8, 1)
    assert data == pytest.approx(0.9) and m == pytest.approx(0.2)


@pytest.mark.parametrize("step", STEPS)
def test_gradient_step_takes_valid_edge_input(step):
    # eps = inf is no ball (fooling_images), 0 is allowed for eps and alpha, a box may be
    # open on one side or given as a list, and the norm as a string
    x = np.full((2, 1, 4), 0.5, dtype=np.float32)
    g = G.reshape(2, 1, 4).astype(np.float32)
    out = step(x, x, g, alpha=0.1, eps=np.inf, norm=np.inf, clip=(0.0, 1.0))
    np.testing.assert_allclose(out, 0.5 + 0.1 * np.sign(g))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(step(x, x, g, alpha=0.1, eps=np.float32(np.inf), norm="inf",
                                       clip=None), out)
    np.testing.assert_array_equal(step(x, x, g, alpha=0.0, eps=0.0, norm=2, clip=(0, 1)), x)
    np.testing.assert_array_equal(step(x, x, g, alpha=0.1, eps=0.1, norm=np.inf,
                                       clip=[0.0, np.inf]), out)
    np.testing.assert_array_equal(step(x, x, g, alpha=np.float32(0.1), eps=1, norm=np.inf,
                                       clip=np.array([0, 1])), out)


# ---- cw_image and cw_adam_step -------------------------------------------------------------

def _cw_state(box=(0.0, 1.0)):
    w, x64 = np.zeros((2, 4)), X.copy()
    x_new, dimage, _ = cw_image(w, x64, box, np.float64)
    return w, np.zeros_like(w), np.zeros_like(w), x_new, x64, G.copy(), dimage


@pytest.mark.parametrize("image", [cw_image, cw_image_reference])
@pytest.mark.parametrize("clip, dtype, shape, error, match", [
    ((1.0, 0.0), np.float64, (2, 4), ValueError, "clip must satisfy low < high"),
    ((0.0, np.inf), np.float64, (2, 4), ValueError, "needs a box with finite ends"),
    ((0.0, 1.0), np.int64, (2, 4), TypeError, "dtype must be np.float32 or np.float64"),
    ((0.0, 1.0), np.float16, (2, 4), TypeError, "dtype must be np.float32 or np.float64"),
    ((0.0, 1.0), np.float64, (1, 4), ValueError, r"x64 must have the shape of w \(2, 4\)"),
    (None, np.float64, (1, 4), ValueError, r"x64 must have the shape of w \(2, 4\)"),
])
def test_cw_image_refuses_a_bad_box_dtype_or_shape(image, clip, dtype, shape, error, match):
    with pytest.raises(error, match=match):
        image(np.zeros((2, 4)), np.full(shape, 0.5), clip, dtype)


@pytest.mark.parametrize("adam", [cw_adam_step, cw_adam_step_reference])
@pytest.mark.parametrize("change, error, match", [
    (dict(t=0), ValueError, "t must be >= 1, got 0"),
    (dict(t=1.0), TypeError, "t must be an integer"),
    (dict(lr=0.0), ValueError, "lr must be > 0"),
    (dict(lr=np.nan), ValueError, "lr must be a finite number"),
    (dict(x64=np.zeros((1, 4))), ValueError, r"x64 must have the shape of w \(2, 4\), got \(1, 4\)"),
    (dict(model_grad=np.zeros(4)), ValueError, "model_grad must have the shape of w"),
    (dict(dimage=np.ones((2, 1))), ValueError, "dimage must have the shape of w"),
    (dict(m=np.zeros((2, 4), dtype=int)), TypeError, "m must be a floating-point array"),
    (dict(v=[[0.0] * 4] * 2), TypeError, "v must be a NumPy array, got list"),
])
def test_cw_adam_step_refuses_bad_step_rate_or_shapes(adam, change, error, match):
    names = ("w", "m", "v", "x_new", "x64", "model_grad", "dimage")
    arrays = dict(zip(names, _cw_state()))
    w_before = arrays["w"].copy()
    options = dict(lr=0.01, t=1)
    for key in ("t", "lr"):
        if key in change:
            options[key] = change[key]
    arrays |= {k: val for k, val in change.items() if k in names}
    with pytest.raises(error, match=match):
        adam(*arrays.values(), **options)
    np.testing.assert_array_equal(arrays["w"], w_before)  # refused before touching w


def test_cw_helpers_take_valid_edge_input():
    # no box: dx'/dw is the scalar 1; t may be a NumPy integer; the dtype given as a string
    w, m, v, x_new, x64, g, dimage = _cw_state(None)
    assert dimage == 1.0
    states = [(w.copy(), m.copy(), v.copy()) for _ in range(2)]
    cw_adam_step(*states[0], x_new, x64, g, dimage, lr=0.01, t=np.int64(3))
    cw_adam_step_reference(*states[1], x_new, x64, g, dimage, lr=0.01, t=3)
    for a, b in zip(*states):
        np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(states[0][0])) and np.any(states[0][0] != w)
    fast, slow = cw_image(w, x64, (-1, 2), "float32"), cw_image_reference(w, x64, (-1, 2), np.float32)
    assert fast[0].dtype == np.float32
    np.testing.assert_array_equal(fast[0], slow[0])


# ---- cross_entropy_direction and loss_gradient ---------------------------------------------

@pytest.mark.parametrize("y, error, match", [
    (np.array([-1, 1]), ValueError, r"y holds labels outside \[0, 2\] \(found min -1, max 1\)"),
    (np.array([3, 1]), ValueError, r"y holds labels outside \[0, 2\]"),
    (np.array([1]), ValueError, r"y must have shape \(2,\)"),
    (np.array([1, 0, 2]), ValueError, r"y must have shape \(2,\)"),
    (np.array([1.0, 0.0]), TypeError, "y must hold integer class labels"),
    (None, TypeError, "y must be a NumPy array of integer labels"),
])
def test_cross_entropy_direction_checks_the_labels(y, error, match):
    with pytest.raises(error, match=match):
        cross_entropy_direction(L, y)


def test_cross_entropy_direction_takes_valid_labels():
    e = cross_entropy_direction(L, np.array([0, 2], dtype=np.uint8))
    np.testing.assert_array_equal(e, cross_entropy_direction(L, [0, 2]))
    assert e.shape == (2, 3) and e[0, 0] < 0 and e[1, 2] < 0
    single = cross_entropy_direction(np.array([[1.0], [-2.0]]), np.array([1, 0]))
    assert single.shape == (2, 1) and single[0, 0] < 0 < single[1, 0]


@pytest.mark.parametrize("y, targeted, error, match", [
    (np.array([-1, 0]), False, ValueError, r"y holds labels outside \[0, "),
    (np.array([0, 3]), True, ValueError, r"y holds labels outside \[0, 2\]"),
    (np.array([0]), False, ValueError, r"y must have shape \(2,\)"),
    (None, False, TypeError, "y must be a NumPy array of integer labels, got NoneType"),
    (np.array([0, 1]), "False", TypeError, "targeted must be True or False"),
])
def test_loss_gradient_checks_labels_and_targeted(y, targeted, error, match):
    model, x = _mlp_and_batch()
    with pytest.raises(error, match=match):
        loss_gradient(model, x, y, targeted)


def test_loss_gradient_takes_a_list_of_labels():
    model, x = _mlp_and_batch()
    for a, b in zip(loss_gradient(model, x, [2, 0], True), loss_gradient(model, x, np.array([2, 0]), True)):
        np.testing.assert_array_equal(a, b)


# ---- check_logits, check_gradient, num_classes -----------------------------------------------

def test_logits_and_gradient_checks_convert_lists_and_refuse_non_numbers():
    x = np.zeros((1, 2), dtype=np.float32)
    np.testing.assert_array_equal(check_logits([[1.0, 2.0]], x), [[1.0, 2.0]])
    dx = check_gradient([[1.0, 2.0]], x)
    assert isinstance(dx, np.ndarray) and dx.dtype == np.float32
    with pytest.raises(ValueError, match=r"model.logits must return shape \(N, K\)"):
        check_logits([1.0, 2.0], x)
    with pytest.raises(ValueError, match="model.input_gradient must return an array shaped like x"):
        check_gradient([1.0, 2.0], x)
    with pytest.raises(TypeError, match="model.logits must be an array of real numbers"):
        check_logits([["a", "b"]], x)
    with pytest.raises(TypeError, match="model.input_gradient must be an array of real numbers"):
        check_gradient(np.array([[None, 1.0]]), x)


@pytest.mark.parametrize("logits, expected", [
    (np.zeros((3, 1)), 2), (np.zeros((3, 10)), 10), ([[0.0, 1.0, 2.0]], 3), (np.zeros((0, 4)), 4),
])
def test_num_classes(logits, expected):
    assert num_classes(logits) == expected


@pytest.mark.parametrize("logits", [np.zeros(3), np.zeros((3, 0)), np.zeros((1, 2, 3)), 1.0])
def test_num_classes_refuses_logits_not_shaped_n_by_k(logits):
    with pytest.raises(ValueError, match=r"logits must have shape \(N, K\) with K >= 1"):
        num_classes(logits)


# ---- fooling_images: alpha and steps that would leave the dtype's range ---------------------

@pytest.mark.parametrize("options, match", [
    (dict(alpha=1e300, steps=3, clip=None, norm=2), r"alpha=1e\+300 is too large: .* float32"),
    (dict(alpha=1e300, steps=1, clip=(0.0, 1.0)), r"alpha=1e\+300 is too large"),  # as pgd
    (dict(alpha=1e38, steps=10, clip=None), r"alpha\*steps=1e\+39 is too large: .* float32"),
    (dict(alpha=1e38, steps=10, clip=(0.0, np.inf), norm=1), r"alpha\*steps=1e\+39 is too large"),
    (dict(alpha=1e307, steps=10, clip=None, dtype=np.float64),
     r"alpha\*steps=1e\+308 is too large: .* float64"),
])
def test_fooling_images_refuses_steps_that_leave_the_dtypes_range(options, match):
    """As pgd does (check_reach). Before: "x contains infinite values", which blamed x."""
    with pytest.raises(ValueError, match=match):
        ta.fooling_images(_mlp_and_batch()[0], (4,), **options)


@pytest.mark.parametrize("options", [
    dict(alpha=1e37, steps=100),  # a finite box holds every step
    dict(alpha=1e37, steps=100, clip=None, eps=1.0),  # so does eps
    dict(alpha=1e300, steps=0, clip=None),  # no step is taken
    dict(alpha=1e300, steps=5, clip=None, dtype=np.float64, norm=2),
])
def test_fooling_images_takes_large_steps_that_stay_finite(options):
    result = ta.fooling_images(ta.mlp([4, 5, 3], seed=0), (4,), **options)
    assert np.all(np.isfinite(result.images))


# ---- spsa_gradient: what loss_fn returns ----------------------------------------------------

def _sum_loss(points, index):
    return np.sum(points.reshape(len(points), -1), axis=1)


@pytest.mark.parametrize("loss_fn, error, match", [
    (lambda p, i: list(_sum_loss(p, i)), TypeError,
     r"loss_fn must return a NumPy array of 8 losses \(one per point\), got list"),
    (lambda p, i: None, TypeError, "loss_fn must return a NumPy array of 8 losses .* got NoneType"),
    (lambda p, i: _sum_loss(p, i)[:-1], ValueError,
     r"loss_fn must return losses of shape \(8,\), one per point it was given, got shape \(7,\)"),
    (lambda p, i: _sum_loss(p, i)[:, None], ValueError, r"got shape \(8, 1\)"),
    (lambda p, i: np.float64(1.0), TypeError, "loss_fn must return a NumPy array .* got float64"),
    (lambda p, i: _sum_loss(p, i) * np.nan, ValueError, "loss_fn returned NaN"),
    (lambda p, i: np.where(i == 1, np.inf, _sum_loss(p, i)), ValueError,
     "loss_fn returned infinite values"),
    (lambda p, i: _sum_loss(p, i).astype(np.int64), TypeError,
     "loss_fn must return real floating-point losses, got dtype int64"),
    (lambda p, i: _sum_loss(p, i) + 0j, TypeError,
     "loss_fn must return real floating-point losses, got dtype complex128"),
    (lambda p, i: _sum_loss(p, i).astype(object), TypeError, "got dtype object"),
])
def test_spsa_gradient_checks_what_loss_fn_returns(loss_fn, error, match):
    """Before: AttributeError ('list' has no 'reshape'), NumPy's reshape error, or (NaN) a NaN
    gradient without a word."""
    with pytest.raises(error, match=match):
        ta.attacks.spsa_gradient(loss_fn, np.ones((2, 3)), delta=0.1, samples=4,
                                 rng=np.random.default_rng(0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spsa_gradient_takes_float_losses_of_either_precision(dtype):
    x = np.random.default_rng(1).normal(size=(2, 3))
    g = ta.attacks.spsa_gradient(lambda p, i: _sum_loss(p, i).astype(dtype), x, delta=0.1,
                                 samples=4, rng=np.random.default_rng(0))
    assert g.shape == x.shape and g.dtype == np.float64 and np.all(np.isfinite(g))
