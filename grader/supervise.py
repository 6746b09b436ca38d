"""One confined process, started and supervised to its end: its boundaries (a control group
where one can be made, rlimits), its clocks (CPU of all its processes, wall, starvation), the
channel its files come back on, and the one-line verdict of how it ended. `grader.bwrap` and
`grader.container` build the confinement around it; `grader.sandbox` chooses between them.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import boundary, channel, runtime

# Run as root, each grading process drops its sandboxes to a uid of its own: RLIMIT_NPROC counts
# per uid, so a fork bomb in one student's sandbox cannot starve a neighbour's of processes.
UID_BASE, UID_SPAN = 200_000, 60_000
# Where no control group can be made: per-process rlimits, and the sandbox's own IPC namespace
# and sized tmpfs mounts (bubblewrap); memfds are bounded by file size and open files only.
RLIMIT_BOUNDARIES = ("memory: rlimits (address space per process); /tmp and /dev/shm sized "
                     "tmpfs; SysV shared memory in the run's own IPC namespace",
                     "processes: rlimit per uid", "cpu: rlimit per process, wall clock")
DISK_BOUNDARY = "disk: no writable folder of the grader's; files come back through a capped pipe"
_PASS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # set here for correctness on some CPUs


@dataclass(frozen=True)
class Limits:
    """What one sandboxed run may use. Memory is address space (RLIMIT_AS)."""

    wall_s: float = 120.0
    cpu_s: int = 120
    memory_mb: int = 4096  # torch's CUDA build does not import in 3 GB of address space
    processes: int = 64
    file_mb: int = 64  # largest file it may write: stdout, stderr and /out files included
    tmp_mb: int = 256  # its private /tmp
    threads: int = 1  # OMP/MKL/BLAS threads
    keep_output: int = 16 * 1024  # bytes of stdout/stderr kept (the tail)


@dataclass(frozen=True)
class Outcome:
    """How a sandboxed run ended. `reason` is one line for a student's feedback."""

    status: str  # ok | failed | timeout | killed | starved | unavailable
    returncode: int | None = None
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    files: Mapping[str, bytes] = field(default_factory=dict)
    reason: str = ""
    cpu_seconds: float = 0.0  # the CPU time of all its processes (where a cgroup counted it)
    boundaries: tuple[str, ...] = ()  # which boundaries were in force

    @property
    def ok(self) -> bool:
        return self.status == "ok"


Talk = Callable[[channel.Session], None]
AFTER_TALK_S = 10.0  # a program whose conversation is over has this long to end
_SIGNALS: dict[int, str] = {signal.SIGXCPU: "used more than its CPU-time limit",
            signal.SIGXFSZ: "wrote a file or output larger than its limit",
            signal.SIGKILL: "was killed (memory or process limit)",
            signal.SIGSEGV: "crashed (segmentation fault)",
            signal.SIGABRT: "aborted (often: out of memory)"}


def run_uid() -> int:
    return UID_BASE + os.getpid() % UID_SPAN  # runs of one process are sequential


def fill_box(box: Path, inputs: Mapping[str, bytes | Path]) -> Path:
    """/in, read-only copies of the inputs, inside `box`."""
    indir = box / "in"
    indir.mkdir()
    refill(indir, inputs)
    box.chmod(0o711)
    return indir


def refill(indir: Path, inputs: Mapping[str, bytes | Path]) -> None:
    """`indir` holding exactly read-only copies of the inputs (and the channel's writer)."""
    indir.chmod(0o755)
    for old in os.listdir(indir):
        os.unlink(indir / old)
    inputs = {channel.MODULE: channel.WRITER, **inputs}
    for name, data in inputs.items():
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"sandbox input name {name!r}: expected a plain file name")
        target = indir / name
        if isinstance(data, Path):
            copy_nofollow(data, target)
        else:
            target.write_bytes(data)
        target.chmod(0o444)
    indir.chmod(0o555)


def copy_nofollow(src: Path, dst: Path) -> None:
    """Copy a regular file without following a symlink at its last component."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{src.name}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f, open(dst, "wb") as g:
            shutil.copyfileobj(f, g, 1024 * 1024)
    finally:
        os.close(fd)


def setpriv(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]


def environment(limits: Limits, extra: Mapping[str, str]) -> dict[str, str]:
    threads = str(limits.threads)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0",
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "OPENBLAS_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": "",
           "OMP_WAIT_POLICY": "PASSIVE",  # idle threads sleep: a shared core is not spun on
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp"}
    env |= {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
    return env | runtime.student().env | dict(extra)


def execute(cmd: list[str], box: Path, limits: Limits, root: bool, *,
            env: Mapping[str, str] | None = None, cwd: str | None = None,
            uid: int | None = None, talk: Talk | None = None) -> Outcome:
    """Run `cmd` within its boundaries (a control group where one can be made, rlimits) and
    its clocks; bring back what it wrote to the channel. `uid`: kill every process of that uid
    at the end too (container mode, where no namespace dies with the run)."""
    channel.hold_fd()
    group = boundary.make(limits.memory_mb, limits.processes)
    read_end, write_end = os.pipe()
    reader = channel.Reader(read_end, limits.file_mb * 1024 * 1024)

    def child() -> None:  # in the child, before exec: inherited by everything inside
        rlimits(limits, root)
        if group is not None:
            group.join()
        os.dup2(write_end, channel.FD)

    out_path, err_path = box / "stdout", box / "stderr"
    t0 = time.monotonic()
    try:
        with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if talk else subprocess.DEVNULL,
                                    stdout=out_f, stderr=err_f, preexec_fn=child,
                                    start_new_session=True, close_fds=True,
                                    pass_fds=(channel.FD,), env=env, cwd=cwd)
            os.close(write_end)
            write_end = -1  # closed once: its number may be another run's by now
            end = t0 + limits.wall_s
            if talk is not None:
                session = channel.Session(proc.stdin, reader, end)
                try:
                    talk(session)
                finally:
                    session.close()
                end = min(end, time.monotonic() + AFTER_TALK_S)  # the conversation is over
            rc, stop = _wait(proc, group, limits, end)
            if group is not None:
                group.kill()
            _kill_group(proc)
            if uid is not None:
                _killuid(uid)
        files = reader.result()
        cpu = group.cpu_seconds() if group is not None else 0.0
        oom = group is not None and group.out_of_memory()
    finally:
        if write_end >= 0:
            os.close(write_end)
        if group is not None:
            group.remove()
    held = group.describe(limits.memory_mb, limits.processes) if group is not None else \
        RLIMIT_BOUNDARIES
    ran = Outcome("ok", rc, time.monotonic() - t0, tail(out_path, limits.keep_output),
                  tail(err_path, limits.keep_output), files, cpu_seconds=cpu,
                  boundaries=(*held, DISK_BOUNDARY))
    return verdict(ran, stop, oom, limits)


def rlimits(limits: Limits, root: bool) -> None:
    mem = limits.memory_mb * 1024 * 1024
    fsize = limits.file_mb * 1024 * 1024
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_FSIZE, fsize),
                       (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256)):
        resource.setrlimit(res, (value, value))
    # SIGXCPU at the soft limit (named in the reason), SIGKILL a second later.
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    if root:  # enforced once setpriv has dropped to `uid` (root itself is exempt)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def _wait(proc: subprocess.Popen, group: boundary.Group | None, limits: Limits,
          deadline: float) -> tuple[int | None, str]:
    """Wait for the run's first process; (rc, "") when it ended, else (None, why it was
    stopped, as `overrun` says it). Woken by its pidfd the moment it ends: Popen.wait's
    timeout polls with sleeps of up to 50 ms, a core left idle 25 ms a run on average."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:  # a kernel before 5.3, or the process already reaped
        pidfd = -1
    try:
        while True:
            if pidfd >= 0:
                select.select([pidfd], [], [], 0.25)
                if (rc := proc.poll()) is not None:
                    return rc, ""
            else:
                try:
                    return proc.wait(timeout=0.25), ""
                except subprocess.TimeoutExpired:
                    pass
            if stop := overrun(group, limits, deadline):
                return None, stop
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def overrun(group: boundary.Group | None, limits: Limits, deadline: float, cpu0: float = 0.0,
            waited0: float = 0.0) -> str:
    """Why a run still going must stop now, or "": "cpu" (the group's CPU time since `cpu0`,
    all its processes together, past the limit); at `deadline`, "starved" (the wall clock ran
    out while the run waited for a CPU: the machine, not the run) or "wall"."""
    if group is not None and group.cpu_seconds() - cpu0 > limits.cpu_s:
        return "cpu"
    if time.monotonic() < deadline:
        return ""
    # Waiting for a CPU most of the time, yet given under a quarter of its cores: the machine's
    # other work, not the run's own processes (which its share would feed), unless the run
    # lowered its own priority.
    if group is not None and group.waited_seconds() - waited0 > limits.wall_s / 2 and \
            group.cpu_seconds() - cpu0 < limits.wall_s * limits.threads / 4 and \
            not group.deprioritized():
        return "starved"
    return "wall"


def verdict(ran: Outcome, stop: str, oom: bool, limits: Limits) -> Outcome:
    """The run's status and one line why, from how it ended."""
    if stop == "cpu":
        return replace(ran, status="killed", reason="used more than its CPU-time limit "
                       f"({limits.cpu_s} s, all its processes together)")
    if stop == "starved":
        return replace(ran, status="starved", reason=f"stopped after {limits.wall_s:g} s "
                       f"having had only {ran.cpu_seconds:.1f} s of CPU: the machine was too "
                       "busy (graded again by --resume)")
    if stop == "wall":
        return replace(ran, status="timeout",
                       reason=f"stopped after {limits.wall_s:g} s (wall-clock limit)")
    rc = ran.returncode
    if rc == 0:
        return ran
    if oom:
        return replace(ran, status="killed", reason=f"used more than its memory limit "
                       f"({limits.memory_mb} MB, shared memory included)")
    sig = -rc if rc is not None and rc < 0 else rc - 128 if rc is not None and rc > 128 else 0
    if sig in _SIGNALS:
        return replace(ran, status="killed", reason=_SIGNALS[sig])
    last = next((ln for ln in reversed(ran.stderr.splitlines()) if ln.strip()), "")
    return replace(ran, status="failed", reason=last.strip()[:200] or f"exit status {rc}")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL everything in the run's session: bwrap first, and with it the namespace."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _killuid(uid: int) -> None:
    """SIGKILL every process of `uid` (those that left the process group with setsid): a child
    that becomes `uid` and signals all it may, which is exactly that uid's processes."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def tail(path: Path, keep: int) -> str:
    """The last `keep` bytes of an output file, as text with control characters removed."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - keep))
        data = f.read(keep)
    text = data.decode("utf-8", "replace")
    return "".join(c for c in text if c in "\n\t" or (c.isprintable()))
