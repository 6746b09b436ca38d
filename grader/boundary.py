"""The kernel's count of everything one sandboxed run causes: a control group per run.

Per-process rlimits miss what a run causes outside one process's address space: shared memory
(SysV segments, memfds, tmpfs pages), the sum over many processes, the CPU of processes that
left the process group. A control group counts all of them, for every process the run starts:

- memory: `memory.max` (v2) or `memory.limit_in_bytes` (v1), anonymous and shared memory and
  tmpfs pages alike: past it the kernel's OOM killer stops the run;
- processes: `pids.max`;
- CPU: the group's usage (`cpu.stat` usage_usec, v2, or `cpuacct.usage`, v1) is the run's CPU
  time, whichever process spent it; groups are siblings of equal weight, so concurrent runs
  share the cores fairly and one run's spinning processes cannot starve its neighbour.

Groups are made where the machine lets this process make them: cgroup v2 with the controllers
delegated, or the v1 hierarchies (as root). Where neither can be made (an ordinary user without
delegation, Gradescope's container, which is itself one submission's boundary), `make` returns
None and the sandbox falls back to rlimits, sized tmpfs mounts and its own IPC namespace; every
Outcome says which boundaries were in force.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Group:
    """One run's control group: the folder of each controller (v1) or one folder (v2)."""

    dirs: dict[str, Path]  # memory, pids, cpu (and cpuacct on v1) → folder
    version: int

    def join(self) -> None:
        """Put the calling process (the run's first, before it execs) into the group."""
        for d in {str(p) for p in self.dirs.values()}:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def cpu_seconds(self) -> float:
        try:
            if self.version == 2:
                for line in (self.dirs["cpu"] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
                return 0.0
            return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return 0.0

    def out_of_memory(self) -> bool:
        """Whether the kernel refused the run memory (its limit was reached)."""
        try:
            if self.version == 2:
                events = (self.dirs["memory"] / "memory.events").read_text()
                return any(ln.split()[0] in ("oom", "oom_kill") and int(ln.split()[1]) > 0
                           for ln in events.splitlines())
            control = (self.dirs["memory"] / "memory.oom_control").read_text().split()
            return "oom_kill" in control and int(control[control.index("oom_kill") + 1]) > 0
        except (OSError, ValueError, IndexError):
            return False

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return found

    def threads(self) -> list[str]:
        """/proc/PID/task/TID of every live thread of the group's processes."""
        found: list[str] = []
        for pid in self.pids():
            with contextlib.suppress(OSError):
                found += [task.path for task in os.scandir(f"/proc/{pid}/task")]
        return found

    def waited_seconds(self) -> float:
        """Time the group's live threads spent runnable but waiting for a CPU (schedstat)."""
        total = 0
        for task in self.threads():
            with contextlib.suppress(OSError, ValueError, IndexError), \
                    open(f"{task}/schedstat") as f:
                total += int(f.read().split()[1])
        return total / 1e9

    def deprioritized(self) -> bool:
        """Whether a thread of the group runs at a lower priority than the grader (a higher
        nice value, SCHED_BATCH or SCHED_IDLE): its wait for a CPU is then its own doing."""
        own = os.getpriority(os.PRIO_PROCESS, 0)
        for task in self.threads():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat_fields(f"{task}/stat")
                if int(fields[16]) > own or int(fields[38]) in (3, 5):  # nice, policy
                    return True
        return False

    def kill(self) -> None:
        """SIGKILL every process of the group, until none is left (forks race the kill)."""
        for _ in range(50):
            left = self.pids()
            if not left:
                return
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        for d in {str(p) for p in self.dirs.values()}:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    time.sleep(0.02)

    def describe(self, memory_mb: int, processes: int) -> tuple[str, ...]:
        return (f"memory: cgroup v{self.version}, {memory_mb} MB for everything the run holds "
                "(shared memory, memfds and tmpfs included)",
                f"processes: cgroup v{self.version}, {processes} at most",
                f"cpu: cgroup v{self.version}, the run's CPU time counted over all its "
                "processes, an equal share of the cores")


def stat_fields(path: str) -> list[bytes]:
    """The fields of a /proc .../stat file after the command's name (which may hold spaces
    and parentheses): [0] the state, [16] nice, [38] the scheduling policy."""
    with open(path, "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def make(memory_mb: int, processes: int) -> Group | None:
    """A fresh group with these limits, or None where this process cannot make one."""
    name = f"dlhw-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for build in (_v2, _v1):
        try:
            group = build(name)
        except OSError:
            continue
        if group is None:
            continue
        try:
            _limit(group, memory_mb, processes)
            return group
        except OSError:
            group.remove()
    return None


def _own(controller: str) -> str:
    """This process's cgroup path in `controller`'s v1 hierarchy ("" for v2's line)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    raise OSError(f"no {controller} cgroup")


def _v2(name: str) -> Group | None:
    root = CGROUP if (CGROUP / "cgroup.controllers").is_file() else None
    if root is None:
        return None
    own = next(ln.split(":", 2)[2] for ln in Path("/proc/self/cgroup").read_text().splitlines()
               if ln.startswith("0::"))
    parent = root / own.lstrip("/")
    wanted = {"memory", "pids", "cpu"}
    if not wanted <= set((parent / "cgroup.subtree_control").read_text().split()):
        return None  # not delegated to this process's group
    d = parent / name
    d.mkdir()
    return Group({c: d for c in wanted}, 2)


def _v1(name: str) -> Group | None:
    dirs = {}
    try:
        for controller in ("memory", "pids", "cpu", "cpuacct"):
            base = CGROUP / controller
            if not (base / "cgroup.procs").is_file():
                return None
            d = base / _own(controller).lstrip("/") / name
            d.mkdir()
            dirs[controller] = d
    except OSError:
        Group(dirs, 1).remove()
        raise
    return Group(dirs, 1)


def _limit(group: Group, memory_mb: int, processes: int) -> None:
    mem = str(memory_mb * 1024 * 1024)
    if group.version == 2:
        (group.dirs["memory"] / "memory.max").write_text(mem)
        with contextlib.suppress(OSError):
            (group.dirs["memory"] / "memory.swap.max").write_text("0")
        (group.dirs["pids"] / "pids.max").write_text(str(processes))
        return
    (group.dirs["memory"] / "memory.limit_in_bytes").write_text(mem)
    with contextlib.suppress(OSError):  # no swap accounting on this kernel
        (group.dirs["memory"] / "memory.memsw.limit_in_bytes").write_text(mem)
    (group.dirs["pids"] / "pids.max").write_text(str(processes))
