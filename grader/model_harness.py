"""Run an exported model on given inputs: the script the grader copies into the sandbox.

Self-contained (torch and numpy only, nothing of dlhw), run as
`python -I -B /in/model_harness.py BATCH` with /in/model.pt2 (the archive the grader rewrote
from what it validated, grader/pt2.py) and /in/inputs.npy (uint8 images, scaled to [0, 1] here,
or float32 values). Writes /out/outputs.npy (float32, one row per input) and /out/timing.json.
It never sees a label or a reference value: the grader scores the outputs outside.
"""

import json
import sys
import time


def main(batch: int) -> None:
    t0 = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(1)
    x = np.load("/in/inputs.npy", allow_pickle=False)
    t1 = time.perf_counter()
    module = torch.export.load("/in/model.pt2").module()
    t2 = time.perf_counter()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))
            xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb.float()
            y = module(xb)
            if not isinstance(y, torch.Tensor):
                raise TypeError(f"the model returned {type(y).__name__}, expected a tensor")
            outs.append(y.detach().to(torch.float32).reshape(len(xb), -1).numpy())
    t3 = time.perf_counter()
    np.save("/out/outputs.npy", np.concatenate(outs) if outs else np.zeros((0, 0), np.float32))
    with open("/out/timing.json", "w") as f:
        json.dump({"import_s": t1 - t0, "load_s": t2 - t1, "eval_s": t3 - t2}, f)


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]))
    except Exception as exc:  # noqa: BLE001 - one line for the student's feedback
        text = " ".join(str(exc).split())[:200]
        print(f"model failed: {type(exc).__name__}: {text}" if text else
              f"model failed: {type(exc).__name__}", file=sys.stderr)
        sys.exit(1)
