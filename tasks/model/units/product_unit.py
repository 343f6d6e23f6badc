"""An explicit multiplication layer: the product of two learned projections plus a linear term."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.model.architecture import Architecture, TwoInputs, glorot_uniform


@dataclass(frozen=True)
class ProductUnit(TwoInputs, Architecture):
    """y = (u·x + c)(v·x + d) + w·x + e, x = (a, b).

    u = (1, 0), v = (0, 1) and zeros elsewhere give a·b exactly, at any input scale.
    """

    def init(self, params, rng, n_inputs):
        def vec(n: int) -> np.ndarray:
            return glorot_uniform(rng, n_inputs, n)[:, 0] if n else np.zeros(0, np.float32)

        zero = np.zeros(1, np.float32)
        return {"u": vec(2), "v": vec(2), "w": vec(2), "c": zero, "d": zero.copy(), "e": zero.copy()}

    def forward(self, params, w, x):
        a, b = x[..., 0], x[..., 1]

        def lin(vec):
            return a * vec[:, 0:1] + b * vec[:, 1:2]

        return (lin(w["u"]) + w["c"]) * (lin(w["v"]) + w["d"]) + lin(w["w"]) + w["e"]

    def width(self, params):
        return 4
