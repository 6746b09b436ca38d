"""Grade a whole class: every subfolder a submission, in parallel, one bad one never stopping
the rest: submissions are graded in supervised worker processes, each under a wall-clock limit
(grader.worker), so a hung or dead one becomes its own `error` row. Writes gradebook.csv,
stats.csv and one JSON per student, atomically, sorted by folder name and with fixed number
formats, so the same inputs give the same bytes. Every cell is neutralised for spreadsheets and
every text made printable (grader.report), and each student's file is named by a sanitised,
capped stem of the folder."""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from grader import parta
from grader.grade import Options, grade_submission
from grader.report import clean, csv_cell, error_row, file_stem, to_dict
from grader.safeio import folder_name, shown
from grader.site import write_site
from grader.worker import run_each
from solver.fileio import atomic_write


def submissions(root: Path) -> list[Path]:
    """Every subfolder of `root` (a link to one too: it is then refused, with a row of its own)."""
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def grade_one(folder: Path, options: Options) -> dict[str, object]:
    """The gradebook row of one folder, graded in this process (a worker's)."""
    name = folder_name(folder)
    return to_dict(grade_submission(folder, options)) | {"folder": shown(name),
                                                         "file": file_stem(name)}


def run_batch(root: Path, out: Path, options: Options, jobs: int = 2,
              limit: float | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, object]]:
    """Grade every subfolder of `root` in `jobs` worker processes, each submission stopped after
    `limit` seconds of wall clock (default: the rubric's `submission.time_limit_s`); write the
    gradebook and statistics under `out`, whatever happened to any one submission."""
    folders = submissions(root)
    parta.prepare(options.rubric)  # built once here, inherited by the forked children
    if "B" in options.parts:
        _ = options.template
    finished = 0

    def done(index: int, row: object, error: object) -> None:
        nonlocal finished
        finished += 1
        if progress:
            progress(finished, len(folders))

    results = run_each(lambda f: grade_one(f, options), folders,
                       limit=limit or options.rubric.time_limit_s, jobs=max(jobs, 1), done=done)
    rows = [row if row is not None else
            error_row(shown(f.name), str(error)) | {"file": file_stem(f.name)}
            for f, (row, error) in zip(folders, results)]
    flag_shared_ids(rows)
    write_outputs(rows, out, options)
    return rows


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


def _cell(q: dict[str, object] | None) -> str:
    if q is None:
        return ""
    score = q.get("score")
    return str(q.get("status", "invalid")) if score is None else f"{score:g}"


def write_outputs(rows: list[dict[str, object]], out: Path, options: Options) -> None:
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
            *[_cell(qs.get(c)) for c, _ in cols], "" if total is None else f"{total:g}",
            f"{sum(m for _, m in cols):g}", row["status"],
            "; ".join(row.get("flags", []))])])  # type: ignore[arg-type, union-attr]
    atomic_write(out / "gradebook.csv", buf.getvalue())

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item", "max", "n", "mean", "median", "min", "max_seen", "full", "zero",
                "statuses"])
    for c, mx in cols:
        qs = [r["questions"].get(c) for r in rows]  # type: ignore[union-attr]
        scores = [q["score"] for q in qs if q and q.get("score") is not None]
        counts: dict[str, int] = {}
        for q in qs:
            st = q["status"] if q else "error"
            counts[st] = counts.get(st, 0) + 1
        w.writerow([csv_cell(c), f"{mx:g}", len(scores),
                    f"{statistics.fmean(scores):.3f}" if scores else "",
                    f"{statistics.median(scores):.3f}" if scores else "",
                    f"{min(scores):g}" if scores else "", f"{max(scores):g}" if scores else "",
                    sum(s == mx for s in scores), sum(s == 0 for s in scores),
                    " ".join(f"{k}={v}" for k, v in sorted(counts.items()))])
    atomic_write(out / "stats.csv", buf.getvalue())

    write_review(rows, out)

    students = out / "students"
    students.mkdir(exist_ok=True)
    for row in rows:
        data = {k: v for k, v in clean(row).items() if k != "file"}  # type: ignore[union-attr]
        stem = row.get("file") or file_stem(str(row["folder"]))
        atomic_write(students / f"{stem}.json",
                     json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True,
                                allow_nan=False) + "\n")
    write_site(rows, out, options, cols)


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


def progress_bar(done: int, total: int) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rgrading [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


