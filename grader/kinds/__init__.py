"""The kinds of Part B/C rubric items, by the name the rubric's `check:` gives them. A new kind
is a module of this package and a line here."""

from grader.kinds.base import Claim, Evidence, Item, Kind, Limits, Threshold, mark, not_run
from grader.kinds.claim import ClaimKind
from grader.kinds.model import ModelKind
from grader.kinds.notebook import CodeKind, NotebookKind
from grader.kinds.report import ReportKind

KINDS: dict[str, Kind] = {k.name: k for k in (ClaimKind(), NotebookKind(), CodeKind(),
                                              ModelKind(), ReportKind())}

__all__ = ["KINDS", "Claim", "Evidence", "Item", "Kind", "Limits", "Threshold", "mark",
           "not_run"]
