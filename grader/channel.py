"""The only way a sandboxed run's files come back: frames on a pipe, read here under caps.

A sandbox has no writable folder of the grader's (a student's code could fill the grader's disk
with files or entries); what it returns it writes, as frames, to file descriptor 3:

    NAME \n LENGTH (20 decimal digits) \n LENGTH bytes

NAME is a plain file name ([A-Za-z0-9._-], at most 64 characters). The reader takes at most
`cap` bytes and MAX_FRAMES frames in all, never a name twice, and stops taking frames at the
first one that breaks a rule (what came before it is kept; the rest is read and dropped, so
whether a writer sees EPIPE never depends on timing). Every sandbox gets WRITER as /in/_channel.py,
the writer of the harness scripts (`sys.path.insert(0, "/in"); from _channel import send`);
a shell script writes a frame with `printf '%s\n%020d\n' NAME "$(wc -c < FILE)"; cat FILE`.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from dataclasses import dataclass, field

FD = 3  # the sandbox's end of the channel
MAX_FRAMES = 1000
_NAME = re.compile(rb"[A-Za-z0-9._-]{1,64}")
MODULE = "_channel.py"
WRITER = b'''"""The grader's channel: the only way a file comes back from this sandbox."""


def send(name, data):
    """One frame of the grader's channel (fd 3): the only way a file comes back."""
    import os
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    head = b"%s\\n%020d\\n" % (name.encode("ascii"), len(data))
    view = memoryview(head + data)
    while view:
        view = view[os.write(3, view):]
'''


_HOLD = threading.Lock()


def hold_fd() -> None:
    """Keep this process's own fd FD open (on /dev/null when nothing holds it). A child gets the
    channel's write end at FD by a dup2 before exec, and Popen's pass_fds must name an fd open
    in the parent at every fork: were FD free, one run's pipe could take it and close it while
    another thread forks (EBADF). Called at import, before any run, and before each run."""
    with _HOLD:
        try:
            os.fstat(FD)
        except OSError:
            fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            if fd != FD:
                os.dup2(fd, FD, inheritable=False)
                os.close(fd)


hold_fd()


@dataclass
class Reader:
    """Reads one run's frames on a thread (so the writer never blocks on a full pipe)."""

    fd: int
    cap: int
    files: dict[str, bytes] = field(default_factory=dict)
    broken: str = ""  # why reading stopped early ("" when the channel ended cleanly)
    # Frames in arrival order, for a conversation (grader.sandbox.Session); None at the end.
    arrivals: queue.Queue = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def ended(self) -> bool:
        """Whether the writer side is closed (every holder of it is gone)."""
        return not self._thread.is_alive()

    def result(self, timeout: float = 10.0) -> dict[str, bytes]:
        """The files, once the writer side is closed (every process of the run is gone)."""
        self._thread.join(timeout)
        return dict(self.files)

    def _read(self) -> None:
        buf, budget = bytearray(), self.cap
        try:
            while chunk := os.read(self.fd, 1 << 16):
                if self.broken:
                    continue  # drained, not closed: EPIPE would depend on timing, not input
                buf += chunk
                budget -= len(chunk)
                if not self._frames(buf) or budget < 0:
                    self.broken = self.broken or f"more than {self.cap} bytes"
                    self.arrivals.put((BROKEN, self.broken.encode()))
                    buf.clear()
            if buf and not self.broken:
                self.broken = "a frame cut short"
                self.arrivals.put((BROKEN, self.broken.encode()))
        finally:
            os.close(self.fd)
            self.arrivals.put(None)

    def _frames(self, buf: bytearray) -> bool:
        """Take every complete frame off the front of `buf`; False on a broken rule."""
        while True:
            head = buf.find(b"\n")
            if head < 0:
                return len(buf) <= 66  # a name line can only be this long
            name = bytes(buf[:head])
            if not _NAME.fullmatch(name) or name.decode() in self.files:
                self.broken = f"a frame named {name[:64]!r}"
                return False
            if len(buf) < head + 22:
                return True
            size = buf[head + 1:head + 21]
            if not size.isdigit() or buf[head + 21:head + 22] != b"\n":
                self.broken = "a frame without its length"
                return False
            end = head + 22 + int(size)
            if end - head - 22 > self.cap or len(self.files) >= MAX_FRAMES:
                self.broken = "too many or too large frames"
                return False
            if len(buf) < end:
                return True
            self.files[name.decode()] = bytes(buf[head + 22:end])
            self.arrivals.put((name.decode(), self.files[name.decode()]))
            del buf[:end]


BROKEN = "\0broken"  # the arrival that says the channel broke a rule, and why


class Closed(Exception):
    """The sandboxed program stopped listening or answering."""


class Broken(Exception):
    """The program sent what the channel's rules refuse (a name twice, a bad frame)."""


@dataclass
class Session:
    """A conversation with a sandboxed program: requests as JSON lines on its stdin, replies as
    frames of the channel, each awaited under a clock (and never past the run's deadline)."""

    stdin: object  # the program's stdin, a binary pipe
    reader: Reader
    deadline: float  # time.monotonic() at which the run's wall clock ends

    def send(self, request: dict) -> None:
        import json

        try:
            self.stdin.write(json.dumps(request).encode() + b"\n")  # type: ignore[attr-defined]
            self.stdin.flush()  # type: ignore[attr-defined]
        except (BrokenPipeError, OSError, ValueError):
            raise Closed("the program stopped reading") from None

    def receive(self, timeout: float) -> tuple[str, bytes]:
        """The next frame, within `timeout` seconds (and the run's deadline)."""
        import time

        left = min(timeout, self.deadline - time.monotonic())
        try:
            frame = self.reader.arrivals.get(timeout=max(left, 0.0))
        except queue.Empty:
            raise Closed("the wall-clock limit ran out" if left < timeout else
                         f"no answer within {timeout:g} s") from None
        if frame is None:
            raise Closed("the program ended")
        if frame[0] == BROKEN:
            raise Broken(frame[1].decode())
        return frame

    def close(self) -> None:
        try:
            self.stdin.close()  # type: ignore[attr-defined]
        except OSError:
            pass
