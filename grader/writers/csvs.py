"""A class's spreadsheets: gradebook.csv (a row per folder), stats.csv (a row per mark column)
and review.csv (every answer or item waiting for the instructor, its first columns those of an
overrides.yaml entry: `dlhw review` turns the rows into entries). Every cell is cleaned and
neutralised for spreadsheets (grader.writers.safe); rows come sorted by folder, so the same
results give the same bytes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from core.fileio import atomic_write
from grader.context import RunContext
from grader.results import Result, Status, points, review_reason
from grader.writers.safe import clean, csv_cell
from grader.writers.stats import cell, claim_flags, columns, item_stats

# review.csv's columns: an overrides.yaml entry (points and reason left for the instructor),
# then what to settle it from.
REVIEW_COLUMNS = ("student", "answer", "points", "reason", "folder", "weight", "written", "why",
                  "suggestion")


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in rows:
        w.writerow(row)
    return buf.getvalue()


def gradebook(results: list[Result], ctx: RunContext) -> str:
    cols = columns(ctx)
    rows: list[list[object]] = [["folder", "student", "declared", "name", *[c.id for c in cols],
                                 "total", "max", "status", "flags"]]
    total_max = f"{sum(c.max for c in cols):g}"
    for r in results:
        total = points(r.score)
        rows.append([csv_cell(x) for x in clean([  # type: ignore[union-attr]
            r.folder, r.student, r.declared or "", r.name,
            *[cell(r.item(c.id)) for c in cols], "" if total is None else f"{total:g}",
            total_max, str(r.status), "; ".join([*r.flags, *claim_flags(r)])])])
    return _csv(rows)


def stats(results: list[Result], ctx: RunContext) -> str:
    rows: list[list[object]] = [["item", "max", "n", "mean", "median", "min", "max_seen",
                                 "full", "zero", "statuses", "pending"]]
    for c in columns(ctx):
        st = item_stats(results, c)
        rows.append([csv_cell(c.id), f"{c.max:g}", st.n, st.mean, st.median, st.min,
                     st.max_seen, st.full, st.zero, st.statuses, st.pending])
    return _csv(rows)


def review(results: list[Result], ctx: RunContext) -> str:
    """Every Part A answer the grader could not read and every item in review, one row each:
    the student and full id (`q2.dL_da`; an item's id for a whole item), blank points and
    reason for the instructor, then the folder, the weight, the text exactly as the file has
    it (escapes shown), why, and what it may be. Student text is neutralised so no cell is a
    live formula."""
    rows: list[list[object]] = [[*REVIEW_COLUMNS]]
    for r in results:
        for item in r.items:
            waiting = [(f"{item.id}.{a.id}", a.max_score, a.written or a.submitted or "",
                        review_reason(a.feedback, a.suggestion), a.suggestion)
                       for a in item.answers if a.status == Status.REVIEW]
            if item.status == Status.REVIEW and not item.answers:
                waiting.append((item.id, item.max_score, "", item.feedback, ""))
            for answer, weight, written, why, suggestion in waiting:
                rows.append([csv_cell(c) for c in clean(  # type: ignore[union-attr]
                    [r.student, answer, "", "", r.folder, f"{float(weight):g}",
                     _escaped(written), why, suggestion])])
    return _csv(rows)


def _escaped(text: str) -> str:
    """The text with what a cell cannot show (a tab, a newline, a control character) spelled
    as its escape, so nothing written is lost or changed in the queue."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def write_csvs(results: list[Result], out: Path, ctx: RunContext) -> None:
    for name, make in (("gradebook.csv", gradebook), ("stats.csv", stats),
                       ("review.csv", review)):
        atomic_write(out / name, make(results, ctx))
