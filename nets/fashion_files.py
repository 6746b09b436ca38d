"""Where FashionMNIST's IDX files are and how to read one split of them, with NumPy only (the
grader reads the test split without importing torch; `nets.data` builds torchvision's layout
from the same folder)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
INSTALL_HINT = "sudo apt-get install dataset-fashion-mnist (or scripts/setup.sh)"
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def source_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder to read: `data_dir`, else $DLHW_DATA, else Debian's."""
    return Path(data_dir or os.environ.get("DLHW_DATA") or DEBIAN_DIR).expanduser()


def read_split(data_dir: str | os.PathLike | None = None, split: str = "t10k"
               ) -> tuple[np.ndarray, np.ndarray]:
    """One split ("train" or "t10k") from IDX files, gzipped or not, in `source_dir(data_dir)`
    or its torchvision layout (FashionMNIST/raw/): uint8 images (N, 28, 28), int64 labels."""
    src = source_dir(data_dir)

    def read(stem: str) -> bytes:
        for folder in (src, src / "FashionMNIST" / "raw"):
            if (folder / stem).is_file():
                return (folder / stem).read_bytes()
            if (folder / f"{stem}.gz").is_file():
                with gzip.open(folder / f"{stem}.gz", "rb") as f:
                    return f.read()
        raise FileNotFoundError(f"FashionMNIST {split} files not found in {src}")

    images = read(f"{split}-images-idx3-ubyte")
    labels = read(f"{split}-labels-idx1-ubyte")
    n = int.from_bytes(images[4:8], "big")
    if images[:4] != b"\x00\x00\x08\x03" or labels[:4] != b"\x00\x00\x08\x01" or \
            len(images) != 16 + n * 784 or len(labels) != 8 + n:
        raise ValueError(f"FashionMNIST {split} files in {src} are not IDX files")
    x = np.frombuffer(images, dtype=np.uint8, offset=16).reshape(n, 28, 28)
    return x.copy(), np.frombuffer(labels, dtype=np.uint8, offset=8).astype(np.int64)
