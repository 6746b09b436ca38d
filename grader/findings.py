"""One line of `dlhw check`: what was found about a file of the submission, never a verdict."""

from __future__ import annotations

from dataclasses import dataclass

from grader.writers.safe import clean

LEVELS = ("ok", "warning", "problem")


@dataclass(frozen=True)
class Finding:
    """One line of the check. `message` never holds an answer's value: that is `echo`."""

    level: str  # ok | warning | problem
    file: str
    field: str
    message: str
    echo: str = ""  # the student's value as the grader reads it

    def line(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        text = f"{where}: {self.message}" + (f" {self.echo}" if self.echo else "")
        return str(clean(text))
