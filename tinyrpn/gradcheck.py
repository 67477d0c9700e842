"""Check analytic gradients against central finite differences, in float64.

For a function f of tensors with output y, pick a fixed random direction v of y's shape
and compare, for every input element x_i,

    analytic:   (vᵀ J)_i            from one backward pass with gradient v
    numeric:    (v · f(x + ε e_i) - v · f(x - ε e_i)) / 2ε

A wrong Jacobian gives a different vᵀJ for almost every v, so one direction suffices.
The check passes where |analytic - numeric| <= atol + rtol * |numeric| for every element.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyrpn.dtypes import is_floating
from tinyrpn.grad_mode import no_grad
from tinyrpn.tensor import Tensor, _new_tensor


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree; the message names the worst element."""


def _as_float64(t: Any) -> Any:
    """A float64 copy of a floating tensor, as a fresh leaf that keeps ``requires_grad``.

    The copy keeps the input's memory layout: a transposed (Fortran-ordered) input stays
    transposed and a strided view stays strided, so that ops are checked on the same
    kind of array they were given.
    """
    if not (isinstance(t, Tensor) and is_floating(t.dtype)):
        return t
    xp = t.xp
    source = t.data
    if source.flags.c_contiguous or source.flags.f_contiguous:
        array = source.astype(np.float64, order="K", copy=True)
    else:
        # A strided view: copy into every other element of a buffer twice as large.
        buffer = xp.zeros(source.shape + (2,), dtype=np.float64)
        array = buffer[..., 0]
        array[...] = source
    copy = _new_tensor(array)
    copy.requires_grad_(t.requires_grad)
    return copy


def _value(out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    return out


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Compare ``fn``'s gradients with central differences for every input that requires
    grad. Inputs are copied to float64 first (keeping their memory layout). Returns True,
    or raises :class:`GradcheckError` naming the input and element with the largest error.

    >>> x = tinyrpn.randn(3, 4, requires_grad=True)
    >>> tinyrpn.gradcheck(lambda x: (x * x).sum(dim=1), x)
    True
    """
    inputs = tuple(_as_float64(t) for t in inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check")

    out = _value(fn(*inputs))
    if not is_floating(out.dtype):
        raise TypeError(f"gradcheck: fn returned dtype {out.dtype}; it must be floating")
    if out.dtype != np.float64:
        raise TypeError(
            f"gradcheck: fn returned dtype {out.dtype} from float64 inputs; something in it "
            "lowers the precision, and finite differences need float64 throughout"
        )
    if not out.requires_grad:
        raise GradcheckError("gradcheck: fn's output does not depend on any input with grad")
    rng = np.random.default_rng(seed)
    direction = out.xp.asarray(rng.standard_normal(out.shape))
    out.backward(_new_tensor(direction))

    def projected() -> float:
        with no_grad():
            value = _value(fn(*inputs))
        return float((value.data * direction).sum())

    for i in checked:
        t = inputs[i]
        grad = t.grad
        analytic = np.zeros(t.shape) if grad is None else np.asarray(grad.numpy(), np.float64)
        numeric = np.zeros(t.shape)
        array = t.data  # perturbed in place, one element at a time, then restored
        for index in np.ndindex(*t.shape):
            original = float(array[index])
            array[index] = original + eps
            plus = projected()
            array[index] = original - eps
            minus = projected()
            array[index] = original
            numeric[index] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric)
        allowed = atol + rtol * np.abs(numeric)
        bad = ~(error <= allowed)  # also catches nan
        if bad.any():
            excess = np.where(np.isnan(error), np.inf, error - allowed)
            worst = np.unravel_index(int(np.argmax(excess)), t.shape)
            where = tuple(int(w) for w in worst)
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {t.shape}) at element {where}: "
                f"analytic {analytic[worst]:.8g}, numeric {numeric[worst]:.8g}, "
                f"|difference| {error[worst]:.3g} > atol + rtol*|numeric| = "
                f"{allowed[worst]:.3g}; {int(bad.sum())} of {error.size} elements disagree"
            )
    return True
