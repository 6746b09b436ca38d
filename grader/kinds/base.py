"""What every kind of Part B/C rubric item shares: the item itself, the claim a student may make
about it in metrics.yaml, the evidence gathered for a submission, and the Kind interface.

A kind (grader/kinds/*.py) declares, in one module, the rubric fields it takes and their typed
config (`read`), what it needs from the machine (`needs`, for the preflight), the evidence it
reads and runs (`gather`: no judging), how it marks that evidence (`grade`), what `dlhw check`
says about it (`check`) and what it shows the instructor (`flags`). A new kind is a module and a
line in grader/kinds/__init__.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import yaml

from core.yamlnodes import NodeReader
from grader.results import ItemMark, Status

if TYPE_CHECKING:
    from grader.findings import Finding
    from grader.submission import Submission

T = TypeVar("T")


@dataclass(frozen=True)
class Threshold:
    op: str  # at_least | at_most | equals
    value: float | bool


CLAIM_TYPES = ("accuracy", "error", "boolean", "number")


@dataclass(frozen=True)
class Claim:
    """A value the student claims in metrics.yaml under `metric`: compared with what was
    measured (a gap over `max_gap`, or any difference of a yes/no, is flagged), never trusted.
    `type` says how it must look: an accuracy (0.93 or 93.0), an error (>= 0), a yes/no, any
    number. With nothing to measure, it earns at most `unverified_share` of the item."""

    metric: str
    type: str
    max_gap: float = 0.0
    unverified_share: Fraction = Fraction(0)
    reference: float | bool | None = None  # the reference solution's (references.yaml)


@dataclass(frozen=True)
class Limits:
    """A sandboxed item's wall clock and address space."""

    time_limit_s: float = 300.0
    memory_limit_mb: int = 4096


@dataclass(frozen=True)
class Item:
    """One Part B/C item of the rubric. `kind` names its Kind; `config` is that kind's own
    typed config; `full`/`partial` are the bars a measured (or claimed) value is marked by."""

    id: str
    part: str  # partb | partc
    title: str
    marks: Fraction
    kind: str
    config: Any = None
    claim: Claim | None = None
    full: Threshold | None = None
    partial: Threshold | None = None
    partial_share: Fraction = Fraction(0)
    limits: Limits | None = None  # for the kinds that run something in the sandbox
    leaderboard: str = ""  # a Gradescope leaderboard column showing its measured value
    requires: str = ""  # the file the homework asks for and the item is measured from: without
    # it the item earns nothing, whatever metrics.yaml claims

    @property
    def metric(self) -> str | None:
        return self.claim.metric if self.claim else None

    @property
    def letter(self) -> str:
        return self.part[-1].upper()


class Run(Protocol):
    """What a kind uses of the grading run (grader.context.RunContext is one)."""

    parts: str
    data_dir: Path | None
    threads: int
    missing: dict[str, str]
    seed: int
    template: dict | None

    @property
    def items(self) -> tuple[Item, ...]: ...


@dataclass
class Evidence:
    """What was read and run for one submission, shared by the items that use it (one notebook
    run for every Part B item, one sandbox for every model): each piece is made once, on first
    use, by `memo`. `mode` is "grade" or "check" (dlhw check: never the grader's inputs)."""

    sub: Submission
    ctx: Run
    mode: str = "grade"
    _memo: dict[str, Any] = field(default_factory=dict)

    def memo(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]  # type: ignore[no-any-return]


class Kind:
    """The interface of an item kind (see the module's docstring)."""

    name: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()  # rubric keys of its own config
    claims: ClassVar[str] = "none"  # none | optional | required: a `claim:` in the rubric
    thresholds: ClassVar[str] = "none"  # none | optional | required: at_least/at_most/equals
    sandboxed: ClassVar[bool] = False  # whether it takes time_limit_s and memory_limit_mb

    def read(self, r: NodeReader, m: dict[str, yaml.Node], where: str) -> Any:
        """The kind's own config from its rubric fields (`fields`); None if it has none."""
        return None

    def needs(self, item: Item) -> set[str]:
        """The capabilities (grader.preflight) grading this item uses."""
        return set()

    def file(self, item: Item) -> str:
        """The file of the submission this item reads (what dlhw check's findings name)."""
        return "metrics.yaml"

    def submitted(self, sub: Submission, item: Item) -> bool:
        """Whether the submission holds the file this item runs (else it needs no tool)."""
        return False

    def gather(self, item: Item, ev: Evidence) -> None:
        """Read and run what the item needs (into `ev`'s memo): no judging."""

    def grade(self, item: Item, ev: Evidence) -> ItemMark:
        raise NotImplementedError

    def check(self, item: Item, ev: Evidence) -> Iterator[Finding]:
        """What `dlhw check` says about this item (never whether it is right)."""
        return iter(())

    def flags(self, item: Item, mark: ItemMark) -> list[tuple[str, str]]:
        """(kind, text) for the instructor: what about this mark deserves a look."""
        out = []
        if mark.detail.get("flagged"):
            out.append(("claim far from measured", f"{item.id}: {mark.feedback}"))
        return out


def mark(item: Item, share: Fraction | None, status: Status, feedback: str,
         **detail: object) -> ItemMark:
    """The item's mark: `share` of its marks (None: no score, the item is invalid or was not
    graded), its status and feedback, and detail for the instructor."""
    score = None if share is None else share * item.marks
    return ItemMark(item.id, item.title, item.letter, score, item.marks, status, feedback, (),
                    dict(detail))


def not_run(item: Item, why: str) -> ItemMark:
    """An item the grader could not run (no sandbox, a tool missing, the harness did not
    start): no score, never a mark against the student; the submission is incomplete."""
    return mark(item, None, Status.NOT_RUN, why if why.startswith("not run") else
                f"not run: {why}")
