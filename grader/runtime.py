"""The Python runtime a sandbox runs: the interpreter and every folder it needs, named explicitly.

A sandbox's root holds only what is bound into it, so the interpreter must arrive with all it
reads: its prefixes (the standard library, a venv's pyvenv.cfg and bin/), the folders on the
path it starts with (site-packages, folders a .pth file adds) and each hop of the symlinks that
lead to the executable. These are found by asking the interpreter itself (`python -I`, as the
sandbox starts it), wherever it lives: /usr, a pyenv under /root, a venv in the checkout or
under /tmp. `grader.sandbox` binds the folders read-only at their own paths.

Student code never runs on the grader's own environment, which holds dlhw (its reference
solutions, hidden checks and references): `student()` is a runtime of the same interpreter in
which every site-packages folder is hidden and only the distributions the homework needs
(STUDENT_PACKAGES, with everything they require) are bound, at STUDENT_SITE, the one folder
on the student's path. Where $DLHW_STUDENT_PYTHON names an interpreter whose environment holds no
dlhw (Gradescope's container: the bundle makes one), that interpreter is the student's as it is.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

STUDENT_PACKAGES = ("numpy", "torch", "torchvision", "scikit-learn", "scipy", "matplotlib",
                    "pillow")  # what the homework's code uses; their requirements come along
STUDENT_SITE = "/opt/student-site"
STUDENT_ENV = "DLHW_STUDENT_PYTHON"


@dataclass(frozen=True)
class Runtime:
    """`python`: the interpreter to execute, with `flags`; `folders`: what the sandbox binds for
    it (absolute paths, none inside another, none under /usr, which the sandbox binds whole);
    `hidden`: folders inside those that appear empty (the environment's site-packages);
    `site`: (source, name) entries bound under STUDENT_SITE, which is the only path entry."""

    python: str
    folders: tuple[str, ...]
    hidden: tuple[str, ...] = ()
    site: tuple[tuple[str, str], ...] = ()
    flags: tuple[str, ...] = ("-I", "-B")
    prefix: str = ""  # its sys.prefix (a venv's), as it must report it inside the sandbox

    def argv(self, script: str, *args: str) -> list[str]:
        return [self.python, *self.flags, script, *args]

    @property
    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": STUDENT_SITE} if self.site else {}


@functools.cache
def current() -> Runtime:
    """This process's interpreter as a sandbox needs it."""
    exe = os.path.abspath(sys.executable)
    wanted = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              *_startup_path(exe), *_link_folders(exe)}
    return Runtime(exe, cover(p for w in wanted for p in {os.path.abspath(w),
                                                         os.path.realpath(w)}))


@functools.cache
def student() -> Runtime:
    """The runtime student code runs on: see the module's docstring."""
    own = os.environ.get(STUDENT_ENV)
    if own:
        return _of(os.path.abspath(own))
    exe = current().python
    path = _startup_path(exe)
    # The interpreter and its standard library, never a folder a .pth file added (a checkout).
    folders = cover(p for w in {sys.prefix, sys.base_prefix, sys.exec_prefix,
                                sys.base_exec_prefix, *_link_folders(exe)}
                    for p in {os.path.abspath(w), os.path.realpath(w)})
    sites = [p for p in path if _is_site(p) and any(p.startswith(f + "/") for f in folders)]
    flags = ("-S", "-s", "-B")
    return Runtime(exe, folders, cover(sites), tuple(sorted(_student_site())), flags,
                   _prefix(exe, flags))


def _of(exe: str) -> Runtime:
    """Another interpreter's runtime, found by asking it (its own environment, as it is)."""
    said = _ask(exe, ("-I",), "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, "
                "sys.exec_prefix, sys.base_exec_prefix]))")
    prefixes = json.loads(said) if said is not None else []
    wanted = {*prefixes, *_startup_path(exe), *_link_folders(exe)}
    return Runtime(exe, cover(p for w in wanted for p in {os.path.abspath(w),
                                                         os.path.realpath(w)}),
                   prefix=prefixes[0] if prefixes else "")


def _prefix(exe: str, flags: tuple[str, ...]) -> str:
    """sys.prefix as `exe` reports it started with `flags` (under -S a venv's python reports its
    base: site.py is what makes sys.prefix the venv)."""
    said = _ask(exe, flags, "import sys; print(sys.prefix)")
    return said.strip() if said is not None else ""


def _ask(exe: str, flags: tuple[str, ...], code: str) -> str | None:
    """What `exe` started with `flags` from / prints running `code`, or None if it fails."""
    done = subprocess.run([exe, *flags, "-c", code], capture_output=True, text=True, cwd="/",
                          timeout=60, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    return done.stdout if done.returncode == 0 else None


def _is_site(path: str) -> bool:
    return os.path.basename(path) in ("site-packages", "dist-packages")


def _student_site() -> set[tuple[str, str]]:
    """(source, name) of every top-level entry of the allowed distributions and of what they
    require on this machine (markers evaluated, extras a requirement asks for followed), from
    their installed file lists."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    seen: set[tuple[str, str]] = set()
    entries: set[tuple[str, str]] = set()
    todo = [(name, "") for name in STUDENT_PACKAGES]
    while todo:
        name, extra = todo.pop()
        key = (re.sub(r"[-_.]+", "-", name).lower(), extra)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        base = str(dist.locate_file(""))
        for f in dist.files or ():
            top = f.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith(".pth"):
                entries.add((os.path.join(base, top), top))
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(req.name, e) for e in ("", *req.extras)]
    return entries


def _startup_path(exe: str) -> list[str]:
    """sys.path of `exe -I` started from /: the folders it imports from, and nothing of the
    working folder or $PYTHONPATH."""
    said = _ask(exe, ("-I",), "import json, sys; print(json.dumps(sys.path))")
    if said is None:
        return []
    return [p for p in json.loads(said) if p and os.path.exists(p)]


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
