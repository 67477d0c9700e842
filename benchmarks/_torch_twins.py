"""PyTorch transcriptions of tinyrpn's reference networks, the oracle that benchmarks and
tests compare against. PyTorch is imported by the caller and passed in, so importing this
module never needs it.

    params, forward = torch_lecun1989(torch, model)   # same weights as the tinyrpn model
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# H2's three groups of four maps read H1 maps 0-7, 4-11, and 0-3 with 8-11 (docs/EXPERIMENTS.md §5).
H2_INPUT_CHANNELS = [*range(0, 8), *range(4, 12), *range(0, 4), *range(8, 12)]


def torch_lecun1989(torch: Any, model: Any) -> tuple[dict[str, Any], Callable[[Any], Any]]:
    """Leaf tensors holding a copy of ``model``'s weights (a ``tinyrpn.models.LeCun1989``),
    and the forward pass of the same network on them, ``forward(x, training=True)``. The
    modern variant's dropout, at the model's rate, is applied when ``training``, drawing
    from PyTorch's global generator as modern.py does.
    """
    F = torch.nn.functional
    params = {name: torch.tensor(p.detach().numpy(), requires_grad=True)
              for name, p in model.named_parameters()}
    act = torch.relu if model.modern else torch.tanh
    dropout = model.dropout.p if model.dropout is not None else 0.0

    def forward(x: Any, training: bool = True) -> Any:
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
        x = act(F.conv2d(x, params["H1w"], stride=2) + params["H1b"])
        x = F.pad(x[:, H2_INPUT_CHANNELS], (2, 2, 2, 2), value=-1.0)
        x = act(F.conv2d(x, params["H2w"], stride=2, groups=3) + params["H2b"])
        if dropout and training:
            x = F.dropout(x, dropout, training=True)
        x = act(x.flatten(1) @ params["H3w"] + params["H3b"])
        x = x @ params["outw"] + params["outb"]
        return x if model.modern else torch.tanh(x)

    return params, forward
