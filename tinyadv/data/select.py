"""Turn a raw data set into what an experiment asks for: classes, labels, size and dtype.

Every loader reads its official files into ``uint8`` images of shape (N, C, H, W) and integer
labels, then calls :func:`finish` here, so the options mean the same thing for every data set:

1. ``classes`` keeps only the listed classes, in the order they appear in the file. Labels stay
   the original class ids (``classes=(3, 7)`` gives labels 3 and 7).
2. ``binary=True`` (needs exactly two classes) relabels ``classes[0] -> 1`` and
   ``classes[1] -> 0``: the first class you name is the positive one. The MNIST 3-vs-7 logistic
   regression of Goodfellow et al. 2015 §5, with the labels of Galloway, Tanay & Taylor 2018
   (arXiv 1804.03308: 3 -> 1, 7 -> 0), is ``classes=(3, 7), binary=True``.
3. ``limit`` keeps the first ``limit`` examples after filtering (no shuffling, so the result is
   the same on every machine).
4. ``dtype`` is ``np.float32`` (default) or ``np.float64`` for pixels in [0, 1] (pixel / 255),
   or ``np.uint8`` for the raw pixels.
"""

import numbers

import numpy as np

from tinyadv.checks import check_bool, check_labels, check_positive_int

SPLITS = ("train", "test")


def check_split(split, splits=SPLITS):
    """Return ``split`` after checking it is one of ``splits``."""
    if not isinstance(split, str) or split not in splits:
        raise ValueError(f"split must be one of {', '.join(repr(s) for s in splits)}, got {split!r}")
    return split


def check_dtype(dtype):
    """Return ``dtype`` as a NumPy dtype after checking it is float32, float64 or uint8."""
    if dtype is None:      # np.dtype(None) would quietly mean float64
        raise TypeError("dtype must be np.float32, np.float64 or np.uint8, got None")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32, np.float64 or np.uint8, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64, np.uint8):
        raise ValueError(f"dtype must be np.float32, np.float64 or np.uint8, got {dtype}")
    return dtype


def check_classes(classes, num_classes=None, *, binary=False):
    """Return ``classes`` as a tuple of distinct ints in ``[0, num_classes)``, or None.

    ``num_classes=None`` only asks for ids >= 0. With ``binary=True`` exactly two classes are
    required (positive first).
    """
    binary = check_bool(binary, "binary")
    if classes is None:
        if binary:
            raise ValueError("binary=True needs classes=(positive, negative), e.g. classes=(3, 7)")
        return None
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise TypeError(f"classes must be a sequence of class ids such as (3, 7), got {classes!r}")
    if binary and isinstance(classes, (set, frozenset)):  # no order: which class is positive?
        raise TypeError(f"binary=True needs classes in order, (positive, negative) such as "
                        f"(3, 7), got a {type(classes).__name__}")
    classes = tuple(classes)
    for c in classes:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise TypeError(f"classes must hold integer class ids, got {c!r} in {classes!r}")
        if c < 0 or (num_classes is not None and c >= num_classes):
            top = "" if num_classes is None else f", {num_classes - 1}"
            raise ValueError(f"class id {c} is outside [0{top}] in classes={classes!r}")
    classes = tuple(int(c) for c in classes)
    if len(classes) == 0:
        raise ValueError("classes must name at least one class, got an empty sequence")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes!r}")
    if binary and len(classes) != 2:
        raise ValueError(
            f"binary=True needs exactly two classes (positive, negative), got classes={classes!r}"
        )
    return classes


def select_classes(x, y, classes, *, binary=False):
    """Keep the examples whose label is in ``classes``; optionally relabel two classes to 1/0.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
        Images (any dtype); a list is refused (convert it with ``np.asarray``).
    y : ndarray of int, shape (N,)
        Class ids >= 0 (integer dtype: float labels are refused, not rounded).
    classes : sequence of int
        Classes to keep, in any order; the kept examples stay in file order. Required.
    binary : bool
        If True, ``classes`` must be ``(positive, negative)`` and the labels become
        ``y == positive -> 1``, ``y == negative -> 0`` (MNIST 3-vs-7: ``classes=(3, 7)``).

    Returns
    -------
    x_sel : ndarray, shape (M, ...)
    y_sel : ndarray of int64, shape (M,)
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array of shape (N, ...), got {type(x).__name__}; "
                        f"convert it with np.asarray(x)")
    if x.ndim == 0:
        raise ValueError("x must have shape (N, ...), got a 0-dimensional array")
    if classes is None:
        raise TypeError("classes must name the classes to keep, such as (3, 7), got None")
    y = check_labels(y, len(x), None, "y")
    classes = check_classes(classes, binary=binary)
    keep = np.isin(y, classes)
    x_sel, y_sel = x[keep], y[keep].astype(np.int64)
    if binary:
        y_sel = (y_sel == classes[0]).astype(np.int64)
    return x_sel, y_sel


def finish(x, y, *, num_classes, classes=None, binary=False, limit=None, dtype=np.float32):
    """Apply the common loader options to raw ``uint8`` images and labels.

    Parameters
    ----------
    x : ndarray of uint8, shape (N, C, H, W)
    y : ndarray of int, shape (N,), values in [0, num_classes)
    num_classes : int
        Number of classes of the data set (10 for all of tinyadv's).
    classes, binary, limit, dtype
        See the module docstring.

    Returns
    -------
    x : ndarray, shape (M, C, H, W), ``dtype`` (floats are ``x / 255`` in [0, 1]), C-contiguous
    y : ndarray of int64, shape (M,)

    Other images (floats already in [0, 1], int16, a list) and labels that are not integers in
    [0, num_classes), one per image, are refused.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8):
        what = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"x must be a NumPy array of raw uint8 pixels, got {what}")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    y = check_labels(y, len(x), num_classes).copy()  # (a copy: the result never aliases y)
    classes = check_classes(classes, num_classes, binary=binary)
    dtype = check_dtype(dtype)
    if limit is not None:
        limit = check_positive_int(limit, "limit")
    if classes is not None:
        x, y = select_classes(x, y, classes, binary=binary)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    if dtype == np.uint8:
        return np.ascontiguousarray(x, dtype=np.uint8), y
    out = x.astype(dtype, order="C")   # (C order, as for uint8: SVHN's x is a transposed view)
    out /= dtype.type(255)
    return out, y
