"""Where dlhw's data lives.

The question specs, rubric, references and hidden checks (`problems/`) and the templates
(`templates/`) ship inside the installed package and are found through `importlib.resources`, so
a wheel works with no checkout present. An instructor's course folder (`dlhw --course DIR` or
$DLHW_HOME) overrides any of them file by file: `DIR/problems/rubric.yaml` replaces the shipped
rubric, `DIR/problems/q11_elu_target.yaml` adds a question, `DIR/templates/handout.tex.j2` another
handout. The course folder may also hold `course.yaml` (the variant seed and roster).
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import os
from pathlib import Path

from core.errors import DlhwError

KINDS = ("problems", "templates")
HOME_ENV = "DLHW_HOME"
_home: Path | None = None  # set by the command line's --course; forked workers inherit it


class ResourceError(DlhwError, ValueError):
    """A course folder or shipped resource that cannot be used: the message names it."""


def set_home(folder: Path | str | None) -> None:
    """Use `folder` as the course folder for the rest of this process (None: $DLHW_HOME)."""
    global _home
    _home = None if folder is None else _checked(Path(folder), "--course")


def home() -> Path | None:
    """The course folder in force: --course, else $DLHW_HOME, else none."""
    if _home is not None:
        return _home
    env = os.environ.get(HOME_ENV)
    return _checked(Path(env), f"${HOME_ENV}") if env else None


def _checked(folder: Path, where: str) -> Path:
    if not folder.is_dir():
        raise ResourceError(f"{where}: {folder}: expected a course folder (holding problems/, "
                            "templates/ or course.yaml)")
    return folder.resolve()


def shipped(kind: str) -> Path:
    """The folder of `kind` (problems or templates) inside the installed package."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    folder = importlib.resources.files(kind)
    if not isinstance(folder, Path) or not folder.is_dir():
        raise ResourceError(f"dlhw's {kind}/ is not a folder on disk ({folder}): install dlhw "
                            "from its wheel or checkout (a zipped install is not supported)")
    return folder


def search_path(kind: str) -> list[Path]:
    """Folders to look in for `kind`, the course folder's first."""
    course = home()
    own = course / kind if course is not None else None
    return [own, shipped(kind)] if own is not None and own.is_dir() else [shipped(kind)]


def path(kind: str, name: str) -> Path:
    """The file `kind/name` in force: the course folder's when it has one, else the shipped."""
    for folder in search_path(kind):
        if (folder / name).is_file():
            return folder / name
    return shipped(kind) / name


def listing(kind: str, pattern: str) -> list[Path]:
    """Every file of `kind` whose name matches `pattern`, the course folder's replacing shipped
    files of the same name, sorted by name."""
    found: dict[str, Path] = {}
    for folder in reversed(search_path(kind)):
        for p in folder.iterdir():
            if p.is_file() and fnmatch.fnmatchcase(p.name, pattern):
                found[p.name] = p
    return [found[name] for name in sorted(found)]


def in_force() -> list[Path]:
    """Every data file grading and solving may read (for fingerprints): problems/ and
    templates/ as resolved, at every depth."""
    files: dict[str, Path] = {}
    for kind in KINDS:
        for folder in reversed(search_path(kind)):
            for p in sorted(folder.rglob("*")):
                rel = p.relative_to(folder).as_posix()
                if p.is_file() and "__pycache__" not in rel:
                    files[f"{kind}/{rel}"] = p
    return [files[k] for k in sorted(files)]
