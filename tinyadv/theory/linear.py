"""The geometry of an affine classifier: distances to its boundary in every L_p norm.

A binary linear model scores a sample with f(x) = w·x + b and predicts the class sign(f(x)).
Its decision boundary is the hyperplane {x : w·x + b = 0}, so the smallest perturbation that
changes the decision has a closed form. By Hölder's inequality |w·δ| ≤ ||w||_q ||δ||_p, with q
the *dual* exponent of p (1/p + 1/q = 1: p = ∞ ↔ q = 1, p = 2 ↔ q = 2, p = 1 ↔ q = ∞), so a
perturbation must have ||δ||_p ≥ |f(x)| / ||w||_q to move f(x) to 0, and the bound is reached
by pushing along the direction u_p that attains Hölder's equality:

    L2:  u = w / ||w||_2            (DeepFool's step on a linear model, Moosavi-Dezfooli 2016)
    L∞:  u = sign(w)                (FGSM's direction, Goodfellow et al. 2015)
    L1:  u = sign(w_i) e_i on the coordinate(s) i of largest |w_i| (split among ties).

Every u has ||u||_p = 1 and w·u = ||w||_q. The same u gives the worst case inside an ε-ball,
which is all that adversarial training of a linear model sees: the worst point x − ε·y·u moves
the margin y·f(x) down by exactly ε·||w||_q, i.e. it *translates* the signed distance
d(x) = f(x)/||w||_q by ε (Galloway, Tanay & Taylor 2018, REFERENCES.md §7), while weight decay
only rescales ||w||.

Shapes: x is a batch (N, ...) — (N, D) vectors or (N, C, H, W) images — and w holds one weight
per feature of a sample, in any shape with D = prod(x.shape[1:]) elements (e.g. (D,), (1, D) as
in a logistic regression's fc.weight, or (C, H, W)). An empty batch (0, ...) gives empty
results. Results keep x's dtype (a result beyond its range, such as a score of 1e300 with
float32 x, is refused with a ValueError naming the result and the dtype, and naming eps where
eps is what pushes it out), but the arithmetic is done in float64
and the norms of w as s·||w/s||_q with s = max|w_i|, so that float32 weights such as 1e-23 or
1e20 (whose squares under- or overflow) and float64 weights beyond float32's range give the
exact distances. None of these functions knows about the pixel box [0, 1]: they are the
unconstrained optima.
"""

import math

import numpy as np

from ..checks import check_array, check_finite_real, check_nonnegative, check_norm


def dual_norm(norm):
    """Return the dual exponent q of p: 1 -> np.inf, 2 -> 2, np.inf -> 1 (1/p + 1/q = 1)."""
    norm = check_norm(norm)
    return {1: np.inf, 2: 2, np.inf: 1}[norm]


def _check_real(value, name):
    """``checks.check_finite_real`` that also takes a 0-d array (a NumPy scalar in an array),
    for the theory modules' scalar arguments such as b, an angle or a mean."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return check_finite_real(value, name)


def _check_bias(b, name="b"):
    """Return the bias as a float: a finite real number or an array holding one value."""
    if isinstance(b, np.ndarray):
        b = check_array(b, name)
        if b.size != 1:
            raise ValueError(f"{name} must be a scalar or hold one value, got shape {b.shape}")
        b = b.reshape(())[()]
    return _check_real(b, name)


def _as_list(values, name, what):
    """Return ``values`` as a list after checking it is a list, tuple or 1-D array (a lone
    number or a string is refused rather than iterated over); the caller checks each item."""
    if isinstance(values, (list, tuple, range)) or (
            isinstance(values, np.ndarray) and values.ndim == 1):
        return list(values)
    shape = f" of shape {values.shape}" if isinstance(values, np.ndarray) else f" {values!r}"
    raise TypeError(f"{name} must be a list, tuple or 1-D array of {what}, got "
                    f"{type(values).__name__}{shape}")


def _as_affine(w, b, x):
    """Check (w, b, x); return w (D,) and x (N, D) as float64, b as a float, and x's dtype.

    The arithmetic is done in float64 and only the results are cast back to x's dtype, so a
    float64 w is never rounded to float32 first (1e300 would become inf, 1e-50 zero).
    """
    x = check_array(x, "x", min_ndim=2)
    w = check_array(w, "w")
    n_features = int(np.prod(x.shape[1:]))
    if w.size != n_features:
        raise ValueError(
            f"w must hold one weight per feature of a sample: x has {n_features} features per "
            f"sample (shape {x.shape}), w has {w.size} (shape {w.shape})"
        )
    b = _check_bias(b)
    flat = x.reshape(x.shape[0], n_features).astype(np.float64, copy=False)
    return w.reshape(-1).astype(np.float64, copy=False), b, flat, x.dtype


def _check_nonzero(w):
    if not np.any(w):
        raise ValueError("w is all zeros: the classifier is constant and has no decision boundary")


def _scaled(w, axis=None):
    """Return (w/s, s) with s = max_i |w_i| > 0, so that ||w||_q = s·||w/s||_q never under- or
    overflows: 1 <= ||w/s||_q <= D (squaring 1e-23 or 1e20 in float32 would give 0 or inf).

    With ``axis``, s is the largest |w_i| along that axis, one per slice (kept as a size-1 axis,
    so w/s broadcasts), and an all-zero or empty slice keeps s = 1; without it an all-zero w is
    refused.
    """
    if axis is not None:
        scale = np.max(np.abs(w), axis=axis, keepdims=True, initial=0.0)
        scale = np.where(scale > 0, scale, 1)
        return w / scale, scale
    _check_nonzero(w)
    scale = np.max(np.abs(w))
    return w / scale, scale


def _needs_scaling(w):
    """True when the direct formulas (squares, ||w||_2, dot products with a vector of the same
    kind) could under- or overflow w's dtype or lose precision as subnormals: when max_i |w_i|
    lies outside [sqrt(tiny/eps), sqrt(max/D)/2] of the dtype (about [1e-146, 6e153/sqrt(D)]
    in float64, [3e-16, 9e18/sqrt(D)] in float32; an all-zero w is outside too). Callers then
    work with ``_scaled(w)`` and otherwise keep the direct formula, so that ordinary weights
    give the same bits as without the rescaling."""
    info = np.finfo(w.dtype)
    top = float(np.max(np.abs(w), initial=0.0))
    low = math.sqrt(float(info.tiny) / float(info.eps))
    return not low <= top <= math.sqrt(float(info.max) / max(w.size, 1)) / 2


def _dual_norm_of(w, norm):
    """||w||_q, q the dual exponent of p = ``norm``, as s·||w/s||_q (no squares of tiny or huge
    entries); 0 for w = 0, inf only when the norm itself exceeds the float range."""
    if not np.any(w):
        return 0.0
    unit, scale = _scaled(w)
    return scale * np.linalg.norm(unit, ord=dual_norm(norm))


def _in_dtype(values, dtype, what):
    """Return the float64 ``values`` cast to ``dtype`` after checking that every entry is finite
    there: a value beyond the dtype's range (or beyond float64 on the way) is refused with a
    ValueError naming ``what`` and the dtype."""
    with np.errstate(over="ignore", invalid="ignore"):
        result = values.astype(dtype, copy=False)
    if not np.all(np.isfinite(result)):
        raise ValueError(f"{what} would not be finite in {dtype}: rescale w, b or x")
    return result


def _finite_result(values_at, eps, dtype, what):
    """Return ``values_at(eps)`` (float64, ±inf where it overflows) cast to ``dtype``, after
    checking that every entry is finite there: a result beyond the dtype's range is refused with
    a ValueError naming ``what`` and the dtype, and naming eps when ``values_at(0)`` would fit (it
    is eps that pushes the result out of range; otherwise the scores w·x + b are too large)."""
    with np.errstate(over="ignore", invalid="ignore"):
        result = values_at(eps).astype(dtype, copy=False)
    if np.all(np.isfinite(result)):
        return result
    if eps > 0:
        with np.errstate(over="ignore", invalid="ignore"):
            clean = values_at(0.0).astype(dtype, copy=False)
        if np.all(np.isfinite(clean)):
            raise ValueError(f"eps={eps:g} is too large: {what} would not be finite in {dtype}")
    even = " even with eps = 0" if eps > 0 else ""
    raise ValueError(f"{what} would not be finite in {dtype}{even}: the scores w·x + b are too "
                     f"large for it; rescale w, b or x")


def _eps_dual_norm(eps, w, norm):
    """ε·||w||_q in float64: 0 for ε = 0, and s·||w/s||_q multiplied in as (ε·s)·||w/s||_q when
    ||w||_q alone exceeds float64; inf only when the product itself does."""
    if eps == 0:
        return 0.0
    w_norm = _dual_norm_of(w, norm)
    with np.errstate(over="ignore"):
        if np.isfinite(w_norm):
            return eps * w_norm
        unit, scale = _scaled(w)
        return eps * scale * np.linalg.norm(unit, ord=dual_norm(norm))


def _signed_distance(w, b, x, norm):
    """(w·x + b)/||w||_q for the float64 w (D,), b and x (N, D) of ``_as_affine``, computed as
    ((w/s)·x + b/s)/||w/s||_q with s = max|w| so that no norm under- or overflows."""
    unit, scale = _scaled(w)
    with np.errstate(over="ignore", invalid="ignore"):     # beyond float64: refused by callers
        return (x @ unit + b / scale) / np.linalg.norm(unit, ord=dual_norm(norm))


def linear_scores(w, b, x):
    """Scores f(x_n) = w·x_n + b of an affine classifier.

    Parameters
    ----------
    w : ndarray, D elements in any shape
    b : float or ndarray with one element
    x : ndarray, shape (N, ...), D = prod(x.shape[1:]) features per sample

    Returns
    -------
    f : ndarray, shape (N,), x's dtype
    """
    w, b, x, dtype = _as_affine(w, b, x)
    with np.errstate(over="ignore", invalid="ignore"):
        return _in_dtype(x @ w + b, dtype, "the scores w·x + b")


def dual_direction(w, norm):
    """The unit-L_p direction u that attains Hölder's equality w·u = ||w||_q.

    Parameters
    ----------
    w : ndarray, shape (D,) or any shape
    norm : 1, 2 or np.inf
        p, the norm in which ||u||_p = 1.

    Returns
    -------
    u : ndarray, shape of w, w's dtype

    Notes
    -----
    L2: u = w / ||w||_2.  L∞: u = sign(w).  L1: u_i = sign(w_i)/k on the k coordinates where
    |w_i| = max_j |w_j| (ties share the unit mass, as in CleverHans' ``optimize_linear``), else 0.
    In each case ||u||_p = 1 and w·u = ||w||_q with q the dual exponent of p.
    """
    norm = check_norm(norm)
    w = check_array(w, "w")
    _check_nonzero(w)
    if norm == 2:
        unit, _ = _scaled(w)            # w/max|w|: its squares neither underflow nor overflow
        return unit / np.linalg.norm(unit)
    if norm == np.inf:
        return np.sign(w)
    magnitude = np.abs(w)
    top = magnitude == magnitude.max()
    return np.where(top, np.sign(w), 0).astype(w.dtype) / np.count_nonzero(top)


def minimal_linear_distance(w, b, x, norm):
    """Exact smallest L_p distance from each x_n to the boundary w·x + b = 0.

    Parameters
    ----------
    w : ndarray, D elements in any shape
    b : float or ndarray with one element
    x : ndarray, shape (N, ...), D = prod(x.shape[1:])
    norm : 1, 2 or np.inf
        p, the norm the distance is measured in.

    Returns
    -------
    distance : ndarray, shape (N,), x's dtype

    Notes
    -----
    distance_n = |w·x_n + b| / ||w||_q, q the dual exponent of p (p = ∞ → ||w||_1,
    p = 2 → ||w||_2, p = 1 → ||w||_∞). Hölder's inequality makes it a lower bound on every
    perturbation that reaches the boundary, and ``minimal_linear_perturbation`` attains it.
    No pixel box: this is the unconstrained optimum, a lower bound for any box-constrained
    attack on the same linear model.
    """
    norm = check_norm(norm)
    w, b, x, dtype = _as_affine(w, b, x)
    distance = np.abs(_signed_distance(w, b, x, norm))
    return _in_dtype(distance, dtype, "the distance |w·x + b|/||w||_q")


def minimal_linear_perturbation(w, b, x, norm, *, overshoot=0.0):
    """Exact smallest L_p perturbation δ_n that moves each x_n onto the boundary w·x + b = 0.

    Parameters
    ----------
    w : ndarray, D elements in any shape
    b : float or ndarray with one element
    x : ndarray, shape (N, ...), D = prod(x.shape[1:])
    norm : 1, 2 or np.inf
        p, the norm in which δ is smallest.
    overshoot : float >= 0
        Return (1 + overshoot)·δ, which crosses the boundary when overshoot > 0 (DeepFool's
        convention, Moosavi-Dezfooli et al. 2016). With 0 the point lands on the boundary.

    Returns
    -------
    delta : ndarray, same shape and dtype as x

    Notes
    -----
    With f = w·x + b and q the dual exponent of p,

        δ = −f·u_p / ||w||_q,   ||δ||_p = |f| / ||w||_q,   w·(x + δ) + b = 0,

    that is  L2: δ = −f·w/||w||_2²;  L∞: δ = −f·sign(w)/||w||_1;  L1: δ = −f/w_i on the
    coordinate i of largest |w_i| (split evenly among ties). For L2 this is one DeepFool step
    on the linear model. Unconstrained: no pixel box is applied, so x + δ may leave [0, 1].
    """
    norm = check_norm(norm)
    overshoot = check_nonnegative(overshoot, "overshoot")
    w_flat, b, x_flat, dtype = _as_affine(w, b, x)
    with np.errstate(over="ignore", invalid="ignore"):
        distance = (1.0 + overshoot) * _signed_distance(w_flat, b, x_flat, norm)
        delta = -distance[:, None] * dual_direction(w_flat, norm)[None, :]
    return _in_dtype(delta, dtype, "the minimal perturbation").reshape(np.shape(x))


def check_signed_labels(y, n, name="y"):
    """Return ``y`` as a float vector of length ``n`` after checking every entry is −1 or +1.

    The linear-model formulas of the papers (Goodfellow et al. 2015, Galloway et al. 2018) write
    labels as y ∈ {−1, +1}; class id 1 ↔ y = +1, class id 0 ↔ y = −1 (convert with 2·y − 1).
    """
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if not isinstance(y, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array of labels in {{-1, +1}}, got {type(y).__name__}"
        )
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {y.shape}")
    if not np.all((y == 1) | (y == -1)):
        raise ValueError(f"{name} must hold labels -1 or +1 (convert class ids with 2*y - 1)")
    return y.astype(np.float64)


def worst_case_linear_perturbation(w, x, y, *, eps, norm):
    """The perturbation η with ||η||_p ≤ ε that minimises the margin y·(w·(x + η) + b).

    Parameters
    ----------
    w : ndarray, D elements in any shape
    x : ndarray, shape (N, ...), D = prod(x.shape[1:])
    y : ndarray, shape (N,), labels in {−1, +1}
    eps : float >= 0
    norm : 1, 2 or np.inf

    Returns
    -------
    eta : ndarray, same shape and dtype as x

    Notes
    -----
    η = −ε·y·u_p, with u_p the unit dual direction (``dual_direction``); the margin drops by
    exactly ε·||w||_q. For L∞ this is η = −ε·y·sign(w), the worst case that Goodfellow et al.
    2015 put inside the logistic loss; for L2 it is −ε·y·w/||w||_2 (Galloway et al. 2018). The
    bias does not enter. No pixel box.
    """
    norm = check_norm(norm)
    eps = check_nonnegative(eps, "eps")
    w_flat, _, x_flat, dtype = _as_affine(w, 0.0, x)
    y = check_signed_labels(y, x_flat.shape[0])
    u = dual_direction(w_flat, norm)
    eta = _finite_result(lambda e: -e * y[:, None] * u[None, :], eps, dtype,
                         f"the perturbation -eps·y·u_p (entries up to eps·{np.abs(u).max():.3g})")
    return eta.reshape(np.shape(x))


def signed_distance(w, b, x, norm=2):
    """Signed distance d_p(x) = (w·x + b)/||w||_q of each x_n to the boundary.

    Parameters
    ----------
    w, b, x : as in ``linear_scores``; x of shape (N, ...)
    norm : 1, 2 or np.inf (default 2, the Euclidean distance)

    Returns
    -------
    d : ndarray, shape (N,), x's dtype

    Notes
    -----
    w·x + b = ||w||_q · d_p(x): the score factors into a scale that only depends on the
    weights and a geometric distance. For p = 2 this is REFERENCES.md §7's
    wᵀx + b = ||w||_2·d(x) (Galloway, Tanay & Taylor 2018). Scaling (w, b) by c > 0 leaves d
    unchanged — which is all that L2 weight decay acts on.
    """
    norm = check_norm(norm)
    w_flat, b, x_flat, dtype = _as_affine(w, b, x)
    return _in_dtype(_signed_distance(w_flat, b, x_flat, norm), dtype, "the signed distance")


def worst_case_margin(w, b, x, y, *, eps, norm=2):
    """Margin y·f(x + η) at the worst point of the ε-ball: ||w||_q·(y·d_p(x) − ε).

    Parameters
    ----------
    w, b, x : as in ``linear_scores``; x of shape (N, ...)
    y : ndarray, shape (N,), labels in {−1, +1}
    eps : float >= 0
    norm : 1, 2 or np.inf

    Returns
    -------
    margin : ndarray, shape (N,), x's dtype

    Notes
    -----
    min over ||η||_p ≤ ε of y·(w·(x + η) + b) = y·f(x) − ε·||w||_q = ||w||_q·(y·d_p(x) − ε).
    For p = 2 and b = 0 this is REFERENCES.md §7's y·wᵀ(x − ε·y·w/||w||) = ||w||(y·d − ε):
    adversarial training *translates* the distance by ε inside the loss softplus(−margin),
    where weight decay only changes the scale ||w|| (Galloway, Tanay & Taylor 2018).
    """
    norm = check_norm(norm)
    eps = check_nonnegative(eps, "eps")
    w_flat, b, x_flat, dtype = _as_affine(w, b, x)
    d = _signed_distance(w_flat, b, x_flat, norm)
    y = check_signed_labels(y, d.shape[0])
    with np.errstate(over="ignore"):
        w_norm = _dual_norm_of(w_flat, norm)
    if not np.isfinite(w_norm):     # ||w||_q beyond float64: s·(||w/s||_q·(y·d − ε)) may fit
        unit, scale = _scaled(w_flat)
        unit_norm = np.linalg.norm(unit, ord=dual_norm(norm))

    def margin_at(e):
        if np.isfinite(w_norm):
            return w_norm * (y * d - e)
        return scale * (unit_norm * (y * d - e))

    return _finite_result(margin_at, eps, dtype, "the worst-case margin ||w||_q·(y·d - eps)")
