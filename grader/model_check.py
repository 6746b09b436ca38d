"""A submitted FashionMNIST model: refuse unsafe archives, then measure it in a sandbox process.

`torch.export.load` unpickles several archive members with `weights_only=False` (pickled weights
and constants directly, sample inputs after a failed safe load), so a crafted .pt2 can run code.
Before anything loads it, every member is classified from the archive itself: JSON and short
text members are parsed as such, raw tensor files must be declared raw (use_pickle false) in the
archive's weights/constants configs, and every other member must load with
`torch.load(weights_only=True)`. Only then does a child process, under CPU-time and memory
limits and a wall-clock timeout, load the program and measure its accuracy on the FashionMNIST
test set (input float32 (N, 1, 28, 28) in [0, 1], output logits (N, 10)).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nets.export import UnsafeModel, inspect_pt2

DEFAULT_DATA = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class Measured:
    ok: bool
    accuracy: float | None = None
    n: int = 0
    error: str = ""


def measure(path: Path, data_dir: Path | None = None, time_limit_s: float = 300,
            memory_limit_mb: int = 4096) -> Measured:
    """Inspect, then evaluate in a child process under time and memory limits."""
    try:
        inspect_pt2(path)
    except UnsafeModel as exc:
        raise UnsafeModel(f"{path.name}: {exc}") from None
    data = Path(data_dir or os.environ.get("DLHW_DATA") or DEFAULT_DATA)
    cmd = [sys.executable, "-m", "grader.model_check", str(path.resolve()), str(data)]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(root)}

    def limits() -> None:
        import resource

        mem = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = int(time_limit_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=time_limit_s,
                              preexec_fn=limits, cwd=root, env=env)
    except subprocess.TimeoutExpired:
        return Measured(False, error=f"evaluation took longer than {time_limit_s:g} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return Measured(False, error=f"evaluation failed: {tail[:200]}")
    out = json.loads(lines[-1])
    if "error" in out:
        return Measured(False, error=str(out["error"])[:200])
    return Measured(True, float(out["accuracy"]), int(out["n"]))


def load_test_images(data_dir: Path):
    """FashionMNIST test split as float32 (N, 1, 28, 28) in [0, 1] and int64 labels (N,)."""
    import numpy as np
    import torch

    def read(stem: str) -> bytes:
        for folder in (data_dir, data_dir / "FashionMNIST" / "raw"):
            if (folder / stem).is_file():
                return (folder / stem).read_bytes()
            if (folder / f"{stem}.gz").is_file():
                with gzip.open(folder / f"{stem}.gz", "rb") as f:
                    return f.read()
        raise FileNotFoundError(f"FashionMNIST test files not found in {data_dir}")

    images = read("t10k-images-idx3-ubyte")
    labels = read("t10k-labels-idx1-ubyte")
    n = int.from_bytes(images[4:8], "big")
    if images[:4] != b"\x00\x00\x08\x03" or labels[:4] != b"\x00\x00\x08\x01" or \
            len(images) != 16 + n * 784 or len(labels) != 8 + n:
        raise ValueError(f"FashionMNIST test files in {data_dir} are not IDX files")
    x = np.frombuffer(images, dtype=np.uint8, offset=16).reshape(n, 1, 28, 28)
    y = np.frombuffer(labels, dtype=np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def _child(path: str, data_dir: str) -> dict[str, object]:
    import torch

    inspect_pt2(Path(path))  # again, in the process that loads it
    torch.set_num_threads(2)
    x, y = load_test_images(Path(data_dir))
    program = torch.export.load(path)
    module = program.module()
    correct = 0
    with torch.no_grad():
        step = 256  # cache-sized batches: the fastest on CPU (see nets/export.py)
        for i in range(0, len(x), step):
            out = module(x[i:i + step])
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(x[i:i + step]), 10):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                return {"error": f"output {shape}, expected logits (N, 10)"}
            correct += int((out.argmax(1) == y[i:i + step]).sum())
    return {"accuracy": correct / len(x), "n": len(x)}


if __name__ == "__main__":
    try:
        result = _child(sys.argv[1], sys.argv[2])
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        result = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
                  if str(exc).strip() else type(exc).__name__}
    print(json.dumps(result))
