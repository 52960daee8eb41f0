"""Optimizers: SGD (with momentum and Nesterov) and Adam, updating ``Parameter.data`` in place.

With g = p.grad, learning rate η:

SGD (PyTorch's formulation):
    v ← μ v + g
    step = g + μ v   (Nesterov)   or   v   (plain momentum; v = g when μ = 0)
    p ← p − η · step

Adam (Kingma & Ba 2015), t counting steps from 1:
    m ← β₁ m + (1 − β₁) g,        v ← β₂ v + (1 − β₂) g²
    m̂ = m / (1 − β₁ᵗ),            v̂ = v / (1 − β₂ᵗ)
    p ← p − η · m̂ / (√v̂ + ε)

Weight decay comes in two forms (Loshchilov & Hutter 2019 explain why they differ for Adam):

- as a loss term ½ λ ‖W‖², which adds λ W to the gradient: ``fit(..., weight_decay=λ)``
  (this is what the talk's "CNN-L2" and the papers' λ₂ mean);
- decoupled, shrinking the weights directly, p ← p − η λ p, before the update:
  ``SGD(..., decoupled_weight_decay=λ)`` / ``Adam(...)`` (AdamW).

Both apply only to parameters with ``decay=True`` (weights, not biases or BatchNorm).

Adam's update runs as one compiled pass over each parameter (``_adam_numba``, the arithmetic
of :func:`adam_update_reference` in the same order, held equal to it bit for bit by a test):
the NumPy lines make about ten passes over the weights and their moments, 0.39 ms per step for
the talk's CNN in float32 (1.03 ms in float64), the compiled pass 0.16 ms (0.51 ms), most of it
the divisions and square roots, which it must keep to give the same bits. SGD's update runs the
same way (``_sgd_numba``, the lines of :func:`sgd_update_reference`): with momentum the NumPy
lines make six passes and a temporary, 0.28 ms per step for the talk's CNN in float64 (0.13 ms
in float32), the compiled pass 0.17 ms (0.08 ms), on the Xeon of README's Speed.
"""

import numpy as np
from numba import njit

from .checks import (as_finite_in, check_bool, check_nonnegative, check_positive_int,
                     check_same_shape)


class Optimizer:
    """Holds the parameters and per-parameter state; ``step()`` applies one update."""

    def __init__(self, parameters, lr, decoupled_weight_decay):
        if callable(getattr(parameters, "parameters", None)):  # a model: list(model) means nothing
            raise TypeError(f"pass model.parameters() to the optimizer, not the "
                            f"{type(parameters).__name__} itself")
        try:
            self.parameters = list(parameters)
        except TypeError:  # (not iterable)
            raise TypeError(f"the optimizer takes an iterable of parameters "
                            f"(model.parameters()), got {type(parameters).__name__}") from None
        if not self.parameters:
            raise ValueError("the optimizer got an empty list of parameters")
        for p in self.parameters:
            if not (hasattr(p, "data") and hasattr(p, "grad")):
                raise TypeError(f"the optimizer takes parameters with .data and .grad "
                                f"(model.parameters()), got {type(p).__name__}")
        if len({id(p) for p in self.parameters}) < len(self.parameters):
            raise ValueError("a parameter appears twice in the optimizer's list (it would take two steps)")
        self.lr = self._check_number(check_nonnegative(lr, "lr"), "lr")
        self.decoupled_weight_decay = self._check_number(
            check_nonnegative(decoupled_weight_decay, "decoupled_weight_decay"),
            "decoupled_weight_decay")
        self._check_number(self.lr * self.decoupled_weight_decay, "lr * decoupled_weight_decay")

    def _float_dtypes(self):
        """The float dtypes of the parameters: the steps compute in them."""
        return {p.data.dtype for p in self.parameters if p.data.dtype.kind == "f"}

    def _check_number(self, value, name):
        """Return ``value`` after checking that it is finite in every float dtype of the
        parameters: the steps compute in those dtypes, where lr = 1e39 is inf in float32 (one
        step would make every weight inf or NaN)."""
        for dtype in self._float_dtypes():
            as_finite_in(value, dtype, name)
        return value

    def zero_grad(self):
        for p in self.parameters:
            p.grad[...] = 0

    def _check_grads(self):
        """Raise before any parameter moves unless every ``p.grad`` is a float array of its
        parameter's shape: a TypeError for None (freeze a parameter by leaving it out of the
        optimizer's list) or another type, a ValueError for another shape (SGD would broadcast
        a (1, D) gradient over a (M, D) weight). O(1) per parameter: no pass over the values."""
        for i, p in enumerate(self.parameters):
            grad = p.grad
            if not (isinstance(grad, np.ndarray) and grad.dtype.kind == "f"):
                kind = (f"dtype {grad.dtype}" if isinstance(grad, np.ndarray)
                        else type(grad).__name__)
                raise TypeError(f"the gradient of parameter {i} must be a float array, got {kind} "
                                f"(to freeze a parameter, leave it out of the optimizer's list)")
            if grad.shape != p.data.shape:
                raise ValueError(f"the gradient of parameter {i} has shape {grad.shape}, the "
                                 f"parameter {p.data.shape}")

    def _decay(self, p):
        if self.decoupled_weight_decay and p.decay:
            p.data -= self.lr * self.decoupled_weight_decay * p.data

    def state_dict(self):
        """Copies of the arrays and numbers that let training resume exactly (for checkpoints):
        a snapshot, which later steps leave as it was (the steps update the optimizer's own
        arrays in place)."""
        raise NotImplementedError

    def load_state_dict(self, state):
        raise NotImplementedError

    def _check_state(self, state):
        """Raise TypeError unless ``state`` is a dict of arrays (as ``state_dict()`` gives)."""
        if not (hasattr(state, "items") and hasattr(state, "__contains__")):
            raise TypeError(f"state must be a dict of arrays (optimizer.state_dict()), got "
                            f"{type(state).__name__}")

    def _state_arrays(self, state, prefix, *, nonnegative=False):
        """Copies of ``state[f"{prefix}.{i}"]``, one per parameter, in its dtype.

        Refuses (ValueError naming the key) a missing key, another shape than the parameter's,
        anything but an array of real numbers (a ragged list; complex values, which a cast
        would cut to their real part; strings, objects), NaN, infinite values or values beyond
        the parameter dtype's range (the next step would turn every weight into NaN), and with
        ``nonnegative`` negative values (Adam's second moments, whose square root the step
        takes). Nothing is copied until every array is checked.
        """
        arrays = []
        for i, p in enumerate(self.parameters):
            key = f"{prefix}.{i}"
            if key not in state:
                raise ValueError(f"the optimizer state lacks {key!r}: it was saved by another "
                                 f"optimizer or for other parameters")
            try:
                value = np.asarray(state[key])
            except (TypeError, ValueError):  # (ragged lists)
                raise ValueError(f"{key}: the optimizer state holds {state[key]!r:.60}, not an "
                                 f"array of numbers") from None
            if value.shape != p.data.shape:
                raise ValueError(f"{key} has shape {value.shape} in the state, {p.data.shape} in the parameter")
            if value.dtype.kind not in "biuf":
                raise ValueError(f"{key}: the optimizer state holds {value.dtype} values, not "
                                 f"real numbers")
            dtype = p.data.dtype
            if value.size and not (np.all(np.isfinite(value))
                                   and np.max(np.abs(value)) <= np.finfo(dtype).max):
                raise ValueError(f"{key}: the optimizer state holds NaN, infinite values or "
                                 f"values beyond {dtype}'s range")
            if nonnegative and value.size and np.min(value) < 0:
                raise ValueError(f"{key}: the optimizer state holds negative values (min "
                                 f"{np.min(value)}), where Adam's second moments, averages of "
                                 f"squared gradients, are >= 0")
            arrays.append(np.array(value, dtype=dtype))
        return arrays


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum μ.

    Parameters
    ----------
    parameters : iterable of Parameter
        ``model.parameters()``.
    lr : float >= 0
        η.
    momentum : float in [0, 1)
        μ.
    nesterov : bool
        Step g + μ v instead of v (needs μ > 0).
    decoupled_weight_decay : float >= 0
        λ of p ← p − η λ p.
    """

    def __init__(self, parameters, lr=0.01, *, momentum=0.0, nesterov=False, decoupled_weight_decay=0.0):
        super().__init__(parameters, lr, decoupled_weight_decay)
        self.momentum, self.nesterov = check_momentum(momentum, nesterov)
        self.velocity = [np.zeros_like(p.data) for p in self.parameters]

    def step(self):
        self._check_grads()
        for p, v in zip(self.parameters, self.velocity):
            self._decay(p)
            sgd_update(p.data, p.grad, v, self.lr, self.momentum, self.nesterov)

    def state_dict(self):
        return {f"velocity.{i}": v.copy() for i, v in enumerate(self.velocity)}

    def load_state_dict(self, state):
        """Load ``state_dict()``'s velocities, checked as ``Optimizer._state_arrays`` says (a
        state that is not a dict: TypeError); nothing changes unless all of them fit."""
        self._check_state(state)
        self.velocity = self._state_arrays(state, "velocity")


class Adam(Optimizer):
    """Adam with bias correction; ``decoupled_weight_decay`` > 0 makes it AdamW.

    Parameters
    ----------
    parameters : iterable of Parameter
        ``model.parameters()``.
    lr : float >= 0
        η.
    betas : pair (β₁, β₂) in [0, 1)
    eps : float > 0
        ε.
    decoupled_weight_decay : float >= 0
        λ of p ← p − η λ p.
    """

    def __init__(self, parameters, lr=1e-3, *, betas=(0.9, 0.999), eps=1e-8, decoupled_weight_decay=0.0):
        super().__init__(parameters, lr, decoupled_weight_decay)
        self.beta1, self.beta2 = check_betas(betas)
        if check_nonnegative(eps, "eps") == 0:
            raise ValueError("eps must be > 0 (with eps = 0 a zero gradient gives 0 / 0)")
        self.eps = self._check_number(float(eps), "eps")
        for dtype in self._float_dtypes():
            if dtype.type(self.eps) == 0:  # the step computes in the parameter's dtype
                raise ValueError(f"eps must be > 0 in the parameters' {dtype}, got {eps}, which "
                                 f"rounds to 0 there (a zero gradient would give 0 / 0)")
        self.t = 0
        self.m = [np.zeros_like(p.data) for p in self.parameters]
        self.v = [np.zeros_like(p.data) for p in self.parameters]

    def step(self):
        self._check_grads()
        self.t += 1
        for p, m, v in zip(self.parameters, self.m, self.v):
            self._decay(p)
            adam_update(p.data, p.grad, m, v, self.lr, self.beta1, self.beta2, self.eps, self.t)

    def state_dict(self):
        state = {"t": np.array(self.t)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"], state[f"v.{i}"] = m.copy(), v.copy()
        return state

    def load_state_dict(self, state):
        """Load ``state_dict()``'s step count and moments. Refuses a state that is not a dict
        (TypeError), a step count t that is not an integer >= 0 (a bool, a float, an array)
        and moments as ``Optimizer._state_arrays`` says, second moments ``v.i`` < 0 included
        (ValueError naming the key); nothing changes unless all of it fits."""
        self._check_state(state)
        t = np.asarray(state["t"] if "t" in state else -1)
        if t.shape != () or not np.issubdtype(t.dtype, np.integer) or t < 0:
            raise ValueError(f"the optimizer state needs a step count t, an integer >= 0, got "
                             f"{state['t'] if 't' in state else None!r}")
        m, v = self._state_arrays(state, "m"), self._state_arrays(state, "v", nonnegative=True)
        self.t, self.m, self.v = int(t), m, v


def check_betas(betas):
    """Return Adam's ``betas`` as two floats after checking they are a pair in [0, 1)."""
    pair = isinstance(betas, (tuple, list)) or (isinstance(betas, np.ndarray) and betas.ndim == 1)
    if not (pair and len(betas) == 2):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    beta1, beta2 = (check_nonnegative(b, "betas") for b in betas)
    if not (beta1 < 1 and beta2 < 1):
        raise ValueError(f"betas must be in [0, 1), got {betas}")
    return beta1, beta2


def check_momentum(momentum, nesterov):
    """Return SGD's ``(momentum, nesterov)`` after checking the momentum is in [0, 1) and
    nesterov a bool that asks for momentum > 0."""
    momentum = check_nonnegative(momentum, "momentum")
    if momentum >= 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum} (the velocity would never "
                         f"decay)")
    if check_bool(nesterov, "nesterov") and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    return momentum, nesterov


def _check_sgd_step(data, grad, velocity, lr, momentum, nesterov):
    """Raise unless the three arrays have one shape (no broadcasting), lr is a finite number
    >= 0 and the momentum and nesterov are as :func:`check_momentum` asks. Returns (lr,
    momentum, nesterov), the numbers as Python floats (see :func:`_check_adam_step`)."""
    check_same_shape(data=data, grad=grad, velocity=velocity)
    return (check_nonnegative(lr, "lr"), *check_momentum(momentum, nesterov))


def sgd_update_reference(data, grad, velocity, lr, momentum, nesterov):
    """SGD's step on one parameter, in place on ``data`` and its ``velocity`` (left alone
    when the momentum is 0). Refuses what :func:`_check_sgd_step` names."""
    lr, momentum, nesterov = _check_sgd_step(data, grad, velocity, lr, momentum, nesterov)
    if momentum == 0:
        data -= lr * grad
        return
    velocity *= momentum
    velocity += grad
    data -= lr * (grad + momentum * velocity if nesterov else velocity)


def sgd_update(data, grad, velocity, lr, momentum, nesterov):
    """:func:`sgd_update_reference` as one compiled pass, when the three arrays are
    C-contiguous of one floating dtype (as SGD makes them); else the reference."""
    lr, momentum, nesterov = _check_sgd_step(data, grad, velocity, lr, momentum, nesterov)
    arrays = (data, grad, velocity)
    dtype = data.dtype
    if dtype not in (np.float32, np.float64) or not all(
            a.dtype == dtype and a.flags.c_contiguous for a in arrays):
        return sgd_update_reference(data, grad, velocity, lr, momentum, nesterov)
    scalar = dtype.type  # (rounded to the arrays' dtype, as NumPy rounds a Python float; a
    # momentum that rounds to 0 in float32 still takes the momentum's lines, as the reference)
    _sgd_numba(*(a.reshape(-1) for a in arrays), scalar(lr), momentum > 0, scalar(momentum),
               nesterov)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _sgd_numba(data, grad, velocity, lr, with_momentum, momentum, nesterov):
    if not with_momentum:
        for i in range(data.size):
            data[i] = data[i] - lr * grad[i]
        return
    for i in range(data.size):
        velocity[i] = velocity[i] * momentum + grad[i]
        step = grad[i] + momentum * velocity[i] if nesterov else velocity[i]
        data[i] = data[i] - lr * step


def _check_adam_step(data, grad, m, v, lr, beta1, beta2, eps, t):
    """Raise unless the four arrays have one shape (no broadcasting), lr and eps are finite
    numbers >= 0, the betas are in [0, 1) and the step t is an integer >= 1 (t = 0 would divide
    by 1 − β⁰ = 0). Returns (lr, beta1, beta2, eps) as Python floats, which NumPy rounds to the
    arrays' dtype as the compiled update does (NumPy float64 scalars would make the NumPy lines
    compute in float64 on float32 arrays, and differ in the last bits)."""
    check_same_shape(data=data, grad=grad, m=m, v=v)
    beta1, beta2 = check_betas((beta1, beta2))
    check_positive_int(t, "t")
    return check_nonnegative(lr, "lr"), beta1, beta2, check_nonnegative(eps, "eps")


def adam_update_reference(data, grad, m, v, lr, beta1, beta2, eps, t):
    """Adam's step t on one parameter, in place on ``data`` and its moments ``m``, ``v``.
    Refuses a step t < 1, betas outside [0, 1) and arrays of other shapes than ``data``."""
    lr, beta1, beta2, eps = _check_adam_step(data, grad, m, v, lr, beta1, beta2, eps, t)
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    data -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)


def adam_update(data, grad, m, v, lr, beta1, beta2, eps, t):
    """:func:`adam_update_reference` as one compiled pass, when the four arrays are C-contiguous
    of one floating dtype (as the optimizers make them); else the reference. Refuses what the
    reference refuses."""
    lr, beta1, beta2, eps = _check_adam_step(data, grad, m, v, lr, beta1, beta2, eps, t)
    arrays = (data, grad, m, v)
    dtype = data.dtype
    if dtype not in (np.float32, np.float64) or not all(
            a.dtype == dtype and a.flags.c_contiguous for a in arrays):
        return adam_update_reference(data, grad, m, v, lr, beta1, beta2, eps, t)
    scalar = dtype.type  # NumPy rounds a Python float to the array's dtype before using it
    _adam_numba(*(a.reshape(-1) for a in arrays), scalar(beta1), scalar(1 - beta1), scalar(beta2),
                scalar(1 - beta2), scalar(lr), scalar(1 - beta1 ** t), scalar(1 - beta2 ** t),
                scalar(eps))


# (error_model="numpy": IEEE division, as NumPy's: no checks)
@njit(cache=True, nogil=True, no_cfunc_wrapper=True, error_model="numpy")
def _adam_numba(data, grad, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, lr,
                correction1, correction2, eps):
    for i in range(data.size):
        m[i] = m[i] * beta1 + one_minus_beta1 * grad[i]
        v[i] = v[i] * beta2 + one_minus_beta2 * grad[i] * grad[i]
        data[i] = data[i] - lr * (m[i] / correction1) / (np.sqrt(v[i] / correction2) + eps)
