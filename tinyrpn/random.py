"""The one random stream behind tinyrpn's initialisers, random tensors and dropout.

``tinyrpn.manual_seed(s)`` reseeds it. Random numbers are always drawn on the CPU with
NumPy's PCG64 generator and then moved to the device, so that the same seed gives the same
numbers on every backend.

:class:`TorchCPUGenerator` (and :func:`pytorch_cpu_rand`) reproduce PyTorch's CPU stream
instead, so that a published PyTorch run can be started from exactly its initial weights and
batch order without PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed tinyrpn's global random stream; returns the new generator."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expects an integer seed, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that tinyrpn draws from when no other is given."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The global stream's state as plain JSON-able data (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    _generator.bit_generator.state = state


def pytorch_cpu_rand(seed: int, n: int) -> np.ndarray:
    """The first ``n`` numbers ``torch.rand`` gives on the CPU after ``torch.manual_seed(seed)``.

    For re-running a published PyTorch experiment from exactly its initial weights; PyTorch
    itself is not needed. Its CPU generator is the standard 32-bit Mersenne Twister MT19937,
    seeded by ``init_genrand(seed)`` (NumPy's legacy integer seeding does the same), and a
    float32 uniform number is the low 24 bits of one 32-bit draw times 2⁻²⁴, so it lies in
    [0, 1) on a grid of 2⁻²⁴. Returns float32 of shape (n,). The same as
    ``TorchCPUGenerator(seed).rand(n)``.
    """
    seed = _nonnegative_int(seed, "pytorch_cpu_rand", "seed")
    return TorchCPUGenerator(seed).rand(_nonnegative_int(n, "pytorch_cpu_rand", "count"))


def _nonnegative_int(value: Any, owner: str, what: str) -> int:
    """``value`` as an int, or a TypeError naming ``owner`` and ``what`` (seed, count)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{owner} expects a non-negative integer {what}, got {value!r}")
    return int(value)


def _count(n: Any, what: str) -> int:
    return _nonnegative_int(n, what, "count")


def _fma_float32(x: np.ndarray, y: np.float32, z: np.float32) -> np.ndarray:
    """x · y + z for float32 operands, rounded once to float32 (a fused multiply-add)."""
    product = x.astype(np.float64) * np.float64(y)  # exact: 24 + 24 significant bits
    total = product + np.float64(z)
    # total is the float64 nearest the exact sum; where it is inexact (Knuth's TwoSum gives
    # the error), moving it one float64 step towards the exact sum can only matter when it
    # sits on a float32 rounding boundary, and then it makes float32 round the right way.
    back = total - product
    error = (product - (total - back)) + (np.float64(z) - back)
    total = np.where(error == 0, total, np.nextafter(total, np.copysign(np.inf, error)))
    return total.astype(np.float32)


class TorchCPUGenerator:
    """PyTorch's CPU random generator in NumPy, one stream that continues across calls.

    ``TorchCPUGenerator(seed)`` stands for ``torch.manual_seed(seed)`` (the global generator)
    or ``g = torch.Generator(); g.manual_seed(seed)``; each method below consumes the stream
    exactly as the named PyTorch call does on the CPU, so calls in the same order give the
    same numbers bit for bit (checked against PyTorch 2.13). The stream is MT19937 seeded by
    ``init_genrand(seed mod 2³²)``: PyTorch keeps only the low 32 bits of the seed.

    A 32-bit draw ``r`` is one MT19937 output; a 64-bit draw is two, ``(r₁ << 32) | r₂``.
    """

    _CHUNK = 1 << 22  # draws per NumPy block in long fills, to bound memory

    def __init__(self, seed: int) -> None:
        seed = _nonnegative_int(seed, "TorchCPUGenerator", "seed")
        # RandomState(int) seeds MT19937 by init_genrand, as PyTorch does; its state moved
        # into a bare MT19937 gives the raw 32-bit draws, and random_raw continues the stream.
        _, key, pos, _, _ = np.random.RandomState(seed & 0xFFFFFFFF).get_state()
        self._bits = np.random.MT19937()
        self._bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}

    def get_state(self) -> dict[str, Any]:
        """The stream's position as plain JSON-able data."""
        state = self._bits.state["state"]
        return {"key": [int(k) for k in state["key"]], "pos": int(state["pos"])}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a position returned by :meth:`get_state`."""
        key = np.asarray(state["key"], dtype=np.uint32)
        self._bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": state["pos"]}}

    def state_array(self) -> np.ndarray:
        """The stream's position as one int64 array of 625 numbers (MT19937's 624 words,
        then its index), to keep in a module buffer; :meth:`from_state_array` reverses it."""
        state = self._bits.state["state"]
        return np.append(state["key"].astype(np.int64), np.int64(state["pos"]))

    @classmethod
    def from_state_array(cls, array: Any) -> TorchCPUGenerator:
        """A generator at the position :meth:`state_array` returned."""
        array = np.asarray(array)
        if array.shape != (625,):
            raise ValueError(f"TorchCPUGenerator.from_state_array: expected 625 numbers (624 "
                             f"MT19937 words and the index), got shape {array.shape}")
        generator = cls(0)
        generator.set_state({"key": array[:624], "pos": int(array[624])})
        return generator

    def random32(self, n: int) -> np.ndarray:
        """The next ``n`` raw 32-bit draws, as uint32 of shape (n,)."""
        return self._bits.random_raw(_count(n, "random32")).astype(np.uint32)

    def skip(self, n: int) -> None:
        """Consume ``n`` 32-bit draws, e.g. a float32 ``torch.rand`` whose values are unused."""
        n = _count(n, "skip")
        while n > 0:
            step = min(n, self._CHUNK)
            self._bits.random_raw(step)
            n -= step

    def rand(self, n: int) -> np.ndarray:
        """``torch.rand(n)`` in float32: u = (r mod 2²⁴) · 2⁻²⁴, one 32-bit draw each."""
        draws = self._bits.random_raw(_count(n, "rand")) & ((1 << 24) - 1)
        return draws.astype(np.float32) * np.float32(2.0**-24)

    def uniform(self, n: int, low: float, high: float, fused: bool = True) -> np.ndarray:
        """``torch.empty(n).uniform_(low, high)`` in float32 (also ``torch.nn.init.uniform_``).

        With a = float32(low), b = float32(high) and u as in :meth:`rand`, each number is
        u · (b − a) + a, b − a rounded to float32. PyTorch's x86 AVX2 and AVX-512 kernels (the
        ones any recent x86 CPU gets) compute u · (b − a) + a as one fused multiply-add,
        rounded once (``fused=True``); its portable kernel (``ATEN_CPU_CAPABILITY=default``)
        rounds the product and the sum separately (``fused=False``). The two differ by one
        float32 ulp in about half of the numbers. Returns float32 of shape (n,).
        """
        n = _count(n, "uniform")
        a, b = np.float32(low), np.float32(high)
        span = np.float32(b - a)
        out = np.empty(n, dtype=np.float32)
        for start in range(0, n, self._CHUNK):
            u = self.rand(min(self._CHUNK, n - start))
            if fused:
                out[start : start + len(u)] = _fma_float32(u, span, a)
            else:
                out[start : start + len(u)] = u * span + a
        return out

    def xavier_uniform(
        self, fan_out: int, fan_in: int, gain: float = 1.0, fused: bool = True
    ) -> np.ndarray:
        """``torch.nn.init.xavier_uniform_`` on a float32 (fan_out, fan_in) matrix.

        ``uniform(−c, c)`` of fan_out · fan_in numbers in row-major order, with the bound
        c = √3 · gain · √(2 / (fan_in + fan_out)) computed in float64 in that order as PyTorch
        does (it can differ in the last bit from √(6 / (fan_in + fan_out))). A 1 × l tensor
        has fan_in = l, fan_out = 1. Returns float32 of shape (fan_out, fan_in).
        """
        fan_out, fan_in = _count(fan_out, "xavier_uniform"), _count(fan_in, "xavier_uniform")
        bound = math.sqrt(3.0) * (gain * math.sqrt(2.0 / float(fan_in + fan_out)))
        return self.uniform(fan_out * fan_in, -bound, bound, fused).reshape(fan_out, fan_in)

    def random64(self) -> int:
        """``torch.empty((), dtype=torch.int64).random_().item()``: one 64-bit draw mod 2⁶³."""
        hi, lo = (int(r) for r in self._bits.random_raw(2))
        return ((hi << 32) | lo) & ((1 << 63) - 1)

    def bernoulli(self, n: int, p: float) -> np.ndarray:
        """``torch.empty(n).bernoulli_(p)`` on the CPU, as a bool array of shape (n,).

        One 64-bit draw per element (two 32-bit ones, as :meth:`random64` but unmasked):
        the element is 1 when u < p for u = (r₆₄ mod 2⁵³) · 2⁻⁵³, a double in [0, 1).
        ``torch.nn.functional.dropout(x, q)`` in training mode draws its mask this way, with
        p = 1 − q, and returns x · (mask / (1 − q)). (This is PyTorch's own CPU kernel, the
        one it runs on AMD and ARM CPUs and in builds without MKL; a build with MKL on an
        Intel CPU draws one 32-bit seed and takes the numbers from MKL's generator instead,
        which is not reproduced here.)
        """
        n = _count(n, "bernoulli")
        raw = self._bits.random_raw(2 * n)
        r64 = (raw[0::2] << np.uint64(32)) | raw[1::2]
        u = (r64 & np.uint64((1 << 53) - 1)).astype(np.float64) * 2.0**-53
        return u < p

    def randperm(self, n: int) -> np.ndarray:
        """``torch.randperm(n, generator=g)`` on the CPU, as int64 of shape (n,).

        Fisher-Yates from p = [0, 1, …, n−1]: for i = 0 … n−2, z = r_i mod (n − i) for the
        next 32-bit draw r_i, then swap p[i] and p[i + z]; n − 1 draws in all. PyTorch uses
        another algorithm (64-bit draws) from n ≥ (2³² − 1) / 20, which is not reproduced here.
        """
        n = _count(n, "randperm")
        if n >= 0xFFFFFFFF // 20:
            raise ValueError(f"randperm reproduces PyTorch only for n < {0xFFFFFFFF // 20}")
        perm = list(range(n))
        draws = self._bits.random_raw(max(n - 1, 0)).tolist()
        for i, r in enumerate(draws):
            j = i + r % (n - i)
            perm[i], perm[j] = perm[j], perm[i]
        return np.array(perm, dtype=np.int64)

    def data_loader_epoch(self, n: int | None) -> np.ndarray | None:
        """The draws of one pass over a ``torch.utils.data.DataLoader``; its sample order.

        For a loader with ``num_workers=0`` and no ``generator`` of its own: creating the
        iterator draws a worker base seed (:meth:`random64`, unused in the main process);
        with ``shuffle=True`` over ``n`` samples, its RandomSampler then draws a seed s
        (:meth:`random64`, when the first batch is asked for) and orders the samples by
        ``torch.randperm(n)`` of a fresh generator seeded by s, which is returned here.
        ``n=None`` stands for ``shuffle=False``: only the base seed is drawn (returns None).
        """
        self.random64()
        if n is None:
            return None
        return TorchCPUGenerator(self.random64()).randperm(n)
