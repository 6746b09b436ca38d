"""The notebook item earned by the hidden checks (issue 23, item 3): a code answer region earns
the share of the checks that call the functions it defines, read with ast; a text region needs
prose. Real notebooks, run in the real sandbox with the real checks."""

from __future__ import annotations

import ast
import copy
import json
from fractions import Fraction

import pytest

from core import resources
from grader import sandbox
from grader.context import RunContext
from grader.kinds.notebook import template_notebook
from grader.notebook_checks import ChecksError, load_checks
from grader.notebook_file import region_code
from grader.notebook_regions import code_credit, defined, text_credit
from grader.rubric import load_rubric
from tests.conftest import require
from tests.test_partb_checks import _region, grade

PLACEHOLDER_RAISE = 'raise NotImplementedError("[TO COMPLETE]")'
PROSE = {"B3.2": "The perceptron learns AND and OR because a line separates their classes; "
                 "XOR needs two lines, so it never converges and stops at the epoch limit.",
         "B4.5": "I used the mean squared error without the half, so my gradient is twice the "
                 "one the half convention gives; the update points the same way.",
         "B6.2": "The hidden layer and the shifted copies both helped: the multilayer network "
                 "beats softmax regression, mostly on digits whose strokes overlap."}


@pytest.fixture(scope="module")
def solution() -> dict:
    from nets.notebook import build_notebook

    return json.loads(json.dumps(build_notebook(student=False)))


@pytest.fixture(scope="module")
def options() -> RunContext:
    return RunContext.build(parts="B", template=template_notebook())


def _needs_bwrap() -> None:
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))


def stubbed(text: str = "done") -> dict:
    """Issue 23's row: every code region edited to functions that only `raise
    NotImplementedError` or `pass` (alternately); every text region holding `text`."""
    nb = copy.deepcopy(template_notebook())
    k = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if src.startswith("# STARTCODE"):
            cell["source"] = src.replace(PLACEHOLDER_RAISE, ("raise NotImplementedError", "pass")
                                         [k % 2])
            k += 1
        elif src.startswith("STARTTEXT"):
            cell["source"] = f"STARTTEXT\n{text}\nENDTEXT"
    return nb


def weak(solution: dict) -> dict:
    """A plainly weak honest notebook: the leaky ReLU, ELU and swish region left undone, a
    wrong sigmoid derivative, and two short answers (a sentence each) besides one left blank."""
    nb = copy.deepcopy(solution)
    _region(nb, "B1.2")["source"] = "".join(_region(template_notebook(), "B1.2")["source"])
    cell = _region(nb, "B1.1")
    cell["source"] = "".join(cell["source"]).replace("return s * (1.0 - s)",
                                                     "return s * (1.0 - s) ** 2", 1)
    for answer, text in PROSE.items():
        _region(nb, answer)["source"] = f"STARTTEXT\n{text}\nENDTEXT"
    _region(nb, "B6.2")["source"] = "STARTTEXT\n[TO COMPLETE]\nENDTEXT"
    return nb


# ---------------------------------------------------------------- read, never run (fast)


def test_calls_declared_are_what_the_harness_calls():
    """partb_checks.yaml's `calls` are the names each check kind's harness function reads from
    the notebook (ns["..."]), besides an activation check's fn and grad."""
    tree = ast.parse(resources.path("problems", "partb_checks.py").read_text())
    called = {f.name[2:]: {n.slice.value for n in ast.walk(f) if isinstance(n, ast.Subscript)
                           and isinstance(n.value, ast.Name) and n.value.id == "ns"
                           and isinstance(n.slice, ast.Constant)}
              for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith("k_")}
    for spec in load_checks().checks:
        own = {spec.options[k] for k in ("fn", "grad") if k in spec.options}
        assert set(spec.calls) == called[spec.kind] | own, spec.id


def test_calls_must_name_what_the_notebook_declares(tmp_path):
    bad = tmp_path / "checks.yaml"
    bad.write_text(resources.path("problems", "partb_checks.yaml").read_text()
                   .replace("mse: [mse_loss]", "mse: [os_system]"))
    with pytest.raises(ChecksError, match=r"checks.yaml:\d+: calls.mse: 'os_system': expected"):
        load_checks(bad)


def test_stubs_are_read_from_the_code(solution):
    """Every function the template's code regions define is a stub, none of the solution's;
    a region that does not parse defines nothing readable."""
    template = template_notebook()
    for mine, theirs in region_code(solution, template):
        if theirs:
            assert defined(theirs) and all(defined(theirs).values()), theirs[:80]
            assert defined(mine) and not any(defined(mine).values()), mine[:80]
    assert defined("def f(x):\n    '''doc'''\n    pass\n") == {"f": True}
    assert defined("def f(x):\n    return None\n") == {"f": True}
    assert defined("def f(x):\n    return x\n") == {"f": False}
    assert defined("def f(:\n") is None


def test_a_region_earns_the_share_of_its_checks():
    from grader.notebook_checks import CheckResult

    calls = {"a": ("f",), "b": ("f", "g"), "c": ("h",)}
    results = [CheckResult(c, "x", Fraction(1), True) for c in calls]
    value = {"a": Fraction(1), "b": Fraction(0), "c": Fraction(1)}
    credit = code_credit("def f(x):\n    return x\n", "", results, calls, value)
    assert credit is not None and credit.share == Fraction(1, 2) and "short: b" in credit.why
    assert code_credit("x = 1\n", "", results, calls, value) is None  # no checked function
    # Deleting the functions does not escape their checks: the template's names still count.
    credit = code_credit("x = 1\n", "def g(x):\n    pass\n", results, calls, value)
    assert credit is not None and credit.share == 0 and "fails every check" in credit.why


def test_text_needs_prose():
    words = load_rubric().items[[i.kind for i in load_rubric().items].index("notebook")].config
    assert words == 15
    for junk in ("done", "I do not know.", "word " * 100, "x " * 300):
        assert text_credit(junk, words).share == 0, junk
    for text in PROSE.values():
        assert text_credit(text, words).share == 1, text


# ---------------------------------------------------------------- real notebooks, real sandbox


def test_stub_regions_earn_nothing(tmp_path, options):
    """Issue 23's row: every code region's functions raise NotImplementedError or pass (the
    notebook item was 2/2): 0, and each region says why."""
    _needs_bwrap()
    _, items = grade(tmp_path, stubbed(), options)
    nb = items["notebook"]
    assert nb.score == 0 and nb.status == "wrong", nb.feedback
    assert "B1.1: sigmoid, sigmoid_grad, tanh, tanh_grad, relu, relu_grad only raise or pass" \
        in nb.feedback
    assert "B3.2: 1 word of prose, at least 15 expected" in nb.feedback
    assert sum(i.score for i in items.values()) == 0


def test_stubs_elsewhere_redefined_still_earn_nothing(tmp_path, solution, options):
    """Stubs in B1.1 whose names B1.2 defines for real: the checks pass, B1.1 earns nothing,
    read from its code; prose in the text regions of the stub row earns their share only."""
    _needs_bwrap()
    nb = copy.deepcopy(solution)
    real = "".join(_region(nb, "B1.1")["source"]).replace("# STARTCODE", "").replace(
        "# ENDCODE", "")
    _region(nb, "B1.1")["source"] = "".join(_region(stubbed(), "B1.1")["source"])
    cell = _region(nb, "B1.2")
    cell["source"] = "".join(cell["source"]).replace("# ENDCODE", real + "\n# ENDCODE")
    _, items = grade(tmp_path, nb, options)
    assert items["activations"].score == items["activations"].max_score
    assert items["notebook"].score == Fraction(2) * 13 / 14, items["notebook"].feedback
    assert "B1.1: sigmoid" in items["notebook"].feedback


def test_weak_honest_notebook_earns_part_and_ranks_above_the_stubs(tmp_path, solution, options):
    _needs_bwrap()
    weak_result, items = grade(tmp_path, weak(solution), options, name="weak")
    nb = items["notebook"]
    assert 0 < nb.score < nb.max_score and nb.status == "partial", nb.feedback
    assert "B1.2: left as in the template" in nb.feedback and "B6.2: left blank" in nb.feedback
    assert "B1.1: 2 of 3 checks calling its functions pass (short: sigmoid)" in nb.feedback
    stub_result, _ = grade(tmp_path, stubbed(" ".join(PROSE.values())), options, name="stubs")
    assert weak_result.score > stub_result.score
