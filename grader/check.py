"""`dlhw check`: a student's submission checked before it is handed in, never judged.

What is checked: the folder's layout (the files the grader reads, present, missing or not
expected), that every file parses, how every Part A answer and every claimed metric is read
(`q6.derivative: read as 1 - tanh(z)**2`), that answer ids are known (an unknown one is named
with the closest known id), that the notebook keeps the template's tags and fixed cells, that
each model loads in the sandbox and maps the grader's input shape to the output shape it must
return, and that the report compiles, with what its PDF holds (the sections Parts 1-7 ask for and
their words, the body's words, the figures and tables it refers to) and its format, against the
rubric's thresholds but never as a mark. It reuses the grader's own readers, so what it says is
read is what grading reads.

What it never does: compare anything with a reference. No answer is judged, no model is run on
the test set (only on a few random inputs, for shapes), no score is computed; the answers'
findings differ between a right and a wrong answer file only in the echoed values
(tests/test_check.py holds it). Student files are read through `grader.safeio` (no link followed,
sizes capped) and models and the report run only in the sandbox, as in grading.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from grader import parta
from grader.context import RunContext
from grader.findings import LEVELS, Finding
from grader.grade import open_submission
from grader.kinds import KINDS, Evidence
from grader.kinds.claim import claim_findings
from grader.parta.numbers import Reading
from grader.report_check import ASSET_SUFFIXES, MAX_ASSET_BYTES, MAX_ASSETS, refused_asset
from grader.rubric import Rubric
from grader.safeio import MAX_ENTRIES, FileError, Folder, folder_name, shown
from grader.submission import NOTEBOOK, REPORT, Number, Submission, Text, model_file
from grader.writers.safe import clip
from solver.functions import FUNCTIONS

__all__ = ["Finding", "check_submission", "iter_findings", "ready", "render", "LEVELS"]

# The files grading reads (README, "Grading", and the example submission); `True`: required.
REQUIRED = {"answers.yaml": True, "metrics.yaml": True, NOTEBOOK: True, REPORT: True,
            "student.yaml": False}
_PROBLEM_RE = re.compile(r"([^\s:]{1,200}?)(?::(\d{1,9}))?: (.*)", re.DOTALL)


def check_submission(folder: Path, ctx: RunContext | None = None) -> list[Finding]:
    """Every finding about the submission in `folder`, in the order the README lists the files."""
    return list(iter_findings(folder, ctx))


def ready(findings: list[Finding]) -> bool:
    """Ready to submit: no finding is a problem."""
    return not any(f.level == "problem" for f in findings)


def render(f: Finding) -> str:
    return f"{ {'ok': 'ok     ', 'warning': 'warning', 'problem': 'PROBLEM'}[f.level]} {f.line()}"


def iter_findings(folder: Path, ctx: RunContext | None = None) -> Iterator[Finding]:
    """The findings as they are made (the sandboxed steps take seconds each): the submission
    loaded as grading loads it, each item's evidence as grading gathers it (in check mode:
    never the grader's inputs), each finding from the item's kind."""
    ctx = ctx or RunContext.build(seed=0)
    folder = Path(folder)
    yield from _guarded(".", lambda: _layout(folder, ctx.rubric))
    with open_submission(folder, ctx) as sub:
        yield from _file_problems(sub)
        yield from _student(sub)
        if sub.answers is not None:  # None: absent, or refused (a problem above says why)
            yield from _guarded("answers.yaml", lambda: _answers(sub, ctx.rubric))
        if sub.metrics is not None:
            yield from _guarded("metrics.yaml",
                                lambda: claim_findings(sub, ctx.rubric.items))
        ev = Evidence(sub, ctx, mode="check")
        for kind in KINDS.values():  # the notebook once, then each model, then the report
            for item in (i for i in ctx.rubric.items if i.kind == kind.name):
                yield from _guarded(kind.file(item), functools.partial(kind.check, item, ev))


def _guarded(file: str, findings: Callable[[], Iterator[Finding]]) -> Iterator[Finding]:
    """`findings()`, ending in one line if the checker itself fails on some file: whatever the
    bytes, never a traceback (grading would mark that item `error`)."""
    try:
        yield from findings()
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        yield Finding("problem", file, "", f"could not be checked: internal error "
                      f"({type(exc).__name__}: {str(exc)[:160]}); please report it")


# ---------------------------------------------------------------- layout


def _entries(root: Folder, rel: str = "") -> list[tuple[str, int, int]] | None:
    """(name, mode, size) of each entry of the folder `rel` in `root`, links not followed;
    None if it cannot be listed."""
    try:
        fd = os.dup(root.fd) if not rel else os.open(
            rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root.fd)
    except OSError:
        return None
    try:
        with os.scandir(fd) as it:
            stats = ((e.name, e.stat(follow_symlinks=False))
                     for e in itertools.islice(it, MAX_ENTRIES))
            return sorted((name, st.st_mode, st.st_size) for name, st in stats)
    except OSError:
        return None
    finally:
        os.close(fd)


def _layout(folder: Path, rubric: Rubric) -> Iterator[Finding]:
    """Which expected files are there; what else is (reported, not read)."""
    expected = REQUIRED | {model_file(i.id): bool(i.requires) for i in rubric.items
                           if i.kind == "model"}
    try:
        with Folder(folder) as root:
            top = _entries(root) or []
            models = _entries(root, "models") if any(
                n == "models" and stat.S_ISDIR(m) for n, m, _ in top) else []
    except FileError:
        return  # the folder itself is refused: load_submission says why
    everything = top + [(f"models/{n}", m, size) for n, m, size in models or []]
    files = {n: m for n, m, _ in everything}
    for rel, required in expected.items():
        mode = files.get(rel)
        if mode is not None and stat.S_ISREG(mode):
            yield Finding("ok", rel, "", "present")
        elif mode is None:
            yield (Finding("problem", rel, "", "missing (every submission holds it)") if required
                   else Finding("warning", rel, "", "not submitted (optional)"))
    assets = 0
    for name, mode, size in everything:
        if name in expected or name == "models" and stat.S_ISDIR(mode) or not (
                stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            continue  # links and special files: the folder scan reports them as problems
        shown_name = shown(name) + ("/" if stat.S_ISDIR(mode) else "")
        if stat.S_ISREG(mode) and "/" not in name and name.lower().endswith(ASSET_SUFFIXES):
            if why := refused_asset(name):
                yield Finding("warning", shown_name, "", f"not given to report.tex: {why}")
                continue
            assets += 1
            if assets > MAX_ASSETS:
                yield Finding("warning", shown_name, "", f"not given to report.tex: at most "
                              f"{MAX_ASSETS} figure, .bib or .tex files are")
            elif size > MAX_ASSET_BYTES:
                yield Finding("warning", shown_name, "", f"not given to report.tex: larger "
                              f"than {MAX_ASSET_BYTES // 2**20} MB")
            else:
                yield Finding("ok", shown_name, "", "present (a file report.tex may use)")
        else:
            yield Finding("warning", shown_name, "", "not expected in a submission: not read "
                          f"(expected files: {', '.join(expected)} and report figures)")


def _file_problems(sub: Submission) -> list[Finding]:
    """load_submission's one-line problems (`answers.yaml:3: not valid YAML: ...`) as findings,
    and the per-question shape errors of answers.yaml."""
    out = []
    for p in sub.problems + [n for notes in sub.answer_notes.values() for n in notes]:
        m = _PROBLEM_RE.fullmatch(p)
        file, line, msg = (m[1], m[2], m[3]) if m else (shown(folder_name(sub.path)), None, p)
        out.append(Finding("problem", file, f"line {line}" if line else "", msg))
    return out


# ---------------------------------------------------------------- student.yaml


def _student(sub: Submission) -> Iterator[Finding]:
    """The id and name as read (problems with them are among load_submission's)."""
    if sub.declared is not None:
        yield Finding("ok", "student.yaml", "id", "read as", sub.declared)
    if sub.name:
        yield Finding("ok", "student.yaml", "name", "read as", clip(sub.name))


# ---------------------------------------------------------------- answers.yaml


def _closest(word: str, known: list[str]) -> str:
    near = difflib.get_close_matches(word, known, n=1, cutoff=0.5)
    return f"did you mean {near[0]}? (expected one of {', '.join(known)})" if near else \
        f"expected one of {', '.join(known)}"


def _how_to_write(ref: parta.QuestionRef, aid: str) -> str:
    if ref.spec.answers[aid].kind == "numeric":
        return "write one number, such as 0.1234, -2.5 or 1.5e-3"
    functions = " ".join(f for f in FUNCTIONS if f.islower())
    return (f"write one formula in the names {', '.join(sorted(ref.names))} and the functions "
            f"{functions}, in SymPy syntax or LaTeX (the README's table shows what is read)")


def _answers(sub: Submission, rubric: Rubric) -> Iterator[Finding]:
    assert sub.answers is not None
    refs = parta.prepare(rubric)
    placed = parta.place(sub.answers, refs, sub.answer_notes)
    reading = parta.file_reading(sub.answers)
    known = list(refs)
    for qid in sub.answers:
        if qid not in refs:
            yield Finding("problem", "answers.yaml", shown(qid), "unknown question id, not "
                          f"read: {_closest(qid, known)}")
    for qid, ref in refs.items():
        here = placed[qid]
        if qid not in sub.answers and not here.pending:
            yield Finding("warning", "answers.yaml", qid, "not answered")
            continue
        raw = sub.answers.get(qid) or {}
        aids = list(ref.spec.answers)
        for aid in raw:
            if aid in ref.spec.answers:
                continue
            owner = next((a for a, key in here.filed.items() if key == aid), None)
            if owner is not None:
                yield Finding("warning", "answers.yaml", f"{qid}.{shown(aid)}",
                              f"read as {owner}, a name the question gives it: write {owner}")
            else:
                yield Finding("problem", "answers.yaml", f"{qid}.{shown(aid)}",
                              f"unknown answer id, not read: {_closest(aid, aids)}")
        for aid in aids:
            yield _answer(ref, qid, aid, here, reading)


def _answer(ref: parta.QuestionRef, qid: str, aid: str, placed: parta.Placed,
            reading: Reading) -> Finding:
    field = f"{qid}.{aid}"
    raw = placed.raw.get(aid)
    r = parta.read_answer(ref, aid, raw, reading)
    pending = placed.pending.get(aid)
    if pending is not None and (r.kind == "blank" or pending.conflict):
        hint = f" ({pending.suggestion})" if pending.suggestion else ""
        return Finding("problem", "answers.yaml", field, f"{pending.reason}{hint}")
    if r.kind == "blank":
        return Finding("warning", "answers.yaml", field, "no answer given")
    if r.kind == "review":
        return Finding("problem", "answers.yaml", field, f"cannot be read: {r.error}; "
                       f"{_how_to_write(ref, aid)}")
    text = raw.text.strip() if isinstance(raw, (Text, Number)) else ""
    echo = r.read + (f" (from {clip(text)!r})" if r.decorated else "")
    return Finding("ok", "answers.yaml", field, "read as", echo)
