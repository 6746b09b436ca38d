"""Grade a whole class: every subfolder a submission, in parallel, one bad one never stopping the
rest: submissions are graded in supervised worker processes, each under a wall-clock limit
(grader.worker), so a hung or dead one becomes its own `error` result. Each result is saved as
it arrives (an interrupted batch loses nothing; --resume reuses what is unchanged); then every
writer of grader/writers/ renders the class: gradebook.csv, stats.csv, review.csv, one JSON and
one page per student, the site's index, atomically, sorted by folder name, so the same inputs
give the same bytes."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path

from core import resources
from grader.context import SEED_ENV, RunContext
from grader.grade import grade_submission
from grader.journal import Journal
from grader.results import Outcome, Result
from grader.safeio import FileError, Folder, folder_name, shown
from grader.worker import run_each
from grader.writers.formats import write_class
from grader.writers.safe import file_stem, unique_stems
from nets.hardware import cores


class Batch(list[Result]):
    """A class's results, in folder order, and those of them reused from a previous run's
    saved results (`--resume`)."""

    def __init__(self, results: list[Result], reused: list[Result]):
        super().__init__(results)
        self.reused = reused

    def reuse_summary(self) -> str:
        """`reused 3 saved result(s) (2 graded, 1 review); graded 2`."""
        counts: dict[str, int] = {}
        for r in self.reused:
            counts[str(r.status)] = counts.get(str(r.status), 0) + 1
        shown = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        return (f"reused {len(self.reused)} saved result(s){f' ({shown})' if shown else ''}; "
                f"graded {len(self) - len(self.reused)}")


def submissions(root: Path) -> list[Path]:
    """Every subfolder of `root` (a link to one too: it is then refused, with a row of its own)."""
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def grade_folder(folder: Path, ctx: RunContext, submitter: str | None = None,
                 stem: str | None = None) -> Result:
    """One folder graded in this process (a worker's), named as every output names it: `stem`
    its output files' name, unique in its class (default: from its folder name alone)."""
    name = folder_name(folder)
    return replace(grade_submission(folder, ctx, submitter), folder=shown(name),
                   file=stem or file_stem(name))


def grade_one(folder: Path, ctx: RunContext, limit: float | None = None,
              submitter: str | None = None) -> Result:
    """One folder graded in a supervised worker under the wall clock (`limit`, default the
    rubric's): the single-submission path of `dlhw grade` and of Gradescope's autograder."""
    [(data, error)] = run_each(lambda f: grade_folder(f, ctx, submitter).to_data(), [folder],
                               limit=limit or ctx.rubric.time_limit_s)
    if data is None:
        name = folder_name(folder)
        return Result.error(submitter or shown(name), file_stem(name), str(error))
    return Result.from_data(data)


def run_batch(root: Path, out: Path, ctx: RunContext, jobs: int | None = None,
              limit: float | None = None, resume: bool = False,
              progress: bool = False) -> Batch:
    """Grade every subfolder of `root` in `jobs` worker processes (default: one per core), each
    submission stopped after `limit` seconds of wall clock (default: the rubric's
    `submission.time_limit_s`); write every output under `out`, whatever happened to any one
    submission.

    Each result is saved in `out/resume.jsonl` the moment it arrives, so an interrupted batch
    loses nothing; `resume` reuses every saved result whose submission (its files' bytes) and
    grading set-up (rubric, references, specs, course, overrides, parts, dlhw's code) are
    unchanged, and that was final (not incomplete, not in error). `progress`: a bar on
    stderr."""
    folders = submissions(root)
    jobs = jobs or cores()
    setup = setup_fingerprint(ctx)
    prints = {f: submission_fingerprint(f, setup) for f in folders}
    names = unique_stems([folder_name(f) for f in folders])
    stems = {f: names[folder_name(f)] for f in folders}
    journal = Journal(out, fresh=not resume)
    reused = _reusable(journal, stems, prints) if resume else {}
    datas = {f: data for f, (data, _) in reused.items()}
    results = {f: result for f, (_, result) in reused.items()}
    todo = [f for f in folders if f not in results]
    bar = _bar(len(folders), len(results), progress)
    review = sum(needs_review(r) for r in results.values())

    def done(index: int, data: dict | None, error: str | None) -> None:
        nonlocal review
        f = todo[index]
        result = Result.from_data(data) if data is not None else \
            Result.error(shown(folder_name(f)), stems[f], str(error))
        results[f] = result
        # The worker's data as it came, not the Result turned back into data: the same bytes.
        datas[f] = data if data is not None else result.to_data()
        journal.append(stems[f], prints[f], datas[f])
        review += needs_review(result)
        bar.set_postfix_str(f"{review} to review", refresh=False)
        bar.update()

    try:
        with journal:
            run_each(lambda f: grade_folder(f, ctx, stem=stems[f]).to_data(), todo,
                     limit=limit or ctx.rubric.time_limit_s, jobs=max(jobs, 1), done=done)
    finally:
        bar.close()
    # A finished batch leaves exactly the class's records in the class's order: appended as
    # results arrived (any order, with several workers), the same inputs would give other bytes.
    journal.rewrite((stems[f], prints[f], datas[f]) for f in folders)
    graded = set(todo)
    ordered = flag_shared_ids([results[f] for f in folders])
    write_class(ordered, out, ctx, jobs)
    return Batch(ordered, [r for f, r in zip(folders, ordered) if f not in graded])


def _reusable(journal: Journal, stems: dict[Path, str], prints: dict[Path, str]
              ) -> dict[Path, tuple[dict, Result]]:
    """The saved results (as saved, and read) of the folders graded from exactly these
    inputs, and final: a submission the grader could not finish (a limit, a crash) is tried
    again."""
    saved = journal.records()
    out = {}
    for f, stem in stems.items():
        record = saved.get(stem)
        if record is None or record["fingerprint"] != prints[f]:
            continue
        try:
            result = Result.from_data(record["result"])
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError):
            continue
        if not Outcome(result.status).regrade:
            out[f] = (record["result"], result)
    return out


def _bar(total: int, initial: int, show: bool):  # noqa: ANN202 - tqdm's own type
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not show, file=sys.stderr, unit="sub",
                desc="grading", dynamic_ncols=True, postfix="0 to review")


def needs_review(result: Result) -> bool:
    """Whether anything in a result waits for the instructor (an answer or item in review)."""
    return any(i.pending for i in result.items)


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


def setup_fingerprint(ctx: RunContext) -> str:
    """A SHA-256 of the grading set-up: the rubric, every data file in force (the course
    folder's and the shipped specs, references, hidden checks and templates), the course and
    overrides files, the parts graded, the secret perturbation seed when the instructor fixed
    it, and the source of dlhw's packages."""
    import grader

    h = hashlib.sha256()
    code = Path(grader.__file__).resolve().parent.parent
    files = [ctx.rubric.path, *resources.in_force(),
             *(p for pkg in ("core", "solver", "nets", "grader", "handout")
               for p in sorted((code / pkg).rglob("*.py")))]
    if ctx.course is not None:
        files.append(ctx.course.path)
    files += ctx.overrides.files()
    for path in files:
        h.update(str(path).encode() + b"\0")
        if path.is_file():
            h.update(path.read_bytes())
    h.update(f"{ctx.parts}:{os.environ.get(SEED_ENV, '')}".encode())
    return h.hexdigest()


def flag_shared_ids(results: list[Result]) -> list[Result]:
    """A submission whose student.yaml declares an id another row also stands for (its
    submitter or its own declaration) is flagged, on its own row only: what one student writes
    never flags another. Two rows whose submitters alone coincide (no declaration; the LMS's
    names, not a student's) are both flagged."""
    def claimed(r: Result) -> str:
        return (r.declared or r.student).casefold()

    def declares(r: Result) -> bool:
        return r.declared is not None and r.declared.casefold() != r.student.casefold()

    claims: dict[str, list[Result]] = {}
    for r in results:
        claims.setdefault(claimed(r), []).append(r)
    flags: dict[int, str] = {}
    for group in claims.values():
        if len(group) < 2:
            continue
        for r in group:
            if declares(r):
                others = ", ".join(f"'{o.folder}'" for o in group if o is not r)
                flags[id(r)] = f"student.yaml claims id '{r.declared}', the id of {others}"
            elif not any(declares(o) for o in group):
                others = ", ".join(f"'{o.folder}'" for o in group if o is not r)
                flags[id(r)] = f"submitter '{r.student}' is also the submitter of {others}"
    return [replace(r, flags=(*r.flags, flags[id(r)])) if id(r) in flags else r
            for r in results]


def summary(results: list[Result]) -> str:
    """`4 submissions (3 graded, 1 invalid)`."""
    counts: dict[str, int] = {}
    for r in results:
        counts[str(r.status)] = counts.get(str(r.status), 0) + 1
    shown = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    return f"{len(results)} submissions ({shown})"
