"""Execute a Part B notebook and the hidden checks in the sandbox; bring back raw outputs only.

The chosen cells run as one plain Python script (problems/partb_checks.py execs them in order in
one namespace, then calls the checks) rather than through nbclient and a kernel: in the sandbox,
the reference notebook's cells take 2.4 s that way against 6.4 s with a kernel (median of 3,
`python bench/grade.py --modes`, AMD EPYC 2 cores, load average 9.5; 0.6 s against 2.0 s when the
machine was idle), and the script needs no kernel, no ZeroMQ sockets and no IPython, whose magics
are refused anyway.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import sandbox
from grader.notebook_checks import ChecksConfig, Plan, harness_path, to_json
from grader.notebook_file import RunCell

MAX_RECORDS = 10_000  # lines of results.jsonl read back


@dataclass(frozen=True)
class NotebookRun:
    """What came back. `stopped` says why the run ended before the harness finished."""

    cells: dict[int, str]  # cell index → "" when it ran, else its error
    outputs: dict[str, Any]  # check id → raw output
    errors: dict[str, str]  # check id → the exception it raised
    stopped: str = ""
    seconds: float = 0.0
    unavailable: str = ""  # the sandbox cannot run here, or did not start the harness
    stderr: str = field(default="", repr=False)


def _hidden() -> list[str]:
    """scikit-learn's copy of the digits: with it, a notebook could look the test labels up."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [str(Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data")]


def run_notebook(cells: list[RunCell], the_plan: Plan, cfg: ChecksConfig,
                 limits: sandbox.Limits) -> NotebookRun:
    """Run `cells`, then every check of `the_plan`, in one sandboxed process."""
    import io

    import numpy as np

    doc = {"cells": [{"index": c.index, "source": c.source} for c in cells],
           "checks": to_json(the_plan.checks), "check_time_s": cfg.check_time_s}
    inputs: dict[str, bytes | Path] = {"harness.py": harness_path(),
                                       "plan.json": json.dumps(doc).encode()}
    if the_plan.digits:
        buf = io.BytesIO()
        np.savez(buf, **the_plan.digits)
        inputs["digits.npz"] = buf.getvalue()
    out = sandbox.run(sandbox.python_argv("/in/harness.py"), limits=limits, inputs=inputs,
                      hide=_hidden())
    if out.status in ("unavailable", "starved"):  # the grader's side: nothing is marked
        return NotebookRun({}, {}, {}, unavailable=out.reason)
    records = b"".join(out.files[k] + b"\n" for k in sorted(out.files) if k.startswith("r"))
    cell_state, outputs, errors, done, ready = _records(
        records, {c.index for c in cells}, {c["id"] for c in the_plan.checks})
    if not ready:  # the harness never started: nothing of the student's ran
        why = out.reason or " ".join(out.stderr.split())[-200:] or f"exit status {out.returncode}"
        return NotebookRun({}, {}, {}, unavailable=f"the sandbox did not start the harness "
                           f"({why})", stderr=out.stderr)
    stopped = ""
    if not done:
        stopped = f"the run was stopped: {out.reason}" if out.reason else \
            "the notebook ended the run before the checks finished"
    return NotebookRun(cell_state, outputs, errors, stopped, out.seconds, stderr=out.stderr)


def _records(data: bytes, cell_ids: set[int], check_ids: set[str]
             ) -> tuple[dict[int, str], dict[str, Any], dict[str, str], bool, bool]:
    """Parse results.jsonl, written by the harness and perhaps by the student's code: every
    record is validated, unknown or malformed ones are ignored, the first of each id counts.
    The last two: whether the harness finished, and whether its first record says it started."""
    cells: dict[int, str] = {}
    outputs: dict[str, Any] = {}
    errors: dict[str, str] = {}
    done = False
    ready = data.startswith(b'{"ready": true}\n')
    for line in data.decode("utf-8", "replace").splitlines()[:MAX_RECORDS]:
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(rec, dict):
            continue
        ok = rec.get("ok") is True
        err = rec.get("error")
        err = " ".join(err.split())[:300] if isinstance(err, str) else "failed"
        cid, chk = rec.get("cell"), rec.get("check")
        if isinstance(cid, int) and cid in cell_ids and cid not in cells:
            cells[cid] = "" if ok else err
        elif isinstance(chk, str) and chk in check_ids and chk not in outputs | errors:
            if ok:
                outputs[chk] = rec.get("out")
            else:
                errors[chk] = err
        elif rec.get("done") is True:
            done = True
    return cells, outputs, errors, done, ready
