"""The three things an attack needs to know about its norm: start, step direction, projection.

Foolbox 3 (``gradient_descent_base.py``) showed that a gradient attack's norm-specific parts are
three small functions; with them, FGM is one step of PGD without a random start, in every norm.
All functions work per sample on a batch δ of shape (N, ...): the norm of sample n is taken over
all its entries.

* ``random_start``: δ uniform in the ε-ball {‖δ‖_p ≤ ε}.
* ``normalize``: the steepest-ascent direction u = argmax_{‖u‖_p ≤ 1} ⟨g, u⟩ (the dual-norm
  maximiser), so that x + α·u is the best first-order step of length α.
* ``project``: the Euclidean projection onto the ε-ball, argmin_{‖v‖_p ≤ ε} ‖v − δ‖₂; exact in
  every norm (L1 by sorting, Duchi et al. 2008).

Each function checks its arguments (the norm, ε, a floating array, the Generator); the checks
look at scalars and dtypes only, never at the data, because PGD calls them at every step.
"""

import math
import numbers

import numpy as np

from ..checks import (check_array, check_fits, check_float_dtype, check_generator,
                      check_nonnegative, check_norm, check_shape)


def _check_batch(a, name):
    """``a`` as a float32 or float64 array (N, ...); its dtype is checked, not its values."""
    return check_array(a, name, min_ndim=1, finite=False)


def check_l1_quantile(l1_quantile):
    """Return ``l1_quantile`` as a float in [0, 1), or None (see ``normalize``)."""
    if l1_quantile is None:
        return None
    if isinstance(l1_quantile, bool) or not isinstance(l1_quantile, numbers.Real):
        raise TypeError(f"l1_quantile must be a number in [0, 1) or None, "
                        f"got {type(l1_quantile).__name__}")
    if not 0.0 <= l1_quantile < 1.0:
        raise ValueError(f"l1_quantile must be in [0, 1) or None, got {l1_quantile}")
    return float(l1_quantile)


def _flat(a):
    return a.reshape(len(a), math.prod(a.shape[1:]))  # (d given: -1 is ambiguous when N = 0)


def _per_sample(v, shape):
    return v.reshape((shape[0],) + (1,) * (len(shape) - 1))


def _l2_norms(flat):
    """‖v‖₂ of each row v of ``flat`` (N, d), in float64.

    The squares are summed in float64, where squares of float32 entries neither overflow (3e20²
    would in float32) nor underflow. The rows whose norm may still have left float64's range
    (float64 entries beyond about 1e150 or below 1e-150) are taken again as m·‖v/m‖₂ with
    m = max |v_i|, which is three passes instead of one, so only for those rows.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", flat, flat, dtype=np.float64))
    redo = ~(norms < 1e150) | (norms < 1e-150)  # (an overflow, NaN, or a possible underflow)
    if np.any(redo):
        rows = flat[redo]
        m = np.max(np.abs(rows), axis=1, initial=0.0).astype(np.float64)
        unit = rows / np.where((m > 0) & (m < np.inf), m, 1)[:, None]  # (an infinite row: inf)
        norms[redo] = m * np.sqrt(np.einsum("ij,ij->i", unit, unit, dtype=np.float64))
    return norms


def _rescale_overflowed(flat, norms, out, eps):
    """Rows of ``flat`` whose ‖v‖₂ overflowed float64 (``norms`` inf, every entry finite): put
    ε·v/‖v‖₂ = ε·(v/m)/‖v/m‖₂, m = max |v_i|, into those rows of ``out`` (ε·v/inf would be 0)."""
    big = np.isinf(norms)  # (N values: a negligible check on the per-step path)
    if np.any(big):
        rows = flat[big].astype(np.float64)
        m = np.max(np.abs(rows), axis=1)
        finite = np.isfinite(m)  # (a row with an infinite entry has no direction: left as is)
        unit = rows[finite] / m[finite, None]
        index = np.flatnonzero(big)[finite]
        out[index] = (unit * (eps / np.sqrt(np.sum(unit * unit, axis=1)))[:, None]).astype(out.dtype)
    return out


def lp_norm(delta, norm):
    """‖δ_n‖_p for each sample of δ (N, ...), shape (N,), float64; norm is 1, 2 or np.inf.

    Integer and float16 arrays are measured in float64."""
    if isinstance(delta, np.ndarray) and (delta.dtype.kind in "iu" or delta.dtype == np.float16):
        delta = delta.astype(np.float64)
    delta = _check_batch(delta, "delta")
    norm = check_norm(norm)
    flat = _flat(delta)
    if norm == np.inf:
        return np.max(np.abs(flat), axis=1, initial=0.0).astype(np.float64)
    if norm == 2:
        return _l2_norms(flat)
    return np.sum(np.abs(flat), axis=1, dtype=np.float64)


def random_start(rng, shape, eps, norm, dtype=np.float64):
    """Draw δ uniformly from the ε-ball of the norm, independently for each of N samples.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int
        (N, ...); each sample has d = prod(...) entries.
    eps : float >= 0
        At most half the largest value of ``dtype``.
    norm : 1, 2 or np.inf
    dtype : np.float32 or np.float64

    Returns
    -------
    delta : ndarray of ``shape`` and ``dtype``.

    Notes
    -----
    L∞: δ_i ~ U(−ε, ε) independently. L2 and L1: δ = ε·r·s with s = g/‖g‖_p for g i.i.d.
    Gaussian (L2) or Laplace (L1), which makes s uniform on the unit sphere in the cone measure,
    and r = U^{1/d}, the radius law of a uniform point in a d-dimensional ball
    (P(r ≤ t) = t^d). Barthe, Guédon, Mendelson & Naor 2005. Drawing from the L∞ box and
    rescaling (CleverHans v4 torch, torchattacks #161) is *not* uniform in the ball.
    """
    check_generator(rng)
    shape = check_shape(shape)
    eps = check_nonnegative(eps, "eps")
    norm = check_norm(norm)
    dtype = check_float_dtype(dtype)
    if eps > float(np.finfo(dtype).max) / 2:  # (uniform(−ε, ε) overflows once 2ε does)
        raise ValueError(f"eps={eps:g} is too large for a random start in {dtype}")
    check_fits(shape, 8, f"shape={shape}: the random start")  # (drawn in float64)
    n, d = shape[0], math.prod(shape[1:])
    if norm == np.inf:
        delta = rng.uniform(-eps, eps, size=(n, d))
    else:
        g = rng.standard_normal((n, d)) if norm == 2 else rng.laplace(size=(n, d))
        s = g / np.maximum(lp_norm(g, norm), 1e-300)[:, None]
        r = rng.uniform(size=n) ** (1.0 / max(d, 1))
        delta = eps * r[:, None] * s
    return delta.reshape(shape).astype(dtype)


def normalize(g, norm, *, l1_quantile=None):
    """Steepest-ascent unit direction u = argmax_{‖u‖_p ≤ 1} ⟨g, u⟩ for each sample.

    Parameters
    ----------
    g : ndarray, shape (N, ...)
    norm : 1, 2 or np.inf
    l1_quantile : float in [0, 1) or None
        L1 only. None: the exact steepest direction, all weight on the arg-max |g_i|
        (CleverHans). q: SLIDE's sparse direction (Tramèr & Boneh 2019), spread over the
        coordinates with |g_i| ≥ the q-quantile of the nonzero |g|; much stronger inside PGD,
        where a one-coordinate step changes one pixel per iteration.

    Notes
    -----
    L∞: u = sign(g). L2: u = g / √max(1e-12, Σ g²) (CleverHans ``optimize_linear``; the norm is
    taken without overflow, see ``lp_norm``, and a g whose norm exceeds float64's range is
    divided by it after scaling by max |g_i|, not sent to 0).
    L1: u_i = sign(g_i)·1[|g_i| ≥ τ] / #{i : |g_i| ≥ τ}, with τ = max |g| (ties split equally)
    or τ = quantile_q(|g_i| : g_i ≠ 0). A zero gradient gives u = 0 in every norm.
    """
    g = _check_batch(g, "g")
    norm = check_norm(norm)
    l1_quantile = check_l1_quantile(l1_quantile)
    if norm == np.inf:
        return np.sign(g)
    flat = _flat(g)
    if norm == 2:
        norms = _l2_norms(flat)
        scale = 1.0 / np.maximum(norms, 1e-6)
        u = _rescale_overflowed(flat, norms, flat * scale[:, None].astype(g.dtype), 1.0)
        return u.reshape(g.shape)
    abs_flat = np.abs(flat).astype(np.float64)
    if l1_quantile is None:
        tau = np.max(abs_flat, axis=1, keepdims=True, initial=0.0)
    else:
        nonzero = np.where(abs_flat > 0, abs_flat, np.nan)
        empty = np.all(np.isnan(nonzero), axis=1)
        nonzero[empty] = 0.0
        tau = np.nanquantile(nonzero, l1_quantile, axis=1, keepdims=True)
    chosen = (abs_flat >= tau) & (abs_flat > 0)
    u = np.sign(flat) * chosen / np.maximum(np.sum(chosen, axis=1, keepdims=True), 1)
    return u.astype(g.dtype).reshape(g.shape)


def project_l1_ball(delta, eps):
    """Exact Euclidean projection of each sample onto the L1 ball of radius ε (Duchi et al. 2008).

    Notes
    -----
    If ‖v‖₁ ≤ ε, v is returned. Otherwise the projection is soft-thresholding,
    w_i = sign(v_i)·max(|v_i| − θ, 0), with the θ ≥ 0 that makes ‖w‖₁ = ε: sort μ = |v|
    descending, ρ = max{j : μ_j − (Σ_{r≤j} μ_r − ε)/j > 0}, θ = (Σ_{r≤ρ} μ_r − ε)/ρ.
    "Efficient projections onto the l1-ball for learning in high dimensions", ICML 2008, Fig. 1.

    The same quantities are computed without cancellation: the condition is D_j < ε with
    D_j = Σ_{r≤j} (μ_r − μ_j) = D_{j−1} + (j − 1)(μ_{j−1} − μ_j) (a sum of non-negative terms,
    so ρ ≥ 1 and the test is monotone in j), and w_i = max((|v_i| − μ_ρ) + (ε − D_ρ)/ρ, 0).
    Subtracting θ = μ_ρ − (ε − D_ρ)/ρ directly loses ε entirely once ε is below the rounding
    error of max |v| (v = (1, 1), ε = 1e-17 gave 0 instead of (5e-18, 5e-18)).
    """
    delta = _check_batch(delta, "delta")
    eps = check_nonnegative(eps, "eps")
    flat = _flat(delta).astype(np.float64)
    n, d = flat.shape
    out = flat.copy()
    norms = np.sum(np.abs(flat), axis=1)
    outside = norms > eps
    if eps == 0.0:
        out[:] = 0.0
    elif outside.any():
        v = flat[outside]
        mu = -np.sort(-np.abs(v), axis=1)
        steps = np.arange(1, d) * (mu[:, :-1] - mu[:, 1:])  # (j − 1)(μ_{j−1} − μ_j) >= 0, j >= 2
        big_d = np.concatenate([np.zeros((len(v), 1)), np.cumsum(steps, axis=1)], axis=1)
        rho = np.count_nonzero(big_d < eps, axis=1)  # D is non-decreasing and D_1 = 0 < ε
        rows = np.arange(len(v))
        shift = (eps - big_d[rows, rho - 1]) / rho  # (ε − D_ρ)/ρ = μ_ρ − θ, in (0, ε]
        out[outside] = np.sign(v) * np.maximum((np.abs(v) - mu[rows, rho - 1][:, None])
                                               + shift[:, None], 0.0)
    return out.astype(delta.dtype).reshape(delta.shape)


def project(delta, eps, norm):
    """Euclidean projection of each sample δ_n onto {‖δ‖_p ≤ ε}.

    Notes
    -----
    L∞: clip(δ, −ε, ε). L2: δ·min(1, ε/‖δ‖₂) (taken as ε·(δ/m)/‖δ/m‖₂, m = max |δ_i|, when
    ‖δ‖₂ exceeds float64's range). L1: ``project_l1_ball`` (sorting, exact).
    """
    delta = _check_batch(delta, "delta")
    eps = check_nonnegative(eps, "eps")
    norm = check_norm(norm)
    if norm == np.inf:
        return np.clip(delta, -eps, eps)
    if norm == 2:
        norms = lp_norm(delta, 2)
        factor = np.divide(eps, norms, out=np.ones_like(norms), where=norms > eps)
        out = delta * _per_sample(factor, delta.shape).astype(delta.dtype)
        return _rescale_overflowed(_flat(delta), norms, _flat(out), eps).reshape(delta.shape)
    return project_l1_ball(delta, eps)
