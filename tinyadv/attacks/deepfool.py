"""DeepFool: walk to the nearest linearised decision boundary, repeat, overshoot once at the end.

Moosavi-Dezfooli, Fawzi & Frossard 2016 ("DeepFool: a simple and accurate method to fool deep
neural networks", CVPR). At each step the classifier is replaced by its first-order Taylor
expansion; the closest boundary of the linearised classifier is found in closed form and the
point moves exactly onto it. For an affine model one step lands on the true boundary, so
DeepFool estimates the *minimal* L2 perturbation, which is how tinyadv uses it (the ground truth
for linear models is ``tinyadv.theory.minimal_linear_distance``).

Two details matter and are tested. Only the top-k classes of the clean logits are candidates,
as in the authors' code (LTS4/DeepFool ``deepfool.py``, ``num_classes``; CleverHans's
``nb_candidate`` keeps k candidates too, but the top k of the current logits, ranked again at
every step; Foolbox #62 was 5× worse without candidates). And the overshoot multiplies the
*total* perturbation, x₀ + (1 + overshoot)·r_tot, not each step (CleverHans #1008). tinyadv
follows CleverHans's ``deep_fool.py`` in walking from the iterates x₀ + r_tot and overshooting
once at the end; the authors' code (and Foolbox) walks from x₀ + (1 + overshoot)·r_tot instead,
which ends at the same kind of point by a slightly different path.
"""

import numpy as np

from ..checks import check_nonnegative, check_positive_int
from ..losses import as_two_logits
from ..threads import map_chunks, row_chunks
from .base import (check_input, check_logits, check_model, check_reach, clip_box,
                   from_two_logits, model_gradient, model_logits, num_logits)
from .norms import lp_norm


def deepfool(model, x, *, candidates=10, overshoot=0.02, steps=50, clip=(0.0, 1.0)):
    """Untargeted DeepFool (L2): an estimate of the smallest perturbation that changes the label.

    Parameters
    ----------
    model : object with ``logits(x) -> (N, K)`` and ``input_gradient(x, grad_logits)``
        Used in whatever mode it is in. K = 1 is read as the logits [0, z].
    x : ndarray, shape (N, ...)
        Clean inputs inside ``clip``. The label attacked is the clean prediction.
    candidates : int >= 2
        The classes with the k largest clean logits (the prediction among them) are the only
        boundaries considered; k = min(candidates, K).
    overshoot : float >= 0
        The final perturbation is (1 + overshoot)·r_tot. Without a box, one so large that
        x₀ + (1 + overshoot)·r_tot is not finite in x's dtype is refused (ValueError).
    steps : int >= 1
        Maximum number of linearisation steps.
    clip : (low, high) or None
        Pixel box: iterates x₀ + r_tot and the output are clipped to it.

    Returns
    -------
    x_adv : ndarray, shape and dtype of x

    Notes
    -----
    With ŷ the clean prediction and C the other candidate classes, at iterate xᵢ = clip(x₀ + r_tot):

        w_k = ∇Z_k(xᵢ) − ∇Z_ŷ(xᵢ),   f_k = Z_k(xᵢ) − Z_ŷ(xᵢ),
        l̂ = argmin_{k ∈ C} (|f_k| + 1e-5) / ‖w_k‖₂,
        rᵢ = ((|f_l̂| + 1e-5)/‖w_l̂‖₂ + 1e-4) · w_l̂ / ‖w_l̂‖₂,    r_tot ← r_tot + rᵢ,

    until the prediction at xᵢ is no longer ŷ (per sample), then
    x_adv = clip(x₀ + (1 + overshoot)·r_tot). The 1e-5, which keeps a zero f_k from giving a
    zero step, is CleverHans's (``deep_fool.py``); the 1e-4, which nudges the point just across
    the boundary, is the authors' (LTS4/DeepFool ``deepfool.py``, later versions).
    Moosavi-Dezfooli et al. 2016, Algorithm 2.
    """
    check_model(model)
    x, clip = check_input(x, clip)
    candidates = check_positive_int(candidates, "candidates", minimum=2)
    overshoot = check_nonnegative(overshoot, "overshoot")
    steps = check_positive_int(steps, "steps")

    n = x.shape[0]
    k_logits = num_logits(model, x)  # K, which one image tells (outside training mode)
    k = min(candidates, max(k_logits, 2))
    top = np.zeros((n, k), dtype=np.int64)  # the k largest clean logits' classes, label first

    x64 = x.astype(np.float64)
    r_tot = np.zeros_like(x64)
    x_i = x.copy()
    active = np.ones(n, dtype=bool)
    for step in range(steps):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break

        def candidates_of(z, rows):  # of the samples idx[rows], from their two logits z
            if step == 0:  # the first pass is at x itself: its logits are the clean ones
                top[idx[rows]] = np.argsort(-z, axis=1, kind="stable")[:, :k]
            return top[idx[rows]]

        z, w = _logits_and_candidate_gradients(model, x_i[idx], candidates_of, k, k_logits)
        label = top[:, 0]
        still = np.flatnonzero(np.argmax(z, axis=1) == label[idx])  # positions in idx
        active[idx] = False
        active[idx[still]] = True
        if still.size == 0:
            break

        def linearised_step(part):  # for the samples idx[still[part]]; each row on its own
            at = still[part]
            rows, z_at = idx[at], z[at]
            best_dist = np.full(at.size, np.inf)
            best_w = np.zeros((at.size,) + w.shape[2:])
            for j in range(1, k):
                w_k = w[j - 1, at].astype(np.float64, copy=False)
                f_k = z_at[np.arange(at.size), top[rows, j]] - z_at[np.arange(at.size), label[rows]]
                dist = (np.abs(f_k) + 1e-5) / np.maximum(lp_norm(w_k, 2), 1e-12)
                closer = dist < best_dist
                best_dist[closer] = dist[closer]
                best_w[closer] = w_k[closer]
            w_norm = np.maximum(lp_norm(best_w, 2), 1e-12).reshape((-1,) + (1,) * (x.ndim - 1))
            r_tot[rows] += (best_dist + 1e-4).reshape(w_norm.shape) * best_w / w_norm
            x_i[rows] = clip_box(x64[rows] + r_tot[rows], clip).astype(x.dtype)

        map_chunks(linearised_step, row_chunks(still.size, x64[:1].nbytes))
    if clip is None:  # (a box keeps the result finite)
        reach = (1.0 + overshoot) * float(np.abs(r_tot).max(initial=0.0))
        check_reach(x, reach, "overshoot", overshoot)
    return clip_box(x64 + (1.0 + overshoot) * r_tot, clip).astype(x.dtype)


def _logits_and_candidate_gradients(model, x, candidates_of, k, k_logits):
    """The logits at ``x`` (as two logits for a binary model, float64) and w_c = ∇(Z_c − Z_ŷ)
    for every other candidate c = ``top[:, j]``, j ≥ 1 (ŷ = ``top[:, 0]``), shape (k − 1, n, ...)
    in x's dtype, where ``top[rows] = candidates_of(z, rows)``, the k candidates of the samples
    ``x[rows]`` from their two logits z.

    tinyadv's models compute all k − 1 gradients from one forward pass
    (``logits_and_input_gradients``); other models get k − 1 ``input_gradient`` calls.
    """
    def differences(logits, rows):
        candidates = candidates_of(as_two_logits(logits), rows)
        n, k = candidates.shape
        g = np.zeros((k - 1, n, max(k_logits, 2)))
        for j in range(1, k):
            g[j - 1, np.arange(n), candidates[:, j]] += 1.0
            g[j - 1, np.arange(n), candidates[:, 0]] -= 1.0
        return np.stack([from_two_logits(g_j, k_logits) for g_j in g])

    if hasattr(model, "logits_and_input_gradients"):
        logits, w = model.logits_and_input_gradients(x, differences)
        logits = check_logits(np.asarray(logits), x)
        w = np.asarray(w)
        if w.shape != (k - 1,) + x.shape:
            raise ValueError(f"model.logits_and_input_gradients must return {k - 1} "
                             f"gradients shaped like x {x.shape}, got shape {w.shape}")
        w = w.astype(x.dtype, copy=False)  # (no copy of the k − 1 gradients: they are large)
    else:
        logits = model_logits(model, x)
        w = np.stack([model_gradient(model, x, g) for g in differences(logits, slice(None))])
    return as_two_logits(logits).astype(np.float64), w
