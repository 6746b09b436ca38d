"""The sandbox, attacked as a student's code would attack it: each test runs the real attack."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from grader import sandbox
from tests.conftest import require

LIMITS = sandbox.Limits(wall_s=30, cpu_s=30)


@pytest.fixture(scope="module", autouse=True)
def _needs_bwrap():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))


def py(code: str, limits: sandbox.Limits = LIMITS, **kw) -> sandbox.Outcome:
    return sandbox.run(sandbox.python_argv("/in/x.py"), inputs={"x.py": code.encode()},
                       limits=limits, **kw)


def test_runs_python_with_numpy_and_returns_out_files():
    out = py("import numpy, os\n"
             "open('/out/r.txt', 'w').write(str(numpy.arange(3).sum()) + ' ' + str(os.getuid()))")
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
    assert out.status == "timeout" and "3 s" in out.reason
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert left == ""


def test_cpu_limit_names_itself():
    out = py("while True:\n    pass\n", sandbox.Limits(wall_s=30, cpu_s=2))
    assert out.status == "killed" and "CPU" in out.reason


def test_symlink_left_in_out_is_not_followed():
    out = py("import os\nos.symlink('/etc/shadow', '/out/leak')\n"
             "os.symlink('/proc/self/environ', '/out/env')\nopen('/out/ok', 'w').write('1')\n")
    assert out.ok, out.reason
    assert set(out.files) == {"ok"}


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
