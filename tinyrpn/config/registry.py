"""The registry: every name a config may use, the class it names, and the keys it takes.

A config never names a Python object. It names an entry of a registry of known names
(``optimizer: {type: adamw, lr: 2.0e-3}``), and the entry names the class behind it
(``optim.AdamW``) and the keys a config may give it. There is one registry per kind::

    dataset  transform  augment  model  expansion  postprocess  reconciliation
    remainder  loss  optimizer  scheduler

The class is the single source of truth. An entry adds only what a YAML file needs and
the class cannot say: the name a config writes, and each key's type and line of help.
A key written ``arg(spec, help)`` takes its default from the class's signature
(``inspect.signature``), so ``optim.AdamW``'s ``weight_decay=1e-2`` is written once, in
``AdamW.__init__``; sizes and checks come from the classes too (``registry_rpn``).

Adding a class is one ``register`` call::

    REGISTRIES["loss"].register("huber", {"delta": arg(Float(positive=True))},
                                cls=HuberLoss, doc="Huber loss")
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tinyrpn import nn, optim
from tinyrpn.data import RandomShift
from tinyrpn.data.mnist import LECUN1989_DRAWS
from tinyrpn.optim import lr_scheduler

from .schema import (
    REQUIRED,
    AnyOf,
    Bool,
    Context,
    Field,
    Float,
    Int,
    ListOf,
    Nullable,
    Section,
    Spec,
    Str,
    closest,
    join_path,
    type_name,
)

__all__ = ["KINDS", "REGISTRIES", "Entry", "NamedList", "Registry", "Typed", "arg",
           "class_defaults"]

FROM_CLASS: Any = object()  # sentinel: this key's default is the class's


def arg(spec: Spec, doc: str = "") -> Field:
    """A key that is an argument of the entry's class: its default comes from the class."""
    return Field(spec, FROM_CLASS, doc)


def class_defaults(cls: Callable[..., Any]) -> dict[str, Any]:
    """Each keyword of ``cls``'s constructor and its default (REQUIRED where it has none)."""
    out = {}
    for name, p in inspect.signature(cls).parameters.items():
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out[name] = REQUIRED if p.default is p.empty else p.default
    return out


def as_config_value(value: Any, spec: Spec) -> Any:
    """A Python default as a config writes it: a tuple is a list, and a list key whose
    class default is None (no steps) is the empty list."""
    if isinstance(value, tuple):
        return list(value)
    if value is None and isinstance(spec, ListOf):
        return []
    return value


@dataclass
class Entry:
    """One known name of one kind: its class (or builder), its keys, a line of help.

    ``shorthand`` names the key that a bare value fills (``{random_shift: 1}`` means
    ``{random_shift: {max_shift: 1}}``). ``validate`` runs after the keys are checked, for
    rules that involve several keys; it may return a normalised dict. ``check(entry,
    params)`` builds a sample object, so that what the class refuses fails when the
    config is loaded (a ConfigError at the entry's path), not in the middle of a run.
    """

    kind: str
    name: str
    params: dict[str, Field]
    build: Callable[..., Any] | None
    doc: str = ""
    shorthand: str | None = None
    validate: Callable[[dict[str, Any], str, Context], dict[str, Any] | None] | None = None
    cls: Callable[..., Any] | None = None
    check: Callable[[Entry, dict[str, Any]], Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def section(self) -> Section:
        return Section(self.params, what="key", owner=f"{self.kind} {self.name!r}",
                       validate=self._validate)

    def _validate(self, params: dict[str, Any], path: str, ctx: Context) -> dict[str, Any]:
        if self.validate is not None:
            params = self.validate(params, path, ctx) or params
        if self.check is not None:
            # the class's own checks: build a sample object, report what it raises
            try:
                self.check(self, params)
            except (ValueError, TypeError) as error:
                problem = getattr(error, "problem", str(error))
                # "AdamW: betas[1] must be in [0, 1), got 1.0" is about the key betas
                said = problem.split(": ", 1)[-1]
                key = next((k for k in self.params if said.startswith((k, f"{k}["))
                            and not said[len(k):len(k) + 1].isalnum()), None)
                raise ctx.error(path if key is None else join_path(path, key),
                                problem) from None
        return params

    def arguments(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The class's keyword arguments for checked keys ``params`` (``type`` left out; a
        list becomes a tuple where the class's default is a tuple)."""
        defaults = class_defaults(self.cls) if self.cls is not None else {}
        return {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple)
                else v for k, v in params.items() if k != "type"}

    def make(self, params: Mapping[str, Any], *args: Any, **extra: Any) -> Any:
        """``cls(*args, **keys, **extra)``: the object of checked keys ``params``."""
        assert self.cls is not None, f"{self.kind} {self.name!r} names no class"
        return self.cls(*args, **self.arguments(params), **extra)


class Registry:
    """The known names of one kind (``model``, ``optimizer``...), each an :class:`Entry`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        params: Mapping[str, Field] | None = None,
        *,
        cls: Callable[..., Any] | None = None,
        build: Callable[..., Any] | None = None,
        doc: str = "",
        shorthand: str | None = None,
        validate: Callable[..., Any] | None = None,
        check: Callable[[Entry, dict[str, Any]], Any] | None = None,
        **info: Any,
    ) -> Entry:
        """Add ``name``. With ``cls``, every ``arg`` key takes the class's default, the
        builder is ``cls(*positional, **keys)`` unless ``build`` is given, and the help
        line defaults to the first line of the class's docstring."""
        if name in self.entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        fields = dict(params or {})
        defaults = class_defaults(cls) if cls is not None else {}
        for key, f in fields.items():
            if f.default is FROM_CLASS:
                if key not in defaults:
                    raise TypeError(f"{self.kind} {name!r}: key {key!r} is not an argument of "
                                    f"{getattr(cls, '__name__', cls)}; give it a default")
                fields[key] = Field(f.spec, as_config_value(defaults[key], f.spec), f.doc)
        if cls is not None and not doc:
            doc = (cls.__doc__ or "").strip().splitlines()[0]
        entry = Entry(self.kind, name, fields, build, doc, shorthand, validate, cls, check,
                      dict(info))
        if build is None and cls is not None:
            entry.build = entry.make
        self.entries[name] = entry
        return entry

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> Entry:
        return self.entries[name]

    def lookup(self, name: Any, path: str, ctx: Context) -> Entry:
        """The entry called ``name``, or a ConfigError naming the closest valid names."""
        if not isinstance(name, str):
            raise ctx.error(
                path, f"expected the name of a {self.kind}, got {type_name(name)}",
                valid=self.names(),
            )
        if name not in self.entries:
            raise ctx.error(
                path, f"unknown {self.kind} {name!r}",
                suggestions=closest(name, self.entries), valid=self.names(),
            )
        return self.entries[name]


KINDS = (
    "dataset", "transform", "augment", "model", "expansion", "postprocess",
    "reconciliation", "remainder", "loss", "optimizer", "scheduler",
)
REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}


class Typed(Spec):
    """An object chosen by name: ``{type: adamw, lr: 2.0e-3}``, or just ``adamw``.

    The bare-name form is shorthand for a mapping with only ``type``. The result always
    has ``type`` first and then every key of the entry, defaults filled in.
    """

    def __init__(self, kind: str, exclude: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.exclude = exclude

    def describe(self) -> str:
        return f"a {self.kind} ({{type: NAME, ...}} or NAME)"

    def check(self, value: Any, path: str, ctx: Context) -> dict[str, Any]:
        registry = REGISTRIES[self.kind]
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, Mapping):
            raise ctx.error(
                path, f"expected {self.describe()}, got {type_name(value)}",
                valid=registry.names(),
            )
        if "type" not in value:
            raise ctx.error(
                join_path(path, "type"), f"missing required key 'type' (which {self.kind})",
                valid=registry.names(),
            )
        entry = registry.lookup(value["type"], join_path(path, "type"), ctx)
        if entry.name in self.exclude:
            raise ctx.error(
                join_path(path, "type"), f"a {self.kind} {entry.name!r} cannot be used here",
            )
        params = {k: v for k, v in value.items() if k != "type"}
        return {"type": entry.name, **entry.section().check(params, path, ctx)}


class NamedList(Spec):
    """A list of named steps: ``[scale, {normalize: {mean: 0.1307, std: 0.3081}}, flatten]``.

    Each item is a bare name, or a one-key mapping ``{name: {key: value}}`` (or
    ``{name: value}`` when the entry has a shorthand key). A mapping with several keys is
    read as a list in key order, and null as an empty list. The result is a list of bare
    names (steps without keys) and one-key mappings with every key filled in.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def describe(self) -> str:
        return f"a list of {self.kind} steps (NAME or {{NAME: {{key: value}}}})"

    def check(self, value: Any, path: str, ctx: Context) -> list[Any]:
        registry = REGISTRIES[self.kind]
        if value is None:
            return []
        if isinstance(value, (str, Mapping)):
            items: list[tuple[str, Any]] = []
            if isinstance(value, str):
                items.append((path, value))
            else:
                items.extend((path, {k: v}) for k, v in value.items())
        elif isinstance(value, list):
            items = [(join_path(path, i), v) for i, v in enumerate(value)]
        else:
            raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}",
                            valid=registry.names())
        out: list[Any] = []
        for item_path, item in items:
            if isinstance(item, str):
                name, params = item, {}
                name_path = item_path
            elif isinstance(item, Mapping) and len(item) == 1:
                (name, params), = item.items()
                name_path = join_path(item_path, str(name))
            else:
                raise ctx.error(
                    item_path,
                    f"expected a {self.kind} name or a one-key mapping {{NAME: {{...}}}}, "
                    f"got {type_name(item)}",
                    valid=registry.names(),
                )
            entry = registry.lookup(name, name_path, ctx)
            if params is None:
                params = {}
            if not isinstance(params, Mapping):
                if entry.shorthand is None:
                    raise ctx.error(
                        name_path,
                        f"{self.kind} {entry.name!r} takes keys "
                        f"({', '.join(entry.params) or 'none'}), got {type_name(params)}",
                    )
                params = {entry.shorthand: params}
            checked = entry.section().check(params, name_path, ctx)
            out.append({entry.name: checked} if entry.params else entry.name)
        return out


def step_name(step: Any) -> str:
    """The name of a step in a canonical NamedList."""
    return step if isinstance(step, str) else next(iter(step))


def step_params(step: Any) -> dict[str, Any]:
    """The keys of a step in a canonical NamedList ({} for a bare name)."""
    return {} if isinstance(step, str) else dict(next(iter(step.values())))


REG = REGISTRIES

# --------------------------------------------------------------------------- datasets
#
# A dataset builder returns (train_images, train_labels, test_images, test_labels) as
# NumPy arrays: labels are int64 class indices; `data.targets` turns them into ±1 vectors
# when asked. With train=False it leaves the training files alone and returns None for
# the first two (`tinyrpn eval` needs only the test set).


def _build_mnist(params: dict[str, Any], train: bool = True) -> tuple[Any, Any, Any, Any]:
    from tinyrpn.data import MNIST

    test = MNIST(train=False, download=params["download"])
    if not train:
        return None, None, test.images, test.labels
    train_set = MNIST(train=True, download=params["download"])
    return train_set.images, train_set.labels, test.images, test.labels


def _build_lecun1989(params: dict[str, Any], train: bool = True) -> tuple[Any, Any, Any, Any]:
    import numpy as np

    from tinyrpn.data import lecun1989_subset

    seed, draw, download = params["subset_seed"], params["subset_draw"], params["download"]
    # (the test subset's indices depend on the seed and draw only, not on the training file)
    x_test, y_test = lecun1989_subset(train=False, seed=seed, draw=draw, download=download)
    x_train = y_train = None
    if train:
        x_train, y_train = lecun1989_subset(train=True, seed=seed, draw=draw, download=download)
        y_train = np.argmax(y_train, axis=1)
    # lecun1989_subset gives ±1 targets; keep class indices here like every dataset.
    return x_train, y_train, x_test, np.argmax(y_test, axis=1)


REG["dataset"].register(
    "mnist",
    {"download": Field(Bool(), True, "fetch missing files (else fail naming them)")},
    build=_build_mnist, pixels="uint8", shape=(28, 28), n_train=60000, n_test=10000,
    doc="MNIST, 60,000 train / 10,000 test uint8 28x28 images (files from $TINYRPN_DATA)",
)
REG["dataset"].register(
    "lecun1989",
    {
        "subset_seed": Field(Int(min=0), 1337, "seed of the random draw of the 7,291/2,007 images"),
        "subset_draw": Field(
            Str(LECUN1989_DRAWS, what="subset draw"), "default_rng",
            "how the seed draws them: default_rng (one generator per split), or "
            "legacy_train_first / legacy_test_first (one RandomState, as in "
            "karpathy/lecun1989-repro's prepro.py)",
        ),
        "download": Field(Bool(), True, "fetch missing MNIST files"),
    },
    build=_build_lecun1989, pixels="float", shape=(1, 16, 16), n_train=7291, n_test=2007,
    doc="LeCun 1989's 16x16 digits drawn from MNIST: x/127.5-1, bilinear 28->16, (N,1,16,16)",
)

# --------------------------------------------------------------------------- transforms
#
# A transform builder returns a function from a NumPy array (a batch or the whole set) to
# a NumPy array. `needs`/`gives` say which pixels it takes and makes, so that a config
# that would normalize uint8 pixels fails when it is loaded, not in the middle of a run.


def _build_scale(params: dict[str, Any]) -> Callable[[Any], Any]:
    from tinyrpn.data import transforms

    return transforms.to_float


def _build_normalize(params: dict[str, Any]) -> Callable[[Any], Any]:
    from tinyrpn.data import transforms

    mean, std = params["mean"], params["std"]

    def normalize(x: Any) -> Any:
        return transforms.normalize(x, mean, std)

    return normalize


def _build_flatten(params: dict[str, Any]) -> Callable[[Any], Any]:
    from tinyrpn.data import transforms

    return transforms.flatten


def _build_resize(params: dict[str, Any]) -> Callable[[Any], Any]:
    from tinyrpn.data import transforms

    size = params["size"]

    def resize(x: Any) -> Any:
        return transforms.resize_bilinear(x, size)

    return resize


REG["transform"].register(
    "scale", build=_build_scale, needs="uint8", gives="float",
    doc="uint8 pixels -> float32 in [0, 1] (x / 255)",
)
REG["transform"].register(
    "normalize",
    {"mean": Field(Float(), REQUIRED, "subtracted"), "std": Field(Float(positive=True), REQUIRED,
                                                                  "divided by")},
    build=_build_normalize, needs="float", gives="float", doc="(x - mean) / std",
)
REG["transform"].register(
    "flatten", build=_build_flatten, needs="any", gives="same", doc="(N, ...) -> (N, features)",
)
REG["transform"].register(
    "resize",
    {"size": Field(AnyOf(Int(min=1), ListOf(Int(min=1), min_len=2)), REQUIRED,
                   "output size: an int or [height, width]")},
    build=_build_resize, needs="any", gives="float", shorthand="size",
    doc="bilinear resize of the last two axes (PyTorch's, no antialias)",
)

# --------------------------------------------------------------------------- augment

REG["augment"].register(
    "random_shift", {
        "max_shift": arg(Int(min=0), "largest shift in pixels"),
        "numpy_seed": arg(Nullable(Int(min=0)),
                          "draw the shifts from numpy.random.RandomState(numpy_seed), "
                          "randint(-k, k + 1, size=2) per image, as modern.py of "
                          "karpathy/lecun1989-repro does after np.random.seed (null: "
                          "tinyrpn's stream from seed)"),
    },
    cls=RandomShift, shorthand="max_shift",
    doc="roll each training image by a random -k..k pixels in y and x (wrapping)",
)

# --------------------------------------------------------------------------- losses

_REDUCTION = arg(Str(["mean", "sum", "none"], what="reduction"),
                 "how the per-example losses are combined")
REG["loss"].register(
    "cross_entropy", {"reduction": _REDUCTION}, cls=nn.CrossEntropyLoss,
    doc="softmax cross-entropy on raw scores and class-index targets (nn.CrossEntropyLoss)",
)
REG["loss"].register(
    "nll", {"reduction": _REDUCTION}, cls=nn.NLLLoss,
    doc="negative log-likelihood of log-probabilities (nn.NLLLoss); pair with log_softmax",
)
REG["loss"].register(
    "mse", {"reduction": _REDUCTION}, cls=nn.MSELoss,
    doc="mean squared error (nn.MSELoss); pair with targets: pm1",
)

# --------------------------------------------------------------------------- optimizers
#
# An optimizer is checked by building it over one sample parameter: the ranges and rules
# (betas in [0, 1), nesterov needs momentum...) are the class's own.


def _sample_optimizer(entry: Entry, params: dict[str, Any]) -> Any:
    return entry.make(params, [nn.Parameter([0.0])])


_LR = arg(Float(positive=True), "learning rate")
_BETAS = arg(ListOf(Float(min=0.0, max=1.0), min_len=2))
_OPTIMIZER = {"check": _sample_optimizer}
REG["optimizer"].register(
    "sgd",
    {"lr": _LR, "momentum": arg(Float(min=0.0)), "dampening": arg(Float(min=0.0)),
     "weight_decay": arg(Float(min=0.0)), "nesterov": arg(Bool())},
    cls=optim.SGD, doc="stochastic gradient descent (optim.SGD)",
    **_OPTIMIZER,
)
REG["optimizer"].register(
    "adam",
    {"lr": _LR, "betas": _BETAS, "eps": arg(Float(positive=True)),
     "weight_decay": arg(Float(min=0.0), "L2 penalty added to the gradient"),
     "amsgrad": arg(Bool(), "use the maximum of past squared gradients")},
    cls=optim.Adam, doc="Adam (optim.Adam)", **_OPTIMIZER,
)
REG["optimizer"].register(
    "adamw",
    {"lr": _LR, "betas": _BETAS, "eps": arg(Float(positive=True)),
     "weight_decay": arg(Float(min=0.0), "decoupled weight decay"),
     "amsgrad": arg(Bool(), "use the maximum of past squared gradients")},
    cls=optim.AdamW,
    doc="Adam with decoupled weight decay (optim.AdamW)", **_OPTIMIZER,
)
REG["optimizer"].register(
    "madgrad",
    {"lr": _LR, "momentum": arg(Float(min=0.0, max=1.0)), "weight_decay": arg(Float(min=0.0)),
     "eps": arg(Float(positive=True))},
    cls=optim.MADGRAD,
    doc="MADGRAD, Defazio & Jelassi 2021 (optim.MADGRAD)", **_OPTIMIZER,
)

# --------------------------------------------------------------------------- schedulers


def _sample_scheduler(entry: Entry, params: dict[str, Any]) -> Any:
    return entry.make(params, _sample_optimizer(REG["optimizer"]["sgd"], {}))


REG["scheduler"].register(
    "exponential", {"gamma": arg(Float(positive=True), "lr factor per epoch")},
    cls=lr_scheduler.ExponentialLR, check=_sample_scheduler,
    doc="lr <- lr * gamma every epoch (ExponentialLR)",
)
REG["scheduler"].register(
    "multistep",
    {"milestones": arg(ListOf(Int(min=1), min_len=1), "epochs where lr drops"),
     "gamma": arg(Float(positive=True))},
    cls=lr_scheduler.MultiStepLR, check=_sample_scheduler,
    doc="lr <- lr * gamma at each milestone epoch (MultiStepLR)",
)
REG["scheduler"].register(
    "step", {"step_size": arg(Int(min=1)), "gamma": arg(Float(positive=True))},
    cls=lr_scheduler.StepLR, check=_sample_scheduler,
    doc="lr <- lr * gamma every step_size epochs (StepLR)",
)
REG["scheduler"].register(
    "linear",
    {"start_factor": arg(Float(positive=True)), "end_factor": arg(Float(min=0.0)),
     "total_iters": arg(Int(min=1), "epochs over which the factor moves")},
    cls=lr_scheduler.LinearLR, check=_sample_scheduler,
    doc="lr factor moves linearly from start_factor to end_factor over total_iters epochs",
)
