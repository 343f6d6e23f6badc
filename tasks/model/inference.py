"""Predictions of K stacked models (TensorFlow), in row blocks so memory stays bounded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tasks.model.architecture import Architecture

MAX_ELEMENTS = 1 << 22  # activations per call


def rows_per_call(k: int, width: int, max_elems: int = MAX_ELEMENTS) -> int:
    return max(256, max_elems // max(1, k * width))


def predict(arch: Architecture, params: dict, weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Predictions [K, n] of K stacked models on inputs x [K, n, N], or [n, N] shared by all."""
    import tensorflow as tf

    names = tuple(sorted(weights))
    k = next(iter(weights.values())).shape[0]
    x = np.asarray(x, np.float32)
    x = np.broadcast_to(x, (k, *x.shape[-2:]))
    rows = rows_per_call(k, arch.width(params))
    fn = _predict_fn(arch, params, names)
    w = tuple(tf.constant(weights[n]) for n in names)
    out = [fn(w, tf.constant(x[:, i : i + rows])).numpy() for i in range(0, x.shape[1], rows)]
    return np.concatenate(out, axis=1) if out else np.zeros((k, 0), np.float32)


_PREDICT: dict[tuple, Callable] = {}


def _predict_fn(arch: Architecture, params: dict, names: tuple[str, ...]) -> Callable:
    from tasks.model import tracing

    key = (arch.name, repr(sorted(params.items())), names)
    if key not in _PREDICT:
        _PREDICT[key] = tracing.function(lambda w, x: arch.forward(params, dict(zip(names, w)), x))
    return _PREDICT[key]
