"""A class's spreadsheets: gradebook.csv (a row per folder), stats.csv (a row per mark column)
and review.csv (every answer waiting for the instructor). Every cell is cleaned and neutralised
for spreadsheets (grader.writers.safe); rows come sorted by folder, so the same results give
the same bytes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from core.fileio import atomic_write
from grader.context import RunContext
from grader.results import Result, Status, points
from grader.writers.safe import clean, csv_cell
from grader.writers.stats import cell, columns, item_stats


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
            total_max, str(r.status), "; ".join(r.flags)])])
    return _csv(rows)


def stats(results: list[Result], ctx: RunContext) -> str:
    rows: list[list[object]] = [["item", "max", "n", "mean", "median", "min", "max_seen",
                                 "full", "zero", "statuses"]]
    for c in columns(ctx):
        st = item_stats(results, c)
        rows.append([csv_cell(c.id), f"{c.max:g}", st.n, st.mean, st.median, st.min,
                     st.max_seen, st.full, st.zero, st.statuses])
    return _csv(rows)


def review(results: list[Result], ctx: RunContext) -> str:
    """Every answer the grader could not read (status review), for the instructor to settle in
    overrides.yaml. Student text is neutralised so no cell is a live formula."""
    rows: list[list[object]] = [["folder", "student", "question", "answer", "submitted", "why"]]
    for r in results:
        for item in r.items:
            for a in item.answers:
                if a.status == Status.REVIEW:
                    rows.append([csv_cell(c) for c in clean(  # type: ignore[union-attr]
                        [r.folder, r.student, item.id, a.id, a.submitted or "",
                         a.feedback or ""])])
    return _csv(rows)


def write_csvs(results: list[Result], out: Path, ctx: RunContext) -> None:
    for name, make in (("gradebook.csv", gradebook), ("stats.csv", stats),
                       ("review.csv", review)):
        atomic_write(out / name, make(results, ctx))
