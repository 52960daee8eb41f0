"""Robust accuracy, and accuracy against the size of the perturbation.

The talk's robustness plots are one curve per model: accuracy (and mean confidence) of the model
on attacked or corrupted inputs, against ε, the noise level, or the fraction of swapped pixels.
Two functions make them:

* ``robust_accuracy(model, x, y, attack, **kwargs)``: accuracy on ``attack(model, x, y, **kwargs)``,
  computed in batches.
* ``sweep(model, x, y, attack, levels, param="eps", ...)``: the same at every level of one
  keyword argument, returning the levels, accuracies and mean confidences.

An attack is anything shaped ``f(model, x, y=None, *, <param>, ...) -> x_adv``: every function in
``tinyadv.attacks``, the corruptions in ``tinyadv.attacks.corruptions``, or your own. The model is
used in whatever mode it is in (call ``model.eval()`` first). Untargeted attacks receive the true
labels ``y``. If the keyword arguments hold a ``seed``, one ``numpy.random.Generator`` is made
from it and passed to every batch, so batches get different random numbers and the run is
reproducible; a sweep restarts that generator at every level (common random numbers, so the
curve is not jagged from re-drawing).

Accuracy is always measured against the true labels ``y``. For a targeted attack, wrap it so
that it picks its own targets, e.g. ``lambda m, x, y, **kw: pgd(m, x, (y + 1) % 10,
targeted=True, **kw)``.
"""

import numpy as np
from tqdm import tqdm

from .attacks.base import check_model, model_logits
from .checks import check_array, check_labels, check_positive_int, make_rng
from .losses import logits_to_labels, softmax


def _batches(n, batch_size):
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _check(model, x, y, batch_size):
    check_model(model)
    x = check_array(x, "x", min_ndim=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    k = model_logits(model, x[:1]).shape[1] if len(x) else 2
    y = check_labels(y, x.shape[0], k)
    return x, y, batch_size


def _evaluate(model, x, y, attack, kwargs, batch_size, bar):
    """Number of correct predictions and the sum of confidences over all batches."""
    kwargs = dict(kwargs)
    if kwargs.get("seed") is not None:
        kwargs["seed"] = make_rng(kwargs["seed"])
    correct, confidence = 0, 0.0
    for part in _batches(len(x), batch_size):
        xb, yb = x[part], y[part]
        x_eval = xb if attack is None else attack(model, xb, yb, **kwargs)
        if not isinstance(x_eval, np.ndarray) or x_eval.shape != xb.shape:
            raise ValueError(f"the attack must return an array shaped like its input {xb.shape}, got "
                             f"{getattr(x_eval, 'shape', type(x_eval).__name__)}")
        logits = model_logits(model, x_eval)
        correct += int(np.sum(logits_to_labels(logits) == yb))
        confidence += float(np.sum(np.max(softmax(logits.astype(np.float64)), axis=1)))
        bar.update(1)
    return correct, confidence


def robust_accuracy(model, x, y, attack=None, *, batch_size=256, progress=True, **attack_kwargs):
    """Accuracy of ``model`` on ``attack(model, x, y, **attack_kwargs)``, in batches.

    Parameters
    ----------
    model : object with ``logits`` and ``input_gradient``
    x : ndarray, shape (N, ...)
    y : ndarray of int, shape (N,)
        True labels.
    attack : callable or None
        ``attack(model, x_batch, y_batch, **attack_kwargs) -> x_adv``; None gives clean accuracy.
    batch_size : int
    progress : bool
        Show a tqdm progress bar over batches.
    **attack_kwargs
        Passed to the attack (e.g. ``eps=0.3, alpha=0.01, steps=40, seed=0``).

    Returns
    -------
    accuracy : float
        (1/N) Σ_n 1[argmax_k Z_k(x_adv,n) = y_n].
    """
    x, y, batch_size = _check(model, x, y, batch_size)
    if len(x) == 0:
        raise ValueError("x is empty")
    total = len(_batches(len(x), batch_size))
    with tqdm(total=total, disable=not progress, desc="robust accuracy") as bar:
        correct, _ = _evaluate(model, x, y, attack, attack_kwargs, batch_size, bar)
    return correct / len(x)


def sweep(model, x, y, attack, levels, *, param="eps", level_kwargs=None, batch_size=256,
          progress=True, **attack_kwargs):
    """Accuracy and mean confidence at every level of one attack parameter.

    Parameters
    ----------
    model : object with ``logits`` and ``input_gradient``
    x : ndarray, shape (N, ...)
    y : ndarray of int, shape (N,)
    attack : callable
        ``attack(model, x, y, **{param: level}, **attack_kwargs) -> x_adv``.
    levels : sequence of numbers, shape (L,)
        Values of ``param`` (ε, σ, fraction, k, ...), passed to the attack as Python numbers.
    param : str
        Name of the keyword argument that the levels set (``"eps"`` by default; ``"sigma"``,
        ``"fraction"`` or ``"k"`` for the corruptions and the pixel attack).
    level_kwargs : callable, optional
        ``level_kwargs(level) -> dict`` of further keyword arguments that depend on the level,
        e.g. ``lambda eps: {"alpha": eps / 4}`` for PGD.
    batch_size : int
    progress : bool
        Show one tqdm progress bar over all levels and batches.
    **attack_kwargs
        Fixed keyword arguments of the attack.

    Returns
    -------
    result : dict
        ``"levels"`` (L,), ``"accuracy"`` (L,) and ``"confidence"`` (L,): the mean over samples
        of the largest softmax probability on the attacked inputs.
    """
    x, y, batch_size = _check(model, x, y, batch_size)
    if len(x) == 0:
        raise ValueError("x is empty")
    if not callable(attack):
        raise TypeError(f"attack must be callable, got {type(attack).__name__}")
    values = [v.item() if isinstance(v, np.generic) else v for v in np.asarray(levels).ravel()]
    levels = np.asarray(levels)
    if levels.ndim != 1 or levels.size == 0:
        raise ValueError(f"levels must be a non-empty 1-D sequence, got shape {levels.shape}")
    accuracy, confidence = np.zeros(levels.size), np.zeros(levels.size)
    total = levels.size * len(_batches(len(x), batch_size))
    with tqdm(total=total, disable=not progress, desc=f"sweep over {param}") as bar:
        for i, level in enumerate(values):
            kwargs = dict(attack_kwargs)
            kwargs[param] = level
            if level_kwargs is not None:
                kwargs.update(level_kwargs(level))
            correct, conf = _evaluate(model, x, y, attack, kwargs, batch_size, bar)
            accuracy[i], confidence[i] = correct / len(x), conf / len(x)
    return {"levels": levels, "accuracy": accuracy, "confidence": confidence}
