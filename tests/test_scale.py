"""Many models cheaply: bundles sized by their tasks' fixed costs, members trained in compiled
steps of one size, a bundle evaluated in one vectorized pass, and an estimate that matches."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from support import smoke_raw

from tasks.study.bundles import make_bundles, task_size
from tasks.study.config import parse_config
from tasks.study.costs import DEFAULTS, FIXED_SHARE, Costs, members_for_fixed_share, task_fixed
from tasks.study.estimate import sweep_seconds
from tasks.study.plan import make_plan
from tasks.study.rates import arch_shape

SLOW_TASKS = replace(DEFAULTS, task=(0.5, 1e-6))  # bundle tasks of half a second each besides their models' work


def plan_of(seeds: int, steps: int, ranges: int = 2):
    raw = smoke_raw({"seeds": {"count": seeds}, "training.steps": steps, "training.log_every": steps})
    raw["train_ranges"] = [[0, 1 + i] for i in range(ranges)]
    return make_plan(parse_config(raw))


def test_short_training_gets_large_bundles_of_whole_steps():
    plan = plan_of(seeds=8000, steps=20)  # 16,000 models, 20 steps each: a task's fixed cost would dominate
    arch = plan.config.architectures[0]
    bundles = make_bundles(plan, list(plan.models), 2, measured={arch: 16}, costs=SLOW_TASKS)
    sizes = [len(b.models) for b in bundles]
    assert sum(sizes) == len(plan.models) and len({b.bundle_id for b in bundles}) == len(bundles)
    assert {b.step_size for b in bundles} == {16}  # trained 16 at a time, whatever the bundle's size
    assert min(sizes) > 16 and all(n % 16 == 0 for n in sizes[:-1])  # whole steps; only the last may be partial
    assert len(bundles) % 2 == 0  # whole rounds over the 2 slots
    # each task's fixed cost is at most 10% of it, at the rates it was sized with
    from tasks.study.rates import test_rows, train_seconds

    train, source = train_seconds(plan, arch, list(plan.models), SLOW_TASKS, None, 16)
    assert source == "rate assumed"
    model = train + SLOW_TASKS.task[1] * test_rows(plan, plan.models[0])
    fixed = task_fixed(SLOW_TASKS)
    assert all(fixed <= FIXED_SHARE * (fixed + n * model) + 1e-9 for n in sizes[:-1])
    assert len(bundles) < len(plan.models) / 16 / 10  # ten times fewer tasks than steps, at least


def test_long_training_keeps_the_calibrated_size():
    plan = plan_of(seeds=200, steps=200_000)
    arch = plan.config.architectures[0]
    bundles = make_bundles(plan, list(plan.models), 2, measured={arch: 16}, costs=SLOW_TASKS)
    assert max(len(b.models) for b in bundles) == 16 and {b.step_size for b in bundles} == {16}
    assert len(bundles) >= len(plan.models) / 16


def test_large_bundles_still_spread_over_every_slot():
    plan = plan_of(seeds=50, steps=10, ranges=1)  # 50 models: fixed costs alone would want one bundle
    arch = plan.config.architectures[0]
    huge = replace(SLOW_TASKS, task=(1000.0, 1e-6))
    for slots in (2, 3, 8):
        bundles = make_bundles(plan, list(plan.models), slots, measured={arch: 4}, costs=huge)
        assert len(bundles) >= slots and sum(len(b.models) for b in bundles) == 50
    assert task_size(step=4, n_models=50, slots=2, fixed=1000.0, model=1e-3) == 25
    assert task_size(step=4, n_models=50, slots=2, fixed=0.0, model=1e-3) == 4  # nothing fixed: the step
    assert members_for_fixed_share(fixed=1.0, model=0.01) == 900  # 1 s ≤ 10% of (1 s + 900 × 10 ms)


def test_short_training_trains_more_members_per_compiled_step():
    """A step's calls cost their overhead at every log point whatever its size: with few
    steps to train, a larger calibrated size than the fastest one wins."""
    from tasks.study.bundles import step_for_short_training

    sweep = {"4": 60_000.0, "8": 100_000.0, "128": 90_000.0}
    assert step_for_short_training(sweep, 8, 10_000, steps=20, logs=2, overhead=0.005) == 128
    assert step_for_short_training(sweep, 8, 10_000, steps=1e6, logs=1000, overhead=0.005) == 8
    assert step_for_short_training(sweep, 8, 50, steps=20, logs=2, overhead=0.005) == 8  # 128 would idle a slot


def test_explicit_bundle_size_is_the_task_and_the_step():
    raw = smoke_raw({"seeds": {"count": 30}, "training.steps": 20, "training.log_every": 20, "training.bundle_size": 7})
    plan = make_plan(parse_config(raw))
    bundles = make_bundles(plan, list(plan.models), 2, costs=SLOW_TASKS)
    assert max(len(b.models) for b in bundles) <= 7 and {b.step_size for b in bundles} == {7}


def test_members_trained_in_steps_equal_one_step(tf):
    """Members of a bundle trained 3 at a time (the last step padded with copies whose results
    are dropped) end where training them in one step ends."""
    from tasks.model import registry
    from tasks.model.chunked import step_slices, train_in_steps
    from tasks.model.settings import TrainingConfig
    from tasks.model.trainer import BundleData

    assert [s.tolist() for s in step_slices(7, 3)] == [[0, 1, 2], [3, 4, 5], [6, 6, 6]]
    assert [s.tolist() for s in step_slices(3, 8)] == [[0, 1, 2]]
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 2, (2, 2000, 2)).astype(np.float32)
    training = TrainingConfig("adam", 0.01, 16, 60, "mean", 20, 10_000, "last", None)
    seeds, ds = [3, 5, 8, 13, 21, 34, 55], [0, 0, 0, 1, 1, 1, 1]
    probes = rng.uniform(0, 4, (3, 50, 2)).astype(np.float32)
    index = np.array([[0, 1], [0, 1], [0, 1], [2, 1], [2, 1], [2, 1], [2, -1]])

    def data() -> BundleData:
        return BundleData(ds, [2000], lambda w: rows, rows[:, :300], probes, index)

    mlp = registry.get("mlp")
    whole = train_in_steps(mlp, {"hidden": [8], "activation": "relu"}, training, seeds, data())
    steps = train_in_steps(mlp, {"hidden": [8], "activation": "relu"}, training, seeds, data(), step_size=3)
    for name, w in whole.weights.items():
        assert steps.weights[name].shape == w.shape
        np.testing.assert_allclose(steps.weights[name], w, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(steps.val_mse, whole.val_mse, rtol=1e-4)
    np.testing.assert_allclose(steps.probe_mse, whole.probe_mse, rtol=1e-4)
    assert np.isnan(steps.probe_mse[:, 6, 1]).all()  # the last member watches one set only
    np.testing.assert_array_equal(steps.log_steps, whole.log_steps)
    assert steps.train_mse.shape == whole.train_mse.shape == (3, 7)


def test_a_bundle_is_evaluated_in_one_pass_like_each_member_alone(tf):
    """Members of two training ranges (different test sets) in one bundle: every row is the
    row the member gets evaluated alone."""
    import pandas as pd

    from tasks.evaluation.evaluate import evaluate_models
    from tasks.model import registry
    from tasks.model.trainer import init_weights
    from tasks.study.bundles import make_eval_job

    plan = plan_of(seeds=3, steps=10)
    arch = plan.config.architectures[0]
    unit = registry.get(arch.arch)
    models = plan.models
    weights = init_weights(unit, arch.params, [m.seed for m in models], 2)
    rng = np.random.default_rng(1)
    tests = {d: rng.uniform(0, 20, (300, 2)).astype(np.float32) for d in plan.datasets}
    together, diagonal = evaluate_models(unit, arch.params, weights, make_eval_job("b", models, plan.config), tests)
    alone = []
    for k, m in enumerate(models):
        job = make_eval_job("b", (m,), plan.config)
        metrics, _ = evaluate_models(unit, arch.params, {n: w[[k]] for n, w in weights.items()}, job, tests)
        alone.append(metrics.to_pandas())
    key = ["model_id", "eval_kind", "eval_range"]
    got = together.to_pandas().sort_values(key, ignore_index=True)
    want = pd.concat(alone).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, want, rtol=1e-6)
    assert len(got) == len(models) * (len(models[0].evals) + len(plan.config.evaluation.diagonal.segments))
    assert diagonal.num_rows == len(models) * plan.config.evaluation.diagonal.points


def test_costs_learned_from_runs_and_cached_per_node(tmp_path, monkeypatch):
    from tasks.study import costs as costs_module
    from tasks.study.observe import fit_line, observe_run

    monkeypatch.setenv("MLAB_CACHE_DIR", str(tmp_path))
    assert costs_module.load_costs(kind="a node") == DEFAULTS  # never measured: the defaults
    assert fit_line([[10, 3.0]], 0.1) == (2.0, 0.1)  # one size: the default slope, its fixed part
    fixed, slope = fit_line([[10, 3.0], [100, 12.0]], 0.1)  # two sizes tell them apart
    assert fixed == pytest.approx(2.0) and slope == pytest.approx(0.1)

    def task(models: int, total: float, train: float) -> dict:
        seconds = {"total": total, "train": train, "dispatch": 0.5, "setup": 3.0, "compile": 0.1}
        facts = {"models": models, "test_rows": 650, "trained": True, "queued": False, "steps": 100}
        step = {"shape": "s", "step": 16, "watch": 1.1, "train_cpus": 1, "logs": 2, "rate_ref": 0.0}
        return {**seconds, **facts, **step, "model_steps_per_s": 5e4}

    phases = {"ray": 4.0, "report": 2.0, "data": 1.0}
    small = observe_run(DEFAULTS, [], phases, [task(100, 2.0, 1.0), task(100, 2.2, 1.2)], (10, 1000), 2)
    assert small.start == 4.0 and small.report == (pytest.approx(2.0 - DEFAULTS.report[1]), DEFAULTS.report[1])
    assert small.worker == 3.5
    warm = {**task(100, 2.0, 1.0), "setup": 0.01}  # a calibration had started the worker
    assert observe_run(small, [], phases, [warm], None, 2).worker == 3.5  # the slowest of recent runs
    assert small.rates == {"s": {"16": pytest.approx(5.5e4)}}  # as if unwatched
    assert small.task == (pytest.approx(1.0 - DEFAULTS.task[1] * 65_000), DEFAULTS.task[1])  # one size: its mean
    assert {"start", "report", "task", "worker", "rates", "shard"} <= set(small.measured)
    large = observe_run(small, [], phases, [task(1000, 12.0, 10.0)], None, 2)  # a study of larger bundles
    assert large.task == (pytest.approx(1.0 - 1 / 9, rel=1e-6), pytest.approx(1 / 9 / 65_000, rel=1e-6))
    png_only = observe_run(DEFAULTS, [], phases, [], None, 2, report_weight=costs_module.report_weight(()))
    learned = png_only.report[0] + png_only.report[1]  # one panel: the all-format report it stands for
    assert learned == pytest.approx(2.0 / costs_module.report_weight(()))
    assert costs_module.report_seconds(png_only, 1, 1, ()) == pytest.approx(2.0)  # what a PNG-only report takes
    assert costs_module.report_seconds(png_only, 1, 1, ("svg", "pdf")) == pytest.approx(learned)
    # a task resumed at step 80 of 100 trained 20 steps in its 1.2 s: 100 models × 20 steps at
    # 5e4 model-steps/s (its rate as if unwatched: 5.5e4 / 1.1) is 0.04 s, the rest its warm-up
    resumed = {**task(100, 2.0, 1.2), "resumed_at": 80.0, "rate_ref": 5.5e4}
    # beyond those steps: 1.16 s (not 1.2 − 100 × 100 / 5e4), but never more than its first call
    after_resume = observe_run(DEFAULTS, [], phases, [resumed], None, 2)
    assert after_resume.compiles == {"s": pytest.approx(0.1)}
    assert after_resume.task == DEFAULTS.task  # a resumed task alone teaches no fixed cost (nor a nan)
    known = replace(DEFAULTS, rates={"s": {"16": 5.5e4}})  # its first call too long for a rate of its own
    slow_first = observe_run(known, [], phases, [{**resumed, "compile": 5.0}], None, 2)
    assert slow_first.compiles == {"s": pytest.approx(1.2 - 100 * 20 / 5e4)}
    per_call = (1.2 - 0.1 - 100 * 20 * 1.1 / 5.5e4) / (7 * 2 * 0.2)  # 7 calls of 16 per log point, 0.2 of 2 logs
    assert after_resume.steps == {"s": pytest.approx(per_call)} and after_resume.step == DEFAULTS.step  # its shape's
    assert after_resume.step_of("s") == pytest.approx(per_call) and after_resume.step_of("other") == DEFAULTS.step
    costs_module.store_costs(large, kind="a node")
    assert costs_module.load_costs(kind="a node") == large
    assert costs_module.load_costs(kind="another node") == DEFAULTS
    older = costs_module.from_json({"task": 0.15, "start": 3.0, "measured": ["start", "task"]})  # task was a number
    assert older.task == DEFAULTS.task and older.start == 3.0 and older.measured == ("start",)
    shared = costs_module.from_json({"step": 1.7, "measured": ["step"]})  # once learned over every shape at once
    assert shared.step == DEFAULTS.step and shared.measured == ()
    # each architecture's reduce teaches its own seconds (fixed, per model)
    reduced = observe_run(DEFAULTS, [[1000, 2.0], [4000, 5.0]], phases, [], None, 2)
    assert reduced.reduce == (pytest.approx(1.0), pytest.approx(1e-3)) and "reduce" in reduced.measured
    costs_module.store_costs(reduced, kind="a node")
    assert costs_module.load_costs(kind="a node").reduce == reduced.reduce
    waited = costs_module.from_json({"summarise": [0.002, 1e-7], "measured": ["summarise"]})  # once: the wait after
    assert waited.reduce == DEFAULTS.reduce and waited.measured == ()  # the last bundle, not the reduce


def test_the_reduces_share_the_slots_and_the_last_one_follows_the_bundles():
    """A 100k-model study's reduces took 16 s each for 33,340 models (AMD Zen 5, 2026-12-02)
    while the estimate counted none of it (−39%): each one but the last shares the slots with
    the bundles still training, the last one runs after them."""
    from tasks.study.estimate import estimate

    raw = smoke_raw(
        {"seeds": {"count": 40}, "architectures": [{"arch": "mlp", "hidden": [4]}, {"arch": "mlp", "hidden": [6]}]}
    )
    plan = make_plan(parse_config(raw))
    free = replace(DEFAULTS, reduce=(0.0, 0.0), history={"reduce": [[80.0, 0.0]]})
    costly = replace(DEFAULTS, reduce=(1.0, 0.5), history={"reduce": [[80.0, 41.0]]})  # 80 models: 41 s each
    without, with_reduces = estimate(plan, 2, costs=free), estimate(plan, 2, costs=costly)
    assert without.phases["summarise"] == 0.0 and with_reduces.phases["summarise"] == pytest.approx(41.0)
    assert with_reduces.phases["bundles"] == pytest.approx(without.phases["bundles"] + 41.0 / 2)  # over 2 slots
    assert with_reduces.seconds == pytest.approx(without.seconds + 41.0 / 2 + 41.0)


def test_a_per_model_reduce_cost_learned_from_small_reduces_is_not_stretched_to_large_ones():
    """Reduces of a few dozen models are fixed cost and scatter: the slope fitted to them (here
    tens of ms per model) stands for reduces up to 10× the largest measured; a 4,000-model
    reduce (3–5 s on an Intel Xeon) gets the default per-model cost instead of minutes. Once
    large reduces are measured, their line is used."""
    from tasks.study.estimate import reduce_seconds
    from tasks.study.observe import fit_line

    small = [[4.0, 1.2], [15.0, 2.0], [5.0, 1.5], [45.0, 2.3], [2.0, 1.1]]
    learned = replace(DEFAULTS, reduce=fit_line(small, DEFAULTS.reduce[1]), history={"reduce": small})
    fixed, slope = learned.reduce
    assert slope > 0.01  # the scatter, read as a per-model cost
    assert reduce_seconds(learned, 450) == pytest.approx(fixed + slope * 450)
    assert reduce_seconds(learned, 4000) == pytest.approx(fixed + DEFAULTS.reduce[1] * 4000)
    assert reduce_seconds(learned, 4000) < 5.0
    large = [*small, [4000.0, 4.4], [33340.0, 26.9], [4000.0, 3.7]]
    taught = replace(DEFAULTS, reduce=fit_line(large, DEFAULTS.reduce[1]), history={"reduce": large})
    assert reduce_seconds(taught, 100_000) == pytest.approx(taught.reduce[0] + taught.reduce[1] * 100_000)
    assert 4e-4 < taught.reduce[1] < 1e-3


def test_a_calibration_sweep_is_estimated_at_what_this_nodes_recent_sweeps_took():
    """A 12k-model study's first estimate on an Intel Xeon (2026-12-02) counted a fixed 45 s per
    architecture and slot wave for its calibrations, which took 40 s in all: a node's sweeps
    are learned (the median of recent runs' sweeps, so one slow sweep does not set it) and the
    estimate of architectures it has not calibrated yet counts that."""
    from tasks.study.estimate import estimate
    from tasks.study.observe import observe_run

    first = observe_run(DEFAULTS, [], {}, [], None, 2, sweeps=[12.0])
    assert first.sweep == 12.0 and "sweep" in first.measured
    later = observe_run(first, [], {}, [], None, 2, sweeps=[30.0, 14.0])
    assert later.sweep == 14.0  # the median of 12, 30 and 14
    assert observe_run(later, [], {}, [], None, 2).sweep == 14.0  # a run that swept nothing changes nothing
    plan = plan_of(seeds=8000, steps=20, ranges=2)
    waves = -(-len(plan.config.architectures) // 2)
    at_default = estimate(plan, 2, costs=DEFAULTS, calibrations={}).phases["measure"]
    learned = estimate(plan, 2, costs=later, calibrations={}).phases["measure"]
    shape = arch_shape(plan, plan.config.architectures[0])
    assert at_default - learned == pytest.approx((sweep_seconds(DEFAULTS, shape) - 14.0) * waves) and learned > 0


def test_before_any_sweep_a_sweep_is_estimated_from_its_shape():
    """A node that never calibrated estimates a sweep as what one does: each candidate size
    compiled once (at this node's compile time for that shape, where a study measured it) and
    every measurement's model-steps at the assumed rate — not a fixed figure (the 45 s once
    assumed for every shape took 17–23 s for the 12k study's MLPs on an Intel Xeon)."""
    from tasks.model.calibration import CANDIDATES, LEADERS, REFINED, WORK_PER_CANDIDATE
    from tasks.study.estimate import BENCH_MODEL_STEPS_PER_S_PER_CPU, estimate

    plan = plan_of(seeds=8000, steps=20, ranges=2)
    shape = arch_shape(plan, plan.config.architectures[0])
    sizes = len(CANDIDATES["cpu"]) + REFINED
    timed = (sizes + LEADERS) * WORK_PER_CANDIDATE / BENCH_MODEL_STEPS_PER_S_PER_CPU
    assert sweep_seconds(DEFAULTS, shape) == pytest.approx(sizes * DEFAULTS.compile + timed)
    slow = replace(DEFAULTS, compiles={arch_shape(plan, a): 10.0 for a in plan.config.architectures})
    assert sweep_seconds(slow, shape) == pytest.approx(sizes * 10.0 + timed)  # this node compiles them slowly
    assert sweep_seconds(slow, "a shape it never compiled") == sweep_seconds(DEFAULTS, shape)
    waves = -(-len(plan.config.architectures) // 2)
    fast = estimate(plan, 2, costs=DEFAULTS, calibrations={}).phases["measure"]
    slower = estimate(plan, 2, costs=slow, calibrations={}).phases["measure"]
    assert slower - fast == pytest.approx(sizes * (10.0 - DEFAULTS.compile) * waves)


def test_reading_the_training_rows_is_learned_per_byte_apart_from_the_task_line():
    """An ICLR task reads a 400 MB window (2.9 s on AMD Zen 5) where a small study's task reads
    kilobytes: that reading is a line of its own over bytes, and the task line (fixed + per
    member × test row) is fitted to what is left."""
    from tasks.study.costs import read_seconds
    from tasks.study.observe import observe_run

    def task(read_bytes: float, read: float) -> dict:
        facts = {"models": 2, "test_rows": 1000, "trained": True, "queued": False, "steps": 100, "shape": "s"}
        seconds = {"total": 1.0 + read, "train": 0.5, "read": read, "dispatch": 0.0, "setup": 0.0, "compile": 0.0}
        return {**facts, **seconds, "read_bytes": read_bytes, "step": 2, "watch": 1.0, "logs": 1, "rate_ref": 0.0}

    learned = observe_run(DEFAULTS, [], {}, [task(4e8, 2.05), task(4e6, 0.07)], None, 2)
    assert learned.read == (pytest.approx(0.05, abs=0.01), pytest.approx(5e-9, rel=0.05))
    assert learned.history["work"] == [[2000.0, pytest.approx(0.5)]]  # the rest of both tasks: 0.5 s
    assert read_seconds(learned, 4e8) == pytest.approx(2.05, rel=0.05)
    assert read_seconds(learned, 0.0) == 0.0  # fresh batches: nothing to read


def test_a_few_tasks_of_another_kind_do_not_set_the_line_for_all():
    """Tasks of recent studies share one line (fixed + per member × test row): three that read
    a large window (9 s besides training at 40,000 member-rows) among twelve small ones leave
    the small ones' line as it is; a least-squares fit moved the fixed part to about 2 s."""
    from tasks.study.observe import fit_line

    small = [[x, 0.3 + 1e-6 * x] for x in np.geomspace(6_400, 1_000_000, 12)]
    window = [[40_000.0, 9.0], [40_000.0, 8.7], [160_000.0, 6.1]]
    fixed, slope = fit_line(small + window, 1e-6)
    assert fixed == pytest.approx(0.3, abs=0.05) and slope == pytest.approx(1e-6, rel=0.2)
    ls_slope, ls_fixed = np.polyfit(*np.array(small + window).T, 1)
    assert ls_fixed > 1.0 or ls_slope < 0  # what least squares made of the same points


def test_a_resumed_task_teaches_no_fixed_cost():
    """A task resumed from a checkpoint reports the training seconds of every period but its
    total of this one: its "seconds besides training" would be negative (−3,422 s in a real
    cache, which then drove the fitted fixed cost to 0 and a 100k study into 2,218 tasks)."""
    from tasks.study.observe import remember_tasks

    history = {"work": [[10.0, -3422.0], [20.0, 0.5]]}  # an older cache kept such a point
    resumed = {"models": 2, "test_rows": 5, "total": 1.0, "train": 5000.0, "resumed_at": 10.0}
    fresh = {"models": 1, "test_rows": 10, "total": 2.0, "train": 1.5}
    assert remember_tasks(history, [resumed, fresh]) == [[20.0, 0.5], [10.0, 0.5]]


def test_a_rate_measured_in_studies_at_one_step_size_carries_to_another():
    """A shape trained in studies at 2 per step runs at what its tasks measured there, scaled
    to 1 per step by the calibration's ratio (what a study adds to the calibration's
    arithmetic carries over), not at the calibration's own rate plus assumed overheads."""
    from tasks.model.calibration import Calibration
    from tasks.study.rates import unwatched_rate

    sweep = {"1": 80_000.0, "4": 60_000.0, "16": 40_000.0}
    calibration = Calibration("k", 1, 80_000.0, sweep, "cpu", 1.0)
    costs = replace(DEFAULTS, rates={"s": {"4": 30_000.0}})
    rate, source = unwatched_rate(costs, calibration, "s", 1)
    assert rate == pytest.approx(30_000.0 * 80_000 / 60_000) and source.startswith("rate measured")
    assert unwatched_rate(costs, calibration, "s", 5)[0] == 30_000.0  # within 1.5×: as measured
    assert unwatched_rate(costs, calibration, "t", 1) == (80_000.0, "rate calibrated here")  # never in a study


@pytest.mark.usefixtures("ray_session")
def test_the_estimate_of_a_small_study_matches_its_run(tmp_path, monkeypatch):
    """The dry run's estimate of a study, at the costs and calibrations the study itself
    recorded, is within 25% of the time the study took. Measured and estimated under the
    same load, this holds on a busy machine: what it checks is that the estimate accounts
    for every phase of a run (start, data, workers and compilation, the bundle tasks over the
    slots, the reduce, results, report), not how fast this machine is. On a node that has
    measured nothing yet (its own cache): the suite's other studies — killed, resumed,
    rebuilt on purpose — would otherwise be the history its costs are fitted to."""
    from tasks.pipeline import run_study
    from tasks.store.outputs import open_output
    from tasks.study.costs import from_json
    from tasks.study.estimate import estimate

    monkeypatch.setenv("MLAB_CACHE_DIR", str(tmp_path / "node-cache"))
    raw = smoke_raw({"seeds": {"count": 24}, "training.steps": 1500, "training.log_every": 500})
    plan = make_plan(parse_config(raw))
    result = run_study(plan, open_output(str(tmp_path / "out")))
    # the calibration and cost measurement ran because this node had none; the estimate is
    # given what they found (so it plans no measurement): compare the rest of the run
    measured = sum(s for phase, s in result.info["phases"].items() if phase != "measure")
    recorded: Costs = from_json(result.info["costs"])
    est = estimate(plan, 2, costs=recorded, calibrations=calibrations_recorded(plan, result.info))
    study = est.seconds - est.phases["launch/stop"]  # run here, not as a command of its own
    assert study == pytest.approx(measured, rel=0.25), (est.phases, result.info["phases"])
    assert {"start", "data", "workers", "bundles", "report"} <= set(est.phases) and est.phases["measure"] == 0
    assert result.info["phases"]["measure"] > 0  # this node measured, and the run says how long
    swept = [c["seconds"] for c in result.info["calibration"].values() if isinstance(c, dict)]
    assert swept and recorded.sweep == pytest.approx(np.median(swept)) and "sweep" in recorded.measured


def calibrations_recorded(plan, info):
    """The calibrations a study ran with, from its results' metadata (None where it ran none)."""
    from tasks.model.calibration import Calibration

    found = info.get("calibration", {})
    return {
        a: Calibration(**{**found[a.label()], "cached": True}) if isinstance(found.get(a.label()), dict) else None
        for a in plan.config.architectures
    }


def test_a_command_counts_its_own_start_and_stop_in_its_time_and_the_estimate(tmp_path):
    """`python workflows/run.py` spends seconds around its study (interpreter and imports
    before it, stopping its Ray after it): the [done] line counts them as `time` would, and the
    node's costs learn them for the dry run's `launch/stop` phase."""
    import os
    import re
    import subprocess
    import sys
    import time

    from support import ROOT

    from tasks.study.costs import load_costs
    from tasks.study.observe import HISTORY

    before = len(load_costs().history.get("process", []))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own Ray, the suite's node cache
    command = [sys.executable, str(ROOT / "workflows" / "run.py"), "--config", "smoke", "--out", str(tmp_path / "o")]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    said = float(re.search(r"\[done\] \d+ models in (\d+)s", done.stdout)[1])
    assert wall - 2 <= said <= wall + 1  # the whole command, not the study alone
    costs = load_costs()
    points = costs.history["process"]
    assert len(points) == min(before + 1, HISTORY) and "process" in costs.measured  # one point, this run's
    assert 0.2 < points[-1][0] < wall
    dry = subprocess.run([*command, "--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0 and f"launch/stop {costs.process:,.0f} s" in dry.stdout, dry.stdout
