"""Matrix products: ``matmul`` (the ``@`` operator) and ``einsum`` with general subscripts."""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.creation import as_tensor
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.operands import _xp, binary_operands, same_dtype
from tinyrpn.ops.shape import squeeze, unsqueeze
from tinyrpn.tensor import Tensor


class MatMul(Function):
    """Matrix product of operands with at least 2 dims (batched over the leading dims).

    forward:  out = a @ b
    backward: da = d @ bᵀ,  db = aᵀ @ d  (transposing the last two axes; the engine sums
              any broadcast batch dims back to each operand's shape)
    """

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a @ b

    def backward(self, d: Any) -> tuple[Any, Any]:
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        da = d @ b.swapaxes(-1, -2) if need_a else None
        if not need_b:
            db = None
        elif b.ndim == 2 and a.ndim > 2:
            # A shared weight (x of shape (..., m, k) @ W (k, n)): one big product over all
            # the batch rows at once, instead of one per batch entry summed afterwards.
            db = a.reshape(-1, a.shape[-1]).T @ d.reshape(-1, d.shape[-1])
        else:
            db = a.swapaxes(-1, -2) @ d
        return da, db


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics; shapes are checked up front.

    A 1-D operand is treated as a row (first) or column (second) vector and that axis is
    removed from the result, so MatMul itself only sees matrices.
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        same_dtype("matmul", first=a, second=b)
    a, b = binary_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ArgumentError("matmul: both operands need at least 1 dim; use * for scalars")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ArgumentError(
            f"matmul: shapes {a.shape} and {b.shape} do not line up: the last dim of the "
            f"first ({k_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} "
            f"dim of the second ({k_b})"
        )
    if a.ndim > 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ArgumentError(
                f"matmul: batch dims of {a.shape} and {b.shape} do not broadcast"
            ) from None
    if a.ndim == 1:
        return squeeze(matmul(unsqueeze(a, 0), b), -2 if b.ndim > 1 else 0)
    if b.ndim == 1:
        return squeeze(matmul(a, unsqueeze(b, 1)), -1)
    return MatMul.apply(a, b)


# ----------------------------------------------------------------------------- einsum


def _parse_einsum(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Split subscripts into one letter string per operand and the output's letters.

    ``...`` is replaced by fresh letters (right-aligned, as broadcasting aligns dims), and
    a missing ``->`` gets the implicit output of NumPy and PyTorch: the ellipsis dims, then
    the letters that appear exactly once, in alphabetical order.
    """
    spec = subscripts.replace(" ", "")
    stripped = spec.replace("->", "").replace("...", "").replace(",", "")
    if spec.count("->") > 1 or not all(c in string.ascii_letters for c in stripped):
        raise ArgumentError(
            f"einsum: invalid subscripts {subscripts!r}; use letters, commas between "
            "operands, '...' and at most one '->'"
        )
    if "->" in spec:
        lhs, out = spec.split("->")
    else:
        lhs, out = spec, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ArgumentError(
            f"einsum {subscripts!r} names {len(terms)} operands but {len(shapes)} were given"
        )
    used = set(spec)
    spare = [c for c in string.ascii_letters if c not in used]
    ellipsis_ndim = 0
    for i, term in enumerate(terms):
        if term.count("...") > 1 or "." in term.replace("...", "", 1):
            raise ArgumentError(
                f"einsum {subscripts!r}: the subscripts of operand {i}, '{term}', hold more "
                "than one ellipsis; each operand may have at most one '...'"
            )
    for term, shape in zip(terms, shapes):
        if "..." in term:
            ellipsis_ndim = max(ellipsis_ndim, len(shape) - (len(term) - 3))
    ell = "".join(spare[:ellipsis_ndim])
    expanded = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            if n < 0:
                raise ArgumentError(
                    f"einsum {subscripts!r}: operand with shape {shape} has fewer dims than "
                    f"its subscripts '{term}' name"
                )
            term = term.replace("...", ell[ellipsis_ndim - n:] if n else "")
        if len(term) != len(shape):
            raise ArgumentError(
                f"einsum {subscripts!r}: operand with shape {shape} has {len(shape)} dims "
                f"but its subscripts '{term}' name {len(term)}"
            )
        expanded.append(term)
    letters = "".join(expanded)
    if out is None:
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                   and c not in ell))
    else:
        out = out.replace("...", ell)  # an output without '...' sums over those dims
        for c in out:
            if c not in letters:
                raise ArgumentError(
                    f"einsum {subscripts!r}: output index '{c}' does not appear in any operand"
                )
            if out.count(c) > 1:
                raise ArgumentError(f"einsum {subscripts!r}: output index '{c}' is repeated")
    return expanded, out


class Einsum(Function):
    """Einstein summation, with dims of size 1 broadcast (as PyTorch).

    forward:  out = einsum(subscripts, *operands)
    backward: d operand_k = einsum of d (with the output's letters) against every other
              operand, producing operand k's letters

    Letters that appear only in operand k were summed away in forward, so its gradient is
    broadcast along them; a letter repeated within operand k (a diagonal) receives the
    gradient on that diagonal. Where operand k had size 1 along a broadcast letter, the
    engine sums the gradient back.
    """

    def forward(self, *arrays: Any, terms: list[str], out: str, sizes: dict[str, int]) -> Any:
        xp = _xp(arrays[0])
        full = [
            a if a.shape == tuple(sizes[c] for c in t)
            else xp.broadcast_to(a, tuple(sizes[c] for c in t))
            for t, a in zip(terms, arrays)
        ]
        self.arrays, self.terms, self.out, self.sizes = full, terms, out, sizes
        return xp.einsum(",".join(terms) + "->" + out, *full)

    def backward(self, d: Any) -> tuple[Any, ...]:
        xp = _xp(d)
        sizes = self.sizes
        grads = []
        needed = self.needs_input_grad
        for k, (term, a) in enumerate(zip(self.terms, self.arrays)):
            if not needed[k]:
                grads.append(None)
                continue
            others = [(t, x) for i, (t, x) in enumerate(zip(self.terms, self.arrays)) if i != k]
            available = set(self.out).union(*[set(t) for t, _ in others])
            unique = "".join(dict.fromkeys(term))  # letters of operand k, each once
            reachable = "".join(c for c in unique if c in available)
            spec = ",".join([self.out] + [t for t, _ in others]) + "->" + reachable
            g = xp.einsum(spec, d, *[x for _, x in others])
            # Broadcast along letters summed away only inside operand k.
            g = g.reshape([sizes[c] if c in reachable else 1 for c in unique])
            g = xp.broadcast_to(g, [sizes[c] for c in unique])
            if len(unique) == len(term):
                grad = xp.ascontiguousarray(g)
            else:
                grad = xp.zeros(a.shape, dtype=d.dtype)
                mesh = xp.meshgrid(*[xp.arange(sizes[c]) for c in unique], indexing="ij")
                grad[tuple(mesh[unique.index(c)] for c in term)] = g
            grads.append(grad)
        return tuple(grads)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation with gradients, e.g. ``einsum('bij,bjk->bik', x, y)``.

    Supports what NumPy and PyTorch do: implicit output (``'ij,jk'``), ``...``,
    repeated letters (``'ii->i'`` is the diagonal, ``'ii'`` the trace), and size-1
    dims broadcast against the others.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ArgumentError("einsum needs at least one operand")
    tensors = [as_tensor(o) for o in operands]
    same_dtype(f"einsum {subscripts!r}", **{f"operand {i}": t for i, t in enumerate(tensors)})
    terms, out = _parse_einsum(subscripts, [t.shape for t in tensors])
    sizes: dict[str, int] = {}
    for term, t in zip(terms, tensors):
        for c, n in zip(term, t.shape):
            seen = sizes.setdefault(c, n)
            if seen != n and 1 not in (seen, n):
                raise ArgumentError(
                    f"einsum {subscripts!r}: index '{c}' has size {seen} in one operand "
                    f"and {n} in another (sizes must match or be 1)"
                )
            sizes[c] = max(seen, n)
    return Einsum.apply(*tensors, terms=terms, out=out, sizes=sizes)
