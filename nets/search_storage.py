"""Where a search's workers meet: an Optuna RDB storage (an SQLite file, or PostgreSQL for
several machines), its studies, and the queue of configurations waiting to run.

One search is one Optuna study per (task, strategy), named `NAME.task.strategy`; each carries
its spec (`user_attrs["dlhw"]`: task, data source and fingerprint, k, epochs, seed, space,
plan, heartbeat, pruner) so a worker anywhere can run its trials.

Every configuration of the plan is enqueued as a WAITING trial, and workers only ever take
waiting trials; they never ask a sampler for a new one, so no grid point can be drawn twice.
Enqueueing (`top_up`), taking (`take`) and failing stale trials run under one exclusive lock
per search (`exclusive`: an advisory lock in PostgreSQL, a file lock beside an SQLite file),
which keeps the invariant: each configuration of the plan has at most one trial that is
WAITING, RUNNING, COMPLETE or PRUNED. A trial whose worker died (SIGKILL, a lost machine)
stops beating; after the grace period any worker fails it and Optuna's
`RetryHeartbeatStaleTrialCallback` enqueues the configuration again. Running the search again
tops the queue up with whatever is missing (a FAIL from an exception, an interrupted plan).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from core.errors import DlhwError
from nets import search_space as SP

SPEC_KEY = "dlhw"
HEARTBEAT = 10   # seconds between a running trial's heartbeats (the study's; see `create`)
GRACE_BEATS = 3  # a trial is stale after this many missed heartbeats
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
LIVE = (TrialState.WAITING, TrialState.RUNNING, *DONE)


class SearchError(DlhwError):
    """A search's storage or studies are not what the command expects."""


def default_url(run_dir: str | Path) -> str:
    """The embedded storage of a run folder: an SQLite file, no server needed."""
    return f"sqlite:///{Path(run_dir).resolve() / 'search.db'}"


def shown(url: str) -> str:
    """A storage URL as printed: any password hidden."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def _backend(url: str) -> tuple[str, str | None]:
    """("sqlite", file) or ("postgresql", None); anything else is refused in one line."""
    import sqlalchemy

    try:
        u = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise SearchError(f"--storage {url!r}: not a database URL; expected sqlite:///FILE or "
                          "postgresql://USER@HOST/DB") from None
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise SearchError(f"--storage {url}: an SQLite storage must be a file "
                              "(sqlite:///FILE), shared by the workers of this machine")
        return "sqlite", u.database
    if u.get_backend_name() == "postgresql":
        return "postgresql", None
    raise SearchError(f"--storage {shown(url)}: expected sqlite:///FILE or postgresql://...")


# Storages this process opened, by (url, heartbeat, pid): opening one costs a schema check
# (alembic reads its revisions: ~0.2 s), and a forked worker must open its own connections.
_OPEN: dict[tuple[str, int | None, int], RDBStorage] = {}
_CHECKED: set[str] = set()  # schemas a parent process checked (`checked`)


def checked(url: str) -> None:
    """Note that this process's parent has checked the schema at `url` (a local worker)."""
    _CHECKED.add(url)


def open_storage(url: str, heartbeat: int | None = None) -> RDBStorage:
    """The storage at `url`; with `heartbeat`, running trials beat every that many seconds and
    stale ones are retried (Optuna's RetryHeartbeatStaleTrialCallback)."""
    key = (url, heartbeat, os.getpid())
    if key not in _OPEN:
        done = url in _CHECKED or any(k[0] == url for k in _OPEN)
        _OPEN[key] = _open(url, heartbeat, done)
    return _OPEN[key]


def close(url: str) -> None:
    """Forget (and disconnect) this process's storages at `url` (a temporary one, deleted)."""
    for key in [k for k in _OPEN if k[0] == url and k[2] == os.getpid()]:
        _OPEN.pop(key).engine.dispose()


def _open(url: str, heartbeat: int | None, checked: bool) -> RDBStorage:
    kind, path = _backend(url)
    engine: dict[str, Any] = {}
    if kind == "sqlite":
        assert path is not None  # _backend names an SQLite storage's file
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = {"creator": lambda: _sqlite_connection(path)}
    else:
        engine = {"pool_pre_ping": True}
    try:
        with SP.quiet():  # heartbeats and their callback are "experimental" in Optuna 5
            kw: dict[str, Any] = {} if not heartbeat else {
                "heartbeat_interval": heartbeat, "grace_period": GRACE_BEATS * heartbeat,
                "heartbeat_stale_trial_callback":
                    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)}
            storage = RDBStorage(url, engine_kwargs=engine, skip_compatibility_check=checked,
                                 **kw)
    except Exception as exc:  # a refused connection, a missing database, a bad driver
        raise SearchError(f"--storage {shown(url)}: cannot open it: "
                          f"{str(exc).splitlines()[0]}") from None
    return storage


def _sqlite_connection(path: str):
    """A connection to the shared SQLite file: workers of one machine wait for its lock rather
    than fail at 5 s; write-ahead logging, so readers never block the writer, and synced at
    checkpoints only (a killed process loses nothing; a power cut may lose the last trials,
    which are then run again)."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=120, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextlib.contextmanager
def exclusive(storage: RDBStorage, name: str) -> Iterator[None]:
    """Hold the search `name`'s lock: one process at a time enqueues, takes or fails trials.

    PostgreSQL: a session advisory lock, released by the server if the holder dies. SQLite:
    a file lock beside the database (one machine), released by the kernel likewise.
    """
    kind, path = _backend(storage.url)
    if kind == "sqlite":
        with open(f"{path}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return
    key = zlib.crc32(f"dlhw-search:{name}".encode())
    with storage.engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_advisory_lock(%s)", (key,))
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))
            conn.commit()


# ------------------------------------------------------------------ studies


def study_name(name: str, task: str, strategy: str) -> str:
    return f"{name}.{task}.{strategy}"


def study_names(storage: RDBStorage, name: str) -> list[str]:
    """The studies of the search `name` that carry a spec (fully made), by name."""
    return sorted(s.study_name for s in storage.get_all_studies()
                  if s.study_name.startswith(f"{name}.") and SPEC_KEY in s.user_attrs)


def spec_of(storage: RDBStorage, study: str) -> dict[str, Any]:
    sid = storage.get_study_id_from_name(study)
    return storage.get_study_user_attrs(sid)[SPEC_KEY]


def load(storage: RDBStorage, study: str) -> optuna.Study:
    spec = spec_of(storage, study)
    sampler = (optuna.samplers.GridSampler(_grid(study, spec), seed=spec["seed"])
        if spec["strategy"] == "grid" else optuna.samplers.RandomSampler(seed=spec["seed"]))
    with SP.quiet():
        return optuna.load_study(study_name=study, storage=storage, sampler=sampler,
                                 pruner=pruner(spec))


def _grid(study: str, spec: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A grid study's space back as lists: a grid stores every parameter as categorical."""
    grid = {}
    for k, d in SP.from_json(spec["space"]).items():
        if not isinstance(d, CategoricalDistribution):
            raise SearchError(f"study {study}: grid parameter {k!r} is stored as "
                              f"{type(d).__name__}; expected a list of values")
        grid[k] = list(d.choices)
    return grid


def pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """"hopeless" (the default): a fold no better than a trivial predictor stops the trial (MSE
    above the training targets' variance, accuracy at chance or below; NaN too). It looks at the
    trial's own folds only, so which trials it prunes does not depend on the order they ran.
    "median": Optuna's MedianPruner (order-dependent); "none": every trial runs all folds."""
    kind = spec.get("pruner", "hopeless")
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2)
    if kind == "hopeless" and spec.get("hopeless") is not None:
        bound = spec["hopeless"]
        return optuna.pruners.ThresholdPruner(
            **({"upper": bound} if spec["direction"] == "minimize" else {"lower": bound}))
    return optuna.pruners.NopPruner()


def create(storage: RDBStorage, name: str, spec: Mapping[str, Any], fresh: bool) -> str:
    """Make the study for `spec` with its plan enqueued, or resume the one there is.

    A study made with other settings is an error naming both, unless `fresh` (the run folder's
    own storage): it is then deleted and made again. Call under `exclusive`.
    """
    sname = study_name(name, spec["task"], spec["strategy"])
    if sname in {s.study_name for s in storage.get_all_studies()}:
        sid = storage.get_study_id_from_name(sname)
        old = storage.get_study_user_attrs(sid).get(SPEC_KEY)
        if old == spec:
            top_up(storage, sname)
            return sname
        if not fresh and old is not None:
            diff = sorted(k for k in set(old) | set(spec) if old.get(k) != spec.get(k))
            raise SearchError(f"study {sname} in {shown(storage.url)} was made with other "
                              f"settings ({', '.join(diff)} differ); give another --study or "
                              "--storage")
        optuna.delete_study(study_name=sname, storage=storage)
    with SP.quiet():
        study = optuna.create_study(storage=storage, study_name=sname,
                                    direction=spec["direction"])
    study.set_user_attr(SPEC_KEY, dict(spec))
    top_up(storage, sname)
    return sname


# ------------------------------------------------------------------ the queue


def params_of(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The configuration a trial runs: its fixed (enqueued) parameters."""
    return t.system_attrs.get("fixed_params", t.params)


def top_up(storage: RDBStorage, study: str, retry_errors: bool = True) -> int:
    """Enqueue every configuration of the plan that has no live trial; returns how many.

    Without `retry_errors` (a worker's top-up), a configuration whose trial raised is left
    alone: running it again in the same search would only raise again, in every worker. The
    next run of the search (`create`) retries it. Call under `exclusive`.
    """
    sid = storage.get_study_id_from_name(study)
    plan = storage.get_study_user_attrs(sid)[SPEC_KEY]["plan"]
    trials = storage.get_all_trials(sid, deepcopy=False)
    live = Counter(SP.key(params_of(t)) for t in trials if t.state in LIVE)
    if not retry_errors:
        live.update(SP.key(params_of(t)) for t in trials
                    if t.state == TrialState.FAIL and "error" in t.user_attrs)
    missing = [p for p in plan if not live[SP.key(p)]]
    if missing:
        s = optuna.load_study(study_name=study, storage=storage)
        for p in missing:
            s.enqueue_trial(p)
    return len(missing)


def take(storage: RDBStorage, study: optuna.Study) -> int | None:
    """Mark one waiting trial RUNNING for this process; its id, or None. Call under
    `exclusive`.

    It beats first: Optuna never counts a RUNNING trial without a heartbeat as stale, so a
    worker killed between the two would otherwise leave its trial RUNNING for good.
    """
    sid = storage.get_study_id_from_name(study.study_name)
    # Listed through the study (its storage caches trial ids for the Trial objects to come).
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        tid = storage.get_trial_id_from_study_id_trial_number(sid, t.number)
        if storage.get_heartbeat_interval():
            storage.record_heartbeat(tid)
        if storage.set_trial_state_values(tid, TrialState.RUNNING):
            return tid
    return None


def fail_stale(study: optuna.Study) -> None:
    """Fail the trials whose worker stopped beating; the callback enqueues them again.
    Call under `exclusive` (the callback's enqueue must not race `top_up`)."""
    with SP.quiet():
        optuna.storages.fail_stale_trials(study)


def counts(storage: RDBStorage, study: str) -> dict[str, int]:
    """Trials by state (names), plus configurations: `planned`, `done` (COMPLETE or PRUNED)
    and `errored` (their trial raised, and none is live)."""
    sid = storage.get_study_id_from_name(study)
    trials = storage.get_all_trials(sid, deepcopy=False)
    out = Counter(t.state.name for t in trials)
    plan = {SP.key(p) for p in storage.get_study_user_attrs(sid)[SPEC_KEY]["plan"]}
    live = {SP.key(params_of(t)) for t in trials if t.state in LIVE}
    out["planned"] = len(plan)
    out["done"] = len({SP.key(params_of(t)) for t in trials if t.state in DONE} & plan)
    out["errored"] = len({SP.key(params_of(t)) for t in trials if t.state == TrialState.FAIL
                          and "error" in t.user_attrs} & plan - live)
    return dict(out)


def wait_for_spec(storage: RDBStorage, name: str, timeout: float = 0.0) -> list[str]:
    """The search's studies, waiting up to `timeout` seconds for a coordinator to make them."""
    end = time.monotonic() + timeout
    while True:
        names = study_names(storage, name)
        if names or time.monotonic() >= end:
            return names
        time.sleep(0.5)
