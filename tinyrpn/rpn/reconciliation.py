"""Parameter reconciliations: the n × D matrix W(w) of an RPN head, built from a vector w.

An RPN head computes y = κ(x) · W(w)ᵀ. W would have n·D entries (64 × 615,440 for the
first layer of the MNIST model, 39.4 million); a *reconciliation* says how to build it from
a parameter vector w of length l, which may be far shorter. Each reconciliation here holds
exactly ONE Parameter, ``w``, laid out as below (docs/EXPERIMENTS.md §1–2), and offers two ways
to use it:

* ``matrix()`` materialises the n × D matrix W (differentiably): for teaching, testing,
  and the odd small model;
* ``rec(z)`` (the Module's forward) computes z · Wᵀ for a batch z (N × D) from the factors
  of W without ever building W. Training uses it, through
  ``forward_expanded(x, expansion)``, which an RPN head calls with its input: the hm
  family gives its first contraction (every block of t, or of s·t, entries of z times one
  small matrix) to the expansion, and a degree-2 Taylor expansion without post-processing
  computes it without storing z at all (``kernels.taylor2_contract``: for short blocks,
  such as the Kronecker layout's t = m + 1, through FFTs, since each run of a block is a
  cross-correlation of x with a column). The identity reconciliation hands over its
  whole product the same way (``Expansion.contract_dense``): z = [1, x] ⊗ x, so z · Wᵀ
  is a product of x with W viewed as (n·(m + 1)) × m (``kernels.taylor2_dense``).

=============================  ===================================  ======================
class                          W                                    w = [...], l
=============================  ===================================  ======================
IdentityReconciliation         W[j, k] = w[j·D + k]                 vec(W),  n·D
LorrReconciliation(r)          A Bᵀ,  A n×r, B D×r                  [A, B],  r(n + D)
HMReconciliation(p, q)         A ⊗ B, A p×q, B s×t                  [A, B],  pq + st
LPHMReconciliation(p, q, r)    A ⊗ (S Tᵀ), S s×r, T t×r             [A, S, T], pq + r(s + t)
DualLPHMReconciliation(p,q,r)  (P Qᵀ) ⊗ (S Tᵀ), P p×r, Q q×r        [P, Q, S, T], r(p+q+s+t)
=============================  ===================================  ======================

with s = n/p and t = D/q (so p must divide n and q must divide D). Every matrix is stored
row-major inside w. The Kronecker product is (A ⊗ B)[i·s + k, j·t + l] = A[i, j]·B[k, l].

Two layouts for the hm family (hm, lphm, dual_lphm):

* ``layout='kron'`` (the default): the documented W = A ⊗ B.
* ``layout='tinybig'``: what tinyBIG 0.1.1 actually computes (it flattens A and B before
  its einsum): W = reshape(vec(A) · vec(B)ᵀ, (n, D)), the outer product of the flattened
  factors laid out row by row. The published dual-LPHM accuracy comes from this variant.

Initialisation, as tinyBIG: every entry of w ~ U(−b, b), b = √(6 / (l + 1)) (Xavier-uniform
on a 1 × l tensor), drawn from ``tinyrpn.random.default_generator()``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyrpn.autograd import Function, Tensor, as_tensor, zeros
from tinyrpn.nn import init
from tinyrpn.nn.module import Module, Parameter
from tinyrpn.ops.linalg import matmul
from tinyrpn.ops.math import _xp
from tinyrpn.ops.shape import cat
from tinyrpn.rpn._checks import positive_int

__all__ = [
    "Reconciliation", "IdentityReconciliation", "LorrReconciliation", "HMReconciliation",
    "LPHMReconciliation", "DualLPHMReconciliation", "LAYOUTS", "xavier_bound",
]

LAYOUTS = ("kron", "tinybig")


def xavier_bound(l: int) -> float:
    """b = √(6 / (l + 1)): Xavier-uniform's bound for a 1 × l tensor (fan_in l, fan_out 1)."""
    return math.sqrt(6.0 / (l + 1))


# ----------------------------------------------------------------------------- products


def _mm(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for 2-D a, b. (``ops.matmul`` computes only the gradients somebody needs: the
    expansion of raw pixels, N × 615,440, needs none, and skipping d · bᵀ saves a 157 MB
    array and its FLOPs on every step.)"""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matrix product of shapes {a.shape} and {b.shape} does not line up")
    return matmul(a, b)


class _DenseProduct(Function):
    """out = z · Wᵀ;  dz = d · W,  dw = vec(dᵀ · z)   (W = w viewed n × D, row-major, no copy)

    dw is written straight into a fresh length-l array (no reshaped copy of a 157 MB
    gradient), and dz is only computed when z needs it.
    """

    def forward(self, z: Any, w: Any, *, n: int, D: int) -> Any:
        self.z, self.W = z, w.reshape(n, D)
        return z @ self.W.T

    def backward(self, d: Any) -> tuple[Any, Any]:
        need_z, need_w = self.needs_input_grad
        dz = d @ self.W if need_z else None
        dw = None
        if need_w:
            xp = _xp(d)
            dw = xp.empty(self.W.size, dtype=self.W.dtype)
            xp.matmul(d.T, self.z, out=dw.reshape(self.W.shape))
        return dz, dw


# ----------------------------------------------------------------------------- helpers


def _divisors(k: int) -> list[int]:
    small, large = [], []
    i = 1
    while i * i <= k:
        if k % i == 0:
            small.append(i)
            if i * i != k:
                large.append(k // i)
        i += 1
    return small + large[::-1]


def _check_divides(owner: str, name: str, value: int, total_name: str, total: int,
                   meaning: str) -> None:
    """Raise a ValueError naming both numbers and listing the valid choices."""
    if total % value == 0:
        return
    divs = _divisors(total)
    if len(divs) > 24:
        near = sorted(divs, key=lambda v: abs(v - value))[:12]
        listed = ", ".join(str(v) for v in sorted(near)) + f" (the 12 of {len(divs)} nearest)"
    else:
        listed = ", ".join(str(v) for v in divs)
    raise ValueError(
        f"{owner}: {name} = {value} does not divide {total_name} = {total} ({meaning}); "
        f"valid values of {name}: {listed}"
    )


def _split(w: Tensor, shapes: list[tuple[int, int]]) -> list[Tensor]:
    """Consecutive row-major matrices of the given shapes, cut out of the vector w."""
    out, start = [], 0
    for rows, cols in shapes:
        out.append(w[start:start + rows * cols].reshape(rows, cols))
        start += rows * cols
    return out


# ----------------------------------------------------------------------------- base class


class Reconciliation(Module):
    """y = z · W(w)ᵀ,  z (N, D) → y (N, n);  W (n × D) is built from one Parameter w (l,).

    Base class. ``rec(z)`` computes y from the factors of W, never W itself;
    ``rec.forward_expanded(x, expansion)`` computes the same y from the head's input x;
    ``rec.matrix()`` materialises W. Subclasses define ``parameter_count`` (a staticmethod
    taking the constructor's arguments), ``_matrix(w)`` and ``_product(z, w)``, and set
    ``contracts_expansion`` when they override ``forward_expanded``.

    Attributes: ``n`` (outputs), ``D`` (expansion size), ``l`` (length of w), ``w``.
    """

    #: Whether ``forward_expanded`` does better than ``self(expansion(x))``: an RPN head
    #: calls it then, instead of expanding x itself.
    contracts_expansion = False

    def __init__(self, n: int, D: int, l: int) -> None:
        super().__init__()
        self.n, self.D, self.l = n, D, l
        self.w = Parameter(np.zeros(l, dtype=np.float32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """w ~ U(−b, b), b = √(6/(l+1)), from ``tinyrpn.random.default_generator()``."""
        bound = xavier_bound(self.l)
        init.uniform_(self.w, -bound, bound)

    def _weight(self, w: Tensor | None) -> Tensor:
        if w is None:
            return self.w
        if not isinstance(w, Tensor) and hasattr(w, "__len__"):
            w = as_tensor(np.asarray(w))  # a NumPy array or a list, as tinyBIG's flat w
        if isinstance(w, Tensor) and w.shape == (1, self.l):
            w = w.reshape(self.l)  # tinyBIG keeps w as a 1 × l matrix
        if not isinstance(w, Tensor) or w.shape != (self.l,):
            got = w.shape if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(f"{type(self).__name__}: w must have shape ({self.l},), got {got}")
        return w

    def matrix(self, w: Tensor | None = None) -> Tensor:
        """The n × D matrix W(w) (differentiable). ``w`` defaults to this module's own."""
        return self._matrix(self._weight(w))

    def forward(self, z: Tensor, w: Tensor | None = None) -> Tensor:
        """y = z · W(w)ᵀ for a batch z (N, D), from the factors of W; y is (N, n).

        ``w`` defaults to this module's parameter (passing one is for gradient checks).
        """
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.D:
            got = z.shape if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(
                f"{type(self).__name__}: expected z of shape (N, D={self.D}), got {got}"
            )
        return self._product(z, self._weight(w))

    def forward_expanded(self, x: Tensor, expansion: Any, w: Tensor | None = None) -> Tensor:
        """y = post(κ(x)) · W(w)ᵀ given the head's input x (N, m) and its ``expansion``:
        the same y as ``self(expansion(x), w)``.

        The point is speed and memory: a reconciliation with ``contracts_expansion`` hands
        its first contraction to ``expansion.contract`` (the Kronecker family) or its whole
        product to ``expansion.contract_dense`` (identity), so a degree-2 Taylor expansion
        without post-processing is contracted as it is computed and never stored (for
        MNIST, rows of 615,440 numbers). This base class just expands and multiplies.
        """
        return self(expansion(x), w)

    def _matrix(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        """z · W(w)ᵀ for a checked z (N, D) and w (l,)."""
        raise NotImplementedError

    def _settings(self) -> str:
        return ""

    def extra_repr(self) -> str:
        own = self._settings()
        return f"n={self.n}, D={self.D}" + (f", {own}" if own else "") + f", l={self.l:,}"


# ----------------------------------------------------------------------------- identity


class IdentityReconciliation(Reconciliation):
    """W = w viewed as an n × D matrix: W[j, k] = w[j·D + k];  l = n·D.

    ``IdentityReconciliation(n, D)``. ``rec(z)`` is one matrix product, z · Wᵀ.
    """

    def __init__(self, n: int, D: int) -> None:
        n = positive_int("IdentityReconciliation", "n", n)
        D = positive_int("IdentityReconciliation", "D", D)
        super().__init__(n, D, self.parameter_count(n, D))

    @staticmethod
    def parameter_count(n: int, D: int) -> int:
        """l = n·D."""
        return n * D

    def _matrix(self, w: Tensor) -> Tensor:
        return w.reshape(self.n, self.D)

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        return _DenseProduct.apply(z, w, n=self.n, D=self.D)

    contracts_expansion = True

    def forward_expanded(self, x: Tensor, expansion: Any, w: Tensor | None = None) -> Tensor:
        # a degree-2 Taylor expansion multiplies by W without building κ(x)
        w = self._weight(w)
        y = expansion.contract_dense(x, w, self.n)
        return y if y is not None else self(expansion(x), w)


# ----------------------------------------------------------------------------- low rank


class LorrReconciliation(Reconciliation):
    """W = A Bᵀ, A (n × r), B (D × r);  w = [A, B],  l = r(n + D):  low rank.

    ``LorrReconciliation(n, D, r=2)``. ``rec(z)``: z · Wᵀ = (z · B) · Aᵀ, O(N·D·r).
    """

    def __init__(self, n: int, D: int, r: int = 2) -> None:
        n = positive_int("LorrReconciliation", "n", n)
        D = positive_int("LorrReconciliation", "D", D)
        r = positive_int("LorrReconciliation", "r", r)
        super().__init__(n, D, self.parameter_count(n, D, r))
        self.r = r

    @staticmethod
    def parameter_count(n: int, D: int, r: int = 2) -> int:
        """l = r·(n + D)."""
        return r * (n + D)

    def factors(self, w: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(A, B) cut out of w: A is n × r, B is D × r."""
        A, B = _split(self._weight(w), [(self.n, self.r), (self.D, self.r)])
        return A, B

    def _matrix(self, w: Tensor) -> Tensor:
        A, B = self.factors(w)
        return _mm(A, B.T)

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        A, B = self.factors(w)
        return _mm(_mm(z, B), A.T)

    def _settings(self) -> str:
        return f"r={self.r}"


# ----------------------------------------------------------------------------- hm family


class _KronFamily(Reconciliation):
    """Shared machinery of hm, lphm and dual_lphm: W built from A (p × q) and B (s × t).

    Subclasses define ``_factor_shapes`` (how w is cut) and ``_a_b(parts)``, which returns
    A and B each as ``("dense", M)`` or ``("lowrank", U, V)`` meaning M = U Vᵀ.
    """

    _owner = ""

    def __init__(self, n: int, D: int, p: int, q: int | None, r: int | None,
                 layout: str) -> None:
        owner = self._owner
        n = positive_int(owner, "n", n)
        D = positive_int(owner, "D", D)
        p = positive_int(owner, "p", p)
        q = p if q is None else positive_int(owner, "q", q)
        if r is not None:
            r = positive_int(owner, "r", r)
        if layout not in LAYOUTS:
            raise ValueError(f"{owner}: unknown layout {layout!r}; valid layouts: {LAYOUTS}")
        _check_divides(owner, "p", p, "n", n, "the number of outputs, n = p·s")
        _check_divides(owner, "q", q, "D", D, "the expansion size, D = q·t")
        s, t = n // p, D // q
        l = sum(rows * cols for rows, cols in self._shapes(p, q, s, t, r))
        super().__init__(n, D, l)  # Module.__init__ must run before attributes are set
        self.p, self.q, self.r, self.s, self.t = p, q, r, s, t
        self.layout = layout

    @staticmethod
    def _shapes(p: int, q: int, s: int, t: int, r: int | None) -> list[tuple[int, int]]:
        raise NotImplementedError

    def factors(self, w: Tensor | None = None) -> list[Tensor]:
        """The matrices cut out of w, in the order they are stored."""
        return _split(self._weight(w), self._shapes(self.p, self.q, self.s, self.t, self.r))

    def _a_b(self, parts: list[Tensor]) -> tuple[tuple, tuple]:
        raise NotImplementedError

    @staticmethod
    def _dense(spec: tuple) -> Tensor:
        return spec[1] if spec[0] == "dense" else _mm(spec[1], spec[2].T)

    def _matrix(self, w: Tensor) -> Tensor:
        spec_a, spec_b = self._a_b(self.factors(w))
        A, B = self._dense(spec_a), self._dense(spec_b)
        p, q, s, t = self.p, self.q, self.s, self.t
        if self.layout == "kron":
            # (A ⊗ B)[i·s + k, j·t + l] = A[i, j]·B[k, l]: a broadcast product in (i, k, j, l)
            return (A.reshape(p, 1, q, 1) * B.reshape(1, s, 1, t)).reshape(self.n, self.D)
        return (A.reshape(p * q, 1) * B.reshape(1, s * t)).reshape(self.n, self.D)

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        spec_a, spec_b = self._a_b(self.factors(w))
        if self.layout == "kron":
            return self._product_kron(z, spec_a, spec_b)
        return self._product_tinybig(z, self._dense(spec_a), self._dense(spec_b))

    contracts_expansion = True

    def forward_expanded(self, x: Tensor, expansion: Any, w: Tensor | None = None) -> Tensor:
        w = self._weight(w)
        spec_a, spec_b = self._a_b(self.factors(w))
        N = x.shape[0]
        if self.layout == "kron":
            # the first step of _product_kron, Z·M on every q × t sample, done by the expansion
            y = expansion.contract(x, self._kron_right(spec_b))
            return self._kron_finish(y.reshape(N * self.q, -1), N, spec_a, spec_b)
        A, B = self._dense(spec_a), self._dense(spec_b)
        st = self.s * self.t
        if self.D % st:
            return self._product_tinybig(expansion(x), A, B)
        # the first step of _product_tinybig's whole-block case, done by the expansion
        zb = expansion.contract(x, B.reshape(st, 1)).reshape(N, self.D // st)
        return _mm(zb, A.reshape(self.n, self.D // st).T)

    @staticmethod
    def _kron_right(spec_b: tuple) -> Tensor:
        """The matrix each q × t sample is multiplied by first: Bᵀ (t × s), or T (t × r)."""
        return spec_b[1].T if spec_b[0] == "dense" else spec_b[2]

    def _product_kron(self, z: Tensor, spec_a: tuple, spec_b: tuple) -> Tensor:
        """y = z (A ⊗ B)ᵀ, one sample at a time: y_row = vec(A · Z · Bᵀ), Z = z_row as q × t.

        (A ⊗ B) vec(Z) = vec(A Z Bᵀ) for row-major vec. Low-rank factors are applied one
        after the other (B = S Tᵀ: Z·T then ·Sᵀ; A = P Qᵀ: Qᵀ· then P·), so the cost is
        O(N·D·r), never O(N·n·D), and no n × D matrix is ever built.
        """
        N = z.shape[0]
        # Right factor on all N·q rows of length t at once.
        y = _mm(z.reshape(N * self.q, self.t), self._kron_right(spec_b))
        return self._kron_finish(y, N, spec_a, spec_b)

    def _kron_finish(self, y: Tensor, N: int, spec_a: tuple, spec_b: tuple) -> Tensor:
        """From Z·M ((N·q) × r, or × s when B is dense) to y = vec(A Z Bᵀ) per sample."""
        p, q, s = self.p, self.q, self.s
        if spec_b[0] == "lowrank":
            y = _mm(y, spec_b[1].T)  # ·Sᵀ: now Z Bᵀ, (N·q) × s
        # Left factor contracts the q axis: bring it last, rows become (sample, k).
        y = y.reshape(N, q, s).permute(0, 2, 1).reshape(N * s, q)
        y = _mm(y, spec_a[1].T) if spec_a[0] == "dense" else _mm(_mm(y, spec_a[2]), spec_a[1].T)
        # y[(sample, k), i] = (A Z Bᵀ)[i, k]; output index i·s + k.
        return y.reshape(N, s, p).permute(0, 2, 1).reshape(N, p * s)

    def _product_tinybig(self, z: Tensor, A: Tensor, B: Tensor) -> Tensor:
        """y = z Wᵀ for W = reshape(a bᵀ, (n, D)), a = vec(A) (length pq), b = vec(B) (st).

        Entry (i, k) of W is entry u = i·D + k of the flattened outer product, so
        W[i, k] = a[u // st] · b[u % st].

        When st divides D (c = D/st), u // st = i·c + k // st and u % st = k % st, hence
        W = reshape(a, (n, c)) ⊗ bᵀ: cut each row of z into c blocks of st entries,
        contract every block with b (an (N·c) × st by st product, O(N·D)), and multiply
        the resulting N × c matrix by reshape(a, (n, c))ᵀ.

        Otherwise row i starts at offset o_i = (i·D) mod st inside block u0_i = ⌊i·D/st⌋.
        Padding z with o_i zeros in front (and zeros behind up to a whole block) lines its
        blocks up with b again, so the same contraction works, row by row; rows that share
        an offset share the padded contraction. At most min(n, st) offsets occur.
        """
        N, n, D = z.shape[0], self.n, self.D
        a, b = A.reshape(-1), B.reshape(-1, 1)
        st = b.shape[0]
        if D % st == 0:
            c = D // st
            zb = _mm(z.reshape(N * c, st), b).reshape(N, c)
            return _mm(zb, a.reshape(n, c).T)
        groups: dict[int, list[int]] = {}
        for i in range(n):
            groups.setdefault((i * D) % st, []).append(i)
        parts, order = [], []
        for offset, rows in groups.items():
            blocks = -(-(offset + D) // st)  # ceil
            tail = blocks * st - offset - D
            pieces = [z]
            if offset:
                pieces.insert(0, zeros(N, offset, dtype=z.dtype, device=z.device))
            if tail:
                pieces.append(zeros(N, tail, dtype=z.dtype, device=z.device))
            padded = cat(pieces, 1) if len(pieces) > 1 else z
            zb = _mm(padded.reshape(N * blocks, st), b).reshape(N, blocks)
            starts = np.array([(i * D) // st for i in rows])
            index = starts[:, None] + np.arange(blocks)[None, :]  # (rows, blocks) into a
            parts.append(_mm(zb, a[z.xp.asarray(index)].T))
            order.extend(rows)
        y = cat(parts, 1) if len(parts) > 1 else parts[0]
        return y[:, z.xp.asarray(np.argsort(order))]

    def _settings(self) -> str:
        rank = f", r={self.r}" if self.r is not None else ""
        return (f"p={self.p}, q={self.q}{rank}, s={self.s}, t={self.t}, "
                f"layout={self.layout!r}")


class HMReconciliation(_KronFamily):
    """W = A ⊗ B, A (p × q), B (s × t), s = n/p, t = D/q:  hypercomplex multiplication.

    ``HMReconciliation(n, D, p=2, q=None, layout='kron')`` (q defaults to p, as in
    tinyBIG). w = [A, B], l = pq + st.
    """

    _owner = "HMReconciliation"

    def __init__(self, n: int, D: int, p: int = 2, q: int | None = None,
                 layout: str = "kron") -> None:
        super().__init__(n, D, p, q, None, layout)

    @staticmethod
    def parameter_count(n: int, D: int, p: int = 2, q: int | None = None,
                        layout: str = "kron") -> int:
        """l = p·q + s·t with s = n/p, t = D/q."""
        q = p if q is None else q
        _check_divides("HMReconciliation", "p", p, "n", n, "the number of outputs, n = p·s")
        _check_divides("HMReconciliation", "q", q, "D", D, "the expansion size, D = q·t")
        return p * q + (n // p) * (D // q)

    @staticmethod
    def _shapes(p: int, q: int, s: int, t: int, r: int | None) -> list[tuple[int, int]]:
        return [(p, q), (s, t)]

    def _a_b(self, parts: list[Tensor]) -> tuple[tuple, tuple]:
        A, B = parts
        return ("dense", A), ("dense", B)


class LPHMReconciliation(_KronFamily):
    """W = A ⊗ (S Tᵀ):  low-rank parameterised hypercomplex multiplication.

    ``LPHMReconciliation(n, D, p=2, q=None, r=2, layout='kron')``: A is p × q, S is s × r,
    T is t × r (s = n/p, t = D/q). w = [A, S, T], l = pq + r(s + t).
    """

    _owner = "LPHMReconciliation"

    def __init__(self, n: int, D: int, p: int = 2, q: int | None = None, r: int = 2,
                 layout: str = "kron") -> None:
        super().__init__(n, D, p, q, r, layout)

    @staticmethod
    def parameter_count(n: int, D: int, p: int = 2, q: int | None = None, r: int = 2,
                        layout: str = "kron") -> int:
        """l = p·q + r·(s + t) with s = n/p, t = D/q."""
        q = p if q is None else q
        _check_divides("LPHMReconciliation", "p", p, "n", n, "the number of outputs, n = p·s")
        _check_divides("LPHMReconciliation", "q", q, "D", D, "the expansion size, D = q·t")
        return p * q + r * (n // p + D // q)

    @staticmethod
    def _shapes(p: int, q: int, s: int, t: int, r: int | None) -> list[tuple[int, int]]:
        return [(p, q), (s, r), (t, r)]

    def _a_b(self, parts: list[Tensor]) -> tuple[tuple, tuple]:
        A, S, T = parts
        return ("dense", A), ("lowrank", S, T)


class DualLPHMReconciliation(_KronFamily):
    """W = (P Qᵀ) ⊗ (S Tᵀ):  dual low-rank parameterised hypercomplex multiplication.

    ``DualLPHMReconciliation(n, D, p=2, q=None, r=2, layout='kron')``: P is p × r, Q is
    q × r, S is s × r, T is t × r (s = n/p, t = D/q). w = [P, Q, S, T],
    l = r·(p + q + s + t). The MNIST model's layers (p, q, r) = (8, 784, 5), (8, 64, 5),
    (2, 64, 5) have l = 7,925 + 725 + 680 = 9,330.
    """

    _owner = "DualLPHMReconciliation"

    def __init__(self, n: int, D: int, p: int = 2, q: int | None = None, r: int = 2,
                 layout: str = "kron") -> None:
        super().__init__(n, D, p, q, r, layout)

    @staticmethod
    def parameter_count(n: int, D: int, p: int = 2, q: int | None = None, r: int = 2,
                        layout: str = "kron") -> int:
        """l = r·(p + q + s + t) with s = n/p, t = D/q."""
        q = p if q is None else q
        _check_divides("DualLPHMReconciliation", "p", p, "n", n, "the number of outputs, n = p·s")
        _check_divides("DualLPHMReconciliation", "q", q, "D", D, "the expansion size, D = q·t")
        return r * (p + q + n // p + D // q)

    @staticmethod
    def _shapes(p: int, q: int, s: int, t: int, r: int | None) -> list[tuple[int, int]]:
        return [(p, r), (q, r), (s, r), (t, r)]

    def _a_b(self, parts: list[Tensor]) -> tuple[tuple, tuple]:
        P, Q, S, T = parts
        return ("lowrank", P, Q), ("lowrank", S, T)
