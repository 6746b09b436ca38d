"""Part A marked: each answer judged against the reference, its conventions and the student's own
earlier answers, with what a wrong one most likely is.

A student's answers are judged in every convention and the question is marked in the one that
serves them best, so all of a question's answers are held to one convention. Follow-through is
generic: a step is recomputed from its formula with the student's own earlier answers put in.
A symbolic answer is proven equal to the reference under a time limit, else compared at the
question's random points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache

from core.numfmt import fmt
from grader.overrides import QUESTION, Override, settle_question
from grader.parta.answers import Entry, read_entry
from grader.parta.diagnosis import Grouping, diagnose, load_grouping
from grader.parta.evaluate import agrees, has_value
from grader.parta.numbers import PLAIN, Reading, fmt_interval, judge_number
from grader.parta.placement import Placed, file_reading, place, place_question, shown
from grader.parta.proof import prove_equal
from grader.parta.references import Convention, QuestionRef, References, references
from grader.results import REVIEW_LEAD, REVIEW_TAIL, AnswerMark, ItemMark, Status
from grader.rubric import Rubric
from grader.submission import Number, Other, Text, Value
from solver.expr import Formula
from solver.plaintext import latex_to_plain

MAX_SHOWN = 80  # characters of a student's answer echoed back


@dataclass(frozen=True)
class Judged:
    status: Status
    ok: bool  # correct in this convention
    share: Fraction
    feedback: str


MAX_JUDGED = 50000


def _judge(ref: QuestionRef, conv: Convention, aid: str, entries: dict[str, Entry],
           earlier: dict[str, Judged], rubric: Rubric) -> Judged:
    entry = entries[aid]
    if entry.kind == Status.BLANK:
        return Judged(Status.BLANK, False, Fraction(0), "no answer given")
    if entry.kind == Status.REVIEW:
        hint = f" ({entry.suggestion})" if entry.suggestion else ""
        return Judged(Status.REVIEW, False, Fraction(0),
                      f"{REVIEW_LEAD}{entry.error}{hint}{REVIEW_TAIL}")
    # Follow-through is possible when an upstream answer the student gave is not correct.
    wrong_upstream = sorted(d for d in conv.deps[aid]
                            if d in earlier and earlier[d].status in
                            (Status.WRONG, Status.IMPRECISE, Status.FOLLOW_THROUGH))
    overrides = {d: (entries[d].formula if entries[d].kind == "formula" else entries[d].value)
                 for d in conv.deps[aid] if entries[d].kind in ("formula", "value")}
    # Settled once per convention and everything the judgement depends on: a class repeats
    # its answers, and the read answer (one object per form written) stands for its text.
    key = (aid, entry, tuple(wrong_upstream), tuple(overrides.items()), id(rubric))
    judged = conv.judged.get(key)
    if judged is None:
        judge = _judge_number if entry.kind == "value" else _judge_formula
        judged = judge(ref, conv, aid, entry, wrong_upstream, overrides, rubric)
        if len(conv.judged) >= MAX_JUDGED:
            conv.judged.clear()
        conv.keep[id(rubric)] = rubric  # alive while its id is a key
        conv.judged[key] = judged
    if entry.note:
        return Judged(judged.status, judged.ok, judged.share, f"{entry.note}: {judged.feedback}")
    return judged


def _judge_number(ref: QuestionRef, conv: Convention, aid: str, entry: Entry,
                  wrong_upstream: list[str], overrides: Mapping[str, object], rubric: Rubric
                  ) -> Judged:
    pa = rubric.parta
    assert entry.value is not None
    refval = conv.solution.answers[aid].value
    assert refval is not None
    tol = ref.tolerances[aid]
    v = judge_number(entry.value, entry.text, refval, tol)
    interval = fmt_interval(v.interval, tol.sigfigs)
    shown = f" (accepted interval {interval})" if pa.show_interval else ""
    if v.ok:
        return Judged(Status.CORRECT, True, Fraction(1), f"correct{shown}")
    if wrong_upstream:
        ft = conv.chain(ref.given, overrides).get(aid)
        if ft is not None and judge_number(entry.value, entry.text, ft, tol).ok:
            return _follow_through(wrong_upstream, pa.follow_through_share)
    if v.imprecise:
        return Judged(Status.IMPRECISE, False, pa.imprecise_share,
                      f"too imprecise: {entry.text} has {v.sigfigs} significant "
                      f"figure{'s' * (v.sigfigs != 1)}, give at least {tol.sigfigs}{shown}")
    return Judged(Status.WRONG, False, Fraction(0), f"{fmt(entry.value, 6)} is not accepted"
                  f"{shown}")


def _judge_formula(ref: QuestionRef, conv: Convention, aid: str, entry: Entry,
                   wrong_upstream: list[str], overrides: Mapping[str, object], rubric: Rubric
                   ) -> Judged:
    """A quick exact proof first, else agreement at the random points."""
    formula = entry.formula
    assert formula is not None
    if _uses_loss(ref, aid, formula):
        return _judge_loss(ref, conv, aid, formula)
    if _equal_symbolic(ref, conv, aid, formula, rubric):
        return Judged(Status.CORRECT, True, Fraction(1), "correct (equivalent to the expected "
                      "expression)")
    if wrong_upstream:
        fts = [conv.chain(env, overrides).get(aid) for env in ref.points[aid]]
        if agrees(formula, ref.points[aid], fts, ref.agree_rel):
            return _follow_through(wrong_upstream, rubric.parta.follow_through_share)
    where = ref.spec.answers[aid].where
    branch = f" for {where}" if where else ""
    real = "" if has_value(formula, ref.points[aid]) else \
        "; it has no real value there (sqrt or log of a negative number?)"
    return Judged(Status.WRONG, False, Fraction(0), f"not equivalent to the expected expression"
                  f"{branch} (compared at {len(ref.points[aid])} random points){real}")


def _uses_loss(ref: QuestionRef, aid: str, formula: Formula) -> bool:
    """Whether `formula` uses a name only a loss gives (the target y)."""
    extra = ref.loss_names.get(aid)
    return extra is not None and not extra.isdisjoint(_names(formula))


# Formula.names walks the tree. The reader caches its Formulas (one object per form written),
# and a Formula hashes by identity (its tree), so this caches by form.
@lru_cache(maxsize=8192)
def _names(formula: Formula) -> frozenset[str]:
    return frozenset(formula.names)


def _judge_loss(ref: QuestionRef, conv: Convention, aid: str, formula: Formula) -> Judged:
    """A formula in a loss's names (q6's `-2(y - a)(1 - a^2)x`, the target y): compared at
    points where dL_da is that loss's, for each loss the spec declares."""
    used = formula.names & ref.loss_names[aid]
    tried = []
    for name, loss in ref.losses.items():
        if (name, aid) not in ref.loss_points or not used <= loss.names:
            continue
        tried.append(f"{name}: {loss.shown()}")
        if agrees(formula, ref.loss_points[name, aid], conv.loss_refs[name, aid],
                  ref.agree_rel):
            return Judged(Status.CORRECT, True, Fraction(1), f"correct for the {name} loss "
                          f"({loss.shown()}): equivalent to the expected expression")
    return Judged(Status.WRONG, False, Fraction(0), "not equivalent to the expected expression "
                  f"for any loss it may be written for ({'; '.join(tried)})")


def _follow_through(upstream: list[str], share: Fraction) -> Judged:
    return Judged(Status.FOLLOW_THROUGH, False, share,
                  f"not the reference value, but correct from your own {', '.join(upstream)}: "
                  f"follow-through, {float(share):.0%} of the marks")


def _equal_symbolic(ref: QuestionRef, conv: Convention, aid: str, formula: Formula,
                    rubric: Rubric) -> bool:
    """Proven equal, or equal at every point; settled once per convention and formula."""
    key = (aid, formula.text)
    if key not in conv.proofs:
        proven = None
        if ref.spec.answers[aid].where is None:  # a branch answer needs its branch: points only
            s = rubric.parta.symbolic
            exact = conv.solution.answers[aid].exact
            assert exact is not None
            proven = prove_equal(formula, exact, ref.definitions,
                                 min(s.exact_time_limit_s, s.time_limit_s))
        conv.proofs[key] = True if proven else agrees(formula, ref.points[aid], conv.refs[aid],
                                                      ref.agree_rel)
    return conv.proofs[key]


# ---------------------------------------------------------------- a question


def grade_question(ref: QuestionRef, raw: dict[str, Value] | None, rubric: Rubric,
                   notes: list[str] | None = None,
                   overrides: dict[str, Override] | None = None,
                   grouping: Grouping | None = None, variant: bool = False,
                   placed: Placed | None = None, reading: Reading = PLAIN) -> ItemMark:
    """Mark one question. `raw` is answer id → value from answers.yaml (None: not answered);
    `overrides` answer id → the instructor's settled points, applied last (QUESTION: the
    whole question's); `grouping` how wrong answers are grouped (default the site's
    settings); `variant` whether the student is marked against their own numbers; `placed`
    where the file's answers were filed (default: read from `raw` alone,
    grader.parta.placement); `reading` the whole file's conventions."""
    placed = placed or place_question(ref, raw or {})
    grouping = grouping or load_grouping()
    # A question marked once per way of answering it and everything its marks depend on (a
    # class repeats its answers); one with overrides or answers filed elsewhere every time.
    key = None if overrides or placed.pending or placed.filed else (
        tuple((aid, _written(v)) for aid, v in placed.raw.items()), tuple(placed.notes),
        tuple(notes or ()), reading, id(grouping), variant, id(rubric))
    item = ref.marked.get(key) if key is not None else None
    if item is None:
        item = _grade_question(ref, rubric, notes, overrides, grouping, variant, placed,
                               reading)
        if key is not None:
            if len(ref.marked) >= MAX_JUDGED:
                ref.marked.clear()
            ref.keep.update({id(rubric): rubric, id(grouping): grouping})
            ref.marked[key] = item
    return item


def _written(v: Value) -> tuple:
    """A value as everything marking reads of it: not its line."""
    if isinstance(v, Text):
        return (Text, v.text, v.source, v.quoted)
    if isinstance(v, Number):
        return (Number, v.text, v.source)
    return (Other, v.kind, v.flag) if isinstance(v, Other) else (None,)


def _grade_question(ref: QuestionRef, rubric: Rubric, notes: list[str] | None,
                    overrides: dict[str, Override] | None, grouping: Grouping,
                    variant: bool, placed: Placed, reading: Reading) -> ItemMark:
    entries = {aid: _entry(ref, aid, placed, reading) for aid in ref.spec.answers}
    rank, conv, per_conv = _best_convention(ref, entries, rubric)
    marked = _marked(ref, rank, conv, per_conv, overrides or {})
    statuses = {aid: status for aid, (status, _, _) in marked.items()}
    marks = []
    for aid, (status, score, feedback) in marked.items():
        group, why = diagnose(ref, conv, aid, entries[aid], status, statuses, grouping, variant)
        value = placed.raw.get(aid)
        pending = placed.pending.get(aid)
        written = pending.written if pending and status == Status.REVIEW else shown(value)
        marks.append(AnswerMark(aid, status, score, ref.weights[aid], feedback, _shown(value),
                                group, why, entries[aid].suggestion, written))
    item = _item(ref, tuple(marks), rank, conv, [*(notes or []), *placed.notes])
    whole = (overrides or {}).get(QUESTION)
    return settle_question(item, whole) if whole is not None else item


def _entry(ref: QuestionRef, aid: str, placed: Placed, reading: Reading) -> Entry:
    """Answer `aid` read where it was filed; in review where something was filed for it
    elsewhere (a near id, another question) and nothing under its own id."""
    pending = placed.pending.get(aid)
    entry = read_entry(ref, aid, placed.raw.get(aid), reading)
    if pending is not None and (entry.kind == "blank" or pending.conflict):
        return Entry("review", error=pending.reason, suggestion=pending.suggestion)
    key = placed.filed.get(aid)
    if key is None or entry.kind == "blank":
        return entry
    return replace(entry, note=f"filed under {key!r}, a name of {aid}"
                   + (f"; {entry.note}" if entry.note else ""))


def _best_convention(ref: QuestionRef, entries: dict[str, Entry], rubric: Rubric
                     ) -> tuple[int, Convention, dict[str, dict[str, Judged]]]:
    """The convention that serves the student best (the first of equals), its rank, and every
    convention's judgements."""
    best: tuple[Fraction, int] | None = None
    per_conv: dict[str, dict[str, Judged]] = {}
    for rank, conv in enumerate(ref.conventions):
        judged: dict[str, Judged] = {}
        for aid in ref.spec.answers:
            judged[aid] = _judge(ref, conv, aid, entries, judged, rubric)
        per_conv[conv.name] = judged
        total = _total(_points(j.share, ref.weights[aid]) for aid, j in judged.items())
        if best is None or total > best[0]:
            best = (total, rank)
    assert best is not None
    return best[1], ref.conventions[best[1]], per_conv


_ZERO = Fraction(0)


def _points(share: Fraction, weight: Fraction) -> Fraction:
    """share x weight, without Fraction arithmetic for the usual shares, all or nothing (a
    class's marking did 260 Fraction operations a submission)."""
    return weight if share == 1 else _ZERO if not share else share * weight


def _total(points: Iterable[Fraction]) -> Fraction:
    """The sum, skipping the zeros."""
    return sum((p for p in points if p), _ZERO)


def _marked(ref: QuestionRef, rank: int, conv: Convention,
            per_conv: dict[str, dict[str, Judged]], overrides: dict[str, Override]
            ) -> dict[str, tuple[Status, Fraction, str]]:
    """Each answer's status, points and feedback in the convention marked in."""
    judged, primary = per_conv[conv.name], per_conv[ref.conventions[0].name]
    out: dict[str, tuple[Status, Fraction, str]] = {}
    for aid in ref.spec.answers:
        j = judged[aid]
        status, feedback, score = j.status, j.feedback, _points(j.share, ref.weights[aid])
        if rank > 0 and j.ok and not primary[aid].ok:
            status = Status.CONVENTION
            feedback = f"correct in the {conv.name} convention"
        elif not j.ok:
            others = [c for c, js in per_conv.items() if c != conv.name and js[aid].ok]
            if others and j.status == Status.WRONG:
                feedback += (f"; it matches the {others[0]} convention, but your other answers "
                             f"follow {conv.name}: keep to one convention")
        o = overrides.get(aid)
        if o is not None:
            status, score = Status.OVERRIDE, o.points
            feedback = f"set by the instructor: {o.reason} (the grader said: {status_was(j)})"
        out[aid] = (status, score, feedback)
    return out


_ORDER = (Status.REVIEW, Status.OVERRIDE, Status.CORRECT, Status.CONVENTION,
          Status.FOLLOW_THROUGH, Status.IMPRECISE, Status.WRONG, Status.BLANK)


def _item(ref: QuestionRef, marks: tuple[AnswerMark, ...], rank: int, conv: Convention,
          notes: list[str]) -> ItemMark:
    spec = ref.spec
    total = _total(m.score for m in marks)
    blank = all(m.status == Status.BLANK for m in marks)
    counts: dict[Status, int] = {}
    for m in marks:
        counts[m.status] = counts.get(m.status, 0) + 1
    status = Status.BLANK if blank else Status.REVIEW if Status.REVIEW in counts else \
        Status.CORRECT if total == spec.marks else Status.WRONG if total == 0 else Status.PARTIAL
    summary = ", ".join(f"{counts[s]} {s}" for s in _ORDER if s in counts)
    if blank:
        summary = "not answered"
    if rank > 0:
        summary += f"; marked in the {conv.name} convention ({_first_sentence(conv.text)})"
    feedback = "; ".join([summary, *notes])
    return ItemMark(spec.id, spec.title, "A", total, Fraction(spec.marks), status, feedback,
                    marks, {"convention": conv.name})


def status_was(j: Judged) -> str:
    return f"{j.status}, {j.feedback}"


def _first_sentence(text: str) -> str:
    text = " ".join(latex_to_plain(text).split())
    return text.split(". ")[0].rstrip(".") + "."


def _shown(raw: Value) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, Other):
        return f"<{raw.kind}>"
    text = raw.text
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


# ---------------------------------------------------------------- Part A


def grade_parta(answers: dict[str, dict[str, Value]] | None,
                notes: dict[str, list[str]], rubric: Rubric, invalid: str | None = None,
                variant: tuple[int, str] | None = None,
                overrides: dict[str, dict[str, Override]] | None = None,
                refs: References | None = None, grouping: Grouping | None = None
                ) -> list[ItemMark]:
    """All the questions. `answers` None means no answers.yaml; `invalid` a file-level error;
    `notes` question id → why its block could not be read; `variant` (seed, student id)
    marks against that student's own numbers; `overrides` question id → answer id (or
    QUESTION) → the instructor's settled points; `refs` the references (default
    `references(rubric)`, built once per process); `grouping` how wrong answers are grouped
    (default the site's settings, grader.parta.diagnosis.load_grouping)."""
    questions = (refs or references(rubric)).get(variant)
    grouping = grouping or load_grouping()
    overrides = overrides or {}
    placed = place(answers or {}, questions, notes)
    reading = file_reading(answers or {})
    out: list[ItemMark] = []
    for qid, ref in questions.items():
        spec = ref.spec
        whole = overrides.get(qid, {}).get(QUESTION)
        if invalid is not None or answers is None:
            status, why = (Status.INVALID, invalid) if invalid is not None else \
                (Status.ABSENT, "answers.yaml not submitted: 0 marks")
            item = ItemMark(qid, spec.title, "A", None if invalid is not None else Fraction(0),
                            Fraction(spec.marks), status, why)
            out.append(settle_question(item, whole) if whole is not None else item)
        else:
            out.append(grade_question(ref, answers.get(qid), rubric, notes.get(qid),
                                      overrides.get(qid), grouping, variant is not None,
                                      placed[qid], reading))
    return out


def known_questions(rubric: Rubric) -> set[str]:
    return set(references(rubric).common)
