"""Loss functions: cross-entropy, negative log-likelihood, mean squared error, binary
cross-entropy (on probabilities or on logits).

Each takes PyTorch's arguments and ``reduction`` ('mean', 'sum' or 'none'). Class-index
targets are checked before any arithmetic, so a label out of range, a float label or a
mis-shaped target fails with a message naming the problem instead of an IndexError deep
inside NumPy.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.display import TinyrpnWarning
from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.nn import log_softmax
from tinyrpn.ops.operands import _xp
from tinyrpn.ops.shape import permute, reshape
from tinyrpn.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(losses: Any, reduction: str, denominator: Any, dtype: Any) -> Any:
    """The reduced loss as an array of ``dtype`` (0-d for 'mean' and 'sum')."""
    if reduction == "none":
        return losses.astype(dtype, copy=False)
    total = losses.sum()
    return _xp(losses).asarray(total / denominator if reduction == "mean" else total, dtype=dtype)


def _grad_losses(d: Any, count: int, weights: Any, reduction: str, denominator: Any) -> Any:
    """dL/dloss_i for every sample, for each reduction (times the sample's weight)."""
    xp = _xp(d)
    if reduction == "none":
        g = d
    else:
        scale = d / denominator if reduction == "mean" else d
        g = xp.broadcast_to(scale, (count,))
    return g if weights is None else g * weights


class CrossEntropy(Function):
    """Softmax cross-entropy of logits x (N, C) with class indices t (N,), fused.

    forward:  loss_i = w_i · (log Σ_c exp(x_ic) − x_i,t_i)     then the reduction
              (w_i = weight[t_i], 0 for ignored samples; 'mean' divides by Σ w_i)
    backward: dx_ic = g_i · (softmax(x_i)_c − [c = t_i]),   g_i = dL/dloss_i · w_i
    """

    saves_inputs = False

    def forward(self, x: Any, *, target: Any, weights: Any, reduction: str) -> Any:
        losses, self.probs = _kernels().cross_entropy_forward(x, target)
        if weights is not None:
            losses = losses * weights
        self.target, self.weights, self.reduction = target, weights, reduction
        self.denominator = (weights.sum() if weights is not None else x.shape[0])
        return _reduce(losses, reduction, self.denominator, x.dtype)

    def backward(self, d: Any) -> Any:
        g = _grad_losses(d, self.target.shape[0], self.weights, self.reduction, self.denominator)
        g = _xp(d).ascontiguousarray(g, dtype=self.probs.dtype)
        return _kernels().cross_entropy_backward(g, self.probs, self.target)


class NLL(Function):
    """Negative log-likelihood of log-probabilities x (N, C) at class indices t (N,).

    forward:  loss_i = −w_i · x_i,t_i       then the reduction (as in :class:`CrossEntropy`)
    backward: dx_ic = −g_i where c = t_i, else 0
    """

    saves_inputs = False

    def forward(self, x: Any, *, target: Any, weights: Any, reduction: str) -> Any:
        xp = _xp(x)
        self.rows = xp.arange(x.shape[0])
        losses = -x[self.rows, target]
        if weights is not None:
            losses = losses * weights
        self.shape, self.target, self.weights, self.reduction = x.shape, target, weights, reduction
        self.denominator = (weights.sum() if weights is not None else x.shape[0])
        return _reduce(losses, reduction, self.denominator, x.dtype)

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        g = _grad_losses(d, self.shape[0], self.weights, self.reduction, self.denominator)
        grad = xp.zeros(self.shape, dtype=d.dtype)
        grad[self.rows, self.target] = -g
        return grad


def _class_targets(op: str, x: Tensor, target: Any, weight: Tensor | None,
                   ignore_index: int) -> tuple[Tensor, Any, Any]:
    """Check class-index targets; flatten to logits (M, C) and targets (M,).

    Returns (rows, targets, per-sample weights or None). Targets equal to ``ignore_index``
    are replaced by 0 and given weight 0, so they add nothing to the loss or the gradient.
    """
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: class-index targets must be integers (int64), got dtype {target.dtype} "
            f"for target shape {target.shape}"
            + (" (for class probabilities give a float target shaped like the input)"
               if is_floating(target.dtype) and op == "cross_entropy" else "")
        )
    expected = (x.shape[0],) + x.shape[2:] if x.ndim >= 2 else ()
    if target.shape != expected:
        raise ArgumentError(
            f"{op}: target shape {target.shape} does not match input shape {x.shape}; "
            f"expected target shape {expected} (one class index per sample)"
        )
    classes = x.shape[1] if x.ndim >= 2 else x.shape[0]
    if weight is not None and (not isinstance(weight, Tensor) or weight.shape != (classes,)):
        got = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ArgumentError(f"{op}: weight must be a Tensor of shape ({classes},), got {got}")

    # logits as rows (M, C): move the class dim last when there are extra dims
    if x.ndim == 1:
        rows = reshape(x, 1, classes)
    elif x.ndim == 2:
        rows = x
    else:
        rows = reshape(permute(x, 0, *range(2, x.ndim), 1), -1, classes)
    xp = x.xp
    t = xp.asarray(target.data).reshape(-1).astype(np.int64, copy=False)
    ignored = t == ignore_index
    valid = ~ignored
    bad = valid & ((t < 0) | (t >= classes))
    if bool(bad.any()):
        i = int(xp.argmax(bad))
        position = np.unravel_index(i, target.shape) if target.ndim else ()
        raise IndexError(
            f"{op}: target {int(t[i])} at position {tuple(int(p) for p in position)} is out "
            f"of range for {classes} classes (valid: 0 to {classes - 1}"
            + (f", or ignore_index={ignore_index})" if ignore_index >= 0 else ")")
        )
    weights = None
    if weight is not None or bool(ignored.any()):
        if bool(ignored.any()):
            t = xp.where(ignored, 0, t)
        w = weight.data.astype(x.dtype, copy=False) if weight is not None else None
        weights = (w[t] if w is not None else xp.ones(t.shape, dtype=x.dtype)) * valid
    return rows, xp.ascontiguousarray(t), weights


def _unflatten(losses: Tensor, x: Tensor, reduction: str) -> Tensor:
    if reduction != "none" or x.ndim == 2:
        return losses
    return reshape(losses, *((x.shape[0],) + x.shape[2:]) if x.ndim > 2 else ())


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy, as ``torch.nn.functional.cross_entropy``.

    ``input``: logits (N, C), (C,) or (N, C, d1, ...). ``target``: class indices (N,)
    / () / (N, d1, ...) of an integer dtype, or class probabilities shaped like the input.
    loss_i = −log softmax(x_i)[t_i]; 'mean' averages over samples (weighted by
    ``weight[t_i]`` when class weights are given; targets equal to ``ignore_index``
    count for nothing).

    ``label_smoothing`` ε mixes the target with the uniform distribution over the C
    classes: loss_i = (1 − ε) · w_t_i · (−log p_i,t_i) + ε · Σ_c w_c · (−log p_ic) / C, and
    'mean' divides both parts by Σ_i w_t_i, as PyTorch does.
    """
    if isinstance(weight, str):
        raise TypeError(f"cross_entropy: the third argument is the class weight; did you mean "
                        f"reduction={weight!r}?")
    _check_reduction("cross_entropy", reduction)
    if not isinstance(input, Tensor) or not is_floating(input.dtype):
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"cross_entropy: input must be a floating-point Tensor of logits, "
                        f"got {got}")
    if input.ndim == 0:
        raise ArgumentError("cross_entropy: input must have a class dim, got a 0-d tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if isinstance(target, Tensor) and is_floating(target.dtype) and target.shape == input.shape:
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + label_smoothing / classes
        return _soft_cross_entropy(input, target, weight, reduction)
    rows, t, weights = _class_targets("cross_entropy", input, target, weight, ignore_index)
    losses = CrossEntropy.apply(rows, target=t, weights=weights, reduction=reduction)
    if label_smoothing:
        valid = target.data.reshape(-1) != ignore_index
        losses = losses * (1.0 - label_smoothing) + label_smoothing * _uniform_term(
            rows, valid, weights, weight, reduction)
    return _unflatten(losses, input, reduction)


def _uniform_term(rows: Tensor, valid: Any, weights: Any, weight: Tensor | None,
                  reduction: str) -> Tensor:
    """The label-smoothing part: Σ_c w_c · (−log p_ic) / C per row, 0 for ignored rows,
    reduced as the cross-entropy is (its 'mean' divides by Σ_i w_t_i)."""
    classes = rows.shape[1]
    terms = -log_softmax(rows, 1)
    if weight is not None:
        terms = terms * reshape(weight.to(dtype=rows.dtype), 1, classes)
    per_row = terms.sum(1) / float(classes)
    if not bool(valid.all()):
        per_row = per_row * Tensor._wrap(valid.astype(rows.dtype))
    if reduction == "none":
        return per_row
    total = per_row.sum()
    if reduction == "sum":
        return total
    denominator = weights.sum() if weights is not None else rows.shape[0]
    return total / float(denominator)


def _soft_cross_entropy(x: Tensor, target: Tensor, weight: Tensor | None,
                        reduction: str) -> Tensor:
    """loss_i = −Σ_c w_c · p_ic · log softmax(x_i)_c for probability targets p (composed)."""
    class_dim = 1 if x.ndim >= 2 else 0
    logp = log_softmax(x, class_dim)
    terms = logp * target
    if weight is not None:
        view = (1, -1) + (1,) * (x.ndim - 2) if x.ndim >= 2 else (-1,)
        terms = terms * reshape(weight, *view)
    losses = -terms.sum(class_dim)
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / max(losses.numel(), 1) if reduction == "mean" else total


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    loss_i = −input[i, t_i] (times ``weight[t_i]``); use after ``log_softmax``.
    """
    if isinstance(weight, str):
        raise TypeError(f"nll_loss: the third argument is the class weight; did you mean "
                        f"reduction={weight!r}?")
    _check_reduction("nll_loss", reduction)
    if not isinstance(input, Tensor) or not is_floating(input.dtype):
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"nll_loss: input must be a floating-point Tensor of log-probabilities, "
                        f"got {got}")
    if input.ndim == 0:
        raise ArgumentError("nll_loss: input must have a class dim, got a 0-d tensor")
    rows, t, weights = _class_targets("nll_loss", input, target, weight, ignore_index)
    losses = NLL.apply(rows, target=t, weights=weights, reduction=reduction)
    return _unflatten(losses, input, reduction)


class MSE(Function):
    """Squared error between a and b.

    forward:  loss = (a − b)²  elementwise, then mean / sum / none
    backward: da = 2 (a − b) · d / n   (n = number of elements for 'mean', else 1),
              db = −da
    """

    saves_inputs = False

    def forward(self, a: Any, b: Any, *, reduction: str) -> Any:
        diff = a - b
        self.diff, self.reduction = diff, reduction
        squares = diff * diff
        if reduction == "none":
            return squares
        total = squares.mean() if reduction == "mean" else squares.sum()
        return _xp(a).asarray(total, dtype=squares.dtype)

    def backward(self, d: Any) -> tuple[Any, Any]:
        scale = 2 / self.diff.size if self.reduction == "mean" else 2
        grad = self.diff * (d * scale)
        return grad, -grad


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error, as ``torch.nn.functional.mse_loss``.

    Shapes should match; if they only broadcast, PyTorch's warning is repeated and the
    broadcast is used (often a bug: (N, 1) against (N,) gives an N × N matrix of errors).
    """
    _check_reduction("mse_loss", reduction)
    if not isinstance(input, Tensor) or not is_floating(input.dtype):
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"mse_loss: input must be a floating-point Tensor, got {got}")
    if not isinstance(target, Tensor):
        raise TypeError(f"mse_loss: target must be a Tensor, got {type(target).__name__}")
    if not is_floating(target.dtype):
        target = target.to(dtype=input.dtype)
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ArgumentError(
                f"mse_loss: input shape {input.shape} and target shape {target.shape} do not "
                "match (and do not broadcast)"
            ) from None
        warnings.warn(
            f"mse_loss: target shape {target.shape} differs from input shape {input.shape}; "
            "they are broadcast, which is likely not what you want",
            TinyrpnWarning, stacklevel=2,
        )
    return MSE.apply(input, target, reduction=reduction)


# ----------------------------------------------------------------------------- binary


def _mean_or_sum_grad(d: Any, shape: tuple[int, ...], reduction: str) -> Any:
    """dL/dloss for every element of an elementwise loss of ``shape``."""
    if reduction == "none":
        return d
    scale = d / max(int(np.prod(shape)), 1) if reduction == "mean" else d
    return _xp(d).broadcast_to(scale, shape)


def _reduce_elementwise(losses: Any, reduction: str) -> Any:
    if reduction == "none":
        return losses
    total = losses.mean() if reduction == "mean" else losses.sum()
    return _xp(losses).asarray(total, dtype=losses.dtype)


class BinaryCrossEntropy(Function):
    """Binary cross-entropy of probabilities x against targets t (same shape).

    forward:  loss = −w · (t · log x + (1 − t) · log(1 − x)), each log clamped at −100
              (PyTorch's guard: x = 0 or 1 gives a large loss, not inf)
    backward: dx = g · w · (x − t) / max(x (1 − x), 1e−12),
              dt = g · w · (log(1 − x) − log x)       (not clamped, as in PyTorch: ±inf
                                                       at x = 0 or 1)
    """

    def forward(self, x: Any, t: Any, *, weight: Any, reduction: str) -> Any:
        xp = _xp(x)
        with np.errstate(divide="ignore"):
            self.log_x = xp.maximum(xp.log(x), -100.0)
            self.log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        self.x, self.t, self.weight, self.reduction = x, t, weight, reduction
        losses = -(t * self.log_x + (1 - t) * self.log_1mx)
        if weight is not None:
            losses = losses * weight
        return _reduce_elementwise(losses.astype(x.dtype, copy=False), reduction)

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(d)
        g = _mean_or_sum_grad(d, self.x.shape, self.reduction)
        if self.weight is not None:
            g = g * self.weight
        dx = g * (self.x - self.t) / xp.maximum(self.x * (1 - self.x), 1e-12)
        dt = None
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                dt = g * (xp.log1p(-self.x) - xp.log(self.x))
        return dx, dt


class BinaryCrossEntropyWithLogits(Function):
    """Binary cross-entropy of σ(x) against t, computed from the logits x, stably.

    forward:  loss = w · ((1 − t) · x + (1 + (p − 1) t) · softplus(−x)),
              softplus(−x) = log(1 + e^−|x|) + max(−x, 0)      (p = pos_weight, default 1)
              which is −w · (p t log σ(x) + (1 − t) log(1 − σ(x)))
    backward: dx = g · w · ((p t + 1 − t) σ(x) − p t),
              dt = g · w · ((p − 1) softplus(−x) − x)
    """

    def forward(self, x: Any, t: Any, *, weight: Any, pos_weight: Any, reduction: str) -> Any:
        xp = _xp(x)
        self.softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
        p = 1.0 if pos_weight is None else pos_weight
        self.x, self.t, self.p, self.weight, self.reduction = x, t, p, weight, reduction
        losses = (1 - t) * x + (1 + (p - 1) * t) * self.softplus_neg
        if weight is not None:
            losses = losses * weight
        return _reduce_elementwise(losses.astype(x.dtype, copy=False), reduction)

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(d)
        g = _mean_or_sum_grad(d, self.x.shape, self.reduction)
        if self.weight is not None:
            g = g * self.weight
        x, t, p = self.x, self.t, self.p
        with np.errstate(over="ignore"):
            sigmoid = 1 / (1 + xp.exp(-x))
        dx = g * ((p * t + 1 - t) * sigmoid - p * t)
        dt = g * ((p - 1) * self.softplus_neg - x) if self.needs_input_grad[1] else None
        return dx, dt


def _binary_arguments(op: str, input: Any, target: Any, weight: Any,
                      reduction: str) -> tuple[Tensor, Tensor, Any]:
    _check_reduction(op, reduction)
    if not isinstance(input, Tensor) or not is_floating(input.dtype):
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"{op}: input must be a floating-point Tensor, got {got}")
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    if target.shape != input.shape:
        raise ArgumentError(f"{op}: target shape {target.shape} must equal input shape "
                         f"{input.shape}")
    if target.dtype != input.dtype:
        target = target.to(dtype=input.dtype)
    w = None
    if weight is not None:
        w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
        try:
            np.broadcast_shapes(w.shape, input.shape)
        except ValueError:
            raise ArgumentError(f"{op}: weight of shape {tuple(w.shape)} does not broadcast to "
                             f"the input's shape {input.shape}") from None
        w = w.astype(input.dtype, copy=False)
    return input, target, w


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """−w · (t log x + (1 − t) log(1 − x)) for probabilities x in [0, 1], as
    ``torch.nn.functional.binary_cross_entropy`` (logs clamped at −100; ``weight``
    broadcasts to the input and gets no gradient). For logits use
    :func:`binary_cross_entropy_with_logits`, which is stabler."""
    x, t, w = _binary_arguments("binary_cross_entropy", input, target, weight, reduction)
    data = x.data
    if data.size and not bool(((data >= 0) & (data <= 1)).all()):
        raise ArgumentError(f"binary_cross_entropy: every input must be a probability in [0, 1], "
                         f"got values from {float(data.min())} to {float(data.max())} (for "
                         f"logits use binary_cross_entropy_with_logits)")
    return BinaryCrossEntropy.apply(x, t, weight=w, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of sigmoid(input) against target, computed stably from the
    logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``; ``pos_weight``
    (broadcast along the last dim) scales the positive term. ``weight`` and
    ``pos_weight`` get no gradient."""
    op = "binary_cross_entropy_with_logits"
    x, t, w = _binary_arguments(op, input, target, weight, reduction)
    p = None
    if pos_weight is not None:
        p = pos_weight.data if isinstance(pos_weight, Tensor) else np.asarray(pos_weight)
        try:
            np.broadcast_shapes(p.shape, x.shape)
        except ValueError:
            raise ArgumentError(f"{op}: pos_weight of shape {tuple(p.shape)} does not broadcast "
                             f"to the input's shape {x.shape}") from None
        p = p.astype(x.dtype, copy=False)
    return BinaryCrossEntropyWithLogits.apply(x, t, weight=w, pos_weight=p,
                                              reduction=reduction)
