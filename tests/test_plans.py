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


def layers_logits(model, x):
    """``model.logits(x)`` through the layers' forward passes, with no plan."""
    with mock.patch.object(models, "inference_plan", lambda model, x: None):
        return model.logits(x)


def small_products(fast):
    """OpenBLAS's small-matrix kernels there or not (the compiled bands and Winograd's blocks
    run only where they are), whatever this machine's OpenBLAS has."""
    if fast is None:
        return contextlib.nullcontext()
    return mock.patch.object(kernels, "_small_products_fast", lambda: fast)


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
        with small_products(fast):
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
    with small_products(fast):
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
