"""solver/functions.py is the one table of functions: every form of each entry agrees, and a new
function is one entry there (the spec language, the exact numbers, the derivation, the printer
and the grader's reader all follow)."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import mpmath
import pytest
import sympy

from solver.functions import ANSWER_FUNCTIONS, FUNCTIONS, REGISTRY, SPELLINGS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("f", REGISTRY, ids=lambda f: f.name)
def test_every_form_of_an_entry_agrees(f):
    # Inside every domain; a piecewise function on both sides of its kink.
    args = [(Fraction(3, 10),), (Fraction(17, 10),)] + \
        ([(Fraction(-7, 5),)] if f.piecewise else [])
    if f.name in ("max", "min"):
        args = [(Fraction(3, 10), Fraction(-7, 5)), (Fraction(-1, 2), Fraction(1, 4))]
    for a in args:
        want = float(f.float(*map(float, a)))
        got = float(sympy.N(f.sympy(*(sympy.Rational(x.numerator, x.denominator) for x in a))))
        assert math.isclose(got, want, rel_tol=1e-12), (f.name, a)
        if f.mp is not None:
            with mpmath.workdps(30):
                mp = f.mp(*(mpmath.mpf(x.numerator) / x.denominator for x in a))
            assert math.isclose(float(mp), want, rel_tol=1e-12), (f.name, a)
    assert all(SPELLINGS[s] == f.name for s in f.spellings)
    assert all(n in ANSWER_FUNCTIONS for n in f.names)
    assert all(n in FUNCTIONS for n in f.names) == f.specs


SPEC = textwrap.dedent("""\
    id: q11
    title: Softplus
    marks: 5
    question: Compute the softplus of $z = wx + b$ and its derivative.
    given: {w: 0.8, x: 0.5, b: 0.1}
    convention: {name: plain, text: Nothing to choose.}
    steps:
      - {id: z, text: Pre-activation, formula: w*x + b}
      - {id: a, text: Softplus, formula: softplus(z)}
      - {id: da_dz, text: Its derivative, formula: 'diff(softplus(z), z)', form: sigmoid(z)}
    answers:
      a: {kind: numeric}
      da_dz: {kind: numeric}
    """)

SCRIPT = textwrap.dedent("""\
    import sys
    import solver.functions
    from grader.parta.evaluate import eval_formula
    from grader.parta.proof import prove_equal
    from grader.parta.reader import student_formula
    from solver.engine import solve
    from solver.expr import symbol
    from solver.render import to_latex, to_text
    from solver.spec import load_spec

    assert solver.functions.__file__.startswith(sys.argv[2]), solver.functions.__file__
    sol = solve(load_spec(sys.argv[1]))
    print(sol.answers["a"].value, sol.answers["da_dz"].value)
    print(to_text([sol]))
    print(to_latex([sol]))
    read = student_formula(r"Softplus(z) + \\operatorname{softplus}(2z)", {"z"})
    print("read:", read.text, eval_formula(read, {"z": 0.3}))
    z = symbol("z")
    print("proof:", prove_equal(student_formula("softplus(z)", {"z"}),
                                sympy_log(z), {}, 5.0))
    """).replace("sympy_log(z)", "__import__('sympy').log(1 + __import__('sympy').exp(z))")


def test_a_new_function_is_one_entry_in_the_table(tmp_path):
    """softplus added as one `Function` in a copy of solver/functions.py (nothing else copied
    changes): a spec calls it, the engine computes and derives it, the printers print it, the
    grader reads a student's spellings of it and proves it equal to its definition."""
    shutil.copytree(ROOT / "solver", tmp_path / "solver",
                    ignore=shutil.ignore_patterns("__pycache__"))
    table = tmp_path / "solver" / "functions.py"
    anchor = "REGISTRY: tuple[Function, ...] = (\n"
    entry = ('    Function("softplus", lambda g: sympy.log(1 + sympy.exp(g)),\n'
             "             lambda v: math.log1p(math.exp(v)),\n"
             "             lambda v: mpmath.log(1 + mpmath.exp(v)), spellings=('softplus',)),\n")
    text = table.read_text()
    assert text.count(anchor) == 1
    table.write_text(text.replace(anchor, anchor + entry))
    spec = tmp_path / "q11_softplus.yaml"
    spec.write_text(SPEC)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, str(script), str(spec), str(tmp_path)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    a, da = map(float, out.splitlines()[0].split())
    assert math.isclose(a, math.log1p(math.exp(0.5)), rel_tol=1e-12)
    assert math.isclose(da, 1 / (1 + math.exp(-0.5)), rel_tol=1e-12)
    assert "a = softplus(z) = softplus(0.5000) = 0.9741" in out
    assert "[chain rule (logarithm)]" in out and "[exponential rule]" in out
    assert r"\operatorname{softplus}(0.5000)" in out
    read = next(line for line in out.splitlines() if line.startswith("read:"))
    assert read.split()[1:3] == ["softplus(z)", "+"] and "softplus(2*z)" in read
    assert math.isclose(float(read.split()[-1]),
                        math.log1p(math.exp(0.3)) + math.log1p(math.exp(0.6)), rel_tol=1e-12)
    assert "proof: True" in out
