"""Check analytic gradients against central finite differences, in float64.

For a function f of tensors with output y, pick a fixed random direction v of y's shape
and compare, for every input element x_i,

    analytic:   (vᵀ J)_i            from one backward pass with gradient v
    numeric:    (v · f(x + ε e_i) - v · f(x - ε e_i)) / 2ε

A wrong Jacobian gives a different vᵀJ for almost every v, so one direction suffices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor, is_floating, no_grad


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree; the message names the worst element."""


def _as_float64(t: Any) -> Any:
    if isinstance(t, Tensor) and is_floating(t.dtype):
        copy = Tensor._wrap(t.data.astype(np.float64))  # a fresh leaf with its own array
        copy.requires_grad = t.requires_grad
        return copy
    return t


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
    grad. Inputs are copied to float64 first. Returns True, or raises
    :class:`GradcheckError` naming the input and element with the largest error.
    """
    inputs = tuple(_as_float64(t) for t in inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check")

    out = _value(fn(*inputs))
    if not is_floating(out.dtype):
        raise TypeError(f"gradcheck: fn returned dtype {out.dtype}; it must be floating")
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(out.shape)
    direction_xp = out.xp.asarray(direction, dtype=out.dtype)
    if not out.requires_grad:
        raise GradcheckError("gradcheck: fn's output does not depend on any input with grad")
    out.backward(Tensor._wrap(direction_xp))

    def projected(*args: Any) -> float:
        with no_grad():
            value = _value(fn(*args))
        return float((value.xp.asarray(value.data, dtype=np.float64) * direction_xp).sum())

    for i in checked:
        t = inputs[i]
        analytic = (
            np.zeros(t.shape) if t.grad is None else np.asarray(t.grad.numpy(), np.float64)
        )
        numeric = np.zeros(t.shape)
        flat = t.data.reshape(-1)  # a view: perturbing it perturbs the input
        for j in range(flat.size):
            original = flat[j].item()
            flat[j] = original + eps
            plus = projected(*inputs)
            flat[j] = original - eps
            minus = projected(*inputs)
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric)
        allowed = atol + rtol * np.abs(numeric)
        if not np.all(error <= allowed):
            worst = np.unravel_index(np.argmax(error - allowed), t.shape)
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {t.shape}) at element {tuple(map(int, worst))}: "
                f"analytic {analytic[worst]:.8g}, numeric {numeric[worst]:.8g}, "
                f"|difference| {error[worst]:.3g} > atol + rtol*|numeric| = {allowed[worst]:.3g}; "
                f"{int((error > allowed).sum())} of {error.size} elements disagree"
            )
    return True
