"""The L0 pixel attack: switch the few pixels that matter most to their extreme value.

The talk's "human-driven" attack lets a person toggle pixels of a digit and watch the prediction
change; a careful person toggles the pixels that move the logit most. This is that person as a
function: to first order, setting entry i from x_i to a value t_i changes the attack loss J by
g_i·(t_i − x_i), g = ∇ₓJ, which over the box is largest at t_i = high if g_i > 0 else low. The
attack switches the k entries with the largest gain g_i·(t_i − x_i), all at once or greedily a
few per step, recomputing the gradient in between. On logistic regression the gradient is a
multiple of w, so this is the weight-image attack of REFERENCES.md §7 (there the i most positive
and most negative weight pixels are set to 1; here each pixel goes to whichever end of the box
helps the attacker).

Each entry counts as one pixel (for colour images, one channel value), so ‖x_adv − x‖₀ ≤ k.
"""

import numpy as np

from ..checks import check_bool, check_finite_clip, check_positive_int
from .base import attack_labels, check_input, check_model, labels_and_first_pass, loss_gradient


def pixel_attack(model, x, y=None, *, k, pixels_per_step=None, targeted=False, clip=(0.0, 1.0)):
    """Greedy L0 attack: switch the k entries with the largest first-order gain to the box ends.

    Parameters
    ----------
    model : object with ``logits(x) -> (N, K)`` and ``input_gradient(x, grad_logits)``
        Used in whatever mode it is in.
    x : ndarray, shape (N, ...)
        Clean inputs inside ``clip``.
    y : ndarray of int, shape (N,), optional
        True labels, or targets when ``targeted`` (then required); None: the prediction.
    k : int >= 0
        Number of entries to switch per sample (the L0 budget).
    pixels_per_step : int >= 1, optional
        Entries switched per gradient evaluation; None switches all k at once.
    targeted : bool
    clip : (low, high)
        The box; its ends are the values pixels are switched to (required).

    Returns
    -------
    x_adv : ndarray, shape and dtype of x, with ‖x_adv − x‖₀ ≤ k per sample.

    Notes
    -----
    Repeat until k entries are switched: g = ∇ₓJ(x_adv) (J = CE(z, y), or −CE(z, t) when
    targeted), t_i = high if g_i > 0 else low, gain_i = g_i·(t_i − x_adv,i) ≥ 0; among entries
    not yet switched with gain_i > 0, set the ``pixels_per_step`` largest to t_i. A sample stops
    early when no entry has positive gain. Inspired by the Jacobian saliency map attack
    (Papernot et al. 2016) without its pairwise search, and by REFERENCES.md §7.
    """
    check_model(model)
    x, clip = check_input(x, clip)
    if clip is None:
        raise ValueError("pixel_attack needs a clip box (low, high): pixels are switched to its ends")
    check_finite_clip(clip, "pixel_attack (pixels are switched to the box's ends)")
    targeted = check_bool(targeted, "targeted")
    k = check_positive_int(k, "k", minimum=0)
    per_step = k if pixels_per_step is None else check_positive_int(pixels_per_step, "pixels_per_step")
    if k == 0:
        y, at_x = attack_labels(model, x, y, targeted), None
    else:  # the first step is at x: (loss, grad, logits) there, or None
        y, at_x = labels_and_first_pass(model, x, y, targeted)

    n, d = x.shape[0], int(np.prod(x.shape[1:]))
    flat = x.reshape(n, d).copy()  # (d, not -1: an empty batch has no -1 to infer)
    switched = np.zeros(flat.shape, dtype=bool)
    budget = np.full(n, min(k, d))
    while np.any(budget > 0):
        if at_x is not None:  # the first step is at x
            (_, grad, _), at_x = at_x, None
        else:
            _, grad, _ = loss_gradient(model, flat.reshape(x.shape), y, targeted)
        g = grad.reshape(n, d).astype(np.float64)
        target = np.where(g > 0, clip[1], clip[0])
        gain = np.where(switched, -np.inf, g * (target - flat))
        order = np.argsort(-gain, axis=1, kind="stable")
        moved = False
        for i in np.flatnonzero(budget > 0):
            take = order[i, :min(per_step, budget[i])]
            take = take[gain[i, take] > 0]
            if take.size == 0:
                budget[i] = 0
                continue
            flat[i, take] = target[i, take]
            switched[i, take] = True
            budget[i] -= take.size
            moved = True
        if not moved:
            break
    return flat.reshape(x.shape)
