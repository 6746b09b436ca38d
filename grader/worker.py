"""Grade submissions in supervised child processes, each submission under a wall-clock limit.

Workers are forked from the grader, so every worker inherits the run's context built in the
parent (grader.context: rubric, references, template, the one perturbation seed), and grade one
submission at a time: all the work (reading files, Part A, running the sandboxed model or
notebook) happens there, and one JSON-able result comes back through a pipe. The parent only
hands out work and watches the clock. A worker still busy with one submission at the limit is
killed, one that dies (a signal, the OOM killer, an exit) is reaped: either way that submission
gets its one-line error, a fresh worker takes over and the others go on, in single and in batch
mode. A worker's process group is killed with it, and the sandbox's processes die with it too
(bubblewrap's --die-with-parent).

Why not one fresh fork per submission: the child of a process holding SymPy copies most of its
heap page by page as it runs; `bench/worker.py` measured that at 3.6 times the in-process time,
the reused worker at 1.03 times. Why not a pool library: Pebble 5.2's workers share one channel
under a lock, and a worker killed at the wrong moment (tests/test_security_batch.py's SIGKILL
and SIGSTOP) hung the whole batch; here each worker has its own pipes.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from core import jsonio
from grader import warm

T = TypeVar("T")
Row = dict[str, object]
MAX_REPLY = 64 * 1024 * 1024  # one JSON row; ours are a few KB
_HEADER = 8
_DEPTH = 2  # tasks sent ahead to a worker, so it never waits for a busy parent


@dataclass
class _Worker:
    pid: int
    tasks: int  # write end: task numbers, one per line
    replies: int  # read end: length-prefixed JSON replies
    queue: deque[int] = field(default_factory=deque)  # sent, not answered; the first is running
    deadline: float = 0.0  # of the first
    buf: bytearray = field(default_factory=bytearray)


def run_each(fn: Callable[[T], Row], args: Sequence[T], *, limit: float, jobs: int = 1,
             done: Callable[[int, Row | None, str | None], None] | None = None
             ) -> list[tuple[Row | None, str | None]]:
    """`fn(arg)` for every arg in worker processes (at most `jobs`), each call stopped after
    `limit` seconds of wall clock. Returns, in the order of `args`, (row, None) or (None, a
    one-line error); `done(index, row, error)` is called as each finishes."""
    pool = _Pool(fn, args, limit, done)
    with frozen_heap():
        try:
            pool.run(jobs)
        finally:
            pool.close()
    return pool.results


def settle() -> None:
    """After a task: its cyclic garbage collected, what it left alive frozen (inside
    `frozen_heap`). Collections then only ever scan the current task's objects: a worker's had
    come to rescan every cache it grew (12% of its CPU on a Part A class), the parent's the
    class's results as they arrived (0.5 s of a 4.5 s batch of 1,000). What it froze and
    later drops is freed by reference counting; only a cycle among it waits for the process's
    end (a worker's caches hold none)."""
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """What this process holds on entry (the references, SymPy, the templates; after grading,
    the class's results) moved out of the collector's sight until exit: no full collection
    scans it again, in this process or in its forks, and its pages stay shared with them. A
    class of 1,000 graded 15% faster; its outputs written in 1.24 s instead of 1.6."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Pool:
    """The supervisor: workers fed through their own task pipe (never a shared lock a dying
    worker could hold), replies read as they come, the clock of each worker's running task
    watched; a worker past it, or dead, is reaped and replaced."""

    def __init__(self, fn: Callable[[T], Row], args: Sequence[T], limit: float,
                 done: Callable[[int, Row | None, str | None], None] | None):
        self.fn, self.args, self.limit, self.done = fn, args, limit, done
        self.results: list[tuple[Row | None, str | None]] = [(None, "not graded")] * len(args)
        self.pending = deque(range(len(args)))
        self.sel = selectors.DefaultSelector()
        # Workers' temporary files, removed even if a worker is killed.
        self.scratch = tempfile.mkdtemp(prefix="dlhw-grade-")
        self.workers: list[_Worker] = []

    def run(self, jobs: int) -> None:
        for _ in range(min(max(jobs, 1), len(self.args))):
            self.start()
        while any(w.queue for w in self.workers):
            wait = min(w.deadline for w in self.workers if w.queue) - time.monotonic()
            for key, _ in self.sel.select(max(wait, 0)):
                self.read(key.data)
            now = time.monotonic()
            for w in list(self.workers):
                if w.queue and now >= w.deadline:
                    self.stop(w, f"grading took longer than the {self.limit:g} s wall-clock "
                                 "limit for one submission: stopped")

    def record(self, k: int, row: Row | None, error: str | None) -> None:
        self.results[k] = (row, error)
        if self.done:
            self.done(k, row, error)
        settle()

    def assign(self, w: _Worker) -> None:
        """Top up `w`'s queue; the clock of its first task starts now if it was idle."""
        if not w.queue:
            w.deadline = time.monotonic() + self.limit
        while self.pending and len(w.queue) < _DEPTH:
            k = self.pending.popleft()
            w.queue.append(k)
            try:
                os.write(w.tasks, b"%d\n" % k)
            except OSError:  # it died; its end of the reply pipe says so next
                break

    def start(self) -> None:
        w = _spawn(self.fn, self.args, self.scratch)
        self.workers.append(w)
        self.sel.register(w.replies, selectors.EVENT_READ, w)
        self.assign(w)

    def stop(self, w: _Worker, error: str | None) -> None:
        """Kill (if `error`), reap and replace `w`; its current submission gets the error."""
        if error is not None:
            _kill(w.pid)
        _, status = os.waitpid(w.pid, 0)
        self.sel.unregister(w.replies)
        os.close(w.replies)
        os.close(w.tasks)
        self.workers.remove(w)
        if w.queue:
            self.record(w.queue.popleft(), None, error or _death(status))
            self.pending.extendleft(reversed(w.queue))  # sent, not started: to another worker
        if self.pending:
            self.start()

    def read(self, w: _Worker) -> None:
        """What `w` sent: each complete reply recorded, its next task's clock started."""
        block = os.read(w.replies, 1 << 16)
        if not block:
            self.stop(w, None)
            return
        w.buf += block
        while len(w.buf) >= _HEADER and w.queue:
            size = int.from_bytes(w.buf[:_HEADER], "big")
            if size > MAX_REPLY:
                self.stop(w, f"internal error: a result of more than {MAX_REPLY} bytes")
                return
            if len(w.buf) < _HEADER + size:
                return
            reply = _decode(bytes(w.buf[_HEADER:_HEADER + size]))
            del w.buf[:_HEADER + size]
            self.record(w.queue.popleft(), *reply)
            w.deadline = time.monotonic() + self.limit  # the next one has just started
            self.assign(w)

    def close(self) -> None:
        for w in self.workers:  # idle, or (interrupted) busy: either way done with
            _kill(w.pid)
            os.waitpid(w.pid, 0)
            os.close(w.tasks)
            os.close(w.replies)
        self.sel.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _spawn(fn: Callable[[T], Row], args: Sequence[T], scratch: str) -> _Worker:
    """Fork a worker that answers task numbers with `fn(args[k])`."""
    task_r, task_w = os.pipe()
    reply_r, reply_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        code = 0
        try:
            os.close(task_w)
            os.close(reply_r)
            os.setpgid(0, 0)  # its own group, killed whole; Ctrl-C goes to the parent only
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            tempfile.tempdir = scratch
            with os.fdopen(task_r, "rb") as tasks:
                for line in tasks:
                    _write_all(reply_w, _reply(fn, args[int(line)]))
                    settle()
        except BaseException:  # noqa: BLE001 - nothing may escape a forked child
            code = 70
        finally:
            with contextlib.suppress(BaseException):
                warm.close_all()  # os._exit skips atexit: its sandboxes and their groups
            os._exit(code)
    os.close(task_r)
    os.close(reply_w)
    with contextlib.suppress(OSError):  # the child may already have done it, or exited
        os.setpgid(pid, pid)
    return _Worker(pid, task_w, reply_r)


def _reply(fn: Callable[[T], Row], arg: T) -> bytes:
    try:
        payload = jsonio.dumps({"row": fn(arg)})
    except BaseException as exc:  # noqa: BLE001 - reported as this submission's error
        payload = jsonio.dumps(
            {"error": f"internal error: {type(exc).__name__}: {str(exc)[:200]}"})
    return len(payload).to_bytes(_HEADER, "big") + payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(OSError):
            target()


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"the grading process died ({name}): stopped"
    return f"the grading process exited (status {os.WEXITSTATUS(status)}) without a result"


def _decode(data: bytes) -> tuple[Row | None, str | None]:
    reply = jsonio.loads(data)
    if "error" in reply:
        return None, str(reply["error"])
    return reply["row"], None


def in_parallel(fn: Callable[[int], None], n: int, jobs: int,
                first: Callable[[], None] | None = None) -> None:
    """`fn(k)` for k in range(n), shared out among `jobs` forked processes (this one included)
    when there is enough work to pay for a fork (a class's output files: bench/grade.py); this
    one runs `first` before it takes any. Each process takes the next chunk as it is free, so
    `first` costs the total only its share. A failing child raises here; `fn` must only write
    files (nothing comes back from a child)."""
    jobs = min(jobs, n // ITEMS_PER_FORK)
    if jobs <= 1:
        if first is not None:
            first()
        for k in range(n):
            fn(k)
        return
    chunk = -(-n // 1024)  # at most 1,024 chunk numbers of 4 bytes: one page, which any
    # pipe holds (a user past the kernel's pipe quota gets one page), written at once
    take, put = os.pipe()
    os.write(put, b"".join(k.to_bytes(4, "big") for k in range(0, n, chunk)))
    os.close(put)  # read to the end, the pipe says so: every chunk taken

    def share() -> None:
        while (word := os.read(take, 4)):  # 4 bytes: one atomic read, one chunk
            start = int.from_bytes(word, "big")
            for k in range(start, min(start + chunk, n)):
                fn(k)

    pids = []
    for _ in range(1, jobs):
        pid = os.fork()
        if pid == 0:  # a child: chunks until none is left, then out without the parent's cleanup
            code = 0
            try:
                share()
            except BaseException:  # noqa: BLE001 - reported by the exit status
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    failed = False
    try:
        if first is not None:
            first()
        share()
    finally:
        os.close(take)
        for pid in pids:
            failed |= os.waitpid(pid, 0)[1] != 0
    if failed:
        raise RuntimeError("writing output files failed in a child process")


ITEMS_PER_FORK = 100
