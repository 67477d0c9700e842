"""gradcheck itself: it passes right gradients, catches wrong ones, and says where."""

from __future__ import annotations

import numpy as np
import pytest

import tinyrpn
from tinyrpn import Function, GradcheckError, gradcheck


class _ScaledSquare(Function):
    """out = a²;  a backward that is wrong by ``factor`` (1 is right)."""

    factor = 1.0

    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, d):
        return self.factor * 2 * self.a * d


class _TwiceTooBig(_ScaledSquare):
    factor = 2.0


class _OneWrongElement(_ScaledSquare):
    """Right everywhere except element (1, 2), whose gradient is dropped."""

    def backward(self, d):
        grad = 2 * self.a * d
        grad[1, 2] = 0.0
        return grad


def test_passes_a_right_gradient(seeded):
    x = tinyrpn.randn(3, 4, requires_grad=True)
    assert gradcheck(_ScaledSquare.apply, x) is True
    assert gradcheck(lambda x, y: (x @ y).tanh(), x, tinyrpn.randn(4, 2, requires_grad=True))


def test_catches_a_wrong_backward_and_names_the_input(seeded):
    x = tinyrpn.randn(3, 4, requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(3, 4\)\).*12 of 12 elements"):
        gradcheck(_TwiceTooBig.apply, x)


def test_names_the_worst_element(seeded):
    x = tinyrpn.tensor(np.arange(1.0, 13.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"at element \(1, 2\).*1 of 12 elements") as info:
        gradcheck(_OneWrongElement.apply, x)
    assert "analytic 0," in str(info.value)


def test_checks_the_second_input_too(seeded):
    a = tinyrpn.randn(2, 2, requires_grad=True)
    b = tinyrpn.randn(2, 2, requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(2, 2\)\)"):
        gradcheck(lambda a, b: a * 2 + _TwiceTooBig.apply(b), a, b)


def test_inputs_without_grad_are_left_alone(seeded):
    x = tinyrpn.randn(3, requires_grad=True)
    c = tinyrpn.randn(3)
    assert gradcheck(lambda x, c, k: x * c * k, x, c, 2.0)


def test_works_in_float64_and_leaves_the_inputs_untouched(seeded):
    x = tinyrpn.randn(2, 3, requires_grad=True)  # float32
    before = x.detach().numpy().copy()
    seen = []
    assert gradcheck(lambda x: (seen.append(x.dtype), x * x)[1], x)
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x.detach().numpy(), before)
    assert x.grad is None and x.dtype == np.float32


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_keeps_non_contiguous_layouts(layout):
    values = np.arange(6.0).reshape(2, 3)
    if layout == "transposed":
        array = np.array(values, order="F")
    else:
        array = np.zeros((2, 3, 2))[..., 0]
        array[...] = values
    x = tinyrpn.Tensor._wrap(array, requires_grad=True)
    flags = []
    assert gradcheck(lambda x: (flags.append(x.data.flags.c_contiguous), x * x)[1], x)
    assert not any(flags)  # the op saw the same non-contiguous layout every time


def test_respects_the_tolerances():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)

    class _SlightlyOff(_ScaledSquare):
        factor = 1.0 + 1e-4

    assert gradcheck(_SlightlyOff.apply, x)  # within rtol=1e-3
    with pytest.raises(GradcheckError):
        gradcheck(_SlightlyOff.apply, x, rtol=1e-6, atol=1e-8)


def test_usage_errors():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="no input has requires_grad"):
        gradcheck(lambda x: x * 2, tinyrpn.tensor([1.0]))
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda x: 3.0, x)
    with pytest.raises(TypeError, match="lowers the precision"):
        gradcheck(lambda x: x.float() * 2, x)
    with pytest.raises(GradcheckError, match="does not depend"):
        gradcheck(lambda x: tinyrpn.ones(2, dtype="float64"), x)
