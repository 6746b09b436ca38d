"""What a question spec holds, once validated: typed, frozen objects (read by solver.spec_read).

Every part remembers the line it came from (`Spec.lines`, `Spec.at`), so an error found while
solving (a form that is not equal, a branch that does not hold) names the file and the line, as
the reader's own errors do (solver.spec.located).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import sympy

from solver.expr import Formula, terminating_decimal
from solver.numbers import Num, show, to_mpf


@dataclass(frozen=True)
class Line:
    """One stated line of a derivation: a formula equal to the line before it (proven), with
    the rule that takes it there; `using` is an identity `lhs = rhs`, itself proven, that the
    rule names. A line without a formula (`derive`) lets the engine apply the differentiation
    rules until no derivative is left."""

    formula: Formula | None
    rule: str = ""
    using: tuple[Formula, Formula] | None = None


@dataclass(frozen=True)
class Step:
    id: str
    text: str
    formula: Formula
    form: Formula | None = None  # an equivalent closed form, proven equal when solving
    via: tuple[Line, ...] = ()  # stated lines of its derivation, each proven
    at: dict[str, sympy.Rational] = field(default_factory=dict)  # names fixed for this step

    @property
    def shown(self) -> Formula:
        return self.form or self.formula


@dataclass(frozen=True)
class Where:
    """The branch an answer belongs to, e.g. z > 0."""

    name: str
    op: str
    bound: sympy.Rational

    def holds(self, value: float | Num) -> bool:
        """At a float (the grader's points), exactly (a Fraction), or at mpmath's precision."""
        bound = Fraction(int(self.bound.p), int(self.bound.q))
        b: float | Num = float(bound) if isinstance(value, float) else \
            bound if isinstance(value, Fraction) else to_mpf(bound)
        return {">": value > b, ">=": value >= b, "<": value < b, "<=": value <= b}[self.op]

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound}"


@dataclass(frozen=True)
class Condition:
    """`EXPR op NUMBER` over given and computed names, e.g. `loss_new == 0`."""

    text: str
    formula: Formula
    op: str
    bound: sympy.Rational


@dataclass(frozen=True)
class Note:
    """A remark printed with the solution; with `when`, only if every condition holds at the
    values being solved (so a claim about the numbers is printed only when they support it)."""

    text: str
    when: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class AnswerTolerance:
    """A numeric answer's own tolerance: any of the three over the rubric's default
    (problems/rubric.yaml, parta.tolerance); None keeps the default's."""

    rel: float | None = None
    abs: float | None = None
    sigfigs: int | None = None


@dataclass(frozen=True)
class Answer:
    """What a question asks for, and how it is marked: its share of the question's marks, how
    close a number must be (over the rubric's default) and how it may be written."""

    id: str
    kind: str  # numeric | symbolic
    text: str
    where: Where | None = None
    # Declared beside the answer, or an even split of what the declared weights leave.
    weight: Fraction = Fraction(0)
    tolerance: AnswerTolerance = AnswerTolerance()
    aliases: tuple[str, ...] = ()  # further names a student may write left of '='
    bound: bool = False  # a uniform bound r: `±r` and `U(-r, r)` are read as r


@dataclass(frozen=True)
class Convention:
    name: str
    text: str
    steps: dict[str, Formula] = field(default_factory=dict)


@dataclass(frozen=True)
class Variation:
    """How a given value may vary between students: min..max in steps of `step`."""

    min: sympy.Rational
    max: sympy.Rational
    step: sympy.Rational
    decimals: int | None = None  # fixed decimals when printed (2.0, not 2); else as short as exact


PLACEHOLDER_RE = re.compile(r"<<([A-Za-z]\w*)>>")
LONG_GIVEN = 20  # characters: a given value longer than this is written in powers of ten


def decimal_text(value: sympy.Rational, decimals: int | None = None) -> str:
    """A given value as text, exactly: 1/2 -> '0.5'; `decimals` pads to fixed places (2.0) when
    that loses nothing; a value with no terminating decimal is written as a fraction, (-2/7)."""
    text = terminating_decimal(value)
    if text is None:
        return f"({value})"
    if decimals is not None and "." not in text:
        text += "." + "0" * decimals if decimals else ""
    elif decimals is not None:
        whole, frac = text.split(".")
        text = f"{whole}.{frac.ljust(decimals, '0')}"
    return text


def given_text(value: sympy.Rational, decimals: int | None = None, latex: bool = False) -> str:
    """A given value as the question states it, never rounded (decimal_text); a long one
    (1e-300) in powers of ten with every one of its digits."""
    text = decimal_text(value, decimals)
    digits = text.lstrip("-").replace(".", "").strip("0")
    if len(text) <= LONG_GIVEN or text.startswith("("):
        return text
    return show(Fraction(int(value.p), int(value.q)), len(digits), "latex" if latex else "plain")


def exact_number(value: sympy.Rational | Num) -> Num:
    """A SymPy rational as a Fraction (solver.numbers' exact type); other numbers unchanged."""
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    return value


@dataclass(frozen=True)
class Spec:
    path: Path
    id: str
    title: str
    marks: int
    question: str
    given: dict[str, sympy.Rational]
    steps: tuple[Step, ...]
    answers: dict[str, Answer]
    convention: Convention
    alternatives: dict[str, Convention]
    vocabulary: tuple[str, ...] = ()
    definitions: dict[str, Formula] = field(default_factory=dict)
    latex: dict[str, str] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()
    domain: tuple[Condition, ...] = ()
    # Equalities the derivations may use (a one-hot label: y1 + y2 == 1), checked at the values.
    assumptions: tuple[Condition, ...] = ()
    illustration: tuple[dict[str, sympy.Rational], ...] = ()
    demo: dict[str, sympy.Rational | str] = field(default_factory=dict)
    variants: dict[str, Variation] = field(default_factory=dict)
    constraints: tuple[Condition, ...] = ()
    # A name the question leaves general written out for a named loss (mse: dL_da = -2*(y - a)),
    # in further names (the target y) an answer may then use.
    losses: dict[str, dict[str, Formula]] = field(default_factory=dict)
    digest: str = ""  # SHA-256 of the file's text: what references built from it are keyed by
    lines: dict[str, int] = field(default_factory=dict)  # field path → line in the file

    def question_text(self, given: dict[str, sympy.Rational] | None = None) -> str:
        """The question with its <<name>> placeholders filled (the homework's text by default)."""
        values = self.given if given is None else given

        def fill(m: re.Match) -> str:
            var = self.variants.get(m[1])
            return given_text(values[m[1]], var.decimals if var else None, latex=True)

        return PLACEHOLDER_RE.sub(fill, self.question)

    def at(self, key: str) -> str:
        """`file:line: key` for a field path such as `steps.dL_da.form` (the line of the
        nearest enclosing field the reader recorded)."""
        probe = key
        while probe and probe not in self.lines:
            probe = probe.rpartition(".")[0] if "." in probe else ""
        return f"{self.path}:{self.lines.get(probe, 1)}: {key}"
