"""tinyrpn: a from-scratch deep-learning engine on NumPy, written to be read.

>>> import tinyrpn
>>> x = tinyrpn.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])

Subpackages (imported on first use): ``nn``, ``optim``, ``data``, ``rpn``, ``models``,
``metrics``, ``history``, ``plot``, ``train``, ``config``, ``experiments``, ``kernels``.
"""

# Only tinyrpn's own names are public here (``dir(tinyrpn)`` is what a student browses):
# the standard-library modules this file needs are imported under private names, and
# there is no ``from __future__ import annotations`` (it would export ``annotations``).
import importlib as _importlib
import os as _os

# Set before anything here imports NumPy: OpenBLAS reads it once, when NumPy loads it (so it
# does nothing when NumPy was imported first, and a value the user set wins). After each
# matrix product OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) before they
# sleep, and the Numba kernels that follow a product in a training step (AdamW after the
# gradient products, the next Taylor expansion) share the cores with them meanwhile. With
# 2^4 cycles the §1 identity RPN's step measured 213 ms instead of 230 ms (AdamW 47 instead
# of 57 ms; medians of 8 interleaved runs each, 2-core development machine, 2026-12-02).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from tinyrpn import cuda
from tinyrpn.autograd import (
    ArgumentError,
    DTypeError,
    Function,
    GradientError,
    Tensor,
    arange,
    as_tensor,
    bool_,
    enable_grad,
    eye,
    float16,
    float32,
    float64,
    full,
    full_like,
    int32,
    int64,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    tensor,
    uint8,
    zeros,
    zeros_like,
)
from tinyrpn.backend import cuda_is_available  # the older name of cuda.is_available
from tinyrpn.display import TinyrpnWarning
from tinyrpn.display import install_warning_format as _install_warning_format
from tinyrpn.gradcheck import GradcheckError, gradcheck
from tinyrpn.ops.activations import celu, selu
from tinyrpn.ops.elementwise import (
    asin,
    atan,
    ceil,
    copysign,
    cos,
    cosh,
    erf,
    exp2,
    floor,
    floor_divide,
    isfinite,
    isinf,
    isnan,
    lerp,
    log2,
    log10,
    logaddexp,
    prod,
    remainder,
    round,
    rsqrt,
    sign,
    sin,
    sinh,
    tan,
    trunc,
)
from tinyrpn.ops.indexing import argsort, gather, masked_fill, scatter_add, sort, topk
from tinyrpn.ops.layout import (
    chunk,
    diagonal,
    flip,
    index_select,
    meshgrid,
    repeat_interleave,
    split,
    tril,
    triu,
    unflatten,
)
from tinyrpn.ops.linalg import einsum, matmul
from tinyrpn.ops.math import (
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    clamp,
    div,
    exp,
    log,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    std,
    sub,
    sum,
    tanh,
    var,
    where,
)
from tinyrpn.ops.nn import log_softmax, softmax
from tinyrpn.ops.reductions import (
    all,
    any,
    cummax,
    cummin,
    cumprod,
    cumsum,
    logcumsumexp,
    logsumexp,
    std_mean,
    var_mean,
)
from tinyrpn.ops.shape import (
    cat,
    expand,
    flatten,
    permute,
    reshape,
    roll,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
from tinyrpn.random import get_rng_state, manual_seed, set_rng_state

clip = clamp

_install_warning_format()  # tinyrpn's warnings print as one line, ``ConfigWarning: ...``

__version__ = "0.1.0"

_SUBPACKAGES = {
    "nn", "optim", "data", "rpn", "models", "train", "plot", "config", "kernels", "cli",
    "backend", "ops", "serialization", "display", "metrics", "history", "experiments",
}
_LAZY_NAMES = {"save": "tinyrpn.serialization", "load": "tinyrpn.serialization"}


def __getattr__(name: str) -> object:
    # Subpackages load on first use, so `import tinyrpn` stays quick (Numba, matplotlib
    # and the data code are only imported by the code that needs them).
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"tinyrpn.{name}")
    if name in _LAZY_NAMES:
        return getattr(_importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'tinyrpn' has no attribute {name!r}")


__all__ = [
    "Function", "GradientError", "GradcheckError", "Tensor", "TinyrpnWarning", "abs", "add",
    "amax", "amin",
    "arange", "argmax", "argmin", "as_tensor", "bool_", "cat", "clamp", "clip",
    "cuda_is_available", "div", "einsum", "enable_grad", "exp", "expand", "eye", "flatten",
    "float16", "float32", "float64", "full", "full_like", "get_rng_state", "gradcheck",
    "int32", "int64", "is_grad_enabled", "load", "log", "manual_seed", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "no_grad", "ones", "ones_like",
    "permute", "pow", "rand", "rand_like", "randn", "randn_like", "relu", "reshape", "roll",
    "save", "set_rng_state", "sigmoid", "sqrt", "squeeze", "stack", "std", "sub", "sum",
    "tanh", "tensor", "transpose", "uint8", "unsqueeze", "var", "where", "zeros",
    "zeros_like",
    # reductions, layout and indexing ops (ops/reductions.py, ops/layout.py, ops/indexing.py)
    "all", "any", "argsort", "chunk", "cummax", "cummin", "cumprod", "cumsum", "diagonal",
    "flip", "gather", "index_select", "logcumsumexp", "logsumexp", "masked_fill", "meshgrid",
    "repeat_interleave", "scatter_add", "sort", "split", "std_mean", "topk", "tril", "triu",
    "unflatten", "var_mean",
]
# --- elementwise math (ops/elementwise.py)
__all__ += [
    "asin", "atan", "ceil", "copysign", "cos", "cosh", "erf", "exp2", "floor",
    "floor_divide", "isfinite", "isinf", "isnan", "lerp", "log2", "log10", "logaddexp",
    "prod", "remainder", "round", "rsqrt", "sign", "sin", "sinh", "tan", "trunc",
]
# --- activations that PyTorch also has at the top level (ops/activations.py, ops/nn.py)
__all__ += ["celu", "selu", "softmax", "log_softmax"]
# --- autograd and device API
__all__ += ["autograd", "cuda", "ArgumentError", "DTypeError"]
