"""The degree-2 Taylor expansion used by Reconciled Polynomial Networks, forward and backward.

For a batch x of shape (N, m), each row x becomes [x, vec(x x^T)] of length m + m*m
(row-major, both orders x_a x_c and x_c x_a kept, no constant term):

    z[b, a]             = x[b, a]
    z[b, m + a*m + c]   = x[b, a] * x[b, c]

With G[b, a, c] = dL/dz[b, m + a*m + c], the product rule gives

    dL/dx[b, a] = dL/dz[b, a] + sum_c (G[b, a, c] + G[b, c, a]) * x[b, c]
                = dL/dz[b, a] + (G[b] @ x[b])_a + (G[b]^T @ x[b])_a

For MNIST (m = 784, N = 64) z is 64 x 615,440 (157 MB in float32): both passes are bound
by memory, so each touches z once. The backward pass reads each row a of G[b] once and
uses it twice: as a dot product with x (G @ x) and as an axpy into an accumulator
(G^T @ x), so no m x m temporary is built.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import njit, prange, uint64

from ..backend import get_array_module
from ._common import FASTMATH, JIT, PARALLEL_JIT, check_ndim, contiguous, float_dtype, use_numba

# --------------------------------------------------------------------------------------
# the xp twins
# --------------------------------------------------------------------------------------


def taylor2_forward_xp(x: Any) -> Any:
    """The twin of ``taylor2_forward``: z = [x, (x[:, :, None] * x[:, None, :]).reshape(N, m*m)]."""
    xp = get_array_module(x)
    n, m = x.shape
    z = xp.empty((n, m + m * m), dtype=x.dtype)
    z[:, :m] = x
    # a temporary of z's size, but plainly correct on any backend (writing through a
    # reshape of z[:, m:] would depend on the reshape being a view)
    z[:, m:] = (x[:, :, None] * x[:, None, :]).reshape(n, m * m)
    return z


def taylor2_backward_xp(grad_z: Any, x: Any) -> Any:
    """The twin of ``taylor2_backward``: dz_lin + G @ x + G^T @ x, batched over rows."""
    n, m = x.shape
    g = grad_z[:, m:].reshape(n, m, m)
    gx = (g @ x[:, :, None])[:, :, 0] + (x[:, None, :] @ g)[:, 0, :]
    return (grad_z[:, :m] + gx).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------------------
# Numba
# --------------------------------------------------------------------------------------


# In both loops the row views (zb = z[b]) and unsigned offsets (uint64) let Numba drop its
# per-access negative-index wraparound test; the inner loops then vectorise and run
# 1.6x (forward) and 2.2x (backward) faster than with z[b, base + c].


@njit(**PARALLEL_JIT)
def _taylor2_forward_numba(x, z):
    """z[b, a] = x[b, a] and z[b, m + a*m + c] = x[b, a] * x[b, c]."""
    n, m = x.shape
    # one task per (sample, a): it writes z[b, a] and the m products of block a,
    # so any batch size (even 1) splits evenly across threads
    for task in prange(n * m):
        b = task // m
        a = task % m
        xb = x[b]
        zb = z[b]
        xa = xb[a]
        zb[a] = xa
        base = uint64(m + a * m)
        for c in range(uint64(m)):
            zb[base + c] = xa * xb[c]


@njit(fastmath=FASTMATH, **PARALLEL_JIT)
def _taylor2_backward_numba(grad_z, x, grad_x):
    """grad_x[b] = grad_z[b, :m] + G[b] @ x[b] + G[b]^T @ x[b], one pass over G[b] per sample."""
    n, m = x.shape
    for b in prange(n):
        gz = grad_z[b]
        xb = x[b].astype(np.float64)
        acc = np.zeros(m)  # (G^T x)_c, built row by row of G
        for a in range(m):
            base = uint64(m + a * m)
            xa = xb[a]
            dot = 0.0  # (G x)_a
            for c in range(uint64(m)):
                g = np.float64(gz[base + c])
                dot += g * xb[c]
                acc[c] += g * xa
            acc[a] += dot + gz[a]
        for a in range(m):
            grad_x[b, a] = acc[a]


# --------------------------------------------------------------------------------------
# public dispatchers
# --------------------------------------------------------------------------------------


def taylor2_forward(x: Any) -> Any:
    """Degree-2 Taylor expansion of each row: x (N, m) -> z (N, m + m*m).

    z[:, :m] = x and z[:, m + a*m + c] = x[:, a] * x[:, c] (row-major, both orders, no constant).
    """
    check_ndim("taylor2_forward", "x", x, 2, "(N, m)")
    dtype = float_dtype("taylor2_forward", x)
    if not use_numba(x):
        return taylor2_forward_xp(x)
    x = contiguous(x, dtype)
    n, m = x.shape
    z = np.empty((n, m + m * m), dtype=dtype)
    _taylor2_forward_numba(x, z)
    return z


def taylor2_backward(grad_z: Any, x: Any) -> Any:
    """dL/dx of taylor2_forward given dL/dz (N, m + m*m) and the input x (N, m).

    grad_x[b, a] = grad_z[b, a] + sum_c (G[b, a, c] + G[b, c, a]) x[b, c],
    G = grad_z[:, m:].reshape(N, m, m).
    """
    check_ndim("taylor2_backward", "x", x, 2, "(N, m)")
    n, m = x.shape
    if tuple(grad_z.shape) != (n, m + m * m):
        raise ValueError(
            f"taylor2_backward: grad_z must have shape ({n}, {m + m * m}) for x {tuple(x.shape)}, "
            f"got {tuple(grad_z.shape)}"
        )
    dtype = float_dtype("taylor2_backward", grad_z, x)
    if not use_numba(grad_z, x):
        return taylor2_backward_xp(grad_z.astype(dtype, copy=False), x.astype(dtype, copy=False))
    grad_z = contiguous(grad_z, dtype)
    x = contiguous(x, dtype)
    grad_x = np.empty((n, m), dtype=dtype)
    _taylor2_backward_numba(grad_z, x, grad_x)
    return grad_x


# --------------------------------------------------------------------------------------
# the expansion contracted block by block, without building z
# --------------------------------------------------------------------------------------
#
# A structured reconciliation starts by cutting each expanded row z (length D) into
# c = D / L blocks of L entries and multiplying every block by one small matrix M (L × r):
#
#     y[b, k, j] = sum_i z[b, k*L + i] * M[i, j]          (N × c × r)
#
# (the Kronecker layout: L = t, M = B^T or T; tinyBIG's layout: L = s*t, M = vec(B)).
# For the 784-pixel input z is 615,440 wide, and writing it, then reading it back twice
# (forward, and backward for dM), costs more than the arithmetic. These kernels compute
# the entries of z on the fly from x instead. Inside a block, the quadratic entries come
# in runs of constant a (z = x_a * x_c for consecutive c), so each run is one dot product
# of x[c0:c0+len] with a row of M^T, scaled by x_a.


def taylor2_contract_xp(x: Any, M: Any) -> Any:
    """The twin of ``taylor2_contract``: taylor2_forward_xp(x).reshape(N, c, L) @ M."""
    n = x.shape[0]
    L = M.shape[0]
    return taylor2_forward_xp(x).reshape(n, -1, L) @ M


def taylor2_contract_grad_m_xp(x: Any, grad_y: Any) -> Any:
    """The twin of ``taylor2_contract_grad_m``: sum over samples and blocks of z_block^T g."""
    n, c, r = grad_y.shape
    z = taylor2_forward_xp(x).reshape(n * c, -1)
    return z.T @ grad_y.reshape(n * c, r)


@njit(fastmath=FASTMATH, **JIT)
def _dot(u, v):
    """sum_t u[t] * v[t] over two equally long 1-D views (vectorised by LLVM)."""
    s = u[0] * v[0] * 0
    for t in range(uint64(u.shape[0])):
        s += u[t] * v[t]
    return s


@njit(fastmath=FASTMATH, **JIT)
def _axpy(alpha, u, out):
    """out[t] += alpha * u[t] over two equally long 1-D views."""
    for t in range(uint64(u.shape[0])):
        out[t] += alpha * u[t]


@njit(**JIT)
def _block_runs(m, L, c):
    """The runs of every block of z = [x, vec(x xᵀ)], for blocks of L entries.

    Row i of ``runs`` is (a, c0, length, offset): z[k*L + offset + t] = coef * x[c0 + t] for
    t < length, with coef = 1 for the linear part (a = -1) and x[a] otherwise. Block k owns
    rows starts[k] to starts[k+1]. The layout depends on (m, L) only, so both kernels walk
    this one table instead of redoing the index arithmetic for every sample.
    """
    rows = []
    starts = np.zeros(c + 1, np.int64)
    for k in range(c):
        u0 = k * L
        u1 = u0 + L
        if u0 < m:  # the linear part
            rows.append((-1, u0, min(u1, m) - u0, 0))
        u = max(u0, m)
        while u < u1:  # the quadratic part, one run of constant a at a time
            a = (u - m) // m
            c0 = (u - m) % m
            length = min(m - c0, u1 - u)
            rows.append((a, c0, length, u - u0))
            u += length
        starts[k + 1] = len(rows)
    runs = np.empty((len(rows), 4), np.int64)
    for i in range(len(rows)):
        for f in range(4):
            runs[i, f] = rows[i][f]
    return runs, starts


@njit(fastmath=FASTMATH, **PARALLEL_JIT)
def _taylor2_contract_numba(x, Mt, y, runs, starts):
    """y[b, k, j] = sum_i z[b, k*L + i] * Mt[j, i], z = [x_b, vec(x_b x_b^T)] never stored."""
    n = x.shape[0]
    r = Mt.shape[0]
    c = y.shape[1]
    for task in prange(n * c):
        b = task // c
        k = task % c
        xb = x[b]
        acc = np.zeros(r)
        for i in range(starts[k], starts[k + 1]):
            a, c0, length, off = runs[i, 0], runs[i, 1], runs[i, 2], runs[i, 3]
            coef = 1.0 if a < 0 else np.float64(xb[a])
            xs = xb[c0:c0 + length]
            for j in range(r):
                acc[j] += coef * _dot(xs, Mt[j, off:off + length])
        for j in range(r):
            y[b, k, j] = acc[j]


@njit(fastmath=FASTMATH, **PARALLEL_JIT)
def _taylor2_contract_grad_m_numba(x, grad_y, parts, runs, starts):
    """parts[b, j, i] = sum_k z[b, k*L + i] * grad_y[b, k, j]; the caller sums over b."""
    n = x.shape[0]
    c, r = grad_y.shape[1], grad_y.shape[2]
    for b in prange(n):
        xb = x[b]
        part = parts[b]
        gb = grad_y[b]
        for k in range(c):
            for i in range(starts[k], starts[k + 1]):
                a, c0, length, off = runs[i, 0], runs[i, 1], runs[i, 2], runs[i, 3]
                xs = xb[c0:c0 + length]
                for j in range(r):
                    alpha = gb[k, j] if a < 0 else xb[a] * gb[k, j]
                    _axpy(alpha, xs, part[j, off:off + length])


def _check_contract(kernel: str, x: Any, L: int) -> int:
    """The number of blocks c = D / L, after checking that L divides D = m + m²."""
    check_ndim(kernel, "x", x, 2, "(N, m)")
    m = x.shape[1]
    D = m + m * m
    if L < 1 or D % L:
        raise ValueError(
            f"{kernel}: the block length L={L} must divide the expansion size "
            f"D = m + m² = {D} (m = {m})"
        )
    return D // L


def taylor2_contract(x: Any, M: Any, method: str = "auto") -> Any:
    """Each row's degree-2 expansion, cut into blocks of L, times M: (N, m), (L, r) -> (N, c, r).

    y[b, k, :] = z[b, k*L:(k+1)*L] @ M with z = [x, vec(x xᵀ)] (D = m + m², c = D / L),
    computed without building z. ``method``: 'direct' sums over the entries of z,
    'fft' goes through cross-correlations (see ``contract_method``), 'auto' picks the
    cheaper for these shapes.
    """
    check_ndim("taylor2_contract", "M", M, 2, "(L, r)")
    c = _check_contract("taylor2_contract", x, M.shape[0])
    dtype = float_dtype("taylor2_contract", x, M)
    if _resolve_method("taylor2_contract", method, x.shape[1], *M.shape) == "fft":
        return _contract_fft(x, M).astype(dtype, copy=False)
    if not use_numba(x, M):
        return taylor2_contract_xp(x.astype(dtype, copy=False), M.astype(dtype, copy=False))
    x = contiguous(x, dtype)
    Mt = contiguous(M.T, dtype)
    y = np.empty((x.shape[0], c, M.shape[1]), dtype=dtype)
    _taylor2_contract_numba(x, Mt, y, *_block_runs(x.shape[1], M.shape[0], c))
    return y


def taylor2_contract_grad_m(x: Any, grad_y: Any, method: str = "auto") -> Any:
    """dL/dM of ``taylor2_contract`` given dL/dy (N, c, r): sum_{b,k} z_block[b, k]ᵀ grad_y[b, k].

    The block length is L = D / c; the result has shape (L, r). ``method`` as for
    ``taylor2_contract`` ('auto' picks the same one for the same shapes).
    """
    check_ndim("taylor2_contract_grad_m", "grad_y", grad_y, 3, "(N, c, r)")
    check_ndim("taylor2_contract_grad_m", "x", x, 2, "(N, m)")
    n, m = x.shape
    D = m + m * m
    c = grad_y.shape[1]
    if grad_y.shape[0] != n or c < 1 or D % c:
        raise ValueError(
            f"taylor2_contract_grad_m: grad_y of shape {tuple(grad_y.shape)} does not fit "
            f"x of shape {tuple(x.shape)}: expected (N={n}, c, r) with c dividing D={D}"
        )
    L = D // c
    dtype = float_dtype("taylor2_contract_grad_m", x, grad_y)
    if _resolve_method("taylor2_contract_grad_m", method, m, L, grad_y.shape[2]) == "fft":
        return _contract_grad_m_fft(x, grad_y).astype(dtype, copy=False)
    if not use_numba(x, grad_y):
        return taylor2_contract_grad_m_xp(x.astype(dtype, copy=False),
                                          grad_y.astype(dtype, copy=False))
    x = contiguous(x, dtype)
    grad_y = contiguous(grad_y, dtype)
    parts = np.zeros((n, grad_y.shape[2], L), dtype=dtype)  # one slice per sample: no races
    _taylor2_contract_grad_m_numba(x, grad_y, parts, *_block_runs(m, L, c))
    return np.ascontiguousarray(parts.sum(axis=0).T)


# --------------------------------------------------------------------------------------
# the expansion times a dense matrix, through matrix products
# --------------------------------------------------------------------------------------
#
# With x~ = [1, x] (length m + 1), the expanded row is an outer product, flattened:
#
#     z = [x, vec(x xᵀ)] = vec(x~ ⊗ x),   z[r*m + c] = x~[r] * x[c]
#
# (row r = 0 is the linear part, row r = a + 1 holds x_a x_c). So for a dense W (n × D),
# viewed without a copy as W3 of shape (n, m + 1, m) (W3[k, r, c] = W[k, r*m + c]),
#
#     y[b, k] = sum_{r,c} W[k, r*m + c] x~[b, r] x[b, c] = sum_r x~[b, r] P[b, k, r],
#     P[b, k, r] = sum_c W3[k, r, c] x[b, c]                    (one matrix product)
#
# and the gradients are matrix products too, with V[b, k, r] = dy[b, k] x~[b, r]:
#
#     dW3[k, r, c] = sum_b V[b, k, r] x[b, c]
#     dx[b, c]     = sum_{k,r} V[b, k, r] W3[k, r, c]  +  sum_k dy[b, k] P[b, k, c + 1]
#
# Each costs 2·N·n·D multiply-adds, as z · Wᵀ does, but z (N × D, 157 MB for 64 MNIST
# images) is never built, and the products have a short inner dimension (m, or N) and a
# long outer one, the shape BLAS spreads well over threads, where z · Wᵀ sums 615,440
# terms into each of only N × n outputs.


def _check_dense(kernel: str, x: Any, W: Any) -> tuple[int, int]:
    """(n, m) after checking that W is n × D for D = m + m²."""
    check_ndim(kernel, "x", x, 2, "(N, m)")
    check_ndim(kernel, "W", W, 2, "(n, D)")
    m = x.shape[1]
    if W.shape[1] != m + m * m:
        raise ValueError(
            f"{kernel}: W must have D = m + m² = {m + m * m} columns for x of width m = {m}, "
            f"got W of shape {tuple(W.shape)}"
        )
    return W.shape[0], m


def _with_one(x: Any) -> Any:
    """x~ = [1, x] per row."""
    xp = get_array_module(x)
    xt = xp.empty((x.shape[0], x.shape[1] + 1), dtype=x.dtype)
    xt[:, 0] = 1
    xt[:, 1:] = x
    return xt


def _rows(W: Any, m: int, dtype: Any) -> Any:
    """W (n × D) as the (n·(m + 1)) × m matrix of its rows of m: a view when W is C-ordered."""
    xp = get_array_module(W)
    return xp.ascontiguousarray(W, dtype=dtype).reshape(-1, m)


def taylor2_dense(x: Any, W: Any) -> Any:
    """y = z · Wᵀ for z = [x, vec(x xᵀ)] per row: x (N, m), W (n, D = m + m²) -> y (N, n).

    Computed as y[b, k] = sum_r x~[b, r] (W3[k] x[b])[r] with x~ = [1, x] and W3 = W viewed as
    (n, m + 1, m): one matrix product, z never built (see the comment above).
    """
    n, m = _check_dense("taylor2_dense", x, W)
    dtype = float_dtype("taylor2_dense", x, W)
    x = x.astype(dtype, copy=False)
    P = (x @ _rows(W, m, dtype).T).reshape(x.shape[0], n, m + 1)
    return (P @ _with_one(x)[:, :, None])[:, :, 0]


def taylor2_dense_grad_w(x: Any, grad_y: Any, out: Any = None) -> Any:
    """dL/dW of ``taylor2_dense`` given dL/dy (N, n): grad_yᵀ · z, shape (n, D).

    ``out``: an array of n·D elements to write into (any shape, C-contiguous, of the
    result's dtype), so that a caller can receive it as a flat vector without a copy.
    """
    check_ndim("taylor2_dense_grad_w", "x", x, 2, "(N, m)")
    check_ndim("taylor2_dense_grad_w", "grad_y", grad_y, 2, "(N, n)")
    N, m = x.shape
    n = grad_y.shape[1]
    if grad_y.shape[0] != N:
        raise ValueError(f"taylor2_dense_grad_w: grad_y has {grad_y.shape[0]} rows, x has {N}")
    dtype = float_dtype("taylor2_dense_grad_w", x, grad_y)
    xp = get_array_module(x)
    x = x.astype(dtype, copy=False)
    V = (grad_y.astype(dtype, copy=False)[:, :, None] * _with_one(x)[:, None, :])
    if out is None:
        out = xp.empty((n, m + m * m), dtype=dtype)
    if out.size != n * (m + m * m) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"taylor2_dense_grad_w: out must be C-contiguous {dtype} with {n * (m + m * m)} "
            f"elements, got {out.dtype} of shape {tuple(out.shape)}"
        )
    xp.matmul(V.reshape(N, -1).T, x, out=out.reshape(-1, m))
    return out


def taylor2_dense_grad_x(x: Any, W: Any, grad_y: Any) -> Any:
    """dL/dx of ``taylor2_dense`` given dL/dy (N, n): shape (N, m).

    dx[b, c] = sum_{k,r} grad_y[b, k] x~[b, r] W3[k, r, c] + sum_k grad_y[b, k] P[b, k, c + 1]
    (P as in the forward pass, computed again here).
    """
    n, m = _check_dense("taylor2_dense_grad_x", x, W)
    N = x.shape[0]
    if grad_y.shape != (N, n):
        raise ValueError(f"taylor2_dense_grad_x: grad_y must have shape {(N, n)}, "
                         f"got {tuple(grad_y.shape)}")
    dtype = float_dtype("taylor2_dense_grad_x", x, W, grad_y)
    x, g = x.astype(dtype, copy=False), grad_y.astype(dtype, copy=False)
    rows = _rows(W, m, dtype)
    V = (g[:, :, None] * _with_one(x)[:, None, :]).reshape(N, -1)
    P = (x @ rows.T).reshape(N, n, m + 1)
    return V @ rows + (g[:, None, :] @ P[:, :, 1:])[:, 0, :]


# --------------------------------------------------------------------------------------
# the same contraction through cross-correlations, for short blocks
# --------------------------------------------------------------------------------------
#
# A run of ``_block_runs`` contributes coef * sum_t x[c0 + t] * M[off + t, j] to y[b, k, j].
# With the lag g = off - c0 that sum is the cross-correlation of x with column j of M,
#
#     C_j(g) = sum_v x[v] * M[v + g, j]      (x zero outside [0, m), M outside [0, L)),
#
# because a run always covers every v where both factors are non-zero (it ends where x or
# the block ends). So
#
#     y[b, k, j]  = sum over the runs of block k of coef * C_j(g)
#     dM[i, j]    = sum_b sum_g w[b, j, g] * x[b, i - g],
#     w[b, j, g]  = sum over the runs with lag g of coef * dy[b, k, j]
#
# and all m + L - 1 lags of C_j (or the whole convolution for dM) come from FFTs of length
# nfft >= m + L - 1 (zero padding, so the circular products do not wrap onto the lags
# used). Per sample and column this costs O(nfft log nfft) instead of the direct route's
# O(D) = O(m²): for the Kronecker layout's blocks of L = m + 1 that is about 6x fewer
# operations. For long blocks (tinyBIG's layout, L = 8 * 785, r = 1) the direct sum is
# cheaper; ``contract_method`` chooses. The FFTs run in float64 whatever the input dtype:
# NumPy's float32 FFT is slower here, and float64 keeps the result as exact as the sum.


def contract_method(m: int, L: int, r: int) -> str:
    """'fft' or 'direct': which route ``taylor2_contract`` takes for x (N, m), M (L, r).

    Estimated cost per sample of one pass (forward, or dM): the direct sum makes r * D
    multiply-adds (D = m + m²); the FFT route about r + 1 transforms of length nfft, each
    about nfft * log2(nfft) butterfly steps, and a butterfly step in NumPy takes about
    as long as 8 multiply-adds in a compiled loop. Calibrated on the development machine
    (N = 64, float32, 2 threads, 2026-12-02): m = 784, L = 785, r = 5 took 24 + 18 ms
    direct against 8 + 8 ms through FFTs (forward + dM); L = 6280, r = 1: 6 + 4 ms direct
    against 10 + 10 ms. For m = 64 both routes take about 1 ms.
    """
    nfft = _fft_size(m + L - 1)
    fft_cost = 8 * (r + 1) * nfft * np.log2(nfft)
    return "fft" if fft_cost < r * (m + m * m) else "direct"


CONTRACT_METHODS = ("auto", "direct", "fft")


def _resolve_method(kernel: str, method: str, m: int, L: int, r: int) -> str:
    if method not in CONTRACT_METHODS:
        raise ValueError(f"{kernel}: method must be one of {CONTRACT_METHODS}, got {method!r}")
    return contract_method(m, L, r) if method == "auto" else method


def _fft_size(n: int) -> int:
    """The smallest 2^a * 3^b * 5^c >= n: lengths NumPy's FFT handles fastest.

    (For m = 784, L = 785: 1600 instead of the power of two 2048; measured here, 320
    transforms of 1600 points take 15-20% less time than of 2048.)
    """
    best = 1 << max(0, int(n) - 1).bit_length()
    power_of_5 = 1
    while power_of_5 < best:
        power_of_3_and_5 = power_of_5
        while power_of_3_and_5 < best:
            size = power_of_3_and_5
            while size < n:
                size *= 2
            best = min(best, size)
            power_of_3_and_5 *= 3
        power_of_5 *= 5
    return best


@functools.lru_cache(maxsize=32)
def _lag_tables(m: int, L: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                         np.ndarray]:
    """The runs of ``_block_runs`` rearranged for the FFT route, for x of width m, blocks of L.

    A run's coefficient is named by its index into xc = [1, x[0], ..., x[m-1], 0]: 0 for
    the linear part, a + 1 for x[a], and m + 1 (a zero) pads a table row. Lags are stored
    modulo nfft, as positions in the FFT's output. Returns

        nfft
        block_coef, block_lag   (c, R):  the runs of block k (forward)
        lags                    (U,):    the distinct lags
        lag_coef, lag_block     (U, R2): the runs with each lag and their block (dM)
    """
    D = m + m * m
    c = D // L
    runs, starts = _block_runs(m, L, c)
    nfft = _fft_size(m + L - 1)
    coef = runs[:, 0] + 1
    lag = (runs[:, 3] - runs[:, 1]) % nfft
    block = np.repeat(np.arange(c), np.diff(starts))

    def grouped(group: np.ndarray, n_groups: int, coefs: np.ndarray,
                other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # two (n_groups, R) tables whose row g holds group g's runs in order (``group``
        # sorted): their coefficient indices, padded with m + 1 (the zero), and ``other``,
        # padded with 0
        counts = np.bincount(group, minlength=n_groups)
        slot = np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)
        coef_table = np.full((n_groups, counts.max()), m + 1, np.int64)
        other_table = np.zeros_like(coef_table)
        coef_table[group, slot] = coefs
        other_table[group, slot] = other
        return coef_table, other_table

    block_coef, block_lag = grouped(block, c, coef, lag)
    order = np.argsort(lag, kind="stable")
    lags, lag_group = np.unique(lag[order], return_inverse=True)
    lag_coef, lag_block = grouped(lag_group, len(lags), coef[order], block[order])
    return nfft, block_coef, block_lag, lags, lag_coef, lag_block


def _with_one_and_zero(x: Any) -> Any:
    """xc = [1, x, 0] per row, in float64: the table's coefficients by index."""
    xp = get_array_module(x)
    n = x.shape[0]
    return xp.concatenate([xp.ones((n, 1)), x.astype(np.float64), xp.zeros((n, 1))], axis=1)


def _tables_on(x: Any, m: int, L: int) -> tuple:
    """``_lag_tables(m, L)`` with the tables on x's backend (copied to the GPU for CuPy)."""
    xp = get_array_module(x)
    nfft, *tables = _lag_tables(m, L)
    return (nfft, *(t if xp is np else xp.asarray(t) for t in tables))


def _contract_fft(x: Any, M: Any) -> Any:
    """``taylor2_contract`` through cross-correlations; float64 result."""
    xp = get_array_module(x)
    n, m = x.shape
    L, r = M.shape
    nfft, block_coef, block_lag, *_ = _tables_on(x, m, L)
    xc = _with_one_and_zero(x)
    X = xp.fft.rfft(xc[:, 1:m + 1], nfft, axis=1)                  # (N, F)
    Mf = xp.fft.rfft(M.T.astype(np.float64), nfft, axis=1)          # (r, F)
    # the correlation theorem: C_j = irfft(conj(X) * FFT(M_j)), lag g at position g mod nfft
    C = xp.fft.irfft(xp.conj(X)[:, None, :] * Mf[None, :, :], nfft, axis=2)   # (N, r, nfft)
    y = xp.empty((n, block_coef.shape[0], r))
    if use_numba(x, M):
        _gather_runs_numba(C, xc, block_coef, block_lag, y)
    else:
        _gather_runs_xp(C, xc, block_coef, block_lag, y)
    return y


def _contract_grad_m_fft(x: Any, grad_y: Any) -> Any:
    """``taylor2_contract_grad_m`` through a convolution summed over samples; float64."""
    xp = get_array_module(x)
    n, m = x.shape
    c, r = grad_y.shape[1], grad_y.shape[2]
    L = (m + m * m) // c
    nfft, _, _, lags, lag_coef, lag_block = _tables_on(x, m, L)
    xc = _with_one_and_zero(x)
    g = grad_y.astype(np.float64)
    w = xp.zeros((n, r, nfft))
    if use_numba(x, grad_y):
        _scatter_lags_numba(xc, g, lags, lag_coef, lag_block, w)
    else:
        _scatter_lags_xp(xc, g, lags, lag_coef, lag_block, w)
    W = xp.fft.rfft(w, axis=2)                                      # (N, r, F)
    X = xp.fft.rfft(xc[:, 1:m + 1], nfft, axis=1)                  # (N, F)
    # the convolution theorem, and the sum over samples taken before the inverse FFT
    dM = xp.fft.irfft(xp.einsum("bjf,bf->jf", W, X), nfft, axis=1)[:, :L]
    return xp.ascontiguousarray(dM.T)


def _gather_runs_xp(C: Any, xc: Any, block_coef: Any, block_lag: Any, y: Any) -> None:
    """y[b, k, j] = sum_p xc[b, block_coef[k, p]] * C[b, j, block_lag[k, p]]."""
    coef = xc[:, block_coef]                                        # (N, c, R)
    terms = C[:, :, block_lag]                                      # (N, r, c, R)
    y[...] = (terms * coef[:, None]).sum(axis=3).transpose(0, 2, 1)


def _scatter_lags_xp(xc: Any, g: Any, lags: Any, lag_coef: Any, lag_block: Any, w: Any) -> None:
    """w[b, j, lags[u]] = sum_p xc[b, lag_coef[u, p]] * g[b, lag_block[u, p], j]."""
    coef = xc[:, lag_coef]                                          # (N, U, R2)
    terms = g[:, lag_block, :]                                      # (N, U, R2, r)
    w[:, :, lags] = (terms * coef[..., None]).sum(axis=2).transpose(0, 2, 1)


@njit(fastmath=FASTMATH, **PARALLEL_JIT)
def _gather_runs_numba(C, xc, block_coef, block_lag, y):
    """The loop of ``_gather_runs_xp``."""
    n, c, r = y.shape
    R = block_coef.shape[1]
    for b in prange(n):
        for k in range(c):
            for j in range(r):
                acc = 0.0
                for p in range(R):
                    acc += xc[b, block_coef[k, p]] * C[b, j, block_lag[k, p]]
                y[b, k, j] = acc


@njit(fastmath=FASTMATH, **PARALLEL_JIT)
def _scatter_lags_numba(xc, g, lags, lag_coef, lag_block, w):
    """The loop of ``_scatter_lags_xp``."""
    n, r = w.shape[0], w.shape[1]
    U, R2 = lag_coef.shape
    for b in prange(n):
        for j in range(r):
            for u in range(U):
                acc = 0.0
                for p in range(R2):
                    acc += xc[b, lag_coef[u, p]] * g[b, lag_block[u, p], j]
                w[b, j, lags[u]] = acc
