"""The small schema language that checks a config before anything runs.

A config is plain data (dicts, lists, strings, numbers) read with ``yaml.safe_load``. Each
part of it is checked by a *spec*: ``Int(min=1)``, ``Float()``, ``Bool()``,
``Str(choices=...)``, ``Nullable(spec)``, ``ListOf(spec)``, ``AnyOf(...)``, and
``Section(fields)`` for a mapping with known keys (each a :class:`Field` with a default or
``REQUIRED``). ``spec.check(value, path, ctx)`` returns the value with defaults filled in,
or raises :class:`ConfigError` naming the file, the key path (``model.layers[0].n``), what
was found, what was expected, and the closest valid names.

Nothing here imports or evaluates a string from the config: names are looked up in
dictionaries of known names (see ``tinyrpn.config.registry``).
"""

from __future__ import annotations

import difflib
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tinyrpn.display import TinyrpnWarning

__all__ = [
    "REQUIRED",
    "AnyOf",
    "Bool",
    "ConfigError",
    "ConfigWarning",
    "Context",
    "Field",
    "Float",
    "Int",
    "ListOf",
    "Nullable",
    "Section",
    "Spec",
    "Str",
    "closest",
    "join_path",
]


class ConfigError(ValueError):
    """A config that cannot be run: an unknown key or name, a wrong type, a bad value.

    ``file`` is the config file (or ``"<dict>"``), ``path`` the key path inside it
    (``model.layers[0].heads[0].reconciliation.type``), ``problem`` what is wrong, and
    ``suggestions`` the closest valid names (possibly empty). ``line`` is the line in the
    file when it is known.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str = "<dict>",
        path: str = "",
        suggestions: Iterable[str] = (),
        valid: Iterable[str] | None = None,
        line: int | None = None,
        note: str = "",
    ) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        self.suggestions = list(suggestions)
        self.valid = sorted(valid) if valid is not None else None
        self.line = line
        where = file if line is None else f"{file}:{line}"
        message = f"{where}: {path}: {problem}" if path else f"{where}: {problem}"
        if self.suggestions:
            names = [repr(s) for s in self.suggestions]
            quoted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
            message += f"; did you mean {quoted}?"
        if self.valid is not None:
            message += f"\n  valid: {', '.join(self.valid) if self.valid else '(none)'}"
        if note:
            message += f"\n  {note}"
        super().__init__(message)


class ConfigWarning(TinyrpnWarning):
    """Something in a config is accepted but worth knowing: a fallback, an ignored key."""


REQUIRED: Any = object()  # sentinel: the key must be given


def closest(name: Any, valid: Iterable[str], n: int = 3) -> list[str]:
    """The valid names most like ``name`` (difflib), best first; case is ignored."""
    valid = list(valid)
    if not isinstance(name, str):
        return []
    by_lower = {v.lower(): v for v in valid}
    hits = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[h] for h in hits]


def join_path(path: str, key: str | int) -> str:
    """``join_path('model', 'layers') == 'model.layers'``; ints become ``[i]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def type_name(value: Any) -> str:
    """How a YAML value reads to a user: 'the string "abc"', 'a list', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


@dataclass
class Context:
    """Where the config came from, for error messages and warnings.

    ``lines`` maps key paths to line numbers in the file (when the file was parsed);
    ``overridden`` holds the key paths that were set by overrides, so an error there says
    so; ``path_map`` maps a path of the checked data to the path it came from in the file
    (a tinyBIG file is converted first, and its errors should name the tinyBIG keys).
    """

    file: str = "<dict>"
    lines: Mapping[str, int] = field(default_factory=dict)
    overridden: set[str] = field(default_factory=set)
    path_map: dict[str, str] = field(default_factory=dict)

    def source_path(self, path: str) -> str:
        """``path`` rewritten to the key path in the source file (see ``path_map``)."""
        for p in _prefixes(path):
            if p in self.path_map:
                return self.path_map[p] + path[len(p):]
        return path

    def error(
        self,
        path: str,
        problem: str,
        *,
        suggestions: Iterable[str] = (),
        valid: Iterable[str] | None = None,
        note: str = "",
    ) -> ConfigError:
        # The override that set this value, or (for an unknown key an override made up,
        # such as ``optimizr.lr``) one inside it: the file itself may be fine.
        inside = sorted(o for o in self.overridden if o.startswith((f"{path}.", f"{path}[")))
        for p in [*_prefixes(path), *inside[:1]]:
            if p in self.overridden:
                said = f"(the value at {p} was set by an override)"
                note = f"{note}\n  {said}" if note else said
                break
        path = self.source_path(path)
        return ConfigError(
            problem, file=self.file, path=path, suggestions=suggestions, valid=valid,
            line=self.line_of(path), note=note,
        )

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` (or of its nearest enclosing key) in the file, if known."""
        for p in _prefixes(path):
            if p in self.lines:
                return self.lines[p]
        return None

    def warn(self, path: str, message: str) -> None:
        """Issue a :class:`ConfigWarning` that names the file, line and key path."""
        path = self.source_path(path)
        line = self.line_of(path)
        where = self.file if line is None else f"{self.file}:{line}"
        # Point the warning at the caller of tinyrpn.config (say, load_config in the CLI),
        # not at a line inside the config package.
        level, frame = 2, sys._getframe(1)  # stacklevel 2 is the frame that called warn()
        while frame is not None and frame.f_globals.get("__name__", "").startswith(
                "tinyrpn.config"):
            frame, level = frame.f_back, level + 1
        warnings.warn(f"{where}: {path}: {message}", ConfigWarning, stacklevel=level)


def _prefixes(path: str) -> list[str]:
    """``'a.b[0].c'`` -> ``['a.b[0].c', 'a.b[0]', 'a.b', 'a']`` (longest first)."""
    out = [path]
    while True:
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
        out.append(path)
    return out


class Spec:
    """Checks one value; ``check`` returns it normalised (defaults filled) or raises."""

    def check(self, value: Any, path: str, ctx: Context) -> Any:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - each subclass says what it accepts
        raise NotImplementedError


def _bounds_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


class Int(Spec):
    """An integer (a boolean is not an integer here, and neither is 3.0)."""

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.min, self.max = min, max

    def describe(self) -> str:
        return "an integer" + _bounds_text(self.min, self.max)

    def check(self, value: Any, path: str, ctx: Context) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}")
        too_small = self.min is not None and value < self.min
        if too_small or (self.max is not None and value > self.max):
            raise ctx.error(path, f"expected {self.describe()}, got {value}")
        return int(value)


# PyYAML follows YAML 1.1, where a float needs a dot: `2e-3` is read as the *string*
# "2e-3". A user who writes `lr: 2e-3` means the number, so a float field accepts a
# string that spells a number in scientific notation, and nothing else.
_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


class Float(Spec):
    """A real number: a YAML int or float, or a string like ``2e-3`` (see above)."""

    def __init__(
        self, min: float | None = None, max: float | None = None, positive: bool = False
    ) -> None:
        self.min, self.max, self.positive = min, max, positive

    def describe(self) -> str:
        if self.positive:
            return "a number > 0"
        return "a number" + _bounds_text(self.min, self.max)

    def check(self, value: Any, path: str, ctx: Context) -> float:
        if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise ctx.error(path, f"expected a finite number, got {value}")
        if (
            (self.positive and value <= 0)
            or (self.min is not None and value < self.min)
            or (self.max is not None and value > self.max)
        ):
            raise ctx.error(path, f"expected {self.describe()}, got {value}")
        return value


class Bool(Spec):
    """``true`` or ``false`` (YAML's yes/no/on/off are not accepted as booleans)."""

    def describe(self) -> str:
        return "true or false"

    def check(self, value: Any, path: str, ctx: Context) -> bool:
        if not isinstance(value, bool):
            raise ctx.error(path, f"expected true or false, got {type_name(value)}")
        return value


class Str(Spec):
    """A string, optionally one of ``choices`` (an unknown one gets the closest names)."""

    def __init__(self, choices: Iterable[str] | None = None, what: str = "value") -> None:
        self.choices = list(choices) if choices is not None else None
        self.what = what

    def describe(self) -> str:
        if self.choices is None:
            return "a string"
        return "one of " + ", ".join(self.choices)

    def check(self, value: Any, path: str, ctx: Context) -> str:
        if not isinstance(value, str):
            raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}")
        if self.choices is not None and value not in self.choices:
            raise ctx.error(
                path, f"unknown {self.what} {value!r}",
                suggestions=closest(value, self.choices), valid=self.choices,
            )
        return value


class Nullable(Spec):
    """``null`` or what ``inner`` accepts."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def describe(self) -> str:
        return f"null or {self.inner.describe()}"

    def check(self, value: Any, path: str, ctx: Context) -> Any:
        return None if value is None else self.inner.check(value, path, ctx)


class ListOf(Spec):
    """A list whose items ``item`` accepts, with at least ``min_len`` items."""

    def __init__(self, item: Spec, min_len: int = 0) -> None:
        self.item, self.min_len = item, min_len

    def describe(self) -> str:
        return f"a list of {self.item.describe()}"

    def check(self, value: Any, path: str, ctx: Context) -> list[Any]:
        if not isinstance(value, list):
            raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}")
        if len(value) < self.min_len:
            raise ctx.error(
                path, f"expected at least {self.min_len} item(s), got {len(value)}"
            )
        return [self.item.check(v, join_path(path, i), ctx) for i, v in enumerate(value)]


class AnyOf(Spec):
    """The first of ``options`` that accepts the value (``dim: 10`` or ``dim: full``)."""

    def __init__(self, *options: Spec) -> None:
        self.options = options

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)

    def check(self, value: Any, path: str, ctx: Context) -> Any:
        errors = []
        for option in self.options:
            try:
                return option.check(value, path, ctx)
            except ConfigError as exc:
                errors.append(exc)
        # One option that failed on its value (not its type) says the most.
        for exc in errors:
            if exc.suggestions or "unknown" in exc.problem:
                raise exc
        raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}")


@dataclass(frozen=True)
class Field:
    """One key of a :class:`Section`: its spec, its default (or REQUIRED), a line of doc."""

    spec: Spec
    default: Any = REQUIRED
    doc: str = ""


class Section(Spec):
    """A mapping with known keys; unknown keys fail with the closest valid ones.

    ``check`` returns a new dict in the order of ``fields`` with every default filled in.
    ``validate`` (optional) runs on the result for checks that involve several keys.
    """

    def __init__(
        self,
        fields: Mapping[str, Field],
        what: str = "key",
        validate: Callable[[dict[str, Any], str, Context], dict[str, Any] | None] | None = None,
        owner: str = "",
    ) -> None:
        self.fields = dict(fields)
        self.what = what
        self.validate = validate
        self.owner = owner  # e.g. "optimizer 'adamw'", named in messages

    def describe(self) -> str:
        return "a mapping with keys " + ", ".join(self.fields)

    def check(self, value: Any, path: str, ctx: Context) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ctx.error(path, f"expected a mapping (key: value lines), got {type_name(value)}")
        for key in value:
            if key not in self.fields:
                owner = f" for {self.owner}" if self.owner else ""
                raise ctx.error(
                    join_path(path, str(key)), f"unknown {self.what} {key!r}{owner}",
                    suggestions=closest(key, self.fields), valid=self.fields,
                )
        out: dict[str, Any] = {}
        for key, f in self.fields.items():
            sub = join_path(path, key)
            if key in value:
                out[key] = f.spec.check(value[key], sub, ctx)
            elif f.default is REQUIRED:
                owner = f" of {self.owner}" if self.owner else ""
                raise ctx.error(sub, f"missing required key {key!r}{owner} "
                                f"({f.spec.describe()})")
            elif f.default is None:
                out[key] = None
            else:  # defaults go through the spec too, so they come out in canonical form
                out[key] = f.spec.check(plain_copy(f.default), sub, ctx)
        if self.validate is not None:
            result = self.validate(out, path, ctx)
            if result is not None:
                out = result
        return out


def plain_copy(value: Any) -> Any:
    """A deep copy of plain data (mappings become dicts), so that no default, override or
    head is ever shared between two configs."""
    if isinstance(value, Mapping):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    return value
