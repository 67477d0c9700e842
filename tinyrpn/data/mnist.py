"""MNIST: find, download, verify, parse and cache the four IDX files.

    >>> train = MNIST(train=True)        # doctest: +SKIP
    >>> train.images.shape, train.images.dtype, train.labels.dtype
    ((60000, 28, 28), dtype('uint8'), dtype('int64'))

Where the files live (the *root*) is decided in this order:

1. the ``root`` argument,
2. the ``TINYRPN_DATA`` environment variable,
3. ``~/.cache/tinyrpn/mnist``.

The root holds the four standard files, gzip-compressed (``train-images-idx3-ubyte.gz``)
or already decompressed (``train-images-idx3-ubyte``). Every file is checked before use:
its IDX header must make sense, and the md5 of its *decompressed* bytes must match
:data:`MD5` (the gzip bytes themselves may differ: a file that was recompressed is fine).

A missing file is downloaded (``download=True``) from the first of :data:`MIRRORS` that
works. The download streams into a temporary file in the root and is renamed to its final
name only once it has been verified, so an interrupted or corrupt download never leaves a
file under the final name. Nothing is ever written into a root whose files are all there.

Parsed arrays are cached in memory for the life of the process, so building ``MNIST``
twice costs nothing the second time. The cached arrays are shared and read-only: copy
one (``images.copy()``) before changing it in place.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .transforms import one_hot_pm1, resize_bilinear

__all__ = [
    "ENV_VAR",
    "FILES",
    "MD5",
    "MIRRORS",
    "MNIST",
    "MNISTDownloadError",
    "MNISTFileError",
    "MNISTNotFoundError",
    "clear_cache",
    "download_file",
    "lecun1989_indices",
    "lecun1989_subset",
    "parse_idx",
    "read_idx_file",
    "resolve_root",
]

ENV_VAR = "TINYRPN_DATA"
DEFAULT_ROOT = "~/.cache/tinyrpn/mnist"

#: Base URLs tried in order; a file's URL is ``mirror + name + ".gz"``.
MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

#: The files of each split: (images, labels), named without the ``.gz``.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: md5 of each file's decompressed bytes. Tests may replace entries; ``None`` skips the check.
MD5: dict[str, str | None] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

# IDX magic numbers: two zero bytes, a type code (0x08 = unsigned byte), the number of dims.
IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dims (N, rows, cols)
LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dim (N,)
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class MNISTFileError(ValueError):
    """A data file is truncated, corrupt, or not the file it should be.

    ``path`` is the file, ``problem`` says what is wrong with it; the message adds what
    to do about it.
    """

    def __init__(self, path: Path | str, problem: str, advice: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        self.advice = advice
        message = f"{self.path}: {problem}"
        if advice:
            message += f"\n{advice}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (a sweep's runs report from a child)
        return type(self), (self.path, self.problem, self.advice)


class MNISTNotFoundError(FileNotFoundError):
    """Some MNIST files are missing from the root and downloading was not allowed."""


class MNISTDownloadError(RuntimeError):
    """A file could not be downloaded from any mirror (each URL and reason is listed)."""


# --------------------------------------------------------------------------- root


def _resolve_root(root: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The data root and a few words on where it came from (for error messages)."""
    if root is not None:
        return Path(root).expanduser(), "the root argument"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return Path(DEFAULT_ROOT).expanduser(), "the default location"


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds (or will hold) the MNIST files.

    In order: ``root`` if given, else ``$TINYRPN_DATA`` if set and non-empty, else
    ``~/.cache/tinyrpn/mnist``.
    """
    return _resolve_root(root)[0]


def _find_file(root: Path, name: str) -> Path | None:
    """``root/name`` (decompressed) or ``root/name.gz``, whichever exists, else None."""
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- parsing


def parse_idx(data: bytes, source: str | Path = "<bytes>", expected_magic: int | None = None):
    """Parse the bytes of an (uncompressed) IDX file into a NumPy array.

    An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
    big-endian uint32 sizes, then the values in C order. This checks the magic number
    (against ``expected_magic`` if given), the type code, and that the payload holds
    exactly ``prod(sizes)`` values. The result is a read-only view of ``data``.
    Problems raise :class:`MNISTFileError` naming ``source``.
    """
    if len(data) < 4:
        raise MNISTFileError(source, f"is truncated: only {len(data)} bytes, no IDX header")
    magic = int.from_bytes(data[:4], "big")
    zeros, type_code, ndim = data[:2], data[2], data[3]
    if expected_magic is not None and magic != expected_magic:
        raise MNISTFileError(
            source,
            f"has magic number {magic} (0x{magic:08x}), expected {expected_magic} "
            f"(0x{expected_magic:08x}, {_describe_magic(expected_magic)}); "
            f"it is {_describe_magic(magic)}",
        )
    if zeros != b"\x00\x00" or type_code not in _IDX_TYPES:
        raise MNISTFileError(
            source,
            f"does not start with an IDX header (first bytes {data[:4].hex(' ')}; "
            "expected 00 00 <type> <ndim>, type 08 for unsigned bytes)",
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise MNISTFileError(
            source,
            f"is truncated: {len(data)} bytes, but its {ndim}-dim header needs {header_size}",
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - header_size
    if payload < expected_bytes:
        raise MNISTFileError(
            source,
            f"is truncated: its header promises shape {shape} ({expected_bytes} bytes of data) "
            f"but only {payload} bytes follow",
        )
    if payload > expected_bytes:
        raise MNISTFileError(
            source,
            f"has {payload - expected_bytes} unexpected bytes after the {expected_bytes} bytes "
            f"of data its header (shape {shape}) describes",
        )
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)


def _describe_magic(magic: int) -> str:
    if magic == IMAGES_MAGIC:
        return "an IDX image file"
    if magic == LABELS_MAGIC:
        return "an IDX label file"
    return "not an MNIST IDX file"


def _decompress(data: bytes, path: Path) -> bytes:
    """Gunzip ``data`` if it is gzip-compressed (by its first two bytes), else return it."""
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise MNISTFileError(path, f"is a corrupt or truncated gzip file ({exc})") from exc


def read_idx_file(
    path: str | Path, expected_magic: int | None = None, expected_md5: str | None = None
) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, check it, and return its array.

    Checks, in order: the gzip stream (if compressed), the IDX header and size (see
    :func:`parse_idx`), and the md5 of the decompressed bytes against ``expected_md5``
    (skipped when None). Any problem raises :class:`MNISTFileError`.
    """
    path = Path(path)
    data = _decompress(path.read_bytes(), path)
    array = parse_idx(data, path, expected_magic)
    if expected_md5 is not None:
        actual = hashlib.md5(data).hexdigest()
        if actual != expected_md5:
            raise MNISTFileError(
                path,
                f"checksum mismatch: the md5 of its decompressed bytes is {actual}, "
                f"expected {expected_md5}",
            )
    return array


# --------------------------------------------------------------------------- cache

_CACHE: dict[tuple[Any, ...], np.ndarray] = {}


def clear_cache() -> None:
    """Forget every array parsed so far in this process."""
    _CACHE.clear()


def _cache_key(path: Path, name: str) -> tuple[Any, ...]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, name, MD5.get(name))


def _load_verified(path: Path, name: str) -> np.ndarray:
    """The checked array of MNIST file ``name`` stored at ``path`` (cached per process).

    Images come back as uint8 (N, 28, 28), labels as int64 (N,); both read-only.
    """
    key = _cache_key(path, name)
    if key in _CACHE:
        return _CACHE[key]
    array = _read_mnist_file(path, name)
    _CACHE[key] = array
    return array


def _read_mnist_file(path: Path, name: str) -> np.ndarray:
    """Read and check one MNIST file; no caching. Raises MNISTFileError with advice."""
    expected_md5 = MD5.get(name)
    is_images = "images" in name
    try:
        array = read_idx_file(path, IMAGES_MAGIC if is_images else LABELS_MAGIC, expected_md5)
        if is_images and array.shape[1:] != (28, 28):
            raise MNISTFileError(path, f"holds images of shape {array.shape[1:]}, not 28x28")
        if not is_images:
            if array.size and array.max() > 9:
                raise MNISTFileError(path, f"holds label {array.max()}; labels must be 0..9")
            array = array.astype(np.int64)
            array.flags.writeable = False
    except MNISTFileError as exc:
        checksum = f" (its decompressed md5 should be {expected_md5})" if expected_md5 else ""
        raise MNISTFileError(
            path,
            exc.problem,
            f"What to do: delete {path} so that it is downloaded again (MNIST(download=True), "
            f"or download: true in a config's data.dataset), or replace it with a good copy "
            f"of {name}{checksum}.",
        ) from None
    return array


# --------------------------------------------------------------------------- download


def download_file(
    name: str,
    root: str | Path,
    mirrors: Sequence[str] | None = None,
    *,
    session: Any = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download MNIST file ``name`` (without ``.gz``) into ``root``; return its path.

    Tries each mirror in turn (URL ``mirror + name + ".gz"``), streaming into a
    temporary file in ``root`` with a progress bar, and checks it with the same checks
    as a file found on disk (IDX header, md5 of the decompressed bytes). Only a file
    that passes is renamed to its final name: ``name.gz``, or ``name`` if the server
    sent it already decompressed. A mirror that answers with an HTTP error, cannot be
    reached, or sends bytes that fail the checks is skipped; if all fail,
    :class:`MNISTDownloadError` lists every URL and why it failed.
    ``session`` is a ``requests.Session`` (one is made if None).
    """
    import requests  # imported here so that `import tinyrpn.data` stays quick

    root = Path(root)
    mirrors = list(MIRRORS if mirrors is None else mirrors)
    if not mirrors:
        raise MNISTDownloadError(f"cannot download {name}: the list of mirrors is empty")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MNISTDownloadError(_cannot_write(root, exc)) from exc

    own_session = session is None
    if own_session:
        session = requests.Session()
    failures: list[tuple[str, str]] = []
    try:
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name + ".gz"
            try:
                fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".part")
            except OSError as exc:
                raise MNISTDownloadError(_cannot_write(root, exc)) from exc
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    _stream(session, url, out, name, timeout, progress)
                array = _read_mnist_file(tmp, name)
                with open(tmp, "rb") as f:
                    compressed = f.read(2) == _GZIP_MAGIC
                final = root / (f"{name}.gz" if compressed else name)
                os.replace(tmp, final)  # atomic: the final name appears complete or not at all
                _CACHE[_cache_key(final, name)] = array
                return final
            except MNISTFileError as exc:
                failures.append((url, exc.problem))
            except requests.HTTPError as exc:
                response = exc.response  # note: a Response is falsy for 4xx/5xx codes
                if response is not None:
                    failures.append((url, f"HTTP {response.status_code} {response.reason}"))
                else:
                    failures.append((url, f"HTTP error ({exc})"))
            except requests.RequestException as exc:
                failures.append((url, f"could not connect or read ({type(exc).__name__}: {exc})"))
            finally:
                tmp.unlink(missing_ok=True)  # gone already if it was renamed
    finally:
        if own_session:
            session.close()

    tried = "\n".join(f"  - {url}: {why}" for url, why in failures)
    all_names = ", ".join(f"{n}.gz" for pair in FILES.values() for n in pair)
    raise MNISTDownloadError(
        f"could not download {name}.gz from any mirror:\n{tried}\n"
        f"What to do: check the network connection and try again, pass other mirrors "
        f"(MNIST(mirrors=[...])), or put the four MNIST files ({all_names}) into {root} "
        f"by hand, or set ${ENV_VAR} to a folder that already has them."
    )


def _stream(session: Any, url: str, out: Any, name: str, timeout: float, progress: bool) -> None:
    """GET ``url`` and write the body to the open file ``out`` chunk by chunk."""
    from tinyrpn.display import progress_bar

    with session.get(url, stream=True, timeout=timeout) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length", 0)) or None
        with progress_bar(
            total=total, unit="B", unit_scale=True, desc=f"{name}.gz", disable=not progress
        ) as bar:
            for chunk in response.iter_content(chunk_size=1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _cannot_write(root: Path, exc: OSError) -> str:
    return (
        f"cannot write into {root} to download MNIST ({exc}). What to do: pass root= a "
        f"writable folder, or set ${ENV_VAR} to a folder that already has the four files."
    )


# --------------------------------------------------------------------------- dataset


class MNIST:
    """The MNIST digits: ``images`` uint8 (N, 28, 28) and ``labels`` int64 (N,).

    ``train=True`` gives the 60,000 training images, ``train=False`` the 10,000 test
    images. ``root`` is resolved as described in :func:`resolve_root`. Missing files are
    downloaded when ``download`` is true (see :func:`download_file`; ``mirrors``,
    ``progress`` and ``timeout`` are passed on), else :class:`MNISTNotFoundError` names
    them. ``len(ds)`` is N and ``ds[i]`` is ``(images[i], labels[i])``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        download: bool = True,
        *,
        mirrors: Sequence[str] | None = None,
        progress: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.root, root_source = _resolve_root(root)
        # How the repr names the folder: as the user gave it, or where it came from
        # ($TINYRPN_DATA, the default), never the absolute path a notebook would then carry.
        self._root_shown = {"the root argument": str(root), f"${ENV_VAR}": f"${ENV_VAR}",
                            "the default location": DEFAULT_ROOT}[root_source]
        self.train = bool(train)
        self.split = "train" if self.train else "test"
        names = FILES[self.split]

        paths = {name: _find_file(self.root, name) for name in names}
        missing = [name for name, path in paths.items() if path is None]
        if missing and not download:
            listed = ", ".join(f"{name}(.gz)" for name in missing)
            raise MNISTNotFoundError(
                f"MNIST {self.split} files missing in {self.root} (root from {root_source}): "
                f"{listed}.\nWhat to do: pass download=True (in a config: download: true in "
                f"data.dataset) to fetch them, put them in that folder, or pass root= (or "
                f"set ${ENV_VAR}) to a folder that has them."
            )
        for name in missing:
            paths[name] = download_file(
                name, self.root, mirrors, timeout=timeout, progress=progress
            )

        image_name, label_name = names
        self.images: np.ndarray = _load_verified(paths[image_name], image_name)
        self.labels: np.ndarray = _load_verified(paths[label_name], label_name)
        if len(self.images) != len(self.labels):
            raise MNISTFileError(
                paths[label_name],
                f"has {len(self.labels)} labels but {paths[image_name].name} has "
                f"{len(self.images)} images",
                "What to do: the two files come from different sets; delete both to "
                "download them again.",
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: Any) -> tuple[np.ndarray, Any]:
        return self.images[index], self.labels[index]

    def __repr__(self) -> str:
        return f"MNIST(split={self.split!r}, n={len(self)}, root={self._root_shown!r})"


# --------------------------------------------------------------------------- LeCun 1989

MNIST_SIZES = {"train": 60000, "test": 10000}
LECUN1989_SIZES = {"train": 7291, "test": 2007}

# How the random subsets are drawn. "default_rng" gives each split its own generator;
# the two "legacy" draws repeat karpathy/lecun1989-repro's prepro.py, which seeds NumPy's
# global RandomState once and then permutes the two splits one after the other, in the
# order Python happened to iterate a set of the two names (so either order is possible).
LECUN1989_DRAWS = ("default_rng", "legacy_train_first", "legacy_test_first")


def lecun1989_indices(train: bool, seed: int = 1337, draw: str = "default_rng") -> np.ndarray:
    """Which MNIST images (indices into the official train or test file) make the subset.

    - ``default_rng``: the first n of ``numpy.random.default_rng(seed).permutation(N)``.
    - ``legacy_train_first``: ``rs = numpy.random.RandomState(seed)``; the training subset is
      the first 7,291 of ``rs.permutation(60000)``, then the test subset the first 2,007 of
      the next ``rs.permutation(10000)``.
    - ``legacy_test_first``: the same with the test split permuted first.
    """
    if draw not in LECUN1989_DRAWS:
        raise ValueError(f"unknown LeCun 1989 subset draw {draw!r}; valid: "
                         f"{', '.join(LECUN1989_DRAWS)}")
    split, other = ("train", "test") if train else ("test", "train")
    if draw == "default_rng":
        generator = np.random.default_rng(seed)
    else:
        generator = np.random.RandomState(seed)
        if draw != f"legacy_{split}_first":
            generator.permutation(MNIST_SIZES[other])  # the other split's draw comes first
    return generator.permutation(MNIST_SIZES[split])[: LECUN1989_SIZES[split]]


def lecun1989_subset(
    train: bool = True,
    seed: int = 1337,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    draw: str = "default_rng",
) -> tuple[np.ndarray, np.ndarray]:
    """The 16x16 digits of LeCun et al. 1989, rebuilt from MNIST (docs/EXPERIMENTS.md section 5).

    Draws 7,291 training (or 2,007 test) images at random from MNIST train (or test), in
    the order :func:`lecun1989_indices` gives for ``seed`` and ``draw``. Each pixel becomes
    ``x / 127.5 - 1`` (so [-1, 1]), then the image is resized 28x28 -> 16x16 by bilinear
    interpolation (PyTorch's, no antialias). Targets are −1 everywhere with +1 at the true
    class. Returns float32 ``x`` of shape (n, 1, 16, 16) and float32 ``y`` of shape (n, 10).
    """
    index = lecun1989_indices(train, seed, draw)
    data = MNIST(root, train=train, download=download)
    x = data.images[index].astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    x = resize_bilinear(x[:, None, :, :], (16, 16))
    y = one_hot_pm1(data.labels[index], num_classes=10)
    return x, y
