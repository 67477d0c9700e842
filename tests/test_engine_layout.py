"""The engine layer's layout (issue 19 §2): the engine, Tensor and the ops families are
files a student reads in one sitting, Tensor and the engine do not import each other, and
the names that moved are still found at their old address."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tinyrpn

PACKAGE = Path(tinyrpn.__file__).parent
ENGINE_LAYER = ["autograd.py", "tensor.py", "tensor_methods.py", "creation.py", "dtypes.py",
                "errors.py", "grad_mode.py", "printing.py"]


def _module_level_imports(path: Path) -> set[str]:
    """The tinyrpn modules a file imports when it is loaded (not inside functions, not
    under ``if TYPE_CHECKING``)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tinyrpn"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tinyrpn"))
    return found


@pytest.mark.parametrize("path", [PACKAGE / f for f in ENGINE_LAYER]
                         + sorted((PACKAGE / "ops").glob("*.py")), ids=lambda p: p.name)
def test_engine_and_ops_modules_are_under_700_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines < 700, f"{path.name} has {lines} lines; split it by topic"


def test_tensor_and_the_engine_do_not_import_each_other_at_load_time() -> None:
    assert "tinyrpn.tensor" in _module_level_imports(PACKAGE / "autograd.py")
    for name in ("tensor.py", "tensor_methods.py"):
        assert not any(m.startswith("tinyrpn.autograd")
                       for m in _module_level_imports(PACKAGE / name)), name


def test_the_ops_package_imports_no_family_when_loaded() -> None:
    # What lets tensor.py import `ops` at its top although every op is built on Tensor.
    assert _module_level_imports(PACKAGE / "ops" / "__init__.py") == set()


def test_moved_names_keep_their_old_address() -> None:
    from tinyrpn import autograd
    from tinyrpn.ops import arithmetic, comparison, reductions
    from tinyrpn.ops import math as ops_math
    from tinyrpn.tensor import Tensor

    assert autograd.Tensor is Tensor is tinyrpn.Tensor
    assert autograd.zeros is tinyrpn.zeros and autograd.no_grad is tinyrpn.no_grad
    assert ops_math.add is arithmetic.add and ops_math.where is comparison.where
    assert ops_math.sum is reductions.sum and ops_math.std is reductions.std
    assert callable(tinyrpn.tensor) and isinstance(tinyrpn.tensor([1.0]), Tensor)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = ops_math.nonexistent
