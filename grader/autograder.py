"""Gradescope: build the autograder bundle, and grade one submission inside Gradescope's container.

Gradescope's specification (gradescope/autograder_samples, docs/specs.md): the zip's root holds
`setup.sh`, run once as root when the image is built, and `run_autograder`, run as root from
/autograder for every submission; the zip is unpacked into /autograder/source, the submission
into /autograder/submission, /autograder/submission_metadata.json describes it
(docs/submission_metadata.md), and run_autograder must leave /autograder/results/results.json.

The bundle: both scripts (templates/autograder/) and dlhw as a wheel (the code with its specs,
rubric, references, hidden checks and templates), and course/, the course folder the scripts
point $DLHW_HOME at: the instructor's own problems/ and templates/ (core.resources) and, with
`--course`, course.yaml and its roster, so each student is marked against their own numbers.

In the container (`grade_here`): the folders a student's code must not read are closed to other
uids (Gradescope's advice: chmod o= source, run student code as another user), then the
submission is graded like `dlhw grade` (a worker under the rubric's wall clock; student code in
the sandbox's container isolation) and results.json written once, atomically.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

from core import resources
from core.errors import DlhwError
from core.fileio import atomic_write
from core.roster import STUDENT_ID_RE, load_roster
from grader import preflight, runtime, sandbox
from grader.batch import grade_one
from grader.context import RunContext
from grader.course import COURSE_FILE, load_course
from grader.results import Outcome, Result
from grader.rubric import RubricError
from grader.writers.gradescope import leaderboard, to_gradescope
from grader.writers.safe import clean

CODE_ROOT = Path(__file__).resolve().parent.parent  # the checkout the wheel is built from
COURSE_DIR = "course"  # the bundle's course folder: $DLHW_HOME in the container
ROOT_ENV = "AUTOGRADER_ROOT"
DEFAULT_ROOT = "/autograder"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same inputs give the same bytes
_STAGED = ("pyproject.toml", "README.md", "cli.py", "core", "solver", "nets", "grader",
           "handout", "problems", "templates")
MAX_METADATA = 16 * 1024 * 1024
STUDENT_REQUIREMENTS = "student-requirements.txt"  # setup.sh installs them for student code


class AutograderError(DlhwError):
    """The bundle cannot be built, or the autograder cannot run: one line why."""


# ---------------------------------------------------------------- building the bundle


def build_bundle(out: Path, course: Path | None = None) -> list[str]:
    """Write the autograder zip to `out`; return its members' names."""
    courses = _course_members(course) if course is not None else []  # checked first
    members: list[tuple[str, bytes, int]] = [
        (name, resources.path("templates", f"autograder/{name}").read_bytes(), 0o755)
        for name in ("setup.sh", "run_autograder")]
    members.append((STUDENT_REQUIREMENTS, student_requirements().encode(), 0o644))
    with tempfile.TemporaryDirectory(prefix="dlhw-wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        members.append((wheel.name, wheel.read_bytes(), 0o644))
    home = resources.home()  # the course folder's own specs and templates travel with it
    for kind in resources.KINDS:
        if home is not None and (home / kind).is_dir():
            members += _folder(home / kind, f"{COURSE_DIR}/{kind}")
    members += courses
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_zip = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data, mode in members:
                info = zipfile.ZipInfo(name, _ZIP_TIME)
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        os.chmod(tmp_zip, 0o644)
        os.replace(tmp_zip, out)
    except BaseException:
        Path(tmp_zip).unlink(missing_ok=True)
        raise
    return [m[0] for m in members]


def student_requirements() -> str:
    """The students' environment (grader.runtime.STUDENT_PACKAGES), pinned as dlhw pins them."""
    import tomllib

    with open(CODE_ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    pins = {re.match(r"[A-Za-z0-9_.\-]+", r).group().lower(): r  # type: ignore[union-attr]
            for r in [*project["dependencies"], *project["optional-dependencies"]["nets"]]}
    return "".join(f"{pins.get(name, name)}\n" for name in runtime.STUDENT_PACKAGES)


def build_wheel(dest: Path) -> Path:
    """dlhw's wheel, built offline by pip with the installed setuptools from a clean copy of the
    code (no build/ or egg-info left in the checkout)."""
    if not (CODE_ROOT / "pyproject.toml").is_file():
        raise AutograderError(f"{CODE_ROOT}: no pyproject.toml: the bundle is built from a "
                              "checkout of dlhw")
    stage = dest / "src"
    stage.mkdir()
    for name in _STAGED:
        src = CODE_ROOT / name
        if src.is_dir():
            shutil.copytree(src, stage / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, stage / name)
    env = os.environ | {"SOURCE_DATE_EPOCH": "315532800", "PIP_NO_INDEX": "1",
                        "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(dest), str(stage)],
                          capture_output=True, text=True, env=env)
    wheels = sorted(dest.glob("dlhw-*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel produced"])[-1]
        raise AutograderError(f"building dlhw's wheel failed (pip wheel, setuptools): {last}")
    return wheels[0]


def _folder(folder: Path, prefix: str) -> list[tuple[str, bytes, int]]:
    return [(f"{prefix}/{p.relative_to(folder).as_posix()}", p.read_bytes(), 0o644)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]


def _course_members(course: Path) -> list[tuple[str, bytes, int]]:
    """course/course.yaml and its roster, checked here (a bad one fails the build, not every
    student's grading); the roster keeps its name, beside the course file."""
    loaded = load_course(course)  # RosterError: file and field
    roster_rel = str(_course_yaml(course)["roster"])
    roster = course.parent / roster_rel
    load_roster(roster)
    text = f"seed: {loaded.seed}\nroster: {json.dumps(roster.name)}\n"
    return [(f"{COURSE_DIR}/{COURSE_FILE}", text.encode(), 0o644),
            (f"{COURSE_DIR}/{roster.name}", roster.read_bytes(), 0o644)]


def _course_yaml(course: Path) -> dict:
    import yaml

    return yaml.safe_load(course.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- grading in the container


def submitters(metadata: Path) -> list[str | None]:
    """Who submitted, from submission_metadata.json: each user's email address up to the @ (the
    roster's id), None for one that is not a plain id; [] when the metadata is absent or bad."""
    try:
        with open(metadata, "rb") as f:
            users = json.loads(f.read(MAX_METADATA + 1)[:MAX_METADATA])["users"]
        emails = [u["email"] for u in users]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    local = [e.split("@")[0].strip() if isinstance(e, str) else "" for e in emails]
    return [e if STUDENT_ID_RE.fullmatch(e) else None for e in local]


def submitter_id(metadata: Path) -> str | None:
    """The first submitter's id (`submitters`), or None."""
    found = submitters(metadata)
    return found[0] if found else None


def group_refused(members: list[str | None], ctx: RunContext) -> Result | None:
    """A group upload in course mode, refused: Gradescope keeps one score for the whole group,
    and each member's numbers are their own variant, so no single marking is fair to all."""
    if ctx.course is None or len(members) < 2:
        return None
    names = ", ".join(m or "?" for m in members)
    why = (f"submission_metadata.json: a group submission ({names}) cannot be graded in this "
           "course: each student's numbers are their own, and Gradescope gives a group one "
           "score. Each member must submit alone.")
    return Result(members[0] or "submission", "", Outcome.INVALID, (), (why,))


def submission_folder(upload: Path) -> tuple[Path, str]:
    """The folder to grade: the upload, or the one folder it holds when it holds nothing else
    (a zip of the folder rather than of its files); the note says so."""
    with os.scandir(upload) as entries:  # macOS's zips add __MACOSX/ and dot files
        found = [e for e in entries if not e.name.startswith((".", "__MACOSX"))]
    if len(found) == 1 and found[0].is_dir(follow_symlinks=False):
        return Path(found[0].path), (f"graded the folder '{found[0].name}' of the upload (its "
                                     "files were expected at the top of the upload)")
    return upload, ""


def lock_down(root: Path) -> list[str]:
    """Close what a student's code must not read to every uid but root: the bundle (references,
    rubric), the grader's environment (dlhw), the upload and the results, the submission's
    metadata, the FashionMNIST labels and scikit-learn's copy of the digits. Only in the
    container: it changes the file system."""
    root.chmod(stat.S_IMODE(root.stat().st_mode) | 0o001)  # others reach the students' venv
    meta = root / "submission_metadata.json"
    if meta.is_file():
        meta.chmod(0o600)
    return sandbox.hide_from_sandbox([*sandbox.HIDDEN, *_sklearn_data(), root / "source",
                                      root / "submission", root / "results", root / "venv"])


def _sklearn_data() -> list[str]:
    # As grader/notebook_run hides it in bubblewrap: with it, a notebook could look labels up.
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [str(Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data")]


def grade_here(root: Path) -> dict[str, object]:
    """Grade root/submission into root/results/results.json; return results.json's object."""
    t0 = time.monotonic()
    results = root / "results"
    results.mkdir(exist_ok=True)
    if sandbox.isolation() == "container":
        lock_down(root)
    course = root / "source" / COURSE_DIR / COURSE_FILE
    ctx = RunContext.build(course=load_course(course) if course.is_file() else None)
    ctx.missing = preflight.check(ctx.rubric, ctx.parts)
    members = submitters(root / "submission_metadata.json")
    folder, note = submission_folder(root / "submission")
    result = group_refused(members, ctx) or \
        grade_one(folder, ctx, submitter=(members[0] if members else None) or "submission")
    if Outcome(result.status).regrade:
        # The grader's failure is never a student's mark: no results.json, so Gradescope shows
        # an autograder error the instructor can rerun, not a score.
        raise AutograderError(f"{result.student}: {result.status}: {not_graded(result)}")
    if note:
        result = replace(result, problems=(note, *result.problems))
    text = to_gradescope(result, seconds=time.monotonic() - t0,
                         leaderboard=leaderboard(ctx.rubric))
    atomic_write(results / "results.json", text)
    return json.loads(text)


def not_graded(result: Result) -> str:
    """Why a result is not final: its problems, or the feedback of its items not graded."""
    why = [f"{i.id}: {i.feedback}" for i in result.items if i.not_graded]
    return " ".join(str(clean("; ".join([*result.problems, *why][:4]))).split()) or "see it"


def main(argv: list[str]) -> int:
    """run_autograder's entry: `python -m grader.autograder [ROOT]`."""
    root = Path(argv[0] if argv else os.environ.get(ROOT_ENV, DEFAULT_ROOT))
    try:
        out = grade_here(root)
    except (DlhwError, RubricError, OSError) as exc:  # the bundle is at fault: no results
        why = " ".join(str(exc).split())
        print(f"dlhw autograder: error: {why}", file=sys.stderr)
        return 1
    extra: dict = out["extra_data"]  # type: ignore[assignment]
    print(f"dlhw autograder: {extra['student']}: {extra['status']}, score {out['score']}, "
          f"{len(out['tests'])} tests, isolation {extra['isolation']}, "  # type: ignore[arg-type]
          f"{out.get('execution_time')} s")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
