"""How a tensor prints, in PyTorch's layout: ``tensor([0.5000, 1.2500], requires_grad=True)``.

:func:`tensor_repr` is ``Tensor.__repr__``; :func:`format_values` lays out the numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn import backend


def tensor_repr(t: Any) -> str:
    """``tensor(values, dtype=..., device=..., grad_fn=...)``: each extra shown only when it
    is not the default (float32, bool, or non-empty int64; the CPU; a leaf without grad)."""
    body = format_values(backend.to_numpy(t.data))
    extras = []
    if t.data.size == 0 and t.shape != (0,):
        extras.append(f"size={t.shape}")
    default_dtype = t.dtype in (np.float32, np.bool_) or (
        t.dtype == np.int64 and t.data.size > 0
    )
    if not default_dtype:
        extras.append(f"dtype=tinyrpn.{t.dtype}")
    if t.device != "cpu":
        extras.append(f"device='{t.device}'")
    if t._ctx is not None:
        extras.append(f"grad_fn=<{t._ctx.name}Backward>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def format_values(array: np.ndarray) -> str:
    """The bracketed values as PyTorch prints them.

    Floats that are all whole numbers print as ``1.``; others with 4 decimals
    (``0.5000``), or in scientific notation when they span more than three orders of
    magnitude; all are padded to one width. Large tensors are summarized with ``...``.
    """
    options: dict[str, Any] = {}
    if array.dtype.kind == "f" and array.size:
        values = _summarized(array).astype(np.float64)  # PyTorch: only what is shown counts
        finite = values[np.isfinite(values)]
        nonzero = np.abs(finite[finite != 0])
        int_mode, sci_mode = True, False
        if nonzero.size:
            lo, hi = nonzero.min(), nonzero.max()
            int_mode = bool(np.all(np.ceil(finite) == finite))
            sci_mode = hi / lo > 1000.0 or hi > 1e8 or (not int_mode and lo < 1e-4)

        def fmt(v: float) -> str:
            if sci_mode:
                return f"{v:.4e}"
            if int_mode:
                return f"{v:.0f}" + ("" if np.isinf(v) or np.isnan(v) else ".")
            return f"{v:.4f}"

        # The widest string comes from the largest or the most negative finite value.
        extremes = (finite.max(), finite.min()) if finite.size else ()
        width = max((len(fmt(float(v))) for v in extremes), default=0)
        options["formatter"] = {"float_kind": lambda v: fmt(float(v)).rjust(width)}
    body = np.array2string(
        array, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3, max_line_width=80,
        **options,
    )
    return body.replace(", ...,", ",  ...,")  # PyTorch's spacing around an elided run


def _summarized(array: np.ndarray, edge: int = 3) -> np.ndarray:
    """The first and last ``edge`` entries along every long axis (what a repr shows)."""
    if array.size <= 1000:
        return array
    for axis, n in enumerate(array.shape):
        if n > 2 * edge:
            array = np.take(array, list(range(edge)) + list(range(n - edge, n)), axis=axis)
    return array
