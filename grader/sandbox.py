"""Run what a student controls (notebook code, an exported model, a LaTeX report) in a sandbox.

Everything of a student's that executes goes through `run`, and nothing else does. Two
isolations share one supervised process (`grader.supervise`: a control group or rlimits, CPU
and wall clocks, the capped channel of `grader.channel`, an unprivileged uid of its own):

- bubblewrap (`grader.bwrap`), everywhere dlhw grades by default: namespaces and a root of
  read-only binds holding only the student's runtime (`grader.runtime.student`: no dlhw);
- container mode (`grader.container`, `DLHW_ISOLATION=container`, set only by the Gradescope
  bundle's run_autograder, never chosen as a fallback): a plain child process as its own uid in
  a container that is itself one submission's boundary.

Where the chosen isolation cannot run, `run` executes nothing and says so: the caller reports the
item as "not run: no sandbox", never falling back to running the student's code unconfined.
The threat model each boundary answers is in the README's Security section.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from grader import bwrap, container, runtime
from grader import warm as _warm
from grader.container import hide_from_sandbox
from grader.supervise import DISK_BOUNDARY, RLIMIT_BOUNDARIES, Limits, Outcome, Talk, run_uid

__all__ = ["DISK_BOUNDARY", "HIDDEN", "ISOLATION_ENV", "RLIMIT_BOUNDARIES", "Limits", "Outcome",
           "Talk", "hide_from_sandbox", "isolation", "python_argv", "run", "run_uid",
           "unavailable_reason"]

# Never visible inside, even though they sit under a bound folder: the FashionMNIST labels.
HIDDEN = ("/usr/share/datasets",)
ISOLATION_ENV = "DLHW_ISOLATION"  # unset or "bubblewrap"; "container" only in the bundle


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
        if not os.environ.get(runtime.STUDENT_ENV):  # nothing can be hidden by a mount here
            return (f"no sandbox: container isolation needs ${runtime.STUDENT_ENV}, an "
                    "interpreter whose environment holds no dlhw (the bundle's setup.sh makes one)")
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
        warm: Sequence[str] | None = None, _probing: bool = False) -> Outcome:
    """Run `argv` in the sandbox. `inputs` (name → bytes, or a path on this side, copied) appear
    read-only under /in; the frames it sends on the channel (grader.channel) come back in
    `Outcome.files`. `hide`: more folders (inside the bound ones) that appear empty, like
    HIDDEN. `talk`: called with a Session as soon as the program starts, to converse with it
    (requests on its stdin, replies as frames); the run ends when the program does. In
    container mode the container's whole file system is in view (`ro_binds` are moot) and
    `hide` folders must already be closed to other uids (`hide_from_sandbox`). `warm`: the
    modules every run of this kind imports; `argv` (the student's interpreter on a script in
    /in) then runs in a child of a warm sandbox that imported them once (`grader.warm`) where
    one can be had, else cold as any other run."""
    if not _probing and (why := _probe()) is not None:
        return Outcome("unavailable", reason=why)
    contained = isolation() == "container"
    hidden = (*HIDDEN, *hide)
    if warm is not None and not contained and _warm.enabled():
        out = _warm.run(list(argv), python_argv("")[:-1], warm, limits, inputs or {}, ro_binds,
                        env or {}, cwd, hidden, talk)
        if out is not None:
            return out
    box = Path(tempfile.mkdtemp(prefix="dlhw-box-", dir=container.TMP if contained else None))
    try:
        if contained:
            return container.run(box, list(argv), limits, inputs or {}, env or {}, cwd, hidden,
                                 talk)
        return bwrap.run(box, list(argv), limits, inputs or {}, ro_binds, env or {}, cwd, hidden,
                         talk)
    finally:
        shutil.rmtree(box, ignore_errors=True)
