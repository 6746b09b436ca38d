"""The Part 7 report: compiled in the sandbox, then checked from the PDF, never from the source.

One sandboxed run compiles `report.tex` with pdflatex (`-no-shell-escape`, paranoid
`openin_any`/`openout_any`: no absolute paths, no parent folders, no dot files; a time limit)
and runs the poppler tools on the PDF it made: `pdffonts` (the fonts), `pdftohtml -xml` (every
text run with its position, size and font, at zoom 1 so sizes are in points). The grader then
reads those listings here: the body font (the one carrying most text) must be Times, its size
10pt, the page letter or A4, and the text must sit in two columns (hardly any line crosses the
page's middle, and both halves hold text). What the student's LaTeX writes is never parsed
beyond these tool outputs, with linear patterns on capped lines.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader import sandbox

# Files of the submission's top folder that a report may use (figures, bibliography, parts).
ASSET_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".eps", ".tex", ".bib", ".bbl")
MAX_ASSETS = 40
MAX_ASSET_BYTES = 8 * 1024 * 1024
TEX_BINDS = ("/etc/texmf", "/var/lib/texmf")
TOOL_PACKAGES = {"pdflatex": "texlive-latex-base texlive-publishers texlive-fonts-recommended",
                 "pdffonts": "poppler-utils", "pdftohtml": "poppler-utils",
                 "pdftotext": "poppler-utils"}  # Debian's TeX Live: configuration, formats, ls-R
_PAGES = 3  # pages whose text is analysed

_TOOLS = ("pdflatex", "pdffonts", "pdftohtml", "pdftotext")
# The tools first: without one, nothing says anything about the student's report. Every file
# comes back as a frame of the grader's channel (grader.channel): fd 3.
_SCRIPT = rf"""
send() {{ printf '%s\n%020d\n' "$1" "$(wc -c < "$2")" >&3; cat "$2" >&3; }}
work=$(mktemp -d) && cd "$work" || exit 1  # a folder of its own, in either isolation
for tool in {" ".join(_TOOLS)}; do
  command -v $tool >/dev/null || {{ echo $tool > missing; send missing missing; exit 0; }}
done
echo ready > ready; send ready ready
cp /in/* . 2>/dev/null
pdflatex -no-shell-escape -interaction=nonstopmode -halt-on-error report.tex >tex.out 2>&1
echo $? > rc; send rc rc
head -c 200000 report.log > log.out 2>/dev/null; send report.log log.out
tail -c 20000 tex.out > tail.out; send tex.out tail.out
if [ -f report.pdf ]; then
  pdffonts report.pdf > fonts.txt 2>/dev/null; send fonts.txt fonts.txt
  pdftohtml -xml -i -q -zoom 1 -f 1 -l {_PAGES} -stdout report.pdf > layout.xml 2>/dev/null
  send layout.xml layout.xml
  pdftotext -bbox -f 1 -l {_PAGES} report.pdf words.html 2>/dev/null; send words.html words.html
fi
exit 0
"""

_FONTSPEC = re.compile(r'<fontspec id="(\d{1,6})" size="(-?\d{1,6}(?:\.\d{1,6})?)" '
                       r'family="([^"]{0,200})"')
_TEXT = re.compile(r'<text top="(-?\d{1,9})" left="(-?\d{1,9})" width="(-?\d{1,9})" '
                   r'height="(-?\d{1,9})" font="(\d{1,6})">')
_PAGE = re.compile(r'<page number="(\d{1,6})" [^>]{0,200}height="(\d{1,6})" width="(\d{1,6})"')
_NUM = r'"(-?\d{1,9}(?:\.\d{1,9})?)"'
_BBOX_PAGE = re.compile(rf'\s{{0,20}}<page width={_NUM} height={_NUM}>')
_WORD = re.compile(rf'\s{{0,20}}<word xMin={_NUM} yMin={_NUM} xMax={_NUM} yMax={_NUM}>')


@dataclass(frozen=True)
class Format:
    """What the report's PDF must show (from the rubric)."""

    body_fonts: tuple[str, ...] = ("NimbusRom", "TeXGyreTermes", "Times")
    font_size_pt: float = 10.0
    page_sizes: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"letter": (612.0, 792.0), "A4": (595.0, 842.0)})
    max_spanning: float = 0.25  # share of the text allowed to cross the page's middle
    time_limit_s: float = 60.0
    memory_limit_mb: int = 2048


@dataclass(frozen=True)
class ReportCheck:
    compiled: bool
    error: str  # why it did not compile: the log's first error, or the sandbox's reason
    checks: dict[str, tuple[bool, str]]  # name → (passed, what was found)
    seconds: float = 0.0
    returned: tuple[str, ...] = ()  # the files that came back from the sandbox
    fault: bool = False  # not compiled for the grader's reason (no sandbox, no TeX): no mark


def compile_and_check(report: Path, fmt: Format, assets: Path | None = None) -> ReportCheck:
    """Compile `report` in the sandbox, with the figures and parts found at the top of the
    folder `assets` (the submission; default: the report's folder), and check its PDF."""
    inputs: dict[str, bytes | Path] = {"report.tex": report}
    folder = assets if assets is not None else report.parent
    with os.scandir(folder) as entries:
        found = sorted((e for e in entries if e.is_file(follow_symlinks=False)
                        and e.name != "report.tex"
                        and e.name.lower().endswith(ASSET_SUFFIXES)), key=lambda e: e.name)
    for e in found[:MAX_ASSETS]:
        if e.stat(follow_symlinks=False).st_size <= MAX_ASSET_BYTES:
            inputs[e.name] = Path(e.path)  # copied without following links (sandbox.run)
    limits = sandbox.Limits(wall_s=fmt.time_limit_s, cpu_s=int(fmt.time_limit_s) + 1,
                            memory_mb=fmt.memory_limit_mb, processes=32, file_mb=16)
    out = sandbox.run(["/bin/sh", "-c", _SCRIPT], limits=limits, inputs=inputs,
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
                           f"{TOOL_PACKAGES.get(tool, tool)})", {}, out.seconds, names, True)
    if "ready" not in files:
        why = out.reason or " ".join(out.stderr.split())[-200:] or out.status
        return ReportCheck(False, f"not run: the sandbox did not start the compilation ({why})",
                           {}, out.seconds, names, True)
    if out.status != "ok":
        return ReportCheck(False, f"compilation stopped: {out.reason}"
                           + _first_error(files.get("report.log", b"")), {}, out.seconds, names)
    log = files.get("report.log", b"")
    if b"\n!" not in log and b"! " not in log:
        log = files.get("tex.out", b"")
    if "layout.xml" not in files:
        rc = files.get("rc", b"?").decode("ascii", "replace").strip()[:10]
        return ReportCheck(False, f"pdflatex produced no PDF (exit status {rc})"
                           + _first_error(log), {}, out.seconds, names)
    return ReportCheck(True, "", check_pdf(files.get("fonts.txt", b""), files["layout.xml"],
                                           files.get("words.html", b""), fmt), out.seconds, names)


def _first_error(log: bytes) -> str:
    """`: ! Undefined control sequence. (line 12)` from a TeX log, or nothing."""
    lines = log.decode("utf-8", "replace").splitlines()
    for i, line in enumerate(lines):
        k = line.find("!")
        if k == 0 or k > 0 and line.startswith("("):  # "(./report.tex! Unable to read ..."
            line = line[k:]
            where = next((ln.split(" ", 1)[0] for ln in lines[i + 1:i + 8]
                          if ln.startswith("l.") and ln[2:3].isdigit()), "")
            msg = " ".join(line.split())[:160]
            return f": {msg}" + (f" (line {where[2:]})" if where else "")
    return ""


def _family(name: str) -> str:
    """`NimbusRomNo9L-Regu` from `GEOQPK+NimbusRomNo9L-Regu` (the subset prefix dropped)."""
    return name.split("+", 1)[1] if len(name) > 7 and name[6] == "+" else name


def check_pdf(fonts_txt: bytes, layout_xml: bytes, words_html: bytes,
              fmt: Format) -> dict[str, tuple[bool, str]]:
    """Times body font, 10pt and the page size from pdftohtml's text runs (the font carrying
    most text is the body's); two columns from pdftotext's word boxes."""
    fonts: dict[str, tuple[str, float]] = {}
    pages: dict[int, tuple[float, float]] = {}
    weight: Counter[str] = Counter()
    page = 0
    for line in layout_xml.decode("utf-8", "replace").splitlines()[:200_000]:
        line = line[:2000]
        if m := _PAGE.match(line):
            page = int(m[1])
            pages[page] = (float(m[3]), float(m[2]))
        elif m := _FONTSPEC.match(line.lstrip()):
            fonts[m[1]] = (_family(m[3]), float(m[2]))
        elif (m := _TEXT.match(line)) and m[5] in fonts and page in pages:
            weight[m[5]] += max(float(m[3]), 0.0)
    if not weight or not pages:
        return {"text": (False, "the PDF holds no text")}
    out: dict[str, tuple[bool, str]] = {}
    body, size = fonts[weight.most_common(1)[0][0]]
    listed = [_family(ln.split()[0]) for ln in fonts_txt.decode("utf-8", "replace")
              .splitlines()[2:200] if ln.split()]
    times = any(body.lower().startswith(f.lower()) for f in fmt.body_fonts)
    out["Times"] = (times, f"body font {body}" + ("" if times else
                    f" (expected {' or '.join(fmt.body_fonts)}; fonts: "
                    f"{', '.join(sorted(set(listed))[:6])})"))
    out["10pt"] = (abs(size - fmt.font_size_pt) <= 0.5,
                   f"body text at {size:g}pt (expected {fmt.font_size_pt:g}pt)")
    w, h = pages[min(pages)]
    named = next((n for n, (pw, ph) in fmt.page_sizes.items()
                  if abs(w - pw) <= 2 and abs(h - ph) <= 2), None)
    out["page size"] = (named is not None, f"{named} paper" if named else
                        f"{w:g} x {h:g} pt (expected {' or '.join(fmt.page_sizes)})")
    out["two columns"] = _columns(words_html, fmt.max_spanning)
    return out


def _columns(words_html: bytes, max_spanning: float) -> tuple[bool, str]:
    """Lines of text (words sharing a baseline) of which a word covers the middle of the text
    block: in one column most lines do, in two columns only the titles that span both."""
    words: list[tuple[int, float, float, float]] = []  # page, xMin, xMax, yMax
    page = 0
    for line in words_html.decode("utf-8", "replace").splitlines()[:500_000]:
        line = line[:2000]
        if _BBOX_PAGE.match(line):
            page += 1
        elif (m := _WORD.match(line)) and page:
            words.append((page, float(m[1]), float(m[3]), float(m[4])))
    if not words:
        return False, "no words found in the PDF"
    extent: dict[int, tuple[float, float]] = {}
    for p, x0, x1, _ in words:
        lo, hi = extent.get(p, (x0, x1))
        extent[p] = (min(lo, x0), max(hi, x1))
    lines: dict[tuple[int, int], bool] = {}
    for p, x0, x1, y1 in words:
        mid = sum(extent[p]) / 2
        key = (p, round(y1))
        lines[key] = lines.get(key, False) or x0 < mid < x1
    share = sum(lines.values()) / len(lines)
    two = share <= max_spanning
    return two, (f"{share:.0%} of the {len(lines)} lines of text cross the middle of the text"
                 + ("" if two else f" (expected two columns: at most {max_spanning:.0%})"))
