"""The layers, their forward/backward pairs and the kernels under them refuse inconsistent input
with a message that names it, before a compiled loop reads or writes past an array's end.

The calls that used to crash the process (a segfault, glibc's "free(): invalid pointer") run in
a fresh process each, so that a regression fails this test instead of killing the test run."""

import copy
import re

import numpy as np
import pytest

from fresh_process import outcome
import tinyadv as ta
from tinyadv import winograd
from tinyadv.layers import activations, batchnorm, conv, linear


# ---- 1. the kernels check sizes before their compiled loops run ----------------------------


@pytest.mark.parametrize("code, message", [
    ("kernels.col2im(f32(1, 6, 6, 3, 3, 2), 3, 3, 1)",
     r"ValueError: dcols of shape \(1, 6, 6, 3, 3, 2\) at stride 1 covers 8x8 pixels, "
     r"more than Hp x Wp = 3x3"),
    ("kernels.col2im(f32(4, 200, 200, 3, 3, 8), 1, 1, 1)", "ValueError: dcols of shape"),
    ("kernels.col2im(f32(1, 3, 3, 2, 2, 1), 4, 4, 0)", "ValueError: stride must be >= 1, got 0"),
    ("kernels.col2im(f32(1, 3, 3, 2, 2, 1), 4, 4, -1)", "ValueError: stride must be >= 1, got -1"),
    ("kernels.col2im(f32(3, 3, 2, 2, 1), 4, 4, 1)", "ValueError: dcols must have 6 dimensions"),
    ("kernels.im2col(f32(1, 3, 3, 1), 5, 5, 1)", "ValueError: kernel 5x5 is larger than xpad's 3x3"),
    ("kernels.im2col(f32(1, 3, 3, 1), 2, 2, 0)", "ValueError: stride must be >= 1, got 0"),
    ("kernels.pad_channels_last(f32(1, 1, 5, 5), (-2, 0, -2, 0))",
     r"ValueError: pads must be 4 integers >= 0 \(top, bottom, left, right\), got \(-2, 0, -2, 0\)"),
    ("kernels.pad_channels_last(f32(64, 16, 64, 64), (-60, 0, -60, 0))",
     "ValueError: pads must be 4 integers >= 0"),
    ("kernels.rows_product_adjoint(f32(9, 3), f32(3, 8), (1, 2, 2, 2), 2, 2, 1, 3, 3)",
     r"ValueError: Ho, Wo = 3, 3 is not the output size \(1, 1\)"),
    ("kernels.rows_product_adjoint(f32(9, 3), f32(3, 8), (1, 2, 2), 2, 2, 1, 3, 3)",
     r"ValueError: xpad_shape must be 4 integers >= 0 \(N, Hp, Wp, C\)"),
    ("kernels.rows_product_adjoint(f32(5, 3), f32(3, 8), (1, 4, 4, 2), 2, 2, 1, 3, 3)",
     r"ValueError: dout_rows must have shape \(N\*Ho\*Wo, F\) = \(9, 3\), got \(5, 3\)"),
    ("kernels.rows_product(f32(1, 5, 5, 2), f32(3, 7), 2, 2, 1, True)",
     r"ValueError: w_rows must have HH\*WW\*C = 8 columns"),
    ("kernels.rows_weight_gradient(f32(5, 3), f32(1, 5, 5, 2), 2, 2, 1)",
     r"ValueError: dout_rows must have N\*Ho\*Wo = 16 rows"),
    ("winograd.input_transform_adjoint(f32(4, 4, 100, 1), 1, 2, (1, 3, 3, 1), 10, 10)",
     r"ValueError: xpad_shape \(1, 3, 3, 1\) is too small for 10x10 tiles of F\(2, 3\)"),
    ("winograd.input_transform_adjoint(f32(4, 4, 4, 1), 1, 2, (1, 6, 6, 3), 2, 2)",
     r"ValueError: dV must have shape \(n, n, N\*Th\*Tw, s\*s\*C\) = \(4, 4, 4, 3\)"),
    ("winograd.input_transform(f32(1, 4, 4, 1), 1, 2, 3, 40, 40)",
     r"ValueError: xpad of shape \(1, 4, 4, 1\) is too small for 40x40 tiles"),
    ("winograd.output_transform(f32(4, 4, 1, 2), 50, 2, 10, 10)",
     r"ValueError: M must hold N\*Th\*Tw = 5000 tiles"),
    ("winograd.output_transform(f32(4, 3, 1, 2), 1, 2, 1, 1)",
     "ValueError: M must start with the n x n positions of a tile"),
    ("winograd.output_transform_adjoint(f32(1, 4, 4, 2), 4, 2, 3, 3)",
     r"ValueError: dout must have m\*Th x m\*Tw = 6x6 pixels"),
    ("winograd.filter_transform_adjoint(f32(4, 4, 1, 2), 1, 64, 2)",
     r"ValueError: dU must have s\*s\*C = 64 channels"),
    ("winograd.conv2d(f32(1, 5, 5, 1), f32(2, 1, 3, 3), 1, 30, 30)",
     r"ValueError: Ho, Wo = 30, 30 is not the output size of a 3x3 kernel"),
    ("winograd.conv2d(f32(1, 5, 5, 2), f32(2, 1, 3, 3), 1, 3, 3)", "ValueError: channel mismatch"),
    ("winograd.conv2d_backward(f32(1, 4, 4, 2), f32(4, 4, 2, 2), (2, 1, 3, 3), 1, (1, 6, 6, 1),\n"
     "                         V=f32(4, 4, 4, 1))",
     r"ValueError: U must have shape \(n, n, s\*s\*C, F\) = \(4, 4, 1, 2\), got \(4, 4, 2, 2\)"),
    ("winograd.conv2d_backward(f32(3, 4, 4, 2), f32(4, 4, 1, 2), (2, 1, 3, 3), 1, (1, 6, 6, 1),\n"
     "                         V=f32(4, 4, 4, 1))", "ValueError: dout .* are not of one convolution"),
])
def test_kernels_refuse_sizes_that_would_read_or_write_out_of_bounds(code, message):
    """Before, each of these returned garbage, crashed the process or corrupted the heap; the
    NumPy references raised (less clearly) for the same input."""
    result = outcome(code)
    assert re.match(message, result), result


def test_kernels_still_take_what_the_layers_give_them():
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype(np.float32)
    rows = ta.kernels.im2col(x, 3, 2, 2)
    assert ta.kernels.col2im(rows, 7, 6, 2).shape == x.shape  # Hp larger than the rows cover
    np.testing.assert_array_equal(ta.kernels.pad_channels_last(x.transpose(0, 3, 1, 2), (0, 1, 2, 0)),
                                  ta.kernels.pad_channels_last_reference(x.transpose(0, 3, 1, 2),
                                                                         (0, 1, 2, 0)))
    assert ta.kernels.im2col(x.astype(np.int64), 2, 2, 1).dtype == np.int64  # integers too


# ---- 2. conv2d_backward checks dout and the weights against the cache -----------------------


@pytest.mark.parametrize("method", ["winograd", "im2col"])
@pytest.mark.parametrize("keep_rows", [True, False])
def test_conv_backward_refuses_a_dout_with_its_spatial_sizes_swapped(method, keep_rows):
    """(2, 2, 10, 4) for an output (2, 2, 4, 10): the same number of values. Before, the
    gradients came back and then the process segfaulted (im2col) or aborted (Winograd)."""
    code = (f"layer = ta.Conv2D(64, 2, 3, seed=0)\n"
            f"layer.method, layer.training = {method!r}, {keep_rows}\n"
            f"out, cache = layer.forward(f32(2, 64, 6, 12))\n"
            f"assert out.shape == (2, 2, 4, 10) and cache[0] == {method!r}\n"
            f"layer.backward(f32(2, 2, 10, 4), cache)")
    assert outcome(code) == ("ValueError: dout of conv2d must have the shape of its output "
                             "(2, 2, 4, 10), got (2, 2, 10, 4)")


@pytest.fixture
def conv_and_cache():
    layer = ta.Conv2D(1, 2, 3, seed=0)
    out, cache = layer.forward(np.random.default_rng(0).normal(size=(2, 1, 5, 5)).astype(np.float32))
    return layer, out, cache


@pytest.mark.parametrize("dout, error, message", [
    (np.ones((2, 3, 3, 3), np.float32), ValueError, r"output \(2, 2, 3, 3\), got \(2, 3, 3, 3\)"),
    (np.ones((1, 2, 3, 3), np.float32), ValueError, r"got \(1, 2, 3, 3\)"),
    (np.ones((2, 2, 4, 4), np.float32), ValueError, r"got \(2, 2, 4, 4\)"),
    (np.ones((2, 2, 9), np.float32), ValueError, r"got \(2, 2, 9\)"),
    (np.ones((2, 3, 3, 2), np.float32), ValueError, r"got \(2, 3, 3, 2\)"),
    ([[[[1.0]]]], TypeError, "dout of conv2d must be a NumPy array, got list"),
])
def test_conv_backward_names_a_dout_of_the_wrong_shape(conv_and_cache, dout, error, message):
    layer, _, cache = conv_and_cache
    with pytest.raises(error, match=message):
        layer.backward(dout, cache)
    with pytest.raises(error, match=message):
        conv.conv2d_backward(dout, cache)


def test_conv_backward_refuses_another_layers_cache(conv_and_cache):
    _, out, cache = conv_and_cache
    with pytest.raises(ValueError, match=r"cache is of a convolution with weights of shape "
                                         r"\(2, 1, 3, 3\), this layer's are \(4, 1, 3, 3\)"):
        ta.Conv2D(1, 4, 3, seed=0).backward(np.ones_like(out), cache)
    linear_cache = ta.Linear(3, 3, seed=0).forward(np.ones((2, 3), np.float32))[1]
    with pytest.raises(ValueError, match="cache must be the cache that conv2d_forward returned"):
        ta.Conv2D(1, 2, 3, seed=0).backward(np.ones_like(out), linear_cache)


# ---- 3. every backward checks dout against the output its cache belongs to ----------------


X2 = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)


@pytest.mark.parametrize("layer, dout, name", [
    (ta.ReLU(), np.ones((3, 1), np.float32), "ReLU"),
    (ta.ReLU(), np.ones(4, np.float32), "ReLU"),
    (ta.ScaledReLU(), np.ones((3, 1), np.float32), "ScaledReLU"),
    (ta.Sign("galloway"), np.ones(5, np.float32), "sign"),
    (ta.Sign("hubara"), np.ones((3, 1), np.float32), "sign"),
    (ta.BatchNorm(4), np.ones((3, 1), np.float32), "BatchNorm"),
    (ta.BatchNorm(4), np.ones((1, 4), np.float32), "BatchNorm"),
    (ta.BatchNorm(4), np.ones((3, 4, 3, 4), np.float32), "BatchNorm"),
    (ta.Linear(4, 2, seed=0), np.ones((3, 3), np.float32), "linear"),
    (ta.Linear(4, 2, seed=0), np.ones((1, 2), np.float32), "linear"),
    (ta.Scale(0.5), np.ones((1, 4), np.float32), "Scale"),
    (ta.Flatten(), np.ones((3, 5), np.float32), "Flatten"),
])
def test_backward_refuses_a_dout_that_would_broadcast(layer, dout, name):
    out, cache = layer.forward(X2)
    with pytest.raises(ValueError, match=re.escape(f"dout of {name} must have the shape of its "
                                                   f"output {out.shape}, got {dout.shape}")):
        layer.backward(dout, cache)
    with pytest.raises(TypeError, match=f"dout of {name} must be a NumPy array, got list"):
        layer.backward(np.ones_like(out).tolist(), cache)
    dx, _ = layer.backward(np.ones_like(out), cache)  # the right shape still passes
    assert dx.shape == X2.shape


def test_linear_and_batchnorm_backward_refuse_another_layers_cache():
    relu_cache = ta.ReLU().forward(X2)[1]
    with pytest.raises(ValueError, match="cache must be the cache that linear_forward returned"):
        ta.Linear(4, 2, seed=0).backward(np.ones((3, 2), np.float32), relu_cache)
    with pytest.raises(ValueError, match=r"cache is of a linear layer with weights of shape "
                                         r"\(2, 4\), this layer's are \(3, 4\)"):
        ta.Linear(4, 3, seed=0).backward(np.ones((3, 2), np.float32),
                                         ta.Linear(4, 2, seed=0).forward(X2)[1])
    with pytest.raises(ValueError, match="cache must be the cache that batchnorm_forward"):
        ta.BatchNorm(4).backward(np.ones((3, 4), np.float32),
                                 ta.Linear(4, 4, seed=0).forward(X2)[1])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("x", [np.arange(12.0).reshape(4, 3), np.arange(48.0).reshape(2, 3, 2, 4)])
def test_batchnorm_backward_refuses_the_cache_of_a_batchnorm_of_other_features(training, x):
    """As Linear and Conv2D do. Before, BatchNorm(5) returned (3,) gradients for its (5,)
    parameters from a BatchNorm(3)'s cache."""
    bn3, bn5 = ta.BatchNorm(3), ta.BatchNorm(5)
    bn3.training = bn5.training = training
    out, cache = bn3.forward(x)
    with pytest.raises(ValueError, match=re.escape("cache is of a BatchNorm with weights of shape "
                                                   "(3,), this layer's are (5,)")):
        bn5.backward(np.ones_like(out), cache)
    dx, grads = ta.BatchNorm(3).backward(np.ones_like(out), cache)  # the same features pass
    assert dx.shape == x.shape and grads["weight"].shape == (3,)



X4 = np.random.default_rng(2).normal(size=(2, 1, 5, 5)).astype(np.float32)

EVERY_LAYER = [  # (layer, its input, the name its dout's messages give)
    (ta.ReLU(), X2, "ReLU"), (ta.ScaledReLU(), X2, "ScaledReLU"), (ta.Sign("hubara"), X2, "sign"),
    (ta.Sign("galloway"), X2, "sign"), (ta.BatchNorm(4), X2, "BatchNorm"),
    (ta.Linear(4, 2, seed=0), X2, "linear"), (ta.Flatten(), X4, "Flatten"),
    (ta.Scale(0.5), X2, "Scale"), (ta.Conv2D(1, 2, 3, seed=0), X4, "conv2d"),
    (ta.BinaryConv2D(1, 2, 3, seed=0), X4, "conv2d"),
    (ta.BinaryLinear(4, 2, scale=True, seed=0), X2, "linear"),
    (ta.StochasticBinaryConv2D(1, 2, 3, seed=0), X4, "conv2d"),
]


@pytest.mark.parametrize("layer, x, name", EVERY_LAYER, ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("dtype", [np.complex128, object, np.int64, np.int32, np.bool_, np.float16])
def test_backward_refuses_a_dout_that_is_not_float32_or_float64(layer, x, name, dtype):
    """As forward and Sequential.backward refuse these dtypes. Before, the gradients came back
    in them (ReLU: complex128 for a complex dout; Linear: an object array) or, for ints and
    bools, were computed without a word."""
    out, cache = layer.forward(x)
    with pytest.raises(TypeError, match=re.escape(f"dout of {name} must be a float32 or float64 "
                                                  f"array, got dtype {np.dtype(dtype)}")):
        layer.backward(np.ones(out.shape, dtype), cache)


@pytest.mark.parametrize("layer, x, name", EVERY_LAYER, ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("dout_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_backward_takes_a_float_dout_of_either_precision(layer, x, name, dout_dtype, layer_dtype):
    """A float64 dout into a float32 layer (and the reverse) passes, as Sequential.backward lets
    it (it checks only that dout is float32 or float64) and as forward takes a float64 input."""
    layer = copy.deepcopy(layer).astype(layer_dtype)
    out, cache = layer.forward(x.astype(layer_dtype))
    dx, grads = layer.backward(np.ones(out.shape, dout_dtype), cache)
    assert dx.shape == x.shape and dx.dtype.kind == "f"
    assert all(g.dtype.kind == "f" for g in grads.values())


@pytest.mark.parametrize("layer, x, name", EVERY_LAYER, ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("dout_dtype", [np.float32, np.float64])
def test_backward_takes_a_dout_in_the_other_byte_order(layer, x, name, dout_dtype):
    """A '>f4' or '>f8' dout (on a little-endian machine; a file from a big-endian one) gives the
    native dout's gradients bit for bit, as forward takes such an input. Before: "dout of ...
    must be a float32 or float64 array, got dtype >f4"."""
    out, cache = layer.forward(x)
    dout = np.random.default_rng(3).normal(size=out.shape).astype(dout_dtype)
    swapped = dout.astype(dout.dtype.newbyteorder("S"))
    assert not swapped.dtype.isnative
    dx, grads = layer.backward(dout, cache)
    dx_swapped, grads_swapped = layer.backward(swapped, cache)
    for result, expected in [(dx_swapped, dx)] + [(grads_swapped[k], grads[k]) for k in grads]:
        assert result.dtype == expected.dtype and result.dtype.isnative
        assert result.tobytes() == expected.tobytes()
    assert grads_swapped.keys() == grads.keys() and not swapped.dtype.isnative


def test_sequential_backward_still_takes_a_float64_dout_into_a_float32_model():
    model = ta.Sequential(ta.Linear(4, 3, seed=0), ta.ReLU(), ta.Linear(3, 2, seed=1))
    logits, caches = model.forward(X2)
    assert logits.dtype == np.float32
    assert model.backward(np.ones(logits.shape, np.float64), caches).shape == X2.shape


@pytest.mark.parametrize("call, name", [
    (lambda: linear.linear_backward(np.ones((3, 2), np.complex128), _linear_cache()), "linear"),
    (lambda: conv.conv2d_backward(np.ones((1, 2, 3, 3), np.int64), _conv_cache()), "conv2d"),
    (lambda: batchnorm.batchnorm_backward(np.ones((3, 4), object), _batchnorm_cache()),
     "BatchNorm"),
    (lambda: activations.relu_backward(np.ones((3, 4), np.complex128), X2 > 0), "ReLU"),
    (lambda: activations.straight_through(np.ones(4, np.int64), np.zeros(4), "hubara"), "sign"),
])
def test_backward_functions_refuse_a_dout_that_is_not_float32_or_float64(call, name):
    with pytest.raises(TypeError, match=f"dout of {name} must be a float32 or float64 array"):
        call()


ELEMENTWISE = {"ReLU": ta.ReLU(), "Sign": ta.Sign(), "Flatten": ta.Flatten(), "Scale": ta.Scale(2.0),
               "ScaledReLU": ta.ScaledReLU(), "Linear": ta.Linear(4, 4, seed=0),
               "BatchNorm": ta.BatchNorm(4)}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("other", sorted(ELEMENTWISE))
def test_every_layer_refuses_another_kind_of_layers_cache(name, other):
    """Each layer's backward takes its own cache, and names the mix-up when handed another
    layer's (it used to fail deep in NumPy: 'tuple' object has no attribute 'shape')."""
    out, cache = ELEMENTWISE[name].forward(X2)
    dx, _ = ELEMENTWISE[name].backward(np.ones_like(out), cache)
    assert dx.shape == X2.shape
    if other == name or {name, other} == {"Flatten", "Scale"}:
        return  # the same layer, or two caches of the same form (the input's shape)
    other_cache = ELEMENTWISE[other].forward(X2)[1]
    with pytest.raises(ValueError, match="cache must be the cache that"):
        ELEMENTWISE[name].backward(np.ones_like(out), other_cache)


# ---- 4. flags are booleans, not anything truthy --------------------------------------------


def _linear_cache():
    return linear.linear_forward(X2, np.ones((2, 4), np.float32))[1]


def _conv_cache():
    return conv.conv2d_forward(np.ones((1, 1, 5, 5), np.float32), np.ones((2, 1, 3, 3), np.float32))[1]


def _batchnorm_cache():
    return batchnorm.batchnorm_forward(X2, np.ones(4, np.float32), np.zeros(4, np.float32), eps=1e-5,
                                       training=True, running_mean=None, running_var=None)[1]


@pytest.mark.parametrize("call, name", [
    (lambda: ta.BinaryConv2D(1, 2, 3, scale="False"), "scale"),
    (lambda: ta.BinaryLinear(4, 2, scale=0), "scale"),
    (lambda: ta.Linear(4, 2, bias="no"), "bias"),
    (lambda: ta.Linear(4, 2, bias=None), "bias"),
    (lambda: ta.Conv2D(1, 2, 3, bias="False"), "bias"),
    (lambda: batchnorm.batchnorm_forward(X2, np.ones(4), np.zeros(4), eps=1e-5, training="False",
                                         running_mean=np.zeros(4), running_var=np.ones(4)), "training"),
    (lambda: batchnorm.batchnorm_backward(np.ones((3, 4)), _batchnorm_cache(), need_input_grad="False"),
     "need_input_grad"),
    (lambda: linear.linear_backward(np.ones((3, 2), np.float32), _linear_cache(),
                                    need_input_grad="False"), "need_input_grad"),
    (lambda: linear.linear_backward(np.ones((3, 2), np.float32), _linear_cache(),
                                    need_param_grads="False"), "need_param_grads"),
    (lambda: conv.conv2d_backward(np.ones((1, 2, 3, 3), np.float32), _conv_cache(),
                                  need_input_grad="False"), "need_input_grad"),
    (lambda: conv.conv2d_backward(np.ones((1, 2, 3, 3), np.float32), _conv_cache(),
                                  need_param_grads=0), "need_param_grads"),
    (lambda: conv.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), keep_rows="no"),
     "keep_rows"),
    (lambda: ta.ReLU().backward(np.ones((3, 4)), ta.ReLU().forward(X2)[1], need_input_grad="False"),
     "need_input_grad"),
])
def test_flags_must_be_booleans(call, name):
    """Before, the string "False" counted as true (a bias built, a batch trained on)."""
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        call()


def test_numpy_booleans_are_booleans():
    assert ta.BinaryLinear(4, 2, scale=np.bool_(True)).scale is True
    assert "bias" not in ta.Conv2D(1, 2, 3, bias=np.bool_(False)).params


# ---- 5. Scale's factor and ScaledReLU's init are finite real numbers ------------------------


@pytest.mark.parametrize("make, error, message", [
    (lambda: ta.Scale("0.25"), TypeError, "factor must be a real number, got '0.25'"),
    (lambda: ta.Scale(True), TypeError, "factor must be a real number, got True"),
    (lambda: ta.Scale(np.array([1.0, 2.0])), TypeError, "factor must be a real number"),
    (lambda: ta.Scale(np.nan), ValueError, "factor must be finite, got nan"),
    (lambda: ta.Scale(np.inf), ValueError, "factor must be finite, got inf"),
    (lambda: ta.Scale(10**400), ValueError, "factor must be finite"),
    (lambda: ta.ScaledReLU(init=np.nan), ValueError, "init must be finite, got nan"),
    (lambda: ta.ScaledReLU(init="0.05"), TypeError, "init must be a real number, got '0.05'"),
])
def test_scale_factors_are_finite_real_numbers(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_scale_factors_of_any_real_type_are_kept_as_floats():
    assert ta.Scale(np.float32(0.25)).factor == 0.25 and ta.Scale(-2).factor == -2.0
    layer = ta.ScaledReLU(np.float64(0.3), dtype=np.float64)
    assert layer.config() == {"init": 0.3} and layer.params["scale"].data.tolist() == [0.3]


# ---- 6. linear_forward checks the bias's shape, as conv2d_forward does ---------------------


@pytest.mark.parametrize("bias_shape", [(1,), (3, 2), (5,), ()])
def test_linear_forward_refuses_a_bias_that_would_broadcast(bias_shape):
    with pytest.raises(ValueError, match=re.escape(f"bias must have shape (2,), got {bias_shape}")):
        linear.linear_forward(X2, np.ones((2, 4), np.float32), np.ones(bias_shape, np.float32))
    out, _ = linear.linear_forward(X2, np.ones((2, 4), np.float32), np.arange(2, dtype=np.float32))
    np.testing.assert_allclose(out, X2 @ np.ones((4, 2)) + [0, 1], rtol=1e-6)


# ---- 7. paddings and kernel sizes are integers ---------------------------------------------


@pytest.mark.parametrize("make, error, message", [
    (lambda: ta.Conv2D(1, 2, 3, padding=(1.9, 0.5)), TypeError,
     r"padding must be an int or a pair of ints, got \(1.9, 0.5\)"),
    (lambda: ta.Conv2D(1, 2, 3, padding=(True, False)), TypeError,
     r"padding must be an int or a pair of ints, got \(True, False\)"),
    (lambda: conv.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=(0.9, 0.9)),
     TypeError, "padding must be an int or a pair of ints"),
    (lambda: ta.Conv2D(1, 2, 3.0), TypeError, "kernel_size must be a positive int or a pair of them, got 3.0"),
    (lambda: ta.Conv2D(1, 2, (3, True)), ValueError, "kernel_size must be a positive int or a pair"),
])
def test_paddings_and_kernel_sizes_must_be_integers(make, error, message):
    """Before, padding (1.9, 0.5) was cut to (1, 0) without a word."""
    with pytest.raises(error, match=message):
        make()


def test_integer_paddings_and_kernel_sizes_still_build():
    layer = ta.Conv2D(1, 2, np.array([3, 3]), padding=(np.int64(1), 2))
    assert layer.kernel_size == (3, 3) and layer.padding == (1, 2)
    assert layer.forward(np.ones((1, 1, 5, 5), np.float32))[0].shape == (1, 2, 5, 7)


many_filters = np.broadcast_to(np.ones((1, 1, 1, 1)), (2 ** 59, 1, 1, 1))  # (a view: no memory)


@pytest.mark.parametrize("make, message", [
    (lambda: conv.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=2 ** 62),
     r"padding=4611686018427387904 of an input of shape \(1, 1, 5, 5\): the padded input would "
     r"have shape \(1, 9223372036854775813, 9223372036854775813, 1\), more than the 2\*\*63 - 1 "
     r"bytes an array can hold"),
    (lambda: conv.conv2d_forward_naive(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)),
                                       padding=(0, 2 ** 62)), "padding=.*: the padded input"),
    (lambda: conv.conv2d_forward(np.ones((1, 1, 5, 5)), many_filters, padding=1),
     r"576460752303423488 filters over an input of shape \(1, 1, 5, 5\) with padding=1: the "
     r"output would have shape \(1, 576460752303423488, 7, 7\)"),
    (lambda: ta.Conv2D(1, 2, 3, padding=2 ** 62).forward(np.ones((1, 1, 5, 5), np.float32)),
     "padding=4611686018427387904 of an input"),
    (lambda: ta.Conv2D(3, 4, 2 ** 40), r"Conv2D\(3, 4, kernel_size=\(1099511627776, "
                                       r"1099511627776\)\): the weight would have shape"),
    (lambda: ta.BinaryConv2D(3, 4, (3, 2 ** 62)), r"BinaryConv2D\(3, 4, kernel_size="),
    (lambda: ta.Linear(2 ** 62, 3), r"Linear\(4611686018427387904, 3\): the weight"),
    (lambda: ta.BatchNorm(2 ** 62), r"BatchNorm\(4611686018427387904\): the weight"),
    (lambda: ta.kernels.pad_channels_last(np.ones((1, 1, 3, 3)), (2 ** 62, 2 ** 62, 0, 0)),
     r"pads=\(4611686018427387904, 4611686018427387904, 0, 0\) of x of shape \(1, 1, 3, 3\): "
     r"xpad would have shape \(1, 9223372036854775811, 3, 1\)"),
    (lambda: ta.kernels.pad_channels_last(np.ones((1, 1, 3, 3)), (10 ** 30, 0, 0, 0)),
     r"pads must be 4 integers < 2\*\*63 \(top, bottom, left, right\), got \(10{30}, 0, 0, 0\)"),
])
def test_sizes_no_array_can_hold_are_refused_by_name(make, message):
    """Sizes below 2**63 whose arrays NumPy cannot make (more than 2**63 - 1 bytes). Before:
    "Maximum allowed dimension exceeded" (the padding), "array is too big" (the output, the
    weights), np.sqrt's TypeError on the Python int in_channels·HH·WW (the kernel size)."""
    with pytest.raises(ValueError, match=message):
        make()


# ---- 8. a stochastic layer's seed is checked before anything is drawn from it --------------


def test_a_stochastic_layer_refuses_a_generator_before_drawing_from_it():
    generator = np.random.default_rng(7)
    before = copy.deepcopy(generator.bit_generator.state)
    with pytest.raises(TypeError, match="seed must be an int or None here"):
        ta.StochasticBinaryConv2D(1, 2, 3, seed=generator)
    assert generator.bit_generator.state == before


@pytest.mark.parametrize("seed, error, message", [
    (2.0, TypeError, "seed must be an int or None here"),
    ("3", TypeError, "seed must be an int or None here"),
    (True, TypeError, "seed must be an int or None here"),
    ([1, 2.5], TypeError, "seed must be an int or None here"),
    # taken by make_rng, but neither saves as JSON: "'SeedSequence' object is not iterable"
    (np.random.SeedSequence(0), TypeError, "seed must be an int or None here"),
    (np.random.PCG64(0), TypeError, "seed must be an int or None here"),
])
def test_a_stochastic_layer_names_a_seed_it_cannot_save(seed, error, message):
    with pytest.raises(error, match=message):
        ta.StochasticBinaryConv2D(1, 2, 3, seed=seed)


def test_a_stochastic_layer_takes_a_list_of_ints_as_seed_and_saves_it(tmp_path):
    layer = ta.StochasticBinaryConv2D(1, 2, 3, seed=[1, np.int64(2)])
    assert layer.seed == [1, 2] and layer.config()["seed"] == [1, 2]
    np.testing.assert_array_equal(layer.params["weight"].data,
                                  ta.Conv2D(1, 2, 3, seed=[1, 2]).params["weight"].data)
    model = ta.Sequential(layer, ta.Flatten(), ta.Linear(18, 2, seed=0))
    model.save(tmp_path / "model.npz")
    loaded = ta.load(tmp_path / "model.npz")
    assert loaded["0"].seed == [1, 2]
    x = np.ones((1, 1, 5, 5), np.float32)
    np.testing.assert_array_equal(
        ta.StochasticBinaryConv2D(1, 2, 3, seed=[1, 2]).effective_weight(),
        loaded["0"].effective_weight())  # the same sampling stream
    assert ta.StochasticBinaryConv2D(1, 2, 3, seed=np.int64(4)).seed == 4
    assert loaded.logits(x).shape == (1, 2)


def test_binary_layers_check_their_settings_before_drawing_from_the_seed():
    generator = np.random.default_rng(7)
    before = copy.deepcopy(generator.bit_generator.state)
    with pytest.raises(ValueError, match="unknown STE variant"):
        ta.StochasticBinaryConv2D(1, 2, 3, ste="x", seed=0)
    with pytest.raises(TypeError, match="scale must be True or False"):
        ta.BinaryLinear(4, 2, scale="yes", seed=generator)
    assert generator.bit_generator.state == before


@pytest.mark.parametrize("call, name", [
    (lambda a: activations.straight_through(np.ones((2, 2)), a, "hubara"), "x"),
    (lambda a: activations.straight_through(a, np.ones((2, 2)), "galloway"), "dout"),
    (lambda a: activations.sign(a), "x"),
    (lambda a: activations.relu_forward(a), "x"),
    (lambda a: ta.ReLU().backward(a, ta.ReLU().forward(np.ones((2, 2)))[1]), "dout"),
    (lambda a: ta.Linear(2, 2, seed=0).backward(a, ta.Linear(2, 2, seed=0).forward(np.ones((2, 2)))[1]),
     "dout"),
    (lambda a: linear.linear_backward(a, linear.linear_forward(np.ones((2, 2)), np.ones((2, 2)))[1]),
     "dout"),
])
def test_masked_arrays_are_refused_when_they_mask_entries_and_read_as_their_data_when_not(call,
                                                                                          name):
    """As check_array treats a masked input. Before: a MaskedArray came back (straight_through,
    sign, linear_backward), or Numba's "Unsupported array type: numpy.ma.MaskedArray" (the
    compiled ReLU, forward and backward)."""
    values = np.array([[-2.0, 0.5], [0.3, 4.0]])
    with pytest.raises(ValueError, match=f"{name} is a masked array with 1 masked entries"):
        call(np.ma.array(values, mask=[[False, True], [False, False]]))
    results, expected = _arrays(call(np.ma.array(values))), _arrays(call(values))
    assert len(results) == len(expected) and all(
        type(a) is np.ndarray and np.array_equal(a, b) for a, b in zip(results, expected))


def _arrays(result):
    """The arrays in a result: itself, or those in its tuple (dx, dw, db) or (dx, grads)."""
    if isinstance(result, (tuple, list)):
        return [a for part in result for a in _arrays(part)]
    if isinstance(result, dict):
        return _arrays(list(result.values()))
    return [] if result is None else [result]


# ---- 9. sign keeps NaN ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sign_propagates_nan_and_sends_zero_to_plus_one(dtype):
    x = np.array([[np.nan, -np.nan, 0.0, -0.0, 2.5, -1e-30, np.inf, -np.inf]], dtype)
    out, _ = ta.Sign().forward(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, [[np.nan, np.nan, 1, 1, 1, -1, 1, -1]])
    layer = ta.BinaryLinear(2, 1, bias=False, seed=0)
    layer.params["weight"].data[0, 0] = np.nan
    assert np.isnan(layer.forward(np.ones((1, 2), np.float32))[0]).all()  # not a silent -1
    stochastic = ta.StochasticBinaryConv2D(1, 2, 2, seed=0, dtype=dtype)
    stochastic.params["weight"].data[0, 0, 0, 0] = np.nan
    stochastic.params["weight"].data[1] = [[-np.inf, np.inf], [-1, 1]]
    sampled = stochastic.effective_weight()
    assert sampled.dtype == dtype and np.isnan(sampled[0, 0, 0, 0])
    assert np.isin(sampled[0].ravel()[1:], [-1, 1]).all()
    np.testing.assert_array_equal(sampled[1], [[[-1, 1], [-1, 1]]])  # p = 0 or 1: no draw decides


# ---- 10. lists are converted, integers and strings refused ---------------------------------


@pytest.mark.parametrize("layer", [ta.ReLU(), ta.Sign(), ta.Flatten(), ta.BatchNorm(2), ta.Scale(2.0),
                                   ta.ScaledReLU(dtype=np.float64)])
def test_layers_take_lists_as_float64_arrays(layer):
    values = [[1.0, -2.0], [0.5, 3.0]]
    from_list, _ = layer.forward(values)
    from_array, _ = layer.forward(np.array(values))
    np.testing.assert_array_equal(from_list, from_array)


def test_linear_forward_takes_a_list():
    out, _ = linear.linear_forward([[1.0, 2.0]], np.ones((3, 2)))
    np.testing.assert_array_equal(out, [[3.0, 3.0, 3.0]])


@pytest.mark.parametrize("layer", [ta.BatchNorm(4), ta.ReLU(), ta.Sign(), ta.Flatten(), ta.Scale(2.0)])
def test_layers_refuse_integer_input_as_conv2d_does(layer):
    """Before, a float32 BatchNorm returned float64 for integer input."""
    with pytest.raises(TypeError, match="must be a floating-point array"):
        layer.forward(np.arange(12).reshape(3, 4))


@pytest.mark.parametrize("call, error, message", [
    (lambda: ta.Parameter("abc"), TypeError, "a Parameter's data must be a NumPy array, got str"),
    (lambda: ta.Parameter(np.arange(3)), TypeError, "a Parameter's data must be a floating-point"),
    # decay="no" was kept as given and counted as true by the penalties and the optimizers
    (lambda: ta.Parameter(np.ones(3), decay="no"), TypeError, "decay must be True or False, got 'no'"),
    (lambda: linear.linear_forward(np.array([["a"] * 4]), np.ones((2, 4))), TypeError,
     "input of linear must be a floating-point array"),
    (lambda: conv.conv2d_forward(np.ones((1, 1, 5, 5), np.float16), np.ones((1, 1, 3, 3), np.float16)),
     TypeError, "conv2d computes in float32, float64 or integers"),
    (lambda: conv.conv2d_forward([[[[1.0]]]], np.ones((1, 1, 1, 1))), TypeError,
     "conv2d's input must be a NumPy array, got list"),
    # a complex bias made the output complex, a bias of strings failed inside NumPy
    (lambda: conv.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((2, 1, 2, 2)), np.array([1j, 2])),
     TypeError, "conv2d computes in float32, float64 or integers: its bias have dtype complex128"),
    (lambda: conv.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((2, 1, 2, 2)), np.array(["a", "b"])),
     TypeError, "conv2d computes in float32, float64 or integers: its bias have dtype <U1"),
    (lambda: ta.Flatten().forward(np.ones(3)), ValueError, "input of Flatten must have at least 2"),
])
def test_parameters_and_inputs_of_the_wrong_type_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_parameters_still_take_float_lists():
    assert ta.Parameter([1.0, 2.0]).data.dtype == np.float64


@pytest.mark.parametrize("change, message", [
    (dict(beta=np.zeros(1)), r"beta must have shape \(4,\)"),
    (dict(gamma=np.ones((4, 1))), "gamma must be a vector of one value per feature"),
    (dict(training=False, running_mean=None), "running_mean must be a vector"),
    (dict(training=False, running_var=np.ones(3)), r"running_var must have shape \(4,\)"),
    (dict(eps=-1.0), "eps must be a finite number >= 0"),
    (dict(eps=0.0), "BatchNorm needs eps > 0"),
])
def test_batchnorm_forward_checks_its_statistics_and_parameters(change, message):
    """Before, a beta of shape (1,) broadcast without a word."""
    arguments = dict(gamma=np.ones(4), beta=np.zeros(4), eps=1e-5, training=True,
                     running_mean=np.zeros(4), running_var=np.ones(4))
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        batchnorm.batchnorm_forward(X2, **arguments)


def test_batchnorm_refuses_an_eps_that_rounds_to_0_in_its_dtype(tmp_path):
    """eps = 0 was refused (a constant feature gives 0 / 0) but 1e-50, which float32 rounds to
    0, gave the same 0 / 0: NaN for a constant feature (a dead ReLU channel), in training and in
    evaluation. float64 holds it, and computes on (and a float64 model with it loads: load
    builds the layers in float32 before it converts them, so the constructor must take it)."""
    x = np.ones((4, 2), np.float32)
    x[:, 1] = [1, 2, 3, 4]
    layer = ta.BatchNorm(2, eps=1e-50, dtype=np.float64)
    assert np.all(np.isfinite(layer.forward(x.astype(np.float64))[0]))
    model = ta.Sequential(("bn", layer)).eval()
    model.save(tmp_path / "bn.npz")
    assert np.all(np.isfinite(ta.load(tmp_path / "bn.npz").logits(x.astype(np.float64))))
    for training in (True, False):
        layer.training = training
        with pytest.raises(ValueError, match="needs eps > 0 in float32, got eps=1e-50, which rounds"):
            layer.forward(x) if training else layer.astype(np.float32).forward(x)


# ---- 11. Winograd's small functions check their integers -----------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: winograd.matrices(0, 3), ValueError, "m must be >= 1, got 0"),
    (lambda: winograd.matrices(-1, 4), ValueError, "m must be >= 1, got -1"),
    (lambda: winograd.matrices(2.0, 3), TypeError, "m must be an integer, got float"),
    (lambda: winograd.matrices(2, "3"), TypeError, "r must be an integer, got str"),
    (lambda: winograd.tiles(5, 5, 0), ValueError, "m must be >= 1, got 0"),
    (lambda: winograd.tiles(5.5, 5, 2), TypeError, "Ho must be an integer"),
    (lambda: winograd.applies(3, 3, 0), ValueError, "stride must be >= 1, got 0"),
    (lambda: winograd.faster_than_im2col(64, 3, 3, 0, 4, 4), ValueError, "stride must be >= 1"),
    (lambda: winograd.tile_size(4, 4, 6), ValueError, "r must be <= 5"),
    (lambda: winograd.tiling(6, 0, 4, 4), ValueError, "stride must be >= 1"),
    (lambda: winograd.tiling(7, 2, 4, 4), ValueError, r"needs a kernel of r\*stride"),
])
def test_winograd_helpers_check_their_integers(call, error, message):
    """Before: a raw LinAlgError, TypeError or ZeroDivisionError."""
    winograd.matrices(2, 3)  # cached: (2.0, 3) must not find it
    with pytest.raises(error, match=message):
        call()


def test_winograd_helpers_still_answer():
    assert winograd.tiles(5, 5, 2) == (3, 3) and winograd.applies(6, 6, 2)
    assert winograd.matrices(np.int64(2), 3)[0].shape == (4, 4)
    assert winograd.tile_size(0, 0, 3) == 2 and not winograd.faster_than_im2col(0, 3, 3, 1, 4, 4)
    assert activations.sign(np.array([0.0], np.float32)).dtype == np.float32
