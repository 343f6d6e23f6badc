"""Placement and sizing decisions for CPU and GPU clusters (checked without a GPU), and a
tiny run of the benchmark's harness."""

import json
import math

import pytest

from tasks.cluster.placement import DEFAULT_GPU_FRACTION, placement
from tasks.cluster.remote import train_bundle_cpu, train_bundle_gpu
from tasks.core.hardware import l2_cache_bytes, parse_size
from tasks.study.bundles import auto_bundle_size
from tasks.study.config import ResourcesConfig
from tasks.study.costs import DEFAULTS


def test_cpu_cluster_trains_on_cpus():
    p = placement(ResourcesConfig(train_cpus=1, train_gpus=None), {"CPU": 8.0})
    assert (p.cpus, p.gpus, p.slots, p.on_gpu) == (1, 0.0, 8, False)
    assert p.options() == {"num_cpus": 1, "num_gpus": 0.0}
    wide = placement(ResourcesConfig(train_cpus=2, train_gpus=None), {"CPU": 8.0})
    assert wide.options()["runtime_env"]["env_vars"]["MLAB_WORKER_POOL"] == "train-2cpu"  # its own workers


def test_gpu_cluster_shares_gpus_between_bundles():
    p = placement(ResourcesConfig(train_cpus=1, train_gpus=None), {"CPU": 16.0, "GPU": 2.0})
    assert p.on_gpu and p.gpus == DEFAULT_GPU_FRACTION
    assert p.slots == int(2 / DEFAULT_GPU_FRACTION)
    assert p.options()["num_gpus"] == DEFAULT_GPU_FRACTION
    assert p.remote_function() is train_bundle_gpu
    assert train_bundle_gpu._default_options["max_calls"] == 1  # a fresh worker per GPU bundle
    assert "max_calls" not in train_bundle_cpu._default_options  # CPU workers are reused (TF stays imported)


def test_explicit_gpu_share_and_cpu_only_override():
    assert placement(ResourcesConfig(2, 0.5), {"CPU": 8.0, "GPU": 1.0}).slots == 2
    cpu_only = placement(ResourcesConfig(2, 0.0), {"CPU": 8.0, "GPU": 1.0})
    assert not cpu_only.on_gpu and cpu_only.slots == 4
    # an explicit request is honoured before GPU nodes exist: an autoscaler adds them on demand
    waiting = placement(ResourcesConfig(1, 0.25), {"CPU": 4.0})
    assert waiting.on_gpu and waiting.slots == 4


def test_auto_bundle_size_follows_model_size_device_and_slots():
    article = dict(width=80, batch=128, l2_bytes=1 << 20)
    assert auto_bundle_size(n_models=10_000, slots=2, **article) == 51  # 2 × L2 of activations
    assert auto_bundle_size(n_models=64, slots=2, **article) == 32  # balanced over the slots
    assert auto_bundle_size(n_models=1, slots=2, **article) == 1
    wide = auto_bundle_size(width=4096, batch=128, n_models=10_000, slots=2, l2_bytes=1 << 20)
    assert wide == 1
    gpu = auto_bundle_size(n_models=10_000, slots=4, on_gpu=True, **article)
    assert gpu > 10 * auto_bundle_size(n_models=10_000, slots=4, **article)


def test_cache_size_parsing(tmp_path):
    assert parse_size("1024K") == 1 << 20 and parse_size("2M") == 2 << 20 and parse_size("512") == 512
    idx = tmp_path / "index2"
    idx.mkdir()
    (idx / "level").write_text("2\n")
    (idx / "size").write_text("2048K\n")
    assert l2_cache_bytes(str(tmp_path)) == 2 << 20
    assert l2_cache_bytes(str(tmp_path / "missing")) == 1 << 20


def test_configure_tensorflow_hides_gpus_from_cpu_tasks(tf):
    assert tf.config.get_visible_devices("GPU") == []


@pytest.mark.usefixtures("ray_session")
def test_benchmark_harness_runs_and_reports_every_key(capsys):
    from workflows.bench import main

    assert main(["--tiny"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in (
        "keras_fit_steps_per_s",
        "trainer_model_steps_per_s",
        "speedup",
        "datagen_rows_per_s",
        "pyarrow_rows_per_s",
        "datagen_efficiency",
        "scaling_efficiency_2cpu",
        "train_task_peak_rss_mb",
        "keras_tuned_steps_per_s",
        "trainer_k1_model_steps_per_s",
        "best_bundle_size",
        "best_model_steps_per_s",
        "auto_vs_best",
        "datagen_efficiency_same_settings",
        "subset_stack_model_steps_per_s",
        "iclr_in_study_model_steps_per_s",
        "iclr_training_only_model_steps_per_s",
        "iclr_in_study_ratio",
        "iclr_protocol_hours_2cpu",
        "iclr_task_prepare_seconds",
        "iclr_fresh_in_study_model_steps_per_s",
        "iclr_fresh_training_only_model_steps_per_s",
        "iclr_small_window_in_study_model_steps_per_s",
        "iclr_small_window_in_study_ratio",
        "memory_read_gb_per_s",
        "iclr_training_us_per_model_step",
    ):
        assert math.isfinite(result[key]) and result[key] > 0, key
    # the split of the preset task's time: its parts add up to its in-study time per model-step
    parts = ("training", "evaluation", "window")
    total = sum(result[f"iclr_{part}_us_per_model_step"] for part in parts)
    assert total == pytest.approx(1e6 / result["iclr_in_study_model_steps_per_s"])
    assert result["iclr_window_bytes_per_model_step"] == 128 * 100 * 4  # batch × 100 float32 inputs, y made in the step
    read = result["iclr_window_bytes_per_model_step"] / (result["memory_read_gb_per_s"] * 1e3)
    assert result["iclr_window_read_us_per_model_step"] == pytest.approx(read)
    # the in-study task is the preset's bundle at the calibrated size, its ratio of the same run's rates
    assert result["iclr_bundle_size"] == result["subset_stack_bundle_size"]
    ratio = result["iclr_in_study_model_steps_per_s"] / result["iclr_training_only_model_steps_per_s"]
    assert result["iclr_in_study_ratio"] == pytest.approx(ratio)
    hours = 5.25e9 / (2 * result["iclr_in_study_model_steps_per_s"]) / 3600
    assert result["iclr_protocol_hours_2cpu"] == pytest.approx(hours)
    fresh = result["iclr_fresh_in_study_model_steps_per_s"] / result["iclr_fresh_training_only_model_steps_per_s"]
    assert result["iclr_fresh_in_study_ratio"] == pytest.approx(fresh)
    assert result["iclr_fresh_protocol_hours_2cpu"] == pytest.approx(
        5.25e9 / (2 * result["iclr_fresh_in_study_model_steps_per_s"]) / 3600
    )
    sweep = result["sweep_model_steps_per_s"]
    assert {"1", "4", str(result["auto_bundle_size"])} <= set(sweep)  # the calibrated size is timed too
    assert result["best_model_steps_per_s"] == max(sweep.values())
    assert result["trainer_k1_model_steps_per_s"] == sweep["1"]
    assert 0 < result["auto_vs_best"] <= 1


def test_bundles_are_never_empty_and_respect_an_explicit_size():
    from tasks.study.bundles import make_bundles
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    for size, slots in [(1, 2), (None, 3), (None, 8), (3, 2), (None, 1)]:
        plan = make_plan(load_config("smoke", [f"training.bundle_size={size or 'auto'}"]))  # 4 models of one arch
        bundles = make_bundles(plan, list(plan.models), slots)
        assert all(b.models for b in bundles), (size, slots)
        assert sorted(m.model_id for b in bundles for m in b.models) == sorted(m.model_id for m in plan.models)
        assert len({b.bundle_id for b in bundles}) == len(bundles)
        if size:
            assert max(len(b.models) for b in bundles) <= size


def test_short_tasks_are_spread_over_the_nodes_with_cpus():
    from tasks.cluster.placement import NodeSpreader

    a, b, c, d = ("a" * 56, "b" * 56, "c" * 56, "d" * 56)  # node ids are hex strings
    nodes = [
        {"NodeID": b, "Alive": True, "Resources": {"CPU": 2.0}},
        {"NodeID": a, "Alive": True, "Resources": {"CPU": 1.0, "GPU": 1.0}},
        {"NodeID": c, "Alive": False, "Resources": {"CPU": 8.0}},  # dead
        {"NodeID": d, "Alive": True, "Resources": {"CPU": 0.0}},  # a head that takes no work
    ]
    spread = NodeSpreader(nodes)
    chosen = [spread.options()["scheduling_strategy"] for _ in range(4)]
    assert [s.node_id for s in chosen] == [a, b, a, b] and all(s.soft for s in chosen)
    assert NodeSpreader(nodes[:1]).options() == {}  # one node: Ray's default placement


def test_scale_figures_harness(tmp_path, capsys):
    """bench.py --scale: a study in a process of its own, its phases, driver RSS and a rerun
    that finds everything current."""
    from tasks.bench.tune_peer import MISSING, tune_installed
    from workflows.bench import main

    assert main(["--scale", "tiny", "--out", str(tmp_path), "--tune-trials", "2"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    result = json.loads(printed[-1])
    (row,) = result["scale"]
    assert row["models"] == 12 and row["driver_peak_rss_mb"] > 0
    assert {"plan", "data", "train, evaluate, collect", "summarise", "results", "report"} <= set(row["phases"])
    assert row["rerun_seconds"] < 5  # nothing to do: no Ray, no work
    if tune_installed():  # the [bench] extra: Tune's seconds per trial beside the lab's per model, as ratios
        assert set(result["tune"]) == {"defaults", "reuse_actors"}
        assert all(t["trials"] == 2 and t["errors"] == 0 for t in result["tune"].values())
        assert row["tune_defaults_ratio"] > 0 and row["tune_reuse_actors_ratio"] > 0
        assert any(line.startswith("[tune] 12 models: the lab") for line in printed)
    else:  # without it, one line says so
        assert printed.count(f"[tune] {MISSING}") == 1 and "tune" not in result


def test_every_scale_study_is_a_valid_config():
    """Each size of bench.py --scale parses (the 1m study's ten architectures once listed one
    MLP twice and failed only after the three smaller studies had run)."""
    from tasks.bench.scale import SIZES, scale_config
    from tasks.study.config import parse_config

    for ranges, archs, seeds, steps, bundle in SIZES.values():
        config = parse_config(scale_config(ranges, archs, seeds, steps, bundle))
        assert (len(config.train_ranges), len(config.architectures), len(config.seeds)) == (ranges, archs, seeds)


def article_shape():
    from tasks.bench.peers import article_model, article_settings

    arch, params = article_model()
    training, target = article_settings()
    return arch, params, training, target


def test_calibration_measures_once_then_answers_from_the_node_cache(tf):
    from tasks.model import calibration

    arch, params, training, target = article_shape()
    small = {"candidates": (1, 2), "work": 400}
    first = calibration.calibrate(arch, params, training, target, **small)
    assert not first.cached and first.best_size in (1, 2, 3) and first.best_model_steps_per_s > 0
    assert set(first.sweep) >= {"1", "2"}  # the coarse pass, then neighbours of the best
    assert first.best_model_steps_per_s == max(first.sweep.values())
    assert "TF" in first.key and first.device.startswith("CPU ")
    again = calibration.calibrate(arch, params, training, target, **small)
    assert again.cached and again.best_size == first.best_size and again.seconds == first.seconds
    assert calibration.cached_for(arch, params, training, target) == again
    fresh = calibration.calibrate(arch, params, training, target, use_cache=False, **small)
    assert not fresh.cached  # the benchmark's fresh check sweeps again, and leaves the cache as it was
    assert calibration.calibrate(arch, params, training, target, **small).seconds == first.seconds
    other = training.__class__(**{**training.__dict__, "batch_size": 64})
    assert calibration.cached_for(arch, params, other, target) is None  # a different shape is not answered


def seeded_calibration(best_size: int, steps_per_s: float = 123_456.0):
    """Put a calibration of the smoke config's architecture in the session's node cache."""
    from support import smoke_raw

    from tasks.model import calibration
    from tasks.study.config import parse_config

    config = parse_config(smoke_raw())
    arch = config.architectures[0]
    training = arch.training_or(config.training)
    n_inputs = config.target.n_inputs
    key = calibration.shape_key(arch.arch, arch.params, n_inputs, training.batch_size, training.optimizer, False)
    sweep = {str(best_size): steps_per_s}
    calibration.store_cached(calibration.Calibration(key, best_size, steps_per_s, sweep, "CPU test", 1.0))
    return arch


@pytest.mark.usefixtures("ray_session")
def test_a_study_sizes_its_bundles_from_the_calibration_of_the_node_kind(tmp_path):
    """The calibration task runs where the training runs (here: the node's cache answers it);
    its best size shapes the bundles and is recorded in the run's metadata."""
    from support import smoke_raw

    from tasks.cluster import orchestrate
    from tasks.cluster.placement import placement
    from tasks.study.bundles import make_bundles
    from tasks.study.config import ResourcesConfig, parse_config
    from tasks.study.plan import make_plan

    arch = seeded_calibration(best_size=5)
    plan = make_plan(parse_config(smoke_raw({"seeds": list(range(40))})))
    cpu = placement(ResourcesConfig(1, None), {"CPU": 2.0})
    found = orchestrate.calibrate_sizes(plan, list(plan.models), cpu)
    assert found[arch].cached and found[arch].best_size == 5
    bundles = make_bundles(plan, list(plan.models), cpu.slots, measured={arch: 5})
    assert max(len(b.models) for b in bundles) == 5 and len(bundles) >= len(plan.models) // 5
    sized = make_bundles(plan, list(plan.models), cpu.slots, measured={arch: 5}, costs=DEFAULTS)
    assert {b.step_size for b in sized} == {5}  # with fixed costs: bundles of whole steps of 5
    few = make_plan(parse_config(smoke_raw({"seeds": list(range(4))})))  # at most 8 per slot: balance decides
    assert len(few.models) <= 16
    assert orchestrate.calibrate_sizes(few, list(few.models), cpu) == {}
    pinned = make_plan(parse_config(smoke_raw({"seeds": list(range(40)), "training.bundle_size": 10})))
    assert orchestrate.calibrate_sizes(pinned, list(pinned.models), cpu) == {}  # the config's size stays

    from workflows.run import main

    out = tmp_path / "out"
    overrides = ["--set", "seeds={count: 40}", "--set", "training.steps=20", "--set", "training.log_every=20"]
    assert main(["--config", "smoke", *overrides, "--out", str(out)]) == 0
    info = json.loads((out / "results" / "_manifest.json").read_text())
    assert info["calibration"][arch.label()]["best_size"] == 5 and info["n_bundles"] >= cpu.slots
    assert "5 models per compiled step" in (out / "report" / "summary.md").read_text()  # the report says so


@pytest.mark.usefixtures("ray_session")
def test_a_node_kind_that_cannot_calibrate_in_time_does_not_stall_the_study(monkeypatch):
    """GPU training asked for on a cluster with no GPU node yet: the calibration cannot be
    placed, the study goes on with the formula's size after the timeout."""
    from support import smoke_raw

    from tasks.cluster import orchestrate
    from tasks.cluster.placement import placement
    from tasks.study.bundles import make_bundles
    from tasks.study.config import ResourcesConfig, parse_config
    from tasks.study.plan import make_plan

    monkeypatch.setattr(orchestrate, "CALIBRATION_TIMEOUT_S", 2.0)
    plan = make_plan(parse_config(smoke_raw({"seeds": list(range(40))})))
    waiting = placement(ResourcesConfig(1, 0.5), {"CPU": 2.0})  # an autoscaler would add the GPU node
    found = orchestrate.calibrate_sizes(plan, list(plan.models), waiting)
    assert list(found.values()) == [None]
    bundles = make_bundles(plan, list(plan.models), waiting.slots, True, {})
    assert sum(len(b.models) for b in bundles) == len(plan.models)


def test_measured_size_overrides_the_formula_but_not_the_balance():
    article = dict(width=80, batch=128, l2_bytes=1 << 20)
    assert auto_bundle_size(n_models=10_000, slots=2, measured=12, **article) == 12
    assert auto_bundle_size(n_models=10, slots=2, measured=12, **article) == 5  # both slots busy
    assert auto_bundle_size(n_models=10_000, slots=2, measured=None, **article) == 51


def test_bench_refuses_a_reused_out_directory(tmp_path, capsys):
    from workflows.bench import main

    (tmp_path / "old-run").mkdir()
    assert main(["--tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an empty directory" in err[0] and "Traceback" not in err[0]
