"""Plumbing shared by the kernels: which implementation runs, and argument checks.

Every public kernel is a small dispatcher:

1. check the arguments and raise an error that names the kernel and the shapes;
2. if the arrays are NumPy arrays and Numba is on, make them C-contiguous in one float
   dtype and call the ``@njit`` loop;
3. otherwise call the plain array-module twin, written with ``xp`` so that the same code
   serves NumPy (Numba switched off) and CuPy (arrays on a GPU).
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np

from .. import backend

# Options for every Numba kernel. ``cache=True`` keeps compiled code on disk (in
# ``__pycache__``) so only the first run on a machine pays for compilation; ``nogil=True``
# lets other Python threads (a data loader, say) run while a kernel does.
JIT = {"cache": True, "nogil": True}
PARALLEL_JIT = {**JIT, "parallel": True}

# LLVM may reassociate floating-point sums so that reductions vectorise, but it must keep
# IEEE semantics for NaN and infinity ("nnan"/"ninf" are left out on purpose): a NaN in a
# row must still come out as a NaN, not be optimised away.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def prefer_sleeping_worker_threads() -> bool:
    """Run the parallel kernels on Numba's ``workqueue`` threads, whose idle workers sleep.

    Numba's default choice here is OpenMP, whose idle threads keep spinning for a while
    after each parallel region. A training step alternates Numba kernels with BLAS calls
    on OpenBLAS's own threads; with as many threads as cores, the spinning OpenMP workers
    take the cores from the next matrix product. Measured on the 2-core development
    machine, the §1 identity RPN's training step took 0.30-0.34 s with spinning workers
    and 0.21-0.24 s with sleeping ones (``workqueue``, or OpenMP with
    ``OMP_WAIT_POLICY=PASSIVE``). Unlike that environment variable, this choice does not
    reach other libraries' OpenMP (PyTorch's, in the benchmarks).

    Nothing changes when the user picked a layer (``NUMBA_THREADING_LAYER`` or
    ``numba.config.THREADING_LAYER``), and the choice only takes effect if no parallel
    Numba function has run yet in this process. Returns True when the choice was made.
    """
    if "NUMBA_THREADING_LAYER" in os.environ or numba.config.THREADING_LAYER != "default":
        return False
    numba.config.THREADING_LAYER = "workqueue"
    return True


prefer_sleeping_worker_threads()


def use_numba(*arrays: Any) -> bool:
    """True when these arrays should go to the Numba kernel.

    That is when they are all NumPy arrays (CuPy arrays go to the ``xp`` twin) and Numba
    is switched on. ``TINYRPN_NUMBA`` is read on every call, so tests can switch it.
    """
    return all(isinstance(a, np.ndarray) for a in arrays) and backend.numba_enabled()


def float_dtype(kernel: str, *arrays: Any) -> np.dtype:
    """The common float dtype of ``arrays`` (float32 with float64 gives float64).

    Kernels compute in float32 or float64 only; anything else is a caller's mistake and
    fails here, naming the kernel, instead of deep inside a compiled loop.
    """
    if any(a.dtype not in FLOAT_DTYPES for a in arrays):
        got = ", ".join(str(a.dtype) for a in arrays)
        raise TypeError(f"{kernel}: expected float32 or float64 arrays, got {got}")
    return np.result_type(*(a.dtype for a in arrays))


def contiguous(array: Any, dtype: np.dtype) -> np.ndarray:
    """``array`` as a C-contiguous NumPy array of ``dtype`` (no copy when it already is).

    The compiled loops are specialised for C-contiguous arrays; taking strided views here
    keeps one compiled version per dtype instead of one per memory layout.
    """
    return np.ascontiguousarray(array, dtype=dtype)


def check_ndim(kernel: str, name: str, array: Any, ndim: int, meaning: str) -> None:
    """Raise ValueError unless ``array`` has ``ndim`` axes; ``meaning`` names them."""
    if array.ndim != ndim:
        raise ValueError(
            f"{kernel}: {name} must be {ndim}-D {meaning}, got shape {tuple(array.shape)}"
        )
