"""Reference values computed by tinyBIG 0.1.1 itself, for tinyrpn's tests/data/.

Run: python scripts/tinybig_reference.py tests/data
(tinyBIG's source from `git archive v0.1.1` in /tmp/tinybig011, scipy/tqdm in /tmp/tbdeps.)
(Not run by the tests; it needs tinyBIG 0.1.1 and torch. Re-running it rewrites
tests/data/tinybig_reference.{json,npz} when given that folder.)
"""

import importlib
import json
import sys
import types

import numpy as np
import torch

TINYBIG = "/tmp/tinybig011/tinybig"  # git archive v0.1.1 tinybig | tar -x -C /tmp/tinybig011
DEPS = ["/tmp/tbdeps"]  # scipy, tqdm: pip install --target /tmp/tbdeps scipy tqdm


def import_tinybig():
    """tinyBIG's function modules without its package __init__ (torchvision, sklearn...)."""
    sys.path.extend(DEPS)
    for name, sub in (("tinybig", ""), ("tinybig.module", "/module")):
        module = types.ModuleType(name)
        module.__path__ = [TINYBIG + sub]
        sys.modules[name] = module
    for name in ("util", "expansion", "reconciliation", "remainder"):
        importlib.import_module("tinybig." + name)


def get(path):
    mod, cls = path.rsplit(".", 1)
    return getattr(importlib.import_module(mod), cls)


import_tinybig()
torch.manual_seed(0)
g = np.random.default_rng(17)
N, m = 4, 3
X = g.uniform(-0.9, 0.9, size=(N, m)).astype(np.float32)
E = "tinybig.expansion."
EXP = (
    [
        ("identity_expansion", {}),
        ("reciprocal_expansion", {}),
        ("linear_expansion", {"c": 2.5}),
        ("linear_expansion", {"post_C": [[1.0, 0.5], [-1.0, 2.0], [0.25, 0.0]]}),
        ("linear_expansion", {"pre_C": [[1.0, 0.5, 0.0, 2.0], [0.0, -1.0, 3.0, 1.0]]}),
        ("taylor_expansion", {"d": 3}),
        ("fourier_expansion", {"P": 4, "N": 3}),
        ("bspline_expansion", {"t": 4, "d": 2}),
        ("chebyshev_expansion", {"d": 4}),
        ("jacobi_expansion", {"d": 4, "alpha": 0.5, "beta": 1.5}),
        ("gaussian_rbf_expansion", {"num_interval": 5, "epsilon": 2.0}),
        ("inverse_quadratic_rbf_expansion", {"num_interval": 5, "epsilon": 2.0}),
        ("trigonometric_expansion", {}),
        ("hyperbolic_expansion", {}),
        ("arc_trigonometric_expansion", {}),
        ("arc_hyperbolic_expansion", {}),
    ]
    + [
        (f"{p}{k}_expansion", {})
        for p in ("naive_", "")
        for k in ("normal", "cauchy", "chi2", "gamma", "laplace", "exponential")
    ]
    + [
        ("hybrid_probabilistic_expansion", {}),
        ("combinatorial_expansion", {"d": 2}),
        ("combinatorial_expansion", {"d": 3, "with_replacement": True}),
        ("combinatorial_normal_expansion", {"d": 2}),
        ("taylor_expansion", {"d": 2, "postprocess_functions": "sigmoid"}),
        (
            "chebyshev_expansion",
            {
                "d": 2,
                "preprocess_functions": ["tanh"],
                "postprocess_function_configs": [
                    {
                        "function_class": "torch.nn.LayerNorm",
                        "function_parameters": {"normalized_shape": 6},
                    }
                ],
            },
        ),
        (
            "nested_expansion",
            {
                "expansion_function_configs": [
                    {
                        "expansion_class": E + "chebyshev_expansion",
                        "expansion_parameters": {"d": 2},
                    },
                    {"expansion_class": E + "taylor_expansion", "expansion_parameters": {"d": 2}},
                ]
            },
        ),
        (
            "extended_expansion",
            {
                "expansion_function_configs": [
                    {"expansion_class": E + "taylor_expansion", "expansion_parameters": {"d": 2}},
                    {
                        "expansion_class": E + "gaussian_rbf_expansion",
                        "expansion_parameters": {"num_interval": 3},
                    },
                ],
                "postprocess_functions": "sigmoid",
            },
        ),
    ]
)
cases, arrays = [], {"x": X.astype(np.float64)}
for i, (name, params) in enumerate(EXP):
    f = get(E + name)(
        **{k: (torch.tensor(v) if k in ("pre_C", "post_C") else v) for k, v in params.items()}
    )
    out = f(torch.tensor(X.copy()))
    if isinstance(out, list):  # combinatorial_expansion: per degree, per sample, (C, r)
        out = torch.cat([torch.stack(deg).reshape(N, -1) for deg in out], 1)
    D = f.calculate_D(m=m)
    arrays[f"e{i}"] = out.detach().double().numpy()
    cases.append(
        {"kind": "expansion", "class": E + name, "params": params, "key": f"e{i}", "D": int(D)}
    )

R = "tinybig.reconciliation."
REC = [
    ("identity_reconciliation", {}, 4, 6),
    ("constant_reconciliation", {"c": 0.5}, 4, 6),
    ("zero_reconciliation", {}, 4, 6),
    ("one_reconciliation", {}, 4, 6),
    ("constant_eye_reconciliation", {}, 4, 6),
    ("lorr_reconciliation", {"r": 2}, 4, 6),
    ("hm_reconciliation", {"p": 2, "q": 3}, 4, 6),
    ("lphm_reconciliation", {"p": 2, "q": 3, "r": 1}, 4, 6),
    ("dual_lphm_reconciliation", {"p": 2, "q": 3, "r": 2}, 4, 6),
    ("duplicated_padding_reconciliation", {"p": 2, "q": 3}, 4, 6),
    ("duplicated_padding_reconciliation", {"p": 2}, 4, 6),
    ("masking_reconciliation", {"p": 0.5}, 4, 6),
    ("hypernet_reconciliation", {"l": 5, "hidden_dim": 7}, 4, 6),
]
for i, (name, params, n, D) in enumerate(REC):
    f = get(R + name)(**params)
    l = f.calculate_l(n=n, D=D)
    w = torch.tensor(g.uniform(-1, 1, size=(1, l)).astype(np.float32))
    W = f(n=n, D=D, w=w)
    arrays[f"r{i}_w"] = w.double().numpy().reshape(-1)
    arrays[f"r{i}"] = W.detach().double().numpy()
    if name == "masking_reconciliation":  # random: keep tinyBIG's mask
        arrays[f"r{i}_mask"] = f.mask_matrix.numpy().astype(np.float64)
    if name == "hypernet_reconciliation":  # random: keep tinyBIG's net, W1 b1 W2 b2
        for j, p in enumerate(f.net.parameters()):
            arrays[f"r{i}_net{j}"] = p.detach().double().numpy()
    cases.append(
        {
            "kind": "reconciliation",
            "class": R + name,
            "params": params,
            "key": f"r{i}",
            "n": n,
            "D": D,
            "l": int(l),
        }
    )

M = "tinybig.remainder."
n = 2
W2 = g.uniform(-1, 1, size=(n, m)).astype(np.float32)
B2 = g.uniform(-1, 1, size=n).astype(np.float32)
arrays["rem_w"], arrays["rem_b"] = W2.astype(np.float64), B2.astype(np.float64)
REM = [
    ("zero_remainder", {}, False, False),
    ("constant_remainder", {"c": 1.5}, False, False),
    ("basic_remainder.one_remainder", {}, False, False),
    ("identity_remainder", {"activation_functions": "silu"}, False, False),
    ("linear_remainder", {}, True, False),
    ("linear_remainder", {"enable_bias": True}, True, True),
    (
        "linear_remainder",
        {"activation_function_configs": [{"function_class": "torch.nn.GELU"}]},
        True,
        False,
    ),
    ("linear_remainder", {"activation_functions": ["sigmoid"]}, True, True),
    ("constant_remainder", {"c": -2.0, "activation_functions": "tanh"}, False, False),
    ("bspline_remainder", {"t": 3, "d": 2, "enable_bias": True}, True, True),
]
for i, (name, params, use_w, use_b) in enumerate(REM):
    f = get(M + name)(**params)
    xt = torch.tensor(X.copy())
    if name == "bspline_remainder":
        # tinyBIG 0.1.1's forward calls initialize_grid without m (a TypeError): set it up
        # by hand first; its random m x m(t+d) matrix is kept with the reference
        f.initialize_grid(m=m)
        f.initialize_reconciled_parameters(m=m, D=f.calculate_D(m))
        arrays[f"m{i}_C"] = f.reconciled_parameters.detach().double().numpy()
    if name.endswith(("linear_remainder", "bspline_remainder")):
        out = f(x=xt, w=torch.tensor(W2), b=torch.tensor(B2) if use_b else None)
    elif name.endswith("identity_remainder"):
        out = f(x=xt)
    else:
        out = f(n=n)
    arrays[f"m{i}"] = out.detach().double().numpy()
    cases.append(
        {
            "kind": "remainder",
            "class": M + name,
            "params": params,
            "key": f"m{i}",
            "n": n,
            "w": use_w,
            "b": use_b,
        }
    )

out_dir = sys.argv[1]
np.savez_compressed(f"{out_dir}/tinybig_reference.npz", **arrays)
json.dump(cases, open(f"{out_dir}/tinybig_reference.json", "w"), indent=1)
print(len(cases), "cases")
