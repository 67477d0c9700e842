"""tinyrpn's dtypes: the names (``tinyrpn.float32``, ...) and the parsing of a dtype argument.

A dtype may be given as a NumPy dtype, ``np.float32``, ``tinyrpn.float32`` (the same
object) or a string, ``'float32'`` (PyTorch's spelling ``'torch.float32'`` is accepted too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn import backend

float16 = np.float16
float32 = np.float32
float64 = np.float64
int32 = np.int32
int64 = np.int64
uint8 = np.uint8
bool_ = np.bool_

_DTYPE_NAMES = {
    "float16": np.float16, "half": np.float16,
    "float32": np.float32, "float": np.float32,
    "float64": np.float64, "double": np.float64,
    "int32": np.int32, "int": np.int32,
    "int64": np.int64, "long": np.int64,
    "uint8": np.uint8, "bool": np.bool_,
}


def as_dtype(dtype: Any) -> np.dtype:
    """Turn ``'float32'``, ``np.float32`` or ``tinyrpn.float32`` into a NumPy dtype."""
    if isinstance(dtype, str):
        key = dtype.removeprefix("torch.").removeprefix("tinyrpn.")
        if key not in _DTYPE_NAMES:
            raise TypeError(f"unknown dtype {dtype!r}; valid names are {sorted(_DTYPE_NAMES)}")
        return np.dtype(_DTYPE_NAMES[key])
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}") from None


def device_or_dtype(target: Any, where: str) -> tuple[str | None, Any]:
    """Split the first argument of ``to(...)`` into (device, dtype): ``'cuda'`` and
    ``'cuda:0'`` are devices, ``'float64'`` or ``np.float64`` a dtype. A string that is
    neither (``'gpu'``) is an error that names both lists, not only the dtypes."""
    if not isinstance(target, str):
        return None, target
    if target.split(":")[0].lower() in backend.DEVICES:
        return target, None
    if target.removeprefix("torch.").removeprefix("tinyrpn.") in _DTYPE_NAMES:
        return None, target
    raise ValueError(
        f"{where}: {target!r} is neither a device (valid: 'cpu', 'cuda', 'cuda:N') nor a "
        f"dtype (valid names: {', '.join(sorted(_DTYPE_NAMES))})"
    )


def is_floating(dtype: Any) -> bool:
    """Whether ``dtype`` is a floating-point type (the only kind that carries gradients)."""
    return np.dtype(dtype).kind == "f"

