"""Container mode (`DLHW_ISOLATION=container`, set only by the Gradescope bundle's
run_autograder, never chosen as a fallback).

Inside Gradescope's container, which is itself the isolation of one submission and where
bubblewrap cannot create namespaces, the code runs as a plain child process with the same
limits, cleared environment and capped channel, as a uid of its own (root is required:
Gradescope runs as root) with no capabilities and no_new_privs, in a private temporary folder;
/in is a link at the container's root to this run's folder (one run at a time per machine,
under a lock); the wall clock kills its process group and then every process of its uid.
Nothing is bound or hidden by mounts, so the folders to hide must already be closed to others
(`hide_from_sandbox`, done by the bundle), else the run is refused; there is no network
namespace, and the grader's own environment is closed to other uids by the bundle
(`grader.autograder.lock_down`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from grader.supervise import Limits, Outcome, Talk, environment, execute, fill_box, run_uid, setpriv

# The run's folders sit where its uid can reach them (a grading worker's own temporary folder is
# 0700), and one lock per machine guards the machine-wide /in.
TMP = "/tmp"
_LOCK = Path(TMP) / "dlhw-container.lock"


def run(box: Path, argv: list[str], limits: Limits, inputs: Mapping[str, bytes | Path],
        env: Mapping[str, str], cwd: str, hide: Sequence[str | Path],
        talk: Talk | None = None) -> Outcome:
    """Container mode (see the module's docstring): the same limits, no namespaces."""
    uid = run_uid()
    exposed = [h for h in map(str, hide)
               if os.path.isdir(h) and os.stat(h).st_mode & 0o007]
    if exposed:
        return Outcome("unavailable", reason=f"container isolation: {exposed[0]} is open to the "
                                             "sandbox's uid (hide it first: hide_from_sandbox)")
    indir = fill_box(box, inputs)
    tmp = box / "tmp"
    tmp.mkdir(mode=0o700)
    os.chown(tmp, uid, uid)

    def private(value: str) -> str:  # the sandbox's /tmp is this run's own folder
        return str(tmp) + value[4:] if value == "/tmp" or value.startswith("/tmp/") else value

    environ = {k: private(v) for k, v in environment(limits, env).items()}
    # /in is machine-wide: one run at a time. O_NOFOLLOW: /tmp is shared.
    lock = os.open(_LOCK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _link("/in", indir)
        except OSError as exc:
            return Outcome("unavailable", reason=f"container isolation: {exc}")
        try:
            return execute(setpriv(uid) + argv, box, limits, True,
                           env=environ, cwd=private(cwd), uid=uid, talk=talk)
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
