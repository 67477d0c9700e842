"""DataLoader: cut (images, labels) arrays into mini-batches of Tensors.

    >>> loader = DataLoader(x, y, batch_size=64, shuffle=True, seed=1234)   # doctest: +SKIP
    >>> for xb, yb in loader:                                                # doctest: +SKIP
    ...     loss = loss_fn(model(xb), yb)

Each pass over the loader is one epoch. With ``shuffle=True`` every epoch draws a fresh
permutation from one generator that was seeded once, so epoch 2 is ordered differently
from epoch 1, yet the whole sequence of epochs is the same every time the program runs
with the same seed. With ``torch_stream=`` (a ``tinyrpn.random.TorchCPUGenerator``) the
orders come instead from PyTorch's CPU stream, drawn exactly as PyTorch's DataLoader draws
them, so a published PyTorch run's batches can be replayed. ``state_dict()`` captures
where the loader is (even in the middle of an epoch) as plain JSON-able data, and
``load_state_dict()`` resumes from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..backend import as_array, normalize_device
from ..random import TorchCPUGenerator

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``(x, y)`` mini-batches of ``images`` and ``labels``.

    - ``batch_size``: examples per batch; the last batch is smaller when ``batch_size``
      does not divide N, unless ``drop_last=True`` drops it.
    - ``shuffle``: a new random order every epoch (from a generator seeded with ``seed``);
      otherwise the order of the arrays.
    - ``transform``: a function applied to each batch of images (an array where the images
      live: NumPy, or CuPy for images already on a GPU) before it becomes a Tensor, e.g.
      a :class:`~tinyrpn.data.transforms.Compose`.
    - ``device``: 'cpu' (default) or 'cuda'; batches are moved there with ``.to(device)``.
      Images and labels already on the GPU (CuPy arrays) stay there: each batch is cut on
      the device, and nothing crosses to the host.
    - ``torch_stream``: a :class:`~tinyrpn.random.TorchCPUGenerator` standing for PyTorch's
      global generator; ``seed`` is then unused. Each epoch draws from it what a PyTorch
      DataLoader (``num_workers=0``) draws from the global generator: a base seed, and
      with ``shuffle`` the seed of the sampler whose ``randperm`` orders the epoch. Loaders
      may share one stream (tinyBIG's train and test loaders do); then the one whose
      ``state_dict`` is saved must be the one iterated first in each epoch.

    Iterating yields tinyrpn Tensors (``requires_grad=False``) with the arrays' dtypes
    unchanged: labels stay int64 class indices or float ±1 vectors, float32 images stay
    float32. :meth:`iter_arrays` yields the same batches as NumPy arrays.
    ``len(loader)`` is the number of batches per epoch; ``batch_indices`` holds the indices
    (into ``images``) of the batch handed out last.
    """

    def __init__(
        self,
        images: Any,
        labels: Any,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        device: str = "cpu",
        torch_stream: TorchCPUGenerator | None = None,
    ) -> None:
        images, labels = as_array(images), as_array(labels)
        if images.ndim < 1 or labels.ndim < 1:
            raise ValueError(
                "DataLoader: images and labels must be arrays with a leading example axis, "
                f"got shapes {images.shape} and {labels.shape}"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"DataLoader: images and labels must have the same length, got {len(images)} "
                f"images (shape {images.shape}) and {len(labels)} labels (shape {labels.shape})"
            )
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be an integer >= 1, got {batch_size!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {transform!r}")
        self.images = images
        self.labels = labels
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.transform = transform
        self.device = normalize_device(device)

        if torch_stream is not None and not isinstance(torch_stream, TorchCPUGenerator):
            raise TypeError(f"DataLoader: torch_stream must be a tinyrpn.random.TorchCPUGenerator, "
                            f"got {type(torch_stream).__name__}")
        self.torch_stream = torch_stream
        self._rng = np.random.default_rng(seed)
        self.epoch = 0  # number of epochs begun so far
        # Bookkeeping for state_dict() in the middle of an epoch:
        self._epoch_start_state: dict[str, Any] | None = None  # rng state before its shuffle
        self._batches_done = 0  # batches handed out in the current epoch
        self._skip_batches = 0  # set by load_state_dict to resume mid-epoch
        self.batch_indices: np.ndarray | None = None  # indices of the last batch handed out

    def __len__(self) -> int:
        n = len(self.images)
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size

    def iter_arrays(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch of ``(x, y)`` batches as NumPy arrays (the transform applied to x)."""
        self._epoch_start_state = self._random_state()
        if self.torch_stream is not None:
            order = self.torch_stream.data_loader_epoch(len(self.images) if self.shuffle else None)
        else:
            order = self._rng.permutation(len(self.images)) if self.shuffle else None
        if order is None:
            order = np.arange(len(self.images))
        self.epoch += 1
        start, self._skip_batches = self._skip_batches, 0
        self._batches_done = start
        for b in range(start, len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            self.batch_indices = index  # which examples, for messages about a bad batch
            x, y = self.images[index], self.labels[index]  # fancy indexing copies
            if self.transform is not None:
                x = self.transform(x)
            self._batches_done = b + 1  # counted as done once handed out
            yield x, y
        self._epoch_start_state = None

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        # Imported here, not at the top, so that MNIST, the transforms and iter_arrays
        # work without loading the engine.
        from ..autograd import as_tensor

        for x, y in self.iter_arrays():
            # Each batch is a fresh array (fancy indexing copies), so wrap it without copying.
            xt, yt = as_tensor(x), as_tensor(y)
            if xt.device != self.device or yt.device != self.device:
                xt, yt = xt.to(self.device), yt.to(self.device)
            yield xt, yt

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is, as plain JSON-able data (ints, strings, dicts).

        Taken between epochs, it holds the generator state and the number of epochs begun.
        Taken in the middle of an epoch, it holds the generator state from *before* that
        epoch's shuffle and the number of batches already handed out, so that
        :meth:`load_state_dict` replays the same order and skips those batches. The state
        of a transform with a ``state_dict`` (like ``RandomShift``) is included.
        """
        mid_epoch = self._epoch_start_state is not None and self._batches_done < len(self)
        if self._skip_batches:  # loaded mid-epoch, not iterated since: hand the same back
            state = {
                "epoch": self.epoch,
                "batch": self._skip_batches,
                "rng_state": self._random_state(),
            }
        elif mid_epoch:
            state = {
                "epoch": self.epoch - 1,
                "batch": self._batches_done,
                "rng_state": self._epoch_start_state,
            }
        else:
            state = {"epoch": self.epoch, "batch": 0, "rng_state": self._random_state()}
        if hasattr(self.transform, "state_dict"):
            state["transform"] = self.transform.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the next epoch continues where it left off."""
        for key in ("epoch", "batch", "rng_state"):
            if key not in state:
                raise KeyError(
                    f"DataLoader.load_state_dict: missing key {key!r}; "
                    f"expected the keys epoch, batch, rng_state (got {sorted(state)})"
                )
        if not 0 <= state["batch"] <= len(self):
            raise ValueError(
                f"DataLoader.load_state_dict: batch {state['batch']} is outside this loader's "
                f"0..{len(self)} batches per epoch (was the state saved with another batch size?)"
            )
        self._set_random_state(state["rng_state"])
        self.epoch = int(state["epoch"])
        self._skip_batches = int(state["batch"])
        self._epoch_start_state = None
        self._batches_done = 0
        if "transform" in state and hasattr(self.transform, "load_state_dict"):
            self.transform.load_state_dict(state["transform"])

    def _random_state(self) -> dict[str, Any]:
        """The state of the stream the orders come from (NumPy's generator or torch_stream)."""
        if self.torch_stream is not None:
            return {"torch_stream": self.torch_stream.get_state()}
        return self._rng.bit_generator.state

    def _set_random_state(self, state: dict[str, Any]) -> None:
        if ("torch_stream" in state) != (self.torch_stream is not None):
            have = "a torch_stream" if self.torch_stream is not None else "NumPy's generator"
            raise ValueError(f"DataLoader.load_state_dict: the state was saved by a loader "
                             f"with another random stream; this loader orders by {have}")
        if self.torch_stream is not None:
            self.torch_stream.set_state(state["torch_stream"])
        else:
            self._rng.bit_generator.state = state

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.images)}, batch_size={self.batch_size}, "
            f"batches={len(self)}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
            f"seed={self.seed}, device={self.device!r})"
        )
