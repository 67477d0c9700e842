"""Read a tinyBIG 0.1.1 config file and convert it to tinyrpn's own format.

A tinyBIG file has one top-level key, ``configurations:``, holding ``data_configs``,
``learner_configs``, ``model_configs``, ``metric_configs`` and ``result_configs``; each
names a class by its import path (``tinybig.reconciliation.dual_lphm_reconciliation``)
and gives its parameters. tinyrpn never imports those strings: each known class name maps
to a converter, in :data:`CLASSES`, that writes the equivalent tinyrpn config. A class name
not in the table fails with the closest known names.

The converted config builds the model that tinyBIG 0.1.1 actually built from the file
(docs/EXPERIMENTS.md §1-2), including what it did differently from what the file seems to say:

* ``depth``/``depth_alloc`` and ``width``/``width_alloc`` repeat layer and head configs
  as tinyBIG's ``process_num_alloc_configs`` does (each repeat has its own parameters);
* heads take the layer's m and n; heads of a layer are averaged, whatever
  ``fusion_strategy`` says (a warning says so when it says something else);
* a ``postprocess_function_configs`` written beside ``data_transformation_class`` (not
  inside ``data_transformation_parameters``) was ignored by tinyBIG, so it is ignored here
  too, with a warning naming the layer and head;
* ``torch.nn.LayerNorm`` post-processing is parameter-free (tinyBIG never registered its
  weight and bias, so they were never trained): ``{type: layer_norm, affine: false}``;
* the hm family of reconciliations uses the ``tinybig`` layout of W;
* keys tinyBIG ignores (``name``, ``device``, ``require_parameters: true``...) are
  accepted;
* every expansion, reconciliation and remainder without a native tinyrpn entry here
  becomes ``{type: tinybig, class, parameters}``, built by :func:`build_function`
  (``tinybig_functions.py``), which reproduces what tinyBIG 0.1.1 computes; a head's
  ``channel_num`` and output processing convert too;
* tinyBIG's function data sets (elementary, composite, Feynman) become tinyrpn's
  (``tinyrpn.data.functions``: the same equations, points and split), trained as a
  regression (``targets: value``, no accuracy);
* with ``random_seed``, heads whose parameters tinyrpn can draw as tinyBIG does get
  ``torch_seed``: the initial weights, the function data's points and the batch order
  replay the script's PyTorch stream;
* a data set tinyrpn does not have fails last, alone, saying so.

Errors found after conversion still name the tinyBIG keys: the converter records which
tinyBIG path each part of the converted config came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .registry import REGISTRIES
from .schema import Context, closest, join_path, type_name
from .tinybig_functions import SECTIONS, build_function

__all__ = ["CLASSES", "build_function", "convert", "is_tinybig"]

ROOT = "configurations"

#: Normalisation of tinybig.data.mnist: ToTensor (x/255), Normalize((0.1307,), (0.3081,)),
#: then torch.flatten to 784 features.
MNIST_TRANSFORMS = ["scale", {"normalize": {"mean": 0.1307, "std": 0.3081}}, "flatten"]


def is_tinybig(data: Any) -> bool:
    """Whether parsed YAML data is a tinyBIG config (top level ``configurations:``)."""
    return isinstance(data, Mapping) and ROOT in data


@dataclass
class _Block:
    """A tinyBIG ``{x_class: NAME, x_parameters: {...}}`` block, checked."""

    name: str
    params: dict[str, Any]
    path: str  # path of the block itself
    params_path: str  # path of its parameters mapping


class _Converter:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Checks that need the sizes, run after resolution (see `convert`):
        # converted path -> (value in the file, its tinyBIG path).
        self.expected_l: dict[str, tuple[Any, str]] = {}
        self.expected_D: dict[str, tuple[Any, str]] = {}

    # ------------------------------------------------------------------ helpers

    def mapping(self, value: Any, path: str, what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.ctx.error(path, f"expected {what} (a mapping), got {type_name(value)}")
        return dict(value)

    def keys(self, value: dict[str, Any], path: str, allowed: set[str], what: str) -> None:
        for key in value:
            if key not in allowed:
                raise self.ctx.error(
                    join_path(path, str(key)), f"unknown {what} key {key!r}",
                    suggestions=closest(key, allowed), valid=allowed,
                )

    def block(
        self, value: Any, path: str, prefix: str, table: Mapping[str, Any],
        ignored_siblings: set[str] = frozenset(),
    ) -> _Block:
        """Check ``{prefix_class: NAME, prefix_parameters: {...}}`` and look NAME up."""
        value = self.mapping(value, path, f"{prefix}_configs")
        class_key, params_key = f"{prefix}_class", f"{prefix}_parameters"
        self.keys(value, path, {class_key, params_key, *ignored_siblings}, f"{prefix}_configs")
        if class_key not in value:
            raise self.ctx.error(join_path(path, class_key), f"missing required key {class_key!r}",
                                 valid=table)
        name = value[class_key]
        if not isinstance(name, str) or name not in table:
            got = repr(name) if isinstance(name, str) else type_name(name)
            raise self.ctx.error(
                join_path(path, class_key),
                f"{got} is not a class tinyrpn can convert from a tinyBIG config",
                suggestions=closest(name, table), valid=table,
            )
        params_path = join_path(path, params_key)
        params = self.mapping(value.get(params_key), params_path, params_key)
        return _Block(name, params, path, params_path)

    def params(
        self, block: _Block, known: Mapping[str, str], what: str
    ) -> dict[str, Any]:
        """Rename a block's parameters to tinyrpn keys; ``known`` maps tinyBIG -> tinyrpn
        names (an empty target means accepted and ignored)."""
        self.keys(block.params, block.params_path, set(known), f"{what} parameter")
        return {known[k]: v for k, v in block.params.items() if known[k]}

    def alloc(
        self, num: Any, num_alloc: Any, configs: Any, path: str, num_key: str,
        alloc_key: str, configs_key: str,
    ) -> list[tuple[int, Any]]:
        """tinyBIG's process_num_alloc_configs: (config index, config) for every copy."""
        if configs is None:
            raise self.ctx.error(join_path(path, configs_key), f"missing required key "
                                 f"{configs_key!r}")
        if not isinstance(configs, list):
            configs = [configs]
        if not configs:
            raise self.ctx.error(join_path(path, configs_key), "is an empty list")
        if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
            raise self.ctx.error(join_path(path, num_key),
                                 f"expected null or an integer >= 1, got {type_name(num)}")
        if num_alloc is None:
            if num is None or num == len(configs):
                counts = [1] * len(configs)
            elif len(configs) == 1:
                counts = [num]  # one config, repeated num times
            else:
                raise self.ctx.error(
                    join_path(path, num_key),
                    f"is {num} but {len(configs)} {configs_key} are given and no "
                    f"{alloc_key} says how often each repeats",
                )
        else:
            if not isinstance(num_alloc, list):
                num_alloc = [num_alloc]
            for i, c in enumerate(num_alloc):
                if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                    raise self.ctx.error(join_path(join_path(path, alloc_key), i),
                                         f"expected an integer >= 0, got {type_name(c)}")
            if len(num_alloc) != len(configs):
                raise self.ctx.error(
                    join_path(path, alloc_key),
                    f"has {len(num_alloc)} entries for {len(configs)} {configs_key}",
                )
            counts = list(num_alloc)
            if num is not None and num != sum(counts):
                raise self.ctx.error(join_path(path, num_key),
                                     f"is {num} but {alloc_key} {counts} adds up to {sum(counts)}")
            if sum(counts) < 1:
                raise self.ctx.error(join_path(path, alloc_key), "allocates nothing")
        return [(i, cfg) for i, (cfg, c) in enumerate(zip(configs, counts)) for _ in range(c)]

    # ------------------------------------------------------------------ sections

    def convert(self, data: dict[str, Any]) -> dict[str, Any]:
        root = self.mapping(data[ROOT], ROOT, "configurations")
        self.keys(data, "", {ROOT}, "top-level")
        allowed = {"device", "random_seed", "data_configs", "learner_configs", "model_configs",
                   "metric_configs", "result_configs"}
        self.keys(root, ROOT, allowed, "configurations")
        for key in ("data_configs", "learner_configs", "model_configs"):
            if key not in root:
                raise self.ctx.error(join_path(ROOT, key), f"missing required key {key!r}")
        out: dict[str, Any] = {}
        pm = self.ctx.path_map
        if "random_seed" in root:
            out["seed"] = root["random_seed"]
            pm["seed"] = join_path(ROOT, "random_seed")
        if "device" in root:
            out["device"] = root["device"]
            pm["device"] = join_path(ROOT, "device")
        # the data set last: a config whose data tinyrpn lacks fails there alone
        out["model"] = self.model(root["model_configs"], join_path(ROOT, "model_configs"))
        if "random_seed" in root:
            # tinyBIG seeds torch.manual_seed with it: replay its draws (init, batch order)
            heads = [h for layer in out["model"]["layers"] for h in layer["heads"]]
            if all(_replayable(h) for h in heads):
                out["torch_seed"] = root["random_seed"]
                pm["torch_seed"] = join_path(ROOT, "random_seed")
            else:
                self.ctx.warn(join_path(ROOT, "random_seed"),
                              "seeds tinyrpn's own random streams: tinyBIG's PyTorch draws "
                              "are replayed (torch_seed) only for heads of one channel whose "
                              "parameters are w and, for a linear remainder without bias, "
                              "w'")
        out.update(self.learner(root["learner_configs"], join_path(ROOT, "learner_configs")))
        for key in ("metric_configs", "result_configs"):
            if key in root:  # accuracy is always measured; results go to the run directory
                prefix = key.split("_")[0]
                block = self.block(root[key], join_path(ROOT, key), prefix, CLASSES[prefix])
                self.params(block, {"name": ""}, prefix)
        out["data"] = self.data(root["data_configs"], join_path(ROOT, "data_configs"))
        return out

    def data(self, value: Any, path: str) -> dict[str, Any]:
        name = value.get("data_class") if isinstance(value, Mapping) else None
        if name in FUNCTION_DATA:
            return self.function_data(value, path)
        if name in TINYBIG_DATA:
            raise self.ctx.error(
                join_path(path, "data_class"),
                f"tinyBIG's data set {name!r} is not available in tinyrpn (it has "
                f"{', '.join(CLASSES['data'])}); the rest of this config converts",
                note=TINYBIG_DATA[name])
        block = self.block(value, path, "data", CLASSES["data"])
        params = self.params(block, {"name": "", "train_batch_size": "batch_size",
                                     "test_batch_size": "test_batch_size", "device": ""}, "data")
        pm = self.ctx.path_map
        pm["data"] = block.params_path
        pm["data.dataset"] = join_path(path, "data_class")
        pm["data.batch_size"] = join_path(block.params_path, "train_batch_size")
        return {
            "dataset": CLASSES["data"][block.name],
            "transforms": [dict(t) if isinstance(t, dict) else t for t in MNIST_TRANSFORMS],
            "targets": "index",
            "batch_size": params.get("batch_size", 64),  # tinyBIG's defaults
            "test_batch_size": params.get("test_batch_size", 64),
            "shuffle": True,
        }

    def function_data(self, value: Any, path: str) -> dict[str, Any]:
        """tinyBIG's function data sets: the same equation, points and split (see
        tinyrpn.data.functions); ``load()``'s num=2000 and train_percentage=0.5 are fixed
        by tinyBIG's scripts, which call ``load()`` without arguments."""
        block = self.block(value, path, "data", FUNCTION_DATA)
        params = self.params(block, {"name": "", "device": "", "train_batch_size": "batch_size",
                                     "test_batch_size": "test_batch_size",
                                     "equation_index": "equation_index"}, "function data")
        pm = self.ctx.path_map
        pm["data"] = block.params_path
        pm["data.dataset"] = join_path(path, "data_class")
        pm["data.dataset.equation_index"] = join_path(block.params_path, "equation_index")
        pm["data.batch_size"] = join_path(block.params_path, "train_batch_size")
        return {
            "dataset": {"type": FUNCTION_DATA[block.name],
                        "equation_index": params.get("equation_index", 0)},
            "transforms": [],
            "targets": "value",
            "batch_size": params.get("batch_size", 64),  # tinyBIG's defaults
            "test_batch_size": params.get("test_batch_size", 64),
            "shuffle": True,
        }

    def learner(self, value: Any, path: str) -> dict[str, Any]:
        block = self.block(value, path, "learner", CLASSES["learner"])
        pp = block.params_path
        known = {"name", "n_epochs", "optimizer_configs", "lr_scheduler_configs", "loss_configs",
                 "device"}
        self.keys(block.params, pp, known, "learner parameter")
        pm = self.ctx.path_map
        out: dict[str, Any] = {"training": {"epochs": block.params.get("n_epochs", 100)}}
        pm["training.epochs"] = join_path(pp, "n_epochs")
        pm["training"] = pp
        for key, section, required in (("optimizer_configs", "optimizer", True),
                                       ("lr_scheduler_configs", "scheduler", False),
                                       ("loss_configs", "loss", True)):
            sub = join_path(pp, key)
            if block.params.get(key) is None:
                if required:
                    raise self.ctx.error(sub, f"missing: tinyBIG's backward_learner needs "
                                         f"{key} to train")
                out[section] = None
                continue
            prefix = key[: -len("_configs")]
            inner = self.block(block.params[key], sub, prefix, CLASSES[section])
            params = dict(inner.params)
            if section == "optimizer":
                params.pop("params", None)
            if section == "scheduler":
                params.pop("optimizer", None)
            out[section] = {"type": CLASSES[section][inner.name], **params}
            pm[section] = inner.params_path
            pm[f"{section}.type"] = join_path(sub, f"{prefix}_class")
        return out

    def model(self, value: Any, path: str) -> dict[str, Any]:
        block = self.block(value, path, "model", CLASSES["model"])
        pp = block.params_path
        self.keys(block.params, pp, {"name", "depth", "depth_alloc", "layer_configs", "device"},
                  "rpn model parameter")
        copies = self.alloc(block.params.get("depth"), block.params.get("depth_alloc"),
                            block.params.get("layer_configs"), pp, "depth", "depth_alloc",
                            "layer_configs")
        pm = self.ctx.path_map
        pm["model"] = pp
        pm["model.type"] = join_path(path, "model_class")
        layers = []
        many = isinstance(block.params.get("layer_configs"), list)
        for k, (i, layer_cfg) in enumerate(copies):
            lpath = join_path(join_path(pp, "layer_configs"), i) if many else join_path(
                pp, "layer_configs")
            layers.append(self.layer(layer_cfg, lpath, k, [kk for kk, (ii, _) in
                                                          enumerate(copies) if ii == i]))
        return {"type": "rpn", "layers": layers}

    def layer(self, value: Any, path: str, k: int, copies: list[int]) -> dict[str, Any]:
        block = self.block(value, path, "layer", CLASSES["layer"])
        pp = block.params_path
        p = block.params
        self.keys(p, pp, {"name", "m", "n", "width", "width_alloc", "fusion_strategy",
                          "head_configs", "device"}, "rpn_layer parameter")
        for key in ("m", "n"):
            if key not in p:
                raise self.ctx.error(join_path(pp, key), f"missing required key {key!r} "
                                     "(tinyBIG's rpn_layer needs m and n)")
        fusion = p.get("fusion_strategy", "average")
        tag = f"model.layers[{k}]"
        pm = self.ctx.path_map
        pm[tag] = pp
        pm[tag + ".fusion"] = join_path(pp, "fusion_strategy")
        if fusion not in ("average", "mean") and k == copies[0]:
            self.ctx.warn(tag + ".fusion",
                          f"fusion_strategy {fusion!r} is not used: tinyBIG 0.1.1 averages the "
                          f"heads of a layer whatever it says, and so does the converted model")
        copies_heads = self.alloc(p.get("width"), p.get("width_alloc"), p.get("head_configs"),
                                  pp, "width", "width_alloc", "head_configs")
        many = isinstance(p.get("head_configs"), list)
        heads = []
        for h, (j, head_cfg) in enumerate(copies_heads):
            hpath = join_path(join_path(pp, "head_configs"), j) if many else join_path(
                pp, "head_configs")
            first_copy = k == copies[0] and all(jj != j for jj, _ in copies_heads[:h])
            heads.append(self.head(head_cfg, hpath, f"{tag}.heads[{h}]", p["m"], p["n"],
                                   warn=first_copy,
                                   where=self._where(copies, j, copies_heads)))
        return {"m": p["m"], "n": p["n"], "fusion": "average", "heads": heads}

    @staticmethod
    def _where(layer_copies: list[int], j: int, head_copies: list[tuple[int, Any]]) -> str:
        hs = [h for h, (jj, _) in enumerate(head_copies) if jj == j]
        layers = ", ".join(str(c) for c in layer_copies)
        heads = ", ".join(str(h) for h in hs)
        return (f"layer{'s' if len(layer_copies) > 1 else ''} {layers}, "
                f"head{'s' if len(hs) > 1 else ''} {heads} (counting from 0)")

    def head(
        self, value: Any, path: str, tag: str, m: Any, n: Any, warn: bool, where: str
    ) -> dict[str, Any]:
        block = self.block(value, path, "head", CLASSES["head"])
        pp = block.params_path
        p = block.params
        self.keys(p, pp, {"name", "m", "n", "l", "channel_num", "data_transformation_configs",
                          "parameter_fabrication_configs", "remainder_configs", "device",
                          "output_process_function_configs", "output_process_functions"},
                  "rpn_head parameter")
        pm = self.ctx.path_map
        pm[tag] = pp
        channels = p.get("channel_num", 1)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise self.ctx.error(join_path(pp, "channel_num"),
                                 f"expected a positive integer, got {channels!r}")
        if warn:
            for key, dim in (("m", m), ("n", n)):
                if p.get(key) is not None and p[key] != dim:
                    self.ctx.warn(f"{tag}", f"the head's {key}={p[key]} is not used: tinyBIG "
                                  f"gives every head its layer's {key}={dim}")
        if "data_transformation_configs" not in p:
            raise self.ctx.error(join_path(pp, "data_transformation_configs"),
                                 "missing: an RPN head needs a data expansion")
        head: dict[str, Any] = {}
        head["expansion"], head["postprocess"] = self.expansion(
            p["data_transformation_configs"], join_path(pp, "data_transformation_configs"),
            tag, warn, where)
        if p.get("parameter_fabrication_configs") is None:
            raise self.ctx.error(join_path(pp, "parameter_fabrication_configs"),
                                 "missing: an RPN head needs a parameter reconciliation")
        head["reconciliation"] = self.reconciliation(
            p["parameter_fabrication_configs"], join_path(pp, "parameter_fabrication_configs"),
            tag)
        # tinyBIG's head holds b (n) and adds it to the reconciled product when the
        # reconciliation says enable_bias
        rec_params = p["parameter_fabrication_configs"].get(
            "parameter_fabrication_parameters") or {}
        if rec_params.get("enable_bias") is True:
            head["bias"] = True
            pm[tag + ".bias"] = join_path(join_path(pp, "parameter_fabrication_configs"),
                                          "parameter_fabrication_parameters.enable_bias")
        if p.get("remainder_configs") is None:
            raise self.ctx.error(join_path(pp, "remainder_configs"),
                                 "missing: tinyBIG's rpn_head needs a remainder")
        head["remainder"] = self.remainder(p["remainder_configs"],
                                           join_path(pp, "remainder_configs"), tag)
        if p.get("l") is not None:
            self.expected_l[tag] = (p["l"], join_path(pp, "l"))
        if channels != 1:
            head["channels"] = channels
            pm[tag + ".channels"] = join_path(pp, "channel_num")
        steps = []
        for key in ("output_process_functions", "output_process_function_configs"):
            if p.get(key) is not None:
                steps += self.output_steps(p[key], join_path(pp, key))
        if steps:
            head["output_process"] = steps
        return head

    def output_steps(self, value: Any, path: str) -> list[dict[str, Any]]:
        """A head's output processing as postprocess entries (elementwise ones and LayerNorms
        without affine parameters, as tinyBIG never trains them)."""
        from .tinybig_functions import MODULES, PROCESSING

        steps = []
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            at = join_path(path, i) if isinstance(value, list) else path
            if isinstance(item, str):
                name = item.rsplit(".", 1)[-1].lower()
                kind = PROCESSING.get(name)
                valid = sorted(PROCESSING)
            else:
                name = item.get("function_class") if isinstance(item, Mapping) else item
                kind = MODULES.get(name) if isinstance(name, str) else None
                valid = sorted(MODULES)
            if kind in (None, "exp"):
                raise self.ctx.error(at, f"{name!r} is not an output processing tinyrpn "
                                     "converts", suggestions=closest(name, valid), valid=valid)
            fp = (item.get("function_parameters") or {}) if isinstance(item, Mapping) else {}
            if kind == "layer_norm":
                steps.append({"type": "layer_norm", "eps": fp.get("eps", 1e-5), "affine": False})
            elif kind == "batch_norm":
                # never trained nor switched to eval by tinyBIG (a plain list): weight 1, bias
                # 0, the batch's statistics in training and evaluation alike
                steps.append({"type": "batch_norm", "eps": fp.get("eps", 1e-5),
                              "momentum": fp.get("momentum", 0.1), "affine": False,
                              "track_running_stats": False})
            elif kind != "identity":
                steps.append({"type": kind})
        return steps

    def expansion(
        self, value: Any, path: str, tag: str, warn: bool, where: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        block = self.block(value, path, "data_transformation", CLASSES["expansion"],
                           ignored_siblings={"postprocess_function_configs",
                                             "preprocess_function_configs"})
        raw = self.mapping(value, path, "data_transformation_configs")
        for key in ("postprocess_function_configs", "preprocess_function_configs"):
            if key in raw and raw[key] and warn:
                self.ctx.warn(
                    join_path(path, key),
                    f"ignored, as tinyBIG 0.1.1 ignored it: it sits beside "
                    f"data_transformation_class instead of inside data_transformation_parameters, "
                    f"so {where} get no {key.split('_')[0][:-7]}-processing. "
                    f"Move it into data_transformation_parameters to apply it.",
                )
        pm = self.ctx.path_map
        pm[tag + ".expansion"] = block.params_path
        pm[tag + ".expansion.type"] = join_path(path, "data_transformation_class")
        known = {"name": "", "device": "", "postprocess_function_configs": "postprocess",
                 "preprocess_function_configs": "preprocess"}
        kind = CLASSES["expansion"][block.name]
        if kind != "tinybig":  # tinyBIG's parameter names are the entry's keys
            known.update({k: k for k in REGISTRIES["expansion"][kind].params})
        if kind == "tinybig" or not _native_expansion(block.params, known):
            return self.bridge(block, "expansion", tag), []
        params = self.params(block, known, block.name.rsplit(".", 1)[-1])
        if params.get("preprocess"):
            raise self.ctx.error(join_path(block.params_path, "preprocess_function_configs"),
                                 "pre-processing of the expansion's input is not supported by "
                                 "tinyrpn")
        post = params.pop("postprocess", None) or []
        params.pop("preprocess", None)
        expansion = {"type": kind, **params}
        ppath = join_path(block.params_path, "postprocess_function_configs")
        if not isinstance(post, list):
            post = [post]
        steps = []
        for i, f in enumerate(post):
            fpath = join_path(ppath, i) if isinstance(
                block.params["postprocess_function_configs"], list) else ppath
            steps.append(self.postprocess(f, fpath, f"{tag}.postprocess[{i}]"))
        return expansion, steps

    def postprocess(self, value: Any, path: str, tag: str) -> dict[str, Any]:
        block = self.block(value, path, "function", CLASSES["postprocess"])
        kind = CLASSES["postprocess"][block.name]
        self.ctx.path_map[tag] = block.params_path
        self.ctx.path_map[tag + ".type"] = join_path(path, "function_class")
        params = self.params(block, {"normalized_shape": "normalized_shape", "eps": "eps",
                                     "elementwise_affine": "", "bias": "", "device": "",
                                     "dtype": ""}, "LayerNorm")
        shape = params.pop("normalized_shape", None)
        if shape is not None:
            self.expected_D[tag] = (shape, join_path(block.params_path, "normalized_shape"))
        # tinyBIG never registered the LayerNorm's weight and bias as parameters: they keep
        # their initial values (1 and 0), i.e. a LayerNorm without affine parameters.
        return {"type": kind, **params, "affine": False}

    def reconciliation(self, value: Any, path: str, tag: str) -> dict[str, Any]:
        block = self.block(value, path, "parameter_fabrication", CLASSES["reconciliation"])
        kind = CLASSES["reconciliation"][block.name]
        pm = self.ctx.path_map
        pm[tag + ".reconciliation"] = block.params_path
        pm[tag + ".reconciliation.type"] = join_path(path, "parameter_fabrication_class")
        known = {"name": "", "device": "", "require_parameters": "require_parameters",
                 "enable_bias": "enable_bias"}
        if kind == "tinybig":
            return self.bridge(block, "reconciliation", tag)
        keys = REGISTRIES["reconciliation"][kind].params  # tinyBIG's names, but the layout
        known.update({k: k for k in keys if k != "layout"})
        params = self.params(block, known, block.name.rsplit(".", 1)[-1])
        self._flag(params, "require_parameters", True, block.params_path,
                   "a reconciliation without parameters is not supported")
        self._bool(params, "enable_bias", block.params_path)  # the head's bias: see head()
        if "layout" in keys:
            params["layout"] = "tinybig"  # tinyBIG flattens A and B before the einsum
        return {"type": kind, **params}

    def remainder(self, value: Any, path: str, tag: str) -> dict[str, Any]:
        block = self.block(value, path, "remainder", CLASSES["remainder"])
        kind = CLASSES["remainder"][block.name]
        pm = self.ctx.path_map
        pm[tag + ".remainder"] = block.params_path
        pm[tag + ".remainder.type"] = join_path(path, "remainder_class")
        if kind == "tinybig" or set(block.params) - {"name", "device", "require_parameters",
                                                     "enable_bias"}:
            return self.bridge(block, "remainder", tag)
        params = self.params(block, {"name": "", "device": "",
                                     "require_parameters": "require_parameters",
                                     "enable_bias": "enable_bias"},
                             block.name.rsplit(".", 1)[-1])
        with_params = self._bool(params, "require_parameters", block.params_path)
        bias = self._bool(params, "enable_bias", block.params_path)
        if kind == "linear":
            # tinyBIG's head builds w' (n x m), and b' when enable_bias, only when
            # require_parameters is true; without them linear_remainder returns x.
            return {"type": "linear", "bias": bias} if with_params else {"type": "identity"}
        if with_params:
            raise self.ctx.error(
                join_path(block.params_path, "require_parameters"),
                f"is true: tinyBIG would build parameters that {block.name} never uses; "
                "tinyrpn does not (set it to false)",
            )
        return {"type": kind}

    def bridge(self, block: _Block, section: str, tag: str) -> dict[str, Any]:
        """A component without a native tinyrpn name: ``{type: tinybig, class, parameters}``,
        built by ``build_function`` with tinyBIG's own parameter names."""
        self.ctx.path_map[f"{tag}.{section}.parameters"] = block.params_path
        return {"type": "tinybig", "class": block.name, "parameters": dict(block.params)}

    def _bool(self, params: dict[str, Any], key: str, path: str) -> bool:
        value = params.pop(key, False)  # tinyBIG's remainders default both flags to false
        if not isinstance(value, bool):
            raise self.ctx.error(join_path(path, key),
                                 f"expected true or false, got {type_name(value)}")
        return value

    def _flag(self, params: dict[str, Any], key: str, ok: bool, path: str, why: str) -> None:
        if key in params:
            value = params.pop(key)
            if not isinstance(value, bool):
                raise self.ctx.error(join_path(path, key),
                                     f"expected true or false, got {type_name(value)}")
            if value != ok:
                raise self.ctx.error(join_path(path, key), f"is {str(value).lower()}: {why}")


def _replayable(head: Mapping[str, Any]) -> bool:
    """Whether ``init_like_tinybig`` can give this converted head tinyBIG's initial weights:
    one channel, a reconciliation whose one parameter is w (any native one; expansions have
    none) and a remainder without parameters or a linear one without bias."""
    if head.get("channels", 1) != 1 or head["reconciliation"]["type"] == "tinybig" or head.get(
            "bias"):
        return False
    remainder = head["remainder"]
    if remainder["type"] in ("zero", "identity"):
        return True
    if remainder["type"] == "linear":
        return not remainder.get("bias")
    if remainder["type"] == "tinybig":
        name = remainder["class"].rsplit(".", 1)[-1]
        flags = remainder["parameters"]
        return (name == "linear_remainder" and flags.get("require_parameters", False)
                is True and not flags.get("enable_bias", False)) or (
            name in ("zero_remainder", "identity_remainder")
            and not flags.get("require_parameters", False))
    return False


def _native_expansion(params: Mapping[str, Any], known: Mapping[str, str]) -> bool:
    """Whether an identity or Taylor block fits tinyrpn's own expansion entries: only known
    keys, post-processing by LayerNorms alone (else it goes through build_function)."""
    if set(params) - set(known) or params.get("preprocess_function_configs"):
        return False
    post = params.get("postprocess_function_configs") or []
    post = post if isinstance(post, list) else [post]
    return all(isinstance(f, Mapping) and f.get("function_class") in CLASSES["postprocess"]
               for f in post)


#: Every tinyBIG (and torch) class name that the converter knows, by section, with the
#: tinyrpn name it becomes ("tinybig": through ``build_function``).
CLASSES: dict[str, dict[str, str]] = {
    "data": {"tinybig.data.mnist": "mnist",
             **{k: "function" for k in (f"tinybig.data.{f}_function" for f in (
                 "elementary", "composite", "feynman", "dimensionless_feynman"))}},
    "learner": {"tinybig.learner.backward_learner": "backward"},
    "metric": {"tinybig.metric.accuracy": "accuracy", "tinybig.metric.mse": "mse"},
    "result": {"tinybig.output.rpn_output": "rpn_output"},
    "model": {"tinybig.model.rpn": "rpn"},
    "layer": {"tinybig.module.rpn_layer": "rpn_layer"},
    "head": {"tinybig.module.rpn_head": "rpn_head"},
    "expansion": {"tinybig.expansion.taylor_expansion": "taylor",
                  "tinybig.expansion.identity_expansion": "identity"},
    "postprocess": {"torch.nn.LayerNorm": "layer_norm"},
    "reconciliation": {
        "tinybig.reconciliation.identity_reconciliation": "identity",
        "tinybig.reconciliation.lorr_reconciliation": "lorr",
        "tinybig.reconciliation.hm_reconciliation": "hm",
        "tinybig.reconciliation.lphm_reconciliation": "lphm",
        "tinybig.reconciliation.dual_lphm_reconciliation": "dual_lphm",
    },
    "remainder": {"tinybig.remainder.zero_remainder": "zero",
                  "tinybig.remainder.identity_remainder": "identity",
                  "tinybig.remainder.linear_remainder": "linear"},
    "optimizer": {"torch.optim.AdamW": "adamw", "torch.optim.Adam": "adam",
                  "torch.optim.SGD": "sgd"},
    "scheduler": {"torch.optim.lr_scheduler.ExponentialLR": "exponential",
                  "torch.optim.lr_scheduler.MultiStepLR": "multistep",
                  "torch.optim.lr_scheduler.StepLR": "step",
                  "torch.optim.lr_scheduler.LinearLR": "linear"},
    "loss": {"torch.nn.CrossEntropyLoss": "cross_entropy", "torch.nn.NLLLoss": "nll",
             "torch.nn.MSELoss": "mse"},
}
for _section, _table in SECTIONS.items():
    for _name in _table:
        CLASSES[_section].setdefault(f"tinybig.{_section}.{_name}", "tinybig")
CLASSES["remainder"].setdefault("tinybig.remainder.basic_remainder.one_remainder", "tinybig")


#: tinyBIG 0.1.1's function data sets -> tinyrpn's dataset names (tinyrpn.data.functions).
FUNCTION_DATA = {f"tinybig.data.{k}_function": f"{k}_function" for k in (
    "elementary", "composite", "feynman", "dimensionless_feynman")}

#: tinyBIG 0.1.1's data sets that tinyrpn does not have, and why.
TINYBIG_DATA = {
    **{f"tinybig.data.{k}": "it needs a download that tinyrpn does not make" for k in (
        "cifar10", "imdb", "agnews", "sst2", "cora", "citeseer", "pubmed", "iris",
        "diabetes", "banknote")},
}


def convert(data: Mapping[str, Any], ctx: Context) -> tuple[dict[str, Any], Callable[..., None]]:
    """Convert parsed tinyBIG data to tinyrpn-format data.

    Returns the data and a function ``check(resolved_config)`` that checks, once the
    converted config is resolved, what needs the sizes: that a LayerNorm's
    ``normalized_shape`` is the expansion size D and that a head's ``l`` (when given)
    is the reconciliation's parameter count.
    """
    conv = _Converter(ctx)
    out = conv.convert(dict(data))

    def check(resolved: dict[str, Any]) -> None:
        from .models import head_info

        for li, layer in enumerate(resolved["model"]["layers"]):
            for hi, head in enumerate(layer["heads"]):
                tag = f"model.layers[{li}].heads[{hi}]"
                info = head_info(layer["m"], layer["n"], head)
                for pi in range(len(head["postprocess"])):
                    if f"{tag}.postprocess[{pi}]" in conv.expected_D:
                        shape, path = conv.expected_D[f"{tag}.postprocess[{pi}]"]
                        flat = shape[0] if isinstance(shape, list) and len(shape) == 1 else shape
                        if flat != info["D"]:
                            raise ctx.error(path, f"is {shape!r}, but the expansion before it "
                                            f"has D = {info['D']} features (m = {layer['m']})")
                if tag in conv.expected_l:
                    l, path = conv.expected_l[tag]
                    if l != info["l"]:
                        raise ctx.error(path, f"is {l!r}, but the reconciliation needs "
                                        f"l = {info['l']} parameters for n = {layer['n']}, "
                                        f"D = {info['D']}")

    return out, check
