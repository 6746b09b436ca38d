"""Export the FashionMNIST model with torch.export, and re-evaluate an exported program.

Contract of the exported program (the grader relies on it): input float32 (N, 1, 28, 28) pixel
values in [0, 1] (ToTensor output, *before* normalization; the homework's Normalize((0.5,),
(0.5,)) is inside the program), output logits (N, 10), N dynamic. The archive's weights are
stored as raw tensor bytes and every pickled member loads with ``torch.load(weights_only=True)``
(checked by `inspect_pt2`, which the grader runs on every submitted model before loading it).
"""

from __future__ import annotations

import copy
import io
import json
import os
import time
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from nets.models import Normalized

MAX_MEMBERS = 2000
MAX_UNPACKED = 1024 * 1024 * 1024  # zip-bomb guard
TEXT_MEMBERS = {"archive_format", "archive_version", "byteorder", ".data/version",
                ".data/serialization_id", "version"}


def export_model(model: nn.Module, path: str | Path, tta: bool = False) -> Path:
    """torch.export the model behind `Normalized` (eval mode, dynamic batch) and save it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # An eval-mode copy (training-mode BN/dropout must not be baked into the graph), batch norm
    # folded into the convolutions, weights channels-last like the activations `Normalized`
    # produces (measured 1.7x faster inference than contiguous weights here).
    inner = fold_batch_norm(copy.deepcopy(model).eval()).to(memory_format=torch.channels_last)
    wrapped = Normalized(inner, tta).eval()
    example = torch.rand(2, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(wrapped, (example,), dynamic_shapes=({0: batch},))
    with warnings.catch_warnings():
        # Channels-last weights make torch say "No complete tensor found in the group"; they
        # are saved and reloaded exactly (tests compare the reloaded program's logits).
        warnings.filterwarnings("ignore", message="No complete tensor found")
        torch.export.save(program, path)
    inspect_pt2(path)  # what the grader will check before it loads a submitted model
    return path


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d into it (in place).

    Inference-only rewrite: conv(x) * gamma / sigma + shift is again a convolution, so the
    exported graph does one pass less over every feature map.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    return model


class UnsafeModel(ValueError):
    """The archive holds something that is not plain data; the message names the member."""


def inspect_pt2(path: Path) -> None:
    """Raise UnsafeModel unless every member of the .pt2 is plain data (see module doc)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeModel(f"not a torch.export archive (zip): {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeModel(f"{len(infos)} members, expected at most {MAX_MEMBERS}")
        if sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise UnsafeModel(f"unpacks to more than {MAX_UNPACKED} bytes")
        names = [i.filename for i in infos]
        for name in names:
            if name.startswith("/") or ".." in name.split("/"):
                raise UnsafeModel(f"member {name!r}: path outside the archive")
        raw = _raw_members(zf, names)
        for name in names:
            if name.endswith("/"):
                continue
            rel = name.split("/", 1)[1] if "/" in name else name
            data = zf.read(name)
            if rel.endswith(".json"):
                try:
                    json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise UnsafeModel(f"member {name!r}: not valid JSON") from None
            elif rel in TEXT_MEMBERS:
                if len(data) > 64 or any(not (32 <= b < 127 or b in (9, 10, 13)) for b in data):
                    raise UnsafeModel(f"member {name!r}: expected a short text marker")
            elif name in raw:
                continue  # raw tensor bytes, read as storage and never unpickled
            else:
                try:
                    torch.load(io.BytesIO(data), weights_only=True)
                except Exception as exc:  # noqa: BLE001 - any failure means: refuse
                    first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
                    raise UnsafeModel(f"member {name!r} does not load with weights_only=True "
                                      f"({type(exc).__name__}: {first})") from None


def _raw_members(zf: zipfile.ZipFile, names: list[str]) -> set[str]:
    """Members that the archive's configs declare as raw tensor bytes (use_pickle false)."""
    raw: set[str] = set()
    for name in names:
        if not name.endswith(("model_weights_config.json", "model_constants_config.json")):
            continue
        folder = name.rsplit("/", 1)[0]
        try:
            config = json.loads(zf.read(name).decode("utf-8")).get("config", {})
        except (UnicodeDecodeError, ValueError, AttributeError):
            raise UnsafeModel(f"member {name!r}: not a valid config") from None
        if not isinstance(config, dict):
            raise UnsafeModel(f"member {name!r}: config is not a mapping")
        for entry in config.values():
            if not isinstance(entry, dict):
                raise UnsafeModel(f"member {name!r}: malformed entry")
            pname = entry.get("path_name")
            if not isinstance(pname, str) or "/" in pname or ".." in pname:
                raise UnsafeModel(f"member {name!r}: bad path_name {pname!r}")
            if entry.get("use_pickle") is False:
                raw.add(f"{folder}/{pname}")
    return raw


def evaluate_exported(path: str | Path, data_dir: str | os.PathLike | None = None,
                      batch_size: int = 256) -> dict:
    """Load an exported program and measure it on the 10,000 FashionMNIST test images.

    Feeds raw [0, 1] pixels (the contract); returns accuracy, n and the wall seconds of the
    evaluation itself (loading the program and the data is timed apart, as load_seconds).
    Batches of 256 keep each layer's activations in cache: 1.6 s here against 2.5 s for 1,000.
    """
    from nets.data import load_fashion

    t0 = time.perf_counter()
    fd = load_fashion(data_dir)
    x = fd.x_test * 0.5 + 0.5  # undo Normalize: back to ToTensor's [0, 1]
    inspect_pt2(Path(path))  # torch.export.load can unpickle with weights_only=False
    module = torch.export.load(str(path)).module()
    t1 = time.perf_counter()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out = module(x[i:i + batch_size])
            if out.shape != (len(x[i:i + batch_size]), 10):
                raise ValueError(f"exported model returned {tuple(out.shape)}, expected (N, 10)")
            correct += int((out.argmax(1) == fd.y_test[i:i + batch_size]).sum())
    t2 = time.perf_counter()
    return {"accuracy": correct / len(x), "n": len(x), "seconds": t2 - t1,
            "load_seconds": t1 - t0}
