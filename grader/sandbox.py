"""Run what a student controls (notebook code, an exported model, a LaTeX report) in a sandbox.

Everything of a student's that executes goes through `run`, and nothing else does. The sandbox is
bubblewrap (Debian `bubblewrap`):

- new PID, network, IPC, UTS and mount namespaces (cgroup too where the kernel allows): no
  network, no view of the grader's processes;
- a root made of read-only binds of the interpreter and system libraries only (`/usr`, the Python
  prefixes, what the caller names in `ro_binds`), with `/usr/share/datasets` (the test labels)
  hidden; none of the grader's files, references or other submissions exists in it;
- the inputs the caller passes, copied into a read-only `/in`; a writable `/out` whose files come
  back, each size-capped; a private, size-limited `/tmp`; a cleared environment;
- an unprivileged uid: run as root, bwrap builds the namespaces and `setpriv` drops to a uid of
  its own (one per grading process, outside the system's range) with no capabilities and
  no_new_privs (a user namespace would map the child to root outside,
  where RLIMIT_NPROC does not bite); run as an ordinary user, bwrap's user namespace does it;
- rlimits on CPU time, address space, processes, open files and file size (stdout and stderr go
  to files, so a flood of output is cut at the file limit), and a wall-clock timeout that kills
  the whole process group and, with it, the namespace (`--die-with-parent`).

Where bubblewrap cannot run, `run` executes nothing and says so: the caller reports the item as
"not run: no sandbox", never falling back to running the student's code unconfined.

Container mode (`DLHW_ISOLATION=container`, set only by the Gradescope bundle's run_autograder,
never chosen as a fallback): inside Gradescope's container, which is itself the isolation of one
submission and where bubblewrap cannot create namespaces, the code runs as a plain child process
with the same rlimits, cleared environment and capped, no-follow collection of /out, as a uid of
its own (root is required: Gradescope runs as root) with no capabilities and no_new_privs, in a
private temporary folder; /in and /out are links at the container's root to this run's folders
(one run at a time per machine, under a lock); the wall clock kills its process group and then
every process of its uid. Nothing is bound or hidden by mounts, so the folders to hide (HIDDEN and
`hide`) must already be closed to others (`hide_from_sandbox`, done by the bundle), else the run
is refused; there is no network namespace.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
# Never visible inside, even though they sit under a bound folder: the FashionMNIST labels.
HIDDEN = ("/usr/share/datasets",)
_PASS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # set here for correctness on some CPUs
ISOLATION_ENV = "DLHW_ISOLATION"  # unset or "bubblewrap"; "container" only in the bundle
# Container mode: the run's folders sit where its uid can reach them (a grading worker's own
# temporary folder is 0700), and one lock per machine guards the machine-wide /in and /out.
_CONTAINER_TMP = "/tmp"
_CONTAINER_LOCK = Path(_CONTAINER_TMP) / "dlhw-container.lock"


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
_AFTER_TALK_S = 10.0  # a program whose conversation is over has this long to end
_SIGNALS = {signal.SIGXCPU: "used more than its CPU-time limit",
            signal.SIGXFSZ: "wrote a file or output larger than its limit",
            signal.SIGKILL: "was killed (memory or process limit)",
            signal.SIGSEGV: "crashed (segmentation fault)",
            signal.SIGABRT: "aborted (often: out of memory)"}


def unavailable_reason() -> str | None:
    """None where the sandbox works here; else why not, as one line."""
    return _probe()


def isolation() -> str:
    """The isolation student code runs under here: "bubblewrap" or "container" (never a
    fallback: only an explicit DLHW_ISOLATION=container chooses the container)."""
    return "container" if os.environ.get(ISOLATION_ENV) == "container" else "bubblewrap"


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    mode = os.environ.get(ISOLATION_ENV, "bubblewrap")
    if mode not in ("bubblewrap", "container"):
        return f"no sandbox: {ISOLATION_ENV}={mode!r} (expected bubblewrap or container)"
    if mode == "container":
        if os.geteuid() != 0:
            return "no sandbox: container isolation needs root (to drop to a uid of its own)"
        if shutil.which("setpriv") is None:
            return "no sandbox: setpriv (util-linux) is missing"
        out = run(["/bin/true"], limits=Limits(wall_s=20, cpu_s=10, memory_mb=512),
                  _probing=True)
        return None if out.status == "ok" else \
            f"no sandbox: container isolation cannot run here ({out.reason or out.stderr[-200:]})"
    if shutil.which("bwrap") is None:
        return "no sandbox: bubblewrap is not installed (apt-get install bubblewrap)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "no sandbox: setpriv (util-linux) is missing"
    out = run(["/bin/true"], limits=Limits(wall_s=20, cpu_s=10, memory_mb=512), _probing=True)
    if out.status != "ok":
        return f"no sandbox: bubblewrap cannot run here ({out.reason or out.stderr[-200:]})"
    return None


def python_argv(script: str, *args: str) -> list[str]:
    """Command line for the student's interpreter (grader.runtime.student) running `script` (a
    path inside the sandbox)."""
    return runtime.student().argv(script, *args)


def run(argv: Sequence[str], *, limits: Limits,
        inputs: Mapping[str, bytes | Path] | None = None,
        ro_binds: Sequence[str | Path] = (), env: Mapping[str, str] | None = None,
        cwd: str = "/tmp", hide: Sequence[str | Path] = (), talk: Talk | None = None,
        _probing: bool = False) -> Outcome:
    """Run `argv` in the sandbox. `inputs` (name → bytes, or a path on this side, copied) appear
    read-only under /in; the frames it sends on the channel (grader.channel) come back in
    `Outcome.files`. `hide`: more folders (inside the bound ones) that appear empty, like
    HIDDEN. `talk`: called with a Session as soon as the program starts, to converse with it
    (requests on its stdin, replies as frames); the run ends when the program does. In
    container mode the container's whole file system is in view (`ro_binds` are moot) and
    `hide` folders must already be closed to other uids (`hide_from_sandbox`)."""
    if not _probing and (why := _probe()) is not None:
        return Outcome("unavailable", reason=why)
    contained = isolation() == "container"
    box = Path(tempfile.mkdtemp(prefix="dlhw-box-", dir=_CONTAINER_TMP if contained else None))
    try:
        if contained:
            return _run_contained(box, list(argv), limits, inputs or {}, env or {}, cwd, hide,
                                  talk)
        return _run_in(box, list(argv), limits, inputs or {}, ro_binds, env or {}, cwd, hide,
                       talk)
    finally:
        shutil.rmtree(box, ignore_errors=True)


def _uid() -> int:
    return UID_BASE + os.getpid() % UID_SPAN  # runs of one process are sequential


def _fill_box(box: Path, inputs: Mapping[str, bytes | Path]) -> Path:
    """/in, read-only copies of the inputs, inside `box`."""
    indir = box / "in"
    indir.mkdir()
    inputs = {channel.MODULE: channel.WRITER, **inputs}
    for name, data in inputs.items():
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"sandbox input name {name!r}: expected a plain file name")
        target = indir / name
        if isinstance(data, Path):
            _copy_nofollow(data, target)
        else:
            target.write_bytes(data)
        target.chmod(0o444)
    indir.chmod(0o555)
    box.chmod(0o711)
    return indir


def _setpriv(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]


def _run_in(box: Path, argv: list[str], limits: Limits, inputs: Mapping[str, bytes | Path],
            ro_binds: Sequence[str | Path], env: Mapping[str, str], cwd: str,
            hide: Sequence[str | Path] = (), talk: Talk | None = None) -> Outcome:
    root = os.geteuid() == 0
    uid = _uid()
    indir = _fill_box(box, inputs)

    cmd = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if not root:
        cmd += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    # The private /tmp first: an interpreter that lives under /tmp (a venv there) is bound on
    # top of it below, instead of being hidden by it.
    cmd += ["--perms", "1777", "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    cmd += _root_binds(ro_binds, hide)
    cmd += ["--ro-bind", str(indir), "/in", "--proc", "/proc", "--dev", "/dev",
            # POSIX shared memory in a sized tmpfs of its own, as /tmp
            "--perms", "1777", "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", "/dev/shm",
            "--chdir", cwd, "--clearenv"]
    for key, value in _environment(limits, env).items():
        cmd += ["--setenv", key, value]
    if root:
        cmd += _setpriv(uid)
    return _execute(cmd + argv, box, limits, root, talk=talk)


def _run_contained(box: Path, argv: list[str], limits: Limits,
                   inputs: Mapping[str, bytes | Path], env: Mapping[str, str], cwd: str,
                   hide: Sequence[str | Path], talk: Talk | None = None) -> Outcome:
    """Container mode (see the module's docstring): the same limits, no namespaces."""
    uid = _uid()
    exposed = [h for h in (*HIDDEN, *map(str, hide))
               if os.path.isdir(h) and os.stat(h).st_mode & 0o007]
    if exposed:
        return Outcome("unavailable", reason=f"container isolation: {exposed[0]} is open to the "
                                             "sandbox's uid (hide it first: hide_from_sandbox)")
    indir = _fill_box(box, inputs)
    tmp = box / "tmp"
    tmp.mkdir(mode=0o700)
    os.chown(tmp, uid, uid)

    def private(value: str) -> str:  # the sandbox's /tmp is this run's own folder
        return str(tmp) + value[4:] if value == "/tmp" or value.startswith("/tmp/") else value

    environment = {k: private(v) for k, v in _environment(limits, env).items()}
    # /in is machine-wide: one run at a time. O_NOFOLLOW: /tmp is shared.
    lock = os.open(_CONTAINER_LOCK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _link("/in", indir)
        except OSError as exc:
            return Outcome("unavailable", reason=f"container isolation: {exc}")
        try:
            return _execute(_setpriv(uid) + argv, box, limits, True,
                            env=environment, cwd=private(cwd), uid=uid, talk=talk)
        finally:
            with contextlib.suppress(OSError):
                os.unlink("/in")
    finally:
        os.close(lock)  # releases the lock


def _link(path: str, target: Path) -> None:
    """Point `path` at `target`, replacing only a link (a stale one of ours)."""
    if os.path.lexists(path) and not os.path.islink(path):
        raise OSError(f"{path} exists and is not dlhw's link")
    tmp = f"{path}.dlhw-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def hide_from_sandbox(paths: Sequence[str | Path]) -> list[str]:
    """Close `paths` (folders) to every uid but their owner's, for container mode, where nothing
    can be hidden by a mount: run once in the disposable container, never on a shared machine.
    Returns the folders changed."""
    changed = []
    for p in map(str, paths):
        if os.path.isdir(p) and not os.path.islink(p) and (mode := os.stat(p).st_mode) & 0o007:
            os.chmod(p, stat.S_IMODE(mode) & ~0o007)
            changed.append(p)
    return changed


def _execute(cmd: list[str], box: Path, limits: Limits, root: bool, *,
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
        _rlimits(limits, root)
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
                end = min(end, time.monotonic() + _AFTER_TALK_S)  # the conversation is over
            rc, stop = _wait(proc, group, limits, end)
            if group is not None:
                group.kill()
            _kill_group(proc)
            if uid is not None:
                _kill_uid(uid)
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
    ran = Outcome("ok", rc, time.monotonic() - t0, _tail(out_path, limits.keep_output),
                  _tail(err_path, limits.keep_output), files, cpu_seconds=cpu,
                  boundaries=(*held, DISK_BOUNDARY))
    return _verdict(ran, stop, oom, limits)


def _rlimits(limits: Limits, root: bool) -> None:
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
    """Wait for the run's first process; ("", rc) when it ended, else (None, why it was
    stopped): "cpu" (the group's CPU time, all its processes together, past the limit),
    "starved" (the wall clock ran out while the run waited for a CPU: the machine, not the
    run) or "wall"."""
    while True:
        try:
            return proc.wait(timeout=0.25), ""
        except subprocess.TimeoutExpired:
            pass
        if group is not None and group.cpu_seconds() > limits.cpu_s:
            return None, "cpu"
        if time.monotonic() >= deadline:
            # Waiting for a CPU most of the time, yet given under a quarter of its cores: the
            # machine's other work, not the run's own processes (which its share would feed).
            if group is not None and group.waited_seconds() > limits.wall_s / 2 and \
                    group.cpu_seconds() < limits.wall_s * limits.threads / 4:
                return None, "starved"
            return None, "wall"


def _verdict(ran: Outcome, stop: str, oom: bool, limits: Limits) -> Outcome:
    """The run's status and one line why, from how it ended."""
    from dataclasses import replace

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


def _root_binds(extra: Sequence[str | Path], hide: Sequence[str | Path] = ()) -> list[str]:
    """The read-only root: system folders, the Python runtime (grader.runtime), the caller's
    extra folders."""
    args: list[str] = []
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    args += ["--ro-bind", "/usr", "/usr"]
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        if Path(f).exists():
            args += ["--ro-bind", f, f]
    made = {"/", "/usr", "/tmp", "/in", "/out", "/proc", "/dev"}
    student = runtime.student()
    for folder in runtime.cover([*student.folders, *map(str, extra)]):
        # bwrap would copy the mode of the source's parents (/root is 0700): open them to the
        # unprivileged uid, which must traverse them to reach the interpreter.
        for parent in reversed(Path(folder).parents):
            if str(parent) not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        args += ["--ro-bind", folder, folder]
        made.add(folder)
    for hidden in (*HIDDEN, *student.hidden, *map(str, hide)):
        if Path(hidden).is_dir():
            args += ["--tmpfs", hidden]
    if student.site:  # the one folder on the student's path
        for folder in (*reversed(Path(runtime.STUDENT_SITE).parents), runtime.STUDENT_SITE):
            if str(folder) not in made:
                args += ["--perms", "0755", "--dir", str(folder)]
    for source, name in student.site:
        args += ["--ro-bind", source, f"{runtime.STUDENT_SITE}/{name}"]
        for hidden in map(str, hide):  # a folder to hide inside a package, where it now is
            if hidden.startswith(source + "/") and Path(hidden).is_dir():
                args += ["--tmpfs", f"{runtime.STUDENT_SITE}/{name}{hidden[len(source):]}"]
    return args


def _environment(limits: Limits, extra: Mapping[str, str]) -> dict[str, str]:
    threads = str(limits.threads)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0",
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "OPENBLAS_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": "",
           "OMP_WAIT_POLICY": "PASSIVE",  # idle threads sleep: a shared core is not spun on
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp"}
    env |= {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
    return env | runtime.student().env | dict(extra)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL everything in the run's session: bwrap first, and with it the namespace."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _kill_uid(uid: int) -> None:
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


def _copy_nofollow(src: Path, dst: Path) -> None:
    """Copy a regular file without following a symlink at its last component."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{src.name}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f, open(dst, "wb") as g:
            shutil.copyfileobj(f, g, 1024 * 1024)
    finally:
        os.close(fd)


def _tail(path: Path, keep: int) -> str:
    """The last `keep` bytes of an output file, as text with control characters removed."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - keep))
        data = f.read(keep)
    text = data.decode("utf-8", "replace")
    return "".join(c for c in text if c in "\n\t" or (c.isprintable()))
