"""Grade a whole class: every subfolder a submission, in parallel, one bad one never stopping
the rest: submissions are graded in supervised worker processes, each under a wall-clock limit
(grader.worker), so a hung or dead one becomes its own `error` row. Writes gradebook.csv,
stats.csv and one JSON per student, atomically, sorted by folder name and with fixed number
formats, so the same inputs give the same bytes. Every cell is neutralised for spreadsheets and
every text made printable (grader.report), and each student's file is named by a sanitised,
capped stem of the folder."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path

from core.fileio import atomic_write
from grader import parta
from grader.grade import Options, grade_submission
from grader.model_check import SEED_ENV
from grader.report import clean, csv_cell, error_row, file_stem, to_dict
from grader.results import Outcome
from grader.safeio import FileError, Folder, folder_name, shown
from grader.site import cell, item_stats, write_site
from grader.worker import in_parallel, run_each
from nets.hardware import cores


def submissions(root: Path) -> list[Path]:
    """Every subfolder of `root` (a link to one too: it is then refused, with a row of its own)."""
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def grade_one(folder: Path, options: Options) -> dict[str, object]:
    """The gradebook row of one folder, graded in this process (a worker's)."""
    name = folder_name(folder)
    return to_dict(grade_submission(folder, options)) | {"folder": shown(name),
                                                         "file": file_stem(name)}


def run_batch(root: Path, out: Path, options: Options, jobs: int | None = None,
              limit: float | None = None, resume: bool = False,
              progress: bool = False) -> list[dict[str, object]]:
    """Grade every subfolder of `root` in `jobs` worker processes (default: one per core), each
    submission stopped after `limit` seconds of wall clock (default: the rubric's
    `submission.time_limit_s`); write the gradebook and statistics under `out`, whatever
    happened to any one submission.

    Each result is saved under `out/resume/` the moment it arrives, so an interrupted batch
    loses nothing; `resume` reuses every saved result whose submission (its files' bytes) and
    grading set-up (rubric, references, specs, course, overrides, parts, dlhw's code) are
    unchanged. `progress`: a progress bar on stderr."""
    folders = submissions(root)
    jobs = jobs or cores()
    parta.prepare(options.rubric)  # built once here, inherited by the forked children
    if "B" in options.parts:
        _ = options.template
    state = out / STATE
    state.mkdir(parents=True, exist_ok=True)
    setup = setup_fingerprint(options)
    prints = {f: submission_fingerprint(f, setup) for f in folders}
    rows: dict[Path, dict[str, object]] = {}
    if resume:
        for f in folders:
            if (row := _saved(state, f, prints[f])) is not None:
                rows[f] = row
    todo = [f for f in folders if f not in rows]
    bar = _bar(len(folders), len(rows), progress)
    review = sum(needs_review(r) for r in rows.values())

    def done(index: int, row: dict[str, object] | None, error: str | None) -> None:
        nonlocal review
        f = todo[index]
        row = row if row is not None else \
            error_row(shown(f.name), str(error)) | {"file": file_stem(f.name)}
        rows[f] = row
        atomic_write(state / f"{row['file']}.json",
                     json.dumps({"fingerprint": prints[f], "row": row},  # cleaned by to_dict
                                ensure_ascii=False, sort_keys=True, allow_nan=False))
        review += needs_review(row)
        bar.set_postfix_str(f"{review} to review", refresh=False)
        bar.update()

    try:
        run_each(lambda f: grade_one(f, options), todo,
                 limit=limit or options.rubric.time_limit_s, jobs=max(jobs, 1), done=done)
    finally:
        bar.close()
    ordered = [rows[f] for f in folders]
    flag_shared_ids(ordered)
    write_outputs(ordered, out, options, jobs)
    return ordered


STATE = "resume"  # one file per graded submission: its fingerprint and its row


def _bar(total: int, initial: int, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not show, file=sys.stderr, unit="sub",
                desc="grading", dynamic_ncols=True, postfix="0 to review")


def needs_review(row: dict[str, object]) -> bool:
    """Whether anything in a row waits for the instructor (an answer or item in review)."""
    return any(q.get("status") == "review" or
               any(a.get("status") == "review" for a in (q.get("answers") or {}).values())
               for q in (row.get("questions") or {}).values())  # type: ignore[union-attr]


def _saved(state: Path, folder: Path, fingerprint: str) -> dict[str, object] | None:
    """The saved row of `folder` if it was graded, from exactly these inputs."""
    try:
        saved = json.loads((state / f"{file_stem(folder_name(folder))}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("fingerprint") != fingerprint:
        return None
    row = saved.get("row")
    # A submission the grader could not finish (a limit, a crash, an item it could not run)
    # is tried again.
    if not isinstance(row, dict) or row.get("status") not in set(Outcome):
        return None
    return None if Outcome(str(row["status"])).regrade else row


def submission_fingerprint(folder: Path, setup: str) -> str:
    """What a submission's grade depends on: its files (read without following links) and the
    grading set-up. A folder that cannot be read gets a fingerprint that never matches."""
    try:
        with Folder(folder) as f:
            files = f.fingerprint()
    except (FileError, OSError):
        return "unreadable"
    return hashlib.sha256(f"{setup}:{folder_name(folder)}:{files}".encode(
        "utf-8", "surrogateescape")).hexdigest()


def setup_fingerprint(options: Options) -> str:
    """A SHA-256 of the grading set-up: the rubric, everything in problems/ (specs,
    references, hidden checks), the course and overrides files, the parts graded, the secret
    perturbation seed when the instructor fixed it, and the source of dlhw's packages."""
    h = hashlib.sha256()
    project = Path(__file__).resolve().parent.parent
    files = [options.rubric.path, *sorted((project / "problems").glob("*")),
             *(p for pkg in ("grader", "solver", "nets") for p in sorted(
                 (project / pkg).glob("*.py")))]
    if options.course is not None:
        files.append(options.course.path)
    if options.overrides.path is not None:
        files.append(options.overrides.path)
    for path in files:
        h.update(str(path).encode() + b"\0")
        if path.is_file():
            h.update(path.read_bytes())
    h.update(f"{options.parts}:{os.environ.get(SEED_ENV, '')}".encode())
    return h.hexdigest()


def flag_shared_ids(rows: list[dict[str, object]]) -> None:
    """Flag every submission whose id (declared, else its folder) another one claims too."""
    claims: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        claim = str(row.get("declared") or row["student"])
        claims.setdefault(claim.casefold(), []).append(row)
    for group in claims.values():
        if len(group) < 2:
            continue
        for row in group:
            others = ", ".join(f"'{r['folder']}'" for r in group if r is not row)
            claim = row.get("declared") or row["student"]
            row["flags"] = [*row.get("flags", []),  # type: ignore[misc]
                            f"id '{claim}' is also claimed by {others}"]


def _columns(options: Options) -> list[tuple[str, float]]:
    refs = parta.prepare(options.rubric)
    cols = [(qid, float(r.spec.marks)) for qid, r in refs.items()] if "A" in options.parts else []
    cols += [(i.id, float(i.marks)) for i in options.rubric.items
             if i.part[-1].upper() in options.parts]
    return cols


def write_outputs(rows: list[dict[str, object]], out: Path, options: Options,
                  jobs: int = 1) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cols = _columns(options)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["folder", "student", "declared", "name", *[c for c, _ in cols], "total", "max",
                "status", "flags"])
    for row in rows:
        qs = row["questions"]
        assert isinstance(qs, dict)
        total = row["score"]
        w.writerow([csv_cell(x) for x in clean([
            row["folder"], row["student"], row.get("declared") or "", row["name"],
            *[cell(qs.get(c)) for c, _ in cols], "" if total is None else f"{total:g}",
            f"{sum(m for _, m in cols):g}", row["status"],
            "; ".join(row.get("flags", []))])])  # type: ignore[arg-type, union-attr]
    atomic_write(out / "gradebook.csv", buf.getvalue())

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item", "max", "n", "mean", "median", "min", "max_seen", "full", "zero",
                "statuses"])
    for c, mx in cols:
        st = item_stats(rows, c, mx, "")
        w.writerow([csv_cell(c), f"{mx:g}", st.n, st.mean, st.median, st.min, st.max_seen,
                    st.full, st.zero, st.statuses])
    atomic_write(out / "stats.csv", buf.getvalue())

    write_review(rows, out)

    students = out / "students"
    students.mkdir(exist_ok=True)

    def write_student(k: int) -> None:
        row = rows[k]
        data = {key: v for key, v in clean(row).items() if key != "file"}  # type: ignore[union-attr]
        stem = row.get("file") or file_stem(str(row["folder"]))
        atomic_write(students / f"{stem}.json",
                     json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True,
                                allow_nan=False) + "\n")

    in_parallel(write_student, len(rows), jobs)
    write_site(rows, out, options, cols, jobs)


def write_review(rows: list[dict[str, object]], out: Path) -> None:
    """review.csv: every answer the grader could not read (status review), for the instructor
    to settle in overrides.yaml. Student text is neutralised so no cell is a live formula."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["folder", "student", "question", "answer", "submitted", "why"])
    for row in rows:
        for qid, q in (row.get("questions") or {}).items():  # type: ignore[union-attr]
            for aid, a in (q.get("answers") or {}).items():
                if a.get("status") == "review":
                    w.writerow([csv_cell(c) for c in clean([
                        row["folder"], row["student"], qid, aid, a.get("submitted") or "",
                        a.get("feedback") or ""])])  # type: ignore[union-attr]
    atomic_write(out / "review.csv", buf.getvalue())
