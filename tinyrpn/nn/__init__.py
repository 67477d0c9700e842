"""Neural-network building blocks: Module, Parameter, layers, activations, losses, init."""

from tinyrpn.nn.module import Module, ModuleList, Parameter, Sequential

__all__ = ["Module", "ModuleList", "Parameter", "Sequential"]
