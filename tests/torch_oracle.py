"""PyTorch as the oracle for ``tinyrpn.random.TorchCPUGenerator`` (imported by tests only)."""

from __future__ import annotations

from typing import Any


def torch_epoch_orders(torch: Any, n_train: int, n_test: int, epochs: int) -> list[Any]:
    """Each epoch's order of a shuffled ``torch.utils.data.DataLoader`` over range(n_train),
    with an unshuffled one over range(n_test) iterated after it (tinyBIG's training and
    test loaders), both drawing from torch's global generator as it stands."""
    from torch.utils.data import DataLoader

    train = DataLoader(range(n_train), batch_size=64, shuffle=True)
    test = DataLoader(range(n_test), batch_size=64, shuffle=False)
    orders = []
    for _ in range(epochs):
        orders.append(torch.cat(list(train)).numpy())
        for _ in test:
            pass
    return orders


def skip_unless_mt19937_bernoulli(torch: Any) -> None:
    """Skip the calling test where PyTorch's CPU ``bernoulli_(p)`` (and so its dropout) does
    not draw from its MT19937 stream: PyTorch built with MKL sends it to MKL's own
    generator on Intel CPUs, which ``TorchCPUGenerator.bernoulli`` does not reproduce."""
    import pytest

    try:
        with open("/proc/cpuinfo") as f:
            intel = "GenuineIntel" in f.read()
    except OSError:
        intel = False
    if intel and torch.backends.mkl.is_available():
        pytest.skip("PyTorch takes MKL's bernoulli path on this Intel CPU")
