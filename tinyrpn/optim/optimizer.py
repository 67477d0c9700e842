"""``Optimizer``: the base class of every optimizer, shaped like ``torch.optim.Optimizer``.

An optimizer holds

* ``param_groups``: a list of dicts, each with ``"params"`` (a list of Tensors) and that
  group's hyper-parameters (``"lr"``, ...). Groups let parts of a model train with
  different settings; a scheduler changes ``group["lr"]`` between steps.
* ``state``: per-parameter state (``optimizer.state[p]``, a dict: Adam's moving averages,
  SGD's momentum buffer). It is created lazily at a parameter's first update.
  An optimizer may also keep optimizer-wide entries under string keys (MADGRAD's step
  counter ``state["k"]``, as in the reference implementation).

``step()`` updates, in place and under ``no_grad``, every parameter whose ``.grad`` is not
None, and bumps the parameter's version counter, so a ``backward()`` through a graph built
from the old weights fails loudly instead of using the new ones.

The state dict
--------------
``state_dict()`` returns the PyTorch layout, made only of arrays and plain values, so that
``tinyrpn.save`` (or JSON + ``.npz``) stores it::

    {
      "state": {                         # only parameters that have state
        0: {"step": 3, "exp_avg": <array>, "exp_avg_sq": <array>},
        1: {...},
        "k": 3,                          # optimizer-wide entries keep their string key
      },
      "param_groups": [
        {"lr": 0.001, "betas": (0.9, 0.999), ..., "params": [0, 1]},
        ...
      ],
    }

Parameters are numbered 0, 1, 2, ... in the order of ``param_groups`` (all of group 0,
then group 1, ...); ``"params"`` lists each group's numbers. The arrays are the live state
arrays (not copies, as in PyTorch): save them before the next ``step()``.
``load_state_dict`` copies them (cast to each parameter's dtype and device) and checks
everything before changing anything: the number and sizes of groups, every key (an unknown
key is an error that names it), every array's shape. Keys may also come back as strings
("0") and tuples as lists, as a JSON round trip returns them.
"""

from __future__ import annotations

import difflib
import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any, ClassVar

from tinyrpn import backend
from tinyrpn.autograd import Tensor, enable_grad, no_grad

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]

# Group keys that other code may add and load_state_dict must accept: a scheduler records
# the learning rate it started from in "initial_lr" (as in PyTorch).
_EXTRA_GROUP_KEYS = frozenset({"params", "initial_lr"})


def _closest(key: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_number(
    owner: str, name: str, value: Any, *, low: float | None = None, high: float | None = None,
    low_open: bool = False, high_open: bool = False,
) -> None:
    """Raise unless ``value`` is a real number in the interval; the error names ``owner.name``.

    ``low_open``/``high_open`` exclude the end points. Booleans are not numbers here.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high or value != value:  # value != value: NaN
        if low is not None and high is not None:
            where = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            where = f"{'>' if low_open else '>='} {low:g}"
        else:
            where = f"{'<' if high_open else '<='} {high:g}"
        raise ValueError(f"{owner}: {name} must be {where}, got {value!r}")


def zeros_like_param(p: Tensor) -> Any:
    """A C-contiguous array of zeros with ``p``'s shape, dtype and device (optimizer state)."""
    return p.xp.zeros(p.data.shape, dtype=p.data.dtype)


def copy_of_param(p: Tensor) -> Any:
    """A C-contiguous copy of ``p``'s values."""
    return p.xp.array(p.data, dtype=p.data.dtype, order="C", copy=True)


def check_shapes(step: str, param: Any, **arrays: Any) -> None:
    """Raise unless every array (None: unused) has the parameter's shape; name the one
    that does not. The step functions check first: a compiled loop would read past the
    end of a smaller array, and the plain code would broadcast a wrong one silently."""
    for name, array in arrays.items():
        if array is not None and tuple(array.shape) != tuple(param.shape):
            raise ValueError(
                f"{step}: {name} has shape {tuple(array.shape)} but the parameter has shape "
                f"{tuple(param.shape)}; they must match"
            )


def _state_array(value: Any, p: Tensor, where: str) -> Any:
    """A saved state array as a fresh C-contiguous array on ``p``'s device, in ``p``'s dtype."""
    if isinstance(value, Tensor):
        value = value.data
    if not hasattr(value, "shape"):
        raise TypeError(f"load_state_dict: {where} must be an array, got {type(value).__name__}")
    if tuple(value.shape) != tuple(p.data.shape):
        raise ValueError(
            f"load_state_dict: {where} has shape {tuple(value.shape)} but its parameter has "
            f"shape {tuple(p.data.shape)}; was the state dict saved from another model?"
        )
    array = backend.to_device(value, p.device)
    return p.xp.array(array, dtype=p.data.dtype, order="C", copy=True)


def _param_index(key: Any) -> int | None:
    """The parameter number a state key stands for (0 or "0"), or None for a named entry."""
    if isinstance(key, bool):
        return None
    if isinstance(key, numbers.Integral):
        return int(key)
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``step``, ``zero_grad``, state dicts.

    Subclasses set ``state_keys`` (the per-parameter state entries, for load checks),
    implement ``_update(p, grad, state, group)`` for one parameter, and may override
    ``_check_group(group)`` to validate hyper-parameters.
    """

    #: Names of the entries of ``state[p]``; ``load_state_dict`` rejects any other.
    state_keys: ClassVar[frozenset[str]] = frozenset()
    #: Those entries of ``state[p]`` that are numbers (step counts); the rest are arrays
    #: with the parameter's shape.
    scalar_state_keys: ClassVar[frozenset[str]] = frozenset({"step"})
    #: Names of optimizer-wide entries of ``state`` (string keys), e.g. MADGRAD's "k".
    global_state_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults: dict[str, Any] = dict(defaults)
        self.state: defaultdict[Any, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        name = type(self).__name__
        if isinstance(params, (Tensor, dict, str)) or not isinstance(params, Iterable):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors (e.g. model.parameters()) or "
                f"of dicts (parameter groups), got {type(params).__name__}"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: params must be an ordered collection (a list), not a set: the "
                "order of parameters must be the same from run to run for state dicts"
            )
        items = list(params)
        if not items:
            raise ValueError(f"{name}: got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        for group in groups:
            self.add_param_group(group)  # checks the parameters and hyper-parameters

    # -- groups -------------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with hyper-parameters defaulting to the constructor's.

        Useful to start training a frozen part of a model: the new group's keys override
        ``defaults``. A parameter may belong to only one group.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}: a parameter group must be a dict with a 'params' key, got "
                f"{type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise KeyError(f"{name}: a parameter group needs a 'params' key; got keys "
                           f"{sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: params must be an ordered collection (a list), not a set: the "
                "order of parameters must be the same from run to run for state dicts"
            )
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: can only optimize Tensors (Parameters), but params[{i}] is a "
                    f"{type(p).__name__}"
                )
            if p.dtype.kind != "f":
                raise TypeError(
                    f"{name}: can only optimize floating-point tensors, but params[{i}] has "
                    f"dtype {p.dtype}"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: params[{i}] (shape {p.shape}) is not a leaf: it was computed "
                    "by an operation. Optimize the Parameters it was made from, or detach it."
                )
        seen: set[int] = set()
        for p in params:
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter (shape {p.shape}) appears twice in a group")
            seen.add(id(p))
        for group in self.param_groups:
            if any(id(q) in seen for q in group["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one group")
        group = {k: v for k, v in param_group.items() if k != "params"}
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyper-parameters (subclasses add their own checks)."""
        check_number(type(self).__name__, "lr", group.get("lr", 0.0), low=0.0)

    # -- the step ---------------------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: set them to None (default), or to fresh zero arrays."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    # A new array, not an in-place fill: the engine may share a gradient
                    # array between tensors.
                    p.grad = Tensor._wrap(p.xp.zeros_like(p.grad.data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss if given.

        ``closure`` (optional) recomputes the loss with gradients on: zero the gradients,
        run the model, call backward, return the loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    self._update(p, grad.data, self.state[p], group)
                    p._version.value += 1
        return loss

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update one parameter in place (``p.data``) from its gradient array."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update()")

    # -- state dicts --------------------------------------------------------------------

    def _params(self) -> list[Tensor]:
        return list(chain.from_iterable(g["params"] for g in self.param_groups))

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state and hyper-parameters; see the module docstring for the layout."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state: dict[Any, Any] = {}
        for key, value in self.state.items():
            if isinstance(key, Tensor):
                if id(key) in index and value:
                    state[index[id(key)]] = dict(value)
            else:
                state[key] = value
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`: hyper-parameters and copies of the state arrays.

        The optimizer must have been built over the same parameters, grouped the same way.
        Nothing changes unless the whole state dict is valid.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict: expected a dict, got "
                            f"{type(state_dict).__name__}")
        expected = {"state", "param_groups"}
        for key in state_dict:
            if key not in expected:
                raise KeyError(f"{name}.load_state_dict: unknown key {key!r}"
                               f"{_closest(key, expected)}; expected 'state' and 'param_groups'")
        for key in expected:
            if key not in state_dict:
                raise KeyError(f"{name}.load_state_dict: missing key {key!r}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                f"groups, this optimizer has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for i, (saved, live) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{name}.load_state_dict: param_groups[{i}] must be a dict "
                                 "with a 'params' list")
            if len(saved["params"]) != len(live["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param_groups[{i}] has {len(saved['params'])} "
                    f"parameters in the state dict but {len(live['params'])} here"
                )
            allowed = set(self.defaults) | set(live) | _EXTRA_GROUP_KEYS
            for key in saved:
                if key not in allowed:
                    raise KeyError(
                        f"{name}.load_state_dict: unknown key {key!r} in param_groups[{i}]"
                        f"{_closest(key, allowed)}"
                    )
            group = {}
            for key, value in saved.items():
                if key == "params":
                    continue
                # JSON turns tuples (betas) into lists: give them back their type.
                if isinstance(self.defaults.get(key), tuple) and isinstance(value, list):
                    value = tuple(value)
                group[key] = value
            group["params"] = live["params"]
            self._check_group(group)
            new_groups.append(group)
            for index, p in zip(saved["params"], live["params"]):
                by_index[int(index)] = p
        new_state: defaultdict[Any, Any] = defaultdict(dict)
        for key, value in dict(state_dict["state"]).items():
            index = _param_index(key)
            if index is None:
                if key not in self.global_state_keys:
                    valid = sorted(self.global_state_keys)
                    raise KeyError(
                        f"{name}.load_state_dict: unknown state entry {key!r}"
                        f"{_closest(key, valid)}; parameters are numbered 0, 1, ..."
                        + (f" and the optimizer-wide entries are {valid}" if valid else "")
                    )
                new_state[key] = self._load_scalar(key, value)
                continue
            if index not in by_index:
                raise KeyError(f"{name}.load_state_dict: state for parameter {index}, but the "
                               f"groups list only {len(by_index)} parameters")
            p = by_index[index]
            entry = {}
            for skey, svalue in dict(value).items():
                if skey not in self.state_keys:
                    raise KeyError(
                        f"{name}.load_state_dict: unknown key {skey!r} in the state of "
                        f"parameter {index}{_closest(skey, self.state_keys)}; {name} keeps "
                        f"{sorted(self.state_keys)}"
                    )
                if skey in self.scalar_state_keys:
                    entry[skey] = self._load_scalar(skey, svalue)
                else:
                    entry[skey] = _state_array(svalue, p, f"state[{index}][{skey!r}]")
            new_state[p] = entry
        self.param_groups[:] = new_groups
        self.state = new_state

    def _load_scalar(self, key: str, value: Any) -> int | float:
        """A non-array state entry (a step count) as a plain Python number."""
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{type(self).__name__}.load_state_dict: state entry {key!r} must "
                            f"be a number, got {value!r}")
        return int(value) if float(value).is_integer() else float(value)

    # -- display --------------------------------------------------------------------------

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
