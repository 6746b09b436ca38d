"""Checks across a spec's sections, once it is read: every name is known where it is used, every
placeholder names a value, and every name that is printed prints as mathematics."""

from __future__ import annotations

from collections.abc import Callable

from solver.expr import Formula
from solver.printer import printable
from solver.specdata import PLACEHOLDER_RE, Spec

Fail = Callable[[str, str], Exception]  # (field key, message) → the error to raise


def check(spec: Spec, fail: Fail) -> None:
    """`fail(key, message)` (solver.spec.located: file:line: field: ...) for the first problem."""
    _placeholders(spec, fail)
    _names(spec, fail)
    _printed(spec, fail)


def _placeholders(spec: Spec, fail: Fail) -> None:
    """The question's and the steps' <<name>> placeholders name given values."""
    for m in PLACEHOLDER_RE.finditer(spec.question):
        if m[1] not in spec.given:
            raise fail("question", f"placeholder <<{m[1]}>> names no given value")
    for step in spec.steps:
        for m in PLACEHOLDER_RE.finditer(step.text):
            if m[1] not in spec.given:
                raise fail(f"steps.{step.id}.text",
                                f"placeholder <<{m[1]}>> names no given value")


def _unknown(fail: Fail, key: str, formula: Formula | None, known: set[str]) -> None:
    if formula is None:
        return
    unknown = formula.names - known
    if unknown:
        raise fail(key, f"unknown name(s) {', '.join(sorted(unknown))}: declare them under "
                        "given or vocabulary, or compute them in an earlier step")


def _names(spec: Spec, fail: Fail) -> None:
    """Every name a step uses must be given, computed earlier, or declared vocabulary."""
    known = set(spec.given) | set(spec.vocabulary) | set(spec.definitions)
    base = set(known)
    for c_key, conds in (("assumptions", spec.assumptions), ("constraints", spec.constraints)):
        for i, c in enumerate(conds):
            _unknown(fail, f"{c_key}[{i}]", c.formula,
                     base if c_key == "assumptions" else set(spec.given))
    for step in spec.steps:
        key = f"steps.{step.id}"
        _unknown(fail, f"{key}.formula", step.formula, known)
        _unknown(fail, f"{key}.form", step.form, known | {step.id})
        for i, line in enumerate(step.via):
            _unknown(fail, f"{key}.via[{i}]", line.formula, known)
            for side in line.using or ():
                _unknown(fail, f"{key}.via[{i}].using", side, known)
        for name in step.at:
            if name not in spec.vocabulary:
                raise fail(f"{key}.at", f"{name!r} is not in the vocabulary (at: fixes "
                                "symbolic names, such as a label, for one step)")
        known.add(step.id)
    for name, subs in spec.losses.items():
        for k in sorted(subs.keys() - set(spec.vocabulary)):
            raise fail(f"losses.{name}.{k}", "expected a vocabulary name")
    for where, conds in [("domain", spec.domain)] + [
            (f"notes[{i}].when", n.when) for i, n in enumerate(spec.notes)]:
        for c in conds:
            unknown = c.formula.names - (known if where != "domain" else set(spec.given))
            if unknown:
                raise fail(where, f"{c.text!r}: unknown name(s) "
                                f"{', '.join(sorted(unknown))}")
    for i, n in enumerate(spec.notes):
        for m in PLACEHOLDER_RE.finditer(n.text):
            if m[1] not in known:
                raise fail(f"notes[{i}].text",
                                f"placeholder <<{m[1]}>> names no given value or step")


def _printed(spec: Spec, fail: Fail) -> None:
    """A name that latex_name would print as an identifier (loss_new, derivative_pos) needs its
    own `latex:` entry: no raw id reaches a reader."""
    places = [(f"given.{n}", n) for n in spec.given] + \
        [("vocabulary", n) for n in spec.vocabulary] + \
        [(f"definitions.{n}", n) for n in spec.definitions] + \
        [(f"steps.{s.id}", s.id) for s in spec.steps] + \
        [(f"illustration[{i}]", n) for i, case in enumerate(spec.illustration) for n in case]
    for key, name in places:
        if name not in spec.latex and not printable(name):
            raise fail(key, f"{name!r} would be printed as the identifier it is: say "
                            f"how it is printed under latex: ({name}: ...)")
