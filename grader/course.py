"""A course with per-student variants: `course.yaml` names the variant seed and the roster.

    seed: 2026            # the seed given to `dlhw variants`
    roster: roster.csv    # relative to course.yaml

When a course is in use, each student's Part A answers are marked against their own numbers,
so a student who copies a neighbour's numbers is marked wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from core import resources
from core.roster import RosterError, load_roster

COURSE_FILE = "course.yaml"


@dataclass(frozen=True)
class Course:
    path: Path
    seed: int
    students: frozenset[str]


def load_course(path: str | Path) -> Course:
    """Read and check course.yaml; RosterError naming the file and field otherwise."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RosterError(f"{path}: cannot read course file: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"seed", "roster"}:
        raise RosterError(f"{path}: expected exactly the keys 'seed' and 'roster'")
    if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
        raise RosterError(f"{path}: seed: expected an integer")
    if not isinstance(data["roster"], str):
        raise RosterError(f"{path}: roster: expected the path of the roster CSV")
    students = load_roster(path.parent / data["roster"])
    return Course(path, data["seed"], frozenset(s.id for s in students))


def find_course(submissions: Path, batch: bool) -> Path | None:
    """course.yaml beside the submission folders (a batch's root, or a submission's parent),
    else the course folder's (core.resources)."""
    candidate = (submissions if batch else submissions.resolve().parent) / COURSE_FILE
    if candidate.is_file():
        return candidate
    home = resources.home()
    return home / COURSE_FILE if home is not None and (home / COURSE_FILE).is_file() else None
