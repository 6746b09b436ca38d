"""Part C's report (Part 7): report.tex compiled in the sandbox, its PDF checked for the format
the homework asks (grader/report_check.py); each check earns an equal share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction

import yaml

from core.yamlnodes import NodeReader
from grader.findings import Finding
from grader.kinds.base import Evidence, Item, Kind, mark, not_run
from grader.report_check import Format, ReportCheck, compile_and_check
from grader.results import ItemMark, Status
from grader.submission import Submission

NEEDS = {"sandbox", "pdflatex", "poppler"}


class ReportKind(Kind):
    name = "report"
    fields = frozenset({"body_fonts", "font_size_pt", "page_sizes", "max_spanning"})
    sandboxed = True

    def read(self, r: NodeReader, m: dict[str, yaml.Node], where: str) -> Format:
        """The PDF's expectations (report_check.Format's fields; its defaults where absent)."""
        out: dict[str, object] = {}
        if "body_fonts" in m:
            out["body_fonts"] = tuple(r.string(n, f"{where}.body_fonts")
                                      for n in r.seq(m["body_fonts"], f"{where}.body_fonts"))
        if "font_size_pt" in m:
            out["font_size_pt"] = float(r.number(m["font_size_pt"], f"{where}.font_size_pt",
                                                 5, 30))
        if "max_spanning" in m:
            out["max_spanning"] = float(r.number(m["max_spanning"], f"{where}.max_spanning",
                                                 0, 1))
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

    def needs(self, item: Item) -> set[str]:
        return set(NEEDS)

    def file(self, item: Item) -> str:
        return "report.tex"

    def submitted(self, sub: Submission, item: Item) -> bool:
        return sub.report is not None

    def _checked(self, item: Item, ev: Evidence) -> ReportCheck | None:
        if ev.sub.report is None:
            return None
        report = ev.sub.report
        fmt = replace(item.config, time_limit_s=item.limits.time_limit_s,
                      memory_limit_mb=item.limits.memory_limit_mb) if item.limits else item.config
        return ev.memo(f"report:{item.id}",
                       lambda: compile_and_check(report, fmt, assets=ev.sub.path))

    def gather(self, item: Item, ev: Evidence) -> None:
        self._checked(item, ev)

    def grade(self, item: Item, ev: Evidence) -> ItemMark:
        r = self._checked(item, ev)
        if r is None:
            return mark(item, Fraction(0), Status.ABSENT, "report.tex not submitted: 0 marks")
        if r.fault:
            return not_run(item, r.error)
        if not r.compiled:
            return mark(item, Fraction(0), Status.WRONG, f"report.tex does not compile: "
                        f"{r.error}: 0 marks")
        passed = sum(ok for ok, _ in r.checks.values())
        share = Fraction(passed, len(r.checks))
        parts = [f"{name}: {'yes' if ok else 'NO'} ({why})" for name, (ok, why) in
                 r.checks.items()]
        status = Status.CORRECT if share == 1 else Status.WRONG if passed == 0 else \
            Status.PARTIAL
        return mark(item, share, status, "compiled in the sandbox; " + "; ".join(parts),
                    checks={k: ok for k, (ok, _) in r.checks.items()})

    def check(self, item: Item, ev: Evidence) -> Iterator[Finding]:
        r = self._checked(item, ev)
        if r is None:
            return
        if not r.compiled:
            if r.fault:
                yield Finding("warning", "report.tex", "", f"not checked: "
                              f"{r.error.removeprefix('not run: ')} (grading will compile it)")
            else:
                yield Finding("problem", "report.tex", "", f"does not compile: {r.error}")
            return
        yield Finding("ok", "report.tex", "", "compiles in the sandbox")
        for name, (ok, why) in r.checks.items():
            yield Finding("ok" if ok else "problem", "report.tex", name, why)
