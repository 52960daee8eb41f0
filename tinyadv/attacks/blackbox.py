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

from ..checks import check_array, check_labels, check_nonnegative, check_positive_int
from ..losses import logits_to_labels
from .base import check_input, check_model, from_two_logits, model_gradient, model_logits
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
    """Labels ŷ = argmax Z(x) from the oracle, in batches (the only thing the attacker sees)."""
    parts = [logits_to_labels(model_logits(oracle, x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.int64)


def jacobian_augmentation(substitute, x, y, lmbda):
    """One Jacobian-based augmentation step: x_new = x + λ·sign(∂Z_y(x)/∂x) of the substitute.

    Parameters
    ----------
    substitute : object with ``logits`` and ``input_gradient``
    x : ndarray, shape (S, ...)
    y : ndarray of int, shape (S,)
        The oracle's labels of x.
    lmbda : float
        λ (may be negative: the periodic step size).

    Returns
    -------
    x_new : ndarray, shape and dtype of x (not clipped, as in the reference code)
    """
    k = model_logits(substitute, x[:1]).shape[1]
    onehot = np.zeros((len(x), max(k, 2)), dtype=x.dtype)
    onehot[np.arange(len(x)), y] = 1.0
    grad = model_gradient(substitute, x, from_two_logits(onehot, k))
    return (x + lmbda * np.sign(grad)).astype(x.dtype)


def papernot_blackbox(oracle, substitute, train_substitute, x_seed, x_test, y_test, *, rounds=6,
                      lmbda=0.1, tau=3, eps=0.3, clip=(0.0, 1.0)):
    """Practical black-box attack: substitute training with Jacobian augmentation, then FGSM transfer.

    Parameters
    ----------
    oracle : object with ``logits(x) -> (N, K)``
        The attacked model; only its labels are used.
    substitute : object with ``logits`` and ``input_gradient``
        The attacker's model, trained in place.
    train_substitute : callable
        ``train_substitute(substitute, x, y)`` trains the substitute on (x, y) in place.
    x_seed : ndarray, shape (S₀, ...)
        Seed inputs (the paper: 150 test images, removed from evaluation).
    x_test : ndarray, shape (N, ...)
        Inputs to attack.
    y_test : ndarray of int, shape (N,)
        Their true labels (for the report only).
    rounds : int >= 1
        Substitute training rounds ρ = 0 … rounds − 1; augmentation after all but the last.
    lmbda : float >= 0
        λ, the augmentation step.
    tau : int or None
        Periodic step: λ_ρ = +λ when ⌊ρ/τ⌋ is even, −λ otherwise; None keeps +λ.
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
    if not callable(getattr(oracle, "logits", None)):
        raise TypeError(f"oracle must have a method logits(x), got {type(oracle).__name__}")
    check_model(substitute)
    if not callable(train_substitute):
        raise TypeError("train_substitute must be a callable train_substitute(substitute, x, y)")
    x_seed = check_array(x_seed, "x_seed", min_ndim=2)
    x_test, clip = check_input(x_test, clip)
    if x_seed.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"x_seed and x_test must have the same image shape, got {x_seed.shape} "
                         f"and {x_test.shape}")
    rounds = check_positive_int(rounds, "rounds")
    lmbda = check_nonnegative(lmbda, "lmbda")
    if tau is not None:
        tau = check_positive_int(tau, "tau")
    eps = check_nonnegative(eps, "eps")
    y_test = check_labels(y_test, len(x_test), model_logits(oracle, x_test[:1]).shape[1], "y_test")

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
