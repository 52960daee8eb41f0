"""Tiny models for the attack tests, written the way a student would write their own.

Attacks see only ``logits(x) -> (N, K)`` and ``input_gradient(x, grad_logits) -> dx``
(DESIGN.md), so these two classes are all the attack tests need; they also show that a model
that is not a tinyadv model works with every attack. ``LinearModel`` has a closed-form minimal
adversarial perturbation (``tinyadv.theory.minimal_linear_distance``, the ground truth of the
exactness tests; it lives in ``tinyadv.attackcheck``, which checks attacks on it);
``TwoLayerMLP`` is a small
nonlinear model with hand-written backprop.
"""

import numpy as np

from tinyadv.attackcheck import LinearModel  # noqa: F401  (the library's; used by the tests)


class TwoLayerMLP:
    """Logits z = W₂ φ(W₁ x + b₁) + b₂ with φ = tanh or ReLU, and its manual backward."""

    def __init__(self, d_in, d_hidden, k, *, activation="tanh", seed=0, scale=1.0):
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(0.0, scale / np.sqrt(d_in), size=(d_hidden, d_in))
        self.b1 = rng.normal(0.0, 0.1, size=d_hidden)
        self.w2 = rng.normal(0.0, 1.0 / np.sqrt(d_hidden), size=(k, d_hidden))
        self.b2 = rng.normal(0.0, 0.1, size=k)
        self.activation = activation

    def _hidden(self, x):
        pre = x.reshape(len(x), -1).astype(np.float64) @ self.w1.T + self.b1
        return pre, (np.tanh(pre) if self.activation == "tanh" else np.maximum(pre, 0.0))

    def logits(self, x):
        _, h = self._hidden(x)
        return (h @ self.w2.T + self.b2).astype(x.dtype)

    def input_gradient(self, x, grad_logits):
        pre, h = self._hidden(x)
        dh = grad_logits.astype(np.float64) @ self.w2
        dpre = dh * (1.0 - h ** 2) if self.activation == "tanh" else dh * (pre > 0)
        return (dpre @ self.w1).reshape(x.shape).astype(x.dtype)



class OnlyTheInterface:
    """A tinyadv model seen through the two methods of the contract only (no fused fast path)."""

    def __init__(self, model):
        self.model = model

    def logits(self, x):
        return self.model.logits(x)

    def input_gradient(self, x, grad_logits):
        return self.model.input_gradient(x, grad_logits)
