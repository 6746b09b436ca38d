"""The reference solution against its own rubric, and the references file's errors."""

from __future__ import annotations

import json

import pytest

from grader.kinds.claim import share_of as metric_share
from grader.references import (
    ReferencesError,
    collect,
    load_references,
    references_path,
    write_references,
)
from grader.rubric import load_rubric


def test_every_graded_metric_has_a_reference_that_earns_full_marks():
    assert references_path().is_file(), "run: dlhw references --runs runs/"
    rubric = load_rubric()
    items = [i for i in rubric.items if i.metric and i.full]  # thresholds, not checks
    assert items
    for item in items:
        assert item.claim.reference is not None, f"{item.metric} missing from {references_path()}"
        share, why = metric_share(item, item.claim.reference)
        assert share == 1, f"{item.id}: the reference {item.claim.reference} fails its bar: {why}"


def test_collect_reads_runs_and_names_what_is_missing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(json.dumps({"x.acc": 0.9, "x.ok": True}))
    assert collect(tmp_path, ["x.acc", "x.ok"]) == {"x.acc": 0.9, "x.ok": True}
    with pytest.raises(ReferencesError, match="no run under .* has y.mse"):
        collect(tmp_path, ["x.acc", "y.mse"])
    out = tmp_path / "refs.yaml"
    write_references(tmp_path, ["x.acc", "x.ok"], out)
    assert load_references(out) == {"x.acc": 0.9, "x.ok": True}


def test_bad_references_file_is_one_line_with_file_and_field(tmp_path):
    bad = tmp_path / "refs.yaml"
    bad.write_text("fashion.test_accuracy: high\n")
    with pytest.raises(ReferencesError, match=r"refs.yaml:1: fashion.test_accuracy: expected a"):
        load_references(bad)
