"""The hot loops of tinyrpn: raw arrays in, raw arrays out, never Tensors.

Each public function here is a dispatcher. For NumPy arrays it runs a Numba-compiled
kernel (or, with ``TINYRPN_NUMBA=0``, a plain NumPy twin); for CuPy arrays it runs the
same twin, written with ``xp = get_array_module(x)``. Tests check that the kernel and its
twin agree, and that each twin agrees with an independent definition. (``taylor2_dense``
and its gradients are matrix products on either backend: BLAS does the work, so they have
no compiled loop.)

    from tinyrpn import kernels
    y, rstd = kernels.layer_norm_forward(x, 1e-5)

float32 and float64 are supported; outputs keep the input dtype (a float32 and a float64
operand give float64, as in NumPy). This is the only package in tinyrpn that imports numba.

To add kernels, put them in a module of this package and append its public names below.
"""

from .conv import conv2d_backward, conv2d_forward
from .norm import layer_norm_backward, layer_norm_forward
from .softmax import cross_entropy_backward, cross_entropy_forward, log_softmax
from .taylor import (
    taylor2_backward,
    taylor2_contract,
    taylor2_contract_grad_m,
    taylor2_dense,
    taylor2_dense_grad_w,
    taylor2_dense_grad_x,
    taylor2_forward,
)

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    "log_softmax",
    "cross_entropy_forward",
    "cross_entropy_backward",
    "taylor2_forward",
    "taylor2_backward",
    "taylor2_contract",
    "taylor2_contract_grad_m",
    "taylor2_dense",
    "taylor2_dense_grad_w",
    "taylor2_dense_grad_x",
]

# The fast Walsh–Hadamard transform (the Fastfood projection of tinyrpn.models.subspace).
from .hadamard import fwht  # noqa: E402

__all__ += ["fwht"]

# Fused optimizer loops, one pass over memory per parameter. Unlike the functions above they
# are not dispatchers: each optimizer's file in tinyrpn.optim holds its update in plain
# array code and calls its loop as the fast path where ``optim.fusable`` allows.
from .optim import (  # noqa: E402
    adam_loop,
    lookahead_loop,
    madgrad_loop,
    madgrad_loop_without_momentum,
    sgd_loop,
)

__all__ += ["adam_loop", "sgd_loop", "madgrad_loop", "madgrad_loop_without_momentum",
            "lookahead_loop"]


def set_num_threads(n: int) -> None:
    """How many threads the parallel Numba kernels use (at most Numba's pool size).

    One thread is faster for batch-1 training and on a machine that is already busy:
    parallel regions then spend their time waiting for each other.
    """
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


__all__ += ["set_num_threads"]

# The error function (for erf and the exact GELU), which NumPy lacks.
from .special import erf  # noqa: E402

__all__ += ["erf"]

# 2-D max and average pooling (used by tinyrpn.ops.pool).
from .pool import (  # noqa: E402
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ += ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
            "avg_pool2d_backward"]

# Gather along a dim and its scatter-add gradient (used by tinyrpn.ops.indexing).
from .gather import gather_backward, gather_forward  # noqa: E402

__all__ += ["gather_forward", "gather_backward"]
