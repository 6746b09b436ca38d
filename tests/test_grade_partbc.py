"""Parts B and C: metrics, notebook integrity, report checks."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from grader.context import RunContext
from grader.grade import grade_submission
from grader.kinds.notebook import template_notebook
from grader.notebook_file import check_notebook
from tests.conftest import require

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
    from grader import sandbox

    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))
    sub = tmp_path / "s"
    sub.mkdir()
    nb = copy.deepcopy(template)
    (sub / "partb.ipynb").write_text(json.dumps(nb))
    options = RunContext.build(parts="B", template=template)
    item = next(i for i in grade_submission(sub, options).items if i.id == "notebook")
    assert item.status == "blank" and item.score == 0
    _set(nb["cells"][0], "my own title")
    (sub / "partb.ipynb").write_text(json.dumps(nb))
    result = grade_submission(sub, options)
    item = next(i for i in result.items if i.id == "notebook")
    assert item.status == "invalid" and item.score is None and "cell 0" in item.feedback
    assert result.status == "invalid"


def test_claims_alone_earn_nothing_and_are_validated(tmp_path):
    """metrics.yaml is a claim: without the notebook or the model it is about, nothing is
    measured and the homework's file is missing, so the item earns 0 and asks for the file;
    out-of-range or mistyped claims are refused by file, line and field."""
    from grader.kinds.claim import read_claim
    from grader.rubric import load_rubric
    from grader.submission import load_submission

    rubric = {i.id: i for i in load_rubric().items}
    ids = ("perceptron", "xor_net", "digits_softmax", "digits_mlp", "regression")
    metric = {iid: rubric[iid].metric for iid in ids}
    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "metrics.yaml").write_text(
        f"{metric['perceptron']}: false\n{metric['xor_net']}: 100\n"
        f"{metric['digits_softmax']}: 0.99\n{metric['digits_mlp']}: 99.5\n"
        f"{metric['regression']}: 0.0001\n")
    ctx = RunContext.build(parts="BC", template=None)
    items = {i.id: i for i in grade_submission(sub, ctx).items}
    for iid in ids:
        item = items[iid]
        assert item.status == "absent" and item.score == 0, (iid, item.status)
        assert f"{rubric[iid].requires} not submitted: 0 marks" in item.feedback
        assert "claimed in metrics.yaml earns nothing without it" in item.feedback
    (sub / "metrics.yaml").write_text(
        f"{metric['perceptron']}: 0\n{metric['xor_net']}: 101\n"
        f"{metric['digits_softmax']}: '0.97'\n{metric['digits_mlp']}: -0.2\n"
        f"{metric['regression']}: -0.01\n")
    loaded = load_submission(sub)
    why = {iid: read_claim(loaded, rubric[iid].claim) for iid in ids}
    assert all(v is None for v, _ in why.values())
    assert "metrics.yaml:1: perceptron.xor.converged: expected true or false" == \
        why["perceptron"][1]
    assert "[0, 100]" in why["xor_net"][1] and "[0, 100]" in why["digits_mlp"][1]
    assert "found text" in why["digits_softmax"][1]
    assert "≥ 0" in why["regression"][1]


# The models (validation, sandboxed measurement, attacks): tests/test_model_pt2.py and
# tests/test_model_grading.py.


def test_no_sandbox_means_not_run_never_unconfined(tmp_path, monkeypatch, template):
    """Where bubblewrap cannot run, the notebook and the report are not executed at all."""
    from grader import sandbox

    monkeypatch.setattr(sandbox, "_probe", lambda: "no sandbox: bubblewrap is not installed")
    sub = tmp_path / "s"
    shutil.copytree(EXAMPLE, sub)
    marker = tmp_path / "ran"
    nb = json.loads((sub / "partb.ipynb").read_text())
    first = next(c for c in nb["cells"] if "".join(c["source"]).startswith("# STARTCODE"))
    first["source"] = "".join(first["source"]).replace(
        "# ENDCODE", f"open({str(marker)!r}, 'w').close()\n# ENDCODE")
    (sub / "partb.ipynb").write_text(json.dumps(nb))
    result = grade_submission(sub, RunContext.build(parts="BC", template=template))
    items = {i.id: i for i in result.items}
    assert items["notebook"].feedback.startswith("not run: no sandbox")
    assert items["digits_mlp"].feedback.startswith("not run: no sandbox")
    assert items["report"].feedback.startswith("not run: no sandbox")
    assert not marker.exists()
