"""The class roster: a CSV of student ids (and names), the ids that variants and grades use."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import DlhwError

# A student id: safe as a file name, the same rule for rosters and submissions.
STUDENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


class RosterError(DlhwError, ValueError):
    """A roster or course file that cannot be used: the message names the file and field."""


@dataclass(frozen=True)
class Student:
    id: str
    name: str


def load_roster(path: str | Path) -> list[Student]:
    """A CSV with an `id` column (and optionally `name`); ids unique and file-name safe."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RosterError(f"{path}: cannot read roster: {exc}") from None
    if not rows or "id" not in rows[0]:
        raise RosterError(f"{path}: expected a CSV header with an 'id' column")
    students: list[Student] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        sid = (row.get("id") or "").strip()
        if not STUDENT_ID_RE.fullmatch(sid):
            raise RosterError(f"{path}:{line}: id: expected letters, digits, '_', '.' or '-', "
                               f"got {sid!r}")
        if sid in seen:
            raise RosterError(f"{path}:{line}: id: duplicate student id {sid!r}")
        seen.add(sid)
        students.append(Student(sid, (row.get("name") or "").strip()))
    return students
