"""Weight initialisations of the reference code, from an explicit generator.

- ``truncated_normal``: TensorFlow's ``tf.truncated_normal``: N(0, std²) with every value beyond
  two standard deviations redrawn.
- ``unit_norm_filters``: each output filter (``w[f]``, all its input channels and taps together)
  scaled to unit L2 norm, as the CleverHans basic CNN does for full-precision convolutions and
  per output unit for its linear layer (REFERENCES.md §3, §4; §4's linear layer is scaled as a
  whole matrix instead: ``cleverhans_cnn(fc_norm="matrix")``).
"""

import numbers

import numpy as np

from .checks import check_array, check_nonnegative, check_positive, check_shape


def truncated_normal(rng, shape, std):
    """Draw N(0, std²) values, redrawing those outside [-2 std, 2 std]. ``rng`` must be a
    ``numpy.random.Generator`` (or a legacy RandomState; TypeError otherwise), ``shape`` an int or
    a tuple of ints, ``std`` a finite number >= 0 (ValueError)."""
    if not isinstance(rng, (np.random.Generator, np.random.RandomState)):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    shape = check_shape((shape,) if isinstance(shape, numbers.Integral) else shape)
    std = check_nonnegative(std, "std")
    values = rng.normal(0.0, std, size=shape)
    outside = np.abs(values) > 2 * std
    while outside.any():
        values[outside] = rng.normal(0.0, std, size=int(outside.sum()))
        outside = np.abs(values) > 2 * std
    return values


def unit_norm_filters(w, tiny=1e-7):
    """Scale each ``w[f]`` to unit L2 norm: w[f] / √(tiny + Σ w[f]²). ``w`` must be a finite
    float array with at least one axis, ``tiny`` a finite number > 0 (else an all-zero filter
    would be 0 / 0)."""
    w = check_array(w, "w", min_ndim=1)
    tiny = check_positive(tiny, "tiny")
    norms = np.sqrt(tiny + np.sum(w.reshape(w.shape[0], -1) ** 2, axis=1))
    return w / norms.reshape((-1,) + (1,) * (w.ndim - 1))
