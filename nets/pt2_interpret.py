"""Run a .pt2 archive's program node by node, without `torch.export.load`.

Loading an archive with torch.export imports torch._dynamo, SymPy and the export machinery:
1.45 s of one core (AMD EPYC, Zen 4) in every sandboxed model run, beside 1.3 s for torch
itself. The programs the grader passes on (`core.pt2` validated them and rewrote the archive)
are plain: aten operators on tensors, numbers and a few enums. `load` reads such a program and
`Program.__call__` calls the same operators with the same arguments, in the same order, as the
GraphModule that `torch.export.load(...).module()` builds, so the outputs are the same bits.

Only what this module knows is run this way: one tensor in, one tensor out, the TRAINING
dialect (what `torch.export.export` writes), a schema version torch reads, parameters (declared
so), buffers and constants stored raw where torch's loader looks for them, no mutated state
among the outputs (the graph's own in-place operators mutate as torch's module does), the
argument kinds below. Anything else makes `load` raise `Unsupported`, and `__call__` raises it
for an input outside the exported shape: the caller then loads the archive with torch.export,
as before, and torch decides.

Self-contained (torch and the standard library): the grader copies it into the sandbox beside
`run_exported.py`.
"""

import json
import keyword
import math
import operator
import re
import zipfile

import torch
from torch import nn

DTYPES = {1: torch.uint8, 2: torch.int8, 3: torch.int16, 4: torch.int32, 5: torch.int64,
          6: torch.float16, 7: torch.float32, 8: torch.float64, 9: torch.complex32,
          10: torch.complex64, 11: torch.complex128, 12: torch.bool, 13: torch.bfloat16}
FORMATS = {1: torch.contiguous_format, 2: torch.channels_last, 3: torch.channels_last_3d,
           4: torch.preserve_format}
LAYOUT_STRIDED = 7
SYM_OPS = {"_operator": operator, "math": math}
SYMBOL = re.compile(r"(?:Symbol\(')?([a-z]+[0-9]+)(?:'(?:, [a-z]+=True)*\))?")


class Unsupported(Exception):
    """The program uses something this module does not run (torch.export loads it instead)."""


def load(path: str) -> "Program":
    """The program of the archive at `path`, ready to call; Unsupported if it is not plain."""
    with zipfile.ZipFile(path) as z:
        roots = {n.split("/", 1)[0] for n in z.namelist()}
        if len(roots) != 1:
            raise Unsupported("more than one folder")
        root = roots.pop()
        prog = json.loads(z.read(f"{root}/models/model.json"))
        _check_program(prog)  # before any weight is read
        weights = _payloads(z, f"{root}/data/weights", "model_weights_config.json")
        constants = _payloads(z, f"{root}/data/constants", "model_constants_config.json")
    gm = prog["graph_module"]
    return Program(gm["graph"], gm["signature"], weights, constants,
                   prog.get("range_constraints") or {})


def _check_program(prog: dict) -> None:
    """Unsupported unless torch reads this schema, in the TRAINING dialect, and the model is
    called with one tensor and returns one."""
    from torch._export.serde.schema import SCHEMA_VERSION  # 16 ms: not torch._export.serde

    version = prog.get("schema_version") or {}
    if version.get("major") != SCHEMA_VERSION[0] or prog.get("verifiers") != ["TRAINING"]:
        raise Unsupported("schema version or dialect")
    _check_call_spec(prog["graph_module"])


def _payloads(z: zipfile.ZipFile, folder: str, config: str) -> dict[str, torch.Tensor]:
    """Tensors by name from a weights or constants folder, as torch's loader makes them: raw
    bytes viewed as their metadata says, one storage per file (names sharing a file alias), an
    nn.Parameter where the entry declares one (`is_param`), `requires_grad` as recorded. Not a
    formality: some kernels choose their path by it even under no_grad (a GRU's outputs move by
    1e-7 at some batch sizes), and torch's module refuses a parameter that is not a Parameter."""
    files: dict[str, torch.Tensor] = {}
    out: dict[str, torch.Tensor] = {}
    for name, meta in json.loads(z.read(f"{folder}/{config}"))["config"].items():
        tm = meta.get("tensor_meta") or {}
        if meta.get("use_pickle") or not meta["path_name"].startswith(("weight_", "tensor_")) \
                or tm.get("layout") != LAYOUT_STRIDED or tm.get("dtype") not in DTYPES \
                or (tm.get("device") or {}).get("type") != "cpu":
            raise Unsupported(f"payload {name}")
        dtype, sizes = DTYPES[tm["dtype"]], _ints(tm["sizes"])
        if meta["path_name"] not in files:
            data = z.read(f"{folder}/{meta['path_name']}")
            # A fresh (aligned) storage, as torch's reader gives; empty files are zeros.
            flat = (torch.frombuffer(bytearray(data), dtype=dtype).clone() if data else
                    torch.zeros(sizes, dtype=dtype))
            files[meta["path_name"]] = flat.requires_grad_(bool(tm.get("requires_grad")))
        t = torch.as_strided(files[meta["path_name"]], sizes, _ints(tm["strides"]),
                             _ints([tm["storage_offset"]])[0])
        out[name] = nn.Parameter(t, requires_grad=bool(tm.get("requires_grad"))) \
            if meta.get("is_param") else t
    return out


def _ints(values: list) -> list[int]:
    if not all(isinstance(v, dict) and set(v) == {"as_int"} for v in values):
        raise Unsupported("a symbolic size in a stored tensor")
    return [int(v["as_int"]) for v in values]


def _check_call_spec(gm: dict) -> None:
    """Unsupported unless the model is called with one tensor and returns one."""
    calls = [c for c in gm.get("module_call_graph", []) if c.get("fqn") == ""]
    sig = calls[0].get("signature") if calls else None
    leaf = [1, {"type": None, "context": None, "children_spec": []}]
    one_in = [1, {"type": "builtins.tuple", "context": "null", "children_spec": [
        {"type": "builtins.tuple", "context": "null", "children_spec": [leaf[1]]},
        {"type": "builtins.dict", "context": "[]", "children_spec": []}]}]
    if not sig or json.loads(sig["in_spec"]) != one_in or json.loads(sig["out_spec"]) != leaf:
        raise Unsupported("not one tensor in and one out")


class Program:
    """A loaded program: call it on a tensor. `parameters()` and `to(memory_format=...)` act as
    on the GraphModule torch builds (parameters and buffers move, constants stay)."""

    def __init__(self, graph: dict, signature: dict, weights: dict, constants: dict,
                 ranges: dict) -> None:
        self.state: dict[str, torch.Tensor] = {}  # parameters and buffers: what `to` converts
        self.params: list[str] = []
        self.inputs: list[tuple[str, str]] = []  # (graph input name, state key or "" for x)
        for spec in signature["input_specs"]:
            (kind, body), = spec.items()
            if kind == "user_input":
                if "as_tensor" not in body["arg"]:
                    raise Unsupported("an input that is not a tensor")
                self.inputs.append((body["arg"]["as_tensor"]["name"], ""))
                continue
            name = body["arg"]["name"]
            key = {"parameter": "parameter_name", "buffer": "buffer_name",
                   "tensor_constant": "tensor_constant_name"}.get(kind)
            if key is None:
                raise Unsupported(f"input kind {kind}")
            # Where torch's loader looks: the state dict holds parameters and persistent
            # buffers, the constants the rest
            store = weights if kind == "parameter" or body.get("persistent") else constants
            if body[key] not in store or \
                    isinstance(store[body[key]], nn.Parameter) != (kind == "parameter"):
                raise Unsupported(f"no tensor for {body[key]}, or not of its kind")
            if kind != "tensor_constant":  # torch registers these; constants stay attributes
                self.state[body[key]] = store[body[key]]
            self.params += [body[key]] if kind == "parameter" else []
            self.inputs.append((name, body[key]))
        self.constants = constants
        users = [n for n, key in self.inputs if not key]
        outs = signature["output_specs"]
        if len(users) != 1 or len(outs) != 1 or set(outs[0]) != {"user_output"} or \
                graph["outputs"] != [outs[0]["user_output"]["arg"]] or \
                "as_tensor" not in graph["outputs"][0]:
            raise Unsupported("inputs or outputs beyond one tensor each")
        self.output = graph["outputs"][0]["as_tensor"]["name"]
        self.shape = _shape(graph["tensor_values"][users[0]]["sizes"], ranges)
        self.nodes = [_Node(n) for n in graph["nodes"]]
        _mark_last_uses(self.nodes, self.output)

    def parameters(self) -> list[torch.Tensor]:
        return [self.state[k] for k in self.params]

    def to(self, *, memory_format: torch.memory_format) -> "Program":
        # nn.Module.to converts only 4-D and 5-D tensors to a memory format. All or nothing:
        # where a conversion fails (channels-last of a 5-D weight) torch's module is left half
        # converted, this program as it was; either way the caller hands the archive to torch.
        with torch.no_grad():  # and parameters stay Parameters, as nn.Module._apply keeps them
            self.state = {k: _like(t, t.to(memory_format=memory_format)) if t.dim() in (4, 5)
                          else t for k, t in self.state.items()}
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_shape(self.shape, x)
        env: dict = {n: (self.state.get(k, self.constants.get(k)) if k else x)
                     for n, k in self.inputs}
        for node in self.nodes:
            node.run(env)
        return env[self.output]


def _like(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    return nn.Parameter(new, old.requires_grad) if isinstance(old, nn.Parameter) else new


def _shape(sizes: list, ranges: dict) -> list:
    """The input's exported sizes: ints, or (symbol, min, max) for a dynamic dimension."""
    out: list = []
    for s in sizes:
        if "as_int" in s:
            out.append(int(s["as_int"]))
            continue
        m = SYMBOL.fullmatch((s.get("as_expr") or {}).get("expr_str", ""))
        r = ranges.get(m.group(1)) if m else None
        if m is None or r is None:
            raise Unsupported("an input dimension that is an expression")
        hi = r.get("max_val")
        out.append((m.group(1), r.get("min_val") or 0, math.inf if hi is None else hi))
    return out


def _check_shape(shape: list, x: torch.Tensor) -> None:
    """Unsupported (torch then decides) unless `x` has the exported shape: stricter than
    torch's own check, never looser."""
    seen: dict[str, int] = {}
    if not isinstance(x, torch.Tensor) or x.dim() != len(shape):
        raise Unsupported("input rank")
    for want, got in zip(shape, x.shape):
        if isinstance(want, int):
            ok = want == got
        else:
            ok = want[1] <= got <= want[2] and seen.setdefault(want[0], got) == got
        if not ok:
            raise Unsupported("input shape")


class _Node:
    """One node: its operator, how to build its arguments, where its outputs go."""

    def __init__(self, node: dict) -> None:
        target = node["target"]
        module, _, name = target.rpartition(".")
        self.uses: set[str] = set()
        self.drop: list[str] = []  # values whose last use this is
        if module in SYM_OPS:
            self.op = getattr(SYM_OPS[module], name)
            self.args = [self._arg(i["arg"]) for i in node["inputs"]]
            self.kwargs: dict = {}
        elif target.startswith("torch.ops.aten."):
            op_name, overload = target[len("torch.ops.aten."):].split(".")
            try:
                self.op = getattr(getattr(torch.ops.aten, op_name), overload)
            except (AttributeError, RuntimeError):
                raise Unsupported(f"operator {target}") from None
            self.args, self.kwargs = self._schema_args(node["inputs"])
        else:
            raise Unsupported(f"operator {target}")
        self.outputs = [self._out(o) for o in node["outputs"]]

    def _schema_args(self, inputs: list) -> tuple[list, dict]:
        """Positional and keyword arguments in the schema's order, as torch's deserializer
        builds them from each input's recorded kind."""
        given = {i["name"]: i for i in inputs}
        args, kwargs = [], {}
        for a in self.op._schema.arguments:
            i = given.get(a.name)
            if i is None:
                continue
            if i.get("kind") == 1:
                args.append(self._arg(i["arg"]))
            elif i.get("kind") == 2 and not keyword.iskeyword(a.name):
                kwargs[a.name] = self._arg(i["arg"])
            else:
                raise Unsupported(f"argument kind of {a.name}")
        return args, kwargs

    def _arg(self, arg: dict):
        """The argument as a value, with each graph value in it a `_Ref` (resolved per call)."""
        (kind, v), = arg.items()
        if kind in ("as_int", "as_ints", "as_bool", "as_bools", "as_string", "as_strings",
                    "as_none"):
            return None if kind == "as_none" else v
        if kind in ("as_float", "as_floats"):
            # float() reads the "Infinity", "-Infinity" and "NaN" that torch writes
            return float(v) if kind == "as_float" else [float(f) for f in v]
        if kind == "as_tensor":
            return self._ref(v["name"])
        if kind == "as_tensors":
            return [self._ref(t["name"]) for t in v]
        if kind == "as_optional_tensors":
            return [None if "as_none" in t else self._ref(t["as_tensor"]["name"]) for t in v]
        if kind in ("as_sym_int", "as_sym_bool", "as_sym_float"):
            return self._sym(v)
        if kind in ("as_sym_ints", "as_sym_bools", "as_sym_floats"):
            return [self._sym(s) for s in v]
        if kind == "as_scalar_type" and v in DTYPES:
            return DTYPES[v]
        if kind == "as_memory_format" and v in FORMATS:
            return FORMATS[v]
        if kind == "as_layout" and v == LAYOUT_STRIDED:
            return torch.strided
        if kind == "as_device":
            return torch.device(v["type"], v.get("index"))
        if kind == "as_int_lists":
            return [tuple(d) for d in v]
        if kind == "as_complex":
            return complex(v["real"], v["imag"])
        raise Unsupported(f"argument {kind}")

    def _sym(self, s: dict):
        (kind, v), = s.items()
        return self._ref(v) if kind == "as_name" else float(v) if kind == "as_float" else v

    def _ref(self, name: str) -> "_Ref":
        self.uses.add(name)
        return _Ref(name)

    @staticmethod
    def _out(o: dict):
        (kind, v), = o.items()
        if kind == "as_tensor":
            return v["name"]
        if kind == "as_tensors":
            return [t["name"] for t in v]
        if kind in ("as_sym_int", "as_sym_bool", "as_sym_float") and "as_name" in v:
            return v["as_name"]
        if kind == "as_none":
            return None
        raise Unsupported(f"output {kind}")

    def run(self, env: dict) -> None:
        result = self.op(*_resolve(self.args, env), **_resolve(self.kwargs, env))
        # One output (a value, or a list of them) is the result; several are its items.
        parts = [result] if len(self.outputs) <= 1 else result
        for out, value in zip(self.outputs, parts):
            if isinstance(out, list):
                env.update((name, v) for name, v in zip(out, value) if name is not None)
            elif out is not None:
                env[out] = value
        for name in self.drop:  # as torch's generated forward does: memory back at last use
            env.pop(name, None)


class _Ref(str):
    """A value of the graph, by name."""


def _resolve(a, env: dict):
    if isinstance(a, _Ref):
        return env[a]
    if isinstance(a, list):
        return [_resolve(v, env) for v in a]
    if isinstance(a, dict):
        return {k: _resolve(v, env) for k, v in a.items()}
    return a


def _mark_last_uses(nodes: list[_Node], keep: str) -> None:
    seen = {keep}
    for node in reversed(nodes):
        node.drop = sorted(node.uses - seen)
        seen |= node.uses
