"""The class's results as a static site: results/index.html and results/students/<stem>.html.

Built from the batch's rows (grader.report.to_dict) and Part A's references (grader.parta), it
opens from disk with no server and no network: styles and the one script (column sorting) are
inline, plots are SVG written here. Every student text reaches the page through Jinja's
autoescaping, inside element text or quoted attributes, never inside the script; a
Content-Security-Policy allows only the page's own script and style (by hash) as a second wall.
The same rows give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import jinja2
import yaml
from markupsafe import Markup

from core import resources
from core.fileio import atomic_write
from core.numfmt import fmt, sig
from grader import parta
from grader.grade import Options
from grader.parta.answers import read_entry
from grader.parta.evaluate import PointError, eval_formula
from grader.parta.references import Convention
from grader.report import file_stem
from grader.results import Status
from grader.submission import Text
from grader.worker import in_parallel

# Answered, but not the reference's value; and what follow-through starts from.
WRONG = (Status.WRONG, Status.IMPRECISE, Status.FOLLOW_THROUGH, Status.CONVENTION)
UPSTREAM_WRONG = (Status.WRONG, Status.IMPRECISE, Status.FOLLOW_THROUGH)
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
    out = {}
    for name, kind in (("histogram_bins", int), ("wrong_groups", int), ("examples", int),
                       ("value_sigfigs", int), ("match_rel", float)):
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{path}: {name}: expected a positive number")
        out[name] = kind(value)
    return Settings(**out)


# ---------------------------------------------------------------- marks and statistics


def _stem(row: Row) -> str:
    """The name of the student's files under students/ (the batch's, grader.report.file_stem)."""
    return str(row.get("file") or file_stem(str(row["folder"])))


def _num(x: object) -> str:
    return "" if x is None else f"{x:g}"


def cell(q: dict | None) -> str:
    """A gradebook cell: the score, else the status (as gradebook.csv writes it)."""
    if q is None:
        return ""
    return str(q.get("status", "invalid")) if q.get("score") is None else f"{q['score']:g}"


@dataclass
class ItemStats:
    id: str
    part: str
    max: float
    n: int
    mean: str
    median: str
    min: str
    max_seen: str
    full: int
    full_share: str
    zero: int
    statuses: str


def item_stats(rows: list[Row], col: str, mx: float, part: str) -> ItemStats:
    """One line of stats.csv, plus the share of full marks."""
    qs = [r["questions"].get(col) for r in rows]  # type: ignore[union-attr]
    scores = [q["score"] for q in qs if q and q.get("score") is not None]
    counts = Counter(q["status"] if q else "error" for q in qs)
    full = sum(s == mx for s in scores)
    return ItemStats(col, part, mx, len(scores),
                     f"{statistics.fmean(scores):.3f}" if scores else "",
                     f"{statistics.median(scores):.3f}" if scores else "",
                     _num(min(scores)) if scores else "", _num(max(scores)) if scores else "",
                     full, f"{full / len(scores):.0%}" if scores else "",
                     sum(s == 0 for s in scores),
                     " ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def part_score(row: Row, cols: list[str]) -> float | None:
    """A row's points over `cols`; None when the row was not graded (an error row)."""
    qs = row.get("questions") or {}
    got = [qs[c]["score"] for c in cols if c in qs]  # type: ignore[index, operator]
    if not got:
        return None
    return round(sum(s for s in got if s is not None), 3)


@dataclass
class Histogram:
    title: str
    max: float
    n: int
    mean: str
    median: str
    bars: list[dict[str, object]]  # x, y, width, height, count, label
    ticks: list[dict[str, object]]  # x, label
    width: int = 360
    height: int = 160


def histogram(title: str, values: list[float], mx: float, bins: int) -> Histogram:
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
                     f"{statistics.median(values):.3f}" if values else "", bars, ticks)


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


class Diagnoser:
    """What a wrong Part A answer most likely is, decided from its status, its value and the
    references: the question's other convention, a sign error, another answer's value or
    expression, follow-through from the student's own wrong earlier answers."""

    def __init__(self, options: Options, settings: Settings):
        self.options = options
        self.settings = settings

    def refs(self, row: Row) -> dict[str, parta.QuestionRef]:
        """The references the row was marked against: the student's own numbers in course
        mode (grader.grade picks the variant the same way)."""
        course = self.options.course
        student = str(row["student"])
        if course is not None and student in course.students:
            return parta.prepare(self.options.rubric, (course.seed, student))
        return parta.prepare(self.options.rubric)

    def _same(self, a: float | None, b: float | None) -> bool:
        if a is None or b is None:
            return False
        return math.isclose(a, b, rel_tol=self.settings.match_rel, abs_tol=1e-12)

    def read(self, ref: parta.QuestionRef, aid: str, text: str | None
             ) -> tuple[tuple, list[float | None] | float | None]:
        """The grouping key of an answer and its value (a number, or a formula's values at the
        answer's points). Text that does not read (or was cut short in the row) is its key."""
        if text is None:
            return ("text", ""), None
        if text.endswith("…") and len(text) > parta.MAX_SHOWN:
            return ("text", text), None
        try:
            entry = read_entry(ref, aid, Text(text, 0))
        except Exception:  # the grader read it in its worker; here one text never costs the page
            return ("text", " ".join(text.split())), None
        if entry.kind == "value" and entry.value is not None:
            return ("value", sig(entry.value, self.settings.value_sigfigs)), entry.value
        if entry.kind == "formula" and entry.formula is not None:
            values: list[float | None] = []
            for env in ref.points[aid]:
                try:
                    values.append(eval_formula(entry.formula, env))
                except PointError:
                    values.append(None)
            # Formulas equal at every evaluation point are one class (the grader's own test);
            # rounding error around 0 (1 - tanh² + tanh² - 1) is 0.
            return ("formula", *(None if v is None else "0" if abs(v) < 1e-9 else f"{v:.6g}"
                                 for v in values)), values
        return ("text", " ".join(text.split())), None

    def diagnose(self, ref: parta.QuestionRef, aid: str, answers: dict[str, dict],
                 marked_in: str, status: str, value: object) -> str:
        conv = next((c for c in ref.conventions if c.name == marked_in), ref.conventions[0])
        if status == Status.CONVENTION:
            return f"the {conv.name} convention"
        if status == Status.FOLLOW_THROUGH:
            upstream = sorted(d for d in conv.deps[aid]
                              if answers.get(d, {}).get("status") in UPSTREAM_WRONG)
            return f"follow-through from {', '.join(upstream) or 'earlier answers'}"
        if status == Status.IMPRECISE:
            return "too few significant figures"
        if value is None:
            return "not read"
        for other in ref.conventions:
            if other is not conv and self._matches(ref, other, aid, aid, value):
                return f"the {other.name} convention (the question's other answers: " \
                       f"{conv.name})"
        for c in ref.conventions:
            if self._matches(ref, c, aid, aid, value, sign=-1):
                return "a sign error"
        for c in ref.conventions:
            for o in ref.spec.answers:
                if o != aid and self._matches(ref, c, aid, o, value):
                    return f"the {'value' if isinstance(value, float) else 'expression'} of {o}"
        return "unexplained"

    def _matches(self, ref: parta.QuestionRef, conv: Convention, aid: str, target: str,
                 value: object, sign: int = 1) -> bool:
        if isinstance(value, float):
            t = conv.solution.answers[target].value if target in conv.solution.answers \
                else None
            return t is not None and t != 0 and self._same(value, sign * t)
        assert isinstance(value, list)
        targets = conv.refs[aid] if target == aid else \
            [conv.chain(env, {}).get(target) for env in ref.points[aid]]
        pairs = [(v, t) for v, t in zip(value, targets) if t is not None]
        return len(pairs) >= 2 and any(t != 0 for _, t in pairs) and \
            all(self._same(v, sign * t) for v, t in pairs)


def wrong_answers(rows: list[Row], options: Options, settings: Settings) -> list[AnswerWrongs]:
    """For every Part A answer id, its most common wrong answers, grouped by value to
    `value_sigfigs` or by equivalence class (values at the grader's points), each with what it
    most likely is. Numbers drawn per student (course variants) are grouped by that diagnosis."""
    if "A" not in options.parts:
        return []
    diag = Diagnoser(options, settings)
    common = parta.prepare(options.rubric)
    varied = options.course is not None
    found: dict[tuple[str, str], list[_Wrong]] = {}
    answered: Counter[tuple[str, str]] = Counter()
    for row in rows:
        refs: dict[str, parta.QuestionRef] | None = None
        for qid, q in (row.get("questions") or {}).items():  # type: ignore[union-attr]
            if q.get("part") != "A" or qid not in common:
                continue
            answers = q.get("answers") or {}
            for aid, a in answers.items():
                if a["status"] not in (Status.BLANK,):
                    answered[qid, aid] += 1
                if a["status"] not in WRONG:
                    continue
                refs = refs or diag.refs(row)
                ref = refs[qid]
                key, value = diag.read(ref, aid, a.get("submitted"))
                d = diag.diagnose(ref, aid, answers, str((q.get("detail") or {}).get(
                    "convention", "")), a["status"], value)
                if varied and ref.spec.variants and key[0] == "value":
                    key = ("diagnosis", d)
                found.setdefault((qid, aid), []).append(_Wrong(
                    key, a.get("submitted") or "", a["status"], d, str(row["folder"]),
                    _stem(row)))
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
            reference = sig(primary[aid].value, settings.value_sigfigs) \
                if spec.kind == "numeric" and primary[aid].value is not None \
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


def waiting_for_review(rows: list[Row]) -> list[Waiting]:
    """Part A answers the grader could not read, and items (a memorising model, a notebook
    doing much better on exact images than noisy ones) marked `review`."""
    out = []
    for row in rows:
        stem = _stem(row)
        for iid, q in (row.get("questions") or {}).items():  # type: ignore[union-attr]
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


def flagged(rows: list[Row], options: Options) -> list[Flagged]:
    """Submissions an instructor should look at, from the rows' data: the row's flags and
    problems, a claim far from the measured value (an item's `flagged`), a notebook refused or
    with its template broken (the notebook item invalid or refused), a model refused (the model
    item invalid), a submission invalid or in error."""
    checks = {i.id: i.check for i in options.rubric.items}
    out = []
    for row in rows:
        reasons: list[tuple[str, str]] = [("flag", str(f)) for f in row.get("flags") or []]
        reasons += [("problem", str(p)) for p in row.get("problems") or []]
        for iid, q in (row.get("questions") or {}).items():  # type: ignore[union-attr]
            detail = q.get("detail") or {}
            check = checks.get(iid)
            if detail.get("flagged"):
                reasons.append(("claim far from measured", f"{iid}: {q.get('feedback', '')}"))
            if check == "notebook" and q.get("status") in (Status.INVALID, Status.REFUSED):
                reasons.append(("notebook tampered or refused",
                                f"{iid}: {q.get('feedback', '')}"))
            if check == "model" and q.get("status") == Status.INVALID:
                reasons.append(("model refused", f"{iid}: {q.get('feedback', '')}"))
        if row.get("status") in ("invalid", "incomplete", "error") and not reasons:
            reasons.append((str(row["status"]), "see the student's page"))
        if reasons:
            out.append(Flagged(str(row["folder"]),
                               _stem(row),
                               str(row.get("status")), reasons))
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


def write_site(rows: list[Row], out: Path, options: Options, cols: list[tuple[str, float]],
               jobs: int = 1) -> None:
    """results/index.html and results/students/<stem>.html for the rows of gradebook.csv,
    whose columns `cols` (item id, marks) are; the student pages in `jobs` processes."""
    settings = load_settings()
    env = _environment()
    script = resources.path("templates", "site/sort.js").read_text(encoding="utf-8")
    style = resources.path("templates", "site/site.css").read_text(encoding="utf-8")
    page = {"script": Markup(script), "style": Markup(style), "csp": _csp(script, style)}
    common = set(parta.prepare(options.rubric))
    parts = {c: "A" if c in common else next(i.part[-1].upper() for i in options.rubric.items
                                             if i.id == c) for c, _ in cols}
    maxima = dict(cols)
    total_max = sum(maxima.values())
    stats = [item_stats(rows, c, mx, parts[c]) for c, mx in cols]
    totals = [float(r["score"]) for r in rows if r.get("score") is not None]  # type: ignore
    plots = [histogram(f"Total (out of {total_max:g})", totals, total_max,
                       settings.histogram_bins)]
    for p in sorted(set(parts.values())):
        pc = [c for c in maxima if parts[c] == p]
        scores = [s for s in (part_score(r, pc) for r in rows) if s is not None]
        plots.append(histogram(f"Part {p} (out of {sum(maxima[c] for c in pc):g})", scores,
                               sum(maxima[c] for c in pc), settings.histogram_bins))
    students = [{
        "folder": r["folder"], "student": r["student"], "name": r.get("name") or "",
        "stem": _stem(r),
        "cells": [cell((r.get("questions") or {}).get(c)) for c in maxima],  # type: ignore
        "total": _num(r.get("score")), "status": r["status"],
        "flags": len(r.get("flags") or []),  # type: ignore[arg-type]
    } for r in rows]
    statuses = Counter(str(r["status"]) for r in rows)
    index = env.get_template("index.html.j2").render(
        **page, n=len(rows), statuses=sorted(statuses.items()), total_max=total_max,
        cols=cols, parts=parts, stats=stats, plots=plots, students=students,
        wrongs=wrong_answers(rows, options, settings), review=waiting_for_review(rows),
        flagged=flagged(rows, options))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "index.html", index)
    (out / "students").mkdir(exist_ok=True)
    template = env.get_template("student.html.j2")

    def render(k: int) -> None:
        r, st = rows[k], students[k]
        atomic_write(out / "students" / f"{st['stem']}.html",
                     template.render(**page, row=r, stem=st["stem"], total_max=total_max,
                                     items=_items(r)))

    in_parallel(render, len(rows), jobs)




def _items(row: Row) -> list[dict[str, object]]:
    """The student's items in gradebook order, each with its answers (Part A) or checks."""
    out = []
    for iid, q in (row.get("questions") or {}).items():  # type: ignore[union-attr]
        out.append({"id": iid, "title": q.get("title", ""), "part": q.get("part", ""),
                    "score": q.get("score"), "max": q.get("max_score"),
                    "status": q.get("status", ""), "feedback": q.get("feedback", ""),
                    "answers": [{"id": aid, **a} for aid, a in (q.get("answers") or {}).items()]})
    return out
