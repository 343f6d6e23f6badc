"""An architecture brought by a plugin: a quadratic form in the inputs.

    python workflows/run.py --plugin tests/example_plugin.py --config my_study.yaml

with `architectures: [{arch: quadratic, init_scale: 0.1}]` in the study's config.
"""

from dataclasses import dataclass

import numpy as np

from tasks.model.architecture import Architecture, tf_module
from tasks.model.registry import register


@dataclass(frozen=True)
class Quadratic(Architecture):
    """y = xᵀ·A·x + w·x + c: every quadratic in the inputs, a·b among them (A = [[0, ½], [½, 0]])."""

    def parse(self, section):  # the config section's keys; unknown keys are rejected for you
        return {"init_scale": section.number("init_scale", 0.1, positive=True)}

    def init(self, params, rng, n_inputs):  # one model's weights, from its own generator
        s = params["init_scale"]
        return {
            "A": rng.normal(0, s, (n_inputs, n_inputs)).astype(np.float32),
            "w": rng.normal(0, s, n_inputs).astype(np.float32),
            "c": np.zeros(1, np.float32),
        }

    def forward(self, params, w, x):  # K stacked models: weights [K, ...], x [K, B, N] → [K, B]
        tf = tf_module()
        quadratic = tf.einsum("kbi,kij,kbj->kb", x, w["A"], x)
        return quadratic + tf.einsum("kbi,ki->kb", x, w["w"]) + w["c"]

    def width(self, params):  # activations per sample: sizes bundles
        return 4


register(Quadratic("quadratic"))
