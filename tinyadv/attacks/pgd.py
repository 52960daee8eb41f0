"""Projected gradient descent (BIM / PGD) in the L∞, L2 and L1 norms.

The basic iterative method (Kurakin, Goodfellow & Bengio 2017) repeats small FGM steps and
projects back onto the ε-ball; Madry et al. 2018 ("Towards deep learning models resistant to
adversarial attacks") start it from a random point of the ball and call it PGD. The norm enters
only through ``norms.random_start``, ``norms.normalize`` and ``norms.project`` (Foolbox 3's
decomposition), so one loop serves all three norms and FGM is its first step.

Unlike several peers, the bound is enforced here (every returned point is in the ε-ball and the
pixel box) and the answer is the *best* iterate of the *best* restart for each sample, not the
last iterate or the restart that was best on average (ART #714).
"""

import numbers

import numpy as np
from numba import njit

from ..checks import (check_bool, check_clip, check_nonnegative, check_norm, check_positive_int,
                      check_same_shape, make_rng)
from ..losses import cross_entropy
from ..threads import map_chunks, row_chunks
from .base import (attack_labels, check_input, check_model, check_reach, clip_box, is_success,
                   labels_and_first_pass, loss_gradient, model_logits)
from .norms import check_l1_quantile, normalize, project
from .norms import random_start as draw_random_start


def gradient_step(x, x_adv, grad, *, alpha, eps, norm, clip, l1_quantile=None):
    """One projected steepest-ascent step: x_adv ← Π_box(x + Π_ε(x_adv + α·u − x)).

    u = ``normalize(grad, norm, l1_quantile=l1_quantile)``. For L1 the gradient is first zeroed
    on the coordinates that the box blocks (at the lower bound with g < 0, or at the upper
    bound with g > 0), so that the sparse L1 step is spent on pixels that can move; in L∞ this
    changes nothing, and L2 is left exactly as in CleverHans. ``eps=np.inf`` means no ball
    (``fooling_images``): Π_ε is left out.

    An L∞ step inside a box, the most common one, runs as one compiled pass over the pixels
    (``_linf_step_numba``, the same arithmetic in the same order, held equal by a test), on
    chunks of samples on the threads (``threads.map_chunks``); the NumPy below is the readable
    version and serves every other case.

    Refused, in O(1): ``x_adv`` or ``grad`` not shaped like ``x``, alpha not a finite number
    >= 0 (as in :func:`pgd`), eps < 0 or NaN, an unknown norm, a clip box with low >= high.
    """
    norm, alpha, eps, clip = _check_step(x, x_adv, grad, alpha=alpha, eps=eps, norm=norm,
                                         clip=clip)
    if norm == np.inf and clip is not None and x.dtype in (np.float32, np.float64):
        dtype = x.dtype.type
        x_new = np.empty(x.shape, dtype=x.dtype)
        n, d = x.shape[0], x[:1].size
        rows = [np.ascontiguousarray(a).reshape(n, d) for a in (x, x_adv, grad)]
        rows.append(x_new.reshape(n, d))  # (a view: the kernel writes into x_new)

        def step_rows(part):
            x_part, x_adv_part, grad_part, new_part = (a[part].reshape(-1) for a in rows)
            _linf_step_numba(x_part, x_adv_part, grad_part, dtype(alpha), dtype(eps),
                             dtype(clip[0]), dtype(clip[1]), new_part)

        map_chunks(step_rows, row_chunks(n, x_new[:1].nbytes))
        return x_new
    return gradient_step_reference(x, x_adv, grad, alpha=alpha, eps=eps, norm=norm, clip=clip,
                                   l1_quantile=l1_quantile)


def _check_step(x, x_adv, grad, *, alpha, eps, norm, clip):
    """The checks of :func:`gradient_step` and its reference, O(1) (shapes and scalars only);
    returns (norm as ``check_norm`` gives it, alpha, eps, clip as ``check_clip`` gives it), alpha,
    eps and the box's ends as Python floats, which NumPy rounds to the images' dtype as the
    compiled step does (a NumPy float64 alpha would make the NumPy step compute in float64 on
    float32 images, and differ in the last bits). The checked box, not the one given: a bound
    too large for a float is then an open end (inf), not an OverflowError in the kernel's cast."""
    check_same_shape(x=x, x_adv=x_adv, grad=grad, batch=True)
    alpha = check_nonnegative(alpha, "alpha")
    if isinstance(eps, numbers.Real) and eps == np.inf:  # (no ball: fooling_images)
        eps = np.inf
    else:
        eps = check_nonnegative(eps, "eps")
    return check_norm(norm), alpha, eps, check_clip(clip)


def gradient_step_reference(x, x_adv, grad, *, alpha, eps, norm, clip, l1_quantile=None):
    """:func:`gradient_step` in NumPy, for every norm (see there)."""
    norm, alpha, eps, clip = _check_step(x, x_adv, grad, alpha=alpha, eps=eps, norm=norm,
                                         clip=clip)
    if norm == 1 and clip is not None:
        blocked = ((x_adv <= clip[0]) & (grad < 0)) | ((x_adv >= clip[1]) & (grad > 0))
        grad = np.where(blocked, 0, grad).astype(grad.dtype)
    delta = x_adv + alpha * normalize(grad, norm, l1_quantile=l1_quantile) - x
    if eps < np.inf:  # (``project`` takes a finite radius only)
        delta = project(delta, eps, norm)
    return clip_box(x + delta, clip).astype(x.dtype, copy=False)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _linf_step_numba(x, x_adv, grad, alpha, eps, low, high, x_new):
    """Per pixel: δ = clip(x_adv + α·sign(g) − x, −ε, ε), x_new = clip(x + δ, low, high)."""
    for i in range(x.size):
        delta = x_adv[i] + alpha * np.sign(grad[i]) - x[i]
        if delta < -eps:
            delta = -eps
        elif delta > eps:
            delta = eps
        value = x[i] + delta
        if value < low:
            value = low
        elif value > high:
            value = high
        x_new[i] = value


def _objective(model, x_adv, y, targeted):
    logits = model_logits(model, x_adv)
    loss, _ = cross_entropy(logits.astype(np.float64), y, reduction="none")
    return (-loss if targeted else loss), logits


def _keep_best(best, x_adv, loss, success):
    """Replace sample n of ``best`` when (success, loss) is lexicographically larger."""
    best_x, best_success, best_loss = best
    better = (success & ~best_success) | ((success == best_success) & (loss > best_loss))

    def copy_rows(part):  # best_x[better] = x_adv[better], a chunk of samples per thread
        best_x[part][better[part]] = x_adv[part][better[part]]

    map_chunks(copy_rows, row_chunks(len(best_x), best_x[:1].nbytes))
    best_success[better] = success[better]
    best_loss[better] = loss[better]


def pgd(model, x, y=None, *, eps, alpha, steps, norm=np.inf, random_start=True, restarts=1,
        targeted=False, clip=(0.0, 1.0), seed=None, early_stop=False, l1_quantile=0.99):
    """Projected gradient descent on the cross-entropy of the logits, in the L∞, L2 or L1 ball.

    Parameters
    ----------
    model : object with ``logits(x) -> (N, K)`` and ``input_gradient(x, grad_logits)``
        Used in whatever mode it is in (call ``model.eval()`` first if that matters).
    x : ndarray, shape (N, ...)
        Clean inputs (e.g. N, C, H, W), float32 or float64, inside ``clip``.
    y : ndarray of int, shape (N,), optional
        True labels (untargeted) or target labels (``targeted=True``, then required). None uses
        the model's prediction on x (no label leaking); without a random start it is read off
        the first step's forward pass, which is at x, so it costs no pass of its own.
    eps : float >= 0
        Radius of the ball ‖x_adv − x‖_p ≤ ε; x moved by ε must stay finite in x's dtype.
    alpha : float >= 0
        Step size (length of each step in the attack's norm); likewise for a step from the ball.
    steps : int >= 0
        Number of steps per restart.
    norm : 1, 2 or np.inf
    random_start : bool
        Start from x + δ₀ with δ₀ uniform in the ε-ball (``norms.random_start``), else from x.
    restarts : int >= 1
        Independent runs; each sample keeps its best result over all of them.
    targeted : bool
    clip : (low, high) or None
        Pixel box.
    seed : int, numpy.random.Generator or None
        Randomness of the starts.
    early_stop : bool
        Freeze a sample as soon as it is adversarial (saves nothing in compute here, but keeps
        the perturbation of successful samples small).
    l1_quantile : float in [0, 1) or None
        L1 only: each step spreads α over the coordinates whose |g_i| reach this quantile of the
        nonzero |g| (SLIDE, Tramèr & Boneh 2019, "Adversarial training and robustness for
        multiple perturbations"); None steps on the arg-max coordinate only (CleverHans), which
        changes one pixel per step and is a weak attack: on a mini-MNIST MLP (784-100-10, 500
        test digits) at ε = 10, α = 2.5, 20 steps, accuracy 0.626 with None versus 0.198
        with 0.99.

    Returns
    -------
    x_adv : ndarray, shape and dtype of x
        The best iterate per sample: adversarial ones first, then the highest loss.

    Notes
    -----
    With J(x) = CE(z(x), y) untargeted or −CE(z(x), t) targeted, u = normalize(g) the
    steepest-ascent direction of the norm (for L1 by default SLIDE's sparse direction), g a
    positive per-sample multiple of ∇ₓJ that does not vanish for a confident model
    (``base.loss_gradient``; see ``fgm`` for what that changes in L2), and Π the projections,

        x⁰ = Π_box(x + δ₀),    xᵗ⁺¹ = Π_box( x + Π_ε(xᵗ + α·u(xᵗ) − x) ).

    Since the box [low, high] contains x, clipping only moves coordinates toward x, so the
    result stays in the ε-ball (exactly in real arithmetic; in float32 each coordinate of
    x_adv − x may be off by about one ulp, so ‖x_adv − x‖₁ ≤ ε + D·2⁻²³ for D entries).
    Among x¹ … x^steps of all restarts (x⁰ when steps = 0), each sample keeps the one with the
    largest (success, J) in lexicographic order.

    Follows Madry et al. 2018 and the CleverHans ``projected_gradient_descent``/
    ``optimize_linear`` reference code (REFERENCES.md §9); the L1 projection is Duchi et al.
    2008 (the box is applied after it, which keeps the point feasible but is not the exact
    projection onto the intersection of ball and box).
    """
    check_model(model)
    x, clip = check_input(x, clip)
    norm = check_norm(norm)
    eps = check_nonnegative(eps, "eps")
    alpha = check_nonnegative(alpha, "alpha")
    steps = check_positive_int(steps, "steps", minimum=0)
    l1_quantile = check_l1_quantile(l1_quantile)
    restarts = check_positive_int(restarts, "restarts")
    random_start = check_bool(random_start, "random_start")
    targeted = check_bool(targeted, "targeted")
    early_stop = check_bool(early_stop, "early_stop")
    check_reach(x, eps, "eps", eps, clip)
    start = eps if random_start or steps > 1 else 0.0  # a step starts this far from x at most
    check_reach(x, start + alpha, "alpha", alpha, clip)
    if random_start or steps == 0:
        y, at_x = attack_labels(model, x, y, targeted), None
    else:  # every restart's first step is at x: (loss, grad, logits) there, or None
        y, at_x = labels_and_first_pass(model, x, y, targeted)
    rng = make_rng(seed)

    n = x.shape[0]
    one_candidate = steps == 1 and restarts == 1  # FGM: its one step is the answer
    best = None if one_candidate else (x.copy(), np.zeros(n, dtype=bool), np.full(n, -np.inf))
    for _ in range(restarts):
        if random_start:
            delta = draw_random_start(rng, x.shape, eps, norm, x.dtype)
            x_adv = clip_box(x + delta, clip).astype(x.dtype, copy=False)
        else:
            x_adv = x  # (inside the box already; no step writes into x_adv)
        active = np.ones(n, dtype=bool)
        for t in range(steps + 1):
            if t == 0 and at_x is not None:  # every restart starts at x
                loss, grad, logits = at_x
            elif t < steps:
                loss, grad, logits = loss_gradient(model, x_adv, y, targeted)
            else:
                loss, logits = _objective(model, x_adv, y, targeted)
            success = is_success(logits, y, targeted)
            if t > 0 or steps == 0:
                _keep_best(best, x_adv, loss, success)
            if t == steps:
                break
            if early_stop:
                active &= ~success
            stepped = gradient_step(x, x_adv, grad, alpha=alpha, eps=eps, norm=norm, clip=clip,
                                    l1_quantile=l1_quantile)
            if active.all():
                x_adv = stepped
            else:
                x_adv = np.where(active.reshape((n,) + (1,) * (x.ndim - 1)), stepped, x_adv)
            if one_candidate:
                return x_adv  # the best, with no need to evaluate it
    return best[0]
