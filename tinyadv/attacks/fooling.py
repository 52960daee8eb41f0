"""Fooling images: inputs that look like nothing, classified as a chosen class with high confidence.

Nguyen, Yosinski & Clune 2015 ("Deep neural networks are easily fooled", CVPR) found
unrecognisable images that networks label with 99.99% confidence. The talk makes them with a
targeted iterative attack started from noise, once per class, and reads how *recognisable* the
result is as a sign of what the model learned: a model with weight decay draws digits and edges,
a model without stays noisy (REFERENCES.md §5). Two reports go with the images: the confidence
p_t of the target class and the margin, top-1 minus top-2 softmax probability.

Two start distributions reproduce the two papers' protocols:

* ``start="uniform"``: x₀ = 0.5 + U(0, 0.1), the CIFAR-10 reference script
  (``cifar10_fooling_images.py``: targeted BIM L∞, step 0.005, 50 iterations, unbounded,
  clipped to [0, 1], seed 0) — the defaults here;
* ``start="gaussian"``: x₀ ~ N(0, 0.1²), the SVHN protocol of the input-fault paper
  (targeted BIM-L2, step 0.1, 100 iterations, on standardised inputs: pass ``norm=2,
  alpha=0.1, steps=100, clip=None``).
"""

from typing import NamedTuple

import numpy as np

from ..checks import (check_array, check_clip, check_fits, check_float_dtype, check_labels,
                      check_nonnegative, check_norm, check_positive_int, check_shape, make_rng)
from ..losses import logits_to_labels, softmax
from .base import check_model, check_reach, clip_box, loss_gradient, model_logits, num_classes
from .pgd import gradient_step


class FoolingResult(NamedTuple):
    """Fooling images and how well they fool, one row per image (M = classes × per_class)."""

    images: np.ndarray      # (M, C, H, W)
    targets: np.ndarray     # (M,) int64
    confidence: np.ndarray  # (M,) softmax probability of the target class
    margin: np.ndarray      # (M,) top-1 minus top-2 softmax probability
    success: np.ndarray     # (M,) bool, prediction == target


def fooling_images(model, shape, *, start="uniform", norm=np.inf, alpha=0.005, steps=50, eps=None,
                   per_class=1, classes=None, clip=(0.0, 1.0), dtype=np.float32, seed=0):
    """Targeted iterative attack from noise to every class.

    Parameters
    ----------
    model : object with ``logits(x) -> (N, K)`` and ``input_gradient(x, grad_logits)``
        Used in whatever mode it is in.
    shape : tuple of int > 0
        Shape of one image, e.g. (C, H, W).
    start : "uniform", "gaussian" or ndarray of shape (M, ...)
        0.5 + U(0, 0.1) (CIFAR-10 protocol) or N(0, 0.1²) (SVHN protocol), or your own starts
        (a finite float32 or float64 array, cast to ``dtype``).
    norm : 1, 2 or np.inf
        Norm of the steps (BIM: L∞ sign steps or L2 normalised steps).
    alpha : float >= 0
        Step size.
    steps : int >= 0
    eps : float or None
        Radius around the start; None is unbounded (the papers' protocols).
    per_class : int >= 1
        Images per class.
    classes : sequence of int, optional
        Target class ids in [0, max(K, 2)); default all max(K, 2) classes.
    clip : (low, high) or None
    dtype : float32 or float64
    seed : int, Generator or None

    Returns
    -------
    FoolingResult
        images (M, ...), targets (M,), confidence (M,), margin (M,), success (M,), with
        M = len(classes) × per_class, ordered class by class.

    Notes
    -----
    For target t: x⁰ = clip(start), xⁱ⁺¹ = clip(x⁰ + Π_ε(xⁱ − α·u(∇ₓ CE(z(xⁱ), t)) − x⁰)), u the
    steepest direction of the norm (``norms.normalize``), i.e. targeted BIM (Kurakin et al.
    2017) and ``pgd.gradient_step``. The last iterate is returned, as in the reference script.
    Reports: confidence = softmax(z)_t, margin = p₍₁₎ − p₍₂₎ of the sorted softmax.
    """
    check_model(model)
    norm = check_norm(norm)
    alpha = check_nonnegative(alpha, "alpha")
    steps = check_positive_int(steps, "steps", minimum=0)
    per_class = check_positive_int(per_class, "per_class")
    eps = np.inf if eps is None else check_nonnegative(eps, "eps")
    clip = check_clip(clip)
    dtype = check_float_dtype(dtype)
    shape = check_shape(shape, minimum=1)  # one image, e.g. (1, 28, 28)
    rng = make_rng(seed)

    # The number of classes from a grey image; two of them for a model in training mode, where a
    # batch-dependent layer may refuse a batch of one (BatchNorm on vectors), cf. probe_batch.
    n_probe = 2 if getattr(model, "training", False) is True else 1
    check_fits((n_probe,) + shape, dtype.itemsize, f"shape={shape}: the images")
    probe = model_logits(model, np.full((n_probe,) + shape, 0.5, dtype=dtype))
    k = num_classes(probe)
    if classes is None:
        classes = np.arange(k)
    else:
        classes = check_labels(classes, None, k, "classes")
        if classes.size == 0:
            raise ValueError("classes must name at least one class, got an empty sequence")
    check_fits((len(classes) * per_class,) + shape, 8,  # (the starts are drawn in float64)
               f"per_class={per_class} for {len(classes)} classes of shape {shape}: the images")
    targets = np.repeat(classes, per_class)
    m = targets.size

    if isinstance(start, str):
        if start == "uniform":
            x0 = (0.5 + rng.uniform(0.0, 0.1, size=(m,) + shape)).astype(dtype)
        elif start == "gaussian":
            x0 = rng.normal(0.0, 0.1, size=(m,) + shape).astype(dtype)
        else:
            raise ValueError(f"start must be 'uniform', 'gaussian' or an array, got {start!r}")
    else:
        start = check_array(start, "start")
        if start.shape != (m,) + shape:
            raise ValueError(f"start must have shape {(m,) + shape}, got {start.shape}")
        x0 = start.astype(dtype)
    if not np.all(np.isfinite(x0)):
        raise ValueError("start contains NaN or infinite values")
    x0 = clip_box(x0, clip).astype(dtype)
    _check_steps_reach(x0, alpha, steps, eps, clip)

    x_adv = x0
    for _ in range(steps):
        _, grad, _ = loss_gradient(model, x_adv, targets, True)
        x_adv = gradient_step(x0, x_adv, grad, alpha=alpha, eps=eps, norm=norm, clip=clip)

    logits = model_logits(model, x_adv)
    p = softmax(logits.astype(np.float64))
    top2 = np.sort(p, axis=1)[:, -2:]
    return FoolingResult(images=x_adv, targets=targets, confidence=p[np.arange(m), targets],
                         margin=top2[:, 1] - top2[:, 0], success=logits_to_labels(logits) == targets)


def _check_steps_reach(x0, alpha, steps, eps, clip):
    """Raise ValueError naming alpha (or alpha*steps) unless every iterate stays finite in x0's
    dtype, as :func:`tinyadv.attacks.pgd.pgd` checks its alpha (a huge one used to fail later as
    "x contains infinite values", blaming x).

    A step goes at most α from the iterate in each coordinate (u has norm 1 in L1, L2 and L∞),
    and the iterate stays within ε of the start; a finite box holds every iterate inside it, but
    without one (or with an end at ±inf) the steps add up: the point before a step's projection
    is at most min(ε, (steps − 1)·α) + α from the start.
    """
    if steps == 0:
        return
    check_reach(x0, alpha, "alpha", alpha, clip)  # one step from anywhere in the box
    if clip is None or not (np.isfinite(clip[0]) and np.isfinite(clip[1])):
        reach = min(eps, (steps - 1) * alpha) + alpha
        check_reach(x0, reach, "alpha*steps", alpha * steps, clip)
