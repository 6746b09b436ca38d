"""Part C studies: each one is a run folder with metrics.json, config.json and PNG figures.

One module per study (regression.py ... viz.py), each exporting a `Study`: its name, help line,
run function and figures with captions. `STUDIES` below is the one list of them: `dlhw run`,
`dlhw references` and the handout read it. A new study is a module with a `STUDY` and a line
here. Every study takes a seed (all randomness flows from it), `epochs` (None: the study's
default) and `quick` (small subsets and few epochs: the tests' version; its figures are not
references). config.json holds the resolved configuration of every training run in the study,
so a run can be repeated exactly; metrics.json holds flat, dotted, stable metric ids (each
module's docstring lists its own), which students report under the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# The thread policy's environment must be set before torch loads libgomp, and every study
# module imports torch: importing this package is what sets it (the CLI, the handout, the
# benchmarks and the tests alike). `run_study` then sets torch's own thread count.
from nets.hardware import prepare_env

prepare_env()

from nets import hardware as H  # noqa: E402
from nets.studies import (  # noqa: E402
    fashion,
    init,
    optimizers,
    regression,
    regularization,
    search,
    viz,
)
from nets.studies.common import Figure, Study  # noqa: E402

STUDIES: tuple[Study, ...] = (
    regression.STUDY,
    optimizers.STUDY,
    regularization.STUDY,
    init.STUDY,
    fashion.STUDY,
    search.STUDY,
    viz.STUDY,
)
BY_NAME: dict[str, Study] = {s.name: s for s in STUDIES}

__all__ = ["BY_NAME", "STUDIES", "Figure", "Study", "run_all", "run_study"]


def run_study(name: str, out: str | Path, seed: int = 0, epochs: int | None = None,
              quick: bool = False, progress: bool = True, data_dir: str | None = None,
              device: str = "auto", precision: str = "auto",
              time_budget: float | None = None,
              search: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run one study by name into `out`; returns its metrics.

    Sets torch's threads by the policy (nets.hardware). Every training run in it uses `device`
    and `precision` (auto: chosen by what this machine does, see nets.hardware); `time_budget`
    applies to the studies that take one (the fashion study's reference CNN), `search` (storage,
    study, workers, heartbeat, prune) to the distributed one (nets.studies.search).
    """
    H.set_threads()
    study = BY_NAME[name]
    kwargs: dict[str, Any] = {"seed": seed, "epochs": epochs, "quick": quick,
                              "progress": progress, "data_dir": data_dir}
    if study.time_budget:
        kwargs["time_budget"] = time_budget
    if study.distributed:
        kwargs.update({k: v for k, v in (search or {}).items() if v is not None})
    with H.session(device, precision):
        H.resolve_device(device)  # --device cuda without a GPU: one clear error, before work
        return study.run(out, **kwargs)


def run_all(runs_dir: str | Path, seed: int = 0, quick: bool = False, progress: bool = True,
            data_dir: str | None = None, partb: bool = False,
            report: Callable[[str, Path, dict[str, Any]], None] | None = None,
            **kwargs: Any) -> dict[str, dict[str, Any]]:
    """Every study (and Part B's run first when `partb`), each into runs_dir/<name>.

    `kwargs` go to `run_study` (epochs, device, precision, time_budget); `report(name, folder,
    metrics)` is called as each run ends. Returns name -> metrics.
    """
    runs_dir = Path(runs_dir)
    done: dict[str, dict[str, Any]] = {}
    if partb:
        from nets.partb import run_partb

        done["partb"] = run_partb(seed=seed, out=runs_dir / "partb", progress=progress).metrics
        if report:
            report("partb", runs_dir / "partb", done["partb"])
    for study in STUDIES:
        out = runs_dir / study.name
        done[study.name] = run_study(study.name, out, seed=seed, quick=quick, progress=progress,
                                     data_dir=data_dir, **kwargs)
        if report:
            report(study.name, out, done[study.name])
    return done
