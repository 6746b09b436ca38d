"""The warm sandbox's server: runs inside one bubblewrap sandbox, imports the modules every run
there would import once, then forks a fresh child for each run (grader/warm.py is the other
side and holds the threat model).

Self-contained (the standard library only: the grader copies it into the sandbox as
/in/_warm.py and starts `python /in/_warm.py CTL MODULE...`, CTL its control socket's fd). For
each job the grader sends on that socket (one JSON packet, with four descriptors: the run's stdin,
stdout, stderr and channel), it forks a child that becomes what `python SCRIPT ARGS...` would
have been, reports the child's pid, then its exit status, then sweeps what the run left (files
in /tmp and /dev/shm, SysV IPC objects, processes) and reports what could not be removed. It
holds nothing of a student's: children get their inputs from the grader, per job, in /in.
"""

import contextlib
import ctypes
import json
import os
import random
import resource
import socket
import stat
import sys

_PR_SET_DUMPABLE = 4
_SCRATCH = ("/tmp", "/dev/shm")


def main(ctl_fd: int, modules: list) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    # Not dumpable: a child (same uid) can neither ptrace this process nor read or write its
    # memory through /proc, so no run can change what the next one starts from.
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0)")
    # No POSIX message queue can outlive a run (they are not files /tmp's sweep would see).
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the run imports it itself and meets the error there
            pass
    # Caches the imports wrote (matplotlib's font list) go before the first run; what cannot
    # go (the sandbox's own binds) is what every later sweep must leave.
    _, baseline = _sweep()
    start = _attributes(libc)
    ctl = socket.socket(fileno=ctl_fd)
    _send(ctl, {"ready": os.getpid()})
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 4)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)  # the grader closed the socket: done
        job = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            _child(job, fds)
        for fd in fds:
            os.close(fd)
        _send(ctl, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        _send(ctl, {"status": 128 - code if code < 0 else code})  # a signal: as bwrap says it
        left, _ = _sweep(baseline)
        if _attributes(libc) != start:  # what a child may set on its parent, same uid
            left = ", ".join(filter(None, (left, "the server's limits or scheduling")))
        _send(ctl, {"left": left})


def _child(job: dict, fds: list) -> None:
    """Become `python SCRIPT ARGS...` on the job's descriptors; never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):  # stdin, stdout, stderr, the channel (3)
            os.dup2(fd, target)
        os.closerange(len(fds), 1 << 16)  # the control socket and the received copies
        os.setsid()  # a session (and scheduler autogroup) of its own, as bwrap gives a cold run
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # as any fresh process (its own /proc)
        cpu = int(job["cpu_s"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        _fresh_state(list(job["argv"]))
        code = _run(sys.argv[0])
    except BaseException:  # noqa: BLE001 - reported as the run's own error, like Python does
        _print_exception()
    finally:
        os._exit(code)


def _fresh_state(argv: list) -> None:
    """What a fresh interpreter would not share with its siblings: the random generators
    seeded from the OS at start (Python's, numpy's, torch's), its argv, its import caches."""
    random.seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()
    here = sys.orig_argv.index(sys.argv[0]) if sys.argv[0] in sys.orig_argv else 0
    sys.orig_argv = [*sys.orig_argv[:here], *argv]
    sys.argv = argv
    import importlib

    importlib.invalidate_caches()  # /in holds this run's files, not the last one's


def _run(script: str) -> int:
    """Run `script` as `python SCRIPT` runs it (a module __main__ with the builtins module,
    tracebacks from its own frames, the same recursion depth), then end as Python's shutdown
    does: non-daemon threads joined, atexit functions, __main__'s globals finalized, flushed.
    The exit status it would have had."""
    import atexit
    import builtins
    import gc
    import importlib.machinery
    import signal
    import threading
    import types

    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=script, __builtins__=builtins, __cached__=None,
                         __loader__=importlib.machinery.SourceFileLoader("__main__", script))
    sys.modules["__main__"] = main
    frame: types.FrameType | None = sys._getframe()
    depth = 1  # and exec()'s own level
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(sys.getrecursionlimit() + depth)  # this server's frames are not its
    code = 0
    try:
        with open(script, "rb") as f:
            source = f.read()
        exec(compile(source, script, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        _print_exception(skip=1)
        code = 128 + signal.SIGINT  # Python dies of SIGINT; bwrap says 130
    except BaseException:  # noqa: BLE001 - printed as the interpreter prints it
        _print_exception(skip=1)
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        main.__dict__.clear()
        gc.collect()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _print_exception(skip: int = 0) -> None:
    """The traceback as Python prints it, without this server's own `skip` frames."""
    try:
        kind, exc, tb = sys.exc_info()
        for _ in range(skip):
            tb = tb.tb_next if tb is not None else None
        sys.excepthook(kind, exc, tb)  # type: ignore[arg-type]
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass


def _attributes(libc) -> tuple:
    """What a process of the same uid may change on this one and every later child inherits:
    its rlimits (prlimit), nice value, scheduling attributes, CPU affinity, I/O priority."""
    limits = tuple(resource.getrlimit(getattr(resource, name)) for name in sorted(dir(resource))
                   if name.startswith("RLIMIT_"))
    x86 = os.uname().machine == "x86_64"
    ioprio = libc.syscall(252 if x86 else 31, 1, 0)  # ioprio_get
    # sched_getattr: policy, flags, nice, priority, runtime (a custom time slice, settable by
    # the same uid), deadline, period, utilisation clamps
    attr = ctypes.create_string_buffer(128)
    libc.syscall(315 if x86 else 275, 0, attr, 128, 0)
    return (limits, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0),
            os.sched_getparam(0).sched_priority, tuple(sorted(os.sched_getaffinity(0))), ioprio,
            attr.raw)


def _sweep(baseline: dict | None = None) -> tuple:
    """Remove what a run left in the scratch folders; (what remains anywhere, or "", and what
    the folders hold now). `baseline`: what they held when the server started (the sandbox's
    read-only binds of an interpreter under /tmp, which nothing can remove); anything beyond
    it remains from the run."""
    left: list = []
    now: dict = {}
    for top in _SCRATCH:
        try:
            dev = os.lstat(top).st_dev
            _clear(top, dev)
            now[top] = _listing(top, dev)
        except OSError:
            now[top] = None
        if baseline is not None and now[top] != baseline.get(top):
            left.append(top)
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                if len(f.read().splitlines()) > 1:
                    left.append(f"SysV {kind}")
        except OSError:
            pass
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
    if others:
        left.append("processes")
    return ", ".join(left), now


def _clear(top: str, dev: int) -> None:
    """Delete everything under `top` on its own file system, without recursion (any depth) or
    following links; mount points (another device) and the folders leading to them stay."""
    stack = [(top, False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            if path != top:
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if st.st_dev != dev:
            continue  # a bind mount of the sandbox's own: read-only, not the run's
        if not stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):
                os.unlink(path)
            continue
        if path != top:
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700)  # a folder the run closed to itself
        try:
            names = os.listdir(path)
        except OSError:
            continue
        if len(stack) + len(names) > 2_000_000:
            return  # the listing then differs: the sandbox goes
        stack.append((path, True))
        stack.extend((os.path.join(path, n), False) for n in names)


def _listing(top: str, dev: int) -> frozenset:
    """Every path under `top`, mount points listed but not entered."""
    found, stack = set(), [top]
    while stack:
        path = stack.pop()
        for name in os.listdir(path):
            full = os.path.join(path, name)
            found.add(full)
            st = os.lstat(full)
            if st.st_dev == dev and stat.S_ISDIR(st.st_mode):
                stack.append(full)
    return frozenset(found)


def _send(ctl: socket.socket, msg: dict) -> None:
    ctl.send(json.dumps(msg).encode())  # one packet (SOCK_SEQPACKET) per message


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
