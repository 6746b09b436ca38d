"""No spec, however broken, gives a traceback: the shipped specs mutated at random (a field
dropped, a line duplicated, a value of another type, two formulas swapped, given values drawn
at random) either solve and print, or fail with one line naming the file and the line."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.engine import solve
from solver.render import to_json, to_latex, to_text
from solver.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "problems").glob("q[0-9]*.yaml"))
ODD = [42, -1.5, 0, "text", "", [], {}, None, True, "x**", "diff(a, 2*a)", "1e99999999",
       "exp(800*z)", "z if z > 0 else 1/z", "max(0, z)", "diff(max(0, z), z)", "sqrt(-1)",
       "log(0)", "1/(w - w)", "0.1" * 200, {"kind": "numeric"}, ["derive"],
       {"formula": "diff(z, z)", "rule": "x"}]
NUMBERS = st.one_of(st.sampled_from([0, 1, -1, 0.5, -0.25, 1e-300, 1e300, 35, -35, 1e-17]),
                    st.floats(-50, 50, allow_nan=False).map(lambda v: float(f"{v:.3g}")))


def _places(node: object, path: tuple = ()) -> list[tuple]:
    """Every (path to a container, key) in a loaded YAML document."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((path, k))
            out += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((path, i))
            out += _places(v, (*path, i))
    return out


def _at(doc: object, path: tuple) -> object:
    for k in path:
        doc = doc[k]  # type: ignore[index]
    return doc


def _formulas(doc: object) -> list[tuple]:
    return [(p, k) for p, k in _places(doc) if k in ("formula", "form")
            and isinstance(_at(doc, p)[k], str)]  # type: ignore[index]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Path, str]:
    source = draw(st.sampled_from(FILES))
    text = source.read_text()
    doc = yaml.safe_load(text)
    kind = draw(st.sampled_from(["drop", "duplicate", "retype", "swap", "values"]))
    places = _places(doc)
    if kind == "duplicate":
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        return source, "\n".join(lines[:i + 1] + lines[i:]) + "\n"
    if kind == "drop":
        path, key = draw(st.sampled_from(places))
        del _at(doc, path)[key]  # type: ignore[attr-defined]
    elif kind == "retype":
        path, key = draw(st.sampled_from(places))
        _at(doc, path)[key] = draw(st.sampled_from(ODD))  # type: ignore[index]
    elif kind == "swap" and len(_formulas(doc)) > 1:
        (pa, ka), (pb, kb) = draw(st.lists(st.sampled_from(_formulas(doc)), min_size=2,
                                           max_size=2, unique=True))
        a, b = _at(doc, pa), _at(doc, pb)
        a[ka], b[kb] = b[kb], a[ka]  # type: ignore[index]
    elif kind == "values" and doc.get("given"):
        for name in draw(st.lists(st.sampled_from(sorted(doc["given"])), min_size=1,
                                  unique=True)):
            doc["given"][name] = draw(NUMBERS)
    return source, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_a_mutated_spec_solves_or_fails_with_one_line_naming_file_and_line(tmp_path, case):
    source, text = case
    path = tmp_path / source.name
    path.write_text(text)
    try:
        sol = solve(load_spec(path), sigfigs=6)
        assert to_text([sol], 6) and to_latex([sol], 6) and to_json([sol], 6)
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert re.match(rf"{re.escape(str(path))}:\d+: \S", message), message
