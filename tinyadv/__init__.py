"""tinyadv: a from-scratch NumPy laboratory for adversarial examples.

``import tinyadv as ta`` gives every public name: layers, models, losses, optimizers, ``fit``,
attacks, evaluation, and the ``data``, ``theory`` and ``plots`` modules.
"""

from .gradcheck import numerical_gradient, rel_error
from .losses import cross_entropy, l1_penalty, l2_penalty, log_softmax, softmax

__version__ = "0.1.0"
