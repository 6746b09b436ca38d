"""Part C data: the homework's regression samples and FashionMNIST, both held as in-memory tensors.

FashionMNIST comes from Debian's ``dataset-fashion-mnist`` package (four IDX ``.gz`` files
under ``/usr/share/datasets/fashion-mnist/``); nothing is downloaded.
``torchvision.datasets.FashionMNIST`` with ``download=False`` wants the *unzipped* files under
``ROOT/FashionMNIST/raw/``, so the first load prepares that layout once in a cache folder and
every later load reads it from there.
Debian's ``.gz`` files are recompressed (their checksums differ from upstream's), so we check what
matters instead: decoded shapes, label range and the exact per-class counts.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import DlhwError
from nets.fashion_files import INSTALL_HINT, RAW_FILES, source_dir

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# The homework's Normalize((0.5,), (0.5,)): pixels in [0, 1] map to [-1, 1].
MEAN, STD = 0.5, 0.5
NOISE_STD = 0.1  # the hint's 0.1 * eps, so the irreducible MSE (noise floor) is 0.01
NOISE_FLOOR = NOISE_STD**2


class DataMissingError(DlhwError, RuntimeError):
    """FashionMNIST is not where we looked; the message says how to install it."""


# ------------------------------------------------------------------ regression


@dataclass
class RegressionData:
    """The homework's sin(x) samples split into train/test, plus a dense clean grid."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_dense: torch.Tensor  # dense grid over the same interval ...
    y_clean: torch.Tensor  # ... with the noise-free sin(x): the "clean MSE" target

    @property
    def x_all(self) -> torch.Tensor:
        return torch.cat([self.x_train, self.x_test])

    @property
    def y_all(self) -> torch.Tensor:
        return torch.cat([self.y_train, self.y_test])


def regression_data(seed: int = 0, n: int = 200, test_fraction: float = 0.2,
                    dense: int = 2000) -> RegressionData:
    """x = linspace(-2pi, 2pi, n), y = sin(x) + 0.1*eps as in the hint, with a seeded generator.

    The held-out test points are a seeded random subset (not a contiguous block, which would test
    extrapolation rather than fit). The dense grid is for the clean MSE only; model selection
    never looks at it.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(-2 * math.pi, 2 * math.pi, n).unsqueeze(1)
    y = torch.sin(x) + NOISE_STD * torch.randn(x.size(), generator=g)
    perm = torch.randperm(n, generator=g)
    n_test = round(n * test_fraction)
    test, train = perm[:n_test].sort().values, perm[n_test:].sort().values
    x_dense = torch.linspace(-2 * math.pi, 2 * math.pi, dense).unsqueeze(1)
    return RegressionData(x[train], y[train], x[test], y[test], x_dense, torch.sin(x_dense))


# ------------------------------------------------------------------ FashionMNIST


def default_cache() -> Path:
    """Where the unzipped torchvision layout lives: $DLHW_CACHE, else the repo's .dlhw-cache."""
    if os.environ.get("DLHW_CACHE"):
        return Path(os.environ["DLHW_CACHE"])
    repo_cache = Path(__file__).resolve().parents[1] / ".dlhw-cache"
    if os.access(repo_cache.parent, os.W_OK):
        return repo_cache
    return Path.home() / ".cache" / "dlhw"


def _has_raw(folder: Path) -> bool:
    return all((folder / f).is_file() for f in RAW_FILES)


def _has_gz(folder: Path) -> bool:
    return all((folder / f"{f}.gz").is_file() for f in RAW_FILES)


def fashion_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Return a torchvision root (holding FashionMNIST/raw/) for the given or default data folder.

    ``data_dir`` (or $DLHW_DATA) may be a torchvision root already, a folder of unzipped IDX files,
    or a folder of ``.gz`` files like Debian's; the latter two are unpacked into the cache once.
    """
    src = source_dir(data_dir)
    if _has_raw(src / "FashionMNIST" / "raw"):
        return src
    if not (_has_raw(src) or _has_gz(src)):
        raise DataMissingError(
            f"FashionMNIST not found in {src} (expected the four IDX files, .gz or not); "
            f"install it with: {INSTALL_HINT}, or point --data-dir / DLHW_DATA at a copy")
    # One cache folder per source folder, so that another --data-dir never reuses stale files.
    tag = hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:10]
    root = default_cache() / f"fashion-mnist-{tag}"
    raw = root / "FashionMNIST" / "raw"
    if not _has_raw(raw):
        raw.mkdir(parents=True, exist_ok=True)
        for name in RAW_FILES:
            # Write to a temporary file and rename: parallel test workers may race here.
            fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as out:
                if (src / name).is_file():
                    with open(src / name, "rb") as fin:
                        shutil.copyfileobj(fin, out)
                else:
                    with gzip.open(src / f"{name}.gz", "rb") as fin:
                        shutil.copyfileobj(fin, out)
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; other users share the cache
            os.replace(tmp, raw / name)
    return root


def homework_transform() -> Callable:
    """The homework's transform, ToTensor then Normalize((0.5,), (0.5,)); see `to_input`."""
    from torchvision import transforms

    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])


def to_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), the same values as `homework_transform`.

    Done once on the whole tensor instead of per image through a DataLoader: that per-sample
    Python overhead would cost more than the training itself on a 2-core machine.
    """
    return ((images_u8.float() / 255.0 - MEAN) / STD).unsqueeze(1)


@dataclass
class FashionData:
    """FashionMNIST as normalized tensors: x (N, 1, 28, 28) float32 in [-1, 1], y (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    root: Path


def _check(images: torch.Tensor, labels: torch.Tensor, n: int, split: str) -> None:
    per_class = n // 10
    counts = torch.bincount(labels, minlength=10).tolist()
    if tuple(images.shape) != (n, 28, 28) or images.dtype != torch.uint8:
        raise DataMissingError(f"FashionMNIST {split}: images {tuple(images.shape)}, "
                               f"expected ({n}, 28, 28) uint8; reinstall: {INSTALL_HINT}")
    if labels.shape != (n,) or counts != [per_class] * 10:
        raise DataMissingError(f"FashionMNIST {split}: class counts {counts}, expected "
                               f"{per_class} each; reinstall: {INSTALL_HINT}")


def load_fashion(data_dir: str | os.PathLike | None = None) -> FashionData:
    """Both FashionMNIST splits through torchvision (download=False), checked and normalized.

    Cached per folder for the life of the process (`dlhw run partc` and the tests load it once);
    callers must not modify the returned tensors in place.
    """
    return _load_fashion(str(fashion_root(data_dir)))


@functools.lru_cache(maxsize=2)
def _load_fashion(root_str: str) -> FashionData:
    from torchvision import datasets

    root = Path(root_str)
    splits = {}
    for train, n in ((True, 60000), (False, 10000)):
        ds = datasets.FashionMNIST(root=str(root), train=train, download=False,
                                   transform=homework_transform())
        _check(ds.data, ds.targets, n, "train" if train else "test")
        splits[train] = (to_input(ds.data), ds.targets.long())
    return FashionData(*splits[True], *splits[False], root=root)


def subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0,
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-balanced random subset of n samples (n/10 per class) for quick runs and search."""
    g = torch.Generator().manual_seed(seed)
    per = n // 10
    idx = [torch.nonzero(y == c).flatten() for c in range(10)]
    pick = torch.cat([i[torch.randperm(len(i), generator=g)[:per]] for i in idx])
    pick = pick[torch.randperm(len(pick), generator=g)]
    return x[pick], y[pick]
