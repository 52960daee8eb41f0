"""The practical black-box attack: learn a substitute from the oracle's labels, then transfer FGSM.

Papernot, McDaniel, Goodfellow, Jha, Celik & Swami 2017 ("Practical black-box attacks against
machine learning", AsiaCCS) attack a model they can only query for labels. They train a local
substitute on a small seed set labelled by the oracle, grow the set by *Jacobian-based dataset
augmentation* (step each point along the sign of the substitute's gradient of the logit of its
oracle label, where the substitute's decision boundary changes fastest, and ask the oracle
again), and finally craft FGSM examples on the substitute, which transfer to the oracle. The
reference code is CleverHans ``examples/mnist_blackbox.py`` (REFERENCES.md §6).

Attacks never import training (DESIGN.md), so the caller supplies the substitute model and a
callable ``train_substitute(substitute, x, y)`` that trains it in place on the current set (for
the paper's protocol: 10 epochs of Adam, continuing from the previous round), e.g.
``lambda m, x, y: tinyadv.fit(m, x, y, epochs=10, batch_size=128, optimizer=..., seed=0)``.
The oracle only needs ``logits``; only its arg-max label is used.
"""

from typing import NamedTuple

import numpy as np

from ..checks import (check_array, check_finite_real, check_fits, check_labels,
                      check_nonnegative, check_positive_int)
from ..losses import logits_to_labels
from .base import (check_input, check_logits_model, check_model, check_reach, model_gradient,
                   model_logits, num_classes, num_logits, probe_batch)
from .fgm import fgsm


class BlackBoxResult(NamedTuple):
    """What the black-box attack did and how well it transferred."""

    x_adv: np.ndarray               # (N, ...) FGSM examples crafted on the substitute
    x_substitute: np.ndarray        # (S, ...) the final substitute training set
    y_substitute: np.ndarray        # (S,) oracle labels of that set
    oracle_queries: int             # labels asked of the oracle while training the substitute
    oracle_accuracy_clean: float    # oracle accuracy on x_test
    oracle_accuracy_adv: float      # oracle accuracy on x_adv
    transfer_success: float         # fraction of x_adv the oracle misclassifies
    substitute_agreement: float     # fraction of x_test where substitute and oracle agree


def oracle_labels(oracle, x, batch_size=1024):
    """Labels ŷ = argmax Z(x) from the oracle, in batches (the only thing the attacker sees).

    Parameters
    ----------
    oracle : object with ``logits(x) -> (N, K)``
    x : ndarray, shape (N, ...), float32 or float64 (a list is converted to float64)
    batch_size : int >= 1
        Largest number of inputs per call of ``oracle.logits``.

    Returns
    -------
    labels : ndarray of int64, shape (N,) (empty for N = 0)
    """
    check_logits_model(oracle, "oracle")
    x = check_array(x, "x", min_ndim=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    labels = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), batch_size):
        labels[i:i + batch_size] = logits_to_labels(model_logits(oracle, x[i:i + batch_size]))
    return labels


def _check_lmbda(lmbda):
    """Return λ as a float after checking it is a finite real number (of either sign)."""
    return check_finite_real(lmbda, "lmbda")  # (np.isfinite refused a Fraction or 2**70 itself)


def jacobian_augmentation(substitute, x, y, lmbda):
    """One Jacobian-based augmentation step: x_new = x + λ·sign(∂Z_y(x)/∂x) of the substitute.

    For a substitute with one logit z the two classes' logits are taken as −z/2 and z/2, so that
    class 0 steps along −sign(∂z/∂x) and class 1 along +sign(∂z/∂x): the signs of the paper's
    Jacobian of the softmax output. (The logits [0, z] that the losses use would leave every
    point of class 0 where it is: its logit does not depend on x.)

    Parameters
    ----------
    substitute : object with ``logits`` and ``input_gradient``
    x : ndarray, shape (S, ...)
    y : ndarray of int, shape (S,)
        The oracle's labels of x, in [0, K) for the substitute's K classes.
    lmbda : float
        λ, finite, of either sign (the periodic step size of ``papernot_blackbox`` is ±λ).

    Returns
    -------
    x_new : ndarray, shape and dtype of x (not clipped, as in the reference code)
    """
    check_model(substitute)
    x = check_array(x, "x", min_ndim=2)
    lmbda = _check_lmbda(lmbda)
    check_reach(x, abs(lmbda), "lmbda", lmbda)
    k = num_logits(substitute, x)
    y = check_labels(y, len(x), k)
    if k == 1:  # ∂(±z/2): only the sign of the step counts
        upstream = np.where(y == 1, 1.0, -1.0).astype(x.dtype)[:, None]
    else:
        upstream = np.zeros((len(x), k), dtype=x.dtype)
        upstream[np.arange(len(x)), y] = 1.0
    grad = model_gradient(substitute, x, upstream)
    return (x + lmbda * np.sign(grad)).astype(x.dtype)


def papernot_blackbox(oracle, substitute, train_substitute, x_seed, x_test, y_test, *, rounds=6,
                      lmbda=0.1, tau=3, eps=0.3, clip=(0.0, 1.0)):
    """Practical black-box attack: substitute training with Jacobian augmentation, then FGSM transfer.

    Parameters
    ----------
    oracle : object with ``logits(x) -> (N, K)``
        The attacked model; only its labels are used.
    substitute : object with ``logits`` and ``input_gradient``
        The attacker's model, trained in place; at least as many classes as the oracle (a
        single-logit model has two).
    train_substitute : callable
        ``train_substitute(substitute, x, y)`` trains the substitute on (x, y) in place.
    x_seed : ndarray, shape (S₀, ...), S₀ >= 1
        Seed inputs (the paper: 150 test images, removed from evaluation).
    x_test : ndarray, shape (N, ...), N >= 1
        Inputs to attack.
    y_test : ndarray of int, shape (N,)
        Their true labels (for the report only).
    rounds : int in [1, 64]
        Substitute training rounds ρ = 0 … rounds − 1; augmentation after all but the last,
        each doubling the substitute's training set (S₀·2^(rounds−1) points at the end; a set
        past NumPy's 2**63 bytes is refused before anything runs).
    lmbda : float >= 0
        λ, the augmentation step.
    tau : int or None
        Periodic step: λ_ρ = +λ when ⌊ρ/τ⌋ is even, −λ otherwise, the paper's λ·(−1)^⌊ρ/τ⌋
        (REFERENCES.md §6); None keeps +λ. CleverHans's ``mnist_blackbox.py`` has the opposite
        signs (``lmbda_coef = 2·int(int(ρ/3) != 0) − 1``: −λ for ρ = 0, 1, 2, then +λ).
    eps : float >= 0
        FGSM ε on the substitute.
    clip : (low, high) or None
        Box of the FGSM examples (augmentation is not clipped).

    Returns
    -------
    BlackBoxResult

    Notes
    -----
    S₀ ← x_seed, ŷ = oracle(S₀). For ρ = 0 … rounds − 1: train the substitute F on (S_ρ, ŷ);
    if ρ < rounds − 1: S_{ρ+1} = S_ρ ∪ {x + λ_ρ·sign(∂F_{ŷ(x)}(x)/∂x) : x ∈ S_ρ}, labelled by
    the oracle. The final set has S₀·2^(rounds−1) points, each labelled once (the oracle
    queries). Then x_adv = clip(x + ε·sign(∇ₓ CE(F(x), F's own prediction))) (CleverHans
    passes no labels to FGSM) and the oracle is evaluated on x_adv. Papernot et al. 2017,
    Algorithm 1; CleverHans ``mnist_blackbox.py``.
    """
    check_logits_model(oracle, "oracle")
    check_model(substitute)
    if not callable(train_substitute):
        raise TypeError("train_substitute must be a callable train_substitute(substitute, x, y)")
    x_seed = check_array(x_seed, "x_seed", min_ndim=2)
    x_test, clip = check_input(x_test, clip, "x_test")
    for name, a in (("x_seed", x_seed), ("x_test", x_test)):
        if len(a) == 0:
            raise ValueError(f"{name} is empty (shape {a.shape}): give at least one input")
    if x_seed.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"x_seed and x_test must have the same image shape, got {x_seed.shape} "
                         f"and {x_test.shape}")
    rounds = check_positive_int(rounds, "rounds", maximum=64)  # (past 64, 2**63 points anyway)
    check_fits((len(x_seed) << (rounds - 1),) + x_seed.shape[1:], x_seed.itemsize,
               f"rounds={rounds} from {len(x_seed)} seed points: the substitute's training set "
               f"(it doubles every round)")
    lmbda = check_nonnegative(lmbda, "lmbda")
    check_reach(x_seed, (rounds - 1) * lmbda, "lmbda", lmbda)  # each round moves by ±λ
    if tau is not None:
        tau = check_positive_int(tau, "tau")
    eps = check_nonnegative(eps, "eps")
    k_oracle = num_classes(model_logits(oracle, probe_batch(oracle, x_test)))
    k_substitute = num_classes(model_logits(substitute, probe_batch(substitute, x_test)))
    if k_substitute < k_oracle:
        raise ValueError(f"the substitute has {k_substitute} classes but the oracle has "
                         f"{k_oracle}: the substitute must have a logit for every oracle label")
    y_test = check_labels(y_test, len(x_test), k_oracle, "y_test")

    x_sub = x_seed.copy()
    y_sub = oracle_labels(oracle, x_sub)
    queries = len(x_sub)
    for rho in range(rounds):
        train_substitute(substitute, x_sub, y_sub)
        if rho == rounds - 1:
            break
        step = lmbda if tau is None or (rho // tau) % 2 == 0 else -lmbda
        x_new = jacobian_augmentation(substitute, x_sub, y_sub, step)
        y_new = oracle_labels(oracle, x_new)
        queries += len(x_new)
        x_sub, y_sub = np.concatenate([x_sub, x_new]), np.concatenate([y_sub, y_new])

    x_adv = fgsm(substitute, x_test, eps=eps, clip=clip)
    pred_clean = oracle_labels(oracle, x_test)
    pred_adv = oracle_labels(oracle, x_adv)
    pred_sub = logits_to_labels(model_logits(substitute, x_test))
    return BlackBoxResult(
        x_adv=x_adv, x_substitute=x_sub, y_substitute=y_sub, oracle_queries=int(queries),
        oracle_accuracy_clean=float(np.mean(pred_clean == y_test)),
        oracle_accuracy_adv=float(np.mean(pred_adv == y_test)),
        transfer_success=float(np.mean(pred_adv != y_test)),
        substitute_agreement=float(np.mean(pred_sub == pred_clean)),
    )
