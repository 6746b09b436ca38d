"""The Part B notebook, generated from the reference implementation in nets/ (one source of truth).

Every code cell that defines something is cut out of the nets/ modules' own source (a top-level
function, class or constant, found with `ast`), so the notebook and `dlhw run partb` run the very
same code and reach the same metrics. The prose, the short cells that call and plot, and the
model answers to the written questions are data, in nets/notebook_cells.yaml beside this module.

Cell conventions (what a grader may rely on)
--------------------------------------------
A notebook is a sequence of cells of three roles; `classify_cell` tells them apart, by the tag
grammar of nets/notebook_tags.py (which the grader reads submissions with).

* code answer: a code cell whose first line is exactly ``# STARTCODE`` and whose last line is
  exactly ``# ENDCODE`` (`CODE_TAGS`). In the solution notebook the lines between hold the
  reference code; in the student notebook every function keeps its signature and docstring and
  its body becomes ``# [TO COMPLETE]`` plus ``raise NotImplementedError("[TO COMPLETE]")``.
* text answer: a markdown cell whose first line is exactly ``STARTTEXT`` and whose last line is
  exactly ``ENDTEXT`` (`TEXT_TAGS`). Between them: the model answer, or ``[TO COMPLETE]``.
  The question itself is in the fixed markdown cell just before it.
* fixed: every other cell. Students must not change them; their sources are identical in the
  student and the solution notebooks, in the same order (`fixed_sources` lists them, for
  hashing). Tags never appear in fixed cells.

Every answer cell also carries ``metadata["dlhw"] = {"answer": "<id>"}`` (ids like ``B3.1``,
listed in order by `answer_ids`), but a submitted notebook may have lost metadata, so the tags
and the order of cells are what count. Cell ids are deterministic ("partb-000", ...) and
outputs are empty unless the notebook is executed, so the same code gives the same file bytes.
The last code cell prints every metric under the ids that `dlhw run partb` writes to
metrics.json, as JSON between the lines ``METRICS-BEGIN`` and ``METRICS-END``.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from core.errors import DlhwError
from core.yamlnodes import NodeReader
from nets.notebook_tags import CODE_TAGS, PLACEHOLDER, TEXT_TAGS, classify_cell

METRICS_BEGIN, METRICS_END = "METRICS-BEGIN", "METRICS-END"
# The names the grader's hidden checks call (problems/partb_checks.yaml): keep them, with their
# signatures, in the student notebook (answer or given cells).
CHECKED_NAMES = (
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu",
    "leaky_relu_grad", "elu", "elu_grad", "swish", "swish_grad", "softmax", "softmax_backward",
    "affine_forward", "affine_backward", "mse_loss", "log_softmax", "cross_entropy_loss",
    "neuron_step", "train_neuron", "sgd_momentum_step", "accuracy", "confusion_matrix",
    "per_class_accuracy", "perceptron_train", "MLP", "train_sgd", "shift_augment",
)

# --------------------------------------------------------------------------- cell specifications


@dataclass(frozen=True)
class Md:
    """A fixed markdown cell."""

    text: str


@dataclass(frozen=True)
class Code:
    """A fixed code cell written in the cells file (calls, prints, plots)."""

    text: str


@dataclass(frozen=True)
class Given:
    """A fixed code cell: top-level definitions `names` cut from nets.`module`, in that order."""

    module: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """A STARTCODE cell: the functions `names` of nets.`module`, stubbed for students."""

    id: str
    module: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class TextAnswer:
    """A STARTTEXT cell with the model answer `text`."""

    id: str
    text: str


CELLS_PATH = Path(__file__).with_name("notebook_cells.yaml")
CellSpec = Md | Code | Given | Answer | TextAnswer


class NotebookTemplateError(DlhwError, ValueError):
    """nets/notebook_cells.yaml does not validate: `file:line: field: what was expected`."""


@functools.cache
def cells(path: Path = CELLS_PATH) -> tuple[CellSpec, ...]:
    """The notebook's cells, in order, from `path` (nets/notebook_cells.yaml)."""
    r = NodeReader(path, NotebookTemplateError)
    top = r.mapping(r.load(), "", {"cells"}, set())
    out: list[CellSpec] = []
    for i, node in enumerate(r.seq(top["cells"], "cells")):
        where = f"cells[{i}]"
        m = r.mapping(node, where, set(), set(_READERS))
        if len(m) != 1:
            raise r.fail(node, where, f"expected exactly one of {', '.join(_READERS)}")
        [(kind, body)] = m.items()
        out.append(_READERS[kind](r, body, f"{where}.{kind}"))
    return tuple(out)


def _names(r: NodeReader, m: dict, where: str) -> tuple[str, ...]:
    return tuple(r.string(n, f"{where}.names") for n in r.seq(m["names"], f"{where}.names"))


def _given(r: NodeReader, node: yaml.Node, where: str) -> Given:
    m = r.mapping(node, where, {"module", "names"}, set())
    return Given(r.string(m["module"], f"{where}.module"), _names(r, m, where))


def _answer(r: NodeReader, node: yaml.Node, where: str) -> Answer:
    m = r.mapping(node, where, {"id", "module", "names"}, set())
    return Answer(r.string(m["id"], f"{where}.id"), r.string(m["module"], f"{where}.module"),
                  _names(r, m, where))


def _text_answer(r: NodeReader, node: yaml.Node, where: str) -> TextAnswer:
    m = r.mapping(node, where, {"id", "text"}, set())
    return TextAnswer(r.string(m["id"], f"{where}.id"),
                      r.string(m["text"], f"{where}.text").strip())


def _code(r: NodeReader, node: yaml.Node, where: str) -> Code:
    text = r.string(node, where).strip()
    return Code(text.replace("{METRICS_BEGIN}", METRICS_BEGIN)
                .replace("{METRICS_END}", METRICS_END))


_READERS: dict[str, Callable[[NodeReader, yaml.Node, str], CellSpec]] = {
    "markdown": lambda r, node, where: Md(r.string(node, where).strip()),
    "code": _code,
    "given": _given,
    "answer": _answer,
    "text_answer": _text_answer,
}


# --------------------------------------------------------------------------- source extraction


def _module_source(module: str) -> tuple[str, ast.Module]:
    text = inspect.getsource(importlib.import_module(f"nets.{module}"))
    return text, ast.parse(text)


def _node_name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _start_line(node: ast.stmt, lines: list[str]) -> int:
    """0-based first line of `node`, including decorators and the comment lines right above."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return first


def definition_source(module: str, name: str) -> str:
    """Source text of the top-level definition `name` in nets.`module`."""
    text, tree = _module_source(module)
    lines = text.splitlines()
    for node in tree.body:
        if _node_name(node) == name:
            return "\n".join(lines[_start_line(node, lines):node.end_lineno])
    raise KeyError(f"nets.{module} defines no top-level {name!r}")


def stub_source(module: str, name: str) -> str:
    """The function `name` with its signature and docstring kept and its body replaced."""
    text, tree = _module_source(module)
    lines = text.splitlines()
    node = next((n for n in tree.body if _node_name(n) == name), None)
    if not isinstance(node, ast.FunctionDef):
        raise KeyError(f"nets.{module}.{name} is not a top-level function")
    body = node.body
    has_doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str)
    keep_until = body[0].end_lineno if has_doc else body[0].lineno - 1
    indent = " " * body[0].col_offset
    head = lines[_start_line(node, lines):keep_until]
    return "\n".join(head + [f"{indent}# {PLACEHOLDER}",
                             f'{indent}raise NotImplementedError("{PLACEHOLDER}")'])


def _imports() -> str:
    """The standard-library and third-party imports of every module the notebook draws on."""
    modules = sorted({c.module for c in cells() if isinstance(c, (Given, Answer))})
    plain: set[str] = set()
    froms: dict[str, set[str]] = {}
    for module in modules:
        _, tree = _module_source(module)
        for node in tree.body:
            if isinstance(node, ast.Import):
                plain.update(f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                             for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module \
                    and node.module != "__future__" and not node.module.startswith("nets"):
                froms.setdefault(node.module, set()).update(a.name for a in node.names)
    out = ["from __future__ import annotations", ""]
    out += sorted(plain)
    out += [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(froms)]
    return "\n".join(out)


# --------------------------------------------------------------------------- building


def _wrap(tags: tuple[str, str], body: str) -> str:
    return f"{tags[0]}\n{body}\n{tags[1]}"


def build_notebook(student: bool) -> nbformat.NotebookNode:
    """The Part B notebook: `student=True` replaces every answer with [TO COMPLETE]."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        # The edition, under the key the files have always carried (kept for byte-identity).
        "dlhw": {"part": "B", "variant": "student" if student else "solution"},
    }
    imports = _imports()
    for cell_spec in cells():
        if isinstance(cell_spec, Md):
            cell = nbformat.v4.new_markdown_cell(cell_spec.text)
        elif isinstance(cell_spec, Code):
            cell = nbformat.v4.new_code_cell(cell_spec.text.replace("{imports}", imports))
        elif isinstance(cell_spec, Given):
            cell = nbformat.v4.new_code_cell("\n\n\n".join(
                definition_source(cell_spec.module, n) for n in cell_spec.names))
        elif isinstance(cell_spec, Answer):
            source = stub_source if student else definition_source
            cell = nbformat.v4.new_code_cell(_wrap(CODE_TAGS, "\n\n\n".join(
                source(cell_spec.module, n) for n in cell_spec.names)))
            cell.metadata["dlhw"] = {"answer": cell_spec.id}
        else:
            cell = nbformat.v4.new_markdown_cell(
                _wrap(TEXT_TAGS, f"\n{PLACEHOLDER if student else cell_spec.text}\n"))
            cell.metadata["dlhw"] = {"answer": cell_spec.id}
        cell.id = f"partb-{len(nb.cells):03d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def execute_notebook(nb: nbformat.NotebookNode, timeout: int = 300,
                     cwd: str | Path | None = None) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel (nbclient); raises on the first error."""
    from nbclient import NotebookClient

    resources = {"metadata": {"path": str(cwd)}} if cwd else {}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
    return nb


def write_notebook(path: str | Path, student: bool, execute: bool = False) -> Path:
    """Build (and optionally execute) the notebook and write it to `path`."""
    nb = build_notebook(student)
    if execute:
        execute_notebook(nb)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# --------------------------------------------------------------------------- reading notebooks


def answer_ids(nb: nbformat.NotebookNode) -> list[str]:
    """The answer ids in the order their cells appear (from the cells' metadata)."""
    return [c.metadata["dlhw"]["answer"] for c in nb.cells
            if classify_cell(c) != "fixed" and "dlhw" in c.metadata]


def fixed_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell type, source) of every fixed cell, in order: what must match the original."""
    return [(c.cell_type, c.source) for c in nb.cells if classify_cell(c) == "fixed"]


def notebook_metrics(nb: nbformat.NotebookNode) -> dict:
    """The metrics an executed notebook printed between METRICS-BEGIN and METRICS-END."""
    import json

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if METRICS_BEGIN in text:
                body = text.split(METRICS_BEGIN, 1)[1].split(METRICS_END, 1)[0]
                return json.loads(body)
    raise ValueError("the notebook printed no metrics (was it executed?)")
