"""The one registry of architectures.

Each architecture knows how to read its parameters from a config section, how to initialise
one model's weights (numpy, from that model's own generator, so a model's initial weights
never depend on its bundle-mates), and how to run K stacked models forward in TensorFlow:
weights carry a leading axis K, inputs are [K, B] tensors a and b.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.errors import ConfigError
from tasks.ranges import Ranges
from tasks.schema import Section, as_int, listed

Weights = dict[str, Any]  # name -> np.ndarray or tf.Tensor

ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "elu", "gelu", "softplus", "linear")


def _tf():
    import tensorflow as tf  # deferred: config validation and planning must not pay for TF

    return tf


def activation(name: str):
    tf = _tf()
    return {
        "relu": tf.nn.relu,
        "relu6": tf.nn.relu6,
        "tanh": tf.tanh,
        "sigmoid": tf.sigmoid,
        "elu": tf.nn.elu,
        "gelu": tf.nn.gelu,
        "softplus": tf.nn.softplus,
        "linear": tf.identity,
    }[name]


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Keras/TF1 `glorot_uniform`, the DNNRegressor kernel default."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


@dataclass(frozen=True)
class Architecture:
    """Base: subclasses override what differs. `params` are plain JSON-able dicts."""

    name: str
    summary: str

    def parse(self, section: Section) -> dict[str, Any]:
        return {}

    def check_range(self, params: dict[str, Any], train: Ranges, key: str) -> None:
        """Raise ConfigError when this architecture cannot work on `train`."""

    def init(self, params: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def forward(self, params: dict[str, Any], w: Weights, a, b):
        raise NotImplementedError

    def regularizer(self, params: dict[str, Any], w: Weights, step):
        """Extra per-model loss term [K] at global `step` (a float tensor); zero for most."""
        tf = _tf()
        first = next(iter(w.values()))
        return tf.zeros(tf.shape(first)[:1], dtype=tf.float32)

    def project(self, params: dict[str, Any], w: Weights) -> Weights:
        """Map weights back into their allowed set after each update (e.g. NMU clamps to [0, 1])."""
        return w

    def sparsity_error(self, params: dict[str, Any], w: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-model distance of the effective weights from {−1, 0, 1} (Madsen & Johansen
        2019: max over weights of min(|W|, 1 − |W|)); None when the unit has no such weights."""
        return None

    def width(self, params: dict[str, Any]) -> int:
        """Activations per sample: sizes bundles so a training step stays cache-sized."""
        return 1

    def columns(self, params: dict[str, Any]) -> dict[str, Any]:
        """The architecture's own parameters as flat table columns."""
        return {k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in params.items()}

    def label(self, params: dict[str, Any]) -> str:
        cols = self.columns(params)
        inner = " ".join(f"{k}={v}" for k, v in cols.items())
        return f"{self.name}({inner})" if inner else self.name


def dense_stack(w: Weights, x, n_layers: int, act, prefix: str = "l"):
    """Stacked MLP: x [K, B, F] -> [K, B]; hidden layers use `act`, the output is linear."""
    tf = _tf()
    h = x
    for i in range(n_layers):
        h = tf.einsum("kbi,kio->kbo", h, w[f"{prefix}{i}_w"]) + w[f"{prefix}{i}_b"][:, None, :]
        if i < n_layers - 1:
            h = act(h)
    return h[..., 0]


def init_dense_stack(rng: np.random.Generator, sizes: list[int], prefix: str = "l") -> dict[str, np.ndarray]:
    weights = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        weights[f"{prefix}{i}_w"] = glorot_uniform(rng, fan_in, fan_out)
        weights[f"{prefix}{i}_b"] = np.zeros(fan_out, dtype=np.float32)
    return weights


@dataclass(frozen=True)
class MLP(Architecture):
    """Fully connected ReLU-style network on chosen input features."""

    def parse(self, section: Section) -> dict[str, Any]:
        hidden = listed(section.items("hidden", [80], allow_empty=True), section.key("hidden"), as_int)
        for i, width in enumerate(hidden):
            if width < 1:
                raise ConfigError(section.key(f"hidden[{i}]"), f"a layer needs ≥ 1 unit, got {width}")
        return {"hidden": hidden, "activation": section.string("activation", "relu", ACTIVATIONS)}

    def width(self, params):
        return max([1, *params["hidden"]]) * max(1, len(params["hidden"]))

    def features(self, a, b):
        return _tf().stack([a, b], axis=-1)

    def n_features(self) -> int:
        return 2

    def output(self, y):
        return y

    def init(self, params, rng):
        return init_dense_stack(rng, [self.n_features(), *params["hidden"], 1])

    def forward(self, params, w, a, b):
        y = dense_stack(w, self.features(a, b), len(params["hidden"]) + 1, activation(params["activation"]))
        return self.output(y)


@dataclass(frozen=True)
class ProductFeatureMLP(MLP):
    """The MLP given a·b as a third input: multiplication handed to the network."""

    def features(self, a, b):
        return _tf().stack([a, b, a * b], axis=-1)

    def n_features(self) -> int:
        return 3


@dataclass(frozen=True)
class LogMLP(MLP):
    """log-space inputs, exp output: a·b = exp(log a + log b) is linear inside.

    Only defined for strictly positive inputs; configs with a non-positive range are rejected.
    """

    def check_range(self, params, train, key):
        if train.lo <= 0:
            raise ConfigError(key, f"log_mlp needs strictly positive inputs, got training range {train.label()}")

    def features(self, a, b):
        tf = _tf()
        return tf.stack([tf.math.log(a), tf.math.log(b)], axis=-1)

    def output(self, y):
        tf = _tf()
        return tf.exp(tf.minimum(y, 80.0))  # clamp keeps float32 finite; exp(80) ≫ any target


def _sparsity(weights: np.ndarray) -> np.ndarray:
    """max over each model's weights of min(|W|, 1 − |W|): 0 when every weight is in {−1, 0, 1}."""
    w = np.abs(weights.reshape(weights.shape[0], -1).astype(np.float64))
    return np.minimum(w, 1 - w).max(axis=1)


@dataclass(frozen=True)
class ProductUnit(Architecture):
    """An explicit multiplication layer: y = (u·x + c)(v·x + d) + w·x + e, x = (a, b).

    The product of two learned linear projections plus a linear term; u = (1, 0),
    v = (0, 1) and zeros elsewhere give a·b exactly, at any input scale.
    """

    def init(self, params, rng):
        def vec(n: int) -> np.ndarray:
            return glorot_uniform(rng, 2, n)[:, 0] if n else np.zeros(0, np.float32)

        zero = np.zeros(1, np.float32)
        return {"u": vec(2), "v": vec(2), "w": vec(2), "c": zero, "d": zero.copy(), "e": zero.copy()}

    def forward(self, params, w, a, b):
        def lin(vec):
            return a * vec[:, 0:1] + b * vec[:, 1:2]

        return (lin(w["u"]) + w["c"]) * (lin(w["v"]) + w["d"]) + lin(w["w"]) + w["e"]

    def width(self, params):
        return 4


@dataclass(frozen=True)
class NALU(Architecture):
    """Neural Arithmetic Logic Unit (Trask et al. 2018), one layer 2 → 1, no bias.

    W = tanh(Ŵ) ⊙ σ(M̂);  add = W·x;  mul = exp(W·log(|x| + ε));  g = σ(G·x);
    y = g·add + (1 − g)·mul.  Ŵ, M̂, G are Glorot-uniform; W is shared by both paths.
    """

    def parse(self, section):
        return {"epsilon": section.number("epsilon", 1e-7, positive=True)}

    def init(self, params, rng):
        return {name: glorot_uniform(rng, 2, 1)[:, 0] for name in ("W_hat", "M_hat", "G")}

    @staticmethod
    def nac_weight(w):
        tf = _tf()
        return tf.tanh(w["W_hat"]) * tf.sigmoid(w["M_hat"])

    def forward(self, params, w, a, b):
        tf = _tf()
        W = self.nac_weight(w)
        add = a * W[:, 0:1] + b * W[:, 1:2]
        eps = params["epsilon"]
        log_mul = tf.math.log(tf.abs(a) + eps) * W[:, 0:1] + tf.math.log(tf.abs(b) + eps) * W[:, 1:2]
        mul = tf.exp(tf.minimum(log_mul, 80.0))  # keeps float32 finite; exp(80) ≫ any target here
        g = tf.sigmoid(a * w["G"][:, 0:1] + b * w["G"][:, 1:2])
        return g * add + (1 - g) * mul

    def sparsity_error(self, params, w):
        W = np.tanh(w["W_hat"]) / (1 + np.exp(-w["M_hat"]))
        return _sparsity(W)

    def width(self, params):
        return 6


@dataclass(frozen=True)
class NMU(Architecture):
    """Neural Multiplication Unit (Madsen & Johansen, ICLR 2020), one layer 2 → 1.

    y = ∏ᵢ (Wᵢ·xᵢ + 1 − Wᵢ) with W clamped to [0, 1] (after every update) and initialised
    U[0.25, 0.75]; the sparsity regulariser λ·mean(min(|W|, 1 − |W|)) is scaled linearly
    from 0 at `sparsity_start` to λ = `sparsity_lambda` at `sparsity_end` (steps).
    """

    def parse(self, section):
        params = {
            "sparsity_lambda": section.number("sparsity_lambda", 10.0, minimum=0.0),
            "sparsity_start": section.integer("sparsity_start", 20_000, minimum=0),
            "sparsity_end": section.integer("sparsity_end", 35_000, minimum=0),
        }
        if params["sparsity_end"] < params["sparsity_start"]:
            from tasks.errors import ConfigError

            raise ConfigError(section.key("sparsity_end"), "must be ≥ sparsity_start")
        return params

    def init(self, params, rng):
        return {"W": rng.uniform(0.25, 0.75, size=2).astype(np.float32)}

    def forward(self, params, w, a, b):
        W = w["W"]
        # W·x + (1 − W), grouped so that W = 1 gives x exactly (W·x + 1 − W would round x + 1)
        return (W[:, 0:1] * a + (1 - W[:, 0:1])) * (W[:, 1:2] * b + (1 - W[:, 1:2]))

    def regularizer(self, params, w, step):
        tf = _tf()
        start, end = float(params["sparsity_start"]), float(params["sparsity_end"])
        scale = (
            tf.clip_by_value((step - start) / max(end - start, 1.0), 0.0, 1.0)
            if end > start
            else tf.cast(step >= start, tf.float32)
        )
        W = tf.abs(w["W"])
        return params["sparsity_lambda"] * scale * tf.reduce_mean(tf.minimum(W, 1 - W), axis=1)

    def project(self, params, w):
        return {**w, "W": _tf().clip_by_value(w["W"], 0.0, 1.0)}

    def sparsity_error(self, params, w):
        return _sparsity(np.clip(w["W"], 0, 1))

    def width(self, params):
        return 3


REGISTRY: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        MLP("mlp", "fully connected network on (a, b); the article's model is hidden=[80], relu"),
        ProductFeatureMLP("mlp_product_feature", "MLP on (a, b, a·b)"),
        LogMLP("log_mlp", "MLP on (log a, log b) with exp output; positive ranges only"),
        ProductUnit("product_unit", "(u·x + c)(v·x + d) + w·x + e: explicit multiplication of two projections"),
        NALU("nalu", "Neural Arithmetic Logic Unit (Trask et al. 2018)"),
        NMU("nmu", "Neural Multiplication Unit (Madsen & Johansen 2020)"),
    )
}


def get(name: str) -> Architecture:
    return REGISTRY[name]


def parse_architecture(raw: Any, key: str) -> tuple[str, dict[str, Any]]:
    section = Section(raw, key)
    name = section.string("arch", choices=tuple(REGISTRY))
    params = REGISTRY[name].parse(section)
    section.done()
    return name, params
