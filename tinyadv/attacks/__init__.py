"""Adversarial attacks: plain batched functions over any model with ``logits`` and ``input_gradient``.

An attack is ``f(model, x, y=None, *, eps, ...) -> x_adv``: it attacks the logits, clips to the
pixel box (``clip=(0, 1)`` by default, None for no box), supports targeted and untargeted
versions, takes an explicit seed when it is random, and returns a batch shaped like x in x's
dtype. One attack per module; ``norms`` holds the per-norm start, direction and projection.
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
