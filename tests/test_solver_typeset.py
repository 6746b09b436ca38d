"""Typesetting a professor would sign: no markup leaks, no overlaps, no overfull boxes, and every
printed number with the figures asked for. PDFs are built with pdflatex and read back with
poppler's pdftotext (text and word boxes)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from core import resources
from solver.engine import solve
from solver.present import view
from solver.render import render_template, to_text
from solver.spec import load_all
from tests.conftest import require

QUESTIONS = [f"q{i}" for i in range(1, 11)]

# Markup or raw text that must never reach a reader (each seen in an earlier version).
LEAKS_ANYWHERE = [r"mathbf", r"\bfrac\b", r"sqrt\{", r"\(1\)/\(2\)", r"ˆ", r"sigma\(z\)",
                  r"alpha \(", r"tanh \(", r"∂\w+/∂\w+_(pos|neg)", r"”\w+”", r"textasciicircum"]
LEAKS_TERMINAL = LEAKS_ANYWHERE + [r"\\", r"[{}$]", r"δij", r"_\{"]
LEAKS_PDF_TEXT = LEAKS_ANYWHERE + [r"\\[A-Za-z]+"]
# In LaTeX source the same mistakes look different: a function name outside math, a fraction
# in a fraction, \left( after an operator name, a text-mode caret.
LEAKS_LATEX = [r"(?<!\\)\b(sigma|alpha|eta|tanh)\(", r"\\frac\{[^{}]*\\frac\{\\partial [A-Za-z]",
               r"\\left\(z\\right\)\^", r"\(1\)/\(2\)", r"ˆ", r"textasciicircum", r"”\w+”",
               r"\bw11\b"]


def leaks(text: str, patterns: list[str]) -> list[str]:
    return [m[0] for p in patterns for m in [re.search(p, text)] if m]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("qid", QUESTIONS)
def test_terminal_is_unicode_math_only(qid):
    out = invoke("solve", qid)
    assert not leaks(out, LEAKS_TERMINAL), leaks(out, LEAKS_TERMINAL)
    # Illustration lines are indented under their case.
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  with "):
            assert lines[i + 1].startswith("     ")


@pytest.mark.parametrize("qid", QUESTIONS)
def test_latex_source_sets_math_as_math(qid):
    tex = invoke("solve", qid, "--latex")
    assert not leaks(tex, LEAKS_LATEX), leaks(tex, LEAKS_LATEX)
    assert '"' not in tex  # quotes are `` and '' in LaTeX
    for inline in re.findall(r"(?<!\\)\$([^$]+)\$", tex):
        # Inline math keeps the line spacing of its paragraph: no \frac, no \Big.
        assert r"\frac" not in inline and r"\Big" not in inline, inline
    for row in re.findall(r"^.*&.*\\\\$", tex, flags=re.M):
        assert not re.search(r"(^|&)\s*-\d", row), row  # a minus in a table is math


def test_q5_table_names_every_weight_in_math():
    tex = invoke("solve", "q5", "--latex")
    for name in ("w_{11}", "w_{12}", "w_{21}", "w_{22}", "b_{1}", "b_{2}", "w_{h1}", "w_{h2}",
                 "b_{o}"):
        assert f"${name}$" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex


def _significant(text: str) -> int:
    mant = re.split(r"×|\\times|e", text)[0].lstrip("-")
    return len(mant.replace(".", "").lstrip("0"))


@pytest.mark.parametrize("sigfigs", [2, 4, 9, 30])
@pytest.mark.parametrize("spec", [s for s in load_all() if s.given], ids=lambda s: s.id)
def test_every_printed_number_carries_the_stated_significant_figures(spec, sigfigs):
    sol = solve(spec, sigfigs=sigfigs)
    v = view(sol, latex=False, sigfigs=sigfigs)
    numbers = [a["value"] for a in v["answers"]] + [
        s["chain"][-1]["expr"] for s in v["steps"] if re.fullmatch(r"-?[\d.]+(×10\S+)?",
                                                                    s["chain"][-1]["expr"])]
    assert numbers
    for text in numbers:
        if text != "0":
            assert _significant(text) == sigfigs, (text, sigfigs)


def test_the_given_values_are_never_rounded():
    out = invoke("solve", "q1", "--precision", "1", "--set", "x1=0.123456789")
    assert "0.8·0.123456789" in out
    out = invoke("solve", "q1", "--set", "x1=123456789012345678901234567890.5")
    assert "0.8·123456789012345678901234567890.5" in out  # beyond Decimal's 28 digits
    out = invoke("solve", "q1", "--set", "x1=1e-300", "--latex")
    assert r"\left(1 \times 10^{-300}\right)" in out


# ---------------------------------------------------------------- PDFs

def _pdf(tex: str, where: Path, name: str) -> tuple[Path, str]:
    require(shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None,
            "pdflatex or pdftotext missing: run scripts/setup.sh")
    path = where / f"{name}.tex"
    path.write_text(tex, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", path.name],
                         cwd=where, capture_output=True, text=True, timeout=300)
    log = path.with_suffix(".log").read_text(errors="replace")
    assert run.returncode == 0, run.stdout[-2000:]
    return path.with_suffix(".pdf"), log


def _overlaps(pdf: Path) -> list[tuple[int, str, str]]:
    """Pairs of words whose boxes overlap on a page (beyond the 1-2 pt that stacked fraction
    lines share in their font boxes)."""
    html = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    found = []
    for number, page in enumerate(html.split("<page ")[1:], start=1):
        words = [(*map(float, m[:4]), m[4]) for m in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<',
            page)]
        words.sort()
        for i, (x0, y0, x1, y1, w) in enumerate(words):
            for a0, b0, a1, b1, v in words[i + 1:]:
                if a0 >= x1:
                    break
                if min(x1, a1) - max(x0, a0) > 1 and min(y1, b1) - max(y0, b0) > 2:
                    found.append((number, w, v))
    return found


def _check(pdf: Path, log: str) -> None:
    assert "Overfull" not in log, re.findall(r"Overfull.*", log)[:3]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert not leaks(text, LEAKS_PDF_TEXT), leaks(text, LEAKS_PDF_TEXT)
    assert not _overlaps(pdf), _overlaps(pdf)[:5]


@pytest.mark.slow
@pytest.mark.parametrize("qid", [*QUESTIONS, "--all"])
def test_standalone_pdf_has_no_leak_no_overlap_no_overfull_box(qid, tmp_path):
    tex = invoke("solve", qid, "--latex", "--standalone")
    _check(*_pdf(tex, tmp_path, qid.strip("-")))


@pytest.mark.slow
def test_handout_part_a_in_two_columns_has_no_leak_no_overlap_no_overfull_box(tmp_path):
    # The handout's own preamble (IEEEtran, two columns, Times) around the ten fragments, as
    # handout renders them; the full handout needs the Part C runs (test_handout.py).
    template = resources.path("templates", "handout.tex.j2").read_text()
    preamble = template[template.index(r"\documentclass"):template.index(r"\begin{document}")]
    parta = "\n".join(render_template("latex", "solution.tex.j2", q=view(solve(s), True, 4),
                                      heading="subsection") for s in load_all())
    tex = preamble + "\\begin{document}\n\\section{Part A}\n" + parta + "\n\\end{document}\n"
    _check(*_pdf(tex, tmp_path, "handout"))


def test_text_form_of_all_questions_has_no_leak():
    out = to_text([solve(s) for s in load_all()])
    assert not leaks(out, LEAKS_TERMINAL)
