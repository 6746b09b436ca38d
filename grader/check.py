"""`dlhw check`: a student's submission checked before it is handed in, never judged.

What is checked: the folder's layout (the files the grader reads, present, missing or not
expected), that every file parses, how every Part A answer and every claimed metric is read
(`q6.derivative: read as 1 - tanh(z)**2`), that answer ids are known (an unknown one is named
with the closest known id), that the notebook keeps the template's tags and fixed cells, that
each model loads in the sandbox and maps the grader's input shape to the output shape it must
return, and that the report compiles to the required format. It reuses the grader's own readers,
so what it says is read is what grading reads.

What it never does: compare anything with a reference. No answer is judged, no model is run on
the test set (only on a few random inputs, for shapes), no score is computed; the answers'
findings differ between a right and a wrong answer file only in the echoed values
(tests/test_check.py holds it). Student files are read through `grader.safeio` (no link followed,
sizes capped) and models and the report run only in the sandbox, as in grading.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.numfmt import fmt
from grader import parta
from grader.notebook_file import (
    NotebookError,
    answers,
    cells_to_run,
    check_notebook,
    read_notebook,
)
from grader.parta import clip
from grader.report import clean
from grader.report_check import ASSET_SUFFIXES, MAX_ASSET_BYTES, MAX_ASSETS
from grader.rubric import Item, Rubric, load_rubric
from grader.safeio import MAX_ENTRIES, FileError, Folder, folder_name, shown
from grader.submission import COPIED, Number, Submission, Text, Value, load_submission
from solver.functions import FUNCTIONS

__all__ = ["Finding", "check_submission", "iter_findings", "ready", "render", "LEVELS"]

LEVELS = ("ok", "warning", "problem")
# The files grading reads (README, "Grading"; examples/submission/); `True`: required.
EXPECTED = {"answers.yaml": True, "metrics.yaml": True, "partb.ipynb": True, "report.tex": True,
            "student.yaml": False, **{rel: False for _, rel, _ in COPIED if rel.startswith(
                "models/")}}
MODEL_SHAPES = {"fashion": ((5, 1, 28, 28), 10, "logits (N, 10)"),
                "regression": ((5, 1), 1, "(N, 1)")}  # inputs, columns out, as the README says
CHECK_BATCH = 3  # 5 inputs run as batches of 3 and 2: a batch dimension fixed at export fails
_PROBLEM_RE = re.compile(r"([^\s:]{1,200}?)(?::(\d{1,9}))?: (.*)", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    """One line of the check. `message` never holds an answer's value: that is `echo`."""

    level: str  # ok | warning | problem
    file: str
    field: str
    message: str
    echo: str = ""  # the student's value as the grader reads it

    def line(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        text = f"{where}: {self.message}" + (f" {self.echo}" if self.echo else "")
        return str(clean(text))


def check_submission(folder: Path, rubric: Rubric | None = None,
                     template: dict | None = None) -> list[Finding]:
    """Every finding about the submission in `folder`, in the order the README lists the files."""
    return list(iter_findings(folder, rubric, template))


def ready(findings: list[Finding]) -> bool:
    """Ready to submit: no finding is a problem."""
    return not any(f.level == "problem" for f in findings)


def render(f: Finding) -> str:
    return f"{ {'ok': 'ok     ', 'warning': 'warning', 'problem': 'PROBLEM'}[f.level]} {f.line()}"


def iter_findings(folder: Path, rubric: Rubric | None = None,
                  template: dict | None = None) -> Iterator[Finding]:
    """The findings as they are made (the sandboxed steps take seconds each)."""
    rubric = rubric or load_rubric()
    folder = Path(folder)
    yield from _guarded(".", lambda: _layout(folder))
    with load_submission(folder) as sub:
        yield from _file_problems(sub)
        yield from _student(sub)
        if sub.answers is not None:  # None: absent, or refused (a problem above says why)
            yield from _guarded("answers.yaml", lambda: _answers(sub, rubric))
        if sub.metrics is not None:
            yield from _guarded("metrics.yaml", lambda: _metrics(sub, rubric))
        if sub.notebook is not None:
            yield from _guarded("partb.ipynb", lambda: _notebook(sub.notebook, template))
        for item in rubric.items:
            if item.check == "model":
                yield from _guarded(f"models/{item.model}.pt2", lambda i=item: _model(sub, i))
            elif item.check == "report" and sub.report is not None:
                yield from _guarded("report.tex", lambda i=item: _report(sub, i))


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


def _layout(folder: Path) -> Iterator[Finding]:
    """Which expected files are there; what else is (reported, not read)."""
    try:
        with Folder(folder) as root:
            top = _entries(root) or []
            models = _entries(root, "models") if any(
                n == "models" and stat.S_ISDIR(m) for n, m, _ in top) else []
    except FileError:
        return  # the folder itself is refused: load_submission says why
    everything = top + [(f"models/{n}", m, size) for n, m, size in models or []]
    files = {n: m for n, m, _ in everything}
    for rel, required in EXPECTED.items():
        mode = files.get(rel)
        if mode is not None and stat.S_ISREG(mode):
            yield Finding("ok", rel, "", "present")
        elif mode is None:
            yield (Finding("problem", rel, "", "missing (every submission holds it)") if required
                   else Finding("warning", rel, "", "not submitted (optional)"))
    assets = 0
    for name, mode, size in everything:
        if name in EXPECTED or name == "models" and stat.S_ISDIR(mode) or not (
                stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            continue  # links and special files: the folder scan reports them as problems
        shown_name = shown(name) + ("/" if stat.S_ISDIR(mode) else "")
        if stat.S_ISREG(mode) and "/" not in name and name.lower().endswith(ASSET_SUFFIXES):
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
                          f"(expected files: {', '.join(EXPECTED)} and report figures)")


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
    known = list(refs)
    for qid in sub.answers:
        if qid not in refs:
            yield Finding("problem", "answers.yaml", shown(qid), "unknown question id, not "
                          f"read: {_closest(qid, known)}")
    for qid, ref in refs.items():
        if qid not in sub.answers:
            yield Finding("warning", "answers.yaml", qid, "not answered")
            continue
        raw = sub.answers[qid]
        aids = list(ref.spec.answers)
        for aid in raw:
            if aid not in ref.spec.answers:
                yield Finding("problem", "answers.yaml", f"{qid}.{shown(aid)}",
                              f"unknown answer id, not read: {_closest(aid, aids)}")
        for aid in aids:
            yield _answer(ref, qid, aid, raw.get(aid))


def _answer(ref: parta.QuestionRef, qid: str, aid: str, raw: Value) -> Finding:
    field = f"{qid}.{aid}"
    r = parta.read_answer(ref, aid, raw)
    if r.kind == "blank":
        return Finding("warning", "answers.yaml", field, "no answer given")
    if r.kind == "review":
        return Finding("problem", "answers.yaml", field, f"cannot be read: {r.error}; "
                       f"{_how_to_write(ref, aid)}")
    text = raw.text.strip() if isinstance(raw, (Text, Number)) else ""
    echo = r.read + (f" (from {clip(text)!r})" if r.decorated else "")
    return Finding("ok", "answers.yaml", field, "read as", echo)


# ---------------------------------------------------------------- metrics.yaml


def _metrics(sub: Submission, rubric: Rubric) -> Iterator[Finding]:
    from grader.partbc import read_metric

    assert sub.metrics is not None
    items = [i for i in rubric.items if i.metric]
    known = sorted({i.metric for i in items if i.metric})
    for key in sub.metrics:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            yield Finding("warning", "metrics.yaml", shown(key), "not a graded id, not read"
                          + (f": did you mean {near[0]}?" if near else ""))
    seen: set[str] = set()
    for item in items:
        assert item.metric is not None
        if item.metric in seen:
            continue
        seen.add(item.metric)
        value, why = read_metric(sub, item)
        if value is not None:
            raw = sub.metrics.get(item.metric)
            echo = str(value).lower() if isinstance(value, bool) else fmt(value, 10)
            if isinstance(raw, Number) and raw.value != value:  # a percentage
                echo += f" (from {clip(raw.text)!r})"
            yield Finding("ok", "metrics.yaml", item.metric, "read as", echo)
        elif why.startswith("metrics.yaml:"):
            line, _, msg = why.split(":", 1)[1].partition(": ")
            yield Finding("problem", "metrics.yaml", item.metric,
                          msg.split(": ", 1)[-1] + f" (line {line})")
        else:
            yield Finding("warning", "metrics.yaml", item.metric, "not reported")


# ---------------------------------------------------------------- the notebook


def _notebook(path: Path, template: dict | None) -> Iterator[Finding]:
    from grader.partbc import template_notebook

    name = "partb.ipynb"
    try:
        nb = read_notebook(path.read_bytes())
        status, msg, _, total = check_notebook(nb, template or template_notebook())
        if status == "invalid":
            yield Finding("problem", name, "tags", f"not as in the template: {msg} (start from "
                          "`dlhw notebook partb --student` and write only between the tags)")
            return
        regions = answers(nb, template or template_notebook())
        cells_to_run(nb, regions)  # refuses IPython magics and shell escapes
    except NotebookError as exc:
        yield Finding("problem", name, "", str(exc).removeprefix(f"{name}: "))
        return
    yield Finding("ok", name, "tags", f"the template's tags and fixed cells are intact "
                  f"({total} answer regions)")
    for a in regions:
        if not a.edited or a.kind == "TEXT" and not a.text:
            yield Finding("warning", name, a.label, "left as in the template"
                          if not a.edited else "no text written")


# ---------------------------------------------------------------- models


def _model(sub: Submission, item: Item) -> Iterator[Finding]:
    from grader.model_check import UnsafeModel, run_model

    path = sub.model if item.model == "fashion" else sub.regression_model
    if path is None or item.model not in MODEL_SHAPES:
        return  # absent: the layout said so
    name = f"models/{path.name}"
    shape, columns, expected = MODEL_SHAPES[item.model]
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 256, shape, dtype=np.uint8) if item.model == "fashion" else \
        rng.uniform(-2 * np.pi, 2 * np.pi, shape).astype(np.float32)
    try:
        ran = run_model(path, inputs, time_limit_s=item.time_limit_s,
                        memory_limit_mb=item.memory_limit_mb, batch=CHECK_BATCH)
    except UnsafeModel as exc:
        yield Finding("problem", name, "", f"refused, not loaded: {exc}")
        return
    if ran.status == "unavailable":
        yield Finding("warning", name, "", f"not checked: {ran.reason} (grading will run it)")
        return
    given = f"float32 {tuple(shape)[1:]} inputs in batches of {CHECK_BATCH} and " \
            f"{shape[0] - CHECK_BATCH}"
    if ran.outputs is None:
        yield Finding("problem", name, "", f"does not run on {given}: "
                      f"{ran.reason or ran.status} (export it with a dynamic batch dimension)")
    elif ran.outputs.shape[1] != columns:
        yield Finding("problem", name, "output", f"{ran.outputs.shape[1]} value(s) per input, "
                      f"expected {expected}")
    elif not np.isfinite(ran.outputs).all():
        yield Finding("problem", name, "output", "some outputs are not finite numbers")
    else:
        yield Finding("ok", name, "", f"loads in the sandbox and maps (N, "
                      f"{', '.join(map(str, shape[1:]))}) inputs to {expected}")


# ---------------------------------------------------------------- the report


def _report(sub: Submission, item: Item) -> Iterator[Finding]:
    from grader.report_check import Format, compile_and_check

    assert sub.report is not None
    if shutil.which("pdflatex") is None or shutil.which("pdftohtml") is None:
        yield Finding("warning", "report.tex", "", "not checked: pdflatex or poppler's "
                      "pdftohtml is not installed here (grading will compile it)")
        return
    fmt = Format(**(item.report_format or {}), time_limit_s=item.time_limit_s,  # type: ignore
                 memory_limit_mb=item.memory_limit_mb)
    r = compile_and_check(sub.report, fmt, assets=sub.path)
    if not r.compiled:
        level = "warning" if r.error.startswith("not run") else "problem"
        yield Finding(level, "report.tex", "", f"does not compile: {r.error}" if
                      level == "problem" else f"not checked: {r.error.removeprefix('not run: ')}")
        return
    yield Finding("ok", "report.tex", "", "compiles in the sandbox")
    for check, (ok, why) in r.checks.items():
        yield Finding("ok" if ok else "problem", "report.tex", check, why)
