"""Inference plans (tinyadv/plans.py): ``Sequential.logits`` through a plan gives the logits of
the layers' own forward passes, bit for bit, and the layers run wherever a plan does not cover
the model or the input."""

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinyadv as ta
from tinyadv import kernels, models, plans
from tinyadv.layers import (BatchNorm, BinaryConv2D, Conv2D, Flatten, Linear, ReLU, Scale,
                            ScaledReLU)
from tinyadv.plans import inference_plan
from tinyadv.winograd import applies

from small_products import small_products


def layers_logits(model, x):
    """``model.logits(x)`` through the layers' forward passes, with no plan."""
    with mock.patch.object(models, "inference_plan", lambda model, x: None):
        return model.logits(x)


def small_products_or_not(fast):
    """OpenBLAS's small-matrix kernels taken as there or not (the compiled bands and Winograd's
    blocks run only where they are, and "auto" takes Winograd for conv3 there), whatever this
    machine's OpenBLAS has; None: the machine's own."""
    return contextlib.nullcontext() if fast is None else small_products(fast)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("fast", [None, False, True])
def test_the_talks_cnn_gives_the_logits_of_its_layers(dtype, threads, fast):
    """The talk's CNN (conv1 by space to depth or im2col in bands, conv2 and conv3 by Winograd's
    blocks where OpenBLAS has its small-matrix kernels, else the layers' own way), batches of one
    image, of a short last chunk, in chunks of 32 and of 5: the same bits as the layers."""
    model = ta.cleverhans_cnn(seed=0, dtype=dtype).eval()
    rng = np.random.default_rng(1)
    ta.set_num_threads(threads)
    try:
        with small_products_or_not(fast):
            fast = kernels._small_products_fast() if fast is None else fast
            for n, chunk_size in ((1, None), (37, None), (77, 5)):
                model.chunk_size = chunk_size
                x = rng.random((n, 3, 32, 32)).astype(dtype)
                assert inference_plan(model, x) is not None
                expected = layers_logits(model, x)
                with contextlib.ExitStack() as stack:  # (the plan's compiled calls, where
                    compiled = [stack.enter_context(mock.patch.object(  # OpenBLAS has its
                        module, name, wraps=getattr(module, name)))  # small-matrix kernels)
                        for module, name in ((kernels, "_rows_bands_numba"),
                                             (plans.winograd, "_conv2d_blocks_numba"))]
                    logits = model.logits(x)
                assert [spy.call_count > 0 for spy in compiled] == [fast, fast]
                if fast and n > 1:  # conv2 (stride 2) and conv3 (stride 1) by Winograd's blocks
                    # (conv3 of one image has one tile: a product of one row, which gemv takes)
                    assert {call.args[2] for call in compiled[1].call_args_list} == {1, 2}
                assert logits.dtype == dtype and logits.shape == (n, 10)
                np.testing.assert_array_equal(logits, expected)
    finally:
        ta.set_num_threads(ta.threads._default_threads())


def conv_layer(c, f, k, stride, padding, bias, method, dtype, seed):
    layer = Conv2D(c, f, k, stride=stride, padding=padding, bias=bias, seed=seed, dtype=dtype)
    layer.method = method
    return layer


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 4), f=st.integers(1, 5), size=st.integers(5, 13),
       k=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.sampled_from([0, 1, (2, 0), "same", "valid"]), bias=st.booleans(),
       method=st.sampled_from(["auto", "im2col", "winograd"]), second=st.booleans(),
       linear_bias=st.booleans(), n=st.integers(1, 6), fast=st.sampled_from([None, False, True]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_random_models_give_the_logits_of_their_layers(c, f, size, k, stride, padding, bias,
                                                        method, second, linear_bias, n, fast,
                                                        dtype, seed):
    """Conv2D (im2col, space to depth, Winograd; padding, stride, bias), ReLU, Flatten and
    Linear, stacked: a plan's logits are the layers', bit for bit."""
    if method == "winograd":
        k = 3 * stride
        assume(applies(k, k, stride))
    layers = [("conv1", conv_layer(c, f, k, stride, padding, bias, method, dtype, seed)),
              ("relu1", ReLU())]
    x = np.random.default_rng(seed).normal(size=(n, c, size, size)).astype(dtype)
    try:
        out = layers[0][1].forward(x)[0]
    except ValueError:  # (a kernel larger than the padded input)
        assume(False)
    if second:
        layers.append(("conv2", conv_layer(f, 3, 1, 1, 0, not bias, "auto", dtype, seed + 1)))
    layers += [("flatten", Flatten()),
               ("fc", Linear((3 if second else f) * out.shape[2] * out.shape[3], 4,
                             bias=linear_bias, seed=seed + 2, dtype=dtype)),
               ("relu2", ReLU())]
    model = ta.Sequential(*layers).eval()
    model.chunk_size = 4
    with small_products_or_not(fast):
        assert inference_plan(model, x) is not None
        np.testing.assert_array_equal(model.logits(x), layers_logits(model, x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_in_any_memory_order_and_weights_changed_between_calls(dtype):
    """A strided or Fortran-ordered input gives the layers' logits; a weight changed in place
    or replaced between two calls is the one the next call uses."""
    model = ta.cleverhans_cnn(seed=0, dtype=dtype).eval()
    rng = np.random.default_rng(2)
    wide = rng.random((9, 3, 64, 64)).astype(dtype)
    for x in (wide[:, :, ::2, ::2], np.asfortranarray(wide[:, :, :32, :32])):
        np.testing.assert_array_equal(model.logits(x), layers_logits(model, x))
    x = wide[:, :, :32, :32].copy()
    before = model.logits(x)
    model["conv2"].params["weight"].data *= 0.5
    model["conv1"].params["weight"].data = model["conv1"].params["weight"].data[::-1].copy()
    after = model.logits(x)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, layers_logits(model, x))


@pytest.mark.parametrize("change", ["training", "winograd rows", "batchnorm", "scaled relu",
                                    "binary conv", "scale", "own forward", "other dtype",
                                    "integers"])
def test_what_a_plan_does_not_cover_runs_through_the_layers(change):
    """A convolution in training mode or by Winograd down the rows, a layer of another kind
    (BatchNorm, ScaledReLU, a binarized convolution, Scale), a layer whose forward was replaced
    on it, or an input of another dtype than the weights' gives no plan:
    the layers run, with the same logits as before (integers are refused as before)."""
    model = ta.cleverhans_cnn(nf=4, seed=0).eval()
    x = np.random.default_rng(3).random((5, 3, 32, 32)).astype(np.float32)
    if change == "training":
        model.train()
    elif change == "winograd rows":  # (its compiled kernel runs only when asked for)
        model["conv1"].method = "winograd_rows"
    elif change == "batchnorm":
        model.layers.insert(1, ("bn", BatchNorm(4)))
        model.eval()
    elif change == "scaled relu":
        model.layers[1] = ("relu1", ScaledReLU())
    elif change == "binary conv":
        model.layers[0] = ("conv1", BinaryConv2D(3, 4, 8, stride=2, padding="same", bias=False))
        model.eval()
    elif change == "scale":
        model.append("scale", Scale(0.25))
    elif change == "own forward":  # (a forward replaced on the layer itself runs as it is)
        relu = model["relu2"]
        relu.forward = lambda h: (np.maximum(h, 0) * 2, h > 0)
    elif change == "other dtype":
        x = x.astype(np.float64)
    else:
        x = (x * 255).astype(np.uint8)
    assert inference_plan(model, x) is None
    if change == "integers":  # (refused before any layer runs, as before)
        with pytest.raises(TypeError, match="floating-point array"):
            model.logits(x)
        return
    np.testing.assert_array_equal(model.logits(x), layers_logits(model, x))


def test_inputs_the_layers_refuse_are_refused_by_the_layers():
    """An input with another number of channels, NaN, or too small for the kernel: no plan, or
    the chunk's check, and the error the layers give."""
    model = ta.cleverhans_cnn(nf=4, seed=0).eval()
    wrong_channels = np.zeros((2, 1, 32, 32), np.float32)
    assert inference_plan(model, wrong_channels) is None
    with pytest.raises(ValueError, match="channel mismatch"):
        model.logits(wrong_channels)
    too_small = np.zeros((2, 3, 4, 4), np.float32)
    assert inference_plan(model, too_small) is None
    with pytest.raises(ValueError, match="larger than the padded input"):
        model.logits(too_small)
    with_nan = np.zeros((2, 3, 32, 32), np.float32)
    with_nan[1, 0, 5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.logits(with_nan)


# ---- gradient plans: Sequential.forward_backward (training steps, attacks' input gradients)


def gradients(model, x, need_input_grad, need_param_grads, plan=True):
    """``(logits, dL/dx, parameter gradients)`` of ``forward_backward`` for the loss
    Σ logits · g (g fixed), through a gradient plan or (``plan=False``) the layers."""
    g = np.random.default_rng(7).normal(size=(len(x), layers_logits(model, x[:1]).shape[1]))
    model.zero_grad()
    with contextlib.ExitStack() as stack:
        if not plan:
            stack.enter_context(mock.patch.object(models, "gradient_plan", lambda *args: None))
        logits, dx = model.forward_backward(x, lambda out, rows: g[rows].astype(out.dtype),
                                            need_input_grad=need_input_grad,
                                            need_param_grads=need_param_grads)
    return logits, dx, [p.grad.copy() for p in model.parameters()]


def assert_same_gradients(model, x, need_input_grad=True, need_param_grads=True):
    planned = gradients(model, x, need_input_grad, need_param_grads)
    through_layers = gradients(model, x, need_input_grad, need_param_grads, plan=False)
    for a, b in zip(planned[:2], through_layers[:2]):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    for a, b in zip(planned[2], through_layers[2]):
        np.testing.assert_array_equal(a, b)
    return planned


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("fast", [False, True])
def test_the_talks_cnn_gives_the_gradients_of_its_layers(dtype, threads, training, fast):
    """The talk's CNN in training and evaluation mode, both dtypes, batches of one image, of a
    short last chunk and of 128 (float32: chunks of 64), in chunks of 5 too, every pair of
    asked-for gradients, with OpenBLAS's small-matrix path taken as there or not (the compiled
    bands, Winograd's pieces and blocks): the logits, dL/dx and the parameter gradients of the
    layers, bit for bit, and the parameter gradients are there (not zeros) where asked for."""
    model = ta.cleverhans_cnn(seed=0, dtype=dtype).train(training)
    rng = np.random.default_rng(4)
    ta.set_num_threads(threads)
    cases = [(n, chunk_size, need) for n, chunk_size in ((1, None), (37, None), (128, None), (23, 5))
             for need in ((True, True), (False, True), (True, False))]
    try:
        with small_products(fast):
            for n, chunk_size, (need_input_grad, need_param_grads) in cases:
                model.chunk_size = chunk_size
                x = rng.random((n, 3, 32, 32)).astype(dtype)
                assert plans.gradient_plan(model, x, need_input_grad, need_param_grads) is not None
                _, dx, grads = assert_same_gradients(model, x, need_input_grad, need_param_grads)
                assert (dx is not None) == need_input_grad
                assert all(np.any(g != 0) for g in grads) == need_param_grads
    finally:
        ta.set_num_threads(ta.threads._default_threads())


def test_a_training_step_through_the_plan_is_the_layers_step():
    """``train_step`` (its Sequential's forward_backward) takes the plan: the loss, the count
    correct and the weights after two steps are those of the layers' own passes."""
    results = []
    for plan in (True, False):
        model = ta.cleverhans_cnn(seed=0)
        optimizer = ta.SGD(model.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(5)
        x, y = rng.random((70, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, 70)
        with contextlib.ExitStack() as stack:
            if not plan:
                stack.enter_context(mock.patch.object(models, "gradient_plan",
                                                      lambda *args: None))
            steps = [ta.train_step(model, optimizer, x, y) for _ in range(2)]
        results.append((steps, [p.data.copy() for p in model.parameters()]))
    (steps, weights), (layers_steps, layers_weights) = results
    assert steps == layers_steps
    for a, b in zip(weights, layers_weights):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 4), f=st.integers(1, 5), size=st.integers(5, 13),
       k=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.sampled_from([0, 1, (2, 0), "same", "valid"]), bias=st.booleans(),
       method=st.sampled_from(["auto", "im2col", "winograd", "winograd_rows"]),
       training=st.booleans(), need=st.sampled_from([(True, True), (False, True), (True, False)]),
       linear_bias=st.booleans(), n=st.integers(1, 6), fast=st.sampled_from([None, False, True]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_random_models_give_the_gradients_of_their_layers(c, f, size, k, stride, padding, bias,
                                                           method, training, need, linear_bias,
                                                           n, fast, dtype, seed):
    """Conv2D (im2col, space to depth, Winograd, Winograd down the rows; padding, stride, bias)
    in either mode, ReLU, Flatten and Linear: a plan's logits and gradients are the layers',
    bit for bit."""
    if method.startswith("winograd"):
        k = 3 * stride
        assume(applies(k, k, stride))
    conv = conv_layer(c, f, k, stride, padding, bias, method, dtype, seed)
    x = np.random.default_rng(seed).normal(size=(n, c, size, size)).astype(dtype)
    try:
        out = conv.forward(x)[0]
    except ValueError:  # (a kernel larger than the padded input)
        assume(False)
    model = ta.Sequential(("conv1", conv), ("relu1", ReLU()), ("flatten", Flatten()),
                          ("fc", Linear(f * out.shape[2] * out.shape[3], 10, bias=linear_bias,
                                        seed=seed + 1, dtype=dtype))).train(training)
    model.chunk_size = 4
    with small_products_or_not(fast):
        assert plans.gradient_plan(model, x, *need) is not None
        assert_same_gradients(model, x, *need)


@pytest.mark.parametrize("change", ["batchnorm", "scaled relu", "binary conv", "scale",
                                    "own backward", "other dtype"])
def test_what_a_gradient_plan_does_not_cover_runs_through_the_layers(change):
    """A layer of another kind (BatchNorm, ScaledReLU, a binarized convolution, Scale), a layer
    whose backward was replaced on it, or an input of another dtype than the weights' gives no
    gradient plan: the layers run, with their gradients."""
    model = ta.cleverhans_cnn(nf=4, seed=0)
    x = np.random.default_rng(6).random((5, 3, 32, 32)).astype(np.float32)
    if change == "batchnorm":
        model.layers.insert(1, ("bn", BatchNorm(4)))
    elif change == "scaled relu":
        model.layers[1] = ("relu1", ScaledReLU())
    elif change == "binary conv":
        model.layers[0] = ("conv1", BinaryConv2D(3, 4, 8, stride=2, padding="same", bias=False))
    elif change == "scale":
        model.append("scale", Scale(0.25))
    elif change == "own backward":  # (a backward replaced on the layer itself runs as it is)
        relu = model["relu2"]
        relu.backward = lambda dout, mask, **kwargs: (dout * mask * 2, {})
    else:
        x = x.astype(np.float64)
    assert plans.gradient_plan(model, x, True, True) is None
    assert_same_gradients(model, x)


def test_inputs_the_layers_refuse_get_no_gradient_plan_and_the_layers_errors():
    """An input with another number of channels or too small for the kernel gives no gradient
    plan, and ``forward_backward`` the layers' errors; NaN is refused by the chunk's check."""
    model = ta.cleverhans_cnn(nf=4, seed=0)

    def ones(out, rows):
        return np.ones_like(out)

    for x, message in ((np.zeros((2, 1, 32, 32), np.float32), "channel mismatch"),
                       (np.zeros((2, 3, 4, 4), np.float32), "larger than the padded input")):
        assert plans.gradient_plan(model, x, True, True) is None
        with pytest.raises(ValueError, match=message):
            model.forward_backward(x, ones)
    with_nan = np.zeros((2, 3, 32, 32), np.float32)
    with_nan[1, 0, 5, 5] = np.nan
    assert plans.gradient_plan(model, with_nan, True, True) is not None
    with pytest.raises(ValueError, match="NaN"):
        model.forward_backward(with_nan, ones)
