"""Numerical gradients by central differences: the one checker every backward is held to.

For a function ``f`` with output ``out = f(x)`` and an upstream gradient ``dout`` (drawn at
random, so that every output element matters), the gradient of the scalar ``sum(out * dout)``
with respect to ``x`` is, coordinate by coordinate,

    d/dx_i  ≈  ( sum(f(x + h e_i) * dout) - sum(f(x - h e_i) * dout) ) / (2 h).

The truncation error is O(h²) and the rounding error O(eps_machine / h), so in float64 with
h = 1e-6 both are around 1e-10 of the gradient's scale. This is CS231n's
``eval_numerical_gradient_array``; it returns numbers and prints nothing.
"""

import numpy as np


def numerical_gradient(f, x, dout, h=1e-6):
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    ``x`` is perturbed in place, one coordinate at a time, and restored; ``f`` must read it
    afresh on every call (so ``x`` may be a layer's weight array). Use float64.

    Parameters
    ----------
    f : callable
        ``f()`` takes no argument and returns an array shaped like ``dout``.
    x : ndarray
        The array to differentiate with respect to; modified and restored.
    dout : ndarray
        Upstream gradient, same shape as ``f()``.
    h : float
        Step of the central difference.

    Returns
    -------
    grad : ndarray, shaped like ``x``.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = np.sum(f() * dout)
        flat[i] = old - h
        minus = np.sum(f() * dout)
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b):
    """Largest difference between ``a`` and ``b`` relative to their scale.

    ``max|a - b| / max(max|a|, max|b|)``: a relative error of the whole array, which stays
    meaningful where single entries of the gradient are (nearly) zero. Returns 0 when both are 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)


def layer_gradient_errors(layer, x, *, seed=0, h=1e-6):
    """Compare a layer's backward with central differences, for its input and every parameter.

    Runs ``out, cache = layer.forward(x)`` and ``dx, grads = layer.backward(dout, cache)`` with a random
    upstream gradient ``dout`` (from ``seed``), and returns ``{"x": err, "<param>": err, ...}``,
    each the :func:`rel_error` between the analytic and the numerical gradient. Use float64
    (``layer.astype(np.float64)``) and inputs away from kinks (ReLU, sign at 0).
    """
    rng = np.random.default_rng(seed)
    out, cache = layer.forward(x)
    dout = rng.normal(size=out.shape)
    dx, grads = layer.backward(dout, cache)
    errors = {"x": rel_error(dx, numerical_gradient(lambda: layer.forward(x)[0], x, dout, h))}
    for name, p in layer.params.items():
        numeric = numerical_gradient(lambda: layer.forward(x)[0], p.data, dout, h)
        errors[name] = rel_error(grads[name], numeric)
    return errors
