"""The hot loops of convolution: im2col and col2im, in readable NumPy and in Numba.

A convolution is a matrix product once every receptive field has been copied into a row:

    im2col:  xpad (N, C, Hp, Wp)  ->  cols (N, Ho, Wo, C, HH, WW)
             cols[n, i, j, c, p, q] = xpad[n, c, i*stride + p, j*stride + q]

so that ``out = cols.reshape(N*Ho*Wo, C*HH*WW) @ w.reshape(F, C*HH*WW).T``. The weight layout
(F, C, HH, WW) is PyTorch's, so a weight moves between tinyadv and PyTorch unchanged.

col2im is the adjoint (the transpose) of im2col: every entry of ``dcols`` is added back to the
pixel it was copied from, which is how the gradient of the input is gathered:

    col2im:  dcols (N, Ho, Wo, C, HH, WW)  ->  dxpad (N, C, Hp, Wp)
             dxpad[n, c, i*stride + p, j*stride + q] += dcols[n, i, j, c, p, q]

Each operation exists twice: ``*_reference`` is plain NumPy you can read (and is what the
tests hold the fast version to), and the Numba version beside it is what the layers call.
The Numba kernels are serial (``parallel=False``) and release the GIL (``nogil=True``), so that
a caller can run them on several threads without fighting BLAS for the cores
(PERFORMANCE.md); ``cache=True`` keeps the compiled code on disk between runs.
"""

import numpy as np
from numba import njit


def output_size(size, kernel, stride, pad_before, pad_after):
    """Output length of a convolution along one axis: (size + pads - kernel) // stride + 1."""
    return (size + pad_before + pad_after - kernel) // stride + 1


# --------------------------------------------------------------------------------------------
# Readable NumPy references


def im2col_reference(xpad, HH, WW, stride):
    """Copy every HH x WW receptive field of ``xpad`` into a row (NumPy reference).

    Parameters
    ----------
    xpad : ndarray, shape (N, C, Hp, Wp)
        The already padded input.
    HH, WW : int
        Kernel height and width.
    stride : int

    Returns
    -------
    cols : ndarray, shape (N, Ho, Wo, C, HH, WW), C-contiguous,
        with Ho = (Hp - HH) // stride + 1 and Wo = (Wp - WW) // stride + 1.
    """
    windows = np.lib.stride_tricks.sliding_window_view(xpad, (HH, WW), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # (N, C, Ho, Wo, HH, WW)
    return np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5))


def col2im_reference(dcols, Hp, Wp, stride):
    """Add every row of ``dcols`` back onto the pixels it came from (NumPy reference).

    Parameters
    ----------
    dcols : ndarray, shape (N, Ho, Wo, C, HH, WW)
    Hp, Wp : int
        Height and width of the padded input.
    stride : int

    Returns
    -------
    dxpad : ndarray, shape (N, C, Hp, Wp)
    """
    N, Ho, Wo, C, HH, WW = dcols.shape
    dxpad = np.zeros((N, C, Hp, Wp), dtype=dcols.dtype)
    for p in range(HH):
        for q in range(WW):
            rows = slice(p, p + stride * (Ho - 1) + 1, stride)
            columns = slice(q, q + stride * (Wo - 1) + 1, stride)
            dxpad[:, :, rows, columns] += dcols[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    return dxpad


# --------------------------------------------------------------------------------------------
# Numba kernels: the same loops, compiled


@njit(cache=True, nogil=True)
def _im2col_numba(xpad, HH, WW, stride, cols):
    N, C, Hp, Wp = xpad.shape
    Ho = cols.shape[1]
    Wo = cols.shape[2]
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                for c in range(C):
                    for p in range(HH):
                        row = i * stride + p
                        for q in range(WW):
                            cols[n, i, j, c, p, q] = xpad[n, c, row, j * stride + q]


@njit(cache=True, nogil=True)
def _col2im_numba(dcols, stride, dxpad):
    N, Ho, Wo, C, HH, WW = dcols.shape
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                for c in range(C):
                    for p in range(HH):
                        row = i * stride + p
                        for q in range(WW):
                            dxpad[n, c, row, j * stride + q] += dcols[n, i, j, c, p, q]


def im2col(xpad, HH, WW, stride):
    """Numba version of :func:`im2col_reference` (same arguments, same result)."""
    N, C, Hp, Wp = xpad.shape
    Ho = (Hp - HH) // stride + 1
    Wo = (Wp - WW) // stride + 1
    cols = np.empty((N, Ho, Wo, C, HH, WW), dtype=xpad.dtype)
    _im2col_numba(xpad, HH, WW, stride, cols)
    return cols


def col2im(dcols, Hp, Wp, stride):
    """Numba version of :func:`col2im_reference` (same arguments, same result)."""
    N, Ho, Wo, C, HH, WW = dcols.shape
    dxpad = np.zeros((N, C, Hp, Wp), dtype=dcols.dtype)
    _col2im_numba(np.ascontiguousarray(dcols), stride, dxpad)
    return dxpad
