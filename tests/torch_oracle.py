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
