"""Transforms: small, pure NumPy functions from arrays to arrays.

Each function takes a batch of images (or labels) as a NumPy array and returns a new
array; none of them changes its input. They compose by plain function calls, or with
:class:`Compose`::

    prepare = Compose([to_float, lambda x: normalize(x, 0.1307, 0.3081), flatten])
    x = prepare(mnist.images)            # (60000, 784) float32

Images are laid out as ``(..., H, W)``: ``(N, H, W)`` or ``(N, C, H, W)`` both work, and
the spatial axes are always the last two. ``to_float``, ``normalize`` and ``flatten`` also
take images already on a GPU (CuPy arrays) and keep them there; the others work on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..backend import as_array

__all__ = [
    "Compose",
    "RandomShift",
    "flatten",
    "normalize",
    "one_hot_pm1",
    "random_shift",
    "resize_bilinear",
    "to_float",
]

Transform = Callable[[np.ndarray], np.ndarray]


class Compose:
    """Apply several transforms one after the other: ``Compose([f, g])(x) == g(f(x))``.

    If some of the transforms carry random state (like :class:`RandomShift`),
    ``state_dict()`` collects it, so a DataLoader can checkpoint it with its own state.
    """

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(
                    f"Compose: transform {i} is {t!r}, which is not callable; "
                    "pass functions (or objects with __call__) that take an array"
                )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def state_dict(self) -> list[Any]:
        """The state of each transform that has one (``None`` for stateless ones)."""
        return [t.state_dict() if hasattr(t, "state_dict") else None for t in self.transforms]

    def load_state_dict(self, state: list[Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if len(state) != len(self.transforms):
            raise ValueError(
                f"Compose.load_state_dict: got {len(state)} states for "
                f"{len(self.transforms)} transforms"
            )
        for t, s in zip(self.transforms, state):
            if s is not None:
                t.load_state_dict(s)

    def __repr__(self) -> str:
        names = ", ".join(getattr(t, "__name__", repr(t)) for t in self.transforms)
        return f"Compose([{names}])"


def to_float(images: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """Scale 8-bit pixels to floats in [0, 1]: ``x / 255``, as ``dtype`` (float32)."""
    images = as_array(images)
    if not (np.issubdtype(images.dtype, np.integer) or images.dtype == np.bool_):
        raise TypeError(
            f"to_float expects integer pixels in 0..255 (e.g. uint8), got dtype {images.dtype}; "
            "the images look already scaled"
        )
    return images.astype(dtype) / np.dtype(dtype).type(255)


def normalize(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Standardize: ``(x - mean) / std``, keeping the float dtype of ``x``.

    For MNIST scaled to [0, 1] the usual values are mean 0.1307 and std 0.3081.
    """
    x = as_array(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"normalize expects a float array, got dtype {x.dtype}; "
            "scale the pixels first, e.g. normalize(to_float(images), mean, std)"
        )
    if std == 0:
        raise ValueError("normalize: std must be non-zero")
    return (x - x.dtype.type(mean)) / x.dtype.type(std)


def flatten(images: np.ndarray) -> np.ndarray:
    """Flatten every image to a vector: shape ``(N, ...)`` becomes ``(N, prod(...))``."""
    images = as_array(images)
    if images.ndim < 1:
        raise ValueError("flatten expects a batch with a leading axis N, got a scalar")
    return images.reshape(images.shape[0], -1)


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix that resizes one axis by linear interpolation.

    This is PyTorch's rule for ``align_corners=False``: output pixel ``i`` samples the
    input at ``src = (i + 0.5) * n_in / n_out - 0.5`` (pixel centres line up), clamped
    below at 0; it mixes pixels ``i0 = floor(src)`` and ``i1 = min(i0 + 1, n_in - 1)``
    with weights ``1 - t`` and ``t``, where ``t = src - i0``.
    """
    scale = n_in / n_out
    src = (np.arange(n_out) + 0.5) * scale - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    t = src - i0
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - t)
    np.add.at(m, (rows, i1), t)  # when i1 == i0 (the last pixel) the weights add to 1
    return m


def resize_bilinear(images: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Resize the last two axes ``(H, W)`` to ``size`` by bilinear interpolation.

    Matches ``torch.nn.functional.interpolate(x, size, mode='bilinear',
    align_corners=False, antialias=False)``. Bilinear interpolation is separable: the
    result is ``Ry @ image @ Rx.T`` where ``Ry`` and ``Rx`` interpolate the rows and the
    columns (see ``_bilinear_matrix``). Float inputs keep their dtype; integer inputs are
    converted to float32 first (no rounding back to integers).
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(
            f"resize_bilinear expects images with shape (..., H, W), got shape {images.shape}"
        )
    if isinstance(size, (int, np.integer)):
        out_h = out_w = int(size)
    else:
        if len(size) != 2:
            raise ValueError(f"resize_bilinear: size must be an int or (h, w), got {size!r}")
        out_h, out_w = (int(s) for s in size)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resize_bilinear: output size must be positive, got {(out_h, out_w)}")
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
    in_h, in_w = images.shape[-2:]
    ry = _bilinear_matrix(in_h, out_h).astype(images.dtype)
    rx = _bilinear_matrix(in_w, out_w).astype(images.dtype)
    return ry @ images @ rx.T  # matmul broadcasts over the leading axes


def random_shift(
    images: np.ndarray,
    max_shift: int,
    rng: np.random.Generator | np.random.RandomState | int | None = None,
) -> np.ndarray:
    """Roll each image by its own random integer offsets ``dy, dx`` in ``[-k, k]``.

    The roll wraps around (a pixel pushed off the bottom comes back at the top), as
    ``np.roll(image, (dy, dx), axis=(-2, -1))``: ``out[i, j] = img[(i - dy) % H,
    (j - dx) % W]``. Images are laid out ``(N, H, W)`` or ``(N, C, H, W)``; every channel
    of one image moves together. ``rng`` is a seeded ``numpy.random.Generator`` (or a
    seed); the offsets are drawn as ``rng.integers(-k, k + 1, size=(N, 2))``. A legacy
    ``numpy.random.RandomState`` draws them as ``rng.randint(-k, k + 1, size=(N, 2))``,
    which for one image is what karpathy/lecun1989-repro's modern.py draws before each
    training step (``np.random.randint(-1, 2, size=2)``, then ``torch.roll`` by it).
    """
    images = np.asarray(images)
    if images.ndim < 3:
        raise ValueError(
            f"random_shift expects a batch (N, H, W) or (N, C, H, W), got shape {images.shape}"
        )
    if int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"random_shift: max_shift must be an integer >= 0, got {max_shift!r}")
    k = int(max_shift)
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    if isinstance(rng, np.random.RandomState):
        shifts = rng.randint(-k, k + 1, size=(n, 2))
    else:
        shifts = np.random.default_rng(rng).integers(-k, k + 1, size=(n, 2))
    dy, dx = shifts[:, 0], shifts[:, 1]
    # For image b, output row i reads input row (i - dy[b]) % H; the same for columns.
    rows = (np.arange(h)[None, :] - dy[:, None]) % h  # (N, H)
    cols = (np.arange(w)[None, :] - dx[:, None]) % w  # (N, W)
    flat = images.reshape(n, -1, h, w)  # merge any channel axes into one
    batch = np.arange(n)[:, None, None, None]
    channel = np.arange(flat.shape[1])[None, :, None, None]
    out = flat[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
    return out.reshape(images.shape)


class RandomShift:
    """:func:`random_shift` with its own seeded generator, for use as a transform.

    ``RandomShift(1, seed=0)(x)`` shifts each image by -1, 0 or +1 pixel in y and in x.
    ``RandomShift(1, numpy_seed=1337)`` draws the shifts from the legacy
    ``numpy.random.RandomState(1337)`` instead, as modern.py does after
    ``np.random.seed(1337)``. Its random state can be saved and restored (``state_dict`` /
    ``load_state_dict``), so training resumed from a checkpoint sees the same augmentation.
    """

    def __init__(self, max_shift: int, seed: Any = None, numpy_seed: int | None = None) -> None:
        self.max_shift = max_shift
        self.numpy_seed = numpy_seed
        self.rng: np.random.Generator | np.random.RandomState = (
            np.random.default_rng(seed) if numpy_seed is None
            else np.random.RandomState(numpy_seed))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return random_shift(images, self.max_shift, self.rng)

    def state_dict(self) -> dict[str, Any]:
        """The generator's state as plain JSON-able data."""
        if isinstance(self.rng, np.random.RandomState):
            name, key, pos, has_gauss, gauss = self.rng.get_state()
            return {"legacy_state": [name, key.tolist(), int(pos), int(has_gauss), float(gauss)]}
        return {"rng_state": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the generator state saved by :meth:`state_dict`."""
        legacy = isinstance(self.rng, np.random.RandomState)
        if legacy != ("legacy_state" in state):
            kinds = {True: "a legacy RandomState (numpy_seed)", False: "a Generator (seed)"}
            raise ValueError(
                f"RandomShift.load_state_dict: the state is of {kinds['legacy_state' in state]}"
                f" stream, but this RandomShift draws from {kinds[legacy]}"
            )
        if legacy:
            name, key, pos, has_gauss, gauss = state["legacy_state"]
            self.rng.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, gauss))
        else:
            self.rng.bit_generator.state = state["rng_state"]

    def __repr__(self) -> str:
        legacy = "" if self.numpy_seed is None else f", numpy_seed={self.numpy_seed}"
        return f"RandomShift(max_shift={self.max_shift}{legacy})"


def one_hot_pm1(labels: np.ndarray, num_classes: int = 10, dtype: Any = np.float32) -> np.ndarray:
    """Targets as ±1 vectors: shape ``(N, num_classes)``, −1 everywhere, +1 at the class.

    This is the target coding of LeCun et al. 1989 (tanh outputs, squared error).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "one_hot_pm1 expects a 1-D array of integer class indices, "
            f"got shape {labels.shape} and dtype {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"one_hot_pm1: labels must lie in [0, {num_classes - 1}], "
            f"got values from {labels.min()} to {labels.max()}"
        )
    out = np.full((labels.shape[0], num_classes), -1, dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out
