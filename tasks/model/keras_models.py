"""A trained model as a Keras 3 model: built from the registry, weights from its bundle's stack.

A plain MLP becomes a Sequential of Dense layers (it loads with Keras alone); any other
architecture — shipped or a plugin's — becomes `LabUnit`, a Keras layer registered for
serialization that holds the model's weights as variables and runs the registry's forward
pass. Loading a saved LabUnit needs the project importable: `import tasks.model.keras_models`
registers it (tasks.api.load_keras does that for you).
"""

from __future__ import annotations

import json
from typing import Any

import keras
import numpy as np

from tasks.model import registry


@keras.saving.register_keras_serializable(package="multiplication_lab")
class LabUnit(keras.layers.Layer):
    """One model of a registered architecture: inputs [n, N] → predictions [n, 1]."""

    def __init__(self, arch: str, params: dict[str, Any] | str, n_inputs: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.arch = arch
        self.params = json.loads(params) if isinstance(params, str) else dict(params)
        self.n_inputs = int(n_inputs)
        unit = registry.get(arch)
        shapes = unit.init(self.params, np.random.default_rng(0), self.n_inputs)
        self.names = sorted(shapes)
        self.weights_by_name = {
            n: self.add_weight(name=n, shape=shapes[n].shape, initializer="zeros", trainable=True) for n in self.names
        }

    def call(self, x):
        unit = registry.get(self.arch)
        w = {n: v[None] for n, v in self.weights_by_name.items()}  # a bundle of one: the leading K axis
        return unit.forward(self.params, w, x[None])[0][:, None]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "arch": self.arch, "params": json.dumps(self.params), "n_inputs": self.n_inputs}


def keras_model(arch: str, params: dict[str, Any], weights: dict[str, np.ndarray], n_inputs: int) -> keras.Model:
    """A Keras model predicting what the lab's forward pass predicts for these weights (one
    model's, no leading K axis)."""
    if arch == "mlp":  # every activation of units.mlp.ACTIVATIONS is also a Keras activation name
        return _dense_mlp(params, weights, n_inputs)
    inputs = keras.Input((n_inputs,), name="x")
    layer = LabUnit(arch, params, n_inputs, name=arch)
    model = keras.Model(inputs, layer(inputs), name=f"lab_{arch}")
    for name, variable in layer.weights_by_name.items():
        variable.assign(np.asarray(weights[name], np.float32))
    return model


def _dense_mlp(params: dict[str, Any], weights: dict[str, np.ndarray], n_inputs: int) -> keras.Model:
    hidden = list(params["hidden"])
    layers = [keras.Input((n_inputs,), name="x")]
    layers += [keras.layers.Dense(h, activation=params["activation"], name=f"hidden_{i}") for i, h in enumerate(hidden)]
    layers.append(keras.layers.Dense(1, name="output"))
    model = keras.Sequential(layers, name="lab_mlp")
    for i, dense in enumerate(model.layers):
        dense.set_weights([np.asarray(weights[f"l{i}_w"]), np.asarray(weights[f"l{i}_b"])])
    return model
