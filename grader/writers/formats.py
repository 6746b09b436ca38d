"""Every output of grading, each a writer of the typed Results (grader/results.py): one
submission as a terminal table, JSON or Gradescope's results.json (SINGLE); a class as
gradebook.csv, stats.csv, review.csv, students/*.json and the site (write_class). A new format is
a module here and a line below."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grader.context import RunContext
from grader.results import Result
from grader.worker import frozen_heap, in_parallel
from grader.writers.csvs import write_csvs
from grader.writers.gradescope import leaderboard, to_gradescope
from grader.writers.json import to_dict, to_json, write_student
from grader.writers.table import to_table

SINGLE: dict[str, Callable[[Result, RunContext], str]] = {
    "table": lambda r, _: to_table(r),
    "json": lambda r, _: to_json(r),
    "gradescope": lambda r, ctx: to_gradescope(r, leaderboard=leaderboard(ctx.rubric)),
}


def single(form: str, ctx: RunContext) -> Callable[[Result], str]:
    """The renderer of one submission for `dlhw grade --format FORM`."""
    return lambda result: SINGLE[form](result, ctx)


def write_class(results: list[Result], out: Path, ctx: RunContext, jobs: int = 1) -> None:
    """Every class output under `out`: the per-student files shared out among `jobs`
    processes, this one writing the class's files (CSVs, the site's index) first."""
    from grader.writers.site import Site
    from grader.writers.stats import columns

    (out / "students").mkdir(parents=True, exist_ok=True)
    with frozen_heap():
        rows = [to_dict(r, folder=True) for r in results]  # once: both writers render them
        site = Site(results, rows, out, ctx, columns(ctx))

        def student(k: int) -> None:
            write_student(out / "students", results[k], rows[k])
            site.page(k)

        def class_files() -> None:
            write_csvs(results, out, ctx)
            site.index()

        in_parallel(student, len(results), jobs, first=class_files)
