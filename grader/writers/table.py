"""The terminal table of one submission: `dlhw grade`'s default output."""

from __future__ import annotations

import textwrap

from grader.results import Result, Status
from grader.writers.json import to_dict
from grader.writers.safe import dash as _num


def to_table(result: Result, width: int = 100) -> str:
    """One row per question or item: id, points, max, status, feedback (wrapped)."""
    row = to_dict(result)
    head = f"{row['student']}" + (f" ({row['name']})" if row["name"] else "")
    lines = [f"{head}: {row['status']}, {_num(row['score'])} / {_num(row['max_score'])}"]
    lines += [f"  ! {p}" for p in row["problems"]]  # type: ignore[union-attr]
    lines += [f"  FLAG: {f}" for f in row.get("flags", [])]  # type: ignore[union-attr]
    # Answers waiting for the instructor come first: they are 0 points only until settled.
    lines += [f"  ? review {iid}.{aid}: {a['feedback']}"
              for iid, item in row["questions"].items()  # type: ignore[union-attr]
              for aid, a in item.get("answers", {}).items() if a["status"] == Status.REVIEW]
    lines.append(f"{'item':<20} {'points':>6} {'max':>5}  {'status':<14} feedback")
    indent = " " * 50
    for iid, item in row["questions"].items():  # type: ignore[union-attr]
        line = (f"{iid:<20} {_num(item['score']):>6} {_num(item['max_score']):>5}  "
                f"{item['status']:<14} ")
        lines.append(line + _wrap(item["feedback"], width - len(line), indent))
        for aid, a in item.get("answers", {}).items():
            if a["status"] in (Status.CORRECT, Status.PASSED) or item["status"] == Status.BLANK:
                continue
            sub = (f"  {aid:<18} {_num(a['score']):>6} {_num(a['max_score']):>5}  "
                   f"{a['status']:<14} ")
            lines.append(sub + _wrap(a["feedback"], width - len(sub), indent))
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, indent: str) -> str:
    parts = textwrap.wrap(text, max(width, 30)) or [""]
    return ("\n" + indent).join(parts)
