"""Render a Result: a terminal table, one JSON object, or Gradescope's results.json."""

from __future__ import annotations

import json
import textwrap

from grader.results import Result, points


def to_dict(result: Result) -> dict[str, object]:
    """The `--format json` object: student, status, score, max_score, questions."""
    questions: dict[str, object] = {}
    for item in result.items:
        entry: dict[str, object] = {
            "title": item.title, "part": item.part, "score": points(item.score),
            "max_score": points(item.max_score), "status": item.status,
            "feedback": item.feedback,
        }
        if item.answers:
            entry["answers"] = {a.id: {"score": points(a.score), "max_score": points(a.max_score),
                                       "status": a.status, "submitted": a.submitted,
                                       "feedback": a.feedback} for a in item.answers}
        if item.detail:
            entry["detail"] = item.detail
        questions[item.id] = entry
    return {"student": result.student, "name": result.name, "status": result.status,
            "score": points(result.score), "max_score": points(result.max_score),
            "problems": list(result.problems), "questions": questions}


def to_json(result: Result) -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False, sort_keys=False)


def to_gradescope(result: Result) -> str:
    """Gradescope's results.json: score, tests[], leaderboard (the measured accuracy)."""
    tests = []
    for item in result.items:
        lines = [item.feedback] + [f"  {a.id}: {a.status}, {points(a.score):g}/"
                                   f"{points(a.max_score):g}: {a.feedback}" for a in item.answers]
        tests.append({
            "name": f"{item.id}: {item.title}",
            "score": points(item.score) if item.score is not None else 0.0,
            "max_score": points(item.max_score),
            "status": "passed" if item.score is not None and item.score == item.max_score
            else "failed",
            "output": "\n".join(lines),
            "visibility": "visible",
        })
    measured = next((i.detail.get("measured") for i in result.items
                     if i.detail.get("measured") is not None), None)
    out: dict[str, object] = {"score": points(result.score), "tests": tests,
                              "leaderboard": [{"name": "FashionMNIST accuracy",
                                               "value": measured if measured is not None
                                               else 0.0}]}
    if result.problems:
        out["output"] = "\n".join(result.problems)
    return json.dumps(out, indent=2, ensure_ascii=False)


def to_table(result: Result, width: int = 100) -> str:
    """One row per question or item: id, points, max, status, feedback (wrapped)."""
    head = f"{result.student}" + (f" ({result.name})" if result.name else "")
    lines = [f"{head}: {result.status}, {points(result.score):g} / "
             f"{points(result.max_score):g}"]
    lines += [f"  ! {p}" for p in result.problems]
    lines.append(f"{'item':<20} {'points':>6} {'max':>5}  {'status':<14} feedback")
    indent = " " * 50
    for item in result.items:
        pts = "—" if item.score is None else f"{points(item.score):g}"
        row = f"{item.id:<20} {pts:>6} {points(item.max_score):>5g}  {item.status:<14} "
        lines.append(row + _wrap(item.feedback, width - len(row), indent))
        for a in item.answers:
            if a.status in ("correct", "passed") or item.status == "blank":
                continue
            sub = f"  {a.id:<18} {points(a.score):>6g} {points(a.max_score):>5g}  {a.status:<14} "
            lines.append(sub + _wrap(a.feedback, width - len(sub), indent))
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, indent: str) -> str:
    parts = textwrap.wrap(text, max(width, 30)) or [""]
    return ("\n" + indent).join(parts)
