"""The registry: every name a config may use, what keys it takes, and how it is built.

A config never names a Python object. It names an entry of a registry of known names
(``reconciliation: {type: dual_lphm, p: 8, q: 784, r: 5}``), and the entry says which keys
it takes (a :class:`~tinyrpn.config.schema.Section`, with defaults) and how to build the
object from them. There is one registry per kind::

    dataset  transform  augment  model  expansion  postprocess  reconciliation
    remainder  loss  optimizer  scheduler

The classes behind the names are imported only when an object is built, so loading and
checking a config is quick and does not need the rest of the engine.

Adding a name is one ``register`` call::

    REGISTRIES["loss"].register(
        "huber", {"delta": Field(Float(positive=True), 1.0)},
        build=lambda p: nn.HuberLoss(delta=p["delta"]), doc="Huber loss",
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..data.mnist import LECUN1989_DRAWS
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

__all__ = [
    "KINDS",
    "REGISTRIES",
    "Entry",
    "NamedList",
    "Registry",
    "Typed",
]


@dataclass
class Entry:
    """One known name of one kind: its keys, its builder, and a line of documentation.

    ``shorthand`` names the key that a bare value fills (``{random_shift: 1}`` means
    ``{random_shift: {max_shift: 1}}``). ``validate`` runs after the keys are checked, for
    rules that involve several keys; it may return a normalised dict.
    """

    kind: str
    name: str
    params: dict[str, Field]
    build: Callable[..., Any] | None
    doc: str = ""
    shorthand: str | None = None
    validate: Callable[[dict[str, Any], str, Context], dict[str, Any] | None] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def section(self) -> Section:
        return Section(self.params, what="key", owner=f"{self.kind} {self.name!r}",
                       validate=self.validate)


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
        build: Callable[..., Any] | None = None,
        doc: str = "",
        shorthand: str | None = None,
        validate: Callable[..., Any] | None = None,
        **info: Any,
    ) -> Entry:
        if name in self.entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        entry = Entry(self.kind, name, dict(params or {}), build, doc, shorthand, validate,
                      dict(info))
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


# --------------------------------------------------------------------------- helpers

def _reduction() -> Field:
    return Field(Str(["mean", "sum", "none"], what="reduction"), "mean",
                 "how the per-example losses are combined")


def _betas() -> Spec:
    return ListOf(Float(min=0.0, max=1.0), min_len=2)


def _check_betas(params: dict[str, Any], path: str, ctx: Context) -> None:
    if len(params["betas"]) != 2 or not all(0.0 <= b < 1.0 for b in params["betas"]):
        raise ctx.error(join_path(path, "betas"),
                        f"expected two numbers in [0, 1), got {params['betas']}")


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


def _build_random_shift(params: dict[str, Any], seed: Any = None) -> Any:
    from tinyrpn.data import RandomShift

    return RandomShift(params["max_shift"], seed=seed, numpy_seed=params["numpy_seed"])


REG["augment"].register(
    "random_shift", {
        "max_shift": Field(Int(min=0), REQUIRED, "largest shift in pixels"),
        "numpy_seed": Field(Nullable(Int(min=0)), None,
                            "draw the shifts from numpy.random.RandomState(numpy_seed), "
                            "randint(-k, k + 1, size=2) per image, as modern.py of "
                            "karpathy/lecun1989-repro does after np.random.seed (null: "
                            "tinyrpn's stream from seed)"),
    },
    build=_build_random_shift, shorthand="max_shift",
    doc="roll each training image by a random -k..k pixels in y and x (wrapping)",
)

# --------------------------------------------------------------------------- losses


def _build_loss(class_name: str) -> Callable[[dict[str, Any]], Any]:
    def build(params: dict[str, Any]) -> Any:
        from tinyrpn import nn

        return getattr(nn, class_name)(**params)

    return build


REG["loss"].register(
    "cross_entropy", {"reduction": _reduction()}, build=_build_loss("CrossEntropyLoss"),
    doc="softmax cross-entropy on raw scores and class-index targets (nn.CrossEntropyLoss)",
)
REG["loss"].register(
    "nll", {"reduction": _reduction()}, build=_build_loss("NLLLoss"),
    doc="negative log-likelihood of log-probabilities (nn.NLLLoss); pair with log_softmax",
)
REG["loss"].register(
    "mse", {"reduction": _reduction()}, build=_build_loss("MSELoss"),
    doc="mean squared error (nn.MSELoss); pair with targets: pm1",
)

# --------------------------------------------------------------------------- optimizers


def _build_optimizer(class_name: str) -> Callable[..., Any]:
    def build(params: dict[str, Any], parameters: Any) -> Any:
        from tinyrpn import optim

        kwargs = dict(params)
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        return getattr(optim, class_name)(parameters, **kwargs)

    return build


def _validate_adam(params: dict[str, Any], path: str, ctx: Context) -> None:
    _check_betas(params, path, ctx)


def _validate_sgd(params: dict[str, Any], path: str, ctx: Context) -> None:
    if params["nesterov"] and (params["momentum"] <= 0 or params["dampening"] != 0):
        raise ctx.error(join_path(path, "nesterov"),
                        f"nesterov: true needs momentum > 0 and dampening 0, got momentum "
                        f"{params['momentum']} and dampening {params['dampening']}")


def _validate_madgrad(params: dict[str, Any], path: str, ctx: Context) -> None:
    if params["momentum"] >= 1.0:
        raise ctx.error(join_path(path, "momentum"),
                        f"expected a number in [0, 1), got {params['momentum']}")


REG["optimizer"].register(
    "sgd",
    {
        "lr": Field(Float(positive=True), 1.0e-3, "learning rate"),
        "momentum": Field(Float(min=0.0), 0.0),
        "dampening": Field(Float(min=0.0), 0.0),
        "weight_decay": Field(Float(min=0.0), 0.0),
        "nesterov": Field(Bool(), False),
    },
    build=_build_optimizer("SGD"), validate=_validate_sgd, state_per_param=0,
    doc="stochastic gradient descent (optim.SGD)",
)
REG["optimizer"].register(
    "adam",
    {
        "lr": Field(Float(positive=True), 1.0e-3, "learning rate"),
        "betas": Field(_betas(), [0.9, 0.999]),
        "eps": Field(Float(positive=True), 1.0e-8),
        "weight_decay": Field(Float(min=0.0), 0.0, "L2 penalty added to the gradient"),
        "amsgrad": Field(Bool(), False, "use the maximum of past squared gradients"),
    },
    build=_build_optimizer("Adam"), validate=_validate_adam, state_per_param=2,
    doc="Adam (optim.Adam)",
)
REG["optimizer"].register(
    "adamw",
    {
        "lr": Field(Float(positive=True), 1.0e-3, "learning rate"),
        "betas": Field(_betas(), [0.9, 0.999]),
        "eps": Field(Float(positive=True), 1.0e-8),
        "weight_decay": Field(Float(min=0.0), 1.0e-2, "decoupled weight decay"),
        "amsgrad": Field(Bool(), False, "use the maximum of past squared gradients"),
    },
    build=_build_optimizer("AdamW"), validate=_validate_adam, state_per_param=2,
    doc="Adam with decoupled weight decay (optim.AdamW)",
)
REG["optimizer"].register(
    "madgrad",
    {
        "lr": Field(Float(positive=True), 1.0e-2, "learning rate"),
        "momentum": Field(Float(min=0.0, max=1.0), 0.9),
        "weight_decay": Field(Float(min=0.0), 0.0),
        "eps": Field(Float(positive=True), 1.0e-6),
    },
    build=_build_optimizer("MADGRAD"), validate=_validate_madgrad, state_per_param=3,
    doc="MADGRAD, Defazio & Jelassi 2021 (optim.MADGRAD)",
)

# --------------------------------------------------------------------------- schedulers


def _build_scheduler(class_name: str) -> Callable[..., Any]:
    def build(params: dict[str, Any], optimizer: Any) -> Any:
        from tinyrpn.optim import lr_scheduler

        return getattr(lr_scheduler, class_name)(optimizer, **params)

    return build


def _validate_multistep(params: dict[str, Any], path: str, ctx: Context) -> None:
    m = params["milestones"]
    if any(b <= a for a, b in zip(m, m[1:])):
        raise ctx.error(join_path(path, "milestones"), f"must be increasing, got {m}")


REG["scheduler"].register(
    "exponential", {"gamma": Field(Float(positive=True), REQUIRED, "lr factor per epoch")},
    build=_build_scheduler("ExponentialLR"), doc="lr <- lr * gamma every epoch (ExponentialLR)",
)
REG["scheduler"].register(
    "multistep",
    {
        "milestones": Field(ListOf(Int(min=1), min_len=1), REQUIRED, "epochs where lr drops"),
        "gamma": Field(Float(positive=True), 0.1),
    },
    build=_build_scheduler("MultiStepLR"), validate=_validate_multistep,
    doc="lr <- lr * gamma at each milestone epoch (MultiStepLR)",
)
REG["scheduler"].register(
    "step",
    {"step_size": Field(Int(min=1), REQUIRED), "gamma": Field(Float(positive=True), 0.1)},
    build=_build_scheduler("StepLR"), doc="lr <- lr * gamma every step_size epochs (StepLR)",
)
REG["scheduler"].register(
    "linear",
    {
        "start_factor": Field(Float(positive=True), 1.0 / 3.0),
        "end_factor": Field(Float(min=0.0), 1.0),
        "total_iters": Field(Int(min=1), 5, "epochs over which the factor moves"),
    },
    build=_build_scheduler("LinearLR"),
    doc="lr factor moves linearly from start_factor to end_factor over total_iters epochs",
)

# --------------------------------------------------------------------------- rpn parts
#
# Each expansion entry carries `D(m, params)`: the expansion size for m inputs. Each
# reconciliation entry carries `shape_error(n, D, params)` (why it cannot build an n x D
# matrix, or None) and `l(n, D, params)`, its parameter count. Postprocess and remainder
# entries carry `params_count`. These entries have no `build`: rpn_build.py makes the
# tinyrpn.rpn objects, from a table with one class per name here (a test checks that the
# names agree).


def _taylor_D(m: int, params: dict[str, Any]) -> int:
    # kappa(x) = [x, x (x) x, ..., x^(x)d]: all products of k inputs for k = 1..d
    return sum(m**k for k in range(1, params["d"] + 1))


def _rbf_count(params: dict[str, Any]) -> int:
    c = params["centers"]
    return c if isinstance(c, int) else len(c)


def _validate_range(key: str) -> Callable[[dict[str, Any], str, Context], None]:
    def validate(params: dict[str, Any], path: str, ctx: Context) -> None:
        lo_hi = params[key]
        if len(lo_hi) != 2 or not lo_hi[1] > lo_hi[0]:
            raise ctx.error(join_path(path, key), f"expected [low, high] with low < high, "
                            f"got {lo_hi}")

    return validate


_RANGE = ListOf(Float(), min_len=2)
REG["expansion"].register(
    "identity", build=None, D=lambda m, p: m,
    doc="kappa(x) = x (D = m): the head is a linear layer",
)
REG["expansion"].register(
    "taylor", {"d": Field(Int(min=1), 2, "degree: D = m + m^2 + ... + m^d")},
    build=None, D=_taylor_D,
    doc="Taylor expansion [x, vec(x x^T), ...] without the constant term",
)
REG["expansion"].register(
    "chebyshev", {"d": Field(Int(min=1), 5, "T_1 .. T_d of every feature: D = m d")},
    build=None, D=lambda m, p: m * p["d"],
    doc="Chebyshev polynomials T_1..T_d of each feature",
)
REG["expansion"].register(
    "gaussian_rbf",
    {
        "centers": Field(AnyOf(Int(min=1), ListOf(Float(), min_len=1)), 10,
                         "K centres evenly spaced over base_range, or the list of centres"),
        "sigma": Field(Float(positive=True), 1.0, "width"),
        "base_range": Field(_RANGE, [-1.0, 1.0]),
    },
    build=None, D=lambda m, p: m * _rbf_count(p),
    validate=_validate_range("base_range"),
    doc="exp(-((x_i - c_k)/sigma)^2) for every feature i and centre k: D = m K",
)
REG["expansion"].register(
    "bspline",
    {
        "grid_range": Field(_RANGE, [-1.0, 1.0]),
        "t": Field(Int(min=1), 5, "intervals of the grid"),
        "d": Field(Int(min=0), 3, "degree"),
    },
    build=None, D=lambda m, p: m * (p["t"] + p["d"]),
    validate=_validate_range("grid_range"),
    doc="the t + d B-splines of degree d of every feature: D = m (t + d)",
)

REG["postprocess"].register(
    "layer_norm",
    {
        "eps": Field(Float(positive=True), 1.0e-5),
        "affine": Field(Bool(), True, "learn a weight and bias per feature (2 D parameters)"),
    },
    build=None, params_count=lambda D, p: 2 * D if p["affine"] else 0,
    doc="LayerNorm over the whole expansion (its D features)",
)
for _name in ("relu", "tanh", "sigmoid"):
    REG["postprocess"].register(
        _name, build=None, params_count=lambda D, p: 0,
        doc=f"{_name}, elementwise",
    )

_LAYOUT = Field(
    Str(["kron", "tinybig"], what="layout"), "kron",
    "kron: W = A (x) B as documented; tinybig: W = reshape(vec(A) vec(B)^T, (n, D)) "
    "as tinyBIG 0.1.1 computes it",
)


def _fill_q(params: dict[str, Any], path: str, ctx: Context) -> dict[str, Any]:
    if params.get("q") is None:
        params["q"] = params["p"]  # tinyBIG's default: q = p
    return params


def _no_check(n: int, D: int, p: dict[str, Any]) -> None:
    return None


def _hm_shape_error(n: int, D: int, p: dict[str, Any]) -> str | None:
    if n % p["p"] or D % p["q"]:
        return (f"p={p['p']} must divide n={n} and q={p['q']} must divide D={D} "
                f"(n % p = {n % p['p']}, D % q = {D % p['q']})")
    return None


def _hm_l(kind: str) -> Callable[[int, int, dict[str, Any]], int]:
    def count(n: int, D: int, p: dict[str, Any]) -> int:
        s, t = n // p["p"], D // p["q"]
        if kind == "hm":
            return p["p"] * p["q"] + s * t
        if kind == "lphm":
            return p["p"] * p["q"] + p["r"] * (s + t)
        return p["r"] * (p["p"] + p["q"] + s + t)

    return count


def _hm_family(extra: dict[str, Field]) -> dict[str, Field]:
    return {
        "p": Field(Int(min=1), 2, "rows of A; must divide n"),
        "q": Field(Nullable(Int(min=1)), None, "columns of A; must divide D (default: p)"),
        **extra,
        "layout": _LAYOUT,
    }


_RANK = Field(Int(min=1), 2, "rank of the low-rank factors")
REG["reconciliation"].register(
    "identity", build=None, l=lambda n, D, p: n * D,
    shape_error=_no_check, doc="W = w reshaped to n x D (l = n D)",
)
REG["reconciliation"].register(
    "lorr", {"r": _RANK}, build=None,
    l=lambda n, D, p: p["r"] * (n + D), shape_error=_no_check,
    doc="low rank: W = A B^T, A n x r, B D x r (l = r (n + D))",
)
REG["reconciliation"].register(
    "hm", _hm_family({}), build=None, validate=_fill_q,
    l=_hm_l("hm"), shape_error=_hm_shape_error,
    doc="hypercomplex: W = A (x) B, A p x q, B (n/p) x (D/q) (l = pq + st)",
)
REG["reconciliation"].register(
    "lphm", _hm_family({"r": _RANK}), build=None, validate=_fill_q,
    l=_hm_l("lphm"), shape_error=_hm_shape_error,
    doc="low-rank hypercomplex: W = A (x) (S T^T) (l = pq + r (s + t))",
)
REG["reconciliation"].register(
    "dual_lphm", _hm_family({"r": _RANK}), build=None,
    validate=_fill_q, l=_hm_l("dual_lphm"), shape_error=_hm_shape_error,
    doc="dual low-rank hypercomplex: W = (P Q^T) (x) (S T^T) (l = r (p + q + s + t))",
)

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "silu", "gelu", "leaky_relu", "softplus")
REG["remainder"].register(
    "zero", build=None, params_count=lambda m, n, p: 0,
    shape_error=lambda m, n, p: None, doc="pi(x) = 0 (no parameters)",
)
REG["remainder"].register(
    "identity", build=None, params_count=lambda m, n, p: 0,
    shape_error=lambda m, n, p: None if m == n else
    f"pi(x) = x needs m == n, got m={m}, n={n} (use linear or zero)",
    doc="pi(x) = x, a residual connection (needs m == n)",
)
REG["remainder"].register(
    "linear", {"bias": Field(Bool(), False, "add a learned bias b"),
               "activation": Field(ListOf(Str(_ACTIVATIONS, what="activation")), [],
                                   "applied to pi(x), in order (e.g. [silu])")},
    build=None,
    params_count=lambda m, n, p: n * m + (n if p["bias"] else 0),
    shape_error=lambda m, n, p: None, doc="pi(x) = x W'^T (+ b), W' n x m",
)
