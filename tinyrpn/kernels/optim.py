"""Fused optimizer loops: one pass over memory per parameter, in place.

An optimizer step written as array expressions (``exp_avg = beta1 * exp_avg + ...``,
``param -= step_size * exp_avg / denom``) makes a temporary array for every operator and
reads and writes each array many times. For the 39.7-million-float layer of the reference
RPN that is gigabytes of memory traffic per step. The loops here read each element of the
parameter, its gradient and its state once, do all the arithmetic in registers, and write
the results back: one pass, parallel over elements for large parameters.

Each loop fuses an update that its optimizer's own file writes out as the formula in plain
array code (``tinyrpn/optim/adam.py``, ``sgd.py``, ``madgrad.py``, ``lookahead.py``): that
plain code is the definition, and the fast path there (``_fused_adam_step``, ...) calls the
loop when :func:`fusable` says it can take the arrays. Tests check that both agree.

Calling convention: the arrays are flat, C-contiguous and of one float dtype
(:func:`flat` makes them so; an unused state array is an empty placeholder), and every
scalar is already rounded to that dtype, as PyTorch rounds its Python-float scalars to the
tensor's dtype. The parameter and the state arrays are updated in place; the gradient is
only read.

    adam_loop                       Adam / AdamW (L2 or decoupled weight decay, AMSGrad)
    sgd_loop                        SGD with momentum, dampening, Nesterov, L2 weight decay
    madgrad_loop                    MADGRAD with momentum (dual averaging, a cube root)
    madgrad_loop_without_momentum   MADGRAD with momentum 0 (x0 is not stored)
    lookahead_loop                  Lookahead's pull of the slow weights, reset of the fast
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from ._common import FASTMATH, FLOAT_DTYPES, PARALLEL_JIT, use_numba

# Below this many elements a parameter is updated by a serial loop inside the same kernel:
# starting the worker threads of a parallel loop costs more than the loop itself.
PARALLEL_MIN_SIZE = 1 << 16

# ``error_model="numpy"``: a division by zero gives inf/NaN as in NumPy instead of raising
# (the Python model also puts a check before every division, which stops vectorisation).
_LOOP_JIT = {**PARALLEL_JIT, "fastmath": FASTMATH, "error_model": "numpy"}
_INLINE_JIT = {"inline": "always", "fastmath": FASTMATH, "error_model": "numpy", "cache": True}

# Stand-in for a state array a variant does not use (AMSGrad's max, SGD's momentum buffer):
# Numba needs an array of the right dtype in every argument slot.
_EMPTY = {np.dtype(t): np.empty(0, t) for t in (np.float32, np.float64)}


# --------------------------------------------------------------------------------------
# when the loops apply, and their arguments
# --------------------------------------------------------------------------------------


def fusable(param: Any, *states: Any) -> bool:
    """True when the compiled loops can update ``param`` and its ``states`` in place.

    That needs NumPy arrays with Numba on, a float32/float64 parameter that is C-contiguous
    and writeable (a loop walks its memory as one flat vector), and state arrays of the
    same dtype and layout (the optimizers allocate them that way; None stands for an unused
    one). Anything else (CuPy arrays, ``TINYRPN_NUMBA=0``, a strided parameter, float16)
    takes the optimizer's plain array code, which handles every layout and dtype.
    """
    if not use_numba(param) or param.dtype not in FLOAT_DTYPES:
        return False
    if not (param.flags.c_contiguous and param.flags.writeable):
        return False
    for s in states:
        if s is None:
            continue
        if not isinstance(s, np.ndarray) or s.dtype != param.dtype:
            return False
        if not (s.flags.c_contiguous and s.flags.writeable):
            return False
    return True


def flat(array: Any, dtype: np.dtype) -> np.ndarray:
    """``array`` as a flat C-contiguous array of ``dtype``, for a loop's argument.

    A view when the array already is one (a parameter or state array that passed
    :func:`fusable`, so the loop writes into it); a converted copy otherwise (a gradient
    of another dtype or layout, which is only read); an empty placeholder for None.
    """
    if array is None:
        return _EMPTY[dtype]
    if array.dtype != dtype:
        array = array.astype(dtype)
    # ravel() is a view of a C-contiguous array, else a C-ordered copy; it is also the
    # cheapest of the ways to say so (this runs for every parameter at every step).
    return np.asarray(array).ravel()


# --------------------------------------------------------------------------------------
# The loops below share one shape: an inline function does one element's arithmetic on
# scalars and returns the new values; the loop runs it over the flat arrays, in parallel
# (``prange``) for large parameters and serially for small ones, where waking the worker
# threads costs more than the loop. Flags like ``amsgrad`` are the same for every element
# and cost nothing measurable in these memory-bound loops; MADGRAD's momentum did (it
# changes the arithmetic too much for the compiler to split the loop), so MADGRAD has two
# loops instead.
# --------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------
# Adam / AdamW
# --------------------------------------------------------------------------------------


@njit(**_INLINE_JIT)
def _adam_element(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, l2_weight_decay,
                  decay_factor, one_minus_beta1, beta2, one_minus_beta2, step_size,
                  bias_correction2_sqrt, eps, use_l2, amsgrad):  # pragma: no cover - compiled
    if use_l2:
        grad = grad + l2_weight_decay * param
    param = param * decay_factor
    exp_avg = exp_avg + one_minus_beta1 * (grad - exp_avg)
    exp_avg_sq = exp_avg_sq * beta2 + one_minus_beta2 * grad * grad
    second_moment = exp_avg_sq
    if amsgrad:
        max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)
        second_moment = max_exp_avg_sq
    param = param - step_size * (exp_avg / (np.sqrt(second_moment) / bias_correction2_sqrt
                                            + eps))
    return param, exp_avg, exp_avg_sq, max_exp_avg_sq


@njit(**_LOOP_JIT)
def adam_loop(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, l2_weight_decay,
              decay_factor, one_minus_beta1, beta2, one_minus_beta2, step_size,
              bias_correction2_sqrt, eps, amsgrad):  # pragma: no cover - compiled
    """One Adam step over flat arrays, in place (``tinyrpn.optim.adam``'s fast path).

    For every element, with the scalars computed by the caller::

        grad           = grad + l2_weight_decay * param        (Adam's L2 penalty, or 0)
        param          = param * decay_factor                  (AdamW: 1 - lr * weight_decay)
        exp_avg        = exp_avg + one_minus_beta1 * (grad - exp_avg)
        exp_avg_sq     = beta2 * exp_avg_sq + one_minus_beta2 * grad^2
        max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)       (amsgrad; used below instead)
        param          = param - step_size * exp_avg
                                 / (sqrt(exp_avg_sq) / bias_correction2_sqrt + eps)

    ``max_exp_avg_sq`` is an empty placeholder when ``amsgrad`` is False.
    """
    zero = param.dtype.type(0)
    use_l2 = l2_weight_decay != 0  # tested once, here
    if param.size >= PARALLEL_MIN_SIZE:
        for i in prange(param.size):
            param[i], exp_avg[i], exp_avg_sq[i], new_max = _adam_element(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                max_exp_avg_sq[i] if amsgrad else zero, l2_weight_decay, decay_factor,
                one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt,
                eps, use_l2, amsgrad)
            if amsgrad:
                max_exp_avg_sq[i] = new_max
    else:
        for i in range(param.size):
            param[i], exp_avg[i], exp_avg_sq[i], new_max = _adam_element(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i],
                max_exp_avg_sq[i] if amsgrad else zero, l2_weight_decay, decay_factor,
                one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt,
                eps, use_l2, amsgrad)
            if amsgrad:
                max_exp_avg_sq[i] = new_max


# --------------------------------------------------------------------------------------
# SGD
# --------------------------------------------------------------------------------------


@njit(**_INLINE_JIT)
def _sgd_element(param, grad, momentum_buffer, lr, weight_decay, momentum,
                 one_minus_dampening, use_weight_decay, use_momentum, first_step,
                 nesterov):  # pragma: no cover - compiled
    if use_weight_decay:
        grad = grad + weight_decay * param
    if use_momentum:
        if first_step:
            momentum_buffer = grad
        else:
            momentum_buffer = momentum_buffer * momentum + one_minus_dampening * grad
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    # param + (-lr) * grad, as torch's add_(grad, alpha=-lr): with fastmath the compiler
    # rounds ``param - lr * grad`` differently in the vectorised loop (1 ulp, measured).
    return param + (-lr) * grad, momentum_buffer


@njit(**_LOOP_JIT)
def sgd_loop(param, grad, momentum_buffer, lr, weight_decay, momentum, one_minus_dampening,
             first_step, nesterov):  # pragma: no cover - compiled
    """One SGD step over flat arrays, in place (``tinyrpn.optim.sgd``'s fast path)::

        grad            = grad + weight_decay * param
        momentum_buffer = grad                                         (first_step)
        momentum_buffer = momentum * momentum_buffer + one_minus_dampening * grad   (later)
        grad            = grad + momentum * momentum_buffer   (nesterov)
                          or momentum_buffer                  (momentum != 0 otherwise)
        param           = param - lr * grad

    ``momentum_buffer`` is an empty placeholder when momentum is 0; on the first step it
    is written, never read.
    """
    zero = param.dtype.type(0)
    use_weight_decay, use_momentum = weight_decay != 0, momentum != 0  # tested once, here
    if param.size >= PARALLEL_MIN_SIZE:
        for i in prange(param.size):
            param[i], new_buffer = _sgd_element(
                param[i], grad[i], momentum_buffer[i] if use_momentum else zero, lr,
                weight_decay, momentum, one_minus_dampening, use_weight_decay, use_momentum,
                first_step, nesterov)
            if use_momentum:
                momentum_buffer[i] = new_buffer
    else:
        for i in range(param.size):
            param[i], new_buffer = _sgd_element(
                param[i], grad[i], momentum_buffer[i] if use_momentum else zero, lr,
                weight_decay, momentum, one_minus_dampening, use_weight_decay, use_momentum,
                first_step, nesterov)
            if use_momentum:
                momentum_buffer[i] = new_buffer


# --------------------------------------------------------------------------------------
# MADGRAD
# --------------------------------------------------------------------------------------


@njit(**_INLINE_JIT)
def _cbrt(x):  # pragma: no cover - compiled
    """Cube root of x >= 0, in float64, with plain arithmetic so that loops vectorise.

    Without Intel's SVML, ``x ** (1/3)`` and ``np.cbrt`` are scalar library calls, ten times
    slower than the rest of the MADGRAD update together. Instead: a first guess from the
    float64 bit pattern (divide the exponent by 3: high word / 3 + 0x2A9F7893, the classic
    trick of FreeBSD's ``cbrt``, within ~6%), then three Halley steps
    y <- y (y^3 + 2x) / (2 y^3 + x), each of which cubes the relative error
    (6% -> 1e-4 -> 1e-12 -> float64 rounding). Rounded to float32 this is the correctly
    rounded cube root of every float32 in our tests, denormals included. In float64 it is
    within a few ulps for 1e-200 < x < 1e200; beyond, y * (y^3 + 2x) over- or underflows
    (a sum of squared gradients is far inside that range).
    0 gives 0; NaN, negative x and +inf give NaN (the iteration computes inf/inf there;
    MADGRAD's sum of squares is never negative, and once it is inf the step is NaN anyway).
    Checking for inf as well would cost a third of MADGRAD's time.
    """
    xd = np.float64(x)
    hi = np.uint32(xd.view(np.uint64) >> np.uint64(32))
    hi = np.uint32(hi // np.uint32(3) + np.uint32(0x2A9F7893))
    y = np.uint64(np.uint64(hi) << np.uint64(32)).view(np.float64)
    for _ in range(3):
        y3 = y * y * y
        y = y * (y3 + 2.0 * xd) / (2.0 * y3 + xd)
    return y if xd > 0.0 else (xd if xd == 0.0 else np.nan)


@njit(**_LOOP_JIT)
def cbrt_loop(x, out):  # pragma: no cover - compiled
    """out[i] = cube root of x[i] (1-D arrays), so that tests can check ``_cbrt`` alone."""
    for i in prange(x.size):
        out[i] = out.dtype.type(_cbrt(x[i]))


@njit(**_INLINE_JIT)
def _madgrad_element(grad, grad_sum_sq, s, x0, lamb, eps):  # pragma: no cover - compiled
    """(z, grad_sum_sq, s) after accumulating grad: the dual-averaging point
    z = x0 - s / (cbrt(grad_sum_sq) + eps)."""
    grad_sum_sq = grad_sum_sq + lamb * grad * grad
    s = s + lamb * grad
    return x0 - s / (type(grad)(_cbrt(grad_sum_sq)) + eps), grad_sum_sq, s


@njit(**_LOOP_JIT)
def madgrad_loop(param, grad, grad_sum_sq, s, x0, lamb, eps, weight_decay, ck,
                 one_minus_ck):  # pragma: no cover - compiled
    """One MADGRAD step with momentum over flat arrays, in place (``tinyrpn.optim.madgrad``)::

        grad        = grad + weight_decay * param
        grad_sum_sq = grad_sum_sq + lamb * grad^2
        s           = s + lamb * grad
        z           = x0 - s / (cbrt(grad_sum_sq) + eps)
        param       = one_minus_ck * param + ck * z             (ck = 1 - momentum)
    """
    # A separate loop for momentum 0 rather than a flag: the compiler did not hoist that
    # test out of the loop, and the update ran at half speed.
    use_weight_decay = weight_decay != 0  # tested once, here
    if param.size >= PARALLEL_MIN_SIZE:
        for i in prange(param.size):
            g = grad[i] + weight_decay * param[i] if use_weight_decay else grad[i]
            z, grad_sum_sq[i], s[i] = _madgrad_element(g, grad_sum_sq[i], s[i], x0[i], lamb,
                                                       eps)
            param[i] = param[i] * one_minus_ck + ck * z
    else:
        for i in range(param.size):
            g = grad[i] + weight_decay * param[i] if use_weight_decay else grad[i]
            z, grad_sum_sq[i], s[i] = _madgrad_element(g, grad_sum_sq[i], s[i], x0[i], lamb,
                                                       eps)
            param[i] = param[i] * one_minus_ck + ck * z


@njit(**_LOOP_JIT)
def madgrad_loop_without_momentum(param, grad, grad_sum_sq, s, lamb, eps,
                                  weight_decay):  # pragma: no cover - compiled
    """One MADGRAD step with momentum 0 over flat arrays, in place: ``madgrad_loop``'s
    arithmetic with param = z, where x0 (not stored) is first recovered from the state
    before it changes, x0 = param + s / (cbrt(grad_sum_sq) + eps)."""
    use_weight_decay = weight_decay != 0  # tested once, here
    if param.size >= PARALLEL_MIN_SIZE:
        for i in prange(param.size):
            g = grad[i] + weight_decay * param[i] if use_weight_decay else grad[i]
            x0 = param[i] + s[i] / (type(g)(_cbrt(grad_sum_sq[i])) + eps)
            param[i], grad_sum_sq[i], s[i] = _madgrad_element(g, grad_sum_sq[i], s[i], x0,
                                                              lamb, eps)
    else:
        for i in range(param.size):
            g = grad[i] + weight_decay * param[i] if use_weight_decay else grad[i]
            x0 = param[i] + s[i] / (type(g)(_cbrt(grad_sum_sq[i])) + eps)
            param[i], grad_sum_sq[i], s[i] = _madgrad_element(g, grad_sum_sq[i], s[i], x0,
                                                              lamb, eps)


# --------------------------------------------------------------------------------------
# Lookahead
# --------------------------------------------------------------------------------------


@njit(**_LOOP_JIT)
def lookahead_loop(fast, slow, alpha):  # pragma: no cover - compiled
    """Lookahead's synchronisation over flat arrays, in place (``tinyrpn.optim.lookahead``)::

        slow = slow + alpha * (fast - slow)
        fast = slow
    """
    if fast.size >= PARALLEL_MIN_SIZE:
        for i in prange(fast.size):
            pulled = slow[i] + alpha * (fast[i] - slow[i])
            slow[i] = pulled
            fast[i] = pulled
    else:
        for i in range(fast.size):
            pulled = slow[i] + alpha * (fast[i] - slow[i])
            slow[i] = pulled
            fast[i] = pulled


__all__ = [
    "PARALLEL_MIN_SIZE", "adam_loop", "cbrt_loop", "flat", "fusable", "lookahead_loop",
    "madgrad_loop", "madgrad_loop_without_momentum", "sgd_loop",
]
