"""The ICLR preset's NAU → NMU stack inside a real study task against its training-only rate.

Numerator: one real bundle of the preset (its first architecture, the range pair U[1,2] →
U[2,6], its evaluation cadence, validation and watched rows, best-validation checkpoint), its
datasets generated and read by the study's own path and trained by the study's training job.
Denominator: the same stack at the same bundle size K on the calibration's 20,000 synthetic
rows, training steps only, as many steps, timed before and after the numerator. All run back
to back in one single-CPU Ray task (one process), so the ratio is robust to a busy machine
even where absolute rates are not.

Where the difference goes (`gap`): the same task once more with a window of the calibration's
20,000 rows, which stays in cache, separates reading the window from evaluation and the task's
own work; one core's rate of reading memory says what the window's rows cost when none of
them is in cache.
"""

from __future__ import annotations

from typing import Any

PROTOCOL_MODEL_STEPS = 5.25e9  # 7 range pairs × 50 seeds × 3 stacks × 5·10⁶ iterations
PAIR = {"range": [1, 2], "eval": [[2, 6]]}  # the measured pair
SMALL_WINDOW_ROWS = 20_000  # the calibration's rows (tasks.model.calibration.measure): a window in cache


def preset_config(k: int, steps: int, window_rows: int | None, eval_rows: int | None, data: str = "dataset") -> Any:
    """The preset with one range pair, its first architecture and K seeds in one bundle of K;
    `window_rows` and `eval_rows` shrink its 10⁶-row window and 10⁴-row sets (quick, tests);
    `data`: "fresh" draws every batch as the paper does (training.data), instead of the window."""
    from tasks.study.config import parse_config
    from tasks.study.loading import read_raw_config

    raw, _ = read_raw_config("iclr2020_mul_range")
    raw["seeds"] = {"start": 0, "count": k}
    raw["train_ranges"] = [PAIR]
    raw["architectures"] = raw["architectures"][:1]
    raw["training"] = {**raw["training"], "steps": steps, "bundle_size": k, "data": data}
    if window_rows:
        raw["data"] = {**raw["data"], "train_size": window_rows, "shard_rows": min(window_rows, 100_000)}
    if eval_rows:
        raw["data"] = {**raw["data"], "val_size": eval_rows}
        raw["evaluation"] = {**raw["evaluation"], "size": eval_rows, "probe_rows": eval_rows}
    return parse_config(raw)


def _in_study_task(store, bundle, specs: dict, probe_rows: int) -> dict[str, float]:
    """Training only, the real bundle's training job, training only again, in this one
    process: the training-only rate is of both runs together (total steps over total seconds),
    so a machine that slows down or speeds up during the task moves both sides alike."""
    from tasks.jobs.train import train_bundle_job
    from tasks.model.calibration import measure
    from tasks.model.tfenv import configure_tensorflow

    configure_tensorflow(cpus=1, use_gpu=False)
    k = len(bundle.models)
    target = bundle.models[0].target

    def only() -> float:
        return measure(bundle.arch.arch, bundle.arch.params, bundle.training, target, k, k * bundle.training.steps)

    before = only()
    trained = train_bundle_job(store, bundle, specs, "cpu", probe_rows)
    after = only()
    manifest = trained.manifest
    return {
        "only": 2 / (1 / before + 1 / after),
        "in_study": manifest.model_steps_per_s,
        "rss_mb": manifest.peak_rss_mb,
        "task": trained.seconds,
    }


def iclr_in_study(
    store,
    k: int,
    steps: int,
    window_rows: int | None = None,
    eval_rows: int | None = None,
    data: str = "dataset",
    prefix: str = "iclr_",
) -> dict:
    """The bench's keys: both rates per core at bundle size `k`, their ratio, and the protocol's
    hours on 2 cores from the in-study rate (assuming 2 cores run 2× one core's rate). Another
    `prefix` (a variant: `data="fresh"` draws batches in the step, with no window; a small
    `window_rows`) keeps only the rates, the ratio and the hours, under that prefix."""
    import ray

    from tasks.cluster import orchestrate
    from tasks.study.bundles import make_bundles
    from tasks.study.plan import make_plan

    config = preset_config(k, steps, window_rows, eval_rows, data)
    plan = make_plan(config)
    orchestrate.ensure_datasets(store, plan.stored_datasets)
    (bundle,) = make_bundles(plan, list(plan.models), 1)  # one bundle of K: training.bundle_size
    task = ray.remote(num_cpus=1)(_in_study_task)
    got = ray.get(task.remote(store, bundle, plan.datasets, config.evaluation.probe_rows))
    figures = {
        "iclr_bundle_size": k,
        "iclr_steps": steps,
        "iclr_window_rows": config.data.train_size,
        "iclr_in_study_model_steps_per_s": got["in_study"],
        "iclr_training_only_model_steps_per_s": got["only"],
        "iclr_in_study_ratio": got["in_study"] / got["only"],
        "iclr_protocol_hours_2cpu": PROTOCOL_MODEL_STEPS / (2 * got["in_study"]) / 3600,
        "iclr_task_peak_rss_mb": got["rss_mb"],
        # the task's fixed costs, outside the rate: reading its window and sets, preparing them
        # (evaluation sets as tensors, the window handed over)
        "iclr_task_read_seconds": got["task"]["read"],
        "iclr_task_prepare_seconds": got["task"]["prepare"],
        "iclr_task_train_seconds": got["task"]["train"],
        "iclr_window_bytes_per_model_step": bundle.training.batch_size * _row_bytes(bundle.models[0].target),
    }
    if prefix == "iclr_":
        return figures
    kept = ("iclr_in_study_model_steps_per_s", "iclr_training_only_model_steps_per_s", "iclr_in_study_ratio")
    return {k.replace("iclr_", prefix, 1): v for k, v in figures.items() if k in (*kept, "iclr_protocol_hours_2cpu")}


def _row_bytes(target) -> int:
    """Bytes of one window row: float32 inputs, and y where the dataset stores it."""
    return 4 * (target.n_inputs + (0 if target.target.per_model(target.params) else 1))


def read_gb_per_s(megabytes: int = 400, repeats: int = 5) -> float:
    """One core's rate of reading an array of `megabytes` (the preset's window: 400 MB) from
    memory, as numpy sums it: the median of `repeats` passes after one that pages it in."""
    import time

    import numpy as np

    a = np.ones(megabytes * (1 << 20) // 4, np.float32)
    a.sum()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        a.sum()
        seconds.append(time.perf_counter() - started)
    return a.nbytes / float(np.median(seconds)) / 1e9


def gap(r: dict, gb_per_s: float) -> dict:
    """Where a preset task's time per model-step goes beyond training (µs), from the bench's
    three runs of it: evaluation and the task's own work (the small window's excess), reading
    the 10⁶-row window (the rest), and what its rows take when all come from memory at
    `gb_per_s` (less where the CPU's last-level cache holds part of the window). Each run's
    ratio is to its own training-only rate, so a busy machine moves them alike."""
    only = 1e6 / r["iclr_training_only_model_steps_per_s"]
    with_window, small = only / r["iclr_in_study_ratio"], only / r["iclr_small_window_in_study_ratio"]
    return {
        "memory_read_gb_per_s": gb_per_s,
        "iclr_training_us_per_model_step": only,
        "iclr_evaluation_us_per_model_step": small - only,
        "iclr_window_us_per_model_step": with_window - small,
        "iclr_window_read_us_per_model_step": r["iclr_window_bytes_per_model_step"] / gb_per_s / 1e3,
    }
