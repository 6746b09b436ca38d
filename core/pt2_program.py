"""What a .pt2 archive's program may say (`core.pt2` reads the zip and its members).

The program JSON names only tensors, numbers and aten (or symbolic-int) operators, with no
guards code, custom objects, subgraphs or operators as values, and shape expressions from a
small grammar of SymPy constructors (torch sympify()s them); pickles (the sample inputs) name
only the globals that rebuild tensors, read with pickletools and never unpickled.
"""

from __future__ import annotations

import pickletools
import re

from core.errors import DlhwError


class UnsafeModel(DlhwError, ValueError):
    """The archive is not what torch.export.save writes: one line, naming the member."""


_TOP_KEYS = {"graph_module", "opset_version", "range_constraints", "schema_version", "verifiers",
             "torch_version", "guards_code"}
# Argument kinds that reach objects beyond tensors and numbers (custom classes, subgraphs of
# higher-order ops, operators passed as values): none is needed by a feed-forward model.
_FORBIDDEN_KEYS = {"as_custom_obj", "custom_obj", "as_graph", "as_operator"}
_TARGET = re.compile(r"torch\.ops\.aten\.[A-Za-z0-9_]{1,80}\.[A-Za-z0-9_]{1,40}|"
                     r"_operator\.(getitem|add|sub|mul|floordiv|truediv|mod|neg|pow|eq|ne|lt|"
                     r"le|gt|ge|and_|or_)|math\.(ceil|floor|sqrt|trunc)|"
                     r"torch\.sym_(max|min|float|int|not|sqrt|ite|sum)")
# Shape expressions are SymPy srepr strings, which torch sympify()s: tokens are limited to these
# constructors, symbol names in quotes, integers and arithmetic, so the text cannot name anything
# else (no attribute access, no other identifiers, no string beyond a symbol name).
_SYMPY_NAMES = {"Symbol", "Integer", "Rational", "Add", "Mul", "Pow", "Max", "Min", "Abs", "Eq",
                "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan", "StrictGreaterThan",
                "LessThan", "GreaterThan", "Equality", "Unequality", "And", "Or", "Not",
                "floor", "ceiling", "true", "false", "True", "False", "BooleanTrue",
                "BooleanFalse", "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod",
                "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv", "LShift", "RShift",
                "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv", "TruncToFloat",
                "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity",
                "positive", "negative", "nonnegative", "nonpositive", "integer", "real",
                "finite", "nonzero", "even", "odd", "zero"}
_EXPR_TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_]{0,40}|'[a-z]{1,8}[0-9]{0,8}'|[0-9]{1,20}|"
                         r"[-+*/(),=]")
MAX_EXPR = 2000
# Globals a torch.save pickle of tensors names (protocol 2: GLOBAL opcodes only).
_PICKLE_GLOBALS = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
                   ("collections", "OrderedDict"), ("torch", "device"), ("torch", "Size")} | {
    ("torch", f"{t}Storage") for t in ("Float", "Double", "Half", "BFloat16", "Long", "Int",
                                       "Short", "Char", "Byte", "Bool")}


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def check_program(prog: object, where: str) -> dict:
    """`prog` (the parsed program JSON) if it names only tensors, numbers and aten operators,
    with no code for torch to exec or evaluate; else UnsafeModel. Its nodes' metadata is
    dropped."""
    if not isinstance(prog, dict) or "graph_module" not in prog or \
            not set(prog) <= _TOP_KEYS:
        extra = sorted(set(prog) - _TOP_KEYS) if isinstance(prog, dict) else []
        raise UnsafeModel(f"{where}: not a serialized ExportedProgram"
                          + (f" (unknown key {extra[0][:40]!r})" if extra else ""))
    if prog.get("guards_code", []) != []:
        raise UnsafeModel(f"{where}: guards_code is Python that torch would exec; "
                          "expected none")
    verifiers = prog.get("verifiers", [])
    if not isinstance(verifiers, list) or not all(
            isinstance(v, str) and re.fullmatch(r"[A-Z_]{1,20}", v) for v in verifiers):
        raise UnsafeModel(f"{where}: verifiers must be dialect names")
    stack: list[tuple[object, str]] = [(prog, "")]
    while stack:
        node, key = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k in _FORBIDDEN_KEYS:
                    raise UnsafeModel(f"{where}: {k!r} refers to an object that is not a "
                                      "tensor or a number (custom class, subgraph or "
                                      "operator): refused")
                if k == "expr_str":
                    _check_expr(v, where)
                stack.append((v, k))
        elif isinstance(node, list):
            stack.extend((v, key) for v in node)
    gm = prog["graph_module"]
    graph = gm.get("graph") if isinstance(gm, dict) else None
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(graph, dict) or not isinstance(nodes, list):
        raise UnsafeModel(f"{where}: no graph nodes")
    if gm.get("treespec_namedtuple_fields", {}) or graph.get("custom_obj_values", {}):
        raise UnsafeModel(f"{where}: named tuples and custom objects are refused")
    for node in nodes:
        target = node.get("target") if isinstance(node, dict) else None
        if not isinstance(target, str) or not _TARGET.fullmatch(target):
            raise UnsafeModel(f"{where}: operator {str(target)[:80]!r} is not an aten "
                              "operator")
        node["metadata"] = {}  # stack traces and source names: not needed to run it
    return prog


def _check_expr(expr: object, where: str) -> None:
    if not isinstance(expr, str) or len(expr) > MAX_EXPR:
        raise UnsafeModel(f"{where}: a shape expression longer than {MAX_EXPR} characters")
    pos = depth = 0
    while pos < len(expr):
        m = _EXPR_TOKEN.match(expr, pos)
        tok = m.group() if m else expr[pos]
        if m is None or (tok[0].isalpha() or tok[0] == "_") and tok not in _SYMPY_NAMES:
            raise UnsafeModel(f"{where}: shape expression {expr[:60]!r}: {tok[:30]!r} is not "
                              "part of a SymPy shape expression (torch would evaluate it)")
        depth += (tok == "(") - (tok == ")")
        if depth > 32 or depth < 0:
            raise UnsafeModel(f"{where}: shape expression {expr[:60]!r}: unbalanced or too "
                              "deeply nested")
        pos = m.end()


def pickle_globals(data: bytes, where: str) -> set[tuple[str, str]]:
    """The globals a pickle names, read with pickletools (nothing is executed); UnsafeModel
    unless each is a tensor-rebuilding one and only protocol-2 GLOBAL opcodes name them."""
    found: set[tuple[str, str]] = set()
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"):
                raise UnsafeModel(f"{where}: pickle opcode {op.name} (not what torch.save "
                                  "writes for tensors): refused, never unpickled")
            if op.name == "GLOBAL":
                module, _, name = str(arg).partition(" ")
                if (module, name) not in _PICKLE_GLOBALS:
                    raise UnsafeModel(f"{where}: pickle calls {module[:60]}.{name[:60]} (only "
                                      "tensor-rebuilding globals are accepted): refused, never "
                                      "unpickled")
                found.add((module, name))
    except ValueError as exc:
        if isinstance(exc, UnsafeModel):
            raise
        raise UnsafeModel(f"{where}: not a valid pickle ({one_line(exc)})") from None
    return found


def json_depth(obj: object) -> int:
    """Nesting depth of parsed JSON, measured without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest
