"""Neural Multiplication Unit (Madsen & Johansen, ICLR 2020)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.model.architecture import (
    Architecture,
    TwoInputs,
    linear_ramp,
    parse_sparsity_schedule,
    sparsity,
    sparsity_schedule,
    tf_module,
)


@dataclass(frozen=True)
class NMU(TwoInputs, Architecture):
    """One layer 2 → 1: y = ∏ᵢ (Wᵢ·xᵢ + 1 − Wᵢ).

    W is clamped to [0, 1] after every update and initialised U[0.25, 0.75]; the sparsity
    regulariser λ·mean(min(|W|, 1 − |W|)) is scaled linearly from 0 at `sparsity_start` to
    λ = `sparsity_lambda` at `sparsity_end` (steps).
    """

    def parse(self, section):
        return parse_sparsity_schedule(section)

    def init(self, params, rng, n_inputs):
        return {"W": rng.uniform(0.25, 0.75, size=n_inputs).astype(np.float32)}

    def forward(self, params, w, x):
        W = w["W"]
        a, b = x[..., 0], x[..., 1]
        # W·x + (1 − W), grouped so that W = 1 gives x exactly (W·x + 1 − W would round x + 1)
        return (W[:, 0:1] * a + (1 - W[:, 0:1])) * (W[:, 1:2] * b + (1 - W[:, 1:2]))

    def regularizer(self, params, w, step):
        tf = tf_module()
        scale = linear_ramp(step, float(params["sparsity_start"]), float(params["sparsity_end"]))
        W = tf.abs(w["W"])
        return params["sparsity_lambda"] * scale * tf.reduce_mean(tf.minimum(W, 1 - W), axis=1)

    def project(self, params, w):
        return {**w, "W": tf_module().clip_by_value(w["W"], 0.0, 1.0)}

    def sparsity_error(self, params, w):
        return sparsity(np.clip(w["W"], 0, 1))

    def width(self, params):
        return 3

    def schedule(self, params):
        return sparsity_schedule(params)
