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

from core.errors import DlhwError

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


# What a program prints and a person would not: float noise (0.010000000000000002, -0.187046:
# six or more significant decimals), "unit(s)", "64.6%(best", "1 epochs", raw ids (no_bn).
_WORDING = {
    "float noise": re.compile(r"\d\.0*[1-9]\d{5,}"),
    "an (s) plural": re.compile(r"\w\(s\)"),
    "no space after a number": re.compile(r"\d%[A-Za-z(]|\d[A-Za-z]{3,}"),
    "a raw identifier": re.compile(r"(?<![\w./-])[a-z][a-z0-9]*_[a-z0-9_]*[a-z0-9](?![\w/])"),
    # Count nouns only: "neuron 1 receives" is a verb, "1 epochs" a count.
    "a plural after 1": re.compile(r"(?<![\d.,\-−])\b1 (?:[a-z-]+ )?(?:epochs|images|units|"
                                   r"models|fits|points|configurations|folds|processes|"
                                   r"parameters|layers|seconds|classes|inputs|steps|channels)\b"),
}


def wording_problems(text: str) -> list[str]:
    """Each place `text` reads as printed by a program, as 'what: "excerpt"'. The handout's
    figures are checked with it as they are saved, and its PDF text by the tests."""
    words = re.sub(r"\$[^$]*\$", lambda m: " " * len(m[0]), text)  # $x_1$ is math, not an id
    return [f"{what}: {text[max(m.start() - 12, 0):m.end() + 12]!r}"
            for what, rx in _WORDING.items()
            for m in rx.finditer(words if what == "a raw identifier" else text)]
