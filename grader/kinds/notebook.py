"""Part B: the notebook, read and checked against the template, executed once in the sandbox
with the hidden checks of problems/partb_checks.yaml; two kinds mark that one run:

- `notebook`: the template intact; each code answer region earns the share of the hidden checks
  that call the functions it defines (grader/notebook_regions.py), each text answer region its
  share with `text_words` words of prose;
- `code`: the hidden checks of the item (problems/partb_checks.yaml, `item:`), marked by the
  weighted share that pass or, with bars, by the value they measure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import yaml

from core.yamlnodes import NodeReader
from grader import notebook_checks as nc
from grader.findings import Finding
from grader.kinds.base import Evidence, Item, Kind, Limits, mark, not_run
from grader.kinds.claim import compare, read_claim, reference, share_of, shown, unverified
from grader.notebook_checks import CheckResult
from grader.notebook_file import (
    Answer,
    NotebookError,
    answers,
    cells_to_run,
    check_notebook,
    read_notebook,
    region_code,
)
from grader.notebook_judge import judge
from grader.notebook_regions import Credit, code_credit, text_credit
from grader.notebook_run import NotebookRun, run_notebook
from grader.results import AnswerMark, ItemMark, Status
from grader.sandbox import Limits as SandboxLimits
from grader.submission import NOTEBOOK as NAME
from grader.submission import Submission

NEEDS = {"sandbox", "python", "numpy"}


def template_notebook() -> dict:
    """The student template of `dlhw notebook partb --student`, as plain JSON data."""
    from nets.notebook import build_notebook  # Part B's generator

    return json.loads(json.dumps(build_notebook(student=True)))


def sandbox_limits(limits: Limits | None) -> SandboxLimits:
    """The sandbox limits of one notebook run (its cells and every check) from the rubric's
    notebook item; 16 MB per file written, stdout included."""
    limits = limits or Limits()
    return SandboxLimits(wall_s=limits.time_limit_s, cpu_s=int(limits.time_limit_s) + 1,
                         memory_mb=limits.memory_limit_mb, file_mb=16)


@dataclass
class NotebookEvidence:
    """One submission's notebook, read, checked and (when grading) run once for every item."""

    problem: str = ""  # why nothing could run ("" when it ran)
    status: Status | None = None  # the notebook item's status when `problem` is set
    answers: list[Answer] = field(default_factory=list)
    regions: int = 0  # the template's answer regions
    run: NotebookRun = field(default_factory=lambda: NotebookRun({}, {}, {}))
    results: list[CheckResult] = field(default_factory=list)
    code: list[tuple[str, str]] = field(default_factory=list)  # per region: submitted, template


def gather_notebook(ev: Evidence) -> NotebookEvidence:
    """Read and validate partb.ipynb; when grading, run it with the hidden checks."""
    sub, ctx = ev.sub, ev.ctx
    if sub.notebook is None:
        return NotebookEvidence(f"{NAME} not submitted", Status.ABSENT)
    if ctx.template is None:
        return NotebookEvidence("not run: no notebook template to compare with (nets.notebook "
                                "unavailable)", Status.NOT_RUN)
    try:
        nb = read_notebook(sub.notebook.read_bytes())
        status, msg, _, total = check_notebook(nb, ctx.template)
        if status == Status.INVALID:
            return NotebookEvidence(f"{NAME} invalid: {msg}", Status.INVALID)
        regions = answers(nb, ctx.template)
        cells = cells_to_run(nb, regions)  # refuses IPython magics and shell escapes
    except NotebookError as exc:
        return NotebookEvidence(str(exc), Status.REFUSED)
    if ev.mode == "check":
        return NotebookEvidence("", None, regions, total)
    item = next((i for i in ctx.items if i.kind == "notebook"), None)
    cfg = nc.load_checks()
    plan = nc.plan(cfg, ctx.seed)
    run = run_notebook(cells, plan, cfg, sandbox_limits(item.limits if item else None))
    if run.unavailable:  # nothing of the student's runs outside the sandbox
        return NotebookEvidence(f"not run: {run.unavailable}", Status.NOT_RUN, regions, total,
                                run)
    if run.void:  # the notebook wrote answers the runner did not: none can be trusted
        return NotebookEvidence(f"REVIEW: the run is void: {run.void}; 0 marks until an "
                                "instructor has looked", Status.REVIEW, regions, total, run)
    return NotebookEvidence("", None, regions, total, run,
                            judge(cfg, plan, run.outputs, run.errors, run.stopped),
                            region_code(nb, ctx.template))


def _evidence(ev: Evidence) -> NotebookEvidence:
    return ev.memo("notebook", lambda: gather_notebook(ev))


class _NotebookBase(Kind):
    def needs(self, item: Item) -> set[str]:
        return set(NEEDS)

    def file(self, item: Item) -> str:
        return NAME

    def submitted(self, sub: Submission, item: Item) -> bool:
        return sub.notebook is not None

    def gather(self, item: Item, ev: Evidence) -> None:
        _evidence(ev)


class NotebookKind(_NotebookBase):
    """The notebook as a whole: each answer region earns what its hidden checks or its prose
    earn (grader/notebook_regions.py)."""

    name = "notebook"
    fields = frozenset({"text_words"})
    sandboxed = True

    def read(self, r: NodeReader, m: dict[str, yaml.Node], where: str) -> int:
        """`text_words`: the words of prose a text answer needs (default 20)."""
        if "text_words" not in m:
            return 20
        words = r.integer(m["text_words"], f"{where}.text_words")
        if not 1 <= words <= 1000:
            raise r.fail(m["text_words"], f"{where}.text_words", "expected 1 to 1000 words")
        return words

    def grade(self, item: Item, ev: Evidence) -> ItemMark:
        st = _evidence(ev)
        if (stopped := _not_marked(item, st)) is not None:
            return stopped
        if st.problem:
            score = None if st.status == Status.INVALID else Fraction(0)
            assert st.status is not None
            return mark(item, score, st.status, f"{st.problem}: 0 marks"
                        if score is not None else st.problem)
        credits = _credits(item, st, _check_values(st.results, ev.ctx.items))
        earned = sum((c.share for c in credits), Fraction(0))
        notes = [f"{a.label}: {c.why}" for a, c in zip(st.answers, credits) if c.share < 1]
        run = st.run
        fixed_errors = [f"cell {i}: {e}" for i, e in sorted(run.cells.items()) if e and
                        not any(i in a.cells for a in st.answers)]
        total = len(st.answers)
        share = earned / total if total else Fraction(0)
        status = Status.CORRECT if share == 1 else Status.PARTIAL if share else \
            Status.WRONG if any(a.edited for a in st.answers) else Status.BLANK
        text = (f"template intact; {shown(float(earned))} of {total} answer regions earned (code "
                "by the hidden checks calling its functions, text by its prose); executed in "
                "the sandbox")
        if run.stopped:
            text += f"; {run.stopped}"
        if notes:
            text += "; " + "; ".join(notes)
        if fixed_errors:
            text += "; given cells failed: " + "; ".join(fixed_errors[:3])
        return mark(item, share, status, text, answered=sum(c.share == 1 for c in credits),
                    regions=total)

    def check(self, item: Item, ev: Evidence) -> Iterator[Finding]:
        st = _evidence(ev)
        if st.status == Status.ABSENT:
            return
        if st.status == Status.INVALID:
            yield Finding("problem", NAME, "tags", f"not as in the template: "
                          f"{st.problem.removeprefix(f'{NAME} invalid: ')} (start from "
                          "`dlhw notebook partb --student` and write only between the tags)")
            return
        if st.problem:
            yield Finding("problem", NAME, "", st.problem.removeprefix(f"{NAME}: "))
            return
        yield Finding("ok", NAME, "tags", f"the template's tags and fixed cells are intact "
                      f"({st.regions} answer regions)")
        for a in st.answers:
            if not a.edited or a.kind == "TEXT" and not a.text:
                yield Finding("warning", NAME, a.label, "left as in the template"
                              if not a.edited else "no text written")

    def flags(self, item: Item, mark_: ItemMark) -> list[tuple[str, str]]:
        if mark_.status in (Status.INVALID, Status.REFUSED):
            return [("notebook tampered or refused", f"{item.id}: {mark_.feedback}")]
        return super().flags(item, mark_)


def _credits(item: Item, st: NotebookEvidence, value: Mapping[str, Fraction]) -> list[Credit]:
    """Each answer region's credit: text by its prose; code edited and running, then by the
    checks calling its functions (by edit and run alone where it defines none)."""
    calls = {c.id: c.calls for c in nc.load_checks().checks}
    out = []
    for a in st.answers:
        if a.kind == "TEXT":
            out.append(text_credit(a.text, item.config or 20) if a.edited
                       else Credit(Fraction(0), "left blank"))
            continue
        ran = _ran(a, st.run)
        code, template = st.code[a.number] if a.number < len(st.code) else ("", "")
        credit = code_credit(code, template, st.results, calls, value) if not ran else None
        out.append(Credit(Fraction(0), ran) if ran else credit or Credit(Fraction(1)))
    return out


def _ran(a: Answer, run: NotebookRun) -> str:
    """Why a code region does not count before any check (left as in the template, failing or
    not run), or "" when it was edited and ran."""
    failed = next((run.cells[i] for i in a.cells if run.cells.get(i)), "")
    missing = any(i not in run.cells for i in a.cells)
    return "left as in the template" if not a.edited else \
        f"does not run: {failed}" if failed else \
        f"not run: {run.stopped or 'no report came back'}" if missing else ""


def _check_values(results: list[CheckResult], items: tuple[Item, ...]) -> dict[str, Fraction]:
    """What each check earned, 0 to 1: a pass; a measured accuracy, its item's bars (nothing
    while under review)."""
    by_id = {i.id: i for i in items}
    out = {}
    for r in results:
        item = by_id.get(r.item)
        if r.measured is not None and item is not None and item.full is not None:
            out[r.id] = Fraction(0) if r.review else share_of(item, r.measured)[0]
        else:
            out[r.id] = Fraction(int(r.passed))
    return out


class CodeKind(_NotebookBase):
    """Hidden checks calling what the notebook defines, marked by the share that pass or by the
    value they measure."""

    name = "code"
    claims = "optional"
    thresholds = "optional"

    def grade(self, item: Item, ev: Evidence) -> ItemMark:
        st = _evidence(ev)
        if (stopped := _not_marked(item, st)) is not None:
            return stopped
        if st.problem:
            return _without_run(item, ev.sub, st)
        mine = [r for r in st.results if r.item == item.id]
        if not mine:
            return mark(item, None, Status.ERROR, f"no check in problems/partb_checks.yaml for "
                        f"item {item.id}")
        return _marked(item, ev.sub, mine)


def _not_marked(item: Item, st: NotebookEvidence) -> ItemMark | None:
    """The mark of an item its run cannot mark: the sandbox did not run it (the grader's side),
    or the run is void (review); None otherwise."""
    if st.status == Status.NOT_RUN:
        return not_run(item, st.problem)
    if st.status == Status.REVIEW:
        return mark(item, Fraction(0), Status.REVIEW, st.problem, review=True)
    return None


def _without_run(item: Item, sub: Submission, st: NotebookEvidence) -> ItemMark:
    claimed, bad = read_claim(sub, item.claim) if item.claim else (None, "")
    if claimed is not None and st.status in (Status.ABSENT, Status.REFUSED, Status.INVALID):
        return unverified(item, claimed, st.problem)
    if bad.startswith("metrics.yaml:"):  # an invalid claim, and nothing measured
        return mark(item, Fraction(0), Status.UNPARSEABLE, f"{bad}; {st.problem}: 0 marks")
    why = st.problem if st.problem.startswith("not run") else f"not run: {st.problem}"
    return mark(item, Fraction(0), Status.ABSENT if st.status == Status.ABSENT else
                Status.NOT_RUN, f"{why}: 0 marks")


def _marked(item: Item, sub: Submission, mine: list[CheckResult]) -> ItemMark:
    total = sum((r.weight for r in mine), Fraction(0))
    note, flagged, review = "", False, ""
    measured = next((r for r in mine if r.measured is not None), None)
    if item.full is not None:  # marked by the measured value against the thresholds
        if measured is None:
            failed = next((r for r in mine if not r.passed), mine[0])
            share, text = Fraction(0), f"not measured: {failed.message}"
        else:
            assert measured.measured is not None
            share, why = share_of(item, measured.measured)
            text = f"measured {shown(measured.measured)}: {why}" + reference(item)
            note, flagged = compare(sub, item, measured.measured)
            review = measured.review
    else:  # marked by the weighted share of the checks that pass
        share = sum((r.weight for r in mine if r.passed), Fraction(0)) / total
        text = f"{sum(r.passed for r in mine)} of {len(mine)} checks passed"
        failures = [r.id for r in mine if not r.passed]
        if failures:  # each failed check's row says why
            text += f" (failed: {', '.join(failures)})"
        value = next((r.detail["value"] for r in mine if "value" in r.detail), None)
        if value is not None:
            note, flagged = compare(sub, item, value)
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
