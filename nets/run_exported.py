"""Run exported models on given inputs: the one evaluation loop (`outputs`), used in process by
`nets.export.evaluate_exported` (the reference's own model) and, as a script, by the grader in
the sandbox (a student's).

Self-contained (torch and numpy only, nothing of dlhw: the grader copies this file and
`pt2_interpret.py` into the sandbox and runs it as `python /in/run_exported.py BATCH THREADS
NAME...`). For each NAME, in order: /in/NAME.pt2 (the archive the grader rewrote from what it
validated, core/pt2.py) runs on /in/NAME.npy (uint8 images, scaled to [0, 1] here, or float32
values) and sends NAME.npy (float32, one row per input) and NAME.json (its timings), or
NAME.err (one line) on failure, through the grader's channel (/in/_channel.py); the next model
runs either way. One run for every model of a submission: torch is imported once, and
torch.export only for a program `pt2_interpret` does not run. It never sees a label or a
reference value: the grader scores the outputs outside.
"""

import gc
import io
import json
import os
import sys
import time


def outputs(module, x, batch: int):
    """`module` on `x` (uint8 images, scaled to [0, 1] here, or float values; a numpy array or
    a tensor) in batches of `batch` (cache-sized: the fastest on CPU); float32 numpy array, one
    row per input. Image models run channels-last where the first batch shows it changes
    nothing (`_channels_last`)."""
    import numpy as np
    import torch

    outs, layout = [], torch.contiguous_format
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            xb = torch.from_numpy(np.ascontiguousarray(xb)) if isinstance(xb, np.ndarray) else xb
            xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb.float()
            if i == 0:
                y, layout = _channels_last(module, xb)
            else:
                y = _call(module, xb.contiguous(memory_format=layout))  # 4-D if channels-last
            outs.append(y)
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def _call(module, xb):
    """One batch through `module`, as a float32 numpy array with one row per input."""
    import torch

    y = module(xb)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"the model returned {type(y).__name__}, expected a tensor")
    return y.detach().to(torch.float32).reshape(len(xb), -1).numpy()


def _channels_last(module, xb):
    """The first batch's outputs, and the layout the rest run in: channels-last where the
    model takes images, has convolution weights, and gives the same outputs that way on the
    batch's first CHECK images.

    oneDNN's fp32 convolutions run ~1.5x faster on channels-last weights (the reference CNN
    over the 10,000 test images: 4.2 s of CPU against 6.3 s, one thread of an AMD EPYC). The
    first images run both ways and anything but the same outputs (a graph that views a
    convolution's output as if contiguous fails; one with stride tricks could differ) keeps
    the model as it came. A few images tell: the whole first batch run both ways cost 0.16 s
    of CPU per model.
    """
    import numpy as np
    import torch

    if xb.dim() != 4 or not any(p.dim() == 4 for p in module.parameters()):
        return _call(module, xb), torch.contiguous_format
    head = xb[:CHECK]
    try:  # a model that fails on these fails below on the whole batch, with its own words
        y = _call(module, head)
        module.to(memory_format=torch.channels_last)
        y_cl = _call(module, head.contiguous(memory_format=torch.channels_last))
        if y_cl.shape == y.shape and np.allclose(y_cl, y, rtol=1e-4, atol=1e-5):
            return _call(module, xb.contiguous(memory_format=torch.channels_last)), \
                torch.channels_last
    except Exception:  # noqa: BLE001 - the model as it came is the one measured
        pass
    module.to(memory_format=torch.contiguous_format)
    return _call(module, xb), torch.contiguous_format


CHECK = 16  # images of the first batch run both ways


def run(name: str, batch: int) -> dict:
    import numpy as np

    t0 = time.perf_counter()
    x = np.load(f"/in/{name}.npy", allow_pickle=False)
    path = f"/in/{name}.pt2"
    module, loader = load(path)
    t1 = time.perf_counter()
    try:
        y = outputs(module, x, batch)
    except Exception:
        if loader == "torch.export":
            raise
        # What the direct run refused or failed at, torch decides: its outputs or its error
        module, loader = _by_torch(path)
        y = outputs(module, x, batch)
    t2 = time.perf_counter()
    buf = io.BytesIO()
    np.save(buf, y)
    send(f"{name}.npy", buf.getvalue())
    return {"load_s": t1 - t0, "eval_s": t2 - t1, "loader": loader}


def load(path: str):
    """The archive's model and how it was loaded: its program run node by node where
    `pt2_interpret` reads it ("graph": the same operators, the same bits, without the 1.45 s
    of imports torch.export needs), else torch.export's module ("torch.export")."""
    from pt2_interpret import load as load_graph

    try:
        return load_graph(path), "graph"
    except Exception:  # noqa: BLE001 - Unsupported, or not plain in a way it did not foresee
        return _by_torch(path)


def _by_torch(path: str):
    import torch

    return torch.export.load(path).module(), "torch.export"


def reuse_memory() -> None:
    """Keep what a batch frees for the next one. glibc's malloc serves blocks over its
    threshold with mmap and hands them back to the kernel when freed, so every batch faults
    its activations (up to 26 MB each at 256 images) in again, zeroed: the reference CNN on
    the 10,000 test images took 500,000 page faults and 1.0 s of system time beside 4.3 s of
    its own; served from the heap and kept, none and 0.0 s, the same peak memory and the same
    outputs bit for bit. Nothing where the C library is not glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: its largest value on 64-bit
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GB freed at the heap's top


def main(batch: int, threads: int, names: list[str]) -> None:
    t0 = time.perf_counter()
    reuse_memory()
    import torch

    torch.set_num_threads(threads)
    import_s = time.perf_counter() - t0
    # Before any model is loaded: proof that the sandbox started this runner and its torch
    # (without it, missing outputs are the grader's failure, not the student's).
    send("ready", "ready\n")
    for name in names:
        try:
            timing = run(name, batch)
        except Exception as exc:  # noqa: BLE001 - one line for the student's feedback
            text = " ".join(str(exc).split())[:200]
            send(f"{name}.err", f"model failed: {type(exc).__name__}: {text}" if text else
                 f"model failed: {type(exc).__name__}")
            continue
        finally:
            gc.collect()  # the previous model's memory, before the next one loads
        send(f"{name}.json", json.dumps({"import_s": import_s, **timing}))


if __name__ == "__main__":
    sys.path.insert(0, "/in")
    from _channel import send

    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
    # Every file is closed; skip the interpreter's teardown of torch (most of a second).
    os._exit(0)
