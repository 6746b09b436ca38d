"""Compare dlhw's answer reader with HuggingFace's Math-Verify on the reader corpus.

For every string of tests/data/reader_corpus.yaml: does each reader accept it, and read it as
what it must be read as (a number, or an expression compared at random points)? And on the
refused set: how many does each reader wrongly accept? The corpus's `placement` entries (what
was filed where no answer is) are a whole file's, not a string's: only dlhw's grading is
counted there (read as the answer it names, or that answer in review). Math-Verify is used here
only, as a yardstick (`pip install math-verify`); it is not a dependency of the grader, and no
student text is ever given to it by dlhw.

    python bench/reader_compare.py [--show]
"""

from __future__ import annotations

import argparse
import cmath
import random
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sympy  # noqa: E402

from grader.parta import grade_parta, prepare  # noqa: E402
from grader.parta.answers import read_entry  # noqa: E402
from grader.parta.numbers import Reading  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from grader.submission import Number, Text  # noqa: E402
from solver.expr import parse, to_sympy  # noqa: E402
from solver.functions import ANSWER_FUNCTIONS  # noqa: E402


def _points(names: set[str], n: int = 3) -> list[dict[str, float]]:
    rng = random.Random(0)
    return [{k: rng.uniform(0.2, 1.5) * rng.choice([-1, 1]) for k in names} for _ in range(n)]


def _same(got: sympy.Expr, want: sympy.Expr, names: set[str]) -> bool:
    """Equal at random points, symbols matched by name (Math-Verify's are not ours)."""
    try:
        for env in _points(names):
            g = complex(got.subs({s: env.get(str(s), 0.7) for s in got.free_symbols}).evalf())
            w = complex(want.subs({s: env.get(str(s), 0.7) for s in want.free_symbols}).evalf())
            if not cmath.isclose(g, w, rel_tol=1e-6, abs_tol=1e-9):
                return False
        return True
    except (TypeError, ValueError, AttributeError, ZeroDivisionError):
        return False


def _math_verify(text: str) -> list[sympy.Basic]:
    """What Math-Verify reads, given the benefit of the doubt: its default extraction of the
    text and of the text as LaTeX math ($...$); every SymPy result it gives."""
    from math_verify import parse as mv_parse

    out = []
    for candidate in (text, f"${text}$"):
        try:
            got = mv_parse(candidate)
        except Exception:  # noqa: BLE001 - a yardstick: any failure is "not read"
            got = []
        out += [g for g in got[:1] if isinstance(g, sympy.Basic)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", action="store_true", help="list each string and both readings")
    args = ap.parse_args()
    try:
        import math_verify  # noqa: F401
    except ImportError:
        sys.exit("Math-Verify is not installed: pip install math-verify")
    corpus = yaml.safe_load((ROOT / "tests" / "data" / "reader_corpus.yaml").read_text())
    placement = corpus.pop("placement", [])
    refs = prepare(load_rubric())
    tally: dict[str, dict[str, list[int]]] = {}
    for cls, cases in corpus.items():
        for case in cases:
            where, text, expected = case[:3]
            decimal = case[3] if len(case) > 3 else None
            qid, aid = where.split(".")
            ref = refs[qid]
            entry = read_entry(ref, aid, Text(text, 1), Reading(decimal))
            mv = _math_verify(text)
            row = tally.setdefault(cls, {"dlhw": [0, 0], "math-verify": [0, 0]})
            if cls == "refused":
                row["dlhw"][0] += entry.kind != "review"
                row["math-verify"][0] += bool(mv)
                ok = (entry.kind == "review", not mv)
            else:
                names = ref.names_for(aid) | {"alpha"}
                if entry.kind == "value":
                    want = sympy.Float(expected)
                    ours = sympy.Float(entry.value)
                elif entry.kind == "formula":
                    want = to_sympy(parse(str(expected), names | {"e"}, ANSWER_FUNCTIONS),
                                    {"e": sympy.E}, ANSWER_FUNCTIONS)
                    ours = to_sympy(entry.formula, {"e": sympy.E}, ANSWER_FUNCTIONS)
                else:
                    want = ours = None
                if want is None and not isinstance(expected, str):
                    want = sympy.Float(expected)
                elif want is None:
                    want = to_sympy(parse(str(expected), names | {"e"}, ANSWER_FUNCTIONS),
                                    {"e": sympy.E}, ANSWER_FUNCTIONS)
                ok = (ours is not None and _same(ours, want, names),
                      any(_same(m, want, names) for m in mv))
                row["dlhw"][0] += entry.kind != "review"
                row["dlhw"][1] += ok[0]
                row["math-verify"][0] += bool(mv)
                row["math-verify"][1] += ok[1]
            if args.show:
                print(f"{cls:24} {'ok ' if ok[0] else 'BAD'} {'ok ' if ok[1] else 'bad'} "
                      f"{text[:50]!r:54} mv={', '.join(map(str, mv))[:60]}")
    _report(corpus, tally)
    if placement:
        right = sum(_placed(entry) for entry in placement)
        print(f"{'placement (whole files)':26} {len(placement):>4}  as they must be: dlhw "
              f"{right} (Math-Verify reads strings, not files)")


def _report(corpus: dict, tally: dict[str, dict[str, list[int]]]) -> None:
    """The table: per class, how many each reader read and read right; the refused set."""
    print(f"{'class':26} {'n':>4}  {'dlhw read/right':>16}  {'Math-Verify read/right':>22}")
    totals = {"dlhw": [0, 0], "math-verify": [0, 0]}
    n_all = 0
    for cls, row in tally.items():
        n = len(corpus[cls])
        if cls == "refused":
            continue
        n_all += n
        for k in totals:
            totals[k][0] += row[k][0]
            totals[k][1] += row[k][1]
        print(f"{cls:26} {n:>4}  {row['dlhw'][0]:>7}/{row['dlhw'][1]:<8}  "
              f"{row['math-verify'][0]:>10}/{row['math-verify'][1]:<11}")
    print(f"{'all to be read':26} {n_all:>4}  {totals['dlhw'][0]:>7}/{totals['dlhw'][1]:<8}  "
          f"{totals['math-verify'][0]:>10}/{totals['math-verify'][1]:<11}")
    r = tally["refused"]
    print(f"{'refused (must not read)':26} {len(corpus['refused']):>4}  accepted: dlhw "
          f"{r['dlhw'][0]}, Math-Verify {r['math-verify'][0]}")


def _placed(case: list) -> bool:
    """Is what was filed where no answer is read as the answer it names, or that answer left
    in review (never blank)?"""
    where, value, outcome = case
    qid, key = where.split(".", 1)
    raw = Text(value, 1) if isinstance(value, str) else Number(str(value), 1)
    verb, target = outcome.split()
    q, a = target.split(".")
    marks = {m.id: m for m in grade_parta({qid: {key: raw}}, {}, load_rubric())}
    status = next(m for m in marks[q].answers if m.id == a).status
    return status == "review" if verb == "review" else status not in ("review", "blank")


if __name__ == "__main__":
    main()
