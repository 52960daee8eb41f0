"""Winograd's F(m, r) down an image's rows, im2col across them: a convolution whose kernel is
r·stride rows tall with fewer multiplications, even on few input channels.

``tinyadv/winograd.py`` cuts the multiplications of a square kernel in both directions,
F(m×m, r×r); its products then have s²·C columns (K), and on the talk's conv1 (8×8 at stride 2 on
3 channels: K = 12) the transforms cost far more than the products save. Here Winograd's
minimal filtering runs in one direction only, down the rows, and the other direction stays
im2col's, so that a product's K is s·WW·C (48 for conv1) and the products take n/(m·r) of
im2col's multiplications (F(2, 4): 5/8).

Rows. A convolution with stride s and a kernel of r·s rows sums, for output row y, over the
kernel rows s·q + a (q < r, the row phase a < s) of input rows s·(y + q) + a: down the rows it
is a correlation of r taps on each row phase, which F(m, r) computes for m output rows at a
time (a tile) from n = m + r − 1 input rows of each phase (Lavin & Gray 2016; the matrices Bᵀ
(n, n), G (n, r) and Aᵀ (m, n) are ``winograd.matrices``). With xpad (N, Hp, Wp, C) channels
last, Ty = ⌈Ho/m⌉ tiles down an image and Wo outputs across:

    R[ξ, i, ty, a]  = Σ_u Bᵀ[ξ, u] · xpad[i, s·(m·ty + u) + a]          a pixel row (Wp, C)
    V[ξ]            = the im2col rows of R[ξ] across: row (i, ty, j), column (a, kx, c), K = s·WW·C
                      V[ξ, (i, ty, j), (a, kx, c)] = R[ξ, i, ty, a, s·j + kx, c]
    U[ξ]            = Σ_q G[ξ, q] · w[:, :, s·q + a, kx]                  (K, F), rows (a, kx, c)
    M[ξ]            = V[ξ] @ U[ξ]                                         (N·Ty·Wo, F)
    out[i, m·ty + k, j] = Σ_ξ Aᵀ[k, ξ] · M[ξ, (i, ty, j)]                 (F,)

n products of K columns instead of im2col's one of r·K: for m rows of outputs, n·K
multiplications per output pixel and filter against im2col's m·r·K. Every step is linear, so the backward pass is
the same steps transposed, in reverse order:

    dM[ξ, (i, ty, j)] = Σ_k Aᵀ[k, ξ] · dout[i, m·ty + k, j]
    dU[ξ] = V[ξ]ᵀ @ dM[ξ]            dw[:, :, s·q + a, kx] = Σ_ξ G[ξ, q] · dU[ξ, (a, kx, c)]
    dV[ξ] = dM[ξ] @ U[ξ]ᵀ            dR[ξ] = col2im of dV[ξ] across
    dxpad[i, s·(m·ty + u) + a] += Σ_ξ Bᵀ[ξ, u] · dR[ξ, i, ty, a]   (tiles overlap by r − 1 rows)

The input transform and its adjoint work on whole pixel rows (Wp·C values in a run), the
output transform and its adjoint on whole output rows (Wo·F); across, the rows of V are copied
out of R, and those of dV added back into dR, a run of WW·C values at a time, as im2col and
col2im do (``kernels.py``).

Tiles. m = 2 or 3, as ``winograd.tile_size`` takes them down one direction: whole tiles if
either makes them, and of those the fewest multiplications; an output whose rows m does not
divide gets a last tile that reads zero rows past the bottom, its extra outputs dropped.

Numbers. As ``winograd.py``: the result differs from the direct sum in rounding only (on the
talk's conv1, F(2, 4), float32: 1.8e-6 of the largest output against im2col's 2.5e-6, both
measured against float64), and with m = 2 a NaN or ∞ reaches the outputs the direct sum
reaches (an ∞ can become NaN: the transforms subtract).

Memory and speed: the products run a block of images at a time (``BLOCK_VALUES`` values of V,
a quarter of a MB in float32) so that V and M stay in the core's cache, all in one compiled
kernel that calls OpenBLAS's gemm (below). Where no gemm is found the NumPy references run.
Measured on a Zen 4, one thread, 32 float32 images, im2col's time (with its compiled bands)
over this method's for the forward pass, input gradient and weight gradient: the talk's conv1
(C = 3, 8×8 at stride 2, K = 48) with F = 32 filters 1.14, 1.13, 1.18, with F = 64 1.25, 1.20,
1.26, with F = 8 0.82, 0.94, 0.88; 3×3 at stride 1 with C = F = 32 (K = 96) 1.23, 1.23, 1.28,
C = F = 16 (K = 48) 1.07, 1.15, 1.12; 6×6 at stride 2 with C = 8, F = 16 1.11, 1.18, 1.14.
Slower where K is small: conv1 on MNIST (C = 1, K = 16) 0.97, 0.89, 0.92; 3×3 on C = 3 (K = 9)
0.92, 0.68, 0.91; 5×5 on C = 1 0.77, 0.74, 0.77. In float64, conv1: 1.10-1.22, 1.25, 1.30.
Over the talk's CNN (conv1 so, one thread, float32) the training step ran 1.04× as fast,
inference 1.05×, forward + input gradient 1.08×.

Not taken by ``method="auto"``: on two threads (a Zen 4, A/B taking turns, 9 rounds) the CNN's
training step, inference and forward + input gradient ran only 0.999, 1.046 and 1.007 times as
fast with it; and its kernel compiles in about 1.9 s per dtype: with it in the defaults the
first results of ``scripts/bench_cnn.py`` on a cold cache took 16.4-16.8 s (14.7 and 16.8 s
with it in float32 only), past the 15 s target, while without it the median of three cold
starts took 10.8-13.7 s. Set ``layer.method = "winograd_rows"`` to use it (on one thread, or
where it measures faster).
"""

import numpy as np
from numba import njit

from .checks import check_array, check_bool, check_positive_int
from .kernels import _NO_TRANSPOSE, _ROW_MAJOR, _TRANSPOSE, _gemm, check_kernel, check_sizes
from .winograd import POINTS, _checked_transpose, _matrices, check_convolution, matrices

# Values of V per block of images (see "Memory and speed" above): 2 of conv1's images.
BLOCK_VALUES = 1 << 16


def applies(HH, WW, stride):
    """Whether a kernel HH×WW at this stride is r·stride rows tall with 2 <= r <= 5."""
    HH, WW, stride = check_kernel(HH, WW, stride)
    return _applies(HH, stride)


def _applies(HH, stride):
    return HH % stride == 0 and 2 <= HH // stride <= len(POINTS)


def check_applies(HH, WW, stride):
    """Raise ValueError unless :func:`applies`."""
    if not applies(HH, WW, stride):
        raise ValueError(f"Winograd down the rows needs a kernel of r*stride rows, 2 <= r <= "
                         f"{len(POINTS)} (stride {stride}), got {HH}x{WW}")


def tile_rows(Ho, r):
    """Output rows per tile, m, for Ho output rows of r taps: of 2 and 3 (only those with
    n = m + r − 1 <= 6), those that divide Ho if any do, and of them the one with the fewest
    multiplications, ⌈Ho/m⌉·(m + r − 1) (the smaller m on a tie: it rounds less)."""
    Ho = check_positive_int(Ho, "Ho", minimum=0)
    r = check_positive_int(r, "r")
    if r > len(POINTS):
        raise ValueError(f"r must be <= {len(POINTS)}, got {r}")
    return _tile_rows(Ho, r)


def _tile_rows(Ho, r):
    sizes = [m for m in (2, 3) if m + r - 1 <= len(POINTS) + 1]
    whole = [m for m in sizes if Ho % m == 0]
    return min(whole or sizes, key=lambda m: -(-Ho // m) * (m + r - 1))


# --------------------------------------------------------------------------------------------
# What depends on the weights alone (NumPy only: a model computes it once per batch,
# ``Conv2D.hold_weights``; its adjoint once per chunk, n·K·F values)


def filter_transform(w, stride, m):
    """U[ξ] = Σ_q G[ξ, q] · w[:, :, s·q + a, kx], laid out (K, F) with rows (a, kx, c):
    w (F, C, r·s, WW) -> U (n, s·WW·C, F). Refuses (TypeError) a w that is not float32 or
    float64: the fractions of G would be truncated."""
    w = check_array(w, "w", ndim=4, finite=False)
    if w.dtype not in (np.float32, np.float64):
        raise TypeError(f"w must be float32 or float64 (G has fractions), got {w.dtype}")
    F, C, HH, WW = w.shape
    stride = check_positive_int(stride, "stride")
    check_applies(HH, WW, stride)
    s, r = stride, HH // stride
    G = matrices(m, r)[1].astype(w.dtype)
    taps = w.reshape(F, C, r, s, WW).transpose(2, 3, 4, 1, 0)  # [q, a, kx, c, f]
    return (G @ taps.reshape(r, s * WW * C * F)).reshape(G.shape[0], s * WW * C, F)


def filter_transform_adjoint(dU, stride, C, m):
    """dw[:, :, s·q + a, kx] = Σ_ξ G[ξ, q] · dU[ξ, (a, kx, c)]: dU (n, s·WW·C, F) -> dw
    (F, C, r·s, WW), r = n − m + 1."""
    dU = check_array(dU, "dU", ndim=3, finite=False)
    stride, C, m = (check_positive_int(v, name) for v, name in ((stride, "stride"), (C, "C"),
                                                                   (m, "m")))
    n, K, F = dU.shape
    if K % (stride * C):
        raise ValueError(f"dU's K = {K} (axis 1) is not s*WW*C for C = {C} at stride {stride}")
    s, WW, r = stride, K // (stride * C), n - m + 1
    G = matrices(m, r)[1].astype(dU.dtype)
    taps = (G.T @ dU.reshape(n, K * F)).reshape(r, s, WW, C, F)
    return np.ascontiguousarray(taps.transpose(4, 3, 0, 1, 2)).reshape(F, C, r * s, WW)


# --------------------------------------------------------------------------------------------
# Readable NumPy references


def input_transform_reference(xpad, stride, m, r, WW, Ty):
    """V (n, N·Ty·Wo, s·WW·C): V[ξ, (i, ty, j), (a, kx, c)] = Σ_u Bᵀ[ξ, u] ·
    xpad[i, s·(m·ty + u) + a, s·j + kx, c], Wo = (Wp − WW)//s + 1 (NumPy reference)."""
    xpad, stride, m, r, WW, Ty = _check_input_transform(xpad, stride, m, r, WW, Ty)
    N, _, Wp, C = xpad.shape
    s, n = stride, m + r - 1
    Wo = (Wp - WW) // s + 1
    top = s * (m * np.arange(Ty)[:, None] + np.arange(n))  # (Ty, n): row phase 0 of tile row u
    d = xpad[:, top[:, :, None] + np.arange(s)]  # (N, Ty, n, s, Wp, C)
    BT = matrices(m, r)[0].astype(xpad.dtype)
    R = np.einsum("xu,ntuawc->xntawc", BT, d)
    across = np.lib.stride_tricks.sliding_window_view(R, WW, axis=4)[:, :, :, :, :s * Wo:s]
    V = across.transpose(0, 1, 2, 4, 3, 6, 5)  # (n, N, Ty, Wo, s, WW, C)
    return np.ascontiguousarray(V).reshape(n, N * Ty * Wo, s * WW * C)


def output_transform_reference(M, N, m, Wo):
    """out[i, m·ty + k, j] = Σ_ξ Aᵀ[k, ξ] · M[ξ, (i, ty, j)]: M (n, N·Ty·Wo, F) -> out
    (N, m·Ty, Wo, F) (NumPy reference)."""
    M, N, m, Wo, Ty = _check_output_transform(M, N, m, Wo)
    n, F = M.shape[0], M.shape[2]
    AT = matrices(m, n - m + 1)[2].astype(M.dtype)
    out = np.einsum("kx,xntjf->ntkjf", AT, M.reshape(n, N, Ty, Wo, F))
    return np.ascontiguousarray(out).reshape(N, m * Ty, Wo, F)


def output_transform_adjoint_reference(dout, n, m):
    """dM[ξ, (i, ty, j)] = Σ_k Aᵀ[k, ξ] · dout[i, m·ty + k, j]: dout (N, m·Ty, Wo, F) -> dM
    (n, N·Ty·Wo, F) (NumPy reference)."""
    dout, n, m, Ty = _check_output_transform_adjoint(dout, n, m)
    N, _, Wo, F = dout.shape
    AT = matrices(m, n - m + 1)[2].astype(dout.dtype)
    dM = np.einsum("kx,ntkjf->xntjf", AT, dout.reshape(N, Ty, m, Wo, F))
    return np.ascontiguousarray(dM).reshape(n, N * Ty * Wo, F)


def input_transform_adjoint_reference(dV, stride, m, xpad_shape, WW, Ty):
    """The adjoint of the input transform: dV (n, N·Ty·Wo, s·WW·C) -> dxpad of ``xpad_shape``
    (N, Hp, Wp, C), each entry of dV added back, times Bᵀ[ξ, u], onto the pixel it was read
    from; zero where no tile reads (NumPy reference)."""
    dV, stride, m, xpad_shape, WW, Ty = _check_input_transform_adjoint(dV, stride, m,
                                                                         xpad_shape, WW, Ty)
    N, _, Wp, C = xpad_shape
    s, n = stride, dV.shape[0]
    Wo = (Wp - WW) // s + 1
    BT = matrices(m, n - m + 1)[0].astype(dV.dtype)
    dV = dV.reshape(n, N, Ty, Wo, s, WW, C)
    dR = np.zeros((n, N, Ty, s, Wp, C), dtype=dV.dtype)
    for j in range(Wo):
        for kx in range(WW):
            dR[:, :, :, :, s * j + kx] += dV[:, :, :, j, :, kx]
    dd = np.einsum("xu,xntawc->ntuawc", BT, dR)
    dxpad = np.zeros(xpad_shape, dtype=dV.dtype)
    for ty in range(Ty):
        for u in range(n):
            top = s * (m * ty + u)
            dxpad[:, top:top + s] += dd[:, ty, u]
    return dxpad


# --------------------------------------------------------------------------------------------
# The Numba kernel: the whole convolution, forward or backward, in one compiled loop over blocks
# of images, its products by calling OpenBLAS's gemm from the loop (``kernels._gemm``, as
# ``kernels._rows_bands_numba`` does). One kernel, not one per transform: as four kernels
# sharing a helper (compiled again for each of its call signatures) they took 3.9 s of a cold
# start per dtype, against 1.9 s; and one call per convolution keeps the GIL free (the four
# called from a Python loop over the blocks, 16 calls and their products per chunk, made the
# CNN 3% faster on one thread but no faster on two, where the threads queue for the GIL; one
# kernel 5% on both). Each of the four transforms below is written once, and combines whole
# rows with a matrix's entries, skipping its zeros (runs of memory: a pixel row of Wp·C
# values, or an output row of Wo·F).


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _winograd_rows_numba(gemm, pixels, Hp, stride, m, BT, AT, Ty, WW, C, Wo, U, Ut, block,
                         out, dout, dU, dpixels):
    """pixels (N·Hp, Wp·C): xpad's rows of pixels; U (n, K, F) and Ut = Uᵀ (n, F, K). If out
    (N·Ty·m, Wo·F) has rows, out = the convolution; else dout (N·Ty·m, Wo·F) is given and dU
    (n, K, F) += the weight gradient if it has rows, dpixels (N·Hp, Wp·C) += the input
    gradient if it has rows. ``block`` images at a time."""
    n, K, F = U.shape
    s, width, run = stride, pixels.shape[1], WW * C
    R = np.empty((n * s, width), dtype=pixels.dtype)  # one tile's transformed rows, R[ξ·s + a]
    N = pixels.shape[0] // Hp
    for first in range(0, N, block):
        images = min(block, N - first)
        rows = images * Ty * Wo
        V = np.empty((n, rows, K), dtype=pixels.dtype)
        M = np.empty((n, rows, F), dtype=pixels.dtype)
        if out.shape[0] or dU.shape[1]:
            # V: R[ξ·s + a] = Σ_u Bᵀ[ξ, u] · pixel row s·(m·ty + u) + a, then R's im2col rows
            for i in range(images):
                for ty in range(Ty):
                    R[:] = 0
                    for u in range(n):
                        for a in range(s):
                            source = pixels[(first + i) * Hp + s * (m * ty + u) + a]
                            for x in range(n):
                                if BT[x, u] != 0:
                                    to = R[x * s + a]
                                    for c in range(width):
                                        to[c] += BT[x, u] * source[c]
                    for x in range(n):
                        for j in range(Wo):
                            row = V[x, (i * Ty + ty) * Wo + j]
                            for a in range(s):
                                source = R[x * s + a, s * j * C:s * j * C + run]
                                for c in range(run):
                                    row[a * run + c] = source[c]
        if out.shape[0]:
            for x in range(n):  # M[ξ] = V[ξ] @ U[ξ]
                gemm(_ROW_MAJOR, _NO_TRANSPOSE, _NO_TRANSPOSE, rows, F, K, 1.0,
                     V[x].ctypes.data, K, U[x].ctypes.data, F, 0.0, M[x].ctypes.data, F)
            grid = M.reshape(n, images * Ty, Wo * F)
            for t in range(images * Ty):  # out rows m·t + k = Σ_ξ Aᵀ[k, ξ] · M[ξ]'s rows t
                for k in range(m):
                    to = out[(first * Ty + t) * m + k]
                    to[:] = 0
                    for x in range(n):
                        if AT[k, x] != 0:
                            source = grid[x, t]
                            for c in range(to.size):
                                to[c] += AT[k, x] * source[c]
            continue
        grid = M.reshape(n, images * Ty, Wo * F)  # M's room holds dM
        for t in range(images * Ty):  # dM[ξ]'s rows t = Σ_k Aᵀ[k, ξ] · dout rows m·t + k
            for x in range(n):
                to = grid[x, t]
                to[:] = 0
                for k in range(m):
                    if AT[k, x] != 0:
                        source = dout[(first * Ty + t) * m + k]
                        for c in range(to.size):
                            to[c] += AT[k, x] * source[c]
        if dU.shape[1]:
            for x in range(n):  # dU[ξ] += V[ξ]ᵀ @ dM[ξ]
                gemm(_ROW_MAJOR, _TRANSPOSE, _NO_TRANSPOSE, K, F, rows, 1.0, V[x].ctypes.data,
                     K, M[x].ctypes.data, F, 1.0, dU[x].ctypes.data, F)
        if dpixels.shape[0]:
            for x in range(n):  # dV[ξ] = dM[ξ] @ U[ξ]ᵀ, in V's room
                gemm(_ROW_MAJOR, _NO_TRANSPOSE, _NO_TRANSPOSE, rows, K, F, 1.0,
                     M[x].ctypes.data, F, Ut[x].ctypes.data, K, 0.0, V[x].ctypes.data, K)
            # dR = col2im of dV's rows across; pixel rows s·(m·ty + u) + a += Σ_ξ Bᵀ[ξ, u] dR
            for i in range(images):
                for ty in range(Ty):
                    R[:] = 0
                    for x in range(n):
                        for j in range(Wo):
                            row = V[x, (i * Ty + ty) * Wo + j]
                            for a in range(s):
                                to = R[x * s + a, s * j * C:s * j * C + run]
                                for c in range(run):
                                    to[c] += row[a * run + c]
                    for u in range(n):
                        for a in range(s):
                            to = dpixels[(first + i) * Hp + s * (m * ty + u) + a]
                            for x in range(n):
                                if BT[x, u] != 0:
                                    source = R[x * s + a]
                                    for c in range(width):
                                        to[c] += BT[x, u] * source[c]


# The functions that call the kernels check the sizes they are given against each other first
# (a few comparisons, no pass over the data): the compiled loops do not check their indices.


def _check_covers(rows, stride, m, r, Ty, name):
    """Raise ValueError unless ``rows`` pixel rows hold every row that Ty tiles read."""
    needed = stride * (m * Ty + r - 1)
    if rows < needed:
        raise ValueError(f"{name} has {rows} rows; {Ty} tiles of F({m}, {r}) at stride {stride} "
                         f"read {needed}")


def _check_input_transform(xpad, stride, m, r, WW, Ty):
    xpad = check_array(xpad, "xpad", ndim=4, finite=False)
    stride, WW, Ty = (check_positive_int(v, name) for v, name in ((stride, "stride"), (WW, "WW"),
                                                                    (Ty, "Ty")))
    matrices(m, r)  # checks m and r
    _check_covers(xpad.shape[1], stride, m, r, Ty, f"xpad of shape {xpad.shape}")
    if xpad.shape[2] < WW:
        raise ValueError(f"xpad of shape {xpad.shape} is narrower than the kernel's {WW} columns")
    return xpad, stride, m, r, WW, Ty


def _check_output_transform(M, N, m, Wo):
    M = check_array(M, "M", ndim=3, finite=False)
    N = check_positive_int(N, "N", minimum=0)
    m, Wo = check_positive_int(m, "m"), check_positive_int(Wo, "Wo")
    if M.shape[0] <= m:
        raise ValueError(f"M must start with the n = m + r - 1 > m = {m} points, got {M.shape}")
    matrices(m, M.shape[0] - m + 1)  # checks n
    if N == 0 or M.shape[1] % (N * Wo):
        raise ValueError(f"M's {M.shape[1]} rows (axis 1) are not N*Ty*Wo for N = {N}, Wo = {Wo}")
    return M, N, m, Wo, M.shape[1] // (N * Wo)


def _check_output_transform_adjoint(dout, n, m):
    dout = check_array(dout, "dout", ndim=4, finite=False)
    n, m = check_positive_int(n, "n"), check_positive_int(m, "m")
    if n <= m:
        raise ValueError(f"n = m + r - 1 must be > m = {m}, got n = {n}")
    matrices(m, n - m + 1)
    if dout.shape[1] % m:
        raise ValueError(f"dout's {dout.shape[1]} rows (axis 1) are not whole tiles of m = {m}")
    return dout, n, m, dout.shape[1] // m


def _check_input_transform_adjoint(dV, stride, m, xpad_shape, WW, Ty):
    dV = check_array(dV, "dV", ndim=3, finite=False)
    stride, m = check_positive_int(stride, "stride"), check_positive_int(m, "m")
    WW, Ty = check_positive_int(WW, "WW"), check_positive_int(Ty, "Ty")
    N, Hp, Wp, C = xpad_shape = check_sizes(xpad_shape, "xpad_shape", "N, Hp, Wp, C")
    if dV.shape[0] <= m:
        raise ValueError(f"dV must start with the n = m + r - 1 > m = {m} points, got {dV.shape}")
    r = dV.shape[0] - m + 1
    matrices(m, r)
    _check_covers(Hp, stride, m, r, Ty, f"xpad_shape {xpad_shape}")
    if Wp < WW:
        raise ValueError(f"xpad_shape {xpad_shape} is narrower than the kernel's {WW} columns")
    Wo = (Wp - WW) // stride + 1
    if dV.shape[1:] != (N * Ty * Wo, stride * WW * C):
        raise ValueError(f"dV must have shape (n, N*Ty*Wo, s*WW*C) = "
                         f"{(dV.shape[0], N * Ty * Wo, stride * WW * C)}, got {dV.shape}")
    return dV, stride, m, xpad_shape, WW, Ty


# --------------------------------------------------------------------------------------------
# The convolution, a block of images at a time


def _pad_rows(x, rows):
    """x (N, H, W, C) with zero rows added at the bottom up to ``rows``; x itself if it has
    enough."""
    extra = rows - x.shape[1]
    return x if extra <= 0 else np.pad(x, ((0, 0), (0, extra), (0, 0), (0, 0)))


def _block(n, Ty, Wo, K):
    """Images per block: as many as give BLOCK_VALUES values of V, at least one."""
    return max(1, BLOCK_VALUES // (n * Ty * Wo * K))


def conv2d(xpad, w, stride, Ho, Wo, transform_filters=None):
    """out = the convolution of xpad (N, Hp, Wp, C, channels last, padded) with w
    (F, C, r·s, WW) at this stride, (N, Ho, Wo, F); returns ``(out, U, xpad)``, xpad with
    the zero rows that whole tiles read added at the bottom. ``transform_filters(w, stride,
    m)`` computes U (by default :func:`filter_transform`; ``Conv2D`` passes one that keeps it
    for the batch)."""
    xpad, w, stride, Ho, Wo = check_convolution(xpad, w, stride, Ho, Wo, check_applies)
    F, C, HH, WW = w.shape
    dtype = w.dtype
    s, r = stride, HH // stride
    m = _tile_rows(Ho, r)
    Ty = -(-Ho // m)
    xpad = np.ascontiguousarray(_pad_rows(xpad, s * (m * Ty + r - 1)))
    N, Hp, Wp, _ = xpad.shape
    U = (transform_filters or filter_transform)(w, stride, m)  # (n, K, F)
    n, K = U.shape[:2]
    gemm = _gemm(dtype)
    if gemm is None:  # (no OpenBLAS to call from the loop: the NumPy references)
        V = input_transform_reference(xpad, s, m, r, WW, Ty)
        return output_transform_reference(V @ U, N, m, Wo)[:, :Ho], U, xpad
    BT, _, AT = (matrix.astype(dtype) for matrix in _matrices(m, r))
    out = np.empty((N, m * Ty, Wo, F), dtype=dtype)
    _winograd_rows_numba(gemm, xpad.reshape(N * Hp, Wp * C), Hp, s, m, BT, AT, Ty, WW, C, Wo,
                         np.ascontiguousarray(U), np.zeros((n, 0, K), dtype),
                         _block(n, Ty, Wo, K), out.reshape(N * Ty * m, Wo * F),
                         np.zeros((0, Wo * F), dtype), np.zeros((n, 0, F), dtype),
                         np.zeros((0, Wp * C), dtype))
    return out[:, :Ho], U, xpad


def conv2d_backward(dout, U, w_shape, stride, xpad, *, Ut=None, need_input_grad=True,
                    need_param_grads=True):
    """Gradients of :func:`conv2d`: dout (N, Ho, Wo, F), U and xpad as :func:`conv2d` returned
    them -> (dxpad of xpad's shape or None, dw of ``w_shape`` or None). The weight gradient
    transforms the input again, a block of images at a time. The input gradient multiplies by
    ``Ut = winograd.transposed_filters(U)``, computed here unless given (as in ``winograd``)."""
    need_input_grad = check_bool(need_input_grad, "need_input_grad")
    need_param_grads = check_bool(need_param_grads, "need_param_grads")
    dout = check_array(dout, "dout", ndim=4, finite=False)
    xpad = check_array(xpad, "xpad", ndim=4, finite=False)
    F, C, HH, WW = w_shape = check_sizes(w_shape, "w_shape", "F, C, HH, WW")
    stride = check_positive_int(stride, "stride")
    check_applies(HH, WW, stride)
    N, Hp, Wp, _ = xpad.shape
    s, r = stride, HH // stride
    Ho, Wo = dout.shape[1:3]
    if ((N, C, F) != (dout.shape[0], xpad.shape[3], dout.shape[3]) or Wp < WW
            or Wo != (Wp - WW) // s + 1):
        raise ValueError(f"dout (N, Ho, Wo, F) of shape {dout.shape}, w_shape {w_shape} and "
                         f"xpad of shape {xpad.shape} are not of one convolution at stride {s}")
    m = _tile_rows(Ho, r)
    Ty = -(-Ho // m)
    _check_covers(Hp, s, m, r, Ty, f"xpad of shape {xpad.shape}")
    n, K = m + r - 1, s * WW * C
    U = check_array(U, "U", ndim=3, finite=False)
    if U.shape != (n, K, F):
        raise ValueError(f"U must have shape (n, s*WW*C, F) = {(n, K, F)}, got {U.shape}")
    dtype = np.result_type(dout, U, xpad)
    dout, U, xpad = (a.astype(dtype, copy=False) for a in (dout, U, xpad))
    dout = np.ascontiguousarray(_pad_rows(dout, m * Ty))
    dxpad = dU = None
    gemm = _gemm(dtype)
    if gemm is None:  # (no OpenBLAS to call from the loop: the NumPy references)
        dM = output_transform_adjoint_reference(dout, n, m)
        if need_param_grads:
            dU = input_transform_reference(xpad, s, m, r, WW, Ty).transpose(0, 2, 1) @ dM
        if need_input_grad:
            dV = dM @ U.transpose(0, 2, 1)
            dxpad = input_transform_adjoint_reference(dV, s, m, xpad.shape, WW, Ty)
    else:
        dxpad = np.zeros((N, Hp, Wp, C), dtype=dtype) if need_input_grad else None
        dU = np.zeros((n, K, F), dtype=dtype) if need_param_grads else None
        BT, _, AT = (matrix.astype(dtype) for matrix in _matrices(m, r))
        _winograd_rows_numba(gemm, np.ascontiguousarray(xpad).reshape(N * Hp, Wp * C), Hp, s, m,
                             BT, AT, Ty, WW, C, Wo, np.ascontiguousarray(U),
                             _checked_transpose(U, Ut) if need_input_grad
                             else np.zeros((n, 0, K), dtype), _block(n, Ty, Wo, K),
                             np.zeros((0, Wo * F), dtype), dout.reshape(N * Ty * m, Wo * F),
                             dU if need_param_grads else np.zeros((n, 0, F), dtype),
                             np.zeros((0, Wp * C), dtype) if dxpad is None
                             else dxpad.reshape(N * Hp, Wp * C))
    dw = filter_transform_adjoint(dU, s, C, m) if need_param_grads else None
    return dxpad, dw
