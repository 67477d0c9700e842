"""Experiment: a resolved config and the builders that turn it into objects.

``load_config`` (in ``tinyrpn.config``) returns an :class:`Experiment`; it builds the model,
the data loaders, the loss, the optimizer and the scheduler, each from the class its
registry entry names, and hands them to a :class:`tinyrpn.train.Trainer`
(:meth:`Experiment.trainer`): the experiment builds its trainer, and the trainer knows
nothing of configs.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import yaml

from .models import build_model, count_parameters, describe_model, rpn_layer_sizes
from .registry import REGISTRIES, step_name, step_params
from .schema import ConfigError, Context

__all__ = ["Experiment", "memory_estimate", "with_current_defaults"]


def _typed_text(d: dict[str, Any] | None) -> str:
    if d is None:
        return "none"
    args = ", ".join(f"{k}={v}" for k, v in d.items() if k != "type")
    return f"{d['type']}({args})" if args else str(d["type"])


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


def _step_text(step: Any) -> str:
    params = step_params(step)
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{step_name(step)}({args})" if args else step_name(step)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"  # pragma: no cover


def _unstored_expansion(head: dict[str, Any], m: int, n: int, D: int,
                        batch: int) -> tuple[str, int] | None:
    """(what, floats) when this head multiplies by its expansion without storing it.

    That is a degree-2 Taylor expansion without post-processing in front of an identity
    reconciliation (the products with [1, x] ⊗ x: ``kernels.taylor2_dense``; backward keeps
    only x, and the forward pass briefly holds batch × n × (m + 1) partial sums), or in
    front of an hm, lphm or dual_lphm reconciliation (Kronecker layout, or tinyBIG's when
    s·t divides D: contracted block by block). See ``Reconciliation.forward_expanded``.
    None otherwise.
    """
    expansion, rec = head["expansion"], head["reconciliation"]
    if expansion["type"] != "taylor" or expansion.get("d") != 2 or head["postprocess"]:
        return None
    if rec["type"] == "identity":
        return (f"expansion multiplied as [1, x] ⊗ x (never stored), partial sums "
                f"{batch} x {n} x {m + 1:,}", batch * n * (m + 1))
    if rec["type"] not in ("hm", "lphm", "dual_lphm"):
        return None
    p = rec["p"]
    q = rec.get("q") or p
    s, t = n // p, D // q
    low_rank_b = rec["type"] != "hm"
    if rec.get("layout", "kron") == "kron":
        c, width = q, rec["r"] if low_rank_b else s
    elif D % (s * t) == 0:
        c, width = D // (s * t), 1
    else:
        return None
    return (f"expansion contracted block by block (never stored), {batch} x {c:,} x {width}",
            batch * c * width)


def _activations(model: dict[str, Any], batch: int) -> list[tuple[str, int]]:
    """The larger arrays one training step keeps for backward: (what, number of floats)."""
    kind = model["type"]
    out: list[tuple[str, int]] = []
    if kind == "rpn":
        for i, (layer, sizes) in enumerate(zip(model["layers"], rpn_layer_sizes(model))):
            for j, (head, info) in enumerate(zip(layer["heads"], sizes["heads"])):
                unstored = _unstored_expansion(head, layer["m"], layer["n"], info["D"], batch)
                if unstored is not None:
                    what, floats = unstored
                    out.append((f"layer {i} head {j}: {what}", floats))
                    continue
                out.append((f"layer {i} head {j}: expansion, {batch} x {info['D']:,}",
                            batch * info["D"]))
                for p in head["postprocess"]:
                    out.append((f"layer {i} head {j}: {p['type']} output, "
                                f"{batch} x {info['D']:,}", batch * info["D"]))
            out.append((f"layer {i}: output, {batch} x {layer['n']}", batch * layer["n"]))
    elif kind == "mlp":
        sizes = model["sizes"]
        for i, s in enumerate(sizes[1:], 1):
            per = 3 if i < len(sizes) - 1 else 1  # Linear out, activation, BatchNorm
            out.append((f"layer {i}: {batch} x {s} (x{per})", per * batch * s))
    elif kind in ("lecun1989", "lecun1989_modern"):
        out.append((f"H1 {batch} x 12x8x8", 3 * batch * 12 * 8 * 8))
        out.append((f"H2 {batch} x 12x4x4", 3 * batch * 12 * 4 * 4))
    elif kind == "subspace":
        out.extend(_activations(model["base"], batch))
    return out


def state_per_parameter(optimizer: dict[str, Any], lookahead: dict[str, Any] | None) -> int:
    """How many copies of a parameter the optimizer (and Lookahead's slow weights) keep,
    asked of the classes: one step over a sample parameter of 7 numbers, then the arrays
    of 7 numbers in the optimizer's state dict are counted."""
    import numpy as np

    from tinyrpn import nn, optim

    p = nn.Parameter(np.zeros(7, dtype=np.float16))  # (a dtype no fused kernel compiles for)
    p.sum().backward()
    opt = REGISTRIES["optimizer"][optimizer["type"]].build(optimizer, [p])
    if lookahead is not None:
        opt = optim.Lookahead(opt, **lookahead)
    opt.step()

    def count(value: Any) -> int:
        if isinstance(value, dict):
            return sum(count(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(count(v) for v in value)
        return int(getattr(value, "size", None) == 7 and hasattr(value, "shape"))

    return count(opt.state_dict())


def memory_estimate(config: dict[str, Any]) -> dict[str, Any]:
    """A rough memory budget of one training step, in bytes, at the config's ``dtype``.

    parameters + gradients + optimizer state (per-parameter buffers of the optimizer and
    Lookahead's slow copy) + large buffers (a subspace's projection P) + the activations
    one step keeps for backward (the largest is named; the 64 x 615,440 Taylor expansion
    of the RPNs' layer 1 is not among them: it is never stored).
    """
    model = config["model"]
    n_params = count_parameters(model)
    float_bytes = 8 if config.get("dtype") == "float64" else 4
    per = state_per_parameter(config["optimizer"], config.get("lookahead"))
    buffers: list[tuple[str, int]] = []
    if model["type"] == "subspace" and model["dim"] != "full":
        D, d = count_parameters(model["base"]), model["dim"]
        kind = model["projection"]
        if kind in ("qr", "dense"):
            buffers.append((f"{kind} projection P, {D:,} x {d:,}", D * d))
        elif kind == "sparse":  # about d sqrt(D) (row, column, value) triples: 5 floats each
            buffers.append((f"sparse projection, about {int(d * D**0.5):,} entries",
                            5 * int(d * D**0.5)))
        else:  # Fastfood: a few vectors of the next power of two >= D
            L = 1 << (D - 1).bit_length()
            buffers.append((f"fastfood projection, vectors of {L:,}", 6 * L))
        if not model["offset"] and kind not in ("qr", "dense"):
            buffers.append((f"anchor column, {D:,}", D))
        buffers.append((f"theta0 and theta, {D:,} each", 2 * D))
    acts = _activations(model, config["data"]["batch_size"])
    largest = max(acts, key=lambda a: a[1]) if acts else ("none", 0)
    est = {
        "parameters": n_params * float_bytes,
        "gradients": n_params * float_bytes,
        "optimizer_state": per * n_params * float_bytes,
        "buffers": sum(b for _, b in buffers) * float_bytes,
        "activations": sum(a for _, a in acts) * float_bytes,
        "largest_activation": largest[1] * float_bytes,
        "largest_activation_what": largest[0],
        "buffers_what": [w for w, _ in buffers],
        "optimizer_state_per_parameter": per,
    }
    est["total"] = (est["parameters"] + est["gradients"] + est["optimizer_state"]
                    + est["buffers"] + est["activations"])
    return est


def with_current_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """A resolved config saved by an earlier tinyrpn (a checkpoint's), resolved again, so the
    keys added to the format since hold their defaults (``dtype: float32``, a random shift's
    ``numpy_seed: null``) and compare equal to today's resolution of the same file. A config
    that no longer resolves is returned as it was, for the caller to report the difference.
    """
    from .resolve import resolve

    try:
        with warnings.catch_warnings():  # e.g. a saved device that is not here: not news
            warnings.simplefilter("ignore")
            return resolve(copy.deepcopy(saved), Context(file="<checkpoint>"))
    except ConfigError:
        return saved


def _float_as(x: Any, dtype: Any) -> Any:
    """The last data step of a config with ``dtype: float64``: float arrays become ``dtype``
    (integer arrays, such as pixels no transform has scaled, stay as they are)."""
    return x.astype(dtype) if x.dtype.kind == "f" and x.dtype != dtype else x


@dataclass
class Experiment:
    """A loaded, checked config (``config``, in tinyrpn's own format) and its builders."""

    name: str
    source: str
    config: dict[str, Any]
    seed: int
    device: str
    epochs: int
    training: dict[str, Any]

    # ------------------------------------------------------------------ builders

    def build_model(self) -> Any:
        """The model, on ``self.device``. Seed first: ``tinyrpn.manual_seed(exp.seed)``.

        With ``torch_seed`` set, an RPN's weights are then replaced by the ones a tinyBIG
        script draws after ``torch.manual_seed(torch_seed)`` (``rpn.init_like_tinybig``).
        """
        model = build_model(self.config["model"])
        if self.config["torch_seed"] is not None:
            from tinyrpn.rpn import init_like_tinybig

            init_like_tinybig(model, self.config["torch_seed"])
        if self.config["dtype"] != "float32":
            model = model.to(dtype=self.config["dtype"])
        if self.device != "cpu":
            model = model.to(self.device)
        return model

    def build_data(
        self, limit_train: int | None = None, limit_test: int | None = None, *,
        train: bool = True,
    ) -> tuple[Any, Any]:
        """(train loader, test loader). The train loader shuffles with ``seed`` when
        ``data.shuffle``; ``limit_train``/``limit_test`` keep the first N examples.
        ``train=False`` reads the test files only and gives ``(None, test loader)``. With
        ``torch_seed``, both loaders draw from one PyTorch stream, positioned after the
        model's initialisation, as tinyBIG's train and test loaders do.

        Transforms are applied once to the whole set, except when ``augment`` is set: then
        each training batch is augmented first and transformed after (test data is never
        augmented).
        """
        import numpy as np

        from tinyrpn.data import Compose, DataLoader, one_hot_pm1

        data = self.config["data"]
        dataset = REGISTRIES["dataset"][data["dataset"]["type"]]
        stream = None
        if self.config["torch_seed"] is not None:
            from tinyrpn.config.models import rpn_layer_sizes
            from tinyrpn.rpn import tinybig_torch_stream

            sizes = [head["parameters"] for layer in rpn_layer_sizes(self.config["model"])
                     for head in layer["heads"]]
            stream = tinybig_torch_stream(self.config["torch_seed"], sizes)
        extra = {}
        if dataset.info.get("generated"):  # data drawn at random: the seed, or the stream
            extra = {"seed": self.seed, "stream": stream}
        x_train, y_train, x_test, y_test = dataset.build(
            {k: v for k, v in data["dataset"].items() if k != "type"}, train=train, **extra)
        for name, limit in (("limit_train", limit_train), ("limit_test", limit_test)):
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                      or limit < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {limit!r}")
        if limit_train is not None and train:
            x_train, y_train = x_train[:limit_train], y_train[:limit_train]
        if limit_test is not None:
            x_test, y_test = x_test[:limit_test], y_test[:limit_test]
        dtype = np.dtype(self.config["dtype"])
        if data["targets"] == "pm1":
            y_test = one_hot_pm1(y_test, dtype=dtype)
            y_train = one_hot_pm1(y_train, dtype=dtype) if train else None
        elif data["targets"] == "value":
            y_test = np.asarray(y_test, dtype)
            y_train = np.asarray(y_train, dtype) if train else None
        else:
            y_test = np.asarray(y_test, np.int64)
            y_train = np.asarray(y_train, np.int64) if train else None

        transforms = [REGISTRIES["transform"][step_name(s)].build(step_params(s))
                      for s in data["transforms"]]
        if dtype != np.float32:
            transforms.append(partial(_float_as, dtype=dtype))
        prepare = Compose(transforms)
        train_transform = None
        if data["augment"]:
            augment = [
                REGISTRIES["augment"][step_name(s)].build(step_params(s), seed=[self.seed, i + 1])
                for i, s in enumerate(data["augment"])
            ]
            train_transform = Compose([*augment, *transforms])
        elif train:
            x_train = prepare(x_train)
        x_test = prepare(x_test)
        train_loader = None
        if train:
            train_loader = DataLoader(
                x_train, y_train, batch_size=data["batch_size"], shuffle=data["shuffle"],
                drop_last=data["drop_last"], seed=self.seed, transform=train_transform,
                device=self.device, torch_stream=stream)
        test = DataLoader(x_test, y_test, batch_size=data["test_batch_size"], shuffle=False,
                          device=self.device, torch_stream=stream)
        return train_loader, test

    def build_loss(self) -> Callable[[Any, Any], Any]:
        loss = self.config["loss"]
        return REGISTRIES["loss"][loss["type"]].build(
            {k: v for k, v in loss.items() if k != "type"})

    def build_optimizer(self, params: Any) -> Any:
        """The optimizer over ``params``, wrapped in Lookahead when ``lookahead:`` is set."""
        opt = self.config["optimizer"]
        optimizer = REGISTRIES["optimizer"][opt["type"]].build(
            {k: v for k, v in opt.items() if k != "type"}, params)
        if self.config["lookahead"] is not None:
            from tinyrpn import optim

            optimizer = optim.Lookahead(optimizer, **self.config["lookahead"])
        return optimizer

    def build_scheduler(self, optimizer: Any) -> Any | None:
        """The learning-rate schedule (stepped once per epoch), or None."""
        sched = self.config["scheduler"]
        if sched is None:
            return None
        return REGISTRIES["scheduler"][sched["type"]].build(
            {k: v for k, v in sched.items() if k != "type"}, optimizer)

    def trainer(self, out_dir: str | os.PathLike[str] | None = None, *,
                limit_train: int | None = None, limit_test: int | None = None,
                **kwargs: Any) -> Any:
        """A :class:`tinyrpn.train.Trainer` for this experiment: seeds tinyrpn's random
        streams with ``seed``, builds the model, the loaders, the loss, the optimizer and the
        scheduler, and hands them over with the config (checked on resume).

        ``out_dir`` is the run directory (None: nothing is written); ``limit_train`` and
        ``limit_test`` keep the first N examples; ``kwargs`` go to the Trainer
        (``progress``, ``on_epoch_end``, ``meta``, ...)::

            history = load_config("mlp_small").trainer("runs/mlp_small").fit()
        """
        from tinyrpn import random as trandom
        from tinyrpn.train import Trainer

        trandom.manual_seed(self.seed)
        model = self.build_model()
        train_loader, test_loader = self.build_data(limit_train=limit_train,
                                                    limit_test=limit_test)
        optimizer = self.build_optimizer(model.parameters())
        training = dict(self.training or {})
        meta = {"config_source": str(self.source), "limit_train": limit_train,
                "limit_test": limit_test, **kwargs.pop("meta", {})}
        return Trainer(
            model, train_loader, test_loader, self.build_loss(), optimizer,
            self.build_scheduler(optimizer), epochs=self.epochs, out_dir=out_dir,
            config=self.config, seed=self.seed, eval_train=bool(training.get("eval_train")),
            eval_every_steps=training.get("eval_every_steps"), device=self.device,
            name=self.name, meta=meta, upgrade_saved_config=with_current_defaults,
            accuracy=self.config["data"]["targets"] != "value", **kwargs,
        )

    # ------------------------------------------------------------------ reporting

    def num_parameters(self) -> int:
        """Trainable parameters, in closed form from the config (nothing is built)."""
        return count_parameters(self.config["model"])

    def memory_estimate(self) -> dict[str, Any]:
        return memory_estimate(self.config)

    def to_yaml(self) -> str:
        """The resolved config as YAML (what a run directory's config.yaml holds)."""
        return yaml.safe_dump(self.config, sort_keys=False, default_flow_style=None, width=100)

    def describe(self) -> str:
        """Layers, parameter count and a memory estimate, as text (``tinyrpn info``)."""
        c = self.config
        data = c["data"]
        ds = REGISTRIES["dataset"][data["dataset"]["type"]]
        lines = [f"{self.name}  ({self.source})"]
        if c.get("description"):
            lines.append(f"  {c['description']}")
        lines.append(f"model: {c['model']['type']}, {self.num_parameters():,} parameters")
        lines += [f"  {line}" for line in describe_model(c["model"])]
        transforms = " -> ".join(_step_text(s) for s in data["transforms"]) or "none"
        augment = " -> ".join(_step_text(s) for s in data["augment"]) or "none"
        n_train, n_test = (ds.info[k](data["dataset"]) if callable(ds.info[k]) else ds.info[k]
                           for k in ("n_train", "n_test"))
        lines.append(
            f"data: {_typed_text(_without(data['dataset'], 'download'))}, "
            f"{n_train:,} train / {n_test:,} test, batch {data['batch_size']} (test "
            f"{data['test_batch_size']}), shuffle {str(data['shuffle']).lower()}, "
            f"targets {data['targets']}")
        lines.append(f"  transforms: {transforms}; augment (train only): {augment}")
        la = c["lookahead"]
        lines.append(f"loss: {_typed_text(c['loss'])}")
        lines.append(f"optimizer: {_typed_text(c['optimizer'])}"
                     + (f" in lookahead(k={la['k']}, alpha={la['alpha']})" if la else ""))
        sched = c["scheduler"]
        lines.append("scheduler: none" if sched is None
                     else f"scheduler: {_typed_text(sched)}, stepped once per epoch")
        t = self.training
        extra = []
        if t["eval_train"]:
            extra.append("accuracy on the training set every epoch")
        if t["eval_every_steps"]:
            extra.append(f"test every {t['eval_every_steps']} steps")
        lines.append(f"training: {self.epochs} epochs, seed {self.seed}, device {self.device}"
                     + (f", {self.config['dtype']}" if self.config["dtype"] != "float32" else "")
                     + (f"; {', '.join(extra)}" if extra else ""))
        m = self.memory_estimate()
        lines.append(f"memory estimate ({self.config['dtype']}, one training step):")
        lines.append(f"  parameters          {_bytes(m['parameters'])}")
        lines.append(f"  gradients           {_bytes(m['gradients'])}")
        lines.append(f"  optimizer state     {_bytes(m['optimizer_state'])} "
                     f"({m['optimizer_state_per_parameter']} per parameter)")
        if m["buffers"]:
            lines.append(f"  buffers             {_bytes(m['buffers'])} "
                         f"({'; '.join(m['buffers_what'])})")
        lines.append(f"  activations         {_bytes(m['activations'])} "
                     f"(largest: {_bytes(m['largest_activation'])}, "
                     f"{m['largest_activation_what']})")
        lines.append(f"  total               about {_bytes(m['total'])}")
        return "\n".join(lines)
