"""``Module`` and ``Parameter``: the containers every layer and model is built from.

As in PyTorch, assigning a ``Parameter`` or a ``Module`` to an attribute registers it, so
``parameters()``, ``state_dict()``, ``train()`` and ``to()`` find it without any list to
keep up to date. Buffers (running statistics, say) are registered with
``register_buffer`` and saved in the state dict, but are not parameters.
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import RemovableHandle, Tensor


class Parameter(Tensor):
    """A tensor that a Module trains: a leaf with ``requires_grad=True`` by default."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model.

    Subclasses set their parameters and submodules as attributes in ``__init__`` and
    define ``forward``; calling the module calls ``forward``.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ----------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run: call "
                "super().__init__() first in your module's __init__"
            )
        for store in ("_parameters", "_modules", "_buffers"):
            self.__dict__[store].pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in ("_parameters", "_modules", "_buffers"):
            if name in self.__dict__[store]:
                del self.__dict__[store][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name`` (``None`` records an absent optional one)."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value: Tensor | None) -> None:
        """Register a tensor that is saved in the state dict but not trained."""
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = value

    def add_module(self, name: str, module: Module | None) -> None:
        if module is None:
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    # -- calling ------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        pre_hooks = self.__dict__.get("_forward_pre_hooks")
        hooks = self.__dict__.get("_forward_hooks")
        if not pre_hooks and not hooks:
            return self.forward(*args, **kwargs)
        for hook in list((pre_hooks or {}).values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        output = self.forward(*args, **kwargs)
        for hook in list((hooks or {}).values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    def register_forward_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward (``inputs`` is the
        tuple of positional arguments); a value it returns replaces the output. As in
        PyTorch, e.g. to record activations:

        >>> seen = {}
        >>> handle = model.fc1.register_forward_hook(lambda m, i, o: seen.update(fc1=o))
        >>> handle.remove()   # when done
        """
        return RemovableHandle(self._hook_store("_forward_hooks"), hook)

    def register_forward_pre_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a value it returns (a tuple,
        or a single input) replaces the positional inputs."""
        return RemovableHandle(self._hook_store("_forward_pre_hooks"), hook)

    def _hook_store(self, name: str) -> dict[int, Any]:
        if name not in self.__dict__:  # made on first use: most modules never have hooks
            object.__setattr__(self, name, {})
        return self.__dict__[name]

    # -- traversal ------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule, depth first, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = list(module._modules.items())
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, each parameter once even if shared."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for module_name, module in modules:
            for name, p in module._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for module_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{module_name}.{name}" if module_name else name), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self, trainable_only: bool = True) -> int:
        """How many numbers the module trains (or holds, with ``trainable_only=False``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- modes --------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch norm uses batch statistics)."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._wrap(p.grad.xp.zeros_like(p.grad.data))

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # -- devices and dtypes ----------------------------------------------------------

    def to(self, device: Any = None, dtype: Any = None) -> Module:
        """Move (in place) every parameter and buffer to ``device`` and/or cast to ``dtype``.

        Parameters keep their identity, so an optimizer made before ``to()`` still holds
        them (its state is not moved; make the optimizer after moving the model).
        """
        from tinyrpn.autograd import as_dtype, device_or_dtype

        if device is not None:
            device, as_type = device_or_dtype(device, f"{type(self).__name__}.to")
            dtype = as_type if device is None else dtype
        target_dtype = as_dtype(dtype) if dtype is not None else None

        def convert(t: Tensor) -> None:
            array = t.data
            if device is not None:
                array = backend.to_device(array, device)
            if target_dtype is not None and np.issubdtype(array.dtype, np.floating):
                array = array.astype(target_dtype)
            if array is not t.data:
                t.data = array
                if t.grad is not None:
                    t.grad = None

        for p in self.parameters():
            convert(p)
        for b in self.buffers():
            convert(b)
        return self

    def float(self) -> Module:
        return self.to(dtype=np.float32)

    def double(self) -> Module:
        return self.to(dtype=np.float64)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    # -- state dicts ------------------------------------------------------------------

    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Every parameter and buffer by dotted name (``layers.0.weight``), detached."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = p.detach()
        for name, b in self.named_buffers():
            state[name] = b.detach()
        return state

    def load_state_dict(
        self, state_dict: dict[str, Any], strict: bool = True
    ) -> tuple[list[str], list[str]]:
        """Copy values into this module's parameters and buffers, by name.

        With ``strict=True`` (the default) a missing or unexpected key, or a shape that
        differs, raises an error naming it. Returns (missing keys, unexpected keys).
        """
        own = dict(self.named_parameters())
        own.update(dict(self.named_buffers()))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            lines = []
            for k in missing:
                lines.append(f"missing key {k!r}")
            for k in unexpected:
                close = difflib.get_close_matches(k, list(own), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                lines.append(f"unexpected key {k!r}{hint}")
            raise KeyError(f"load_state_dict into {type(self).__name__}: " + "; ".join(lines))
        for name, value in state_dict.items():
            if name not in own:
                continue
            target = own[name]
            array = value.data if isinstance(value, Tensor) else value
            if tuple(np.shape(array)) != target.shape:
                raise ValueError(
                    f"load_state_dict: {name!r} has shape {tuple(np.shape(array))} in the "
                    f"state dict but {target.shape} in the model"
                )
            target.data = backend.to_device(np.asarray(array) if not hasattr(array, "dtype")
                                            else array, target.device).astype(target.dtype,
                                                                                copy=True)
            target._version.value += 1
        return missing, unexpected

    # -- printing ----------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its repr (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}(" + (extra if extra else "")]
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        lines.append(")")
        return "\n".join(lines)

    def __dir__(self) -> Iterable[str]:
        return list(super().__dir__()) + list(self._parameters) + list(self._modules) + list(
            self._buffers
        )


class Sequential(Module):
    """y = f_k(… f_2(f_1(x))): modules applied one after another, shapes as they chain.

    ``Sequential(Linear(784, 10), LogSoftmax(1))`` maps (N, 784) to (N, 10).
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(str(name), m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(
                        f"Sequential: item {i} is a {type(m).__name__}, not a Module"
                    )
                self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*items[index])
        return items[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules, registered so that their parameters are found."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        for m in modules or []:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())
