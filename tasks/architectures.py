"""The one registry of architectures.

Each architecture knows how to read its parameters from a config section, how to initialise
one model's weights (numpy, from that model's own generator, so a model's initial weights
never depend on its bundle-mates), and how to run K stacked models forward in TensorFlow:
weights carry a leading axis K, inputs are [K, B] tensors a and b.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
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
    defaults: dict[str, Any] = field(default_factory=dict)

    def parse(self, section: Section) -> dict[str, Any]:
        return {}

    def check_range(self, params: dict[str, Any], train: Ranges, key: str) -> None:
        """Raise ConfigError when this architecture cannot work on `train`."""

    def init(self, params: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def forward(self, params: dict[str, Any], w: Weights, a, b):
        raise NotImplementedError

    def regularizer(self, params: dict[str, Any], w: Weights, progress):
        """Extra per-model loss term [K] (zero for most); `progress` is step/steps in [0, 1]."""
        tf = _tf()
        first = next(iter(w.values()))
        return tf.zeros(tf.shape(first)[:1], dtype=tf.float32)

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


REGISTRY: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        MLP("mlp", "fully connected network on (a, b); the article's model is hidden=[80], relu"),
        ProductFeatureMLP("mlp_product_feature", "MLP on (a, b, a·b)"),
        LogMLP("log_mlp", "MLP on (log a, log b) with exp output; positive ranges only"),
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
