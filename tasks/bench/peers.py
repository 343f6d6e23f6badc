"""The single-core peers of the benchmark table, each measured in a one-CPU Ray task (so TF
runs one thread, like one slot of a study): tuned Keras `fit`, the project's trainer at K=1,
and a sweep of bundle sizes against which the automatic choice is checked every run."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

SWEEP = (1, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)  # finer than calibration's coarse pass


def article_model() -> tuple[str, dict[str, Any]]:
    """The seed article's multiplier: 2 → 80 ReLU → 1."""
    return "mlp", {"hidden": [80], "activation": "relu"}


def article_settings(steps: int = 1000):
    """The article's training settings and target, parsed as a study would parse them."""
    from tasks.study.config import parse_config

    arch, params = article_model()
    config = parse_config(
        {
            "name": "bench",
            "seeds": {"start": 0, "count": 1},
            "data": {"train_size": 20_000, "val_size": 1000},
            "train_ranges": [[0, 1]],
            "architectures": [{"arch": arch, **params}],
            "training": {"steps": steps},
        }
    )
    return config.training, config.target


def measured_afresh(arch: str, params: dict[str, Any], training, target, calibration: dict[str, Any]):
    """A fresh calibration, as a study on this machine would run it; a full one (not shrunk
    for tests) also becomes this node's cached answer, so later dry runs estimate from it."""
    from tasks.model.calibration import calibrate, store_cached

    result = calibrate(arch, params, training, target, use_cache=False, **calibration)
    if not calibration:
        store_cached(result)
    return result


def subset_stack_settings():
    """The ICLR preset's first model and its task, exactly as the preset declares them: NAU →
    NMU on 100 inputs (the arithmetic subset task), Adam."""
    from tasks.study.loading import load_config

    config = load_config("iclr2020_mul_range")
    arch = config.architectures[0]
    return arch.arch, arch.params, arch.training_or(config.training), config.target


def _subset_task(calibration: dict[str, Any]) -> dict[str, Any]:
    from tasks.model.tfenv import configure_tensorflow

    configure_tensorflow(cpus=1, use_gpu=False)
    arch, params, training, target = subset_stack_settings()
    return asdict(measured_afresh(arch, params, training, target, calibration))


def subset_stack_throughput(calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Model-steps/s of one core for the ICLR preset's NAU → NMU stack on 100 inputs, at the
    bundle size its calibration picks (reported beside the article's model)."""
    import ray

    c = ray.get(ray.remote(num_cpus=1)(_subset_task).remote(calibration or {}))
    return {"subset_stack_bundle_size": c["best_size"], "subset_stack_model_steps_per_s": c["best_model_steps_per_s"]}


def _sweep_task(work: int, sizes: tuple[int, ...], calibration: dict[str, Any]) -> dict[str, Any]:
    """Calibrate afresh (what a study on this machine would choose), then time every size of
    the sweep, and the chosen one, with `work` model-steps each: best of two passes."""
    from tasks.model.calibration import measure
    from tasks.model.tfenv import configure_tensorflow

    configure_tensorflow(cpus=1, use_gpu=False)
    arch, params = article_model()
    training, target = article_settings()
    chosen = measured_afresh(arch, params, training, target, calibration)
    sizes = tuple(sorted({*sizes, chosen.best_size}))
    sweep = {k: 0.0 for k in sizes}
    for _ in range(2):  # two interleaved passes: a slow moment does not sink one size
        for k in sizes:
            sweep[k] = max(sweep[k], measure(arch, params, training, target, k, work))
    return {"calibration": asdict(chosen), "sweep": sweep}


def _keras_tuned_task(data: np.ndarray, steps: int, steps_per_execution: int) -> float:
    from tasks.bench.keras_reference import keras_fit_steps_per_s
    from tasks.model.tfenv import configure_tensorflow

    configure_tensorflow(cpus=1, use_gpu=False)
    return keras_fit_steps_per_s(data, steps, jit_compile=True, steps_per_execution=steps_per_execution)


def sweep_bundle_sizes(
    work: int, sizes: tuple[int, ...] = SWEEP, calibration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Model-steps/s of one core at each bundle size, the calibrated choice, the best size and
    how close the choice comes to it (`auto_vs_best`). `calibration` shrinks the calibration's
    own sweep (tests); by default it runs exactly as in a study."""
    import ray

    out = ray.get(ray.remote(num_cpus=1)(_sweep_task).remote(work, sizes, calibration or {}))
    sweep: dict[int, float] = out["sweep"]
    best = max(sweep, key=sweep.get)
    auto = out["calibration"]["best_size"]
    return {
        "sweep_model_steps_per_s": {str(k): v for k, v in sorted(sweep.items())},
        "trainer_k1_model_steps_per_s": sweep[1],
        "auto_bundle_size": auto,
        "auto_model_steps_per_s": sweep[auto],
        "best_bundle_size": best,
        "best_model_steps_per_s": sweep[best],
        "auto_vs_best": sweep[auto] / sweep[best],
        "calibration_seconds": out["calibration"]["seconds"],
    }


def keras_tuned_steps_per_s(data: np.ndarray, steps: int, steps_per_execution: int) -> float:
    """Keras `fit` at its fastest honest setting, one thread: XLA-compiled, many steps per call."""
    import ray

    return ray.get(ray.remote(num_cpus=1)(_keras_tuned_task).remote(data, steps, steps_per_execution))
