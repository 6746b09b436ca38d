"""Where each answer was filed in answers.yaml, and what was filed where no answer is.

Read before any answer: an id equal to a name the spec declares for an answer (`a1` for q1's
h1, `y_hat` for its output) is that answer. Anything else in the file that is not read as an
answer puts the answers it may belong to in review, with a suggestion: an unknown id near a
known one (`h_1`, `w` for w_new), a name several answers share (`L`), an answer under the wrong
question (`p1` under q2), a question id that is not one (`q01`, `Question 1`), a question that is
no mapping of answers, a value labelled for another answer inside an answer (`w = 1.8, b = -0.6`
under w_new, with b_new blank). Only an answer of which nothing was written is blank.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from grader.parta.equations import segments
from grader.parta.names import is_answer_name, name_key, split_equation
from grader.parta.numbers import Reading, clip, decimal_convention
from grader.parta.references import QuestionRef
from grader.submission import Number, Other, Text, Value

_QUESTION_RE = re.compile(r"(?:q|question|problem|exercise|ex|no)?\.?_? ?0*(\d{1,3})")


@dataclass(frozen=True)
class Pending:
    """An answer to review though nothing readable was filed under its id: why, what it may
    be, and what was written where it was found. `conflict`: reviewed even when its own id
    holds an answer (the file gives it twice, differently)."""

    reason: str
    suggestion: str = ""
    written: str = ""
    conflict: bool = False


@dataclass
class Placed:
    """A question's answers as filed: answer id → value (under its id or a declared name),
    the name each was filed under when not its id, the answers to review, and notes."""

    raw: dict[str, Value] = field(default_factory=dict)
    filed: dict[str, str] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def hold(self, aid: str, pending: Pending) -> None:
        """Review `aid` unless it was read from its own id (a conflict always is)."""
        if pending.conflict or (aid not in self.raw and aid not in self.pending):
            self.pending[aid] = pending


def shown(value: Value) -> str:
    """A value as written in the file, for the review queue."""
    if value is None:
        return ""
    if isinstance(value, Other):
        return f"<{value.kind}>"
    return value.source or value.text


def file_reading(answers: dict[str, dict[str, Value]]) -> Reading:
    """What the whole file says about reading its answers: its decimal convention."""
    texts = [v.text for block in answers.values() for v in block.values()
             if isinstance(v, (Text, Number))]
    return Reading(decimal_convention(texts))


def place(answers: dict[str, dict[str, Value]], refs: dict[str, QuestionRef],
          broken: dict[str, list[str]] | None = None) -> dict[str, Placed]:
    """Every question's answers as filed (`broken`: question id → why its block could not be
    read, from load_submission), and what was filed elsewhere put in review."""
    broken = broken or {}
    out = {qid: place_question(ref, answers.get(qid) or {},
                               {k for k in answers.get(qid) or {} if _homes(k, qid, refs)})
           for qid, ref in refs.items()}
    for qid, why in broken.items():
        if qid in refs:
            for aid in refs[qid].spec.answers:
                out[qid].hold(aid, Pending(f"not read: {'; '.join(why)}",
                                           "the question is not a mapping of answers"))
    for qid, block in answers.items():
        if qid not in refs:
            _stray_question(qid, block, refs, out)
        else:
            _wrong_question(qid, block, refs, out)
    return out


def place_question(ref: QuestionRef, block: dict[str, Value],
                   foreign: set[str] | frozenset[str] = frozenset()) -> Placed:
    """One question's block: its ids, the names its spec declares, and what is near them;
    `foreign`: ids that are another question's answers (placed there)."""
    spec = ref.spec
    placed = Placed({k: v for k, v in block.items() if k in spec.answers and not _blank(v)})
    unread = []
    for key, value in block.items():
        if key in spec.answers:
            continue
        owners = _declared(ref, key)
        where = f"{spec.id}.{key}: {clip(shown(value))}"
        if len(owners) == 1:
            _alias(placed, owners[0], key, value, where)
        elif owners:
            for aid in owners:
                placed.hold(aid, Pending(f"not read: filed under {key!r}, a name of "
                                         f"{' and '.join(owners)}",
                                         f"is it {' or '.join(owners)}?", where))
        elif near := [aid for aid in _near(ref, key) if aid not in placed.raw]:
            for aid in near:
                placed.hold(aid, Pending(f"not read: filed under {key!r}, which is not an "
                                         f"answer id of {spec.id}", f"did you mean {aid}?",
                                         where))
        elif key not in foreign:
            unread.append(where)
    if unread:
        placed.notes.append(f"not read: {', '.join(unread)} (unknown id; expected one of "
                            f"{', '.join(spec.answers)})")
        for aid in spec.answers:
            placed.hold(aid, Pending(f"blank, but the question holds what was not read: "
                                     f"{'; '.join(unread)}", "is it this answer?",
                                     "; ".join(unread)))
    _labelled_elsewhere(ref, placed)
    return placed


def _alias(placed: Placed, aid: str, key: str, value: Value, where: str) -> None:
    """`a1: 0.6365` is h1's answer; given beside `h1:` too, the two must say the same."""
    if aid not in placed.raw:
        placed.raw[aid] = value
        placed.filed[aid] = key
        return
    if _text(placed.raw[aid]) != _text(value):
        placed.hold(aid, Pending(f"given twice: as {aid} ({clip(shown(placed.raw[aid]))}) "
                                 f"and as {key!r} ({clip(shown(value))})",
                                 "which is the answer?", where, conflict=True))


def _blank(value: Value) -> bool:
    return value is None or (isinstance(value, Text) and not value.text.strip())


def _text(value: Value) -> str:
    return " ".join(value.text.split()) if isinstance(value, (Text, Number)) else repr(value)


def _declared(ref: QuestionRef, key: str) -> list[str]:
    """The answers whose spec declares `key` as one of their names (`a1`, `y_hat`)."""
    k = name_key(key)[0]
    return [aid for aid, a in ref.spec.answers.items()
            if k in {name_key(n)[0] for n in a.aliases}]


def _near(ref: QuestionRef, key: str) -> list[str]:
    """The answers `key` may have meant: those it names (`w` for w_new, `h_1` for h1), else
    the closest ids (`dL_dz1_y2` for dL2_dz1)."""
    k = name_key(key)[0]
    named = [aid for aid in ref.spec.answers if is_answer_name(k, aid, ref.aliases[aid])]
    if named:
        return named
    ids = {aid.lower(): aid for aid in ref.spec.answers}
    return [ids[m] for m in difflib.get_close_matches(key.lower(), list(ids), n=len(ids),
                                                        cutoff=0.6)]


def _labelled_elsewhere(ref: QuestionRef, placed: Placed) -> None:
    """A value labelled for another answer inside an answer (`b = -0.6` under w_new): that
    answer, where blank, is reviewed with it."""
    for aid, value in list(placed.raw.items()):
        if not isinstance(value, Text):
            continue
        for part in segments(value.text[:2000]):
            sides = split_equation(part)
            key = name_key(sides[0])[0]
            for other in ref.spec.answers:
                if other != aid and is_answer_name(key, other, ref.aliases[other]):
                    placed.hold(other, Pending(
                        f"not read: found in {ref.spec.id}.{aid}'s answer as {clip(part)!r}",
                        f"is {other} {clip(sides[-1])}?", f"{ref.spec.id}.{aid}: {part}"))


def _stray_question(qid: str, block: dict[str, Value], refs: dict[str, QuestionRef],
                    out: dict[str, Placed]) -> None:
    """A block under an id that is no question's (`q01`, `question1`, `q11`): its answers
    belong to the question it names, else to any question with such answer ids."""
    m = _QUESTION_RE.fullmatch(qid.strip().lower())
    target = f"q{int(m[1])}" if m and f"q{int(m[1])}" in refs else None
    for key, value in block.items():
        where = f"{qid}.{key}: {clip(shown(value))}"
        questions = [target] if target else list(refs)
        for q in questions:
            ref = refs[q]
            for aid in ([key] if key in ref.spec.answers else _declared(ref, key)):
                hint = f"did you mean {q}?" if target else f"is it {q}.{aid}?"
                out[q].hold(aid, Pending(f"not read: filed under {qid!r}, which is not a "
                                         "question id", hint, where))


def _wrong_question(qid: str, block: dict[str, Value], refs: dict[str, QuestionRef],
                    out: dict[str, Placed]) -> None:
    """An id unknown to its own question and near none of its answers but an answer id of
    another question (`p1` under q2): that answer, where blank, is reviewed with it."""
    for key, value in block.items():
        for q in _homes(key, qid, refs):
            out[q].hold(key, Pending(f"not read: filed under {qid} as {key!r}",
                                     f"is it {q}.{key}?", f"{qid}.{key}: {shown(value)}"))


def _homes(key: str, qid: str, refs: dict[str, QuestionRef]) -> list[str]:
    """The other questions (at most two) whose answer `key` is, where `qid` has none of that
    id or name (a near one of `qid`'s may be meant too: both are then reviewed)."""
    ref = refs[qid]
    if key in ref.spec.answers or _declared(ref, key):
        return []
    homes = [q for q, r in refs.items() if q != qid and key in r.spec.answers]
    return homes if len(homes) <= 2 else []
