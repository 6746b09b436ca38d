"""Part A: each answer judged against the reference, its conventions and the student's own work.

For every question the references are prepared once per process: the solution in each
convention, every step's formula as computed (`StepResult.raw`), and for symbolic questions a
fixed, seeded set of random points (inputs sampled, the spec's definitions z = wx + b, a = f(z)
evaluated, each answer's branch such as z > 0 respected). A student's answers are then judged in
every convention and the question is marked in the one that serves them best, so all of a
question's answers are held to one convention. Follow-through is generic: a step is recomputed
from its formula with the student's own earlier answers put in.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from fractions import Fraction

import sympy

from grader.numeric import (
    clip,
    fmt,
    fmt_interval,
    judge_number,
    read_number,
    split_remark,
)
from grader.overrides import Override
from grader.results import AnswerMark, ItemMark, Status
from grader.rubric import Rubric, Tolerance
from grader.submission import Other, Text, Value
from grader.symbolic import (
    PointError,
    close,
    eval_formula,
    eval_sympy,
    is_answer_name,
    name_key,
    prove_equal,
    shown,
    split_equation,
    strip_branch,
    student_formula,
)
from solver.engine import Solution, expand_definitions, solve
from solver.expr import MAX_LENGTH, ExprError, Formula, to_sympy
from solver.plaintext import latex_to_plain
from solver.spec import Answer, Spec
from solver.variants import variant_given

POINT_TRIES = 500
MAX_SHOWN = 80  # characters of a student's answer echoed back


@dataclass
class _Convention:
    name: str
    text: str
    solution: Solution
    raws: dict[str, sympy.Expr]  # step id → formula as computed, earlier steps as names
    deps: dict[str, frozenset[str]]  # answer id → the answers it is computed from
    refs: dict[str, list[float | None]]  # symbolic: answer id → value at each point


@dataclass
class QuestionRef:
    spec: Spec
    weights: dict[str, Fraction]
    conventions: list[_Convention]  # primary first
    symbolic: bool
    names: set[str]  # names a symbolic answer may use
    definitions: dict[str, sympy.Expr]  # expanded to base names, for proofs
    points: dict[str, list[dict[str, float]]]  # symbolic: answer id → evaluation points
    given: dict[str, float]
    aliases: dict[str, set[str]]  # answer id → names (as name_key keys) left of an '='
    bounds: frozenset[str]  # answers that are a uniform bound (±r read as r)
    chain_rel: float  # the numbers of a chain `σ(0.56) = 0.6365` agree to this
    tolerances: dict[str, Tolerance]  # numeric answer id → how close it must be
    agree_rel: float  # a symbolic answer agrees with the reference at a point to this


_CACHE: dict[object, dict[str, QuestionRef]] = {}
_PROOFS: dict[tuple[str, str, str, str, float], bool | None] = {}


def prepare(rubric: Rubric, variant: tuple[int, str] | None = None) -> dict[str, QuestionRef]:
    """The references of every question, built once per process and rubric.

    `variant` is (course seed, student id): questions with variants are then solved with that
    student's numbers; the others share the common references.
    """
    key = (str(rubric.path), rubric.parta.symbolic.points)
    if key not in _CACHE:
        _CACHE[key] = {spec.id: _prepare(spec, rubric) for spec in rubric.parta.questions}
    if variant is None:
        return _CACHE[key]
    vkey = (*key, *variant)
    if vkey not in _CACHE:
        seed, student = variant
        _CACHE[vkey] = {qid: _prepare(ref.spec, rubric, variant_given(ref.spec, seed, student))
                        if ref.spec.variants else ref for qid, ref in _CACHE[key].items()}
    return _CACHE[vkey]


def _prepare(spec: Spec, rubric: Rubric, given: dict[str, sympy.Rational] | None = None
             ) -> QuestionRef:
    given_exact = dict(spec.given) if given is None else given
    sol = solve(spec, given=given_exact)
    symbolic = any(a.kind == "symbolic" for a in spec.answers.values())
    definitions = {s.name: e for s, e in expand_definitions(spec).items()}
    names = set(spec.vocabulary) | set(spec.definitions)
    given = {k: float(v) for k, v in given_exact.items()}
    aliases = {aid: {name_key(n)[0] for n in (spec.latex.get(aid, aid), *a.aliases)}
               for aid, a in spec.answers.items()}
    ref = QuestionRef(spec, rubric.parta.weights[spec.id], [], symbolic, names, definitions, {},
                      given, aliases, frozenset(a for a, x in spec.answers.items() if x.bound),
                      rubric.parta.reading.chain_rel, rubric.parta.tolerances[spec.id],
                      rubric.parta.symbolic.rel)
    convs = [(spec.convention.name, spec.convention.text, sol)] + \
        [(n, c.text, sol.alternatives[n]) for n, c in spec.alternatives.items()]
    for name, text, s in convs:
        # A step's stated form where it has one (q8: dL_dz1 = p1 - 1): proven equal to the
        # formula, and written in the earlier answers, so follow-through uses the student's own.
        raws = {r.id: to_sympy(r.step.form) if r.step.form is not None else r.raw
                for r in s.steps}
        ref.conventions.append(_Convention(name, text, s, raws, _deps(raws, spec), {}))
    if symbolic:
        for aid in spec.answers:
            ref.points[aid] = _points(ref, aid, rubric.parta.symbolic.points)
            for conv in ref.conventions:
                conv.refs[aid] = [_chain(conv, env, {}).get(aid) for env in ref.points[aid]]
    return ref


def _deps(raws: dict[str, sympy.Expr], spec: Spec) -> dict[str, frozenset[str]]:
    """For each answer, the answers upstream of it (through helper steps too)."""
    upstream: dict[str, set[str]] = {}
    for sid, raw in raws.items():
        direct = {s.name for s in raw.free_symbols} & upstream.keys()
        upstream[sid] = set(direct).union(*(upstream[d] for d in direct))
    return {aid: frozenset(upstream[aid] & spec.answers.keys()) for aid in spec.answers}


def _points(ref: QuestionRef, aid: str, n: int) -> list[dict[str, float]]:
    """n seeded random points for a symbolic answer, on its branch, where the reference exists."""
    spec = ref.spec
    rng = random.Random(zlib.crc32(f"{spec.id}:{aid}".encode()))
    base = sorted((set(spec.vocabulary) | _formula_names(spec)) - set(spec.definitions))
    where = spec.answers[aid].where
    primary = ref.conventions[0]
    points: list[dict[str, float]] = []
    for _ in range(POINT_TRIES):
        env: dict[str, float] = {}
        for name in base:
            magnitude = rng.uniform(0.2, 1.6)
            positive = name in ("eta", "alpha")  # a learning rate and ELU's alpha are > 0
            env[name] = magnitude if positive or rng.random() < 0.5 else -magnitude
        try:
            for name, formula in spec.definitions.items():
                env[name] = eval_formula(formula, env)
        except PointError:
            continue
        if where is not None and (not where.holds(env[where.name])
                                  or abs(env[where.name]) < 0.05):
            continue
        if _chain(primary, env, {}).get(aid) is None:
            continue
        points.append(env)
        if len(points) == n:
            return points
    raise RuntimeError(f"{spec.id}.{aid}: could not find {n} evaluation points")


def _formula_names(spec: Spec) -> set[str]:
    return set().union(*(f.names for f in spec.definitions.values())) if spec.definitions \
        else set()


def _chain(conv: _Convention, env: dict[str, float], overrides: dict[str, object]
           ) -> dict[str, float | None]:
    """Every step's value at `env`, with the student's answers put in for `overrides`."""
    values = dict(env)
    out: dict[str, float | None] = {}
    for sid, raw in conv.raws.items():
        try:
            o = overrides.get(sid)
            if o is None:
                v = eval_sympy(raw, values)
            elif isinstance(o, Formula):
                v = eval_formula(o, values)
            else:
                v = float(o)
            values[sid] = v
            out[sid] = v
        except PointError:
            values.pop(sid, None)
            out[sid] = None
    return out


# ---------------------------------------------------------------- the student's entries


@dataclass(frozen=True)
class _Entry:
    kind: str  # blank | review | value | formula
    text: str | None = None
    value: float | None = None
    formula: Formula | None = None
    error: str = ""  # review: why it could not be read
    note: str = ""  # how it was read, for the feedback


def _read(ref: QuestionRef, aid: str, raw: Value) -> _Entry:
    """Read one answer as written; anything that cannot be read is `review`, with the reason."""
    answer = ref.spec.answers[aid]
    if raw is None or (isinstance(raw, Text) and not raw.text.strip()):
        return _Entry("blank")
    if isinstance(raw, Other):
        expected = "number" if answer.kind == "numeric" else "formula"
        return _Entry("review", error=f"expected a {expected}, found {raw.kind}")
    text = raw.text.strip()
    if len(text) > MAX_LENGTH:  # before any regex: reading stays linear in what was written
        return _Entry("review", error=f"answer longer than {MAX_LENGTH} characters")
    notes: list[str] = []
    parts = split_equation(text)
    if len(parts) > 1 and not parts[0]:  # `= 0.5`, `≈ 0.6365`: a decoration, no name
        if text.startswith("="):
            notes.append("the value right of '='")
        text = text.lstrip("=").strip()
        parts = [text]
    if len(parts) > 1:
        key, branch = name_key(parts[0])
        named = is_answer_name(key, aid, ref.aliases[aid])
        if named and branch and not _same_branch(branch, answer):
            return _Entry("review", text, error=f"written for {branch}, but {aid} is for "
                          f"{answer.where}")
        if not named and answer.kind != "numeric" and not _equal_forms(ref, aid, parts):
            return _Entry("review", text, error=f"left of '=', {clip(parts[0])!r} is not a "
                          f"name for {aid}, nor equal to the right side")
        working = parts[1:-1] if named else parts[:-1]
        text = parts[-1]
        if not text:
            return _Entry("review", raw.text, error="nothing right of '='")
        if answer.kind == "numeric":
            # A chain of working, `σ(0.56) = 0.6365`: its numbers must agree with the answer;
            # a formula in the middle (`h1 = σ(z1) = 0.6365`) is working shown, and skipped.
            problem = _chain_problem(working, text, aid, ref, named, ref.chain_rel)
            if problem:
                return _Entry("review", raw.text, error=problem)
        notes.append(f"the value right of '='{' (the last of several)' if len(parts) > 2 else ''}")
    if answer.where is not None:
        text, branch = strip_branch(text)
        if branch is not None and not _same_branch(branch, answer):
            return _Entry("review", raw.text, error=f"written for {branch}, but {aid} is for "
                          f"{answer.where}")
    try:
        if answer.kind == "numeric":
            n = read_number(text, aid in ref.bounds, ref.chain_rel)
            return _Entry("value", n.literal, n.value,
                          note=" ".join(filter(None, [
                              n.note or (f"read {fmt(n.value, 10)}" if notes else ""),
                              f"({notes[0]})" if notes else ""])))
        return _read_formula(ref, text)
    except ExprError as exc:
        return _Entry("review", raw.text, error=str(exc))


@dataclass(frozen=True)
class ReadAnswer:
    """How the grader reads one answer, before anything judges it (`dlhw check`'s echo)."""

    kind: str  # blank | review | value | formula
    read: str  # value: the number; formula: in SymPy syntax; "" otherwise
    decorated: bool  # read from more than the bare number or formula (`62.25%`, `w (unchanged)`)
    error: str  # review: why it cannot be read


def read_answer(ref: QuestionRef, aid: str, raw: Value) -> ReadAnswer:
    """Answer `aid` of `ref`'s question read exactly as grading reads it; nothing is compared
    with a reference."""
    e = _read(ref, aid, raw)
    read = fmt(e.value, 10) if e.kind == "value" and e.value is not None else \
        shown(e.formula) if e.kind == "formula" and e.formula is not None else ""
    return ReadAnswer(e.kind, read, bool(e.note) and e.note != f"read as {read}", e.error)


def _read_formula(ref: QuestionRef, text: str) -> _Entry:
    """A formula; failing that, the same without a trailing remark (`w (unchanged)`), or a
    constant written as a decorated number (`0,01`). The fallbacks run only when the text
    does not read as it is, so `x (dL_da)` stays a product."""
    try:
        formula = student_formula(text, ref.names)
        return _Entry("formula", text, formula=formula, note=f"read as {shown(formula)}")
    except ExprError as exc:
        error = exc
    head, remark = split_remark(text)
    if remark and not any(w in ref.names for w in remark.strip("()").split()):
        try:
            formula = student_formula(head, ref.names)
            return _Entry("formula", head, formula=formula,
                          note=f"read as {shown(formula)}, the remark {remark} dropped")
        except ExprError:
            pass
    try:
        n = read_number(text, False, ref.chain_rel)
    except ExprError:
        raise error from None
    formula = student_formula(repr(n.value), ref.names)
    return _Entry("formula", text, formula=formula, note=f"read '{clip(text)}' as "
                  f"{shown(formula)}")


def _chain_problem(working: list[str], last: str, aid: str, ref: QuestionRef,
                   first_named: bool, rel: float) -> str | None:
    """Why a numeric chain `a = b = c` cannot be read, or None: every part that is a number
    agrees with the last; an unnamed first part must be such a number."""
    try:
        value = read_number(last, aid in ref.bounds, rel).value
    except ExprError:
        return None  # reading the answer itself says why
    for k, part in enumerate(working):
        try:
            v = read_number(part, aid in ref.bounds, rel).value
        except ExprError:
            # Working (`-2(y - a) = -1.075`) is skipped; another answer's name is not.
            key = name_key(part)[0]
            if k == 0 and not first_named and any(
                    is_answer_name(key, other, ref.aliases[other])
                    for other in ref.spec.answers if other != aid):
                return f"left of '=', {clip(part)!r} is the name of another answer, not {aid}"
            continue
        if not math.isclose(v, value, rel_tol=rel, abs_tol=rel):
            return f"{clip(part)!r} and {clip(last)!r} differ: which is the answer?"
    return None


def _equal_forms(ref: QuestionRef, aid: str, parts: list[str]) -> bool:
    """`sech²(z) = 1 - tanh²(z)`: every side reads, and all agree at the answer's points."""
    try:
        formulas = [student_formula(p, ref.names) for p in parts]
    except ExprError:
        return False
    try:
        last = [eval_formula(formulas[-1], env) for env in ref.points[aid]]
    except PointError:
        return False
    return all(_agrees(f, ref.points[aid], last, ref.agree_rel) for f in formulas[:-1])


def _same_branch(branch: str, answer: Answer) -> bool:
    """`z <= 0` states the branch `z < 0` (the kink is not an answer's point)."""
    name, op, bound = branch.split()
    where = answer.where
    return where is None or (name == where.name and op[0] == where.op[0]
                             and float(bound) == float(where.bound))


# ---------------------------------------------------------------- judging


@dataclass(frozen=True)
class _Judged:
    status: str
    ok: bool  # correct in this convention
    share: Fraction
    feedback: str


def _judge(ref: QuestionRef, conv: _Convention, aid: str, entries: dict[str, _Entry],
           earlier: dict[str, _Judged], rubric: Rubric) -> _Judged:
    entry = entries[aid]
    if entry.kind == Status.BLANK:
        return _Judged(Status.BLANK, False, Fraction(0), "no answer given")
    if entry.kind == Status.REVIEW:
        return _Judged(Status.REVIEW, False, Fraction(0), f"could not read this answer: "
                       f"{entry.error}; left to the instructor (0 points until settled)")
    judged = _judge_read(ref, conv, aid, entries, earlier, rubric)
    if entry.note:
        return _Judged(judged.status, judged.ok, judged.share, f"{entry.note}: {judged.feedback}")
    return judged


def _judge_read(ref: QuestionRef, conv: _Convention, aid: str, entries: dict[str, _Entry],
                earlier: dict[str, _Judged], rubric: Rubric) -> _Judged:
    entry = entries[aid]
    answer = ref.spec.answers[aid]
    pa = rubric.parta
    # Follow-through is possible when an upstream answer the student gave is not correct.
    wrong_upstream = sorted(d for d in conv.deps[aid]
                            if d in earlier and earlier[d].status in
                            (Status.WRONG, Status.IMPRECISE, Status.FOLLOW_THROUGH))
    overrides = {d: (entries[d].formula if entries[d].kind == "formula" else entries[d].value)
                 for d in conv.deps[aid] if entries[d].kind in ("formula", "value")}
    if entry.kind == "value":
        refval = conv.solution.answers[aid].value
        tol = ref.tolerances[aid]
        v = judge_number(entry.value, entry.text, refval, tol)
        interval = fmt_interval(v.interval, tol.sigfigs)
        shown = f" (accepted interval {interval})" if pa.show_interval else ""
        if v.ok:
            return _Judged(Status.CORRECT, True, Fraction(1), f"correct{shown}")
        if wrong_upstream:
            ft = _chain(conv, ref.given, overrides).get(aid)
            if ft is not None and judge_number(entry.value, entry.text, ft, tol).ok:
                return _follow_through(wrong_upstream, pa.follow_through_share)
        if v.imprecise:
            return _Judged(Status.IMPRECISE, False, pa.imprecise_share,
                           f"too imprecise: {entry.text} has {v.sigfigs} significant "
                           f"figure{'s' * (v.sigfigs != 1)}, give at least "
                           f"{tol.sigfigs}{shown}")
        return _Judged(Status.WRONG, False, Fraction(0), f"{fmt(entry.value, 6)} is not accepted"
                       f"{shown}")
    # Symbolic: a quick exact proof first, else agreement at the random points.
    if _equal_symbolic(ref, conv, aid, entry.formula, rubric):
        return _Judged(Status.CORRECT, True, Fraction(1), "correct (equivalent to the expected "
                       "expression)")
    if wrong_upstream:
        fts = [_chain(conv, env, overrides).get(aid) for env in ref.points[aid]]
        if _agrees(entry.formula, ref.points[aid], fts, ref.agree_rel):
            return _follow_through(wrong_upstream, pa.follow_through_share)
    branch = f" for {answer.where}" if answer.where else ""
    real = "" if _has_value(entry.formula, ref.points[aid]) else \
        "; it has no real value there (sqrt or log of a negative number?)"
    return _Judged(Status.WRONG, False, Fraction(0), f"not equivalent to the expected expression"
                   f"{branch} (compared at {len(ref.points[aid])} random points){real}")


def _has_value(formula: Formula, points: list[dict[str, float]]) -> bool:
    try:
        for env in points:
            eval_formula(formula, env)
    except PointError:
        return False
    return True


def _follow_through(upstream: list[str], share: Fraction) -> _Judged:
    return _Judged(Status.FOLLOW_THROUGH, False, share,
                   f"not the reference value, but correct from your own {', '.join(upstream)}: "
                   f"follow-through, {float(share):.0%} of the marks")


def _equal_symbolic(ref: QuestionRef, conv: _Convention, aid: str, formula: Formula,
                    rubric: Rubric) -> bool:
    key = (ref.spec.id, conv.name, aid, formula.text, ref.agree_rel)
    if key not in _PROOFS:
        proven = None
        if ref.spec.answers[aid].where is None:  # a branch answer needs its branch: points only
            s = rubric.parta.symbolic
            proven = prove_equal(formula, conv.solution.answers[aid].exact, ref.definitions,
                                 min(s.exact_time_limit_s, s.time_limit_s))
        _PROOFS[key] = True if proven else _agrees(formula, ref.points[aid], conv.refs[aid],
                                                   ref.agree_rel)
    return _PROOFS[key]


def _agrees(formula: Formula, points: list[dict[str, float]], targets: list[float | None],
            rel: float) -> bool:
    """Equal at every point where the target exists (at least two such points)."""
    compared = 0
    for env, target in zip(points, targets):
        if target is None:
            continue
        try:
            if not close(eval_formula(formula, env), target, rel):
                return False
        except PointError:
            return False
        compared += 1
    return compared >= 2


# ---------------------------------------------------------------- a question


def grade_question(ref: QuestionRef, raw: dict[str, Value] | None, rubric: Rubric,
                   notes: list[str] | None = None,
                   overrides: dict[str, Override] | None = None) -> ItemMark:
    """Mark one question. `raw` is answer id → value from answers.yaml (None: not answered);
    `overrides` answer id → the instructor's settled points, applied last."""
    spec = ref.spec
    notes = list(notes or [])
    raw = raw or {}
    for key in raw:
        if key not in spec.answers:
            notes.append(f"unknown answer id {key!r} ignored (expected one of "
                         f"{', '.join(spec.answers)})")
    entries = {aid: _read(ref, aid, raw.get(aid)) for aid in spec.answers}
    best: tuple[Fraction, int, _Convention, dict[str, _Judged]] | None = None
    per_conv: dict[str, dict[str, _Judged]] = {}
    for rank, conv in enumerate(ref.conventions):
        judged: dict[str, _Judged] = {}
        for aid in spec.answers:
            judged[aid] = _judge(ref, conv, aid, entries, judged, rubric)
        per_conv[conv.name] = judged
        total = sum((j.share * ref.weights[aid] for aid, j in judged.items()), Fraction(0))
        if best is None or total > best[0]:
            best = (total, rank, conv, judged)
    assert best is not None
    total, rank, conv, judged = best
    primary = per_conv[ref.conventions[0].name]
    marks: list[AnswerMark] = []
    for aid in spec.answers:
        j = judged[aid]
        status, feedback, score = j.status, j.feedback, j.share * ref.weights[aid]
        if rank > 0 and j.ok and not primary[aid].ok:
            status = Status.CONVENTION
            feedback = f"correct in the {conv.name} convention"
        elif not j.ok:
            others = [c for c, js in per_conv.items() if c != conv.name and js[aid].ok]
            if others and j.status == Status.WRONG:
                feedback += (f"; it matches the {others[0]} convention, but your other answers "
                             f"follow {conv.name}: keep to one convention")
        o = (overrides or {}).get(aid)
        if o is not None:
            status, score = Status.OVERRIDE, o.points
            feedback = f"set by the instructor: {o.reason} (the grader said: {status_was(j)})"
        marks.append(AnswerMark(aid, status, score, ref.weights[aid], feedback,
                                _shown(raw.get(aid))))
    total = sum((m.score for m in marks), Fraction(0))
    blank = all(m.status == Status.BLANK for m in marks)
    full = total == spec.marks
    counts: dict[str, int] = {}
    for m in marks:
        counts[m.status] = counts.get(m.status, 0) + 1
    status = Status.BLANK if blank else Status.REVIEW if Status.REVIEW in counts else \
        Status.CORRECT if full else Status.WRONG if total == 0 else Status.PARTIAL
    order = (Status.REVIEW, Status.OVERRIDE, Status.CORRECT, Status.CONVENTION,
             Status.FOLLOW_THROUGH, Status.IMPRECISE, Status.WRONG, Status.BLANK)
    summary = ", ".join(f"{counts[s]} {s}" for s in order if s in counts)
    if blank:
        summary = "not answered"
    if rank > 0:
        summary += f"; marked in the {conv.name} convention ({_first_sentence(conv.text)})"
    feedback = "; ".join([summary, *notes])
    return ItemMark(spec.id, spec.title, "A", total, Fraction(spec.marks), status, feedback,
                    tuple(marks), {"convention": conv.name})


def status_was(j: _Judged) -> str:
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


def grade_parta(answers: dict[str, dict[str, Value]] | None,
                notes: dict[str, list[str]], rubric: Rubric, invalid: str | None = None,
                variant: tuple[int, str] | None = None,
                overrides: dict[str, dict[str, Override]] | None = None) -> list[ItemMark]:
    """All ten questions. `answers` None means no answers.yaml; `invalid` a file-level error;
    `variant` (seed, student id) marks against that student's own numbers; `overrides`
    question id → answer id → the instructor's settled points."""
    refs = prepare(rubric, variant)
    out: list[ItemMark] = []
    for qid, ref in refs.items():
        spec = ref.spec
        if invalid is not None:
            out.append(ItemMark(qid, spec.title, "A", None, Fraction(spec.marks), Status.INVALID,
                                invalid))
        elif answers is None:
            out.append(ItemMark(qid, spec.title, "A", Fraction(0), Fraction(spec.marks),
                                Status.ABSENT, "answers.yaml not submitted: 0 marks"))
        else:
            out.append(grade_question(ref, answers.get(qid), rubric, notes.get(qid),
                                      (overrides or {}).get(qid)))
    return out


def known_questions(rubric: Rubric) -> set[str]:
    return set(prepare(rubric))


