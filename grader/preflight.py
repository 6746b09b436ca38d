"""Preflight: prove, end to end, that each tool grading needs works on this machine.

`dlhw doctor` prints every probe with the fix for each failure; `dlhw grade` runs the probes its
parts need once per run, in the parent before any worker forks, so that a tool that is missing
makes the items needing it `not run` (never a mark against a student) and a batch refuses to
start. Each probe runs the real thing: the sandbox starts this interpreter and imports numpy and
torch in it; pdflatex compiles a one-line IEEEtran document in the sandbox and poppler reads the
PDF (grader.report_check, as a report is checked); the FashionMNIST test files are read.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from grader import report_check, runtime, sandbox
from grader.rubric import Rubric

# What each capability is for, and how to fix it where it fails.
SANDBOX, PYTHON, NUMPY, TORCH = "sandbox", "python", "numpy", "torch"
PDFLATEX, POPPLER, FASHION = "pdflatex", "poppler", "fashion"
FIXES = {
    SANDBOX: "apt-get install bubblewrap util-linux (as root); as another user, the kernel must "
             "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)",
    PYTHON: "the interpreter's folders must be readable by other users (chmod o+rx on the "
            "venv and its parents) or dlhw run from another interpreter",
    NUMPY: "install dlhw's dependencies into this interpreter: bash scripts/setup.sh nets",
    TORCH: "install dlhw's dependencies into this interpreter: bash scripts/setup.sh nets",
    PDFLATEX: "apt-get install texlive-latex-base texlive-latex-recommended "
              "texlive-fonts-recommended texlive-publishers",
    POPPLER: "apt-get install poppler-utils",
    FASHION: "apt-get install dataset-fashion-mnist, or give --data-dir / $DLHW_DATA",
}
LABELS = {SANDBOX: "sandbox (bubblewrap or container)", PYTHON: "python in the sandbox",
          NUMPY: "numpy in the sandbox", TORCH: "torch in the sandbox",
          PDFLATEX: "pdflatex (IEEEtran) in the sandbox", POPPLER: "poppler reads the PDF",
          FASHION: "FashionMNIST test files"}
PARTS = {SANDBOX: "B, C", PYTHON: "B, C", NUMPY: "B, C", TORCH: "C", PDFLATEX: "C",
         POPPLER: "C", FASHION: "C"}
_DLHW = ("core", "solver", "nets", "grader", "handout", "problems", "templates", "cli")
_IMPORTS = ("import sys\nprint('python', sys.prefix, flush=True)\n"
            "import importlib.util as u\n"
            f"print('dlhw', *[n for n in {_DLHW!r} if u.find_spec(n)], flush=True)\n"
            "for name in ('numpy', 'torch'):\n"
            "    try:\n        __import__(name)\n        print(name, flush=True)\n"
            "    except Exception as exc:\n"
            "        print('no', name, type(exc).__name__, str(exc)[:150], flush=True)\n")
_REPORT = r"\documentclass[10pt]{IEEEtran}\begin{document}dlhw doctor\end{document}" + "\n"


@dataclass(frozen=True)
class Probe:
    """`cause`: the probe whose failure this one follows from (itself when it failed alone)."""

    name: str
    ok: bool
    detail: str
    cause: str = ""

    @property
    def fix(self) -> str:
        return "" if self.ok else FIXES[self.cause or self.name]


def _after(name: str, cause: str) -> Probe:
    return Probe(name, False, f"needs {LABELS[cause]}", cause)


def needed(rubric: Rubric, parts: str) -> set[str]:
    """The capabilities grading `parts` uses: what the rubric's items' kinds need."""
    from grader.kinds import KINDS

    return set().union(*(KINDS[i.kind].needs(i) for i in rubric.items if i.letter in parts))


def run_probes(names: Iterable[str], data_dir: Path | None = None) -> dict[str, Probe]:
    """The probes of `names` (with those they build on), run side by side; name → Probe."""
    names = set(names)
    jobs = {}
    with ThreadPoolExecutor(3) as pool:
        if names & {SANDBOX, PYTHON, NUMPY, TORCH}:
            jobs["python"] = pool.submit(_python)
        if names & {PDFLATEX, POPPLER}:
            jobs["report"] = pool.submit(_report)
        if FASHION in names:
            jobs["fashion"] = pool.submit(_fashion, data_dir)
        found: dict[str, Probe] = {}
        for job in jobs.values():
            found |= job.result()
    return {n: found[n] for n in sorted(found, key=list(LABELS).index)}


@functools.cache
def _sandbox() -> Probe:
    why = sandbox.unavailable_reason()
    return Probe(SANDBOX, why is None, why or f"{sandbox.isolation()} starts programs")


def _python() -> dict[str, Probe]:
    box = _sandbox()
    if not box.ok:
        return {SANDBOX: box} | {n: _after(n, SANDBOX) for n in (PYTHON, NUMPY, TORCH)}
    student = runtime.student()
    py = student.python
    out = sandbox.run([py, *student.flags, "-c", _IMPORTS],
                      limits=sandbox.Limits(wall_s=120, cpu_s=120, memory_mb=4096))
    lines = out.stdout.splitlines()
    said = {ln.split()[1] if ln.startswith("no ") else ln.split()[0]: ln
            for ln in lines if ln.strip()}
    if "python" not in said:
        why = out.reason or " ".join(out.stderr.split())[-200:] or out.status
        return {SANDBOX: box, PYTHON: Probe(PYTHON, False, f"{py} does not start: {why}"),
                NUMPY: _after(NUMPY, PYTHON), TORCH: _after(TORCH, PYTHON)}
    prefix = said["python"].split(" ", 1)[-1]
    if prefix != student.prefix:
        # The sandbox's uid could not read this environment (a venv in a 0700 folder), so
        # Python fell back to another one: its packages are not the ones grading expects.
        return {SANDBOX: box, PYTHON: Probe(PYTHON, False, f"{py} ran from {prefix}, not from "
                                            f"{student.prefix}: other users cannot read "
                                            f"{student.prefix} (chmod o+rx it and its parents)"),
                NUMPY: _after(NUMPY, PYTHON), TORCH: _after(TORCH, PYTHON)}
    leaked = said.get("dlhw", "dlhw").split()[1:]
    if leaked:  # student code would import the reference solutions and the hidden checks
        return {SANDBOX: box, PYTHON: Probe(PYTHON, False, f"student code can import dlhw's "
                                            f"{', '.join(leaked)} from {py}: give it an "
                                            f"environment without dlhw ({runtime.STUDENT_ENV})"),
                NUMPY: _after(NUMPY, PYTHON), TORCH: _after(TORCH, PYTHON)}
    found = {SANDBOX: box, PYTHON: Probe(PYTHON, True, f"{py}, without dlhw")}
    for name in (NUMPY, TORCH):
        line = said.get(name, f"no {name} (no answer: {out.reason or out.status})")
        found[name] = Probe(name, not line.startswith("no "),
                            "imports" if not line.startswith("no ") else line[3:])
    return found


def _report() -> dict[str, Probe]:
    box = _sandbox()
    if not box.ok:
        return {n: _after(n, SANDBOX) for n in (PDFLATEX, POPPLER)}
    with tempfile.TemporaryDirectory(prefix="dlhw-doctor-") as tmp:
        tex = Path(tmp) / "report.tex"
        tex.write_text(_REPORT)
        r = report_check.compile_and_check(tex, report_check.Format())
    if not r.compiled:
        return {PDFLATEX: Probe(PDFLATEX, False, r.error),
                POPPLER: _after(POPPLER, PDFLATEX)}
    read, what = r.checks.get("Times", r.checks.get("text", (False, "nothing read")))
    read = read or "body font" in what  # the fonts were listed: poppler read the PDF
    return {PDFLATEX: Probe(PDFLATEX, True, "compiled a one-line IEEEtran document"),
            POPPLER: Probe(POPPLER, read, f"read the PDF: {what}" if read else
                           f"could not read the PDF ({what})")}


def _fashion(data_dir: Path | None) -> dict[str, Probe]:
    from nets.fashion_files import read_split, source_dir

    try:
        x, _ = read_split(data_dir, "t10k")
    except (OSError, ValueError) as exc:
        return {FASHION: Probe(FASHION, False, str(exc))}
    return {FASHION: Probe(FASHION, True, f"{len(x)} test images in {source_dir(data_dir)}")}


def table(probes: dict[str, Probe]) -> str:
    """`dlhw doctor`'s table: one line a probe, and the fix under each failure."""
    lines = [f"{'check':<38} {'parts':<6} {'result':<7} detail"]
    for p in probes.values():
        lines.append(f"{LABELS[p.name]:<38} {PARTS[p.name]:<6} {'ok' if p.ok else 'FAILED':<7} "
                     f"{p.detail}")
        if not p.ok and not p.cause:
            lines.append(f"{'':<53}fix: {p.fix}")
    return "\n".join(lines)


def check(rubric: Rubric, parts: str, data_dir: Path | None = None) -> dict[str, str]:
    """The probes grading `parts` needs, run once: capability → why, for each that fails."""
    return missing(run_probes(needed(rubric, parts), data_dir))


def missing(probes: dict[str, Probe]) -> dict[str, str]:
    """capability → one line why (the failure it follows from), for each failed probe."""
    return {n: f"{LABELS[root]}: {probes[root].detail} (see dlhw doctor)"
            for n, p in probes.items() if not p.ok for root in [p.cause or n]}
