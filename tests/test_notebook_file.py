"""Hostile notebook files, read without running anything: every input is a notebook or a
one-line NotebookError, in time linear in its size."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.kinds.notebook import template_notebook
from grader.notebook_file import (
    NotebookError,
    answers,
    cells_to_run,
    check_notebook,
    read_notebook,
)

TEMPLATE = template_notebook()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)


def _read_through(data: bytes) -> None:
    try:
        nb = read_notebook(data)
    except NotebookError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("partb.ipynb")
        return
    status, msg, _, _ = check_notebook(nb, TEMPLATE)
    assert status in ("valid", "invalid") and "\n" not in msg
    if status == "valid":
        try:
            cells_to_run(nb, answers(nb, TEMPLATE))
        except NotebookError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_random_json_is_a_notebook_or_one_line(value):
    _read_through(json.dumps(value).encode())
    _read_through(json.dumps({"cells": value}).encode())


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(TEMPLATE["cells"]) - 1), json_values,
       st.sampled_from(["source", "cell_type", "metadata", None]))
def test_one_mutated_cell_is_a_notebook_or_one_line(index, value, key):
    nb = copy.deepcopy(TEMPLATE)
    if key is None:
        nb["cells"][index] = value
    else:
        nb["cells"][index][key] = value
    _read_through(json.dumps(nb).encode())


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    _read_through(data)


def test_untouched_template_runs_only_its_definitions():
    cells = cells_to_run(TEMPLATE, answers(TEMPLATE, TEMPLATE))
    assert cells and all("plt.show()" not in c.source for c in cells)
    assert sum(c.region is not None for c in cells) == sum(
        a.kind == "CODE" for a in answers(TEMPLATE, TEMPLATE))
