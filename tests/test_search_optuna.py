"""Part 4's search on Optuna: plans, the queue under racing workers, seeds, pruning, faults.

Workers here are real processes against real storages: an SQLite file, and a PostgreSQL
server this module starts with initdb and pg_ctl (Debian's `postgresql`). Workers are killed
with SIGKILL mid-trial; the tests then read the storage: no trial left RUNNING, every planned
configuration COMPLETE exactly once.
"""

from __future__ import annotations

import glob
import itertools
import json
import multiprocessing
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import require

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from nets import search_space as SP  # noqa: E402
from nets import search_storage as ST  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ helpers


def _trials(url: str, name: str) -> dict[str, list]:
    storage = ST.open_storage(url)
    return {n: storage.get_all_trials(storage.get_study_id_from_name(n), deepcopy=False)
            for n in ST.study_names(storage, name)}


def _assert_each_config_complete_once(url: str, name: str) -> dict[str, Counter]:
    """No RUNNING or WAITING trial; each planned configuration has exactly one COMPLETE (or
    PRUNED) trial. Returns each study's trial states."""
    storage = ST.open_storage(url)
    states = {}
    for n, trials in _trials(url, name).items():
        plan = [SP.key(p) for p in ST.spec_of(storage, n)["plan"]]
        done = Counter(SP.key(ST.params_of(t)) for t in trials if t.state in ST.DONE)
        assert done == Counter(plan), n
        states[n] = Counter(t.state.name for t in trials)
        assert not states[n]["RUNNING"] and not states[n]["WAITING"], (n, states[n])
    return states


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _running_worker(url: str, name: str, timeout: float = 120) -> tuple[int, str]:
    """Wait for a trial RUNNING with its worker recorded; (worker pid, study) of one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            for n, trials in _trials(url, name).items():
                for t in trials:
                    if t.state == TrialState.RUNNING and "worker" in t.user_attrs:
                        return int(t.user_attrs["worker"].rsplit(":", 1)[1]), n
        except Exception:  # the storage is still being made
            pass
        time.sleep(0.05)
    raise AssertionError("no trial started running")


def _tiny_spec(**kw) -> dict:
    """A regression search with one-second trials (workers rebuild its data from the seed)."""
    from nets import data as D
    from nets.search import make_spec

    d = D.regression_data(0)
    grid = {"hidden": [8, 16, 32], "activation": ["tanh", "relu"], "lr": [1e-2],
            "weight_decay": [0.0]}
    return make_spec("regression", "grid", grid, d.x_train, d.y_train,
                     source={"kind": "regression", "seed": 0}, k=3, epochs=250, seed=0,
                     n_iter=3, **{"heartbeat": 1, **kw})


# ------------------------------------------------------------------ plans and seeds


def test_plan_is_the_whole_grid_once_and_seeded_random_draws():
    grid = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.0, 1e-4]}
    plan = SP.plan("grid", grid, 0, seed=0)
    assert sorted(map(SP.key, plan)) == sorted(
        SP.key(dict(zip(grid, v))) for v in itertools.product(*grid.values()))
    assert plan == SP.plan("grid", grid, 0, seed=0)  # GridSampler's order, seeded
    dists = SP.regression_distributions()
    draws = SP.plan("random", dists, 5, seed=3)
    assert len(draws) == 5 and draws == SP.plan("random", dists, 5, seed=3)
    assert draws != SP.plan("random", dists, 5, seed=4)
    assert all(1e-3 <= p["lr"] <= 3e-2 and p["hidden"] in (16, 32, 64, 128) for p in draws)
    assert SP.describe(dists["lr"]) == "loguniform(0.001, 0.03)"
    # The seed is the configuration's, whatever the order of its keys; not the trial order.
    p = {"lr": 0.01, "hidden": 32, "activation": "tanh", "weight_decay": 0.0}
    assert SP.config_seed(p, 0) == SP.config_seed(dict(reversed(list(p.items()))), 0)
    assert SP.config_seed(p, 0) != SP.config_seed(p, 1)
    assert SP.config_seed(p, 0) != SP.config_seed({**p, "lr": 0.02}, 0)


# ------------------------------------------------------------------ the queue, raced


def _taker(url: str, name: str, out: str, start) -> None:
    """A worker without training: take trials as fast as possible, complete each at once."""
    storage = ST.open_storage(url)
    study = ST.load(storage, ST.study_names(storage, name)[0])
    taken = []
    start.wait()  # all together
    while True:
        with ST.exclusive(storage, name):
            tid = ST.take(storage, study)
        if tid is None:
            break
        trial = optuna.trial.Trial(study, tid)
        taken.append(SP.key(SP.suggest(trial, SP.from_json(ST.spec_of(storage,
                                                                      study.study_name)["space"]))))
        study.tell(trial, 0.0)
        time.sleep(0.005)
    Path(out).write_text(json.dumps(taken))


def _race(url: str, name: str, tmp_path: Path, n: int = 3) -> list[str]:
    spec = {"task": "regression", "strategy": "grid", "seed": 0, "heartbeat": 5,
            "direction": "minimize", "pruner": "none", "space": SP.to_json({"a": list(range(24))}),
            "plan": SP.plan("grid", {"a": list(range(24))}, 0, 0)}
    storage = ST.open_storage(url)
    with ST.exclusive(storage, name):
        ST.create(storage, name, spec, fresh=False)
    ctx = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"taken{i}.json" for i in range(n)]
    start = ctx.Barrier(n)
    procs = [ctx.Process(target=_taker, args=(url, name, str(o), start)) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    taken = [k for o in outs for k in json.loads(o.read_text())]
    assert sum(bool(json.loads(o.read_text())) for o in outs) >= 2  # they did race
    return taken


def test_racing_workers_take_each_grid_configuration_once_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    taken = _race(url, "race", tmp_path)
    assert sorted(taken) == sorted(SP.key({"a": a}) for a in range(24))
    _assert_each_config_complete_once(url, "race")
    # Resuming with other settings is refused, naming them; the run folder's own storage
    # (fresh=True) starts that study afresh instead.
    storage = ST.open_storage(url)
    spec = ST.spec_of(storage, "race.regression.grid")
    with pytest.raises(ST.SearchError, match=r"made with other settings \(heartbeat differ\)"):
        ST.create(storage, "race", {**spec, "heartbeat": 2}, fresh=False)
    assert len(_trials(url, "race")["race.regression.grid"]) == 24  # untouched
    ST.create(storage, "race", {**spec, "heartbeat": 2}, fresh=True)
    assert [t.state for t in _trials(url, "race")["race.regression.grid"]] == \
        [TrialState.WAITING] * 24


# ------------------------------------------------------------------ reproducibility, pruning


@pytest.mark.slow
def test_one_or_two_workers_give_the_same_fold_scores():
    from nets import data as D
    from nets.search import search

    d = D.regression_data(0)
    space = {"hidden": [8, 16], "activation": ["tanh"], "lr": [1e-2], "weight_decay": [0.0]}
    one, two = (search("grid", "regression", d.x_train, d.y_train, space, k=3, epochs=60,
                       n_jobs=n, progress=False) for n in (1, 2))
    assert len(one.rows) == 2
    assert {SP.key(r["params"]): r["scores"] for r in one.rows} == \
           {SP.key(r["params"]): r["scores"] for r in two.rows}


@pytest.mark.slow
def test_hopeless_configuration_is_pruned_after_its_first_fold():
    from nets import data as D
    from nets.search import search

    d = D.regression_data(0)
    space = {"hidden": [16], "activation": ["relu"], "lr": [1e-2, 50.0], "weight_decay": [0.0]}
    res = search("grid", "regression", d.x_train, d.y_train, space, k=3, epochs=60, n_jobs=1,
                 progress=False)
    rows = {r["params"]["lr"]: r for r in res.rows}
    assert rows[50.0]["state"] == "pruned" and len(rows[50.0]["scores"]) == 1
    assert rows[1e-2]["state"] == "complete" and len(rows[1e-2]["scores"]) == 3
    assert res.best["params"]["lr"] == 1e-2 and res.n_fits == 4


def test_a_configuration_that_raises_fails_once_per_run_and_is_retried_by_the_next(tmp_path):
    from nets import data as D
    from nets.search import make_spec
    from nets.search_worker import work

    url = f"sqlite:///{tmp_path / 's.db'}"
    d = D.regression_data(0)
    grid = {"hidden": [8], "activation": ["tanh", "bogus"], "lr": [1e-2], "weight_decay": [0.0]}
    spec = make_spec("regression", "grid", grid, d.x_train, d.y_train,
                     source={"kind": "regression", "seed": 0}, k=2, epochs=5, seed=0, n_iter=1,
                     prune="none")
    storage = ST.open_storage(url)
    with ST.exclusive(storage, "e"):
        ST.create(storage, "e", spec, fresh=False)
    with pytest.raises(KeyError, match="bogus"):  # the trial fails, the worker stops
        work(url, "e", threads=None)
    # Another worker runs what is left, leaves the raising configuration alone, and says so.
    with pytest.raises(ST.SearchError, match=r"1 configuration\(s\) failed with an error"):
        work(url, "e", threads=None)
    c = ST.counts(storage, "e.regression.grid")
    assert (c["done"], c["errored"], c["FAIL"], c["COMPLETE"]) == (1, 1, 1, 1)
    with ST.exclusive(storage, "e"):  # running the search again retries it
        ST.create(storage, "e", spec, fresh=False)
    assert ST.counts(storage, "e.regression.grid")["WAITING"] == 1


def test_a_worker_whose_data_differ_stops_before_taking_a_trial(tmp_path):
    from nets import data as D
    from nets.search import make_spec
    from nets.search_trial import DataMismatch
    from nets.search_worker import work

    url = f"sqlite:///{tmp_path / 's.db'}"
    d = D.regression_data(0)
    grid = {"hidden": [8], "activation": ["tanh"], "lr": [1e-2], "weight_decay": [0.0]}
    # The spec names seed 1's data, but its fingerprint is seed 0's (another dataset version).
    spec = make_spec("regression", "grid", grid, d.x_train, d.y_train,
                     source={"kind": "regression", "seed": 1}, k=2, epochs=5, seed=0, n_iter=1)
    storage = ST.open_storage(url)
    with ST.exclusive(storage, "m"):
        ST.create(storage, "m", spec, fresh=False)
    with pytest.raises(DataMismatch, match="this worker's data .* differ from the study's"):
        work(url, "m", threads=None)
    assert ST.counts(storage, "m.regression.grid")["WAITING"] == 1  # nothing taken


# ------------------------------------------------------------------ faults: SQLite


@pytest.mark.slow
def test_run_search_killed_mid_trial_then_run_again(tmp_path, quick_runs):
    """The issue's check: `dlhw run search --quick --storage sqlite:///... --study s
    --workers 2` killed (SIGKILL, coordinator and workers) mid-trial, then run again."""
    from click.testing import CliRunner

    from cli import cli

    url = f"sqlite:///{tmp_path / 'search.db'}"
    args = ["run", "search", "--quick", "--storage", url, "--study", "s", "--workers", "2",
            "--heartbeat", "1", "--out", str(tmp_path / "run")]
    first = _cli(*args, start_new_session=True)
    _running_worker(url, "s")
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    assert any(t.state == TrialState.RUNNING for ts in _trials(url, "s").values() for t in ts)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output + repr(again.exception)
    states = _assert_each_config_complete_once(url, "s")
    assert sum(s["FAIL"] for s in states.values()) >= 1  # the killed trials, run again
    # Resumed, it reports what the uninterrupted quick run (the session's) reported.
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    ref = json.loads((quick_runs / "search" / "metrics.json").read_text())
    assert set(m) == set(ref)
    for k, v in ref.items():
        if not k.endswith("wall_seconds"):
            assert m[k] == (pytest.approx(v, rel=1e-6) if isinstance(v, float) else v), k


def test_bad_storage_and_missing_search_are_one_line_errors(tmp_path):
    from click.testing import CliRunner

    from cli import cli

    res = CliRunner().invoke(cli, ["search", "status", "--storage", "mysql://u@h/db"])
    assert res.exit_code == 1 and "expected sqlite:///FILE or postgresql://" in res.output
    res = CliRunner().invoke(cli, ["search", "status", "--storage",
                                   f"sqlite:///{tmp_path / 'none.db'}", "--study", "nope"])
    assert res.exit_code == 1 and res.output.startswith("dlhw: error: no search 'nope'")


# ------------------------------------------------------------------ PostgreSQL


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on a Unix socket (initdb, pg_ctl), as `postgres` when
    the tests run as root (initdb refuses root)."""
    bindir = _pg_bindir()
    require(bindir is not None, "PostgreSQL missing: apt-get install postgresql")
    require(bool(__import__("importlib").util.find_spec("psycopg2")),
            "psycopg2 missing: pip install psycopg2-binary")
    root = Path(tempfile.mkdtemp(prefix="dlhw-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                    "-A", "trust", "--no-sync", "-E", "UTF8"], check=True,
                   capture_output=True)
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(root / "log"), "-o", f"-k {root} -c listen_addresses='' -c fsync=off",
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://postgres@/postgres?host={root}"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_racing_workers_take_each_grid_configuration_once_postgres(postgres_url, tmp_path):
    taken = _race(postgres_url, "race", tmp_path)
    assert sorted(taken) == sorted(SP.key({"a": a}) for a in range(24))
    _assert_each_config_complete_once(postgres_url, "race")


@pytest.mark.slow
def test_postgres_two_workers_one_killed_mid_trial(postgres_url):
    """Two `dlhw search worker` processes (as on two machines) against one server; one is
    killed mid-trial; the other fails its trial once stale, runs it again and finishes."""
    storage = ST.open_storage(postgres_url)
    with ST.exclusive(storage, "pg"):
        ST.create(storage, "pg", _tiny_spec(), fresh=False)
    workers = [_cli("search", "worker", "--storage", postgres_url, "--study", "pg")
               for _ in range(2)]
    pid, _ = _running_worker(postgres_url, "pg")
    victim = next(w for w in workers if w.pid == pid)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    survivor = next(w for w in workers if w is not victim)
    out, _ = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, out
    _assert_each_config_complete_once(postgres_url, "pg")
    failed = [t for t in _trials(postgres_url, "pg")["pg.regression.grid"]
              if t.state == TrialState.FAIL]
    assert any(t.user_attrs["worker"].endswith(f":{pid}") for t in failed)  # the victim's
    from click.testing import CliRunner

    from cli import cli as dlhw

    res = CliRunner().invoke(dlhw, ["search", "status", "--storage", postgres_url,
                                    "--study", "pg"])
    assert res.exit_code == 0 and "6 of 6 configurations done" in res.output
    assert "best so far: trial" in res.output and "FAIL" in res.output
