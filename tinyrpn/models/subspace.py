"""Training in a random subspace: the intrinsic dimension of Li et al. (2018).

Flatten every trainable parameter of a network into one vector θ of D numbers. Instead of
training θ, fix a random D × d matrix P (d ≪ D) and train only ω, d numbers:

    θ = θ₀ + P ω      (offset=True: ω starts at 0, so the network starts at θ₀)
    θ = P ω           (offset=False, the reference's form: P's first column points along
                       θ₀ and ω starts at (θ₀[0] / P[0,0], 0, …, 0), so again θ = θ₀)

The gradient reaching ω is dL/dω = Pᵀ dL/dθ. The smallest d at which the network still
reaches 90% accuracy is its "intrinsic dimension" d_int90.

:class:`Subspace` wraps any Module: its only parameter is ω, and its forward pass computes
θ from ω, cuts θ into the wrapped model's parameter shapes and runs the wrapped model with
those tensors standing in for its own parameters. Four projections P, all with columns of
(about) unit norm:

``qr``        dense and orthonormal, as in the reference: Q of the QR factorisation of
              [θ₀ | randn(D, d−1)]. D·d numbers (800 MB for D = 199,210, d = 1000).
``dense``     dense Gaussian, each column scaled to unit norm. D·d numbers.
``sparse``    Li et al.'s sparse projection: each entry non-zero with probability 1/√D,
              ±1 with equal odds, columns scaled to unit norm; stored as (row, column,
              value) triples, d·√D of them.
``fastfood``  the Fastfood transform (Le, Sarlós & Smola 2013) as Li et al. use it, built
              from Walsh–Hadamard transforms; never stores P, needs O(D) memory.

With ``offset=False``, ``qr`` gets its first column from the QR factorisation itself; the
other projections get it by putting the unit vector θ₀/‖θ₀‖ in front of d − 1 random
columns (one extra vector of D numbers, whatever the projection).

Every projection offers ``project(ω) = P ω``, ``project_transpose(g) = Pᵀ g`` and
``matrix()``, which materialises P for teaching and testing; training uses only
``project`` and ``project_transpose``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinyrpn import backend, kernels, nn
from tinyrpn import random as trandom
from tinyrpn.autograd import Function, Tensor, is_grad_enabled, no_grad

__all__ = [
    "PROJECTIONS",
    "DenseProjection",
    "SparseProjection",
    "FastfoodProjection",
    "AnchoredProjection",
    "Projection",
    "Subspace",
    "make_projection",
    "project",
]

PROJECTIONS = ("qr", "dense", "sparse", "fastfood")

# Rows handled at a time when building dense projections: bounds the float64 scratch.
_ROW_BLOCK = 8192


# ==================================================================== the projections


class Projection:
    """θ = P ω,  ω (d,) → θ (D,):  a linear map from R^d to R^D, not necessarily stored.

    ``project(omega)`` returns P ω (a new array of D numbers) and
    ``project_transpose(grad)`` returns Pᵀ g (d numbers). Computations run in the wider of
    the projection's and the argument's float dtypes, so a float64 ω gives exact float64
    gradient checks.
    """

    D: int
    d: int

    def project(self, omega: Any) -> Any:
        """θ = P ω for an array ω of d numbers; D numbers."""
        raise NotImplementedError

    def project_transpose(self, grad: Any) -> Any:
        """Pᵀ g for an array g of D numbers (a gradient with respect to θ); d numbers."""
        raise NotImplementedError

    def matrix(self) -> Any:
        """P as a dense D × d array (for tests and teaching: D·d numbers)."""
        xp = self._xp()
        eye = xp.eye(self.d, dtype=self.dtype)
        return xp.stack([self.project(eye[j]) for j in range(self.d)], axis=1)

    def to(self, device: str | None = None, dtype: Any = None) -> Projection:
        """Move the arrays that define P to ``device`` and/or cast its floats to ``dtype``
        (in place; arrays already there, in that dtype, are not copied)."""
        for name, value in list(vars(self).items()):
            if hasattr(value, "dtype") and hasattr(value, "shape"):
                if device is not None and backend.device_of(value) != device:
                    value = backend.to_device(value, device)
                if dtype is not None and value.dtype.kind == "f" and value.dtype != dtype:
                    value = value.astype(dtype)
                setattr(self, name, value)
        return self

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays that define P."""
        return sum(int(v.nbytes) for v in vars(self).values() if hasattr(v, "nbytes"))

    @property
    def dtype(self) -> np.dtype:
        raise NotImplementedError

    def _xp(self) -> Any:
        raise NotImplementedError

    def _check(self, array: Any, n: int, what: str) -> None:
        if array.shape != (n,):
            raise ValueError(
                f"{type(self).__name__} (D={self.D}, d={self.d}): {what} must have shape "
                f"({n},), got {tuple(array.shape)}"
            )


class DenseProjection(Projection):
    """P stored as a dense (D, d) array: P ω and Pᵀ g are matrix–vector products."""

    def __init__(self, P: Any) -> None:
        if P.ndim != 2:
            raise ValueError(f"DenseProjection: P must be 2-D (D, d), got shape {P.shape}")
        self.P = P
        self.D, self.d = (int(s) for s in P.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.P.dtype

    def _xp(self) -> Any:
        return backend.get_array_module(self.P)

    def project(self, omega: Any) -> Any:
        self._check(omega, self.d, "omega")
        return self.P @ omega

    def project_transpose(self, grad: Any) -> Any:
        self._check(grad, self.D, "grad")
        return self.P.T @ grad

    def matrix(self) -> Any:
        return self.P.copy()


class SparseProjection(Projection):
    """P stored as its non-zero entries: P[rows[k], cols[k]] = values[k].

    P ω adds values[k]·ω[cols[k]] into θ[rows[k]] (a weighted bincount); Pᵀ g adds
    values[k]·g[rows[k]] into the gradient of ω[cols[k]]. Both cost O(number of entries).
    """

    def __init__(self, rows: Any, cols: Any, values: Any, D: int, d: int) -> None:
        if not (rows.shape == cols.shape == values.shape and rows.ndim == 1):
            raise ValueError(
                f"SparseProjection: rows, cols and values must be 1-D of one length, got "
                f"shapes {rows.shape}, {cols.shape}, {values.shape}"
            )
        self.rows, self.cols, self.values = rows, cols, values
        self.D, self.d = int(D), int(d)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def _xp(self) -> Any:
        return backend.get_array_module(self.values)

    def project(self, omega: Any) -> Any:
        self._check(omega, self.d, "omega")
        xp = self._xp()
        dtype = xp.result_type(omega.dtype, self.values.dtype)
        # bincount sums in float64, whatever the weights: one rounding at the end.
        out = xp.bincount(self.rows, weights=self.values * omega[self.cols], minlength=self.D)
        return out.astype(dtype, copy=False)

    def project_transpose(self, grad: Any) -> Any:
        self._check(grad, self.D, "grad")
        xp = self._xp()
        dtype = xp.result_type(grad.dtype, self.values.dtype)
        out = xp.bincount(self.cols, weights=self.values * grad[self.rows], minlength=self.d)
        return out.astype(dtype, copy=False)

    def matrix(self) -> Any:
        xp = self._xp()
        P = xp.zeros((self.D, self.d), dtype=self.dtype)
        P[self.rows, self.cols] = self.values  # every (row, col) appears once
        return P

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])


class FastfoodProjection(Projection):
    """The Fastfood projection of Li et al. (2018), after Le, Sarlós & Smola (2013).

    With ℓ the smallest power of two ≥ D, H the ℓ × ℓ Walsh–Hadamard matrix (entries ±1,
    symmetric, H H = ℓ I), B a diagonal of random signs, Π a random permutation and G a
    diagonal of N(0, 1) numbers:

        P ω = c · first D entries of  H G Π H B pad(ω),     c = 1 / √(D · Σ G²)

    (pad(ω) appends ℓ − d zeros; (Π x)[i] = x[Π[i]]). Every column of the full ℓ × ℓ
    product has norm √(ℓ Σ G²) exactly; keeping D of its ℓ rows keeps about D/ℓ of the
    squared norm, so c makes the columns of P unit-norm on average. This is Li et al.'s
    normalisation (their code divides by √(ℓ Σ G²) · √(D/ℓ)); like them we leave out Le et
    al.'s extra diagonal S, which only gives the rows Gaussian-like norms.

    The transpose runs the same chain backwards (diagonals and H are symmetric, Πᵀ is
    the inverse permutation): Pᵀ g = c · first d entries of B H Πᵀ G H pad(g).

    Only two of the four ℓ-point transforms are needed. Let b be the smallest power of two
    ≥ d. Sylvester's construction gives H_ℓ = H_(ℓ/b) ⊗ H_b, and the first column of any
    H is all ones, so for a vector v of b numbers

        H_ℓ pad(v) = H_b v repeated ℓ/b times        (entry i is (H_b v)[i mod b]),
        first b entries of H_ℓ z = H_b s,  s[j] = Σ of the z[i] with i mod b = j.

    So ``project`` transforms B pad(ω) with a b-point FWHT and reads entry Π[i] mod b of
    the result where it would read entry Π[i] of the long one; ``project_transpose`` sums Πᵀ G H
    pad(g) into b bins by index mod b (a bincount over Π[i] mod b, no inverse
    permutation needed) and finishes with a b-point FWHT. The cost is one ℓ-point
    transform and O(ℓ) more work each way. Memory: B, G, Π and Π mod b, four vectors of ℓ
    numbers, and nothing of size D × d.
    """

    def __init__(self, D: int, d: int, rng: np.random.Generator, dtype: Any = np.float32) -> None:
        if not 1 <= d <= D:
            raise ValueError(f"FastfoodProjection: need 1 <= d <= D, got d={d}, D={D}")
        self.D, self.d = int(D), int(d)
        self.ell = 1 << max(0, (self.D - 1).bit_length())
        self.b = 1 << max(0, (self.d - 1).bit_length())
        dtype = np.dtype(dtype)
        self.B = (rng.integers(0, 2, self.ell) * 2 - 1).astype(dtype)
        self.Pi = rng.permutation(self.ell)
        self.Pi_mod_b = self.Pi & (self.b - 1)  # Π[i] mod b (b is a power of two)
        self.G = rng.standard_normal(self.ell).astype(dtype)
        self.scale = np.asarray(1.0 / np.sqrt(self.D * np.sum(self.G.astype(np.float64) ** 2)),
                                dtype=dtype)

    @property
    def dtype(self) -> np.dtype:
        return self.G.dtype

    def _xp(self) -> Any:
        return backend.get_array_module(self.G)

    def project(self, omega: Any) -> Any:
        self._check(omega, self.d, "omega")
        xp = self._xp()
        dtype = xp.result_type(omega.dtype, self.G.dtype)
        v = xp.zeros(self.b, dtype=dtype)
        v[: self.d] = self.B[: self.d] * omega      # B pad(ω), its first b entries
        u = kernels.fwht(v)                         # H_ℓ B pad(ω) is u repeated ℓ/b times
        x = u[self.Pi_mod_b] * self.G               # G Π H B pad(ω)
        x = kernels.fwht(x)                         # H
        return x[: self.D] * self.scale.astype(dtype)

    def project_transpose(self, grad: Any) -> Any:
        self._check(grad, self.D, "grad")
        xp = self._xp()
        dtype = xp.result_type(grad.dtype, self.G.dtype)
        x = xp.zeros(self.ell, dtype=dtype)
        x[: self.D] = grad                          # pad(g)
        x = kernels.fwht(x) * self.G                # G H pad(g)
        # Πᵀ moves x[i] to position Π[i]; the first b entries of H_ℓ (Πᵀ x) only need the
        # sums over positions with equal value mod b. bincount adds in float64.
        s = xp.bincount(self.Pi_mod_b, weights=x, minlength=self.b).astype(dtype)
        t = kernels.fwht(s)                         # first b entries of H Πᵀ G H pad(g)
        return t[: self.d] * self.B[: self.d] * self.scale.astype(dtype)


class AnchoredProjection(Projection):
    """P = [u | R]: a fixed first column u (unit vector along θ₀) before a projection R
    with d − 1 columns (or none when d = 1). P ω = u ω₀ + R ω[1:]."""

    def __init__(self, anchor: Any, rest: Projection | None) -> None:
        if rest is not None and rest.D != anchor.shape[0]:
            raise ValueError(f"AnchoredProjection: anchor has {anchor.shape[0]} numbers but "
                             f"the other columns have D = {rest.D}")
        self.anchor, self.rest = anchor, rest
        self.D, self.d = int(anchor.shape[0]), 1 + (rest.d if rest is not None else 0)

    @property
    def dtype(self) -> np.dtype:
        return self.anchor.dtype

    def _xp(self) -> Any:
        return backend.get_array_module(self.anchor)

    def project(self, omega: Any) -> Any:
        self._check(omega, self.d, "omega")
        head = self.anchor * omega[0]
        return head if self.rest is None else self.rest.project(omega[1:]) + head

    def project_transpose(self, grad: Any) -> Any:
        self._check(grad, self.D, "grad")
        xp = self._xp()
        first = (self.anchor @ grad).reshape(1)
        if self.rest is None:
            return first
        return xp.concatenate([first.astype(xp.result_type(first, grad), copy=False),
                               self.rest.project_transpose(grad)])

    def to(self, device: str | None = None, dtype: Any = None) -> Projection:
        super().to(device, dtype)
        if self.rest is not None:
            self.rest.to(device, dtype)
        return self

    @property
    def nbytes(self) -> int:
        return int(self.anchor.nbytes) + (self.rest.nbytes if self.rest is not None else 0)


# ------------------------------------------------------------------ building them


def _gaussian_columns(D: int, d: int, rng: np.random.Generator, dtype: np.dtype,
                      first: np.ndarray | None = None) -> np.ndarray:
    """A (D, d) array of N(0, 1) numbers, or ``first`` then d − 1 columns of them, drawn
    row block by row block in ``dtype`` (no float64 copy of the whole matrix is made)."""
    A = np.empty((D, d), dtype=dtype)
    start = 0 if first is None else 1
    if first is not None:
        A[:, 0] = first
    draw = dtype if dtype in (np.dtype(np.float32), np.dtype(np.float64)) else np.float64
    for r in range(0, D, _ROW_BLOCK):
        rows = min(_ROW_BLOCK, D - r)
        A[r:r + rows, start:] = rng.standard_normal((rows, d - start), dtype=draw)
    return A


def _column_norms(A: np.ndarray) -> np.ndarray:
    sq = np.zeros(A.shape[1])
    for r in range(0, A.shape[0], _ROW_BLOCK):
        block = A[r:r + _ROW_BLOCK].astype(np.float64)
        sq += np.einsum("ij,ij->j", block, block)
    return np.sqrt(sq)


def _scale_columns_(A: np.ndarray, factors: np.ndarray) -> None:
    f = factors.astype(A.dtype)
    for r in range(0, A.shape[0], _ROW_BLOCK):
        A[r:r + _ROW_BLOCK] *= f


def _cholesky_qr_(A: np.ndarray) -> None:
    """Overwrite A (D × d, D ≥ d, full column rank) with the Q of its QR factorisation.

    CholeskyQR2 (Fukaya et al. 2014): with G = AᵀA = RᵀR (Cholesky), Q = A R⁻¹; doing it
    twice makes Q orthonormal to working precision. R has a positive diagonal, so Q is the
    unique QR factor with that convention, and its first column is A's first column over
    its norm. Columns are scaled to unit norm first (which leaves Q unchanged) so that the
    Gram matrix is well conditioned. Everything runs row block by row block in place: the
    only extra memory is d × d and one block, where LAPACK's Householder QR (np.linalg.qr)
    would need several float64 copies of A — over 5 GB, and many minutes, for the
    reference's 199,210 × 1000.
    """
    D, d = A.shape
    norms = _column_norms(A)
    if not np.all(norms > 0):
        raise np.linalg.LinAlgError(
            f"QR projection: column {int(np.argmin(norms))} of [theta_init | randn] is zero"
        )
    _scale_columns_(A, 1.0 / norms)
    for _ in range(2):
        G = np.zeros((d, d))
        for r in range(0, D, _ROW_BLOCK):
            block = A[r:r + _ROW_BLOCK].astype(np.float64)
            G += block.T @ block
        try:
            L = np.linalg.cholesky(G)  # G = L Lᵀ, R = Lᵀ
        except np.linalg.LinAlgError:
            raise np.linalg.LinAlgError(
                "QR projection: the columns of [theta_init | randn(D, d-1)] are linearly "
                "dependent (is theta_init zero, or d close to D?)"
            ) from None
        # Q = A R⁻¹ in A's own precision: the second pass repairs what the first loses.
        R_inv = np.linalg.inv(L.T).astype(A.dtype)  # upper triangular
        for r in range(0, D, _ROW_BLOCK):
            A[r:r + _ROW_BLOCK] = A[r:r + _ROW_BLOCK] @ R_inv


def _sparse_columns(D: int, d: int, rng: np.random.Generator, dtype: np.dtype,
                    density: float) -> SparseProjection:
    rows, cols, values = [], [], []
    for j in range(d):
        k = max(1, int(rng.binomial(D, density)))  # an empty column would be useless
        r = np.sort(rng.choice(D, size=k, replace=False))
        signs = rng.integers(0, 2, k) * 2 - 1
        rows.append(r)
        cols.append(np.full(k, j))
        values.append(signs / np.sqrt(k))  # unit-norm column
    return SparseProjection(np.concatenate(rows).astype(np.int64),
                            np.concatenate(cols).astype(np.int64),
                            np.concatenate(values).astype(dtype), D, d)


def make_projection(kind: str, theta_init: np.ndarray, d: int, seed: int,
                    anchored: bool = False, density: float | None = None) -> Projection:
    """Build the D × d projection ``kind`` from ``seed`` (same seed, same P), on the CPU.

    ``theta_init`` (D numbers, its dtype is P's) gives D; it is also the first column that
    ``qr`` orthonormalises, and with ``anchored=True`` the direction of every other
    projection's first column. ``density`` (sparse only) defaults to 1/√D.
    """
    if kind not in PROJECTIONS:
        raise ValueError(f"unknown projection {kind!r}; valid: {', '.join(PROJECTIONS)}")
    theta_init = np.asarray(theta_init)
    D = int(theta_init.shape[0])
    if not 1 <= d <= D:
        raise ValueError(f"projection {kind!r}: need 1 <= d <= D = {D}, got d = {d}")
    dtype = theta_init.dtype
    rng = np.random.default_rng(seed)
    if kind == "qr":
        A = _gaussian_columns(D, d, rng, dtype, first=theta_init)
        _cholesky_qr_(A)
        return DenseProjection(A)
    norm = float(np.linalg.norm(theta_init.astype(np.float64)))
    if anchored:
        if norm == 0.0:
            raise ValueError(
                "offset=False needs a non-zero theta_init to point P's first column along; "
                "this model's parameters are all zero (use offset=True)"
            )
        anchor = (theta_init.astype(np.float64) / norm).astype(dtype)
        rest_d = d - 1
    else:
        rest_d = d
    if kind == "dense":  # one matrix; with an anchor, the anchor is its first column
        A = _gaussian_columns(D, d, rng, dtype, first=anchor if anchored else None)
        _scale_columns_(A, 1.0 / _column_norms(A))
        return DenseProjection(A)
    rest: Projection | None = None
    if rest_d > 0:
        if kind == "sparse":
            rest = _sparse_columns(D, rest_d, rng, dtype, density or 1.0 / np.sqrt(D))
        else:
            rest = FastfoodProjection(D, rest_d, rng, dtype)
    if not anchored:
        assert rest is not None
        return rest
    return AnchoredProjection(anchor, rest)


# ---------------------------------------------------------------- the differentiable op


class Project(Function):
    """θ = P ω (+ θ₀ when an offset is given);  dω = Pᵀ dθ.

    P is linear in ω, so the backward pass needs neither ω nor θ: only P itself.
    """

    saves_inputs = False

    def forward(self, omega: Any, projection: Projection, offset: Any = None) -> Any:
        self.projection = projection
        theta = projection.project(omega)
        if offset is not None:
            theta = theta + offset
        return theta

    def backward(self, grad: Any) -> Any:
        return self.projection.project_transpose(grad)


def project(omega: Tensor, projection: Projection, offset: Any = None) -> Tensor:
    """θ = θ₀ + P ω as a differentiable function of ``omega`` (``offset`` = θ₀ or None)."""
    if omega.shape != (projection.d,):
        raise ValueError(f"project: omega must have shape ({projection.d},), got {omega.shape}")
    raw = offset.data if isinstance(offset, Tensor) else offset
    return Project.apply(omega, projection=projection, offset=raw)


# ====================================================================== the module


class Subspace(nn.Module):
    """y = model(x; θ = θ₀ + P ω),  shapes as ``model``'s:  only ω (``dim`` numbers) is trained.

    Trains ``model`` in a random ``dim``-dimensional subspace of its parameter space.

    ``Subspace(model, dim, projection='qr', offset=True, seed=None)``: θ (the D trainable
    parameters of ``model``, flattened in ``named_parameters`` order) is θ₀ + P ω
    (``offset=True``) or P ω (``offset=False``, as in the reference), and only ω — a
    Parameter of ``dim`` numbers — is trained. ``parameters()`` yields ω alone: the wrapped
    model's parameters are frozen (``requires_grad=False``) and left holding θ₀.

    P is rebuilt from ``seed`` (drawn from tinyrpn's random stream when None, so
    ``tinyrpn.manual_seed`` fixes it) and θ₀, never saved: ``state_dict()`` holds ``omega``,
    ``theta0``, ``projection_seed`` and the wrapped model's buffers (``model.<name>``).
    ``load_state_dict`` rebuilds P when the seed or θ₀ it loads differ.

    The forward pass computes θ, cuts it into views of the parameters' shapes and runs the
    wrapped model with those views in its submodules' ``_parameters`` in place of its own,
    restoring them afterwards (also when the forward pass raises). Under ``no_grad`` the
    last θ is reused while ω is unchanged, so evaluating a test set projects once.
    """

    def __init__(self, model: nn.Module, dim: int, projection: str = "qr",
                 offset: bool = True, seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"Subspace: model must be a tinyrpn Module, got {type(model).__name__}")
        if projection not in PROJECTIONS:
            raise ValueError(f"Subspace: unknown projection {projection!r}; valid: "
                             f"{', '.join(PROJECTIONS)}")
        if isinstance(model, Subspace):
            raise TypeError("Subspace: the model is already a Subspace; wrap its .model instead")
        params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"Subspace: {type(model).__name__} has no trainable parameters")
        D = sum(p.numel() for _, p in params)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= D:
            raise ValueError(f"Subspace: dim must be an integer in 1..{D} (the model's "
                             f"trainable parameters), got {dim!r}")
        dtypes = {p.dtype for _, p in params}
        devices = {p.device for _, p in params}
        if len(dtypes) > 1 or len(devices) > 1:
            raise ValueError(f"Subspace: the model's parameters must share one dtype and "
                             f"device, got {sorted(map(str, dtypes))} on {sorted(devices)}")
        if seed is None:
            seed = int(trandom.default_generator().integers(0, 2**62))
        # The wrapped model is not registered as a submodule: a parent module would then
        # find its parameters (they would be trained). train()/eval() reach it through the
        # ``training`` property, to() and the buffers through the overrides below.
        object.__setattr__(self, "_wrapped", model)
        self.dim, self.projection_kind, self.offset = int(dim), projection, bool(offset)
        self.D = int(D)
        self._names = [name for name, _ in params]
        self._shapes = [p.shape for _, p in params]
        bounds = np.cumsum([0] + [p.numel() for _, p in params])
        self._slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        index = {id(p): i for i, (_, p) in enumerate(params)}
        # Every (submodule, attribute) that holds a trained parameter; a parameter shared
        # by two modules has two slots.
        self._slots = [(m, key, index[id(p)]) for m in model.modules()
                       for key, p in m._parameters.items() if p is not None and id(p) in index]
        for _, p in params:
            p.requires_grad_(False)
        device = devices.pop()
        theta0 = np.concatenate([backend.to_numpy(p.data).reshape(-1) for _, p in params])
        self.register_buffer("theta0", Tensor._wrap(backend.to_device(theta0, device)))
        self.register_buffer("projection_seed", Tensor._wrap(np.asarray(seed, dtype=np.int64)))
        self._projection = self._build_projection(theta0, seed).to(device)
        omega = np.zeros(self.dim, dtype=theta0.dtype)
        if not self.offset:
            omega[0] = self._first_coordinate(theta0)
        self.omega = nn.Parameter(Tensor._wrap(backend.to_device(omega, device)))
        self._cache: tuple[Any, Any, int, Tensor] | None = None

    # -- P -----------------------------------------------------------------------------

    def _build_projection(self, theta0: np.ndarray, seed: int) -> Projection:
        return make_projection(self.projection_kind, theta0, self.dim, int(seed),
                               anchored=not self.offset)

    def _first_coordinate(self, theta0: np.ndarray) -> float:
        """ω₀ with P[:, 0] ω₀ = θ₀: the reference's θ₀[0] / P[0, 0], computed as the
        least-squares coefficient P[:, 0]·θ₀ / ‖P[:, 0]‖², which is the same number when
        P[:, 0] ∥ θ₀ and needs no P[0, 0] ≠ 0."""
        e0 = np.zeros(self.dim, dtype=theta0.dtype)
        e0[0] = 1.0
        column = backend.to_numpy(self._projection.project(
            backend.to_device(e0, self.omega_device))).astype(np.float64)
        return float(column @ theta0.astype(np.float64) / (column @ column))

    @property
    def omega_device(self) -> str:
        return self.theta0.device

    @property
    def projection(self) -> Projection:
        """The projection object (``project``, ``project_transpose``, ``matrix()``)."""
        return self._projection

    @property
    def model(self) -> nn.Module:
        """The wrapped network (its own parameters hold θ₀; see :meth:`merged_model`)."""
        return self._wrapped

    # -- forward -----------------------------------------------------------------------

    def theta(self, omega: Tensor | None = None) -> Tensor:
        """θ (D numbers) for ``omega`` (default: the trained ω), differentiable in ω."""
        omega = self.omega if omega is None else omega
        offset = self.theta0 if self.offset else None
        if is_grad_enabled() and omega.requires_grad:
            return project(omega, self._projection, offset)
        key = (omega.data, omega.dtype, self.theta0._version.value)
        c = self._cache
        if (c is not None and c[1] == key[1] and c[2] == key[2] and c[0].shape == omega.shape
                and bool((c[0] == omega.data).all())):
            return c[3]
        with no_grad():
            theta = project(omega, self._projection, offset)
        self._cache = (omega.data.copy(), omega.dtype, self.theta0._version.value, theta)
        return theta

    def functional_call(self, omega: Tensor, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped model with θ computed from ``omega`` (for gradcheck, say)."""
        theta = self.theta(omega)
        views = [theta[s].reshape(shape) for s, shape in zip(self._slices, self._shapes)]
        with self._swapped(views):
            return self._wrapped(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.functional_call(self.omega, *args, **kwargs)

    @contextlib.contextmanager
    def _swapped(self, tensors: list[Tensor]) -> Iterator[None]:
        saved = [(m, key, m._parameters[key]) for m, key, _ in self._slots]
        try:
            for m, key, i in self._slots:
                m._parameters[key] = tensors[i]
            yield
        finally:
            for m, key, original in saved:
                m._parameters[key] = original

    @no_grad()
    def merged_model(self) -> nn.Module:
        """Write the current θ into the wrapped model's parameters and return that model
        (an ordinary network again, e.g. to save or evaluate on its own)."""
        theta = self.theta(self.omega.detach())
        params = dict(self._wrapped.named_parameters())
        for name, s, shape in zip(self._names, self._slices, self._shapes):
            params[name].copy_(Tensor._wrap(theta.data[s].reshape(shape)))
        return self._wrapped

    # -- Module plumbing ------------------------------------------------------------------

    @property  # type: ignore[override]
    def training(self) -> bool:
        return self.__dict__.get("_training", True)

    @training.setter
    def training(self, mode: bool) -> None:
        # Module.train() sets ``training`` on every module it can find; the wrapped model
        # is hidden from that search, so follow it here.
        self.__dict__["_training"] = mode
        wrapped = self.__dict__.get("_wrapped")
        if wrapped is not None:
            wrapped.train(mode)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        yield from super().named_buffers(prefix)
        yield from self._wrapped.named_buffers(f"{prefix}.model" if prefix else "model")

    def to(self, device: Any = None, dtype: Any = None) -> Subspace:
        super().to(device, dtype)  # ω, θ₀ and the wrapped model's buffers
        self._wrapped.to(device, dtype)
        self._projection.to(self.omega.device, self.omega.dtype)  # P follows ω
        self._cache = None
        return self

    def load_state_dict(self, state_dict: dict[str, Any],
                        strict: bool = True) -> tuple[list[str], list[str]]:
        old_seed = int(self.projection_seed.item())
        old_theta0 = self.theta0.data.copy()
        result = super().load_state_dict(state_dict, strict)
        seed = int(self.projection_seed.item())
        xp = self.theta0.xp
        theta0_changed = not bool(xp.array_equal(old_theta0, self.theta0.data))
        if seed != old_seed or (theta0_changed and (self.projection_kind == "qr"
                                                    or not self.offset)):
            theta0 = backend.to_numpy(self.theta0.data)
            self._projection = self._build_projection(theta0, seed).to(self.omega_device)
        self._cache = None
        return result

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, D={self.D:,}, projection={self.projection_kind!r}, "
                f"offset={self.offset}, seed={int(self.projection_seed.item())}")

    def __repr__(self) -> str:
        inner = repr(self._wrapped).replace("\n", "\n  ")
        return f"{type(self).__name__}({self.extra_repr()}\n  (model): {inner}\n)"
