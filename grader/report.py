"""Render a Result: a terminal table, one JSON object, or Gradescope's results.json.

Every renderer works from `to_dict`'s row, whose every text has gone through `clean`: whatever
bytes a student wrote (a lone surrogate, an ESC sequence, a bidi override, a newline in a name),
what is printed or written is valid UTF-8 on one line, and moves no terminal cursor. Spreadsheet
cells go through `csv_cell` (OWASP's formula-injection rule) and file names through `file_stem`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import textwrap
from collections.abc import Mapping

from grader.results import Outcome, Result, Status, points

# C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_STEM_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_STEM = 100


def clean(value: object) -> object:
    """`value` with every string (keys too) made printable: lone surrogates become U+FFFD,
    controls a space (tab, newline) or nothing."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", _CONTROL.sub(_blank, value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf or nan
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _blank(m: re.Match[str]) -> str:
    return " " if m.group() in "\t\n\r\u2028\u2029" else ""


def csv_cell(value: object) -> object:
    """A gradebook cell that no spreadsheet evaluates: text starting with = + - @, a tab or a
    carriage return (after any spaces, which an import may trim) gets a leading apostrophe
    (OWASP), unless it is a plain number, such as a negative score, which stays a number."""
    if isinstance(value, str) and value.lstrip(" ").startswith(_FORMULA_START) and \
            not _NUMBER.fullmatch(value.strip(" ")):
        return "'" + value
    return value


def file_stem(folder: str) -> str:
    """A safe, unique, length-capped file name for a submission's own output files: the folder
    name if it is plain and short, else its plain characters plus a hash of its exact bytes."""
    if _STEM_OK.fullmatch(folder) and len(folder) <= MAX_STEM:
        return folder
    digest = hashlib.sha256(folder.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", folder).strip("._-")[:MAX_STEM - 13] or "submission"
    return f"{plain}-{digest}"


def error_row(folder: str, message: str) -> dict[str, object]:
    """The row of a submission whose grading did not finish: status `error`, one line why."""
    return clean({"folder": folder, "student": folder, "declared": None, "name": "",
                  "status": Outcome.ERROR, "score": None, "max_score": None,
                  "problems": [message],
                  "flags": [], "questions": {}})  # type: ignore[return-value]


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
    return clean({"student": result.student, "declared": result.declared,  # type: ignore
                  "name": result.name, "status": result.status,
                  "score": points(result.score), "max_score": points(result.max_score),
                  "problems": list(result.problems), "flags": list(result.flags),
                  "questions": questions})


Row = dict[str, object]


def _row(result: Result | Row) -> Row:
    return to_dict(result) if isinstance(result, Result) else result


def to_json(result: Result | Row) -> str:
    """Valid UTF-8 JSON whatever the student wrote (`clean` removed lone surrogates)."""
    return json.dumps(_row(result), indent=2, ensure_ascii=False, allow_nan=False)


def _num(x: object) -> str:
    return "—" if x is None else f"{x:g}"


_ISOLATION = {"container": "Gradescope's container, an unprivileged uid",
              "bubblewrap": "bubblewrap's namespaces, an unprivileged uid",
              "none": "no sandbox here: student code was not run"}


def to_gradescope(result: Result | Row, *, isolation: str | None = None,
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
    row = _row(result)
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


def to_table(result: Result | Row, width: int = 100) -> str:
    """One row per question or item: id, points, max, status, feedback (wrapped)."""
    row = _row(result)
    head = f"{row['student']}" + (f" ({row['name']})" if row["name"] else "")
    lines = [f"{head}: {row['status']}, {_num(row['score'])} / {_num(row['max_score'])}"]
    lines += [f"  ! {p}" for p in row["problems"]]  # type: ignore[union-attr]
    lines += [f"  FLAG: {f}" for f in row.get("flags", [])]  # type: ignore[union-attr]
    # Answers waiting for the instructor come first: they are 0 points only until settled.
    lines += [f"  ? review {iid}.{aid}: {a['feedback']}"
              for iid, item in row["questions"].items()  # type: ignore[union-attr]
              for aid, a in item.get("answers", {}).items() if a["status"] == Status.REVIEW]
    lines.append(f"{'item':<20} {'points':>6} {'max':>5}  {'status':<14} feedback")
    indent = " " * 50
    for iid, item in row["questions"].items():  # type: ignore[union-attr]
        line = (f"{iid:<20} {_num(item['score']):>6} {_num(item['max_score']):>5}  "
                f"{item['status']:<14} ")
        lines.append(line + _wrap(item["feedback"], width - len(line), indent))
        for aid, a in item.get("answers", {}).items():
            if a["status"] in (Status.CORRECT, Status.PASSED) or item["status"] == Status.BLANK:
                continue
            sub = (f"  {aid:<18} {_num(a['score']):>6} {_num(a['max_score']):>5}  "
                   f"{a['status']:<14} ")
            lines.append(sub + _wrap(a["feedback"], width - len(sub), indent))
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, indent: str) -> str:
    parts = textwrap.wrap(text, max(width, 30)) or [""]
    return ("\n" + indent).join(parts)
