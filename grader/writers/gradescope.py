"""Gradescope's results.json for one submission (gradescope/autograder_samples, docs/specs.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from grader.results import Result
from grader.rubric import Rubric
from grader.writers.json import to_dict
from grader.writers.safe import clean
from grader.writers.safe import dash as _num


def leaderboard(rubric: Rubric) -> dict[str, str]:
    """Leaderboard column → the item whose measured value it shows (the rubric's items that
    name a `leaderboard` column)."""
    return {i.leaderboard: i.id for i in rubric.items if i.leaderboard}


_ISOLATION = {"container": "Gradescope's container, an unprivileged uid",
              "bubblewrap": "bubblewrap's namespaces, an unprivileged uid",
              "none": "no sandbox here: student code was not run"}


def to_gradescope(result: Result, *, isolation: str | None = None,
                  seconds: float | None = None,
                  leaderboard: Mapping[str, str] | None = None) -> str:
    """Gradescope's results.json (gradescope/autograder_samples, docs/specs.md): the score, one
    test per question or item (score, max_score, name, status, output, visibility, tags), the
    run's output, its execution_time, and, given `leaderboard` (column name → item id), the
    leaderboard: a value for each column whose item was measured. Every text is plain (`text`
    formats: no HTML or Markdown a student could inject) and has been through `clean`; the
    grader's stdout, which carries the perturbation seed, stays hidden from students.
    `isolation`: how student code ran ("bubblewrap", "container", or "none": nothing can run;
    default: this process's)."""
    if isolation is None:  # where student code runs in this process, if anywhere
        from grader import sandbox

        isolation = sandbox.isolation() if sandbox.unavailable_reason() is None else "none"
    row = to_dict(result)
    tests: list[dict[str, object]] = []
    board: list[dict[str, object]] = []
    items = row["questions"]
    for iid, item in items.items():  # type: ignore[union-attr]
        answers = item.get("answers", {})
        lines = [item["feedback"]] + [f"  {aid}: {a['status']}, {_num(a['score'])}/"
                                      f"{_num(a['max_score'])}: {a['feedback']}"
                                      for aid, a in answers.items()]
        score = item["score"] if item["score"] is not None else 0.0
        test: dict[str, object] = {
            "name": f"{iid}: {item['title']}", "score": score, "max_score": item["max_score"],
            "status": "passed" if item["score"] is not None and score >= item["max_score"]
            else "failed",
            "output": "\n".join(lines), "visibility": "visible",
            "tags": [f"Part {item['part']}", item["status"]],
            "extra_data": {"status": item["status"]},
        }
        if item["part"] != "A":  # items whose code or files ran in the sandbox, if any ran
            test["extra_data"]["isolation"] = isolation  # type: ignore[index]
        tests.append(test)
    for column, iid in (leaderboard or {}).items():
        measured = items.get(iid, {}).get("detail", {}).get("measured")  # type: ignore[union-attr]
        if isinstance(measured, (int, float)):
            board.append({"name": column, "value": measured})
    notes = [f"{row['student']}: {row['status']}, {_num(row['score'])} / "
             f"{_num(row['max_score'])}",
             *row["problems"], *[f"FLAG: {f}" for f in row.get("flags", [])],  # type: ignore
             f"Isolation of student code: {isolation} ({_ISOLATION.get(isolation, '')})."]
    out: dict[str, object] = {
        "score": row["score"] or 0.0, "output": "\n".join(clean(n) for n in notes),  # type: ignore
        "output_format": "text", "test_output_format": "text", "test_name_format": "text",
        "stdout_visibility": "hidden",
        "extra_data": {"student": row["student"], "status": row["status"],
                       "isolation": isolation}, "tests": tests}
    if seconds is not None:
        out["execution_time"] = max(0, round(seconds))
    if leaderboard is not None:  # the columns exist, empty where nothing was measured
        out["leaderboard"] = board
    return json.dumps(out, indent=2, ensure_ascii=False, allow_nan=False)
