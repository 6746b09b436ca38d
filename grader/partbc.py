"""Parts B and C: the notebook executed and checked, the claims of metrics.yaml compared with
what was measured, the model, the report compiled and its PDF checked. Each item returns an
ItemMark; the student's code and files only ever run in the sandbox (grader/sandbox.py)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from core.numfmt import fmt
from grader import notebook_checks as nc
from grader.notebook_checks import CheckResult
from grader.notebook_file import (
    Answer,
    NotebookError,
    answers,
    cells_to_run,
    check_notebook,
    read_notebook,
)
from grader.notebook_run import NotebookRun, run_notebook
from grader.results import AnswerMark, ItemMark, Status
from grader.rubric import Item, Rubric, Threshold
from grader.sandbox import Limits
from grader.submission import Number, Other, Submission, Text

if TYPE_CHECKING:
    from grader.model_check import Measured


def _mark(item: Item, share: Fraction | None, status: Status, feedback: str,
          **detail: object) -> ItemMark:
    score = None if share is None else share * item.marks
    return ItemMark(item.id, item.title, item.part[-1].upper(), score, item.marks, status,
                    feedback, (), dict(detail))


def not_run(item: Item, why: str) -> ItemMark:
    """An item the grader could not run (no sandbox, a tool missing, the harness did not
    start): no score, never a mark against the student; the submission is incomplete."""
    return _mark(item, None, Status.NOT_RUN, why if why.startswith("not run") else
                 f"not run: {why}")


# ---------------------------------------------------------------- metrics


def _passes(t: Threshold, v: float | bool) -> bool:
    if t.op == "equals":
        return v == t.value
    return v >= t.value - 1e-12 if t.op == "at_least" else v <= t.value + 1e-12


def _bound(t: Threshold) -> str:
    return {"at_least": "≥", "at_most": "≤", "equals": "="}[t.op] + " " + (
        str(t.value).lower() if isinstance(t.value, bool) else fmt(float(t.value)))


def metric_share(item: Item, value: float | bool) -> tuple[Fraction, str]:
    """The share of the item's marks a value earns, and why."""
    assert item.full is not None
    if _passes(item.full, value):
        return Fraction(1), f"meets the full-mark bar ({_bound(item.full)})"
    if item.partial is not None and _passes(item.partial, value):
        return item.partial_share, (f"meets the partial bar ({_bound(item.partial)}, "
                                    f"{float(item.partial_share):.0%}), not the full-mark bar "
                                    f"({_bound(item.full)})")
    return Fraction(0), f"below the bar ({_bound(item.partial or item.full)})"


_BOOLEAN_SUFFIXES = ("converged", "cycle_detected")


def _claim_kind(item: Item) -> str:
    """How a claimed value of this item's metric must look: boolean, accuracy, mse or number."""
    assert item.metric is not None
    if (item.full is not None and item.full.op == "equals") or \
            item.metric.endswith(_BOOLEAN_SUFFIXES):
        return "boolean"
    if item.metric.endswith("accuracy"):
        return "accuracy"
    return "mse" if item.metric.endswith(("mse", "loss")) else "number"


def read_metric(sub: Submission, item: Item) -> tuple[float | bool | None, str]:
    """The claimed value of the item's metric, validated; (None, why) when absent or invalid.
    Accuracies in [0, 1] or as percentages in [0, 100]; errors and losses ≥ 0; yes/no metrics
    as YAML booleans."""
    assert item.metric is not None
    if sub.metrics is None:
        return None, "metrics.yaml not submitted"
    raw = sub.metrics.get(item.metric)
    if raw is None:
        return None, f"{item.metric} not reported in metrics.yaml"
    where = f"metrics.yaml:{raw.line}: {item.metric}"
    kind = _claim_kind(item)
    if kind == "boolean":
        if isinstance(raw, Other) and raw.flag is not None:
            return raw.flag, ""
        return None, f"{where}: expected true or false"
    if not isinstance(raw, Number):
        found = "text" if isinstance(raw, Text) else raw.kind
        return None, f"{where}: expected a number, found {found}"
    value = raw.value
    if value != value or value in (float("inf"), float("-inf")):
        return None, f"{where}: expected a finite number"
    if kind == "accuracy":
        if not 0 <= value <= 100:
            return None, f"{where}: expected an accuracy in [0, 1] or a percentage in [0, 100]"
        if value > 1:
            value /= 100  # reported as a percentage
    elif kind == "mse" and value < 0:
        return None, f"{where}: expected a value ≥ 0 (a squared error or loss)"
    return value, ""


def claim_note(sub: Submission, item: Item, measured: float | bool) -> tuple[str, bool]:
    """Feedback comparing the claim in metrics.yaml with the measured value, and whether the
    gap is flagged (more than the item's max_gap; any difference for a yes/no metric)."""
    if item.metric is None:
        return "", False
    claimed, why = read_metric(sub, item)
    if claimed is None:
        return f"; claim: {why}", False
    if isinstance(measured, bool) or isinstance(claimed, bool):
        if claimed == measured:
            return f"; claimed {_shown(claimed)}, as measured", False
        return (f"; FLAG: claimed {item.metric} = {_shown(claimed)} but measured "
                f"{_shown(measured)}"), True
    gap = abs(float(claimed) - float(measured))
    if gap <= item.max_gap:
        return f"; claimed {_shown(claimed)}, as measured", False
    return (f"; FLAG: claimed {item.metric} = {_shown(claimed)} but measured "
            f"{_shown(measured)} (gap {fmt(gap, 3)}, more than {item.max_gap:g})"), True


def grade_metric(sub: Submission, item: Item) -> ItemMark:
    """An item marked from a claim alone (nothing measurable): at most its unverified_share."""
    value, why = read_metric(sub, item)
    if value is None:
        status = Status.ABSENT if sub.metrics is None else \
            (Status.BLANK if "not reported" in why else Status.UNPARSEABLE)
        return _mark(item, Fraction(0), status, f"{why}: 0 marks")
    return _unverified(item, value, "nothing measured it")


def _unverified(item: Item, claimed: float | bool, why: str) -> ItemMark:
    share, reason = metric_share(item, claimed) if item.full is not None else (Fraction(1), "")
    share *= item.unverified_share
    return _mark(item, share, Status.UNVERIFIED,
                 f"{item.metric} = {_shown(claimed)} claimed, not verified ({why})"
                 + (f": {reason}" if reason else "")
                 + f"; an unverified claim earns at most {float(item.unverified_share):.0%} "
                 "of the marks", claimed=claimed)


def _shown(value: float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else fmt(value, 4)


def _reference(item: Item) -> str:
    return "" if item.reference is None else f" (reference solution: {_shown(item.reference)})"


# ---------------------------------------------------------------- the model


def model_path(sub: Submission, item: Item) -> Path | None:
    """The archive submitted for a model item (models/fashion.pt2, models/regression.pt2)."""
    return sub.model if item.model == "fashion" else sub.regression_model


class PartC:
    """Grades the model items of one submission from a single sandboxed run of all its models
    (run when the first model item is graded)."""

    def __init__(self, sub: Submission, items: list[Item], data_dir: Path | None = None,
                 threads: int = 1):
        self.sub, self.items, self.data_dir, self.threads = sub, items, data_dir, threads

    @functools.cached_property
    def measured(self) -> dict:
        from grader.model_check import measure_all

        tasks = [(i, p) for i in self.items if i.check == "model" and
                 (p := model_path(self.sub, i)) is not None]
        return measure_all(tasks, self.data_dir, self.threads)

    def grade(self, item: Item) -> ItemMark:
        return grade_model(self.sub, item, self.measured.get(item.id))


def grade_model(sub: Submission, item: Item, m: Measured | None) -> ItemMark:
    """A model item from its measurement (`m`: None when no model was submitted)."""
    claimed, why = read_metric(sub, item)
    path = model_path(sub, item)
    if path is None or m is None:
        if claimed is None:
            return _mark(item, Fraction(0), Status.ABSENT, f"no model and {why}: 0 marks")
        share, reason = metric_share(item, claimed)
        share *= item.unverified_share
        return _mark(item, share, Status.UNVERIFIED,
                     f"no model submitted: claimed {fmt(claimed, 4)} not verified ({reason}); "
                     f"at most {float(item.unverified_share):.0%} of the marks", claimed=claimed)
    if m.refused:
        return _mark(item, None, Status.INVALID,
                     f"models/{path.name} refused, not loaded: {m.error}")
    if m.fault:
        return not_run(item, m.error)
    if not m.ok or m.value is None:
        return _mark(item, Fraction(0), Status.ERROR,
                     f"models/{path.name} could not be evaluated: {m.error}")
    share, reason = metric_share(item, m.value)
    what = f"measured test accuracy {m.value:.4f} on {m.n} images" if item.model == "fashion" \
        else f"measured MSE against sin(x) {fmt(m.value, 3)} on {m.n} points of [-2π, 2π]"
    text = f"{what}: {reason}" + _reference(item)
    flagged = claimed is not None and abs(claimed - m.value) > item.max_gap
    if claimed is None:
        text += f"; {why}"
    elif flagged:
        text += (f"; FLAG: claimed {fmt(claimed, 4)} differs from the measured value by "
                 f"{fmt(abs(claimed - m.value), 3)} (more than {item.max_gap:g})")
    status = Status.CORRECT if share == 1 else Status.PARTIAL if share else Status.WRONG
    if m.review:
        status, text = Status.REVIEW, f"{text}; REVIEW: {m.review}"
    return _mark(item, share, status, text, measured=m.value, claimed=claimed,
                 flagged=flagged, **m.detail)


# ---------------------------------------------------------------- Part B: the notebook


def template_notebook() -> dict:
    """The student template of `dlhw notebook partb --student`, as plain JSON data."""
    from nets.notebook import build_notebook  # Part B's generator

    return json.loads(json.dumps(build_notebook(student=True)))


def notebook_limits(item: Item) -> Limits:
    """The sandbox limits of one notebook run (its cells and every check) from the rubric's
    notebook item; 16 MB per file written, stdout included."""
    cpu = int(item.time_limit_s) + 1
    return Limits(wall_s=item.time_limit_s, cpu_s=cpu, memory_mb=item.memory_limit_mb,
                  file_mb=16)


@dataclass
class _NotebookState:
    """One submission's notebook, read, checked and run once for all the Part B items."""

    problem: str = ""  # why nothing could run ("" when it ran)
    status: Status | None = None  # the notebook item's status when `problem` is set
    answers: list[Answer] = field(default_factory=list)
    run: NotebookRun = field(default_factory=lambda: NotebookRun({}, {}, {}))
    results: list[CheckResult] = field(default_factory=list)


class PartB:
    """Grades every Part B item of one submission from a single sandboxed run of its notebook.

    The notebook item: tags and fixed cells intact, every code answer edited and running, every
    text answer written. The other items: the hidden checks of problems/partb_checks.yaml.
    """

    def __init__(self, sub: Submission, rubric: Rubric, template: dict | None):
        self.sub = sub
        self.rubric = rubric
        self.template = template

    @functools.cached_property
    def state(self) -> _NotebookState:
        if self.sub.notebook is None:
            return _NotebookState("partb.ipynb not submitted", Status.ABSENT)
        if self.template is None:
            return _NotebookState("not run: no notebook template to compare with (nets.notebook "
                                  "unavailable)", Status.NOT_RUN)
        try:
            nb = read_notebook(self.sub.notebook.read_bytes())
            status, msg, _, _ = check_notebook(nb, self.template)
            if status == Status.INVALID:
                return _NotebookState(f"partb.ipynb invalid: {msg}", Status.INVALID)
            regions = answers(nb, self.template)
            cells = cells_to_run(nb, regions)
        except NotebookError as exc:
            return _NotebookState(str(exc), Status.REFUSED)
        item = next((i for i in self.rubric.items if i.check == "notebook"), None)
        limits = notebook_limits(item) if item else notebook_limits(
            Item("notebook", "partb", "", Fraction(0), "notebook"))
        cfg = nc.load_checks()
        plan = nc.plan(cfg)
        run = run_notebook(cells, plan, cfg, limits)
        if run.unavailable:  # nothing of the student's runs outside the sandbox
            return _NotebookState(f"not run: {run.unavailable}", Status.NOT_RUN, regions, run)
        results = nc.judge(cfg, plan, run.outputs, run.errors, run.stopped)
        return _NotebookState("", None, regions, run, results)

    def grade(self, item: Item) -> ItemMark:
        if item.check == "notebook":
            return self._notebook(item)
        return self._checks(item)

    def _notebook(self, item: Item) -> ItemMark:
        st = self.state
        if st.status == Status.NOT_RUN:
            return not_run(item, st.problem)
        if st.problem:
            score = None if st.status == Status.INVALID else Fraction(0)
            return _mark(item, score, st.status, f"{st.problem}: 0 marks"
                         if score is not None else st.problem)
        run = st.run
        good, notes = 0, []
        for a in st.answers:
            if a.kind == "TEXT":
                ok = a.edited and bool(a.text)
                why = "" if ok else "left blank"
            else:
                failed = next((run.cells[i] for i in a.cells if run.cells.get(i)), "")
                missing = any(i not in run.cells for i in a.cells)
                ok = a.edited and not failed and not missing
                why = "left as in the template" if not a.edited else \
                    f"does not run: {failed}" if failed else \
                    f"not run: {run.stopped or 'no report came back'}" if missing else ""
            good += ok
            if not ok:
                notes.append(f"{a.label}: {why}")
        fixed_errors = [f"cell {i}: {e}" for i, e in sorted(run.cells.items()) if e and
                        not any(i in a.cells for a in st.answers)]
        total = len(st.answers)
        share = Fraction(good, total) if total else Fraction(0)
        status = Status.CORRECT if share == 1 else Status.BLANK if good == 0 else Status.PARTIAL
        text = (f"template intact; {good} of {total} answer regions hold code that runs or a "
                "written answer; executed in the sandbox")
        if run.stopped:
            text += f"; {run.stopped}"
        if notes:
            text += "; " + "; ".join(notes)
        if fixed_errors:
            text += "; given cells failed: " + "; ".join(fixed_errors[:3])
        return _mark(item, share, status, text, answered=good, regions=total)

    def _checks(self, item: Item) -> ItemMark:
        st = self.state
        if st.status == Status.NOT_RUN:
            return not_run(item, st.problem)
        if st.problem:
            claimed, bad = read_metric(self.sub, item) if item.metric else (None, "")
            if claimed is not None and st.status in (Status.ABSENT, Status.REFUSED, Status.INVALID):
                return _unverified(item, claimed, st.problem)
            if bad.startswith("metrics.yaml:"):  # an invalid claim, and nothing measured
                return _mark(item, Fraction(0), Status.UNPARSEABLE, f"{bad}; {st.problem}: 0 marks")
            why = st.problem if st.problem.startswith("not run") else f"not run: {st.problem}"
            return _mark(item, Fraction(0),
                         Status.ABSENT if st.status == Status.ABSENT else Status.NOT_RUN,
                         f"{why}: 0 marks")
        mine = [r for r in st.results if r.item == item.id]
        if not mine:
            return _mark(item, None, Status.ERROR, f"no check in problems/partb_checks.yaml for "
                         f"item {item.id}")
        total = sum((r.weight for r in mine), Fraction(0))
        note, flagged, review = "", False, ""
        measured = next((r for r in mine if r.measured is not None), None)
        if item.full is not None:  # marked by the measured value against the thresholds
            if measured is None:
                failed = next((r for r in mine if not r.passed), mine[0])
                share, text = Fraction(0), f"not measured: {failed.message}"
            else:
                share, why = metric_share(item, measured.measured)
                text = f"measured {_shown(measured.measured)}: {why}" + _reference(item)
                note, flagged = claim_note(self.sub, item, measured.measured)
                review = measured.review
        else:  # marked by the weighted share of the checks that pass
            share = sum((r.weight for r in mine if r.passed), Fraction(0)) / total
            text = f"{sum(r.passed for r in mine)} of {len(mine)} checks passed"
            failures = [r.id for r in mine if not r.passed]
            if failures:  # each failed check's row says why
                text += f" (failed: {', '.join(failures)})"
            value = next((r.detail["value"] for r in mine if "value" in r.detail), None)
            if value is not None:
                note, flagged = claim_note(self.sub, item, value)
        marks = tuple(AnswerMark(r.id, Status.PASSED if r.passed else Status.FAILED,
                                 share * item.marks if measured is r else
                                 item.marks * r.weight / total * r.passed,
                                 item.marks if measured is r else item.marks * r.weight / total,
                                 r.message) for r in mine)
        status = Status.CORRECT if share == 1 else Status.PARTIAL if share else Status.WRONG
        if review:
            status = Status.REVIEW
            text += f"; REVIEW: {review}"
        return ItemMark(item.id, item.title, "B", share * item.marks, item.marks, status,
                        text + note, marks, {"flagged": flagged, "review": bool(review)})


# ---------------------------------------------------------------- the report


def grade_report(sub: Submission, item: Item) -> ItemMark:
    """Compiled in the sandbox; each format check of the PDF earns an equal share."""
    from grader.report_check import Format, compile_and_check

    if sub.report is None:
        return _mark(item, Fraction(0), Status.ABSENT, "report.tex not submitted: 0 marks")
    fmt = Format(**(item.report_format or {}), time_limit_s=item.time_limit_s,  # type: ignore
                 memory_limit_mb=item.memory_limit_mb)
    r = compile_and_check(sub.report, fmt, assets=sub.path)
    if r.fault:
        return not_run(item, r.error)
    if not r.compiled:
        return _mark(item, Fraction(0), Status.WRONG, f"report.tex does not compile: {r.error}: "
                     "0 marks")
    passed = sum(ok for ok, _ in r.checks.values())
    share = Fraction(passed, len(r.checks))
    parts = [f"{name}: {'yes' if ok else 'NO'} ({why})" for name, (ok, why) in r.checks.items()]
    status = Status.CORRECT if share == 1 else Status.WRONG if passed == 0 else Status.PARTIAL
    return _mark(item, share, status, "compiled in the sandbox; " + "; ".join(parts),
                 checks={k: ok for k, (ok, _) in r.checks.items()})
