"""The sandbox, attacked as a student's code would attack it: each test runs the real attack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import sandbox
from tests.conftest import require

LIMITS = sandbox.Limits(wall_s=30, cpu_s=30)


@pytest.fixture(scope="module", autouse=True)
def _needs_bwrap():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))


SEND = "import sys\nsys.path.insert(0, '/in')\nfrom _channel import send\n"


def py(code: str, limits: sandbox.Limits = LIMITS, **kw) -> sandbox.Outcome:
    return sandbox.run(sandbox.python_argv("/in/x.py"), inputs={"x.py": code.encode()},
                       limits=limits, **kw)


def test_runs_python_with_numpy_and_returns_files_through_the_channel():
    out = py(SEND + "import numpy, os\n"
             "send('r.txt', str(numpy.arange(3).sum()) + ' ' + str(os.getuid()))")
    assert out.ok, out.reason
    value, uid = out.files["r.txt"].decode().split()
    assert value == "3"
    assert int(uid) != 0  # an unprivileged uid, whoever runs the grader


def test_inputs_are_read_only_copies(tmp_path):
    secret = tmp_path / "answers.yaml"
    secret.write_text("q1: {}\n")
    out = sandbox.run(sandbox.python_argv("/in/x.py"), limits=LIMITS, inputs={
        "x.py": b"import os\nprint(open('/in/a').read())\n"
                b"try:\n    open('/in/a', 'w')\nexcept OSError as e:\n    print('ro', e.errno)\n",
        "a": secret})
    assert out.ok, out.reason
    assert "q1: {}" in out.stdout and "ro " in out.stdout


def test_sees_none_of_the_grader_files_nor_the_test_labels():
    here = Path(__file__).resolve().parent.parent
    code = ("import os, json\n"
            f"paths = [{str(here)!r}, {str(here / 'problems')!r}, '/etc/passwd', '/etc/shadow',\n"
            "         '/usr/share/datasets/fashion-mnist', '/root/.ssh', '/work', '/home']\n"
            "seen = [p for p in paths if os.path.exists(p)]\n"
            "print(json.dumps({'seen': seen, 'datasets': os.listdir('/usr/share/datasets')\n"
            "                  if os.path.isdir('/usr/share/datasets') else []}))\n")
    out = py(code)
    assert out.ok, out.reason
    assert '"seen": []' in out.stdout and '"datasets": []' in out.stdout


def test_student_runtime_holds_no_dlhw():
    """The reference solutions, hidden checks and references are dlhw's: none of its packages,
    its distribution or its data is importable or on disk in the student's runtime (issue 22's
    'from nets.<module> import' attack), wherever dlhw is installed from."""
    import grader

    root = str(Path(grader.__file__).resolve().parents[1])
    out = py("import importlib, importlib.metadata as md, json, os, sys\n"
             "names = ['nets', 'solver', 'grader', 'core', 'problems', 'templates', 'handout',\n"
             "         'cli', 'nets.activations', 'problems.partb_checks']\n"
             "got = []\n"
             "for n in names:\n"
             "    try:\n        importlib.import_module(n); got.append(n)\n"
             "    except ImportError:\n        pass\n"
             "try:\n    md.distribution('dlhw'); got.append('dist')\n"
             "except md.PackageNotFoundError:\n    pass\n"
             "found = [os.path.join(d, f) for p in sys.path if os.path.isdir(p)\n"
             "         for d, _, fs in os.walk(p) for f in fs\n"
             "         if f in ('partb_checks.yaml', 'rubric.yaml', 'activations.py')\n"
             "         and 'nets' in d]\n"
             f"root = os.path.exists({root!r})\n"
             "print(json.dumps({'got': got, 'found': found, 'root': root}))\n")
    assert out.ok, out.reason + out.stderr
    assert json.loads(out.stdout) == {"got": [], "found": [], "root": False}


def test_no_network():
    out = py("import socket\n"
             "for host in ('1.1.1.1', '8.8.8.8'):\n"
             "    try:\n"
             "        socket.create_connection((host, 53), timeout=3)\n"
             "        print('connected')\n"
             "    except OSError as e:\n"
             "        print('refused', e.errno)\n"
             "print(sorted(i[1] for i in socket.if_nameindex()))\n")
    assert out.ok, out.reason
    assert "connected" not in out.stdout
    assert "['lo']" in out.stdout  # a fresh network namespace: loopback only


def test_cannot_see_or_signal_the_graders_processes():
    out = py("import os, json\n"
             "print(json.dumps(sorted(int(p) for p in os.listdir('/proc') if p.isdigit())))\n"
             f"try:\n    os.kill({os.getpid()}, 9)\n"
             "except OSError as e:\n    print('kill', e.errno)\n")
    assert out.ok, out.reason
    pids = json.loads(out.stdout.splitlines()[0])
    assert max(pids) < 10  # a new PID namespace holds only the sandbox's own processes
    assert "kill" in out.stdout


def test_fork_bomb_is_stopped():
    out = py("import os\nwhile True:\n    os.fork()\n",
             sandbox.Limits(wall_s=15, cpu_s=10, processes=32))
    assert not out.ok
    assert out.status in ("failed", "timeout", "killed")


def test_memory_hog_is_stopped():
    out = py("x = bytearray(50 * 1024**3)\n", sandbox.Limits(wall_s=20, memory_mb=4096))
    assert out.status == "failed" and "MemoryError" in out.reason


def test_output_flood_is_cut():
    out = py("import sys\nwhile True:\n    sys.stdout.write('x' * 1_000_000)\n",
             sandbox.Limits(wall_s=30, file_mb=4))
    assert not out.ok
    assert len(out.stdout) <= LIMITS.keep_output


def test_infinite_loop_and_escaped_daemon_are_killed():
    marker = f"dlhw-sandbox-{os.getpid()}"
    out = py("import os, time\n"
             "if os.fork() == 0:\n"
             "    os.setsid()\n"
             f"    os.execv('/bin/sleep', ['/bin/sleep', '1000', '{marker}'])\n"
             "while True:\n    pass\n", sandbox.Limits(wall_s=3, cpu_s=30))
    assert out.status in ("timeout", "starved") and "3 s" in out.reason  # starved: a busy box
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert left == ""


def test_cpu_limit_names_itself():
    out = py("while True:\n    pass\n", sandbox.Limits(wall_s=30, cpu_s=2))
    assert out.status == "killed" and "CPU" in out.reason


def test_no_writable_folder_of_the_graders_and_the_channel_is_capped():
    """A run has no /out to fill (files or entries on the grader's disk): what comes back is
    frames on a pipe, read under a cap, each name once; a bad frame ends the reading."""
    out = py(SEND + "import os\nsend('ok', '1')\n"
             "try:\n    open('/out/x', 'w')\nexcept OSError as e:\n    print('no out', e.errno)\n"
             "os.write(3, b'../../etc/passwd\\n00000000000000000004\\nroot')\n"
             "send('late', '2')\n")
    assert out.ok, out.reason
    assert "no out" in out.stdout and out.files == {"ok": b"1"}
    big = py(SEND + "for k in range(10):\n    send(f'f{k}', b'x' * (3 << 20))\n",
             sandbox.Limits(wall_s=30, cpu_s=30, file_mb=8))
    assert sum(map(len, big.files.values())) <= 8 << 20  # the channel's cap, not 10 x 3 MB
    dup = py(SEND + "send('a', '1')\nsend('a', '2')\nsend('b', '3')\n")
    assert dup.files == {"a": b"1"}  # a name sent twice is not taken, nor what follows


def test_environment_is_cleared(monkeypatch):
    monkeypatch.setenv("DLHW_SECRET_TOKEN", "hunter2")
    out = py("import os\nprint(sorted(os.environ))\nprint(os.environ.get('DLHW_SECRET_TOKEN'))\n")
    assert out.ok, out.reason
    assert "hunter2" not in out.stdout


def test_control_characters_never_come_back():
    out = py("print('\\x1b[2J\\x1b]0;owned\\x07text')\n")
    assert out.ok
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout and "text" in out.stdout


def test_input_name_must_be_plain():
    with pytest.raises(ValueError):
        sandbox.run(["/bin/true"], limits=LIMITS, inputs={"../x": b""})


def test_input_symlink_is_refused(tmp_path):
    (tmp_path / "link").symlink_to("/etc/hostname")
    with pytest.raises(OSError):
        sandbox.run(["/bin/true"], limits=LIMITS, inputs={"a": tmp_path / "link"})


def test_a_fork_bomb_does_not_starve_a_neighbours_sandbox():
    """Two grading processes at once: one student's fork bomb, another's code that forks."""
    import multiprocessing

    bomb = multiprocessing.get_context("fork").Process(target=py, args=(
        "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
        "        time.sleep(0.01)\n", sandbox.Limits(wall_s=20, cpu_s=20, processes=32)))
    bomb.start()
    try:
        time.sleep(3)  # the bomb is at its process limit now
        out = py("import os\nfor _ in range(8):\n    if os.fork() == 0:\n        os._exit(0)\n"
                 "    os.wait()\nprint('forked 8')\n",
                 sandbox.Limits(wall_s=30, cpu_s=30, processes=32))
    finally:
        bomb.kill()
        bomb.join()
    assert out.ok and "forked 8" in out.stdout, out.reason


# ---------------------------------------------------------------- container mode (Gradescope)
# Each test runs the grader's side in the container stand-in (tests/gradescope_sim.py), as root,
# with DLHW_ISOLATION=container: the attacks that still apply without namespaces.

_CONTAINED = """
import json, os, sys
from grader import sandbox
spec = json.loads(sys.argv[1])
if spec.get("hide"):
    sandbox.hide_from_sandbox(spec["hide"])
out = sandbox.run(sandbox.python_argv("/in/x.py"), inputs={"x.py": spec["code"].encode()},
                  limits=sandbox.Limits(**spec["limits"]), env=spec.get("env", {}))
uid = sandbox.run_uid()

def alive():  # processes of the sandbox's uid, not counting the killed ones not yet reaped
    found = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = open(f"/proc/{p}/status").read()
        except OSError:
            continue
        if f"Uid:\\t{uid}\\t" in status and "State:\\tZ" not in status:
            found.append(p)
    return found

import time
deadline = time.monotonic() + 10  # SIGKILL is sent; dying takes each process a moment
while (left := alive()) and time.monotonic() < deadline:
    time.sleep(0.1)
print(json.dumps({"status": out.status, "reason": out.reason, "stdout": out.stdout,
                  "files": {k: v.decode("utf-8", "replace") for k, v in out.files.items()},
                  "isolation": sandbox.isolation(), "uid": uid, "left": left,
                  "links": [os.path.lexists(p) for p in ("/in", "/out")]}))
"""


def contained(code: str, limits: dict | None = None, *, extra: list[str] | None = None,
              env: dict | None = None, hide: list[str] | None = None,
              outer_env: dict | None = None) -> dict:
    from tests import gradescope_sim

    require(gradescope_sim.available() is None, str(gradescope_sim.available()))
    spec = {"code": code, "limits": limits or {"wall_s": 30, "cpu_s": 30}, "env": env or {},
            "hide": hide or []}
    hidden = ["--perms", "0700", "--tmpfs", "/usr/share/datasets"] if extra is None else extra
    run_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(gradescope_sim.REPO),
               "DLHW_ISOLATION": "container", "DLHW_STUDENT_PYTHON": sys.executable,
               **(outer_env or {})}
    done = subprocess.run(gradescope_sim.container(
        [sys.executable, "-c", _CONTAINED, json.dumps(spec)], hidden),
        env=run_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_container_mode_runs_as_an_unprivileged_uid_in_a_private_tmp():
    out = contained(SEND + "import os, json, tempfile\n"
                    "send('r.json', json.dumps([os.getuid(), os.getcwd(),\n"
                    "    tempfile.gettempdir(), open('/in/x.py').read()[:10]]))\n"
                    "open('/in/x.py', 'a')\n")
    assert out["isolation"] == "container"
    assert out["status"] == "failed" and "PermissionError" in out["reason"]  # /in: read-only
    uid, cwd, tmp, head = json.loads(out["files"]["r.json"])
    assert uid == out["uid"] != 0
    assert cwd == tmp and tmp.startswith("/tmp/dlhw-box-") and head == "import sys"
    assert out["links"] == [False, False]  # /in is gone after the run (and there is no /out)


def test_container_mode_cpu_limit():
    out = contained("while True:\n    pass\n", {"wall_s": 30, "cpu_s": 2})
    assert out["status"] == "killed" and "CPU" in out["reason"]


def test_container_mode_output_flood_is_cut():
    out = contained("import sys\nwhile True:\n    sys.stdout.write('x' * 1_000_000)\n",
                    {"wall_s": 30, "cpu_s": 30, "file_mb": 4})
    assert out["status"] != "ok" and "File too large" in out["reason"]  # RLIMIT_FSIZE
    assert len(out["stdout"]) <= sandbox.Limits().keep_output


def test_container_mode_fork_bomb_is_limited_and_swept():
    out = contained(SEND + "import os, time\nn = 0\nwhile True:\n    try:\n"
                    "        if os.fork() == 0:\n            time.sleep(1000)\n"
                    "        n += 1\n"
                    "    except OSError:\n        break\n"
                    "send('n', str(n))\nwhile True:\n    pass\n",
                    {"wall_s": 5, "cpu_s": 20, "processes": 32})
    assert out["status"] in ("timeout", "starved")
    assert int(out["files"]["n"]) < 32  # RLIMIT_NPROC of the sandbox's own uid
    assert out["left"] == []  # not one of its processes survives the run


def test_container_mode_wall_clock_kills_an_escaped_daemon():
    out = contained("import os\n"
                    "if os.fork() == 0:\n"
                    "    os.setsid()\n"
                    "    os.execv('/bin/sleep', ['/bin/sleep', '1000'])\n"
                    "while True:\n    pass\n", {"wall_s": 3, "cpu_s": 30})
    assert out["status"] in ("timeout", "starved") and "3 s" in out["reason"]
    assert out["left"] == []  # the setsid'd sleep left the process group, not the uid


def test_container_mode_has_no_out_folder_either():
    out = contained(SEND + "import os\nsend('ok', '1')\n"
                    "try:\n    open('/out/x', 'w')\nexcept OSError:\n    print('no out')\n")
    assert out["status"] == "ok", out["reason"]
    assert out["files"] == {"ok": "1"} and "no out" in out["stdout"]


def test_container_mode_environment_is_cleared():
    out = contained("import os\nprint(sorted(os.environ))\nprint(os.environ.get('DLHW_SECRET'))\n"
                    "print(open('/proc/1/environ', 'rb').read())\n",
                    outer_env={"DLHW_SECRET": "hunter2"})
    assert "hunter2" not in out["stdout"] and "DLHW_ISOLATION" not in out["stdout"]
    assert out["status"] == "failed" and "PermissionError" in out["reason"]  # root's environ


def test_container_mode_refuses_while_a_hidden_folder_is_open(tmp_path):
    data = tmp_path / "datasets"
    (data / "fashion-mnist").mkdir(parents=True)
    open_ = ["--bind", str(data), "/usr/share/datasets"]
    out = contained("print('ran')\n", extra=open_)
    assert out["status"] == "unavailable" and "/usr/share/datasets" in out["reason"]
    out = contained("import os\nprint(os.listdir('/usr/share/datasets'))\n", extra=open_,
                    hide=["/usr/share/datasets"])
    assert out["status"] == "failed" and "PermissionError" in out["reason"]


def test_container_mode_is_never_a_fallback(monkeypatch, tmp_path):
    """Without DLHW_ISOLATION=container, no bubblewrap still means nothing runs."""
    monkeypatch.delenv(sandbox.ISOLATION_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    sandbox._probe.cache_clear()
    try:
        out = sandbox.run(["/bin/true"], limits=LIMITS)
        assert out.status == "unavailable" and "bubblewrap is not installed" in out.reason
        assert sandbox.isolation() == "bubblewrap"
        monkeypatch.setenv(sandbox.ISOLATION_ENV, "none")
        sandbox._probe.cache_clear()
        assert "expected bubblewrap or container" in str(sandbox.unavailable_reason())
        # Nothing is hidden by a mount in a container: without the students' own interpreter
        # their code would run where dlhw is importable, so nothing runs.
        monkeypatch.setenv(sandbox.ISOLATION_ENV, "container")
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        monkeypatch.delenv("DLHW_STUDENT_PYTHON", raising=False)
        sandbox._probe.cache_clear()
        if os.geteuid() == 0:
            assert "needs $DLHW_STUDENT_PYTHON" in str(sandbox.unavailable_reason())
    finally:
        sandbox._probe.cache_clear()


_CONCURRENT = r'''
import concurrent.futures, os, sys
assert not os.path.exists("/proc/self/fd/3")  # as under Gradescope's launcher
from grader import sandbox
SEND = "import sys; sys.path.insert(0, '/in'); from _channel import send\n"

def one(i):
    try:
        out = sandbox.run([sys.executable, "-I", "-c", SEND + f"send('x', '{i}')"],
                          limits=sandbox.Limits(wall_s=60, cpu_s=60, memory_mb=512))
        return out.ok and out.files.get("x") == str(i).encode() or f"{out.status} {out.reason}"
    except OSError as exc:
        return repr(exc)

with concurrent.futures.ThreadPoolExecutor(6) as pool:
    print([r for r in pool.map(one, range(48)) if r is not True])
'''


def test_concurrent_runs_each_get_their_own_channel():
    """Runs on threads (the preflight's probes, a worker's checks) in a process started without
    an fd 3: each run's frames come back to it, none fails for another's pipe (CI's EBADF)."""
    require(sandbox.unavailable_reason() is None, "needs the sandbox")
    done = subprocess.run([sys.executable, "-c", _CONCURRENT], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]
