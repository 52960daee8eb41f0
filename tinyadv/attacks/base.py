"""What every attack does before and around its update rule: check, label, differentiate, clip.

An attack sees a model only through two methods (DESIGN.md, "The model interface"):

    logits(x) -> (N, K)                      K = 1 is a binary model, read as the logits [0, z]
    input_gradient(x, grad_logits) -> dx     the vector-Jacobian product, shaped like x

The model is used in whatever mode it is in, like PyTorch: call ``model.eval()`` first if it
has dropout or batch norm and you want the test-time function attacked.

The helpers here check the inputs once at the door (clear errors for a bad norm, eps < 0, NaN
pixels, labels out of range, a targeted attack without targets, a model whose gradient has the
wrong shape), pick the labels (the model's own prediction when none are given, so no label
leaking, Kurakin et al. 2017), and compute the per-sample loss gradient that the gradient
attacks ascend. Every attack works in the dtype of ``x`` and returns that dtype.
"""

import inspect

import numpy as np

from ..checks import check_array, check_bool, check_clip, check_labels
from ..losses import _log_softmax, as_two_logits, cross_entropy, logits_to_labels


def check_model(model):
    """Raise TypeError unless ``model`` has callable ``logits`` and ``input_gradient``."""
    for method in ("logits", "input_gradient"):
        if not callable(getattr(model, method, None)):
            raise TypeError(
                f"model must have a method {method}(...); an attack needs logits(x) -> (N, K) and "
                f"input_gradient(x, grad_logits) -> dx (got {type(model).__name__})"
            )


def check_logits_model(model, name="model"):
    """Raise TypeError unless ``model`` has a callable ``logits`` (all a black-box attack needs)."""
    if not callable(getattr(model, "logits", None)):
        raise TypeError(f"{name} must have a method logits(x) -> (N, K), got {type(model).__name__}")


def check_input(x, clip, name="x"):
    """Check the batch ``x`` (floating, finite, N first) and ``clip``; return ``(x, clip)``.
    Errors call the batch ``name``.

    When a box is given, ``x`` must lie in it: the ε-ball guarantee of the attacks holds only
    then (clipping moves a coordinate toward the box, hence toward a clean pixel inside it).
    The box's smallest and largest value also tell that x is finite (NaN makes both NaN), so
    then the finiteness check needs no pass of its own.
    """
    x = check_array(x, name, min_ndim=2, finite=clip is None)
    clip = check_clip(clip)
    if clip is not None and x.size:
        low, high = x.min(), x.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            check_array(x, name)  # raises, naming NaN or infinite values
        if low < clip[0] or high > clip[1]:
            raise ValueError(
                f"{name} has values in [{low:.4g}, {high:.4g}], outside the clip box {clip}; "
                f"pass clip=None for inputs that are not pixels in a box"
            )
    return x, clip


def check_reach(x, reach, name, value, clip=None):
    """Raise ValueError unless ``x + d`` stays finite in x's dtype for every |d| ≤ ``reach``.

    ``reach`` is how far a parameter (``name`` = ``value``: ε, σ, δ, λ) can move a pixel. A huge
    but finite one would turn pixels into ±inf (and ``rng.uniform(−r, r)`` overflows once 2r
    does), and fail later as "x contains infinite values", blaming x. The check keeps a factor 2
    of headroom, max|x| + reach ≤ max(dtype)/2, which covers both. Given the box ``clip`` that
    x was checked to lie in, its ends bound |x| and no pass over x is needed.
    """
    bound = max(abs(clip[0]), abs(clip[1])) if clip is not None else np.inf
    if not np.isfinite(bound):  # no box, or one open on a side: read x itself
        bound = np.abs(x).max(initial=0.0)
    largest = float(bound) + float(reach)
    if not largest <= float(np.finfo(x.dtype).max) / 2:
        raise ValueError(f"{name}={value:g} is too large: x moved by up to {float(reach):.3g} "
                         f"would not be finite in {x.dtype}")


def clip_box(x, clip):
    """Clip to the pixel box ``(low, high)``, or return ``x`` unchanged when clip is None."""
    return x if clip is None else np.clip(x, clip[0], clip[1])


def _check_real(a, what):
    """Raise TypeError unless the array ``a`` holds real numbers (``what`` names it)."""
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be an array of real numbers, got dtype {a.dtype}")


def check_logits(logits, x):
    """Check that the model's logits for ``x`` are a finite (N, K) array; return them as one
    (a list is converted)."""
    logits = np.asarray(logits)
    _check_real(logits, "model.logits")
    if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
        raise ValueError(
            f"model.logits must return shape (N, K) = ({x.shape[0]}, K), got {logits.shape}"
        )
    if not np.all(np.isfinite(logits)):
        raise ValueError("model.logits returned NaN or infinite values")
    return logits


def check_gradient(dx, x, finite=True):
    """Check that the model's input gradient is shaped like ``x`` and, if ``finite``, finite in
    x's dtype; return it in x's dtype (a list is converted). A NaN, or a float64 1e40 that is inf
    in float32, would otherwise come out as NaN pixels (FGSM: sign(NaN)) or be blamed on the
    logits a step later. (One pass over an x-sized array: about 0.2 ms for 512 CIFAR-10 images,
    against some 70 ms for the gradient itself.)"""
    dx = np.asarray(dx)
    _check_real(dx, "model.input_gradient")
    if dx.shape != x.shape:
        raise ValueError(
            f"model.input_gradient must return an array shaped like x {x.shape}, got {dx.shape}"
        )
    with np.errstate(over="ignore"):  # (an overflow in the cast is named just below)
        dx = dx.astype(x.dtype, copy=False)
    if finite and not np.all(np.isfinite(dx)):
        raise ValueError(f"model.input_gradient returned NaN or infinite values (in x's dtype "
                         f"{x.dtype})")
    return dx


def model_logits(model, x):
    """Call ``model.logits`` and check that it returned a finite (N, K) array."""
    return check_logits(model.logits(x), x)


def accepts_keyword(function, name):
    """Whether ``function`` can be called with the keyword ``name``: its signature names it or
    takes ``**kwargs`` (a wrapper). A callable whose signature cannot be read (some builtins)
    is taken to accept none. ``check_attack`` and ``adversarial_hook`` pass norm, clip and seed
    only where this holds."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind == p.VAR_KEYWORD for p in parameters.values())


def model_gradient(model, x, grad_logits, finite=True):
    """Call ``model.input_gradient`` and check the result (:func:`check_gradient`)."""
    return check_gradient(model.input_gradient(x, grad_logits.astype(x.dtype, copy=False)), x,
                          finite)


def num_classes(logits):
    """Number of classes: K, or 2 for a single-logit model. Logits not shaped (N, K), K >= 1,
    are refused."""
    shape = np.shape(logits)
    if len(shape) != 2 or shape[1] == 0:
        raise ValueError(f"logits must have shape (N, K) with K >= 1, got {shape}")
    return max(shape[1], 2)


def probe_batch(model, x):
    """The part of the batch ``x`` (N, ...) whose logits tell the number of logits K: the first
    sample alone (one sample's forward pass, not the batch's), unless the model is in training
    mode (``model.training`` is True, as after ``train()``). There a layer may depend on the
    batch, and one sample would be a batch of its own (a BatchNorm on vectors refuses it, one on
    images would update its running statistics with a single image's), so the whole batch goes
    through, as in every other pass of the attack."""
    return x if getattr(model, "training", False) is True else x[:1]


def num_logits(model, x):
    """K, the number of logits of ``model`` on the batch ``x``, read off ``probe_batch``."""
    return model_logits(model, probe_batch(model, x)).shape[1]


def attack_labels(model, x, y, targeted):
    """Return the labels to attack (int64, (N,)).

    ``y`` is the true label (untargeted) or the target (targeted). When ``y`` is None the
    model's prediction is used; a targeted attack without targets is an error. Given labels are
    checked against the number of classes K, which :func:`num_logits` reads off the first
    sample (so a given ``y`` costs no forward pass of the whole batch, except in training mode).
    """
    if y is None:
        if targeted:
            raise ValueError("a targeted attack needs the target labels y (got y=None)")
        return logits_to_labels(model_logits(model, x))
    return check_labels(y, x.shape[0], num_logits(model, x))


def from_two_logits(dlogits2, k):
    """Map a gradient with respect to the two logits [0, z] back to the model's K = 1 logit."""
    return dlogits2[:, 1:] if k == 1 else dlogits2


def cross_entropy_direction(logits, y):
    """∂CE(z, y)/∂z up to a positive factor per sample, computed so that it never underflows.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
    y : ndarray of int, shape (N,)
        Labels in [0, max(K, 2)); others are refused (``check_labels``).

    Returns
    -------
    direction : ndarray, shape (N, K), float64

    Notes
    -----
    ∂CE/∂z_k = p_k − 1[k = y]. When the model is confident, p_k for k ≠ y underflows (below
    about e^−87 in float32) and 1 − p_y rounds to 0, so the gradient is exactly zero and a
    gradient attack stands still: gradient masking by arithmetic (REFERENCES.md §9). Dividing
    by m = max_{k≠y} p_k, in log space, gives the same direction for any margin:

        e_k = exp(log p_k − max_{j≠y} log p_j)  (k ≠ y),     e_y = −Σ_{k≠y} e_k.
    """
    two = as_two_logits(logits)  # (checks the logits: (N, K), floating, finite)
    k_logits = np.shape(logits)[1]
    y = check_labels(y, len(two), k_logits)
    log_p = _log_softmax(two.astype(np.float64))  # (checked: ``as_two_logits``)
    is_label = np.arange(log_p.shape[1])[None, :] == y[:, None]
    others = np.where(is_label, -np.inf, log_p)
    e = np.exp(others - others.max(axis=1, keepdims=True))
    e[is_label] = -e.sum(axis=1)
    return from_two_logits(e, k_logits)


def logits_and_gradient(model, x, grad_fn):
    """The logits at ``x`` and ``input_gradient(x, grad_fn(logits, rows))``, both checked.

    ``grad_fn(logits, rows)`` maps the logits of the samples ``x[rows]`` to the upstream
    gradient of a per-sample loss. tinyadv's models do it in one forward pass per chunk
    (``logits_and_input_gradient``); other models get ``logits`` then ``input_gradient``.
    """
    if hasattr(model, "logits_and_input_gradient"):
        logits, grad = model.logits_and_input_gradient(x, grad_fn)
        return check_logits(logits, x), check_gradient(grad, x)
    logits = model_logits(model, x)
    return logits, model_gradient(model, x, np.asarray(grad_fn(logits, slice(None))))


def loss_gradient(model, x, y, targeted):
    """Per-sample cross-entropy on logits and the direction that the attack ascends.

    Returns
    -------
    loss : ndarray, shape (N,)
        The attack objective J_n: cross-entropy CE(z_n, y_n) (untargeted) or −CE(z_n, t_n)
        (targeted), so the attack always *increases* it (computed in float64).
    grad : ndarray, shaped like x
        A positive per-sample multiple of ∇ₓJ_n (row n depends on sample n only), from
        ``cross_entropy_direction`` so that it does not vanish for confident models. The
        attacks that use it (FGM, PGD, the pixel attack, fooling images) depend only on its
        direction per sample, except through L2's ``normalize``, which divides by
        max(‖g‖₂, 1e-6).
    logits : ndarray, shape (N, K)
        The logits at x.

    ``y`` must be N labels (``check_labels``; their range is checked against the logits) and
    ``targeted`` a bool.
    """
    y = check_labels(y, len(x), None)
    sign = -1.0 if check_bool(targeted, "targeted") else 1.0
    logits, grad = logits_and_gradient(
        model, x, lambda z, rows: sign * cross_entropy_direction(z, y[rows]))
    loss, _ = cross_entropy(logits.astype(np.float64), y, reduction="none")
    return sign * loss, grad, logits


def labels_and_first_pass(model, x, y, targeted):
    """For an attack whose first step is at x itself: the labels to attack, as
    :func:`attack_labels` returns them, and that step's ``(loss, grad, logits)`` at x as
    :func:`loss_gradient` returns them, or None.

    With y=None (untargeted) the labels are the model's prediction, and it is read off the very
    pass that gives the first step (the logits of the fused pass are those of ``model.logits``,
    bit for bit), so the attack spends no forward pass on its labels. Otherwise the labels are
    checked as usual and the first step is left to the attack (None).
    """
    if y is not None or targeted:
        return attack_labels(model, x, y, targeted), None
    y = np.empty(x.shape[0], dtype=np.int64)

    def direction(logits, rows):
        y[rows] = logits_to_labels(logits)
        return cross_entropy_direction(logits, y[rows])

    logits, grad = logits_and_gradient(model, x, direction)
    loss, _ = cross_entropy(logits.astype(np.float64), y, reduction="none")
    return y, (loss, grad, logits)


def is_success(logits, y, targeted):
    """Whether each sample is adversarial: prediction ≠ y (untargeted) or = y (targeted).

    ``y`` must be N labels in [0, max(K, 2)) and ``targeted`` a bool (else TypeError/ValueError).
    """
    targeted = check_bool(targeted, "targeted")
    pred = logits_to_labels(logits)
    y = check_labels(y, len(pred), np.shape(logits)[1])
    return pred == y if targeted else pred != y
