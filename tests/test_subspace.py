"""Subspace training (Li et al. 2018): projections, gradients, the module's contract."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import tinyrpn
from tinyrpn import nn
from tinyrpn.gradcheck import gradcheck
from tinyrpn.models.subspace import (
    PROJECTIONS,
    AnchoredProjection,
    DenseProjection,
    FastfoodProjection,
    SparseProjection,
    Subspace,
    make_projection,
    project,
)

KINDS = list(PROJECTIONS)


def sylvester(n: int) -> np.ndarray:
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def tiny_model(dtype=np.float64) -> nn.Module:
    """5 -> 4 -> 3 with tanh: D = 24 + 15 = 39 parameters."""
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).to(dtype=dtype)


def theta_of(model: nn.Module) -> np.ndarray:
    return np.concatenate([p.detach().numpy().reshape(-1) for p in model.parameters()])


# =========================================================================== projections


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_apply_t_is_the_transpose_and_matrix_agrees(kind, anchored):
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(45)
    P = make_projection(kind, theta, 6, seed=3, anchored=anchored)
    M = P.matrix()
    assert M.shape == (45, 6)
    for _ in range(3):
        w, g = rng.standard_normal(6), rng.standard_normal(45)
        np.testing.assert_allclose(P.apply(w), M @ w, atol=1e-12)
        np.testing.assert_allclose(P.apply_t(g), M.T @ g, atol=1e-12)
        # the adjoint identity <P w, g> = <w, P^T g>
        assert np.isclose(P.apply(w) @ g, w @ P.apply_t(g), rtol=1e-12)


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_project_gradcheck(kind, anchored):
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(30)
    P = make_projection(kind, theta, 5, seed=4, anchored=anchored)
    omega = tinyrpn.tensor(rng.standard_normal(5), dtype="float64", requires_grad=True)
    offset = rng.standard_normal(30)
    gradcheck(lambda w: project(w, P, offset) * project(w, P), omega)  # non-linear in w


@pytest.mark.parametrize("kind", ["qr", "dense"])
def test_dense_columns_are_unit_norm_and_qr_is_orthonormal(kind):
    rng = np.random.default_rng(2)
    theta = rng.standard_normal(500) * 0.01  # small, like an initialised network
    P = make_projection(kind, theta, 40, seed=0)
    M = P.matrix()
    np.testing.assert_allclose(np.linalg.norm(M, axis=0), 1.0, atol=1e-12)
    if kind == "qr":
        np.testing.assert_allclose(M.T @ M, np.eye(40), atol=1e-12)
        # the first column points along theta_init (positive R diagonal: same sign)
        np.testing.assert_allclose(M[:, 0], theta / np.linalg.norm(theta), atol=1e-12)
        # Q R = [theta | G] with R upper triangular: Q^T A is upper triangular
        A = np.concatenate([theta[:, None], np.random.default_rng(0).standard_normal((500, 39))],
                           axis=1)
        R = M.T @ A
        assert np.abs(np.tril(R, -1)).max() < 1e-10 and np.all(np.diag(R) > 0)
    else:
        gram = M.T @ M - np.eye(40)  # random directions in 500-D: nearly orthogonal
        assert np.abs(gram).max() < 0.3


def test_qr_float32_at_scale_is_orthonormal():
    rng = np.random.default_rng(3)
    theta = (rng.standard_normal(20_000) * 1e-3).astype(np.float32)
    P = make_projection("qr", theta, 64, seed=1)
    M = P.matrix().astype(np.float64)
    assert P.dtype == np.float32
    np.testing.assert_allclose(M.T @ M, np.eye(64), atol=2e-6)


def test_sparse_density_and_storage():
    D, d = 40_000, 30
    P = make_projection("sparse", np.ones(D, np.float32), d, seed=5)
    assert isinstance(P, SparseProjection)
    per_column = np.bincount(P.cols, minlength=d)
    expected = np.sqrt(D)  # density 1/sqrt(D): sqrt(D) = 200 non-zeros per column
    assert abs(per_column.mean() - expected) < 0.1 * expected
    assert per_column.min() > 0.6 * expected and per_column.max() < 1.4 * expected
    # unit-norm columns, every (row, column) once, values +-1/sqrt(k)
    norms = np.bincount(P.cols, weights=P.values.astype(np.float64) ** 2, minlength=d)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    assert len(set(zip(P.rows.tolist(), P.cols.tolist()))) == P.nnz
    assert P.nbytes <= 20 * P.nnz  # (row, col, value) triples, nothing of size D x d


@pytest.mark.parametrize("D,d,ell", [(37, 5, 64), (40, 8, 64), (33, 33, 64), (64, 64, 64),
                                     (16, 1, 16)])
def test_fastfood_equals_its_explicit_factors(D, d, ell):
    """P = c * first D rows of H G Pi H B, first d columns, built here from the factors."""
    P = FastfoodProjection(D, d, np.random.default_rng(6), dtype=np.float64)
    assert P.ell == ell
    H = sylvester(ell)
    Pi = np.zeros((ell, ell))
    Pi[np.arange(ell), P.Pi] = 1.0  # (Pi x)[i] = x[Pi[i]]
    M_full = H @ np.diag(P.G) @ Pi @ H @ np.diag(P.B)
    M = M_full[:D, :d] / np.sqrt(D * np.sum(P.G**2))
    rng = np.random.default_rng(7)
    w, g = rng.standard_normal(d), rng.standard_normal(D)
    np.testing.assert_allclose(P.apply(w), M @ w, atol=1e-12)
    np.testing.assert_allclose(P.apply_t(g), M.T @ g, atol=1e-12)
    np.testing.assert_allclose(P.matrix(), M, atol=1e-12)
    # before truncation every column has norm sqrt(ell * sum G^2) exactly
    np.testing.assert_allclose(np.linalg.norm(M_full, axis=0), np.sqrt(ell * np.sum(P.G**2)))


def test_fastfood_preserves_norms_approximately():
    D, d = 30_000, 200  # ell = 32768
    P = FastfoodProjection(D, d, np.random.default_rng(8), dtype=np.float64)
    rng = np.random.default_rng(9)
    ratios = [np.linalg.norm(P.apply(w)) / np.linalg.norm(w)
              for w in rng.standard_normal((20, d))]
    assert 0.9 < min(ratios) and max(ratios) < 1.1
    cols = np.linalg.norm(P.matrix()[:, :50], axis=0)  # 50 columns via apply(e_j)
    assert abs(np.mean(cols**2) - 1.0) < 0.05 and cols.min() > 0.9 and cols.max() < 1.1
    assert P.nbytes < 40 * P.ell  # O(D): B, Pi, Pi^-1, G


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_projection(kind):
    theta = np.random.default_rng(10).standard_normal(300)
    a = make_projection(kind, theta, 8, seed=11).matrix()
    b = make_projection(kind, theta, 8, seed=11).matrix()
    c = make_projection(kind, theta, 8, seed=12).matrix()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_anchored_projection_structure():
    theta = np.random.default_rng(13).standard_normal(64)
    for kind in ("sparse", "fastfood"):
        P = make_projection(kind, theta, 4, seed=0, anchored=True)
        assert isinstance(P, AnchoredProjection) and P.d == 4 and P.rest.d == 3
        np.testing.assert_allclose(P.matrix()[:, 0], theta / np.linalg.norm(theta))
    one = make_projection("fastfood", theta, 1, seed=0, anchored=True)
    assert one.rest is None and one.matrix().shape == (64, 1)
    dense = make_projection("dense", theta, 3, seed=0, anchored=True)
    assert isinstance(dense, DenseProjection)
    np.testing.assert_allclose(dense.P[:, 0], theta / np.linalg.norm(theta))


def test_projection_errors():
    with pytest.raises(ValueError, match="unknown projection 'gaussian'; valid: qr, dense"):
        make_projection("gaussian", np.ones(4), 2, seed=0)
    with pytest.raises(ValueError, match="need 1 <= d <= D = 4, got d = 5"):
        make_projection("dense", np.ones(4), 5, seed=0)
    P = make_projection("dense", np.ones(4), 2, seed=0)
    with pytest.raises(ValueError, match=r"omega must have shape \(2,\), got \(3,\)"):
        P.apply(np.ones(3))
    with pytest.raises(ValueError, match="non-zero theta_init"):
        make_projection("sparse", np.zeros(10), 2, seed=0, anchored=True)
    with pytest.raises(np.linalg.LinAlgError, match="column 0 .* is zero"):
        make_projection("qr", np.zeros(10), 2, seed=0)


# ============================================================================ the module


@pytest.mark.parametrize("offset", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_subspace_starts_at_theta0_trains_only_omega_and_gradchecks(kind, offset):
    tinyrpn.manual_seed(0)
    base = tiny_model()
    x = tinyrpn.randn(6, 5, dtype="float64")
    expected = base(x).detach().numpy()
    before = theta_of(base)
    originals = [p for p in base.parameters()]
    sub = Subspace(base, 7, projection=kind, offset=offset, seed=1)
    # only omega is trained; the wrapped parameters are frozen
    assert [name for name, _ in sub.named_parameters()] == ["omega"]
    assert sub.omega.shape == (7,) and sub.num_parameters() == 7 and sub.D == 39
    assert not any(p.requires_grad for p in base.parameters())
    # the network starts at its initial weights
    np.testing.assert_allclose(sub(x).detach().numpy(), expected, atol=1e-12)
    if offset:
        assert not sub.omega.detach().numpy().any()
    else:
        assert sub.omega.detach().numpy()[0] != 0 and not sub.omega.detach().numpy()[1:].any()
    # gradients reach omega only, and match finite differences
    gradcheck(lambda w: sub.functional_call(w, x), sub.omega)
    loss = sub(x).sum()
    loss.backward()
    assert sub.omega.grad is not None and all(p.grad is None for p in base.parameters())
    # dL/domega = P^T dL/dtheta: compare with the full network's gradient
    full = tiny_model()
    for p, value in zip(full.parameters(), np.split(before, np.cumsum(
            [p.numel() for p in full.parameters()])[:-1])):
        p.data = value.reshape(p.shape).copy()
    full(x).sum().backward()
    g_theta = np.concatenate([p.grad.numpy().reshape(-1) for p in full.parameters()])
    np.testing.assert_allclose(sub.omega.grad.numpy(), sub.projection.apply_t(g_theta),
                               atol=1e-12)
    # a step moves the network, not the wrapped parameters, which are put back
    with tinyrpn.no_grad():
        sub.omega.data = sub.omega.data - 0.5 * sub.omega.grad.data
    assert not np.allclose(sub(x).detach().numpy(), expected)
    np.testing.assert_array_equal(theta_of(base), before)
    assert list(base.parameters()) == originals


def test_theta_is_theta0_plus_p_omega():
    tinyrpn.manual_seed(1)
    for offset in (True, False):
        sub = Subspace(tiny_model(), 5, projection="dense", offset=offset, seed=2)
        w = np.random.default_rng(0).standard_normal(5)
        sub.omega.data = w.copy()
        M = sub.projection.matrix()
        expected = (sub.theta0.detach().numpy() if offset else 0) + M @ w
        np.testing.assert_allclose(sub.theta().detach().numpy(), expected, atol=1e-12)


def test_state_dict_holds_omega_and_seed_not_p(tmp_path):
    tinyrpn.manual_seed(2)
    sub = Subspace(tiny_model(), 6, projection="qr", offset=False, seed=123)
    state = sub.state_dict()
    assert list(state) == ["omega", "theta0", "projection_seed"]
    assert state["theta0"].shape == (39,) and int(state["projection_seed"].item()) == 123
    assert all(t.numel() <= 39 for t in state.values())  # nothing of size D x d
    sub.omega.data = sub.omega.data + np.random.default_rng(1).standard_normal(6)
    x = tinyrpn.randn(3, 5, dtype="float64")
    expected = sub(x).detach().numpy()
    tinyrpn.save(sub.state_dict(), tmp_path / "sub.npz")
    # a model with another seed (so another P) and another init: loading rebuilds P
    tinyrpn.manual_seed(99)
    other = Subspace(tiny_model(), 6, projection="qr", offset=False, seed=7)
    assert not np.allclose(other(x).detach().numpy(), expected)
    other.load_state_dict(tinyrpn.load(tmp_path / "sub.npz"))
    np.testing.assert_allclose(other(x).detach().numpy(), expected, atol=1e-12)
    np.testing.assert_array_equal(other.projection.matrix(), sub.projection.matrix())
    with pytest.raises(KeyError, match="missing key 'omega'"):
        other.load_state_dict({"theta0": state["theta0"], "projection_seed": state[
            "projection_seed"]})


def test_forward_restores_parameters_on_exception():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 2).double()

        def forward(self, x):
            assert not isinstance(self.inner.weight, nn.Parameter)  # swapped in
            self.inner(x)
            raise RuntimeError("boom")

    model = Boom()
    weight, bias = model.inner.weight, model.inner.bias
    sub = Subspace(model, 2, projection="sparse")
    with pytest.raises(RuntimeError, match="boom"):
        sub(tinyrpn.randn(1, 3, dtype="float64"))
    assert model.inner._parameters["weight"] is weight
    assert model.inner._parameters["bias"] is bias


def test_shared_parameters_count_once_and_are_swapped_everywhere():
    lin = nn.Linear(4, 4).double()
    model = nn.Sequential(lin, nn.Tanh(), lin)  # the same layer twice
    x = tinyrpn.randn(2, 4, dtype="float64")
    expected = model(x).detach().numpy()
    sub = Subspace(model, 3, projection="fastfood", seed=0)
    assert sub.D == 20
    np.testing.assert_allclose(sub(x).detach().numpy(), expected, atol=1e-12)
    gradcheck(lambda w: sub.functional_call(w, x), sub.omega)


def test_frozen_parameters_stay_out_of_theta():
    model = tiny_model()
    model[0].bias.requires_grad_(False)
    sub = Subspace(model, 2, projection="dense", seed=0)
    assert sub.D == 39 - 4
    x = tinyrpn.randn(2, 5, dtype="float64")
    gradcheck(lambda w: sub.functional_call(w, x), sub.omega)


def test_modes_devices_dtypes_and_nesting():
    tinyrpn.manual_seed(3)
    base = nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    sub = Subspace(base, 3, projection="fastfood")
    assert sub.omega.dtype == np.float32 and sub.projection.dtype == np.float32
    sub.eval()
    assert not base.training and not base[1].training
    sub.train()
    assert base[1].training
    outer = nn.Sequential(sub, nn.LogSoftmax(dim=1))
    assert [name for name, _ in outer.named_parameters()] == ["0.omega"]
    outer.eval()
    assert not base[1].training
    sub.to("cpu")
    sub.to(np.float64)
    assert sub.omega.dtype == np.float64 and sub.theta0.dtype == np.float64
    assert sub.projection.dtype == np.float64 and sub.projection.G.dtype == np.float64
    assert "dim=3, D=34, projection='fastfood', offset=True" in repr(sub)
    assert "(model): Sequential" in repr(sub)


def test_buffers_of_the_wrapped_model_are_saved():
    base = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    sub = Subspace(base, 2, projection="sparse", seed=0)
    keys = list(sub.state_dict())
    assert "model.1.running_mean" in keys and "model.1.running_var" in keys
    assert "model.1.weight" not in keys and "model.0.weight" not in keys


def test_no_grad_evaluation_projects_once_per_omega(monkeypatch):
    sub = Subspace(tiny_model(), 4, projection="dense", seed=0)
    calls = []
    apply = sub.projection.apply
    monkeypatch.setattr(sub.projection, "apply", lambda w: calls.append(1) or apply(w))
    x = tinyrpn.randn(2, 5, dtype="float64")
    with tinyrpn.no_grad():
        a = sub(x).detach().numpy()
        sub(x)
        assert len(calls) == 1
        sub.omega.data[1] += 0.1  # changed in place: the cache must notice
        b = sub(x).detach().numpy()
    assert len(calls) == 2 and not np.allclose(a, b)
    sub(x)  # with gradients: always a fresh graph
    assert len(calls) == 3


def test_merged_model_is_the_trained_network():
    tinyrpn.manual_seed(4)
    sub = Subspace(tiny_model(), 5, projection="fastfood", offset=False, seed=0)
    sub.omega.data = sub.omega.data + 0.3
    x = tinyrpn.randn(3, 5, dtype="float64")
    expected = sub(x).detach().numpy()
    merged = sub.merged_model()
    np.testing.assert_allclose(merged(x).detach().numpy(), expected, atol=1e-12)


def test_training_lowers_the_loss():
    # 16 points, 3 classes, d = 12 of D = 39: plain gradient descent on omega must fit better
    rng = np.random.default_rng(5)
    x = tinyrpn.tensor(rng.standard_normal((16, 5)), dtype="float64")
    y = tinyrpn.tensor(rng.integers(0, 3, 16))
    tinyrpn.manual_seed(5)
    sub = Subspace(nn.Sequential(tiny_model(), nn.LogSoftmax(dim=1)), 12,
                   projection="sparse", seed=0)
    loss_fn = nn.NLLLoss()
    first = None
    for _ in range(60):
        sub.zero_grad()
        loss = loss_fn(sub(x), y)
        loss.backward()
        first = first if first is not None else loss.item()
        with tinyrpn.no_grad():
            sub.omega.data = sub.omega.data - 0.5 * sub.omega.grad.data
    assert loss.item() < 0.8 * first


def test_module_errors():
    with pytest.raises(ValueError, match=r"dim must be an integer in 1\.\.39"):
        Subspace(tiny_model(), 40)
    with pytest.raises(ValueError, match="dim must be"):
        Subspace(tiny_model(), 2.5)
    with pytest.raises(ValueError, match="unknown projection 'fast'"):
        Subspace(tiny_model(), 2, projection="fast")
    with pytest.raises(TypeError, match="must be a tinyrpn Module"):
        Subspace(lambda x: x, 2)
    zero = tiny_model()
    for p in zero.parameters():
        p.data = np.zeros_like(p.data)
    with pytest.raises(ValueError, match="non-zero theta_init"):
        Subspace(zero, 2, projection="fastfood", offset=False)


def test_seed_comes_from_tinyrpn_stream():
    tinyrpn.manual_seed(6)
    a = Subspace(tiny_model(), 3, projection="sparse")
    tinyrpn.manual_seed(6)
    b = Subspace(tiny_model(), 3, projection="sparse")
    assert int(a.projection_seed.item()) == int(b.projection_seed.item())
    np.testing.assert_array_equal(a.projection.matrix(), b.projection.matrix())


# ================================================================ the reference network


@pytest.mark.parametrize("kind", ["fastfood", "sparse"])
def test_reference_network_d1000_starts_at_init(kind):
    from tinyrpn.models import subspace_mlp

    tinyrpn.manual_seed(7)
    base = subspace_mlp()
    x = tinyrpn.rand(8, 784)
    expected = base(x).detach().numpy()
    sub = Subspace(base, 1000, projection=kind, offset=False)
    assert sub.D == 199_210 and sub.projection.nbytes < 16 * 2**20
    np.testing.assert_allclose(sub(x).detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    loss = sub(x).sum()
    loss.backward()
    assert sub.omega.grad.shape == (1000,) and np.isfinite(sub.omega.grad.numpy()).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["qr", "dense"])
def test_reference_network_d1000_dense_projections(kind):
    from tinyrpn.models import subspace_mlp

    tinyrpn.manual_seed(7)
    base = subspace_mlp()
    x = tinyrpn.rand(8, 784)
    expected = base(x).detach().numpy()
    sub = Subspace(base, 1000, projection=kind, offset=False)
    assert sub.projection.P.shape == (199_210, 1000) and sub.projection.dtype == np.float32
    np.testing.assert_allclose(sub(x).detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    cols = sub.projection.P[:, :50].astype(np.float64)
    gram = cols.T @ cols
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-5)
    off = np.abs(gram - np.diag(np.diag(gram))).max()
    assert off < (1e-5 if kind == "qr" else 0.03)  # dense: random, about 1/sqrt(D) apart


# ===================================================================== the sweep driver


def test_parse_dims():
    from tinyrpn.experiments.subspace_sweep import parse_dims

    assert parse_dims("3, 10,100,full") == (3, 10, 100, "full")
    assert parse_dims((3, "full", 1000)) == (3, "full", 1000)
    for bad, match in (("3,x", "'x' is not a positive integer"), ("0", "'0' is not"),
                       ((2.5,), "2.5 is not"), ("", "at least one"), ("3,3", "twice")):
        with pytest.raises(ValueError, match=match):
            parse_dims(bad)


def _fake_runs(monkeypatch, accuracy):
    """Replace training by a synthetic accuracy curve; record which d were trained."""
    from tinyrpn.experiments import subspace_sweep as sweep

    trained = []

    def fake_run(d, *args, **kwargs):
        trained.append(d)
        return {"dim": d, "run_dir": f"runs/{d}", "final_test_acc": accuracy(d),
                "best_test_acc": accuracy(d) + 0.005, "reused": False}

    class Exp:
        config = {"model": {"base": {"type": "mlp", "sizes": [784, 200, 200, 10],
                                     "batchnorm": False}}}

    monkeypatch.setattr(sweep, "_run", fake_run)
    monkeypatch.setattr(sweep, "_check_config", lambda *a, **k: Exp())
    monkeypatch.setattr(sweep, "plot_sweep", lambda rows, out, threshold=None: [])
    return trained


def test_find_dint90_bisects_to_the_resolution(monkeypatch, tmp_path):
    from tinyrpn.experiments.subspace_sweep import find_dint90

    def accuracy(d):  # "full" 0.98; crosses 0.90 at d = 760
        return 0.98 if d == "full" else 0.98 - 0.08 * 760 / d

    trained = _fake_runs(monkeypatch, accuracy)
    result = find_dint90("cfg.yaml", out_dir=tmp_path, progress=False)["dint90"]
    # 550 (misses), 800 (reaches), 700 (misses), 750 (misses): [750, 800] is 50 wide
    assert trained == [1000, 100, 550, 800, 700, 750]
    assert result["d_int90"] == result["hi"] and result["hi"] - result["lo"] <= 50
    assert result["lo"] < 760 <= result["hi"]
    assert abs(result["crossing"] - 760) < 10 and result["monotone"] and result["D"] == 199_210
    assert all(d % 50 == 0 for d in trained)
    saved = json.loads((tmp_path / "dint90.json").read_text())
    assert saved["dint90"]["d_int90"] == result["d_int90"]


def test_find_dint90_moves_the_bracket_and_other_modes(monkeypatch, tmp_path):
    from tinyrpn.experiments.subspace_sweep import find_dint90

    trained = _fake_runs(monkeypatch, lambda d: 0.98 if d == "full" else min(0.98, d / 3000))
    r = find_dint90("cfg.yaml", out_dir=tmp_path, progress=False, resolution=100)["dint90"]
    assert trained[:3] == [1000, 2000, 4000]  # hi doubled until it reaches 0.90 (d = 2700)
    assert r["lo"] < 2700 <= r["d_int90"] <= r["lo"] + 100
    # relative: target = 0.9 * full accuracy = 0.882; a fixed grid instead of bisection
    trained.clear()
    r = find_dint90("cfg.yaml", out_dir=tmp_path, progress=False, relative=True,
                    grid=[2000, 2500, 2700, 3000], metric="best")["dint90"]
    assert trained[0] == "full" and r["target"] == pytest.approx(0.9 * 0.985)
    assert r["d_int90"] == 2700 and r["lo"] == 2500 and r["grid"]  # best: d/3000 + 0.005
    with pytest.raises(ValueError, match="metric must be 'final' or 'best'"):
        find_dint90("cfg.yaml", metric="last")


needs_mnist = pytest.mark.skipif(
    not (Path(os.environ.get("TINYRPN_DATA") or "/work/shared/data/mnist")
         / "train-images-idx3-ubyte.gz").exists(),
    reason="the MNIST files are not in $TINYRPN_DATA",
)
SUBSPACE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "subspace_d1000.yaml"


def _sweep_kwargs(tmp_path, monkeypatch, dims):
    monkeypatch.setenv("TINYRPN_DATA", os.environ.get("TINYRPN_DATA")
                       or "/work/shared/data/mnist")
    return dict(dims=dims, out_dir=tmp_path, projection="fastfood", epochs=1,
                limit_train=512, limit_test=200, progress=False,
                overrides={"training.eval_every_steps": 1})


def _check_rows(summary, dims):
    assert [r["dim"] for r in summary["runs"]] == list(dims)
    for row in summary["runs"]:
        assert row["status"] == "completed" and row["steps"] == 2 and not row["reused"]
        assert 0.0 <= row["final_test_acc"] <= row["best_test_acc"] <= 1.0
        assert row["peak_rss_mb"] > 0 and row["seconds"] > 0
        history = json.loads((Path(row["run_dir"]) / "history.json").read_text())
        assert history["test_steps"] == [1, 2] and len(history["step_loss"]) == 2
        assert row["num_parameters"] == (199_210 if row["dim"] == "full" else row["dim"])
        assert row["projection"] == (None if row["dim"] == "full" else "fastfood")


@needs_mnist
def test_sweep_trains_plots_and_summarises(tmp_path, monkeypatch):
    from tinyrpn.experiments.subspace_sweep import run_subspace_sweep

    kwargs = _sweep_kwargs(tmp_path, monkeypatch, (3,))
    summary = run_subspace_sweep(SUBSPACE_CONFIG, isolate=False, **kwargs)
    _check_rows(summary, (3,))
    assert summary["runs"][0]["peak_rss_is_process_max"]
    for name in ("loss.png", "accuracy.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 1000
    assert json.loads((tmp_path / "summary.json").read_text())["runs"][0]["dim"] == 3
    again = run_subspace_sweep(SUBSPACE_CONFIG, isolate=False, resume=True, **kwargs)
    assert again["runs"][0]["reused"]
    with pytest.raises(ValueError, match="needs model.type: subspace .* got model.type: mlp"):
        run_subspace_sweep(SUBSPACE_CONFIG.with_name("mlp_small.yaml"), dims=(3,),
                           out_dir=tmp_path / "x", progress=False, isolate=False)


@needs_mnist
@pytest.mark.slow
def test_sweep_runs_each_dim_in_its_own_process(tmp_path, monkeypatch):
    from tinyrpn.experiments.subspace_sweep import run_subspace_sweep

    summary = run_subspace_sweep(SUBSPACE_CONFIG, isolate=True,
                                 **_sweep_kwargs(tmp_path, monkeypatch, (3, "full")))
    _check_rows(summary, (3, "full"))
    pids = {r["pid"] for r in summary["runs"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert not any(r.get("peak_rss_is_process_max") for r in summary["runs"])


def test_measure_projections_reports_memory_and_speed():
    from tinyrpn.experiments.subspace_sweep import measure_projections

    (row,) = measure_projections(("sparse",), dim=10, batch_size=8, steps=1, isolate=False)
    assert row["projection"] == "sparse" and row["dim"] == 10
    assert row["steps_per_second"] > 0 and row["peak_rss_mb"] >= row["rss_before_build_mb"] > 0
    assert 0 < row["projection_mb"] < 1


@pytest.mark.parametrize("kind", KINDS)
def test_subspace_on_a_device_matches_the_cpu(kind, device):
    """The projection's arrays move with the module; P ω, Pᵀ g and training steps happen
    on the device and give the cpu's numbers."""
    x = tinyrpn.randn(6, 5, dtype="float64")
    results = []
    for where in ("cpu", device):
        tinyrpn.manual_seed(0)
        sub = Subspace(tiny_model(), 7, projection=kind, seed=1).to(where)
        opt = tinyrpn.optim.SGD(sub.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            sub(x.to(where)).square().sum().backward()
            opt.step()
        assert sub.omega.device == where
        results.append((sub.omega.detach().numpy(), sub(x.to(where)).detach().numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)
