"""The hot loops of convolution: im2col and col2im (and the zero padding before them), and the
products of the rows with the weights, a block of images at a time.

(A convolution whose kernel is r·stride square may take Winograd's transforms instead of
im2col: ``tinyadv/winograd.py``, chosen in ``layers/conv.py``.)

A convolution is a matrix product once every receptive field has been copied into a row. The
kernels work on images stored channels-last (NHWC), where one row of a receptive field — WW
neighbouring pixels with all their C channels — is a single contiguous run of memory:

    im2col:  xpad (N, Hp, Wp, C)  ->  cols (N, Ho, Wo, HH, WW, C)
             cols[n, i, j, p, q, c] = xpad[n, i*stride + p, j*stride + q, c]

so that ``out = cols.reshape(N*Ho*Wo, HH*WW*C) @ w.transpose(0, 2, 3, 1).reshape(F, -1).T`` is
the output in NHWC. The layers keep PyTorch's NCHW at their boundaries (``x.transpose(0, 2, 3,
1)`` is free when x was made channels-last by the previous convolution) and PyTorch's weight
layout (F, C, HH, WW), so a state dict moves between tinyadv and PyTorch unchanged.

col2im is the adjoint (the transpose) of im2col: every entry of ``dcols`` is added back to the
pixel it was copied from, which is how the gradient of the input is gathered:

    col2im:  dcols (N, Ho, Wo, HH, WW, C)  ->  dxpad (N, Hp, Wp, C)
             dxpad[n, i*stride + p, j*stride + q, c] += dcols[n, i, j, p, q, c]

Each copying operation exists twice: ``*_reference`` is plain NumPy you can read (and is what
the tests hold the fast version to), and the Numba version beside it is what the layers call.
(The products at the end of the file are NumPy's, a block of images at a time; where OpenBLAS
multiplies small products faster, in pieces of 32 rows (``matmul``), or a band of a few output
rows at a time from compiled loops that call OpenBLAS themselves (``_rows_bands_numba``); the
tests hold them to one product over the whole batch and to the definition.) On
the talk's CNN (float32, chunks of 32 images) the Numba loops take 0.3 ms against NumPy's
0.7 ms for conv1's im2col, and 0.8 ms against 15 ms for its col2im (NumPy can only write that
sum as HH·WW strided additions). The Numba kernels are serial (``parallel=False``) and release
the GIL (``nogil=True``), so that a caller can run them on several threads without fighting
BLAS for the cores (PERFORMANCE.md); ``cache=True`` keeps the compiled code on disk between
runs. Their innermost loops copy or add between two named runs of memory with an index from
``range()``: Numba knows such an index is not negative and compiles the loop to vector
instructions, which it did not do for an index written as ``start + r``.
"""

import ctypes
import functools
import math
import numbers

import numpy as np
from numba import njit

from .checks import INT64_MAX, check_bool, check_fits, check_positive_int
from .threads import blas_on_one_thread, openblas_function, openblas_kernels, row_chunks


def output_size(size, kernel, stride, pad_before, pad_after):
    """Output length of a convolution along one axis: (size + pads - kernel) // stride + 1.

    Refuses a stride < 1. A kernel larger than the padded size gives a value < 1, which the
    callers turn into their own error, naming the shapes."""
    check_positive_int(stride, "stride")
    return (size + pad_before + pad_after - kernel) // stride + 1


# --------------------------------------------------------------------------------------------
# Readable NumPy references


def im2col_reference(xpad, HH, WW, stride):
    """Copy every HH x WW receptive field of ``xpad`` into a row (NumPy reference).

    Parameters
    ----------
    xpad : ndarray, shape (N, Hp, Wp, C)
        The already padded input, channels last.
    HH, WW : int
        Kernel height and width.
    stride : int

    Returns
    -------
    cols : ndarray, shape (N, Ho, Wo, HH, WW, C), C-contiguous,
        with Ho = (Hp - HH) // stride + 1 and Wo = (Wp - WW) // stride + 1.
    """
    windows = np.lib.stride_tricks.sliding_window_view(xpad, (HH, WW), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # (N, Ho, Wo, C, HH, WW), a view: nothing copied
    return np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3))


def pad_channels_last_reference(x, pads):
    """Zero-pad an NCHW batch and lay it out channels-last (NumPy reference).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), any memory layout
    pads : (top, bottom, left, right)

    Returns
    -------
    xpad : ndarray, shape (N, H + top + bottom, W + left + right, C), C-contiguous
    """
    top, bottom, left, right = pads
    return np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (top, bottom), (left, right), (0, 0)))


def col2im_reference(dcols, Hp, Wp, stride):
    """Add every row of ``dcols`` back onto the pixels it came from (NumPy reference).

    Parameters
    ----------
    dcols : ndarray, shape (N, Ho, Wo, HH, WW, C)
    Hp, Wp : int
        Height and width of the padded input.
    stride : int

    Returns
    -------
    dxpad : ndarray, shape (N, Hp, Wp, C)
    """
    N, Ho, Wo, HH, WW, C = dcols.shape
    dxpad = np.zeros((N, Hp, Wp, C), dtype=dcols.dtype)
    for p in range(HH):
        for q in range(WW):
            rows = slice(p, p + stride * (Ho - 1) + 1, stride)
            columns = slice(q, q + stride * (Wo - 1) + 1, stride)
            dxpad[:, rows, columns, :] += dcols[:, :, :, p, q, :]
    return dxpad


# --------------------------------------------------------------------------------------------
# Numba kernels: the same loops, compiled. im2col and col2im move one receptive-field row (WW·C
# contiguous values) at a time.
#
# Every kernel of tinyadv is compiled with ``no_cfunc_wrapper=True``: else Numba also compiles,
# for each kernel and dtype, a C-callable wrapper that lets one compiled function be passed to
# another as a first-class function, which tinyadv never does (``winograd._combine``, only ever
# inlined, compiles no code of its own; a test holds every kernel to it). Without the wrappers a
# cold start (every kernel in both dtypes: bench_cnn.py's first results) took 0.5-0.8 s less on
# the Xeon of README's Speed (16.2-16.8 s against 16.9-17.3 s, four fresh caches each, taking
# turns; where its time goes: scripts/bench_start.py).


@njit(nogil=True, no_cfunc_wrapper=True)
def _copy_fields_numba(pixels, top, count, Wo, HH, WW, C, stride, rows):
    """rows[b·Wo + j] = the receptive field whose top-left pixel is in row top + b·stride and
    column j·stride of pixels (N·Hp, Wp·C: xpad's rows of pixels), for b < count: the im2col
    rows of count output rows of one image (rows (count·Wo, HH·WW·C)).

    Called by im2col for whole images and by the compiled bands below for a few rows, so that
    the loop is written and compiled once for both. Not cached on its own (as
    ``winograd._adjoint_sandwich``): its code goes into its callers' cached code."""
    run = WW * C
    for b in range(count):
        for j in range(Wo):
            row, start = rows[b * Wo + j], j * stride * C
            for p in range(HH):
                source_run = pixels[top + b * stride + p, start:start + run]
                to = row[p * run:(p + 1) * run]
                for r in range(run):
                    to[r] = source_run[r]


@njit(nogil=True, no_cfunc_wrapper=True)
def _add_fields_numba(rows, top, count, Wo, HH, WW, C, stride, pixels):
    """The adjoint of ``_copy_fields_numba`` (and called and compiled as it is): every entry of
    rows[b·Wo + j] added back onto the pixel it came from."""
    run = WW * C
    for b in range(count):
        for j in range(Wo):
            row, start = rows[b * Wo + j], j * stride * C
            for p in range(HH):
                to = pixels[top + b * stride + p, start:start + run]
                source_run = row[p * run:(p + 1) * run]
                for r in range(run):
                    to[r] += source_run[r]


@njit(nogil=True, no_cfunc_wrapper=True)
def _relu_in_place_numba(values):
    """values = max(values, 0) with NaN kept, in place on a 1-D run: the ReLU's numbers
    (``layers/activations.py``), for the compiled products that an inference plan asks to put
    through the ReLU that follows them while they are in cache (``tinyadv/plans.py``). Not
    cached on its own: its code goes into its callers'."""
    for i in range(values.size):
        value = values[i]
        values[i] = value if value > 0 or value != value else 0  # NaN (value != value) stays


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _im2col_numba(xpad, HH, WW, stride, cols):
    N, Hp, Wp, C = xpad.shape
    Ho, Wo = cols.shape[1], cols.shape[2]
    pixels, rows = xpad.reshape(N * Hp, Wp * C), cols.reshape(N * Ho * Wo, HH * WW * C)
    for n in range(N):
        _copy_fields_numba(pixels, n * Hp, Ho, Wo, HH, WW, C, stride, rows[n * Ho * Wo:])


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _col2im_numba(dcols, stride, dxpad):
    N, Ho, Wo, HH, WW, C = dcols.shape
    Hp, Wp = dxpad.shape[1], dxpad.shape[2]
    rows, pixels = dcols.reshape(N * Ho * Wo, HH * WW * C), dxpad.reshape(N * Hp, Wp * C)
    for n in range(N):
        _add_fields_numba(rows[n * Ho * Wo:], n * Hp, Ho, Wo, HH, WW, C, stride, pixels)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _pad_channels_last_numba(x, top, left, xpad):
    N, C, H, W = x.shape
    for n in range(N):
        for c in range(C):
            for y in range(H):
                source_row = x[n, c, y]
                to = xpad[n, y + top, left:left + W, c]
                for j in range(W):
                    to[j] = source_row[j]


# The functions that call the kernels check the shapes and sizes they are given against each
# other first (a few comparisons, no pass over the data): the compiled loops do not check their
# indices, and a block read or written past an array's end is garbage or a crash, not an error.


# The dtypes the compiled loops take: booleans and integers, and floats and complex numbers of
# 32 and 64 bits (Numba compiles no loop for float16, longdouble, objects or strings).
_COMPILED_DTYPES = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.complex64,
                                                    np.complex128))


def check_ndim(a, name, ndim):
    """Raise TypeError unless ``a`` is a NumPy array of a dtype the kernels compile for (bool,
    integers, float32/64, complex64/128, in this machine's byte order: Numba compiles no loop
    for another), ValueError unless it has ``ndim`` axes."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if not a.dtype.isnative:
        raise TypeError(f"{name} must be in this machine's byte order, got dtype {a.dtype.str} "
                        f"(a.astype(a.dtype.newbyteorder('=')) holds the same numbers)")
    if a.dtype not in _COMPILED_DTYPES and a.dtype.kind not in "biu":
        raise TypeError(f"{name} must hold numbers (float32, float64, integers), got dtype "
                        f"{a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")


def check_ndim_at_least(a, name, ndim):
    """As :func:`check_ndim`, for at least ``ndim`` axes."""
    check_ndim(a, name, a.ndim if isinstance(a, np.ndarray) else ndim)
    if a.ndim < ndim:
        raise ValueError(f"{name} must have at least {ndim} dimensions, got shape {a.shape}")


def check_sizes(sizes, name, letters):
    """Return ``sizes`` as a tuple of ints >= 0 and < 2**63, one per letter (say "N, Hp, Wp,
    C"), or raise ValueError naming them."""
    count = letters.count(",") + 1
    if isinstance(sizes, (tuple, list)) and len(sizes) == count:
        if all(type(size) is int and 0 <= size <= INT64_MAX for size in sizes):
            return tuple(sizes)
        if all(isinstance(size, numbers.Integral) and not isinstance(size, bool) and size >= 0
               for size in sizes):
            if max(sizes) > INT64_MAX:
                raise ValueError(f"{name} must be {count} integers < 2**63 ({letters}), got "
                                 f"{sizes!r}")
            return tuple(int(size) for size in sizes)
    raise ValueError(f"{name} must be {count} integers >= 0 ({letters}), got {sizes!r}")


def check_kernel(HH, WW, stride):
    """The kernel's sizes and stride as ints >= 1 (ValueError/TypeError naming one otherwise)."""
    return check_positive_int(HH, "HH"), check_positive_int(WW, "WW"), check_positive_int(stride, "stride")


def pad_channels_last(x, pads):
    """Numba version of :func:`pad_channels_last_reference` (same arguments, same result)."""
    check_ndim(x, "x", 4)
    top, bottom, left, right = check_sizes(pads, "pads", "top, bottom, left, right")
    N, C, H, W = x.shape
    check_fits((N, H + top + bottom, W + left + right, C), x.dtype.itemsize,
               lambda: f"pads={tuple(pads)} of x of shape {x.shape}: xpad")
    xpad = np.zeros((N, H + top + bottom, W + left + right, C), dtype=x.dtype)
    _pad_channels_last_numba(x, top, left, xpad)
    return xpad


def im2col(xpad, HH, WW, stride):
    """Numba version of :func:`im2col_reference` (same arguments, same result)."""
    check_ndim(xpad, "xpad", 4)
    HH, WW, stride = check_kernel(HH, WW, stride)
    if HH > xpad.shape[1] or WW > xpad.shape[2]:
        raise ValueError(f"kernel {HH}x{WW} is larger than xpad's {xpad.shape[1]}x{xpad.shape[2]} "
                         f"pixels (xpad of shape {xpad.shape})")
    return _im2col(xpad, HH, WW, stride)


def _im2col(xpad, HH, WW, stride):
    xpad = np.ascontiguousarray(xpad)
    N, Hp, Wp, C = xpad.shape
    cols = np.empty((N, (Hp - HH) // stride + 1, (Wp - WW) // stride + 1, HH, WW, C),
                    dtype=xpad.dtype)
    _im2col_numba(xpad, HH, WW, stride, cols)
    return cols


def col2im(dcols, Hp, Wp, stride, out=None):
    """Numba version of :func:`col2im_reference` (same arguments, same result); ``out``, a
    C-contiguous array of the result's shape and dtype, is overwritten with it if given."""
    check_ndim(dcols, "dcols", 6)
    N, Ho, Wo, HH, WW, C = dcols.shape
    stride = check_positive_int(stride, "stride")
    Hp, Wp = check_positive_int(Hp, "Hp", minimum=0), check_positive_int(Wp, "Wp", minimum=0)
    rows, columns = stride * (Ho - 1) + HH, stride * (Wo - 1) + WW
    if Ho and Wo and (rows > Hp or columns > Wp):
        raise ValueError(f"dcols of shape {dcols.shape} at stride {stride} covers {rows}x{columns} "
                         f"pixels, more than Hp x Wp = {Hp}x{Wp}")
    shape = (N, Hp, Wp, C)
    if out is None:
        return _col2im(dcols, stride, np.zeros(shape, dtype=dcols.dtype))
    dxpad = _checked_out(out, shape, dcols.dtype)
    dxpad[...] = 0
    return _col2im(dcols, stride, dxpad)


def _col2im(dcols, stride, dxpad):
    _col2im_numba(np.ascontiguousarray(dcols), stride, dxpad)
    return dxpad


def _checked_out(out, shape, dtype):
    if (not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype
            or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {np.dtype(dtype)} array of shape {shape}, "
                         f"got {getattr(out, 'dtype', type(out).__name__)} "
                         f"{getattr(out, 'shape', '')}")
    return out


# --------------------------------------------------------------------------------------------
# Space to depth. A convolution at stride s whose kernel s divides (HH = s·HH', WW = s·WW') is a
# convolution at stride 1 with a kernel HH' x WW' over the input's s x s blocks of pixels, each
# block one pixel of s²·C channels (the "space-to-depth" of TensorFlow's tf.nn.space_to_depth):
#
#     xs[n, i, j, (a·s + b)·C + c] = xpad[n, i·s + a, j·s + b, c]          (0 <= a, b < s)
#     ws[f, p', q', (a·s + b)·C + c] = w[f, c, p'·s + a, q'·s + b]
#
# and out[n, f, i, j] = Σ w[f, c, p, q] · xpad[n, c, i·s + p, j·s + q] is the same sum with
# p = p'·s + a, q = q'·s + b. The products are the same size (K = HH·WW·C either way), but a
# receptive field's row of memory is WW·C·s values long instead of WW·C, and there are HH/s of
# them instead of HH: im2col copies a row of memory at a time, and for a few channels its cost
# goes by the rows, not by their length. The talk's conv1 (8 x 8 at stride 2 over 3 channels)
# becomes 4 x 4 at stride 1 over 12: runs of 48 values instead of 24. There (32 float32 images,
# one thread of an Intel Xeon, its compiled bands alone, the blocks laid out beforehand) the
# forward product with its copies took 0.94 ms against 1.17 and the weight gradient 0.95 against
# 1.19; in float64 1.83 against 2.27 and 2.21 against 2.31 in that run, but the layer and the
# network ran no faster (``layers/conv.py`` takes the blocks in float32 alone). Only the padded
# input's first (Ho - 1)·s + HH rows (and (Wo - 1)·s + WW columns) are read by the convolution,
# a multiple of s: those are the ones laid out.


def space_to_depth_reference(xpad, stride):
    """Each stride x stride block of pixels as one pixel of stride²·C channels (NumPy
    reference): xs[n, i, j, (a·s + b)·C + c] = xpad[n, i·s + a, j·s + b, c].

    Parameters
    ----------
    xpad : ndarray, shape (N, Hp, Wp, C), Hp and Wp multiples of ``stride``
    stride : int

    Returns
    -------
    xs : ndarray, shape (N, Hp / stride, Wp / stride, stride²·C), C-contiguous
    """
    N, Hp, Wp, C = xpad.shape
    s = stride
    blocks = xpad.reshape(N, Hp // s, s, Wp // s, s, C).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(blocks).reshape(N, Hp // s, Wp // s, s * s * C)


def depth_to_space_reference(xs, stride, C):
    """The inverse of :func:`space_to_depth_reference`: xs (N, Hs, Ws, stride²·C) back to
    (N, Hs·stride, Ws·stride, C) (NumPy reference)."""
    N, Hs, Ws, _ = xs.shape
    s = stride
    blocks = xs.reshape(N, Hs, Ws, s, s, C).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(blocks).reshape(N, Hs * s, Ws * s, C)


# The loop below runs through x's rows in memory order (x C-contiguous, (N, C, H, W)), putting
# every s-th pixel of a row into every s²·C-th place of xs, or, as the adjoint, back: strides on
# both sides, so no vector instructions. Its indices are cast to unsigned integers, which Numba
# does not test for a negative value (as it does a signed index, to count it from the end): 76
# µs against 132 µs for conv1's input of 32 float32 images (its zero padding alone, which reads
# whole rows: 46 µs). One kernel for both directions: one compile (0.4 s) instead of two.

@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _pad_space_to_depth_numba(x, top, left, stride, xs, adjoint):
    """xs = the space-to-depth of x (N, C, H, W), C-contiguous, zero-padded by top and left (and
    at the bottom and right as far as xs reaches, or cut there); xs must be zeros on entry. Row
    y of x goes to xs's row (y + top) // s, in s runs (b = 0..s-1) of every s-th pixel. With
    ``adjoint``, the other way: x = the entries of xs that came from its pixels (the padding's
    are dropped); x must be zeros on entry (the pixels that xs does not reach stay so)."""
    N, C, H, W = x.shape
    Hs, Ws, D = xs.shape[1], xs.shape[2], xs.shape[3]
    x_flat, xs_flat = x.reshape(N * C * H * W), xs.reshape(N * Hs * Ws * D)
    for n in range(N):
        for c in range(C):
            for y in range(min(H, Hs * stride - top)):
                i, a = (y + top) // stride, (y + top) % stride
                for b in range(stride):
                    j = (left - b + stride - 1) // stride  # the first j whose pixel is in x
                    count = min(Ws, (W - 1 + left - b) // stride + 1) - j
                    to = ((n * Hs + i) * Ws + j) * D + (a * stride + b) * C + c
                    start = ((n * C + c) * H + y) * W + j * stride + b - left
                    for k in range(max(count, 0)):
                        if adjoint:
                            x_flat[np.uint64(start + k * stride)] = xs_flat[np.uint64(to + k * D)]
                        else:
                            xs_flat[np.uint64(to + k * D)] = x_flat[np.uint64(start + k * stride)]


def pad_space_to_depth_reference(x, pads, stride, Hs, Ws):
    """x (N, C, H, W) zero-padded by ``pads`` (top, bottom, left, right), its first Hs·stride
    rows and Ws·stride columns (more zeros past the padding's end if it is shorter) as
    (N, Hs, Ws, stride²·C) by :func:`space_to_depth_reference` (NumPy reference)."""
    top, bottom, left, right = pads
    s = stride
    xpad = pad_channels_last_reference(x, (top, max(bottom, Hs * s - x.shape[2] - top),
                                           left, max(right, Ws * s - x.shape[3] - left)))
    return space_to_depth_reference(xpad[:, :Hs * s, :Ws * s], s)


def pad_space_to_depth_adjoint_reference(dxs, pads, stride, x_shape):
    """The adjoint of :func:`pad_space_to_depth_reference` (NumPy reference): dxs back to the
    pixels of x, dx (N, C, H, W) of ``x_shape``; the padding's entries are dropped, and x's
    pixels that xs does not reach get 0."""
    N, C, H, W = x_shape
    top, _, left, _ = pads
    dxpad = depth_to_space_reference(dxs, stride, C)  # (N, Hs·s, Ws·s, C)
    more_rows, more_columns = max(0, top + H - dxpad.shape[1]), max(0, left + W - dxpad.shape[2])
    dxpad = np.pad(dxpad, ((0, 0), (0, more_rows), (0, more_columns), (0, 0)))
    return np.ascontiguousarray(dxpad[:, top:top + H, left:left + W].transpose(0, 3, 1, 2))


def pad_space_to_depth(x, pads, stride, Hs, Ws):
    """Numba version of :func:`pad_space_to_depth_reference` (same arguments, same result)."""
    check_ndim(x, "x", 4)
    top, bottom, left, right = check_sizes(pads, "pads", "top, bottom, left, right")
    stride = check_positive_int(stride, "stride")
    Hs, Ws = check_sizes((Hs, Ws), "Hs, Ws", "Hs, Ws")
    shape = (x.shape[0], Hs, Ws, stride * stride * x.shape[1])
    check_fits(shape, x.dtype.itemsize, lambda: f"the space-to-depth of x of shape {x.shape}")
    xs = np.zeros(shape, dtype=x.dtype)
    _pad_space_to_depth_numba(np.ascontiguousarray(x), top, left, stride, xs, False)
    return xs


def pad_space_to_depth_adjoint(dxs, pads, stride, x_shape):
    """Numba version of :func:`pad_space_to_depth_adjoint_reference` (same arguments, same
    result, C-contiguous)."""
    check_ndim(dxs, "dxs", 4)
    N, C, H, W = check_sizes(x_shape, "x_shape", "N, C, H, W")
    top, bottom, left, right = check_sizes(pads, "pads", "top, bottom, left, right")
    stride = check_positive_int(stride, "stride")
    if dxs.shape[0] != N or dxs.shape[3] != stride * stride * C:
        raise ValueError(f"dxs of shape {dxs.shape} is not the space-to-depth of an input of "
                         f"shape {tuple(x_shape)} at stride {stride}")
    dx = np.zeros((N, C, H, W), dtype=dxs.dtype)
    _pad_space_to_depth_numba(dx, top, left, stride, np.ascontiguousarray(dxs), True)
    return dx


# --------------------------------------------------------------------------------------------
# The products of the rows with the weights. The im2col rows of a whole chunk are large (conv1's:
# 6.3 MB for 32 float32 images, 12.6 MB in float64), more than a core's L2 cache, and two threads'
# worth can pass the L3 cache they share. So the rows are formed and multiplied a block of images
# at a time, about ROWS_BLOCK_VALUES values of rows each (1 MB in float32, 2 MB in float64), while
# they are still in cache, and the input gradient gathers each block's dcols as soon as its
# product is done. Each output is the same dot product as in one product over the chunk (float64
# gave the same bits; in float32 OpenBLAS may round a row differently for another number of rows).
# On the talk's CNN, 2 cores (AMD EPYC, Zen 2), 1 MB blocks against one block per chunk: inference
# 1.23x faster in float32 and 1.17x in float64, forward + input gradient 1.17x and 1.16x, PGD
# 1.15x and 1.20x, the training step 1.06x in both; 512 KB or 2 MB blocks were no better than 1 MB
# in float32, but float64's products gained from the same number of images per block as float32's
# (2 MB against 1 MB: forward + input gradient 1.04x, inference 1.01-1.03x, training step
# 1.02-1.03x; 3 or 4 MB no better). The weight gradient, too, forms the rows again a block at a
# time (they are not kept from the forward pass unless they are one block): reading conv1's 6.3 MB
# back from memory cost more than copying them again into cache (training step on 2 cores 1.05x
# faster in float32, 1.02x in float64; Winograd's tiles, kept, are another matter:
# ``layers/conv.py``).
ROWS_BLOCK_VALUES = 1 << 18


# Products a few rows at a time. OpenBLAS multiplies a large product in blocks that it first
# copies ("packs") into a layout of its own. Its AVX-512 kernel set, "SkylakeX" (the one it
# picks on Intel's AVX-512 CPUs and on AMD's Zen 4), has a second path: a product of at most
# 100³ multiply-adds (M·N·K) is multiplied straight from where its operands lie, with no copy
# (its "small-matrix" kernels), at full speed when both operands are in C order (with a
# transposed one, at half speed). Cut into products of 32 rows each, conv1's products (rows of
# K = 192 by F = 32 filters, for its forward pass and its input gradient) and Winograd's (128
# tiles by K = 128 channels by 64 filters at each point) ran 1.15-1.35 times as fast as whole,
# on one thread of an AMD Zen 4, in both dtypes (each shape alone, 200 rounds taking turns). With
# OpenBLAS's AVX2 kernels ("Haswell", which have no such path) the cut made them slower (0.8x),
# and with BLAS on several threads each piece would run on one. So ``matmul`` cuts a product
# only when NumPy's OpenBLAS runs the SkylakeX kernels, on one thread (inside the chunks, see
# ``threads.map_chunks``), and the pieces fit the bound while the whole product does not (within
# it OpenBLAS takes the small path for the whole, and pieces of it ran 5-15% slower: 64 to 128
# rows by K = 32-128 by 64, both dtypes); otherwise it is ``np.matmul``. Each
# output is the same dot product either way; on the Zen 4 the two paths gave the same bits for
# every product of the talk's CNN (both add the K terms in order), which OpenBLAS does not promise.
# OpenBLAS builds that include its kernel sets for Intel's later AVX-512 CPUs name them
# "Cooperlake" and "SapphireRapids"; both take SkylakeX's float32 and float64 kernels, the small
# ones included, and replace only the bfloat16 ones (its kernel/x86_64/KERNEL.COOPERLAKE includes
# KERNEL.SKYLAKEX, KERNEL.SAPPHIRERAPIDS includes KERNEL.COOPERLAKE). NumPy's wheels name none of
# them: asked for either (``OPENBLAS_CORETYPE``), their OpenBLAS (0.3.31) names SkylakeX.
SMALL_PRODUCT_ROWS = 32
SMALL_PRODUCT_MULTIPLY_ADDS = 100 ** 3  # OpenBLAS's bound on M·N·K for its small-matrix path
_SMALL_PRODUCT_KERNELS = frozenset({"SkylakeX", "Cooperlake", "SapphireRapids"})
_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@functools.cache
def _small_products_fast():
    """Whether the OpenBLAS that NumPy loaded runs kernels with the small-matrix path (it
    chooses its kernels once, when it is loaded)."""
    names = openblas_kernels()
    return bool(names) and all(name in _SMALL_PRODUCT_KERNELS for name in names)


def matmul_in_rows(a, b, rows, out=None):
    """``np.matmul(a, b)`` (a (..., M, K), b (..., K, N), stacks broadcast as matmul does) as
    products of ``rows`` rows of a each (the last M % rows rows as one more), with b in C order;
    into ``out`` if given. Every output is the same dot product as in ``a @ b``, rounded as
    OpenBLAS rounds a product of that size."""
    check_ndim_at_least(a, "a", 2)
    check_ndim_at_least(b, "b", 2)
    rows = check_positive_int(rows, "rows")
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if b.shape[-2] != K:
        raise ValueError(f"a of shape {a.shape} and b of shape {b.shape} cannot be multiplied: "
                         f"a has {K} columns, b {b.shape[-2]} rows")
    lead = a.shape[:-2]  # the stacks' shape, as matmul broadcasts them (mostly a's and b's)
    lead = lead if lead == b.shape[:-2] else np.broadcast_shapes(lead, b.shape[:-2])
    shape = lead + (M, N)
    dtype = np.result_type(a, b)
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != shape
                            or out.dtype != dtype):
        raise ValueError(f"out must be a {dtype} array of shape {shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
    result = out if out is not None and out.flags.c_contiguous else np.empty(shape, dtype)
    b = np.ascontiguousarray(b)
    whole = M - M % rows
    if whole:
        pieces = (a if a.shape[:-2] == lead else np.broadcast_to(a, lead + (M, K)))[..., :whole, :]
        np.matmul(pieces.reshape(lead + (whole // rows, rows, K)), b[..., None, :, :],
                  out=result[..., :whole, :].reshape(lead + (whole // rows, rows, N)))
    if whole < M:
        np.matmul(a[..., whole:, :], b, out=result[..., whole:, :])
    if out is not None and result is not out:
        out[...] = result
        return out
    return result


def _small_products_here(a, b):
    """Whether OpenBLAS multiplies small products of ``a`` and ``b`` fast at this moment: one
    dtype, float32 or float64, its AVX-512 kernels (``_SMALL_PRODUCT_KERNELS``), BLAS on one
    thread (and SMALL_PRODUCT_ROWS not 0). ``matmul`` and ``_band`` ask it, each then of the
    sizes of its own pieces."""
    return bool(SMALL_PRODUCT_ROWS and a.dtype == b.dtype and a.dtype in _BLAS_FLOATS
                and _small_products_fast() and blas_on_one_thread())


def product_rows(M, K, N, a, b):
    """Rows per piece of a product (M, K) @ (K, N) of a's and b's dtypes, as :func:`matmul`
    cuts it: ``SMALL_PRODUCT_ROWS`` where OpenBLAS multiplies such pieces faster (the comment
    above), when the pieces fit its small-matrix bound and the whole product does not; else M
    (whole)."""
    rows = SMALL_PRODUCT_ROWS
    if (M > rows and rows * K * N <= SMALL_PRODUCT_MULTIPLY_ADDS < M * K * N
            and _small_products_here(a, b)):
        return rows
    return M


def pieces_by_gemm(M, N, rows):
    """Whether NumPy's matmul multiplies every piece of a product (M, K) @ (K, N), cut into
    pieces of ``rows`` rows as :func:`matmul_in_rows` cuts it, by OpenBLAS's gemm: no piece of
    one row and not one column. NumPy multiplies a row or a column by gemv (one number by dot),
    whose sums OpenBLAS may round otherwise than gemm's (with its Haswell kernels forced on a
    Zen 5, a product of one row by gemm and by gemv differed in the last bit), so the compiled
    loops that call gemm themselves run only where this holds, and give the same bits as
    ``matmul``."""
    return N != 1 and min(rows, M) != 1 and M % rows != 1


def matmul(a, b, out=None):
    """``np.matmul(a, b, out=out)`` for float arrays a (..., M, K) and b (..., K, N) of one
    dtype, as :func:`matmul_in_rows` in pieces of :func:`product_rows` rows where those are
    fewer than M."""
    M = a.shape[-2]
    rows = product_rows(M, a.shape[-1], b.shape[-1], a, b)
    if rows < M:
        return matmul_in_rows(a, b, rows, out)
    return np.matmul(a, b, out=out)


# Where OpenBLAS multiplies small products fast (``matmul`` above), a convolution's rows need not
# be formed a block of images at a time at all: the compiled loops below copy the receptive
# fields of a band of a few output rows of one image (conv1: 10 rows of 16 pixels, a piece of
# 160 rows by K = 192) into a buffer that stays in the core's cache (``_copy_fields_numba``, as
# im2col copies an image) and multiply it at once; the input gradient adds each piece's dcols
# back (``_add_fields_numba``) and the weight gradient each piece's product, before the next
# band. The product is OpenBLAS's own, called from the loop through its C interface: NumPy's
# library, as for np.matmul (a first version through Numba's np.dot, which calls SciPy's copy,
# made the cold first results of bench_cnn.py 3-4 s longer to compile; these, about 1 s). The same
# dot products as the blocks' (the forward pass and the input gradient gave the same bits on the
# Zen 4; the weight gradient adds its terms in other groups). There, on one thread, 200 rounds
# taking turns, conv1's forward pass ran 1.12-1.17 times as fast as by blocks, its input
# gradient 1.14-1.17 and its weight gradient 1.31-1.34, in float32 and float64.
# ``rows_product``, ``rows_product_adjoint`` and ``rows_weight_gradient`` take them where a band
# of at least SMALL_PRODUCT_ROWS rows fits OpenBLAS's bound; the blocks stay the readable form.

# cblas_sgemm / cblas_dgemm: C = alpha·op(A)·op(B) + beta·C, for row-major matrices given by
# their addresses. NumPy's wheels name them scipy_cblas_?gemm64_ (64-bit integers); other
# builds of OpenBLAS otherwise.
_GEMM_NAMES = (("scipy_cblas_{}gemm64_", ctypes.c_int64), ("cblas_{}gemm64_", ctypes.c_int64),
               ("scipy_cblas_{}gemm", ctypes.c_int), ("cblas_{}gemm", ctypes.c_int))
_ROW_MAJOR, _NO_TRANSPOSE, _TRANSPOSE = 101, 111, 112  # CBLAS's constants


@functools.cache
def _gemm(dtype):
    """The loaded OpenBLAS's cblas_sgemm (float32) or cblas_dgemm (float64), as a ctypes
    function that compiled code can call (addresses as integers), or None."""
    real, letter = (ctypes.c_float, "s") if dtype == np.float32 else (ctypes.c_double, "d")
    for name, integer in _GEMM_NAMES:
        address = openblas_function(name.format(letter))
        if address is not None:
            matrix = ctypes.c_size_t  # an address
            return ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, integer,
                                    integer, integer, real, matrix, integer, matrix, integer,
                                    real, matrix, integer)(address)
    return None


def _band(a, b, Ho, Wo, K, F):
    """Output rows per band for the compiled row products: the most whose piece, band·Wo rows
    by K columns by F filters, fits SMALL_PRODUCT_MULTIPLY_ADDS; or 0 where the blocks run
    instead: pieces of fewer than SMALL_PRODUCT_ROWS rows, arrays ``a`` and ``b`` of two dtypes
    or of another than float32/64, OpenBLAS without the small-matrix path or its cblas_?gemm,
    or BLAS on several threads."""
    per_row = Wo * K * F
    band = min(Ho, SMALL_PRODUCT_MULTIPLY_ADDS // per_row) if per_row else 0
    if (band * Wo >= SMALL_PRODUCT_ROWS and _small_products_here(a, b)
            and _gemm(a.dtype) is not None):
        return band
    return 0


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _rows_bands_numba(gemm, pixels, Hp, HH, WW, C, stride, band, Ho, Wo, other, out,
                      weight_gradient, relu):
    """Band by band (``band`` output rows of one image), the band's im2col rows copied into
    ``piece`` (pixels (N·Hp, Wp·C): xpad's rows of pixels), then one product: out[band's rows] =
    rows · other, with ``other`` the weight rows transposed (K, F) and ``out`` (N·Ho·Wo, F),
    and with ``relu`` those rows put through a ReLU (``_relu_in_place_numba``); or, for the
    ``weight_gradient``, out += other[band's rows]ᵀ · rows, with ``other`` dout (N·Ho·Wo, F)
    and ``out`` dW_rows (F, K)."""
    K, F = HH * WW * C, other.shape[1]
    piece = np.empty((band * Wo, K), dtype=pixels.dtype)
    for n in range(pixels.shape[0] // Hp):
        for first in range(0, Ho, band):
            count = min(band, Ho - first)
            _copy_fields_numba(pixels, n * Hp + first * stride, count, Wo, HH, WW, C, stride,
                               piece)
            start = (n * Ho + first) * Wo  # the band's first row of out, or of dout
            if weight_gradient:
                gemm(_ROW_MAJOR, _TRANSPOSE, _NO_TRANSPOSE, F, K, count * Wo, 1.0,
                     other[start:].ctypes.data, F, piece.ctypes.data, K, 1.0, out.ctypes.data, K)
            else:
                gemm(_ROW_MAJOR, _NO_TRANSPOSE, _NO_TRANSPOSE, count * Wo, F, K, 1.0,
                     piece.ctypes.data, K, other.ctypes.data, F, 0.0, out[start:].ctypes.data, F)
                if relu:  # (C-ordered rows: ravel gives a view)
                    _relu_in_place_numba(out[start:start + count * Wo].ravel())


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _rows_bands_adjoint_numba(gemm, dout, w_rows, Hp, HH, WW, C, stride, band, Ho, Wo, pixels):
    """pixels += col2im(dout · w_rows), band by band: the band's dcols (band·Wo, HH·WW·C) in
    ``piece`` (dout (N·Ho·Wo, F), w_rows (F, K)), then added back onto the pixels they came
    from (pixels (N·Hp, Wp·C): dxpad's rows of pixels)."""
    F, K = w_rows.shape
    piece = np.empty((band * Wo, K), dtype=pixels.dtype)
    for n in range(pixels.shape[0] // Hp):
        for first in range(0, Ho, band):
            count = min(band, Ho - first)
            gemm(_ROW_MAJOR, _NO_TRANSPOSE, _NO_TRANSPOSE, count * Wo, K, F, 1.0,
                 dout[(n * Ho + first) * Wo:].ctypes.data, F, w_rows.ctypes.data, K, 0.0,
                 piece.ctypes.data, K)
            _add_fields_numba(piece, n * Hp + first * stride, count, Wo, HH, WW, C, stride,
                              pixels)


def _pixel_rows(xpad):
    """xpad (N, Hp, Wp, C) as its N·Hp rows of pixels (N·Hp, Wp·C), C-ordered."""
    N, Hp, Wp, C = xpad.shape
    return np.ascontiguousarray(xpad).reshape(N * Hp, Wp * C)


def _row_blocks(N, values_per_image):
    """Slices of range(N): blocks of images with about ROWS_BLOCK_VALUES values of rows each."""
    return row_chunks(N, values_per_image, ROWS_BLOCK_VALUES)


def _check_rows(xpad_shape, w_rows_columns, HH, WW, stride):
    """Check a kernel HH x WW at this stride against the padded input's shape (N, Hp, Wp, C)
    and the number of columns of the weight rows, HH·WW·C; return (Ho, Wo)."""
    _, Hp, Wp, C = xpad_shape
    if HH > Hp or WW > Wp:
        raise ValueError(f"kernel {HH}x{WW} is larger than the padded input's {Hp}x{Wp} pixels")
    if w_rows_columns != HH * WW * C:
        raise ValueError(f"w_rows must have HH*WW*C = {HH * WW * C} columns for a {HH}x{WW} kernel "
                         f"over {C} channels, got {w_rows_columns}")
    return output_size(Hp, HH, stride, 0, 0), output_size(Wp, WW, stride, 0, 0)


def weight_columns(w_rows):
    """w_rowsᵀ (HH·WW·C, F) in C order: the compiled bands' right operand (a copy)."""
    check_ndim(w_rows, "w_rows", 2)
    return np.ascontiguousarray(w_rows.T)


def rows_product(xpad, w_rows, HH, WW, stride, keep_rows, w_columns=None):
    """``(out, cols)``: out = im2col(xpad) · w_rowsᵀ, (N, Ho, Wo, F), formed a block of images at
    a time (or a band of output rows at a time where ``_band`` says so), and the rows cols
    (N, Ho, Wo, HH, WW, C) if ``keep_rows`` and they are one block, else None
    (:func:`rows_weight_gradient` forms them again). ``w_columns`` is
    :func:`weight_columns` of w_rows if the caller keeps it (a ``Conv2D`` in a model makes it
    once per batch; the bands make it otherwise)."""
    check_ndim(xpad, "xpad", 4)
    check_ndim(w_rows, "w_rows", 2)
    HH, WW, stride = check_kernel(HH, WW, stride)
    keep_rows = check_bool(keep_rows, "keep_rows")
    N = xpad.shape[0]
    F, K = w_rows.shape
    Ho, Wo = _check_rows(xpad.shape, K, HH, WW, stride)
    if w_columns is not None:  # (the bands read K·F values from it: refused unless it has them)
        check_ndim(w_columns, "w_columns", 2)
        if w_columns.shape != (K, F) or w_columns.dtype != w_rows.dtype:
            raise ValueError(f"w_columns must be weight_columns(w_rows), {w_rows.dtype} of shape "
                             f"{(K, F)}, got {w_columns.dtype} of shape {w_columns.shape}")
    blocks = _row_blocks(N, Ho * Wo * K)
    out = np.empty((N, Ho, Wo, F), dtype=np.result_type(xpad, w_rows))
    band = _band(xpad, w_rows, Ho, Wo, K, F)
    if band and not (keep_rows and len(blocks) == 1):
        w_columns = weight_columns(w_rows) if w_columns is None else w_columns
        _rows_bands_numba(_gemm(out.dtype), _pixel_rows(xpad), xpad.shape[1], HH, WW,
                          xpad.shape[3], stride, band, Ho, Wo, np.ascontiguousarray(w_columns),
                          out.reshape(N * Ho * Wo, F), False, False)
        return out, None
    # Cast before transposing: matmul would cast w_rowsᵀ into a C-ordered copy, a product that
    # OpenBLAS may round otherwise than the float64 model's with its transposed view.
    w_rows_t = w_rows.astype(out.dtype, copy=False).T
    for part in blocks:  # (the sizes written out: -1 is ambiguous when C or F is 0)
        rows = _im2col(xpad[part], HH, WW, stride)
        count = rows.shape[0] * Ho * Wo
        matmul(rows.reshape(count, K), w_rows_t, out=out[part].reshape(count, F))
    return out, (rows if keep_rows and len(blocks) == 1 else None)


def rows_weight_gradient(dout_rows, xpad, HH, WW, stride, cols=None):
    """dW_rows = dout_rowsᵀ · im2col(xpad), (F, HH·WW·C): one product with the rows ``cols`` if
    the forward pass kept them, else the rows formed again a block of images (or a band of
    output rows, where ``_band`` says so) at a time and their products added in order."""
    check_ndim(dout_rows, "dout_rows", 2)
    HH, WW, stride = check_kernel(HH, WW, stride)
    if cols is not None:
        check_ndim(cols, "cols", 6)
        if cols.shape[3:5] != (HH, WW) or dout_rows.shape[0] != math.prod(cols.shape[:3]):
            raise ValueError(f"dout_rows of shape {dout_rows.shape} and the rows cols of shape "
                             f"{cols.shape} are not of one {HH}x{WW} convolution")
        return dout_rows.T @ cols.reshape(dout_rows.shape[0], HH * WW * cols.shape[-1])
    check_ndim(xpad, "xpad", 4)
    N, Hp, Wp, C = xpad.shape
    F, K = dout_rows.shape[1], HH * WW * C
    Ho, Wo = _check_rows(xpad.shape, K, HH, WW, stride)
    if dout_rows.shape[0] != N * Ho * Wo:
        raise ValueError(f"dout_rows must have N*Ho*Wo = {N * Ho * Wo} rows for xpad of shape "
                         f"{xpad.shape} (kernel {HH}x{WW}, stride {stride}), got {dout_rows.shape}")
    dw_rows = np.zeros((F, K), dtype=np.result_type(dout_rows, xpad))
    band = _band(dout_rows, xpad, Ho, Wo, K, F)
    if band:
        _rows_bands_numba(_gemm(dw_rows.dtype), _pixel_rows(xpad), Hp, HH, WW, C, stride, band,
                          Ho, Wo, np.ascontiguousarray(dout_rows), dw_rows, True, False)
        return dw_rows
    dout_images = dout_rows.reshape(N, Ho * Wo, F)
    for part in _row_blocks(N, Ho * Wo * K):
        rows = _im2col(xpad[part], HH, WW, stride)
        count = rows.shape[0] * Ho * Wo
        dw_rows += dout_images[part].reshape(count, F).T @ rows.reshape(count, K)
    return dw_rows


def rows_product_adjoint(dout_rows, w_rows, xpad_shape, HH, WW, stride, Ho, Wo):
    """dxpad = col2im(dout_rows · w_rows), (N, Hp, Wp, C), a block of images (or a band of
    output rows, where ``_band`` says so) at a time."""
    check_ndim(dout_rows, "dout_rows", 2)
    check_ndim(w_rows, "w_rows", 2)
    N, Hp, Wp, C = xpad_shape = check_sizes(xpad_shape, "xpad_shape", "N, Hp, Wp, C")
    HH, WW, stride = check_kernel(HH, WW, stride)
    F, K = w_rows.shape
    expected = _check_rows(xpad_shape, K, HH, WW, stride)
    if (Ho, Wo) != expected:
        raise ValueError(f"Ho, Wo = {Ho}, {Wo} is not the output size {expected} of a {HH}x{WW} "
                         f"kernel at stride {stride} over xpad_shape {xpad_shape}")
    Ho, Wo = expected
    if dout_rows.shape != (N * Ho * Wo, F):
        raise ValueError(f"dout_rows must have shape (N*Ho*Wo, F) = {(N * Ho * Wo, F)}, "
                         f"got {dout_rows.shape}")
    dxpad = np.empty(xpad_shape, dtype=np.result_type(dout_rows, w_rows))
    band = _band(dout_rows, w_rows, Ho, Wo, K, F)
    if band:
        dxpad[...] = 0
        _rows_bands_adjoint_numba(_gemm(dxpad.dtype), np.ascontiguousarray(dout_rows),
                                  np.ascontiguousarray(w_rows), Hp, HH, WW, C, stride, band, Ho,
                                  Wo, dxpad.reshape(N * Hp, Wp * C))
        return dxpad
    dout_images = dout_rows.reshape(N, Ho * Wo, F)
    for part in _row_blocks(N, Ho * Wo * K):
        images = dout_images[part].shape[0]
        dcols = matmul(dout_images[part].reshape(images * Ho * Wo, F), w_rows)
        dcols = dcols.reshape(images, Ho, Wo, HH, WW, C)
        dxpad[part] = 0
        _col2im(dcols, stride, dxpad[part])
    return dxpad
