"""Execute a Part B notebook and the hidden checks in the sandbox, as a conversation in which the
grader asks and the sandbox only answers.

The runner (problems/partb_checks.py) holds no secret. The grader sends it, one request at a
time, each with a fresh random nonce: every cell of the notebook, then every check with its
inputs (drawn from the run's secret seed), and, once the activation checks are answered, the
known-good versions of only the activations those answers got wrong. Each answer must be the
next frame of the channel and name the nonce just sent; anything else (an answer nobody asked
for, a second answer to a request, a frame of another name: records the runner did not write)
voids the run, which goes to review with the reason. Error messages come back as the student's
own cell, line and message, capped, with any text of the runner's own removed. A runner that
never says it started is the grader's failure.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import math
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core import resources
from grader import channel, sandbox
from grader.notebook_checks import ChecksConfig, Plan, harness_path, to_json
from grader.notebook_file import RunCell

ACTIVATION_KINDS = ("activation", "softmax")  # answered before the known-good ones arrive
_SLACK_S = 5.0  # beyond a check's own limit (the runner's alarm) before it is given up on
_SHOWN = 300
# Imported once per warm sandbox (grader.warm), not by every notebook: the runner's numpy and
# what the homework's notebook imports (1 s of CPU a run; unused ones cost a run nothing).
PRELOAD = ("numpy", "matplotlib.pyplot", "sklearn.datasets", "sklearn.model_selection")


@dataclass(frozen=True)
class NotebookRun:
    """What came back. `stopped` says why the run ended before every check was answered;
    `void`, why its answers cannot be trusted (the notebook wrote what the runner did not)."""

    cells: dict[int, str]  # cell index → "" when it ran, else its error
    outputs: dict[str, Any]  # check id → raw output
    errors: dict[str, str]  # check id → the exception it raised
    stopped: str = ""
    seconds: float = 0.0
    unavailable: str = ""  # the sandbox cannot run here, or did not start the runner
    void: str = ""
    stderr: str = field(default="", repr=False)


class Violation(Exception):
    """A frame the runner did not write in answer to the request just sent."""


@dataclass
class Conversation:
    """The grader's side of one run: what to ask, and what was answered."""

    cells: list[RunCell]
    plan: Plan
    cfg: ChecksConfig
    redact: list[str]  # lines of the runner's source, kept out of messages
    ready: bool = False
    answered: dict[str, dict] = field(default_factory=dict)  # "cell:N" or check id → answer
    stopped: str = ""
    void: str = ""
    _seq: int = 0

    def talk(self, s: channel.Session) -> None:
        # From the start every time: a run the warm sandbox gave up on runs again cold.
        self.ready, self.answered, self.stopped, self.void, self._seq = False, {}, "", "", 0
        try:
            name, _ = s.receive(math.inf)  # the runner's import of numpy, under load
            if name != "ready":
                raise Violation(f"a frame named {name!r} before the runner said it started")
            self.ready = True
            for cell in self.cells:
                self._ask(s, f"cell:{cell.index}", {"op": "cell", "index": cell.index,
                                                     "source": cell.source}, math.inf)
            checks = sorted(self.plan.checks, key=lambda c: c["kind"] not in ACTIVATION_KINDS)
            installed = False
            for check in checks:
                if check["kind"] not in ACTIVATION_KINDS and not installed:
                    installed = True
                    wrong = self._failed_activations()  # none: still the table rebuilt
                    self._ask(s, "install", {"op": "install", "names": sorted(wrong),
                                             "source": good_source(wrong)}, 60.0)
                self._ask(s, check["id"], {"op": "check", "kind": check["kind"],
                                           "args": to_json(check["args"]),
                                           "time_s": self.cfg.check_time_s},
                          self.cfg.check_time_s + _SLACK_S)
            s.send({"op": "end"})
        except Violation as exc:
            self.void = str(exc)
        except channel.Broken as exc:
            self.void = f"frames the runner did not write ({exc})"
        except channel.Closed as exc:
            self.stopped = str(exc) if self.ready else ""

    def _failed_activations(self) -> set[str]:
        """The activations (functions and derivatives) whose checks the answers so far fail."""
        from grader.notebook_judge import judge

        specs = [c for c in self.cfg.checks if c.kind in ACTIVATION_KINDS]
        outputs = {k: a["out"] for k, a in self.answered.items()
                   if a.get("ok") is True and isinstance(a.get("out"), dict)}
        errors = {k: str(a.get("error", "failed")) for k, a in self.answered.items()
                  if a.get("ok") is not True}
        verdicts = judge(replace(self.cfg, checks=tuple(specs)), self.plan, outputs, errors, "")
        wrong: set[str] = set()
        for spec, verdict in zip(specs, verdicts):
            if not verdict.passed:
                wrong |= {spec.options["fn"], spec.options["grad"]} \
                    if spec.kind == "activation" else {"softmax"}
        return wrong

    def _ask(self, s: channel.Session, key: str, request: dict, timeout: float) -> None:
        nonce = secrets.token_hex(16)
        s.send({"n": nonce, **request})
        name, data = s.receive(timeout)
        expected = f"m{self._seq:06d}"
        try:
            answer = json.loads(data)
        except (ValueError, RecursionError):
            answer = None
        if name != expected or not isinstance(answer, dict) or answer.get("n") != nonce:
            raise Violation(f"an answer the runner did not write (frame {name[:20]!r} where "
                            f"{expected} for this request was due)")
        self._seq += 1
        if "error" in answer:
            answer["error"] = self.clean(answer["error"])
        self.answered[key] = answer

    def clean(self, error: object) -> str:
        """The student's own message: one line, capped, nothing of the runner's text."""
        text = " ".join(str(error).split()) if isinstance(error, str) else "failed"
        for line in self.redact:
            text = text.replace(line, "[…]")
        return text[:_SHOWN]


def good_source(names: set[str]) -> str:
    """The definitions of `names` in problems/partb_good.py, with the helpers they use, and
    nothing else of the file (read with ast, never imported)."""
    text = resources.path("problems", "partb_good.py").read_text()
    defs = {n.name: n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}
    wanted, todo = set(), [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += [x.id for x in ast.walk(defs[name])
                     if isinstance(x, ast.Name) and x.id in defs and x.id.startswith("_")]
    return "".join(f"{ast.get_source_segment(text, defs[n])}\n\n" for n in sorted(wanted))


def _hidden() -> list[str]:
    """scikit-learn's copy of the digits: with it, a notebook could look the test labels up."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [str(Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data")]


def run_notebook(cells: list[RunCell], the_plan: Plan, cfg: ChecksConfig,
                 limits: sandbox.Limits) -> NotebookRun:
    """Run `cells`, then every check of `the_plan`, in one sandboxed process."""
    import numpy as np

    runner = harness_path().read_text()
    redact = sorted({ln.strip() for ln in runner.splitlines() if len(ln.strip()) >= 24},
                    key=len, reverse=True)
    inputs: dict[str, bytes | Path] = {"runner.py": runner.encode()}
    if the_plan.digits:
        buf = io.BytesIO()
        np.savez(buf, **the_plan.digits)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
        inputs["digits.npz"] = buf.getvalue()
    conv = Conversation(cells, the_plan, cfg, redact)
    out = sandbox.run(sandbox.python_argv("/in/runner.py"), limits=limits, inputs=inputs,
                      hide=_hidden(), talk=conv.talk, warm=PRELOAD)
    if out.status in ("unavailable", "starved"):  # the grader's side: nothing is marked
        return NotebookRun({}, {}, {}, unavailable=out.reason)
    if not conv.ready and not conv.void:  # the runner never started: nothing of the student's
        why = out.reason or " ".join(out.stderr.split())[-200:] or f"exit status {out.returncode}"
        return NotebookRun({}, {}, {}, unavailable=f"the sandbox did not start the harness "
                           f"({why})", stderr=out.stderr)
    return _collected(conv, cells, the_plan, out)


def _collected(conv: Conversation, cells: list[RunCell], the_plan: Plan,
               out: sandbox.Outcome) -> NotebookRun:
    cell_state = {c.index: ("" if a.get("ok") is True else a.get("error", "failed"))
                  for c in cells if (a := conv.answered.get(f"cell:{c.index}")) is not None}
    outputs, errors = {}, {}
    for c in the_plan.checks:
        a = conv.answered.get(c["id"])
        if a is None:
            continue
        if a.get("ok") is True:
            outputs[c["id"]] = a.get("out")
        else:
            errors[c["id"]] = str(a.get("error", "failed"))
    stopped = ""
    if len(outputs) + len(errors) < len(the_plan.checks) and not conv.void:
        why = out.reason or conv.stopped or "the notebook ended the run"
        stopped = f"the run was stopped: {why}"
    return NotebookRun(cell_state, outputs, errors, stopped, out.seconds, void=conv.void,
                       stderr=out.stderr)
