"""A batch's saved results (`results/resume.jsonl`): one line per graded submission, appended
the moment its result arrives, so an interrupted batch loses nothing and `--resume` reuses it.

One file appended to, not one file per submission: creating a file costs this kind of machine
~0.6 ms of system time, which was a fifth of the parent's work in a Part A class. Each line is
one `write` of a whole record; a line cut short (the machine stopped mid-write) does not parse
and is ignored, and the next append starts on a line of its own. The last record of a stem wins;
a batch without --resume starts the file afresh, and a finished batch ends by rewriting the file
with exactly the class's records in the class's order (atomically), so the same inputs give the
same bytes whatever order the workers finished in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core import jsonio
from core.fileio import atomic_write

NAME = "resume.jsonl"


def _line(stem: str, fingerprint: str, result: dict[str, Any]) -> bytes:
    return jsonio.dumps({"stem": stem, "fingerprint": fingerprint, "result": result},
                        sort_keys=True) + b"\n"


class Journal:
    """The saved results under `out`: `records()` to read them, `append` while grading (as a
    context manager: the file is opened once, emptied first when `fresh`), `rewrite` to keep
    exactly a class's records."""

    def __init__(self, out: Path, fresh: bool = False):
        self.path = out / NAME
        self.fresh = fresh
        self._fd: int | None = None

    def records(self) -> dict[str, dict[str, Any]]:
        """stem → {"fingerprint", "result"}: the last whole record of each stem."""
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for line in lines:
            try:
                record = jsonio.loads(line)
                out[str(record["stem"])] = {"fingerprint": record["fingerprint"],
                                            "result": record["result"]}
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short, or not ours
        return out

    def __enter__(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | \
            (os.O_TRUNC if self.fresh else 0)
        self._fd = os.open(self.path, flags, 0o644)
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            self._write(b"\n")  # after a line cut short: ours starts on its own
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def append(self, stem: str, fingerprint: str, result: dict[str, Any]) -> None:
        self._write(_line(stem, fingerprint, result))

    def _write(self, data: bytes) -> None:
        assert self._fd is not None, "append inside `with Journal(out):`"
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def rewrite(self, records: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """The file with exactly these (stem, fingerprint, result) records, in this order."""
        atomic_write(self.path, b"".join(_line(*r) for r in records))
