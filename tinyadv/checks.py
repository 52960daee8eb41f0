"""Input checks shared by layers, losses, models and attacks.

Bad input should fail at the door with a message that names the problem (which argument, what
shape or dtype or range it had, what was expected), not three frames deep inside NumPy. Every
public entry point calls one of these small functions on what it was given.

Type problems (not an array, integer pixels, float labels) raise ``TypeError``; value problems
(wrong rank or shape, NaN, out-of-range labels, negative eps, unknown norm) raise ``ValueError``.
"""

import math
import numbers

import numpy as np


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_LARGEST_FLOAT = float(np.finfo(np.float64).max)
INT64_MAX = 2 ** 63 - 1  # NumPy's sizes and Numba's integers: the largest count they can hold


def check_array(x, name="x", *, ndim=None, min_ndim=None, finite=True):
    """Return ``x`` as a floating NumPy array after checking its type, rank and values.

    Parameters
    ----------
    x : array_like
        Must already be a floating array (float32 or float64); lists are converted to float64,
        and a float32/float64 array in the other byte order (big-endian, ``'>f4'``) is returned
        as a copy in the native one (the same numbers).
    name : str
        The argument's name, used in error messages.
    ndim : int or tuple of int, optional
        Allowed number of dimensions.
    min_ndim : int, optional
        Smallest allowed number of dimensions.
    finite : bool
        Refuse NaN and infinite values (default).
    """
    if not (type(x) is np.ndarray and x.dtype in _FLOATS):  # (the common case skips these
        x = _as_float_array(x, name)  # checks, 0.5-2 µs each: the layers call this per chunk)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {x.shape}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {x.shape}")
    if finite and not np.isfinite(x).all():
        bad = "NaN" if np.isnan(x).any() else "infinite values"
        raise ValueError(f"{name} contains {bad}")
    return x


def _as_float_array(x, name):
    """``x`` as a float32 or float64 array (a list as float64, a non-native byte order as the
    native one, a subclass such as ``np.matrix`` or ``np.memmap`` as a plain ndarray view, a
    masked array with no entry masked as its data), or the TypeError naming why not."""
    if isinstance(x, (list, tuple)):
        x = _list_as_float64(x, name)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    x = as_plain_ndarray(x, name)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), got dtype {x.dtype}; "
            f"convert images with x.astype(np.float32) / 255"
        )
    if x.dtype.newbyteorder("=") in _FLOATS:  # (a big-endian file)
        x = native_byte_order(x)
    if x.dtype not in _FLOATS:  # float16, longdouble: no kernel computes in them
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {x.dtype}; "
                        f"convert it with x.astype(np.float32)")
    return x


def native_byte_order(a):
    """The array ``a`` itself if its dtype is in this machine's byte order, else a copy that is:
    the same numbers (an array from a file written on a big-endian machine, ``'>f4'``), which
    the compiled kernels and the float32/float64 checks take."""
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def _list_as_float64(x, name):
    """The (nested) list or tuple of real numbers ``x`` as a float64 array; ValueError for a
    ragged one, TypeError for one holding strings, None, complex numbers or other objects
    (``np.asarray(x, dtype=float)`` would read "0.5" as 0.5 and None as NaN)."""
    try:
        a = np.asarray(x)
    except ValueError:  # (NumPy: "setting an array element with a sequence ... inhomogeneous")
        raise ValueError(f"{name} is a ragged list (rows of different lengths), "
                         f"not an array") from None
    if a.dtype.kind in "biuf":
        return a.astype(np.float64)
    if a.dtype.kind == "O" and all(isinstance(v, numbers.Real) for v in a.flat):
        # Python ints beyond int64 (then a 10**400 is inf, refused as not finite) or Fractions
        return np.array([_as_float(v) for v in a.flat], dtype=np.float64).reshape(a.shape)
    held = (", ".join(sorted({type(v).__name__ for v in a.flat})) if a.dtype.kind == "O"
            else f"dtype {a.dtype}")
    raise TypeError(f"{name} must be an array or a list of real numbers, got a list of {held}")


def as_plain_ndarray(a, name):
    """The ndarray ``a`` as a plain ``np.ndarray``: a subclass as a view (``np.matrix`` would
    keep every slice and sum 2-D), a masked array with no entry masked as its data; ValueError
    for one with masked entries (the kernels would read the values under the mask). For the
    checks that take arrays of any dtype, as :func:`check_array` does for float arrays."""
    if type(a) is np.ndarray:
        return a
    if isinstance(a, np.ma.MaskedArray):
        masked = int(np.count_nonzero(np.ma.getmaskarray(a)))
        if masked:
            raise ValueError(f"{name} is a masked array with {masked} masked entries; "
                             f"fill them first ({name}.filled(value))")
        return np.asarray(a.data)
    return np.asarray(a)


def check_float_dtype(dtype, name="dtype"):
    """Return ``dtype`` as ``np.dtype`` after checking it is float32 or float64, the two dtypes
    that tinyadv's layers and kernels compute in."""
    try:
        resolved = None if dtype is None else np.dtype(dtype)  # (np.dtype(None) is float64)
    except TypeError:
        resolved = None
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dtype!r}")
    return resolved


def check_labels(y, n, num_classes, name="y"):
    """Return ``y`` as an int64 vector of length ``n`` with values in ``[0, num_classes)``.

    ``num_classes`` is the number of logits; a single-logit (binary) model has two classes.
    None checks everything but the range (for when the logits are not known yet); ``n`` None
    takes a vector of any length (labels that are not of a batch).
    """
    if isinstance(y, (list, tuple, range)):
        try:  # (an empty list is an empty int64 vector, not NumPy's float64 one)
            y = np.asarray(y) if len(y) else np.zeros(0, np.int64)
        except ValueError:  # (NumPy: "setting an array element with a sequence ... inhomogeneous")
            raise ValueError(f"{name} is a ragged list, not a vector of labels") from None
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of integer labels, got {type(y).__name__}")
    y = as_plain_ndarray(y, name)
    if y.dtype.kind not in "biu":  # (integers, or booleans as the labels 0 and 1)
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n is None and y.ndim != 1:
        raise ValueError(f"{name} must be a vector of labels (1-D), got shape {y.shape}")
    if n is not None and (y.ndim != 1 or y.shape[0] != n):
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {y.shape}")
    num_classes = np.inf if num_classes is None else max(int(num_classes), 2)
    if y.size and y.dtype == np.uint64 and y.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds labels too large for int64 (max {y.max()})")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{name} holds labels outside [0, {num_classes - 1}] "
            f"(found min {y.min()}, max {y.max()})"
        )
    return y.astype(np.int64, copy=False)


def check_finite_real(value, name):
    """Return ``value`` as a float after checking it is a finite real number (not a bool, not a
    string, not an array)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = _as_float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def as_finite_in(value, dtype, name):
    """``value``, a finite real number, rounded to the float ``dtype``; ValueError where it is
    beyond that dtype's range there (1e39 is inf in float32)."""
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore"):
        rounded = dtype.type(value)
    if np.isinf(rounded):
        raise ValueError(f"{name} is {value:g}, beyond {dtype} (whose largest value is "
                         f"{np.finfo(dtype).max:g})")
    return rounded


def _as_float(value):
    """``float(value)`` of a real number; an int too large for a float is ±inf (then refused as
    not finite, or an open end of a box, rather than failing with OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return np.inf if value > 0 else -np.inf


def check_nonnegative(value, name):
    """Return ``value`` as a float after checking it is a finite number >= 0 (e.g. eps, alpha).

    NaN, infinities and negative numbers are refused. -0.0 is accepted and returned as +0.0:
    NumPy's ``rng.uniform(-eps, eps)`` would refuse eps = -0.0 ("high - low < 0").
    """
    if type(value) is float and 0.0 <= value <= _LARGEST_FLOAT:  # the common case, at once
        return value + 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = _as_float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value + 0.0  # (-0.0 + 0.0 is +0.0; any other value is unchanged)


def check_shape(shape, name="shape", *, minimum=0):
    """Return ``shape`` (a tuple, list or 1-D array of ints >= ``minimum`` and < 2**63, at least
    one) as a tuple of ints."""
    if isinstance(shape, np.ndarray) and shape.ndim == 1:
        shape = tuple(shape.tolist())
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
    if len(shape) == 0 or min(shape) < minimum:
        sizes = "positive ints" if minimum == 1 else f"ints >= {minimum}"
        raise ValueError(f"{name} must be a non-empty tuple of {sizes}, got {shape!r}")
    if max(shape) > INT64_MAX:
        raise ValueError(f"{name} must hold sizes < 2**63, got {_int_text(max(shape))}")
    return tuple(int(s) for s in shape)


def check_fits(shape, itemsize, what):
    """Raise ValueError unless an array of ``shape`` (ints >= 0) with ``itemsize`` bytes per
    value can exist: at most 2**63 - 1 bytes, NumPy's limit, which it enforces deep inside
    ("array is too big", "Maximum allowed dimension exceeded"; a size past int64 failed in
    Numba, or in np.sqrt as a Python int). ``what`` names the arguments that asked for it,
    e.g. "padding=2**62: the padded input", or is a function that returns that text (for a
    check made in every chunk: the text is written only when it is needed). A size that fits
    may still not be free (MemoryError)."""
    if max(shape, default=0) > INT64_MAX or math.prod(shape) * itemsize > INT64_MAX:
        what = what() if callable(what) else what
        raise ValueError(f"{what} would have shape {tuple(shape)}, more than the 2**63 - 1 "
                         f"bytes an array can hold")


def check_same_shape(*, batch=False, **arrays):
    """Raise unless the named arrays (``x=x, grad=grad, ...``) are NumPy arrays all shaped like
    the first: TypeError naming a non-array, ValueError naming a wrong shape. With ``batch=True``
    the first must also have at least one dimension (N first).

    For the helpers that run on every step (an attack's step, the image of w, Adam's step):
    shapes only, O(1), where a mismatch would otherwise broadcast or fail in a reshape.
    """
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    (first, a0), *others = arrays.items()
    if batch and a0.ndim == 0:
        raise ValueError(f"{first} must have at least one dimension (N first), got shape ()")
    for name, a in others:
        if a.shape != a0.shape:
            raise ValueError(f"{name} must have the shape of {first} {a0.shape}, got {a.shape}")


def check_positive(value, name):
    """Return ``value`` as a float after checking it is a finite number > 0 (a step, a rate)."""
    try:
        positive = check_nonnegative(value, name)
    except ValueError:  # (its message would say ">= 0")
        raise ValueError(f"{name} must be a finite number > 0, got {value}") from None
    if positive == 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return positive


def check_positive_int(value, name, *, minimum=1, maximum=INT64_MAX):
    """Return ``value`` as an int after checking it is an integer >= ``minimum`` and <=
    ``maximum``: by default 2**63 - 1, as a count or size beyond int64 failed deep inside NumPy
    or Numba (a TypingError, an OverflowError); ``math.inf`` for none."""
    if type(value) is int and minimum <= value <= maximum:  # the common case, at once
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {_int_text(value)}")
    if value > maximum:
        bound = "< 2**63" if maximum == INT64_MAX else f"<= {maximum}"
        raise ValueError(f"{name} must be {bound}, got {_int_text(value)}")
    return int(value)


def _int_text(value):
    """The integer ``value`` for a message: its digits, or its size when it has too many (str()
    of more than 4300 digits raises ValueError)."""
    value = int(value)
    return str(value) if value.bit_length() <= 256 else f"an integer of {value.bit_length()} bits"


def check_bool(value, name):
    """Return ``value`` as a bool after checking it is one (NumPy's bool included).

    A flag such as ``targeted`` given the string "False" would otherwise count as true.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_norm(norm):
    """Return the norm as ``1``, ``2`` or ``np.inf``; accept the strings "1", "2", "inf", "linf"."""
    if isinstance(norm, str):
        key = norm.strip().lower()
        table = {"1": 1, "l1": 1, "2": 2, "l2": 2, "inf": np.inf, "linf": np.inf}
        if key in table:
            return table[key]
    elif isinstance(norm, numbers.Real) and not isinstance(norm, bool):
        if norm == 1:
            return 1
        if norm == 2:
            return 2
        if norm == np.inf:
            return np.inf
    raise ValueError(f"unknown norm {norm!r}: use 1, 2 or np.inf")


def check_clip(clip):
    """Return ``clip`` as ``(low, high)`` floats with low < high, or None (no box).

    A bound may be infinite (``(0, np.inf)`` keeps values non-negative); the attacks that use
    the box's ends as pixel values ask for a finite box with :func:`check_finite_clip`.
    """
    if clip is None:
        return None
    try:
        if isinstance(clip, (str, bytes)):
            raise TypeError
        low, high = clip
        low, high = _as_float(low), _as_float(high)
    except (TypeError, ValueError):
        raise TypeError(f"clip must be a pair (low, high) or None, got {clip!r}") from None
    if not low < high:
        raise ValueError(f"clip must satisfy low < high, got {clip!r}")
    return low, high


def check_finite_clip(clip, who):
    """Raise ValueError unless the checked box ``clip`` has finite ends (``who`` sets pixels to
    them, or maps the box onto tanh's range)."""
    if clip is not None and not (np.isfinite(clip[0]) and np.isfinite(clip[1])):
        raise ValueError(f"{who} needs a box with finite ends, got clip={clip}")


def check_generator(rng, name="rng"):
    """Return ``rng`` after checking it is a ``numpy.random.Generator`` (TypeError otherwise):
    for the functions that draw from a generator they are given, not from a seed."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def make_rng(seed):
    """Return a ``numpy.random.Generator`` from a seed, a Generator, or None (fresh entropy).

    A seed is a non-negative int, or a list, tuple or 1-D array of them (NumPy's
    ``SeedSequence`` entropy: ``[seed, i]`` gives the i-th of several independent streams), or
    a ``SeedSequence`` or bit generator as NumPy's ``default_rng`` takes them. This is scikit-learn's
    ``random_state`` rule: randomness only ever comes from here.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(seed)
    if isinstance(seed, np.ndarray) and seed.ndim == 1:
        seed = seed.tolist()
    entropy = list(seed) if isinstance(seed, (list, tuple)) and len(seed) else [seed]
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in entropy):
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")
    if min(entropy) < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return np.random.default_rng(seed)
