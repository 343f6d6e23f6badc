"""The article's model as a plain Keras 3 model trained with `fit`: the per-model baseline
the vectorized trainer is measured against (workflows/bench.py)."""

from __future__ import annotations

import time

import numpy as np


def keras_fit_steps_per_s(
    data: np.ndarray,
    steps: int,
    hidden: int = 80,
    batch: int = 128,
    jit_compile: bool | str = "auto",
    steps_per_execution: int = 1,
) -> float:
    """Steps/s of `model.fit` on (a, b) → y, after a first epoch that absorbs tracing/compilation.
    Keras' defaults, or tuned: `jit_compile=True` and many `steps_per_execution` per call."""
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.Adagrad(0.05, initial_accumulator_value=0.1),
        loss="mse",
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    ds = (
        tf.data.Dataset.from_tensor_slices((data[:, :2], data[:, 2:]))
        .shuffle(100_000, seed=0)
        .repeat()
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )
    steps = max(steps_per_execution, steps - steps % steps_per_execution)  # whole executions
    warm = max(steps_per_execution, 50, steps // 10 - steps // 10 % steps_per_execution)
    model.fit(ds, steps_per_epoch=warm, epochs=1, verbose=0, shuffle=False)  # warm-up
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps / (time.perf_counter() - start)
