"""What one answer region of the Part B notebook earns for the notebook item.

A code region earns the share of the hidden checks that call what it defines: its functions are
read from its code, and from the template's code for the same region, with `ast` (never run in
the grader); a check credits every region defining a name it calls (problems/partb_checks.yaml,
`calls`). A region whose checked functions only raise or pass earns nothing, whatever another
region defines under the same names. A region defining no checked function (the template has
none today) earns its share when it was edited and ran. A text region earns its share with
`text_words` words of prose (counted as the report's are: a repeated passage counts once).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from grader.notebook_checks import CheckResult
from grader.report_content import counted_words


@dataclass(frozen=True)
class Credit:
    """A region's share of its marks (0 to 1) and, when short of 1, why."""

    share: Fraction
    why: str = ""


def _docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _returns_nothing(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Return) and (
        stmt.value is None or isinstance(stmt.value, ast.Constant) and stmt.value.value is None)


def is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A body of nothing but a docstring or constants, `pass`, `raise ...` and `return`
    (`return None`): the function computes nothing."""
    return all(_docstring(s) or isinstance(s, (ast.Pass, ast.Raise)) or _returns_nothing(s)
               for s in fn.body)


def defined(code: str) -> dict[str, bool] | None:
    """The top-level names `code` defines (def, class, assignment), each with whether it is a
    stub function; None where it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    out: dict[str, bool] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = is_stub(node)
        elif isinstance(node, ast.ClassDef):
            out[node.name] = False
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out.update((t.id, False) for t in targets if isinstance(t, ast.Name))
    return out


def code_credit(code: str, template: str, results: list[CheckResult],
                calls: Mapping[str, tuple[str, ...]],
                value: Mapping[str, Fraction]) -> Credit | None:
    """A code region's credit from the checks calling what it (or the template's region)
    defines: `calls` check id → names, `value` check id → what it earned (0 to 1). None when
    it defines no checked function: the caller marks it by edit and run alone."""
    own = defined(code)
    if own is None:
        return Credit(Fraction(0), "does not parse")
    checked = {n for names in calls.values() for n in names}
    names = (set(own) | set(defined(template) or {})) & checked
    stubs = [n for n, stub in own.items() if stub and n in checked]  # in their order
    if stubs and all(own[n] for n in own if n in checked):
        return Credit(Fraction(0), f"{', '.join(stubs)} only raise or pass: no check passes "
                      "for a function that computes nothing")
    mine = [r for r in results if names & set(calls.get(r.id, ()))]
    if not names or not mine:
        return None
    total = sum((r.weight for r in mine), Fraction(0))
    share = sum((r.weight * value.get(r.id, Fraction(0)) for r in mine), Fraction(0)) / total
    short = [r.id for r in mine if value.get(r.id, Fraction(0)) < 1]
    if share == 0:
        return Credit(share, f"fails every check calling {', '.join(sorted(names))} "
                      f"({', '.join(short)})")
    if short:
        return Credit(share, f"{len(mine) - len(short)} of {len(mine)} checks calling its "
                      f"functions pass (short: {', '.join(short)})")
    return Credit(share)


def text_credit(text: str, min_words: int) -> Credit:
    """A text region's credit: `min_words` counted words of prose, the placeholder removed."""
    words = counted_words(text)
    if words == 0:
        return Credit(Fraction(0), "left blank")
    if words < min_words:
        return Credit(Fraction(0), f"{words} word{'s' * (words != 1)} of prose, at least "
                      f"{min_words} expected")
    return Credit(Fraction(1))
