"""Part C's report (Part 7): the LaTeX report compiled in the sandbox (grader/report_check.py), then
marked for what its PDF holds before how it looks.

Substance first (grader/report_content.py): the sections Part C asks for, each with body text;
the body's length; figures and tables the text refers to. Then the format (grader/report_pdf.py:
Times, 10pt, page size, two columns), whose share counts in proportion to the substance earned:
format on nothing is worth nothing. A near-empty report (fewer than `empty_words` counted words)
earns nothing and is told what it lacks. The rubric declares every threshold and share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import yaml

from core.yamlnodes import NodeReader
from grader.findings import Finding
from grader.kinds.base import Evidence, Item, Kind, mark, not_run
from grader.report_check import ReportCheck, compile_and_check
from grader.report_content import Content, Section, Substance, phrase
from grader.report_pdf import Format
from grader.results import ItemMark, Status
from grader.submission import REPORT, Submission

NEEDS = {"sandbox", "pdflatex", "poppler"}
SHARES = ("sections", "length", "figures", "format")
_FORMAT = frozenset({"body_fonts", "font_size_pt", "page_sizes", "max_spanning", "min_lines"})
_CONTENT = frozenset({"sections", "section_words", "min_words", "empty_words", "min_figures",
                      "min_tables"})


@dataclass(frozen=True)
class ReportConfig:
    format: Format
    content: Content
    shares: dict[str, Fraction]  # SHARES → share of the item's marks, summing to 1


@dataclass(frozen=True)
class Verdict:
    """A compiled report's marks, part by part (shares of the item), and what they rest on."""

    share: Fraction
    parts: list[str]  # one phrase per part, for the feedback
    empty: bool


class ReportKind(Kind):
    name = "report"
    fields = _FORMAT | _CONTENT | {"shares"}
    sandboxed = True

    def read(self, r: NodeReader, m: dict[str, yaml.Node], where: str) -> ReportConfig:
        """The rubric's thresholds (report_pdf.Format's and report_content.Content's fields;
        their defaults where absent) and the shares, which must sum to 1."""
        return ReportConfig(_read_format(r, m, where), _read_content(r, m, where),
                            _read_shares(r, m, where))

    def needs(self, item: Item) -> set[str]:
        return set(NEEDS)

    def file(self, item: Item) -> str:
        return REPORT

    def submitted(self, sub: Submission, item: Item) -> bool:
        return sub.report is not None

    def _checked(self, item: Item, ev: Evidence) -> ReportCheck | None:
        if ev.sub.report is None:
            return None
        report, cfg = ev.sub.report, item.config
        fmt = replace(cfg.format, time_limit_s=item.limits.time_limit_s,
                      memory_limit_mb=item.limits.memory_limit_mb) if item.limits else cfg.format
        return ev.memo(f"report:{item.id}",
                       lambda: compile_and_check(report, fmt, cfg.content, assets=ev.sub.path))

    def gather(self, item: Item, ev: Evidence) -> None:
        self._checked(item, ev)

    def grade(self, item: Item, ev: Evidence) -> ItemMark:
        r = self._checked(item, ev)
        if r is None:
            return mark(item, Fraction(0), Status.ABSENT, f"{REPORT} not submitted: 0 marks")
        if r.fault:
            return not_run(item, r.error)
        if not r.compiled or r.substance is None:
            return mark(item, Fraction(0), Status.WRONG, f"{REPORT} does not compile: "
                        f"{r.error}: 0 marks")
        v = verdict(item.config, r)
        status = Status.CORRECT if v.share == 1 else Status.WRONG if v.share == 0 else \
            Status.PARTIAL
        lead = "near-empty: 0 marks; " if v.empty else ""
        return mark(item, v.share, status, f"compiled in the sandbox; {lead}" + "; ".join(v.parts),
                    **detail(item.config.content, r))

    def check(self, item: Item, ev: Evidence) -> Iterator[Finding]:
        r = self._checked(item, ev)
        if r is None:
            return
        if not r.compiled or r.substance is None:
            if r.fault:
                yield Finding("warning", REPORT, "", f"not checked: "
                              f"{r.error.removeprefix('not run: ')} (grading will compile it)")
            else:
                yield Finding("problem", REPORT, "", f"does not compile: {r.error}")
            return
        yield Finding("ok", REPORT, "", "compiles in the sandbox")
        yield from findings(item.config, r.substance)
        for name, (ok, why) in r.checks.items():
            yield Finding("ok" if ok else "problem", REPORT, name, why)


# ---------------------------------------------------------------- marking


def verdict(cfg: ReportConfig, r: ReportCheck) -> Verdict:
    """Substance (sections, length, figures and tables), then the format scaled by it."""
    c, s, w = cfg.content, r.substance, cfg.shares
    assert s is not None
    sections, missing = _sections(c, s)
    if s.words < c.empty_words:
        return Verdict(Fraction(0), [f"{_words(s.words)} of body text (fewer than "
                                     f"{c.empty_words}; {c.min_words} asked)", missing,
                                     "format not judged"], True)
    length = Fraction(min(s.words, c.min_words), max(c.min_words, 1))
    floats = (_enough(s.figures[1], c.min_figures) + _enough(s.tables[1], c.min_tables)) / 2
    substance = w["sections"] * sections + w["length"] * length + w["figures"] * floats
    scale = substance / (1 - w["format"]) if w["format"] < 1 else Fraction(1)
    passed = sum(ok for ok, _ in r.checks.values())
    fmt = Fraction(passed, max(len(r.checks), 1))
    share = substance + w["format"] * fmt * scale
    checks = "; ".join(f"{name}: {'yes' if ok else 'NO'} ({why})"
                       for name, (ok, why) in r.checks.items())
    return Verdict(share, [
        missing, f"{_words(s.words)} of body text ({c.min_words} for the length's share)",
        f"figures referenced: {s.figures[1]} of {c.min_figures} asked ({s.figures[0]} "
        f"captioned); tables referenced: {s.tables[1]} of {c.min_tables} asked "
        f"({s.tables[0]} captioned)",
        f"format: {passed} of {len(r.checks)} checks, counted at {float(scale):.0%} (the "
        f"substance's share): {checks}"], False)


def _words(n: int) -> str:
    return f"{n} word" if n == 1 else f"{n} words"


def _enough(n: int, asked: int) -> Fraction:
    return Fraction(min(n, asked), asked) if asked > 0 else Fraction(1)


def _sections(c: Content, s: Substance) -> tuple[Fraction, str]:
    """The share of required sections present with body text, and a phrase naming the rest."""
    if not c.sections:
        return Fraction(1), "no sections asked"
    absent = [x.title for x in c.sections if x.id not in s.found]
    short = [f"{x.title} ({_words(s.found[x.id].words or 0)})" for x in c.sections
             if x.id in s.found and (s.found[x.id].words or 0) < c.section_words]
    present = len(c.sections) - len(absent) - len(short)
    text = f"sections: {present} of {len(c.sections)} with at least {c.section_words} words"
    if absent:
        text += f"; missing: {', '.join(absent)}"
    if short:
        text += f"; too short: {', '.join(short)}"
    return Fraction(present, len(c.sections)), text


def detail(c: Content, r: ReportCheck) -> dict[str, object]:
    """What the mark rests on, for the instructor's JSON."""
    s = r.substance
    assert s is not None
    return {"words": s.words, "figures": list(s.figures), "tables": list(s.tables),
            "sections": {x.id: s.found[x.id].words if x.id in s.found else None
                         for x in c.sections},
            "checks": {k: ok for k, (ok, _) in r.checks.items()}}


def findings(cfg: ReportConfig, s: Substance) -> Iterator[Finding]:
    """What `dlhw check` says of the report's substance: never a mark."""
    c = cfg.content
    for x in c.sections:
        h = s.found.get(x.id)
        if h is None:
            yield Finding("problem", REPORT, "sections", f"{x.title}: no heading names "
                          f"it (a numbered \\section or \\subsection holding one of: "
                          f"{', '.join(x.words)})")
        elif (h.words or 0) < c.section_words:
            yield Finding("problem", REPORT, "sections", f"{x.title}: \"{h.title}\" "
                          f"holds {_words(h.words or 0)} (at least {c.section_words} asked)")
        else:
            yield Finding("ok", REPORT, "sections", f"{x.title}: \"{h.title}\", "
                          f"{h.words} words")
    yield Finding("ok" if s.words >= c.min_words else "problem", REPORT, "words",
                  f"{_words(s.words)} of body text, a repeated passage counted once "
                  f"({c.min_words} asked)")
    for name, (captioned, referenced), asked in (("figures", s.figures, c.min_figures),
                                                  ("tables", s.tables, c.min_tables)):
        yield Finding("ok" if referenced >= asked else "problem", REPORT, name,
                      f"{referenced} referenced in the text of {captioned} captioned "
                      f"({asked} asked)")


# ---------------------------------------------------------------- the rubric


def _read_format(r: NodeReader, m: dict[str, yaml.Node], where: str) -> Format:
    out: dict[str, object] = {}
    if "body_fonts" in m:
        out["body_fonts"] = tuple(r.string(n, f"{where}.body_fonts")
                                  for n in r.seq(m["body_fonts"], f"{where}.body_fonts"))
    if "font_size_pt" in m:
        out["font_size_pt"] = float(r.number(m["font_size_pt"], f"{where}.font_size_pt", 5, 30))
    if "max_spanning" in m:
        out["max_spanning"] = float(r.number(m["max_spanning"], f"{where}.max_spanning", 0, 1))
    if "min_lines" in m:
        out["min_lines"] = int(r.number(m["min_lines"], f"{where}.min_lines", 1, 10_000))
    if "page_sizes" in m:
        sizes = {}
        for name, node in r.mapping(m["page_sizes"], f"{where}.page_sizes").items():
            wh = r.seq(node, f"{where}.page_sizes.{name}")
            if len(wh) != 2:
                raise r.fail(node, f"{where}.page_sizes.{name}",
                             "expected [width, height] in points")
            sizes[name] = tuple(float(r.number(n, f"{where}.page_sizes.{name}", 72, 5000))
                                for n in wh)
        out["page_sizes"] = sizes
    return Format(**out)  # type: ignore[arg-type]


def _required(r: NodeReader, m: dict[str, yaml.Node], where: str, key: str,
              what: str) -> yaml.Node:
    if key not in m:
        raise r.fail(next(iter(m.values()), None), f"{where}.{key}",
                     f"missing required field ({what})")
    return m[key]


def _read_content(r: NodeReader, m: dict[str, yaml.Node], where: str) -> Content:
    out: dict[str, object] = {}
    for key in sorted(_CONTENT - {"sections"}):
        if key in m:
            out[key] = r.integer(m[key], f"{where}.{key}")
            if out[key] < 0:  # type: ignore[operator]
                raise r.fail(m[key], f"{where}.{key}", "expected a count >= 0")
    node = _required(r, m, where, "sections", "the sections Part C asks the report to hold, "
                     "each with its title and words")
    sections = []
    for sid, sec in r.pairs(node, f"{where}.sections"):
        at = f"{where}.sections.{sid}"
        s = r.mapping(sec, at, required={"title", "words"}, optional=set())
        words = tuple(phrase(r.string(n, f"{at}.words")) for n in r.seq(s["words"],
                                                                         f"{at}.words"))
        if not words or not all(words):
            raise r.fail(s["words"], f"{at}.words", "expected words with a letter or digit")
        sections.append(Section(sid, r.string(s["title"], f"{at}.title"), words))
    return Content(sections=tuple(sections), **out)  # type: ignore[arg-type]


def _read_shares(r: NodeReader, m: dict[str, yaml.Node], where: str) -> dict[str, Fraction]:
    node = _required(r, m, where, "shares", f"the shares of {', '.join(SHARES)}, summing to 1")
    given = r.mapping(node, f"{where}.shares", required=set(SHARES), optional=set())
    shares = {k: r.number(given[k], f"{where}.shares.{k}", 0, 1) for k in SHARES}
    if sum(shares.values()) != 1:
        raise r.fail(node, f"{where}.shares", f"expected shares summing to 1, got "
                     f"{float(sum(shares.values())):g}")
    return shares
