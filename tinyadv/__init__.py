"""tinyadv: a from-scratch NumPy laboratory for adversarial examples.

``import tinyadv as ta`` gives every public name: layers, models, losses, optimizers, ``fit``,
attacks, evaluation, and the ``data``, ``theory`` and ``plots`` modules.
"""

from . import attacks, data, plots, theory
from .attacks import (cw_l2, deepfool, fgm, fgsm, fooling_images, gaussian_noise, papernot_blackbox,
                      pgd, pixel_attack, salt_and_pepper, spsa, swap_pixels, uniform_noise)
from .attackcheck import check_attack
from .evaluate import (confidence_and_margin, gradient_masking_report, label_entropy, mean_snr,
                       mutual_information, perturbation_stats, robust_accuracy, robustness_table,
                       sweep)
from .gradcheck import check_gradients, check_layer, numerical_gradient, rel_error
from .layers import (BatchNorm, BinaryConv2D, BinaryLinear, Conv2D, Flatten, Layer, Linear,
                     Parameter, ReLU, Scale, ScaledReLU, Sign, StochasticBinaryConv2D)
from .losses import cross_entropy, l1_penalty, l2_penalty, log_softmax, logits_to_labels, softmax
from .metrics import accuracy, predict
from .models import Sequential, cleverhans_cnn, load, logistic_regression, mlp
from .optim import SGD, Adam
from .threads import get_num_threads, set_num_threads
from .train import adversarial_hook, fit, permuted_labels, train_step

__version__ = "0.1.0"
