"""Neural Arithmetic Logic Unit (Trask et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.model.architecture import Architecture, TwoInputs, glorot_uniform, sparsity, tf_module


@dataclass(frozen=True)
class NALU(TwoInputs, Architecture):
    """One layer 2 → 1, no bias.

    W = tanh(Ŵ) ⊙ σ(M̂);  add = W·x;  mul = exp(W·log(|x| + ε));  g = σ(G·x);
    y = g·add + (1 − g)·mul.  Ŵ, M̂, G are Glorot-uniform; W is shared by both paths.
    """

    def parse(self, section):
        return {"epsilon": section.number("epsilon", 1e-7, positive=True)}

    def init(self, params, rng, n_inputs):
        return {name: glorot_uniform(rng, n_inputs, 1)[:, 0] for name in ("W_hat", "M_hat", "G")}

    @staticmethod
    def nac_weight(w):
        tf = tf_module()
        return tf.tanh(w["W_hat"]) * tf.sigmoid(w["M_hat"])

    def forward(self, params, w, x):
        tf = tf_module()
        a, b = x[..., 0], x[..., 1]
        W = self.nac_weight(w)
        add = a * W[:, 0:1] + b * W[:, 1:2]
        eps = params["epsilon"]
        log_mul = tf.math.log(tf.abs(a) + eps) * W[:, 0:1] + tf.math.log(tf.abs(b) + eps) * W[:, 1:2]
        mul = tf.exp(tf.minimum(log_mul, 80.0))  # keeps float32 finite; exp(80) ≫ any target here
        g = tf.sigmoid(a * w["G"][:, 0:1] + b * w["G"][:, 1:2])
        return g * add + (1 - g) * mul

    def sparsity_error(self, params, w):
        W = np.tanh(w["W_hat"]) / (1 + np.exp(-w["M_hat"]))
        return sparsity(W)

    def width(self, params):
        return 6
