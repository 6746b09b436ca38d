"""The report's format, read from the PDF compiled in the sandbox (the listings
grader/report_check.py makes): the body font (the font and size carrying most text) must be Times
at 10pt, the page letter or A4, and the body's lines must sit in two columns.

Two columns are judged over every line of body text on every page: a line crosses the middle of
its page's text block when one of its body-font runs covers it. In two columns only a few lines
do (none but a stray wide line); in one column nearly all do. Pages whose body text is much
narrower than the widest page's (the last page of two columns, holding its left column only)
are not judged: their middle is not the text block's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_XML_LINES = 400_000
_FONTSPEC = re.compile(r'<fontspec id="(\d{1,6})" size="(-?\d{1,6}(?:\.\d{1,6})?)" '
                       r'family="([^"]{0,200})"')
_TEXT = re.compile(r'<text top="(-?\d{1,9})" left="(-?\d{1,9})" width="(-?\d{1,9})" '
                   r'height="(-?\d{1,9})" font="(\d{1,6})">')
_PAGE = re.compile(r'<page number="(\d{1,6})" [^>]{0,200}height="(\d{1,6})" width="(\d{1,6})"')
_NARROW = 0.75  # a page whose body is narrower than this share of the widest is not judged


@dataclass(frozen=True)
class Format:
    """What the report's PDF must show (from the rubric)."""

    body_fonts: tuple[str, ...] = ("NimbusRom", "TeXGyreTermes", "Times")
    font_size_pt: float = 10.0
    page_sizes: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"letter": (612.0, 792.0), "A4": (595.0, 842.0)})
    max_spanning: float = 0.25  # share of the body's lines allowed to cross the middle
    min_lines: int = 20  # lines of body text the columns are judged over, at least
    time_limit_s: float = 60.0
    memory_limit_mb: int = 2048


@dataclass(frozen=True)
class _Run:
    page: int
    top: int
    left: float
    right: float
    font: tuple[str, float]  # family, size


def family(name: str) -> str:
    """`NimbusRomNo9L-Regu` from `GEOQPK+NimbusRomNo9L-Regu` (the subset prefix dropped)."""
    return name.split("+", 1)[1] if len(name) > 7 and name[6] == "+" else name


def _read(layout_xml: bytes) -> tuple[list[_Run], dict[int, tuple[float, float]]]:
    """pdftohtml's text runs (at zoom 1: points) and each page's width and height."""
    fonts: dict[str, tuple[str, float]] = {}
    pages: dict[int, tuple[float, float]] = {}
    runs: list[_Run] = []
    page = 0
    for line in layout_xml.decode("utf-8", "replace").splitlines()[:MAX_XML_LINES]:
        line = line[:2000]
        if m := _PAGE.match(line):
            page = int(m[1])
            pages[page] = (float(m[3]), float(m[2]))
        elif m := _FONTSPEC.match(line.lstrip()):
            fonts[m[1]] = (family(m[3]), float(m[2]))
        elif (m := _TEXT.match(line)) and m[5] in fonts and page in pages:
            left, width = float(m[2]), max(float(m[3]), 0.0)
            runs.append(_Run(page, int(m[1]) + int(m[4]), left, left + width, fonts[m[5]]))
    return runs, pages


def check_pdf(fonts_txt: bytes, layout_xml: bytes, fmt: Format) -> dict[str, tuple[bool, str]]:
    """Times body font, 10pt, the page size and two columns, each (passed, what was found)."""
    runs, pages = _read(layout_xml)
    if not runs or not pages:
        return {"text": (False, "the PDF holds no text")}
    weight: dict[tuple[str, float], float] = {}
    for r in runs:
        weight[r.font] = weight.get(r.font, 0.0) + r.right - r.left
    body, size = body_font = max(weight, key=lambda f: weight[f])
    listed = [family(ln.split()[0]) for ln in fonts_txt.decode("utf-8", "replace")
              .splitlines()[2:200] if ln.split()]
    times = any(body.lower().startswith(f.lower()) for f in fmt.body_fonts)
    out: dict[str, tuple[bool, str]] = {}
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
    out["two columns"] = _columns([r for r in runs if r.font == body_font], fmt)
    return out


def _columns(body: list[_Run], fmt: Format) -> tuple[bool, str]:
    """The share of the body's lines that cross the middle of their page's text block, over
    the pages as wide as the widest. Runs sharing a page and baseline are one line if one of
    them crosses the middle, else a line on each side that holds one (the two columns' lines
    share baselines)."""
    block: dict[int, tuple[float, float]] = {}
    for r in body:
        lo, hi = block.get(r.page, (r.left, r.right))
        block[r.page] = (min(lo, r.left), max(hi, r.right))
    widest = max(hi - lo for lo, hi in block.values())
    judged = {p for p, (lo, hi) in block.items() if hi - lo >= _NARROW * widest}
    sides: dict[tuple[int, int], set[str]] = {}
    for r in body:
        if r.page in judged:
            mid = sum(block[r.page]) / 2
            side = "both" if r.left < mid < r.right else "left" if r.right <= mid else "right"
            sides.setdefault((r.page, r.top), set()).add(side)
    crossing = sum("both" in s for s in sides.values())
    lines = crossing + sum(len(s) for s in sides.values() if "both" not in s)
    if lines < fmt.min_lines:
        return False, (f"{lines} lines of body text: too few to judge the columns "
                       f"(at least {fmt.min_lines})")
    share = crossing / lines
    two = share <= fmt.max_spanning
    return two, (f"{share:.0%} of the {lines} lines of body text cross the middle of "
                 f"the text block" + ("" if two else
                                      f" (expected two columns: at most "
                                      f"{fmt.max_spanning:.0%})"))
