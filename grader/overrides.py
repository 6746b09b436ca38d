"""The instructor's overrides: `overrides.yaml` beside the submissions settles answers by hand.

An answer the grader could not read is `review` (0 points for now); an instructor reads it and
writes one entry per answer, which the next run applies (status `override`) and reports:

    - student: s001
      answer: q6.derivative
      points: 2.5
      reason: "th^2(z) is tanh^2(z): read by hand"

The file is the instructor's, but it is still read with the validating YAML reader: a bad entry
is a usage error naming its line, never a silent skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from core.errors import DlhwError
from core.yamlnodes import NodeReader
from grader.results import Status
from grader.rubric import Rubric

OVERRIDES_FILE = "overrides.yaml"


class OverrideError(DlhwError, ValueError):
    """An overrides file that does not validate: `file:line: field: what was expected`."""


@dataclass(frozen=True)
class Override:
    student: str
    question: str
    answer: str
    points: Fraction
    reason: str
    line: int


@dataclass(frozen=True)
class Overrides:
    path: Path | None
    entries: tuple[Override, ...] = ()

    def for_student(self, *ids: str) -> dict[str, dict[str, Override]]:
        """question id → answer id → override, for a student known by any of `ids`."""
        out: dict[str, dict[str, Override]] = {}
        for o in self.entries:
            if o.student in ids:
                out.setdefault(o.question, {})[o.answer] = o
        return out


def find_overrides(submissions: Path, batch: bool) -> Path | None:
    """overrides.yaml beside the submission folders (a batch's root, or a submission's parent)."""
    candidate = (submissions if batch else submissions.resolve().parent) / OVERRIDES_FILE
    return candidate if candidate.is_file() else None


def load_overrides(path: Path, rubric: Rubric) -> Overrides:
    """Validate every entry against the rubric: a known answer, points within its marks."""
    r = NodeReader(Path(path), OverrideError)
    entries: list[Override] = []
    seen: dict[tuple[str, str], int] = {}
    for k, node in enumerate(r.seq(r.load(), "overrides")):
        where = f"overrides[{k}]"
        m = r.mapping(node, where, {"student", "answer", "points", "reason"}, set())
        student = r.string(m["student"], f"{where}.student") if not r.is_number(m["student"]) \
            else m["student"].value
        answer = r.string(m["answer"], f"{where}.answer")
        qid, _, aid = answer.partition(".")
        weights = rubric.parta.weights.get(qid, {})
        if aid not in weights:
            raise r.fail(m["answer"], f"{where}.answer",
                         f"expected question.answer such as q6.derivative, got {answer!r}")
        points = r.number(m["points"], f"{where}.points", 0, float(weights[aid]))
        reason = r.string(m["reason"], f"{where}.reason").strip()
        if not reason:
            raise r.fail(m["reason"], f"{where}.reason", "say why (it is shown to the student)")
        line = node.start_mark.line + 1
        if (student, answer) in seen:
            raise r.fail(node, where, f"{student} {answer} is already set on line "
                         f"{seen[student, answer]}")
        seen[student, answer] = line
        entries.append(Override(student, qid, aid, points, reason, line))
    return Overrides(Path(path), tuple(entries))


def report_overrides(overrides: Overrides, rows: list[dict[str, object]],
                     single: bool = False) -> list[str]:
    """What a run did with the overrides and the answers left to review, one line each:
    applied, not matched (a typo in a student or answer id must not pass unnoticed)."""
    applied: set[tuple[str, str, str]] = set()
    review = 0
    ids: set[str] = set()
    for row in rows:
        who = {str(row.get("student")), str(row.get("folder", row.get("student")))}
        ids |= who
        for qid, q in (row.get("questions") or {}).items():  # type: ignore[attr-defined]
            for aid, a in (q.get("answers") or {}).items():
                if a.get("status") == Status.OVERRIDE:
                    applied |= {(s, qid, aid) for s in who}
                review += a.get("status") == Status.REVIEW
    lines = []
    if overrides.entries:
        used = [o for o in overrides.entries if (o.student, o.question, o.answer) in applied]
        lines.append(f"applied {len(used)} override(s) from {overrides.path}")
        if not single:
            for o in overrides.entries:
                if (o.student, o.question, o.answer) not in applied:
                    why = "no such student" if o.student not in ids else "not graded"
                    lines.append(f"  not applied: line {o.line}: {o.student} "
                                 f"{o.question}.{o.answer} ({why})")
    if review and not single:
        lines.append(f"{review} answer(s) could not be read: status review, listed in "
                     "review.csv; settle them in overrides.yaml")
    return lines
