"""The Part 7 report: compiled in the sandbox from the submitted source, then read from that PDF.

One sandboxed run compiles `report.tex` with pdflatex (`-no-shell-escape`, paranoid
`openin_any`/`openout_any`: no absolute paths, no parent folders, no dot files; a time limit)
under a job name of the grader's (`JOB`), so the PDF read is the one this run wrote: no file of
the submission is copied in under that name or as `report.pdf` (a PDF handed in is never used),
and the log must say it wrote `JOB.pdf`. pdflatex runs a second time when the log asks (cross
references). A run whose exit status is not 0, or whose log holds an error, did not compile,
PDF or not. Then the poppler tools list the PDF, up to `PAGES` pages: `pdffonts` (the fonts),
`pdftohtml -xml` (every text run with its position, size and font, at zoom 1: points) and
`pdftotext -raw` (the text in the order it was typeset). The grader reads those listings and the
.aux file: grader/report_content.py what the report says (words, sections, figures and tables),
grader/report_pdf.py its format. The student's LaTeX is never parsed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader import sandbox
from grader.report_content import Content, Substance, analyse
from grader.report_pdf import Format, check_pdf

__all__ = ["ASSET_SUFFIXES", "Content", "Format", "MAX_ASSETS", "MAX_ASSET_BYTES", "ReportCheck",
           "compile_and_check", "refused_asset"]

# Files of the submission's top folder that a report may use (figures, bibliography, parts).
ASSET_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".eps", ".tex", ".bib", ".bbl")
MAX_ASSETS = 40
MAX_ASSET_BYTES = 8 * 1024 * 1024
TEX_BINDS = ("/etc/texmf", "/var/lib/texmf")
TOOL_PACKAGES = {"pdflatex": "texlive-latex-base texlive-publishers texlive-fonts-recommended",
                 "pdffonts": "poppler-utils", "pdftohtml": "poppler-utils",
                 "pdftotext": "poppler-utils"}  # Debian's TeX Live: configuration, formats, ls-R
JOB = "dlhw-compiled"  # the job name: the PDF compiled here is JOB.pdf
PAGES = 30  # pages whose text is read
_CAP = 8_000_000  # bytes of a listing brought back

_OPENED = re.compile(r"\([^\s!]{1,300}! ")  # `(./report.tex! Unable to read ...`
_TOOLS = ("pdflatex", "pdffonts", "pdftohtml", "pdftotext")
# The tools first: without one, nothing says anything about the student's report. A BibTeX
# bibliography made for report.tex (report.bbl) is read under the job's name. Every file comes
# back as a frame of the grader's channel (grader.channel): fd 3.
_SCRIPT = rf"""
send() {{ printf '%s\n%020d\n' "$1" "$(wc -c < "$2")" >&3; cat "$2" >&3; }}
work=$(mktemp -d) && cd "$work" || exit 1  # a folder of its own, in either isolation
for tool in {" ".join(_TOOLS)}; do
  command -v $tool >/dev/null || {{ echo $tool > missing; send missing missing; exit 0; }}
done
echo ready > ready; send ready ready
cp /in/* . 2>/dev/null
rm -f {JOB}.*
[ -f report.bbl ] && cp report.bbl {JOB}.bbl
latex() {{
  pdflatex -no-shell-escape -interaction=nonstopmode -halt-on-error -jobname={JOB} report.tex \
    >tex.out 2>&1
  echo $? > rc
}}
latex
if [ "$(cat rc)" = 0 ] && grep -q "Rerun to get" {JOB}.log 2>/dev/null; then latex; fi
send rc rc
head -c 200000 {JOB}.log > log.out 2>/dev/null; send report.log log.out
head -c 1000000 {JOB}.aux > aux.out 2>/dev/null; send report.aux aux.out
tail -c 20000 tex.out > tail.out; send tex.out tail.out
if [ -f {JOB}.pdf ]; then
  pdffonts -l {PAGES} {JOB}.pdf > fonts.txt 2>/dev/null; send fonts.txt fonts.txt
  pdftohtml -xml -i -q -zoom 1 -f 1 -l {PAGES} -stdout {JOB}.pdf 2>/dev/null \
    | head -c {_CAP} > layout.xml
  send layout.xml layout.xml
  pdftotext -raw -enc UTF-8 -f 1 -l {PAGES} {JOB}.pdf - 2>/dev/null | head -c {_CAP} > text.txt
  send text.txt text.txt
fi
exit 0
"""


@dataclass(frozen=True)
class ReportCheck:
    compiled: bool
    error: str  # why it did not compile: the log's first error, or the sandbox's reason
    checks: dict[str, tuple[bool, str]]  # the format's checks: name → (passed, what was found)
    substance: Substance | None = None  # what the compiled report holds
    seconds: float = 0.0
    returned: tuple[str, ...] = ()  # the files that came back from the sandbox
    fault: bool = False  # not compiled for the grader's reason (no sandbox, no TeX): no mark


def refused_asset(name: str) -> str | None:
    """Why a file of the submission's top folder is not given to the compilation, or None:
    report.tex's PDF and the job's files are made there, never taken."""
    if name == "report.pdf":
        return "an output of report.tex: the grader compiles its own"
    if name.startswith(JOB):
        return f"a name the grader's compilation writes ({JOB}.*)"
    return None


def _inputs(report: Path, folder: Path) -> dict[str, bytes | Path]:
    """report.tex and the figures and parts at the top of `folder` (links never followed)."""
    inputs: dict[str, bytes | Path] = {"report.tex": report}
    with os.scandir(folder) as entries:
        found = sorted((e for e in entries if e.is_file(follow_symlinks=False)
                        and e.name != "report.tex" and refused_asset(e.name) is None
                        and e.name.lower().endswith(ASSET_SUFFIXES)), key=lambda e: e.name)
    for e in found[:MAX_ASSETS]:
        if e.stat(follow_symlinks=False).st_size <= MAX_ASSET_BYTES:
            inputs[e.name] = Path(e.path)  # copied without following links (sandbox.run)
    return inputs


def compile_and_check(report: Path, fmt: Format, content: Content | None = None,
                      assets: Path | None = None) -> ReportCheck:
    """Compile `report` in the sandbox, with the figures and parts found at the top of the
    folder `assets` (the submission; default: the report's folder), and read its PDF: the
    format's checks (`fmt`) and what it holds (`content`'s sections)."""
    limits = sandbox.Limits(wall_s=fmt.time_limit_s, cpu_s=int(fmt.time_limit_s) + 1,
                            memory_mb=fmt.memory_limit_mb, processes=32, file_mb=16)
    out = sandbox.run(["/bin/sh", "-c", _SCRIPT], limits=limits,
                      inputs=_inputs(report, assets if assets is not None else report.parent),
                      ro_binds=[b for b in TEX_BINDS if Path(b).is_dir()],
                      env={"openin_any": "p", "openout_any": "p", "shell_escape": "f",
                           "TEXMFVAR": "/tmp/texmf-var", "TEXMFCONFIG": "/tmp/texmf-config"})
    if out.status in ("unavailable", "starved"):
        return ReportCheck(False, f"not run: {out.reason}", {}, fault=True)
    files = out.files
    names = tuple(sorted(files))
    if "missing" in files:
        tool = files["missing"].decode("ascii", "replace").strip()[:40]
        return ReportCheck(False, f"not run: {tool} is not installed (apt-get install "
                           f"{TOOL_PACKAGES.get(tool, tool)})", {}, None, out.seconds, names, True)
    if "ready" not in files:
        why = out.reason or " ".join(out.stderr.split())[-200:] or out.status
        return ReportCheck(False, f"not run: the sandbox did not start the compilation ({why})",
                           {}, None, out.seconds, names, True)
    if out.status != "ok":
        return ReportCheck(False, f"compilation stopped: {out.reason}"
                           + _first_error(files.get("report.log", b"")), {}, None, out.seconds,
                           names)
    if why := _not_compiled(files):
        return ReportCheck(False, why, {}, None, out.seconds, names)
    return ReportCheck(True, "", check_pdf(files.get("fonts.txt", b""), files["layout.xml"], fmt),
                       analyse(files.get("text.txt", b""), files.get("report.aux", b""),
                               content or Content()), out.seconds, names)


def _not_compiled(files: Mapping[str, bytes]) -> str:
    """Why the run did not compile the report ("" if it did): pdflatex's exit status, errors
    in its log, or no `JOB.pdf` written by it."""
    log = files.get("report.log", b"")
    errors = len(_errors(log.decode("utf-8", "replace").splitlines()))
    shown = log if errors else files.get("tex.out", b"")
    rc = files.get("rc", b"?").decode("ascii", "replace").strip()[:10]
    if rc != "0" or errors:
        return (f"pdflatex stopped with an error (exit status {rc}, {errors} error(s) in its "
                f"log)" + _first_error(shown))
    if f"Output written on {JOB}.pdf".encode() not in log.replace(b"\n", b"") or \
            "layout.xml" not in files:
        return "pdflatex produced no PDF" + _first_error(shown)
    return ""


def _errors(lines: list[str]) -> list[int]:
    """The lines of a TeX log that report an error (`! ...`, or `(./file! ...`)."""
    return [i for i, line in enumerate(lines) if line.startswith("!") and not
            line.startswith("!  ==> Fatal error") or _OPENED.match(line)]


def _first_error(log: bytes) -> str:
    """`: ! Undefined control sequence. (line 12)` from a TeX log, or nothing."""
    lines = log.decode("utf-8", "replace").splitlines()
    for i in _errors(lines)[:1]:
        line = lines[i][lines[i].find("!"):]
        where = next((ln.split(" ", 1)[0] for ln in lines[i + 1:i + 8]
                      if ln.startswith("l.") and ln[2:3].isdigit()), "")
        msg = " ".join(line.split())[:160]
        return f": {msg}" + (f" (line {where[2:]})" if where else "")
    return ""
