"""Adversarial attacks: plain batched functions over any model with ``logits`` and ``input_gradient``.

An attack is ``f(model, x, y=None, *, eps, ...) -> x_adv``: it attacks the logits, clips to the
pixel box (``clip=(0, 1)`` by default, None for no box), supports targeted and untargeted
versions, takes an explicit seed when it is random, and returns a batch shaped like x in x's
dtype. The exceptions say so in their docstrings; among them, the minimal-perturbation attacks
have no ε (``cw_l2``; ``deepfool``, which is untargeted and attacks the model's own prediction,
so it takes no y), ``pixel_attack`` and all corruptions but ``uniform_noise`` have a budget of
their own instead (k; σ or a fraction), and ``swap_pixels`` only moves the values of x, so it
needs no box. One attack per module; ``norms`` holds the per-norm start, direction and projection.

Attacks see the model only through ``logits(x) -> (N, K)`` and ``input_gradient(x, grad_logits)``
and use it in whatever mode it is in, like PyTorch: call ``model.eval()`` first when it has
dropout, batch norm or stochastic layers and the test-time function is the one to attack.

| function | norm | paper | reference code |
|---|---|---|---|
| ``fgm``, ``fgsm`` | L∞, L2, L1 | Goodfellow et al. 2015 | CleverHans ``fast_gradient_method`` |
| ``pgd`` | L∞, L2, L1 | Kurakin 2017; Madry 2018 | CleverHans ``projected_gradient_descent`` |
| ``cw_l2`` | L2 (minimal) | Carlini & Wagner 2017 | carlini/nn_robust_attacks ``l2_attack.py`` |
| ``deepfool`` | L2 (minimal) | Moosavi-Dezfooli et al. 2016 | LTS4/DeepFool |
| ``spsa`` | L∞, gradient-free | Uesato et al. 2018 | CleverHans ``SPSA`` |
| ``papernot_blackbox`` | transfer | Papernot et al. 2017 | CleverHans ``mnist_blackbox.py`` |
| ``fooling_images`` | from noise | Nguyen et al. 2015; §5 | ``cifar10_fooling_images.py`` |
| ``pixel_attack`` | L0 | REFERENCES.md §7 | — |
| ``gaussian_noise`` … ``swap_pixels`` | random | Galloway et al. 2018 | ``run_rand_attack.py`` |

The exact minimal perturbation of a linear model, the ground truth of the tests, is
``tinyadv.theory.minimal_linear_distance`` / ``minimal_linear_perturbation``, re-exported here.
"""

from .blackbox import BlackBoxResult, jacobian_augmentation, oracle_labels, papernot_blackbox
from .corruptions import gaussian_noise, salt_and_pepper, swap_pixels, uniform_noise
from .cw import cw_l2, cw_margin, cw_success
from .deepfool import deepfool
from .fgm import fgm, fgsm
from .fooling import FoolingResult, fooling_images
from .norms import lp_norm, normalize, project, project_l1_ball, random_start
from .pgd import pgd
from .pixels import pixel_attack
from .spsa import margin_loss, spsa, spsa_gradient
from ..theory import minimal_linear_distance, minimal_linear_perturbation
