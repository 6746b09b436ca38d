"""Per-student variants: each student's own given values, drawn from (seed, student id).

A spec declares how each given may vary (`variants: {x1: {min, max, step}}`) and the constraints
that keep the question well posed (`constraints: ["abs(w*x + b) >= 0.05"]`). The draw is a pure
function of the course seed, the student id and the question id, so it is the same on every
machine and in every run, and a student cannot recover a neighbour's numbers from their own.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping

import sympy

from core.errors import DlhwError
from solver.expr import ExprError, evaluate
from solver.spec import Spec, located

MAX_TRIES = 10_000


class VariantError(DlhwError, ValueError):
    """Constraints that no draw satisfies."""


def _rng(seed: int, student_id: str, qid: str) -> random.Random:
    # sha256 rather than hash(): str hashing is salted per process.
    digest = hashlib.sha256(f"dlhw:{seed}:{student_id}:{qid}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def constraint_failures(spec: Spec, given: Mapping[str, sympy.Rational]) -> list[str]:
    """The constraints of `spec` that `given` breaks (empty when the question is well posed)."""
    values = {k: float(v) for k, v in given.items()}
    failed = []
    for i, cond in enumerate(spec.constraints):
        try:
            lhs = evaluate(cond.formula, values)
        except (ExprError, ArithmeticError, ValueError) as exc:
            raise located(spec, f"constraints[{i}]", f"{cond.text!r}: {exc}") from None
        bound = float(cond.bound)
        ok = {">=": lhs >= bound, "<=": lhs <= bound, ">": lhs > bound, "<": lhs < bound,
              "!=": lhs != bound, "==": lhs == bound}[cond.op]
        if not ok:
            failed.append(cond.text)
    return failed


def variant_given(spec: Spec, seed: int, student_id: str) -> dict[str, sympy.Rational]:
    """The given values of `spec` for one student; the spec's own values if it has no variants."""
    if not spec.variants:
        return dict(spec.given)
    rng = _rng(seed, student_id, spec.id)
    for _ in range(MAX_TRIES):
        given = dict(spec.given)
        for name, var in spec.variants.items():
            steps = int((var.max - var.min) / var.step)
            given[name] = var.min + var.step * rng.randint(0, steps)
        if not constraint_failures(spec, given):
            return given
    raise VariantError(f"{spec.at('constraints')}: no draw in {MAX_TRIES} satisfies the "
                       "constraints")


def varied(specs: Iterable[Spec]) -> list[Spec]:
    return [s for s in specs if s.variants]
