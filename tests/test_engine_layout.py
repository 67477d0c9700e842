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


def _imports(path: Path, inside_functions: bool = False) -> set[str]:
    """The tinyrpn modules a file imports when it is loaded (and, with ``inside_functions``,
    when its functions run); ``if TYPE_CHECKING:`` blocks, which never run, are skipped."""
    found: set[str] = set()
    todo: list[ast.AST] = list(ast.parse(path.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tinyrpn"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tinyrpn"))
        elif inside_functions or not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return found


@pytest.mark.parametrize("path", [PACKAGE / f for f in ENGINE_LAYER]
                         + sorted((PACKAGE / "ops").glob("*.py")), ids=lambda p: p.name)
def test_engine_and_ops_modules_are_under_700_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines < 700, f"{path.name} has {lines} lines; split it by topic"


def test_tensor_does_not_import_the_engine_which_imports_it() -> None:
    assert "tinyrpn.tensor" in _imports(PACKAGE / "autograd.py")
    for name in ("tensor.py", "tensor_methods.py"):
        engine = [m for m in _imports(PACKAGE / name, inside_functions=True)
                  if m.startswith("tinyrpn.autograd")]
        assert not engine, f"{name} imports {engine}"


def test_backward_runs_the_entry_point_the_engine_handed_over() -> None:
    import sys

    from tinyrpn import autograd

    tensor_module = sys.modules["tinyrpn.tensor"]  # (tinyrpn.tensor is the factory function)
    assert tensor_module._engine_backward is autograd.tensor_backward


def test_the_ops_package_imports_no_family_when_loaded() -> None:
    # What lets tensor.py import `ops` at its top although every op is built on Tensor.
    assert _imports(PACKAGE / "ops" / "__init__.py", inside_functions=True) == set()


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
