"""Fused optimizer updates: one pass over memory per parameter, in place.

An optimizer step written as NumPy expressions (``m = b1*m + (1-b1)*g``, ``v = ...``,
``p -= lr * m / (sqrt(v) + eps)``) makes a temporary array for every operator and reads
and writes each array many times. For the 39.7-million-float layer of the reference RPN
that is gigabytes of memory traffic per step. The kernels here read each element of the
parameter, its gradient and its state once, do all the arithmetic in registers, and write
the results back: one pass, parallel over elements.

Each kernel has an ``xp`` twin (``adam_update_xp``, ...) that does the same arithmetic with
array-module operations. It runs when Numba is switched off (``TINYRPN_NUMBA=0``), for CuPy
arrays, and for layouts the compiled loop does not take (a strided parameter, float16);
tests check that both agree.

All functions update ``param`` and the state arrays **in place** and return None; the
gradient is only read. The arithmetic follows ``torch.optim``'s single-tensor code (and
facebookresearch/madgrad for MADGRAD) step for step: same order of operations, scalars
precomputed in double precision and rounded to the parameter's dtype, so results agree
with PyTorch to a few float32 ulps.

    adam_update      Adam / AdamW (L2 or decoupled weight decay, optional AMSGrad)
    sgd_update       SGD with optional momentum, dampening, Nesterov, L2 weight decay
    madgrad_update   MADGRAD (Defazio & Jelassi 2021), dual averaging with a cube root
    lookahead_update Lookahead's slow-weight interpolation and reset of the fast weights
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from ..backend import get_array_module
from ._common import FASTMATH, FLOAT_DTYPES, PARALLEL_JIT, use_numba

# Below this many elements a parameter is updated by a serial loop inside the same kernel:
# starting the worker threads of a parallel loop costs more than the loop itself.
PARALLEL_MIN_SIZE = 1 << 16

# ``error_model="numpy"``: a division by zero gives inf/NaN as in NumPy instead of raising
# (the Python model also puts a check before every division, which stops vectorisation).
_OPTIM_JIT = {**PARALLEL_JIT, "fastmath": FASTMATH, "error_model": "numpy"}
_INLINE_JIT = {"inline": "always", "fastmath": FASTMATH, "error_model": "numpy", "cache": True}

# Stand-in for a state array a variant does not use (AMSGrad's max, SGD's momentum buffer):
# Numba needs an array of the right dtype in every argument slot.
_EMPTY = {np.dtype(t): np.empty(0, t) for t in (np.float32, np.float64)}


# --------------------------------------------------------------------------------------
# argument checks and dispatch
# --------------------------------------------------------------------------------------


def _check_shapes(kernel: str, param: Any, **arrays: Any) -> None:
    """Every array must have the parameter's shape; say which one does not."""
    for name, array in arrays.items():
        if array is not None and tuple(array.shape) != tuple(param.shape):
            raise ValueError(
                f"{kernel}: {name} has shape {tuple(array.shape)} but the parameter has shape "
                f"{tuple(param.shape)}; they must match"
            )


def _fusable(param: Any, *states: Any) -> bool:
    """True when the compiled loop can update these arrays in place.

    That needs NumPy arrays with Numba on, a float32/float64 parameter that is C-contiguous
    and writeable (the loop walks its memory as one flat vector), and state arrays of the
    same dtype and layout (the optimizers allocate them that way). Anything else goes to
    the ``xp`` twin, which handles every layout and dtype.
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


def _flat_grad(grad: Any, dtype: np.dtype) -> np.ndarray:
    """The gradient as a flat C-contiguous array of the parameter's dtype (copied if needed)."""
    return np.ascontiguousarray(grad, dtype=dtype).reshape(-1)


def _flat(array: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    """A flat view of a state array, or an empty placeholder for an unused one."""
    return _EMPTY[dtype] if array is None else array.reshape(-1)


# --------------------------------------------------------------------------------------
# cube root (MADGRAD)
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


@njit(**_OPTIM_JIT)
def cbrt_kernel(x, out):  # pragma: no cover - compiled
    """out[i] = cube root of x[i] (1-D arrays), exposed so tests can check ``_cbrt`` alone."""
    for i in prange(x.size):
        out[i] = out.dtype.type(_cbrt(x[i]))


# --------------------------------------------------------------------------------------
# The kernels below share one shape: an inline function does one element's arithmetic on
# scalars and returns the new values; the kernel loops over the flat arrays, in parallel
# (``prange``) for large parameters and serially for small ones, where waking the worker
# threads costs more than the loop. Flags like ``amsgrad`` are the same for every element
# and cost nothing measurable in these memory-bound loops; MADGRAD's momentum flag did (it
# changes the arithmetic too much for the compiler to split the loop), so MADGRAD has two
# kernels instead.
# --------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------
# Adam / AdamW
# --------------------------------------------------------------------------------------


@njit(**_INLINE_JIT)
def _adam_elem(p, g, m, v, vmax, l2, decay, omb1, beta2, omb2, neg_step, bc2_sqrt, eps,
               use_l2, amsgrad):  # pragma: no cover - compiled
    if use_l2:
        g = g + l2 * p
    p = p * decay
    m = m + omb1 * (g - m)
    v = v * beta2 + omb2 * g * g
    second = v
    if amsgrad:
        vmax = max(vmax, v)
        second = vmax
    p = p + neg_step * (m / (np.sqrt(second) / bc2_sqrt + eps))
    return p, m, v, vmax


@njit(**_OPTIM_JIT)
def _adam_kernel(p, g, m, v, vmax, l2, decay, omb1, beta2, omb2, neg_step, bc2_sqrt, eps,
                 use_l2, amsgrad, parallel):  # pragma: no cover - compiled
    zero = p.dtype.type(0)
    if parallel:
        for i in prange(p.size):
            p[i], m[i], v[i], w = _adam_elem(
                p[i], g[i], m[i], v[i], vmax[i] if amsgrad else zero, l2, decay, omb1, beta2,
                omb2, neg_step, bc2_sqrt, eps, use_l2, amsgrad)
            if amsgrad:
                vmax[i] = w
    else:
        for i in range(p.size):
            p[i], m[i], v[i], w = _adam_elem(
                p[i], g[i], m[i], v[i], vmax[i] if amsgrad else zero, l2, decay, omb1, beta2,
                omb2, neg_step, bc2_sqrt, eps, use_l2, amsgrad)
            if amsgrad:
                vmax[i] = w


def _adam_scalars(step: int, lr: float, beta1: float, beta2: float, weight_decay: float,
                  decoupled: bool) -> tuple[float, float, float, float]:
    """(L2 coefficient, decay factor, step size, sqrt of the second bias correction)."""
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    l2 = 0.0 if decoupled else weight_decay
    decay = 1 - lr * weight_decay if decoupled else 1.0
    return l2, decay, lr / bias_correction1, bias_correction2**0.5


def adam_update_xp(
    param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any = None, *,
    step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    decoupled_weight_decay: bool = False,
) -> None:
    """Array-module twin of :func:`adam_update` (NumPy without Numba, or CuPy)."""
    xp = get_array_module(param)
    l2, decay, step_size, bc2_sqrt = _adam_scalars(
        step, lr, beta1, beta2, weight_decay, decoupled_weight_decay
    )
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= decay
        else:
            grad = grad + l2 * param
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    second = exp_avg_sq
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    denom = xp.sqrt(second)
    denom /= bc2_sqrt
    denom += eps
    xp.divide(exp_avg, denom, out=denom)
    denom *= step_size
    param -= denom


def adam_update(
    param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any = None, *,
    step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    decoupled_weight_decay: bool = False,
) -> None:
    """One Adam (or AdamW) step on one parameter, in place.

    With t = ``step`` (counted from 1) and g the gradient::

        g      = g + weight_decay * p              (Adam: L2 penalty in the gradient)
        p      = p * (1 - lr * weight_decay)       (AdamW: decoupled weight decay)
        m      = m + (1 - beta1) * (g - m)
        v      = beta2 * v + (1 - beta2) * g^2
        v_max  = max(v_max, v)                     (AMSGrad: ``max_exp_avg_sq`` given)
        p      = p - lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)
    """
    _check_shapes("adam_update", param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq,
                  max_exp_avg_sq=max_exp_avg_sq)
    if not _fusable(param, exp_avg, exp_avg_sq, max_exp_avg_sq):
        adam_update_xp(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=step, lr=lr,
                       beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                       decoupled_weight_decay=decoupled_weight_decay)
        return
    dt = param.dtype
    c = dt.type  # scalars in the parameter's precision, as PyTorch rounds them
    l2, decay, step_size, bc2_sqrt = _adam_scalars(
        step, lr, beta1, beta2, weight_decay, decoupled_weight_decay
    )
    _adam_kernel(
        param.reshape(-1), _flat_grad(grad, dt), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
        _flat(max_exp_avg_sq, dt), c(l2), c(decay), c(1 - beta1), c(beta2), c(1 - beta2),
        c(-step_size), c(bc2_sqrt), c(eps), bool(l2 != 0), max_exp_avg_sq is not None,
        param.size >= PARALLEL_MIN_SIZE,
    )


# --------------------------------------------------------------------------------------
# SGD
# --------------------------------------------------------------------------------------


@njit(**_INLINE_JIT)
def _sgd_elem(p, g, b, neg_lr, wd, momentum, omd, use_wd, use_momentum, first,
              nesterov):  # pragma: no cover - compiled
    if use_wd:
        g = g + wd * p
    if use_momentum:
        b = g if first else b * momentum + omd * g
        g = g + momentum * b if nesterov else b
    return p + neg_lr * g, b


@njit(**_OPTIM_JIT)
def _sgd_kernel(p, g, buf, neg_lr, wd, momentum, omd, use_wd, use_momentum, first, nesterov,
                parallel):  # pragma: no cover - compiled
    zero = p.dtype.type(0)
    if parallel:
        for i in prange(p.size):
            p[i], b = _sgd_elem(p[i], g[i], buf[i] if use_momentum else zero, neg_lr, wd,
                                momentum, omd, use_wd, use_momentum, first, nesterov)
            if use_momentum:
                buf[i] = b
    else:
        for i in range(p.size):
            p[i], b = _sgd_elem(p[i], g[i], buf[i] if use_momentum else zero, neg_lr, wd,
                                momentum, omd, use_wd, use_momentum, first, nesterov)
            if use_momentum:
                buf[i] = b


def sgd_update_xp(
    param: Any, grad: Any, momentum_buffer: Any = None, *, lr: float, momentum: float = 0.0,
    dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
    first_step: bool = False,
) -> None:
    """Array-module twin of :func:`sgd_update`."""
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * grad


def sgd_update(
    param: Any, grad: Any, momentum_buffer: Any = None, *, lr: float, momentum: float = 0.0,
    dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
    first_step: bool = False,
) -> None:
    """One SGD step on one parameter, in place (``torch.optim.SGD``'s arithmetic)::

        g   = g + weight_decay * p
        b   = g                                     on the first step (``first_step=True``)
        b   = momentum * b + (1 - dampening) * g    afterwards
        g   = g + momentum * b  (Nesterov)   or   g = b
        p   = p - lr * g

    ``momentum_buffer`` (b) is needed when momentum != 0; on the first step its old
    contents are ignored, so the caller may pass an uninitialised array.
    """
    _check_shapes("sgd_update", param, grad=grad, momentum_buffer=momentum_buffer)
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("sgd_update: momentum != 0 needs a momentum_buffer array")
    buffer = momentum_buffer if momentum != 0 else None
    if not _fusable(param, buffer):
        sgd_update_xp(param, grad, buffer, lr=lr, momentum=momentum, dampening=dampening,
                      weight_decay=weight_decay, nesterov=nesterov, first_step=first_step)
        return
    dt = param.dtype
    c = dt.type
    _sgd_kernel(
        param.reshape(-1), _flat_grad(grad, dt), _flat(buffer, dt), c(-lr), c(weight_decay),
        c(momentum), c(1 - dampening), weight_decay != 0, momentum != 0, bool(first_step),
        bool(nesterov), param.size >= PARALLEL_MIN_SIZE,
    )


# --------------------------------------------------------------------------------------
# MADGRAD
# --------------------------------------------------------------------------------------


@njit(**_INLINE_JIT)
def _madgrad_elem(g, nu, s, start, lamb, eps):  # pragma: no cover - compiled
    """(z, nu, s) after accumulating g: the dual-averaging point z = start - s / rms."""
    nu = nu + lamb * g * g
    s = s + lamb * g
    return start - s / (type(g)(_cbrt(nu)) + eps), nu, s


@njit(**_OPTIM_JIT)
def _madgrad_momentum_kernel(p, g, nu, s, x0, lamb, eps, wd, keep, ck, use_wd,
                             parallel):  # pragma: no cover - compiled
    # Two kernels rather than a ``momentum`` flag: the compiler did not hoist that test out of
    # the loop, and the update ran at half speed.
    if parallel:
        for i in prange(p.size):
            gi = g[i] + wd * p[i] if use_wd else g[i]
            z, nu[i], s[i] = _madgrad_elem(gi, nu[i], s[i], x0[i], lamb, eps)
            p[i] = p[i] * keep + ck * z
    else:
        for i in range(p.size):
            gi = g[i] + wd * p[i] if use_wd else g[i]
            z, nu[i], s[i] = _madgrad_elem(gi, nu[i], s[i], x0[i], lamb, eps)
            p[i] = p[i] * keep + ck * z


@njit(**_OPTIM_JIT)
def _madgrad_plain_kernel(p, g, nu, s, lamb, eps, wd, use_wd,
                          parallel):  # pragma: no cover - compiled
    # Without momentum x0 is not stored: p = x0 - s / (cbrt(nu) + eps) gives it back.
    if parallel:
        for i in prange(p.size):
            gi = g[i] + wd * p[i] if use_wd else g[i]
            x0 = p[i] + s[i] / (type(gi)(_cbrt(nu[i])) + eps)
            p[i], nu[i], s[i] = _madgrad_elem(gi, nu[i], s[i], x0, lamb, eps)
    else:
        for i in range(p.size):
            gi = g[i] + wd * p[i] if use_wd else g[i]
            x0 = p[i] + s[i] / (type(gi)(_cbrt(nu[i])) + eps)
            p[i], nu[i], s[i] = _madgrad_elem(gi, nu[i], s[i], x0, lamb, eps)


def madgrad_lambda(k: int, lr: float, eps: float) -> float:
    """MADGRAD's step weight lambda_k = (lr + eps) * sqrt(k + 1), k counted from 0."""
    return (lr + eps) * math.sqrt(k + 1)


def madgrad_update_xp(
    param: Any, grad: Any, grad_sum_sq: Any, s: Any, x0: Any = None, *, k: int, lr: float,
    momentum: float, weight_decay: float, eps: float,
) -> None:
    """Array-module twin of :func:`madgrad_update` (the facebookresearch code, line by line)."""
    xp = get_array_module(param)
    lamb = madgrad_lambda(k, lr, eps)
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum == 0:
        rms = xp.cbrt(grad_sum_sq)
        rms += eps
        x0 = param + s / rms
    grad_sum_sq += lamb * grad * grad
    rms = xp.cbrt(grad_sum_sq)
    rms += eps
    s += lamb * grad
    z = x0 - s / rms
    if momentum == 0:
        param[...] = z
    else:
        ck = 1 - momentum
        param *= 1 - ck
        param += ck * z


def madgrad_update(
    param: Any, grad: Any, grad_sum_sq: Any, s: Any, x0: Any = None, *, k: int, lr: float,
    momentum: float, weight_decay: float, eps: float,
) -> None:
    """One MADGRAD step on one parameter, in place (facebookresearch/madgrad, dense case).

    With k the optimizer's step counter (from 0), c = 1 - momentum and x0 the parameter
    as it was at its first step::

        lambda = (lr + eps) * sqrt(k + 1)
        g      = g + weight_decay * p
        nu     = nu + lambda * g^2                 (``grad_sum_sq``)
        s      = s + lambda * g
        z      = x0 - s / (cbrt(nu) + eps)
        p      = (1 - c) * p + c * z               (p = z when momentum is 0)

    With momentum 0, ``x0`` is not needed (pass None): it is recovered from the current
    p, s and nu before they change, as the reference implementation does.
    """
    _check_shapes("madgrad_update", param, grad=grad, grad_sum_sq=grad_sum_sq, s=s, x0=x0)
    if momentum != 0 and x0 is None:
        raise ValueError("madgrad_update: momentum != 0 needs the x0 array")
    start = x0 if momentum != 0 else None
    if not _fusable(param, grad_sum_sq, s, start):
        madgrad_update_xp(param, grad, grad_sum_sq, s, start, k=k, lr=lr, momentum=momentum,
                          weight_decay=weight_decay, eps=eps)
        return
    dt = param.dtype
    c = dt.type
    lamb = c(madgrad_lambda(k, lr, eps))
    parallel = param.size >= PARALLEL_MIN_SIZE
    flat_p, flat_g = param.reshape(-1), _flat_grad(grad, dt)
    if momentum != 0:
        ck = 1 - momentum
        _madgrad_momentum_kernel(
            flat_p, flat_g, grad_sum_sq.reshape(-1), s.reshape(-1), start.reshape(-1), lamb,
            c(eps), c(weight_decay), c(1 - ck), c(ck), weight_decay != 0, parallel,
        )
    else:
        _madgrad_plain_kernel(
            flat_p, flat_g, grad_sum_sq.reshape(-1), s.reshape(-1), lamb, c(eps),
            c(weight_decay), weight_decay != 0, parallel,
        )


# --------------------------------------------------------------------------------------
# Lookahead
# --------------------------------------------------------------------------------------


@njit(**_OPTIM_JIT)
def _lookahead_kernel(fast, slow, alpha, parallel):  # pragma: no cover - compiled
    if parallel:
        for i in prange(fast.size):
            w = slow[i] + alpha * (fast[i] - slow[i])
            slow[i] = w
            fast[i] = w
    else:
        for i in range(fast.size):
            w = slow[i] + alpha * (fast[i] - slow[i])
            slow[i] = w
            fast[i] = w


def lookahead_update_xp(fast: Any, slow: Any, *, alpha: float) -> None:
    """Array-module twin of :func:`lookahead_update`."""
    slow += alpha * (fast - slow)
    fast[...] = slow


def lookahead_update(fast: Any, slow: Any, *, alpha: float) -> None:
    """Lookahead's synchronisation, in place: slow = slow + alpha (fast - slow); fast = slow."""
    _check_shapes("lookahead_update", fast, slow=slow)
    if not _fusable(fast, slow):
        lookahead_update_xp(fast, slow, alpha=alpha)
        return
    _lookahead_kernel(fast.reshape(-1), slow.reshape(-1), fast.dtype.type(alpha),
                      fast.size >= PARALLEL_MIN_SIZE)


__all__ = [
    "PARALLEL_MIN_SIZE", "adam_update", "adam_update_xp", "cbrt_kernel", "lookahead_update",
    "lookahead_update_xp", "madgrad_lambda", "madgrad_update", "madgrad_update_xp",
    "sgd_update", "sgd_update_xp",
]
