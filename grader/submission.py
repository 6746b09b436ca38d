"""Load a submission folder: untrusted files read safely, each problem a one-line message.

YAML is checked event by event (no aliases, only the plain tags) before it is composed into nodes,
and nodes are turned into plain data by hand, so no tag can ever build a Python object. Numbers
keep their source text: significant figures are judged from what the student wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from solver.variants import STUDENT_ID_RE

MAX_YAML_BYTES = 256 * 1024  # a complete answers.yaml is about 2 KB
MAX_YAML_EVENTS = 20_000
MAX_REPORT_BYTES = 2 * 1024 * 1024
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_MODEL_BYTES = 200 * 1024 * 1024

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class FileError(ValueError):
    """A submitted file that cannot be read as what it should be: `file:line: field: expected`."""


@dataclass(frozen=True)
class Number:
    """A number as the student wrote it: the source text (for significant figures) and its line."""

    text: str
    line: int

    @property
    def value(self) -> float:
        return float(self.text)


@dataclass(frozen=True)
class Text:
    text: str
    line: int


@dataclass(frozen=True)
class Other:
    """A YAML value of the wrong shape (list, mapping, boolean), kept to say what was found."""

    kind: str
    line: int
    flag: bool | None = None  # the value of a yes/no scalar


Value = Number | Text | Other | None


def read_yaml(path: Path, max_bytes: int = MAX_YAML_BYTES) -> yaml.Node | None:
    """Compose `path` into YAML nodes after checking its size, events, tags and aliases."""
    size = path.stat().st_size
    if size > max_bytes:
        raise FileError(f"{path.name}: {size} bytes, expected at most {max_bytes}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        for n, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader)):
            line = event.start_mark.line + 1
            if n > MAX_YAML_EVENTS:
                raise FileError(f"{path.name}:{line}: too many YAML items "
                                f"(expected at most {MAX_YAML_EVENTS})")
            if isinstance(event, yaml.AliasEvent):
                raise FileError(f"{path.name}:{line}: YAML alias *{event.anchor} is not allowed "
                                "(write the value out)")
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in ("!", *_PLAIN_TAGS):
                raise FileError(f"{path.name}:{line}: YAML tag {tag!r} is not allowed "
                                "(expected plain numbers, text, lists and mappings)")
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FileError(f"{path.name}:{line}: not valid YAML: {problem}") from None


def value_of(node: yaml.Node) -> Value:
    """A scalar node as Number/Text; anything else as Other (its kind, for the message)."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            text = node.value.replace("_", "")
            try:
                float(text)
            except ValueError:  # YAML 1.1 sexagesimal, .inf, .nan: not answers
                return Text(node.value, line)
            return Number(text, line)
        if node.tag == "tag:yaml.org,2002:null":
            return None
        if node.tag == "tag:yaml.org,2002:bool":
            return Other("a yes/no value", line,
                         node.value.lower() in ("true", "yes", "on", "y"))
        return Text(node.value, line)
    if isinstance(node, yaml.SequenceNode):
        return Other("a list", line)
    return Other("a mapping", line)


def mapping_items(node: yaml.Node | None, fname: str, where: str
                  ) -> list[tuple[str, yaml.Node]]:
    """The (key, value-node) pairs of a mapping; FileError naming the field otherwise."""
    if node is None:
        return []
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise FileError(f"{fname}:{line}: {where or 'top level'}: expected a mapping")
    out: list[tuple[str, yaml.Node]] = []
    seen: set[str] = set()
    for k, v in node.value:
        kline = k.start_mark.line + 1
        if not isinstance(k, yaml.ScalarNode):
            raise FileError(f"{fname}:{kline}: {where or 'top level'}: expected plain keys")
        key = k.value
        if key in seen:
            raise FileError(f"{fname}:{kline}: {where + '.' if where else ''}{key}: duplicate key")
        seen.add(key)
        out.append((key, v))
    return out


@dataclass
class Submission:
    """What a submission folder holds; `problems` lists file-level errors (one line each)."""

    path: Path
    id: str
    name: str = ""
    answers: dict[str, dict[str, Value]] | None = None  # None: no answers.yaml
    answer_notes: dict[str, list[str]] = field(default_factory=dict)  # per question, or "_file"
    metrics: dict[str, Value] | None = None
    notebook: Path | None = None
    model: Path | None = None
    regression_model: Path | None = None
    report: Path | None = None
    problems: list[str] = field(default_factory=list)


def load_submission(folder: Path) -> Submission:
    """Read a submission folder. File-level problems are collected, never raised."""
    folder = Path(folder)
    sub = Submission(path=folder, id=folder.name)
    _load_student(sub, folder / "student.yaml")
    answers = folder / "answers.yaml"
    if answers.is_file():
        try:
            sub.answers = _answers(read_yaml(answers), answers.name, sub)
        except FileError as exc:
            sub.problems.append(str(exc))
    metrics = folder / "metrics.yaml"
    if metrics.is_file():
        try:
            sub.metrics = {k: value_of(v) for k, v in
                           mapping_items(read_yaml(metrics), metrics.name, "")}
        except FileError as exc:
            sub.problems.append(str(exc))
    for attr, rel, limit in (("notebook", "partb.ipynb", MAX_NOTEBOOK_BYTES),
                             ("model", "models/fashion.pt2", MAX_MODEL_BYTES),
                             ("regression_model", "models/regression.pt2", MAX_MODEL_BYTES),
                             ("report", "report.tex", MAX_REPORT_BYTES)):
        p = folder / rel
        if p.is_symlink():
            sub.problems.append(f"{rel}: a symbolic link, expected a plain file")
        elif p.is_file():
            size = p.stat().st_size
            if size > limit:
                sub.problems.append(f"{rel}: {size} bytes, expected at most {limit}")
            else:
                setattr(sub, attr, p)
    return sub


def _load_student(sub: Submission, path: Path) -> None:
    if not path.is_file():
        return
    try:
        items = mapping_items(read_yaml(path, 16 * 1024), path.name, "")
    except FileError as exc:
        sub.problems.append(str(exc))
        return
    for key, node in items:
        v = value_of(node)
        if key not in ("id", "name"):
            sub.problems.append(f"{path.name}:{node.start_mark.line + 1}: {key}: unknown field "
                                "(expected id or name)")
        elif not isinstance(v, (Text, Number)):
            sub.problems.append(f"{path.name}:{node.start_mark.line + 1}: {key}: expected text")
        elif key == "id":
            if not STUDENT_ID_RE.fullmatch(v.text):
                sub.problems.append(f"{path.name}:{v.line}: id: expected letters, digits, '.', "
                                    f"'_' or '-' (at most 64), got {v.text[:40]!r}")
            else:
                sub.id = v.text
        else:
            sub.name = v.text[:200]


def _answers(root: yaml.Node | None, fname: str, sub: Submission) -> dict[str, dict[str, Value]]:
    """answers.yaml: question id → answer id → value. Shape errors of one question stay local."""
    out: dict[str, dict[str, Value]] = {}
    for qid, qnode in mapping_items(root, fname, ""):
        key = qid.lower()
        if isinstance(qnode, yaml.ScalarNode) and qnode.tag == "tag:yaml.org,2002:null":
            out[key] = {}
            continue
        try:
            out[key] = {aid: value_of(v) for aid, v in mapping_items(qnode, fname, qid)}
        except FileError as exc:
            sub.answer_notes.setdefault(key, []).append(str(exc))
            out[key] = {}
    return out
