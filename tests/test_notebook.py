"""The Part B notebook: valid, tagged, identical outside the answers, and the solution runs top to
bottom (nbclient) to the reference metrics."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from cli import cli
from nets import notebook
from nets.notebook import (
    CODE_TAGS,
    PLACEHOLDER,
    TEXT_TAGS,
    answer_ids,
    build_notebook,
    classify_cell,
    definition_source,
    execute_notebook,
    fixed_sources,
    notebook_metrics,
)
from nets.runinfo import to_jsonable


@pytest.fixture(scope="module")
def solution() -> nbformat.NotebookNode:
    return build_notebook(student=False)


@pytest.fixture(scope="module")
def student() -> nbformat.NotebookNode:
    return build_notebook(student=True)


def test_both_are_valid_and_deterministic(solution, student) -> None:
    for nb, flag in ((solution, False), (student, True)):
        nbformat.validate(nb)
        assert nbformat.writes(nb) == nbformat.writes(build_notebook(student=flag))
        assert all(cell.get("outputs", []) == [] for cell in nb.cells)


def test_fixed_cells_and_tags_agree(solution, student) -> None:
    assert fixed_sources(solution) == fixed_sources(student)
    assert [c.cell_type for c in solution.cells] == [c.cell_type for c in student.cells]
    ids = answer_ids(solution)
    assert ids == answer_ids(student) and len(ids) == len(set(ids)) >= 10
    roles = [classify_cell(c) for c in solution.cells]
    assert roles.count("code-answer") >= 8 and roles.count("text-answer") >= 3
    # tags live only on answer cells, once each, as their first and last lines
    for nb in (solution, student):
        for cell in nb.cells:
            tags = [ln for ln in cell.source.splitlines() if ln.strip() in CODE_TAGS + TEXT_TAGS]
            assert len(tags) == (0 if classify_cell(cell) == "fixed" else 2), cell.source[:80]


def test_student_answers_are_placeholders(solution, student) -> None:
    for sol, stu in zip(solution.cells, student.cells, strict=True):
        role = classify_cell(stu)
        if role == "fixed":
            continue
        assert PLACEHOLDER in stu.source and PLACEHOLDER not in sol.source
        if role == "text-answer":
            assert stu.source == f"{TEXT_TAGS[0]}\n\n{PLACEHOLDER}\n\n{TEXT_TAGS[1]}"
            continue
        ast.parse(stu.source)  # a stub still compiles, so "Run all" reaches the first stub
        stub_defs = [n for n in ast.parse(stu.source).body if isinstance(n, ast.FunctionDef)]
        sol_defs = [n for n in ast.parse(sol.source).body if isinstance(n, ast.FunctionDef)]
        assert [n.name for n in stub_defs] == [n.name for n in sol_defs]
        for stub, ref in zip(stub_defs, sol_defs, strict=True):
            assert ast.dump(stub.args) == ast.dump(ref.args)
            assert ast.get_docstring(stub) == ast.get_docstring(ref)
            assert isinstance(stub.body[-1], ast.Raise)


def test_student_stubs_raise() -> None:
    namespace: dict = {}
    exec(compile(notebook.stub_source("activations", "sigmoid"), "<stub>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"\[TO COMPLETE\]"):
        namespace["sigmoid"](0.0)


def test_the_code_lives_once(solution) -> None:
    """Every defining cell is the nets/ source itself, so the notebook cannot drift from it."""
    sources = "\n".join(c.source for c in solution.cells if c.cell_type == "code")
    for module, name in (("activations", "softmax"), ("layers", "affine_backward"),
                         ("mlp", "MLP"), ("perceptron", "perceptron_train"),
                         ("partb", "mlp_experiment"), ("partb", "PartBConfig")):
        assert definition_source(module, name) in sources


def test_every_used_name_is_defined(solution) -> None:
    """Names that the notebook's cells read are defined by an earlier cell, imported or built in."""
    import builtins

    defined = set(dir(builtins))
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.alias):
                defined.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
    used = {n.id for c in solution.cells if c.cell_type == "code"
            for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name)}
    assert used <= defined, sorted(used - defined)


@pytest.mark.slow
def test_solution_executes_to_the_reference_metrics(solution, partb_run: Path,
                                                   tmp_path: Path) -> None:
    nb = execute_notebook(nbformat.reads(nbformat.writes(solution), as_version=4),
                          cwd=tmp_path)
    metrics = notebook_metrics(nb)
    # metrics.json holds 12 significant figures (nets.runinfo): compare as it was written.
    assert to_jsonable(metrics) == json.loads((partb_run / "metrics.json").read_text())
    assert metrics["perceptron.xor.converged"] is False
    assert metrics["digits.mlp.test_accuracy"] >= 0.98
    assert metrics["digits.softmax.test_accuracy"] >= 0.95
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 6


def test_cli_writes_the_notebooks(tmp_path: Path) -> None:
    runner = CliRunner()
    for edition in ("student", "solution"):
        out = tmp_path / f"{edition}.ipynb"
        result = runner.invoke(cli, ["notebook", "partb", f"--{edition}", "--out", str(out)])
        assert result.exit_code == 0, result.output
        nb = nbformat.read(str(out), as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["dlhw"]["variant"] == edition  # the file format's key
    result = runner.invoke(cli, ["notebook", "partb"])
    assert result.exit_code == 2 and "--student or --solution" in result.output


def test_the_names_the_grader_checks_are_declared(student) -> None:
    """Every name the hidden checks call is defined, by its name, in the student notebook."""
    defined = set()
    for cell in student.cells:
        if cell.cell_type == "code":
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    defined.add(node.name)
    assert set(notebook.CHECKED_NAMES) <= defined, set(notebook.CHECKED_NAMES) - defined


def test_example_submission_carries_the_current_solution(solution) -> None:
    path = Path(__file__).resolve().parent.parent / "examples" / "submission" / "partb.ipynb"
    assert path.read_text() == nbformat.writes(solution) + "\n", \
        "regenerate: dlhw notebook partb --solution --out examples/submission/partb.ipynb"


# ---------------------------------------------------------------- one tag grammar, one cells file


def test_generator_and_grader_read_the_same_regions(solution, student) -> None:
    """The cells the generator marks as answers are exactly the grader's answer regions."""
    from grader.notebook_file import structure

    for nb in (solution, student):
        data = json.loads(nbformat.writes(nb))
        answer_cells = [(i, "CODE" if classify_cell(c) == "code-answer" else "TEXT")
                        for i, c in enumerate(nb.cells) if classify_cell(c) != "fixed"]
        found = structure(data)
        assert found.error == ""
        assert [(r.cells, r.kind) for r in found.regions] == [((i,), k) for i, k in answer_cells]


@pytest.mark.parametrize("text,cell_type,role", [
    ("# STARTCODE\nx = 1\n# ENDCODE", "code", "code-answer"),
    ("  #STARTCODE  \nx = 1\n#  ENDCODE", "code", "code-answer"),  # spacing is not a change
    ("STARTTEXT\nmy answer\nENDTEXT", "markdown", "text-answer"),
    ("# STARTCODE\nx = 1\n# ENDCODE", "markdown", "fixed"),  # code tags on a markdown cell
    ("STARTTEXT\nmy answer", "markdown", "fixed"),  # never closed
    ("x = 1  # STARTCODE\n# ENDCODE", "code", "fixed"),  # a tag is a whole line
])
def test_tag_grammar(text: str, cell_type: str, role: str) -> None:
    from nets.notebook_tags import classify_cell as shared

    assert shared({"cell_type": cell_type, "source": text}) == role
    assert classify_cell is shared  # nets.notebook reads with the one grammar


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.replace("  - given: {module: partb, names: [PartBConfig]}",
                         "  - given: {module: partb}"), r"cells\[3\].given.names: missing"),
    (lambda s: s.replace("  - given: {module: partb, names: [PartBConfig]}",
                         "  - {given: {module: partb, names: [X]}, code: x}"),
     r"cells\[3\]: expected exactly one of markdown, code"),
    (lambda s: s.replace("  - given: {module: partb, names: [PartBConfig]}",
                         "  - picture: cat.png"), r"cells\[3\].picture: unknown key"),
])
def test_a_bad_cells_file_is_one_line_naming_the_cell(tmp_path: Path, edit, message) -> None:
    path = tmp_path / "notebook_cells.yaml"
    path.write_text(edit(notebook.CELLS_PATH.read_text()))
    with pytest.raises(notebook.NotebookTemplateError, match=message) as info:
        notebook.cells(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))
