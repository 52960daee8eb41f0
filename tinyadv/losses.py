"""Losses on logits, and the weight penalties, each returning its value and its gradient.

Attacks and training both start from a loss on the model's *logits* (never on probabilities:
a float32 softmax underflows, its gradient becomes exactly zero, and an attack that
differentiates it sees a flat landscape — the gradient masking of REFERENCES.md §9).

A model with a single logit ``z`` is a binary classifier (label 1 when z > 0). The losses treat
it as the two logits ``[0, z]``: softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)], so softmax
cross-entropy on ``[0, z]`` *is* the sigmoid (logistic) cross-entropy and one code path serves
both (DESIGN.md). ``softmax``, ``log_softmax`` and ``logits_to_labels`` read a single logit the
same way.

Every function here takes logits of shape (N, K), K >= 1, float32 or float64, finite; these
checks cost one pass over the logits, nothing proportional to the model.
"""

import math

import numpy as np
from numba import njit

from .checks import check_array, check_labels, check_nonnegative


def check_logits(logits, name="logits", *, ndim=2, masked=False):
    """Return ``logits`` as a float32/float64 array (N, K), K >= 1, after checking it.

    Integer and float16 scores (a model that counts votes) are read as float64, big-endian
    float32/float64 ones as the native dtype (see ``check_array``). NaN and infinite values
    are refused; with ``masked``, −inf (a class masked out) is allowed, but not in every class
    of a row (no class left to predict; its softmax would be 0 / 0). A single logit −inf in a
    2-D batch is the two logits [0, −inf], class 0.
    """
    if isinstance(logits, (list, tuple)):
        logits = np.asarray(logits, dtype=np.float64)
    if isinstance(logits, np.ndarray) and (logits.dtype.kind in "iu" or (
            logits.dtype.kind == "f" and logits.dtype.itemsize == 2)):  # (float16, either order)
        logits = logits.astype(np.float64)
    logits = check_array(logits, name, ndim=ndim, finite=not masked)
    if logits.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one column (K >= 1 logits per sample), "
                         f"got shape {logits.shape}")
    if masked and not np.all(np.isfinite(logits)):  # (one pass; finite logits need no more)
        _check_masked(logits, name)
    return logits


def _check_masked(logits, name):
    """Raise ValueError for masked ``logits`` (not all finite) holding NaN or +inf, or a row
    whose every class is −inf (unless it is one logit of a 2-D batch, read as [0, −inf])."""
    if np.isnan(logits).any() or (logits == np.inf).any():
        raise ValueError(f"{name} contains NaN or +inf (only −inf, a masked class, is allowed)")
    if logits.ndim == 2 and logits.shape[1] == 1:
        return  # one logit: −inf is [0, −inf], class 0
    rows = np.flatnonzero(np.max(logits, axis=-1) == -np.inf)  # the rows that are all −inf
    if rows.size and logits.ndim == 1:
        raise ValueError(f"{name} has every class masked with −inf: no class is left "
                         f"(at least one logit must be finite)")
    if rows.size:
        others = f" (and {rows.size - 1} other rows)" if rows.size > 1 else ""
        raise ValueError(f"{name} has every class masked with −inf in row {rows[0]}{others}: "
                         f"no class is left (at least one logit of each row must be finite)")


def _two_logits(logits):
    """``logits`` (N, K) unchanged if K >= 2, else ``[0, z]`` (N, 2); no checks."""
    if logits.shape[1] == 1:
        return np.concatenate([np.zeros_like(logits), logits], axis=1)
    return logits


def _log_softmax(z):
    """log p = z − logsumexp(z) along the last axis; no checks.

    With z_m a row's largest logit (the first, if several are) and s = Σ_{k≠m} e^{z_k − z_m},

        log p_k = (z_k − z_m) − log1p(s),   so   log p_m = −log1p(s).

    log1p(s) rather than log(Σ_k e^{z_k − z_m}) = log(1 + s): once z_m leads the others by more
    than about 37 (17 in float32), 1 + s rounds to 1 and log p_m to 0, where it is −s (−8.8e-27
    for the logits [60, 0]). Logits further apart than the dtype's range give log p = −inf for
    the smaller ones: the true value is below −max_float and p underflows to 0 anyway.
    """
    rows_of_z = z.reshape(-1, z.shape[-1])  # (any leading axes as rows)
    rows, top = np.arange(len(rows_of_z)), rows_of_z.argmax(axis=1)
    with np.errstate(over="ignore", under="ignore"):  # (a class far behind or masked: e^… = 0)
        shifted = rows_of_z - rows_of_z[rows, top][:, None]
        others = np.exp(shifted)
    others[rows, top] = 0
    log_p = shifted - np.log1p(others.sum(axis=1, keepdims=True))
    return log_p.reshape(z.shape)


def as_two_logits(logits):
    """Return ``logits`` (N, K) unchanged if K >= 2, else the two logits ``[0, z]`` (N, 2)."""
    return _two_logits(check_logits(logits))


def logits_to_labels(logits):
    """Predicted class ids (N,) from logits (N, K): the argmax, or 1 when z > 0 for one logit.

    A class masked with −inf is never predicted."""
    return np.argmax(_two_logits(check_logits(logits, masked=True)), axis=1)


def log_softmax(z):
    """Numerically stable log-softmax of logits ``z`` (N, K): z - logsumexp(z), row by row.

    A single logit (K = 1) is read as ``[0, z]``, so the result has shape (N, max(K, 2)). One
    sample's logits (K,) give (K,). A class masked with −inf gets log p = −inf. The largest
    logit's log p stays accurate however far it leads (−8.8e-27 for [60, 0], not 0; see
    ``_log_softmax``).
    """
    z = check_logits(z, "z", ndim=(1, 2), masked=True)
    return _log_softmax(_two_logits(z) if z.ndim == 2 else z)


def softmax(z):
    """Softmax of logits ``z`` (N, K), shape (N, max(K, 2)): exp(log_softmax(z)).

    For reporting confidence; losses use log_softmax. A single logit is read as ``[0, z]``;
    one sample's logits (K,) give (K,); a class masked with −inf gets p = 0.
    """
    return np.exp(log_softmax(z))


def check_label_smoothing(label_smoothing):
    """``label_smoothing`` as a float in [0, 1) (ValueError/TypeError otherwise)."""
    label_smoothing = check_nonnegative(label_smoothing, "label_smoothing")
    if not label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return label_smoothing


def cross_entropy(logits, y, *, label_smoothing=0.0, temperature=1.0, class_weights=None,
                  reduction="mean", total_weight=None):
    """Softmax cross-entropy on logits, and its gradient with respect to the logits.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Unnormalised scores, float32 or float64, finite, K >= 1. K = 1 means a binary model,
        read as the logits [0, z].
    y : ndarray of int, shape (N,)
        Class labels in [0, max(K, 2)).
    label_smoothing : float in [0, 1)
        s: the target is q = (1 - s)·onehot(y) + s/K (Szegedy et al. 2016); K = 2 for a
        single logit (the two logits [0, z]).
    temperature : float > 0
        T: the loss is computed on z = logits / T (Hinton et al. 2015). The BNN paper's
        "multiply the logits by 0.25" (REFERENCES.md §3) is temperature = 4. A temperature so
        small that logits / T overflows the logits' dtype is refused; one larger than that dtype
        holds (1e39 for float32) counts as infinite: loss log K, gradient 0.
    class_weights : array_like of numbers, shape (max(K, 2),), optional
        Weight w_c >= 0 of each class (at least one > 0, each representable in the logits'
        dtype); sample n counts with weight w_{y_n}. With label smoothing as well, the whole
        smoothed loss of sample n is weighted by w_{y_n}; PyTorch's ``cross_entropy(weight=...,
        label_smoothing=...)`` weights each class's term of the target by w_c instead, so the
        two agree when only one of the options is used.
    reduction : {"mean", "sum", "none"}
        "mean" is the weighted mean Σ w_n l_n / Σ w_n (PyTorch's convention; 0 when every
        w_n is 0), "sum" the weighted sum, "none" the vector of weighted per-sample losses (and
        the gradient of their sum, so row n of the gradient is the gradient of sample n's own
        loss).
    total_weight : float > 0, optional
        Only with reduction="mean": divide by this instead of this batch's own Σ w_n: the mean
        of a larger batch computed part by part, as ``train_step`` does chunk by chunk. Pass
        ``np.sum(sample_weights(y_all, class_weights, logits.dtype))`` of the whole batch, so
        it is at least this part's own Σ w_n. (0 is accepted only when this part's weights
        are all 0 too: then loss and gradient are 0, as for reduction="mean" alone.)

    Returns
    -------
    loss : float, or ndarray of shape (N,) when reduction="none"
    dlogits : ndarray, shape (N, K), same dtype as ``logits``

    Raises ValueError when the loss or its gradient overflows the logits' dtype.

    Notes
    -----
    Forward, with p = softmax(z) and z = logits / T:

        l_n = - Σ_k q_nk log p_nk = -(1 - s) log p_{n,y_n} - (s/K) Σ_k log p_nk

    The second form is the one computed: a class with no target mass (every class but y_n
    when s = 0) contributes exactly 0, even where log p_nk = -inf. Where y_n has the largest
    logit, -log p_{n,y_n} = log1p(Σ_{k≠y_n} exp(z_nk - z_{n,y_n})) (``_log_softmax``), so that a
    confident sample's loss is small (e^-60 for a lead of 60) rather than rounded to 0.

    Backward: dl_n/dz_n = p_n - q_n, so dl_n/dlogits_n = (p_n - q_n) / T, times the sample's
    weight and the reduction's factor. The label's entry is computed as (p_y - 1) + (1 - q_y)
    with p_y - 1 = expm1(log p_y): exp(log p_y) - 1 rounds to 0 once the label leads by more
    than about 17 in float32 (37 in float64), and the gradient would lose its -∂z_y part while
    keeping the others' p_k (about e^-20 for a lead of 20, far from underflow): a direction
    that pushes the other classes up but the label not down (PyTorch 2.13's gradient does
    this). Where every p_k underflows too, the gradient is 0: see ``cross_entropy_direction``.
    For a single logit the gradient with respect to z is the second column of the two-logit
    gradient (the first logit is the constant 0).
    """
    logits = check_logits(logits)
    n, num_logits = logits.shape
    y = check_labels(y, n, num_logits)
    label_smoothing = check_label_smoothing(label_smoothing)
    temperature = check_nonnegative(temperature, "temperature")
    if temperature == 0.0:
        raise ValueError("temperature must be > 0")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if total_weight is not None:
        if reduction != "mean":
            raise ValueError(f"total_weight divides the mean: it needs reduction='mean', "
                             f"got reduction={reduction!r}")
        if isinstance(total_weight, np.ndarray) and total_weight.ndim == 0:
            total_weight = total_weight[()]
        total_weight = check_nonnegative(total_weight, "total_weight")

    z = _two_logits(logits)
    if temperature != 1.0:  # (z / 1 is z: no pass over it)
        # (overflow is refused just below; T beyond z's dtype, as 1e-46 or 1e39 for float32,
        with np.errstate(over="ignore", divide="ignore"):  # is cast to 0 or inf there)
            z = z / temperature
        if not np.isfinite(z).all():
            raise ValueError(f"temperature {temperature:g} is too small: logits / temperature "
                             f"overflows {logits.dtype}")
    k, rows = z.shape[1], np.arange(n)
    log_p = _log_softmax(z)
    log_p_y = log_p[rows, y]
    per_sample = (1.0 - label_smoothing) * (0.0 - log_p_y)  # (0.0 − 0.0 is +0.0, not −0.0)
    if label_smoothing > 0:
        per_sample -= label_smoothing / k * np.sum(log_p, axis=1)
    dz = np.exp(log_p) - label_smoothing / k  # p_k − q_k; for k = y_n, (p_y − 1) + (1 − q_y):
    dz[rows, y] = np.expm1(log_p_y) + (label_smoothing - label_smoothing / k)

    weights = _sample_weights(y, class_weights, z.dtype, k)  # (y is checked above)
    if reduction == "mean":
        total = weights.sum()
        if not np.isfinite(total):
            raise ValueError(f"the class weights of this batch sum to more than {z.dtype} can "
                             f"hold: use smaller class_weights")
        if total_weight is not None:
            if total_weight == 0 and total > 0:
                raise ValueError("total_weight must be > 0 (it divides the sum of the losses)")
            with np.errstate(over="ignore"):  # (an overflow to inf is refused just below)
                rounded = z.dtype.type(total_weight)
            if total > 0 and not 0 < rounded < np.inf:
                raise ValueError(f"total_weight {total_weight:g} is 0 or infinite in the logits' "
                                 f"{z.dtype}: it must be a positive number that {z.dtype} holds")
            total = rounded
        factor = weights / total if total > 0 else np.zeros_like(weights)
        loss = float((factor * per_sample).sum())
    elif reduction == "sum":
        factor = weights
        loss = float((factor * per_sample).sum())
    else:
        factor = weights
        loss = factor * per_sample

    with np.errstate(over="ignore"):  # (T cast to inf: the gradient is 0; overflow refused below)
        dz *= factor[:, None] / temperature
    dlogits = dz[:, 1:] if num_logits == 1 else dz
    if not (np.isfinite(loss).all() and np.isfinite(dlogits).all()):
        raise _overflow_error(logits.dtype)
    return loss, dlogits.astype(logits.dtype, copy=False)


def _overflow_error(dtype):
    return ValueError(f"the cross-entropy or its gradient overflows {dtype}: logits too far "
                      f"apart, or class_weights or 1 / temperature too large")


# The chunks of a training step. ``train_step`` asks every chunk of its batch for the gradient of
# the batch's mean loss with respect to that chunk's logits (32 × 10 of them): ``cross_entropy``
# with ``total_weight``. There, between the convolutions' kernels, NumPy's thirty-odd small steps
# ran with the core's cache cold and holding the GIL: 150 µs a chunk against 36 µs in a warm
# loop, while the other thread waited for the GIL. The compiled loop below computes the same
# loss and gradient in one call that lets go of the GIL, for labels and weights checked once
# per batch (training steps of the talk's CNN on an Intel Xeon's 2 cores, four A/B runs of 12-20
# rounds taking turns in one process: 1.02-1.06 times as fast in float32, 1.01-1.03 in float64,
# in slow and noisy hours: single rounds 0.85-1.26). It computes in float64 for both dtypes (one
# compiled kernel, 0.3 s of compiling; for float32 logits the gradient comes within 4e-7 of the
# largest entry of cross_entropy's, which computes in float32). A logit that is not finite, or a
# label with no logit, sends the chunk back to ``cross_entropy``, which raises the error that
# names it.

@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _cross_entropy_numba(z, y, weights, total, label_smoothing, largest, dz):
    """``cross_entropy(z, y, total_weight=total, label_smoothing=...)`` with sample weights
    ``weights``, z (N, K >= 2) float64: its loss is returned and its gradient written into dz
    (N, K); NaN is returned instead where a logit is not finite, a label not in [0, K), or the
    loss or an entry of its gradient larger than ``largest`` (the logits' dtype's largest
    number). The steps of ``_log_softmax`` and ``cross_entropy``, row by row."""
    N, K = z.shape
    loss = 0.0
    for n in range(N):
        label, top = y[n], 0
        if label < 0 or label >= K:
            return math.nan
        for k in range(K):
            if not math.isfinite(z[n, k]):
                return math.nan
            if z[n, k] > z[n, top]:
                top = k
        others = 0.0  # Σ_{k ≠ top} e^{z_k − z_top}
        for k in range(K):
            if k != top:
                others += math.exp(z[n, k] - z[n, top])
        log1p_others = math.log1p(others)
        factor = weights[n] / total if total > 0 else 0.0
        per_sample = (1.0 - label_smoothing) * (0.0 - ((z[n, label] - z[n, top]) - log1p_others))
        for k in range(K):
            log_p = (z[n, k] - z[n, top]) - log1p_others
            if label_smoothing > 0:
                per_sample -= label_smoothing / K * log_p
            if k == label:
                dz[n, k] = (math.expm1(log_p) + (label_smoothing - label_smoothing / K)) * factor
            else:
                dz[n, k] = (math.exp(log_p) - label_smoothing / K) * factor
            if not abs(dz[n, k]) <= largest:
                return math.nan
        loss += factor * per_sample
    return loss if abs(loss) <= largest else math.nan


def _cross_entropy_part(logits, y, weights, total_weight, *, label_smoothing=0.0):
    """``cross_entropy(logits, y, total_weight=total_weight, label_smoothing=label_smoothing,
    class_weights=...)`` for one part of a batch whose labels and weights were checked with the
    whole batch: ``y`` the part's labels (int64), ``weights`` their sample weights
    (:func:`sample_weights` of the batch, this part's rows), ``total_weight`` >= 0 the batch's
    Σ w_n. Returns ``(loss, dlogits)`` as ``cross_entropy`` does, to its rounding (the compiled
    loop above, in float64), or raises the error ``cross_entropy`` raises for these logits (not
    finite, too few for a label, or a loss or gradient beyond their dtype)."""
    z = _two_logits(logits) if logits.shape[1] == 1 else logits
    dz = np.empty(z.shape)
    loss = _cross_entropy_numba(np.asarray(z, np.float64), y, np.asarray(weights, np.float64),
                                float(total_weight), float(label_smoothing),
                                _LARGEST[logits.dtype], dz)
    if math.isnan(loss):
        cross_entropy(logits, y, label_smoothing=label_smoothing)  # (raises for logits, labels)
        raise _overflow_error(logits.dtype)
    return loss, (dz[:, 1:] if logits.shape[1] == 1 else dz).astype(logits.dtype)


_LARGEST = {np.dtype(t): float(np.finfo(t).max) for t in (np.float32, np.float64)}


def sample_weights(y, class_weights, dtype, *, num_classes=None):
    """The weight w_{y_n} of every sample (ones when ``class_weights`` is None), in ``dtype``.

    ``class_weights`` must hold numbers >= 0, at least one > 0, none too large for ``dtype``;
    with ``num_classes`` given, exactly that many. ``y`` must be a 1-D array of integer labels
    in [0, num_classes) (negative labels are refused, not wrapped around), each with a weight.
    """
    y = check_labels(y, _num_labels(y), num_classes)
    return _sample_weights(y, class_weights, dtype, num_classes)


def _num_labels(y):
    """The length of the label vector ``y`` (1 for a scalar, which ``check_labels`` refuses)."""
    shape = np.shape(y)
    return shape[0] if shape else 1


def _sample_weights(y, class_weights, dtype, num_classes):
    """:func:`sample_weights` for labels ``y`` already checked (an int64 vector, none < 0)."""
    if class_weights is None:
        return np.ones(len(y), dtype=dtype)
    if num_classes is not None and np.shape(class_weights) != (num_classes,):
        raise ValueError(f"class_weights must have {num_classes} entries, "
                         f"got shape {np.shape(class_weights)}")
    values = np.asarray(class_weights)
    if values.dtype.kind not in "biuf":  # (a bool mask counts as weights 0 and 1)
        raise TypeError(f"class_weights must hold numbers, got dtype {values.dtype}")
    class_weights = check_array(values.astype(np.float64), "class_weights", ndim=1)
    if np.any(class_weights < 0) or not np.any(class_weights > 0):
        raise ValueError(f"class_weights must be >= 0 with at least one > 0, got {class_weights}")
    largest = np.finfo(dtype).max
    if class_weights.max() > largest:
        raise ValueError(f"class_weights holds {class_weights.max():g}, more than {np.dtype(dtype)} "
                         f"can hold ({largest:g}): use smaller weights")
    if y.size and y.max() >= len(class_weights):
        raise ValueError(f"class_weights has {len(class_weights)} entries, but y holds the label "
                         f"{y.max()}: give one weight per class")
    return class_weights[y].astype(dtype)


def _check_weights(weights):
    """Return ``weights`` as a list of float arrays, for the penalties.

    ``weights`` must be a list or tuple of float32/float64 arrays (a model's
    ``[p.data for p in model.parameters()]``), not one array (whose rows would be read as
    weights) nor ``Parameter`` objects.
    """
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"weights must be a list or tuple of arrays, got {type(weights).__name__}; "
                        f"wrap a single array as [w]")
    for i, w in enumerate(weights):
        if hasattr(w, "data") and hasattr(w, "grad"):  # a Parameter (losses know no layers)
            raise TypeError(f"weights[{i}] is a Parameter: pass its array, "
                            f"[p.data for p in model.parameters()]")
    return [check_array(w, f"weights[{i}]", finite=False) for i, w in enumerate(weights)]


def _check_penalty_value(terms, weights):
    """Raise ValueError naming the first weight whose penalty term is NaN or infinite.

    Checking the per-weight sums costs nothing; only on failure are the weights scanned.
    """
    for i, (term, w) in enumerate(zip(terms, weights)):
        if not np.isfinite(term):
            check_array(w, f"weights[{i}]")  # names NaN or infinite entries
            raise ValueError(f"the penalty of weights[{i}] overflows float64 ({term})")


def _check_penalty_result(penalty, lam, terms, value, grads, largest):
    """Raise ValueError naming ``penalty``, ``lam`` and the dtype when the penalty's value
    (a float64) or a gradient is not finite though the weights and ``lam`` were: an overflow.

    ``terms`` are the per-weight terms (each finite, see :func:`_check_penalty_value`) whose
    sum times λ is the value. ``largest[i]`` bounds max|W_i| from above (or bounds what λ
    multiplies); a gradient is scanned only when λ or λ·``largest[i]`` comes within a factor 2
    of its dtype's largest value (λ itself is rounded to the weight's dtype), so in every other
    case the check is O(1).
    """
    if not np.isfinite(value):
        total = sum(terms)
        cause = ("use a smaller lam" if np.isfinite(total) else
                 f"the penalties of the weights sum to {total}, more than float64 can hold")
        raise ValueError(f"{penalty} with lam={lam:g} overflows float64 (its value is {value}): "
                         f"{cause}")
    for i, (g, bound) in enumerate(zip(grads, largest)):
        half = 0.5 * float(np.finfo(g.dtype).max)
        if (lam >= half or lam * bound >= half) and not np.all(np.isfinite(g)):
            raise ValueError(f"the gradient of {penalty} with lam={lam:g} overflows {g.dtype} "
                             f"at weights[{i}]: use a smaller lam")


def l2_penalty(weights, lam):
    """Weight decay as a loss term: value ½ λ Σ ‖W‖² and gradients λ W.

    Parameters
    ----------
    weights : list or tuple of ndarray
        Finite float32/float64 arrays; an empty one contributes 0.
    lam : float >= 0

    Returns
    -------
    value : float
    grads : list of ndarray, one per weight

    Raises ValueError, naming it, when the value overflows float64 or a gradient its
    weight's dtype.
    """
    weights = _check_weights(weights)
    lam = check_nonnegative(lam, "lam")
    with np.errstate(over="ignore"):  # an overflowing term is refused by name
        terms = [float(np.sum(w.astype(np.float64) ** 2)) for w in weights]
    _check_penalty_value(terms, weights)
    with np.errstate(over="ignore", invalid="ignore"):  # refused by name just below
        value, grads = 0.5 * lam * sum(terms), [lam * w for w in weights]
    _check_penalty_result("l2_penalty", lam, terms, value, grads, [np.sqrt(t) for t in terms])
    return value, grads


def l1_penalty(weights, lam):
    """L1 penalty λ Σ mean|W| (REFERENCES.md §7 uses the mean) and its subgradient λ sign(W)/size.

    ``weights`` is a list or tuple of finite float32/float64 arrays; an empty one contributes 0.
    ``lam`` is λ >= 0.
    At W = 0 the subgradient 0 is used. Raises ValueError, naming it, when the value overflows
    float64 or a subgradient its weight's dtype.
    """
    weights = _check_weights(weights)
    lam = check_nonnegative(lam, "lam")
    terms = [float(np.mean(np.abs(w), dtype=np.float64)) if w.size else 0.0 for w in weights]
    _check_penalty_value(terms, weights)
    with np.errstate(over="ignore", invalid="ignore"):  # refused by name just below
        value, grads = lam * sum(terms), [lam * np.sign(w) / max(w.size, 1) for w in weights]
    ones = [1.0] * len(weights)  # (|sign(W)| <= 1)
    _check_penalty_result("l1_penalty", lam, terms, value, grads, ones)
    return value, grads
