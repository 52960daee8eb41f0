"""Predictions and accuracy for any model with ``logits`` (a student's own model included).

A single logit z is a binary classifier: label 1 when z > 0 (DESIGN.md).
"""

import numpy as np

from .attacks.base import check_logits_model, model_logits
from .checks import check_array, check_labels, check_positive_int
from .losses import logits_to_labels


def _predictions_and_classes(model, x, batch_size):
    """(predicted class ids (N,), number of classes K) of ``model`` on ``x``, from one forward
    pass of ``batch_size`` images at a time (K read off the first batch's logits)."""
    check_logits_model(model)
    x = check_array(x, "x", min_ndim=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    labels, classes = [], None
    for start in range(0, len(x), batch_size):
        logits = model_logits(model, x[start:start + batch_size])
        classes = logits.shape[1] if classes is None else classes
        labels.append(logits_to_labels(logits))
    return (np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)), classes


def predict(model, x, *, batch_size=1024):
    """Predicted class ids (N,) of ``model`` on ``x``, computed ``batch_size`` images at a time.

    The logits must come back finite and shaped (N, K): NaN logits (a diverged model) raise
    instead of turning into class 0.
    """
    return _predictions_and_classes(model, x, batch_size)[0]


def accuracy(model, x, y, *, batch_size=1024):
    """Fraction of ``x`` that ``model`` classifies as ``y``: the predictions of :func:`predict`,
    the same forward passes (no extra pass to learn K: a stochastic model would spend a draw on
    it, and a model in training mode would see a batch of one)."""
    check_logits_model(model)
    x = check_array(x, "x", min_ndim=2)
    if len(x) == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    check_labels(y, len(x), None)  # (all but the range, before the forward passes)
    predictions, classes = _predictions_and_classes(model, x, batch_size)
    return float(np.mean(predictions == check_labels(y, len(x), classes)))
