"""The ``tinybig`` entry of the expansion, reconciliation and remainder registries, and the
activations that post-processing accepts beyond relu, tanh and sigmoid.

``expansion: {type: tinybig, class: tinybig.expansion.fourier_expansion, parameters:
{P: 10, N: 5}}`` is any tinyBIG 0.1.1 function, with tinyBIG's parameter names, built by
``tinybig_functions.build_function``; sizes (D, l, parameter counts) and checks come from
the object it builds, never from a formula restated here. The tinyBIG-format loader turns
every component it has no native tinyrpn name for into such an entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .registry import REGISTRIES
from .schema import REQUIRED, ConfigError, Context, Field, Spec, Str, type_name
from .tinybig_functions import SECTIONS, build_function

__all__ = ["build"]


class AnyMapping(Spec):
    """A mapping of parameters, checked later by the function it configures."""

    def describe(self) -> str:
        return "a mapping of parameters"

    def check(self, value: Any, path: str, ctx: Context) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}")
        return dict(value)


def build(params: Mapping[str, Any], **sizes: Any) -> Any:
    """The tinyrpn object of a resolved ``{type: tinybig, class, parameters}`` entry."""
    return build_function(params["class"], params["parameters"], **sizes)


def _fields(section: str) -> dict[str, Field]:
    names = [f"tinybig.{section}.{name}" for name in SECTIONS[section]]
    return {
        "class": Field(Str(names, what=f"tinyBIG {section}"), REQUIRED,
                       f"tinyBIG's class path, e.g. {names[0]}"),
        "parameters": Field(AnyMapping(), {}, "tinyBIG's parameters, with tinyBIG's names"),
    }


def _validate(params: dict[str, Any], path: str, ctx: Context) -> None:
    # what can be checked without the sizes (unknown keys, bad values) fails here, at the
    # config's own path; size checks come when the head is resolved
    if params["class"].split(".")[1] != "expansion":
        return
    try:
        build(params)
    except ConfigError as error:
        raise ctx.error(f"{path}.parameters", error.problem.replace(
            f"{params['class']}.parameters", "parameters")) from None


def _problem(make: Any) -> str | None:
    try:
        make()
    except (ConfigError, ValueError) as error:
        return getattr(error, "problem", str(error))
    return None


def _count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


REGISTRIES["expansion"].register(
    "tinybig", _fields("expansion"), build=None, validate=_validate,
    D=lambda m, p: build(p).output_dim(m),
    doc="any tinyBIG 0.1.1 expansion, with tinyBIG's parameter names",
)
REGISTRIES["reconciliation"].register(
    "tinybig", _fields("reconciliation"), build=None, validate=_validate,
    l=lambda n, D, p: build(p, n=n, D=D).l,
    shape_error=lambda n, D, p: _problem(lambda: build(p, n=n, D=D)),
    doc="any tinyBIG 0.1.1 reconciliation, with tinyBIG's parameter names",
)
REGISTRIES["remainder"].register(
    "tinybig", _fields("remainder"), build=None, validate=_validate,
    params_count=lambda m, n, p: _count(build(p, m=m, n=n)),
    shape_error=lambda m, n, p: _problem(lambda: build(p, m=m, n=n)),
    doc="any tinyBIG 0.1.1 remainder, with tinyBIG's parameter names",
)
for _name in ("silu", "gelu", "leaky_relu", "softplus"):
    REGISTRIES["postprocess"].register(
        _name, build=None, params_count=lambda D, p: 0, doc=f"{_name}, elementwise")
