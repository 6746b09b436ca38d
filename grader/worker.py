"""Grade each submission in its own forked child, killed at a wall-clock limit.

The child does all the work (reading files, Part A, running the sandboxed model or notebook) and
sends back one JSON row through a pipe; the parent only waits. A child that hangs is killed at the
limit, one that dies (a signal, the OOM killer, an exit) is reported: either way that submission
gets an error and the others go on, in single and in batch mode. Its process group is killed
with it, and the sandbox's processes die with it too (bubblewrap's --die-with-parent).

A fresh child per submission also means no state of one student's grading reaches another's.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
Row = dict[str, object]
MAX_REPLY = 64 * 1024 * 1024  # a child's JSON row; ours are a few KB


@dataclass
class _Child:
    pid: int
    index: int
    deadline: float
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


def run_each(fn: Callable[[T], Row], args: Sequence[T], *, limit: float, jobs: int = 1,
             done: Callable[[int, Row | None, str | None], None] | None = None
             ) -> list[tuple[Row | None, str | None]]:
    """`fn(arg)` for every arg, each in a forked child with `limit` seconds of wall clock, at
    most `jobs` at once. Returns, in the order of `args`, (row, None) or (None, one-line error);
    `done(index, row, error)` is called as each finishes."""
    results: list[tuple[Row | None, str | None]] = [(None, "not graded")] * len(args)
    pending = deque(enumerate(args))
    running: dict[int, _Child] = {}  # read end of its pipe → child
    sel = selectors.DefaultSelector()
    scratch = tempfile.mkdtemp(prefix="dlhw-grade-")  # children's temporary files, even if killed

    def finish(fd: int, error: str | None) -> None:
        child = running.pop(fd)
        sel.unregister(fd)
        os.close(fd)
        if error is not None:
            _kill(child.pid)
        _, status = os.waitpid(child.pid, 0)
        row = None
        if error is None:
            row, error = _decode(b"".join(child.chunks), status)
        results[child.index] = (row, error)
        if done:
            done(child.index, row, error)

    try:
        while pending or running:
            while pending and len(running) < jobs:
                index, arg = pending.popleft()
                fd, pid = _spawn(fn, arg, scratch)
                running[fd] = _Child(pid, index, time.monotonic() + limit)
                sel.register(fd, selectors.EVENT_READ)
            wait = min(c.deadline for c in running.values()) - time.monotonic()
            for key, _ in sel.select(max(wait, 0)):
                child = running[key.fd]
                block = os.read(key.fd, 1 << 16)
                if not block:
                    finish(key.fd, None)
                    continue
                child.chunks.append(block)
                child.size += len(block)
                if child.size > MAX_REPLY:
                    finish(key.fd, f"internal error: grading produced more than {MAX_REPLY} "
                                   "bytes of results")
            now = time.monotonic()
            for fd, child in list(running.items()):
                if now >= child.deadline:
                    finish(fd, f"grading took longer than the {limit:g} s wall-clock limit "
                               "for one submission: stopped")
    finally:
        for fd, child in running.items():
            _kill(child.pid)
            os.waitpid(child.pid, 0)
            os.close(fd)
        sel.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def _spawn(fn: Callable[[T], Row], arg: T, scratch: str) -> tuple[int, int]:
    """Fork a child computing `fn(arg)`; (read end of its pipe, pid)."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(r)
            os.setpgid(0, 0)  # its own group, killed whole; Ctrl-C goes to the parent only
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            tempfile.tempdir = scratch
            try:
                data = json.dumps({"row": fn(arg)}, ensure_ascii=True, allow_nan=False)
            except BaseException as exc:  # noqa: BLE001 - reported as this submission's error
                data = json.dumps({"error": f"internal error: {type(exc).__name__}: "
                                            f"{str(exc)[:200]!r}"})
            view = memoryview(data.encode())
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001 - nothing may escape a forked child
            code = 70
        finally:
            os._exit(code)
    os.close(w)
    with contextlib.suppress(OSError):  # the child may already have done it, or exited
        os.setpgid(pid, pid)
    return r, pid


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(OSError):
            target()


def _decode(data: bytes, status: int) -> tuple[Row | None, str | None]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return None, f"the grading process died ({name}): stopped"
    try:
        reply = json.loads(data)
    except ValueError:
        return None, f"the grading process exited (status {os.WEXITSTATUS(status)}) " \
                     "without a result"
    if "error" in reply:
        return None, str(reply["error"])
    return reply["row"], None
