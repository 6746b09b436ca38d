"""How a training run's steps are planned and run (nets.steps): the time budget's epochs,
re-planning after the first epoch, the validation subset, probes that leave the run untouched,
and compiling (chosen, timed, or given up for eager steps).

Timings come from a fake clock or a stand-in for the compiled module, so these tests say what
is decided for a given speed, never how fast this machine is.
"""

from __future__ import annotations

import pytest

from nets import hardware as H
from tests.test_partc_hardware import FP32, _toy, fake_clock

torch = pytest.importorskip("torch")


def test_time_budget_cuts_epochs_and_plans_the_schedule_for_them(monkeypatch):
    from nets import steps as S
    from nets import train as T

    S._PLANS.clear()
    clock, _ = fake_clock({FP32: 1.0})  # 16 steps/epoch * 1 s * overhead: 17.6 s/epoch
    monkeypatch.setattr(S, "step_timer", lambda *a, **k: clock)
    built: dict = {}
    one_cycle = torch.optim.lr_scheduler.OneCycleLR

    def spy(opt, **kw):
        built.update(kw)
        return one_cycle(opt, **kw)

    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", spy)
    # What the probe planned, kept (re-planning from the first epoch is tested apart).
    monkeypatch.setattr(S, "replan", lambda plan, cfg, epochs, *a: epochs)
    model, x, y = _toy()
    cfg = T.TrainConfig(epochs=20, batch_size=32, optimizer="momentum", lr=0.1,
                        schedule="onecycle", precision="fp32", channels_last=False,
                        time_budget=100.0, seed=0)
    h = T.fit(model, x, y, cfg, progress=False)
    ep = h.plan["epochs"]
    # The budget holds the probes too: what is left of it after them, at the measured pace.
    planned = H.epochs_that_fit(100.0 - ep["probe_seconds"], 20, 16, 1.0)
    assert 1 <= planned < 20 and ep["probe_seconds"] >= 0
    assert built["epochs"] == planned  # one-cycle anneals fully within the epochs that run
    assert ep["planned"] == planned and ep["cut_by_budget"]
    assert len(h.train_loss) == planned == ep["run"]
    S._PLANS.clear()


def test_replanning_after_the_first_epoch_takes_its_pace():
    from nets import steps as S
    from nets.train import TrainConfig

    cfg = TrainConfig(epochs=30, schedule="onecycle", time_budget=600)
    plan = H.Plan(epochs={"planned": 20})
    # The first epoch took 25 s and ended 40 s into the run (the probes took 15 s).
    assert S.replan(plan, cfg, 20, 1, 25.0, 40.0) == 1 + int(560 // (25 * H.REPLAN_MARGIN))
    assert plan.epochs["replanned"] == 22 and plan.epochs["cut_by_budget"] is True
    assert S.replan(plan, cfg, 20, 1, 40.0, 55.0) == 14  # slower than the probe said
    assert S.replan(plan, cfg, 20, 1, 1.0, 2.0) == 30    # never more than the recipe
    assert S.replan(plan, cfg, 20, 1, 700.0, 710.0) == 1  # the budget is spent: stop
    assert S.replan(plan, TrainConfig(epochs=30), 20, 1, 1.0, 1.0) == 20  # no budget
    cosine = TrainConfig(epochs=30, schedule="cosine", time_budget=600)
    assert S.replan(plan, cosine, 20, 1, 1.0, 1.0) == 20  # only one-cycle is rebuilt


def test_a_run_replans_after_its_first_steady_epoch_and_through_the_warm_up():
    from nets import steps as S

    # 20 epochs: one-cycle warms up over 6.
    assert [e for e in range(20) if S.replans_after(e, 0, 20)] == [0, 1, 2, 3, 4, 5]
    assert [e for e in range(20) if S.replans_after(e, 1, 20)] == [1, 2, 3, 4, 5]  # compiled
    assert [e for e in range(4) if S.replans_after(e, 0, 4)] == [0]


def test_a_replanned_run_anneals_its_one_cycle_fully(monkeypatch):
    """The probe (a fake clock: 1 s a step) plans one epoch; the first real epoch is far
    faster, so the run re-plans to the recipe's 4 epochs and rebuilds the schedule from where
    it is: the last step ends at one-cycle's final learning rate, no step beyond it."""
    from nets import steps as S
    from nets import train as T

    S._PLANS.clear()
    clock, _ = fake_clock({FP32: 1.0})
    monkeypatch.setattr(S, "step_timer", lambda *a, **k: clock)
    built = []
    one_cycle = torch.optim.lr_scheduler.OneCycleLR
    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR",
                        lambda opt, **kw: built.append(one_cycle(opt, **kw)) or built[-1])
    model, x, y = _toy()
    cfg = T.TrainConfig(epochs=4, batch_size=32, optimizer="nesterov", lr=0.1,
                        schedule="onecycle", precision="fp32", channels_last=False,
                        time_budget=30.0, device="cpu", seed=0)
    h = T.fit(model, x, y, cfg, progress=False)
    ep = h.plan["epochs"]
    assert (ep["planned"], ep["replanned"], ep["run"], len(h.train_loss)) == (1, 4, 4, 4)
    sched = built[-1]
    assert len(built) == 2 and sched.total_steps == sched.last_epoch == 4 * 16
    # Where a schedule planned for 4 epochs from the start ends.
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    planned = one_cycle(opt, max_lr=0.1, epochs=4, steps_per_epoch=16)
    for _ in range(4 * 16):
        opt.step()
        planned.step()
    assert sched.get_last_lr()[0] == pytest.approx(planned.get_last_lr()[0])
    S._PLANS.clear()


def test_validation_each_epoch_can_use_a_subset():
    from nets import train as T

    model, x, y = _toy(256)
    cfg = T.TrainConfig(epochs=2, batch_size=64, optimizer="adam", lr=1e-3, val_images=1,
                        precision="fp32", device="cpu", seed=0)
    h = T.fit(model, x, y, cfg, x[:100], y[:100], progress=False)
    assert len(h.val_acc) == 2 and set(h.val_acc) <= {0.0, 1.0}  # one image: right or wrong


def test_probing_leaves_the_run_bit_identical():
    """The probe trains deep copies of the model: the run's numbers cannot depend on it."""
    from nets import steps as S
    from nets import train as T

    S._PLANS.clear()
    states = []
    for budget in (None, 1e6):  # a budget forces the real probe even with one candidate
        model, x, y = _toy(256)
        cfg = T.TrainConfig(epochs=2, batch_size=32, optimizer="adam", lr=1e-3, augment=True,
                            precision="fp32", channels_last=False, time_budget=budget, seed=3,
                            device="cpu")  # a GPU's autotuned kernels are not bit-stable
        h = T.fit(model, x, y, cfg, progress=False)
        assert h.plan["how"] == ("measured" if budget else "fixed: one candidate")
        states.append(model.state_dict())
    for k, v in states[0].items():
        assert torch.equal(v, states[1][k]), k
    S._PLANS.clear()


def test_a_failing_torch_compile_falls_back_to_eager_with_the_same_weights(monkeypatch):
    """Where compiling was chosen (a long GPU run, or asked for) or is being timed (a long CPU
    run) but the toolchain is missing, the first compiled step fails while compiling; the run
    goes on eager, bit-identical to an eager run, and the plan says why."""
    from nets import steps as S
    from nets import train as T

    class Uncompilable(torch.nn.Module):  # what torch.compile gives without Triton
        def forward(self, x):
            raise RuntimeError("Cannot find a working triton installation")

    S._PLANS.clear()
    monkeypatch.setattr(torch, "compile", lambda m, **kw: Uncompilable())
    monkeypatch.setattr(H, "cpu_compiler", lambda: "/usr/bin/g++")
    plans, states = [], []
    for choice in ("compile", "measure", "eager"):
        monkeypatch.setattr(H, "compile_choice", lambda *a, c=choice, **k: (c, "test"))
        model, x, y = _toy(256)
        cfg = T.TrainConfig(epochs=2, batch_size=32, optimizer="adam", lr=1e-3,
                            precision="fp32", channels_last=False, time_budget=1e6,
                            device="cpu", seed=3)  # the budget forces the probe's timings
        plans.append(T.fit(model, x, y, cfg, progress=False).plan)
        states.append(model.state_dict())
    for plan in plans[:2]:
        assert plan["compile"] is False and "triton" in plan["compile_error"]
    assert plans[2]["compile"] is False and plans[2]["compile_error"] == ""
    for state in states[:2]:
        for k, v in state.items():
            assert torch.equal(v, states[2][k]), k
    S._PLANS.clear()


def test_compile_choice_measures_only_long_cpu_runs_with_a_compiler(monkeypatch):
    monkeypatch.setattr(H, "cpu_compiler", lambda: "/usr/bin/g++")
    assert H.compile_choice("cpu", 600.0)[0] == "measure"
    assert H.compile_choice("cpu", H.CPU_COMPILE_PROBE_SECONDS / 2)[0] == "eager"
    assert H.compile_choice("cpu", 600.0, asked=False)[0] == "eager"
    assert H.compile_choice("cpu", 1.0, asked=True)[0] == "compile"
    assert H.compile_choice("cuda", 35.0)[0] == "eager"   # the H200's reference run
    assert H.compile_choice("cuda", 1000.0)[0] == "compile"
    monkeypatch.setattr(H, "cpu_compiler", lambda: None)
    action, why = H.compile_choice("cpu", 1e6, asked=True)
    assert action == "eager" and "compiler" in why
    assert H.compiled_wins(0.100, 0.090) and not H.compiled_wins(0.100, 0.098)


def test_timing_compiled_steps_keeps_the_faster_and_restores_the_weights(monkeypatch):
    """The CPU's compile probe, with a stand-in for the compiled module that runs the model
    itself (no C++ compiler needed): the probe times both, records them, restores the model it
    trained, keeps the compiled module where it wins (compiled for the last, smaller batch too,
    before training) and not where it loses; either way the weights are an eager run's."""
    from nets import steps as S
    from nets import train as T

    S._PLANS.clear()
    compiled_calls: list[int] = []

    class Stand(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            compiled_calls.append(len(x))
            return self.m(x)

    monkeypatch.setattr(torch, "compile", lambda m, **kw: Stand(m))
    states, plans, calls = [], [], []
    for choice, wins in (("measure", True), ("measure", False), ("eager", None)):
        monkeypatch.setattr(H, "compile_choice", lambda *a, c=choice, **k: (c, "test"))
        monkeypatch.setattr(H, "compiled_wins", lambda *a, w=wins: w)
        model, x, y = _toy(250)  # 7 batches of 32 and one of 26
        cfg = T.TrainConfig(epochs=2, batch_size=32, optimizer="momentum", lr=0.05,
                            precision="fp32", channels_last=False, time_budget=1e6,
                            device="cpu", seed=1)
        plans.append(T.fit(model, x, y, cfg, progress=False).plan)
        calls.append(list(compiled_calls))
        compiled_calls.clear()
        states.append(model.state_dict())
    for plan in plans[:2]:
        probe = plan["compile_probe"]
        assert len(probe["compiled"]) == len(probe["eager"]) == 3
        assert probe["compile_seconds"] >= 0 and plan["compile_how"].startswith("measured")
    assert [p["compile"] for p in plans] == [True, False, False]
    # Probe: 1 + 3 steps; then the tail batch; then 2 epochs of 8 batches, all compiled.
    assert calls[0] == [32] * 4 + [26] + ([32] * 7 + [26]) * 2
    assert calls[1] == [32] * 4 and calls[2] == []
    for state in states[:2]:
        for k, v in state.items():
            assert torch.equal(v, states[2][k]), k
    S._PLANS.clear()
