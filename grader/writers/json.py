"""JSON: `dlhw grade --format json` for one submission, and students/<stem>.json for a class.

The student's view of a Result: points as floats to 3 decimals (stable bytes), every text through
`clean`. Diagnoses and grouping keys of wrong answers are the instructor's (the site) and stay
out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core import jsonio
from core.fileio import atomic_write
from grader.results import Result, points
from grader.writers.safe import clean


def to_dict(result: Result, *, folder: bool = False) -> dict[str, Any]:
    """The JSON object: student, status, score, max_score, problems, flags, questions (with
    `folder` and `file`: the batch's row). Every text through `clean` where it is put (the
    whole tree walked afterwards was a third of a class's writing)."""
    questions: dict[str, object] = {}
    for item in result.items:
        entry: dict[str, object] = {
            "title": clean(item.title), "part": clean(item.part), "score": points(item.score),
            "max_score": points(item.max_score), "status": str(item.status),
            "feedback": clean(item.feedback),
        }
        if item.answers:
            entry["answers"] = {clean(a.id): {
                "score": points(a.score), "max_score": points(a.max_score),
                "status": str(a.status), "submitted": clean(a.submitted),
                "feedback": clean(a.feedback)} for a in item.answers}
        if item.detail:
            entry["detail"] = clean(item.detail)
        questions[clean(item.id)] = entry
    out = {"student": clean(result.student), "declared": clean(result.declared),
           "name": clean(result.name), "status": str(result.status),
           "score": points(result.score), "max_score": points(result.max_score),
           "problems": clean(result.problems), "flags": clean(result.flags),
           "questions": questions}
    if folder:
        out |= {"folder": clean(result.folder), "file": clean(result.file)}
    return out


def to_json(result: Result) -> str:
    """One submission, as `dlhw grade --format json` prints it."""
    return json.dumps(to_dict(result, folder=True), indent=2, ensure_ascii=False,
                      allow_nan=False)


def student_file(row: dict[str, Any]) -> str:
    """students/<stem>.json's text from the batch's row (`to_dict(result, folder=True)`);
    sorted keys: the same result gives the same bytes."""
    data = {k: v for k, v in row.items() if k != "file"}
    return jsonio.dumps(data, sort_keys=True, indent=True).decode() + "\n"


def write_student(folder: Path, result: Result, row: dict[str, Any]) -> None:
    """folder/<stem>.json for one result of a class (its row beside it)."""
    atomic_write(folder / f"{result.file}.json", student_file(row))
