"""Grade a whole class: every subfolder a submission, in parallel, one bad one never stopping
the rest. Writes gradebook.csv, stats.csv and one JSON per student, atomically, sorted by folder
name and with fixed number formats, so the same inputs give the same bytes."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import signal
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from grader import parta
from grader.grade import Options, grade_submission
from grader.report import to_dict
from solver.fileio import atomic_write


class _Overtime(BaseException):
    """Raised by the per-submission CPU-time alarm (BaseException: nothing may swallow it)."""


_OPTIONS: Options | None = None
_LIMIT = 60.0


def _init(options: Options, limit: float) -> None:
    global _OPTIONS, _LIMIT
    _OPTIONS, _LIMIT = options, limit


def _one(folder: str) -> dict[str, object]:
    """Grade one folder in a worker; never raises."""
    assert _OPTIONS is not None
    name = Path(folder).name

    def overtime(signum, frame):  # noqa: ARG001
        raise _Overtime

    # CPU time of this worker (ITIMER_PROF), so it cannot clash with the per-answer SIGALRM.
    previous = signal.signal(signal.SIGPROF, overtime)
    signal.setitimer(signal.ITIMER_PROF, _LIMIT)
    try:
        return to_dict(grade_submission(Path(folder), _OPTIONS)) | {"folder": name}
    except _Overtime:
        return _error_row(name, f"grading took more than {_LIMIT:g} s of CPU time")
    except Exception as exc:  # noqa: BLE001 - one bad submission must not stop the batch
        return _error_row(name, f"internal error: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _error_row(name: str, message: str) -> dict[str, object]:
    return {"folder": name, "student": name, "name": "", "status": "error", "score": None,
            "max_score": None, "problems": [message], "questions": {}}


def submissions(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def run_batch(root: Path, out: Path, options: Options, jobs: int = 2, limit: float = 60.0,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, object]]:
    """Grade every subfolder of `root`; write the gradebook and statistics under `out`."""
    folders = submissions(root)
    parta.prepare(options.rubric)  # built once here, inherited by the forked workers
    if "B" in options.parts:
        _ = options.template
    rows: list[dict[str, object]] = []
    if jobs <= 1:
        _init(options, limit)
        for k, f in enumerate(folders):
            rows.append(_one(str(f)))
            if progress:
                progress(k + 1, len(folders))
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs, initializer=_init, initargs=(options, limit)) as pool:
            for k, row in enumerate(pool.imap(_one, [str(f) for f in folders], chunksize=4)):
                rows.append(row)
                if progress:
                    progress(k + 1, len(folders))
    write_outputs(rows, out, options)
    return rows


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
    return "invalid" if score is None else f"{score:g}"


def write_outputs(rows: list[dict[str, object]], out: Path, options: Options) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cols = _columns(options)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["folder", "student", "name", *[c for c, _ in cols], "total", "max", "status"])
    for row in rows:
        qs = row["questions"]
        assert isinstance(qs, dict)
        total = row["score"]
        w.writerow([row["folder"], row["student"], row["name"],
                    *[_cell(qs.get(c)) for c, _ in cols],
                    "" if total is None else f"{total:g}",
                    f"{sum(m for _, m in cols):g}", row["status"]])
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
        w.writerow([c, f"{mx:g}", len(scores),
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
        atomic_write(students / f"{row['folder']}.json",
                json.dumps(row, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


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
                    w.writerow([_inert(c) for c in (row["folder"], row["student"], qid, aid,
                                                      a.get("submitted") or "",
                                                      a.get("feedback") or "")])
    atomic_write(out / "review.csv", buf.getvalue())


def _inert(cell: object) -> str:
    # OWASP CSV injection: a cell a spreadsheet would read as a formula starts with a quote.
    text = str(cell)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def progress_bar(done: int, total: int) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rgrading [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


