"""Numerical gradients by central differences: the one checker every backward is held to.

For a function ``f`` with output ``out = f(x)`` and an upstream gradient ``dout`` (drawn at
random, so that every output element matters), the gradient of the scalar ``sum(out * dout)``
with respect to ``x`` is, coordinate by coordinate,

    d/dx_i  ≈  ( sum(f(x + h e_i) * dout) - sum(f(x - h e_i) * dout) ) / (2 h).

The truncation error is O(h²) and the rounding error O(eps_machine / h), so in float64 with
h = 1e-6 both are around 1e-10 of the gradient's scale. This is CS231n's
``eval_numerical_gradient_array``; it returns numbers and prints nothing.

``check_gradients`` is the public face of it, for your own layers: give it a forward/backward
pair in the CS231n shape and it returns a report that says, per argument, how far the analytic
gradient is from the numerical one, and what kind of mistake it looks like (a wrong sign, a
missing constant factor)::

    def leaky_relu_forward(x, slope=0.1):
        return np.where(x > 0, x, slope * x), (x, slope)

    def leaky_relu_backward(dout, cache):
        x, slope = cache
        return dout * np.where(x > 0, 1.0, slope)

    x = np.random.default_rng(0).normal(size=(4, 5))
    print(check_gradients(leaky_relu_forward, leaky_relu_backward, [x]))
    # argument    relative error   status
    # x                  0.0e+00   ok
    # all gradients match central differences (tolerance 1e-06)

Keep inputs away from kinks (here x = 0), where no derivative exists.
"""

import copy
import inspect
from dataclasses import dataclass, field

import numpy as np

from .checks import check_array, check_nonnegative, check_positive, make_rng


def numerical_gradient(f, x, dout, h=1e-6):
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    ``x`` is perturbed in place, one coordinate at a time, and restored (also when ``f``
    raises); ``f`` must read it afresh on every call (so ``x`` may be a layer's weight array).
    Use float64.

    Parameters
    ----------
    f : callable
        ``f()`` takes no argument and returns an array shaped like ``dout``.
    x : ndarray
        The array to differentiate with respect to: a finite, writeable float32 or float64
        array (float64 for meaningful numbers); modified and restored.
    dout : array_like
        Upstream gradient, the shape of ``f()``; a scalar weights every entry alike (``1.0``:
        the gradient of ``sum(f())``). Other shapes are refused rather than broadcast.
    h : float > 0
        Step of the central difference. x_i ± h is rounded to x's dtype, and the difference
        is divided by the step actually taken, (x_i + h) − (x_i − h) after rounding, not by
        2h: in float32, 1 + 1e-6 is stored as 1 + 1.013e-6 (dividing by 2h gave 1.97 for
        the slope 2). An h below the spacing of the dtype at some x_i (x_i ± h rounds to x_i:
        1e-6 at |x_i| >= 32 in float32, at |x_i| >= 2^33 ≈ 8.6e9 in float64) is refused with a
        ValueError rather than returned as a zero gradient.

    Returns
    -------
    grad : ndarray, shaped like ``x``.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be the NumPy array that f reads, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a float64 array (x ± h must be representable), "
                        f"got dtype {x.dtype}")
    check_array(x, "x")
    if not x.flags.writeable:
        raise ValueError("x must be writeable: numerical_gradient perturbs it in place")
    h = check_positive(h, "h")
    dout = np.asarray(dout)
    if dout.dtype.kind not in "iuf":
        raise TypeError(f"dout must be an array of numbers, got dtype {dout.dtype}")
    out_shape = np.shape(f())
    if dout.shape not in (out_shape, ()):
        raise ValueError(f"dout must have the shape of f(), {out_shape}, got {dout.shape}")
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)
    if x.size and not np.shares_memory(flat, x):  # (an empty x shares no memory: nothing to do)
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    for i in range(flat.size):
        old = flat[i]
        try:
            flat[i] = old + h
            upper = float(flat[i])      # x_i + h as stored in x's dtype
            plus = np.sum(f() * dout)
            flat[i] = old - h
            lower = float(flat[i])
            minus = np.sum(f() * dout)
        finally:
            flat[i] = old
        if not lower < float(old) < upper:
            index = ", ".join(map(str, np.unravel_index(i, x.shape)))
            hint = "" if x.dtype == np.float64 else ", or float64"
            raise ValueError(f"h={h:g} is below the resolution of {x.dtype} at x[{index}] = "
                             f"{float(old):g}: x ± h rounds to x there; use a larger h{hint}")
        grad.reshape(-1)[i] = (plus - minus) / (upper - lower)
    return grad


def float64_copy(value, name, *, ndim=None):
    """A float64 copy of an input to check, refused if it is not finite numbers (or, with
    ``ndim``, not of that many dimensions)."""
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}") from None
    return check_array(array, name, ndim=ndim)


def rel_error(a, b, noise=0.0):
    """Largest difference between ``a`` and ``b`` relative to their scale.

    ``max(max|a - b| - noise, 0) / max(max|a|, max|b|)``: a relative error of the whole array,
    which stays meaningful where single entries of the gradient are (nearly) zero. ``noise`` is
    an absolute difference too small to mean anything (see :func:`central_difference_noise`);
    differences up to it do not count. Returns 0 when both arrays are 0.

    ``a`` and ``b`` are arrays (or lists, or numbers) of finite real numbers: NaN, infinities
    and complex numbers are refused (ValueError, TypeError) rather than compared (a NaN beside
    zeros gave 0.0, "they agree"; a complex array lost its imaginary part); ``noise`` >= 0.
    """
    a = _real_array(a, "a")
    b = _real_array(b, "b")
    return _error_and_scale(a, b, check_nonnegative(noise, "noise"))[0]


def _error_and_scale(a, b, noise):
    """:func:`rel_error` of two float64 arrays already checked, and the scale it divides by."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0))
    if scale == 0.0:
        return 0.0, scale
    return float(max(np.max(np.abs(a - b), initial=0.0) - noise, 0.0) / scale), scale


def _real_array(value, name, *, finite=True):
    """``value`` (an array, a list or a number; integers and float16 included) as a float64
    array, or the TypeError or ValueError of :func:`check_array` naming it."""
    if not isinstance(value, (list, tuple)):
        value = np.asarray(value)
        if value.dtype.kind in "biuf":
            value = value.astype(np.float64)
    return check_array(value, name, finite=finite)


def central_difference_noise(out, dout, h):
    """The rounding error of one central difference of ``sum(f(x) * dout)``, in absolute terms.

    Each of the two sums is rounded with an error of about eps·Σ|out·dout| (eps = 2⁻⁵² in
    float64), and their difference is divided by 2h, so a numerical gradient entry is only
    known to within eps·Σ|out·dout| / h. A gradient entry smaller than that (a bias gradient
    that is a sum of upstream values that nearly cancel, say) cannot be checked more closely:
    for such an entry the relative error would measure the noise, not the backward.

    ``dout`` must have the shape of ``out`` (or be a scalar, as in :func:`numerical_gradient`)
    and ``h`` must be > 0.
    """
    h = check_positive(h, "h")
    out = np.asarray(out)
    if np.shape(dout) not in (out.shape, ()):
        raise ValueError(f"dout must have the shape of out, {out.shape}, got {np.shape(dout)}")
    return float(np.finfo(np.float64).eps * np.sum(np.abs(out * dout)) / h)


@dataclass
class GradientReport:
    """The outcome of :func:`check_gradients`: one relative error per argument.

    Attributes
    ----------
    errors : dict of str -> float
        :func:`rel_error` between the analytic and the numerical gradient of each argument,
        beyond the rounding noise of central differences (:func:`central_difference_noise`).
    problems : dict of str -> str
        For each argument that fails, what the mistake looks like.
    tolerance : float
    """

    errors: dict
    problems: dict = field(default_factory=dict)
    tolerance: float = 1e-6

    @property
    def passed(self):
        return all(error < self.tolerance for error in self.errors.values())

    def __str__(self):
        lines = [f"{'argument':10s} {'relative error':>15s}   status"]
        for name, error in self.errors.items():
            status = "ok" if error < self.tolerance else "WRONG: " + self.problems.get(name, "")
            lines.append(f"{name:10s} {error:15.1e}   {status}")
        if self.passed:
            lines.append(f"all gradients match central differences (tolerance {self.tolerance:g})")
        else:
            wrong = [name for name, error in self.errors.items() if error >= self.tolerance]
            lines.append(f"gradient of {', '.join(wrong)} does not match central differences "
                         f"(tolerance {self.tolerance:g})")
        return "\n".join(lines)


def diagnose(analytic, numeric):
    """Say what kind of mistake makes ``analytic`` differ from ``numeric``.

    If analytic ≈ c · numeric for one constant c, the backward is right up to that factor: c = −1
    is a sign error, any other c a missing or extra constant. Otherwise the shape of the gradient
    itself is wrong. The two gradients must have the same number of entries (they are raveled).
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.size != numeric.size:
        raise ValueError(f"analytic and numeric must have the same number of entries, got shapes "
                         f"{analytic.shape} and {numeric.shape}")
    analytic, numeric = analytic.ravel(), numeric.ravel()
    if not np.any(numeric):
        return "the true gradient is zero but the backward returns a nonzero one"
    if not np.any(analytic):
        return "the backward returns zero but the true gradient is not zero"
    c = float(analytic @ numeric / (numeric @ numeric))
    if rel_error(analytic, c * numeric) < 1e-4:
        if abs(c - 1) < 1e-3:
            return ("close to central differences but above the tolerance: numerical noise, or "
                    "an input too close to a kink")
        if abs(c + 1) < 1e-3:
            return "wrong sign (the backward returns minus the gradient)"
        return f"off by a constant factor: the backward returns {c:.4g} times the gradient"
    return "the gradient differs from central differences by more than a constant factor"


def _argument_names(forward, inputs):
    if isinstance(inputs, dict):
        return list(inputs)
    try:
        parameters = [p.name for p in inspect.signature(forward).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        parameters = []
    return [parameters[i] if i < len(parameters) else f"input{i}" for i in range(len(inputs))]


def check_gradients(forward, backward, inputs, *, seed=0, h=1e-6, tolerance=1e-6):
    """Check a backward pass against central differences, for every input.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (out, cache)`` (the CS231n shape; parameters such as weights are
        inputs too, so they are checked as well).
    backward : callable
        ``backward(dout, cache) -> gradients``: one array per input, in the order of ``inputs``
        (a single array when there is one input). A ``None`` entry means "not computed" and is
        skipped; ``None`` for every input is a ValueError (there would be nothing to check).
    inputs : list or tuple of ndarray, or dict of name -> ndarray
        Finite arrays of numbers, converted to float64 copies (the check needs float64 to be
        meaningful). Names come from the dict keys or from ``forward``'s parameter names. A
        single array must be wrapped: ``[x]``.
    seed : int, Generator or None
        Seed of the random upstream gradient ``dout`` (see :func:`tinyadv.checks.make_rng`).
    h : float > 0
        Step of the central differences.
    tolerance : float > 0
        Largest acceptable :func:`rel_error`.

    Returns
    -------
    GradientReport
        ``report.passed`` is True when every gradient matches; ``print(report)`` shows a table
        and, for each wrong gradient, what the mistake looks like.
    """
    h = check_positive(h, "h")
    tolerance = check_positive(tolerance, "tolerance")
    rng = make_rng(seed)
    if not isinstance(inputs, (list, tuple, dict)):
        raise TypeError(f"inputs must be a list or tuple of arrays (or a dict name -> array), got "
                        f"{type(inputs).__name__}; wrap a single array as [x]")
    if len(inputs) == 0:
        raise ValueError("inputs must hold at least one array to check")
    names = _argument_names(forward, inputs)
    values = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
    arrays = [float64_copy(v, f"input {name!r}") for name, v in zip(names, values)]
    result = forward(*arrays)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("forward must return (out, cache), as in CS231n's layers")
    out, cache = result
    dout = rng.normal(size=np.shape(out))
    gradients = backward(dout, cache)
    if len(arrays) == 1 and (gradients is None or isinstance(gradients, np.ndarray)):
        gradients = (gradients,)
    gradients = tuple(gradients)
    if len(gradients) != len(arrays):
        raise ValueError(f"backward returned {len(gradients)} gradients for {len(arrays)} inputs")

    targets = []
    for name, array, analytic in zip(names, arrays, gradients):
        if analytic is None:
            continue
        if np.shape(analytic) != array.shape:
            raise ValueError(f"gradient of {name} has shape {np.shape(analytic)}, "
                             f"the input has shape {array.shape}")
        targets.append((name, array, analytic))
    if not targets:  # (a report of no errors would read "all gradients match")
        raise ValueError("backward returned None for every input: there is no gradient to check")
    return _compare(targets, lambda: forward(*arrays)[0], out, dout, h, tolerance)


def check_layer(layer, x, *, seed=0, h=1e-6, tolerance=1e-6):
    """:func:`check_gradients` for a tinyadv ``Layer`` object: its input ``x`` and every parameter.

    The check runs on a float64 deep copy of the layer (``copy.deepcopy``, then
    ``astype(np.float64)`` when the layer has it) and a float64 copy of ``x``: the caller's
    layer is left untouched (a BatchNorm's running statistics included), and a float32 layer
    is judged in float64, where central differences are accurate enough to mean something.
    ``seed``, ``h`` and ``tolerance`` are as in :func:`check_gradients`.
    """
    h = check_positive(h, "h")
    tolerance = check_positive(tolerance, "tolerance")
    rng = make_rng(seed)
    if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))
            and isinstance(getattr(layer, "params", None), dict)):
        raise TypeError(f"layer must be a tinyadv Layer (forward, backward and params), "
                        f"got {type(layer).__name__}")
    x = float64_copy(x, "x")
    layer = copy.deepcopy(layer)
    if hasattr(layer, "astype"):
        layer.astype(np.float64)
    out, cache = layer.forward(x)
    dout = rng.normal(size=out.shape)
    dx, grads = layer.backward(dout, cache)
    targets = [("x", x, dx)] + [(name, p.data, grads[name]) for name, p in layer.params.items()]
    return _compare(targets, lambda: layer.forward(x)[0], out, dout, h, tolerance)


# The rounding noise of central differences is forgiven (``rel_error``'s ``noise``) only while
# it is below this fraction of the gradient's largest entry. Beyond it the numerical gradient
# cannot tell a right backward from a wrong one (an output offset of 1e9 on 16 entries let a
# backward that returns 0 pass with error 0), so the error reported is at least noise / scale.
NOISE_LIMIT = 1e-2


def _compare(targets, f, out, dout, h, tolerance):
    """The report for ``targets``, a list of (name, array that ``f`` reads, analytic gradient).

    The noise is that of ``out``'s dtype: a forward that computes in float32 although its
    inputs are float64 is about 1e-7·|out| / h noisy, which is what makes its check fail.
    """
    errors, problems = {}, {}
    out = np.asarray(out)
    machine_eps = np.finfo(out.dtype if out.dtype.kind == "f" else np.float64).eps
    noise = central_difference_noise(out, dout, h) * float(machine_eps / np.finfo(np.float64).eps)
    for name, array, analytic in targets:
        numeric = numerical_gradient(f, array, dout, h)
        analytic = _real_array(analytic, f"the gradient of {name}", finite=False)
        try:  # (check_array's message names NaN or infinite values)
            check_array(analytic, "backward's gradient")
            check_array(numeric, "the central differences (forward is not finite near the input)")
        except ValueError as error:
            errors[name], problems[name] = np.inf, str(error)
            continue
        errors[name], scale = _error_and_scale(analytic, numeric, noise)
        if scale > 0 and noise >= NOISE_LIMIT * scale:
            errors[name] = float(max(errors[name], noise / scale))
            if errors[name] >= tolerance:
                problems[name] = (
                    f"central differences are too noisy to check it: their rounding noise "
                    f"({noise:.2g}) is {noise / scale:.2g} of the gradient's largest entry "
                    f"({scale:.2g}); outputs too large against the gradient, a forward that "
                    f"computes in {out.dtype} rather than float64, or h too small")
        elif errors[name] >= tolerance:
            problems[name] = diagnose(analytic, numeric)
    return GradientReport(errors, problems, tolerance)
