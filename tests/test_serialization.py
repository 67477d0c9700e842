"""tinyrpn.save / tinyrpn.load: round trips, the file format, atomic writes, clear errors."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import tinyrpn
from tinyrpn import nn, serialization
from tinyrpn.serialization import SerializationError


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.BatchNorm1d(5), nn.Linear(5, 3))


def test_state_dict_round_trip(tmp_path):
    tinyrpn.manual_seed(0)
    model = _model()
    model(tinyrpn.randn(8, 6))  # moves the batch norm's running statistics off their defaults
    path = tmp_path / "model.npz"
    tinyrpn.save(model.state_dict(), path)

    tinyrpn.manual_seed(1)
    fresh = _model()
    loaded = tinyrpn.load(path)
    assert list(loaded) == list(model.state_dict())  # names, in order
    fresh.load_state_dict(loaded)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert fresh.state_dict()["2.num_batches_tracked"].item() == 1
    x = tinyrpn.randn(4, 6)
    model.eval(), fresh.eval()
    np.testing.assert_array_equal(model(x).numpy(), fresh(x).numpy())


def test_nested_checkpoint_keeps_every_type(tmp_path):
    rng_state = tinyrpn.get_rng_state()  # holds 128-bit integers
    checkpoint = {
        "model": {"w": tinyrpn.randn(3, 2), "steps": tinyrpn.tensor(7)},
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": np.arange(4.0)}, 1: {"step": 3}},
            "param_groups": [{"lr": 2e-3, "betas": (0.9, 0.999), "params": [0, 1],
                              "name": None, "amsgrad": False}],
        },
        "epoch": 4,
        "best": float("inf"),
        "rng": rng_state,
        "mask": np.array([True, False]),
        "ints": np.array([1, 2], dtype=np.int32),
        "lr": np.float32(0.5),
        "note": "ünïcode ✓",
    }
    path = tmp_path / "ckpt.npz"
    tinyrpn.save(checkpoint, path)
    back = tinyrpn.load(path)

    assert isinstance(back["model"]["w"], tinyrpn.Tensor)
    np.testing.assert_array_equal(back["model"]["w"].numpy(), checkpoint["model"]["w"].numpy())
    assert back["model"]["steps"].dtype == np.int64 and back["model"]["steps"].item() == 7
    assert set(back["optimizer"]["state"]) == {0, 1}  # int keys stay ints
    exp_avg = back["optimizer"]["state"][0]["exp_avg"]
    assert isinstance(exp_avg, np.ndarray) and exp_avg.dtype == np.float64
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)  # a tuple again
    assert back["optimizer"]["param_groups"][0]["name"] is None
    assert back["optimizer"]["param_groups"][0]["amsgrad"] is False
    assert back["epoch"] == 4 and back["best"] == float("inf")
    assert back["rng"] == rng_state
    assert back["mask"].dtype == np.bool_ and back["ints"].dtype == np.int32
    assert isinstance(back["lr"], np.float32) and back["lr"] == np.float32(0.5)
    assert back["note"] == "ünïcode ✓"
    tinyrpn.set_rng_state(back["rng"])  # usable as it comes back


def test_file_is_a_plain_npz(tmp_path):
    path = tmp_path / "plain.npz"
    w = tinyrpn.randn(2, 3)
    tinyrpn.save({"fc1.weight": w, "meta": {"epoch": 1}}, path)
    with np.load(path, allow_pickle=False) as archive:  # readable without tinyrpn
        np.testing.assert_array_equal(archive["fc1.weight"], w.numpy())
        header = json.loads(archive[serialization.HEADER_KEY].tobytes())
    assert header["format"] == "tinyrpn" and header["version"] == serialization.FORMAT_VERSION


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tinyrpn.save({"v": tinyrpn.ones(3)}, path)
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        tinyrpn.save({"v": tinyrpn.zeros(3)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(tinyrpn.load(path)["v"].numpy(), np.ones(3))  # old file intact


def test_overwrite_and_compress(tmp_path):
    path = tmp_path / "x.npz"
    tinyrpn.save({"a": tinyrpn.zeros(1000)}, path)
    tinyrpn.save({"a": tinyrpn.ones(1000)}, path, compress=True)
    assert os.path.getsize(path) < 1000  # zeros compress well... and ones too
    np.testing.assert_array_equal(tinyrpn.load(path)["a"].numpy(), np.ones(1000))


def test_map_location_moves_tensors_only(tmp_path, device):
    """Tensors saved on any device load onto ``map_location``; plain arrays stay NumPy."""
    saved_on = tinyrpn.ones(2, device=device)
    tinyrpn.save({"t": saved_on, "a": np.zeros(3)}, tmp_path / "a.npz")
    assert tinyrpn.load(tmp_path / "a.npz", map_location="cpu")["t"].device == "cpu"
    name = "cuda:0" if device == "cuda" else device
    back = tinyrpn.load(tmp_path / "a.npz", map_location=name)
    assert back["t"].device == device
    np.testing.assert_array_equal(back["t"].numpy(), [1.0, 1.0])
    assert isinstance(back["a"], np.ndarray)


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        tinyrpn.load(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tinyrpn.save({}, tmp_path / "missing_dir" / "x.npz")


def test_not_a_tinyrpn_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(SerializationError, match="not a tinyrpn file"):
        tinyrpn.load(text)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(2))
    with pytest.raises(SerializationError, match="not a tinyrpn file.*numpy.load"):
        tinyrpn.load(foreign)


def test_corrupt_files(tmp_path):
    good = tmp_path / "good.npz"
    tinyrpn.save({"w": tinyrpn.randn(50, 50)}, good)
    data = good.read_bytes()

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match="corrupt"):
        tinyrpn.load(truncated)

    # flip bytes inside the weight's data: the zip's CRC check catches it
    flipped = bytearray(data)
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("w.npy")
    middle = info.header_offset + 200
    flipped[middle:middle + 8] = bytes(255 - b for b in flipped[middle:middle + 8])
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(SerializationError, match="corrupt"):
        tinyrpn.load(damaged)


def test_header_errors(tmp_path):
    def write(header: object, **arrays: np.ndarray) -> str:
        path = tmp_path / "h.npz"
        raw = json.dumps(header).encode()
        np.savez(path, **{serialization.HEADER_KEY: np.frombuffer(raw, np.uint8)}, **arrays)
        return path

    with pytest.raises(SerializationError, match="format version 99"):
        tinyrpn.load(write({"format": "tinyrpn", "version": 99, "object": {"value": 1}}))
    with pytest.raises(SerializationError, match="does not contain"):
        tinyrpn.load(write({"format": "tinyrpn", "version": 1, "object": {"tensor": "w"}}))
    with pytest.raises(SerializationError, match="unknown entry type"):
        tinyrpn.load(write({"format": "tinyrpn", "version": 1, "object": {"pickle": "x"}}))
    with pytest.raises(SerializationError, match="not a tinyrpn file"):
        tinyrpn.load(write({"format": "other"}))


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(SerializationError, match="cannot store a object at model/w"):
        tinyrpn.save({"model": {"w": object()}}, tmp_path / "x.npz")
    with pytest.raises(SerializationError, match="dict key"):
        tinyrpn.save({(1, 2): 3}, tmp_path / "x.npz")
    with pytest.raises(SerializationError, match="dtype object"):
        tinyrpn.save({"a": np.array([None, 1])}, tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_member_names_never_collide(tmp_path):
    # "a/b" as one key and "b" under "a" would map to the same member name
    obj = {"a/b": np.zeros(1), "a": {"b": np.ones(1)}, serialization.HEADER_KEY: np.full(1, 2.0)}
    tinyrpn.save(obj, tmp_path / "c.npz")
    back = tinyrpn.load(tmp_path / "c.npz")
    assert back["a/b"][0] == 0 and back["a"]["b"][0] == 1
    assert back[serialization.HEADER_KEY][0] == 2


def test_strict_load_state_dict_errors(tmp_path):
    model = _model()
    state = dict(model.state_dict())
    state["0.wieght"] = state.pop("0.weight")
    tinyrpn.save(state, tmp_path / "bad.npz")
    loaded = tinyrpn.load(tmp_path / "bad.npz")
    with pytest.raises(KeyError, match="missing key '0.weight'.*did you mean '0.weight'"):
        _model().load_state_dict(loaded)
    missing, unexpected = _model().load_state_dict(loaded, strict=False)
    assert missing == ["0.weight"] and unexpected == ["0.wieght"]

    wrong = {k: v for k, v in model.state_dict().items()}
    wrong["3.weight"] = tinyrpn.zeros(4, 5)
    tinyrpn.save(wrong, tmp_path / "shape.npz")
    with pytest.raises(ValueError, match=r"'3.weight' has shape \(4, 5\)"):
        _model().load_state_dict(tinyrpn.load(tmp_path / "shape.npz"))
