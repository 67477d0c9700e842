"""Optimizers and learning-rate schedules, shaped like ``torch.optim``.

>>> from tinyrpn import optim
>>> opt = optim.AdamW(model.parameters(), lr=2e-3, weight_decay=2e-4)
>>> scheduler = optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
>>> loss.backward(); opt.step(); opt.zero_grad()

Each optimizer's file writes its update of one parameter out as the formula in plain array
code (``_plain_adam_step`` in ``adam.py``, ...), which runs on NumPy and CuPy, and calls a
compiled loop of ``tinyrpn.kernels.optim`` as its fast path (``_fused_adam_step``), one pass
over memory, where the arrays allow. ``Lookahead`` wraps any of them.
"""

from tinyrpn.optim import lr_scheduler
from tinyrpn.optim.adam import Adam, AdamW
from tinyrpn.optim.lookahead import Lookahead
from tinyrpn.optim.madgrad import MADGRAD
from tinyrpn.optim.optimizer import Optimizer
from tinyrpn.optim.sgd import SGD

__all__ = ["Adam", "AdamW", "Lookahead", "MADGRAD", "Optimizer", "SGD", "lr_scheduler"]
