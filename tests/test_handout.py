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


@pytest.mark.slow
def test_pdf_from_quick_runs_is_ieeetran_two_column_times(quick_runs, tmp_path):
    require(shutil.which("latexmk") is not None and shutil.which("pdffonts") is not None,
            "TeX Live and poppler-utils missing: run scripts/setup.sh")
    pdf = build_handout(quick_runs, tmp_path / "handout", pdf=True)
    tex = (tmp_path / "handout" / "handout.tex").read_text()
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
    aux = (tmp_path / "handout" / "handout.aux").read_text()
    # Part A, Part B, Parts 1-7 of Part C, and the reproducibility appendix.
    assert aux.count(r"\contentsline {section}") == 10
    assert aux.count(r"\contentsline {subsection}") == 10  # the ten Part A questions
    log = (tmp_path / "handout" / "handout.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Reference `" not in log
