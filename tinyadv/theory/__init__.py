"""The talk's theory, as functions you can test: why linear models have adversarial examples.

Read the modules in this order:

- ``linear``: the exact minimal L_p perturbation of an affine classifier f(x) = w·x + b
  (|f|/||w||_q with q the dual norm), the worst case inside an ε-ball, and the factorisation
  w·x + b = ||w||·d(x) that separates what weight decay (the scale) and adversarial training
  (a shift of d by ε) act on (Galloway, Tanay & Taylor 2018).
- ``linearity``: Goodfellow et al.'s (2015) argument — w·η = ε·||w||_1 = ε·m·n grows with the
  dimension — and Tanay & Griffin's (2016) reply that w·x grows with n too, so the ratio does not.
- ``logistic``: the adversarial logistic loss in closed form (with the sign of Goodfellow et al.'s
  printed formula corrected for y = −1), and a tiny seeded gradient-descent logistic fit.
- ``tilting``: Tanay & Griffin's boundary tilting on a toy two-class problem on a subspace:
  tilting the boundary off the data shrinks the adversarial distance at unchanged accuracy, and
  weight decay reduces the tilt that overfitting produces.

Every claim is checked by a Hypothesis property test in ``tests/test_theory.py``, and the two
theory slides are drawn by ``scripts/linearity.py`` and ``scripts/boundary_tilting.py``.
``theory`` stands alone: it imports nothing from tinyadv but the input checks.
"""

from .linear import (
    check_signed_labels,
    dual_direction,
    dual_norm,
    linear_scores,
    minimal_linear_distance,
    minimal_linear_perturbation,
    signed_distance,
    worst_case_linear_perturbation,
    worst_case_margin,
)
from .linearity import (
    activation_change,
    folded_normal_mean,
    linearity_ratio,
    linearity_sweep,
    sign_perturbation,
)
from .logistic import (
    adversarial_logistic_loss,
    fit_logistic_regression,
    logistic_loss,
    sigmoid,
    softplus,
)
from .tilting import (
    accuracy_and_distance,
    deviation_angle,
    nearest_centroid,
    submanifold_data,
    tilt_boundary,
    tilting_sweep,
    weight_decay_tilt,
)

__all__ = [
    "check_signed_labels", "dual_direction", "dual_norm", "linear_scores",
    "minimal_linear_distance", "minimal_linear_perturbation", "signed_distance",
    "worst_case_linear_perturbation", "worst_case_margin", "activation_change",
    "folded_normal_mean", "linearity_ratio", "linearity_sweep", "sign_perturbation",
    "adversarial_logistic_loss", "fit_logistic_regression", "logistic_loss", "sigmoid",
    "softplus", "accuracy_and_distance", "deviation_angle", "nearest_centroid",
    "submanifold_data", "tilt_boundary", "tilting_sweep", "weight_decay_tilt",
]
