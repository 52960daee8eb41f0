"""The fast gradient method: one first-order step of size ε in the L∞, L2 or L1 norm.

Goodfellow, Shlens & Szegedy 2015 ("Explaining and harnessing adversarial examples") take the
sign of the gradient: for a linear model that is the exact worst case in the L∞ ball. The L2 and
L1 versions take the steepest-ascent direction of their norm instead (CleverHans
``fast_gradient_method`` / ``optimize_linear``). With ``norms.normalize`` FGM is literally one
step of PGD with no random start and step ε, and that is how it is written here.
"""

import numpy as np

from .pgd import pgd


def fgm(model, x, y=None, *, eps, norm=np.inf, targeted=False, clip=(0.0, 1.0)):
    """Fast gradient method in the L∞ (FGSM), L2 or L1 norm.

    Parameters
    ----------
    model : object with ``logits(x) -> (N, K)`` and ``input_gradient(x, grad_logits)``
        Used in whatever mode it is in.
    x : ndarray, shape (N, ...)
        Clean inputs, float32 or float64, inside ``clip``.
    y : ndarray of int, shape (N,), optional
        True labels, or targets when ``targeted``; None uses the model's prediction.
    eps : float >= 0
        x moved by ε must stay finite in x's dtype.
    norm : 1, 2 or np.inf
    targeted : bool
    clip : (low, high) or None

    Returns
    -------
    x_adv : ndarray, shape and dtype of x

    Notes
    -----
    With g a positive multiple of ∇ₓ CE(z(x), y) (targeted: of −∇ₓ CE(z(x), t)), per sample,
    scaled so that it does not vanish for a confident model (``base.loss_gradient``),

        x_adv = clip(x + ε·u),   u = sign(g)                     (L∞)
                                 u = g / √max(1e-12, Σ g²)        (L2)
                                 u_i = sign(g_i)/#ties on the arg-max |g_i|, else 0   (L1)

    (CleverHans ``optimize_linear``; for L1, coordinates blocked by the box are skipped, see
    ``pgd.gradient_step``). L∞ and L1 depend on g's direction only. In L2 the scaling keeps a
    confident model's step at length ε, where CleverHans, taking g = ∇ₓ CE itself, steps only
    ε·‖∇ₓ CE‖/1e-6 once ‖∇ₓ CE‖ < 1e-6 (logit 20 of a logistic model with ‖w‖ = 25: 0.0052
    for ε = 0.1). This is ``pgd(..., alpha=eps, steps=1, random_start=False,
    l1_quantile=None)``.
    """
    return pgd(model, x, y, eps=eps, alpha=eps, steps=1, norm=norm, random_start=False,
               restarts=1, targeted=targeted, clip=clip, l1_quantile=None)


def fgsm(model, x, y=None, *, eps, targeted=False, clip=(0.0, 1.0)):
    """Fast gradient sign method, x_adv = clip(x + ε·sign(∇ₓ CE(z(x), y))) (Goodfellow et al. 2015).

    ``fgm`` with ``norm=np.inf``; see ``fgm`` for the parameters. Shapes: x (N, ...), y (N,).
    """
    return fgm(model, x, y, eps=eps, norm=np.inf, targeted=targeted, clip=clip)
