"""Winograd's minimal filtering F(m×m, r×r): convolutions with fewer multiplications.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016), after Winograd
(1980) and Toom and Cook. One output tile of m×m pixels of an r×r filter g over an input tile d
of n×n pixels, n = m + r − 1, is

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A            (⊙: elementwise, n×n)

with n² multiplications instead of m²·r². For F(2×2, 3×3) (n = 4: 16 instead of 36) the
matrices built below are

    Bᵀ = [[1,  0, -1, 0],      G = [[1,    0,    0  ],      Aᵀ = [[1, 1,  1, 0],
          [0,  1,  1, 0],           [1/2,  1/2,  1/2],             [0, 1, -1, 1]]
          [0, -1,  1, 0],           [1/2, -1/2,  1/2],
          [0, -1,  0, 1]]           [0,    0,    1  ]]

They come from polynomial interpolation (Toom-Cook): a 1-D correlation of m outputs is the
product of two polynomials evaluated at n − 1 points p_j and at ∞, multiplied pointwise and
interpolated back. :func:`matrices` builds Aᵀ (the powers p_jⁱ) and G (p_jᵏ over |Π_{l≠j}(p_j −
p_l)|) from the points 0, 1, −1, 2, −2, solves for Bᵀ so that Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = 1
exactly when l = i + k (and 0 otherwise), and checks that identity in exact rational arithmetic.

Summed over the input channels, the n² elementwise products become n² matrix products, one per
position (ξ, ν) of the transformed tile:

    V[ξ, ν]  (T, K)   the transformed input tiles, T = N·Th·Tw tiles, K input channels
    U[ξ, ν]  (K, F)   the transformed filters
    M[ξ, ν]  = V[ξ, ν] @ U[ξ, ν]                    (T, F)
    out tile = Aᵀ M A                                (m×m per tile and filter)

Every step is linear, so the backward pass is the same steps transposed, in reverse order:

    dM[ξ, ν] = A dY Aᵀ                    (the adjoint of the output transform)
    dV[ξ, ν] = dM[ξ, ν] @ U[ξ, ν]ᵀ        dU[ξ, ν] = V[ξ, ν]ᵀ @ dM[ξ, ν]
    dd       = B dV Bᵀ, added back onto the (overlapping) input tiles     dg = Gᵀ dU G

Stride. A convolution with stride s and an rs×rs kernel is a stride-1 r×r convolution of the
input's s² *phases*: out[i, j] = Σ_{a,b<s} Σ_{p,q<r} w[s·p + a, s·q + b] · x[s·(i + p) + a,
s·(j + q) + b], and x[s·u + a, s·v + b] over (u, v) is the phase (a, b) of x, an image of
(Hp/s)×(Wp/s) pixels. So the talk's conv2 (6×6, stride 2, 32 channels) is a 3×3 convolution on
4·32 = 128 channels: K = s²·C, ordered (a, b, c). The kernels read the phases straight out of
the padded input; nothing is copied into phase images.

Tiles. :func:`tile_size` takes m = 2 or 3, whichever makes whole tiles and needs fewer
multiplications for the output: conv2's 6×6 outputs are 4 tiles of F(3×3, 3×3) (100
multiplications per filter and channel, against 144 with F(2×2, 3×3) and 324 directly), conv3's
2×2 outputs (5×5 kernel) one tile of F(2×2, 5×5) (36 against 100).

Numbers. The result differs from the direct sum in rounding only, a little more the larger the
tile: over 128 channels in float32, about 4e-7 of the largest output for F(2×2, 3×3), 2e-6 for
F(3×3, 3×3) and 3e-6 for F(2×2, 5×5), against 3-5e-7 for the direct sum; in float64 about 1e-15
for F(2×2, 3×3) and 6e-15 for the other two, against 1e-15 for the direct sum.
(An infinite input is another matter: the transforms subtract, so ∞ − ∞ can make NaN where the
direct sum would give ±∞. And integer arrays would be truncated by the fractions, so
``conv2d_forward`` keeps them on im2col.)

NaN and ∞. A non-finite value is never lost: every output (or gradient) that the direct sum
makes NaN or ±∞ is NaN or ±∞ here too (Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = 1 for l = i + k: a path
of non-zero entries leads from every pixel of an output's receptive field to it). With m = 2
the Numba loops, which skip the matrices' zeros, reach just the outputs the direct sum reaches;
with m = 3 (F(3×3, 3×3), F(3×3, 2×2)) a NaN or ∞ can also reach outputs of its tile whose
receptive field does not hold it (in 1-D F(3, 3) the tile's second and fourth pixels reach all
three outputs, against two by the direct sum), and the input gradient spreads alike. The
references multiply by the zeros too, and 0 · NaN = NaN, so on non-finite values a reference
can have NaN across a whole tile where its Numba loop has fewer: the two are held equal where
the reference is finite (test_non_finite_values_reach_at_least_the_outputs_of_the_definition).

As in ``kernels.py``, every transform but one exists twice: a ``*_reference`` in NumPy that
says the formula above, and a serial ``nogil`` Numba loop beside it, which the layers call and
the tests hold equal to the reference. The one is the forward filter transform: a model runs it
once per batch, so it is NumPy only (:func:`filter_transform`). The Numba loops transform rows
first, then columns, one run of channels at a time (so that the innermost loops are over
contiguous memory), and skip the matrices' zeros.
"""

import functools
import math
from fractions import Fraction

import numpy as np
from numba import njit

from .checks import check_array, check_bool, check_positive_int
from .kernels import (_BLAS_FLOATS, _NO_TRANSPOSE, _ROW_MAJOR, _TRANSPOSE, _gemm,
                      _relu_in_place_numba, _small_products_fast, _small_products_here,
                      check_kernel, check_sizes, matmul, output_size, pieces_by_gemm,
                      product_rows, space_to_depth_reference)

POINTS = (0, 1, -1, 2, -2)  # interpolation points, the first n − 1 of them, then ∞


def matrices(m, r):
    """(Bᵀ (n, n), G (n, r), Aᵀ (m, n)) of F(m, r), n = m + r − 1 <= 6, as float64 arrays."""
    return _matrices(check_positive_int(m, "m"), check_positive_int(r, "r"))


@functools.cache
def _matrices(m, r):
    n = m + r - 1
    if not 2 <= n <= len(POINTS) + 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} interpolation points; there are {len(POINTS)}")
    points = [Fraction(p) for p in POINTS[:n - 1]]
    scale = [abs(np.prod([p - q for q in points if q != p], dtype=object)) for p in points]
    AT = [[p**i for p in points] + [Fraction(int(i == m - 1))] for i in range(m)]
    G = ([[p**k / f for k in range(r)] for p, f in zip(points, scale)]
         + [[Fraction(int(k == r - 1)) for k in range(r)]])
    # Bᵀ: for every l, the n unknowns Bᵀ[:, l] solve Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = [l = i + k]
    system = np.array([[float(AT[i][j] * G[j][k]) for j in range(n)]
                       for i in range(m) for k in range(r)])
    wanted = np.array([[float(l == i + k) for l in range(n)] for i in range(m) for k in range(r)])
    solution = np.linalg.lstsq(system, wanted, rcond=None)[0]
    BT = [[Fraction(v).limit_denominator(1000) for v in row] for row in solution]
    for i in range(m):
        for k in range(r):
            for l in range(n):
                exact = sum(AT[i][j] * G[j][k] * BT[j][l] for j in range(n))
                assert exact == (l == i + k), f"F({m}, {r}) is not exact at {(i, k, l)}"
    arrays = tuple(np.array(M, dtype=np.float64) for M in (BT, G, AT))
    for array in arrays:
        array.setflags(write=False)  # shared by every caller
    return arrays


def applies(HH, WW, stride):
    """Whether a kernel HH×WW with this stride is r·stride square with 2 <= r <= 5."""
    return _applies(*check_kernel(HH, WW, stride))


def check_applies(HH, WW, stride):
    """Raise ValueError unless Winograd applies to an HH×WW kernel at this stride (:func:`applies`)."""
    if not applies(HH, WW, stride):
        raise ValueError(f"Winograd's F(m x m, r x r) needs a square kernel of r*stride, "
                         f"2 <= r <= 5 (stride {stride}), got {HH}x{WW}")


def _check_output(Ho, Wo):
    return check_positive_int(Ho, "Ho", minimum=0), check_positive_int(Wo, "Wo", minimum=0)


# The functions below that the convolution calls on every chunk exist twice: the public one
# checks its arguments, then calls the private one, which the convolution calls directly once
# it has checked what it was given (the checks are cheap, but there would be dozens per chunk).


def _applies(HH, WW, stride):
    return HH == WW and HH % stride == 0 and 2 <= HH // stride <= 5


def tile_size(Ho, Wo, r):
    """The tile size m for an Ho×Wo output of an r×r filter: of 2 and 3 (only 2 when r = 5: the
    points reach n = 6), those that divide Ho and Wo if any do, and of them the one with the
    fewest multiplications, ⌈Ho/m⌉·⌈Wo/m⌉·(m + r − 1)² (the smaller m on a tie: it rounds
    less). Whole tiles compute no output that is thrown away."""
    Ho, Wo = _check_output(Ho, Wo)
    r = check_positive_int(r, "r")
    if r > len(POINTS):
        raise ValueError(f"r must be <= {len(POINTS)} (a tile of m >= 2 has n = m + r - 1 <= "
                         f"{len(POINTS) + 1}), got {r}")
    return _tile_size(Ho, Wo, r)


@functools.cache  # (asked in every chunk's forward pass, of the same few sizes)
def _tile_size(Ho, Wo, r):
    sizes = [m for m in (2, 3) if m + r - 1 <= len(POINTS) + 1]
    whole = [m for m in sizes if Ho % m == 0 and Wo % m == 0]
    return min(whole or sizes, key=lambda m: math.prod(_tiles(Ho, Wo, m)) * (m + r - 1) ** 2)


def faster_than_im2col(C, HH, WW, stride, Ho, Wo):
    """Whether Winograd beat im2col + product where we measured (one thread, 32 images, float32):
    a 3×3 filter of the phases (r = 3), every tile whole (no output computed and thrown away),
    and products with s²·C >= 32 rows; or a 5×5 one (r = 5) with s²·C >= 64 where OpenBLAS
    multiplies small products in place (below).

    Forward + backward of one layer, im2col's time over Winograd's (r = 3, the tiles of
    :func:`tile_size`): s²·C = 128 (the talk's conv2) 1.78, 64 1.45-1.75, 32 1.14; 16 0.78,
    8 0.52, 3 0.40-0.50, 1 0.21 (the transforms' memory traffic grows with F and not with C, the
    products' savings with C). The talk's conv2 on
    MNIST (5×5 outputs, computed as four 3×3 tiles and cut): over the network, inference and
    input gradients 1-10% slower than with im2col, training steps 1-5% faster (by F(2×2, 3×3),
    8-13% slower throughout).
    Over the network on CIFAR-10 images, conv2 by F(3×3, 3×3) made training steps 1.29-1.31×
    faster, F(2×2, 3×3) 1.21-1.26×. The talk's conv3 by F(2×2, 5×5) (5×5 kernel, 64 channels,
    2×2 outputs): no faster over the network (0.96-1.02 of im2col's speed), its filter
    transforms cost what its products save; with the filters transformed once per batch
    (Zen 2 EPYC, 2 threads, 9 rounds taking turns in one process), the training step,
    inference and forward + input gradient ran 0.98-1.03× as fast in float32 and 1.02-1.04× in
    float64: not enough to take it. On a Zen 4 (OpenBLAS's AVX-512 kernels, whose small-matrix
    path multiplies conv3's 36 products of 32 tiles by 64 channels by 64 filters without packing
    them: ``kernels.matmul``), the float32 training step, inference and forward + input gradient
    of the CNN ran, as medians of A/B rounds taking turns in one process, 1.03, 1.03 and 1.04×
    as fast on 2 threads (7 rounds), and with conv1 by ``winograd_rows`` 1.01, 1.06 and 1.08×
    on 2 threads, 1.05, 1.05 and 1.00× on one (7 rounds each; single rounds from 0.81 to 1.57
    on this noisy machine). So r = 5 is taken on such kernels, with s²·C >= 64 (with 32
    channels the layer alone ran 0.81-0.91× as fast, its filters transformed in each call)."""
    C = check_positive_int(C, "C", minimum=0)
    HH, WW, stride = check_kernel(HH, WW, stride)
    return _faster_than_im2col(C, HH, WW, stride, *_check_output(Ho, Wo))


@functools.cache  # (asked in every chunk's forward pass, of the same few layers)
def _faster_than_im2col(C, HH, WW, stride, Ho, Wo):
    if not _applies(HH, WW, stride) or HH // stride not in (3, 5):
        return False
    r = HH // stride
    m = _tile_size(Ho, Wo, r)
    if Ho % m or Wo % m:
        return False
    if r == 5:
        return stride * stride * C >= 64 and _small_products_fast()
    return stride * stride * C >= 32


def tiles(Ho, Wo, m):
    """Number of m×m output tiles down and across: (⌈Ho/m⌉, ⌈Wo/m⌉)."""
    return _tiles(*_check_output(Ho, Wo), check_positive_int(m, "m"))


def _tiles(Ho, Wo, m):
    return -(-Ho // m), -(-Wo // m)


def tiling(kernel, stride, Ho, Wo):
    """How an Ho×Wo output of a kernel×kernel filter at this stride is tiled:
    ``(r, m, n, Th, Tw)``, the phases' filter size r, the tile size m (:func:`tile_size`),
    n = m + r − 1 and the tiles down and across (:func:`tiles`)."""
    if not applies(kernel, kernel, stride):
        raise ValueError(f"Winograd's F(m x m, r x r) needs a kernel of r*stride, 2 <= r <= 5, "
                         f"got {kernel} at stride {stride}")
    return _tiling(kernel, stride, *_check_output(Ho, Wo))


def _tiling(kernel, stride, Ho, Wo):
    r = kernel // stride
    m = _tile_size(Ho, Wo, r)
    return (r, m, m + r - 1) + _tiles(Ho, Wo, m)


# --------------------------------------------------------------------------------------------
# The convolution: transforms and products, forward and backward (called by layers/conv.py)


def conv2d(xpad, w, stride, Ho, Wo, transform_filters=None, keep_tiles=True):
    """The Ho×Wo output of w (F, C, rs, rs) over xpad (N, Hp, Wp, C), channels last, by
    F(m×m, r×r) with m from :func:`tile_size`. ``transform_filters(w, stride, m)`` gives U
    (default :func:`filter_transform`; a layer passes one that keeps U for a whole batch).

    Returns (out (N, Ho, Wo, F), U, V, xpad): the transformed filters and input tiles, for the
    backward pass, and the input as read, with zeros added at the bottom and right when m does
    not divide Ho or Wo (the last tiles read past the edge; their extra outputs are dropped).
    With ``keep_tiles=False`` V is None (a weight gradient transforms xpad again), and where
    OpenBLAS multiplies small pieces of products in place the steps run a block of images at a
    time ("Blocks of images" below): the same result, bit for bit.
    """
    return _conv2d(*check_convolution(xpad, w, stride, Ho, Wo, check_applies), transform_filters,
                   check_bool(keep_tiles, "keep_tiles"))


def _conv2d(xpad, w, stride, Ho, Wo, transform_filters, keep_tiles=True):
    """:func:`conv2d` of arguments checked already (``conv2d_forward`` checks them for it: the
    Python between two kernels holds the GIL, see ``tinyadv/threads.py``)."""
    dtype = np.promote_types(xpad.dtype, w.dtype)  # (as check_convolution: both transformed in it)
    xpad, w = xpad.astype(dtype, copy=False), w.astype(dtype, copy=False)
    F, _, HH, _ = w.shape
    N = xpad.shape[0]
    r, m, n, Th, Tw = _tiling(HH, stride, Ho, Wo)
    xpad = _pad_to(xpad, stride * (m * Th + r - 1), stride * (m * Tw + r - 1))
    U = (transform_filters or filter_transform)(w, stride, m)  # (n, n, K, F)
    blocks = not keep_tiles and _small_products_here(xpad, U)  # ("Blocks of images" below)
    gemm = _gemm(dtype) if blocks else None
    pieces = _pieces_and_block(N, Th * Tw, U.shape[2], F, xpad, U) if gemm is not None else None
    if pieces is not None:  # by blocks of images, in one call
        rows, block = pieces
        out = np.empty((N, m * Th, m * Tw, F), dtype=dtype)
        BT, _, AT = (a.astype(dtype) for a in _matrices(m, r))
        _conv2d_blocks_numba(gemm, np.ascontiguousarray(xpad), stride, m, BT, AT, Th, Tw,
                             np.ascontiguousarray(U, dtype=dtype), rows, block, out, False)
        return out[:, :Ho, :Wo], U, None, xpad
    V = _input_transform(xpad, stride, m, r, Th, Tw)  # (n, n, T, K)
    M = matmul(V.reshape(n * n, N * Th * Tw, V.shape[3]), U.reshape(n * n, U.shape[2], F))
    out = _output_transform(M.reshape(n, n, N * Th * Tw, F), N, m, Th, Tw)[:, :Ho, :Wo]
    return out, U, (V if keep_tiles else None), xpad


def _gemm_rows(M, K, N, a, b):
    """The rows of each piece of a product (M, K) @ (K, N) as ``kernels.matmul`` cuts it
    (``kernels.product_rows``, at least 1; a, b give the dtypes), or None where matmul would
    hand a piece to gemv instead of gemm (``kernels.pieces_by_gemm``): the compiled loops that
    call gemm themselves take the products only where this is not None."""
    rows = max(product_rows(M, K, N, a, b), 1)
    return rows if pieces_by_gemm(M, N, rows) else None


def _pieces_and_block(N, tiles, K, F, a, b):
    """(rows, block): the rows of each piece of the products of N·tiles tiles by K channels by F
    filters (:func:`_gemm_rows`), and the images of a block: the fewest whole images whose tiles
    fill whole pieces, or all N if the products are whole; or None where a piece is one that
    matmul does not hand to gemm."""
    T = N * tiles
    rows = _gemm_rows(T, K, F, a, b)
    if rows is None:
        return None
    if rows >= T:
        return max(T, 1), max(N, 1)
    return rows, min(N, rows // math.gcd(rows, tiles))


def check_convolution(xpad, w, stride, Ho, Wo, check_method):
    """Check the arguments of a convolution by Winograd (this module's or
    ``winograd_rows``'s, whose ``check_applies`` is ``check_method``); return them as
    ``(xpad, w, stride, Ho, Wo)``, xpad and w in one dtype. A float32 and a float64 operand:
    both transforms in float64, as im2col's product would be (a float32 transform would round
    the filters or the tiles to float32 on the way)."""
    xpad = check_array(xpad, "xpad", ndim=4, finite=False)
    w = check_array(w, "w", ndim=4, finite=False)
    stride = check_positive_int(stride, "stride")
    C, HH, WW = w.shape[1:]
    check_method(HH, WW, stride)
    if xpad.shape[3] != C:
        raise ValueError(f"channel mismatch: xpad {xpad.shape} has {xpad.shape[3]} channels "
                         f"(last axis), w {w.shape} expects {C}")
    expected = (output_size(xpad.shape[1], HH, stride, 0, 0),
                output_size(xpad.shape[2], WW, stride, 0, 0))
    if (Ho, Wo) != expected or expected[0] < 1 or expected[1] < 1:
        raise ValueError(f"Ho, Wo = {Ho}, {Wo} is not the output size of a {HH}x{WW} kernel at "
                         f"stride {stride} over xpad of shape {xpad.shape}: {expected}")
    dtype = np.promote_types(xpad.dtype, w.dtype)
    return xpad.astype(dtype, copy=False), w.astype(dtype, copy=False), stride, *expected


def conv2d_backward(dout, U, w_shape, stride, xpad_shape, *, V=None, xpad=None, Ut=None,
                    need_input_grad=True, need_param_grads=True):
    """Gradients of :func:`conv2d`: dout (N, Ho, Wo, F) -> (dxpad of ``xpad_shape`` or None,
    dw of ``w_shape`` or None). The weight gradient needs the tiles V, or the input xpad (as
    :func:`conv2d` returned it) to transform again. The input gradient multiplies by
    ``Ut = transposed_filters(U)``, computed here unless given (a layer keeps it for a batch)."""
    need_input_grad = check_bool(need_input_grad, "need_input_grad")
    need_param_grads = check_bool(need_param_grads, "need_param_grads")
    dout = check_array(dout, "dout", ndim=4, finite=False)
    F, C, HH, WW = w_shape = check_sizes(w_shape, "w_shape", "F, C, HH, WW")
    xpad_shape = check_sizes(xpad_shape, "xpad_shape", "N, Hp, Wp, C")
    N, Ho, Wo, _ = dout.shape
    if (N, F) != (xpad_shape[0], dout.shape[3]) or xpad_shape[3] != C:
        raise ValueError(f"dout (N, Ho, Wo, F) of shape {dout.shape}, w_shape {w_shape} and "
                         f"xpad_shape {xpad_shape} are not of one convolution")
    if HH != WW:
        raise ValueError(f"Winograd's F(m x m, r x r) needs a square kernel, got w_shape {w_shape}")
    stride = check_positive_int(stride, "stride")
    r, m, n, Th, Tw = tiling(HH, stride, Ho, Wo)
    _check_covers(xpad_shape, stride, m, r, Th, Tw, "xpad_shape")
    K = stride * stride * C
    U = check_array(U, "U", ndim=4, finite=False)
    if U.shape != (n, n, K, F):
        raise ValueError(f"U must have shape (n, n, s*s*C, F) = {(n, n, K, F)}, got {U.shape}")
    if need_param_grads and V is None and xpad is None:
        raise ValueError("the weight gradient needs the input tiles V or the input xpad")
    if need_param_grads and V is not None:
        V = check_array(V, "V", ndim=4, finite=False)
        if V.shape != (n, n, N * Th * Tw, K):
            raise ValueError(f"V must have shape (n, n, N*Th*Tw, s*s*C) = "
                             f"{(n, n, N * Th * Tw, K)}, got {V.shape}")
    elif need_param_grads:
        xpad = check_array(xpad, "xpad", ndim=4, finite=False)
        if xpad.shape != xpad_shape:
            raise ValueError(f"xpad must have xpad_shape {xpad_shape}, got {xpad.shape}")
    Ut = _checked_transpose(U, Ut) if need_input_grad else None
    return _conv2d_backward(dout, U, w_shape, stride, xpad_shape, V, xpad, Ut, need_input_grad,
                            need_param_grads)


def _conv2d_backward(dout, U, w_shape, stride, xpad_shape, V, xpad, Ut, need_input_grad,
                     need_param_grads):
    """:func:`conv2d_backward` of arguments checked already (``conv2d_backward`` of
    ``tinyadv/layers/conv.py`` checks them for it), Ut given where the input gradient is asked
    for."""
    F, C, HH, _ = w_shape
    N, Ho, Wo, _ = dout.shape
    r, m, n, Th, Tw = _tiling(HH, stride, Ho, Wo)
    K, T = stride * stride * C, N * Th * Tw
    dout = _pad_to(dout, m * Th, m * Tw)
    if need_param_grads and V is None:
        V = _input_transform(xpad, stride, m, r, Th, Tw)
    gemm = _one_call_gemm(dout, U, V if need_param_grads else U, Ut if need_input_grad else U)
    # The one call ("One call", below) where gemm is lent and every asked product goes to it.
    rows_dU = _gemm_rows(K, T, F, U, U) if gemm is not None and need_param_grads else 1
    rows_dV = _gemm_rows(T, F, K, U, U) if gemm is not None and need_input_grad else 1
    if gemm is not None and rows_dU is not None and rows_dV is not None:
        dtype = dout.dtype
        BT, G, AT = (a.astype(dtype) for a in _matrices(m, r))
        dw = np.empty((F, C, r * stride, r * stride), dtype) if need_param_grads else None
        dxpad = np.zeros(xpad_shape, dtype) if need_input_grad else None
        unused = np.empty((1, 1, 1, 1), dtype)  # (for what is not asked for)
        _conv2d_backward_numba(
            gemm, np.ascontiguousarray(dout), stride, m, BT, G, AT, Th, Tw,
            np.ascontiguousarray(Ut) if need_input_grad else unused[0],
            np.ascontiguousarray(V) if need_param_grads else unused,
            rows_dU, rows_dV, unused if dw is None else dw, unused if dxpad is None else dxpad,
            need_param_grads, need_input_grad)
        return dxpad, dw
    dM = _output_transform_adjoint(dout, n, m, Th, Tw).reshape(n * n, T, F)
    dxpad = dw = None
    if need_param_grads:
        dU = matmul(V.reshape(n * n, T, V.shape[3]).transpose(0, 2, 1), dM)
        dw = _filter_transform_adjoint(dU.reshape(n, n, K, F), stride, C, m)
    if need_input_grad:
        dV = matmul(dM, Ut)
        dV = dV.reshape(n, n, T, dV.shape[2])
        dxpad = _input_transform_adjoint(dV, stride, m, xpad_shape, Th, Tw)
    return dxpad, dw


def transposed_filters(U):
    """The transformed filters U (..., K, F) as the input gradient multiplies by them: Uᵀ at
    every point, in C order, (P, F, K) with P the points (n·n here, n in ``winograd_rows``).

    dV = dM Uᵀ: OpenBLAS's small-matrix kernels multiply a transposed operand at about half
    the speed of one in C order, so the copy pays; a ``Conv2D`` in a model makes it once per
    batch from the U it keeps (``Conv2D.hold_weights``), instead of once per chunk. On the
    talk's CNN, one thread, 32 float32 images, dV's products took 496 µs for conv2 with Uᵀ
    given against 568 copying it, 88 for conv3 against 179 (its product, too small to be cut
    into pieces, ran with Uᵀ as a transposed view); float64 977 against 1,135, 176 against 268."""
    U = check_array(U, "U", min_ndim=3, finite=False)
    points = math.prod(U.shape[:-2])  # (not -1: U may have no channels or no filters)
    return np.ascontiguousarray(U.reshape(points, *U.shape[-2:]).transpose(0, 2, 1))


def _checked_transpose(U, Ut):
    """``Ut`` in U's dtype if it has the shape of U's transpose as :func:`transposed_filters`
    lays it out (ValueError for another), else that transpose, computed."""
    if Ut is None:
        return transposed_filters(U)
    shape = (math.prod(U.shape[:-2]), U.shape[-1], U.shape[-2])
    Ut = check_array(Ut, "Ut", ndim=3, finite=False)
    if Ut.shape != shape:
        raise ValueError(f"Ut must be transposed_filters(U), of shape {shape}, got {Ut.shape}")
    return np.ascontiguousarray(Ut, dtype=U.dtype)


def _pad_to(x, rows, columns):
    """x (N, H, W, C) with zeros added at the bottom and right up to rows × columns; x itself
    when it is large enough."""
    extra_rows, extra_columns = max(rows - x.shape[1], 0), max(columns - x.shape[2], 0)
    if extra_rows == extra_columns == 0:
        return x
    return np.pad(x, ((0, 0), (0, extra_rows), (0, extra_columns), (0, 0)))


# --------------------------------------------------------------------------------------------
# Readable NumPy references


def filter_transform(w, stride, m):
    """U = G g Gᵀ for every filter g of the phases: w (F, C, rs, rs) -> U (n, n, s²·C, F).

    Written as two matrix products, as the formula reads: the taps of every filter laid out
    (r, r, K·F), G times them down the first axis (G g, (n, r, K·F)), then G times that down
    the second (G g Gᵀ), U[ξ, ν] = Σ_q G[ν, q] Σ_p G[ξ, p] g[p, q]. (As one product, the
    Kronecker product G ⊗ G (n² × r²) times the r² taps, it took 1.6-2.8 times as long in
    float32 and 1.5 in float64: products of 9 or 25 columns run far from OpenBLAS's speed.)

    NumPy only, no Numba kernel beside it: a model transforms its filters once per batch
    (``Conv2D.hold_weights``), not once per chunk, but then the batch's other chunks wait for
    it (on the talk's CNN, one thread: conv2's and conv3's 0.10-0.16 ms in float32, 0.15-0.20
    in float64). A compiled loop took 0.59 ms against the Kronecker product's 0.77 ms, and its
    compilation 2 s of the cold start.

    Refuses (TypeError) a w that is not float32 or float64: the fractions of G would be truncated.
    """
    w = check_array(w, "w", ndim=4, finite=False)
    stride = check_positive_int(stride, "stride")
    check_applies(w.shape[2], w.shape[3], stride)
    F, C = w.shape[:2]
    s, r = stride, w.shape[2] // stride
    n = m + r - 1
    G = matrices(m, r)[1].astype(w.dtype)
    # taps[p, (q, a, b, c, f)] = w[f, c, s·p + a, s·q + b]
    K = s * s * C
    taps = w.reshape(F, C, r, s, r, s).transpose(2, 4, 3, 5, 1, 0).reshape(r, r * K * F)
    rows = (G @ taps).reshape(n, r, K * F)  # Σ_p G[ξ, p] g[p, q]
    return np.matmul(G, rows).reshape(n, n, K, F)  # Σ_q G[ν, q] (...)[ξ, q]


def filter_transform_adjoint_reference(dU, stride, C, m):
    """dg = Gᵀ dU G, back in PyTorch's layout: dU (n, n, s²·C, F) -> dw (F, C, rs, rs). Refuses
    what :func:`filter_transform_adjoint` refuses."""
    dU, stride, C, m = _check_filter_transform_adjoint(dU, stride, C, m)
    s, n, F = stride, dU.shape[0], dU.shape[3]
    r = n - m + 1
    G = matrices(m, r)[1]
    taps = np.kron(G, G).T.astype(dU.dtype) @ dU.reshape(n * n, dU.shape[2] * F)  # (r², K·F)
    dw = taps.reshape(r, r, s, s, C, F).transpose(5, 4, 0, 2, 1, 3)  # (F, C, p, a, q, b)
    return np.ascontiguousarray(dw).reshape(F, C, r * s, r * s)


def input_tiles_reference(xpad, stride, m, r, Th, Tw):
    """The n×n input tiles of every phase, T = N·Th·Tw of them (NumPy reference).

    xpad (N, Hp, Wp, C), channels last, with Hp, Wp >= s·(m·Th + r − 1), s·(m·Tw + r − 1)
    -> d (N, Th, Tw, n, n, s²·C): d[n, ti, tj, u, v, (a, b, c)] = xpad[n, s·(m·ti + u) + a,
    s·(m·tj + v) + b, c]; the arguments checked as :func:`input_transform` checks them.
    """
    xpad, stride, m, r, Th, Tw = _check_input_transform(xpad, stride, m, r, Th, Tw)
    s, n = stride, m + r - 1
    rows, columns = m * Th + r - 1, m * Tw + r - 1
    # the phases: the space-to-depth of the pixels the tiles read, (N, rows, columns, s²·C)
    phases = space_to_depth_reference(xpad[:, :s * rows, :s * columns], s)
    d = np.lib.stride_tricks.sliding_window_view(phases, (n, n), axis=(1, 2))[:, ::m, ::m]
    return d.transpose(0, 1, 2, 4, 5, 3)


def input_transform_reference(xpad, stride, m, r, Th, Tw):
    """V = Bᵀ d B for every input tile: -> V (n, n, N·Th·Tw, s²·C) (NumPy reference). Refuses
    what :func:`input_transform` refuses."""
    d = input_tiles_reference(xpad, stride, m, r, Th, Tw)  # (checks the arguments)
    BT = matrices(m, r)[0].astype(d.dtype)
    V = np.einsum("xu,ntjuvk,yv->xyntjk", BT, d, BT)
    return np.ascontiguousarray(V.reshape(BT.shape[0], BT.shape[0], math.prod(d.shape[:3]),
                                          d.shape[-1]))


def output_transform_reference(M, N, m, Th, Tw):
    """Y = Aᵀ M A for every tile: M (n, n, N·Th·Tw, F) -> out (N, m·Th, m·Tw, F) (NumPy).
    Refuses what :func:`output_transform` refuses."""
    M, N, m, Th, Tw = _check_output_transform(M, N, m, Th, Tw)
    n, F = M.shape[0], M.shape[3]
    AT = matrices(m, n - m + 1)[2].astype(M.dtype)
    Y = np.einsum("ix,xyntuf,jy->ntiujf", AT, M.reshape(n, n, N, Th, Tw, F), AT)
    return np.ascontiguousarray(Y.reshape(N, m * Th, m * Tw, F))


def output_transform_adjoint_reference(dout, n, m, Th, Tw):
    """dM = A dY Aᵀ for every tile: dout (N, m·Th, m·Tw, F) -> dM (n, n, N·Th·Tw, F) (NumPy).
    Refuses what :func:`output_transform_adjoint` refuses."""
    dout, n, m, Th, Tw = _check_output_transform_adjoint(dout, n, m, Th, Tw)
    N, _, _, F = dout.shape
    AT = matrices(m, n - m + 1)[2].astype(dout.dtype)
    dY = dout.reshape(N, Th, m, Tw, m, F)  # [n, ti, i, tj, j, f]
    dM = np.einsum("ix,ntiujf,jy->xyntuf", AT, dY, AT)
    return np.ascontiguousarray(dM.reshape(n, n, N * Th * Tw, F))


def input_transform_adjoint_reference(dV, stride, m, xpad_shape, Th, Tw):
    """dd = B dV Bᵀ for every tile, added back onto the pixels the tile was read from (NumPy).

    dV (n, n, N·Th·Tw, s²·C) -> dxpad (N, Hp, Wp, C), zero where no tile reads. Refuses what
    :func:`input_transform_adjoint` refuses.
    """
    dV, stride, m, xpad_shape, Th, Tw = _check_input_transform_adjoint(dV, stride, m, xpad_shape,
                                                                         Th, Tw)
    N, Hp, Wp, C = xpad_shape
    s, n = stride, dV.shape[0]
    BT = matrices(m, n - m + 1)[0].astype(dV.dtype)
    dd = np.einsum("xu,xytk,yv->tuvk", BT, dV, BT).reshape(N, Th, Tw, n, n, s, s, C)
    dxpad = np.zeros(xpad_shape, dtype=dV.dtype)
    for ti in range(Th):
        for tj in range(Tw):
            for u in range(n):
                for v in range(n):
                    for a in range(s):
                        for b in range(s):
                            pixel = (s * (m * ti + u) + a, s * (m * tj + v) + b)
                            dxpad[:, pixel[0], pixel[1]] += dd[:, ti, tj, u, v, a, b]
    return dxpad


# --------------------------------------------------------------------------------------------
# Numba kernels: the same transforms. Each combines runs of memory with a matrix's entries,
# rows first, then columns: target[x] = Σ_u matrix[x, u] · source[u], skipping the zeros.
# The two adjoints that gather a grid back share that pattern (_adjoint_sandwich: the grid is
# passed as its array and an index, so each run is read as dV[x, y, t], known to be
# contiguous); the other kernels write it out on their own indexing (the output transform
# through _adjoint_sandwich and a tile buffer copied into place ran 1.3-1.5 times slower,
# the copy into a strided block of the output being the cost). A helper taking the grid
# as a strided 3-D view (M[:, :, t], say) made the transforms 2-4 times slower: Numba types
# such a view's runs as of unknown stride and does not vectorize them.


@njit(cache=True, nogil=True, inline="always")
def _combine(coefficient, source, target, first):
    """target = coefficient · source (first) or target += coefficient · source, elementwise."""
    if first:
        for c in range(target.size):
            target[c] = coefficient * source[c]
    else:
        for c in range(target.size):
            target[c] += coefficient * source[c]


@njit(nogil=True, no_cfunc_wrapper=True)
def _adjoint_sandwich(L, source, index, rows, out):
    """out[u, v] = Σ_{x,y} L[x, u] · source[x, y, index] · L[y, v], that is Lᵀ S L for the grid
    of runs S = source[:, :, index], rows first (``rows`` holds Lᵀ S). The two adjoints that
    gather a grid of products back, of the input tiles and of the filters, are this.

    A call, not inlined into the two (as ``_combine`` is into every loop): compiled once for
    both, it took 0.9 s off a cold start (13.0-13.1 s against 13.9-14.0 s here), and each
    call does a whole tile, so the two ran as fast as before (within 5%). Not cached on its
    own: its code goes into its callers' cached code, and a warm start loads nothing more."""
    for u in range(L.shape[1]):
        for y in range(L.shape[0]):
            first = True
            for x in range(L.shape[0]):
                if L[x, u] != 0:
                    _combine(L[x, u], source[x, y, index], rows[u, y], first)
                    first = False
    for u in range(L.shape[1]):
        for v in range(L.shape[1]):
            first = True
            for y in range(L.shape[0]):
                if L[y, v] != 0:
                    _combine(L[y, v], rows[u, y], out[u, v], first)
                    first = False


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _input_transform_numba(xpad, stride, m, BT, Th, Tw, V):
    N, Hp, Wp, C = xpad.shape
    s, n = stride, BT.shape[0]
    # Along a pixel row the column phases b of a point lie side by side, as in V's K = (a, b, c):
    # for row phase a, the (b, c) of a tile's column v are one run of s·C. The rows step (Bᵀ d)
    # runs along whole pixel rows, once for all the tiles of a row of tiles (which overlap by
    # r − 1 points): each column's sums are those of the tile by tile loop, in fewer and longer
    # runs (on the talk's conv2 and conv3 1.5 times as fast in float32, 1.1-1.3 in float64,
    # and 0.5 s less to compile per dtype).
    run = s * C
    source = xpad.reshape(N, Hp, Wp * C)
    rows = np.empty((n, Wp * C), dtype=V.dtype)  # Bᵀ d of one row of tiles and row phase
    for i in range(N):
        for ti in range(Th):
            for a in range(s):
                top = s * m * ti + a
                for x in range(n):
                    first = True
                    for u in range(n):
                        if BT[x, u] != 0:
                            _combine(BT[x, u], source[i, top + s * u], rows[x], first)
                            first = False
                k = a * run
                for tj in range(Tw):
                    t = (i * Th + ti) * Tw + tj
                    left = s * m * tj * C
                    for x in range(n):
                        for y in range(n):
                            first = True
                            for v in range(n):
                                if BT[y, v] != 0:
                                    _combine(BT[y, v], rows[x, left + v * run:left + (v + 1) * run],
                                             V[x, y, t, k:k + run], first)
                                    first = False


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, inline="always")
def _input_transform_adjoint_numba(dV, stride, m, BT, Th, Tw, dxpad):
    N, Hp, Wp, C = dxpad.shape
    s, n = stride, BT.shape[0]
    run = s * C  # as in _input_transform_numba
    K = s * run  # all the phases (a, b, c) of a tile point: one run of dV
    target = dxpad.reshape(N, Hp, Wp * C)
    rows = np.empty((n, n, K), dtype=dV.dtype)  # B dV of one tile
    tile = np.empty((n, n, K), dtype=dV.dtype)  # B dV Bᵀ
    for i in range(N):
        for ti in range(Th):
            for tj in range(Tw):
                _adjoint_sandwich(BT, dV, (i * Th + ti) * Tw + tj, rows, tile)
                left = s * m * tj * C
                for a in range(s):  # row phase a of pixel (u, v) goes to row s·(m·ti + u) + a
                    for u in range(n):
                        row = s * (m * ti + u) + a
                        for v in range(n):
                            dd = tile[u, v, a * run:(a + 1) * run]
                            to = target[i, row, left + v * run:left + (v + 1) * run]
                            for c in range(run):
                                to[c] += dd[c]


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _output_transform_numba(M, m, AT, Th, Tw, out):
    N, _, _, F = out.shape
    n = AT.shape[1]
    rows = np.empty((m, n, F), dtype=out.dtype)  # Aᵀ M of one tile
    for i in range(N):
        for ti in range(Th):
            for tj in range(Tw):
                t = (i * Th + ti) * Tw + tj
                for row in range(m):
                    for y in range(n):
                        first = True
                        for x in range(n):
                            if AT[row, x] != 0:
                                _combine(AT[row, x], M[x, y, t], rows[row, y], first)
                                first = False
                for row in range(m):
                    for column in range(m):
                        first = True
                        for y in range(n):
                            if AT[column, y] != 0:
                                _combine(AT[column, y], rows[row, y],
                                         out[i, m * ti + row, m * tj + column], first)
                                first = False


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, inline="always")
def _output_transform_adjoint_numba(dout, m, AT, Th, Tw, dM):
    N, _, _, F = dout.shape
    n = AT.shape[1]
    rows = np.empty((n, m, F), dtype=dM.dtype)  # A dY of one tile
    for i in range(N):
        for ti in range(Th):
            for tj in range(Tw):
                t = (i * Th + ti) * Tw + tj
                for x in range(n):
                    for column in range(m):
                        first = True
                        for row in range(m):
                            if AT[row, x] != 0:
                                _combine(AT[row, x], dout[i, m * ti + row, m * tj + column],
                                         rows[x, column], first)
                                first = False
                        if first:  # a zero column of Aᵀ
                            rows[x, column, :] = 0
                for x in range(n):
                    for y in range(n):
                        first = True
                        for column in range(m):
                            if AT[column, y] != 0:
                                _combine(AT[column, y], rows[x, column], dM[x, y, t], first)
                                first = False
                        if first:
                            dM[x, y, t, :] = 0


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, inline="always")
def _filter_transform_adjoint_numba(dU, stride, G, dw):
    F, C = dw.shape[:2]
    s, n, r = stride, G.shape[0], G.shape[1]
    rows = np.empty((r, n, F), dtype=dw.dtype)  # Gᵀ dU
    taps = np.empty((r, r, F), dtype=dw.dtype)
    for a in range(s):
        for b in range(s):
            for c in range(C):
                _adjoint_sandwich(G, dU, (a * s + b) * C + c, rows, taps)
                for p in range(r):
                    for q in range(r):
                        for f in range(F):
                            dw[f, c, s * p + a, s * q + b] = taps[p, q, f]


# Blocks of images. Where the input tiles V are not kept for a weight gradient (a layer in
# evaluation mode: inference, and the forward pass of an attack), the forward pass runs in one
# compiled call, a few images at a time: the block's tiles V, their products M = V @ U (OpenBLAS's
# gemm called from the loop, as ``kernels._rows_bands_numba`` calls it) and its outputs, before
# the next block, so that V and M stay in the core's cache (conv2 of a chunk of 32 float32 images
# makes 1.6 MB of V and 0.8 MB of M, more than a Zen 4's 1 MB of L2 per core; a block of 8 images,
# a quarter of that) and the GIL is let go once, not three times. A block is the fewest whole
# images whose tiles fill whole pieces of the products as ``kernels.matmul`` cuts them
# (``kernels.product_rows``), so every product is the same piece as in the steps one by one and
# the result the same, bit for bit; products not cut into pieces are one block. Measured on the
# talk's CNN (a Zen 4, 2 threads, the code before and after in fresh processes taking turns, 3 s
# each): inference of 512 images 1.07-1.09 times as fast in float32 (10 pairs, twice), 1.12-1.18
# in float64 (6 pairs); forward + input gradient 1.02 in float32 (8 pairs). In one call without
# the blocks (a block of 32 images) inference gained 1.03-1.04, with blocks of 16 images 1.075
# (40 pairs each, taking turns in one process). The input gradient alone ran 1.04 times as fast
# again by blocks (float32; 1.10 in float64), and the training step as fast in one call as in
# steps (0.99, 40 pairs), but a kernel compiles its transforms again into itself (0.7-0.9 s per
# dtype on a cold start), and the attacks were past their targets already: only the forward
# pass without tiles to keep runs so. And only where OpenBLAS multiplies small pieces of products
# in place (``kernels._small_products_here``: its AVX-512 kernels, BLAS on one thread). Elsewhere
# the products are whole, a chunk is one block, and the one call ran as fast as the steps (with
# OpenBLAS's AVX2 kernels forced on the Zen 4, inference taking turns with the steps in one
# process: float32 1.03 +- 0.02, 0.98 +- 0.04 and 1.01 +- 0.02 times as fast, in 60, 30 and 40
# pairs; float64 0.98 +- 0.02, 1.00 +- 0.01 and 1.00 +- 0.02 in 30, 50 and 30), while its
# compiling took 0.7-0.9 s per dtype more of a cold start (all the first results there:
# 10.9-11.6 s without it, 12.4-13.1 s with it, three fresh caches each), on the machines whose
# cold start is the slowest (the Zen 2's, with AVX2).


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _conv2d_blocks_numba(gemm, xpad, stride, m, BT, AT, Th, Tw, U, rows, block, out, relu):
    """out (N, m·Th, m·Tw, F) = the convolution of xpad (N, Hp, Wp, C) by the transformed
    filters U (n, n, K, F), ``block`` images at a time, the products in pieces of ``rows`` rows;
    with ``relu`` each block's outputs put through a ReLU (``kernels._relu_in_place_numba``)."""
    N = xpad.shape[0]
    n, _, K, F = U.shape
    tiles = Th * Tw
    V = np.empty((n, n, block * tiles, K), dtype=out.dtype)
    M = np.empty((n, n, block * tiles, F), dtype=out.dtype)
    for first in range(0, N, block):
        images = min(block, N - first)
        T = images * tiles
        if images < block:  # (the last block: arrays of its size, in C order as the loops want)
            V, M = np.empty((n, n, T, K), dtype=out.dtype), np.empty((n, n, T, F), dtype=out.dtype)
        _input_transform_numba(xpad[first:first + images], stride, m, BT, Th, Tw, V)
        for x in range(n):
            for y in range(n):
                for row in range(0, T, rows):
                    gemm(_ROW_MAJOR, _NO_TRANSPOSE, _NO_TRANSPOSE, min(rows, T - row), F, K, 1.0,
                         V[x, y, row:].ctypes.data, K, U[x, y].ctypes.data, F, 0.0,
                         M[x, y, row:].ctypes.data, F)
        _output_transform_numba(M, m, AT, Th, Tw, out[first:first + images])
        if relu:  # (out is C-ordered: ravel gives a view)
            _relu_in_place_numba(out[first:first + images].ravel())


# One call. A training step's backward pass through Winograd's convolution is five steps (the
# output transform's adjoint, the two products, the two other adjoints); between them a chunk runs
# Python, which holds the GIL, and takes the GIL back after each (``tinyadv/threads.py``). Where
# OpenBLAS's gemm can be called from compiled code (``kernels._gemm``: one float dtype),
# ``_conv2d_backward`` runs the five in one call that lets go of the GIL once: the same kernels,
# and the same products, piece for piece, as ``kernels.matmul`` cuts them
# (``kernels.product_rows``), so the same numbers bit for bit; not where a piece has one row or
# one column (one tile, one filter), which matmul multiplies by gemv (``kernels.pieces_by_gemm``;
# the blocks above likewise). On the talk's CNN (the Xeon of README's Speed, 2 threads, 30 rounds
# of 10 steps taking turns in one process) a training step of 128 images ran 1.044 times as fast
# in float64 and 1.023 in float32, the forward pass and input gradient of 512 images 1.015 and
# 1.013 (in fresh processes taking turns, 12 pairs, the training step 1.018 and 1.014). The
# forward pass in one call as well (its tiles kept) gained nothing more there (0.999 alone, 1.024
# with the backward pass in a prototype), so it runs in its three steps. The three adjoints are
# inlined into the one call (``inline="always"``) rather than compiled on their own and linked
# into it: a cold start (bench_cnn.py's first results) took 13.4 s so, 14.3 s the other way,
# against 12.9-13.2 s with the steps alone.


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _conv2d_backward_numba(gemm, dout, stride, m, BT, G, AT, Th, Tw, Ut, V, rows_dU, rows_dV, dw,
                           dxpad, need_dw, need_dxpad):
    """The steps of ``_conv2d_backward`` in one call: dM = the output transform's adjoint of
    dout (N, m·Th, m·Tw, F); with ``need_dw``, dw (F, C, r·s, r·s) from dU = Vᵀ dM at each
    point (V (n, n, T, K)), in pieces of ``rows_dU`` rows; with ``need_dxpad``, dxpad (N, Hp,
    Wp, C; zeros on entry) from dV = dM Uᵀ (Ut (n·n, F, K)), in pieces of ``rows_dV`` rows."""
    N, F = dout.shape[0], dout.shape[3]
    n = AT.shape[1]
    T = N * Th * Tw
    dM = np.empty((n, n, T, F), dtype=dout.dtype)
    _output_transform_adjoint_numba(dout, m, AT, Th, Tw, dM)
    if need_dw:
        K = V.shape[3]
        dU = np.empty((n, n, K, F), dtype=dout.dtype)
        for x in range(n):
            for y in range(n):
                for row in range(0, K, rows_dU):  # the rows of dU are columns of V: Vᵀ's rows
                    gemm(_ROW_MAJOR, _TRANSPOSE, _NO_TRANSPOSE, min(rows_dU, K - row), F, T, 1.0,
                         V[x, y, :, row:].ctypes.data, K, dM[x, y].ctypes.data, F, 0.0,
                         dU[x, y, row:].ctypes.data, F)
        _filter_transform_adjoint_numba(dU, stride, G, dw)
    if need_dxpad:
        K = Ut.shape[2]
        dV = np.empty((n, n, T, K), dtype=dout.dtype)
        for x in range(n):
            for y in range(n):
                for row in range(0, T, rows_dV):
                    gemm(_ROW_MAJOR, _NO_TRANSPOSE, _NO_TRANSPOSE, min(rows_dV, T - row), K, F,
                         1.0, dM[x, y, row:].ctypes.data, F, Ut[x * n + y].ctypes.data, K, 0.0,
                         dV[x, y, row:].ctypes.data, K)
        _input_transform_adjoint_numba(dV, stride, m, BT, Th, Tw, dxpad)


def _one_call_gemm(*arrays):
    """OpenBLAS's gemm for ``_conv2d_backward_numba`` where every one of ``arrays`` has one
    dtype, float32 or float64, and NumPy's OpenBLAS lends it (``kernels._gemm``); else None."""
    dtype = arrays[0].dtype
    if dtype in _BLAS_FLOATS and all(a.dtype == dtype for a in arrays):
        return _gemm(dtype)
    return None


# The functions that call the kernels check the sizes they are given against each other first
# (a few comparisons, no pass over the data): the compiled loops do not check their indices, and
# a tile read or written past an array's end is garbage or a crash, not an error.


def _grid(a, name, m):
    """n and r of an n×n grid of transformed tiles ``a`` (n, n, ...) of F(m, r), n = m + r − 1."""
    n = a.shape[0]
    if a.shape[1] != n or n <= m:
        raise ValueError(f"{name} must start with the n x n positions of a tile, n = m + r - 1 "
                         f"> m = {m}, got shape {a.shape}")
    return n, n - m + 1


def _check_covers(xpad_shape, stride, m, r, Th, Tw, name):
    """Raise ValueError unless an input of ``xpad_shape`` (N, Hp, Wp, C) holds every pixel that
    Th×Tw tiles of F(m, r) at this stride read: s·(m·Th + r − 1) rows, s·(m·Tw + r − 1) columns."""
    rows, columns = stride * (m * Th + r - 1), stride * (m * Tw + r - 1)
    if xpad_shape[1] < rows or xpad_shape[2] < columns:
        raise ValueError(f"{name} {tuple(xpad_shape)} is too small for {Th}x{Tw} tiles of "
                         f"F({m}, {r}) at stride {stride}: they read {rows}x{columns} pixels")


# Each check below serves both versions of its transform, the NumPy reference and the Numba one.


def _check_filter_transform_adjoint(dU, stride, C, m):
    dU = check_array(dU, "dU", ndim=4, finite=False)
    stride, C = check_positive_int(stride, "stride"), check_positive_int(C, "C")
    m = check_positive_int(m, "m")
    _grid(dU, "dU", m)
    if dU.shape[2] != stride * stride * C:
        raise ValueError(f"dU must have s*s*C = {stride * stride * C} channels (axis 2) for C = "
                         f"{C} at stride {stride}, got shape {dU.shape}")
    return dU, stride, C, m


def filter_transform_adjoint(dU, stride, C, m):
    """Numba version of :func:`filter_transform_adjoint_reference` (same arguments, same result)."""
    return _filter_transform_adjoint(*_check_filter_transform_adjoint(dU, stride, C, m))


def _filter_transform_adjoint(dU, stride, C, m):
    n, F = dU.shape[0], dU.shape[3]
    r = n - m + 1
    G = _matrices(m, r)[1].astype(dU.dtype)
    dw = np.empty((F, C, r * stride, r * stride), dtype=dU.dtype)
    _filter_transform_adjoint_numba(np.ascontiguousarray(dU), stride, G, dw)
    return dw


def _check_input_transform(xpad, stride, m, r, Th, Tw):
    xpad = check_array(xpad, "xpad", ndim=4, finite=False)
    stride = check_positive_int(stride, "stride")
    Th, Tw = check_positive_int(Th, "Th"), check_positive_int(Tw, "Tw")
    matrices(m, r)  # checks m and r
    _check_covers(xpad.shape, stride, m, r, Th, Tw, "xpad of shape")
    return xpad, stride, m, r, Th, Tw


def input_transform(xpad, stride, m, r, Th, Tw):
    """Numba version of :func:`input_transform_reference` (same arguments, same result)."""
    return _input_transform(*_check_input_transform(xpad, stride, m, r, Th, Tw))


def _input_transform(xpad, stride, m, r, Th, Tw):
    BT = _matrices(m, r)[0].astype(xpad.dtype)
    N, _, _, C = xpad.shape
    n = BT.shape[0]
    V = np.empty((n, n, N * Th * Tw, stride * stride * C), dtype=xpad.dtype)
    _input_transform_numba(np.ascontiguousarray(xpad), stride, m, BT, Th, Tw, V)
    return V


def _check_output_transform(M, N, m, Th, Tw):
    M = check_array(M, "M", ndim=4, finite=False)
    N = check_positive_int(N, "N", minimum=0)
    m, Th, Tw = check_positive_int(m, "m"), check_positive_int(Th, "Th"), check_positive_int(Tw, "Tw")
    _grid(M, "M", m)
    if M.shape[2] != N * Th * Tw:
        raise ValueError(f"M must hold N*Th*Tw = {N * Th * Tw} tiles (axis 2), got shape {M.shape}")
    return M, N, m, Th, Tw


def output_transform(M, N, m, Th, Tw):
    """Numba version of :func:`output_transform_reference` (same arguments, same result)."""
    return _output_transform(*_check_output_transform(M, N, m, Th, Tw))


def _output_transform(M, N, m, Th, Tw):
    AT = _matrices(m, M.shape[0] - m + 1)[2].astype(M.dtype)
    out = np.empty((N, m * Th, m * Tw, M.shape[3]), dtype=M.dtype)
    _output_transform_numba(np.ascontiguousarray(M), m, AT, Th, Tw, out)
    return out


def _check_output_transform_adjoint(dout, n, m, Th, Tw):
    dout = check_array(dout, "dout", ndim=4, finite=False)
    n, m = check_positive_int(n, "n"), check_positive_int(m, "m")
    Th, Tw = check_positive_int(Th, "Th"), check_positive_int(Tw, "Tw")
    if n <= m:
        raise ValueError(f"n = m + r - 1 must be > m = {m}, got n = {n}")
    if dout.shape[1:3] != (m * Th, m * Tw):
        raise ValueError(f"dout must have m*Th x m*Tw = {m * Th}x{m * Tw} pixels, got shape "
                         f"{dout.shape}")
    return dout, n, m, Th, Tw


def output_transform_adjoint(dout, n, m, Th, Tw):
    """Numba version of :func:`output_transform_adjoint_reference` (same arguments, same result)."""
    return _output_transform_adjoint(*_check_output_transform_adjoint(dout, n, m, Th, Tw))


def _output_transform_adjoint(dout, n, m, Th, Tw):
    N, _, _, F = dout.shape
    AT = _matrices(m, n - m + 1)[2].astype(dout.dtype)
    dM = np.empty((n, n, N * Th * Tw, F), dtype=dout.dtype)
    _output_transform_adjoint_numba(np.ascontiguousarray(dout), m, AT, Th, Tw, dM)
    return dM


def _check_input_transform_adjoint(dV, stride, m, xpad_shape, Th, Tw):
    dV = check_array(dV, "dV", ndim=4, finite=False)
    stride, m = check_positive_int(stride, "stride"), check_positive_int(m, "m")
    Th, Tw = check_positive_int(Th, "Th"), check_positive_int(Tw, "Tw")
    N, _, _, C = xpad_shape = check_sizes(xpad_shape, "xpad_shape", "N, Hp, Wp, C")
    n, r = _grid(dV, "dV", m)
    if dV.shape[2:] != (N * Th * Tw, stride * stride * C):
        raise ValueError(f"dV must have shape (n, n, N*Th*Tw, s*s*C) = "
                         f"{(n, n, N * Th * Tw, stride * stride * C)} for xpad_shape "
                         f"{xpad_shape}, got {dV.shape}")
    _check_covers(xpad_shape, stride, m, r, Th, Tw, "xpad_shape")
    return dV, stride, m, xpad_shape, Th, Tw


def input_transform_adjoint(dV, stride, m, xpad_shape, Th, Tw):
    """Numba version of :func:`input_transform_adjoint_reference` (same arguments, same result)."""
    return _input_transform_adjoint(*_check_input_transform_adjoint(dV, stride, m, xpad_shape,
                                                                     Th, Tw))


def _input_transform_adjoint(dV, stride, m, xpad_shape, Th, Tw):
    BT = _matrices(m, dV.shape[0] - m + 1)[0].astype(dV.dtype)
    dxpad = np.zeros(xpad_shape, dtype=dV.dtype)
    _input_transform_adjoint_numba(np.ascontiguousarray(dV), stride, m, BT, Th, Tw, dxpad)
    return dxpad
