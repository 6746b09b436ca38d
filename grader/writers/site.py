"""The class's results as a static site: results/index.html and results/students/<stem>.html.

Built from the class's Results (the student pages show the student's own view, the JSON
writer's) and Part A's references (grader.parta), it
opens from disk with no server and no network: styles and the one script (column sorting) are
inline, plots are SVG written here. Every student text reaches the page through Jinja's
autoescaping, inside element text or quoted attributes, never inside the script; a
Content-Security-Policy allows only the page's own script and style (by hash) as a second wall.
The same rows give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import yaml
from markupsafe import Markup

from core import resources
from core.fileio import atomic_write
from core.numfmt import fmt, sig
from grader import parta
from grader.context import RunContext
from grader.results import Result, Status
from grader.writers.safe import clean, file_stem
from grader.writers.stats import Column, cell, claim_flags, item_stats, part_score, pending

# Answered, but not the reference's value; and what follow-through starts from.
WRONG = (Status.WRONG, Status.IMPRECISE, Status.FOLLOW_THROUGH, Status.CONVENTION)
Row = dict[str, object]


@dataclass(frozen=True)
class Settings:
    histogram_bins: int
    wrong_groups: int
    examples: int
    value_sigfigs: int
    match_rel: float


def load_settings(path: Path | None = None) -> Settings:
    """templates/site/site.yaml; a missing or mistyped field is one line naming it."""
    path = path or resources.path("templates", "site/site.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for name, kind in (("histogram_bins", int), ("wrong_groups", int), ("examples", int),
                       ("value_sigfigs", int), ("match_rel", float)):
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{path}: {name}: expected a positive number")
        out[name] = kind(value)
    return Settings(**out)


# ---------------------------------------------------------------- marks and statistics


def _stem(row: Row) -> str:
    """The name of the student's files under students/."""
    return str(row.get("file") or file_stem(str(row["folder"])))


def _num(x: object) -> str:
    return "" if x is None else f"{x:g}"


@dataclass
class Histogram:
    title: str
    max: float
    n: int
    mean: str
    median: str
    bars: list[dict[str, object]]  # x, y, width, height, count, label
    ticks: list[dict[str, object]]  # x, label
    pending: int = 0  # left out: a mark of theirs waits for the instructor
    width: int = 360
    height: int = 160


def histogram(title: str, values: list[float], mx: float, bins: int, waiting: int = 0
              ) -> Histogram:
    """Counts of `values` in `bins` equal bins over [0, mx] (the last closed), laid out as SVG
    coordinates: a plot area of 320 x 120 with room for the axis labels."""
    left, top, w, h = 30, 10, 320, 120
    counts = [0] * bins
    for v in values:
        k = 0 if mx <= 0 else min(max(int(v / mx * bins), 0), bins - 1)
        counts[k] += 1
    peak = max(counts) or 1
    step = w / bins
    bars = []
    for k, c in enumerate(counts):
        lo, hi = mx * k / bins, mx * (k + 1) / bins
        bh = round(h * c / peak, 1)
        bars.append({"x": round(left + k * step + 1, 1), "y": round(top + h - bh, 1),
                     "width": round(step - 2, 1), "height": bh, "count": c,
                     "label": f"{fmt(lo, 3)}–{fmt(hi, 3)}{']' if k == bins - 1 else ')'}",
                     "tx": round(left + (k + 0.5) * step, 1)})
    ticks = [{"x": round(left + k * step, 1), "label": fmt(mx * k / bins, 3)}
             for k in range(0, bins + 1, max(bins // 5, 1))]
    return Histogram(title, mx, len(values),
                     f"{statistics.fmean(values):.3f}" if values else "",
                     f"{statistics.median(values):.3f}" if values else "", bars, ticks, waiting)


# ---------------------------------------------------------------- wrong answers


@dataclass
class _Wrong:
    key: tuple
    text: str  # as submitted
    status: str
    diagnosis: str
    folder: str
    stem: str


@dataclass
class WrongGroup:
    shown: str
    count: int
    statuses: str
    diagnosis: str
    examples: list[str]
    students: list[tuple[str, str]]  # (folder, stem)


@dataclass
class AnswerWrongs:
    question: str
    answer: str
    reference: str
    answered: int  # non-blank answers
    wrong: int
    groups: list[WrongGroup] = field(default_factory=list)
    more: int = 0  # groups not listed


def wrong_answers(results: list[Result], options: RunContext, settings: Settings
                  ) -> list[AnswerWrongs]:
    """For every Part A answer id, its most common wrong answers, by the group and diagnosis
    the grader gave each when marking it (grader.parta.diagnosis): the site only renders."""
    if "A" not in options.parts:
        return []
    common = parta.prepare(options.rubric)
    varied = options.course is not None
    found: dict[tuple[str, str], list[_Wrong]] = {}
    answered: Counter[tuple[str, str]] = Counter()
    for r in results:
        for q in r.items:
            if q.part != "A" or q.id not in common:
                continue
            for a in q.answers:
                if a.status != Status.BLANK:
                    answered[q.id, a.id] += 1
                if a.status in WRONG:
                    found.setdefault((q.id, a.id), []).append(_Wrong(
                        a.group, str(clean(a.submitted or "")), a.status, a.diagnosis,
                        str(clean(r.folder)), r.file))
    out = []
    for qid, ref in common.items():
        primary = ref.conventions[0].solution.answers
        for aid, spec in ref.spec.answers.items():
            items = found.get((qid, aid), [])
            groups: dict[tuple, list[_Wrong]] = {}
            for w in items:
                groups.setdefault(w.key, []).append(w)
            made = [_group(g, settings) for g in groups.values()]
            made.sort(key=lambda g: (-g.count, g.shown))
            value = primary[aid].value
            reference = sig(value, settings.value_sigfigs) \
                if spec.kind == "numeric" and value is not None \
                else str(primary[aid].exact) if spec.kind != "numeric" else ""
            if varied and ref.spec.variants:
                reference = "each student's own"
            out.append(AnswerWrongs(qid, aid, reference, answered[qid, aid],
                                    len(items), made[:settings.wrong_groups],
                                    max(len(made) - settings.wrong_groups, 0)))
    return out


def _group(members: list[_Wrong], settings: Settings) -> WrongGroup:
    texts = Counter(" ".join(m.text.split()) for m in members)
    by_text = sorted(texts, key=lambda t: (-texts[t], t))
    key = members[0].key
    shown = key[1] if key[0] in ("value", "diagnosis") else by_text[0]
    if key[0] == "diagnosis":
        shown = "(each student's own numbers)"
    diagnoses = Counter(m.diagnosis for m in members)
    best = sorted(diagnoses, key=lambda d: (-diagnoses[d], d))[0]
    statuses = Counter(m.status for m in members)
    share = "" if diagnoses[best] == len(members) else f" ({diagnoses[best]} of {len(members)})"
    return WrongGroup(shown, len(members),
                      ", ".join(f"{s} {statuses[s]}" for s in sorted(statuses)),
                      best + share, by_text[:settings.examples],
                      sorted({(m.folder, m.stem) for m in members}))


# ---------------------------------------------------------------- review and flags


@dataclass
class Waiting:
    folder: str
    stem: str
    item: str
    answer: str
    submitted: str
    why: str


def _questions(row: Row) -> dict[str, Any]:
    questions = row.get("questions")
    return questions if isinstance(questions, dict) else {}


def waiting_for_review(rows: list[Row]) -> list[Waiting]:
    """Part A answers the grader could not read, and items (a memorising model, a notebook
    doing much better on exact images than noisy ones) marked `review`."""
    out = []
    for row in rows:
        stem = _stem(row)
        for iid, q in _questions(row).items():
            answers = q.get("answers") or {}
            if q.get("part") == "A":
                out += [Waiting(str(row["folder"]), stem, iid, aid, a.get("submitted") or "",
                                a.get("feedback") or "")
                        for aid, a in answers.items() if a.get("status") == Status.REVIEW]
            elif q.get("status") == Status.REVIEW:
                out.append(Waiting(str(row["folder"]), stem, iid, "", "", q.get("feedback", "")))
    return out


@dataclass
class Flagged:
    folder: str
    stem: str
    status: str
    reasons: list[tuple[str, str]]  # (kind, text)


def flagged(results: list[Result], options: RunContext) -> list[Flagged]:
    """Submissions an instructor should look at: the result's flags and problems, and what
    each item's kind flags (a claim far from the measured value, a notebook tampered with or
    refused, a model refused); a submission invalid, incomplete or in error."""
    from grader.kinds import KINDS

    items = {i.id: i for i in options.rubric.items}
    out = []
    for r in results:
        reasons = [("flag", str(clean(f))) for f in r.flags]
        reasons += [("problem", str(clean(p))) for p in r.problems]
        for m in r.items:
            if (item := items.get(m.id)) is not None:
                reasons += [(k, str(clean(t))) for k, t in KINDS[item.kind].flags(item, m)]
        if r.status in ("invalid", "incomplete", "error") and not reasons:
            reasons.append((str(r.status), "see the student's page"))
        if reasons:
            out.append(Flagged(str(clean(r.folder)), r.file, str(r.status), reasons))
    return out


# ---------------------------------------------------------------- pages


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        [f / "site" for f in resources.search_path("templates")]), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["href"] = lambda stem: quote(str(stem), safe="") + ".html"
    env.filters["num"] = _num
    return env


def _csp(script: str, style: str) -> str:
    """Only this script and style run, whatever a page holds (hashes as CSP level 2 states)."""
    def h(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() \
            + "'"
    return (f"default-src 'none'; script-src {h(script)}; style-src {h(style)}; "
            "img-src 'none'; base-uri 'none'; form-action 'none'")


class Site:
    """results/index.html and results/students/<stem>.html for the class's results (their
    rows, `to_dict(result, folder=True)`, beside them), whose mark columns are `cols`
    (grader.writers.stats): `index()` writes the class's page, `page(k)` student k's (in any
    process, in any order: grader.writers.formats shares them out)."""

    def __init__(self, results: list[Result], rows: list[Row], out: Path,
                 options: RunContext, cols: list[Column]) -> None:
        self.results, self.rows, self.out, self.options, self.cols = (
            results, rows, out, options, cols)
        self.settings = load_settings()
        self.env = _environment()
        script = resources.path("templates", "site/sort.js").read_text(encoding="utf-8")
        style = resources.path("templates", "site/site.css").read_text(encoding="utf-8")
        self.common = {"script": Markup(script), "style": Markup(style),
                       "csp": _csp(script, style)}
        self.total_max = sum(c.max for c in cols)
        self.stems = [_stem(r) for r in rows]
        self.template = self.env.get_template("student.html.j2")

    def index(self) -> None:
        results, rows, cols, settings = self.results, self.rows, self.cols, self.settings
        parts = {c.id: c.part for c in cols}
        maxima = {c.id: c.max for c in cols}
        stats = [item_stats(results, c) for c in cols]
        # A total or part with a mark pending review is left out of its plot, and counted.
        totals = [float(r["score"]) for r, res in zip(rows, results)  # type: ignore[arg-type]
                  if r.get("score") is not None and not pending(res)]
        plots = [histogram(f"Total (out of {self.total_max:g})", totals, self.total_max,
                           settings.histogram_bins, sum(pending(r) for r in results))]
        for p in sorted(set(parts.values())):
            pc = [c for c in maxima if parts[c] == p]
            scores = [s for s in (part_score(r, pc) for r in results) if s is not None]
            plots.append(histogram(f"Part {p} (out of {sum(maxima[c] for c in pc):g})", scores,
                                   sum(maxima[c] for c in pc), settings.histogram_bins,
                                   sum(pending(r, pc) for r in results)))
        students = [{
            "folder": r["folder"], "student": r["student"], "name": r.get("name") or "",
            "stem": stem, "cells": [cell(res.item(c)) for c in maxima],
            "total": _num(r.get("score")), "status": r["status"],
            "flags": len(r.get("flags") or []) + len(claim_flags(res)),  # type: ignore[arg-type]
        } for r, res, stem in zip(rows, results, self.stems)]
        statuses = Counter(str(r["status"]) for r in rows)
        index = self.env.get_template("index.html.j2").render(
            **self.common, n=len(rows), statuses=sorted(statuses.items()),
            total_max=self.total_max, cols=[(c.id, c.max) for c in cols], parts=parts,
            stats=stats, plots=plots, students=students,
            wrongs=wrong_answers(results, self.options, settings),
            review=waiting_for_review(rows), flagged=flagged(results, self.options))
        atomic_write(self.out / "index.html", index)

    def page(self, k: int) -> None:
        stem = self.stems[k]
        atomic_write(self.out / "students" / f"{stem}.html",
                     self.template.render(**self.common, row=self.rows[k], stem=stem,
                                          total_max=self.total_max, items=_items(self.rows[k])))


def _items(row: Row) -> list[dict[str, object]]:
    """The student's items in gradebook order, each with its answers (Part A) or checks."""
    out = []
    for iid, q in _questions(row).items():
        out.append({"id": iid, "title": q.get("title", ""), "part": q.get("part", ""),
                    "score": q.get("score"), "max": q.get("max_score"),
                    "status": q.get("status", ""), "feedback": q.get("feedback", ""),
                    "answers": [{"id": aid, **a} for aid, a in (q.get("answers") or {}).items()]})
    return out
