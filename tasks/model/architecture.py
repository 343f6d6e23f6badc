"""The interface every architecture implements, shipped or brought by a plugin.

An architecture reads its parameters from a config section, initialises one model's
weights (numpy, from that model's own generator, so a model never depends on its
bundle-mates), and runs K stacked models forward in TensorFlow: every weight carries a
leading axis K and the inputs are a tensor x of shape [K, B, N] (N inputs per sample; the
article's task has N = 2: x = (a, b)). The trainer, evaluation, reports and Keras export
only ever talk to architectures through this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.core.ranges import Ranges
from tasks.core.schema import Section

Weights = dict[str, Any]  # name -> np.ndarray or tf.Tensor, leading axis K


def tf_module():
    import tensorflow as tf  # deferred: config validation and planning must not pay for TF

    return tf


@dataclass(frozen=True)
class InputDomain:
    """The inputs an architecture is defined on (e.g. log-space models: strictly positive)."""

    name: str  # "strictly positive": completes "needs … inputs"
    outside: str  # "non-positive": completes "cannot be evaluated on the … range"
    lowest_above: float  # every input must be > this

    def contains(self, ranges: Ranges) -> bool:
        return ranges.lo > self.lowest_above


POSITIVE = InputDomain("strictly positive", "non-positive", 0.0)


@dataclass(frozen=True)
class Architecture:
    """Base: subclasses override what differs. `params` are plain JSON-able dicts."""

    name: str

    def parse(self, section: Section) -> dict[str, Any]:
        """The architecture's parameters from its config section (unknown keys are rejected after)."""
        return {}

    def input_domain(self, params: dict[str, Any]) -> InputDomain | None:
        """The inputs this architecture needs; None: any real inputs."""
        return None

    def accepts_inputs(self, params: dict[str, Any], n_inputs: int) -> str | None:
        """Why this architecture cannot take `n_inputs` inputs per sample, or None."""
        return None

    def init(self, params: dict[str, Any], rng: np.random.Generator, n_inputs: int) -> dict[str, np.ndarray]:
        """One model's initial weights (no leading K axis)."""
        raise NotImplementedError

    def forward(self, params: dict[str, Any], w: Weights, x):
        """Predictions [K, B] of K stacked models on inputs x [K, B, N]."""
        raise NotImplementedError

    def regularizer(self, params: dict[str, Any], w: Weights, step):
        """Extra per-model loss term [K] at global `step` (a float tensor); zero for most."""
        tf = tf_module()
        first = next(iter(w.values()))
        return tf.zeros(tf.shape(first)[:1], dtype=tf.float32)

    def project(self, params: dict[str, Any], w: Weights) -> Weights:
        """Map weights back into their allowed set after each update (e.g. NMU clamps to [0, 1])."""
        return w

    def sparsity_error(self, params: dict[str, Any], w: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-model distance of the effective weights from {−1, 0, 1} (Madsen & Johansen
        2020: max over weights of min(|W|, 1 − |W|)); None when the unit has no such weights."""
        return None

    def width(self, params: dict[str, Any]) -> int:
        """Activations per sample: sizes bundles so a training step stays cache-sized."""
        return 1

    def schedule(self, params: dict[str, Any]) -> dict[str, int]:
        """The step at which each scheduled part of the unit starts acting (e.g. a regulariser),
        by its parameter's key: a plan warns when one starts only after training has ended."""
        return {}

    def columns(self, params: dict[str, Any]) -> dict[str, Any]:
        """The architecture's own parameters as flat table columns."""
        return {k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in params.items()}

    def label(self, params: dict[str, Any]) -> str:
        cols = self.columns(params)
        inner = " ".join(f"{k}={v}" for k, v in cols.items())
        return f"{self.name}({inner})" if inner else self.name


class TwoInputs:
    """Mixin for units written for the article's two inputs (a, b)."""

    def accepts_inputs(self, params: dict[str, Any], n_inputs: int) -> str | None:
        return None if n_inputs == 2 else f"takes 2 inputs, got {n_inputs} (a stack such as layers: [nau, nmu] takes N)"


def linear_ramp(step, start: float, end: float):
    """0 before `start`, rising linearly to 1 at `end` (a step at `start` when end ≤ start):
    the schedule of the NMU's sparsity regulariser (Madsen & Johansen 2020)."""
    tf = tf_module()
    if end > start:
        return tf.clip_by_value((step - start) / max(end - start, 1.0), 0.0, 1.0)
    return tf.cast(step >= start, tf.float32)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Keras/TF1 `glorot_uniform`, the DNNRegressor kernel default."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def parse_sparsity_schedule(section) -> dict[str, Any]:
    """The NMU/NAU sparsity regulariser's keys (Madsen & Johansen 2020): λ and the steps over
    which it ramps linearly from 0 to λ."""
    from tasks.core.errors import ConfigError

    params = {
        "sparsity_lambda": section.number("sparsity_lambda", 10.0, minimum=0.0),
        "sparsity_start": section.integer("sparsity_start", 20_000, minimum=0),
        "sparsity_end": section.integer("sparsity_end", 35_000, minimum=0),
    }
    if params["sparsity_end"] < params["sparsity_start"]:
        raise ConfigError(section.key("sparsity_end"), "must be ≥ sparsity_start")
    return params


def sparsity_schedule(params: dict[str, Any], regularised: bool = True) -> dict[str, int]:
    """When the sparsity regulariser starts acting (nothing when λ = 0 or no layer has it)."""
    return {"sparsity_start": params["sparsity_start"]} if regularised and params["sparsity_lambda"] > 0 else {}


def sparsity(weights: np.ndarray) -> np.ndarray:
    """max over each model's weights of min(|W|, 1 − |W|): 0 when every weight is in {−1, 0, 1}."""
    w = np.abs(weights.reshape(weights.shape[0], -1).astype(np.float64))
    return np.minimum(w, 1 - w).max(axis=1)
