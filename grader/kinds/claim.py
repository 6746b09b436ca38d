"""Claims: the values a student states in metrics.yaml, read, validated and compared with what
was measured; and the `claim` kind, an item marked from a claim alone (nothing to measure), at
most its `unverified_share`. How a claim must look is its declared type (rubric `claim.type`):
an accuracy (0.93, or 93.0 as a percentage), an error (a squared error or loss, >= 0), a yes/no
(a YAML boolean) or any number."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from core.numfmt import fmt
from grader.findings import Finding
from grader.kinds.base import Claim, Evidence, Item, Kind, Threshold, mark
from grader.results import ItemMark, Status
from grader.submission import Number, Other, Text

if TYPE_CHECKING:
    from grader.submission import Submission

Value = float | bool


def passes(t: Threshold, v: Value) -> bool:
    if t.op == "equals":
        return v == t.value
    return v >= t.value - 1e-12 if t.op == "at_least" else v <= t.value + 1e-12  # type: ignore


def bound(t: Threshold) -> str:
    return {"at_least": "≥", "at_most": "≤", "equals": "="}[t.op] + " " + (
        str(t.value).lower() if isinstance(t.value, bool) else fmt(float(t.value)))


def share_of(item: Item, value: Value) -> tuple[Fraction, str]:
    """The share of the item's marks a value earns by its bars, and why."""
    assert item.full is not None
    if passes(item.full, value):
        return Fraction(1), f"meets the full-mark bar ({bound(item.full)})"
    if item.partial is not None and passes(item.partial, value):
        return item.partial_share, (f"meets the partial bar ({bound(item.partial)}, "
                                    f"{float(item.partial_share):.0%}), not the full-mark bar "
                                    f"({bound(item.full)})")
    return Fraction(0), f"below the bar ({bound(item.partial or item.full)})"


def shown(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else fmt(value, 4)


def reference(item: Item) -> str:
    ref = item.claim.reference if item.claim else None
    return "" if ref is None else f" (reference solution: {shown(ref)})"


def read_claim(sub: Submission, claim: Claim) -> tuple[Value | None, str]:
    """The claimed value, validated by the claim's type; (None, why) when absent or invalid."""
    if sub.metrics is None:
        return None, "metrics.yaml not submitted"
    raw = sub.metrics.get(claim.metric)
    if raw is None:
        return None, f"{claim.metric} not reported in metrics.yaml"
    where = f"metrics.yaml:{raw.line}: {claim.metric}"
    if claim.type == "boolean":
        if isinstance(raw, Other) and raw.flag is not None:
            return raw.flag, ""
        return None, f"{where}: expected true or false"
    if not isinstance(raw, Number):
        found = "text" if isinstance(raw, Text) else raw.kind
        return None, f"{where}: expected a number, found {found}"
    value = raw.value
    if value != value or value in (float("inf"), float("-inf")):
        return None, f"{where}: expected a finite number"
    if claim.type == "accuracy":
        if not 0 <= value <= 100:
            return None, f"{where}: expected an accuracy in [0, 1] or a percentage in [0, 100]"
        if value > 1:
            value /= 100  # reported as a percentage
    elif claim.type == "error" and value < 0:
        return None, f"{where}: expected a value ≥ 0 (a squared error or loss)"
    return value, ""


def compare(sub: Submission, item: Item, measured: Value) -> tuple[str, bool]:
    """Feedback comparing the claim with the measured value, and whether the gap is flagged
    (more than the claim's max_gap; any difference for a yes/no)."""
    if item.claim is None:
        return "", False
    claimed, why = read_claim(sub, item.claim)
    if claimed is None:
        return f"; claim: {why}", False
    if isinstance(measured, bool) or isinstance(claimed, bool):
        if claimed == measured:
            return f"; claimed {shown(claimed)}, as measured", False
        return (f"; FLAG: claimed {item.claim.metric} = {shown(claimed)} but measured "
                f"{shown(measured)}"), True
    gap = abs(float(claimed) - float(measured))
    if gap <= item.claim.max_gap:
        return f"; claimed {shown(claimed)}, as measured", False
    return (f"; FLAG: claimed {item.claim.metric} = {shown(claimed)} but measured "
            f"{shown(measured)} (gap {fmt(gap, 3)}, more than {item.claim.max_gap:g})"), True


def unverified(item: Item, claimed: Value, why: str) -> ItemMark:
    """A claim nothing measured: at most the claim's unverified_share of the marks."""
    assert item.claim is not None
    share, reason = share_of(item, claimed) if item.full is not None else (Fraction(1), "")
    share *= item.claim.unverified_share
    return mark(item, share, Status.UNVERIFIED,
                f"{item.claim.metric} = {shown(claimed)} claimed, not verified ({why})"
                + (f": {reason}" if reason else "")
                + f"; an unverified claim earns at most {float(item.claim.unverified_share):.0%}"
                " of the marks", claimed=claimed)


def withheld(item: Item, sub: Submission) -> ItemMark:
    """The file the item is measured from is missing: 0 marks, whatever metrics.yaml claims
    (withholding the work never beats handing in weak work), and the feedback asks for it."""
    text = f"{item.requires} not submitted: 0 marks (this item is marked only from it: submit it)"
    if item.claim is not None:
        claimed, why = read_claim(sub, item.claim)
        if claimed is not None:
            text += (f"; {item.claim.metric} = {shown(claimed)} claimed in metrics.yaml earns "
                     "nothing without it")
        elif why.startswith("metrics.yaml:"):
            text += f"; {why}"
    return mark(item, Fraction(0), Status.ABSENT, text, withheld=True)


def unclaimed(sub: Submission, item: Item, why: str) -> ItemMark:
    """No valid claim: absent, blank or unparseable, 0 marks."""
    status = Status.ABSENT if sub.metrics is None else \
        (Status.BLANK if "not reported" in why else Status.UNPARSEABLE)
    return mark(item, Fraction(0), status, f"{why}: 0 marks")


class ClaimKind(Kind):
    """An item with nothing to measure: marked from its claim alone."""

    name = "claim"
    claims = "required"
    thresholds = "required"

    def grade(self, item: Item, ev: Evidence) -> ItemMark:
        assert item.claim is not None
        value, why = read_claim(ev.sub, item.claim)
        if value is None:
            return unclaimed(ev.sub, item, why)
        return unverified(item, value, "nothing measured it")


def claim_findings(sub: Submission, items: tuple[Item, ...]) -> Iterator[Finding]:
    """`dlhw check` on metrics.yaml: how each graded claim is read; unknown ids named."""
    import difflib

    from grader.safeio import shown as safe
    from grader.writers.safe import clip

    assert sub.metrics is not None
    claims = {i.claim.metric: i.claim for i in items if i.claim is not None}
    for key in sub.metrics:
        if key not in claims:
            near = difflib.get_close_matches(key, sorted(claims), n=1, cutoff=0.6)
            yield Finding("warning", "metrics.yaml", safe(key), "not a graded id, not read"
                          + (f": did you mean {near[0]}?" if near else ""))
    for metric, claim in claims.items():
        value, why = read_claim(sub, claim)
        if value is not None:
            raw = sub.metrics.get(metric)
            echo = str(value).lower() if isinstance(value, bool) else fmt(value, 10)
            if isinstance(raw, Number) and raw.value != value:  # a percentage
                echo += f" (from {clip(raw.text)!r})"
            yield Finding("ok", "metrics.yaml", metric, "read as", echo)
        elif why.startswith("metrics.yaml:"):
            line, _, msg = why.split(":", 1)[1].partition(": ")
            yield Finding("problem", "metrics.yaml", metric,
                          msg.split(": ", 1)[-1] + f" (line {line})")
        else:
            yield Finding("warning", "metrics.yaml", metric, "not reported")
