"""Batch normalisation (Ioffe & Szegedy 2015), for vectors (N, D) and images (N, C, H, W).

Each feature (each channel, for images) c is normalised over the batch axes — N for vectors,
N, H, W for images; m is the number of values per feature:

    training:   μ = mean(x),  σ² = mean((x − μ)²)             (biased, over the batch axes)
                x̂ = (x − μ) / √(σ² + eps),   out = γ x̂ + β
                running_mean ← (1 − momentum)·running_mean + momentum·μ
                running_var  ← (1 − momentum)·running_var  + momentum·σ²·m/(m − 1)   (unbiased)
    evaluation: x̂ = (x − running_mean) / √(running_var + eps),   out = γ x̂ + β

Backward in training (μ and σ depend on every x of the batch):

    dβ = Σ dout,   dγ = Σ dout·x̂,   dx̂ = dout·γ
    dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / √(σ² + eps)

and in evaluation, where the statistics are constants, dx = dout·γ / √(running_var + eps).

Parameters and buffers follow PyTorch (``weight`` = γ, ``bias`` = β, ``running_mean``,
``running_var``, ``num_batches_tracked``; momentum 0.1, eps 1e-5) so state dicts move unchanged.
The BNN reference code uses TensorFlow's batch_norm with eps 1e-5, a shift β and no scale γ,
and TensorFlow's default decay 0.999 for its running statistics (``momentum=0.001`` here); here γ
is learned too (it starts at 1) and the momentum is PyTorch's 0.1 unless told otherwise.
"""

import numpy as np

from ..checks import (check_array, check_bool, check_fits, check_float_dtype, check_nonnegative,
                      check_positive_int)
from .base import Layer, Parameter, check_cache, check_dout


def _batch_axes(x):
    if x.ndim == 2:
        return (0,)
    if x.ndim == 4:
        return (0, 2, 3)
    raise ValueError(f"BatchNorm expects (N, D) or (N, C, H, W) input, got shape {x.shape}")


def _per_feature(v, ndim):
    return v if ndim == 2 else v[None, :, None, None]


def batchnorm_forward(x, gamma, beta, *, eps, training, running_mean, running_var, momentum=0.1):
    """Normalise ``x`` per feature; returns ``(out, cache, batch_mean, batch_var_unbiased)``.

    The running statistics are not modified here: the layer updates them from the returned batch
    statistics (None in evaluation mode), which keeps this function pure. In evaluation mode it
    refuses a running_var with a negative or NaN value (ValueError).

    ``gamma`` and ``beta`` (and, used in evaluation mode only, ``running_mean`` and
    ``running_var``) hold one value per feature; ``eps`` > 0; ``training`` chooses the batch or
    the running statistics; ``momentum`` is not used here (the layer applies it).
    """
    x = check_array(x, "input of BatchNorm", finite=False)
    training = check_bool(training, "training")
    eps = check_nonnegative(eps, "eps")
    if eps == 0:
        raise ValueError("BatchNorm needs eps > 0")
    axes = _batch_axes(x)
    features = {"gamma": gamma, "beta": beta}
    if not training:
        features.update(running_mean=running_mean, running_var=running_var)
    for name, value in features.items():
        if not isinstance(value, np.ndarray) or value.ndim != 1:
            raise ValueError(f"{name} must be a vector of one value per feature, got "
                             f"{getattr(value, 'shape', value)!r}")
    if x.shape[1] != gamma.shape[0]:
        raise ValueError(f"BatchNorm has {gamma.shape[0]} features, input has {x.shape[1]} "
                         f"(shape {x.shape})")
    for name, value in features.items():
        if value.shape != gamma.shape:
            raise ValueError(f"{name} must have shape {gamma.shape}, one value per feature, got "
                             f"{value.shape}")
    if training:
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError(f"BatchNorm in training mode needs more than one value per feature, "
                             f"got input of shape {x.shape}")
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        unbiased = var * m / (m - 1)
    else:
        if not np.all(running_var >= 0):  # (O(C); NaN fails this too)
            raise ValueError(f"running_var must hold variances >= 0, got min {np.min(running_var)}")
        mean, var, unbiased = running_mean, running_var, None
    if var.dtype.type(eps) == 0:  # (O(1)) σ² + eps is computed in var's dtype
        raise ValueError(f"BatchNorm needs eps > 0 in {var.dtype}, got eps={eps}, which rounds "
                         f"to 0 there (a constant feature would give 0 / 0)")
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - _per_feature(mean, x.ndim)) * _per_feature(inv_std, x.ndim)
    out = _per_feature(gamma, x.ndim) * x_hat + _per_feature(beta, x.ndim)
    cache = (x_hat, gamma, inv_std, training)
    return out, cache, (mean if training else None), unbiased


def _batchnorm_cache(cache):
    """``cache`` after checking it has the form that :func:`batchnorm_forward` returns."""
    return check_cache(cache, isinstance(cache, tuple) and len(cache) == 4
                       and isinstance(cache[0], np.ndarray) and isinstance(cache[1], np.ndarray),
                       "batchnorm_forward")


def batchnorm_backward(dout, cache, *, need_input_grad=True, need_param_grads=True):
    """Returns ``(dx, dgamma, dbeta)`` (None where not needed); math in the module docstring."""
    need_input_grad = check_bool(need_input_grad, "need_input_grad")
    need_param_grads = check_bool(need_param_grads, "need_param_grads")
    x_hat, gamma, inv_std, training = _batchnorm_cache(cache)
    dout = check_dout(dout, x_hat.shape, "BatchNorm")
    axes = _batch_axes(dout)
    dgamma = np.sum(dout * x_hat, axis=axes) if need_param_grads else None
    dbeta = np.sum(dout, axis=axes) if need_param_grads else None
    dx = None
    if need_input_grad:
        dx_hat = dout * _per_feature(gamma, dout.ndim)
        if training:
            dx_hat = (dx_hat - dx_hat.mean(axis=axes, keepdims=True)
                      - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True))
        dx = dx_hat * _per_feature(inv_std, dout.ndim)
    return dx, dgamma, dbeta


class BatchNorm(Layer):
    """Batch normalisation over ``num_features`` features (channels for images).

    Works on (N, D) and (N, C, H, W) input (PyTorch's BatchNorm1d and BatchNorm2d in one class).

    Parameters
    ----------
    num_features : int >= 1
        D, or C for images.
    eps : float > 0
        Added to the variance (1e-5, as in PyTorch and the BNN reference code).
    momentum : float in [0, 1]
        Weight of the batch statistics in the running averages (0.1, as in PyTorch).
    dtype : float32 or float64
    """

    def __init__(self, num_features, *, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        num_features = check_positive_int(num_features, "num_features")
        dtype = check_float_dtype(dtype)
        check_fits((num_features,), dtype.itemsize, f"BatchNorm({num_features}): the weight")
        eps, momentum = check_nonnegative(eps, "eps"), check_nonnegative(momentum, "momentum")
        if eps == 0 or momentum > 1:
            raise ValueError(f"BatchNorm needs eps > 0 and momentum <= 1, got eps={eps}, "
                             f"momentum={momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.params["weight"] = Parameter(np.ones(num_features, dtype=dtype), decay=False)
        self.params["bias"] = Parameter(np.zeros(num_features, dtype=dtype), decay=False)
        self.buffers["running_mean"] = np.zeros(num_features, dtype=dtype)
        self.buffers["running_var"] = np.ones(num_features, dtype=dtype)
        self.buffers["num_batches_tracked"] = np.zeros((), dtype=np.int64)

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum)

    @property
    def batch_dependent(self):
        return self.training  # batch statistics in training, fixed running statistics in evaluation

    def forward(self, x):
        out, cache, mean, unbiased_var = batchnorm_forward(
            x, self.params["weight"].data, self.params["bias"].data, eps=self.eps,
            training=self.training, running_mean=self.buffers["running_mean"],
            running_var=self.buffers["running_var"], momentum=self.momentum,
        )
        if self.training:
            b = self.buffers
            b["running_mean"] = ((1 - self.momentum) * b["running_mean"]
                                 + self.momentum * mean).astype(b["running_mean"].dtype)
            b["running_var"] = ((1 - self.momentum) * b["running_var"]
                                + self.momentum * unbiased_var).astype(b["running_var"].dtype)
            b["num_batches_tracked"] = b["num_batches_tracked"] + 1
        return out, cache

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        gamma = _batchnorm_cache(cache)[1]
        if gamma.shape != self.params["weight"].shape:
            raise ValueError(f"cache is of a BatchNorm with weights of shape {gamma.shape}, this "
                             f"layer's are {self.params['weight'].shape}")
        dx, dgamma, dbeta = batchnorm_backward(
            dout, cache, need_input_grad=need_input_grad, need_param_grads=need_param_grads
        )
        return dx, ({"weight": dgamma, "bias": dbeta} if need_param_grads else {})
