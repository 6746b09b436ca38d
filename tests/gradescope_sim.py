"""A stand-in for Gradescope's autograder container, for tests: bubblewrap gives a process a
root of its own (the system folders read-only, a private /tmp and a writable /, where container
mode makes its /in and /out links) in which it is root with a container's capabilities, so
container isolation (grader/sandbox.py) and the bundle's scripts run as they would on Gradescope
without touching this machine's / or its permissions."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import runtime

REPO = Path(__file__).resolve().parent.parent


def available() -> str | None:
    """None where the stand-in can run here (root and bubblewrap), else why not."""
    if os.geteuid() != 0:
        return "the container stand-in needs root (as Gradescope's container has)"
    if shutil.which("bwrap") is None:
        return "the container stand-in needs bubblewrap"
    return None


def site_folders() -> list[str]:
    """The folders this interpreter imports packages from: a venv built for the bundle uses
    them (setup.sh's DLHW_SITE_PACKAGES), so its offline pip finds every dependency installed,
    whatever environment the suite runs in."""
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))
            and os.path.isdir(p)]


def container(argv: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """bwrap command line running `argv` as root in the stand-in. `extra`: more bwrap options
    (binds of the test's folders, a tmpfs hiding a folder), applied last."""
    cmd = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
           "--cap-add", "ALL", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
           "--ro-bind", "/var", "/var"]  # /var/lib/texmf: TeX Live's formats
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    made = {"/", "/usr", "/etc", "/var", "/tmp", "/proc", "/dev"}
    for folder in runtime.cover([*runtime.current().folders, *site_folders(), str(REPO)]):
        if folder.startswith("/usr/") or folder in made:
            continue
        for parent in reversed(Path(folder).parents):  # /root is 0700 here, 0755 there
            if str(parent) not in made:
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        cmd += ["--ro-bind", folder, folder]
        made.add(folder)
    return [*cmd, *extra, *argv]
