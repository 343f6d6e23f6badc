"""Layers of the neural-arithmetic literature, for stacks (tasks.model.units.stack).

Definitions, initialisations, clamping and regularisers follow Madsen & Johansen's code
(github.com/AndreasMadsen/stable-nalu, stable_nalu/layer/): each layer maps [K, B, I] to
[K, B, O] with weights [K, I, O].

    nau      W·x, W clamped to [−1, 1] (forward and after every update), init U[−r, r] with
             r = min(0.5, √3·√(2/(I + O)));              regulariser mean(min(|W|, 1 − |W|))
    nmu      ∏ᵢ (Wᵢ·xᵢ + 1 − Wᵢ), W clamped to [0, 1] after every update, init U[0.25, 0.75];
                                                        regulariser mean(min(|W|, 1 − W))
    nac_add  W·x, W = tanh(Ŵ)·σ(M̂), Ŵ, M̂ ~ U[−r, r] with r solving max(I + O, 5)·Var(W) = 2
    nac_mul  exp(W·log(|x| + ε)), W as nac_add           (NAC• in the papers)
    nalu     g·(W·x) + (1 − g)·exp(W·log(|x| + ε)), g = σ(G·x), W shared as nac_add,
             G ~ Glorot uniform
    linear   W·x + b, W ~ Glorot uniform, b = 0
    relu     max(0, W·x + b), W ~ He (Kaiming) uniform, b = 0

The NAC weights Ŵ, M̂ (nac_add, nac_mul, nalu) have a second initialisation, `init="glorot"`:
Glorot uniform, as in Trask et al. (2018) and the lab's 2-input NALU. Every architecture made
of these layers (tasks.model.units.stack: stacks and the 2-input units) runs this code.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from tasks.core import products
from tasks.model.architecture import glorot_uniform, tf_module

EXP_CLAMP = 80.0  # exp(80) ≫ any target: keeps float32 finite where PyTorch would give inf
EPSILON = 1e-7  # inside log(|x| + ε) of the log-space layers, unless a config says otherwise
STABLE_NALU, GLOROT = "stable_nalu", "glorot"
INITS = (STABLE_NALU, GLOROT)  # how the NAC weights Ŵ, M̂ are drawn


@dataclass(frozen=True)
class Layer:
    name: str
    regularised: bool = False  # carries the sparsity regulariser of the NAU/NMU
    log_space: bool = False  # reads ε: log(|x| + ε)
    nac: bool = False  # has NAC weights Ŵ, M̂, whose init `init` chooses (INITS)

    def init(self, rng: np.random.Generator, n_in: int, n_out: int, init: str = STABLE_NALU) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def forward(self, w: dict, x, epsilon: float):
        raise NotImplementedError

    def project(self, w: dict) -> dict:
        return w

    def effective(self, w: dict):
        """The weights whose distance from {−1, 0, 1} is the sparsity error (numpy or TF)."""
        return None

    def regularizer(self, w: dict):
        """Per-model [K] sparsity penalty of this layer (before λ and its schedule)."""
        raise NotImplementedError


def _uniform(rng: np.random.Generator, r: float, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-r, r, size=shape).astype(np.float32)


def _matmul(x, w):
    """x [K, B, I] · w [K, I, O] → [K, B, O] (in the form for its shape: tasks.core.products), with its
    gradient for w computed as (dyᵀ · x)ᵀ: with the batch contracted against x as it lies in
    memory, XLA's CPU dot runs it faster than the product autodiff makes (xᵀ · dy): the NAU →
    NMU step on 100 inputs at K = 1 trained 1.1–1.2× faster on an Intel Xeon, the same numbers
    to the bit (the stage fingerprints held; tests/test_numerics.py)."""
    tf = tf_module()

    @tf.custom_gradient
    def matmul(x, w):
        def grad(dy):
            dx = tf.einsum("kbo,kio->kbi", dy, w)
            dw = tf.einsum("kob,kbi->koi", tf.transpose(dy, [0, 2, 1]), x)
            return dx, tf.transpose(dw, [0, 2, 1])

        return products.product(x, w), grad

    return matmul(x, w)


def clamped_exp(y):
    """exp(min(y, EXP_CLAMP)): the output of every log-space model."""
    tf = tf_module()
    return tf.exp(tf.minimum(y, EXP_CLAMP))


def _log_space(x, w, epsilon: float):
    tf = tf_module()
    return clamped_exp(_matmul(tf.math.log(tf.abs(x) + epsilon), w))


def _sparsity_penalty(w_abs):
    """mean over a model's weights of min(|W|, 1 − |W|)."""
    tf = tf_module()
    return tf.reduce_mean(tf.reshape(tf.minimum(w_abs, 1 - w_abs), [tf.shape(w_abs)[0], -1]), axis=1)


def nac_weight_variance(r: float) -> float:
    """Var(tanh(Ŵ)·σ(M̂)) for Ŵ, M̂ ~ U[−r, r] (stable-nalu's nac_w_variance, closed form)."""
    return 0.0 if r == 0 else (1 - math.tanh(r) / r) * (r - math.tanh(r / 2)) / (2 * r)


@functools.lru_cache(maxsize=64)
def nac_init_range(n_in: int, n_out: int) -> float:
    """stable-nalu's nac_w_optimal_r: the r in [0, 10] with max(I + O, 5)·Var(W) = 2 (bisection)."""
    fan = max(n_in + n_out, 5)
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fan * nac_weight_variance(mid) < 2 else (lo, mid)
    return (lo + hi) / 2


class NAU(Layer):
    def init(self, rng, n_in, n_out, init=STABLE_NALU):
        return {"W": _uniform(rng, min(0.5, math.sqrt(3) * math.sqrt(2 / (n_in + n_out))), (n_in, n_out))}

    def forward(self, w, x, epsilon):
        return _matmul(x, tf_module().clip_by_value(w["W"], -1.0, 1.0))

    def project(self, w):
        return {**w, "W": tf_module().clip_by_value(w["W"], -1.0, 1.0)}

    def effective(self, w):
        return np.clip(w["W"], -1, 1)

    def regularizer(self, w):
        return _sparsity_penalty(tf_module().abs(w["W"]))


class NMU(Layer):
    def init(self, rng, n_in, n_out, init=STABLE_NALU):
        return {"W": rng.uniform(0.25, 0.75, size=(n_in, n_out)).astype(np.float32)}

    def forward(self, w, x, epsilon):
        tf = tf_module()
        W = w["W"][:, None, :, :]  # [K, 1, I, O]
        return tf.reduce_prod(W * x[..., :, None] + (1 - W), axis=2)

    def project(self, w):
        return {**w, "W": tf_module().clip_by_value(w["W"], 0.0, 1.0)}

    def effective(self, w):
        return np.clip(w["W"], 0, 1)

    def regularizer(self, w):
        return _sparsity_penalty(tf_module().abs(w["W"]))


class NACAdd(Layer):
    def init(self, rng, n_in, n_out, init=STABLE_NALU):
        if init == GLOROT:
            return {"W_hat": glorot_uniform(rng, n_in, n_out), "M_hat": glorot_uniform(rng, n_in, n_out)}
        r = nac_init_range(n_in, n_out)
        return {"W_hat": _uniform(rng, r, (n_in, n_out)), "M_hat": _uniform(rng, r, (n_in, n_out))}

    @staticmethod
    def weight(w):
        tf = tf_module()
        return tf.tanh(w["W_hat"]) * tf.sigmoid(w["M_hat"])

    def forward(self, w, x, epsilon):
        return _matmul(x, self.weight(w))

    def effective(self, w):
        return np.tanh(w["W_hat"]) / (1 + np.exp(-w["M_hat"]))


class NACMul(NACAdd):
    def forward(self, w, x, epsilon):
        return _log_space(x, self.weight(w), epsilon)


class NALU(NACAdd):
    def init(self, rng, n_in, n_out, init=STABLE_NALU):
        return {**super().init(rng, n_in, n_out, init), "G": glorot_uniform(rng, n_in, n_out)}

    def forward(self, w, x, epsilon):
        tf = tf_module()
        W = self.weight(w)
        g = tf.sigmoid(_matmul(x, w["G"]))
        return g * _matmul(x, W) + (1 - g) * _log_space(x, W, epsilon)


class Linear(Layer):
    def init(self, rng, n_in, n_out, init=STABLE_NALU):
        return {"W": glorot_uniform(rng, n_in, n_out), "b": np.zeros(n_out, np.float32)}

    def forward(self, w, x, epsilon):
        return _matmul(x, w["W"]) + w["b"][:, None, :]


class ReLU(Linear):
    def init(self, rng, n_in, n_out, init=STABLE_NALU):
        return {"W": _uniform(rng, math.sqrt(6 / n_in), (n_in, n_out)), "b": np.zeros(n_out, np.float32)}

    def forward(self, w, x, epsilon):
        return tf_module().nn.relu(super().forward(w, x, epsilon))


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        NAU("nau", regularised=True),
        NMU("nmu", regularised=True),
        NACAdd("nac_add", nac=True),
        NACMul("nac_mul", log_space=True, nac=True),
        NALU("nalu", log_space=True, nac=True),
        Linear("linear"),
        ReLU("relu"),
    )
}
