"""Data: the MNIST files (download, verify, cache, parse), transforms, and DataLoader.

Example::

    from tinyrpn.data import MNIST, DataLoader, transforms as T

    train = MNIST(train=True)                                  # uint8 (60000, 28, 28)
    x = T.flatten(T.normalize(T.to_float(train.images), 0.1307, 0.3081))
    loader = DataLoader(x, train.labels, batch_size=64, shuffle=True, seed=1234)
"""

from . import transforms
from .loader import DataLoader
from .mnist import (
    ENV_VAR,
    FILES,
    MD5,
    MIRRORS,
    MNIST,
    MNISTDownloadError,
    MNISTFileError,
    MNISTNotFoundError,
    clear_cache,
    download_file,
    lecun1989_indices,
    lecun1989_subset,
    parse_idx,
    read_idx_file,
    resolve_root,
)
from .transforms import (
    Compose,
    RandomShift,
    flatten,
    normalize,
    one_hot_pm1,
    random_shift,
    resize_bilinear,
    to_float,
)

__all__ = [
    "ENV_VAR",
    "FILES",
    "MD5",
    "MIRRORS",
    "MNIST",
    "Compose",
    "DataLoader",
    "MNISTDownloadError",
    "MNISTFileError",
    "MNISTNotFoundError",
    "RandomShift",
    "clear_cache",
    "download_file",
    "flatten",
    "lecun1989_indices",
    "lecun1989_subset",
    "normalize",
    "one_hot_pm1",
    "parse_idx",
    "random_shift",
    "read_idx_file",
    "resize_bilinear",
    "resolve_root",
    "to_float",
    "transforms",
]
