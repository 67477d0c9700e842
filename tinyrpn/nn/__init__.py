"""Neural-network building blocks: Module, Parameter, layers, activations, losses, init.

>>> from tinyrpn import nn
>>> import tinyrpn.nn.functional as F
>>> model = nn.Sequential(nn.Linear(784, 10), nn.LogSoftmax(dim=1))
"""

from tinyrpn.nn import functional, init
from tinyrpn.nn.activations import LogSoftmax, Mish, ReLU, Sigmoid, Softmax, Softplus, Tanh
from tinyrpn.nn.layers import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
)
from tinyrpn.nn.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from tinyrpn.nn.module import Module, ModuleList, Parameter, Sequential
from tinyrpn.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "Module", "ModuleList", "Parameter", "Sequential",
    "Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "LayerNorm", "BatchNorm1d",
    "BatchNorm2d", "BatchNorm3d", "Dropout",
    "Flatten", "Identity", "Embedding", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "ReLU", "Tanh", "Sigmoid", "Softplus", "Mish", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss",
    "functional", "init",
]
