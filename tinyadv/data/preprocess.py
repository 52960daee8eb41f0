"""The SVHN preprocessing of the input-fault-tolerance paper (Galloway et al. 2018, REFERENCES §4).

That paper's SVHN model sees greyscale digits, each image with its own mean subtracted, then
divided by the per-pixel standard deviation over the data set:

    g          = 0.299 R + 0.587 G + 0.114 B                  (ITU-R BT.601 luma, as in
                                                              tf.image.rgb_to_grayscale)
    x_c[n]     = g[n] - mean_{c,h,w} g[n]                     (per-image mean subtracted)
    sigma[c,h,w] = std_n x_c[n, c, h, w]                      (per-pixel std over the images)
    x_std[n]   = x_c[n] / sigma

Both functions take float images (N, C, H, W) and keep their dtype. To normalise a test set with
the training set's statistics, pass the ``pixel_std`` that :func:`standardize` returned on the
training images.
"""

import numbers

import numpy as np

from tinyadv.checks import check_array

LUMA = (0.299, 0.587, 0.114)


def to_greyscale(x):
    """Convert RGB images to one luma channel.

    Parameters
    ----------
    x : ndarray, shape (N, 3, H, W), float

    Returns
    -------
    ndarray, shape (N, 1, H, W), same dtype: ``0.299 R + 0.587 G + 0.114 B``.
    """
    x = check_array(x, "x", ndim=4)
    if x.shape[1] != 3:
        raise ValueError(f"x must have 3 colour channels (N, 3, H, W), got shape {x.shape}")
    weights = np.asarray(LUMA, dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x * weights).sum(axis=1, keepdims=True)


def standardize(x, pixel_std=None, *, eps=1e-8):
    """Subtract each image's mean, then divide by the per-pixel standard deviation.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float, finite (values whose means, standard deviation or
        quotient overflow x's dtype, as float32 images of 1e20, are refused: pass float64)
    pixel_std : ndarray, shape (C, H, W), float, optional
        Per-pixel standard deviation to divide by, finite and >= 0; computed from ``x`` (after
        mean subtraction) when None.
    eps : float
        Lower bound on the standard deviation, so a constant pixel does not divide by zero;
        finite and > 0 (also after rounding to ``x``'s dtype).

    Returns
    -------
    x_std : ndarray, shape (N, C, H, W), same dtype
    pixel_std : ndarray, shape (C, H, W), the standard deviation that was used
    """
    x = check_array(x, "x", ndim=4)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a real number, got {type(eps).__name__}")
    try:
        eps = float(eps)
    except OverflowError:  # (an int such as 10**400: refused just below as not finite)
        eps = np.inf
    largest = float(np.finfo(x.dtype).max)
    if not (0 < eps <= largest and x.dtype.type(eps) > 0):   # (NaN fails; 1e-50 is 0 in float32)
        raise ValueError(f"eps must be a finite number > 0 (representable in {x.dtype}), got {eps}")
    computed = pixel_std is None
    if computed and len(x) < 2:
        raise ValueError(f"standardize needs at least 2 images to estimate a per-pixel std, got {len(x)}")
    if not computed:
        pixel_std = check_array(pixel_std, "pixel_std", ndim=3)
        if pixel_std.shape != x.shape[1:]:
            raise ValueError(f"pixel_std must have shape {x.shape[1:]} to match x, got {pixel_std.shape}")
        if pixel_std.size and pixel_std.min() < 0:
            raise ValueError(f"pixel_std must be >= 0 (it is a standard deviation), "
                             f"found {pixel_std.min()}")
        if pixel_std.size and pixel_std.max() > largest:
            raise ValueError(f"pixel_std does not fit in x's dtype {x.dtype}: "
                             f"found {pixel_std.max()}")
    with np.errstate(over="ignore", invalid="ignore"):  # (an overflow is refused below)
        x_c = x - x.mean(axis=(1, 2, 3), keepdims=True)
        if computed:
            pixel_std = x_c.std(axis=0)
        pixel_std = pixel_std.astype(x.dtype, copy=False)
        x_std = (x_c / np.maximum(pixel_std, x.dtype.type(eps))).astype(x.dtype, copy=False)
    if not (np.isfinite(pixel_std).all() and np.isfinite(x_std).all()):
        raise ValueError(f"x's values (up to {np.max(np.abs(x)):g} in size) overflow {x.dtype} in "
                         f"the image means, the standard deviation or their quotient: pass x in "
                         f"float64 (or scaled down)")
    return x_std, pixel_std
