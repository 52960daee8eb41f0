"""Predictions and accuracy for any model with ``logits`` (a student's own model included).

A single logit z is a binary classifier: label 1 when z > 0 (DESIGN.md).
"""

import numpy as np

from .attacks.base import check_logits_model, model_logits
from .checks import check_array, check_labels, check_positive_int
from .losses import logits_to_labels


def predict(model, x, *, batch_size=1024):
    """Predicted class ids (N,) of ``model`` on ``x``, computed ``batch_size`` images at a time.

    The logits must come back finite and shaped (N, K): NaN logits (a diverged model) raise
    instead of turning into class 0.
    """
    check_logits_model(model)
    x = check_array(x, "x", min_ndim=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    labels = [logits_to_labels(model_logits(model, x[start:start + batch_size]))
              for start in range(0, len(x), batch_size)]
    return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)


def accuracy(model, x, y, *, batch_size=1024):
    """Fraction of ``x`` that ``model`` classifies as ``y``."""
    check_logits_model(model)
    x = check_array(x, "x", min_ndim=2)
    if len(x) == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    y = check_labels(y, len(x), model_logits(model, x[:1]).shape[1])
    return float(np.mean(predict(model, x, batch_size=batch_size) == y))
