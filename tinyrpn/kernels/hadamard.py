"""The fast Walsh–Hadamard transform (FWHT), along the last axis.

The Hadamard matrix of order n = 2^k is built by Sylvester's construction,

    H_1 = [1],      H_2n = [[H_n,  H_n],
                            [H_n, -H_n]],

so every entry is ±1, H is symmetric and H H = n I (H / √n is orthogonal and its own
inverse). ``fwht(x)`` computes y = H x for every vector along the last axis of ``x`` in
O(n log n) additions instead of the n² of a matrix product: k stages of butterflies, the
stage with half-width h replacing each pair (a, b) = (x[i], x[i + h]) by (a + b, a − b)
for every i whose bit h is 0. With ``normalize=True`` the result is divided by √n.

Two implementations, the same butterflies:

* the ``xp`` twin (NumPy, or CuPy on a GPU): each stage is one vectorised expression over
  an (…, n / 2h, 2, h) view;
* Numba on the CPU, cache-friendly, and parallel for big batches. View a vector as an
  (n / b, b) matrix with b = min(n, 4096): because H_n = H_(n/b) ⊗ H_b, the transform is
  H_b along every row (the stages with h < b, each row a contiguous block that stays in
  L1 cache), then H_(n/b) down every column (the stages with h ≥ b, done on bundles of
  adjacent columns so every butterfly reads and writes contiguous memory). For inputs of
  2^20 numbers or more both phases run in parallel, over (vector, row) and (vector,
  column bundle); smaller ones run the same loops on one thread.

Neither writes into its input: the result is a new array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from ..backend import get_array_module
from ._common import FASTMATH, JIT, PARALLEL_JIT, contiguous, float_dtype, use_numba

__all__ = ["fwht", "fwht_numba", "fwht_xp", "is_power_of_two"]

# Blocks of this many numbers (16 KiB in float32) are transformed whole in L1 cache.
_BLOCK = 4096
# Columns handled together in the second phase: 16 float32 are one 64-byte cache line.
_BUNDLE = 16
# Below this many numbers in all, use the serial loop. Each parallel phase ends at a
# barrier where every thread waits for the slowest; one vector of 2^18 numbers takes only
# a few milliseconds serially, and on a busy machine (another process holding a core) the
# waiting made the 2-thread version 3-5 times slower than the serial one. Batches of 2^20
# numbers and more have enough work per thread to be worth it.
_PARALLEL_MIN = 1 << 20


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def _check(x: Any) -> int:
    if not hasattr(x, "ndim") or x.ndim < 1:
        raise ValueError(
            f"fwht: x must be an array with at least one axis (the vectors lie along the "
            f"last), got {type(x).__name__} of shape {getattr(x, 'shape', ())}"
        )
    n = int(x.shape[-1])
    if not is_power_of_two(n):
        smaller = 1 << (n.bit_length() - 1) if n > 0 else 1
        raise ValueError(
            f"fwht: the last axis of x (shape {tuple(x.shape)}) has length {n}, which is "
            f"not a power of two; pad it with zeros to {smaller * 2 if n > 0 else 1} "
            f"(or cut it to {smaller})"
        )
    float_dtype("fwht", x)
    return n


def fwht(x: Any, normalize: bool = False) -> Any:
    """y = H_n x along the last axis of ``x`` (n a power of two), as a new array.

    ``normalize=True`` returns H_n x / √n instead (the orthonormal transform, which is its
    own inverse). Float32 or float64; NumPy arrays use the Numba kernel unless
    ``TINYRPN_NUMBA=0``, CuPy arrays the ``xp`` twin.
    """
    _check(x)
    if use_numba(x):
        return fwht_numba(x, normalize)
    return fwht_xp(x, normalize)


def fwht_xp(x: Any, normalize: bool = False) -> Any:
    """The array-module twin of :func:`fwht` (NumPy or CuPy), one expression per stage."""
    n = _check(x)
    xp = get_array_module(x)
    lead = tuple(x.shape[:-1])
    y = x.reshape(-1, n)
    h = 1
    while h < n:
        # Pairs (i, i + h) inside each block of 2h: axis 1 is the block, axis 2 the half.
        v = y.reshape(y.shape[0], n // (2 * h), 2, h)
        y = xp.stack((v[:, :, 0] + v[:, :, 1], v[:, :, 0] - v[:, :, 1]), axis=2)
        h *= 2
    y = y.reshape(*lead, n)
    if n == 1:  # no stage ran: y is still a view of x, and the result must be a new array
        y = y.copy()
    if normalize:
        y = y * y.dtype.type(1.0 / np.sqrt(n))
    return y


def fwht_numba(x: Any, normalize: bool = False) -> np.ndarray:
    """The Numba implementation of :func:`fwht` (NumPy arrays only)."""
    n = _check(x)
    dtype = float_dtype("fwht", x)
    vectors = contiguous(x, dtype).reshape(-1, n)
    block = min(n, _BLOCK)
    kernel = _fwht_parallel if vectors.size >= _PARALLEL_MIN else _fwht_serial
    out = kernel(vectors, block, min(block, _BUNDLE))
    if normalize:
        out *= dtype.type(1.0 / np.sqrt(n))
    return out.reshape(x.shape)


# The butterflies. Two stages at a time (radix 4) halve the passes over memory: for the
# four numbers (p, q, u, w) at offsets 0, h, 2h, 3h, stage h gives (p+q, p-q, u+w, u-w)
# and stage 2h combines those into the four sums below. The first three stages (h = 1, 2,
# 4) are done together on each run of 8 numbers, fully unrolled, because loops of length
# 1 or 2 cannot be vectorised.


@njit(**JIT, fastmath=FASTMATH)
def _across_rows(a, start, count, stride, width):  # pragma: no cover
    """H_count applied across ``count`` rows of ``width`` contiguous numbers of the flat
    array ``a``, row r starting at ``start + r * stride`` (every column transformed)."""
    h = 1
    while 4 * h <= count:
        for r0 in range(0, count, 4 * h):
            for r in range(r0, r0 + h):
                i0 = start + r * stride
                i1 = i0 + h * stride
                i2 = i1 + h * stride
                i3 = i2 + h * stride
                for c in range(width):
                    p = a[i0 + c]
                    q = a[i1 + c]
                    u = a[i2 + c]
                    w = a[i3 + c]
                    a[i0 + c] = (p + q) + (u + w)
                    a[i1 + c] = (p - q) + (u - w)
                    a[i2 + c] = (p + q) - (u + w)
                    a[i3 + c] = (p - q) - (u - w)
        h *= 4
    if 2 * h <= count:  # an odd number of stages: one radix-2 stage is left
        for r in range(h):
            i0 = start + r * stride
            i1 = i0 + h * stride
            for c in range(width):
                p = a[i0 + c]
                q = a[i1 + c]
                a[i0 + c] = p + q
                a[i1 + c] = p - q


@njit(**JIT, fastmath=FASTMATH)
def _block(a, start, n):  # pragma: no cover
    """H_n applied to the contiguous run ``a[start:start + n]``."""
    h = 1
    if n >= 8:
        for i in range(start, start + n, 8):
            y0 = a[i] + a[i + 1]
            y1 = a[i] - a[i + 1]
            y2 = a[i + 2] + a[i + 3]
            y3 = a[i + 2] - a[i + 3]
            y4 = a[i + 4] + a[i + 5]
            y5 = a[i + 4] - a[i + 5]
            y6 = a[i + 6] + a[i + 7]
            y7 = a[i + 6] - a[i + 7]
            z0, z1, z2, z3 = y0 + y2, y1 + y3, y0 - y2, y1 - y3
            z4, z5, z6, z7 = y4 + y6, y5 + y7, y4 - y6, y5 - y7
            a[i], a[i + 1], a[i + 2], a[i + 3] = z0 + z4, z1 + z5, z2 + z6, z3 + z7
            a[i + 4], a[i + 5], a[i + 6], a[i + 7] = z0 - z4, z1 - z5, z2 - z6, z3 - z7
        h = 8
    if h < n:  # the later stages: the run as an (n/h, h) matrix, transformed down columns
        _across_rows(a, start, n // h, h, h)


@njit(**PARALLEL_JIT, fastmath=FASTMATH)
def _fwht_parallel(x, block, bundle):  # pragma: no cover
    count, n = x.shape
    out = x.copy().reshape(-1)
    rows = n // block  # each vector seen as a (rows, block) matrix
    # Phase 1: H_block along every row (the stages h < block), a row per task.
    for task in prange(count * rows):
        _block(out, task * block, block)
    # Phase 2: H_rows down every column (the stages h >= block), a column bundle per task.
    if rows > 1:
        bundles = block // bundle
        for task in prange(count * bundles):
            v = task // bundles
            _across_rows(out, v * n + (task % bundles) * bundle, rows, block, bundle)
    return out.reshape(count, n)


@njit(**JIT, fastmath=FASTMATH)
def _fwht_serial(x, block, bundle):  # pragma: no cover
    count, n = x.shape
    out = x.copy().reshape(-1)
    rows = n // block
    for task in range(count * rows):
        _block(out, task * block, block)
    if rows > 1:
        bundles = block // bundle
        for task in range(count * bundles):
            v = task // bundles
            _across_rows(out, v * n + (task % bundles) * bundle, rows, block, bundle)
    return out.reshape(count, n)
