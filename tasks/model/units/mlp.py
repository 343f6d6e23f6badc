"""Multilayer perceptrons: the article's network and two variants that change its inputs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.core.errors import ConfigError
from tasks.core.schema import Section, as_int, listed
from tasks.model.architecture import POSITIVE, Architecture, InputDomain, TwoInputs, Weights, tf_module
from tasks.model.units.layers import EPSILON, LAYERS, clamped_exp

# each is also a Keras activation name: Keras export builds the MLP from Dense layers with it
ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "elu", "gelu", "softplus", "linear")


def activation(name: str):
    tf = tf_module()
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


def dense_stack(w: Weights, x, n_layers: int, act):
    """Stacked MLP: x [K, B, F] -> [K, B]; hidden layers use `act`, the output is linear.
    Layer i is the `linear` layer with weights l{i}_w, l{i}_b (the names Keras export reads)."""
    h = x
    for i in range(n_layers):
        h = LAYERS["linear"].forward({"W": w[f"l{i}_w"], "b": w[f"l{i}_b"]}, h, EPSILON)
        if i < n_layers - 1:
            h = act(h)
    return h[..., 0]


def init_dense_stack(rng: np.random.Generator, sizes: list[int]) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels, zero biases: the DNNRegressor's defaults."""
    weights = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layer = LAYERS["linear"].init(rng, fan_in, fan_out)
        weights.update({f"l{i}_w": layer["W"], f"l{i}_b": layer["b"]})
    return weights


@dataclass(frozen=True)
class MLP(Architecture):
    """Fully connected network on the inputs (hidden layers use `activation`, linear output)."""

    def parse(self, section: Section) -> dict[str, Any]:
        hidden = listed(section.items("hidden", [80], allow_empty=True), section.key("hidden"), as_int)
        for i, width in enumerate(hidden):
            if width < 1:
                raise ConfigError(section.key(f"hidden[{i}]"), f"a layer needs ≥ 1 unit, got {width}")
        return {"hidden": hidden, "activation": section.string("activation", "relu", ACTIVATIONS)}

    def width(self, params):
        return max([1, *params["hidden"]]) * max(1, len(params["hidden"]))

    def features(self, x):
        return x

    def n_features(self, n_inputs: int) -> int:
        return n_inputs

    def output(self, y):
        return y

    def init(self, params, rng, n_inputs):
        return init_dense_stack(rng, [self.n_features(n_inputs), *params["hidden"], 1])

    def forward(self, params, w, x):
        y = dense_stack(w, self.features(x), len(params["hidden"]) + 1, activation(params["activation"]))
        return self.output(y)


@dataclass(frozen=True)
class ProductFeatureMLP(TwoInputs, MLP):
    """The MLP given a·b as a third input: multiplication handed to the network."""

    def features(self, x):
        tf = tf_module()
        return tf.concat([x, x[..., 0:1] * x[..., 1:2]], axis=-1)

    def n_features(self, n_inputs: int) -> int:
        return n_inputs + 1


@dataclass(frozen=True)
class LogMLP(MLP):
    """log-space inputs, exp output: a·b = exp(log a + log b) is linear inside.

    Only defined for strictly positive inputs; configs with a non-positive range are rejected.
    """

    def input_domain(self, params) -> InputDomain:
        return POSITIVE

    def features(self, x):
        return tf_module().math.log(x)

    def output(self, y):
        return clamped_exp(y)
