"""Elementwise optimizers on stacked weights, written functionally for the compiled loop.

Every update is elementwise, so K stacked models updated together are exactly K independent
trainings. Adagrad follows TF1's `AdagradOptimizer` (the DNNRegressor default): accumulator
starts at 0.1, `w -= lr · g / sqrt(acc)`.
"""

from __future__ import annotations

import tensorflow as tf

ADAGRAD_INITIAL_ACCUMULATOR = 0.1
EPSILON = 1e-7  # Keras' default for Adam and RMSprop (training.epsilon; PyTorch uses 1e-8)


def init_state(optimizer: str, weights: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, ...]:
    if optimizer == "adagrad":
        return tuple(tf.fill(tf.shape(w), ADAGRAD_INITIAL_ACCUMULATOR) for w in weights)
    if optimizer == "rmsprop":
        return tuple(tf.zeros_like(w) for w in weights)
    if optimizer == "adam":
        return tuple(tf.zeros_like(w) for w in weights) + tuple(tf.zeros_like(w) for w in weights)
    if optimizer == "sgd":
        return ()
    raise ValueError(f"unknown optimizer {optimizer}")


def apply(
    optimizer: str, lr: float, weights: tuple, grads: tuple, state: tuple, step: tf.Tensor, epsilon: float = EPSILON
) -> tuple[tuple, tuple]:
    """One update; `step` counts from 0 (used by Adam's bias correction)."""
    if optimizer == "sgd":
        return tuple(w - lr * g for w, g in zip(weights, grads)), state
    if optimizer == "adagrad":
        acc = tuple(a + g * g for a, g in zip(state, grads))
        return tuple(w - lr * g * tf.math.rsqrt(a) for w, g, a in zip(weights, grads, acc)), acc
    if optimizer == "rmsprop":
        rho = 0.9
        v = tuple(rho * s + (1 - rho) * g * g for s, g in zip(state, grads))
        return tuple(w - lr * g / (tf.sqrt(s) + epsilon) for w, g, s in zip(weights, grads, v)), v
    if optimizer == "adam":
        b1, b2 = 0.9, 0.999
        n = len(weights)
        m = tuple(b1 * s + (1 - b1) * g for s, g in zip(state[:n], grads))
        v = tuple(b2 * s + (1 - b2) * g * g for s, g in zip(state[n:], grads))
        t = tf.cast(step, tf.float32) + 1.0
        alpha = lr * tf.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        return tuple(w - alpha * mm / (tf.sqrt(vv) + epsilon) for w, mm, vv in zip(weights, m, v)), m + v
    raise ValueError(f"unknown optimizer {optimizer}")
