"""What a reader sees for the runs' ids and counts, in figures and in the handout alike.

The names are data (nets/labels.yaml): `label("early_stopping")` is "early stopping" in a
legend, on a tick and in a sentence. `plural` and `count` write counts as prose does ("1 epoch",
"2,000 images"), so no figure title or sentence says "1 epochs" or "unit(s)".
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

from solver.errors import DlhwError

LABELS_PATH = Path(__file__).with_name("labels.yaml")


@cache
def labels() -> dict[str, str]:
    """nets/labels.yaml: id -> display name."""
    data = yaml.safe_load(LABELS_PATH.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DlhwError(f"{LABELS_PATH}: expected a mapping of ids to names (strings)")
    return {str(k): v for k, v in data.items()}


def label(key: str, **fill: object) -> str:
    """The display name of `key`, its <<name>> placeholders filled from `fill`.

    An id without a name is an error naming it (a raw id must never reach a reader)."""
    names = labels()
    if key not in names:
        raise DlhwError(f"{LABELS_PATH}: no display name for {key!r}: add one")
    text = names[key]
    missing = [m for m in re.findall(r"<<(\w+)>>", text) if m not in fill]
    if missing:
        raise DlhwError(f"label {key!r} needs {', '.join(missing)}")
    return re.sub(r"<<(\w+)>>", lambda m: str(fill[m[1]]), text)


def count(n: int) -> str:
    """An integer count with thousands separators: 2,000 and 289,130 (1437 is 1,437)."""
    return f"{int(n):,}"


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """`n` and the noun in the number it takes: 1 epoch, 3 epochs, 1 distinct unit."""
    return f"{count(n)} {noun if n == 1 else plural_form or noun + 's'}"


def percent(x: float, digits: int = 1) -> str:
    """A fraction as a plain percentage for figure titles: 0.7745 -> 77.5%."""
    return f"{100 * x:.{digits}f}%"
