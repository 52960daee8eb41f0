"""Boundary tilting: small adversarial distances at unchanged accuracy (Tanay & Griffin 2016).

Data of interest lie near a low-dimensional submanifold of the input space. A linear boundary
only has to separate the classes *on* that submanifold; how it continues off the submanifold
does not change a single prediction, but it decides how far the data are from the boundary.

The toy problem makes that exact. Two classes live on a k-dimensional subspace S of ℝ^n
(``submanifold_data``): in coordinates z of S, class 0 is centred at −s/2·e_1 and class 1 at
+s/2·e_1. The nearest-centroid classifier w_nc = μ_1 − μ_0, b_nc = −w_nc·(μ_0 + μ_1)/2 is the
natural boundary, perpendicular to S. Tilting it by an angle θ towards a unit direction v
orthogonal to S (``tilt_boundary``),

    w_θ = cos θ·w + sin θ·||w||·v,     b_θ = cos θ·b,

gives f_θ(x) = cos θ·f(x) for every x in S: the same predictions, hence the same accuracy, but
an L2 distance to the boundary |f_θ(x)|/||w_θ|| = cos θ·|f(x)|/||w||, which shrinks
monotonically to 0 as θ → 90°. Adversarial examples can be made arbitrarily strong at fixed
accuracy, and the *deviation angle* between a classifier and the nearest-centroid one is what
measures it (Tanay & Griffin 2016, REFERENCES.md §2).

Real classifiers tilt by overfitting: a logistic regression fitted to a few samples with small
off-manifold noise uses the noise directions to separate its training set, which tilts w away
from w_nc. L2 weight decay pulls w back towards the centroid direction (see
``logistic.fit_logistic_regression``), so it reduces the tilt — Tanay & Griffin's
"regularisation reduces adversarial strength".

Shapes: x (N, n) samples, y (N,) class ids in {0, 1}, w (n,), basis (n, k).
"""

import numpy as np

from ..checks import (check_array, check_fits, check_labels, check_nonnegative, check_positive_int,
                      make_rng)
from .linear import (
    _as_affine,
    _as_list,
    _check_bias,
    _check_real,
    _needs_scaling,
    _scaled,
    minimal_linear_distance,
)
from .logistic import fit_logistic_regression


def submanifold_data(n_samples, dim, *, manifold_dim=2, separation=4.0, spread=1.0,
                     off_manifold_noise=0.0, seed=0):
    """Two Gaussian classes on a random k-dimensional subspace of ℝ^n, with optional noise off it.

    Parameters
    ----------
    n_samples : int
        N; the classes alternate 0, 1, 0, 1, ... so they are balanced.
    dim : int
        n, the ambient dimension.
    manifold_dim : int
        k <= n, the dimension of the subspace S.
    separation : float >= 0
        s, the distance between the class centres (along the first basis vector of S).
    spread : float >= 0
        Standard deviation of each class inside S.
    off_manifold_noise : float >= 0
        Standard deviation of isotropic Gaussian noise orthogonal to S (0: exactly on S).
        Scales so large (1e308) that the data overflow float64 are refused with a ValueError.
    seed : int, numpy.random.Generator or None
        Default 0, so that a call without a seed is reproducible; None draws fresh OS entropy.

    Returns
    -------
    x : ndarray, shape (N, n), float64
        x = U·z + (I − UUᵀ)·g, z = ±(s/2)·e_1 + spread·N(0, I_k), g ~ N(0, noise²·I_n).
    y : ndarray, shape (N,), int64 class ids
    basis : ndarray, shape (n, k)
        U, orthonormal columns spanning S; the population centroid direction is U[:, 0].
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    dim = check_positive_int(dim, "dim")
    manifold_dim = check_positive_int(manifold_dim, "manifold_dim")
    if manifold_dim > dim:
        raise ValueError(f"manifold_dim must be <= dim, got manifold_dim={manifold_dim}, dim={dim}")
    check_fits((n_samples, dim), 8, f"n_samples={n_samples}, dim={dim}: the data")
    check_fits((dim, manifold_dim), 8, f"dim={dim}, manifold_dim={manifold_dim}: the basis")
    separation = check_nonnegative(separation, "separation")
    spread = check_nonnegative(spread, "spread")
    off_manifold_noise = check_nonnegative(off_manifold_noise, "off_manifold_noise")
    rng = make_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, manifold_dim)))
    y = np.arange(n_samples, dtype=np.int64) % 2
    with np.errstate(over="ignore", invalid="ignore"):      # an overflow is refused below
        z = spread * rng.standard_normal((n_samples, manifold_dim))
        z[:, 0] += (y - 0.5) * separation
        noise = off_manifold_noise * rng.standard_normal((n_samples, dim))
        noise -= (noise @ basis) @ basis.T
        x = z @ basis.T + noise
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"separation={separation:g}, spread={spread:g} and off_manifold_noise="
            f"{off_manifold_noise:g} are too large: the data would not be finite in float64"
        )
    return x, y, basis


def nearest_centroid(x, y):
    """The nearest-centroid classifier as an affine one: w = μ_1 − μ_0, b = −w·(μ_0 + μ_1)/2.

    Parameters
    ----------
    x : ndarray, shape (N, n)
    y : ndarray of int, shape (N,), class ids in {0, 1}, both present

    Returns
    -------
    w : ndarray, shape (n,), x's dtype
    b : float

    Notes
    -----
    w·x + b > 0 ⇔ ||x − μ_1|| < ||x − μ_0||: the boundary is the perpendicular bisector of the
    two class means, the reference against which Tanay & Griffin measure the deviation angle.
    """
    x = check_array(x, "x", ndim=2)
    y = check_labels(y, x.shape[0], 2)
    if not (np.any(y == 0) and np.any(y == 1)):
        raise ValueError("nearest_centroid needs samples of both classes 0 and 1")
    mu0 = x[y == 0].mean(axis=0)
    mu1 = x[y == 1].mean(axis=0)
    w = mu1 - mu0
    return w, float(-w @ (mu0 + mu1) / 2)


def deviation_angle(w, w_ref):
    """Angle in radians, in [0, π], between the weight vectors w and w_ref.

    Tanay & Griffin's deviation angle when w_ref is the nearest-centroid direction:
    θ = arccos(w·w_ref / (||w||·||w_ref||)). The angle does not depend on the scale of either
    vector, so each is first divided by its largest |entry| (``linear._scaled``): no square
    under- or overflows (such as 1e200 or 1e-200 in float64, 1e20 in float32); only an all-zero
    vector is refused. Computed in float64 whatever the dtype, as 2·atan2(||u − v||, ||u + v||)
    for the unit vectors u = w/||w|| and v = w_ref/||w_ref|| (Kahan's formula: the same angle,
    but arccos of a cosine rounded near ±1 loses half the digits, π − 1.5e-8 for opposite
    vectors, and float32's arccos(−1) is float32's π, above π).
    """
    w = check_array(w, "w", ndim=1)
    w_ref = check_array(w_ref, "w_ref", ndim=1)
    if w.shape != w_ref.shape:
        raise ValueError(f"w and w_ref must have the same shape, got {w.shape} and {w_ref.shape}")
    if not (np.any(w) and np.any(w_ref)):
        raise ValueError("deviation_angle is undefined for a zero weight vector")
    w, _ = _scaled(w.astype(np.float64))
    w_ref, _ = _scaled(w_ref.astype(np.float64))
    u, v = w / np.linalg.norm(w), w_ref / np.linalg.norm(w_ref)
    return float(2.0 * np.arctan2(np.linalg.norm(u - v), np.linalg.norm(u + v)))


def tilt_boundary(w, b, direction, angle):
    """Rotate the boundary of (w, b) by ``angle`` towards ``direction``, keeping ||w||.

    Parameters
    ----------
    w : ndarray, shape (n,)
    b : float, or an ndarray holding one value; finite
    direction : ndarray, shape (n,)
        Only its component orthogonal to w is used (normalised to the unit vector v); a
        direction whose orthogonal component is at most 1e-12·||direction|| (100 ulps,
        1.2e-5·||direction||, when w or direction is float32) is refused as parallel to w.
    angle : float
        θ in radians; a finite real number (not an array).

    Returns
    -------
    w_theta : ndarray, shape (n,), w's dtype
    b_theta : float

    Notes
    -----
    w_θ = cos θ·w + sin θ·||w||·v and b_θ = cos θ·b, so ||w_θ|| = ||w||, the angle between w_θ
    and w is θ (for θ in [0, π]), and

        f_θ(x) = cos θ·f(x) + sin θ·||w||·(v·x).

    On every x with v·x = 0 — all of the data when v is orthogonal to their subspace — the
    decision is unchanged for θ < 90° while the L2 distance to the boundary becomes
    cos θ·|f(x)|/||w|| (Tanay & Griffin 2016, boundary tilting).

    Weights or directions whose squares would under- or overflow their dtype are rescaled
    (``linear._scaled``), so any non-zero w works; a w so large that w_θ, whose norm is ||w||,
    does not fit in w's dtype is refused with a ValueError. The arithmetic is done in float64,
    w_θ rounded once to w's dtype.
    """
    w = check_array(w, "w", ndim=1)
    b = _check_bias(b)
    angle = _check_real(angle, "angle")
    direction = check_array(direction, "direction", ndim=1)
    if direction.shape != w.shape:
        raise ValueError(f"direction must have the shape of w {w.shape}, got {direction.shape}")
    if not np.any(w):
        raise ValueError("w is all zeros: there is no boundary to tilt")
    if not np.any(direction):
        raise ValueError("direction is all zeros: it gives no direction to tilt towards")
    # w_θ is homogeneous in w and does not depend on the scale of direction, so a vector whose
    # squares would under- or overflow (1e20 in float32, 1e-200 in float64) is divided by its
    # largest |entry| first, and w_θ multiplied back; ordinary vectors take the direct formula.
    unit, scale = _scaled(w) if _needs_scaling(w) else (w, None)
    if _needs_scaling(direction):  # (not all zeros: refused above)
        direction, _ = _scaled(direction)
    # The projection is done in float64 whatever the dtypes: in float32 it left a residual of
    # about 1e-7·||direction|| for a direction parallel to w, which passed for a tilt direction
    # (w_θ then came out with a norm ≠ ||w|| and an angle ≠ θ). A direction parallel to w up to
    # the rounding of the coarser input dtype (3·w rounded to float32) is refused as well.
    tolerance = max(1e-12, 100 * max(np.finfo(w.dtype).eps, np.finfo(direction.dtype).eps))
    unit, direction = unit.astype(np.float64), direction.astype(np.float64)
    w_norm = np.linalg.norm(unit)
    v = direction - (direction @ unit) / w_norm**2 * unit
    v_norm = np.linalg.norm(v)
    if v_norm <= tolerance * np.linalg.norm(direction) or v_norm == 0:
        raise ValueError("direction is parallel to w: it gives no direction to tilt towards")
    w_theta = np.cos(angle) * unit + np.sin(angle) * w_norm * (v / v_norm)
    if scale is not None:
        with np.errstate(over="ignore"):
            w_theta = (scale * w_theta).astype(w.dtype, copy=False)
        if not np.all(np.isfinite(w_theta)):
            raise ValueError(
                f"w is too large to tilt in {w.dtype} (max |w| = {float(scale):.3g}, ||w|| = "
                f"{float(scale) * float(w_norm):.3g}): w_theta, of the same norm, would not be "
                f"finite in {w.dtype}")
    return w_theta.astype(w.dtype, copy=False), float(np.cos(angle) * b)


def accuracy_and_distance(w, b, x, y):
    """Accuracy of the affine classifier and the mean minimal L2 distance of its correct points.

    Parameters
    ----------
    w : ndarray, n elements
    b : float, or an ndarray holding one value; finite
    x : ndarray, shape (N, n), N >= 1
    y : ndarray of int, shape (N,), class ids in {0, 1} (class 1 ↔ w·x + b > 0)

    Returns
    -------
    accuracy : float
    distance : float
        Mean over correctly classified x_n of |w·x_n + b|/||w||_2, the size of the smallest
        adversarial perturbation (``linear.minimal_linear_distance``); nan if none is correct.
    """
    x = check_array(x, "x", ndim=2)
    if x.shape[0] == 0:
        raise ValueError(f"x holds no samples (shape {x.shape}): accuracy is undefined")
    y = check_labels(y, x.shape[0], 2)
    w, b, x64, _ = _as_affine(w, b, x)
    correct = (x64 @ w + b > 0) == (y == 1)
    if not np.any(correct):
        return 0.0, float("nan")
    distance = minimal_linear_distance(w, b, x[correct], 2)
    return float(np.mean(correct)), float(np.mean(distance))


def tilting_sweep(w, b, direction, angles, x, y):
    """Tilt the boundary of (w, b) towards ``direction`` through ``angles`` and evaluate on (x, y).

    Parameters
    ----------
    w : ndarray, shape (n,)
    b : float
        The classifier to tilt, typically ``nearest_centroid`` of the training data.
    direction : ndarray, shape (n,)
        The tilt direction; orthogonal to the data subspace for the exact "same accuracy" claim.
    angles : list, tuple or 1-D array of float, length A (A = 0 gives empty results)
        Tilt angles θ in radians.
    x : ndarray, shape (N, n)
    y : ndarray of int, shape (N,), class ids in {0, 1}

    Returns
    -------
    accuracy : ndarray, shape (A,)
    distance : ndarray, shape (A,)
        Mean minimal L2 adversarial distance of the correctly classified points at each angle.
    """
    angles = [_check_real(a, "each of angles") for a in _as_list(angles, "angles", "angles")]
    if not angles:                          # nothing to sweep, but the other arguments are checked
        accuracy_and_distance(*tilt_boundary(w, b, direction, 0.0), x, y)
    results = [accuracy_and_distance(*tilt_boundary(w, b, direction, a), x, y) for a in angles]
    accuracy, distance = np.array(results, dtype=np.float64).reshape(len(angles), 2).T
    return accuracy, distance


def weight_decay_tilt(x, y, weight_decays, *, lr=None, steps=2000, seed=0):
    """Fit a logistic regression for each weight decay λ and measure its tilt.

    Parameters
    ----------
    x : ndarray, shape (N, n)
    y : ndarray of int, shape (N,), class ids in {0, 1}
    weight_decays : list, tuple or 1-D array of float >= 0, length L
    lr, steps
        Passed to ``logistic.fit_logistic_regression``.
    seed : int, numpy.random.Generator or None
        Draws one initial w, shared by every fit, so that the fits differ only in λ. Default 0,
        so that a call without a seed is reproducible; None draws fresh OS entropy.

    Returns
    -------
    angle : ndarray, shape (L,)
        Deviation angle (radians) between each fitted w and the nearest-centroid w of (x, y).
    weights : list of (w, b)
        The fitted classifiers.
    """
    weight_decays = [check_nonnegative(lam, "each of weight_decays")
                     for lam in _as_list(weight_decays, "weight_decays", "weight decays")]
    w_nc, _ = nearest_centroid(x, y)
    init_seed = int(make_rng(seed).integers(2**63))
    weights, angle = [], []
    for lam in weight_decays:
        w, b = fit_logistic_regression(x, y, weight_decay=lam, lr=lr, steps=steps, seed=init_seed)
        weights.append((w, b))
        angle.append(deviation_angle(w, w_nc))
    return np.asarray(angle), weights
