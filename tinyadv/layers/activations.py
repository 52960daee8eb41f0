"""Elementwise activations: ReLU, ReLU times a learned scalar, and sign with a straight-through
estimator (STE).

ReLU:        out = max(x, 0)              dx = dout · 1{x > 0}
ScaledReLU:  out = s · max(x, 0)          dx = dout · s · 1{x > 0},  ds = Σ dout · max(x, 0)
             (the "scaled binary" networks of Galloway et al. 2018, variant C: s is one learned
             scalar, initialised at 0.05 in the reference code)

Sign:        out = sign(x), with sign(0) = +1 so that every output is ±1 (Hubara et al. 2016;
             TensorFlow's tf.sign, used by the reference code, gives 0 at 0 — a set of measure
             zero); NaN stays NaN, as in np.sign.

The true derivative of sign is 0 almost everywhere, which would stop all learning and every
gradient-based attack. The straight-through estimator replaces it in the backward pass by a
stand-in. It is NOT the derivative of the forward pass (a finite-difference check of it fails,
and a test shows that it does):

    "hubara"    dx = dout · 1{|x| ≤ 1}        (Hubara et al. 2016, "Binarized Neural Networks":
                                               the gradient of hardtanh)
    "galloway"  dx = clip(dout, -1, 1)        (Galloway et al. 2018 reference code, which
                                               overrides the gradient of tf.sign with
                                               tf.clip_by_value(grad, -1, 1): it clips the
                                               gradient *values*, whatever x is)
"""

import numpy as np
from numba import njit

from ..checks import (as_finite_in, as_plain_ndarray, check_array, check_bool,
                      check_finite_real, check_float_dtype)
from .base import Layer, Parameter, check_cache, check_dout

STE_VARIANTS = ("hubara", "galloway")


def check_ste(ste):
    """Return ``ste`` if it names a known straight-through estimator, else raise ValueError."""
    if ste not in STE_VARIANTS:
        raise ValueError(f"unknown STE variant {ste!r}: use 'hubara' or 'galloway'")
    return ste


def straight_through(dout, x, ste):
    """The stand-in gradient of sign at ``x`` for the upstream gradient ``dout`` (of x's shape).
    Refuses an unknown ``ste`` (ValueError)."""
    check_ste(ste)
    x = _as_array(x)
    dout = check_dout(dout, x.shape, "sign")
    if ste == "hubara":
        return dout * (np.abs(x) <= 1)
    return np.clip(dout, -1, 1)


def _as_array(x, name="x"):
    """``x`` itself if it is a NumPy array (a subclass as a plain array, a masked array as its
    data, or refused if it masks entries, as the layers take them); a list as a float64 array,
    as the layers take it; else TypeError."""
    if isinstance(x, np.generic):  # a NumPy scalar: a 0-d array of its dtype
        return np.asarray(x)
    return as_plain_ndarray(x, name) if isinstance(x, np.ndarray) else check_array(
        x, name, finite=False)


def sign(x):
    """sign(x) with sign(0) = +1, in the dtype of ``x`` (a list as float64); NaN stays NaN (as
    in np.sign)."""
    x = _as_array(x)
    return (np.sign(x) + (x == 0)).astype(x.dtype, copy=False)


def relu_forward_reference(x):
    """Returns ``(max(x, 0), cache)``; max(−∞, 0) = 0, and NaN stays NaN (NumPy reference).

    (``x * (x > 0)`` would say the same for finite x, but gives NaN at −∞.)
    """
    return np.maximum(x, 0), x > 0


def relu_backward_reference(dout, mask):
    """dx = dout · 1{x > 0} (NumPy reference); ``mask`` must be the boolean 1{x > 0}
    (TypeError otherwise: numbers would scale dout)."""
    _check_mask(mask)
    return dout * mask


def _check_mask(mask):
    if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_):
        raise TypeError(f"mask must be the boolean array 1{{x > 0}} of relu_forward, got "
                        f"{getattr(mask, 'dtype', type(mask).__name__)}")


# The compiled ReLU: the same numbers bit for bit, in one pass over memory. NumPy's maximum
# against the scalar 0 has no vector loop here (NumPy 2.4, AVX2): for conv1's output of 32
# images it took 214 µs in float32 and 121 µs in float64, compiled 43 and 84 µs (about 4% of
# a chunk's forward pass in float32). The references serve other dtypes and arrays that are
# not one block of memory (slices with steps, broadcasts).

@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _relu_numba(x, out, mask):
    for i in range(x.size):
        value = x[i]
        mask[i] = value > 0
        out[i] = value if value > 0 or value != value else 0  # NaN (value != value) stays


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _relu_backward_numba(dout, mask, dx):
    for i in range(dout.size):
        dx[i] = dout[i] * mask[i]


def _in_memory_order(a):
    """``a`` as a 1-D view that runs through its memory in order, which is the order of
    ``np.empty_like(a)`` raveled the same way; None when ``a`` is not one block of memory
    (steps, negative strides, broadcasts: ``ravel`` copies, and for a broadcast the orders can
    differ). A copy is an array of its own (no ``base``); a view has one. (``np.may_share_memory``
    said the same, but it lets go of the GIL and takes it back: one more wait for it per call
    when chunks run on several threads.)"""
    flat = a.ravel(order="K")
    return flat if flat.base is not None else None


def relu_forward(x):
    """Compiled version of :func:`relu_forward_reference` (same result, same memory layout);
    a list is taken as a float64 array."""
    x = _as_array(x)
    compiled = _relu_compiled(x) if x.dtype in (np.float32, np.float64) else None
    return relu_forward_reference(x) if compiled is None else compiled


def _relu_compiled(x):
    """``(out, mask)`` of the compiled loop for a float32 or float64 array ``x``, or None where
    x is not one block of memory (the reference's case). Also an inference plan's ReLU
    (``tinyadv/plans.py``), whose arrays are checked already."""
    flat_x = _in_memory_order(x)
    if flat_x is None:
        return None
    out, mask = np.empty_like(x), np.empty_like(x, dtype=bool)
    _relu_numba(flat_x, out.ravel(order="K"), mask.ravel(order="K"))
    return out, mask


def relu_backward(dout, mask):
    """Compiled version of :func:`relu_backward_reference` (same result) when ``dout`` and
    ``mask`` lie in memory in the same order."""
    _check_mask(mask)
    return _relu_backward(check_dout(dout, mask.shape, "ReLU"), mask)


def _relu_backward(dout, mask):
    """:func:`relu_backward` of arguments checked already (also a gradient plan's ReLU,
    ``tinyadv/plans.py``)."""
    same_order = (dout.strides == tuple(step * dout.itemsize for step in mask.strides))
    compiled = dout.dtype in (np.float32, np.float64) and same_order
    flat_dout = _in_memory_order(dout) if compiled else None
    flat_mask = _in_memory_order(mask) if compiled else None
    if flat_dout is None or flat_mask is None:
        return relu_backward_reference(dout, mask)
    dx = np.empty_like(dout)
    _relu_backward_numba(flat_dout, flat_mask, dx.ravel(order="K"))
    return dx


class ReLU(Layer):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return relu_forward(check_array(x, "input of ReLU", finite=False))

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        need_input_grad = check_bool(need_input_grad, "need_input_grad")
        mask = check_cache(cache, isinstance(cache, np.ndarray) and cache.dtype == bool,
                           "ReLU.forward")
        return (relu_backward(dout, mask) if need_input_grad else None), {}


class ScaledReLU(Layer):
    """s · max(x, 0) with one learned scalar ``scale`` (variant C of Galloway et al. 2018).

    Parameters
    ----------
    init : float
        The initial s (0.05, as in the reference code).
    dtype : float32 or float64
    """

    def __init__(self, init=0.05, *, dtype=np.float32):
        super().__init__()
        self.init = check_finite_real(init, "init")
        dtype = check_float_dtype(dtype)
        self.params["scale"] = Parameter(np.array([as_finite_in(self.init, dtype, "init")]),
                                         decay=False)

    def config(self):
        return dict(init=self.init)

    def forward(self, x):
        positive, mask = relu_forward(check_array(x, "input of ScaledReLU", finite=False))
        return self.params["scale"].data[0] * positive, (positive, mask)

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        need_input_grad = check_bool(need_input_grad, "need_input_grad")
        need_param_grads = check_bool(need_param_grads, "need_param_grads")
        positive, mask = check_cache(
            cache, isinstance(cache, tuple) and len(cache) == 2
            and all(isinstance(a, np.ndarray) for a in cache), "ScaledReLU.forward")
        dout = check_dout(dout, mask.shape, "ScaledReLU")
        grads = {"scale": np.sum(dout * positive, keepdims=True).reshape(1)} if need_param_grads else {}
        dx = relu_backward(dout, mask) * self.params["scale"].data[0] if need_input_grad else None
        return dx, grads


class Sign(Layer):
    """sign(x) in the forward pass; a straight-through estimator in the backward pass.

    Parameters
    ----------
    ste : {"hubara", "galloway"}
        Which stand-in gradient to use (see the module docstring). Default "galloway", as in the
        reference code of "Attacking Binarized Neural Networks".
    """

    def __init__(self, ste="galloway"):
        super().__init__()
        self.ste = check_ste(ste)

    def config(self):
        return dict(ste=self.ste)

    def forward(self, x):
        x = check_array(x, "input of Sign", finite=False)
        return sign(x), x

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        need_input_grad = check_bool(need_input_grad, "need_input_grad")
        x = check_cache(cache, isinstance(cache, np.ndarray) and cache.dtype.kind == "f",
                        "Sign.forward")
        return (straight_through(dout, x, self.ste) if need_input_grad else None), {}
