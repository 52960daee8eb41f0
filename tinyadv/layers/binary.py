"""Binarized weights: convolution and linear layers whose forward pass uses sign(W).

The layer keeps real-valued weights W (what the optimizer updates) and computes with

    deterministic   W_b = sign(W)                      (Courbariaux et al. 2016; Galloway et al.
                                                        2018, variants B and C)
    scaled          W_b = α · sign(W),  α = mean|W|    (one scalar per layer, as in the
                                                        binarized logistic regression of
                                                        Galloway, Tanay & Taylor 2018; XNOR-Net
                                                        uses one α per filter)
    stochastic      W_b = 2 · Bernoulli(hardsigmoid(W)) − 1,  hardsigmoid(w) = clip((w+1)/2, 0, 1)
                    resampled at every forward pass from the layer's own generator (Galloway et
                    al. 2018, the stochastic conv3)

The backward pass computes dL/dW_b exactly (the layer is an ordinary conv/linear in W_b) and
passes it to W through a straight-through estimator (see ``activations.py``); this stand-in is
NOT the derivative of the forward pass, which is zero almost everywhere:

    deterministic   dW = STE(dW_b, W)
    scaled          dW = STE(α · dW_b, W) + sign(W) · mean(dW_b ⊙ sign(W))
                    (the second term is the true derivative through α = mean|W|, as in XNOR-Net,
                    Rastegari et al. 2016)
    stochastic      dW = STE(dW_b, W) · 1{|W| ≤ 1}
                    (the reference code's chain: the clipped gradient flows through the Bernoulli
                    sample, the factor 2 and hardsigmoid's slope ½ cancel, and hardsigmoid is flat
                    outside [−1, 1])
"""

import numbers

import numpy as np

from ..checks import check_bool, make_rng
from .activations import check_ste, sign, straight_through
from .conv import Conv2D
from .linear import Linear


class _Binarized:
    """Mixin: replaces the weight used in the forward pass and the weight gradient's backward."""

    def _init_binary(self, scale, ste):
        self.scale = check_bool(scale, "scale")
        self.ste = check_ste(ste)

    @property
    def param_grads_need_whole_batch(self):
        """The Galloway STE clips dL/dW_b of the whole batch, and Σ clip ≠ clip Σ over chunks."""
        return self.ste == "galloway"

    def effective_weight(self):
        w = self.params["weight"].data
        if self.scale:
            return np.mean(np.abs(w)).astype(w.dtype) * sign(w)
        return sign(w)

    def weight_gradient(self, dw_binary):
        w = self.params["weight"].data
        if not self.scale:
            return straight_through(dw_binary, w, self.ste)
        alpha = np.mean(np.abs(w))
        return straight_through(alpha * dw_binary, w, self.ste) + sign(w) * np.mean(dw_binary * sign(w))


class BinaryConv2D(_Binarized, Conv2D):
    """Conv2D computing with sign(W) (optionally α·sign(W)); same arguments as Conv2D plus
    ``scale`` (bool) and ``ste`` ("hubara" or "galloway")."""

    def __init__(self, in_channels, out_channels, kernel_size, *, scale=False, ste="galloway", **kwargs):
        self._init_binary(scale, ste)  # checked before the parent draws the weights
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)

    def config(self):
        return dict(super().config(), scale=self.scale, ste=self.ste)


class BinaryLinear(_Binarized, Linear):
    """Linear computing with sign(W) (optionally α·sign(W)); same arguments as Linear plus
    ``scale`` (bool) and ``ste`` ("hubara" or "galloway")."""

    def __init__(self, in_features, out_features, *, scale=False, ste="galloway", **kwargs):
        self._init_binary(scale, ste)  # checked before the parent draws the weights
        super().__init__(in_features, out_features, **kwargs)

    def config(self):
        return dict(super().config(), scale=self.scale, ste=self.ste)


def _check_saved_seed(seed):
    """Raise unless ``seed`` is one that can be saved with the model (as JSON): None, an int >= 0
    or a list of them (what :func:`tinyadv.checks.make_rng` takes, a Generator, SeedSequence or
    bit generator excepted)."""
    if seed is None:
        return
    try:
        if isinstance(seed, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
            raise TypeError
        make_rng(seed)  # ValueError for negative ints, as everywhere
    except TypeError:
        raise TypeError(f"seed must be an int or None here (or a list of ints): it is saved with "
                        f"the model, got {seed!r}") from None


class StochasticBinaryConv2D(Conv2D):
    """Conv2D whose weights are resampled as ±1 at every forward pass:
    W_b = 2·Bernoulli(hardsigmoid(W)) − 1, drawn from the layer's generator (``seed``: an int,
    a list of ints or None, not a Generator: it is saved with the model). Same arguments as
    Conv2D plus ``ste`` ("hubara" or "galloway").

    The sampling happens in training and in evaluation mode alike, as in the reference code.
    A model's file keeps the seed, not the generator's position: a loaded model samples from
    the start of the seed's stream. ``fit``'s checkpoints keep the position, so a resumed run
    samples as the uninterrupted one.
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, ste="galloway", seed=None, **kwargs):
        # Checked before the parent constructor draws the weights from the seed.
        _check_saved_seed(seed)
        ste = check_ste(ste)
        super().__init__(in_channels, out_channels, kernel_size, seed=seed, **kwargs)
        self.ste = ste
        # Plain ints, as it is saved as JSON; the sampling stream is the seed's entropy and a 1.
        if seed is None or isinstance(seed, numbers.Integral):
            self.seed = None if seed is None else int(seed)
            entropy = None if seed is None else [self.seed, 1]
        else:
            self.seed = [int(s) for s in seed]
            entropy = self.seed + [1]
        self.rng = np.random.default_rng(entropy)

    def config(self):
        return dict(super().config(), ste=self.ste, seed=self.seed)

    @property
    def batch_dependent(self):
        return True  # draws from one generator: chunks on threads would draw in random order

    @property
    def param_grads_need_whole_batch(self):
        return self.ste == "galloway"  # (clips the whole batch's dL/dW_b, as _Binarized)

    def effective_weight(self):
        w = self.params["weight"].data
        p = np.clip((w + 1) / 2, 0, 1)
        sample = (2 * (self.rng.random(w.shape) < p) - 1).astype(w.dtype)
        return np.where(np.isnan(w), w, sample)  # a NaN weight stays NaN, as in sign(W)

    def weight_gradient(self, dw_binary):
        w = self.params["weight"].data
        return straight_through(dw_binary, w, self.ste) * (np.abs(w) <= 1)
