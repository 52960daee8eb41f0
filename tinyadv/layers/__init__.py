"""Layers with hand-written forward and backward passes, one idea per module.

linear, conv and batchnorm (and ReLU in activations) hold the pure ``*_forward(...) -> (out,
cache)`` / ``*_backward(dout, cache)`` pair and a thin layer class that holds the parameters and
calls them; the other layers (``Sign``, ``ScaledReLU``, ``Scale``, ``Flatten``, the binary layers)
are small classes with the math in their docstrings.
"""

from .activations import ReLU, ScaledReLU, Sign, straight_through
from .base import Layer, Parameter
from .batchnorm import BatchNorm
from .binary import BinaryConv2D, BinaryLinear, StochasticBinaryConv2D
from .conv import Conv2D, conv2d_backward, conv2d_forward, conv2d_forward_naive
from .linear import Flatten, Linear, Scale, linear_backward, linear_forward

__all__ = [
    "BatchNorm", "BinaryConv2D", "BinaryLinear", "Conv2D", "Flatten", "Layer", "Linear",
    "Parameter", "ReLU", "Scale", "ScaledReLU", "Sign", "StochasticBinaryConv2D",
    "conv2d_backward", "conv2d_forward", "conv2d_forward_naive", "linear_backward",
    "linear_forward", "straight_through",
]
