"""Reading hand-written YAML (specs, rubrics) as nodes, with errors that name file, line, field.

The text is composed into nodes and never constructed by PyYAML, so no tag can build a Python
object, and every value keeps its line and its source text (numbers stay exact).
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from fractions import Fraction
from pathlib import Path

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: same nodes, 20x faster
ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class NodeReader:
    """Typed access to the nodes of one file; failures raise error_type("file:line: field: ...")."""

    def __init__(self, path: Path, error_type: type[ValueError]):
        self.path = path
        self.error_type = error_type
        self.text = ""  # the file's text, once loaded

    def load(self) -> yaml.Node:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.error_type(f"{self.path}: cannot read: {exc}") from None
        self.text = text
        try:
            root = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            problem = getattr(exc, "problem", None) or exc
            raise self.error_type(f"{self.path}:{line}: not valid YAML: {problem}") from None
        if root is None:
            raise self.error_type(f"{self.path}:1: empty file")
        return root

    def fail(self, node: yaml.Node | None, where: str, msg: str) -> ValueError:
        line = node.start_mark.line + 1 if node is not None else 1
        return self.error_type(f"{self.path}:{line}: {where}: {msg}")

    def mapping(self, node: yaml.Node, where: str, required: AbstractSet[str] = frozenset(),
                optional: AbstractSet[str] | None = None) -> dict[str, yaml.Node]:
        """A mapping with text keys; `optional=None` accepts any further key."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping")
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            key = self.string(k, where)
            field = f"{where}.{key}" if where else key
            if key in out:
                raise self.fail(k, field, "duplicate key")
            if optional is not None and key not in required | optional:
                allowed = ", ".join(sorted(required | optional))
                raise self.fail(k, field, f"unknown key (expected one of {allowed})")
            out[key] = v
        for key in sorted(required - out.keys()):
            raise self.fail(node, f"{where}.{key}" if where else key, "missing required field")
        return out

    def pairs(self, node: yaml.Node, where: str) -> list[tuple[str, yaml.Node]]:
        """A mapping whose keys are identifiers, in file order."""
        items = self.mapping(node, where)
        for key, value in items.items():
            if not ID_RE.fullmatch(key):
                raise self.fail(value, f"{where}.{key}", "expected an identifier as the key")
        return list(items.items())

    def ident(self, node: yaml.Node, where: str) -> str:
        value = self.string(node, where)
        if not ID_RE.fullmatch(value):
            raise self.fail(node, where, f"expected an identifier, got {value!r}")
        return value

    def string(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.fail(node, where, "expected text")
        return node.value

    def integer(self, node: yaml.Node, where: str) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:int":
            raise self.fail(node, where, "expected an integer")
        return int(node.value)

    def is_number(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag in _NUMBER_TAGS

    def number(self, node: yaml.Node, where: str, lo: float | None = None,
               hi: float | None = None) -> Fraction:
        """An exact number from its source text, optionally within [lo, hi]."""
        if not self.is_number(node):
            raise self.fail(node, where, "expected a number")
        try:
            value = Fraction(node.value)
        except ValueError:
            raise self.fail(node, where, f"{node.value!r} is not a finite number") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(node, where, f"expected a number in [{lo}, {hi}], got {node.value}")
        return value

    def boolean(self, node: yaml.Node, where: str) -> bool:
        if not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool"):
            raise self.fail(node, where, "expected true or false")
        return node.value.lower() in ("true", "yes", "on")

    def seq(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "expected a list")
        return list(node.value)
