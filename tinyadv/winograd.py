"""Winograd's minimal filtering F(2×2, 3×3): a convolution with 2.25 times fewer multiplications.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016), after Winograd
(1980). One output tile of 2×2 pixels of a 3×3 filter g over a 4×4 input tile d is

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A            (⊙: elementwise, 4×4)

    Bᵀ = [[1, 0, -1,  0],      G = [[1,    0,   0 ],      Aᵀ = [[1, 1,  1,  0],
          [0, 1,  1,  0],           [1/2,  1/2, 1/2],             [0, 1, -1, -1]]
          [0, -1, 1,  0],           [1/2, -1/2, 1/2],
          [0, 1,  0, -1]]           [0,    0,   1 ]]

16 multiplications instead of 2·2·9 = 36. Summed over the input channels, the 16 elementwise
products become 16 matrix products, one per position (ξ, ν) of the 4×4 transformed tile:

    V[ξ, ν]  (T, K)   the transformed input tiles, T = N·Th·Tw tiles, K input channels
    U[ξ, ν]  (K, F)   the transformed filters
    M[ξ, ν]  = V[ξ, ν] @ U[ξ, ν]                    (T, F)
    out tile = Aᵀ M A                                (2×2 per tile and filter)

Every step is linear, so the backward pass is the same steps transposed, in reverse order:

    dM[ξ, ν] = A dY Aᵀ                    (the adjoint of the output transform)
    dV[ξ, ν] = dM[ξ, ν] @ U[ξ, ν]ᵀ        dU[ξ, ν] = V[ξ, ν]ᵀ @ dM[ξ, ν]
    dd       = B dV Bᵀ, added back onto the (overlapping) input tiles     dg = Gᵀ dU G

Stride. A convolution with stride s and a 3s×3s kernel is a stride-1 3×3 convolution of the
input's s² *phases*: out[i, j] = Σ_{a,b<s} Σ_{p,q<3} w[s·p + a, s·q + b] · x[s·(i + p) + a,
s·(j + q) + b], and x[s·u + a, s·v + b] over (u, v) is the phase (a, b) of x, an image of
(Hp/s)×(Wp/s) pixels. So the talk's conv2 (6×6, stride 2, 32 channels) is Winograd's 3×3 case on
4·32 = 128 channels: K = s²·C, ordered (a, b, c). The kernels read the phases straight out of
the padded input; nothing is copied into phase images.

Numbers. The transforms only add, subtract and halve, and G's halves are exact in binary, so
the result differs from the direct sum only in rounding: on the talk's conv2, 6e-7 of the
largest output in float32 and 1e-15 in float64. (An infinite input is another matter: the
transforms subtract, so ∞ − ∞ can make NaN where the direct sum would give ±∞. And integer
arrays would be truncated by the halves, so ``conv2d_forward`` keeps them on im2col.) The products are the only work that grows with
the channels; the transforms are a few passes over memory. On one core (32 CIFAR images,
conv2's forward): 0.3 ms input transform + 0.66 ms products + 0.07 ms output transform, against
1.75 ms for im2col and its product (float32); 1.0 ms against 2.0 ms in float64.

As in ``kernels.py``, every transform exists twice: a ``*_reference`` in NumPy that says the
formula above, and a serial ``nogil`` Numba loop beside it, which the layers call and the tests
hold equal to the reference. The Numba loops transform rows first, then columns, one channel
run at a time, so that the innermost loops are over contiguous memory.
"""

import numpy as np
from numba import njit

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def applies(HH, WW, stride):
    """Whether a kernel HH×WW with this stride is Winograd's 3×3 case (HH = WW = 3·stride)."""
    return HH == WW == 3 * stride


def faster_than_im2col(C, HH, WW, stride, Ho, Wo):
    """Whether Winograd beat im2col + product where we measured (one thread, 32 images, float32):
    when it applies, every tile is whole (Ho, Wo even) and the products have s²·C >= 32 rows.

    Forward + backward, im2col's time over Winograd's: s²·C = 128 (the talk's conv2) 1.45,
    64 1.28-1.47, 32 1.34; 16 0.62-1.12, 3 0.58, 1 0.27 (the transforms' memory traffic grows with
    F and not with C, the products' savings with C). The talk's conv2 on MNIST (5×5 outputs, so
    a third of the last tiles' outputs thrown away): 8-13% slower than im2col over the network."""
    return applies(HH, WW, stride) and Ho % 2 == 0 and Wo % 2 == 0 and stride * stride * C >= 32


def tiles(Ho, Wo):
    """Number of 2×2 output tiles down and across: (⌈Ho/2⌉, ⌈Wo/2⌉)."""
    return (Ho + 1) // 2, (Wo + 1) // 2


# --------------------------------------------------------------------------------------------
# Readable NumPy references


def filter_transform_reference(w, stride):
    """U = G g Gᵀ for every filter g of the phases: w (F, C, 3s, 3s) -> U (4, 4, s²·C, F).

    Written as one matrix product: U[ξ, ν] = Σ_{p,q} G[ξ, p] G[ν, q] g[p, q] is the Kronecker
    product G ⊗ G (16 × 9) times the 9 taps of every filter, laid out (9, K·F)."""
    F, C = w.shape[:2]
    s = stride
    # taps[p, q, a, b, c, f] = w[f, c, s·p + a, s·q + b]
    taps = w.reshape(F, C, 3, s, 3, s).transpose(2, 4, 3, 5, 1, 0).reshape(9, s * s * C * F)
    U = np.kron(G, G).astype(w.dtype) @ taps
    return U.reshape(4, 4, s * s * C, F)


def filter_transform_adjoint_reference(dU, stride, C):
    """dg = Gᵀ dU G, back in PyTorch's layout: dU (4, 4, s²·C, F) -> dw (F, C, 3s, 3s)."""
    s = stride
    F = dU.shape[3]
    taps = np.kron(G, G).T.astype(dU.dtype) @ dU.reshape(16, -1)  # (9, K·F)
    dw = taps.reshape(3, 3, s, s, C, F).transpose(5, 4, 0, 2, 1, 3)  # (F, C, p, a, q, b)
    return np.ascontiguousarray(dw).reshape(F, C, 3 * s, 3 * s)


def input_tiles_reference(xpad, stride, Th, Tw):
    """The 4×4 input tiles of every phase, T = N·Th·Tw of them (NumPy reference).

    xpad (N, Hp, Wp, C), channels last, with Hp, Wp >= s·(2·Th + 2), s·(2·Tw + 2)
    -> d (N, Th, Tw, 4, 4, s²·C): d[n, ti, tj, r, q, (a, b, c)] = xpad[n, s·(2ti + r) + a,
    s·(2tj + q) + b, c]
    """
    N, _, _, C = xpad.shape
    s = stride
    x = xpad[:, :s * (2 * Th + 2), :s * (2 * Tw + 2)]
    phases = x.reshape(N, 2 * Th + 2, s, 2 * Tw + 2, s, C).transpose(0, 1, 3, 2, 4, 5)
    phases = phases.reshape(N, 2 * Th + 2, 2 * Tw + 2, s * s * C)
    d = np.lib.stride_tricks.sliding_window_view(phases, (4, 4), axis=(1, 2))[:, ::2, ::2]
    return d.transpose(0, 1, 2, 4, 5, 3)


def input_transform_reference(xpad, stride, Th, Tw):
    """V = Bᵀ d B for every input tile: -> V (4, 4, N·Th·Tw, s²·C) (NumPy reference)."""
    d = input_tiles_reference(xpad, stride, Th, Tw)
    V = np.einsum("xr,ntjrqk,yq->xyntjk", BT.astype(xpad.dtype), d, BT.astype(xpad.dtype))
    return np.ascontiguousarray(V.reshape(4, 4, -1, d.shape[-1]))


def output_transform_reference(M, N, Th, Tw):
    """Y = Aᵀ M A for every tile: M (4, 4, N·Th·Tw, F) -> out (N, 2·Th, 2·Tw, F) (NumPy)."""
    F = M.shape[3]
    A = AT.astype(M.dtype)
    Y = np.einsum("ix,xyntuf,jy->ntiujf", A, M.reshape(4, 4, N, Th, Tw, F), A)
    return np.ascontiguousarray(Y.reshape(N, 2 * Th, 2 * Tw, F))


def output_transform_adjoint_reference(dout, Th, Tw):
    """dM = A dY Aᵀ for every tile: dout (N, 2·Th, 2·Tw, F) -> dM (4, 4, N·Th·Tw, F) (NumPy)."""
    N, _, _, F = dout.shape
    dY = dout.reshape(N, Th, 2, Tw, 2, F)  # [n, ti, i, tj, j, f]
    A = AT.astype(dout.dtype)
    dM = np.einsum("ix,ntiujf,jy->xyntuf", A, dY, A)
    return np.ascontiguousarray(dM.reshape(4, 4, N * Th * Tw, F))


def input_transform_adjoint_reference(dV, stride, xpad_shape, Th, Tw):
    """dd = B dV Bᵀ for every tile, added back onto the pixels the tile was read from (NumPy).

    dV (4, 4, N·Th·Tw, s²·C) -> dxpad (N, Hp, Wp, C), zero where no tile reads.
    """
    N, Hp, Wp, C = xpad_shape
    s = stride
    B = BT.astype(dV.dtype)
    dd = np.einsum("xr,xytk,yq->trqk", B, dV, B).reshape(N, Th, Tw, 4, 4, s, s, C)
    dxpad = np.zeros(xpad_shape, dtype=dV.dtype)
    for ti in range(Th):
        for tj in range(Tw):
            for r in range(4):
                for q in range(4):
                    for a in range(s):
                        for b in range(s):
                            dxpad[:, s * (2 * ti + r) + a, s * (2 * tj + q) + b] += dd[:, ti, tj, r, q, a, b]
    return dxpad


# --------------------------------------------------------------------------------------------
# Numba kernels: the same transforms, rows first, then columns, one run of channels at a time.


@njit(cache=True, nogil=True)
def _input_transform_numba(xpad, stride, Th, Tw, V):
    N, Hp, Wp, C = xpad.shape
    s = stride
    run = s * C  # the phases (a, 0..s-1) of a pixel lie side by side, as in V's K = (a, b, c)
    source = xpad.reshape(N, Hp, Wp * C)
    rows = np.empty((4, 4, run), dtype=xpad.dtype)  # Bᵀ d of one tile and row phase
    for n in range(N):
        for ti in range(Th):
            for tj in range(Tw):
                t = (n * Th + ti) * Tw + tj
                for a in range(s):
                    k = a * run
                    top = s * 2 * ti + a
                    for q in range(4):
                        left = s * (2 * tj + q) * C
                        d0 = source[n, top, left:left + run]
                        d1 = source[n, top + s, left:left + run]
                        d2 = source[n, top + 2 * s, left:left + run]
                        d3 = source[n, top + 3 * s, left:left + run]
                        e0, e1, e2, e3 = rows[0, q], rows[1, q], rows[2, q], rows[3, q]
                        for c in range(run):
                            e0[c] = d0[c] - d2[c]
                            e1[c] = d1[c] + d2[c]
                            e2[c] = d2[c] - d1[c]
                            e3[c] = d1[c] - d3[c]
                    for x in range(4):
                        e0, e1, e2, e3 = rows[x, 0], rows[x, 1], rows[x, 2], rows[x, 3]
                        v0, v1 = V[x, 0, t, k:k + run], V[x, 1, t, k:k + run]
                        v2, v3 = V[x, 2, t, k:k + run], V[x, 3, t, k:k + run]
                        for c in range(run):
                            v0[c] = e0[c] - e2[c]
                            v1[c] = e1[c] + e2[c]
                            v2[c] = e2[c] - e1[c]
                            v3[c] = e1[c] - e3[c]


@njit(cache=True, nogil=True)
def _output_transform_numba(M, Th, Tw, out):
    N, _, _, F = out.shape
    rows = np.empty((2, 4, F), dtype=M.dtype)  # Aᵀ M of one tile
    for n in range(N):
        for ti in range(Th):
            for tj in range(Tw):
                t = (n * Th + ti) * Tw + tj
                for y in range(4):
                    m0, m1, m2, m3 = M[0, y, t], M[1, y, t], M[2, y, t], M[3, y, t]
                    r0, r1 = rows[0, y], rows[1, y]
                    for f in range(F):
                        r0[f] = m0[f] + m1[f] + m2[f]
                        r1[f] = m1[f] - m2[f] - m3[f]
                for i in range(2):
                    r0, r1, r2, r3 = rows[i, 0], rows[i, 1], rows[i, 2], rows[i, 3]
                    y0, y1 = out[n, 2 * ti + i, 2 * tj], out[n, 2 * ti + i, 2 * tj + 1]
                    for f in range(F):
                        y0[f] = r0[f] + r1[f] + r2[f]
                        y1[f] = r1[f] - r2[f] - r3[f]


@njit(cache=True, nogil=True)
def _output_transform_adjoint_numba(dout, Th, Tw, dM):
    N, _, _, F = dout.shape
    rows = np.empty((4, 2, F), dtype=dout.dtype)  # A dY of one tile
    for n in range(N):
        for ti in range(Th):
            for tj in range(Tw):
                t = (n * Th + ti) * Tw + tj
                for j in range(2):
                    y0, y1 = dout[n, 2 * ti, 2 * tj + j], dout[n, 2 * ti + 1, 2 * tj + j]
                    u0, u1, u2, u3 = rows[0, j], rows[1, j], rows[2, j], rows[3, j]
                    for f in range(F):
                        u0[f] = y0[f]
                        u1[f] = y0[f] + y1[f]
                        u2[f] = y0[f] - y1[f]
                        u3[f] = -y1[f]
                for x in range(4):
                    u0, u1 = rows[x, 0], rows[x, 1]
                    m0, m1, m2, m3 = dM[x, 0, t], dM[x, 1, t], dM[x, 2, t], dM[x, 3, t]
                    for f in range(F):
                        m0[f] = u0[f]
                        m1[f] = u0[f] + u1[f]
                        m2[f] = u0[f] - u1[f]
                        m3[f] = -u1[f]


@njit(cache=True, nogil=True)
def _input_transform_adjoint_numba(dV, stride, Th, Tw, dxpad):
    N, Hp, Wp, C = dxpad.shape
    s = stride
    run = s * C  # as in _input_transform_numba
    target = dxpad.reshape(N, Hp, Wp * C)
    rows = np.empty((4, 4, run), dtype=dV.dtype)  # B dV of one tile and row phase
    for n in range(N):
        for ti in range(Th):
            for tj in range(Tw):
                t = (n * Th + ti) * Tw + tj
                for a in range(s):
                    k = a * run
                    top = s * 2 * ti + a
                    for y in range(4):
                        v0, v1 = dV[0, y, t, k:k + run], dV[1, y, t, k:k + run]
                        v2, v3 = dV[2, y, t, k:k + run], dV[3, y, t, k:k + run]
                        e0, e1, e2, e3 = rows[0, y], rows[1, y], rows[2, y], rows[3, y]
                        for c in range(run):
                            e0[c] = v0[c]
                            e1[c] = v1[c] - v2[c] + v3[c]
                            e2[c] = v1[c] + v2[c] - v0[c]
                            e3[c] = -v3[c]
                    for r in range(4):
                        e0, e1, e2, e3 = rows[r, 0], rows[r, 1], rows[r, 2], rows[r, 3]
                        left = s * 2 * tj * C
                        d0 = target[n, top + s * r, left:left + run]
                        d1 = target[n, top + s * r, left + run:left + 2 * run]
                        d2 = target[n, top + s * r, left + 2 * run:left + 3 * run]
                        d3 = target[n, top + s * r, left + 3 * run:left + 4 * run]
                        for c in range(run):
                            d0[c] += e0[c]
                            d1[c] += e1[c] - e2[c] + e3[c]
                            d2[c] += e1[c] + e2[c] - e0[c]
                            d3[c] -= e3[c]


@njit(cache=True, nogil=True)
def _filter_transform_numba(w, stride, U):
    F, C = w.shape[:2]
    s = stride
    g = np.empty((3, 3, F), dtype=w.dtype)  # one filter's taps, for all F filters
    rows = np.empty((4, 3, F), dtype=w.dtype)  # G g
    for a in range(s):
        for b in range(s):
            for c in range(C):
                k = (a * s + b) * C + c
                for p in range(3):
                    for q in range(3):
                        taps = g[p, q]
                        for f in range(F):
                            taps[f] = w[f, c, s * p + a, s * q + b]
                for q in range(3):
                    g0, g1, g2 = g[0, q], g[1, q], g[2, q]
                    r0, r1, r2, r3 = rows[0, q], rows[1, q], rows[2, q], rows[3, q]
                    for f in range(F):
                        r0[f] = g0[f]
                        r1[f] = 0.5 * (g0[f] + g1[f] + g2[f])
                        r2[f] = 0.5 * (g0[f] - g1[f] + g2[f])
                        r3[f] = g2[f]
                for x in range(4):
                    r0, r1, r2 = rows[x, 0], rows[x, 1], rows[x, 2]
                    u0, u1, u2, u3 = U[x, 0, k], U[x, 1, k], U[x, 2, k], U[x, 3, k]
                    for f in range(F):
                        u0[f] = r0[f]
                        u1[f] = 0.5 * (r0[f] + r1[f] + r2[f])
                        u2[f] = 0.5 * (r0[f] - r1[f] + r2[f])
                        u3[f] = r2[f]


@njit(cache=True, nogil=True)
def _filter_transform_adjoint_numba(dU, stride, dw):
    F, C = dw.shape[:2]
    s = stride
    rows = np.empty((3, 4, F), dtype=dU.dtype)  # Gᵀ dU
    dg = np.empty((3, 3, F), dtype=dU.dtype)
    for a in range(s):
        for b in range(s):
            for c in range(C):
                k = (a * s + b) * C + c
                for y in range(4):
                    u0, u1, u2, u3 = dU[0, y, k], dU[1, y, k], dU[2, y, k], dU[3, y, k]
                    r0, r1, r2 = rows[0, y], rows[1, y], rows[2, y]
                    for f in range(F):
                        r0[f] = u0[f] + 0.5 * (u1[f] + u2[f])
                        r1[f] = 0.5 * (u1[f] - u2[f])
                        r2[f] = 0.5 * (u1[f] + u2[f]) + u3[f]
                for p in range(3):
                    r0, r1, r2, r3 = rows[p, 0], rows[p, 1], rows[p, 2], rows[p, 3]
                    d0, d1, d2 = dg[p, 0], dg[p, 1], dg[p, 2]
                    for f in range(F):
                        d0[f] = r0[f] + 0.5 * (r1[f] + r2[f])
                        d1[f] = 0.5 * (r1[f] - r2[f])
                        d2[f] = 0.5 * (r1[f] + r2[f]) + r3[f]
                for p in range(3):
                    for q in range(3):
                        taps = dg[p, q]
                        for f in range(F):
                            dw[f, c, s * p + a, s * q + b] = taps[f]


def filter_transform(w, stride):
    """Numba version of :func:`filter_transform_reference` (same arguments, same result)."""
    F, C = w.shape[:2]
    U = np.empty((4, 4, stride * stride * C, F), dtype=w.dtype)
    _filter_transform_numba(np.ascontiguousarray(w), stride, U)
    return U


def filter_transform_adjoint(dU, stride, C):
    """Numba version of :func:`filter_transform_adjoint_reference` (same arguments, same result)."""
    F = dU.shape[3]
    dw = np.empty((F, C, 3 * stride, 3 * stride), dtype=dU.dtype)
    _filter_transform_adjoint_numba(np.ascontiguousarray(dU), stride, dw)
    return dw


def input_transform(xpad, stride, Th, Tw):
    """Numba version of :func:`input_transform_reference` (same arguments, same result)."""
    N, _, _, C = xpad.shape
    V = np.empty((4, 4, N * Th * Tw, stride * stride * C), dtype=xpad.dtype)
    _input_transform_numba(np.ascontiguousarray(xpad), stride, Th, Tw, V)
    return V


def output_transform(M, N, Th, Tw):
    """Numba version of :func:`output_transform_reference` (same arguments, same result)."""
    out = np.empty((N, 2 * Th, 2 * Tw, M.shape[3]), dtype=M.dtype)
    _output_transform_numba(np.ascontiguousarray(M), Th, Tw, out)
    return out


def output_transform_adjoint(dout, Th, Tw):
    """Numba version of :func:`output_transform_adjoint_reference` (same arguments, same result)."""
    N, _, _, F = dout.shape
    dM = np.empty((4, 4, N * Th * Tw, F), dtype=dout.dtype)
    _output_transform_adjoint_numba(np.ascontiguousarray(dout), Th, Tw, dM)
    return dM


def input_transform_adjoint(dV, stride, xpad_shape, Th, Tw):
    """Numba version of :func:`input_transform_adjoint_reference` (same arguments, same result)."""
    dxpad = np.zeros(xpad_shape, dtype=dV.dtype)
    _input_transform_adjoint_numba(np.ascontiguousarray(dV), stride, Th, Tw, dxpad)
    return dxpad
