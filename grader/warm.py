"""Warm sandboxes: one long-lived bubblewrap sandbox per kind of run in a grading process. Its
server (grader/warm_server.py) imports once what every run of that kind imports (torch: 1.3 s
of each models' run; numpy, matplotlib and scikit-learn: 1 s of each notebook's) and forks a
fresh child per run, so a class pays those imports once per worker, not once per submission.

Threat model. The attacker is a student whose notebook code or model archive runs in a child,
and who wants to change what a later run in the same sandbox (another student's, or their own
again) computes or sees. What runs of one warm sandbox share, and cold runs do not, and how
each is closed:

- the server's memory: it is not dumpable, so a child (same uid, no capabilities) can neither
  ptrace it nor read or write its memory, descriptors or environment through /proc; what a
  child may set on it (same uid: rlimits by prlimit, nice, scheduling policy, affinity, I/O
  priority) is compared after each run; a server killed or stopped mid-run is torn down and the
  run runs again cold, on the same inputs (aborting never draws new ones);
- processes: after each run the grader counts the sandbox's control group; any process beyond
  the server's own (a daemon, a stopped fork) tears the sandbox down before the next run;
- files: the server deletes everything in /tmp and /dev/shm after each run (links not followed,
  any depth); anything left tears it down. /in is rewritten by the grader between runs and only
  ever holds the current run's inputs;
- SysV IPC objects in the sandbox's namespace: any left tears it down; POSIX message queues
  cannot be made (RLIMIT_MSGQUEUE 0);
- the control socket: closed in the child before anything of the student's runs;
- random state: each child reseeds Python's, numpy's and torch's generators from the OS, as a
  fresh interpreter seeds them; it gets a session (and scheduler autogroup) of its own.

Accepted: kernel objects keyed by the uid (the user keyring), shared by a grading process's cold
runs as well; a colluding pair could pass data through them, never marks. A run's clocks start at
its fork, so the imports no longer count against its time limit.

Warm sandboxes need bubblewrap and a control group (to count processes); elsewhere, with
`DLHW_WARM=0`, or where the server cannot start, runs are cold (`grader.bwrap`). Any failure of
the server sends that run cold: the grader's failure is never the student's. The child runs the
script as `python SCRIPT` would (a module `__main__`, its tracebacks, exit statuses as bwrap
reports them, Python's shutdown, the same recursion head-room); it differs in its parent's pid.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader import boundary, bwrap, channel
from grader.supervise import (
    AFTER_TALK_S,
    DISK_BOUNDARY,
    Limits,
    Outcome,
    Talk,
    overrun,
    refill,
    rlimits,
    tail,
    verdict,
)

ENV = "DLHW_WARM"  # "0": every run cold
SERVER = Path(__file__).with_name("warm_server.py")
_START_S = 120.0  # the server's imports, under load
_SWEEP_S = 30.0  # its report of what the run left
_REAP_S = 10.0  # from the run's channel closing to its exit status: a server that says nothing
_SERVER_CPU_S = 24 * 3600  # the server's own CPU limit: above any run's (a child may only lower it)


class _Broken(Exception):
    """The server stopped answering: its sandbox is torn down."""


@dataclass
class _Server:
    key: tuple
    owner: int  # the process that started it: a forked worker never uses its parent's
    proc: subprocess.Popen
    ctl: socket.socket
    group: boundary.Group
    box: Path
    baseline: frozenset[int]  # the group's processes with the server idle
    pid: int = 0  # the server's, as this side sees it

    def _stopped(self) -> bool:
        """Whether the server is stopped (a child may SIGSTOP it): it will never answer."""
        try:
            return boundary.stat_fields(f"/proc/{self.pid}/stat")[0] in (b"T", b"t")
        except (OSError, IndexError):
            return True

    def job(self, script_argv: list[str], limits: Limits, inputs: Mapping[str, bytes | Path],
            talk: Talk | None) -> Outcome | None:
        """One run in a fresh child; None where it could not start (the caller runs it cold)."""
        jobdir = Path(tempfile.mkdtemp(prefix="dlhw-job-"))  # outlives a torn-down box
        try:
            refill(self.box / "in", inputs)
            return self._job(script_argv, limits, talk, jobdir)
        except _Broken:
            close(self)
            return None
        finally:
            shutil.rmtree(jobdir, ignore_errors=True)

    def _job(self, script_argv: list[str], limits: Limits, talk: Talk | None,
             jobdir: Path) -> Outcome:
        stdin_r, stdin_w = os.pipe() if talk else (os.open(os.devnull, os.O_RDONLY), -1)
        chan_r, chan_w = os.pipe()
        reader = channel.Reader(chan_r, limits.file_mb * 1024 * 1024)
        out_path, err_path = jobdir / "stdout", jobdir / "stderr"
        cpu0, waited0, t0 = self.group.cpu_seconds(), self.group.waited_seconds(), time.monotonic()
        with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
            try:
                socket.send_fds(self.ctl, [json.dumps({"argv": script_argv,
                                                       "cpu_s": limits.cpu_s}).encode()],
                                [stdin_r, out_f.fileno(), err_f.fileno(), chan_w])
            except OSError:
                raise _Broken from None
            finally:
                os.close(stdin_r)
                os.close(chan_w)
        try:
            self._receive("pid", time.monotonic() + _START_S)
        except _Broken:  # the child never started: nothing of the student's ran
            if stdin_w >= 0:
                os.close(stdin_w)
            close(self)
            reader.result()
            raise
        end = t0 + limits.wall_s
        if talk is not None:
            session = channel.Session(os.fdopen(stdin_w, "wb"), reader, end)
            try:
                talk(session)
            except BaseException:
                close(self)  # the child may still run: nothing of this sandbox is reused
                raise
            finally:
                session.close()
            end = min(end, time.monotonic() + AFTER_TALK_S)
        rc, stop = self._wait(limits, end, cpu0, waited0, reader)
        if rc is None and not stop:  # run again cold: aborting cannot draw new inputs
            close(self)
            reader.result()
            raise _Broken("the server stopped answering during the run")
        clean = not stop and self._swept()
        oom = self.group.out_of_memory()
        cpu = self.group.cpu_seconds() - cpu0
        if not clean or oom:  # before reading: a leftover process may hold the channel open
            close(self)
        files = reader.result()
        ran = Outcome("ok", rc, time.monotonic() - t0, tail(out_path, limits.keep_output),
                      tail(err_path, limits.keep_output), files, cpu_seconds=cpu,
                      boundaries=(*self.group.describe(limits.memory_mb, limits.processes),
                                  DISK_BOUNDARY))
        return verdict(ran, stop, oom, limits)

    def _wait(self, limits: Limits, end: float, cpu0: float, waited0: float,
              reader: channel.Reader) -> tuple[int | None, str]:
        """The child's exit status, or (None, why it was stopped) as `overrun` says it;
        (None, "") when the server stopped answering: it closed the socket, is stopped, or the
        child is gone and no status followed."""
        gone = math.inf
        while True:
            try:
                msg = self._receive("status", min(end, time.monotonic() + 0.25))
                return int(msg["status"]), ""
            except _Broken as exc:
                if str(exc) != "timeout":
                    return None, ""
            if self._stopped():
                return None, ""
            if self._child_gone(reader):
                gone = min(gone, time.monotonic())
                if time.monotonic() - gone > _REAP_S:
                    return None, ""
            stop = overrun(self.group, limits, end, cpu0, waited0)
            if stop in ("starved", "wall") and self._child_gone(reader):
                return None, ""  # the child ended in time; its server never said so
            if stop:
                return None, stop

    def _child_gone(self, reader: channel.Reader) -> bool:
        """The run's channel is closed and no process but the server's own is left."""
        return reader.ended() and self.group.pids() <= self.baseline

    def _swept(self) -> bool:
        """Whether the sandbox is as the next run must find it: the server's sweep left nothing
        and no process but the server's own remains in the group."""
        deadline = time.monotonic() + _SWEEP_S
        while True:
            try:
                left = self._receive("left", min(deadline, time.monotonic() + 0.25))["left"]
                break
            except _Broken as exc:
                if str(exc) != "timeout" or self._stopped() or time.monotonic() >= deadline:
                    return False
        return left == "" and self.group.pids() <= self.baseline

    def _receive(self, key: str, deadline: float) -> dict:
        """The server's next message, which must carry `key`."""
        self.ctl.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            data = self.ctl.recv(1 << 16)
        except TimeoutError:
            raise _Broken("timeout") from None
        except OSError:
            raise _Broken("closed") from None
        try:
            msg = json.loads(data) if data else None
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or key not in msg:
            raise _Broken("closed")
        return msg


_SERVERS: dict[tuple, _Server] = {}


def enabled() -> bool:
    return os.environ.get(ENV, "1") != "0"


def run(argv: list[str], prefix: list[str], preload: Sequence[str], limits: Limits,
        inputs: Mapping[str, bytes | Path], ro_binds: Sequence[str | Path],
        env: Mapping[str, str], cwd: str, hide: Sequence[str | Path],
        talk: Talk | None) -> Outcome | None:
    """`argv` (`prefix`, the student's interpreter, then a script in /in and its arguments) in
    the warm sandbox that preloads `preload`; None where there is none (run it cold)."""
    if argv[:len(prefix)] != prefix or len(argv) <= len(prefix):
        return None
    # Everything the sandbox is built from, except the per-run clocks.
    key = (tuple(prefix), tuple(preload), replace(limits, wall_s=0.0, cpu_s=0),
           tuple(map(str, ro_binds)), tuple(sorted(env.items())), cwd, tuple(map(str, hide)))
    server = _SERVERS.get(key)
    if server is not None and server.owner != os.getpid():
        server = None
    if server is None:
        for other in [s for k, s in _SERVERS.items() if k[:2] == key[:2]]:
            close(other)  # one per kind: a changed setting replaces it
        server = _start(key, prefix, preload, limits, ro_binds, env, cwd, hide)
        if server is None:
            return None
        _SERVERS[key] = server
    return server.job(argv[len(prefix):], limits, inputs, talk)


def _start(key: tuple, prefix: list[str], preload: Sequence[str], limits: Limits,
           ro_binds: Sequence[str | Path], env: Mapping[str, str], cwd: str,
           hide: Sequence[str | Path]) -> _Server | None:
    group = boundary.make(limits.memory_mb, limits.processes)
    if group is None:
        return None
    box = Path(tempfile.mkdtemp(prefix="dlhw-warm-"))
    (box / "in").mkdir()
    refill(box / "in", {"_warm.py": SERVER})
    box.chmod(0o711)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    cmd = bwrap.command(box / "in", limits, ro_binds, env, cwd, hide) + \
        [*prefix, "/in/_warm.py", str(theirs.fileno()), *preload]
    server_limits = replace(limits, cpu_s=_SERVER_CPU_S)
    root = os.geteuid() == 0

    def child() -> None:  # before exec: inherited by the server and every run it forks
        rlimits(server_limits, root)
        group.join()

    try:
        with open(box / "stdout", "wb") as out, open(box / "stderr", "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    preexec_fn=child, start_new_session=True, close_fds=True,
                                    pass_fds=(theirs.fileno(),))
    except OSError:
        theirs.close()
        ours.close()
        group.remove()
        shutil.rmtree(box, ignore_errors=True)
        return None
    theirs.close()
    server = _Server(key, os.getpid(), proc, ours, group, box, frozenset())
    try:
        server._receive("ready", time.monotonic() + _START_S)
    except _Broken:
        close(server)
        return None
    server.baseline = frozenset(group.pids())
    server.pid = next((p for p in server.baseline if _runs_server(p)), 0)
    if not server.pid:
        close(server)
        return None
    return server


def _runs_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"/in/_warm.py" in f.read().split(b"\0")
    except OSError:
        return False


def close(server: _Server) -> None:
    """Tear `server`'s sandbox down: every process of its group, the group, its folder."""
    for key in [k for k, s in _SERVERS.items() if s is server]:
        del _SERVERS[key]
    if server.owner != os.getpid():
        return
    with contextlib.suppress(OSError):
        server.ctl.close()
    server.group.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    server.group.remove()
    shutil.rmtree(server.box, ignore_errors=True)


def close_all() -> None:
    """Every warm sandbox of this process (a worker's, before it exits)."""
    for server in list(_SERVERS.values()):
        close(server)


def _forget() -> None:
    """In a forked child: the parent's servers are the parent's to use and to close."""
    for server in _SERVERS.values():
        with contextlib.suppress(OSError):
            server.ctl.close()
    _SERVERS.clear()


atexit.register(close_all)
os.register_at_fork(after_in_child=_forget)
