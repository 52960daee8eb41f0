"""Losses on logits, and the weight penalties, each returning its value and its gradient.

Attacks and training both start from a loss on the model's *logits* (never on probabilities:
a float32 softmax underflows, its gradient becomes exactly zero, and an attack that
differentiates it sees a flat landscape — the gradient masking of REFERENCES.md §9).

A model with a single logit ``z`` is a binary classifier (label 1 when z > 0). The losses treat
it as the two logits ``[0, z]``: softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)], so softmax
cross-entropy on ``[0, z]`` *is* the sigmoid (logistic) cross-entropy and one code path serves
both (DESIGN.md).
"""

import numpy as np

from .checks import check_array, check_labels, check_nonnegative


def as_two_logits(logits):
    """Return ``logits`` unchanged if it has K >= 2 columns, else ``[0, z]`` for a single logit."""
    if logits.shape[1] == 1:
        return np.concatenate([np.zeros_like(logits), logits], axis=1)
    return logits


def logits_to_labels(logits):
    """Predicted class ids (N,) from logits (N, K): the argmax, or 1 when z > 0 for one logit."""
    return np.argmax(as_two_logits(logits), axis=1)


def log_softmax(z):
    """Numerically stable log-softmax along the last axis: z - logsumexp(z)."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def softmax(z):
    """Softmax along the last axis (for reporting confidence; losses use log_softmax)."""
    return np.exp(log_softmax(as_two_logits(z) if z.ndim == 2 else z))


def cross_entropy(logits, y, *, label_smoothing=0.0, temperature=1.0, class_weights=None,
                  reduction="mean", total_weight=None):
    """Softmax cross-entropy on logits, and its gradient with respect to the logits.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Unnormalised scores. K = 1 means a binary model, read as the logits [0, z].
    y : ndarray of int, shape (N,)
        Class labels in [0, max(K, 2)).
    label_smoothing : float in [0, 1)
        s: the target is q = (1 - s)·onehot(y) + s/K (Szegedy et al. 2016).
    temperature : float > 0
        T: the loss is computed on z = logits / T (Hinton et al. 2015). The BNN paper's
        "multiply the logits by 0.25" (REFERENCES.md §3) is temperature = 4.
    class_weights : ndarray, shape (K,), optional
        Weight w_c of each class; sample n counts with weight w_{y_n}.
    reduction : {"mean", "sum", "none"}
        "mean" is the weighted mean Σ w_n l_n / Σ w_n (PyTorch's convention), "sum" the weighted
        sum, "none" the vector of weighted per-sample losses (and the gradient of their sum, so
        row n of the gradient is the gradient of sample n's own loss).
    total_weight : float, optional
        With reduction="mean", divide by this instead of this batch's own Σ w_n: the mean of
        a larger batch computed part by part, as ``train_step`` does chunk by chunk. Pass
        ``np.sum(sample_weights(y_all, class_weights, logits.dtype))`` of the whole batch.

    Returns
    -------
    loss : float, or ndarray of shape (N,) when reduction="none"
    dlogits : ndarray, shape (N, K), same dtype as ``logits``

    Notes
    -----
    Forward, with p = softmax(z) and z = logits / T:

        l_n = - Σ_k q_nk log p_nk

    Backward: dl_n/dz_n = p_n - q_n, so dl_n/dlogits_n = (p_n - q_n) / T, times the sample's
    weight and the reduction's factor. For a single logit the gradient with respect to z is the
    second column of the two-logit gradient (the first logit is the constant 0).
    """
    logits = check_array(logits, "logits", ndim=2)
    n, num_logits = logits.shape
    y = check_labels(y, n, num_logits)
    if not check_nonnegative(label_smoothing, "label_smoothing") < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if check_nonnegative(temperature, "temperature") == 0.0:
        raise ValueError("temperature must be > 0")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

    z = as_two_logits(logits) / temperature
    k = z.shape[1]
    log_p = log_softmax(z)
    q = np.full(z.shape, label_smoothing / k, dtype=z.dtype)
    q[np.arange(n), y] += 1.0 - label_smoothing
    per_sample = -np.sum(q * log_p, axis=1)

    if class_weights is not None and np.shape(class_weights) != (k,):
        raise ValueError(f"class_weights must have {k} entries, got shape {np.shape(class_weights)}")
    weights = sample_weights(y, class_weights, z.dtype)

    if reduction == "mean":
        total = np.sum(weights) if total_weight is None else z.dtype.type(total_weight)
        factor = weights / total if total > 0 else np.zeros_like(weights)
        loss = float(np.sum(factor * per_sample))
    elif reduction == "sum":
        factor = weights
        loss = float(np.sum(factor * per_sample))
    else:
        factor = weights
        loss = factor * per_sample

    dz = (np.exp(log_p) - q) * factor[:, None] / temperature
    dlogits = dz[:, 1:] if num_logits == 1 else dz
    return loss, dlogits.astype(logits.dtype, copy=False)


def sample_weights(y, class_weights, dtype):
    """The weight w_{y_n} of every sample (ones when ``class_weights`` is None), in ``dtype``."""
    if class_weights is None:
        return np.ones(len(y), dtype=dtype)
    class_weights = check_array(np.asarray(class_weights, dtype=np.float64), "class_weights", ndim=1)
    if np.any(class_weights < 0) or not np.any(class_weights > 0):
        raise ValueError(f"class_weights must be >= 0 with at least one > 0, got {class_weights}")
    return class_weights[y].astype(dtype)


def l2_penalty(weights, lam):
    """Weight decay as a loss term: value ½ λ Σ ‖W‖² and gradients λ W.

    Parameters
    ----------
    weights : list of ndarray
    lam : float >= 0

    Returns
    -------
    value : float
    grads : list of ndarray, one per weight
    """
    lam = check_nonnegative(lam, "lam")
    value = 0.5 * lam * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in weights)
    return value, [lam * w for w in weights]


def l1_penalty(weights, lam):
    """L1 penalty λ Σ mean|W| (REFERENCES.md §7 uses the mean) and its subgradient λ sign(W)/size.

    At W = 0 the subgradient 0 is used.
    """
    lam = check_nonnegative(lam, "lam")
    value = lam * sum(float(np.mean(np.abs(w))) for w in weights)
    return value, [lam * np.sign(w) / w.size for w in weights]
