"""Optimizers and learning-rate schedules, shaped like ``torch.optim``.

>>> from tinyrpn import optim
>>> opt = optim.AdamW(model.parameters(), lr=2e-3, weight_decay=2e-4)
>>> scheduler = optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
>>> loss.backward(); opt.step(); opt.zero_grad()

Each optimizer's update of one parameter is a single fused pass over memory
(``tinyrpn.kernels.optim``), with a plain NumPy/CuPy twin. ``Lookahead`` wraps any of them.
"""

from tinyrpn.optim import lr_scheduler
from tinyrpn.optim.adam import Adam, AdamW
from tinyrpn.optim.lookahead import Lookahead
from tinyrpn.optim.madgrad import MADGRAD
from tinyrpn.optim.optimizer import Optimizer
from tinyrpn.optim.sgd import SGD

__all__ = ["Adam", "AdamW", "Lookahead", "MADGRAD", "Optimizer", "SGD", "lr_scheduler"]
