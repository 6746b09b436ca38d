"""The bubblewrap sandbox (Debian `bubblewrap`): namespaces and a root of read-only binds.

- new PID, network, IPC, UTS and mount namespaces (cgroup too where the kernel allows): no
  network, no view of the grader's processes, SysV shared memory of its own;
- a root made of read-only binds of the system folders and the student's runtime only
  (`grader.runtime.student`: the interpreter without dlhw, the homework's packages at one
  folder), with the folders to hide (the test labels) empty; none of the grader's files,
  references, hidden checks or other submissions exists in it;
- the inputs copied into a read-only `/in`; a private, size-limited `/tmp` and `/dev/shm`; a
  cleared environment; no writable folder of the grader's (files come back on the channel);
- an unprivileged uid: run as root, bwrap builds the namespaces and `setpriv` drops to a uid of
  its own (one per grading process, outside the system's range) with no capabilities and
  no_new_privs (a user namespace would map the child to root outside, where RLIMIT_NPROC does
  not bite); run as an ordinary user, bwrap's user namespace does it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from grader import runtime
from grader.supervise import Limits, Outcome, Talk, environment, execute, fill_box, run_uid, setpriv


def run(box: Path, argv: list[str], limits: Limits, inputs: Mapping[str, bytes | Path],
        ro_binds: Sequence[str | Path], env: Mapping[str, str], cwd: str,
        hide: Sequence[str | Path] = (), talk: Talk | None = None) -> Outcome:
    """Run `argv` under bubblewrap in `box` (see the module's docstring); `hide`: folders that
    appear empty inside."""
    indir = fill_box(box, inputs)
    return execute(command(indir, limits, ro_binds, env, cwd, hide) + argv, box, limits,
                   os.geteuid() == 0, talk=talk)


def command(indir: Path, limits: Limits, ro_binds: Sequence[str | Path], env: Mapping[str, str],
            cwd: str, hide: Sequence[str | Path] = ()) -> list[str]:
    """bwrap's command line up to the program: `indir` read-only at /in, the rest as above."""
    root = os.geteuid() == 0
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
    for key, value in environment(limits, env).items():
        cmd += ["--setenv", key, value]
    return cmd + (setpriv(run_uid()) if root else [])


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
    for hidden in (*student.hidden, *map(str, hide)):
        if Path(hidden).is_dir():
            args += ["--tmpfs", hidden]
    if student.site:  # the one folder on the student's path
        for site in (*map(str, reversed(Path(runtime.STUDENT_SITE).parents)),
                     runtime.STUDENT_SITE):
            if site not in made:
                args += ["--perms", "0755", "--dir", site]
    for source, name in student.site:
        args += ["--ro-bind", source, f"{runtime.STUDENT_SITE}/{name}"]
        for hidden in map(str, hide):  # a folder to hide inside a package, where it now is
            if hidden.startswith(source + "/") and Path(hidden).is_dir():
                args += ["--tmpfs", f"{runtime.STUDENT_SITE}/{name}{hidden[len(source):]}"]
    return args
