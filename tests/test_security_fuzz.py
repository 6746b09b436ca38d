"""Fuzz whole submissions through `dlhw grade`, single and --batch (issue 9, Proof): random bytes,
random YAML and JSON structures and random zips as every file a submission may hold. Whatever
they are: no traceback, one JSON result or one gradebook row per folder, valid UTF-8, done
within the limit."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import cli
from grader.results import exit_status

FILES = ["answers.yaml", "metrics.yaml", "student.yaml", "partb.ipynb", "models/fashion.pt2",
         "models/regression.pt2", "report.tex"]
LIMIT = "60"  # per submission; a hang past it would be an `error` row, never a hung test


def check_row(row: dict) -> None:
    assert row["status"] in ("graded", "invalid", "error"), row
    assert not any("internal error" in p or "Traceback" in p for p in row["problems"]), row
    bad = [i for i, q in row["questions"].items() if q["status"] == "error" and
           "internal error" in q["feedback"]]
    assert not bad, [row["questions"][i]["feedback"] for i in bad]


@pytest.fixture(scope="module", autouse=True)
def torch_imported():
    """The forked grading children inherit torch instead of importing it per .pt2 file."""
    import nets.export  # noqa: F401


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                  st.floats(allow_nan=False, allow_infinity=False),
                  st.text(max_size=30),
                  st.sampled_from(["0.5722", "1 - tanh(z)**2", "=1+1", "\x1b[2J", "\udc80",
                                   "9" * 400, r"\frac{a}{b}", "q1", "fashion.test_accuracy",
                                   "cells", "source", "STARTCODE"]))
_tree = st.recursive(_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.text(max_size=12) | st.sampled_from(["q1", "q6", "z1", "id", "name",
                                                             "cells", "source", "metadata"]),
                    kids, max_size=4)), max_leaves=25)


def _yaml(data: object) -> bytes:
    import yaml
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")


def _json(data: object) -> bytes:
    return json.dumps(data).encode()


@st.composite
def _zip(draw) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", draw(st.sampled_from([zipfile.ZIP_STORED,
                                                         zipfile.ZIP_DEFLATED]))) as z:
        names = draw(st.lists(st.sampled_from(
            ["archive/version", "archive/data.pkl", "archive/models/model.json",
             "archive/data/weights/model_weights_config.json", "archive/data/weights/w0",
             "../escape", "archive/data/constants/c0", "x"]) | st.text(min_size=1, max_size=20),
            max_size=5))
        for name in names:
            z.writestr(name, draw(st.binary(max_size=200) | _tree.map(_json)))
    data = buf.getvalue()
    if draw(st.booleans()) and len(data) > 30:  # a damaged archive: one byte flipped
        k = draw(st.integers(0, len(data) - 1))
        data = data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1:]
    return data


_content = st.one_of(st.binary(max_size=300), _tree.map(_yaml), _tree.map(_json), _zip(),
                     st.integers(1, 400).map(lambda d: ("[" * d + "]" * d).encode()),
                     st.sampled_from([b"\\documentclass{IEEEtran}" + b"{" * 300,
                                      b'{"cells": [{"source": [null]}]}',
                                      b"q1: {z1: 0.56}\n", b"\xff\xfe\x00"]))
_submission = st.dictionaries(st.sampled_from(FILES), _content, max_size=4)


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    for rel, data in files.items():
        (folder / rel).parent.mkdir(exist_ok=True)
        (folder / rel).write_bytes(data)


@pytest.mark.filterwarnings("ignore:Duplicate name")  # duplicate members are a fuzzed attack
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=_submission, parts=st.sampled_from(["A", "AB", "ABC"]),
       form=st.sampled_from(["json", "gradescope", "table"]))
def test_fuzzed_submission_single(tmp_path_factory, files, parts, form):
    folder = tmp_path_factory.mktemp("fuzz") / "s1"
    _write(folder, files)
    res = CliRunner().invoke(cli, ["grade", str(folder), "--parts", parts, "--format", form,
                                   "--time-limit", LIMIT])
    text = res.stdout_bytes.decode("utf-8")  # strict: valid UTF-8
    assert res.exit_code in (0, 1), (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output, text
    if form == "json":
        check_row(json.loads(text))
    elif form == "gradescope":
        json.loads(text)
    else:
        assert text.startswith("s1")


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(folders=st.lists(_submission, min_size=1, max_size=4))
def test_fuzzed_class_batch(tmp_path_factory, folders):
    root = tmp_path_factory.mktemp("fuzzclass")
    for k, files in enumerate(folders):
        _write(root / "class" / f"s{k}", files)
    res = CliRunner().invoke(cli, ["grade", str(root / "class"), "--batch", "--out",
                                   str(root / "out"), "--jobs", "2", "--time-limit", LIMIT])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    rows = list(csv.DictReader((root / "out" / "gradebook.csv").read_bytes().decode("utf-8")
                               .splitlines()))
    assert res.exit_code == exit_status([r["status"] for r in rows]), res.output
    assert [r["folder"] for r in rows] == [f"s{k}" for k in range(len(folders))]
    for k in range(len(folders)):
        check_row(json.loads((root / "out" / "students" / f"s{k}.json").read_bytes().decode()))
