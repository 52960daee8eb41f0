"""The linearity argument and its rebuttal: what grows with the input dimension n.

Goodfellow, Shlens & Szegedy (2015, REFERENCES.md §1) explain adversarial examples by the
linearity of the models. For one unit w·x and a perturbation η with ||η||_∞ ≤ ε,

    w·x̃ = w·x + w·η,

and η = ε·sign(w) makes the change w·η = ε·||w||_1 = ε·m·n, with m = mean_j |w_j| and n the
dimension: many small changes add up to one large change, linearly in n, while ||η||_∞ stays ε.

Tanay & Griffin (2016, REFERENCES.md §2) answer that the clean activation w·x grows with n as
well: when the coordinates (w_j, x_j) keep one distribution as n grows and E[w_j x_j] ≠ 0 — the
unit responds to its input, as a trained classifier's score responds to its class — both terms
are sums of n i.i.d. terms, and the ratio

    ε·||w||_1 / |w·x|  →  ε·E|w_j| / |E[w_j x_j]|

does not grow with n. (Only when w is unrelated to x, E[w_j x_j] = 0, is |w·x| of order √n and
the ratio grows like √n; ``linearity_sweep`` computes both cases so the difference can be seen.)
So the dimension alone does not make the perturbation large *relative to the signal*; the
boundary-tilting view (``tilting``) explains instead where small adversarial distances come from.

Shapes: w is (n,) or (M, n) (M units); x is (N, n) inputs; the last axis is the dimension n.
"""

import math

import numpy as np

from ..checks import check_array, check_fits, check_nonnegative, check_positive_int, make_rng
from .linear import _as_list, _check_real, _finite_result, _scaled


def sign_perturbation(w, *, eps):
    """Goodfellow's max-norm perturbation η = ε·sign(w), which maximises w·η over ||η||_∞ ≤ ε.

    Parameters
    ----------
    w : ndarray, shape (..., n)
    eps : float >= 0

    Returns
    -------
    eta : ndarray, shape and dtype of w
        An eps beyond the range of w's dtype (1e300 with float32 w) is refused with a
        ValueError naming eps and the dtype, rather than returned as ±inf.
    """
    w = check_array(w, "w", min_ndim=1)
    eps = check_nonnegative(eps, "eps")
    # ε·sign(w) in float64 then rounded once to w's dtype (as ε rounded to it times ±1 would
    # be), so that a zero w_j gives 0 rather than inf·0 = NaN when ε is beyond the dtype
    return _finite_result(lambda e: e * np.sign(w).astype(np.float64), eps, w.dtype, "eps·sign(w)")


def activation_change(w, *, eps):
    """The change w·η of a linear unit under η = ε·sign(w): exactly ε·||w||_1 = ε·m·n.

    Parameters
    ----------
    w : ndarray, shape (n,) or (M, n)
        One unit's weights, or M units' weights as rows.
    eps : float >= 0

    Returns
    -------
    change : ndarray, shape () or (M,), w's dtype
        A change beyond the range of w's dtype is refused with a ValueError naming eps and
        the dtype, rather than returned as inf.

    Notes
    -----
    w·η = Σ_j w_j·ε·sign(w_j) = ε·Σ_j |w_j| = ε·||w||_1 = ε·m·n, m = mean_j |w_j|
    (Goodfellow et al. 2015, section 3). It is the largest change any ||η||_∞ ≤ ε can make.
    """
    w = check_array(w, "w", ndim=(1, 2))
    eta = sign_perturbation(w, eps=eps)
    with np.errstate(over="ignore"):
        change = np.sum(w * eta, axis=-1)
    if not np.all(np.isfinite(change)):
        raise ValueError(f"eps={eps:g} is too large: the change eps·||w||_1 (max |w| = "
                         f"{np.abs(w).max():.3g}, {w.shape[-1]} weights) would not be finite in "
                         f"{w.dtype}")
    return change


def linearity_ratio(w, x, *, eps):
    """Tanay & Griffin's ratio ε·||w||_1 / |w·x|: the largest L∞ change relative to the activation.

    Parameters
    ----------
    w : ndarray, shape (n,) or (N, n)
        One weight vector for all inputs, or one per input.
    x : ndarray, shape (N, n)
    eps : float >= 0

    Returns
    -------
    ratio : ndarray, shape (N,), x's dtype
        inf where w·x = 0 < ε·||w||_1. Where both are 0 (ε = 0 or a zero w) the ratio is 0/0,
        which is refused with a ValueError, and so is a finite ratio beyond x's dtype. The
        ratio is computed in float64 with each row of w and of x divided by its largest |entry|
        (ŵ, x̂), as ε·||ŵ||_1/|ŵ·x̂| / max|x|, so that no sum under- or overflows (weights of
        1e300 or 1e-30 with float32 x, for example), then rounded once to x's dtype.

    Notes
    -----
    If the pairs (w_j, x_j) are i.i.d. with E[w_j x_j] ≠ 0, both numerator and denominator are
    sums of n i.i.d. terms, so the ratio tends to ε·E|w_j| / |E[w_j x_j]| as n grows instead of
    growing with n (Tanay & Griffin 2016, section 3).
    """
    x = check_array(x, "x", ndim=2)
    w = check_array(w, "w", ndim=(1, 2))
    if w.shape[-1] != x.shape[1] or (w.ndim == 2 and w.shape[0] != x.shape[0]):
        raise ValueError(
            f"w must have shape ({x.shape[1]},) or ({x.shape[0]}, {x.shape[1]}) to match x of "
            f"shape {x.shape}, got {w.shape}"
        )
    eps = check_nonnegative(eps, "eps")
    w_unit, _ = _scaled(np.broadcast_to(w, x.shape).astype(np.float64), axis=1)
    x_unit, x_scale = _scaled(x.astype(np.float64), axis=1)
    x_scale = x_scale[:, 0]
    l1 = np.sum(np.abs(w_unit), axis=1)                 # in [1, n], 0 for a zero row of w
    dot = np.abs(np.sum(w_unit * x_unit, axis=1))       # ŵ·x̂ has no under- or overflow to fear
    undefined = np.flatnonzero((eps * l1 == 0) & (dot == 0))
    if undefined.size:
        raise ValueError(
            f"linearity_ratio is 0/0 for sample(s) {undefined[:5].tolist()}: both "
            f"eps·||w||_1 (eps = {eps:g}) and w·x are 0 there"
        )
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        quotient = l1 / dot                             # >= 1, inf where w·x = 0
        # ε·quotient/max|x| in the order that cannot overflow when the result fits
        ratio = np.where(x_scale >= 1, (eps / x_scale) * quotient, (eps * quotient) / x_scale)
        ratio = ratio.astype(x.dtype)
    too_large = np.flatnonzero(~np.isfinite(ratio) & (dot != 0))
    if too_large.size:
        raise ValueError(
            f"linearity_ratio would not be finite in {x.dtype} for sample(s) "
            f"{too_large[:5].tolist()}: eps·||w||_1/|w·x| (eps = {eps:g}) is beyond its range there"
        )
    return ratio


def folded_normal_mean(mean, std):
    """E|w| for w ~ N(mean, std²), ``mean`` a finite real number and ``std`` >= 0.

    With r = mean/std: E|w| = std·√(2/π)·exp(−r²/2) + mean·(1 − 2Φ(−r)), and 1 − 2Φ(−r) =
    erf(r/√2). When |mean| >= 40·std (std = 0 included) exp(−r²/2) < 1e−347 and erf(r/√2) = 1
    in float64, so E|w| is |mean| to the last bit; computing r there could overflow or divide
    by a std² that underflows to 0.
    """
    mean = _check_real(mean, "mean")
    std = check_nonnegative(std, "std")
    if abs(mean) >= 40.0 * std:
        return abs(mean)
    r = mean / std
    return std * math.sqrt(2.0 / math.pi) * math.exp(-r * r / 2) + mean * math.erf(r / math.sqrt(2))


def linearity_sweep(dims, *, eps, w_mean, w_std, trials=200, seed=0):
    """Sample linear units of growing dimension n and measure both sides of the argument.

    For every n in ``dims`` draw ``trials`` independent pairs w ~ N(w_mean, w_std²)^n (weights)
    and x ~ U(0, 1)^n (pixel intensities), so the per-coordinate distributions do not depend
    on n, and measure Goodfellow's change ε·||w||_1 and Tanay & Griffin's ratio ε·||w||_1/|w·x|.

    Parameters
    ----------
    dims : list, tuple or 1-D array of int >= 1, length K
        The dimensions n.
    eps : float >= 0
    w_mean, w_std : float (finite; w_std >= 0; not both 0, which makes the ratio 0/0)
        Per-coordinate distribution of the weights. E[w_j x_j] = w_mean/2: with w_mean ≠ 0
        the unit responds to its input and the ratio stays flat; with w_mean = 0 it is
        unrelated to x and the ratio grows like √n. Scales whose draws or activations overflow
        float64 are refused with a ValueError naming them.
    trials : int
        Samples per dimension.
    seed : int, numpy.random.Generator or None
        Default 0, so that a call without a seed is reproducible; None draws fresh OS entropy.

    Returns
    -------
    dict of ndarrays of shape (K,) (float64):
        ``n``; ``activation_change`` mean of ε·||w||_1 over trials; ``expected_change``
        ε·E|w_j|·n (Goodfellow's ε·m·n with m = E|w_j|); ``clean_activation`` mean of |w·x|;
        ``ratio`` median over trials of ε·||w||_1/|w·x| (the median, because |w·x| can come
        close to 0 for one draw); and the scalar ``ratio_limit`` ε·E|w_j| / |E[w_j x_j]|
        (inf when w_mean = 0).
    """
    eps = check_nonnegative(eps, "eps")
    trials = check_positive_int(trials, "trials")
    w_mean = _check_real(w_mean, "w_mean")
    w_std = check_nonnegative(w_std, "w_std")
    dims = [check_positive_int(n, "each of dims") for n in _as_list(dims, "dims", "ints")]
    for n in dims:
        check_fits((trials, n), 8, f"trials={trials} units of n={n} inputs: the weights")
    if w_mean == 0 and w_std == 0:
        raise ValueError("w_mean = 0 and w_std = 0 make every w zero: the ratio "
                         "eps·||w||_1/|w·x| is 0/0 for every n")
    rng = make_rng(seed)
    mean_abs_w = folded_normal_mean(w_mean, w_std)
    change, clean, ratio = [], [], []
    for n in dims:
        with np.errstate(over="ignore", invalid="ignore"):     # an overflow is refused below
            w = rng.normal(w_mean, w_std, size=(trials, n))
            x = rng.uniform(0.0, 1.0, size=(trials, n))
            clean.append(np.mean(np.abs(np.sum(w * x, axis=1))))
        if not np.isfinite(clean[-1]):
            raise ValueError(f"w_mean={w_mean:g} and w_std={w_std:g} are too large: the weights "
                             f"or the activations w·x (n = {n}) would not be finite in float64")
        change.append(np.mean(activation_change(w, eps=eps)))
        ratio.append(np.median(linearity_ratio(w, x, eps=eps)))
    n = np.asarray(dims, dtype=np.float64)
    correlation = abs(w_mean) * 0.5
    return {
        "n": n,
        "activation_change": np.asarray(change),
        "expected_change": eps * mean_abs_w * n,
        "clean_activation": np.asarray(clean),
        "ratio": np.asarray(ratio),
        "ratio_limit": eps * mean_abs_w / correlation if correlation > 0 else np.inf,
    }
