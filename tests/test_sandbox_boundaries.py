"""Every resource a submission causes counts against its own boundary (issue 22), attacked as a
student's code would: shared memory that per-process rlimits never see, processes that leave the
process group to spin, files and entries meant for the grader's disk."""

from __future__ import annotations

import threading
import time

import pytest

from grader import boundary, sandbox
from tests.conftest import require

SEND = "import sys\nsys.path.insert(0, '/in')\nfrom _channel import send\n"


@pytest.fixture(scope="module", autouse=True)
def _needs_boundaries():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))
    group = boundary.make(64, 8)
    require(group is not None, "no control group can be made here (not root, no delegation)")
    group.remove()


def py(code: str, **limits: object) -> sandbox.Outcome:
    lim = sandbox.Limits(**{"wall_s": 60, "cpu_s": 60, "memory_mb": 1024, **limits})
    return sandbox.run(sandbox.python_argv("/in/x.py"), inputs={"x.py": code.encode()},
                       limits=lim)


def _shmem_kb() -> int:
    for line in open("/proc/meminfo"):
        if line.startswith("Shmem:"):
            return int(line.split()[1])
    return 0


@pytest.mark.parametrize("attack", [
    # 33 SysV segments of 100 MB, each touched: 3.3 GB nobody's address space holds.
    "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.shmat.restype = ctypes.c_void_p\n"
    "for k in range(33):\n"
    "    sid = libc.shmget(0, 100 << 20, 0o1600)\n"
    "    addr = libc.shmat(sid, None, 0)\n"
    "    ctypes.memset(addr, 1, 100 << 20)\n"
    "    libc.shmdt(ctypes.c_void_p(addr))\n"
    "print('held', flush=True)\nimport time\ntime.sleep(30)\n",
    # 200 memfds of 16 MB, written and kept open, never mapped.
    "import os\nfds = []\nfor k in range(200):\n"
    "    fd = os.memfd_create(f'm{k}')\n"
    "    for _ in range(16):\n        os.write(fd, b'x' * (1 << 20))\n"
    "    fds.append(fd)\n"
    "print('held', flush=True)\nimport time\ntime.sleep(30)\n",
])
def test_shared_memory_counts_against_the_runs_memory(attack):
    before = _shmem_kb()
    out = py(attack, memory_mb=1024, file_mb=64)
    assert out.status == "killed" and "memory limit" in out.reason, (out.status, out.reason)
    assert "held" not in out.stdout
    assert any(b.startswith("memory: cgroup") for b in out.boundaries)
    deadline = time.monotonic() + 20  # the namespace's segments go with it, a moment later
    while _shmem_kb() - before >= 200 * 1024 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _shmem_kb() - before < 200 * 1024  # nothing of it outlives the run


def test_files_for_the_graders_disk_land_nowhere():
    out = py(SEND + "import os\nn = 0\n"
             "for k in range(100_000):\n"
             "    try:\n        open(f'/tmp/e{k}', 'w').close(); n += 1\n"
             "    except OSError:\n        break\n"
             "send('n', str(n))\n"
             "for k in range(10):\n    send(f'big{k}', b'x' * (16 << 20))\n", file_mb=16)
    assert int(out.files["n"]) > 0  # its own /tmp, in its own memory, gone with the run
    assert sum(map(len, out.files.values())) <= 16 << 20 and "big1" not in out.files


def test_cpu_time_counts_every_process_of_the_run():
    out = py("import os, time\n"
             "for _ in range(4):\n"
             "    if os.fork() == 0:\n        os.setsid()\n        while True:\n            pass\n"
             "while True:\n    pass\n", cpu_s=4, wall_s=60)
    assert out.status == "killed" and "CPU-time limit" in out.reason, (out.status, out.reason)
    assert out.cpu_seconds < 10  # four escaped spinners did not get 4 s each


def test_a_spinning_neighbour_cannot_starve_an_honest_run():
    """Two runs at once, as a batch with --jobs 2 runs them: ten spinners, each in a session
    of its own, beside a run that needs about 2 s of CPU; equal shares keep it on time."""
    spinners = ("import os, time\n"
                "for _ in range(10):\n"
                "    if os.fork() == 0:\n"
                "        os.setsid()\n        while True:\n            pass\n"
                "time.sleep(40)\n")
    honest = ("import time\nt = time.process_time()\n"
              "while time.process_time() - t < 2:\n    pass\nprint('done')\n")
    results: dict[str, sandbox.Outcome] = {}
    noisy = threading.Thread(target=lambda: results.setdefault(
        "noisy", py(spinners, wall_s=30, cpu_s=600, processes=32)))
    noisy.start()
    time.sleep(2)  # the spinners are up
    results["honest"] = py(honest, wall_s=12, cpu_s=10)
    noisy.join()
    assert results["honest"].ok and "done" in results["honest"].stdout, results["honest"]


@pytest.mark.parametrize("lower", ["os.nice(10)", "os.sched_setscheduler(0, os.SCHED_IDLE, "
                                   "os.sched_param(0))", "pass"])
def test_a_run_that_lowers_its_own_priority_is_never_starved(lower):
    """`starved` (the grader's side: graded again, with a new seed) must not be a verdict a run
    can choose by making itself wait: a run below the grader's priority waited by its own doing."""
    import subprocess

    group = boundary.make(256, 8)
    require(group is not None, "no control group here")
    assert group is not None
    try:
        code = f"import os, time\n{lower}\ntime.sleep(30)\n"
        proc = subprocess.Popen(["python3", "-c", code], preexec_fn=group.join)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not group.deprioritized():
            time.sleep(0.05)
        assert group.deprioritized() is (lower != "pass")
        proc.kill()
        proc.wait()
    finally:
        group.kill()
        group.remove()
