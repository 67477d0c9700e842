"""``tinyrpn.save`` / ``tinyrpn.load``: state dicts and checkpoints as plain ``.npz`` files.

A file is an ordinary NumPy ``.npz`` archive that any NumPy can open without tinyrpn:

* every array (a Tensor's values, or a NumPy array) is one ``.npy`` member, named after
  where it sits in the saved object (``model/fc1.weight``);
* one extra member, ``__tinyrpn__``, holds a small JSON header (as bytes) that records the
  structure of the object — nested dicts, lists and tuples, Python numbers, strings,
  booleans, None — and which member holds each array.

Nothing is pickled: the archive is read with ``allow_pickle=False``, so loading a file
cannot run code. Writes are atomic: the archive is written to a temporary file in the
target directory, flushed to disk (fsync), then renamed over the target, so a crash leaves
either the old file or the new one, never half of one.

>>> tinyrpn.save({"model": model.state_dict(), "epoch": 3}, "ckpt.npz")
>>> ckpt = tinyrpn.load("ckpt.npz")
>>> model.load_state_dict(ckpt["model"])
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Tensor

__all__ = ["save", "load", "atomic_write", "SerializationError", "FORMAT_VERSION"]

FORMAT_VERSION = 1
HEADER_KEY = "__tinyrpn__"
_FORMAT_NAME = "tinyrpn"


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


class SerializationError(ValueError):
    """A file is not a tinyrpn file, is corrupt, or an object cannot be stored."""


# ----------------------------------------------------------------------------- encoding
#
# The header describes the object as tagged JSON, one tag per node, so that every Python
# type comes back as itself:
#   {"tensor": "model/w"}        a Tensor whose values are the member "model/w"
#   {"ndarray": "x"}             a NumPy array
#   {"npscalar": "lr"}           a NumPy scalar (np.float32(0.1)), stored as a 0-d array
#   {"value": 3}                 a JSON value: int, float, str, bool or None
#   {"dict": [[key, node], ...]} a dict (keys str, int, float, bool or None; order kept)
#   {"list": [node, ...]}        a list      {"tuple": [node, ...]}   a tuple

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-/]")


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _member(self, path: list[str], array: np.ndarray) -> str:
        name = _SAFE_NAME.sub("_", "/".join(path)) or "array"
        if name == HEADER_KEY or name in self.arrays:
            base, i = name, 1
            while name in self.arrays or name == HEADER_KEY:
                name, i = f"{base}~{i}", i + 1
        if array.dtype == object:
            raise SerializationError(
                f"save: the array at {'/'.join(path) or '<root>'} has dtype object; only "
                "numeric and boolean arrays can be stored (nothing is pickled)"
            )
        self.arrays[name] = array
        return name

    def encode(self, value: Any, path: list[str]) -> Any:
        if isinstance(value, Tensor):
            return {"tensor": self._member(path, backend.to_numpy(value.data))}
        if isinstance(value, np.ndarray) or backend.get_array_module(value) is not np:
            return {"ndarray": self._member(path, backend.to_numpy(value))}
        if isinstance(value, np.generic):
            return {"npscalar": self._member(path, np.asarray(value))}
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"value": value}
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if not (key is None or isinstance(key, (str, int, float, bool))):
                    raise SerializationError(
                        f"save: dict key {key!r} at {'/'.join(path) or '<root>'} has type "
                        f"{type(key).__name__}; keys must be str, int, float, bool or None"
                    )
                items.append([key, self.encode(item, [*path, str(key)])])
            return {"dict": items}
        if isinstance(value, (list, tuple)):
            tag = "tuple" if isinstance(value, tuple) else "list"
            return {tag: [self.encode(item, [*path, str(i)]) for i, item in enumerate(value)]}
        raise SerializationError(
            f"save: cannot store a {type(value).__name__} at {'/'.join(path) or '<root>'}; "
            "supported are Tensor, numpy arrays and scalars, int, float, str, bool, None, "
            "and dicts, lists and tuples of those"
        )


def _decode(node: Any, archive: Any, map_location: str | None, where: str) -> Any:
    if not isinstance(node, dict) or len(node) != 1:
        raise SerializationError(f"load: corrupt header in {where}: unexpected entry {node!r}")
    (tag, body), = node.items()
    if tag in ("tensor", "ndarray", "npscalar"):
        if body not in archive.files:
            raise SerializationError(
                f"load: corrupt file {where}: the header refers to an array {body!r} "
                "that the archive does not contain"
            )
        try:
            array = archive[body]
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise SerializationError(
                f"load: corrupt file {where}: array {body!r} cannot be read ({exc})"
            ) from exc
        if tag == "npscalar":
            return array[()]
        if tag == "ndarray":
            return array  # NumPy arrays stay NumPy arrays; map_location moves tensors only
        if map_location is not None:
            array = backend.to_device(array, map_location)
        return Tensor._wrap(array)
    if tag == "value":
        return body
    if tag == "dict":
        return {key: _decode(item, archive, map_location, where) for key, item in body}
    if tag == "list":
        return [_decode(item, archive, map_location, where) for item in body]
    if tag == "tuple":
        return tuple(_decode(item, archive, map_location, where) for item in body)
    raise SerializationError(f"load: corrupt header in {where}: unknown entry type {tag!r}")


# ----------------------------------------------------------------------------- save / load


def save(obj: Any, path: str | os.PathLike[str], compress: bool = False) -> None:
    """Write ``obj`` (a state dict, or a nest of dicts/lists of tensors, arrays and plain
    values) to ``path`` as an ``.npz`` archive, atomically.

    Tensors are saved as their values (on the CPU); they come back from :func:`load` as
    plain tensors without a graph. ``compress=True`` zips the arrays (slower; little gain
    on trained float weights).
    """
    encoder = _Encoder()
    structure = encoder.encode(obj, [])
    header = {"format": _FORMAT_NAME, "version": FORMAT_VERSION, "object": structure}
    try:
        header_bytes = json.dumps(header).encode("utf-8")
    except (TypeError, ValueError) as exc:  # e.g. a str that is not valid UTF-8
        raise SerializationError(f"save: the object's plain values cannot be written: {exc}") \
            from exc
    members = {HEADER_KEY: np.frombuffer(header_bytes, dtype=np.uint8), **encoder.arrays}

    writer = np.savez_compressed if compress else np.savez
    atomic_write(path, lambda f: writer(f, **members))


def atomic_write(path: str | os.PathLike[str], data: bytes | Callable[[BinaryIO], Any]) -> None:
    """Write ``data`` (bytes, or a function that writes into an open binary file) to
    ``path`` atomically: to a temporary file beside it, flushed to disk, then renamed over it.

    A reader (or a resumed run) sees the old file or the new one, never half of one; a
    write that fails (disk full, a read-only folder) raises and leaves the old file whole.
    Every file tinyrpn keeps (checkpoints, histories, results, sweep rows) is written here.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {target.name}: directory {str(directory)!r} "
                                "does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, _FILE_MODE)  # mkstemp makes it private (0600); use the usual mode
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    # Make the rename itself durable (a directory fsync; not possible on every platform).
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def load(path: str | os.PathLike[str], map_location: str | None = None) -> Any:
    """Read an object written by :func:`save`.

    Tensors come back as tensors (on ``map_location``, default the CPU), NumPy arrays as
    NumPy arrays (as in PyTorch, ``map_location`` moves tensors only), dicts as dicts (in
    their saved order), and plain values as themselves. Raises
    FileNotFoundError for a missing file and :class:`SerializationError` for a file that
    is not a tinyrpn archive or is damaged.
    """
    target = Path(path)
    where = repr(str(target))
    if not target.exists():
        raise FileNotFoundError(f"load: no such file {where}")
    if target.is_dir():
        raise IsADirectoryError(f"load: {where} is a directory, not a tinyrpn file")
    if map_location is not None:
        map_location = backend.normalize_device(map_location)
    with open(target, "rb") as f:
        magic = f.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise SerializationError(
            f"load: {where} is not a tinyrpn file (not an .npz archive: tinyrpn.save writes "
            "NumPy .npz files)"
        )
    try:
        archive = np.load(target, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise SerializationError(f"load: corrupt file {where}: {exc}") from exc
    with archive:
        if not hasattr(archive, "files") or HEADER_KEY not in archive.files:
            raise SerializationError(
                f"load: {where} is an .npz archive but not a tinyrpn file (it has no "
                f"{HEADER_KEY!r} header); read it with numpy.load instead"
            )
        try:
            header = json.loads(archive[HEADER_KEY].tobytes().decode("utf-8"))
        except (ValueError, OSError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
            raise SerializationError(f"load: corrupt file {where}: unreadable header ({exc})") \
                from exc
        if not isinstance(header, dict) or header.get("format") != _FORMAT_NAME:
            raise SerializationError(f"load: {where} is not a tinyrpn file (unknown header)")
        version = header.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SerializationError(
                f"load: {where} has format version {version!r}; this tinyrpn reads versions "
                f"up to {FORMAT_VERSION} (upgrade tinyrpn to read it)"
            )
        if "object" not in header:
            raise SerializationError(f"load: corrupt header in {where}: no 'object' entry")
        return _decode(header["object"], archive, map_location, where)
