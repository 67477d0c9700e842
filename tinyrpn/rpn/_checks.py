"""The argument check that every RPN component makes of its sizes and degrees."""

from __future__ import annotations

from typing import Any

import numpy as np


def positive_int(owner: str, name: str, value: Any) -> int:
    """``value`` as an int when it is an integer >= 1 (not a bool); else a ValueError that
    names the class (``owner``) and the argument (``name``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)
