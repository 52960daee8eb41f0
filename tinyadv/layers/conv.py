"""2-D convolution (cross-correlation, as in PyTorch and TensorFlow) with stride and padding.

Shapes, in CS231n's letters:

    x    (N, C, H, W)       input batch
    w    (F, C, HH, WW)     F filters, PyTorch layout
    b    (F,)               optional bias
    out  (N, F, Ho, Wo)     Ho = (H + pad_top + pad_bottom - HH) // stride + 1, same for Wo

Forward:   out[n, f, i, j] = b[f] + Σ_{c,p,q} w[f, c, p, q] · xpad[n, c, i·stride + p, j·stride + q]

Backward, with dout = dL/dout:

    dw[f, c, p, q]  = Σ_{n,i,j} dout[n, f, i, j] · xpad[n, c, i·stride + p, j·stride + q]
    db[f]           = Σ_{n,i,j} dout[n, f, i, j]
    dxpad[n, c, i·stride + p, j·stride + q]  += Σ_f dout[n, f, i, j] · w[f, c, p, q]

and dx is dxpad with the padding cut off. With the receptive fields copied into the rows of a
matrix (``im2col``, see ``tinyadv/kernels.py``) all three are matrix products:
out = cols · Wᵀ, dW = doutᵀ · cols, dcols = dout · W, and dx = col2im(dcols).

Inside, the convolution works channels-last (the kernels' layout): its output is an NCHW *view*
of NHWC memory, so that the next convolution's ``x.transpose(0, 2, 3, 1)`` costs nothing. NumPy
keeps that memory order through elementwise layers, and ``Flatten`` still flattens in C, H, W
order (``reshape`` copies when it must), so nothing outside this file sees the difference.

Memory: the rows (``cols``) are the largest array of the layer, (N·Ho·Wo, HH·WW·C): 6.3 MB for
conv1 of the talk's CNN on 32 float32 images, 16 times its input. They are formed and
multiplied a block of images at a time, about 1 MB each (2 MB in float64), while they are in
cache (:func:`tinyadv.kernels.rows_product`), and only the weight gradient dW needs them again. A
layer in evaluation mode (inference, attacks, which ask for dL/dx only) keeps just the padded
input; if a weight gradient is asked for all the same, the backward pass forms the rows again,
a block at a time (:func:`tinyadv.kernels.rows_weight_gradient`). Dropped at once, that memory
is reused hot by the next layer: on 2 cores, in runs that took turns between the two modes,
forward + input gradient of 512 images ran 3-15% faster, inference 2-17% (float32 gained the
most). A layer in training mode keeps the rows only when they are one block (conv3's): conv1's
6.3 MB, read back from memory for dW, cost more than forming them again block by block in
cache (training steps 1.05× faster in float32, 1.02× in float64, 2 cores). Winograd's
transformed tiles (below) are kept in training mode: transforming them again was slower; in
evaluation mode, where nothing is kept, Winograd's forward pass runs a few images at a time in
one compiled call ("Blocks of images" in ``tinyadv/winograd.py``). See ``keep_rows`` in
:func:`conv2d_forward`.

Space to depth: a kernel whose sizes are multiples of the stride (the talk's conv1, 8×8 at
stride 2) convolves the input as a kernel HH/stride × WW/stride convolves, at stride 1, the
input's stride × stride blocks of pixels, each block one pixel of stride²·C channels (the
identity: "Space to depth" in ``tinyadv/kernels.py``). The products are the same size, but
im2col copies the receptive fields a row of memory at a time, and over the blocks there are
stride times fewer rows, each stride times as long. im2col takes the blocks where a row of memory
of the input, WW·C values, is shorter than ``SPACE_TO_DEPTH_BYTES`` (128 bytes, two cache lines),
where its copies cost by the row, not by the byte: conv1 in float32 (rows of 96 bytes, 192 over
the blocks), not in float64. There, on an Intel Xeon's 2 cores (the talk's CNN on CIFAR-10-sized
images, two A/B runs of 12 and 16 rounds taking turns), training steps ran 1.04-1.06× as fast,
inference 1.05-1.06×, FGSM 1.01-1.04×; in float64, made to take the blocks, 0.99-1.02×. The
cache says ``"space_to_depth"`` then; the weight gradient comes back to PyTorch's layout, and
the input gradient to the input's pixels.

Winograd: a kernel of r·stride square (2 <= r <= 5; the talk's conv2, 6×6 at stride 2, has r =
3) can have its products formed by Winograd's minimal filtering F(m×m, r×r) instead (Lavin &
Gray 2016; ``tinyadv/winograd.py`` has the math): conv2's 6×6 outputs by F(3×3, 3×3) take 100
multiplications per filter and phase channel (stride² = 4 of them per input channel) instead of
324, with the same result up to rounding (2e-6 of the largest output in float32, 5e-15 in
float64; a NaN or ∞ in the input reaches every output it reaches by the direct sum, and by 3×3
tiles some more of its tile: "NaN and ∞" in ``tinyadv/winograd.py``). The weight gradient and
the input gradient are the same steps transposed, so the layer's cache keeps Winograd's
transformed input tiles where it would keep the rows. Output sizes that m does not divide are
covered by last tiles that read zeros past the edge and whose extra outputs are dropped.
``method="auto"`` (the default) takes Winograd only where it measured faster than im2col
(:func:`tinyadv.winograd.faster_than_im2col`: r = 3, whole tiles, at least 32 phase channels;
or r = 5 with at least 64 where OpenBLAS has its small-matrix path: the talk's conv3 on a Zen 4);
there, on 2 cores (A/B runs, the talk's CNN on CIFAR-10 images), training steps ran 1.29-1.31×
faster, inference 1.16-1.22×, forward + input gradient 1.16-1.19×, in float32 and float64.
``method="im2col"`` or ``"winograd"`` (as a layer attribute: ``layer.method``) forces a choice.
``method="winograd_rows"`` runs Winograd down the rows only, F(m, r), and im2col across
(``tinyadv/winograd_rows.py``): any kernel r·stride rows tall, 2 <= r <= 5. It made the talk's
conv1 1.13-1.18× faster on one thread, but ``auto`` does not take it (its compiled kernel would
take the cold start past its 15 s target: see that module's docstring; and over the network on
two threads it ran 1.00-1.05× as fast), so it runs only when asked for.

Padding is an int (the same on all four sides), a pair (rows, columns), ``"valid"`` (none), or
``"same"``: TensorFlow's SAME, Ho = ceil(H / stride), the total padding split with the extra row
at the bottom (and column at the right). For the talk's conv1 (8×8, stride 2, on 32×32 or 28×28)
that is 3 on every side, which is what ``cleverhans_cnn`` uses.
"""

import functools
import numbers
import threading

import numpy as np

from .. import winograd, winograd_rows
from ..checks import (check_array, check_bool, check_fits, check_float_dtype, check_positive_int,
                      make_rng, native_byte_order)
from ..kernels import (check_ndim, check_sizes, depth_to_space_reference, output_size,
                       pad_channels_last, pad_space_to_depth, pad_space_to_depth_adjoint,
                       rows_product, rows_product_adjoint, rows_weight_gradient,
                       space_to_depth_reference, weight_columns)
from ..threads import call_owner
from .base import Layer, Parameter, check_cache, check_dout, weight_and_bias_grads

# How the products are formed (``layer.method``; "Winograd" in the docstring above).
METHODS = ("auto", "im2col", "winograd", "winograd_rows")

# im2col takes the input's stride x stride blocks of pixels as its pixels where the kernel is a
# multiple of the stride and a row of memory of a receptive field, WW·C values, is shorter than
# this many bytes ("Space to depth" in the docstring above). 0: never.
SPACE_TO_DEPTH_BYTES = 128


def resolve_padding(padding, H, W, HH, WW, stride):
    """Turn a padding spec into the four pads (top, bottom, left, right) for this input size.
    Refuses a stride < 1, and a stride or pad >= 2**63 (no array is that large)."""
    stride = check_positive_int(stride, "stride")
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            pads = []
            for size, kernel in ((H, HH), (W, WW)):
                out = -(-size // stride)
                total = max((out - 1) * stride + kernel - size, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise ValueError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        return (check_positive_int(padding, "padding", minimum=0),) * 4
    try:
        rows, columns = padding
    except (TypeError, ValueError):
        raise TypeError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}") from None
    if not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in (rows, columns)):
        raise TypeError(f"padding must be an int or a pair of ints, got {padding!r}")
    rows, columns = int(rows), int(columns)
    if rows < 0 or columns < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    rows, columns = (check_positive_int(p, "padding", minimum=0) for p in (rows, columns))
    return (rows, rows, columns, columns)


def _check_conv_args(x, w, b, stride):
    """x and w after checking them with b and stride, each in this machine's byte order (a copy
    of an array in the other one, '>f4' say, as :func:`tinyadv.checks.check_array` makes: the
    compiled kernels take no other). Two integer arrays come back as the 64-bit integers the
    convolution sums in (:func:`_integer_sums`)."""
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral):
        raise TypeError(f"stride must be an integer, got {stride!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    for name, a in (("input", x), ("weights", w)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"conv2d's {name} must be a NumPy array, got {type(a).__name__}")
        # (integers stay exact on im2col: test_integer_arrays_take_im2col_and_stay_exact)
        _check_conv_dtype(a, name)
    if x.ndim != 4:
        raise ValueError(f"conv2d expects input of shape (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d expects weights of shape (F, C, HH, WW), got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"channel mismatch: input has {x.shape[1]} channels, weights expect {w.shape[1]}"
        )
    if b is not None and (not isinstance(b, np.ndarray) or b.shape != (w.shape[0],)):
        raise ValueError(f"bias must have shape ({w.shape[0]},), got {np.shape(b)}")
    if b is not None:  # (a complex bias made the output complex, strings failed inside NumPy)
        _check_conv_dtype(b, "bias")
    x, w = (native_byte_order(a) for a in (x, w))
    return _integer_sums(x, w)


def _sizes(padding, x_shape, w_shape, stride, itemsize):
    """``(pads, Ho, Wo)`` of a convolution of an input of ``x_shape`` by weights of ``w_shape``,
    after checking that the kernel fits in the padded input and that the padded input and the
    output can exist as arrays (ValueError naming ``padding`` otherwise). Remembered for the
    paddings a ``Conv2D`` holds (an int, a string, a pair of ints): each of a batch's chunks
    asks again, and the Python between two kernels holds the GIL (``tinyadv/threads.py``)."""
    if type(padding) in (int, str) or (type(padding) is tuple
                                       and all(type(p) is int for p in padding)):
        return _remembered_sizes(padding, x_shape, w_shape, int(stride), itemsize)
    return _work_out_sizes(padding, x_shape, w_shape, stride, itemsize)


def _work_out_sizes(padding, x_shape, w_shape, stride, itemsize):
    N, C, H, W = x_shape
    F, _, HH, WW = w_shape
    pads = resolve_padding(padding, H, W, HH, WW, stride)
    top, bottom, left, right = pads
    if H + top + bottom < HH or W + left + right < WW:
        raise ValueError(
            f"kernel {HH}x{WW} is larger than the padded input "
            f"{H + top + bottom}x{W + left + right}"
        )
    Ho = output_size(H, HH, stride, top, bottom)
    Wo = output_size(W, WW, stride, left, right)
    _check_sizes_fit(padding, x_shape, pads, (N, F, Ho, Wo), itemsize)
    return pads, Ho, Wo


_remembered_sizes = functools.lru_cache(maxsize=256)(_work_out_sizes)  # (errors are not kept)


def _check_sizes_fit(padding, x_shape, pads, out_shape, itemsize):
    """Raise ValueError naming ``padding`` (and the shapes) unless the padded input and the
    output can exist as arrays (:func:`tinyadv.checks.check_fits`)."""
    N, C, H, W = x_shape
    top, bottom, left, right = pads
    check_fits((N, H + top + bottom, W + left + right, C), itemsize,
               lambda: f"padding={padding!r} of an input of shape {x_shape}: the padded input")
    check_fits(out_shape, itemsize, lambda: f"{out_shape[1]} filters over an input of shape "
                                            f"{x_shape} with padding={padding!r}: the output")


def _check_conv_dtype(a, name):
    native = a.dtype.newbyteorder("=")
    if native not in (np.float32, np.float64) and native.kind not in "iu":
        raise TypeError(f"conv2d computes in float32, float64 or integers: its {name} have "
                        f"dtype {a.dtype}")


def _integer_sums(x, w):
    """x and w as int64 (uint64 when both are unsigned) when both are integers narrower than
    that: a convolution is a sum of products, which NumPy would compute in their common dtype
    and wrap around (uint8 images and kernels: 255 + 1 = 0), so it sums them as ``np.sum``
    sums small integers, in 64 bits. Other arrays are returned as they are."""
    dtype = np.result_type(x, w)
    if x.dtype.kind in "iu" and w.dtype.kind in "iu" and dtype.itemsize < 8:
        dtype = np.uint64 if dtype.kind == "u" else np.int64
        return x.astype(dtype), w.astype(dtype)
    return x, w


def padded_channels_last(x, pads):
    """x (N, C, H, W) zero-padded by ``pads`` (top, bottom, left, right) and laid out channels-last,
    (N, H + top + bottom, W + left + right, C): a copy when there is padding, else a view (free
    when x is a view of channels-last memory, as the previous convolution's output is)."""
    pads = check_sizes(pads, "pads", "top, bottom, left, right")
    if any(pads):
        return pad_channels_last(x, pads)  # (which checks x)
    check_ndim(x, "x", 4)
    return x.transpose(0, 2, 3, 1)


def weight_rows(w):
    """The weight (F, C, HH, WW) in the order of an im2col row: (F, HH·WW·C)."""
    check_ndim(w, "w", 4)
    F, C, HH, WW = w.shape
    return w.transpose(0, 2, 3, 1).reshape(F, HH * WW * C)


def weight_rows_space_to_depth(w, stride):
    """The weight (F, C, HH, WW) in the order of an im2col row of the space-to-depth input,
    (F, HH·WW·C), its columns (p', q', a, b, c) for the weight at p = p'·s + a, q = q'·s + b
    ("Space to depth" in tinyadv/kernels.py): the space-to-depth of the weight's (F, HH, WW, C)."""
    check_ndim(w, "w", 4)
    F, C, HH, WW = w.shape
    stride = check_positive_int(stride, "stride")
    if HH % stride or WW % stride:
        raise ValueError(f"a {HH}x{WW} kernel is not in blocks of stride x stride = "
                         f"{stride}x{stride} pixels")
    return space_to_depth_reference(w.transpose(0, 2, 3, 1), stride).reshape(F, HH * WW * C)


def weight_from_space_to_depth(dw_rows, w_shape, stride):
    """The inverse of :func:`weight_rows_space_to_depth`: (F, HH·WW·C) back to (F, C, HH, WW)."""
    check_ndim(dw_rows, "dw_rows", 2)
    F, C, HH, WW = check_sizes(w_shape, "w_shape", "F, C, HH, WW")
    s = check_positive_int(stride, "stride")
    if HH % s or WW % s or dw_rows.shape != (F, HH * WW * C):
        raise ValueError(f"dw_rows of shape {dw_rows.shape} is not the weight of shape "
                         f"{tuple(w_shape)} in blocks of stride x stride = {s}x{s} pixels")
    dw_last = depth_to_space_reference(dw_rows.reshape(F, HH // s, WW // s, s * s * C), s, C)
    return dw_last.transpose(0, 3, 1, 2)


def _by_space_to_depth(C, HH, WW, stride, itemsize):
    """Whether im2col takes the space-to-depth of its input (``SPACE_TO_DEPTH_BYTES``)."""
    return (stride > 1 and HH % stride == 0 and WW % stride == 0
            and WW * C * itemsize < SPACE_TO_DEPTH_BYTES)


def _how(method, x_dtype, w_dtype, C, HH, WW, stride, Ho, Wo):
    """How :func:`conv2d_forward` forms the products asked for by ``method`` (one of METHODS)
    for x of ``x_dtype`` (N, C, H, W) and w of ``w_dtype`` (F, C, HH, WW) at this stride, the
    output Ho × Wo: "winograd", "winograd_rows", "space_to_depth" or "im2col" ("auto" takes
    Winograd where it is faster, im2col over the input's blocks where its rows are short).
    Refuses an unknown method and a Winograd method that does not apply (ValueError) or that
    would compute in integers (TypeError)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    floating = x_dtype in (np.float32, np.float64) and w_dtype in (np.float32, np.float64)
    if method == "winograd":
        winograd.check_applies(HH, WW, stride)
    if method == "winograd_rows":
        winograd_rows.check_applies(HH, WW, stride)
    if method.startswith("winograd") and not floating:  # its transforms have fractions
        raise TypeError(f"Winograd's minimal filtering needs float32 or float64 input and "
                        f"weights, got {x_dtype} and {w_dtype}")
    if method == "auto":
        faster = floating and winograd._faster_than_im2col(C, HH, WW, stride, Ho, Wo)
        method = "winograd" if faster else "im2col"
    itemsize = np.promote_types(x_dtype, w_dtype).itemsize
    if method == "im2col" and _by_space_to_depth(C, HH, WW, stride, itemsize):
        return "space_to_depth"
    return method


def _rows_kernel(method, HH, WW, stride):
    """(HH, WW, stride) of the convolution that im2col computes: over the input's stride x
    stride blocks ("space_to_depth"), (HH / stride, WW / stride, 1)."""
    if method == "space_to_depth":
        return HH // stride, WW // stride, 1
    return HH, WW, stride


def _call(function, *args):
    return function(*args)


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, keep_rows=True, method="auto",
                   per_batch=_call):
    """Convolve ``x`` with ``w`` (see the module docstring for the math).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, HH, WW)
        float32, float64 or integers (an integer x and w are summed in 64 bits, exactly).
    b : ndarray, shape (F,), optional
    stride : int >= 1
    padding : int, pair, "same" or "valid"
    keep_rows : bool
        Keep what the weight gradient needs from the input in the cache where that pays (True:
        Winograd's transformed tiles, or the im2col rows if they are one block), or only the
        padded input, from which :func:`conv2d_backward` forms them again if a weight gradient
        is asked for (False; see "Memory" in the module docstring).
    method : "auto", "im2col", "winograd" or "winograd_rows"
        How the products are formed (see "Winograd" in the module docstring): "auto" takes
        Winograd's F(m×m, r×r) where it is faster (:func:`tinyadv.winograd.faster_than_im2col`),
        else im2col; "winograd" takes it whenever the kernel is r·stride square, 2 <= r <= 5;
        "winograd_rows" takes F(m, r) down the rows whenever the kernel is r·stride rows tall.
    per_batch : callable, optional
        ``per_batch(function, w, *args) -> function(w, *args)``: how the convolution computes
        what depends on the weights alone (:func:`weight_rows` and its transpose for the
        compiled bands, :func:`tinyadv.kernels.weight_columns`, or Winograd's transformed
        filters U, :func:`tinyadv.winograd.filter_transform`). By default a plain call (which
        leaves the transpose to the bands); ``Conv2D`` passes one that computes each once for
        all the chunks of a batch (:meth:`Conv2D.hold_weights`).

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo)
    cache : tuple for :func:`conv2d_backward`
    """
    x, w = _check_conv_args(x, w, b, stride)
    keep_rows = check_bool(keep_rows, "keep_rows")
    itemsize = np.result_type(x, w).itemsize
    pads, Ho, Wo = _sizes(padding, x.shape, w.shape, stride, itemsize)
    method = _how(method, x.dtype, w.dtype, x.shape[1], *w.shape[2:], stride, Ho, Wo)
    return _forward(x, w, b, stride, pads, Ho, Wo, method, keep_rows, per_batch)


def _forward(x, w, b, stride, pads, Ho, Wo, method, keep_rows, per_batch):
    """:func:`conv2d_forward` of arguments checked already, its sizes and its ``method`` (one
    of :func:`_how`'s answers) worked out (also a gradient plan's convolution step,
    ``tinyadv/plans.py``: the Python between two kernels holds the GIL)."""
    F, C, HH, WW = w.shape
    if method in ("im2col", "space_to_depth"):
        if method == "space_to_depth":
            # a convolution at stride 1 of the input's stride x stride blocks: what it reads of
            # the padded input, (Ho - 1)·stride + HH rows by (Wo - 1)·stride + WW columns
            s = stride
            xpad = pad_space_to_depth(x, pads, s, Ho - 1 + HH // s, Wo - 1 + WW // s)
            w_rows = per_batch(weight_rows_space_to_depth, w, s)
        else:
            xpad = padded_channels_last(x, pads)
            w_rows = per_batch(weight_rows, w)
        # (w_rowsᵀ in C order, for the compiled bands: kept for a batch where the layer keeps it)
        w_columns = None if per_batch is _call else per_batch(weight_columns, w_rows)
        out, kept = rows_product(xpad, w_rows, *_rows_kernel(method, HH, WW, stride), keep_rows,
                                 w_columns)  # out (N, Ho, Wo, F)
        cache = (method, w_rows, kept)  # the rows if kept, else dW forms them again from xpad
    elif method == "winograd":
        xpad = padded_channels_last(x, pads)
        out, U, V, xpad = winograd._conv2d(xpad, w, stride, Ho, Wo,  # (all checked above)
                                           functools.partial(per_batch, winograd.filter_transform),
                                           keep_rows)
        kept = V  # what dW will need: the tiles if kept (else None: their source, xpad)
        cache = ("winograd", U, kept)
    else:
        out, U, xpad = winograd_rows.conv2d(
            padded_channels_last(x, pads), w, stride, Ho, Wo,
            functools.partial(per_batch, winograd_rows.filter_transform))
        kept = None  # dW transforms the input again, a block of images at a time
        cache = ("winograd_rows", U, kept)
    out = out.transpose(0, 3, 1, 2)
    if b is not None:
        out = out + b[None, :, None, None]
    source = None if kept is not None else xpad
    cache += (x.shape, source, xpad.shape, pads, stride, w.shape, b is not None)
    return out, cache


def conv2d_backward(dout, cache, *, need_input_grad=True, need_param_grads=True,
                    per_batch=_call):
    """Gradients of the convolution with respect to its input, weights and bias.

    Parameters
    ----------
    dout : ndarray, shape (N, F, Ho, Wo)
    cache : from :func:`conv2d_forward`
    need_input_grad, need_param_grads : bool
        Skip the work whose result nobody needs (returns None in its place).
    per_batch : callable, optional
        As in :func:`conv2d_forward`, for what the input gradient computes from the forward
        pass's transformed filters alone: ``per_batch(function, U) -> function(U)`` (Winograd's
        Uᵀ, :func:`tinyadv.winograd.transposed_filters`).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None
    dw : ndarray, shape (F, C, HH, WW), or None
    db : ndarray, shape (F,), or None (also None when the layer has no bias)
    """
    need_input_grad = check_bool(need_input_grad, "need_input_grad")
    need_param_grads = check_bool(need_param_grads, "need_param_grads")
    return _backward(check_dout(dout, _output_shape(_conv_cache(cache)), "conv2d"), cache,
                     need_input_grad, need_param_grads, per_batch)


def _output_shape(cache):
    """(N, F, Ho, Wo): the shape of the output that a :func:`conv2d_forward` cache is of."""
    x_shape, pads, stride, w_shape = cache[3], cache[6], cache[7], cache[8]
    top, bottom, left, right = pads
    return (x_shape[0], w_shape[0], output_size(x_shape[2], w_shape[2], stride, top, bottom),
            output_size(x_shape[3], w_shape[3], stride, left, right))


def _backward(dout, cache, need_input_grad, need_param_grads, per_batch):
    """:func:`conv2d_backward` of arguments checked already (also a gradient plan's)."""
    method, w_product, kept, x_shape, xpad, xpad_shape, pads, stride, w_shape, has_bias = cache
    N, C, H, W = x_shape
    F, _, HH, WW = w_shape
    top, bottom, left, right = pads
    Ho, Wo = dout.shape[2:]
    dout_last = dout.transpose(0, 2, 3, 1)  # (N, Ho, Wo, F)

    dx = dw = db = None
    if method in ("im2col", "space_to_depth"):  # (space to depth: xpad is the input's blocks)
        kernel = _rows_kernel(method, HH, WW, stride)
        dout_rows = dout_last.reshape(N * Ho * Wo, F)
        if need_param_grads:
            dw_rows = rows_weight_gradient(dout_rows, xpad, *kernel, cols=kept)
            dw = (dw_rows.reshape(F, HH, WW, C).transpose(0, 3, 1, 2) if method == "im2col"
                  else weight_from_space_to_depth(dw_rows, w_shape, stride))
        if need_input_grad:
            dxpad = rows_product_adjoint(dout_rows, w_product, xpad_shape, *kernel, Ho, Wo)
            if method == "space_to_depth":
                dx = pad_space_to_depth_adjoint(dxpad, pads, stride, x_shape)
    else:
        Ut = per_batch(winograd.transposed_filters, w_product) if need_input_grad else None
        if method == "winograd":
            dxpad, dw = winograd._conv2d_backward(  # (all checked above)
                dout_last, w_product, w_shape, stride, xpad_shape, kept, xpad, Ut,
                need_input_grad, need_param_grads)
        else:
            dxpad, dw = winograd_rows.conv2d_backward(
                dout_last, w_product, w_shape, stride, xpad, Ut=Ut,
                need_input_grad=need_input_grad, need_param_grads=need_param_grads)
    if need_param_grads:
        dw = np.ascontiguousarray(dw)
        if has_bias:
            db = dout.sum(axis=(0, 2, 3))
    if need_input_grad and dx is None:
        dx = dxpad[:, top:top + H, left:left + W, :].transpose(0, 3, 1, 2)
    return dx, dw, db


def _conv_cache(cache):
    """``cache`` after checking it is one that :func:`conv2d_forward` returned."""
    return check_cache(cache, isinstance(cache, tuple) and len(cache) == 10
                       and cache[0] in METHODS[1:] + ("space_to_depth",), "conv2d_forward")


def conv2d_forward_naive(x, w, b=None, *, stride=1, padding=0):
    """The definition, one output position at a time: slow and obviously right (for tests)."""
    x, w = _check_conv_args(x, w, b, stride)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    top, bottom, left, right = pads = resolve_padding(padding, H, W, HH, WW, stride)
    Ho = output_size(H, HH, stride, top, bottom)
    Wo = output_size(W, WW, stride, left, right)
    _check_sizes_fit(padding, x.shape, pads, (N, F, Ho, Wo), np.result_type(x, w).itemsize)
    xpad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w))
    for i in range(Ho):
        for j in range(Wo):
            field = xpad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(field, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b[None, :, None, None]
    return out


def _pair(value, name):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        value = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive int or a pair of them, got {value!r}") from None
    if len(value) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                  and v >= 1 for v in value):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return tuple(check_positive_int(int(v), name) for v in value)


class Conv2D(Layer):
    """A convolution layer: holds ``weight`` (F, C, HH, WW) and optionally ``bias`` (F,).

    In training mode its cache keeps Winograd's tiles (or the im2col rows when they are one
    block) for the weight gradient; in evaluation mode it does not (see "Memory" in the module
    docstring).
    ``layer.method`` ("auto", "im2col", "winograd" or "winograd_rows"; see "Winograd" there)
    chooses how the products are formed; it changes rounding only, so it is not saved with the
    model.

    Initialisation is PyTorch's default, U(-1/√fan_in, 1/√fan_in) with fan_in = C·HH·WW, from
    an explicit ``seed``; models that need another initialisation (``cleverhans_cnn``) set
    ``layer.params["weight"].data`` themselves.

    Parameters
    ----------
    in_channels, out_channels : int >= 1
        C and F.
    kernel_size : int >= 1 or a pair (HH, WW)
    stride : int >= 1
    padding : int, pair (rows, columns), "same" or "valid" (see the module docstring)
    bias : bool
    seed : int, numpy.random.Generator or None
    dtype : float32 or float64
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0,
                 bias=True, seed=None, dtype=np.float32):
        super().__init__()
        in_channels = check_positive_int(in_channels, "in_channels")
        out_channels = check_positive_int(out_channels, "out_channels")
        dtype = check_float_dtype(dtype)
        bias = check_bool(bias, "bias")
        kh, kw = _pair(kernel_size, "kernel_size")
        stride = check_positive_int(stride, "stride")
        pads = resolve_padding(padding, kh, kw, kh, kw, stride)  # validates the spec
        if isinstance(padding, numbers.Integral):  # plain ints: NumPy's do not save as JSON
            padding = int(padding)
        elif not isinstance(padding, str):
            padding = (pads[0], pads[2])
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), int(stride), padding
        self.method = "auto"  # how conv2d_forward forms the products: one of METHODS
        self._held = None  # (lock, {(function, args): result}) while a model holds the weights
        self._kept = None  # (weight, its bytes, the results computed from them): see hold_weights
        shape = (out_channels, in_channels, kh, kw)
        check_fits(shape, 8, f"{type(self).__name__}({in_channels}, {out_channels}, "
                             f"kernel_size={(kh, kw)}): the weight")  # (drawn in float64)
        rng = make_rng(seed)
        bound = 1.0 / np.sqrt(in_channels * kh * kw)
        self.params["weight"] = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        if bias:
            self.params["bias"] = Parameter(
                rng.uniform(-bound, bound, out_channels).astype(dtype), decay=False
            )

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=list(self.kernel_size), stride=self.stride,
                    padding=self.padding if isinstance(self.padding, (str, int)) else list(self.padding),
                    bias="bias" in self.params)

    def effective_weight(self):
        """The weight the convolution uses (binarized layers override this)."""
        return self.params["weight"].data

    def forward(self, x):
        x = check_array(x, "input of Conv2D", finite=False)
        b = self.params["bias"].data if "bias" in self.params else None
        return conv2d_forward(x, self.effective_weight(), b, stride=self.stride,
                              padding=self.padding, keep_rows=self.training, method=self.method,
                              per_batch=self._per_batch)

    def hold_weights(self):
        """Keep what the convolution computes from its weights alone, once computed, for the
        rest of the batch (its other chunks, on any thread) instead of computing it again in
        every chunk: Winograd's transformed filters U (a chunk of 32 images spent 0.6 ms in
        float32, 1.1 ms in float64, on conv2's), their transpose Uᵀ for the input gradient
        (:func:`tinyadv.winograd.transposed_filters`), the weight in im2col's row order (a
        copy of conv3's 102,400 weights per chunk) and its transpose for the compiled bands (a
        copy, which also let go of the GIL and took it back, in every chunk of conv1's
        forward pass). Only what comes from the layer's own weight
        array, or from what is kept, is kept (a binarized layer's sign(W) is a new array in
        every chunk, so what comes from it is computed there), keyed by the function, the array
        it came from and its other arguments.

        In evaluation mode (an attack's or an inference's calls, where the weights stay as
        they are from call to call) what was kept is kept for the next call too, with the
        weight's bytes as they were when it was computed: the next call takes it if the weight
        is the same array holding the same bytes, and computes it again otherwise (a weight
        changed in place or replaced). On the talk's CNN, U of conv2 and conv3 took 0.22 ms
        of every call in float32 (a call on one image took 0.43 ms); comparing the bytes took
        36 µs warm (more in a call, the weights cold in the cache), and the layer keeps its
        forms (about 3 MB in float32) between calls. In training mode nothing is kept past the
        call: the weights change at each step."""
        weight = self.params["weight"].data
        results = {}
        if self.training:
            self._kept = None
        else:
            state = weight.tobytes()
            kept = self._kept
            if kept is not None and kept[0] is weight and kept[1] == state:
                results = kept[2]
            self._kept = (weight, state, results)  # (this call's chunks fill results)
        self._held = (threading.Lock(), results, call_owner())  # (for the holding call's work)

    def release_weights(self):
        self._held = None

    def __getstate__(self):
        """A copy (``copy.deepcopy``, pickle) starts with nothing kept from call to call: what
        :meth:`hold_weights` keeps is filed under the ids of this layer's arrays, which the
        copy's arrays do not have."""
        return {**self.__dict__, "_kept": None}

    def _per_batch(self, function, source, *args):
        held = self._held  # read once: the chunks of this batch share it
        if held is None or held[2] is not call_owner():  # (another thread's call: its own forms)
            return function(source, *args)
        lock, results, _ = held
        key = (function, id(source), args)  # (the source is kept with the result: its id stays)
        with lock:  # the first chunk computes, the others wait for its result
            if key not in results and (source is self.params["weight"].data or any(
                    source is result for _, result in results.values())):
                results[key] = (source, function(source, *args))
            if key in results:
                return results[key][1]
        return function(source, *args)  # not from the layer's own weight: every chunk computes

    def weight_gradient(self, dw_effective):
        """Map dL/d(effective weight) to dL/d(weight): the identity here, an STE when binarized."""
        return dw_effective

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        w_shape = _conv_cache(cache)[8]
        if w_shape != self.params["weight"].shape:
            raise ValueError(f"cache is of a convolution with weights of shape {w_shape}, this "
                             f"layer's are {self.params['weight'].shape}")
        dx, dw, db = conv2d_backward(
            dout, cache, need_input_grad=need_input_grad, need_param_grads=need_param_grads,
            per_batch=self._per_batch)
        return dx, weight_and_bias_grads(self, dw, db, need_param_grads)
