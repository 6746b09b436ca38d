"""`dlhw handout`: a real IEEEtran PDF from real (quick) runs, and clear errors without them."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from cli import cli
from handout.render import build_handout
from handout.runs import FIGURES, RUNS, HandoutError, Metrics, load_runs
from nets.labels import wording_problems
from tests.conftest import require


def test_missing_runs_are_named_in_one_message_with_their_commands(tmp_path):
    (tmp_path / "runs" / "partb").mkdir(parents=True)
    (tmp_path / "runs" / "partb" / "metrics.json").write_text("{}")
    with pytest.raises(HandoutError) as info:
        load_runs(tmp_path / "runs")
    msg = str(info.value)
    assert "\n" not in msg and "partb," not in msg
    for name in RUNS:
        if name != "partb":
            assert f"dlhw run {name} --out" in msg
    result = CliRunner().invoke(cli, ["handout", "--runs", str(tmp_path / "runs"),
                                      "--out", str(tmp_path / "h")])
    assert result.exit_code == 1 and "missing run(s)" in result.output


def test_unknown_metric_is_an_error_not_an_empty_string(tmp_path):
    with pytest.raises(HandoutError, match="metric 'fashion.nope'"):
        Metrics({})("fashion.nope")


@pytest.fixture(scope="module")
def quick_pdf(quick_runs, tmp_path_factory):
    """The handout PDF from the quick runs, built once for this module's tests."""
    require(shutil.which("latexmk") is not None and shutil.which("pdffonts") is not None
            and shutil.which("pdftotext") is not None,
            "TeX Live and poppler-utils missing: run scripts/setup.sh")
    return build_handout(quick_runs, tmp_path_factory.mktemp("handout"), pdf=True)


@pytest.mark.slow
def test_pdf_from_quick_runs_is_ieeetran_two_column_times(quick_pdf):
    pdf, folder = quick_pdf, quick_pdf.parent
    tex = (folder / "handout.tex").read_text()
    assert r"\documentclass[10pt,journal]{IEEEtran}" in tex
    # Every written answer of Parts 1-7 is there: 7 parts x 5 questions.
    assert tex.count(r"\item \textit{") == 35
    assert all(f"figures/{run}-{f.file}" in tex for run, f in FIGURES)
    # The normal initialization is named with the standard deviation the init study used.
    assert r"\mathcal{N}(0, 1" not in tex and "fixed standard deviation of 0.01," in tex
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "NimbusRomNo9L" in fonts or "Times" in fonts, fonts
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert re.search(r"Page size:\s+612 x 792 pts", info), info  # US letter, IEEE journal
    assert int(re.search(r"Pages:\s+(\d+)", info)[1]) >= 8
    aux = (folder / "handout.aux").read_text()
    # Part A, Part B, Parts 1-7 of Part C, and the reproducibility appendix.
    assert aux.count(r"\contentsline {section}") == 10
    assert aux.count(r"\contentsline {subsection}") == 10  # the ten Part A questions
    log = (folder / "handout.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Reference `" not in log


# Lines of the handout as it was before issue 25 (pdftotext of `dlhw handout --quick --pdf`),
# one per kind of text a program prints and a person would not.
BEFORE = """the neuron of question 2 gives ∂ L/∂ w = −0.187046, the value
the regression MLP ended with 1 distinct unit(s) in its
64.6%(best: RMSprop). On the regression task, with no
weight_decay = 8.66e-05; CV 0.0405 ± 0.0187, refit
1.05 (conv1), 1.18 (conv_last), 2.65 (fc): most in
Learned function: clean MSE 1.84e-03 (noise floor 0.010000000000000002)
Depth/width variants (600 train images, 1 epochs)"""


def test_wording_check_catches_what_the_old_handout_printed():
    found = wording_problems(BEFORE)
    for what in ("float noise", "an (s) plural", "no space after a number", "a raw identifier",
                 "a plural after 1"):
        assert any(p.startswith(what) for p in found), (what, found)
    assert sum(p.startswith("float noise") for p in found) == 2  # −0.187046 and 0.0100...02
    assert wording_problems("∂L/∂w = −0.1870; 1 epoch, 2 epochs; 64.6% (best: RMSprop); "
                            "neuron 1 receives; dropout 0.372; 3 × 3/1/1; $x_1$") == []


@pytest.mark.slow
def test_pdf_text_reads_as_written_by_a_person(quick_pdf):
    text = subprocess.run(["pdftotext", str(quick_pdf), "-"], capture_output=True,
                          text=True).stdout
    start = text.index("PART B: N")  # small caps: "Part B: Neural Networks from Scratch"
    problems = wording_problems(text)
    # Raw identifiers are checked from Part B on: Part A's answer tables list each answer's id
    # (the key a student writes in answers.yaml) on purpose.
    problems = [p for p in problems if not p.startswith("a raw identifier")] + \
        [p for p in wording_problems(text[start:]) if p.startswith("a raw identifier")]
    assert problems == []
    assert "Adam beat" in text or "SGD beat" in text or "tied at" in text
