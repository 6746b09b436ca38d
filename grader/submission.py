"""Load a submission folder: untrusted files read safely, each problem a one-line message.

YAML is checked event by event (no aliases, only the plain tags) before it is composed into nodes,
and nodes are turned into plain data by hand, so no tag can ever build a Python object. Numbers
keep their source text: significant figures are judged from what the student wrote.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.roster import STUDENT_ID_RE
from grader.safeio import FileError, Folder, folder_name, read_file, shown

__all__ = ["FileError", "Submission", "load_submission", "read_yaml", "parse_yaml", "value_of",
           "mapping_items", "read_answers"]

MAX_YAML_BYTES = 256 * 1024  # a complete answers.yaml is about 2 KB
MAX_YAML_EVENTS = 20_000
MAX_YAML_DEPTH = 16  # answers.yaml needs 2; a few hundred overflow PyYAML's recursive composer
MAX_STUDENT_BYTES = 16 * 1024
MAX_REPORT_BYTES = 2 * 1024 * 1024
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_MODEL_BYTES = 200 * 1024 * 1024

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass(frozen=True)
class Number:
    """A number as the student wrote it: the source text (for significant figures) and its line."""

    text: str
    line: int
    source: str = ""  # exactly as written in the file (answers.yaml), quotes and escapes shown

    @property
    def value(self) -> float:
        return float(self.text)


@dataclass(frozen=True)
class Text:
    text: str
    line: int
    source: str = ""  # exactly as written in the file (answers.yaml), quotes and escapes shown
    quoted: bool = False  # written in double quotes, where YAML reads backslash escapes


@dataclass(frozen=True)
class Other:
    """A YAML value of the wrong shape (list, mapping, boolean), kept to say what was found."""

    kind: str
    line: int
    flag: bool | None = None  # the value of a yes/no scalar


Value = Number | Text | Other | None


def read_yaml(path: Path, max_bytes: int = MAX_YAML_BYTES) -> yaml.Node | None:
    """Read `path` (not followed if a link, at most `max_bytes`) and `parse_yaml` it."""
    return parse_yaml(read_file(path, max_bytes), Path(path).name)


# libyaml parses the same events and nodes many times faster; its error messages differ, so a
# file it refuses is read again by PyYAML's own parser, whose messages are the ones shown.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(data: bytes, fname: str) -> yaml.Node | None:
    """Compose YAML bytes into nodes after checking their events, depth, tags and aliases."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"{fname}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return _checked(text, fname, _FAST_LOADER)
    except yaml.YAMLError:
        pass
    try:
        return _checked(text, fname, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FileError(f"{fname}:{line}: not valid YAML: {problem}") from None


def _checked(text: str, fname: str, loader: type) -> yaml.Node | None:
    """`text` composed by `loader`, once its events passed the checks (a FileError if not)."""
    depth = 0
    for n, event in enumerate(yaml.parse(text, Loader=loader)):
        line = event.start_mark.line + 1
        if n > MAX_YAML_EVENTS:
            raise FileError(f"{fname}:{line}: too many YAML items "
                            f"(expected at most {MAX_YAML_EVENTS})")
        if isinstance(event, yaml.AliasEvent):
            raise FileError(f"{fname}:{line}: YAML alias *{shown(event.anchor)} is not "
                            "allowed (write the value out)")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise FileError(f"{fname}:{line}: lists or mappings nested more than "
                                f"{MAX_YAML_DEPTH} deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in ("!", *_PLAIN_TAGS):
            raise FileError(f"{fname}:{line}: YAML tag {shown(tag)!r} is not allowed "
                            "(expected plain numbers, text, lists and mappings)")
    return yaml.compose(text, Loader=loader)


MAX_SOURCE = 2000  # characters of an answer's source kept, for the instructor's review queue


def value_of(node: yaml.Node, document: str = "") -> Value:
    """A scalar node as Number/Text; anything else as Other (its kind, for the message).
    `document`: the file's text, from which a value keeps its source as written."""
    line = node.start_mark.line + 1
    source = document[node.start_mark.index:node.end_mark.index][:MAX_SOURCE].strip() \
        if document else ""
    if isinstance(node, yaml.ScalarNode):
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            text = node.value.replace("_", "")
            try:
                float(text)
            except ValueError:  # YAML 1.1 sexagesimal, .inf, .nan: not answers
                return Text(node.value, line, source)
            return Number(text, line, source)
        if node.tag == "tag:yaml.org,2002:null":
            return None
        if node.tag == "tag:yaml.org,2002:bool":
            return Other("a yes/no value", line,
                         node.value.lower() in ("true", "yes", "on", "y"))
        return Text(node.value, line, source, node.style == '"')
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
    """What a submission folder holds; `problems` lists file-level errors (one line each).

    `id` is who submitted: the folder's name (an LMS export names folders by student), never what
    the student declares; `declared` is the id written in student.yaml, kept to be compared.
    `notebook`, `models` (rubric item id → models/<id>.pt2) and `report` are grader-owned copies
    of the student's files, made through `Folder` (so no link was followed); they live until
    `close()`.
    """

    path: Path
    id: str
    name: str = ""
    declared: str | None = None
    answers: dict[str, dict[str, Value]] | None = None  # None: no answers.yaml
    answer_notes: dict[str, list[str]] = field(default_factory=dict)  # per question, or "_file"
    metrics: dict[str, Value] | None = None
    notebook: Path | None = None
    models: dict[str, Path] = field(default_factory=dict)
    report: Path | None = None
    problems: list[str] = field(default_factory=list)
    _scratch: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def close(self) -> None:
        """Remove the grader's copies of the notebook, model and report."""
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> Submission:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _copy(self, folder: Folder, rel: str, limit: int) -> Path | None:
        def dest() -> Path:  # a private folder, made only for a file that exists
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="dlhw-sub-")
            path = Path(self._scratch.name) / rel  # the same relative name as submitted
            path.parent.mkdir(exist_ok=True)
            return path

        try:
            return folder.copy(rel, dest, limit)
        except FileError:
            if self._scratch is not None:
                (Path(self._scratch.name) / rel).unlink(missing_ok=True)
            raise


# The files the grader copies: (attribute, path in the folder, size cap); and each model item's
# models/<id>.pt2. Their names are the homework's, spelled here only.
NOTEBOOK, REPORT = "partb.ipynb", "report.tex"
COPIED = (("notebook", NOTEBOOK, MAX_NOTEBOOK_BYTES), ("report", REPORT, MAX_REPORT_BYTES))


def model_file(item_id: str) -> str:
    return f"models/{item_id}.pt2"


def load_submission(folder: Path, submitter: str | None = None,
                    models: tuple[str, ...] = ()) -> Submission:
    """Read a submission folder. File-level problems are collected, never raised.

    `submitter`: who handed it in, where known from elsewhere (an LMS); default the folder name.
    `models`: the rubric's model items, whose models/<id>.pt2 is copied.
    """
    folder = Path(folder)
    sub = Submission(path=folder, id=submitter or shown(folder_name(folder)))
    try:
        with Folder(folder) as root:
            sub.problems += root.scan()
            _read(sub, root, models)
    except FileError as exc:
        sub.problems.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, one line, never a traceback
        sub.problems.append(f"{sub.id}: could not be read "
                            f"({type(exc).__name__}: {str(exc)[:160]})")
    return sub


def _read(sub: Submission, root: Folder, models: tuple[str, ...]) -> None:
    for fname, limit, load in (("student.yaml", MAX_STUDENT_BYTES, _student),
                               ("answers.yaml", MAX_YAML_BYTES, _answers),
                               ("metrics.yaml", MAX_YAML_BYTES, _metrics)):
        try:
            data = root.read(fname, limit)
            if data is not None:
                load(data, fname, sub)
        except FileError as exc:
            _once(sub, str(exc))
    for attr, rel, limit in COPIED:
        try:
            setattr(sub, attr, sub._copy(root, rel, limit))
        except FileError as exc:
            _once(sub, str(exc))
    for iid in models:
        try:
            if (path := sub._copy(root, model_file(iid), MAX_MODEL_BYTES)) is not None:
                sub.models[iid] = path
        except FileError as exc:
            _once(sub, str(exc))


def _once(sub: Submission, problem: str) -> None:
    """Add `problem` unless the folder scan already named the same path."""
    where = problem.split(":", 1)[0]
    if not any(p.split(":", 1)[0] == where for p in sub.problems):
        sub.problems.append(problem)


def _metrics(data: bytes, fname: str, sub: Submission) -> None:
    sub.metrics = {k: value_of(v) for k, v in mapping_items(parse_yaml(data, fname), fname, "")}


def _student(data: bytes, fname: str, sub: Submission) -> None:
    for key, node in mapping_items(parse_yaml(data, fname), fname, ""):
        v = value_of(node)
        line = node.start_mark.line + 1
        if key not in ("id", "name"):
            sub.problems.append(f"{fname}:{line}: {shown(key)}: unknown field "
                                "(expected id or name)")
        elif not isinstance(v, (Text, Number)):
            sub.problems.append(f"{fname}:{line}: {key}: expected text")
        elif key == "id":
            if not STUDENT_ID_RE.fullmatch(v.text):
                sub.problems.append(f"{fname}:{v.line}: id: expected letters, digits, '.', "
                                    f"'_' or '-' (at most 64), got {shown(v.text[:40])!r}")
            else:
                sub.declared = v.text
        else:
            sub.name = v.text[:200]


def _answers(data: bytes, fname: str, sub: Submission) -> None:
    sub.answers, notes = read_answers(data, fname)
    for key, found in notes.items():
        sub.answer_notes.setdefault(key, []).extend(found)


def read_answers(data: bytes, fname: str = "answers.yaml"
                 ) -> tuple[dict[str, dict[str, Value]], dict[str, list[str]]]:
    """An answers file: question id → answer id → value (each with its source as written),
    and per question the shape errors that stay local to it (a question that is not a
    mapping of answers). A file that is not valid YAML raises FileError."""
    root = parse_yaml(data, fname)
    document = data.decode("utf-8")
    out: dict[str, dict[str, Value]] = {}
    notes: dict[str, list[str]] = {}
    for qid, qnode in mapping_items(root, fname, ""):
        key = qid.lower()
        if isinstance(qnode, yaml.ScalarNode) and qnode.tag == "tag:yaml.org,2002:null":
            out[key] = {}
            continue
        try:
            out[key] = {aid: value_of(v, document) for aid, v in mapping_items(qnode, fname, qid)}
        except FileError as exc:
            notes.setdefault(key, []).append(str(exc))
            out[key] = {}
    return out, notes
