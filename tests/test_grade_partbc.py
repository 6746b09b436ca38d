"""Parts B and C: metrics, notebook integrity, report checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grader.grade import Options, grade_submission
from grader.partbc import check_notebook, report_checks, template_notebook

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "submission"


@pytest.fixture(scope="module")
def template() -> dict:
    return template_notebook()


def _answer_cells(nb: dict, kind: str) -> list[int]:
    tag = "# STARTCODE" if kind == "code" else "STARTTEXT"
    return [i for i, c in enumerate(nb["cells"]) if "".join(c["source"]).startswith(tag)]


def _set(cell: dict, text: str) -> None:
    cell["source"] = text


def test_untouched_template_is_valid_and_blank(template):
    status, msg, filled, total = check_notebook(copy.deepcopy(template), template)
    assert (status, filled) == ("valid", 0) and total > 0


def test_filled_regions_count_and_outputs_do_not_matter(template):
    nb = copy.deepcopy(template)
    i = _answer_cells(nb, "code")[0]
    _set(nb["cells"][i], "# STARTCODE\ndef f(x):\n    return x\n# ENDCODE")
    j = _answer_cells(nb, "text")[0]
    _set(nb["cells"][j], "STARTTEXT\nBecause XOR is not linearly separable.\nENDTEXT")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    status, _, filled, _ = check_notebook(nb, template)
    assert (status, filled) == ("valid", 2)


def test_tampered_fixed_cell_is_invalid_and_named(template):
    nb = copy.deepcopy(template)
    fixed = next(i for i, c in enumerate(nb["cells"]) if i > 3 and "STARTCODE" not in
                 "".join(c["source"]) and "STARTTEXT" not in "".join(c["source"]))
    _set(nb["cells"][fixed], "".join(nb["cells"][fixed]["source"]) + "\nprint('tweaked')")
    status, msg, _, _ = check_notebook(nb, template)
    assert status == "invalid" and f"cell {fixed}" in msg


def test_removed_or_moved_tag_is_invalid_and_named(template):
    nb = copy.deepcopy(template)
    i = _answer_cells(nb, "code")[0]
    _set(nb["cells"][i], "# STARTCODE\ndef f(x):\n    return x\n")  # ENDCODE removed
    status, msg, _, _ = check_notebook(nb, template)
    assert status == "invalid" and "STARTCODE" in msg and f"cell {i}" in msg
    nb = copy.deepcopy(template)
    a, b = 1, 2  # two fixed cells swapped: order is part of the hash
    nb["cells"][a], nb["cells"][b] = nb["cells"][b], nb["cells"][a]
    assert check_notebook(nb, template)[0] == "invalid"


def test_notebook_item_in_a_submission(tmp_path, template):
    sub = tmp_path / "s"
    sub.mkdir()
    nb = copy.deepcopy(template)
    (sub / "partb.ipynb").write_text(json.dumps(nb))
    options = Options(parts="B", template=template)
    item = next(i for i in grade_submission(sub, options).items if i.id == "notebook")
    assert item.status == "blank" and item.score == 0
    _set(nb["cells"][0], "my own title")
    (sub / "partb.ipynb").write_text(json.dumps(nb))
    result = grade_submission(sub, options)
    item = next(i for i in result.items if i.id == "notebook")
    assert item.status == "invalid" and item.score is None and "cell 0" in item.feedback
    assert result.status == "invalid"


def test_metrics_thresholds_percentages_and_flags(tmp_path):
    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "metrics.yaml").write_text(
        "perceptron.xor.converged: true\nxor_net.accuracy: 75\n"
        "digits.softmax.test_accuracy: 0.5\ndigits.mlp.test_accuracy: 96.5\n"
        "regression.clean_mse: 0.03\n")
    items = {i.id: i for i in grade_submission(sub, Options(parts="BC", template=None)).items}
    assert items["perceptron"].score == 0
    assert items["xor_net"].score == 2 and items["xor_net"].status == "partial"
    assert items["digits_softmax"].status == "wrong"
    assert items["digits_mlp"].score == 6
    # No regression model: the claim earns at most unverified_share (the partial bar's half).
    assert items["regression"].score == 2 and items["regression"].status == "unverified"
    assert items["fashion"].status == "blank" or items["fashion"].status == "absent"


def test_report_checks():
    ok = report_checks(r"\documentclass[conference]{IEEEtran}" "\n" r"\usepackage{times}")
    assert all(passed for passed, _ in ok.values())
    bad = report_checks(r"% \documentclass{IEEEtran}" "\n"
                        r"\documentclass[12pt,onecolumn]{article}")
    assert not any(passed for passed, _ in bad.values())
    assert set(bad) == {"IEEEtran", "two columns", "10pt", "Times"}


# The models (validation, sandboxed measurement, attacks): tests/test_model_pt2.py and
# tests/test_model_grading.py.
