"""Robust accuracy, and accuracy against the size of the perturbation.

The talk's robustness plots are one curve per model: accuracy (and mean confidence) of the model
on attacked or corrupted inputs, against ε, the noise level, or the fraction of swapped pixels.
Two functions make them:

* ``robust_accuracy(model, x, y, attack, **kwargs)``: accuracy on ``attack(model, x, y, **kwargs)``,
  computed in batches.
* ``sweep(model, x, y, attack, levels, param="eps", ...)``: the same at every level of one
  keyword argument, returning the levels, accuracies and mean confidences.

An attack is anything shaped ``f(model, x, y=None, *, <param>, ...) -> x_adv``: the attacks of
``tinyadv.attacks`` (``deepfool``, which takes no y, as ``lambda m, x, y, **kw: deepfool(m, x,
**kw)``), the corruptions in ``tinyadv.attacks.corruptions``, or your own. The model is
used in whatever mode it is in (call ``model.eval()`` first). Untargeted attacks receive the true
labels ``y``. If the keyword arguments hold a ``seed``, one ``numpy.random.Generator`` is made
from it and passed to every batch, so batches get different random numbers and the run is
reproducible; a sweep restarts that generator at every level (common random numbers, so the
curve is not jagged from re-drawing). A Generator given as the seed is copied, not advanced:
every level, and every attack of a table, starts from its state, as from an int seed.

Accuracy is always measured against the true labels ``y``. For a targeted attack, wrap it so
that it picks its own targets, e.g. ``lambda m, x, y, **kw: pgd(m, x, (y + 1) % 10,
targeted=True, **kw)``.

Beyond one accuracy number per level, the talk needs five more measurements:

* ``robustness_table(model, x, y, attacks, eps)``: several attacks at every ε at once, and the
  per-sample worst case over them (a sample counts as robust only if *every* attack fails on
  it). Returns a ``RobustnessTable`` that prints as a table and draws itself with ``.plot()``.
* ``perturbation_stats(x, x_adv)``: the L0, L1, L2 and L∞ sizes of δ = x_adv − x (mean and
  median), e.g. of CW-L2 or DeepFool, the minimal-perturbation estimates.
* ``confidence_and_margin(model, x)``: the top softmax probability and the margin
  top-1 − top-2 (REFERENCES.md §5) of every sample.
* ``mutual_information``, ``label_entropy`` and ``mean_snr``: I(T;Y) between predictions and
  labels against the input signal-to-noise ratio (Galloway, Golubeva & Taylor 2018; §4).
* ``gradient_masking_report(...)``: the checks of Athalye et al. 2018 and Carlini et al. 2019
  (REFERENCES.md §9) that a white-box number is not an artefact of masked gradients.
"""

import copy
import math

import numpy as np
from tqdm import tqdm

from .attacks.base import (check_logits_model, check_model, model_gradient, model_logits,
                           num_logits)
from .attacks.norms import lp_norm
from .checks import (as_plain_ndarray, check_array, check_bool, check_labels, check_nonnegative,
                     check_positive, check_positive_int, make_rng)
from .losses import cross_entropy, logits_to_labels, softmax


def _batches(n, batch_size):
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _check(model, x, y, batch_size):
    check_logits_model(model)  # (the attack, not the evaluation, may need input_gradient)
    x = check_array(x, "x", min_ndim=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    k = num_logits(model, x) if len(x) else 2
    y = check_labels(y, x.shape[0], k)
    if len(x) == 0:
        raise ValueError("x is empty")
    return x, y, batch_size


def _check_levels(levels, name, kinds="iuf"):
    """Return ``levels`` as a non-empty 1-D array of real numbers (integers or floats), or with
    ``kinds="iufU"`` also of strings (a sweep over ``norm="1", "2", "inf"``). A masked array is
    read as its data if no entry is masked, else refused (np.asarray would read the values
    under the mask)."""
    if isinstance(levels, np.ndarray):
        levels = as_plain_ndarray(levels, name)
    try:
        array = np.asarray(levels)
    except (ValueError, TypeError):
        array = None
    if array is None or array.dtype.kind not in kinds or array.ndim != 1 or array.size == 0:
        what = "real numbers" if kinds == "iuf" else "numbers or strings"
        raise ValueError(f"{name} must be a non-empty 1-D sequence of {what}, got {levels!r}")
    return array


def _check_eps(eps):
    """``eps`` as a new non-empty 1-D float64 array of finite numbers >= 0 (a robustness
    table's budgets), or the ValueError that names it."""
    eps = _check_levels(eps, "eps").astype(np.float64)  # (a copy)
    if np.any(eps < 0) or not np.all(np.isfinite(eps)):
        raise ValueError(f"every eps must be a finite number ≥ 0, got {eps}")
    return eps


def _check_level_kwargs(level_kwargs, param, name="level_kwargs"):
    if level_kwargs is not None and not callable(level_kwargs):
        raise TypeError(f"{name} must be a callable level -> dict or None, got {type(level_kwargs).__name__}")


def _level_kwargs(level_kwargs, level, param, name="level_kwargs"):
    """``level_kwargs(level)``, checked: a dict that leaves ``param`` to the levels."""
    if level_kwargs is None:
        return {}
    extra = level_kwargs(level)
    if not isinstance(extra, dict):
        raise TypeError(f"{name} must return a dict of keyword arguments, got {type(extra).__name__}")
    if param in extra:
        raise ValueError(f"{name} must not set {param}: the levels set it")
    return extra


def _per_sample(model, x, y, attack, kwargs, batch_size, bar=None):
    """Per sample (N,): is the prediction on ``attack(model, x, y, **kwargs)`` (or on x when
    ``attack`` is None) still y, and the largest softmax probability there."""
    kwargs = dict(kwargs)
    seed = kwargs.get("seed")
    if isinstance(seed, np.random.Generator):
        kwargs["seed"] = copy.deepcopy(seed)  # every call starts from the given state
    elif seed is not None:
        kwargs["seed"] = make_rng(seed)
    correct, confidence = np.zeros(len(x), dtype=bool), np.zeros(len(x))
    for part in _batches(len(x), batch_size):
        xb, yb = x[part], y[part]
        x_eval = xb
        if attack is not None:
            x_eval = attack(model, xb, yb, **kwargs)
            if not isinstance(x_eval, np.ndarray) or x_eval.shape != xb.shape:
                raise ValueError(f"the attack must return an array shaped like its input {xb.shape}, got "
                                 f"{getattr(x_eval, 'shape', type(x_eval).__name__)}")
            x_eval = check_array(x_eval, "the attack's output")
        logits = model_logits(model, x_eval)
        correct[part] = logits_to_labels(logits) == yb
        confidence[part] = np.max(softmax(logits.astype(np.float64)), axis=1)
        if bar is not None:
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
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be callable or None, got {type(attack).__name__}")
    if attack is None and attack_kwargs:
        raise ValueError(f"attack keyword arguments {sorted(attack_kwargs)} were given but attack is None")
    progress = check_bool(progress, "progress")
    x, y, batch_size = _check(model, x, y, batch_size)
    total = len(_batches(len(x), batch_size))
    with tqdm(total=total, disable=not progress, desc="robust accuracy") as bar:
        correct, _ = _per_sample(model, x, y, attack, attack_kwargs, batch_size, bar)
    return float(correct.mean())


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
    levels : sequence of numbers (or of strings, e.g. norms), shape (L,)
        Values of ``param`` (ε, σ, fraction, k, ...), passed to the attack as Python numbers
        (or str).
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
    if not callable(attack):
        raise TypeError(f"attack must be callable, got {type(attack).__name__}")
    if not isinstance(param, str):
        raise TypeError(f"param must be the name of a keyword argument (a str), got {type(param).__name__}")
    if param in attack_kwargs:
        raise ValueError(f"{param} is set by the levels; do not pass it as a fixed keyword argument too")
    _check_level_kwargs(level_kwargs, param)
    progress = check_bool(progress, "progress")
    levels = _check_levels(levels, "levels", kinds="iufU")
    values = levels.tolist()
    accuracy, confidence = np.zeros(levels.size), np.zeros(levels.size)
    total = levels.size * len(_batches(len(x), batch_size))
    with tqdm(total=total, disable=not progress, desc=f"sweep over {param}") as bar:
        for i, level in enumerate(values):
            kwargs = dict(attack_kwargs, **{param: level})
            kwargs.update(_level_kwargs(level_kwargs, level, param))
            correct, conf = _per_sample(model, x, y, attack, kwargs, batch_size, bar)
            accuracy[i], confidence[i] = correct.mean(), conf.mean()
    return {"levels": levels.copy(), "accuracy": accuracy, "confidence": confidence}  # (not the caller's array)


def _refuse_worst_case(names):
    if "worst case" in names:
        raise ValueError("'worst case' is the name of the combined row; rename that attack")


class RobustnessTable:
    """Accuracy of one model under several attacks at several ε, and the per-sample worst case.

    Attributes
    ----------
    eps : ndarray, shape (L,)
    accuracy : dict name -> ndarray, shape (L,)
        One row per attack, plus ``"worst case"``: the fraction of samples that *every* attack
        at that ε leaves correctly classified, (1/N) Σ_n Π_a 1[correct_a,n]. It is at most the
        smallest row, and lower when the attacks succeed on different samples.
    correct : dict name -> bool ndarray, shape (L, N)
        The per-sample outcomes behind each row.

    Refuses ``eps`` that is not a non-empty 1-D sequence of finite numbers >= 0 (as
    :func:`robustness_table` does, with the same messages) and outcomes that are not bool arrays
    of one shape (L, N) with N >= 1, and an attack named ``"worst case"`` (the combined row's
    name). ``eps`` and the outcomes are copied: changing the given arrays later does not change
    the table.
    """

    def __init__(self, eps, correct):
        self.eps = _check_eps(eps)  # (a copy: the table keeps its numbers)
        if not isinstance(correct, dict):
            raise TypeError(f"correct must be a dict name -> bool array of shape (L, N), got "
                            f"{type(correct).__name__}")
        if not correct:
            raise ValueError("correct must hold at least one attack's outcomes")
        _refuse_worst_case(correct)
        first_name, first = next(iter(correct.items()))
        outcomes = {}
        for name, outcome in correct.items():
            if not isinstance(name, str):
                raise TypeError(f"the names in correct must be strings, got {name!r}")
            if not (isinstance(outcome, np.ndarray) and (outcome.dtype == np.bool_ or (
                    outcome.dtype.kind in "iu" and np.isin(outcome, (0, 1)).all()))):
                raise TypeError(f"correct[{name!r}] must be a bool array (or of 0 and 1), got "
                                f"{getattr(outcome, 'dtype', type(outcome).__name__)}")
            outcomes[name] = outcome = outcome.astype(bool)  # (a copy, as eps)
            if outcome.ndim != 2 or outcome.shape[0] != self.eps.size:
                raise ValueError(f"correct[{name!r}] must have shape (L, N) with one row per eps "
                                 f"(L = {self.eps.size}), got {outcome.shape}")
            if outcome.shape != first.shape:
                raise ValueError(f"correct[{name!r}] has shape {outcome.shape} but "
                                 f"correct[{first_name!r}] has {first.shape}: every attack must "
                                 f"be scored on the same N samples")
            if outcome.shape[1] == 0:  # (robustness_table refuses an empty x: "x is empty")
                raise ValueError(f"correct[{name!r}] has no samples (shape {outcome.shape}): an "
                                 f"accuracy over N = 0 samples is 0/0")
        self.correct = outcomes
        self.correct["worst case"] = np.logical_and.reduce(list(outcomes.values()))
        self.accuracy = {name: c.mean(axis=1) for name, c in self.correct.items()}

    def __str__(self):
        width = max(len(name) for name in self.accuracy)
        lines = [f"{'ε':>{width}}  " + "  ".join(f"{e:>7.4g}" for e in self.eps)]
        for name, row in self.accuracy.items():
            lines.append(f"{name:>{width}}  " + "  ".join(f"{a:7.3f}" for a in row))
        return "\n".join(lines)

    def plot(self, ax=None, *, label_prefix="", eps_scale=1.0, **line_kwargs):
        """Draw accuracy against ε, one line per attack (worst case dashed black); returns ax.

        ``eps_scale=255`` (a finite number > 0) draws ε in pixel levels; ``label_prefix`` (str)
        names the model in the legend when several tables share one axis. ``line_kwargs`` are
        matplotlib line properties for every line; they override the defaults (``marker="o"``,
        ``ms=3``, the worst case's ``color="k", ls="--"``). The labels are ``label_prefix`` + the
        attack's name, so ``label`` is refused. Without ``ax`` a new figure is made (and closed
        again if drawing fails).
        """
        import matplotlib.pyplot as plt  # plotting is optional: import only when asked

        from .plots import closed_on_error

        if not isinstance(label_prefix, str):
            raise TypeError(f"label_prefix must be a str, got {type(label_prefix).__name__}")
        eps_scale = check_positive(eps_scale, "eps_scale")
        if "label" in line_kwargs:
            raise TypeError("label is set per line (label_prefix + the attack's name); pass label_prefix")
        if ax is not None and not callable(getattr(ax, "plot", None)):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 3.6))
        with closed_on_error(fig):
            for name, row in self.accuracy.items():
                style = dict(marker="o", ms=3)
                style.update(dict(color="k", ls="--") if name == "worst case" else {})
                style.update(line_kwargs)
                ax.plot(self.eps * eps_scale, row, label=label_prefix + name, **style)
            ax.set_xlabel("ε" if eps_scale == 1.0 else f"ε × {eps_scale:g}")
            ax.set_ylabel("accuracy")
            ax.set_ylim(0.0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        return ax


def robustness_table(model, x, y, attacks, eps, *, batch_size=256, progress=True):
    """Accuracy under several attacks at every ε, with the per-sample worst case.

    Parameters
    ----------
    model : object with ``logits`` and ``input_gradient``
    x : ndarray, shape (N, ...)
    y : ndarray of int, shape (N,)
        True labels.
    attacks : dict name -> callable or (callable, kwargs) or (callable, kwargs, level_kwargs)
        ``attack(model, x, y, eps=ε, **kwargs, **level_kwargs(ε)) -> x_adv``, e.g.
        ``{"FGSM": ta.fgsm, "PGD-20": (ta.pgd, {"steps": 20, "seed": 0},
        lambda eps: {"alpha": eps / 4})}``.
    eps : sequence of float, shape (L,)
    batch_size : int
    progress : bool

    Returns
    -------
    RobustnessTable
        ``print(table)`` gives the table; ``table.plot(ax)`` draws it.

    Notes
    -----
    Attacking with several attacks and keeping the worst case per sample is what a robustness
    claim needs (Carlini et al. 2019, "On evaluating adversarial robustness"): a sample is robust
    at ε only if no attack finds an adversarial example for it, so the worst-case accuracy is
    (1/N) Σ_n Π_a 1[F(attack_a(x_n)) = y_n], not the minimum of the per-attack accuracies.
    """
    x, y, batch_size = _check(model, x, y, batch_size)
    if not isinstance(attacks, dict) or not attacks:
        raise TypeError("attacks must be a non-empty dict name -> attack or (attack, kwargs[, level_kwargs])")
    _refuse_worst_case(attacks)
    progress = check_bool(progress, "progress")
    eps = _check_eps(eps)
    specs = {}
    for name, spec in attacks.items():
        if not isinstance(name, str):
            raise TypeError(f"attack names must be strings, got {name!r}")
        spec = spec if isinstance(spec, tuple) else (spec,)
        if not 1 <= len(spec) <= 3:
            raise TypeError(f"attack {name!r} must be attack, (attack, kwargs) or "
                            f"(attack, kwargs, level_kwargs), got {len(spec)} items")
        attack, kwargs, level_kwargs = spec + ({}, None)[len(spec) - 1:]
        if not callable(attack):
            raise TypeError(f"attack {name!r} must be callable, got {type(attack).__name__}")
        if not isinstance(kwargs, dict):
            raise TypeError(f"the kwargs of attack {name!r} must be a dict, got {type(kwargs).__name__}")
        if "eps" in kwargs:
            raise ValueError(f"the kwargs of attack {name!r} must not set eps: the table's eps sets it")
        _check_level_kwargs(level_kwargs, "eps", f"the level_kwargs of attack {name!r}")
        specs[name] = (attack, dict(kwargs), level_kwargs)
    correct = {name: np.zeros((eps.size, len(x)), dtype=bool) for name in specs}
    with tqdm(total=eps.size * len(specs), disable=not progress, desc="robustness table") as bar:
        for i, level in enumerate(eps.tolist()):
            for name, (attack, kwargs, level_kwargs) in specs.items():
                kwargs = dict(kwargs, eps=level)
                kwargs.update(_level_kwargs(level_kwargs, level, "eps", f"the level_kwargs of attack {name!r}"))
                correct[name][i], _ = _per_sample(model, x, y, attack, kwargs, batch_size)
                bar.update(1)
    return RobustnessTable(eps, correct)


def perturbation_stats(x, x_adv, mask=None):
    """Sizes of δ = x_adv − x in the L0, L1, L2 and L∞ norms, per sample and summarised.

    Parameters
    ----------
    x, x_adv : ndarray, shape (N, ...)
    mask : bool ndarray, shape (N,), optional
        Summarise only these samples (e.g. the attack's successes, as minimal-perturbation
        statistics should: a failed attack's δ is not a minimal adversarial perturbation).

    Returns
    -------
    dict norm -> dict with ``"per_sample"`` (N,), ``"mean"``, ``"median"`` over the masked samples
        (NaN when none), for the keys 0, 1, 2 and ``np.inf``. L0 counts the entries that changed.
        L2 is right for δ of any size float64 holds (its squares are not left to overflow or
        underflow); an L1 or L2 beyond float64's range is inf. The mean and median of finite
        sizes are finite (they are not left to overflow either).
    """
    x = check_array(x, "x", min_ndim=1)
    x_adv = check_array(x_adv, "x_adv", min_ndim=1)
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    with np.errstate(over="ignore"):  # (a δ beyond float64's range is inf, as said above)
        delta = (x_adv.astype(np.float64) - x).reshape(len(x), int(np.prod(x.shape[1:])))
    if mask is None:
        mask = np.ones(len(x), dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (len(x),):
        raise ValueError(f"mask must be a bool array of shape ({len(x)},), got {mask.dtype} {mask.shape}")
    sizes = {0: np.count_nonzero(delta, axis=1).astype(np.float64),
             1: np.abs(delta).sum(axis=1),
             2: _l2_sizes(delta),
             np.inf: np.abs(delta).max(axis=1, initial=0.0)}
    out = {}
    for norm, per_sample in sizes.items():
        chosen = per_sample[mask]
        mean, median = _mean_and_median(chosen) if chosen.size else (float("nan"), float("nan"))
        out[norm] = {"per_sample": per_sample, "mean": mean, "median": median}
    return out


def _mean_and_median(values):
    """Mean and median of the non-empty float64 ``values``, finite whenever they are: NumPy's
    mean sums first and its median adds the two middle values, which overflowed to inf for sizes
    near the float64 maximum (three L∞ sizes of 1e308 gave a mean of inf). Only then are they
    taken again as Σ(v/n) and 2·median(v/2); other values keep NumPy's numbers."""
    with np.errstate(over="ignore"):
        mean, median = float(np.mean(values)), float(np.median(values))
    if np.isinf(mean) or np.isinf(median):
        if np.all(np.isfinite(values)):
            mean = float(np.sum(values / values.size)) if np.isinf(mean) else mean
            median = 2.0 * float(np.median(values * 0.5)) if np.isinf(median) else median
    return mean, median


def _l2_sizes(delta):
    """‖δ_n‖₂ of each row of ``delta`` (N, d), float64: √Σδ² (the sum NumPy's way, as it always
    was here), and :func:`tinyadv.attacks.lp_norm`'s scaled m·‖δ/m‖₂ for the rows where the
    squares may have overflowed or underflowed (a norm beyond 1e150 or below 1e-150; δ of 1e200
    gave inf, of 1e-200 gave 0). lp_norm itself is not used for every row: its sum (einsum)
    differs from this one in the last bit for ordinary δ."""
    with np.errstate(over="ignore", under="ignore"):  # (the rows redone below)
        norms = np.sqrt((delta ** 2).sum(axis=1))
        redo = ~(norms < 1e150) | (norms < 1e-150)
        if np.any(redo):
            norms[redo] = lp_norm(delta[redo], 2)
    return norms


def confidence_and_margin(model, x, *, batch_size=1024):
    """Top softmax probability and margin (top-1 − top-2 probability) of every sample.

    Parameters
    ----------
    model : object with ``logits(x) -> (N, K)``
    x : ndarray, shape (N, ...)
    batch_size : int >= 1
        Largest number of inputs per call of ``model.logits``.

    Returns
    -------
    confidence, margin : ndarray, shape (N,), float64
        p₍₁₎ and p₍₁₎ − p₍₂₎ of softmax(Z(x)) (a single-logit model as [0, z]); REFERENCES.md §5
        reads a fooling image's margin this way (Galloway et al.: the weight-decay model gives
        the baseline's fooling images a mean margin of only 28%).
    """
    check_logits_model(model)
    x = check_array(x, "x", min_ndim=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    confidence, margin = np.zeros(len(x)), np.zeros(len(x))
    for part in _batches(len(x), batch_size):
        p = np.sort(softmax(model_logits(model, x[part]).astype(np.float64)), axis=1)
        confidence[part], margin[part] = p[:, -1], p[:, -1] - p[:, -2]
    return confidence, margin


def _class_labels(labels, n, num_classes, name):
    """``check_labels`` for K classes, K = 1 included (where a single logit would mean two)."""
    labels = check_labels(labels, n, num_classes, name=name)
    if num_classes == 1 and labels.any():
        raise ValueError(f"{name} holds labels outside [0, 0] (num_classes is 1)")
    return labels


def mutual_information(t, y, num_classes, *, guard=1e-4):
    """Plug-in estimate of I(T;Y) in bits from the confusion matrix of predictions and labels.

    Parameters
    ----------
    t, y : ndarray of int, shape (N,)
        Predictions T and labels Y in [0, K).
    num_classes : int
        K.
    guard : float
        Added inside the logarithms so empty cells stay finite (the paper's 1e-4, §4).

    Returns
    -------
    float
        I(T;Y) = H(Y) − H(Y|T), as the paper's code computes it (Galloway, Golubeva & Taylor
        2018, ``ft_utils.mi``): H(Y) = −Σ_y P(y)·log2(P(y) + g) and H(Y|T) = Σ_t P(t)·(−Σ_y
        P(y|t)·log2(P(y|t) + g)), with P(t, y) = C[t,y]/N the normalised confusion matrix, P(t)
        and P(y) its marginals and P(y|t) = C[t,y]/C[t,·]. Cells with C[t,y] = 0 contribute 0.
        With g = 0 it is the exact plug-in I(T;Y): 0 when T and Y are independent and at most
        H(Y) ≤ log2 K; a prediction that is a fixed relabelling of Y (e.g. T = Y + 1 mod K)
        keeps the full I(T;Y) with accuracy 0, which is why the paper reads faults through
        I(T;Y) and not accuracy alone.

    Notes
    -----
    Only the cells of C that hold a pair (at most N of them) are made, never the K × K matrix,
    and the marginals are the label counts over N, so any K takes O(N) memory (K = 10⁷ asked
    for 728 TiB). The classes are numbered by rank among those that occur first, so only the
    pattern of the labels matters, not their values. Summed over the cells:
    I = Σ_{t,y} P(t,y)·log2(P(y|t) + g) − Σ_y P(y)·log2(P(y) + g).

    The guard moves the estimate by little where the probabilities are large against it: for
    T = Y over K equally frequent classes (100,000 samples) it gives 3.321 bits of log2 10 =
    3.322 for K = 10, 6.630 of 6.644 for K = 100 and 9.828 of 9.966 for K = 1,000 (an earlier
    version put g beside P(t, y) and P(t)·P(y) instead, which is not the paper's estimator and
    gave 3.31, 5.66 and 3.45). ``guard=0`` gives log2 K.
    """
    num_classes = check_positive_int(num_classes, "num_classes", maximum=math.inf)  # (any K)
    y = _class_labels(y, None, num_classes, "y")
    t = _class_labels(t, len(y), num_classes, "t")
    if len(y) == 0:
        raise ValueError("mutual_information needs at least one (prediction, label) pair")
    guard = check_nonnegative(guard, "guard")
    n = len(y)
    _, t_rank, t_count = np.unique(t, return_inverse=True, return_counts=True)
    y_classes, y_rank, y_count = np.unique(y, return_inverse=True, return_counts=True)
    cells, counts = np.unique(t_rank * len(y_classes) + y_rank, return_counts=True)
    row = cells // len(y_classes)  # (the rank of t in each cell)
    p_y = y_count / n
    h_y = -np.sum(p_y * np.log2(p_y + guard))
    h_y_given_t = -np.sum(counts / n * np.log2(counts / t_count[row] + guard))
    return float(h_y - h_y_given_t)


def label_entropy(y, num_classes):
    """H(Y) = −Σ_y P(y) log2 P(y) of the empirical label distribution, in bits (the ceiling of
    I(T;Y); ≈ 3.2 bits on the SVHN test set, §4). From the labels that occur, so any
    ``num_classes`` takes O(N) memory (10¹² asked for 7 TiB)."""
    num_classes = check_positive_int(num_classes, "num_classes", maximum=math.inf)  # (any K)
    y = _class_labels(y, None, num_classes, "y")
    if len(y) == 0:
        raise ValueError("label_entropy needs at least one label")
    p = np.unique(y, return_counts=True)[1] / len(y)  # (the classes that occur, in order)
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: one class gives 0.0, not −0.0


def mean_snr(x, x_noisy):
    """Mean over images of SNR = 20·log10(1 + ‖x‖₂/‖δ‖₂) dB, δ = x_noisy − x (§4).

    Images with δ = 0 (SNR = ∞) are skipped, as in the paper; returns NaN when every δ is 0.
    x, x_noisy : (N, ...), same shape.
    """
    x = check_array(x, "x", min_ndim=2)
    x_noisy = check_array(x_noisy, "x_noisy", min_ndim=2)
    if x.shape != x_noisy.shape:
        raise ValueError(f"x and x_noisy must have the same shape, got {x.shape} and {x_noisy.shape}")
    if len(x) == 0:
        raise ValueError("x is empty")
    # (‖·‖₂ as perturbation_stats takes it: the same numbers as np.linalg.norm, without its
    # squares underflowing to a zero δ, skipped as unperturbed, or overflowing to inf / inf)
    x, x_noisy = (a.reshape(len(a), -1).astype(np.float64) for a in (x, x_noisy))  # (copies)
    # Images with values near float64's largest (beyond 2¹⁰⁰⁰): δ itself could overflow (1e308
    # − (−1e308)), and ‖x‖ with it, inf / inf; both are taken 2⁶⁴ times smaller, which leaves
    # their ratio as it is.
    near_largest = np.maximum(np.abs(x).max(axis=1, initial=0),
                              np.abs(x_noisy).max(axis=1, initial=0)) > 2.0 ** 1000
    x[near_largest] *= 2.0 ** -64
    x_noisy[near_largest] *= 2.0 ** -64
    signal, noise = _l2_sizes(x), _l2_sizes(x_noisy - x)
    finite = noise > 0
    if not finite.any():
        return float("nan")
    signal, noise = signal[finite], noise[finite]
    with np.errstate(over="ignore"):  # (the ratios beyond float64 are redone below)
        snr = 20 * np.log10(1 + signal / noise)
    huge = np.isinf(snr)  # ‖x‖/‖δ‖ > 1.8e308: the 1 is below its last bit, and the logs are finite
    snr[huge] = 20 * (np.log10(signal[huge]) - np.log10(noise[huge]))
    return float(np.mean(snr))


def vanishing_gradients(model, x, y):
    """Per sample (N,): True when ∇ₓ CE(z(x), y) is all zero or has a NaN or infinite entry.

    The plain cross-entropy gradient, on purpose (not the attacks' underflow-proof direction):
    a float32 softmax that saturates, or sign activations, make it exactly zero, and an attack
    that follows it stands still (REFERENCES.md §9). ``x`` (N, ...) must hold at least one sample.
    """
    check_model(model)
    x = check_array(x, "x", min_ndim=2)
    if len(x) == 0:
        raise ValueError("x is empty")
    y = check_labels(y, len(x), None)  # (cross_entropy checks the range against the logits)
    _, dlogits = cross_entropy(model_logits(model, x), y, reduction="none")
    grad = model_gradient(model, x, dlogits.astype(x.dtype), finite=False).reshape(len(x), -1)
    return np.all(grad == 0, axis=1) | ~np.all(np.isfinite(grad), axis=1)


def _more_than(difference, tolerance):
    """``difference > tolerance`` for differences of accuracies, read to 12 decimals.

    Accuracies are multiples of 1/N, and their float differences are off in the last bit
    (0.53 − 0.48 is 0.05000000000000004): unrounded, a difference of exactly the tolerance
    would count as more than it at some accuracies and not at others."""
    return np.round(difference, 12) > tolerance


class MaskingReport:
    """The outcome of ``gradient_masking_report``: ``masked`` (bool), ``flags`` (what failed, one
    short sentence each) and ``lines`` (the evidence, one line per check). Prints readably."""

    def __init__(self, flags, lines):
        self.flags, self.lines = list(flags), list(lines)
        self.masked = bool(self.flags)

    def __str__(self):
        verdict = ("signs of gradient masking: " + "; ".join(self.flags) if self.masked
                   else "no sign of gradient masking")
        return "\n".join(self.lines + [verdict])


def gradient_masking_report(model, x, y, *, eps, white_box, gradient_free=None, transfer=None,
                            num_classes=None, tolerance=0.05, batch_size=256):
    """Check that a white-box robustness number is not an artefact of masked gradients.

    Parameters
    ----------
    model : object with ``logits`` and ``input_gradient``
    x, y : the test samples (N, ...) and their true labels (N,)
    eps : sequence of float, increasing, shape (L,)
        The white-box attack's budgets; the largest should be large enough to change the class
        of any input (e.g. 0.5 on [0, 1] images in L∞).
    white_box : callable
        ``white_box(model, x, y, eps=ε) -> x_adv``, e.g. ``lambda m, x, y, eps: ta.pgd(m, x, y,
        eps=eps, alpha=eps / 4, steps=20, seed=0)``.
    gradient_free : callable, optional
        ``gradient_free(model, x, y) -> x_adv``, e.g. SPSA, run at the budget ``eps[0]``.
    transfer : ndarray, optional
        Adversarial examples for ``x`` crafted on another model at the budget ``eps[0]`` (shape
        of x).
    num_classes : int, optional
        Chance is 1/K (default K = number of logits, 2 for a single logit).
    tolerance : float
        How much better (in accuracy) a gradient-free or transfer attack may do before it counts.
    batch_size : int >= 1
        Batch size of the white-box attack's ``robust_accuracy`` runs.

    Returns
    -------
    MaskingReport

    Notes
    -----
    Four checks (Athalye, Carlini & Wagner 2018; Carlini et al. 2019; REFERENCES.md §9):

    1. zero or non-finite input gradients of CE at the clean inputs (float32 softmax saturation,
       sign activations): flagged when more than 10% of the samples have one;
    2. accuracy under the white-box attack must fall toward chance as ε grows: flagged when the
       accuracy at the largest ε is above chance + 0.1, or when it rises by more than
       ``tolerance`` from one ε to the next;
    3. a gradient-free attack must not beat the white-box attack at the same ε by more than
       ``tolerance``;
    4. transferred examples from another model must not beat the white-box attack either.

    The white-box reference for 3 and 4 is the attack at ``eps[0]``: put the ε of the claim
    first and larger ones after it, e.g. ``eps=[0.3, 0.5, 1.0]`` with SPSA run at 0.3.
    """
    check_model(model)  # (check 1 reads the input gradients)
    x, y, batch_size = _check(model, x, y, batch_size)
    eps = _check_levels(eps, "eps").astype(np.float64)
    if not np.all(np.isfinite(eps)) or np.any(eps < 0) or np.any(np.diff(eps) <= 0):
        raise ValueError(f"eps must be an increasing sequence of finite numbers ≥ 0, got {eps}")
    if not callable(white_box):
        raise TypeError(f"white_box must be callable, got {type(white_box).__name__}")
    if gradient_free is not None and not callable(gradient_free):
        raise TypeError(f"gradient_free must be callable or None, got {type(gradient_free).__name__}")
    tolerance = check_nonnegative(tolerance, "tolerance")
    classes = max(2, num_logits(model, x))
    if num_classes is not None:
        num_classes = check_positive_int(num_classes, "num_classes", minimum=classes)
    chance = 1.0 / (num_classes or classes)
    flags, lines = [], []

    vanishing = float(np.mean(vanishing_gradients(model, x, y)))
    lines.append(f"zero or non-finite input gradients: {vanishing:.1%} of {len(x)} samples")
    if vanishing > 0.1:
        flags.append("many input gradients are zero or not finite")

    curve = np.array([robust_accuracy(model, x, y, white_box, progress=False, batch_size=batch_size,
                                      eps=level) for level in eps.tolist()])
    lines.append("white-box accuracy against ε: " + ", ".join(
        f"{level:g} → {acc:.3f}" for level, acc in zip(eps, curve)) + f" (chance {chance:.2f})")
    if curve[-1] > chance + 0.1:
        flags.append(f"white-box accuracy stays at {curve[-1]:.2f} at ε = {eps[-1]:g}, far above chance")
    if np.any(_more_than(np.diff(curve), tolerance)):
        flags.append("white-box accuracy rises with ε somewhere")

    reference = curve[0]
    others = [("transfer", transfer)] if transfer is not None else []
    if gradient_free is not None:  # (its None, a forgotten return, would skip the check unseen)
        others.insert(0, ("gradient-free", gradient_free(model, x, y)))
    for name, x_other in others:
        if x_other is None:
            raise TypeError(f"the {name} attack must return x_adv shaped like x {x.shape}, got None")
        x_other = check_array(x_other, f"{name} examples")
        if x_other.shape != x.shape:
            raise ValueError(f"{name} examples must be shaped like x {x.shape}, got {x_other.shape}")
        acc = float(np.mean(logits_to_labels(model_logits(model, x_other)) == y))
        lines.append(f"{name} attack accuracy {acc:.3f} vs white-box {reference:.3f} at ε = {eps[0]:g}")
        if _more_than(reference - acc, tolerance):
            flags.append(f"the {name} attack beats the white-box attack")
    return MaskingReport(flags, lines)
