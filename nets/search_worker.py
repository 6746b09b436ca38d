"""Search workers: processes that take waiting trials from a storage and run them.

A worker joins every study of one search (`NAME.*`), on this machine or any other that reaches
the storage, and runs trials wherever work is left until every configuration of every study is
COMPLETE or PRUNED. While it runs a trial it beats (the study's heartbeat interval); it fails
trials whose worker stopped beating, which enqueues them again. Each worker trains on one torch
thread by default (two threads per worker on two cores would only fight), or on its own GPU
when `run_workers` starts one per GPU.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna

from core.errors import DlhwError
from nets import search_storage as ST
from nets import search_trial as TR

# Seconds between looks at the queue while others' trials run: from POLL, growing by half
# each time up to POLL_MAX (a short first wait ends a search soon after its last trial;
# the longer ones spare the database while a long trial runs elsewhere).
POLL, POLL_MAX = 0.05, 2.0


class Beat:
    """Records a running trial's heartbeat every `interval` seconds from a thread (None: the
    storage has no heartbeat, so none is recorded)."""

    def __init__(self, storage: optuna.storages.RDBStorage, trial_id: int,
                 interval: int | None):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(storage, trial_id, interval),
                                        daemon=True)

    def _run(self, storage, trial_id: int, interval: int | None) -> None:
        while not self._stop.wait(interval):
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # a database blip: beat again next time (or go stale)
                pass

    def __enter__(self) -> Beat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def work(url: str, name: str, *, data_dir: str | None = None, device: str = "auto",
         precision: str = "auto", threads: int | None = 1, wait: float = 0.0,
         preloaded: Mapping[str, Any] | None = None,
         on_trial: Callable[[dict[str, int]], None] | None = None) -> int:
    """Run trials of the search `name` at `url` until none is left; returns how many ran.

    `threads`: torch threads (None: leave them); `wait`: seconds to wait for the search's
    studies to appear; `preloaded`: study name -> (x, y) already in memory; `on_trial(totals)`
    after each trial (a progress bar).
    """
    from nets import hardware as H

    plain = ST.open_storage(url)
    names = ST.wait_for_spec(plain, name, wait)
    if not names:
        raise ST.SearchError(f"no search {name!r} in {ST.shown(url)} (start it with "
                             f"dlhw run search --storage URL --study {name})")
    # The heartbeat is the study's, so that every worker judges staleness alike.
    storage = ST.open_storage(url, ST.spec_of(plain, names[0])["heartbeat"])
    studies = {n: ST.load(storage, n) for n in names}
    # Every study's data first: a worker with the wrong data fails before it takes a trial.
    data = {n: TR.task_data(n, ST.spec_of(storage, n), data_dir, (preloaded or {}).get(n))
            for n in names}
    _warm()
    old_threads = _set_threads(threads)
    ran = 0
    try:
        with H.session(device, precision):
            H.resolve_device(device)
            delay = POLL
            while True:
                job = _next(storage, name, studies)
                if job is None:
                    if _finished(storage, names, errors_too=True):
                        return _done(storage, name, names, ran)
                    time.sleep(delay)
                    delay = min(POLL_MAX, delay * 1.5)
                    continue
                delay = POLL
                sname, tid = job
                with Beat(storage, tid, storage.get_heartbeat_interval()):
                    TR.run_trial(studies[sname], tid, data[sname])
                ran += 1
                if on_trial:
                    on_trial(_totals(storage, names))
    finally:
        _set_threads(old_threads)


def _warm() -> None:
    """Import what a trial imports on first use (torch.optim's torch._dynamo: seconds on a busy
    machine; scikit-learn's splitters), so that a worker's first trial times its training."""
    import sklearn.model_selection  # noqa: F401
    import torch._dynamo  # noqa: F401

    import nets.train  # noqa: F401


def _done(storage, name: str, names: list[str], ran: int) -> int:
    """`ran`, or an error when configurations failed by an exception (not retried here)."""
    errored = _totals(storage, names)["errored"]
    if errored:
        raise ST.SearchError(f"search {name}: {errored} configuration(s) failed with an error "
                             "(dlhw search status shows them); run the search again to retry")
    return ran


def _set_threads(n: int | None) -> int | None:
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    return old


def _next(storage, name: str, studies: Mapping[str, optuna.Study]) -> tuple[str, int] | None:
    """Under the search's lock, take a waiting trial; when none waits, fail stale trials and
    top the queues up first (reading every trial costs more than taking one)."""
    with ST.exclusive(storage, name):
        for maintain in (False, True):
            for sname, study in studies.items():
                if maintain:
                    ST.fail_stale(study)
                    ST.top_up(storage, sname, retry_errors=False)
                tid = ST.take(storage, study)
                if tid is not None:
                    return sname, tid
    return None


def _totals(storage, names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in names:
        for k, v in ST.counts(storage, n).items():
            out[k] = out.get(k, 0) + v
    return out


def _finished(storage, names: list[str], errors_too: bool = False) -> bool:
    """Every configuration done (`errors_too`: or failed by an exception, nothing left)."""
    t = _totals(storage, names)
    return t["done"] + (t["errored"] if errors_too else 0) == t["planned"]


# ------------------------------------------------------------------ local processes


# What a local worker imports before its first trial (Optuna imports its RDB storage's parts
# lazily: alembic alone takes a second): preloaded once by the fork server, so that each
# worker forked from it starts in a fraction of a second. A module that is missing is skipped.
PRELOAD = ["nets.search_worker", "nets.train", "nets.models", "sklearn.model_selection",
           "torch._dynamo", "optuna.storages._rdb.models", "alembic.migration",
           "alembic.script", "sqlalchemy.orm", "sqlalchemy.dialects.sqlite",
           "sqlalchemy.dialects.postgresql", "psycopg2"]


def prestart() -> None:
    """Start the fork server local workers come from (once per process; it imports PRELOAD in
    the background, so a caller may start it before its own setup)."""
    import multiprocessing.forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the server's torch never trains; workers set theirs
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old


def _worker_main(url: str, name: str, kwargs: dict, threads: int, gpu: int | None) -> None:
    """A local worker process: its GPU (before CUDA starts), `work`, errors in one line."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    ST.checked(url)  # the command that started this worker opened the storage
    try:
        work(url, name, threads=threads, **kwargs)
    except DlhwError as exc:
        raise SystemExit(f"dlhw search worker: error: {exc}") from None


def run_workers(url: str, name: str, n: int, *, data_dir: str | None = None,
                device: str = "auto", precision: str = "auto", threads: int = 1,
                preloaded: Mapping[str, Any] | None = None, progress: bool = True) -> None:
    """Run the search with `n` local workers: in this process when n == 1, else n processes
    (one per GPU when the device is CUDA and there are several). Raises if one failed and the
    search is not done; the storage keeps whatever was done.

    Workers are forked from a fork server (`prestart`), a clean process that has imported
    torch but never trained: a worker forked from this process would fail its first backward
    pass once this process has run one (autograd's threads do not survive a fork), and a
    spawned one spends seconds importing before its first trial, most of a quick search.
    """
    bar = _progress_bar(progress, url, name)
    try:
        if n == 1:
            work(url, name, data_dir=data_dir, device=device, precision=precision,
                 threads=threads, preloaded=preloaded, on_trial=bar)
            return
        prestart()
        gpus = _gpus(device)
        # As arrays: a tensor would travel as a shared-memory handle, numpy by value.
        mem = {k: tuple(np.asarray(a) for a in xy) for k, xy in (preloaded or {}).items()}
        kwargs = {"data_dir": data_dir, "device": device, "precision": precision,
                  "preloaded": mem}
        ctx = multiprocessing.get_context("forkserver")
        procs = [ctx.Process(target=_worker_main, name=f"search-worker-{i}",
                             args=(url, name, kwargs, threads,
                                   gpus[i % len(gpus)] if gpus else None))
                 for i in range(n)]
        for p in procs:
            p.start()
        _supervise(procs, url, name, bar)
    finally:
        if bar:
            bar(None)


def _supervise(procs: list, url: str, name: str, bar) -> None:
    """Wait for the local workers; an error if one failed and the search is not done."""
    storage = ST.open_storage(url)
    names = ST.study_names(storage, name)
    while any(p.is_alive() for p in procs):
        if bar:
            bar(_totals(storage, names))
        multiprocessing.connection.wait([p.sentinel for p in procs if p.is_alive()], 1.0)
    bad = [f"{p.name} exited with {p.exitcode}" for p in procs if p.exitcode]
    if bad and not _finished(storage, names):
        raise ST.SearchError(f"search {name}: {'; '.join(bad)} (see above); run the same "
                             "command again to resume")
    if bad:  # its trials were failed and run again by the others
        print(f"search {name}: {'; '.join(bad)}; the other workers finished its trials",
              file=sys.stderr)


def _gpus(device: str) -> list[int]:
    """The GPU each local worker gets (round robin) when there are several, else none."""
    from nets import hardware as H

    if H.resolve_device(device) != "cuda":
        return []
    import torch

    n = torch.cuda.device_count()
    return list(range(n)) if n > 1 else []


def _progress_bar(progress: bool, url: str, name: str):
    """A tqdm bar of configurations done over all studies (totals -> update; None -> close)."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(desc=f"search {name}", unit="config", leave=False)

    def update(totals: dict[str, int] | None) -> None:
        if totals is None:
            bar.close()
            return
        bar.total = totals["planned"]
        bar.n = totals["done"]
        bar.refresh()

    return update
