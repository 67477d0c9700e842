"""Tests of tinyrpn.data: MNIST files, downloads (from a local server), transforms, loader.

No test touches the network: downloads are served by an http.server on 127.0.0.1 that
hands out small IDX files written by the test. Tests marked by `needs_shared_mnist`
read the real files from $TINYRPN_TEST_MNIST, else $TINYRPN_DATA, else
/work/shared/data/mnist, and are skipped where that folder lacks them.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from devices import on

from tinyrpn.data import mnist as mnist_module
from tinyrpn.data import transforms as T
from tinyrpn.data.loader import DataLoader
from tinyrpn.data.mnist import (
    MNIST,
    MNISTDownloadError,
    MNISTFileError,
    MNISTNotFoundError,
    lecun1989_indices,
    lecun1989_subset,
    parse_idx,
    resolve_root,
)

SHARED_MNIST = Path(
    os.environ.get("TINYRPN_TEST_MNIST")
    or os.environ.get("TINYRPN_DATA")
    or "/work/shared/data/mnist"
)
needs_shared_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists(),
    reason=f"the real MNIST files are not in {SHARED_MNIST}",
)
ALL_NAMES = [name for pair in mnist_module.FILES.values() for name in pair]


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray, magic_ndim: int | None = None) -> bytes:
    """An uncompressed IDX file holding a uint8 array."""
    ndim = array.ndim if magic_ndim is None else magic_ndim
    header = bytes([0, 0, 0x08, ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def small_mnist_files(seed: int = 0) -> dict[str, bytes]:
    """Decompressed bytes of four tiny MNIST files: 6 train and 4 test images."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in (("train", 6), ("test", 4)):
        images_name, labels_name = mnist_module.FILES[split]
        files[images_name] = idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        files[labels_name] = idx_bytes(rng.integers(0, 10, n, dtype=np.uint8))
    return files


@pytest.fixture
def small(monkeypatch):
    """Four tiny files, with MD5 pointing at them and a clean in-memory cache."""
    files = small_mnist_files()
    for name, data in files.items():
        monkeypatch.setitem(mnist_module.MD5, name, hashlib.md5(data).hexdigest())
    mnist_module.clear_cache()
    yield files
    mnist_module.clear_cache()


def write_files(root: Path, files: dict[str, bytes], names=None, compress=True) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in names or files:
        if compress:
            (root / f"{name}.gz").write_bytes(gzip.compress(files[name]))
        else:
            (root / name).write_bytes(files[name])


def as_array(data: bytes) -> np.ndarray:
    return parse_idx(data)


class Server:
    """A local HTTP server: `routes` maps a URL path to bytes or to a handler function."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the name http.server wants)
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                elif callable(route):
                    route(self)
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(route)))
                    self.end_headers()
                    self.wfile.write(route)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def mirror(self, name: str) -> str:
        return f"{self.url}/{name}/"

    def serve(self, mirror: str, files: dict[str, bytes], compress: bool = True) -> None:
        for name, data in files.items():
            self.routes[f"/{mirror}/{name}.gz"] = gzip.compress(data) if compress else data

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    # A proxy set in the environment must not catch requests to 127.0.0.1.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    s = Server()
    yield s
    s.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing/"


def only_final_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


# --------------------------------------------------------------------------- IDX parser


def test_parse_idx_reads_shape_and_values():
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx_bytes(a), expected_magic=mnist_module.IMAGES_MAGIC)
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.uint8


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "truncated"),
        (bytes([0, 0, 8, 3, 0, 0]), "truncated"),  # header cut short
        (idx_bytes(np.zeros((2, 28, 28)))[:-5], "truncated"),
        (idx_bytes(np.zeros((2, 28, 28))) + b"xyz", "3 unexpected bytes"),
        (idx_bytes(np.zeros(5)), "magic number 2049"),  # a label file where images belong
        (b"GIF89a" + bytes(100), "magic number"),
    ],
)
def test_parse_idx_rejects_bad_files(data, message):
    with pytest.raises(MNISTFileError, match=message) as info:
        parse_idx(data, "some/file", expected_magic=mnist_module.IMAGES_MAGIC)
    assert "some/file" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_idx_rejects_unknown_type_code():
    with pytest.raises(MNISTFileError, match="IDX header"):
        parse_idx(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]))


# --------------------------------------------------------------------------- local files


def test_loads_gzipped_files_and_exposes_arrays(tmp_path, small, monkeypatch):
    write_files(tmp_path, small)
    ds = MNIST(tmp_path, train=True, download=False)
    np.testing.assert_array_equal(ds.images, as_array(small["train-images-idx3-ubyte"]))
    np.testing.assert_array_equal(ds.labels, as_array(small["train-labels-idx1-ubyte"]))
    assert ds.images.dtype == np.uint8 and ds.images.shape == (6, 28, 28)
    assert ds.labels.dtype == np.int64 and ds.labels.shape == (6,)
    assert len(ds) == 6
    image, label = ds[2]
    np.testing.assert_array_equal(image, ds.images[2])
    assert label == ds.labels[2]
    assert repr(ds) == f"MNIST(split='train', n=6, root={str(tmp_path)!r})"
    # from the environment or the default, the repr names the source, not the absolute folder
    monkeypatch.setenv("TINYRPN_DATA", str(tmp_path))
    assert repr(MNIST(train=True, download=False)) == (
        "MNIST(split='train', n=6, root='$TINYRPN_DATA')")
    test = MNIST(tmp_path, train=False, download=False)
    assert len(test) == 4 and test.split == "test"


def test_accepts_decompressed_files(tmp_path, small):
    write_files(tmp_path, small, compress=False)
    ds = MNIST(tmp_path, train=False, download=False)
    np.testing.assert_array_equal(ds.images, as_array(small["t10k-images-idx3-ubyte"]))


def test_parsed_arrays_are_cached_and_read_only(tmp_path, small):
    write_files(tmp_path, small)
    a = MNIST(tmp_path, download=False)
    b = MNIST(tmp_path, download=False)
    assert a.images is b.images and a.labels is b.labels
    with pytest.raises(ValueError):
        a.images[0, 0, 0] = 1  # shared cache: must not be changed in place


def test_valid_root_is_never_written_to(tmp_path, small, monkeypatch):
    write_files(tmp_path, small)
    before = only_final_files(tmp_path)

    def no_download(*args, **kwargs):
        raise AssertionError("download_file must not be called when the files are there")

    monkeypatch.setattr(mnist_module, "download_file", no_download)
    tmp_path.chmod(0o555)
    try:
        MNIST(tmp_path, train=True, download=True)
        MNIST(tmp_path, train=False, download=True)
    finally:
        tmp_path.chmod(0o755)
    assert only_final_files(tmp_path) == before


def test_missing_files_without_download_name_files_and_root(tmp_path, small):
    write_files(tmp_path, small, names=["train-labels-idx1-ubyte"])
    with pytest.raises(MNISTNotFoundError) as info:
        MNIST(tmp_path, train=True, download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message
    assert "train-labels-idx1-ubyte" not in message  # that one is there
    assert str(tmp_path) in message and "download=True" in message
    assert isinstance(info.value, FileNotFoundError)


def corrupt_variants(files: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    """Bad versions of train-images (as .gz bytes) and the words the error must use."""
    good = files["train-images-idx3-ubyte"]
    other = small_mnist_files(seed=99)["train-images-idx3-ubyte"]
    return {
        "truncated gzip": (gzip.compress(good)[:-40], "gzip"),
        "truncated idx": (gzip.compress(good[:-100]), "truncated"),
        "bad magic": (gzip.compress(b"\x00\x00\x08\x01" + good[4:]), "magic number 2049"),
        "wrong contents": (gzip.compress(other), "checksum mismatch"),
    }


@pytest.mark.parametrize(
    "variant", ["truncated gzip", "truncated idx", "bad magic", "wrong contents"]
)
def test_corrupt_file_raises_and_is_left_alone(tmp_path, small, variant):
    write_files(tmp_path, small)
    bad, words = corrupt_variants(small)[variant]
    target = tmp_path / "train-images-idx3-ubyte.gz"
    target.write_bytes(bad)
    with pytest.raises(MNISTFileError, match=words) as info:
        MNIST(tmp_path, train=True, download=True)  # must not "repair" it silently
    message = str(info.value)
    assert str(target) in message
    assert "delete" in message
    assert mnist_module.MD5["train-images-idx3-ubyte"] in message  # expected checksum
    assert target.read_bytes() == bad


def test_public_checksums_are_the_ones_the_loader_checks(tmp_path, small, monkeypatch):
    # tinyrpn.data.MD5 / FILES / MIRRORS are what a user reads to verify files by hand (the
    # setup tutorial does); they must be the loader's own tables, not copies of them.
    import tinyrpn.data as data

    assert data.MD5 is mnist_module.MD5 and data.FILES is mnist_module.FILES
    assert data.MIRRORS is mnist_module.MIRRORS and data.ENV_VAR == "TINYRPN_DATA"
    write_files(tmp_path, small)
    monkeypatch.setitem(data.MD5, "train-labels-idx1-ubyte", "0" * 32)
    with pytest.raises(MNISTFileError, match="checksum mismatch"):
        MNIST(tmp_path, download=False)


def test_image_and_label_counts_must_agree(tmp_path, small, monkeypatch):
    labels = idx_bytes(np.zeros(5, dtype=np.uint8))  # 5 labels for 6 images
    monkeypatch.setitem(
        mnist_module.MD5, "train-labels-idx1-ubyte", hashlib.md5(labels).hexdigest()
    )
    write_files(tmp_path, {**small, "train-labels-idx1-ubyte": labels})
    with pytest.raises(MNISTFileError, match="5 labels but .* 6 images"):
        MNIST(tmp_path, download=False)


# --------------------------------------------------------------------------- root


def test_root_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TINYRPN_DATA", raising=False)
    assert resolve_root() == tmp_path / "home" / ".cache" / "tinyrpn" / "mnist"
    monkeypatch.setenv("TINYRPN_DATA", "")  # empty counts as unset
    assert resolve_root() == tmp_path / "home" / ".cache" / "tinyrpn" / "mnist"
    monkeypatch.setenv("TINYRPN_DATA", str(tmp_path / "env"))
    assert resolve_root() == tmp_path / "env"
    assert resolve_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_root("~/x") == tmp_path / "home" / "x"


def test_mnist_uses_env_root(tmp_path, small, monkeypatch):
    write_files(tmp_path / "env", small)
    monkeypatch.setenv("TINYRPN_DATA", str(tmp_path / "env"))
    ds = MNIST(train=False, download=False)
    assert ds.root == tmp_path / "env" and len(ds) == 4
    with pytest.raises(MNISTNotFoundError, match="root argument"):
        MNIST(tmp_path / "empty", download=False)  # the argument beats the variable


# --------------------------------------------------------------------------- download


def test_download_into_missing_root(tmp_path, small, server):
    server.serve("m1", small)
    root = tmp_path / "new" / "root"
    ds = MNIST(root, train=True, download=True, mirrors=[server.mirror("m1")], progress=False)
    np.testing.assert_array_equal(ds.images, as_array(small["train-images-idx3-ubyte"]))
    np.testing.assert_array_equal(ds.labels, as_array(small["train-labels-idx1-ubyte"]))
    # Only the two train files were fetched, stored gzipped, with no temporary left over.
    assert only_final_files(root) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    stored = gzip.decompress((root / "train-images-idx3-ubyte.gz").read_bytes())
    assert stored == small["train-images-idx3-ubyte"]
    # A second dataset on the same root downloads nothing.
    server.requests.clear()
    MNIST(root, train=True, download=True, mirrors=[server.mirror("m1")], progress=False)
    assert server.requests == []


def test_download_of_uncompressed_body_is_stored_uncompressed(tmp_path, small, server):
    server.serve("m1", small, compress=False)  # as if the server had gunzipped it for us
    root = tmp_path / "root"
    MNIST(root, train=False, mirrors=[server.mirror("m1")], progress=False)
    assert only_final_files(root) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.mark.parametrize("first_mirror", ["404", "truncated gzip", "wrong contents", "refused"])
def test_download_falls_back_to_next_mirror(tmp_path, small, server, first_mirror):
    if first_mirror in ("truncated gzip", "wrong contents"):
        server.serve("m1", small)  # good labels, but bad images
        server.routes["/m1/train-images-idx3-ubyte.gz"] = corrupt_variants(small)[first_mirror][0]
    first = closed_port_url() if first_mirror == "refused" else server.mirror("m1")
    server.serve("m2", small)
    root = tmp_path / "root"
    ds = MNIST(root, train=True, mirrors=[first, server.mirror("m2")], progress=False)
    np.testing.assert_array_equal(ds.images, as_array(small["train-images-idx3-ubyte"]))
    assert "/m2/train-images-idx3-ubyte.gz" in server.requests
    if first_mirror != "refused":
        # The first mirror was asked first.
        assert server.requests.index("/m1/train-images-idx3-ubyte.gz") < server.requests.index(
            "/m2/train-images-idx3-ubyte.gz"
        )
    assert only_final_files(root) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_all_mirrors_fail_lists_every_url_and_reason(tmp_path, small, server):
    server.routes["/m2/train-images-idx3-ubyte.gz"] = corrupt_variants(small)["wrong contents"][0]
    refused = closed_port_url()
    mirrors = [server.mirror("m1"), server.mirror("m2"), refused]
    root = tmp_path / "root"
    with pytest.raises(MNISTDownloadError) as info:
        MNIST(root, train=True, mirrors=mirrors, progress=False)
    message = str(info.value)
    lines = message.splitlines()
    assert any(
        server.mirror("m1") + "train-images-idx3-ubyte.gz" in ln and "404" in ln for ln in lines
    )
    assert any(
        server.mirror("m2") + "train-images-idx3-ubyte.gz" in ln and "checksum mismatch" in ln
        for ln in lines
    )
    assert any(refused + "train-images-idx3-ubyte.gz" in ln and "connect" in ln for ln in lines)
    assert "TINYRPN_DATA" in message and str(root) in message
    assert only_final_files(root) == []  # nothing, not even a temporary file


def test_body_cut_short_leaves_no_file(tmp_path, small, server):
    payload = gzip.compress(small["train-images-idx3-ubyte"])

    def cut_short(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload[: len(payload) // 2])
        handler.close_connection = True

    server.routes["/m1/train-images-idx3-ubyte.gz"] = cut_short
    root = tmp_path / "root"
    with pytest.raises(MNISTDownloadError, match="could not connect or read"):
        download = mnist_module.download_file
        download("train-images-idx3-ubyte", root, [server.mirror("m1")], progress=False)
    assert only_final_files(root) == []


def test_interrupted_download_leaves_no_file(tmp_path, small, server, monkeypatch):
    server.serve("m1", small)

    def interrupted(session, url, out, *args):
        out.write(b"\x1f\x8b partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_module, "_stream", interrupted)
    root = tmp_path / "root"
    with pytest.raises(KeyboardInterrupt):
        MNIST(root, train=True, mirrors=[server.mirror("m1")], progress=False)
    assert only_final_files(root) == []


def test_unwritable_root_gives_clear_error(tmp_path, small, server, monkeypatch):
    server.serve("m1", small)
    root = tmp_path / "ro"
    root.mkdir()
    if os.geteuid() == 0:  # root ignores folder permissions: refuse the write by hand

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(root))

        monkeypatch.setattr(mnist_module.tempfile, "mkstemp", refuse)
    root.chmod(0o555)
    try:
        with pytest.raises(MNISTDownloadError, match="cannot write into") as info:
            MNIST(root, train=True, mirrors=[server.mirror("m1")], progress=False)
    finally:
        root.chmod(0o755)
    assert "TINYRPN_DATA" in str(info.value) and "Permission denied" in str(info.value)
    assert server.requests == []  # it gave up before asking any mirror


# --------------------------------------------------------------------------- real data


@needs_shared_mnist
def test_real_mnist_facts(monkeypatch):
    monkeypatch.setenv("TINYRPN_DATA", str(SHARED_MNIST))
    train = MNIST(download=False)
    test = MNIST(train=False, download=False)
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 28, 28) and test.labels.dtype == np.int64
    pixels = train.images.astype(np.float64) / 255.0
    assert pixels.mean() == pytest.approx(0.1307, abs=5e-5)
    assert pixels.std() == pytest.approx(0.3081, abs=5e-5)
    expected_train = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    expected_test = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(train.labels, minlength=10).tolist() == expected_train
    assert np.bincount(test.labels, minlength=10).tolist() == expected_test


@needs_shared_mnist
def test_lecun1989_subset():
    x, y = lecun1989_subset(train=True, root=SHARED_MNIST, download=False)
    assert x.shape == (7291, 1, 16, 16) and x.dtype == np.float32
    assert y.shape == (7291, 10) and y.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert np.all((y == 1).sum(axis=1) == 1) and np.all((y == -1).sum(axis=1) == 9)
    # The draw is the first 7,291 of a seeded permutation of the 60,000.
    mnist = MNIST(SHARED_MNIST, train=True, download=False)
    index = np.random.default_rng(1337).permutation(60000)[:7291]
    np.testing.assert_array_equal(y.argmax(axis=1), mnist.labels[index])
    expected = T.resize_bilinear(mnist.images[index[:5]] / 127.5 - 1.0, 16)
    np.testing.assert_allclose(x[:5, 0], expected, atol=1e-6)
    x2, _ = lecun1989_subset(train=True, root=SHARED_MNIST, download=False)
    np.testing.assert_array_equal(x, x2)  # the fixed seed gives the same subset
    xt, yt = lecun1989_subset(train=False, root=SHARED_MNIST, download=False)
    assert xt.shape == (2007, 1, 16, 16) and yt.shape == (2007, 10)
    x_other, _ = lecun1989_subset(train=True, seed=7, root=SHARED_MNIST, download=False)
    assert not np.array_equal(x, x_other)


def test_lecun1989_indices_draws():
    # default_rng: one generator per split.
    np.testing.assert_array_equal(
        lecun1989_indices(True, 5), np.random.default_rng(5).permutation(60000)[:7291])
    np.testing.assert_array_equal(
        lecun1989_indices(False, 5), np.random.default_rng(5).permutation(10000)[:2007])
    # legacy: one RandomState, the two splits permuted one after the other.
    rs = np.random.RandomState(1337)
    first_train, then_test = rs.permutation(60000)[:7291], rs.permutation(10000)[:2007]
    rs = np.random.RandomState(1337)
    first_test, then_train = rs.permutation(10000)[:2007], rs.permutation(60000)[:7291]
    np.testing.assert_array_equal(lecun1989_indices(True, 1337, "legacy_train_first"), first_train)
    np.testing.assert_array_equal(lecun1989_indices(False, 1337, "legacy_train_first"), then_test)
    np.testing.assert_array_equal(lecun1989_indices(False, 1337, "legacy_test_first"), first_test)
    np.testing.assert_array_equal(lecun1989_indices(True, 1337, "legacy_test_first"), then_train)
    for draw in ("default_rng", "legacy_train_first", "legacy_test_first"):
        for train, n, total in ((True, 7291, 60000), (False, 2007, 10000)):
            index = lecun1989_indices(train, 1337, draw)
            assert len(np.unique(index)) == n and index.min() >= 0 and index.max() < total
    with pytest.raises(ValueError, match="unknown LeCun 1989 subset draw 'legacy'.*default_rng"):
        lecun1989_indices(True, 1337, "legacy")


@needs_shared_mnist
def test_lecun1989_subset_matches_torch_pipeline():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, _ = lecun1989_subset(train=False, root=SHARED_MNIST, download=False)
    mnist = MNIST(SHARED_MNIST, train=False, download=False)
    index = np.random.default_rng(1337).permutation(10000)[:50]
    raw = torch.from_numpy(mnist.images[index].astype(np.float32)) / 127.5 - 1.0
    ref = F.interpolate(raw[:, None], (16, 16), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(x[:50], ref.numpy(), atol=1e-6)


# --------------------------------------------------------------------------- transforms


def test_to_float_normalize_flatten():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x = T.to_float(images)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[[0.0, 1.0], [0.2, 0.4]]], rtol=1e-6)
    with pytest.raises(TypeError, match="already scaled"):
        T.to_float(x)
    z = T.normalize(x, 0.5, 0.25)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, [[[-2.0, 2.0], [-1.2, -0.4]]], rtol=1e-6)
    with pytest.raises(TypeError, match="float array"):
        T.normalize(images, 0.5, 0.25)
    assert T.flatten(np.zeros((3, 1, 4, 5))).shape == (3, 20)
    prepare = T.Compose([T.to_float, lambda a: T.normalize(a, 0.5, 0.25), T.flatten])
    np.testing.assert_allclose(prepare(images), z.reshape(1, 4), rtol=1e-6)
    with pytest.raises(TypeError, match="not callable"):
        T.Compose([T.to_float, 3])


def test_resize_bilinear_hand_worked_downsample():
    # 4 -> 2 with align_corners=False: output pixel i samples input at 2i + 0.5, the
    # midpoint of pixels 2i and 2i+1, so each output is the mean of a 2x2 block.
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    expected = np.array([[[(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4],
                          [(8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]]])  # fmt: skip
    np.testing.assert_allclose(T.resize_bilinear(x, 2), expected)


def test_resize_bilinear_hand_worked_upsample():
    # 2 -> 4: sources at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last pixel).
    a, b = 2.0, 10.0
    row = T.resize_bilinear(np.array([[[a, b]]]), (1, 4))
    np.testing.assert_allclose(row[0, 0], [a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b])
    # 28 -> 16 at position 1: source (1.5 * 1.75 - 0.5) = 2.125, mixing pixels 2 and 3.
    col = np.arange(28, dtype=np.float64)[:, None]
    out = T.resize_bilinear(col, (16, 1))
    assert out[1, 0] == pytest.approx(2.125)
    assert out[0, 0] == pytest.approx(0.375)  # source 0.375
    assert out[15, 0] == pytest.approx(26.625)  # source 15.5 * 1.75 - 0.5


def test_resize_bilinear_keeps_dtype_and_identity():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 5))
    assert T.resize_bilinear(x.astype(np.float32), 4).dtype == np.float32
    np.testing.assert_allclose(T.resize_bilinear(x, (7, 5)), x, atol=1e-12)
    assert T.resize_bilinear(np.zeros((1, 28, 28), np.uint8), 16).dtype == np.float32
    with pytest.raises(ValueError, match="positive"):
        T.resize_bilinear(x, 0)


@pytest.mark.parametrize(
    "shape, size",
    [
        ((4, 1, 28, 28), (16, 16)),
        ((2, 3, 5, 7), (3, 11)),
        ((1, 2, 6, 6), (13, 4)),
        ((3, 1, 9, 2), (1, 1)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resize_bilinear_matches_torch(shape, size, dtype):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(x), size, mode="bilinear", align_corners=False, antialias=False
    ).numpy()
    out = T.resize_bilinear(x, size)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, atol=1e-6 if dtype == np.float32 else 1e-12)


def test_random_shift_is_a_per_image_roll_within_range():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (200, 2, 5, 6), dtype=np.uint8)
    out = T.random_shift(images, 1, np.random.default_rng(42))
    seen = set()
    for img, res in zip(images, out):
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if np.array_equal(np.roll(img, (dy, dx), axis=(-2, -1)), res)
        ]
        assert matches, "each output must be its input rolled by at most 1 pixel"
        seen.add(matches[0])
    assert len(seen) == 9  # all nine offsets occur among 200 images
    again = T.random_shift(images, 1, np.random.default_rng(42))
    np.testing.assert_array_equal(out, again)  # same seed, same shifts
    np.testing.assert_array_equal(T.random_shift(images, 0, 1), images)
    assert out.dtype == images.dtype and images.flags.writeable  # input untouched


def test_random_shift_offsets_follow_the_documented_draw():
    images = np.arange(3 * 4 * 4).reshape(3, 4, 4)
    out = T.random_shift(images, 2, np.random.default_rng(5))
    shifts = np.random.default_rng(5).integers(-2, 3, size=(3, 2))
    for img, res, (dy, dx) in zip(images, out, shifts):
        np.testing.assert_array_equal(res, np.roll(img, (dy, dx), axis=(0, 1)))
    with pytest.raises(ValueError, match="max_shift"):
        T.random_shift(images, -1)


def test_random_shift_transform_state_roundtrip():
    shift = T.RandomShift(1, seed=3)
    images = np.random.default_rng(0).random((8, 6, 6))
    shift(images)
    state = json.loads(json.dumps(shift.state_dict()))
    a = shift(images)
    shift.load_state_dict(state)
    np.testing.assert_array_equal(shift(images), a)


def test_random_shift_from_a_legacy_numpy_stream():
    # modern.py: np.random.seed(1337), then per step shift_x, shift_y = randint(-1, 2, size=2)
    # and torch.roll(x, (shift_x, shift_y), (2, 3))
    images = np.random.default_rng(0).random((5, 1, 6, 6))
    shift = T.RandomShift(1, numpy_seed=1337)
    legacy = np.random.RandomState(1337)
    for img in images:
        dy, dx = legacy.randint(-1, 2, size=2)
        np.testing.assert_array_equal(shift(img[None])[0], np.roll(img, (dy, dx), axis=(1, 2)))
    # a batch draws its images' pairs in order, as one call per image would
    batch = T.RandomShift(1, numpy_seed=1337)(images)
    legacy = np.random.RandomState(1337)
    for img, res in zip(images, batch):
        np.testing.assert_array_equal(res, np.roll(img, legacy.randint(-1, 2, size=2), (1, 2)))
    state = json.loads(json.dumps(shift.state_dict()))
    a = shift(images)
    shift.load_state_dict(state)
    np.testing.assert_array_equal(shift(images), a)
    assert repr(shift) == "RandomShift(max_shift=1, numpy_seed=1337)"
    with pytest.raises(ValueError, match=r"state is of a Generator \(seed\) stream, but this "
                                         r"RandomShift draws from a legacy RandomState"):
        shift.load_state_dict(T.RandomShift(1, seed=0).state_dict())


def test_one_hot_pm1():
    y = T.one_hot_pm1(np.array([0, 3, 9]))
    assert y.shape == (3, 10) and y.dtype == np.float32
    expected = -np.ones((3, 10))
    expected[[0, 1, 2], [0, 3, 9]] = 1
    np.testing.assert_array_equal(y, expected)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        T.one_hot_pm1(np.array([10]))
    with pytest.raises(ValueError, match="integer class indices"):
        T.one_hot_pm1(np.array([0.0, 1.0]))


# --------------------------------------------------------------------------- DataLoader


def loader_data(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return x, y


def epoch_labels(loader) -> list[list[int]]:
    return [yb.tolist() for _, yb in loader.iter_arrays()]


def test_loader_len_and_order_without_shuffle():
    x, y = loader_data(10)
    loader = DataLoader(x, y, batch_size=4)
    assert len(loader) == 3
    assert epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropping = DataLoader(x, y, batch_size=4, drop_last=True)
    assert len(dropping) == 2
    assert epoch_labels(dropping) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    first_x = next(iter(loader.iter_arrays()))[0]
    np.testing.assert_array_equal(first_x, x[:4])


def test_loader_shuffle_is_seeded_and_new_each_epoch():
    x, y = loader_data(50)
    a = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    b = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    a_epochs = [epoch_labels(a) for _ in range(3)]
    b_epochs = [epoch_labels(b) for _ in range(3)]
    assert a_epochs == b_epochs  # same seed, same sequence of epochs
    assert a_epochs[0] != a_epochs[1]  # a new order every epoch
    for epoch in a_epochs:
        assert sorted(sum(epoch, [])) == list(range(50))  # every example exactly once
    c = DataLoader(x, y, batch_size=8, shuffle=True, seed=4)
    assert epoch_labels(c) != a_epochs[0]
    assert a.epoch == 3


def test_loader_batches_pair_images_with_their_labels():
    x, y = loader_data(20)
    for xb, yb in DataLoader(x, y, batch_size=6, shuffle=True, seed=0).iter_arrays():
        np.testing.assert_array_equal(xb, x[yb])


def test_loader_state_roundtrip_between_epochs():
    x, y = loader_data(30)
    a = DataLoader(x, y, batch_size=7, shuffle=True, seed=11)
    epoch_labels(a)
    state = json.loads(json.dumps(a.state_dict()))
    assert state["epoch"] == 1 and state["batch"] == 0
    rest = [epoch_labels(a) for _ in range(2)]
    b = DataLoader(x, y, batch_size=7, shuffle=True, seed=999)
    b.load_state_dict(state)
    assert [epoch_labels(b) for _ in range(2)] == rest
    assert b.epoch == a.epoch == 3


def test_loader_state_roundtrip_mid_epoch_with_augmentation():
    x = np.random.default_rng(0).random((30, 5, 5)).astype(np.float32)
    y = np.arange(30)
    a = DataLoader(x, y, batch_size=4, shuffle=True, seed=2, transform=T.RandomShift(1, seed=8))
    epoch_labels(a)
    it = a.iter_arrays()
    next(it), next(it), next(it)
    state = json.loads(json.dumps(a.state_dict()))
    assert state["epoch"] == 1 and state["batch"] == 3
    rest_a = list(it) + list(a.iter_arrays())

    b = DataLoader(x, y, batch_size=4, shuffle=True, seed=0, transform=T.RandomShift(1, seed=0))
    b.load_state_dict(state)
    assert b.state_dict() == state  # not iterated yet: the same position
    rest_b = list(b.iter_arrays()) + list(b.iter_arrays())
    assert len(rest_b) == len(rest_a) == (len(a) - 3) + len(a)
    for (xa, ya), (xb, yb) in zip(rest_a, rest_b):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)  # the same random shifts too


def test_loader_state_after_last_batch_counts_the_epoch():
    x, y = loader_data(8)
    a = DataLoader(x, y, batch_size=4, shuffle=True, seed=1)
    it = a.iter_arrays()
    next(it), next(it)  # both batches handed out, the generator not yet exhausted
    state = a.state_dict()
    assert state["epoch"] == 1 and state["batch"] == 0
    b = DataLoader(x, y, batch_size=4, shuffle=True, seed=1)
    b.load_state_dict(state)
    assert epoch_labels(b) == epoch_labels(a)


def test_loader_transform_and_dtypes():
    x = np.zeros((5, 2, 2), dtype=np.uint8) + 255
    y = T.one_hot_pm1(np.arange(5) % 10)
    loader = DataLoader(x, y, batch_size=2, transform=T.to_float)
    xb, yb = next(iter(loader.iter_arrays()))
    assert xb.dtype == np.float32 and np.all(xb == 1.0)
    assert yb.dtype == np.float32 and yb.shape == (2, 10)
    assert x.dtype == np.uint8 and np.all(x == 255)  # the source arrays are untouched


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"labels": np.arange(9)}, ValueError, "same length.*10 images.*9 labels"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
        ({"batch_size": 2.5}, ValueError, "batch_size"),
        ({"batch_size": True}, ValueError, "batch_size"),
        ({"device": "tpu"}, ValueError, "unknown device"),
        ({"transform": "flip"}, TypeError, "callable"),
    ],
)
def test_loader_rejects_bad_arguments(kwargs, error, words):
    x, y = loader_data(10)
    args = {"images": x, "labels": y, "batch_size": 4, **kwargs}
    with pytest.raises(error, match=words):
        DataLoader(**args)


def test_loader_rejects_state_from_other_batch_size():
    x, y = loader_data(10)
    state = {"epoch": 1, "batch": 9, "rng_state": np.random.default_rng(0).bit_generator.state}
    with pytest.raises(ValueError, match="batch 9"):
        DataLoader(x, y, batch_size=4).load_state_dict(state)


def test_loader_yields_tensors():
    autograd = pytest.importorskip("tinyrpn.autograd")
    x, y = loader_data(10)
    batches = list(DataLoader(x, y, batch_size=4, shuffle=True, seed=0))
    assert len(batches) == 3
    for xb, yb in batches:
        assert isinstance(xb, autograd.Tensor) and isinstance(yb, autograd.Tensor)
        assert xb.data.dtype == np.float32 and yb.data.dtype == np.int64
        assert not xb.requires_grad
        np.testing.assert_array_equal(xb.data, x[yb.data])


# ----------------------------------------------------------------------------- PyTorch's order


def _orders(loader, epochs, other=None):
    """Each epoch's order of a loader over np.arange labels; ``other`` is iterated after."""
    out = []
    for _ in range(epochs):
        out.append(np.concatenate([y for _, y in loader.iter_arrays()]))
        if other is not None:
            for _ in other.iter_arrays():
                pass
    return out


def _shared_stream_loaders(seed=1234, skip=777):
    from tinyrpn.random import TorchCPUGenerator

    stream = TorchCPUGenerator(seed)
    stream.skip(skip)
    train = DataLoader(np.zeros((1000, 2)), np.arange(1000), batch_size=64, shuffle=True,
                       torch_stream=stream)
    test = DataLoader(np.zeros((300, 2)), np.arange(300), batch_size=64, torch_stream=stream)
    return train, test


def test_loader_with_a_torch_stream_orders_as_torch_dataloader():
    torch = pytest.importorskip("torch")
    from torch_oracle import torch_epoch_orders

    torch.manual_seed(1234)
    torch.rand(777)  # drawn before the loaders (tinyBIG: the model's initial weights)
    expected = torch_epoch_orders(torch, 1000, 300, epochs=3)
    train, test = _shared_stream_loaders()
    for ours, theirs in zip(_orders(train, 3, test), expected):
        np.testing.assert_array_equal(ours, theirs)


def test_loader_with_a_torch_stream_resumes_mid_epoch_and_checks_the_stream_kind():
    train, test = _shared_stream_loaders()
    reference = _orders(train, 3, test)
    train, test = _shared_stream_loaders()
    _orders(train, 1, test)
    batches = train.iter_arrays()
    for _ in range(5):
        next(batches)
    state = json.loads(json.dumps(train.state_dict()))  # plain data, as in a checkpoint
    assert state["batch"] == 5 and "torch_stream" in state["rng_state"]
    train, test = _shared_stream_loaders()
    train.load_state_dict(state)
    resumed = np.concatenate([y for _, y in train.iter_arrays()])
    np.testing.assert_array_equal(resumed, reference[1][5 * 64:])
    for _ in test.iter_arrays():
        pass
    np.testing.assert_array_equal(_orders(train, 1, test)[0], reference[2])
    with pytest.raises(ValueError, match="another random stream; this loader orders by "
                                         "NumPy's generator"):
        DataLoader(np.zeros((1000, 1)), np.arange(1000), batch_size=64).load_state_dict(state)
    with pytest.raises(TypeError, match="torch_stream must be a tinyrpn.random.TorchCPUGenerator"):
        DataLoader(np.zeros((4, 1)), np.arange(4), batch_size=2, torch_stream=1234)


def test_loader_batches_arrive_on_the_loaders_device(device):
    x, y = loader_data(7)
    name = "cuda:0" if device == "cuda" else device  # an index is accepted and dropped
    batches = list(DataLoader(x, y, batch_size=3, shuffle=True, seed=2, device=name))
    assert len(batches) == 3
    for xb, yb in batches:
        assert xb.device == device and yb.device == device
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])


def test_device_resident_data_is_batched_on_the_device(device):
    """Images and labels already on the device stay there: batches are cut (and the
    device-aware transforms run) where the data lives, with the host loader's order."""
    images = np.random.default_rng(0).integers(0, 256, (11, 4, 4)).astype(np.uint8)
    labels = np.arange(11)
    prepare = T.Compose([T.to_float, lambda x: T.normalize(x, 0.5, 0.25), T.flatten])
    on_host = list(DataLoader(images, labels, batch_size=4, shuffle=True, seed=5,
                              transform=prepare))
    resident = DataLoader(*on(device, images, labels), batch_size=4, shuffle=True, seed=5,
                          transform=prepare, device=device)
    got = list(resident)
    assert len(got) == len(on_host) == 3
    for (xb, yb), (xh, yh) in zip(got, on_host):
        assert xb.device == device and yb.device == device
        assert xb.dtype == np.float32 and xb.shape == (yh.shape[0], 16)
        np.testing.assert_array_equal(yb.numpy(), yh.numpy())
        np.testing.assert_array_equal(xb.numpy(), xh.numpy())
