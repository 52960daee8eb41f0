"""Random corruptions: noise and pixel swapping, shaped like attacks so one sweep serves both.

The input-fault paper (Galloway, Golubeva & Taylor 2018, REFERENCES.md §4) argues that a model
should degrade in proportion to the severity of *any* fault, adversarial or not, and the talk
plots accuracy against the fraction of randomly swapped pixels (REFERENCES.md §8). These
functions make those faults. Each has the attack signature ``f(model, x, y=None, *, level, ...,
seed)`` so that ``tinyadv.evaluate.sweep`` runs them like attacks; ``model`` and ``y`` are
accepted and ignored (pass None when calling them directly). They work entry by entry: for a
colour image each channel value counts as one "pixel". Like the attacks, those with a box need
x inside it (so that, for example, uniform noise keeps ‖x̃ − x‖∞ ≤ ε), and a noise level so large
that x + noise would overflow x's dtype is refused, with or without a box.
"""

import numpy as np

from ..checks import check_array, check_finite_clip, check_nonnegative, make_rng
from .base import check_input, check_reach, clip_box


def _check_fraction(fraction):
    fraction = check_nonnegative(fraction, "fraction")
    if fraction > 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return fraction


def gaussian_noise(model, x, y=None, *, sigma, clip=(0.0, 1.0), seed=None):
    """Additive white Gaussian noise: x̃ = clip(x + σ·ξ), ξ ~ N(0, I).

    Parameters
    ----------
    model, y : ignored (attack signature)
    x : ndarray, shape (N, ...)
        Inside ``clip`` when a box is given.
    sigma : float >= 0
        Refused when x + σ·ξ would overflow x's dtype.
    clip : (low, high) or None
    seed : int, Generator or None

    Returns
    -------
    x_noisy : ndarray, shape and dtype of x

    Notes
    -----
    The AWGN fault of the input-fault paper (Galloway, Golubeva & Taylor 2018), which sweeps
    σ ∈ linspace(1e-6, 10, 100) without a box (pass ``clip=None`` for standardised inputs).
    """
    x, clip = check_input(x, clip)
    sigma = check_nonnegative(sigma, "sigma")
    xi = make_rng(seed).standard_normal(x.shape)
    check_reach(x, sigma * float(np.abs(xi).max(initial=0.0)), "sigma", sigma, clip)
    noise = xi * sigma
    return clip_box(x + noise.astype(x.dtype), clip).astype(x.dtype)


def uniform_noise(model, x, y=None, *, eps, clip=(0.0, 1.0), seed=None):
    """Uniform noise in the L∞ ball: x̃ = clip(x + ξ), ξ_i ~ U(−ε, ε), so ‖x̃ − x‖∞ ≤ ε.

    The random counterpart of FGSM at the same ε. x must lie in ``clip`` (the bound holds only
    then); shapes and checks as in ``gaussian_noise``.
    """
    x, clip = check_input(x, clip)
    eps = check_nonnegative(eps, "eps")
    check_reach(x, eps, "eps", eps, clip)
    noise = make_rng(seed).uniform(-eps, eps, size=x.shape)
    return clip_box(x + noise.astype(x.dtype), clip).astype(x.dtype)


def salt_and_pepper(model, x, y=None, *, fraction, clip=(0.0, 1.0), seed=None):
    """Set a random ``fraction`` of the entries of each sample to low or high (probability ½ each).

    Parameters
    ----------
    model, y : ignored (attack signature)
    x : ndarray, shape (N, ...)
        Inside ``clip``.
    fraction : float in [0, 1]
        Each entry is hit independently with this probability.
    clip : (low, high)
        The salt (high) and pepper (low) values; a box is required.
    seed : int, Generator or None

    Returns
    -------
    x_noisy : ndarray, shape and dtype of x
    """
    x, clip = check_input(x, clip)
    if clip is None:
        raise ValueError("salt_and_pepper needs a clip box (low, high): its pepper and salt values")
    check_finite_clip(clip, "salt_and_pepper (its pepper and salt are the box's ends)")
    fraction = _check_fraction(fraction)
    rng = make_rng(seed)
    hit = rng.uniform(size=x.shape) < fraction
    salt = rng.uniform(size=x.shape) < 0.5
    return np.where(hit, np.where(salt, clip[1], clip[0]), x).astype(x.dtype)


def swap_pixels(model, x, y=None, *, fraction, seed=None, clip=None):
    """Swap a random ``fraction`` of the D entries of every sample in pairs.

    Parameters
    ----------
    model, y, clip : ignored (attack signature; values never leave the range of x)
    x : ndarray, shape (N, ...), D = prod(...)
    fraction : float in [0, 1]
        About m = round(fraction·D) entries change place: m/2 disjoint pairs are swapped.
    seed : int, Generator or None

    Returns
    -------
    x_swapped : ndarray, shape and dtype of x

    Notes
    -----
    One random permutation π of the D entry indices is drawn per call and shared by the batch
    (as in the reference script ``run_rand_attack.py`` of uoguelph-mlrg/
    adversarial_training_vs_weight_decay); entries π_i and π_{D−1−i} are swapped for
    i < ⌊m/2⌋. At fraction 1 this is the reference's full reversal of π. Below ½ the reference
    *copies* x[π_{D−1−i}] into x[π_i] (m entries change, values are duplicated); swapping
    changes the same number of entries and keeps each image's histogram of values.
    """
    x = check_array(x, "x", min_ndim=2)
    fraction = _check_fraction(fraction)
    d = int(np.prod(x.shape[1:]))
    flat = x.reshape(x.shape[0], d).copy()  # (d, not -1: an empty batch has no -1 to infer)
    pairs = int(round(fraction * d)) // 2
    perm = make_rng(seed).permutation(d)
    a, b = perm[:pairs], perm[d - 1 - np.arange(pairs)]
    flat[:, a], flat[:, b] = flat[:, b], flat[:, a].copy()
    return flat.reshape(x.shape)
