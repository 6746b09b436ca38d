"""Warm sandboxes (grader/warm.py), attacked from its threat model: a run that tries to change
or see what a later run in the same sandbox computes. Each test mounts the real attack in a
child of a real server, then checks what the next run finds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import boundary, runtime, sandbox, warm
from tests.conftest import require

LIMITS = sandbox.Limits(wall_s=30, cpu_s=30)
PRELOAD = ("json",)  # cheap: these tests are about the server, not the imports
SEND = "import sys\nsys.path.insert(0, '/in')\nfrom _channel import send\n"
# What a run sees of its sandbox: its parent (the server), the processes, the scratch folders.
LOOK = SEND + """import json, os
send('look.json', json.dumps({'ppid': os.getppid(), 'pid': os.getpid(),
    'procs': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
    'tmp': os.listdir('/tmp'), 'shm': os.listdir('/dev/shm'),
    'ipc': [open(f'/proc/sysvipc/{k}').read().count(chr(10)) - 1 for k in ('shm', 'msg', 'sem')],
    'fds': sorted(int(f) for f in os.listdir('/proc/self/fd'))}))
"""


@pytest.fixture(scope="module", autouse=True)
def _needs_warm():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))
    group = boundary.make(64, 8)
    require(group is not None, "no control group can be made here: runs are cold")
    if group is not None:
        group.remove()


@pytest.fixture(autouse=True)
def _fresh_servers(monkeypatch):
    monkeypatch.delenv(warm.ENV, raising=False)
    warm.close_all()
    yield
    warm.close_all()


# What /tmp holds in any sandbox here: the mount point of an interpreter that lives under /tmp
# (a venv there, as CI's), bound read-only by bwrap; empty otherwise.
BINDS = sorted({Path(f).relative_to("/tmp").parts[0] for f in runtime.student().folders
                if Path(f).is_relative_to("/tmp")})


def py(code: str, limits: sandbox.Limits = LIMITS, **kw) -> sandbox.Outcome:
    return sandbox.run(sandbox.python_argv("/in/x.py", "arg"), inputs={"x.py": code.encode()},
                       limits=limits, warm=PRELOAD, **kw)


def server() -> int | None:
    """The host pid of this process's one warm server, None when there is none."""
    pids = [s.proc.pid for s in warm._SERVERS.values()]
    assert len(pids) <= 1
    return pids[0] if pids else None


def look() -> dict:
    out = py(LOOK)
    assert out.ok, (out.reason, out.stderr)
    return json.loads(out.files["look.json"])


def test_each_run_is_a_fresh_child_of_one_server_with_only_its_own_descriptors():
    first = look()
    pid = server()
    second = look()
    assert server() == pid is not None
    assert first["ppid"] == second["ppid"] and first["pid"] != second["pid"]
    assert second["procs"] == sorted({1, second["ppid"], second["pid"]})
    # stdin, stdout, stderr, the channel, and the listing's own: no control socket
    assert second["fds"][:4] == [0, 1, 2, 3] and len(second["fds"]) == 5
    out = py(SEND + "import sys\nsend('argv', ' '.join(sys.argv))\nprint('out')\n"
             "print('err', file=sys.stderr)\nraise SystemExit(3)")
    assert out.status == "failed" and out.returncode == 3
    assert out.files["argv"] == b"/in/x.py arg" and out.stdout == "out\n" and "err" in out.stderr
    out = py("raise ValueError('mine')")
    assert out.status == "failed" and out.reason == "ValueError: mine"
    assert server() == pid  # a failing run is still an ordinary run


def test_random_generators_are_seeded_per_run_as_a_fresh_interpreter_is():
    code = SEND + "import random\nsend('r', repr(random.random()))"
    draws = {py(code).files["r"] for _ in range(3)}
    assert len(draws) == 3


def test_files_left_in_tmp_and_dev_shm_are_gone_before_the_next_run():
    out = py("import os\n"
             "os.makedirs('/tmp/a/' + '/'.join(['d'] * 300))\n"
             "open('/tmp/a/' + '/'.join(['d'] * 300) + '/answers.yaml', 'w').write('q1: 1')\n"
             "open('/dev/shm/seg', 'wb').write(b'x' * 4096)\n"
             "os.makedirs('/tmp/locked/inner')\nopen('/tmp/locked/inner/f', 'w').write('x')\n"
             "os.chmod('/tmp/locked/inner', 0)\nos.chmod('/tmp/locked', 0)\n"
             "os.symlink('/in/x.py', '/tmp/link')\nos.mkfifo('/tmp/fifo')\n")
    assert out.ok, out.stderr
    pid = server()
    after = look()
    assert after["tmp"] == BINDS and after["shm"] == []
    assert server() == pid  # all of it removable: the server stays


def test_a_process_left_running_tears_the_sandbox_down_before_the_next_run():
    # A daemon (double fork, its own session) that would rewrite /tmp for the next student.
    out = py("import os, time\n"
             "if os.fork() == 0:\n"
             "    os.setsid()\n"
             "    if os.fork() == 0:\n"
             "        for _ in range(600):\n"
             "            open('/tmp/planted', 'w').write('x'); time.sleep(0.05)\n"
             "    os._exit(0)\n"
             "os.wait()\n")
    assert out.ok
    pid = server()
    assert pid is None  # torn down at once
    after = look()
    assert after["tmp"] == BINDS and after["procs"] == sorted({1, after["ppid"], after["pid"]})


def test_a_stopped_fork_left_behind_tears_it_down_too():
    py("import os, signal\nif os.fork() == 0:\n    os.kill(os.getpid(), signal.SIGSTOP)\n")
    assert server() is None


def test_the_server_can_be_neither_traced_nor_read():
    out = py(SEND + """import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
ppid = os.getppid()
got = {'attach': libc.ptrace(16, ppid, None, None), 'seize': libc.ptrace(0x4206, ppid, None, None)}
for name in ('mem', 'environ', 'maps', 'fd', 'cwd/', 'root/tmp'):
    try:
        p = f'/proc/{ppid}/{name}'
        got[name] = os.listdir(p) if name in ('fd', 'cwd/', 'root/tmp') else \\
            open(p, 'rb').read(64).hex()
    except OSError as e:
        got[name] = f'denied {e.errno}'
send('got.json', json.dumps(got))
""")
    assert out.ok, out.stderr
    got = json.loads(out.files["got.json"])
    assert got["attach"] == -1 and got["seize"] == -1
    for name in ("mem", "environ", "maps", "fd", "cwd/", "root/tmp"):
        assert str(got[name]).startswith("denied"), (name, got[name])


def test_killing_or_stopping_the_server_runs_that_run_again_cold():
    """Aborting a run must not draw new inputs ("graded again"): it is run again at once, cold,
    where the same code finds no server to kill (bwrap's init ignores it)."""
    for sig in ("SIGKILL", "SIGSTOP"):
        pid = server() or (look() and server())
        out = py(SEND + "import os, signal\nsend('r', str(os.getppid()))\n"
                 f"try:\n    os.kill(os.getppid(), signal.{sig})\nexcept OSError:\n    pass\n",
                 limits=sandbox.Limits(wall_s=3, cpu_s=3))
        assert out.ok and out.files["r"] == b"1", (sig, out)  # the cold run's parent: init
        assert server() is None
        assert look()["tmp"] == BINDS and server() not in (None, pid)


def test_sysv_ipc_left_behind_tears_it_down_and_message_queues_cannot_be_made():
    out = py(SEND + """import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0, 4096, 0o1600)   # IPC_PRIVATE, IPC_CREAT | 0600: outlives the process
libc.mq_open.restype = ctypes.c_int
mq = libc.mq_open(b'/left', os.O_CREAT | os.O_RDWR, 0o600, None)
send('r', f'{shm} {mq} {ctypes.get_errno()}')
""")
    shm, mq, _ = out.files["r"].split()
    assert int(shm) >= 0 and int(mq) == -1
    assert server() is None
    assert look()["ipc"] == [0, 0, 0]


def test_inputs_are_only_the_current_runs():
    first = sandbox.run(sandbox.python_argv("/in/x.py"), limits=LIMITS, warm=PRELOAD,
                        inputs={"x.py": b"", "answers.yaml": b"q1: secret"})
    assert first.ok
    out = py(SEND + "import os\nsend('ls', ' '.join(sorted(os.listdir('/in'))))")
    assert out.files["ls"] == b"_channel.py x.py"


def test_a_conversation_runs_as_it_does_cold(monkeypatch):
    code = SEND + ("import sys, json\nsend('ready', 'r')\n"
                   "for line in sys.stdin:\n    send('echo' + str(json.loads(line)['n']), line)\n")

    def talk(s):
        assert s.receive(10)[0] == "ready"
        for n in range(3):
            s.send({"n": n})
            assert s.receive(10)[0] == f"echo{n}"

    warm_out = py(code, talk=talk)
    monkeypatch.setenv(warm.ENV, "0")
    cold_out = py(code, talk=talk)
    assert warm_out.ok and cold_out.ok
    assert warm_out.files == cold_out.files


def test_limits_hold_in_a_child_as_in_a_cold_run():
    out = py("while True:\n    pass\n", limits=sandbox.Limits(wall_s=30, cpu_s=2))
    assert out.status == "killed" and "CPU" in out.reason
    out = py("x = bytearray(3 * 1024 ** 3)\n", limits=sandbox.Limits(wall_s=30, cpu_s=30,
                                                                    memory_mb=1024))
    assert not out.ok
    assert look()["tmp"] == BINDS


@pytest.mark.parametrize("attack", [
    "resource.prlimit(ppid, resource.RLIMIT_CPU, (1, 1))",
    "resource.prlimit(ppid, resource.RLIMIT_AS, (64 << 20, 64 << 20))",
    "resource.prlimit(ppid, resource.RLIMIT_NOFILE, (8, 8))",
    "os.setpriority(os.PRIO_PROCESS, ppid, 19)",
    "os.sched_setaffinity(ppid, {min(os.sched_getaffinity(0))})",
    "os.sched_setscheduler(ppid, os.SCHED_IDLE, os.sched_param(0))",
    "ctypes.CDLL(None).syscall(251, 1, ppid, (3 << 13) | 7)",  # ioprio_set: idle class
])
def test_what_a_child_sets_on_the_server_never_reaches_the_next_run(attack):
    """A child may change its parent's limits and scheduling (same uid: prlimit, setpriority,
    affinity, I/O priority); the next student's child would inherit them."""
    py("import ctypes, os, resource\nppid = os.getppid()\n" + attack + "\n")
    assert server() is None
    out = py(SEND + "import os, resource\n"
             "send('r', repr((resource.getrlimit(resource.RLIMIT_CPU), os.nice(0))))")
    assert out.ok and out.files["r"] == repr(((LIMITS.cpu_s, LIMITS.cpu_s + 1), 0)).encode()


def test_a_script_runs_as_python_script_runs_it(monkeypatch):
    code = SEND + """import builtins, sys, json, os, signal
def depth(n=0):
    try:
        return depth(n + 1)
    except RecursionError:
        return n
class Last:
    def __del__(self):
        print('finalized')
keep = Last()
send('r', json.dumps([__builtins__ is builtins, __name__, sys.argv, sys.orig_argv[-2:],
                      __file__, depth(), type(__loader__).__name__]))
how = sys.argv[1]
if how == 'interrupt':
    raise KeyboardInterrupt
if how == 'term':
    os.kill(os.getpid(), signal.SIGTERM)
if how == 'error':
    raise ValueError('boom')
"""
    runs = {}
    for mode in ("1", "0"):
        monkeypatch.setenv(warm.ENV, mode)
        for how in ("plain", "interrupt", "term", "error"):
            out = sandbox.run(sandbox.python_argv("/in/x.py", how), limits=LIMITS, warm=PRELOAD,
                              inputs={"x.py": code.encode()})
            runs[mode, how] = (out.status, out.returncode, out.reason, out.files["r"],
                               out.stdout, out.stderr.splitlines()[-1:])
    for how in ("plain", "interrupt", "term", "error"):
        assert runs["1", how] == runs["0", how], how
    assert runs["1", "plain"][4] == "finalized\n" and runs["1", "term"][1] == 143
    assert runs["1", "interrupt"][1] == 130 and runs["1", "error"][2] == "ValueError: boom"
    assert json.loads(runs["1", "plain"][3])[0] is True


def test_torch_numpy_and_python_generators_differ_between_runs():
    code = SEND + ("import random, numpy, torch\n"
                   "send('r', repr((random.random(), numpy.random.random(), torch.initial_seed(),"
                   " torch.rand(1).item())))")
    draws = [sandbox.run(sandbox.python_argv("/in/x.py"), limits=LIMITS, inputs={"x.py":
             code.encode()}, warm=("numpy", "torch")).files["r"] for _ in range(2)]
    a, b = (eval(d) for d in draws)  # noqa: S307 - our own repr of four numbers
    assert all(x != y for x, y in zip(a, b)), (a, b)


def test_a_custom_time_slice_set_on_the_server_never_reaches_the_next_run():
    """sched_setattr's runtime is a time slice a same-uid process may set on a normal task
    (Linux 6.12 and later); the next child would inherit it."""
    out = py(SEND + """import ctypes, os, struct
attr = struct.pack('IIQiIQQQ', 48, 0, 0, 0, 0, 100_000_000, 0, 0)
libc = ctypes.CDLL(None, use_errno=True)
send('rc', str(libc.syscall(314 if os.uname().machine == 'x86_64' else 274, os.getppid(),
                            attr, 0)))
""")
    if out.files["rc"] != b"0":
        pytest.skip("this kernel refuses a custom time slice: nothing to carry over")
    assert server() is None


def test_the_sandboxs_own_binds_under_tmp_stay_and_the_server_with_them(tmp_path):
    """An interpreter under /tmp (a venv there) is bound read-only into /tmp: no run can remove
    it, and its mount point is no run's leftover."""
    bound = tmp_path / "venv"
    (bound / "lib").mkdir(parents=True)
    (bound / "lib" / "site.py").write_text("x = 1\n")
    code = SEND + f"import os\nsend('r', repr(sorted(os.listdir({str(bound)!r}))))\n" \
        "open('/tmp/mine', 'w').write('x')\n"
    runs, servers = [], []
    for _ in range(3):
        runs.append(sandbox.run(sandbox.python_argv("/in/x.py"), limits=LIMITS, warm=PRELOAD,
                                inputs={"x.py": code.encode()}, ro_binds=[bound]))
        servers.append(server())
    assert all(r.ok and r.files["r"] == b"['lib']" for r in runs), runs[-1]
    assert servers[0] is not None and len(set(servers)) == 1  # /tmp as it started, each time
