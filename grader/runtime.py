"""The Python runtime a sandbox runs: the interpreter and every folder it needs, named explicitly.

A sandbox's root holds only what is bound into it, so the interpreter must arrive with all it
reads: its prefixes (the standard library, a venv's pyvenv.cfg and bin/), the folders on the
path it starts with (site-packages, folders a .pth file adds) and each hop of the symlinks that
lead to the executable. These are found by asking the interpreter itself (`python -I`, as the
sandbox starts it), wherever it lives: /usr, a pyenv under /root, a venv in the checkout or
under /tmp. `grader.sandbox` binds the folders read-only at their own paths.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    """`python`: the interpreter to execute; `folders`: what the sandbox binds for it (absolute
    paths, none inside another, none under /usr, which the sandbox binds whole)."""

    python: str
    folders: tuple[str, ...]


@functools.cache
def current() -> Runtime:
    """This process's interpreter as a sandbox needs it."""
    exe = os.path.abspath(sys.executable)
    wanted = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              *_startup_path(exe), *_link_folders(exe)}
    return Runtime(exe, cover(p for w in wanted for p in {os.path.abspath(w),
                                                         os.path.realpath(w)}))


def _startup_path(exe: str) -> list[str]:
    """sys.path of `exe -I` started from /: the folders it imports from, and nothing of the
    working folder or $PYTHONPATH."""
    done = subprocess.run([exe, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                          capture_output=True, text=True, cwd="/", timeout=60,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    if done.returncode != 0:
        return []
    return [p for p in json.loads(done.stdout) if p and os.path.exists(p)]


def _link_folders(exe: str) -> list[str]:
    """The folder of each hop from `exe` to the real interpreter (venv/bin/python3 → ...)."""
    folders, path = [], exe
    for _ in range(40):
        folders.append(os.path.dirname(path))
        if not os.path.islink(path):
            break
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    return folders


def cover(paths: Iterable[str]) -> tuple[str, ...]:
    """The fewest folders whose binds hold every existing path: outer folders only, no /usr."""
    folders = {os.path.dirname(p) if os.path.isfile(p) else p
               for p in map(os.path.normpath, paths) if os.path.exists(p)}
    out: list[str] = []
    for p in sorted(folders):  # a folder sorts before everything inside it
        if p in ("/", "/usr") or p.startswith("/usr/"):
            continue
        if not any(p.startswith(o + "/") for o in out):
            out.append(p)
    return tuple(out)
