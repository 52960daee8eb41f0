"""The contract of an ε-bounded attack, as checks a student can run on their own attack.

An attack is ``attack(model, x, y=None, *, eps, ...) -> x_adv`` (DESIGN.md). Whatever it does
inside, its output must

1. have the shape and dtype of ``x``, and no NaN or infinity, and leave ``x`` itself as it
   was (an attack that steps ``x += ...`` in place destroys the caller's clean batch, and its
   x_adv − x is 0 whatever it did: each call gets its own copy, measured against the original);
2. lie in the ε-ball of its norm around ``x``: ‖x_adv − x‖_p ≤ ε for every sample;
3. lie in the pixel box ``clip`` (when one is given);
4. be the same for the same seed (randomness only through an explicit ``seed``);
5. be at least as strong as the one-step fast gradient method (FGSM for L∞) on a logistic
   model. For a linear model the fast gradient step in the dual direction is the exact worst
   case in the ball (Goodfellow et al. 2015), so an attack that does worse there is broken.

``check_attack`` runs all five and returns a report that names what failed. tinyadv's own
attacks are held to it in the tests.
"""

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from .attacks import fgm
from .attacks.base import accepts_keyword, check_input, check_logits_model, num_logits
from .attacks.norms import lp_norm
from .checks import (check_fits, check_labels, check_nonnegative, check_norm, check_positive_int,
                     make_rng)
from .gradcheck import float64_copy
from .losses import logits_to_labels


class LinearModel:
    """Logits z = x_flat · Wᵀ + b: logistic regression when K = 1, softmax regression otherwise.

    A model written the way a student would write one: two methods and nothing else. ``w`` has
    shape (K, D) or (D,) (then K = 1), ``b`` shape (K,) or one number for every class, both finite;
    x has shape (N, ...) with prod(...) = D, and other shapes are refused rather than broadcast.
    """

    def __init__(self, w, b=None):
        self.w = np.atleast_2d(float64_copy(w, "w", ndim=(1, 2)))
        b = np.zeros(self.w.shape[0]) if b is None else b
        self.b = np.atleast_1d(float64_copy(b, "b", ndim=(0, 1)))
        if self.b.shape == (1,):  # one number: every class's bias, as NumPy would broadcast it
            self.b = np.full(self.w.shape[0], self.b[0])
        if self.b.shape != (self.w.shape[0],):
            raise ValueError(f"b must have shape (K,) = ({self.w.shape[0]},), one bias per row "
                             f"of w, or be one number, got {np.shape(b)}")

    def _check_x(self, x):
        """Raise ValueError unless ``x`` (N, ...) holds D = w.shape[1] features per sample."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a NumPy array, got {type(x).__name__}")
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.w.shape[1]:
            raise ValueError(f"x must have shape (N, ...) with {self.w.shape[1]} features per "
                             f"sample (w has shape {self.w.shape}), got {x.shape}")

    def logits(self, x):
        self._check_x(x)
        z = x.reshape(len(x), self.w.shape[1]) @ self.w.T.astype(x.dtype) + self.b.astype(x.dtype)
        return z.astype(x.dtype)

    def input_gradient(self, x, grad_logits):
        self._check_x(x)
        if np.shape(grad_logits) != (len(x), self.w.shape[0]):
            raise ValueError(f"grad_logits must have shape (N, K) = ({len(x)}, {self.w.shape[0]}), "
                             f"got {np.shape(grad_logits)}")
        return (grad_logits @ self.w.astype(x.dtype)).reshape(x.shape).astype(x.dtype)


@dataclass
class AttackReport:
    """The outcome of :func:`check_attack`: ``(check, passed, detail)`` for each check."""

    results: list = field(default_factory=list)

    def __post_init__(self):
        """Refuse results that are not ``(check name, passed, detail)`` triples."""
        if not isinstance(self.results, (list, tuple)):
            raise TypeError(f"results must be a list of (check, passed, detail) triples, got "
                            f"{type(self.results).__name__}")
        results = []
        for i, item in enumerate(self.results):  # (lists too: a report read back from JSON)
            if not (isinstance(item, (tuple, list)) and len(item) == 3 and isinstance(item[0], str)
                    and isinstance(item[1], (bool, np.bool_, int, np.integer))
                    and item[1] in (0, 1) and isinstance(item[2], str)):
                raise TypeError(f"results[{i}] must be a triple (check: str, passed: bool, "
                                 f"detail: str), got {item!r}")
            results.append((item[0], bool(item[1]), item[2]))
        self.results = results

    @property
    def passed(self):
        return all(ok for _, ok, _ in self.results)

    @property
    def failures(self):
        return {name: detail for name, ok, detail in self.results if not ok}

    def __str__(self):
        lines = [f"{'check':24s} status  detail"]
        lines += [f"{name:24s} {'ok' if ok else 'FAIL':6s}  {detail}" for name, ok, detail in self.results]
        lines.append("the attack keeps the contract" if self.passed
                     else f"the attack breaks the contract: {', '.join(self.failures)}")
        return "\n".join(lines)


def _keyword_arguments(attack, eps, norm, clip, seed, extra):
    """The keywords to call ``attack`` with: eps, and norm/clip/seed when it accepts them.

    A Generator seed is copied, so that every call starts from the same state, as from an int.
    """
    kwargs = dict(extra, eps=eps)
    for name, value in (("norm", norm), ("clip", clip), ("seed", copy.deepcopy(seed))):
        if accepts_keyword(attack, name):
            kwargs[name] = value
    return kwargs, ("seed" in kwargs)


def _rounding_slack(x, eps, norm):
    """How far float rounding may push ‖x_adv − x‖_p past ε, with u = the dtype's unit roundoff
    (half its ``eps``): x_adv = fl(x + δ) moves each coordinate by at most u·|x_adv_i|, so the
    vector of those moves has a p-norm of at most u·‖x_adv‖_p ≤ u·(d^(1/p)·max|x| + ε) for d
    coordinates, and ε itself rounds by u·ε. Twice the first term and eight times the second:
    in float32 on 3×32×32 images the L1 slack is 3.7e-4 at ε = 1 (it was d times the L∞ slack,
    2.8e-3 at ε = 1 and 1.6e-2 at ε = 10, which an attack a thousandth outside the ball passed)."""
    d = x[0].size
    unit = np.finfo(x.dtype).eps  # (twice the unit roundoff)
    spread = {1: d, 2: np.sqrt(d)}.get(norm, 1.0)
    return unit * (spread * max(1.0, float(np.max(np.abs(x), initial=0.0))) + 4 * eps)


def check_attack(attack, model, x, y=None, *, eps, norm=np.inf, clip=(0.0, 1.0), seed=0,
                 comparison_size=64, **attack_kwargs):
    """Run the five contract checks of the module docstring on ``attack``.

    Parameters
    ----------
    attack : callable
        ``attack(model, x, y=None, *, eps, ...) -> x_adv``. ``norm``, ``clip`` and ``seed`` are
        passed when its signature accepts them; other keywords go through ``attack_kwargs``.
    model : object with ``logits`` and ``input_gradient``
        Checks 1–4 run the attack on this model and ``x``.
    x : ndarray, shape (N, ...), floating, inside ``clip``
    y : ndarray of int, shape (N,), optional
    eps : float
    norm : 1, 2 or np.inf
        The norm of the ball the attack promises to stay in.
    clip : (low, high) or None
    seed : int, numpy.random.Generator or None
        Passed to every call of the attack (a Generator as a copy of its state, so that the
        calls of check 4 start alike) and seeds check 5's points. None gives fresh entropy:
        an attack that draws random numbers then fails check 4, as it should.
    comparison_size : int
        Number of points of the logistic-model comparison (check 5); the attack may flip one
        fewer than the fast gradient step per 50 points (none below 50).
    **attack_kwargs
        Further keywords for the attack (e.g. ``alpha=..., steps=...``).

    Returns
    -------
    AttackReport
        ``report.passed``; ``print(report)`` shows each check and what failed. Bad arguments
        of ``check_attack`` itself (not the attack's failures) raise TypeError or ValueError.
    """
    if not callable(attack):
        raise TypeError(f"attack must be callable, got {type(attack).__name__}")
    check_logits_model(model)  # (a gradient-free attack needs no input_gradient)
    x, clip = check_input(x, clip)
    if len(x) == 0:
        raise ValueError("x is empty")
    if y is not None:
        y = check_labels(y, len(x), num_logits(model, x))
    eps = check_nonnegative(eps, "eps")
    norm = check_norm(norm)
    make_rng(copy.deepcopy(seed))  # refuses what is not a seed, as every attack does
    comparison_size = check_positive_int(comparison_size, "comparison_size")
    check_fits((comparison_size,) + x.shape[1:], 8,  # (drawn in float64)
               f"comparison_size={comparison_size} images of shape {x.shape[1:]}: "
               f"the comparison batch")
    kwargs, seeded = _keyword_arguments(attack, eps, norm, clip, seed, attack_kwargs)
    report = AttackReport()

    def record(name, ok, detail):
        report.results.append((name, bool(ok), detail))

    x_given = x.copy()  # (the attack gets this copy: x stays the clean batch to measure from)
    try:
        x_adv = attack(model, x_given, y, **kwargs)
    except Exception as error:  # the report says what went wrong instead of a traceback
        record("runs", False, f"raised {type(error).__name__}: {error}")
        return report
    record("runs", True, "")
    untouched = np.array_equal(x_given, x)
    record("leaves x unchanged", untouched, "" if untouched else
           "the attack wrote into its input x (copy it before stepping: x = x.copy())")

    same = isinstance(x_adv, np.ndarray) and x_adv.shape == x.shape and x_adv.dtype == x.dtype
    record("shape and dtype", same,
           "" if same else f"expected {x.shape} {x.dtype}, got {np.shape(x_adv)} "
                           f"{getattr(x_adv, 'dtype', type(x_adv).__name__)}")
    if not same:
        return report
    finite = bool(np.all(np.isfinite(x_adv)))
    record("no NaN or infinity", finite, "" if finite else "x_adv contains NaN or infinite values")

    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    sizes = lp_norm(delta, norm)
    largest = float(np.max(sizes, initial=0.0))
    inside = largest <= eps + _rounding_slack(x, eps, norm)
    norm_name = {1: "L1", 2: "L2", np.inf: "L∞"}[norm]
    record(f"inside the {norm_name} ball", inside,
           f"largest ‖x_adv − x‖ = {largest:.4g} {'≤' if inside else '>'} eps = {eps:g}"
           + ("" if inside else " (does the attack project onto the ball?)"))

    if clip is not None:
        low, high = clip
        lowest, highest = float(x_adv.min()), float(x_adv.max())
        in_box = lowest >= low and highest <= high
        record("inside the pixel box", in_box,
               f"values in [{lowest:.4g}, {highest:.4g}], box [{low:g}, {high:g}]"
               + ("" if in_box else " (does the attack clip to the box?)"))

    try:
        again = attack(model, x.copy(), y,
                       **_keyword_arguments(attack, eps, norm, clip, seed, attack_kwargs)[0])
    except Exception as error:
        record("repeatable", False, f"raised {type(error).__name__} on a second call: {error}")
        return report
    # (the same bits: np.array_equal would call two identical outputs holding NaN different)
    repeatable = (isinstance(again, np.ndarray) and again.shape == x_adv.shape
                  and again.dtype == x_adv.dtype and again.tobytes() == x_adv.tobytes())
    record("repeatable", repeatable,
           ("same output for the same seed" if seeded else "same output on a second call") if repeatable
           else ("two calls with the same seed differ" if seeded
                 else "two calls differ and the attack takes no seed argument"))

    # 5. At least as strong as the fast gradient method on a logistic model.
    rng = make_rng(copy.deepcopy(seed))
    samples = comparison_size
    shape = (samples,) + x.shape[1:]
    x_linear = rng.uniform(0.25, 0.75, size=shape).astype(x.dtype)
    w = rng.normal(size=int(np.prod(x.shape[1:])))
    b = -float(np.median(x_linear.reshape(samples, -1) @ w))
    linear = LinearModel(w, b)
    y_linear = logits_to_labels(linear.logits(x_linear))
    linear_kwargs, _ = _keyword_arguments(attack, eps, norm, clip, seed, attack_kwargs)
    try:
        x_attacked = attack(linear, x_linear.copy(), y_linear, **linear_kwargs)
        flipped = int(np.sum(logits_to_labels(linear.logits(x_attacked)) != y_linear))
    except Exception as error:
        record("≥ FGM on a linear model", False, f"raised {type(error).__name__} on a logistic model: {error}")
        return report
    reference = fgm(linear, x_linear, y_linear, eps=eps, norm=norm, clip=clip)
    flipped_by_fgm = int(np.sum(logits_to_labels(linear.logits(reference)) != y_linear))
    # One miss in 50 points is forgiven (an attack that estimates its gradient, as SPSA does, may
    # miss a point near the boundary); below 50 points none, so that the check can fail there too.
    strong = flipped >= flipped_by_fgm - samples // 50
    record("≥ FGM on a linear model", strong,
           f"flips {flipped}/{samples} logistic-model predictions, one fast gradient step flips "
           f"{flipped_by_fgm}" + ("" if strong else _weakness_hint(eps, attack_kwargs)))
    return report


def _weakness_hint(eps, attack_kwargs):
    """Why an attack may flip fewer points than one fast gradient step: a step against the
    gradient, or, given ``steps`` and ``alpha``, steps too short to cross the ball (a point
    started at random inside it may lie 2·eps from the corner the gradient points to)."""
    steps, alpha = attack_kwargs.get("steps"), attack_kwargs.get("alpha")
    try:
        reach = float(steps) * float(alpha)
    except (TypeError, ValueError):
        reach = math.inf
    if reach < 2 * eps:
        return (f" (steps·alpha = {reach:g} is less than 2·eps = {2 * eps:g}: from a random start "
                f"the steps may not reach the ball's far side; or is a step against the gradient?)")
    return " (is the step in the gradient's ascent direction?)"
