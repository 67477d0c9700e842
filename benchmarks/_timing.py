"""A tiny timing helper for the benchmark scripts: median of N rounds after a warm-up.

    from _timing import median_time, compare
    seconds = median_time(lambda: step(), repeats=7)
    times = compare({"tinyrpn": ours, "torch": theirs}, repeats=7)

The median (not the minimum or the mean) is reported because these machines are shared:
it ignores the rounds that another process slowed down without rewarding a lucky one.
``compare`` interleaves the contenders round by round, so a burst of load elsewhere
slows all of them alike and their ratio stays honest.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def calls_per_round(fn: Callable[[], object], round_seconds: float) -> int:
    """How many calls of ``fn`` fill about ``round_seconds`` (at least one)."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(round_seconds / once))


def _one_round(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def median_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2,
                round_seconds: float = 0.2) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` rounds, after ``warmup`` calls.

    A round runs ``fn`` enough times to last about ``round_seconds``, so that tiny
    functions are not measured at the timer's resolution.
    """
    return compare({"fn": fn}, repeats, warmup, round_seconds)["fn"]


def compare(fns: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 2,
            round_seconds: float = 0.2) -> dict[str, float]:
    """Median seconds per call of each function, measured in interleaved rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    calls = {name: calls_per_round(fn, round_seconds) for name, fn in fns.items()}
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            rounds[name].append(_one_round(fn, calls[name]))
    return {name: statistics.median(times) for name, times in rounds.items()}


def format_seconds(seconds: float) -> str:
    """``12.3 us``, ``4.56 ms`` or ``1.23 s``: three significant digits, a readable unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
