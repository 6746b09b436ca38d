"""Parts B and C: reported metrics against the rubric, the notebook's integrity, the model, the
report's format. Each item returns an ItemMark; nothing here executes student code."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from grader.numeric import fmt
from grader.results import ItemMark
from grader.rubric import Item, Threshold
from grader.submission import Number, Other, Submission, Text

MARKERS = ("STARTCODE", "ENDCODE", "STARTTEXT", "ENDTEXT")
# A tag is a whole line: `# STARTCODE` in code, `STARTTEXT` in markdown (prose that merely
# mentions a tag is not one).
_MARKER_RE = re.compile(r"^[ \t]*#?[ \t]*(STARTCODE|ENDCODE|STARTTEXT|ENDTEXT)[ \t]*$", re.M)


def _mark(item: Item, share: Fraction | None, status: str, feedback: str,
          **detail: object) -> ItemMark:
    score = None if share is None else share * item.marks
    return ItemMark(item.id, item.title, item.part[-1].upper(), score, item.marks, status,
                    feedback, (), dict(detail))


# ---------------------------------------------------------------- metrics


def _passes(t: Threshold, v: float | bool) -> bool:
    if t.op == "equals":
        return v == t.value
    return v >= t.value - 1e-12 if t.op == "at_least" else v <= t.value + 1e-12


def _bound(t: Threshold) -> str:
    return {"at_least": "≥", "at_most": "≤", "equals": "="}[t.op] + " " + (
        str(t.value).lower() if isinstance(t.value, bool) else fmt(float(t.value)))


def metric_share(item: Item, value: float | bool) -> tuple[Fraction, str]:
    """The share of the item's marks a value earns, and why."""
    assert item.full is not None
    if _passes(item.full, value):
        return Fraction(1), f"meets the full-mark bar ({_bound(item.full)})"
    if item.partial is not None and _passes(item.partial, value):
        return item.partial_share, (f"meets the partial bar ({_bound(item.partial)}, "
                                    f"{float(item.partial_share):.0%}), not the full-mark bar "
                                    f"({_bound(item.full)})")
    return Fraction(0), f"below the bar ({_bound(item.partial or item.full)})"


def read_metric(sub: Submission, item: Item) -> tuple[float | bool | None, str]:
    """The claimed value of the item's metric; (None, why) when absent or unreadable."""
    assert item.metric is not None
    if sub.metrics is None:
        return None, "metrics.yaml not submitted"
    raw = sub.metrics.get(item.metric)
    if raw is None:
        return None, f"{item.metric} not reported in metrics.yaml"
    want_bool = item.full is not None and item.full.op == "equals"
    if want_bool:
        if isinstance(raw, Other) and raw.flag is not None:
            return raw.flag, ""
        return None, f"metrics.yaml:{raw.line}: {item.metric}: expected true or false"
    if isinstance(raw, Number):
        value = raw.value
    elif isinstance(raw, Text):
        try:
            value = float(raw.text)
        except ValueError:
            return None, f"metrics.yaml:{raw.line}: {item.metric}: expected a number"
    else:
        return None, f"metrics.yaml:{raw.line}: {item.metric}: expected a number, found {raw.kind}"
    if value != value or value in (float("inf"), float("-inf")):
        return None, f"metrics.yaml:{raw.line}: {item.metric}: expected a finite number"
    if item.metric.endswith("accuracy") and 1 < value <= 100:
        value /= 100  # reported as a percentage
    return value, ""


def grade_metric(sub: Submission, item: Item) -> ItemMark:
    value, why = read_metric(sub, item)
    if value is None:
        status = "absent" if sub.metrics is None else \
            ("blank" if "not reported" in why else "unparseable")
        return _mark(item, Fraction(0), status, f"{why}: 0 marks")
    share, why = metric_share(item, value)
    status = "correct" if share == 1 else "partial" if share else "wrong"
    return _mark(item, share, status, f"{item.metric} = {_shown(value)}: {why}"
                 + _reference(item), claimed=value)


def _shown(value: float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else fmt(value, 4)


def _reference(item: Item) -> str:
    return "" if item.reference is None else f" (reference solution: {_shown(item.reference)})"


# ---------------------------------------------------------------- the model


def grade_model(sub: Submission, item: Item, data_dir: Path | None = None) -> ItemMark:
    from grader.model_check import UnsafeModel, measure

    claimed, why = read_metric(sub, item)
    path = sub.model if item.model == "fashion" else sub.regression_model
    if path is None:
        if claimed is None:
            return _mark(item, Fraction(0), "absent", f"no model and {why}: 0 marks")
        share, reason = metric_share(item, claimed)
        share *= item.unverified_share
        return _mark(item, share, "unverified",
                     f"no model submitted: claimed {fmt(claimed, 4)} not verified ({reason}); "
                     f"at most {float(item.unverified_share):.0%} of the marks", claimed=claimed)
    try:
        m = measure(item, path, data_dir)
    except UnsafeModel as exc:
        return _mark(item, None, "invalid", f"models/{path.name} refused, not loaded: {exc}")
    if not m.ok or m.value is None:
        return _mark(item, Fraction(0), "error",
                     f"models/{path.name} could not be evaluated: {m.error}")
    share, reason = metric_share(item, m.value)
    what = f"measured test accuracy {m.value:.4f} on {m.n} images" if item.model == "fashion" \
        else f"measured MSE against sin(x) {fmt(m.value, 3)} on {m.n} points of [-2π, 2π]"
    text = f"{what}: {reason}" + _reference(item)
    flagged = claimed is not None and abs(claimed - m.value) > item.max_gap
    if claimed is None:
        text += f"; {why}"
    elif flagged:
        text += (f"; FLAG: claimed {fmt(claimed, 4)} differs from the measured value by "
                 f"{fmt(abs(claimed - m.value), 3)} (more than {item.max_gap:g})")
    status = "correct" if share == 1 else "partial" if share else "wrong"
    if m.review:
        status, text = "review", f"{text}; REVIEW: {m.review}"
    return _mark(item, share, status, text, measured=m.value, claimed=claimed,
                 flagged=flagged, **m.detail)


# ---------------------------------------------------------------- the notebook


@dataclass(frozen=True)
class Structure:
    markers: list[tuple[str, int]]  # tag, cell index
    fixed: list[tuple[int, str]]  # cell index, hash of a cell outside the answer regions
    regions: list[tuple[str, int, str]]  # kind, opening cell, hash of the answer content
    error: str = ""


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    text = "".join(src) if isinstance(src, list) else str(src)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _cell_markers(cell: dict) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", []) if isinstance(cell.get("metadata"), dict) \
        else []
    found = _MARKER_RE.findall(_source(cell))
    return found or [t for t in tags if t in MARKERS] if isinstance(tags, list) else found


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def structure(nb: dict) -> Structure:
    """Marker sequence, hashed fixed cells (order included) and answer regions of a notebook."""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return Structure([], [], [], "no cells")
    markers: list[tuple[str, int]] = []
    fixed: list[tuple[int, str]] = []
    regions: list[tuple[str, int, str]] = []
    open_: tuple[str, int] | None = None
    content: list[str] = []
    error = ""
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            return Structure(markers, fixed, regions, f"cell {i} is not a cell")
        kind = str(cell.get("cell_type", ""))
        toks = _cell_markers(cell)
        if not toks:
            if open_ is None:
                fixed.append((i, _hash(kind, _source(cell))))
            else:
                content.append(_hash(kind, _source(cell)))
            continue
        inline = len(toks) >= 2 and toks[0].startswith("START") and toks[-1].startswith("END")
        for t in toks:
            markers.append((t, i))
            if t.startswith("START"):
                if open_ is not None and not error:
                    error = f"{t} at cell {i} inside the {open_[0]} region opened at cell " \
                            f"{open_[1]}"
                open_, content = (t, i), []
            else:
                if (open_ is None or open_[0][5:] != t[3:]) and not error:
                    error = f"{t} at cell {i} has no matching START{t[3:]}"
                if open_ is not None:
                    body = [_hash(kind, _source(cell))] if inline else []
                    regions.append((open_[0][5:], open_[1], _hash(*content, *body)))
                open_, content = None, []
        if not inline:
            fixed.append((i, _hash(kind, _source(cell))))
    if open_ is not None and not error:
        error = f"{open_[0]} at cell {open_[1]} is never closed"
    return Structure(markers, fixed, regions, error)


def check_notebook(submitted: dict, template: dict) -> tuple[str, str, int, int]:
    """(status, message, filled regions, total regions): status is `valid` or `invalid`."""
    t, s = structure(template), structure(submitted)
    if t.error:
        raise ValueError(f"template notebook: {t.error}")
    if s.error:
        return "invalid", s.error, 0, len(t.regions)
    for k, (want, got) in enumerate(zip(t.markers + [None], s.markers + [None])):
        if want != got and (want is None or got is None or want[0] != got[0]):
            if want is None:
                return "invalid", f"extra {got[0]} tag at cell {got[1]}", 0, len(t.regions)
            where = f"cell {got[1]}" if got else "the end"
            return "invalid", (f"{want[0]} tag #{k + 1} (cell {want[1]} of the template) "
                               f"missing or moved: found {got[0] if got else 'nothing'} at "
                               f"{where}"), 0, len(t.regions)
    for (ti, th), (si, sh) in zip(t.fixed, s.fixed):
        if th != sh:
            return "invalid", (f"cell {si} (outside the answer regions; cell {ti} of the "
                               "template) differs from the template"), 0, len(t.regions)
    if len(t.fixed) != len(s.fixed):
        extra = s.fixed[len(t.fixed)][0] if len(s.fixed) > len(t.fixed) else None
        msg = f"cell {extra} added outside the answer regions" if extra is not None else \
            f"cell {t.fixed[len(s.fixed)][0]} of the template removed"
        return "invalid", msg, 0, len(t.regions)
    filled = sum(1 for (_, _, th), (_, _, sh) in zip(t.regions, s.regions) if th != sh)
    return "valid", "", filled, len(t.regions)


def template_notebook() -> dict:
    """The student template of `dlhw notebook partb --student`, as plain JSON data."""
    from nets.notebook import build_notebook  # Part B's generator

    return json.loads(json.dumps(build_notebook(student=True)))


def grade_notebook(sub: Submission, item: Item, template: dict | None) -> ItemMark:
    if sub.notebook is None:
        return _mark(item, Fraction(0), "absent", "partb.ipynb not submitted: 0 marks")
    if template is None:
        return _mark(item, None, "error", "no notebook template to compare with "
                     "(nets.notebook unavailable)")
    try:
        nb = json.loads(sub.notebook.read_bytes().decode("utf-8"))
        if not isinstance(nb, dict):
            raise ValueError("not a notebook object")
    except (UnicodeDecodeError, ValueError) as exc:
        return _mark(item, None, "invalid", f"partb.ipynb: not a notebook (JSON): "
                     f"{str(exc)[:120]}")
    status, msg, filled, total = check_notebook(nb, template)
    if status == "invalid":
        return _mark(item, None, "invalid", f"partb.ipynb invalid: {msg}")
    share = Fraction(filled, total) if total else Fraction(0)
    st = "correct" if share == 1 else "blank" if filled == 0 else "partial"
    return _mark(item, share, st, f"template intact; {filled} of {total} answer regions "
                 f"completed ({total - filled} left as in the template count as blank); "
                 "not executed", filled=filled, regions=total)


# ---------------------------------------------------------------- the report


def report_checks(text: str) -> dict[str, tuple[bool, str]]:
    """IEEEtran, two columns, 10pt, Times: each (passed, why)."""
    body = re.sub(r"(?<!\\)%.*", "", text)
    m = re.search(r"\\documentclass\s*(?:\[([^\]]*)\])?\s*\{([^}]*)\}", body)
    opts = [o.strip() for o in (m[1] or "").split(",")] if m else []
    cls = m[2].strip() if m else ""
    ieee = cls == "IEEEtran"
    out = {"IEEEtran": (ieee, f"document class {cls or 'missing'}")}
    if "onecolumn" in opts:
        out["two columns"] = (False, "onecolumn option")
    elif "twocolumn" in opts or ieee:
        out["two columns"] = (True, "twocolumn" + ("" if "twocolumn" in opts else
                                                   " (IEEEtran default)"))
    else:
        out["two columns"] = (False, "no twocolumn option")
    sizes = [o for o in opts if re.fullmatch(r"\d+pt", o)]
    if sizes:
        out["10pt"] = (sizes[0] == "10pt", f"{sizes[0]} option")
    else:
        out["10pt"] = (ieee, "IEEEtran default 10pt" if ieee else "no font size option")
    fonts = re.findall(r"\\usepackage\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}", body)
    pkgs = {p.strip() for f in fonts for p in f.split(",")}
    times = pkgs & {"times", "mathptmx", "newtxtext", "txfonts", "ptm", "newtx"}
    if times:
        out["Times"] = (True, f"package {sorted(times)[0]}")
    elif re.search(r"\\setmainfont\s*\{Times", body):
        out["Times"] = (True, "\\setmainfont Times")
    else:
        out["Times"] = (ieee, "IEEEtran's default Times" if ieee else "no Times font package")
    return out


def grade_report(sub: Submission, item: Item) -> ItemMark:
    if sub.report is None:
        return _mark(item, Fraction(0), "absent", "report.tex not submitted: 0 marks")
    text = sub.report.read_bytes().decode("utf-8", errors="replace")
    checks = report_checks(text)
    passed = sum(ok for ok, _ in checks.values())
    share = Fraction(passed, len(checks))
    parts = [f"{name}: {'yes' if ok else 'NO'} ({why})" for name, (ok, why) in checks.items()]
    status = "correct" if share == 1 else "wrong" if passed == 0 else "partial"
    return _mark(item, share, status, "; ".join(parts),
                 checks={k: ok for k, (ok, _) in checks.items()})
