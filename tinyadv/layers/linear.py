"""The affine (fully connected) layer, and Flatten, which turns images into vectors for it.

Linear, shapes:  x (N, D),  w (M, D) (PyTorch layout),  b (M,),  out (N, M)

    forward:   out = x wᵀ + b
    backward:  dx = dout w        (N, D)
               dw = doutᵀ x       (M, D)
               db = Σ_n dout[n]   (M,)

Flatten: (N, C, H, W) -> (N, C·H·W), flattening C, H, W in that order (PyTorch's order, so a
state dict moves between tinyadv and PyTorch unchanged); its backward reshapes back.
"""

import math

import numpy as np

from ..checks import (as_finite_in, check_array, check_bool, check_finite_real, check_fits,
                      check_float_dtype, check_positive_int, make_rng)
from .base import Layer, Parameter, check_cache, check_dout, is_shape, weight_and_bias_grads


def linear_forward(x, w, b=None):
    """Affine map ``x wᵀ + b``; returns ``(out, cache)``. Shapes in the module docstring."""
    x = check_array(x, "input of linear", finite=False)
    w = check_array(w, "weights of linear", finite=False)
    if x.ndim != 2:
        raise ValueError(f"linear expects input of shape (N, D), got shape {x.shape}; "
                         f"put a Flatten layer before it")
    if w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"linear input has {x.shape[1]} features, weights of shape {w.shape} "
                         f"expect {w.shape[1] if w.ndim == 2 else '?'}")
    if b is not None:
        b = check_array(b, "bias of linear", finite=False)
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias must have shape ({w.shape[0]},), got {b.shape}")
    return _linear_forward(x, w, b)


def _linear_forward(x, w, b):
    """:func:`linear_forward` of arguments checked already (also a plan's, ``tinyadv/plans.py``)."""
    # Cast, then transpose: the float64 model's product, bit for bit (see kernels.rows_product).
    out = x @ w.astype(np.result_type(x, w), copy=False).T
    if b is not None:
        out = out + b
    return out, (x, w, b is not None)


def _linear_cache(cache):
    return check_cache(cache, isinstance(cache, tuple) and len(cache) == 3
                       and isinstance(cache[0], np.ndarray) and isinstance(cache[1], np.ndarray),
                       "linear_forward")


def linear_backward(dout, cache, *, need_input_grad=True, need_param_grads=True):
    """Returns ``(dx, dw, db)``; entries not needed (or no bias) are None."""
    need_input_grad = check_bool(need_input_grad, "need_input_grad")
    need_param_grads = check_bool(need_param_grads, "need_param_grads")
    x, w, has_bias = _linear_cache(cache)
    return _linear_backward(check_dout(dout, (x.shape[0], w.shape[0]), "linear"), x, w, has_bias,
                            need_input_grad, need_param_grads)


def _linear_backward(dout, x, w, has_bias, need_input_grad, need_param_grads):
    """:func:`linear_backward` of arguments checked already (also a gradient plan's)."""
    dx = dout @ w if need_input_grad else None
    dw = dout.T @ x if need_param_grads else None
    db = dout.sum(axis=0) if (need_param_grads and has_bias) else None
    return dx, dw, db


class Linear(Layer):
    """Fully connected layer with ``weight`` (M, D) and optional ``bias`` (M,).

    Initialisation is PyTorch's default, U(-1/√D, 1/√D), from an explicit ``seed``.

    Parameters
    ----------
    in_features, out_features : int >= 1
        D and M.
    bias : bool
    seed : int, numpy.random.Generator or None
    dtype : float32 or float64
    """

    def __init__(self, in_features, out_features, *, bias=True, seed=None, dtype=np.float32):
        super().__init__()
        self.in_features = in_features = check_positive_int(in_features, "in_features")
        self.out_features = out_features = check_positive_int(out_features, "out_features")
        dtype = check_float_dtype(dtype)
        bias = check_bool(bias, "bias")
        check_fits((out_features, in_features), 8,  # (drawn in float64)
                   f"{type(self).__name__}({in_features}, {out_features}): the weight")
        rng = make_rng(seed)
        bound = 1.0 / np.sqrt(in_features)
        self.params["weight"] = Parameter(
            rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype)
        )
        if bias:
            self.params["bias"] = Parameter(
                rng.uniform(-bound, bound, out_features).astype(dtype), decay=False
            )

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features,
                    bias="bias" in self.params)

    def effective_weight(self):
        """The weight the product uses (binarized layers override this)."""
        return self.params["weight"].data

    def weight_gradient(self, dw_effective):
        """Map dL/d(effective weight) to dL/d(weight): the identity here, an STE when binarized."""
        return dw_effective

    def forward(self, x):
        x = check_array(x, "input of Linear", ndim=2, finite=False)
        b = self.params["bias"].data if "bias" in self.params else None
        return linear_forward(x, self.effective_weight(), b)

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        if _linear_cache(cache)[1].shape != self.params["weight"].shape:
            raise ValueError(f"cache is of a linear layer with weights of shape {cache[1].shape}, "
                             f"this layer's are {self.params['weight'].shape}")
        dx, dw, db = linear_backward(
            dout, cache, need_input_grad=need_input_grad, need_param_grads=need_param_grads
        )
        return dx, weight_and_bias_grads(self, dw, db, need_param_grads)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C·H·W) in C, H, W order; backward reshapes the gradient back."""

    def forward(self, x):
        x = check_array(x, "input of Flatten", min_ndim=2, finite=False)
        return x.reshape(x.shape[0], math.prod(x.shape[1:])), x.shape  # (N may be 0)

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        if not check_bool(need_input_grad, "need_input_grad"):
            return None, {}
        check_cache(cache, is_shape(cache) and len(cache) >= 2, "Flatten.forward")
        dout = check_dout(dout, (cache[0], math.prod(cache[1:])), "Flatten")
        return dout.reshape(cache), {}


class Scale(Layer):
    """Multiply by a fixed number: out = factor · x, dx = factor · dout.

    The BNN reference code computes softmax(logits · T); appending ``Scale(T)`` to a model puts
    that temperature into the logits an attack sees (REFERENCES.md §3 uses T = 0.25).
    """

    def __init__(self, factor):
        super().__init__()
        self.factor = check_finite_real(factor, "factor")

    def config(self):
        return dict(factor=self.factor)

    def forward(self, x):
        x = check_array(x, "input of Scale", finite=False)
        return x * as_finite_in(self.factor, x.dtype, "Scale's factor"), x.shape

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        if not check_bool(need_input_grad, "need_input_grad"):
            return None, {}
        dout = check_dout(dout, check_cache(cache, is_shape(cache), "Scale.forward"), "Scale")
        return dout * as_finite_in(self.factor, dout.dtype, "Scale's factor"), {}
