"""Configs: YAML files in, checked experiments out.

    >>> exp = load_config("mlp_small", {"training.epochs": 1})               # doctest: +SKIP
    >>> print(exp.describe())                                                # doctest: +SKIP
    >>> model = exp.build_model(); train, test = exp.build_data()            # doctest: +SKIP

A config is data, not code: it is read with ``yaml.safe_load``, and every name in it is
looked up in a registry of known names (``tinyrpn.config.registry``); no string from a
config is ever imported or evaluated. The whole file is checked before anything is built:
an unknown key or name, a string where a number belongs, a layer whose m does not match the
previous n, a p that does not divide n... each raises :class:`ConfigError` naming the file,
the line, the key path and the closest valid names.

A config is named by its path (``configs/mlp_small.yaml``) or, from any folder, by its name
(``mlp_small``): :func:`find_config` looks in the current folder, its ``configs/`` folder and
the configs that ship inside the package (``PACKAGED_CONFIGS``), in that order.

Two formats load: tinyrpn's own (docs/CONFIG.md), and tinyBIG 0.1.1's (a top-level
``configurations:`` key), which is converted to tinyrpn's (``tinyrpn.config.tinybig``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from . import (
    registry_functions,  # noqa: F401  (registers the function-fitting data sets)
    tinybig,
)
from .experiment import Experiment, memory_estimate
from .models import count_parameters
from .registry import KINDS, REGISTRIES, Registry
from .resolve import resolve
from .schema import ConfigError, ConfigWarning, Context, closest, plain_copy

__all__ = [
    "KINDS",
    "REGISTRIES",
    "ConfigError",
    "ConfigWarning",
    "Experiment",
    "Registry",
    "apply_overrides",
    "config_from_dict",
    "PACKAGED_CONFIGS",
    "config_names",
    "count_parameters",
    "find_config",
    "load_config",
    "memory_estimate",
    "parse_overrides",
    "read_yaml",
]


def read_yaml(path: str | os.PathLike[str]) -> tuple[Any, dict[str, int]]:
    """Parse a YAML file safely; return (data, {key path: line number}).

    Fails with ConfigError on a syntax error, and on a key written twice in one mapping
    (YAML would silently keep only the last one).
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such config file", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file ({exc})", file=file) from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", file=file,
                          line=None if mark is None else mark.line + 1) from None
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines, file, set())
    return data, lines


def _walk(node: yaml.Node, path: str, lines: dict[str, int], file: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias to a node already walked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            sub = f"{path}.{key}" if path else key
            if key in first_line:
                raise ConfigError(
                    f"key {key!r} is written twice (lines {first_line[key]} and {line}); "
                    "YAML would keep only the last one", file=file, path=sub, line=line)
            first_line[key] = line
            lines[sub] = line
            _walk(value_node, sub, lines, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            lines[sub] = item.start_mark.line + 1
            _walk(item, sub, lines, file, seen)


# --------------------------------------------------------------------------- overrides


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["training.epochs=2", "optimizer.lr=1e-3"]`` -> ``{"training.epochs": 2, ...}``.

    Each value is read as YAML (``2`` is an int, ``[1, 2]`` a list, ``null`` None,
    ``cuda`` a string), so the command line says what a config file would.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value",
                              file="<overrides>")
        key, _, text = item.partition("=")
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({exc})",
                              file="<overrides>") from None
    return out


def _split_path(path: str) -> list[str | int]:
    """``'model.layers[0].n'`` (or ``model.layers.0.n``) -> ``['model', 'layers', 0, 'n']``."""
    parts: list[str | int] = []
    for piece in path.replace("]", "").replace("[", ".").split("."):
        if piece == "":
            raise ValueError(f"empty key in {path!r}")
        parts.append(int(piece) if piece.isdigit() else piece)
    return parts


def _canonical(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out = f"{out}[{p}]" if isinstance(p, int) else (f"{out}.{p}" if out else p)
    return out


def apply_overrides(data: Any, overrides: Mapping[str, Any] | None, ctx: Context) -> Any:
    """Set each dotted path of ``overrides`` in ``data`` (a copy; missing mappings are made).

    The paths are recorded in ``ctx.overridden`` so that an error they cause says so.
    """
    if not overrides:
        return data
    data = plain_copy(data)
    for path, value in overrides.items():
        try:
            parts = _split_path(path)
        except ValueError as exc:
            raise ConfigError(f"bad override key: {exc}", file="<overrides>", path=path) from None
        node = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = _canonical(parts[: i + 1])
            if isinstance(part, int):
                if not isinstance(node, list) or not 0 <= part < len(node):
                    size = f"a list of {len(node)}" if isinstance(node, list) else "not a list"
                    raise ConfigError(f"override {path!r}: index {part} is out of range "
                                      f"({_canonical(parts[:i]) or 'top level'} is {size})",
                                      file=ctx.file, path=where)
            elif not isinstance(node, dict):
                raise ConfigError(f"override {path!r}: {_canonical(parts[:i])} is not a mapping",
                                  file=ctx.file, path=where)
            if last:
                node[part] = plain_copy(value)
            else:
                nxt = node[part] if (isinstance(part, int) or part in node) else None
                if nxt is None:
                    if isinstance(part, int):
                        raise ConfigError(f"override {path!r}: {where} is null", file=ctx.file,
                                          path=where)
                    nxt = node[part] = {}
                if isinstance(nxt, str) and isinstance(parts[i + 1], str):
                    # `reconciliation: identity` is short for {type: identity}
                    nxt = node[part] = {"type": nxt}
                node = nxt
        ctx.overridden.add(_canonical(parts))
    return data


# --------------------------------------------------------------------------- finding

# The YAML files of the reference experiments ship inside the package (package data), so a
# name finds them from any folder and after a non-editable install; the repository's
# configs/ is a link to this folder, so commands that name configs/NAME.yaml keep working.
PACKAGED_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
_SUFFIXES = (".yaml", ".yml")


def _search_folders() -> list[Path]:
    """Where a config name is looked up, first match wins: here, ./configs, the package."""
    return [Path("."), Path("configs"), PACKAGED_CONFIGS]


def _short(path: Path) -> str:
    """A path as messages show it: relative to the current folder when that is short (no
    more than two ``..``), else absolute; ``./`` before a relative path without ``..``."""
    if path.is_absolute():
        try:
            rel = Path(os.path.relpath(path))
        except ValueError:  # another drive (Windows)
            return str(path)
        if rel.parts[:1] != ("..",) or rel.parts[:3] == ("..",) * 3:
            return str(path)
        path = rel
    if str(path) == ".":
        return "."
    return str(path) if path.parts[0] == ".." else f".{os.sep}{path}"


def config_names(folder: str | os.PathLike[str] | None = None) -> list[str]:
    """The names of the configs in ``folder`` (default: those that ship with tinyrpn)."""
    folder = PACKAGED_CONFIGS if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    return sorted({f.stem for f in folder.iterdir() if f.suffix in _SUFFIXES and f.is_file()})


def find_config(path_or_name: str | os.PathLike[str]) -> Path:
    """The file a config argument means: an existing file as given, else a name.

    A bare name (``mlp_small``, or ``mlp_small.yaml``: no folder in it) is looked up as
    ``NAME.yaml`` (or ``.yml``) in the current folder, then in ``./configs``, then among
    the configs that ship with tinyrpn. Raises :class:`ConfigError` naming the folders
    searched and the names available when nothing matches.
    """
    given = str(path_or_name)
    path = Path(path_or_name)
    if path.is_file():
        return path
    bare = len(path.parts) == 1 and not given.endswith(("/", os.sep))  # a name, not a path
    if path.is_dir() and not bare:
        raise ConfigError("this is a folder, not a config file", file=given)
    if not bare:  # a path with folders in it names one file, and it is missing
        folder = path.parent
        near = closest(path.stem, config_names(folder))
        raise ConfigError("no such config file", file=given,
                          suggestions=[str(folder / f"{n}.yaml") for n in near])
    name = path.stem if path.suffix in _SUFFIXES else path.name
    folders = _search_folders()
    for folder in folders:
        for suffix in _SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    # (a folder of that name, say a run directory `--out mlp_small`, does not hide a config)
    available = sorted({n for folder in folders for n in config_names(folder)})
    what = "this is a folder, not a config file" if path.is_dir() else "no such config file"
    raise ConfigError(
        f"{what}, and no config named {name!r}",
        file=given, suggestions=closest(name, available),
        note=f"names available: {', '.join(available) or '(none)'}\n  folders searched: "
        + ", ".join(_short(f) + os.sep for f in folders),
    )


# --------------------------------------------------------------------------- loading


def load_config(
    path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> Experiment:
    """Read, convert (tinyBIG format), override, check and resolve a config file.

    ``path`` is a file, or the name of a config (``"mlp_small"``) found by
    :func:`find_config` (the current folder, ``./configs``, then the packaged configs).

    ``overrides`` maps dotted key paths of tinyrpn's format to values, e.g.
    ``{"training.epochs": 2, "seed": 3, "model.layers[0].n": 32}``; for a tinyBIG file they
    apply to the converted config. Raises :class:`ConfigError` for anything that would
    not run; warns (:class:`ConfigWarning`) about fallbacks and keys that are ignored.
    """
    named_by_path = Path(path).is_file()
    path = find_config(path)
    data, lines = read_yaml(path)
    # A file the user named is shown as given; a config found by name is shown relative to
    # here when that is short (../tinyrpn/configs/...), so messages carry no long absolute path.
    source = str(path) if named_by_path or not path.is_absolute() else _short(path)
    return config_from_dict(data, source=source, overrides=overrides, lines=lines,
                            default_name=Path(path).stem)


def config_from_dict(
    data: Any,
    source: str = "<dict>",
    overrides: Mapping[str, Any] | None = None,
    *,
    lines: Mapping[str, int] | None = None,
    default_name: str = "experiment",
) -> Experiment:
    """Like :func:`load_config` for data already in memory (``source`` names it in errors)."""
    ctx = Context(file=source, lines=dict(lines or {}))
    if data is None:
        raise ConfigError("the config is empty", file=source)
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of keys, got {type(data).__name__}",
                          file=source)
    check_converted = None
    if tinybig.is_tinybig(data):
        data, check_converted = tinybig.convert(data, ctx)
    data = apply_overrides(data, overrides, ctx)
    cfg = resolve(data, ctx, default_name=default_name)
    if check_converted is not None:
        check_converted(cfg)
    return Experiment(
        name=cfg["name"], source=source, config=cfg, seed=cfg["seed"], device=cfg["device"],
        epochs=cfg["training"]["epochs"], training=cfg["training"],
    )
