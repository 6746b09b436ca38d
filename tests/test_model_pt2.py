"""The .pt2 validator attacked with the constructions of issue 9, built from a real torch.export
archive. Each attack is first shown live (torch.export.load runs its payload, in a child process,
aimed at a control file), then refused by the grader with one line while its payload never runs.
"""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.pt2 import UnsafeModel, validate
from grader.context import RunContext
from grader.grade import grade_submission


class _Payload:
    """Unpickling this creates the file `marker`: what a crafted archive does to its loader."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def export_small(path: Path) -> Path:
    """A real archive, from the project's own export path (a small CNN, batch dynamic)."""
    import torch

    from nets.export import export_model
    from nets.models import CNNSpec, build_cnn

    torch.manual_seed(0)
    return export_model(build_cnn(CNNSpec(widths=(4, 8), convs=(1, 1))).eval(), path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    return export_small(tmp_path_factory.mktemp("real") / "fashion.pt2")


def _rebuild(src: Path, dst: Path, change: dict[str, bytes | None] | None = None,
             add: dict[str, bytes] | None = None) -> Path:
    """Copy an archive member by member, replacing (None: dropping) or adding members."""
    change, add = change or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        root = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            rel = info.filename.split("/", 1)[1]
            data = change[rel] if rel in change else zin.read(info)
            if data is not None:
                zout.writestr(info.filename, data)
        for rel, data in add.items():
            zout.writestr(f"{root}/{rel}", data)
    return dst


def _member(src: Path, rel: str) -> bytes:
    with zipfile.ZipFile(src) as z:
        return z.read(next(n for n in z.namelist() if n.split("/", 1)[1] == rel))


def _json(src: Path, rel: str) -> dict:
    return json.loads(_member(src, rel))


def _torch_save(obj) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# ------------------------------------------------------------ the constructions


def dup_path_name(src: Path, dst: Path, marker: str) -> Path:
    """Two entries name weight_0: the real one raw, a second one pickled (listed first)."""
    cfg = _json(src, "data/weights/model_weights_config.json")
    first = next(iter(cfg["config"].values()))
    size = len(_member(src, "data/weights/weight_0"))
    payload = pickle.dumps(_Payload(marker), protocol=2)
    evil = {**first, "use_pickle": True}
    cfg["config"] = {"evil": evil, **cfg["config"]}
    return _rebuild(src, dst, {"data/weights/model_weights_config.json": json.dumps(
        cfg).encode(), "data/weights/weight_0": payload.ljust(size, b"\0")})


def second_config(src: Path, dst: Path, marker: str) -> Path:
    """A pickled sample-inputs member, and a second file whose name merely ends in
    model_weights_config.json declaring it raw (what fooled the old inspection)."""
    meta = next(iter(_json(src, "data/weights/model_weights_config.json")["config"].values()))
    fake = {"config": {"x": {**meta, "path_name": "model.pt", "use_pickle": False}}}
    return _rebuild(src, dst, {"data/sample_inputs/model.pt": _torch_save({"x": _Payload(
        marker)})}, {"data/sample_inputs/model_weights_config.json": json.dumps(fake).encode()})


def opaque_constant(src: Path, dst: Path, marker: str) -> Path:
    """A constants entry for an 'opaque object' declared raw: torch calls pickle.loads on it."""
    payload = pickle.dumps(_Payload(marker), protocol=2)
    meta = {"dtype": 1, "sizes": [{"as_int": len(payload)}], "requires_grad": False,
            "device": {"type": "cpu", "index": None}, "strides": [{"as_int": 1}],
            "storage_offset": {"as_int": 0}, "layout": 7}
    cfg = {"config": {"evil": {"path_name": "opaque_obj_0", "is_param": False,
                               "use_pickle": False, "tensor_meta": meta}}}
    return _rebuild(src, dst, {"data/constants/model_constants_config.json": json.dumps(
        cfg).encode()}, {"data/constants/opaque_obj_0": payload})


def planted_sample_inputs(src: Path, dst: Path, marker: str) -> Path:
    """The plain planted pickle: torch retries the sample inputs with weights_only=False."""
    return _rebuild(src, dst, {"data/sample_inputs/model.pt": _torch_save({"x": _Payload(
        marker)})})


def guards_code(src: Path, dst: Path, marker: str) -> Path:
    """Guards code, which .module() execs and every call runs."""
    prog = _json(src, "models/model.json")
    prog["guards_code"] = [f"__import__('builtins').open({marker!r}, 'w') is not None"]
    return _rebuild(src, dst, {"models/model.json": json.dumps(prog).encode()})


def sympy_expression(src: Path, dst: Path, marker: str) -> Path:
    """A shape expression, which the deserializer hands to sympy.sympify (an eval)."""
    prog = _json(src, "models/model.json")
    code = f'__import__("builtins").open("{marker}", "w")'
    stack: list = [prog]
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and isinstance(node.get("expr_str"), str):
            node["expr_str"] = f"lambdify([], '{code}')() and {node['expr_str']}"
            break
        stack.extend(node.values() if isinstance(node, dict) else
                     node if isinstance(node, list) else [])
    else:
        raise AssertionError("no shape expression in the program")
    return _rebuild(src, dst, {"models/model.json": json.dumps(prog).encode()})


ATTACKS = {"dup_path_name": (dup_path_name, "'evil' is declared pickled"),
           "second_config": (second_config, "sample_inputs/model_weights_config.json': not "
                             "part of a torch.export archive"),
           "opaque_constant": (opaque_constant, "opaque_obj_0': not part of a torch.export "
                               "archive"),
           "planted_sample_inputs": (planted_sample_inputs, "pickle calls io.open"),
           "guards_code": (guards_code, "guards_code is Python"),
           "sympy_expression": (sympy_expression, "'lambdify' is not part of a SymPy")}

_CONTROL = """
import sys, torch
for path in sys.argv[1:]:
    try:
        module = torch.export.load(path).module()
        module(torch.rand(2, 1, 28, 28))
    except Exception as exc:
        print(path, type(exc).__name__, str(exc)[:200])
"""


@pytest.fixture(scope="module")
def controls(exported, tmp_path_factory) -> dict[str, Path]:
    """Each construction aimed at its own control file, loaded by torch.export.load in one
    child process: the control files prove the payloads are live."""
    d = tmp_path_factory.mktemp("controls")
    made = {name: build(exported, d / f"{name}.pt2", str(d / f"{name}.ran"))
            for name, (build, _) in ATTACKS.items()}
    subprocess.run([sys.executable, "-c", _CONTROL, *map(str, made.values())],
                   capture_output=True, timeout=300)
    return {name: d / f"{name}.ran" for name in ATTACKS}


def test_real_archive_validates_and_rewrites_to_the_same_program(exported, tmp_path):
    import torch

    summary = validate(exported, tmp_path / "clean.pt2")
    assert summary.parameters > 0
    with zipfile.ZipFile(tmp_path / "clean.pt2") as z:
        names = z.namelist()
        assert z.read("archive/data/sample_inputs/model.pt") == b""  # never the student's
    assert len(names) == len(set(names))
    x = torch.rand(3, 1, 28, 28)
    a = torch.export.load(str(exported)).module()
    b = torch.export.load(str(tmp_path / "clean.pt2")).module()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_is_live_in_torch_but_refused_by_the_grader(attack, exported, controls,
                                                           tmp_path):
    build, message = ATTACKS[attack]
    assert controls[attack].exists(), f"control: torch.export.load should run the {attack} " \
        "payload"
    marker = tmp_path / "pwned"
    sub = tmp_path / "s"
    (sub / "models").mkdir(parents=True)
    build(exported, sub / "models" / "fashion.pt2", str(marker))
    with pytest.raises(UnsafeModel, match="^[^\n]*$") as err:
        validate(sub / "models" / "fashion.pt2", tmp_path / "out.pt2")
    assert message in str(err.value)
    assert not (tmp_path / "out.pt2").exists()  # nothing written for a refused archive
    (sub / "metrics.yaml").write_text("fashion.test_accuracy: 0.99\n")
    result = grade_submission(sub, RunContext.build(parts="C"))
    fashion = next(i for i in result.items if i.id == "fashion")
    assert fashion.status == "invalid" and fashion.score is None
    assert "refused" in fashion.feedback and "\n" not in fashion.feedback
    assert message in fashion.feedback
    assert result.status == "invalid"
    assert not marker.exists()


def test_duplicate_member_names_refused(exported, tmp_path):
    dst = tmp_path / "dup.pt2"
    with zipfile.ZipFile(exported) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        with pytest.warns(UserWarning, match="Duplicate name"):
            zout.writestr(zin.namelist()[0], b"\0" * 16)
    with pytest.raises(UnsafeModel, match="appears twice"):
        validate(dst)


def test_duplicate_json_keys_refused(exported, tmp_path):
    text = _member(exported, "models/model.json").decode()
    evil = text[:-1] + ', "guards_code": []}'  # a second guards_code key
    with pytest.raises(UnsafeModel, match="'guards_code' appears twice"):
        validate(_rebuild(exported, tmp_path / "k.pt2", {"models/model.json": evil.encode()}))


def test_unlisted_and_orphan_members_refused(exported, tmp_path):
    with pytest.raises(UnsafeModel, match="extra/notes.txt.*not part"):
        validate(_rebuild(exported, tmp_path / "a.pt2", add={"extra/notes.txt": b"hi"}))
    with pytest.raises(UnsafeModel, match="weight_99.*no config entry names it"):
        validate(_rebuild(exported, tmp_path / "b.pt2", add={"data/weights/weight_99": b"\0"}))
    with pytest.raises(UnsafeModel, match="does not hold"):
        validate(_rebuild(exported, tmp_path / "c.pt2", {"data/weights/weight_0": None}))


def test_non_aten_operator_refused(exported, tmp_path):
    prog = _json(exported, "models/model.json")
    prog["graph_module"]["graph"]["nodes"][0]["target"] = "torch.load"
    with pytest.raises(UnsafeModel, match="'torch.load' is not an aten operator"):
        validate(_rebuild(exported, tmp_path / "t.pt2",
                          {"models/model.json": json.dumps(prog).encode()}))


def test_truncated_weight_file_refused(exported, tmp_path):
    short = _member(exported, "data/weights/weight_0")[:-4]
    with pytest.raises(UnsafeModel, match="weight_0.*holding at least"):
        validate(_rebuild(exported, tmp_path / "s.pt2", {"data/weights/weight_0": short}))


def test_bad_crc_is_one_line(exported, tmp_path):
    data = bytearray(exported.read_bytes())
    weight = _member(exported, "data/weights/weight_2")
    at = data.index(weight)  # stored members: the bytes sit in the file as they are
    data[at + 10] ^= 0xFF
    bad = tmp_path / "crc.pt2"
    bad.write_bytes(bytes(data))
    with pytest.raises(UnsafeModel, match="^corrupt archive .*CRC[^\n]*$"):
        validate(bad)


@pytest.mark.parametrize("depth", [100, 200_000])
def test_deeply_nested_model_json_is_one_line(exported, tmp_path, depth):
    evil = ('{"graph_module": ' + "[" * depth + "]" * depth + "}").encode()
    with pytest.raises(UnsafeModel, match=r"^[^\n]*JSON nested more than 64|^[^\n]*nested "
                                          r"\d+ deep"):
        validate(_rebuild(exported, tmp_path / "deep.pt2", {"models/model.json": evil}))


def test_not_a_zip_and_symlink_refused(tmp_path, exported):
    (tmp_path / "junk.pt2").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(UnsafeModel, match="not a zip"):
        validate(tmp_path / "junk.pt2")
    (tmp_path / "link.pt2").symlink_to(exported)
    with pytest.raises(UnsafeModel, match="cannot read"):
        validate(tmp_path / "link.pt2")


def test_mangled_archives_are_refused_in_one_line_or_pass(exported, tmp_path_factory):
    """Random byte flips, truncations and junk: validate either accepts or raises UnsafeModel,
    never anything else (no traceback reaches the grader)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    original = exported.read_bytes()
    folder = tmp_path_factory.mktemp("fuzz")

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)),
                    max_size=8), st.integers(0, len(original)), st.binary(max_size=64))
    def check(flips, cut, junk):
        data = bytearray(original)
        for at, value in flips:
            data[at] = value
        path = folder / "m.pt2"
        path.write_bytes(bytes(data[:cut]) + junk if junk else bytes(data))
        try:
            validate(path, folder / "out.pt2")
        except UnsafeModel as exc:
            assert "\n" not in str(exc)

    check()


def test_huge_central_directory_refused_before_it_is_read(tmp_path):
    path = tmp_path / "many.pt2"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(5000):
            z.writestr(f"m/data/weights/weight_{i}", b"")
    with pytest.raises(UnsafeModel, match="^5000 members"):
        validate(path)
