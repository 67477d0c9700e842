"""The errors tinyrpn raises for its own reasons (Python's own errors are raised as they are).

Each is also the class PyTorch raises for the same mistake (``RuntimeError``), so code
written for either library catches it.
"""


class GradientError(RuntimeError):
    """Something about a backward pass is wrong: a freed graph, a modified input, a shape."""


class ArgumentError(ValueError, RuntimeError):
    """A shape, size or argument an op cannot take (shapes that do not broadcast, a
    reshape to the wrong number of elements, a negative size).

    It is a ``ValueError``, Python's class for a bad value, and a ``RuntimeError``, the
    class PyTorch raises for the same mistakes, so code written for either catches it.
    """


class DTypeError(TypeError, RuntimeError):
    """Operands whose dtypes an op will not mix (a float64 input to a float32 layer).

    A ``TypeError`` and, as in PyTorch, a ``RuntimeError``.
    """
