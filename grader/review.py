"""`dlhw review`: the review queue (review.csv) turned into overrides.yaml entries.

Each row of review.csv (grader.writers.csvs) starts with an overrides.yaml entry's fields:
student, answer (`q2.dL_da`, or a whole item's id), points and reason. A row whose points the
instructor filled in (in a spreadsheet) becomes a live entry; every other row becomes an entry
written out but commented, with the weight, the text as the student wrote it, why it waits and
what it may be above it, to be uncommented once decided. Entries already in the overrides file
are kept as they are; only rows not settled there are added. Nothing here grades: the next
`dlhw grade` validates the file (every problem at once, with its line) and applies it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from core.errors import DlhwError
from core.fileio import atomic_write
from grader.writers.csvs import REVIEW_COLUMNS

REVIEW_FILE = "review.csv"
_NEUTRALISED = ("'=", "'+", "'-", "'@", "'\t", "'\r")
_FIELDS = ("student", "answer", "points", "reason")  # an overrides.yaml entry's


class ReviewError(DlhwError, ValueError):
    """A review queue that cannot be read: the file and what was expected."""


def queue_file(path: Path) -> Path:
    """review.csv itself, or the one in a batch's output folder."""
    path = Path(path)
    found = path / REVIEW_FILE if path.is_dir() else path
    if not found.is_file():
        raise ReviewError(f"{found}: no review queue here (expected the review.csv that "
                          "`dlhw grade --batch --out DIR` writes, or DIR)")
    return found


def read_queue(path: Path) -> list[dict[str, str]]:
    """The rows of review.csv, each a mapping of its columns, cells as the instructor left
    them (the apostrophe that kept a cell from being a formula taken off)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("student", "answer", "points", "reason")
                       if c not in (reader.fieldnames or [])]
            if missing:
                raise ReviewError(f"{path}:1: expected the columns {', '.join(REVIEW_COLUMNS)}; "
                                  f"missing {', '.join(missing)}")
            # The apostrophe that kept an id from being a formula comes off; the texts
            # (written, why) are only shown, as the queue shows them.
            return [{k: _plain(v or "") if k in _FIELDS else v or "" for k, v in row.items()
                     if k} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReviewError(f"{path}: cannot read: {exc}") from None


def _plain(cell: str) -> str:
    return cell[1:] if cell.startswith(_NEUTRALISED) else cell


def settled(path: Path) -> set[tuple[str, str]]:
    """(student, answer or question) of every entry an overrides file already has."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReviewError(f"{path}: cannot add to it: {exc}") from None
    if data is None:
        return set()
    if not isinstance(data, list):
        raise ReviewError(f"{path}:1: expected a list of overrides")
    return {(str(e.get("student")), str(e.get("answer") or e.get("question")))
            for e in data if isinstance(e, dict)}


def entry(row: dict[str, str]) -> str:
    """One row as an overrides.yaml entry: live when its points are filled in, else
    commented; above it, what the instructor decides from."""
    answer = row.get("answer", "")
    field = "answer" if "." in answer else "question"
    weight = row.get("weight", "")
    about = [f"# {row.get('student', '')} {answer} (weight {weight}): written "
             f"{_one_line(row.get('written', ''))}",
             f"#   why: {_one_line(row.get('why', ''))}"]
    if row.get("suggestion"):
        about.append(f"#   suggestion: {_one_line(row['suggestion'])}")
    points = row.get("points", "").strip()
    reason = row.get("reason", "").strip() or "read by hand"
    body = [f"- student: {json.dumps(row.get('student', ''), ensure_ascii=False)}",
            f"  {field}: {json.dumps(answer)}",
            f"  points: {points or 0}" + ("" if points else f"  # 0 to {weight}"),
            f"  reason: {json.dumps(reason, ensure_ascii=False)}"]
    if not points:
        body = [f"# {line}" for line in body]
    return "\n".join([*about, *body]) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def write_template(queue: Path, out: Path | None = None) -> tuple[str, int, int]:
    """The overrides for review.csv's rows not yet settled in `out` (appended to it when
    given, keeping what it holds); the text written, and how many entries are live and how
    many commented."""
    rows = read_queue(queue_file(queue))
    done = settled(out) if out is not None else set()
    new = [r for r in rows if (r.get("student", ""), r.get("answer", "")) not in done]
    live = sum(bool(r.get("points", "").strip()) for r in new)
    header = (f"# From {queue_file(queue)}: {len(new)} answer(s) to settle. Uncomment an entry "
              "(or fill in points in review.csv and run dlhw review again), set its points "
              "and reason, then grade again.\n")
    text = header + "\n".join(entry(r) for r in new)
    if out is not None:
        before = out.read_text(encoding="utf-8") if out.is_file() else ""
        if before.strip() in ("", "[]"):
            before = ""
        elif not before.endswith("\n"):
            before += "\n"
        atomic_write(out, before + ("\n" if before else "") + text)
    return text, live, len(new) - live
