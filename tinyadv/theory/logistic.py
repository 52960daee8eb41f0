"""Logistic regression in closed form: its adversarial loss, and a tiny seeded fit.

A logistic regression scores f(x) = w·x + b and, with labels y ∈ {−1, +1} as in the papers,
pays the loss ζ(−y·f(x)) with ζ(z) = log(1 + e^z) the softplus. Because the model is linear,
the worst point of an L_p ball of radius ε is known (``linear.worst_case_linear_perturbation``)
and the adversarial loss needs no attack at all:

    max over ||η||_p ≤ ε of ζ(−y·f(x + η)) = ζ(−y·f(x) + ε·||w||_q),

q the dual exponent of p. For p = ∞ this is Goodfellow et al.'s (2015, section 5) adversarial
logistic loss. Written with the signed distance d(x) = f(x)/||w||_q it reads
ζ(−||w||_q·(y·d(x) − ε)): weight decay acts on the scale ||w||, adversarial training moves the
distance by ε (Galloway, Tanay & Taylor 2018, REFERENCES.md §7).

``fit_logistic_regression`` is a plain full-batch gradient descent (a dozen lines, seeded) so
that the boundary-tilting experiments of ``tilting`` need nothing but NumPy. It takes class ids
{0, 1} like every tinyadv training function; the loss formulas take y ∈ {−1, +1} like the
papers (y = 2·class − 1).
"""

import numpy as np

from ..checks import (
    check_array,
    check_labels,
    check_nonnegative,
    check_norm,
    check_positive,
    check_positive_int,
    make_rng,
)
from .linear import _as_affine, _eps_dual_norm, _finite_result, check_signed_labels


def softplus(z):
    """ζ(z) = log(1 + e^z), computed stably as logaddexp(0, z); keeps the dtype of z."""
    z = check_array(z, "z")
    return np.logaddexp(np.zeros((), dtype=z.dtype), z)


def logistic_loss(w, b, x, y):
    """Per-sample logistic loss ζ(−y·(w·x + b)).

    Parameters
    ----------
    w : ndarray, D elements in any shape
    b : float or ndarray with one element
    x : ndarray, shape (N, ...), D = prod(x.shape[1:])
    y : ndarray, shape (N,), labels in {−1, +1}

    Returns
    -------
    loss : ndarray, shape (N,), x's dtype
        A loss beyond the range of x's dtype (scores too large for it) is refused with a
        ValueError, rather than returned as inf.
    """
    w, b, x, dtype = _as_affine(w, b, x)
    y = check_signed_labels(y, x.shape[0])
    return _loss(w, b, x, y, 0.0, 2, dtype, "the loss softplus(-y·(w·x + b))")


def _loss(w, b, x, y, eps, norm, dtype, what):
    """softplus(−y·(w·x + b) + ε·||w||_q) for the float64 (w, b, x) of ``_as_affine``, cast to
    ``dtype``; a loss beyond its range (or a score beyond float64's) is refused with a ValueError
    naming eps when it is what makes the loss too large, the scores otherwise."""
    with np.errstate(over="ignore", invalid="ignore"):
        score_term = -y * (x @ w + b)

    def loss_at(e):
        z = score_term + _eps_dual_norm(e, w, norm)
        return softplus(z) if np.all(np.isfinite(z)) else z

    return _finite_result(loss_at, eps, dtype, what)


def adversarial_logistic_loss(w, b, x, y, *, eps, norm=np.inf):
    """Per-sample logistic loss at the worst point of the ε-ball, in closed form.

    Parameters
    ----------
    w : ndarray, D elements in any shape
    b : float or ndarray with one element
    x : ndarray, shape (N, ...), D = prod(x.shape[1:])
    y : ndarray, shape (N,), labels in {−1, +1}
    eps : float >= 0
    norm : 1, 2 or np.inf (default: L∞, Goodfellow et al.'s case)

    Returns
    -------
    loss : ndarray, shape (N,), x's dtype
        A loss beyond the range of x's dtype (about ε·||w||_q when that is huge) is refused
        with a ValueError naming eps and the dtype, rather than returned as inf.

    Notes
    -----
    loss = ζ(−y·(wᵀx + b) + ε·||w||_q), q the dual exponent of p (q = 1 for p = ∞). It equals
    logistic_loss at x + η with η = −ε·y·u_p, the worst case; for p = ∞, η = −ε·y·sign(w).

    Goodfellow, Shlens & Szegedy (2015, eq. in section 5) print this loss as
    ζ(y(ε||w||_1 − wᵀx − b)). That form is right only for y = +1: for y = −1 it gives
    ζ(−ε||w||_1 + wᵀx + b), the loss at the *best* point of the ball (the perturbation helps
    instead of hurting). The form here is correct for both labels.
    """
    norm = check_norm(norm)
    eps = check_nonnegative(eps, "eps")
    w, b, x, dtype = _as_affine(w, b, x)
    y = check_signed_labels(y, x.shape[0])
    return _loss(w, b, x, y, eps, norm, dtype, "the loss softplus(-y·(w·x + b) + eps·||w||_q)")


def sigmoid(z):
    """σ(z) = 1/(1 + e^−z), computed as (1 + tanh(z/2))/2 for z >= 0 and as e^z/(1 + e^z) for
    z < 0 (no overflow either way); keeps the dtype of z (a float32 or float64 array without
    NaN or inf, as for ``softplus``).

    For z < 0, 1 + tanh(z/2) cancels: σ(−40) came out 0 instead of 4.2e-18 in float64 (and
    σ(−17) 6.0e-8 instead of 4.1e-8 in float32), whereas e^z/(1 + e^z) keeps every digit.
    """
    z = check_array(z, "z")
    with np.errstate(under="ignore"):  # (e^z below the dtype's range: σ(z) is 0 as well)
        e = np.exp(np.minimum(z, 0))
    return np.where(z >= 0, _sigmoid(z), e / (1 + e))


def _sigmoid(z):
    """(1 + tanh(z/2))/2 without the input checks, for the scores inside the fit's loop: its
    p − y needs σ only to within a few ulps of 1, which this form gives for z < 0 too (what it
    loses there are the relative digits of a small σ, see ``sigmoid``)."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_logistic_regression(x, y, *, weight_decay=0.0, lr=None, steps=2000, init_std=0.01,
                            seed=0):
    """Fit w, b by full-batch gradient descent on the mean logistic loss plus (λ/2)·||w||².

    Parameters
    ----------
    x : ndarray, shape (N, D), N >= 1
    y : ndarray of int, shape (N,), class ids in {0, 1} (class 1 ↔ w·x + b > 0)
    weight_decay : float >= 0
        λ; the bias is not decayed.
    lr : float > 0 or None
        Step size η of gradient descent. None (default) takes η = 1/L with
        L = λ + ||[X, 1]||_2²/(4N) (spectral norm of X with a column of ones for the bias), a
        bound on the curvature of the loss for which every step decreases it; steps much
        larger than 2/L make the iteration diverge. An x so large that 1/L underflows x's
        dtype is refused (rescale it), and so is an iteration that diverges to inf or NaN.
    steps : int
        Number of full-batch steps.
    init_std : float >= 0
        w starts at N(0, init_std²), b at 0; an init_std whose draws overflow x's dtype is
        refused.
    seed : int, numpy.random.Generator or None
        Default 0, so that a call without a seed is reproducible; None draws fresh OS entropy.

    Returns
    -------
    w : ndarray, shape (D,), x's dtype
    b : float

    Notes
    -----
    With p_n = σ(w·x_n + b), the loss L = mean_n [−y_n log p_n − (1 − y_n) log(1 − p_n)]
    + (λ/2)||w||² has gradients

        ∂L/∂w = Xᵀ(p − y)/N + λ·w,    ∂L/∂b = mean_n (p_n − y_n),

    and the update is w ← w − η·∂L/∂w, b ← b − η·∂L/∂b. Without weight decay on separable
    data ||w|| grows without bound and the direction drifts towards the max-margin one
    (Soudry et al. 2018); components of w orthogonal to every x_n never change. With large λ,
    w ≈ Σ_n (y_n − ȳ)·x_n/(λN) = ȳ(1 − ȳ)(μ_1 − μ_0)/λ (the bias settles at σ(b) = ȳ): the
    nearest-centroid direction, which is why weight decay undoes boundary tilting.
    """
    x = check_array(x, "x", ndim=2)
    if x.shape[0] == 0:
        raise ValueError(f"x holds no samples (shape {x.shape}): there is nothing to fit")
    y = check_labels(y, x.shape[0], 2)
    weight_decay = check_nonnegative(weight_decay, "weight_decay")
    n = x.shape[0]
    if lr is None:
        augmented = np.column_stack([x, np.ones(n)]).astype(np.float64)
        with np.errstate(over="ignore"):
            lr = 1.0 / (weight_decay + np.linalg.norm(augmented, 2) ** 2 / (4 * n))
        if lr < np.finfo(x.dtype).tiny:
            raise ValueError(
                f"x is too large for gradient descent in {x.dtype} (max |x| = "
                f"{np.abs(x).max():.3g}, weight_decay = {weight_decay:g}): the default step size "
                f"1/L with L = weight_decay + ||[X, 1]||_2²/(4N) underflows ({lr:.3g}); rescale x "
                f"(e.g. to [0, 1])"
            )
    lr = check_positive(lr, "lr")
    steps = check_positive_int(steps, "steps", minimum=0)
    init_std = check_nonnegative(init_std, "init_std")
    rng = make_rng(seed)
    w = init_std * rng.standard_normal(x.shape[1])
    if w.size and np.abs(w).max() > np.finfo(x.dtype).max:
        raise ValueError(f"init_std = {init_std:g} is too large: the initial weights overflow "
                         f"x's dtype {x.dtype}")
    dtype = x.dtype.type
    w = w.astype(x.dtype)
    b = dtype(0.0)
    target = y.astype(x.dtype)
    with np.errstate(over="ignore", invalid="ignore"):    # divergence is reported below
        for _ in range(steps):
            error = _sigmoid(x @ w + b) - target
            grad_w = x.T @ error / n + dtype(weight_decay) * w
            grad_b = np.mean(error)
            w -= dtype(lr) * grad_w
            b -= dtype(lr) * grad_b
    if not (np.all(np.isfinite(w)) and np.isfinite(b)):
        raise ValueError(f"gradient descent diverged (w or b became inf or NaN) with lr = {lr:g}"
                         f" in {x.dtype}: lower lr, or rescale x")
    return w, float(b)
