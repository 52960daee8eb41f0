"""Plans: a Sequential's passes over the chunks of a batch with the layers' choices made once.

Inference plans run the forward pass in evaluation mode as its compiled calls alone; gradient
plans (at the end) run the forward and backward passes of ``forward_backward`` as the layers'
own computing parts, without their checks.

Why. ``Sequential.logits`` runs each chunk of a batch through every layer's ``forward``, and each
of them checks its input, chooses how to compute (a convolution: its padding, im2col or
Winograd, the compiled bands' height, the tiles), and keeps a cache that ``logits`` throws
away. That Python runs again for every chunk, holding the GIL (``tinyadv/threads.py``): on an
Intel Xeon's 2 cores, the talk's CNN on 512 float32 images, the seven compiled calls of a chunk
replayed with nothing between them ran 1.22-1.28 times as fast as ``logits``, 1.12 times on one
thread (scripts/BENCHMARKS.md).

What. A plan makes those choices once per batch, from the layers and the batch's shape, and
keeps for each layer a step that each chunk runs: for a convolution its padding and its
compiled products (the bands of ``kernels.rows_product``, where the layer takes them, or
Winograd's blocks of ``winograd._conv2d``), for a ReLU its compiled loop, for Flatten and Linear
their NumPy lines. The steps call the kernels the layers call, with the same arguments, so the
logits are the layers' bit for bit (``tests/test_plans.py`` holds them to it). Where a
convolution's compiled path is not there at a chunk (BLAS on several threads, or an OpenBLAS
without its small-matrix kernels), its step runs the layer's own ``forward`` for that chunk.

Covered: ``Conv2D`` itself in evaluation mode (not a subclass: a binarized layer's weights
change with every call), ``ReLU``, ``Flatten`` and ``Linear``, for a float32 or float64 input of
the weights' dtype, none of them with a ``forward`` or ``backward`` replaced on the layer
itself. For any other layer, a convolution in training mode, or an input the layers would
refuse, :func:`inference_plan` gives None and the layers run as they always do (and raise their
errors)."""

import functools
import math

import numpy as np

from . import kernels, winograd
from .kernels import _band, _gemm, _pixel_rows, _small_products_here, weight_columns
from .layers import Conv2D, Flatten, Linear, ReLU
from .layers.activations import _relu_backward, _relu_compiled, relu_forward_reference
from .layers.base import weight_and_bias_grads
from .layers.conv import (_backward, _forward, _how, _rows_kernel, _sizes, padded_channels_last,
                          weight_rows, weight_rows_space_to_depth)
from .layers.linear import _linear_backward, _linear_forward

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def inference_plan(model, x):
    """``plan(chunk) -> logits`` of the chunks of ``x`` (N, ...) through ``model`` (a
    ``Sequential``'s layers in order), or None where a layer or the input is not covered."""
    if x.dtype not in _FLOATS or len(x) == 0:
        return None
    layers = [layer for _, layer in model.layers]
    shape, steps, index = x.shape, [], 0
    try:
        while index < len(layers):
            relu_next = index + 1 < len(layers) and _plain(layers[index + 1], ReLU)
            made = _step(layers[index], shape, x.dtype, relu_next)
            if made is None:
                return None
            step, shape, taken = made  # (taken: 2 where a convolution's step has its ReLU)
            steps.append(step)
            index += taken
    except (ValueError, TypeError):  # (an input the layers refuse: they run, and say why)
        return None
    return functools.partial(_run, steps)


def _run(steps, x):
    for step in steps:
        x = step(x)
    return x


def _plain(layer, kind):
    """Whether ``layer`` is of the class ``kind`` itself, its ``forward`` and ``backward`` not
    replaced on it."""
    return type(layer) is kind and "forward" not in vars(layer) and "backward" not in vars(layer)


def _step(layer, shape, dtype, relu_next):
    """``(step, output shape, layers taken)`` for ``layer`` on inputs of ``shape`` (N, ...),
    or None; a convolution without a bias takes the ReLU that follows it (``relu_next``) into
    its compiled products."""
    if _plain(layer, ReLU):
        return _relu, shape, 1
    if _plain(layer, Flatten) and len(shape) >= 2:
        return _flatten, (shape[0], math.prod(shape[1:])), 1
    if _plain(layer, Linear):
        return _linear_step(layer, shape, dtype)
    if _plain(layer, Conv2D):
        return _conv_step(layer, shape, dtype, relu_next)
    return None


def _relu(x):
    """``relu_forward(x)[0]``, without its checks of an array a step made."""
    return _relu_saving(x)[0]


def _flatten(x):
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # (as Flatten.forward)


def _weights(layer, shape, dtype):
    """``(w, b)`` of a Linear or Conv2D ``layer`` (b None without a bias) where they fit inputs
    of ``shape`` (as many axes as w, its input features or channels) and ``dtype``, else None."""
    w = layer.params["weight"].data
    b = layer.params["bias"].data if "bias" in layer.params else None
    if (len(shape) != w.ndim or w.dtype != dtype or shape[1] != w.shape[1]
            or (b is not None and b.dtype != dtype)):
        return None
    return w, b


def _linear_step(layer, shape, dtype):
    weights = _weights(layer, shape, dtype)
    if weights is None:
        return None
    w, b = weights
    return (lambda x: _linear_forward(x, w, b)[0]), (shape[0], w.shape[0]), 1


def _conv_choices(layer, w, shape, dtype):
    """``(pads, Ho, Wo, method)`` of ``layer``'s convolution by ``w`` of inputs of ``shape`` and
    ``dtype``, as ``conv2d_forward`` works them out (ValueError or TypeError where it would)."""
    pads, Ho, Wo = _sizes(layer.padding, shape, w.shape, layer.stride, dtype.itemsize)
    return pads, Ho, Wo, _how(layer.method, dtype, dtype, shape[1], *w.shape[2:], layer.stride,
                              Ho, Wo)


def _conv_step(layer, shape, dtype, relu_next):
    weights = _weights(layer, shape, dtype)
    if layer.training or weights is None:
        return None
    w, b = weights
    stride = layer.stride
    pads, Ho, Wo, how = _conv_choices(layer, w, shape, dtype)
    relu = relu_next and b is None  # (a bias comes before the ReLU: then two steps)
    if how == "winograd":
        products = _winograd_products(layer, w, shape[2:], pads, stride, Ho, Wo, dtype, relu)
    elif how in ("im2col", "space_to_depth"):
        products = _rows_products(layer, w, pads, stride, Ho, Wo, how, dtype, relu)
    else:
        return None

    def step(x):  # (conv2d_forward's last lines)
        out = products(x)
        if out is None:  # (no compiled products here and now: the layer's own way)
            out = layer.forward(x)[0]
            return _relu(out) if relu else out
        return out if b is None else out + b[None, :, None, None]

    return step, (shape[0], w.shape[0], Ho, Wo), 2 if relu else 1


def _rows_products(layer, w, pads, stride, Ho, Wo, how, dtype, relu):
    """The products of ``rows_product`` by its compiled bands, as ``conv2d_forward`` asks for
    them in evaluation mode (with ``relu``, put through the ReLU band by band): the output (n,
    F, Ho, Wo), a view of channels-last memory, or None where ``rows_product`` would not take
    the bands."""
    F, C, HH, WW = w.shape
    top, bottom, left, right = pads
    kernel = _rows_kernel(how, HH, WW, stride)  # (over the input's blocks, or as it is)
    blocks = (Ho - 1 + kernel[0], Wo - 1 + kernel[1], stride * stride * C)  # (space to depth's)
    K = HH * WW * C  # (the same over the blocks: a quarter of the pixels, four times the channels)
    gemm = _gemm(dtype)
    prepared = []  # [(band, w_columns)], made by the first chunk (the weights are held)

    def products(x):
        if not prepared:
            w_rows = (layer._per_batch(weight_rows_space_to_depth, w, stride)
                      if how == "space_to_depth" else layer._per_batch(weight_rows, w))
            band = _band(x, w_rows, Ho, Wo, K, F) if gemm is not None else 0
            w_columns = layer._per_batch(weight_columns, w_rows) if band else None
            prepared.append((band, None if w_columns is None else np.ascontiguousarray(w_columns)))
        band, w_columns = prepared[0]
        if not band:
            return None
        n = x.shape[0]
        if how == "space_to_depth":  # (pad_space_to_depth's lines)
            xpad = np.zeros((n,) + blocks, dtype=dtype)
            kernels._pad_space_to_depth_numba(np.ascontiguousarray(x), top, left, stride, xpad,
                                              False)
        elif any(pads):  # (pad_channels_last's lines)
            xpad = np.zeros((n, x.shape[2] + top + bottom, x.shape[3] + left + right, C), dtype)
            kernels._pad_channels_last_numba(x, top, left, xpad)
        else:
            xpad = x.transpose(0, 2, 3, 1)  # (free where x is a convolution's output)
        out = np.empty((n, Ho, Wo, F), dtype=dtype)
        kernels._rows_bands_numba(gemm, _pixel_rows(xpad), xpad.shape[1], kernel[0], kernel[1],
                                  xpad.shape[3], kernel[2], band, Ho, Wo, w_columns,
                                  out.reshape(n * Ho * Wo, F), False, relu)
        return out.transpose(0, 3, 1, 2)

    return products


def _winograd_products(layer, w, image, pads, stride, Ho, Wo, dtype, relu):
    """The products of ``winograd._conv2d`` by blocks of images, as ``conv2d_forward`` asks for
    them in evaluation mode (with ``relu``, put through the ReLU block by block), for inputs of
    H × W = ``image`` pixels: the output (n, F, Ho, Wo), a view of channels-last memory, or None
    where ``winograd._conv2d`` would not take the blocks."""
    F, _, HH, _ = w.shape
    r, m, n, Th, Tw = winograd._tiling(HH, stride, Ho, Wo)
    BT, _, AT = (a.astype(dtype) for a in winograd._matrices(m, r))
    gemm = _gemm(dtype)
    read = (stride * (m * Th + r - 1), stride * (m * Tw + r - 1))  # (the pixels the tiles read)
    as_it_is = not any(pads) and image[0] >= read[0] and image[1] >= read[1]
    prepared = {}  # images -> (U, rows, block) or None, made by the first chunk of each size

    def products(x):
        if as_it_is:  # (padded_channels_last and _pad_to would leave x as it is)
            xpad = x.transpose(0, 2, 3, 1)
        else:
            xpad = winograd._pad_to(padded_channels_last(x, pads), *read)
        images = xpad.shape[0]
        if images not in prepared:
            U = layer._per_batch(winograd.filter_transform, w, stride, m)
            blocks = gemm is not None and _small_products_here(xpad, U)
            pieces = (winograd._pieces_and_block(images, Th * Tw, U.shape[2], F, xpad, U)
                      if blocks else None)
            prepared[images] = (None if pieces is None
                                else (np.ascontiguousarray(U, dtype=dtype), *pieces))
        if prepared[images] is None:
            return None
        U, rows, block = prepared[images]
        out = np.empty((images, m * Th, m * Tw, F), dtype=dtype)
        winograd._conv2d_blocks_numba(gemm, np.ascontiguousarray(xpad), stride, m, BT, AT, Th,
                                      Tw, U, rows, block, out, relu)
        return out[:, :Ho, :Wo].transpose(0, 3, 1, 2)

    return products


# --------------------------------------------------------------------------------------------
# Gradient plans. ``forward_backward`` (a training step's chunks, an attack's input gradients)
# runs each chunk's forward pass, keeping what the backward pass needs, then the backward pass.
# Through the layers, each of them checks its input, its cache and its dout, and a convolution
# works out its padding, its sizes and its method again, in every chunk. A plan does that once
# per batch and keeps, for each layer, the computing part of its own forward and backward
# (``conv._forward`` and ``conv._backward``, ``_linear_forward`` and ``_linear_backward``,
# ``_relu_backward``): the same code, so the same numbers bit for bit (tests/test_plans.py).
# Covered: the layers an inference plan covers, Conv2D in either mode and by any method, for
# a float32 or float64 input of the weights' dtype. On the talk's CNN, an Intel Xeon's 2 cores,
# runs taking turns: the float32 training step 1.02-1.03x as fast, float64 1.01-1.03x, forward
# and input gradient 1.03-1.05x (scripts/BENCHMARKS.md).


def gradient_plan(model, x, need_input_grad, need_param_grads):
    """``(forward, backward)`` for the chunks of ``x`` (N, ...) through ``model``:
    ``forward(chunk) -> (logits, saved)`` and ``backward(dlogits, saved) -> (dL/dchunk or None,
    grads)``, as ``Sequential._forward_chunk`` and ``_backward_chunk`` return them (``grads`` a
    dict per layer); or None where a layer or the input is not covered."""
    if x.dtype not in _FLOATS or len(x) == 0:
        return None
    shape, steps = x.shape, []
    try:
        for index, (_, layer) in enumerate(model.layers):
            made = _gradient_step(layer, shape, x.dtype, need_input_grad or index > 0,
                                  need_param_grads)
            if made is None:
                return None
            step, shape = made
            steps.append(step)
    except (ValueError, TypeError):  # (an input the layers refuse: they run, and say why)
        return None
    return functools.partial(_forward_saving, steps), functools.partial(_backward_through, steps)


def _forward_saving(steps, x):
    saved = []
    for forward, _ in steps:
        x, cache = forward(x)
        saved.append(cache)
    return x, saved


def _backward_through(steps, dout, saved):
    grads = [None] * len(steps)
    for index in range(len(steps) - 1, -1, -1):
        dout, grads[index] = steps[index][1](dout, saved[index])
    return (None if dout is None else np.ascontiguousarray(dout)), grads  # (as _backward_chunk)


def _gradient_step(layer, shape, dtype, need_input_grad, need_param_grads):
    """``((forward, backward), output shape)`` for ``layer`` on inputs of ``shape``, or None."""
    if _plain(layer, ReLU):
        def backward(dout, mask):
            return (_relu_backward(dout, mask) if need_input_grad else None), {}
        return (_relu_saving, backward), shape
    if _plain(layer, Flatten) and len(shape) >= 2:
        def backward(dout, image_shape):
            return (dout.reshape(image_shape) if need_input_grad else None), {}
        return (_flatten_saving, backward), (shape[0], math.prod(shape[1:]))
    if _plain(layer, Linear):
        return _linear_gradient_step(layer, shape, dtype, need_input_grad, need_param_grads)
    if _plain(layer, Conv2D):
        return _conv_gradient_step(layer, shape, dtype, need_input_grad, need_param_grads)
    return None


def _relu_saving(x):
    """``relu_forward(x)``, the output and its mask, without its checks of an array a step
    made."""
    compiled = _relu_compiled(x)
    return relu_forward_reference(x) if compiled is None else compiled


def _flatten_saving(x):
    return _flatten(x), x.shape


def _linear_gradient_step(layer, shape, dtype, need_input_grad, need_param_grads):
    weights = _weights(layer, shape, dtype)
    if weights is None:
        return None
    w, b = weights

    def forward(x):
        return _linear_forward(x, w, b)

    def backward(dout, cache):
        dx, dw, db = _linear_backward(dout, *cache, need_input_grad, need_param_grads)
        return dx, weight_and_bias_grads(layer, dw, db, need_param_grads)

    return (forward, backward), (shape[0], w.shape[0])


def _conv_gradient_step(layer, shape, dtype, need_input_grad, need_param_grads):
    weights = _weights(layer, shape, dtype)
    if weights is None:
        return None
    w, b = weights
    stride, per_batch, keep_rows = layer.stride, layer._per_batch, layer.training
    pads, Ho, Wo, how = _conv_choices(layer, w, shape, dtype)

    def forward(x):
        return _forward(x, w, b, stride, pads, Ho, Wo, how, keep_rows, per_batch)

    def backward(dout, cache):
        dx, dw, db = _backward(dout, cache, need_input_grad, need_param_grads, per_batch)
        return dx, weight_and_bias_grads(layer, dw, db, need_param_grads)

    return (forward, backward), (shape[0], w.shape[0], Ho, Wo)
