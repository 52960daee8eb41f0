"""The talk's theory, as functions you can test: linear models and the distance to their boundary.

- ``linear``: the exact minimal L_p perturbation of an affine classifier f(x) = w·x + b
  (|f|/||w||_q with q the dual norm), the worst case inside an ε-ball, and the factorisation
  w·x + b = ||w||·d(x) that separates what weight decay and adversarial training act on.

Every claim here is checked by a Hypothesis property test in ``tests/test_theory.py``.
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
