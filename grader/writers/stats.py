"""The numbers a class's writers share: the gradebook's columns and cells, each column's
statistics (stats.csv and the site), a part's total."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from grader.context import RunContext
from grader.results import ItemMark, Result, points


@dataclass(frozen=True)
class Column:
    id: str  # a Part A question or a Part B/C item
    part: str  # A, B or C
    max: float


def columns(ctx: RunContext) -> list[Column]:
    """The gradebook's mark columns, in order: the questions, then the items graded."""
    from grader import parta

    cols = [Column(qid, "A", float(r.spec.marks)) for qid, r in parta.prepare(
        ctx.rubric).items()] if "A" in ctx.parts else []
    return cols + [Column(i.id, i.letter, float(i.marks)) for i in ctx.rubric.items
                   if i.letter in ctx.parts]


def num(x: object) -> str:
    return "" if x is None else f"{x:g}"


def cell(mark: ItemMark | None) -> str:
    """A gradebook cell: the score, else the status."""
    if mark is None:
        return ""
    return str(mark.status) if mark.score is None else f"{points(mark.score):g}"


@dataclass
class ItemStats:
    id: str
    part: str
    max: float
    n: int
    mean: str
    median: str
    min: str
    max_seen: str
    full: int
    full_share: str
    zero: int
    statuses: str
    pending: int = 0  # waiting for the instructor: left out of n, the mean and the zeros


def item_stats(results: list[Result], col: Column) -> ItemStats:
    """One line of stats.csv, plus the share of full marks. A mark waiting for the instructor
    (in review, or an answer of it) is counted as pending, never as a score."""
    marks = [r.item(col.id) for r in results]
    pending = sum(m is not None and m.pending for m in marks)
    scores = [points(m.score) for m in marks
              if m is not None and m.score is not None and not m.pending]
    counts = Counter(str(m.status) if m else "error" for m in marks)
    full = sum(s == col.max for s in scores)
    return ItemStats(col.id, col.part, col.max, len(scores),
                     f"{statistics.fmean(scores):.3f}" if scores else "",  # type: ignore
                     f"{statistics.median(scores):.3f}" if scores else "",  # type: ignore
                     num(min(scores)) if scores else "",  # type: ignore[type-var]
                     num(max(scores)) if scores else "",  # type: ignore[type-var]
                     full, f"{full / len(scores):.0%}" if scores else "",
                     sum(s == 0 for s in scores),
                     " ".join(f"{k}={v}" for k, v in sorted(counts.items())), pending)


def claim_flags(result: Result) -> list[str]:
    """`fashion: claimed fashion.test_accuracy = 0.95 but measured 0.91 (...)`: each item
    whose claim is far from what was measured, for the gradebook's flags column."""
    return [f"{m.id}: {m.feedback.split('FLAG: ', 1)[-1].split('; ')[0]}"
            for m in result.items if m.detail.get("flagged")]


def pending(result: Result, cols: list[str] | None = None) -> bool:
    """Whether any of the result's marks (over `cols`, default all) waits for the instructor."""
    return any(m.pending for m in result.items if cols is None or m.id in cols)


def part_score(result: Result, cols: list[str]) -> float | None:
    """A result's points over `cols`; None when it was not graded (an error row) or when a
    mark there waits for the instructor (pending: no score yet for the statistics)."""
    got = [m.score for c in cols if (m := result.item(c)) is not None]
    if not got or pending(result, cols):
        return None
    return round(sum(float(points(s) or 0) for s in got if s is not None), 3)
