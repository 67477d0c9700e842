"""log-softmax and softmax cross-entropy along the last axis of a 2-D array.

For a row of logits z (length C), numerically stable through the row maximum m:

    logsumexp(z) = m + log sum_j exp(z_j - m)
    log_softmax(z)_j = z_j - logsumexp(z)
    softmax(z)_j     = exp(z_j - m) / sum_k exp(z_k - m)

Cross-entropy of a row with integer class t, and its gradient:

    loss = logsumexp(z) - z_t
    dloss/dz_j = softmax(z)_j - [j == t]

so the forward pass keeps the probabilities for the backward pass. The per-sample losses
come back unreduced; the caller scales grad_losses for a mean or a sum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..backend import get_array_module
from ._common import FASTMATH, JIT, check_ndim, contiguous, float_dtype, use_numba

# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------


def _check_target(kernel: str, target: Any, n: int, classes: int) -> Any:
    """Return target as an int64 array of shape (n,) with values in [0, classes).

    An out-of-range class would index outside a row in the compiled loops (which do no
    bounds checks), so it is an error here, naming the first bad entry.
    """
    xp = get_array_module(target)
    target = xp.asarray(target)
    if target.shape != (n,):
        raise ValueError(f"{kernel}: target must have shape ({n},), got {tuple(target.shape)}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{kernel}: target must hold integer class indices, got {target.dtype}")
    target = target.astype(xp.int64, copy=False)
    if use_numba(target):
        target = np.ascontiguousarray(target)
        i = _first_out_of_range(target, classes)  # one pass, no temporaries
    elif n and bool(((target < 0) | (target >= classes)).any()):
        i = int(xp.argmax((target < 0) | (target >= classes)))
    else:
        i = -1
    if i >= 0:
        raise IndexError(
            f"{kernel}: target[{i}] = {int(target[i])} is out of range for {classes} classes "
            f"(valid values are 0 ... {classes - 1})"
        )
    return target


@njit(**JIT)
def _first_out_of_range(target, classes):
    """The first i with target[i] outside [0, classes), or -1."""
    for i in range(target.shape[0]):
        if target[i] < 0 or target[i] >= classes:
            return i
    return -1


# --------------------------------------------------------------------------------------
# the xp twins
# --------------------------------------------------------------------------------------


def _logsumexp_xp(x: Any) -> Any:
    """m + log(sum(exp(x - m))) per row, the sum in float64; shape (rows, 1)."""
    xp = get_array_module(x)
    m = x.max(axis=1, keepdims=True)
    return m + xp.log(xp.exp(x - m).sum(axis=1, keepdims=True, dtype=xp.float64))


def log_softmax_xp(x: Any) -> Any:
    """The twin of ``log_softmax``: x - logsumexp(x)."""
    return (x - _logsumexp_xp(x)).astype(x.dtype, copy=False)


def cross_entropy_forward_xp(logits: Any, target: Any) -> tuple[Any, Any]:
    """The twin of ``cross_entropy_forward``: loss = logsumexp - z_t, probs = exp(z - logsumexp)."""
    xp = get_array_module(logits)
    lse = _logsumexp_xp(logits)
    rows = xp.arange(logits.shape[0])
    losses = (lse[:, 0] - logits[rows, target]).astype(logits.dtype, copy=False)
    probs = xp.exp(logits - lse).astype(logits.dtype, copy=False)
    return losses, probs


def cross_entropy_backward_xp(grad_losses: Any, probs: Any, target: Any) -> Any:
    """The twin of ``cross_entropy_backward``: grad_losses[:, None] * (probs - onehot(target))."""
    xp = get_array_module(probs)
    grad = probs.copy()
    grad[xp.arange(probs.shape[0]), target] -= 1
    return grad * grad_losses.astype(probs.dtype, copy=False)[:, None]


# --------------------------------------------------------------------------------------
# Numba: serial loops over rows
# --------------------------------------------------------------------------------------
#
# Serial on purpose: a classifier's logits are small (512 x 10 for MNIST), so waking
# threads would cost more than the arithmetic, and each parallel kernel would add
# seconds of compilation for nothing.


@njit(inline="always", **JIT)
def _row_max(x, r):
    """max_j x[r, j], in x's dtype."""
    m = x[r, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[r, j])
    return m


# exp is taken in the input's own dtype (expf for float32 is about twice as fast as exp,
# and exp(x - m) <= 1 loses nothing that matters); the sums are float64.


@njit(fastmath=FASTMATH, **JIT)
def _log_softmax_numba(x, out):
    """out[r] = x[r] - (m + log sum_j exp(x[r, j] - m)), m = max_j x[r, j]."""
    rows, classes = x.shape
    for r in range(rows):
        m = _row_max(x, r)
        s = 0.0
        for j in range(classes):
            s += np.exp(x[r, j] - m)
        lse = m + np.log(s)
        for j in range(classes):
            out[r, j] = x[r, j] - lse


@njit(fastmath=FASTMATH, **JIT)
def _cross_entropy_forward_numba(logits, target, losses, probs):
    """probs[r] = softmax(logits[r]); losses[r] = logsumexp(logits[r]) - logits[r, target[r]]."""
    rows, classes = logits.shape
    for r in range(rows):
        m = _row_max(logits, r)
        s = 0.0
        for j in range(classes):
            e = np.exp(logits[r, j] - m)
            probs[r, j] = e  # unnormalised for now; scaled below, saving a second exp
            s += e
        inv = 1.0 / s
        for j in range(classes):
            probs[r, j] *= inv
        losses[r] = m + np.log(s) - logits[r, target[r]]


@njit(**JIT)
def _cross_entropy_backward_numba(grad_losses, probs, target, grad):
    """grad[r] = grad_losses[r] * (probs[r] - onehot(target[r]))."""
    rows, classes = probs.shape
    for r in range(rows):
        g = grad_losses[r]
        for j in range(classes):
            grad[r, j] = g * probs[r, j]
        grad[r, target[r]] -= g


# --------------------------------------------------------------------------------------
# public dispatchers
# --------------------------------------------------------------------------------------


def _check_2d(kernel: str, name: str, x: Any) -> None:
    check_ndim(kernel, name, x, 2, "(rows, classes)")
    if x.shape[1] == 0:
        raise ValueError(f"{kernel}: {name} has no classes, shape {tuple(x.shape)}")


def log_softmax(x: Any) -> Any:
    """log_softmax along the last axis of a 2-D array: x_j - (m + log sum_k exp(x_k - m))."""
    _check_2d("log_softmax", "x", x)
    dtype = float_dtype("log_softmax", x)
    if not use_numba(x):
        return log_softmax_xp(x)
    x = contiguous(x, dtype)
    out = np.empty_like(x)
    _log_softmax_numba(x, out)
    return out


def cross_entropy_forward(logits: Any, target: Any) -> tuple[Any, Any]:
    """Per-sample softmax cross-entropy: returns (losses (N,), probs (N, C)).

    losses[n] = logsumexp(logits[n]) - logits[n, target[n]]; probs = softmax(logits), kept
    for the backward pass. target holds integer classes in [0, C); an out-of-range value
    raises IndexError naming it.
    """
    kernel = "cross_entropy_forward"
    _check_2d(kernel, "logits", logits)
    dtype = float_dtype(kernel, logits)
    target = _check_target(kernel, target, *logits.shape)
    if not use_numba(logits, target):
        return cross_entropy_forward_xp(logits, target)
    logits = contiguous(logits, dtype)
    losses = np.empty(logits.shape[0], dtype=dtype)
    probs = np.empty_like(logits)
    _cross_entropy_forward_numba(logits, target, losses, probs)
    return losses, probs


def cross_entropy_backward(grad_losses: Any, probs: Any, target: Any) -> Any:
    """dL/dlogits = grad_losses[:, None] * (probs - onehot(target)), grad_losses of shape (N,)."""
    kernel = "cross_entropy_backward"
    _check_2d(kernel, "probs", probs)
    if grad_losses.shape != probs.shape[:1]:
        raise ValueError(
            f"{kernel}: grad_losses must have shape ({probs.shape[0]},) to match probs "
            f"{tuple(probs.shape)}, got {tuple(grad_losses.shape)}"
        )
    dtype = float_dtype(kernel, probs)
    target = _check_target(kernel, target, *probs.shape)
    if not use_numba(grad_losses, probs, target):
        return cross_entropy_backward_xp(grad_losses, probs, target)
    grad_losses = contiguous(grad_losses, dtype)
    probs = contiguous(probs, dtype)
    grad = np.empty_like(probs)
    _cross_entropy_backward_numba(grad_losses, probs, target, grad)
    return grad
