"""SPSA: a gradient-free L∞ attack that estimates the gradient from random finite differences.

Uesato, O'Donoghue, van den Oord & Kohli 2018 ("Adversarial risk and the dangers of evaluating
against weak attacks", ICML) use simultaneous-perturbation stochastic approximation (Spall
1992) with Adam to minimise the logit margin inside the ε-ball. Because it never calls
``input_gradient``, it sees through masked or obfuscated gradients (the BNN paper's point,
REFERENCES.md §3): if SPSA beats the white-box attacks, the white-box gradients are lying.

Two bugs of the peers are tested here (REFERENCES.md §9): the estimate divides by δ (CleverHans
#1087 multiplied by δv), and the loss is evaluated at x + p + δv with p the *current*
perturbation (CleverHans #1249 evaluated at 2x + δv).
"""

import numpy as np

from ..checks import (check_array, check_bool, check_generator, check_labels, check_nonnegative,
                      check_positive, check_positive_int, make_rng)
from ..losses import as_two_logits
from .base import (attack_labels, check_input, check_logits_model, check_reach, clip_box,
                   model_logits)
from .norms import project


def _check_samples(samples):
    """Return the number of evaluations after checking it is an even int >= 2 (pairs ±v)."""
    samples = check_positive_int(samples, "samples", minimum=2)
    if samples % 2:
        raise ValueError(f"samples must be even (antithetic pairs ±v), got {samples}")
    return samples


def margin_loss(logits, y, *, targeted=False):
    """Logit margin that SPSA minimises, shape (N,).

    Untargeted: Z_y − max_{i≠y} Z_i; targeted: max_{i≠t} Z_i − Z_t (negative = success). The
    maximum over i ≠ y uses a −∞ mask, right for logits of any sign. K = 1 is read as [0, z].
    ``logits`` is (N, K); ``y`` holds N labels in [0, max(K, 2)).
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {logits.shape}")
    y = check_labels(y, len(logits), logits.shape[1])
    targeted = check_bool(targeted, "targeted")
    z = as_two_logits(logits).astype(np.float64)
    rows = np.arange(len(z))
    other = np.max(np.where(np.arange(z.shape[1])[None, :] == y[:, None], -np.inf, z), axis=1)
    return (other - z[rows, y]) if targeted else (z[rows, y] - other)


def _check_losses(losses, count):
    """Return what ``loss_fn`` returned for ``count`` points after checking it is a float array
    of shape (count,) with finite values (a NaN loss would make the whole estimate NaN)."""
    if not isinstance(losses, np.ndarray):
        raise TypeError(f"loss_fn must return a NumPy array of {count} losses (one per point), "
                        f"got {type(losses).__name__}")
    if losses.dtype.kind != "f":
        raise TypeError(f"loss_fn must return real floating-point losses, got dtype {losses.dtype}")
    if losses.shape != (count,):
        raise ValueError(f"loss_fn must return losses of shape ({count},), one per point it was "
                         f"given, got shape {losses.shape}")
    if not np.all(np.isfinite(losses)):
        bad = "NaN" if np.isnan(losses).any() else "infinite values"
        raise ValueError(f"loss_fn returned {bad}")
    return losses


def spsa_gradient(loss_fn, x, *, delta, samples, rng, batch_size=4096):
    """Antithetic SPSA estimate of ∇ₓL for every sample of a batch.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(points, index) -> (M,)`` losses of the points (M, ...), where ``index`` (M,)
        says which sample of the batch each point belongs to. The losses must be a finite float
        array of shape (M,) (TypeError or ValueError otherwise).
    x : ndarray, shape (N, ...)
        The points at which the gradient is estimated (for the attack, x + p).
    delta : float > 0
        Refused when x ± δ would overflow x's dtype.
    samples : even int >= 2
        Number of evaluations per sample: samples/2 Rademacher vectors v, each used as ±v.
    rng : numpy.random.Generator
    batch_size : int >= 1
        Largest number of points sent to ``loss_fn`` at once.

    Returns
    -------
    grad : ndarray, shape (N, ...), float64 (empty for N = 0)

    Notes
    -----
        ĝ = (1/S) Σ_{j=1}^{S/2} Σ_{s=±1} L(x + s·δ·v_j)·s·v_j / δ
          = (1/S) Σ_j (L(x + δv_j) − L(x − δv_j))·v_j / δ,    v_j ~ Rademacher^D,

    an unbiased estimate of ∇L for quadratic L (Spall 1992; Uesato et al. 2018, Alg. 1).
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable loss_fn(points, index), "
                        f"got {type(loss_fn).__name__}")
    x = check_array(x, "x", min_ndim=2)
    delta = check_positive(delta, "delta")
    check_reach(x, delta, "delta", delta)
    samples = _check_samples(samples)
    check_generator(rng)
    batch_size = check_positive_int(batch_size, "batch_size")
    n = x.shape[0]
    pairs = samples // 2
    grad = np.zeros(x.shape, dtype=np.float64)
    if n == 0:  # (no points to evaluate; a chunk of directions would divide by 2n)
        return grad
    per_chunk = max(1, batch_size // (2 * n))  # directions per chunk: 2·per_chunk·n points
    for start in range(0, pairs, per_chunk):
        m = min(per_chunk, pairs - start)
        v = rng.choice(np.array([-1.0, 1.0]), size=(m, n) + x.shape[1:])
        points = np.concatenate([x[None] + delta * v, x[None] - delta * v]).astype(x.dtype)
        points = points.reshape((2 * m * n,) + x.shape[1:])
        index = np.tile(np.arange(n), 2 * m)
        losses = np.concatenate([
            _check_losses(loss_fn(points[s:s + batch_size], index[s:s + batch_size]),
                          len(index[s:s + batch_size]))
            for s in range(0, len(points), batch_size)]).reshape(2, m, n)
        diff = (losses[0] - losses[1]).reshape((m, n) + (1,) * (x.ndim - 1))
        grad += np.sum(diff * v, axis=0)
    return grad / (2 * pairs * delta)


def spsa(model, x, y=None, *, eps, steps, delta=0.01, samples=128, lr=0.01, targeted=False,
         clip=(0.0, 1.0), seed=None, random_start=True, early_stop=True, batch_size=4096):
    """SPSA L∞ attack with Adam (Uesato et al. 2018), using only ``model.logits``.

    Parameters
    ----------
    model : object with ``logits(x) -> (N, K)``
        ``input_gradient`` is never called. Used in whatever mode it is in.
    x : ndarray, shape (N, ...)
        Clean inputs inside ``clip``.
    y : ndarray of int, shape (N,), optional
        True labels, or targets when ``targeted`` (then required); None: the prediction.
    eps : float >= 0
        L∞ radius.
    steps : int >= 1
        Adam iterations.
    delta : float > 0
        Finite-difference step. ε and δ so large that x + p ± δv would overflow x's dtype are
        refused.
    samples : even int >= 2
        Loss evaluations per sample and step (antithetic: samples/2 directions, each used as
        ±v); an odd number is refused.
    lr : float > 0
        Adam learning rate (β₁ = 0.9, β₂ = 0.999, ε = 1e-8; CleverHans's ``TensorAdam`` has
        ε = 1e-9, a difference only where |ĝ| is about 1e-8 or less).
    targeted : bool
    clip : (low, high) or None
    seed : int, Generator or None
    random_start : bool
        Start from p ~ U(−ε, ε) (CleverHans ``projected_optimization``) instead of p = 0.
    early_stop : bool
        Freeze a sample once its margin is below 0 (it is adversarial).
    batch_size : int >= 1
        Largest number of sampled points x + p ± δv per call of ``model.logits`` (the N
        iterates x + p themselves go in one call, as in the other attacks).

    Returns
    -------
    x_adv : ndarray, shape and dtype of x
        Per sample, the iterate with the lowest margin seen.

    Notes
    -----
    With L(x′) = ``margin_loss`` and p the current perturbation:

        ĝ = spsa_gradient(L, x + p)       (evaluated at x + p ± δv, never at 2x or at x),
        p ← Adam(p, ĝ),   p ← clip(x + clip(p, −ε, ε), box) − x.

    The sampled points x + p ± δv are not clipped, so the finite difference stays symmetric.
    p is kept in float64 and x + p rounded once to x's dtype, so in float32 a coordinate at the
    ball's edge may exceed ε by half an ulp (up to 2⁻²⁵ for pixels in [0, 1]), as in ``pgd``.
    Uesato et al. 2018, Algorithm 1; reference code CleverHans ``SPSA`` /
    ``projected_optimization`` (with its bugs #1087 and #1249 fixed).
    """
    check_logits_model(model)
    x, clip = check_input(x, clip)
    eps = check_nonnegative(eps, "eps")
    check_reach(x, eps, "eps", eps, clip)
    steps = check_positive_int(steps, "steps")
    delta = check_positive(delta, "delta")
    check_reach(x, eps + delta, "delta", delta, clip)  # the sampled points x + p ± δv, |p| ≤ ε
    lr = check_positive(lr, "lr")
    samples = _check_samples(samples)
    batch_size = check_positive_int(batch_size, "batch_size")
    targeted = check_bool(targeted, "targeted")
    random_start = check_bool(random_start, "random_start")
    early_stop = check_bool(early_stop, "early_stop")
    y = attack_labels(model, x, y, targeted)
    rng = make_rng(seed)

    n = x.shape[0]
    x64 = x.astype(np.float64)
    p = rng.uniform(-eps, eps, size=x.shape) if random_start else np.zeros(x.shape)
    p = clip_box(x64 + p, clip) - x64
    m, v = np.zeros_like(p), np.zeros_like(p)
    best_x, best_loss = x.copy(), np.full(n, np.inf)
    active = np.ones(n, dtype=bool)

    def loss_fn(points, index):
        out = np.empty(len(points))
        for start in range(0, len(points), batch_size):
            part = slice(start, start + batch_size)
            out[part] = margin_loss(model_logits(model, points[part]), y[index[part]], targeted=targeted)
        return out

    for t in range(1, steps + 2):
        x_adv = (x64 + p).astype(x.dtype)
        loss = margin_loss(model_logits(model, x_adv), y, targeted=targeted)
        better = loss < best_loss
        best_x[better], best_loss[better] = x_adv[better], loss[better]
        if early_stop:
            active &= best_loss >= 0
        if t > steps or not active.any():
            break
        idx = np.flatnonzero(active)
        g = spsa_gradient(lambda pts, i: loss_fn(pts, idx[i]), x_adv[idx], delta=delta,
                          samples=samples, rng=rng, batch_size=batch_size)
        m[idx] = 0.9 * m[idx] + 0.1 * g
        v[idx] = 0.999 * v[idx] + 0.001 * g ** 2
        p[idx] -= lr * (m[idx] / (1 - 0.9 ** t)) / (np.sqrt(v[idx] / (1 - 0.999 ** t)) + 1e-8)
        p = clip_box(x64 + project(p, eps, np.inf), clip) - x64
    return best_x
