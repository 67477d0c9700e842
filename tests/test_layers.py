"""The package's layers: every module imports only from its own layer or the layers below.

Bottom to top (README, "How the code is laid out")::

    display                                   one-line warnings, progress bars, figures
    backend, random, cuda, cupy_standin       which array module holds the numbers
    kernels                                   the hot loops (the only numba importer)
    autograd, tensor                          Function, the graph walk; Tensor
    ops                                       every differentiable operation
    gradcheck, serialization
    nn, optim, data
    rpn, models
    metrics, history                          what a run measures and keeps
    plot
    train, rundir                             the loop; a run directory's files and lock
    config
    cli, __main__, experiments                the commands and the experiment drivers

The test reads every file under ``tinyrpn/`` with :mod:`ast` (nothing is imported), collects
its imports of tinyrpn modules (at module level and inside functions alike: a lazy import
is still a dependency) and checks three rules:

1. no module imports from a layer above its own; the one exception is Tensor's operators
   calling ``ops`` (the module that defines ``class Tensor`` may import ``tinyrpn.ops``);
2. only the backend layer imports ``cupy``/``cupyx``, only ``kernels`` imports ``numba``;
3. no import cycle between files, except through that Tensor -> ops edge.

An import of ``a.b.c`` is an edge to the file that holds ``a.b.c`` (``a/b/c.py`` or
``a/b/c/__init__.py``); the parent packages' ``__init__`` files that Python also runs are
not counted, since a package's ``__init__`` re-exports names for users and is nobody's
dependency. ``from a.b import name`` is an edge to ``a.b.name`` when that is a module, else
to ``a.b``.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinyrpn"

# Bottom to top. A module's layer is that of the first pattern its dotted name (without the
# leading "tinyrpn.") matches; "<root>" is tinyrpn/__init__.py. Patterns rather than a
# list of files, so a module split into a package (or a family split into files) keeps
# its layer.
LAYERS: list[tuple[str, list[str]]] = [
    ("display", ["display"]),
    # cupy_standin is the CuPy that the backend loads in CuPy's place (TINYRPN_CUPY=standin):
    # it sits where cupy would, and imports only NumPy.
    ("backend", ["backend", "random", "cuda", "cupy_standin"]),
    ("kernels", ["kernels", "kernels.*"]),
    # the engine and Tensor, in one file or spread over several (the grad mode, the errors,
    # the dtypes, the factories, the printing of values, Tensor's one-op methods)
    ("autograd", ["autograd", "autograd.*", "tensor", "tensor.*", "tensor_*", "engine",
                  "engine.*", "grad_mode", "errors", "dtypes", "creation", "printing"]),
    ("ops", ["ops", "ops.*"]),
    # The package's __init__ imports the engine's public names (Tensor, the ops, gradcheck)
    # at once and every subpackage lazily by name, on first use: it sits just above what it
    # imports at once.
    ("gradcheck, serialization", ["gradcheck", "serialization", "<root>"]),
    ("nn, optim, data", ["nn", "nn.*", "optim", "optim.*", "data", "data.*"]),
    ("rpn, models", ["rpn", "rpn.*", "models", "models.*"]),
    ("metrics, history", ["metrics", "history"]),
    ("plot", ["plot", "plot.*"]),
    ("train", ["train", "train.*", "rundir"]),
    ("config", ["config", "config.*", "configs", "configs.*"]),
    ("cli, experiments", ["cli", "__main__", "experiments", "experiments.*"]),
]

ONLY_IMPORTER = {"cupy": "backend", "cupyx": "backend", "numba": "kernels"}


def module_name(path: Path) -> str:
    """``tinyrpn/nn/layers.py`` -> ``tinyrpn.nn.layers``; an ``__init__.py``, its package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """The index in LAYERS of ``module``'s layer (None: no pattern matches it)."""
    short = module.removeprefix("tinyrpn.") if module != "tinyrpn" else "<root>"
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(short, p) for p in patterns):
            return index
    return None


def layer_name(module: str) -> str:
    index = layer_of(module)
    return "none" if index is None else LAYERS[index][0]


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, at any depth of nesting.

    tinyrpn modules are resolved to the file that holds them; other modules keep their
    top-level name (``numba``, ``cupy``, ``numpy``...).
    """
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, _resolve(alias.name)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..data import y
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.append((node.lineno, child if child in MODULES else _resolve(target)))
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports for type
    checkers only, which never run: they make no dependency and no cycle)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return nodes


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(name: str) -> str:
    """The tinyrpn module that holds ``name`` (its longest importable prefix), or the
    top-level name of a module outside tinyrpn."""
    if name.split(".")[0] != "tinyrpn":
        return name.split(".")[0]
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def classes_of(module: str) -> dict[str, ast.ClassDef]:
    tree = ast.parse(MODULES[module].read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def tensor_modules() -> set[str]:
    """The files of ``class Tensor`` and of the classes it inherits from in its layer (its
    operators may sit in a base class in a file of their own)."""
    engine = [m for m in MODULES if layer_name(m) == "autograd"]
    homes = {m for m in engine if "Tensor" in classes_of(m)}
    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
             for m in homes for b in classes_of(m)["Tensor"].bases}
    return homes | {m for m in engine if bases & set(classes_of(m))}


TENSOR_MODULES = tensor_modules()


def is_tensor_to_ops(source: str, target: str) -> bool:
    """The one documented upward edge: Tensor's operators (its module, or a base class's)
    call ``ops``."""
    return source in TENSOR_MODULES and layer_name(target) == "ops"


def edges() -> list[tuple[str, int, str]]:
    """(importer, line, imported) for every import of one tinyrpn module by another."""
    return sorted({(m, line, t) for m in MODULES for line, t in imports_of(m)
                   if t in MODULES and t != m})


def where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}"


def test_every_module_has_a_layer():
    lost = [f"{MODULES[m].relative_to(PACKAGE.parent)}: module {m} is in no layer"
            for m in MODULES if layer_of(m) is None]
    assert not lost, ("\n".join(lost) + "\nadd a pattern for each to LAYERS in "
                      "tests/test_layers.py (and a row to the README's table of layers)")


def upward_imports(edge_list):
    out = []
    for source, line, target in edge_list:
        low, high = layer_of(source), layer_of(target)
        if low is None or high is None:  # test_every_module_has_a_layer names those
            continue
        if high > low and not is_tensor_to_ops(source, target):
            out.append(f"{where(source, line)}: {source} (layer '{layer_name(source)}') "
                       f"imports {target} (layer '{layer_name(target)}', above it)")
    return out


def test_no_module_imports_from_a_layer_above():
    bad = upward_imports(edges())
    assert not bad, "imports from a layer above:\n" + "\n".join(bad)


def test_only_backend_imports_cupy_and_only_kernels_import_numba():
    bad = []
    for module in MODULES:
        for line, target in imports_of(module):
            owner = ONLY_IMPORTER.get(target)
            if owner is not None and layer_name(module) != owner:
                bad.append(f"{where(module, line)}: {module} imports {target}; only the "
                           f"'{owner}' layer may")
    assert not bad, "\n".join(bad)


def import_cycles(edge_list):
    """Each cycle between files (a strongly connected component of the import graph
    without the Tensor -> ops edges), as the edges that close it."""
    graph: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for source, line, target in edge_list:
        if not is_tensor_to_ops(source, target):
            graph[source].setdefault(target, line)
    # Tarjan's algorithm, iterative (no recursion limit on a long chain of imports).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    cycles = []
    for component in components:
        inside = [f"  {where(s, line)}: {s} imports {t}"
                  for s in component for t, line in graph[s].items() if t in component]
        cycles.append(f"cycle between {', '.join(component)}:\n" + "\n".join(inside))
    return cycles


def test_no_import_cycle_except_tensor_to_ops():
    cycles = import_cycles(edges())
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# -- the checker itself: it must see what it is meant to see -----------------------------


def test_the_checker_sees_an_upward_import_and_a_cycle():
    some = sorted(MODULES)
    plot, train, nn = "tinyrpn.plot", "tinyrpn.train", "tinyrpn.nn"
    assert {plot, train, nn} <= set(some)
    made_up = [(plot, 7, train), (train, 9, plot), (nn, 3, train)]
    upward = upward_imports(made_up)
    assert len(upward) == 2
    assert "tinyrpn/plot.py:7" in upward[0] and "imports tinyrpn.train" in upward[0]
    cycles = import_cycles(made_up)
    assert len(cycles) == 1 and "tinyrpn.plot, tinyrpn.train" in cycles[0]


def test_the_tensor_module_is_the_one_exception():
    homes = [m for m in MODULES if "Tensor" in classes_of(m)]
    assert len(homes) == 1, f"class Tensor is defined in {homes}"
    assert layer_name(homes[0]) == "autograd" and homes[0] in TENSOR_MODULES
    assert is_tensor_to_ops(homes[0], "tinyrpn.ops")
    assert not is_tensor_to_ops("tinyrpn.nn", "tinyrpn.ops")
    assert not is_tensor_to_ops(homes[0], "tinyrpn.nn")


def test_type_checking_imports_are_not_dependencies():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n"
                     "else:\n    import b\ndef f():\n    import c\n")
    names = {a.name for n in _runtime_nodes(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names == {"b", "c"}


@pytest.mark.parametrize("module", ["tinyrpn.nn.layers", "tinyrpn.plot", "tinyrpn.kernels"])
def test_imports_are_resolved_to_files(module):
    found = {t for _, t in imports_of(module)}
    assert found & set(MODULES), f"{module}: no tinyrpn import found in {sorted(found)}"


def test_the_cupy_and_numba_imports_are_seen():
    # backend imports cupy inside a function, the kernels numba at module level: both count
    assert "cupy" in {t for _, t in imports_of("tinyrpn.backend")}
    assert any("numba" in {t for _, t in imports_of(m)} for m in MODULES
               if m.startswith("tinyrpn.kernels"))


# -- names that moved between layers stay where users found them ---------------------------


def test_moved_names_are_still_importable_from_train():
    from tinyrpn import history, metrics, rundir, train

    assert train.History is history.History
    for name in ("EvalResult", "accuracy", "class_indices", "confusion_matrix", "correct_count",
                 "evaluate"):
        assert getattr(train, name) is getattr(metrics, name), name
    for name in ("CHECKPOINT", "CONFIG", "HISTORY", "RESULTS", "peak_memory_mb"):
        assert getattr(train, name) is getattr(rundir, name), name
    assert "from_experiment" not in vars(train.Trainer)  # Experiment.trainer builds it now


def test_cupy_is_imported_lazily():
    """``import tinyrpn`` must work without CuPy: no file imports it when it is loaded,
    only inside a function that runs when a GPU (or the stand-in) is asked for."""
    bad = []
    for module, path in MODULES.items():
        todo = list(ast.parse(path.read_text()).body)
        while todo:  # what runs when the module is loaded: all but function bodies
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("cupy", "cupyx") for n in names):
                bad.append(f"{where(module, node.lineno)}: {module} imports cupy when loaded")
            todo.extend(ast.iter_child_nodes(node))
    assert not bad, "\n".join(bad)
