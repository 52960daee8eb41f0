"""The helpers under the layers (Winograd's transforms, the kernels, the activations' functions,
BatchNorm's pair, Adam's update, the initialisations, the chunking of a batch) refuse bad input
with a message that names it, instead of a truncated transform, NaN, a broadcast, a slice that
counts from the end, or a raw ZeroDivisionError, reshape or Numba typing error. Valid edge
input still gives what it gave before."""

import numpy as np
import pytest

from tinyadv import init, kernels, optim, threads, winograd
from tinyadv.layers import activations, batchnorm, conv


def f64(*shape):
    return np.ones(shape, np.float64)


# ---- Winograd: the filter transform and the NumPy references --------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: winograd.filter_transform(np.ones((1, 1, 3, 3), np.int64), 1, 2), TypeError,
     "w must be a floating-point array"),
    (lambda: winograd.filter_transform(f64(1, 1, 3, 3), 2, 2), ValueError,
     r"needs a square kernel of r\*stride, 2 <= r <= 5 \(stride 2\), got 3x3"),
    (lambda: winograd.filter_transform(f64(1, 1, 3, 4), 1, 2), ValueError,
     r"needs a square kernel of r\*stride"),
    (lambda: winograd.filter_transform(f64(1, 1, 3, 3), 0, 2), ValueError,
     "stride must be >= 1, got 0"),
    (lambda: winograd.filter_transform(f64(1, 3, 3), 1, 2), ValueError,
     "w must have 4 dimensions"),
    (lambda: winograd.input_transform_reference(f64(1, 4, 4, 1), 1, 2, 3, 4, 4), ValueError,
     r"xpad of shape \(1, 4, 4, 1\) is too small for 4x4 tiles"),
    (lambda: winograd.input_tiles_reference(f64(1, 4, 4, 1), 1, 2, 3, 4, 4), ValueError,
     "is too small for 4x4 tiles"),
    (lambda: winograd.output_transform_reference(f64(4, 4, 3, 2), 1, 2, 2, 2), ValueError,
     r"M must hold N\*Th\*Tw = 4 tiles"),
    (lambda: winograd.output_transform_reference(f64(4, 3, 1, 2), 1, 2, 1, 1), ValueError,
     "M must start with the n x n positions of a tile"),
    (lambda: winograd.output_transform_adjoint_reference(f64(1, 4, 4, 2), 4, 2, 3, 3), ValueError,
     r"dout must have m\*Th x m\*Tw = 6x6 pixels"),
    (lambda: winograd.input_transform_adjoint_reference(f64(4, 4, 4, 1), 1, 2, (1, 6, 6, 3), 2, 2),
     ValueError, r"dV must have shape \(n, n, N\*Th\*Tw, s\*s\*C\) = \(4, 4, 4, 3\)"),
    (lambda: winograd.filter_transform_adjoint_reference(f64(4, 4, 1, 2), 1, 64, 2), ValueError,
     r"dU must have s\*s\*C = 64 channels"),
])
def test_winograd_transforms_refuse_what_they_would_truncate_or_misread(call, error, message):
    """Before: integer filters came back truncated (G's fractions cast to int), and the rest a
    raw reshape error or ZeroDivisionError."""
    with pytest.raises(error, match=message):
        call()


def test_winograd_transforms_still_take_valid_filters_and_tiles():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)  # 6x6 at stride 2: r = 3
    U = winograd.filter_transform(w, 2, 3)
    assert U.shape == (5, 5, 12, 2) and U.dtype == np.float32
    G = winograd.matrices(3, 3)[1]
    # U[ξ, ν, (a, b, c), f] = (G g Gᵀ)[ξ, ν] for the filter g[p, q] = w[f, c, 2p + a, 2q + b]
    g = w.astype(np.float64).reshape(2, 3, 3, 2, 3, 2)  # [f, c, p, a, q, b]
    exact = np.einsum("xp,yq,fcpaqb->xyabcf", G, G, g).reshape(U.shape)
    np.testing.assert_allclose(U, exact, rtol=1e-6, atol=1e-6)
    xpad = rng.normal(size=(1, 6, 6, 2))
    np.testing.assert_allclose(winograd.input_transform_reference(xpad, 1, 2, 3, 2, 2),
                               winograd.input_transform(xpad, 1, 2, 3, 2, 2),
                               rtol=1e-12, atol=1e-12)


# ---- activations ----------------------------------------------------------------------------


@pytest.mark.parametrize("ste", ["Hubara", None, "hardtanh"])
def test_straight_through_refuses_an_unknown_estimator(ste):
    """Before: any unknown name (and None) silently meant 'galloway'."""
    with pytest.raises(ValueError, match="unknown STE variant"):
        activations.straight_through(np.array([5.0, -5.0]), np.array([3.0, 0.5]), ste)


def test_straight_through_still_gives_both_estimators():
    dout, x = np.array([5.0, -5.0]), np.array([3.0, 0.5])
    np.testing.assert_array_equal(activations.straight_through(dout, x, "hubara"), [0.0, -5.0])
    np.testing.assert_array_equal(activations.straight_through(dout, x, "galloway"), [1.0, -1.0])


@pytest.mark.parametrize("backward", [activations.relu_backward,
                                      activations.relu_backward_reference])
@pytest.mark.parametrize("mask", [np.array([0.5, 3.0]), np.array([1, 0]), [True, False]])
def test_relu_backward_refuses_a_mask_that_is_not_boolean(backward, mask):
    """Before: np.array([.5, 3.]) scaled dout to [0.5, 6.] without a word."""
    with pytest.raises(TypeError, match="mask must be the boolean array"):
        backward(np.array([1.0, 2.0]), mask)


@pytest.mark.parametrize("function", [activations.sign, lambda x: activations.relu_forward(x)[0]])
def test_sign_and_relu_take_a_list_as_float64_like_the_layers(function):
    """Before: AttributeError: 'list' object has no attribute 'dtype'."""
    out = function([1.0, -2.0])
    assert out.dtype == np.float64 and out.shape == (2,)
    with pytest.raises(TypeError, match="x must be a NumPy array, got str"):
        function("1, -2")
    scalar = function(np.float32(-0.5))  # a NumPy scalar, in its dtype
    assert scalar.dtype == np.float32 and scalar.shape == ()


def test_relu_still_takes_its_mask_and_other_dtypes():
    x = np.array([[1.0, -2.0], [3.0, -4.0]], np.float32).T  # not C order: the reference
    out, mask = activations.relu_forward(x)
    np.testing.assert_array_equal(activations.relu_backward(np.ones_like(x), mask), x > 0)
    assert activations.relu_forward(np.array([-1, 2]))[0].tolist() == [0, 2]  # the reference


# ---- BatchNorm -------------------------------------------------------------------------------


@pytest.mark.parametrize("running_var", [-np.ones(3), np.array([1.0, np.nan, 1.0])])
def test_batchnorm_evaluation_refuses_a_negative_or_nan_running_var(running_var):
    """Before: all NaN, with a RuntimeWarning at most."""
    with pytest.raises(ValueError, match="running_var must hold variances >= 0"):
        batchnorm.batchnorm_forward(f64(2, 3), f64(3), np.zeros(3), eps=1e-5, training=False,
                                    running_mean=np.zeros(3), running_var=running_var)


def test_batchnorm_still_takes_a_zero_running_var_and_ignores_it_in_training():
    out = batchnorm.batchnorm_forward(f64(2, 3), f64(3), np.zeros(3), eps=1.0, training=False,
                                      running_mean=np.zeros(3), running_var=np.zeros(3))[0]
    np.testing.assert_array_equal(out, f64(2, 3))
    x = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]])
    out = batchnorm.batchnorm_forward(x, f64(3), np.zeros(3), eps=1e-5, training=True,
                                      running_mean=np.zeros(3), running_var=-np.ones(3))[0]
    assert np.all(np.isfinite(out))  # training mode normalises by the batch's statistics


# ---- Adam ------------------------------------------------------------------------------------


def _adam_arguments(**change):
    arguments = dict(data=f64(3), grad=f64(3), m=np.zeros(3), v=np.zeros(3), lr=0.1, beta1=0.9,
                     beta2=0.999, eps=1e-8, t=1)
    arguments.update(change)
    return arguments


@pytest.mark.parametrize("update", [optim.adam_update, optim.adam_update_reference])
@pytest.mark.parametrize("change, error, message", [
    (dict(t=0), ValueError, "t must be >= 1, got 0"),
    (dict(t=-3), ValueError, "t must be >= 1, got -3"),
    (dict(t=1.5), TypeError, "t must be an integer"),
    (dict(beta1=1.0), ValueError, r"betas must be in \[0, 1\)"),
    (dict(beta2=1.5), ValueError, r"betas must be in \[0, 1\)"),
    (dict(beta1=-0.1), ValueError, "betas must be a finite number >= 0"),
    (dict(beta1=np.nan), ValueError, "betas must be a finite number >= 0"),
    (dict(grad=f64(1)), ValueError, r"grad must have the shape of data \(3,\), got \(1,\)"),
    (dict(m=np.zeros((3, 1))), ValueError, r"m must have the shape of data \(3,\)"),
    (dict(v=[0.0, 0.0, 0.0]), TypeError, "v must be a NumPy array, got list"),
])
def test_adam_update_refuses_a_step_betas_or_shapes_that_would_give_nan_or_broadcast(
        update, change, error, message):
    """Before: t = 0 and beta1 = 1 gave NaN weights, a grad of shape (1,) broadcast."""
    with pytest.raises(error, match=message):
        update(**_adam_arguments(**change))


def test_adam_update_still_takes_edge_betas_and_numpy_steps():
    for update in (optim.adam_update, optim.adam_update_reference):
        arguments = _adam_arguments(beta1=0.0, beta2=0.0, t=np.int64(7))
        update(**arguments)
        assert np.all(np.isfinite(arguments["data"]))
    with pytest.raises(ValueError, match=r"betas must be in \[0, 1\)"):  # the class: same check
        optim.Adam([_FakeParameter()], betas=(0.9, 1.0))


class _FakeParameter:
    data, grad, decay = f64(2), np.zeros(2), True


# ---- initialisation --------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: init.truncated_normal(np.random.default_rng(0), (3,), np.nan), ValueError,
     "std must be a finite number >= 0, got nan"),
    (lambda: init.truncated_normal(np.random.default_rng(0), (3,), np.inf), ValueError,
     "std must be a finite number >= 0, got inf"),
    (lambda: init.truncated_normal(np.random.default_rng(0), (3,), -0.1), ValueError,
     "std must be a finite number >= 0"),
    (lambda: init.truncated_normal(0, (3,), 0.1), TypeError,
     "rng must be a numpy.random.Generator"),
    (lambda: init.truncated_normal(np.random.default_rng(0), (3, -1), 0.1), ValueError,
     "shape must be a non-empty tuple"),
    (lambda: init.unit_norm_filters(np.zeros((2, 3)), tiny=-1.0), ValueError,
     "tiny must be a finite number > 0"),
    (lambda: init.unit_norm_filters(np.zeros((2, 3)), tiny=0.0), ValueError, "tiny must be > 0"),
    (lambda: init.unit_norm_filters(np.array(2.0)), ValueError,
     "w must have at least 1 dimensions"),
    (lambda: init.unit_norm_filters(np.array([[1.0, np.nan]])), ValueError, "w contains NaN"),
])
def test_initialisations_refuse_what_would_give_nan_or_fail_deep(call, error, message):
    """Before: NaN or ±inf weights, an AttributeError on the int, a raw IndexError on 0-d w."""
    with pytest.raises(error, match=message):
        call()


def test_initialisations_still_draw_and_scale():
    assert not init.truncated_normal(np.random.default_rng(0), [2, 3], 0.0).any()  # std 0: zeros
    values = init.truncated_normal(np.random.default_rng(0), (1000,), 0.1)
    assert values.shape == (1000,) and np.abs(values).max() <= 0.2
    assert init.truncated_normal(np.random.default_rng(0), 5, 0.1).shape == (5,)  # as NumPy takes it
    assert init.truncated_normal(np.random.RandomState(0), np.int64(3), 0.1).shape == (3,)
    w = init.unit_norm_filters(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(w, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert init.unit_norm_filters(np.array([2.0, -3.0])).tolist() == pytest.approx([1.0, -1.0])


# ---- chunks of a batch -----------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: threads.chunk_slices(-5, 2), ValueError, "n must be >= 0, got -5"),
    (lambda: threads.chunk_slices(5, 0), ValueError, "chunk_size must be >= 1, got 0"),
    (lambda: threads.chunk_slices(5, -2), ValueError, "chunk_size must be >= 1, got -2"),
    (lambda: threads.chunk_slices(5.0, 2), TypeError, "n must be an integer"),
    (lambda: threads.row_chunks(-3, 8), ValueError, "n must be >= 0, got -3"),
    (lambda: threads.row_chunks(3, -8), ValueError, "row_bytes must be >= 0, got -8"),
    (lambda: threads.row_chunks(3, 8, 0), ValueError, "chunk_bytes must be >= 1, got 0"),
])
def test_chunks_refuse_negative_sizes(call, error, message):
    """Before: chunk_slices(-5, 2) gave [slice(0, -5)], all but the last 5 rows."""
    with pytest.raises(error, match=message):
        call()


def test_chunks_still_cut_empty_and_small_batches():
    assert threads.chunk_slices(0, 0) == [slice(0, 0)]  # a model's one chunk of an empty batch
    assert threads.chunk_slices(np.int64(5), 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert threads.row_chunks(0, 0) == [slice(0, 0)]  # x[:1].nbytes of an empty x
    assert threads.row_chunks(3, 1 << 30) == [slice(0, 1), slice(1, 2), slice(2, 3)]


# ---- kernels and the convolution's helpers ---------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: kernels.output_size(3, 2, 0, 0, 0), ValueError, "stride must be >= 1, got 0"),
    (lambda: conv.resolve_padding("same", 5, 5, 3, 3, 0), ValueError, "stride must be >= 1, got 0"),
    (lambda: conv.resolve_padding("valid", 5, 5, 3, 3, -1), ValueError, "stride must be >= 1"),
    (lambda: kernels.im2col(np.ones((1, 3, 3, 1), object), 2, 2, 1), TypeError,
     "xpad must hold numbers .* got dtype object"),
    (lambda: kernels.im2col(np.ones((1, 3, 3, 1), np.float16), 2, 2, 1), TypeError,
     "xpad must hold numbers .* got dtype float16"),
    (lambda: kernels.pad_channels_last(np.ones((1, 1, 3, 3), "U3"), (1, 1, 1, 1)), TypeError,
     "x must hold numbers .* got dtype <U3"),
    (lambda: kernels.col2im(np.ones((1, 2, 2, 2, 2, 1), object), 3, 3, 1), TypeError,
     "dcols must hold numbers"),
    (lambda: conv.weight_rows(f64(2, 3, 3)), ValueError,
     r"w must have 4 dimensions, got shape \(2, 3, 3\)"),
    (lambda: conv.padded_channels_last(f64(2, 3, 3), (0, 0, 0, 0)), ValueError,
     r"x must have 4 dimensions, got shape \(2, 3, 3\)"),
    (lambda: conv.padded_channels_last(f64(1, 2, 3, 3), (0, 0)), ValueError,
     r"pads must be 4 integers >= 0 \(top, bottom, left, right\), got \(0, 0\)"),
    (lambda: kernels.pad_space_to_depth(f64(1, 2, 4, 4), (0, 0, 0, 0), 0, 2, 2), ValueError,
     "stride must be >= 1, got 0"),
    (lambda: kernels.pad_space_to_depth(f64(2, 4, 4), (0, 0, 0, 0), 2, 2, 2), ValueError,
     r"x must have 4 dimensions, got shape \(2, 4, 4\)"),
    (lambda: kernels.pad_space_to_depth(f64(1, 2, 4, 4), (0, 0, 0, 0), 2, -1, 2), ValueError,
     r"Hs, Ws must be 2 integers >= 0"),
    (lambda: kernels.pad_space_to_depth(np.ones((1, 1, 2, 2), "U3"), (0, 0, 0, 0), 2, 1, 1),
     TypeError, "x must hold numbers .* got dtype <U3"),
    (lambda: kernels.pad_space_to_depth_adjoint(f64(1, 2, 2, 8), (0, 0, 0, 0), 2, (1, 3, 4, 4)),
     ValueError, r"dxs of shape \(1, 2, 2, 8\) is not the space-to-depth of an input of shape "
                 r"\(1, 3, 4, 4\) at stride 2"),
    (lambda: conv.weight_rows_space_to_depth(f64(2, 3, 3, 4), 2), ValueError,
     "a 3x4 kernel is not in blocks of stride x stride = 2x2 pixels"),
    (lambda: conv.weight_from_space_to_depth(f64(2, 40), (2, 3, 4, 4), 2), ValueError,
     r"dw_rows of shape \(2, 40\) is not the weight of shape \(2, 3, 4, 4\) in blocks of "
     r"stride x stride = 2x2 pixels"),
    (lambda: conv.weight_from_space_to_depth(f64(2, 48), (2, 3, 4), 2), ValueError,
     r"w_shape must be 4 integers"),
])
def test_kernel_helpers_refuse_a_zero_stride_wrong_dtype_or_rank(call, error, message):
    """Before: ZeroDivisionError, a Numba TypingError, silently padded strings, "not enough
    values to unpack", "axes don't match array", and a 2-tuple of pads taken."""
    with pytest.raises(error, match=message):
        call()


def test_kernel_helpers_still_answer_for_valid_input():
    assert kernels.output_size(3, 5, 1, 0, 0) == -1  # callers turn < 1 into their own error
    assert kernels.output_size(28, 8, np.int64(2), 3, 3) == 14
    assert conv.resolve_padding("same", 28, 28, 8, 8, 2) == (3, 3, 3, 3)
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    view = conv.padded_channels_last(x, (0, 0, 0, 0))
    assert view.shape == (1, 3, 4, 2) and np.shares_memory(view, x)
    assert conv.padded_channels_last(x, [1, 0, 0, 1]).shape == (1, 4, 5, 2)
    assert conv.weight_rows(f64(2, 3, 4, 5)).shape == (2, 60)
    assert kernels.im2col(np.ones((1, 3, 3, 1), np.int64), 2, 2, 1).dtype == np.int64
