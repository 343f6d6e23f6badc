"""Stacks of arithmetic layers: the models of the neural-arithmetic papers, and the 2-input units.

`{arch: stack, layers: [nau, nmu]}` is Madsen & Johansen's NMU model for the arithmetic
dataset task: N inputs → `hidden` (2) → 1, an addition layer that must find the two subsets,
then a multiplication layer. Any layers of tasks.model.units.layers compose: [nac_add,
nac_mul] is NAC•, [nalu, nalu] the NALU, [relu, linear] the ReLU baseline; one layer is a
single 2 → 1 module (the Primer's benchmark). The sparsity regulariser λ · ramp(step) ·
Σ (mean(min(|W|, 1 − |W|)) of each NAU/NMU layer) follows stable-nalu (regualizer, linear
scaling between `sparsity_start` and `sparsity_end`).

The 2-input units `nmu` and `nalu` are one-layer stacks (OneLayer) with the parameters and
weight names they had as units of their own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.core.errors import ConfigError
from tasks.core.schema import Section, as_str, listed
from tasks.model.architecture import (
    Architecture,
    TwoInputs,
    linear_ramp,
    parse_sparsity_schedule,
    sparsity,
    sparsity_schedule,
)
from tasks.model.units.layers import EPSILON, INITS, LAYERS, STABLE_NALU


@dataclass(frozen=True)
class Stack(Architecture):
    default_init: str = STABLE_NALU  # of the NAC weights, when a config gives no `init`

    def parse(self, section):
        key = section.key("layers")
        layers = listed(section.items("layers"), key, lambda v, k: as_str(v, k, tuple(LAYERS)))
        return {
            "layers": layers,
            "hidden": section.integer("hidden", 2, minimum=1),
            "epsilon": section.number("epsilon", EPSILON, positive=True),  # inside log(|x| + ε)
            **parse_sparsity_schedule(section),
            **self.parse_init(section, layers),
        }

    def parse_init(self, section: Section, layers: list[str]) -> dict[str, Any]:
        """{"init": …} when a config chooses other than this architecture's default; the
        default is not recorded, so models trained before the key existed keep their ids."""
        init = section.string("init", self.default_init, INITS)
        if init == self.default_init:
            return {}
        if not any(LAYERS[n].nac for n in layers):
            nac = ", ".join(n for n, layer in LAYERS.items() if layer.nac)
            raise ConfigError(section.key("init"), f"chooses how Ŵ, M̂ of {nac} layers start; {layers} has none")
        return {"init": init}

    def layer_names(self, params) -> list[str]:
        return params["layers"]

    def sizes(self, params, n_inputs: int) -> list[int]:
        return [n_inputs, *[params["hidden"]] * (len(params["layers"]) - 1), 1]

    def layer_weights(self, w, i: int) -> dict:
        """Layer i's weights [K, I, O] out of the model's."""
        prefix = f"{i}_"
        return {k[len(prefix) :]: v for k, v in w.items() if k.startswith(prefix)}

    def stored_weights(self, i: int, layer_w: dict) -> dict:
        """The inverse of layer_weights: layer i's weights under the model's names."""
        return {f"{i}_{k}": v for k, v in layer_w.items()}

    def init(self, params, rng, n_inputs):
        init = params.get("init", self.default_init)
        weights = {}
        for i, (name, (n_in, n_out)) in enumerate(
            zip(self.layer_names(params), itertools.pairwise(self.sizes(params, n_inputs)))
        ):
            weights.update(self.stored_weights(i, LAYERS[name].init(rng, n_in, n_out, init)))
        return weights

    def forward(self, params, w, x):
        h = x
        for i, name in enumerate(self.layer_names(params)):
            h = LAYERS[name].forward(self.layer_weights(w, i), h, params.get("epsilon", EPSILON))
        return h[..., 0]

    def regularizer(self, params, w, step):
        total = super().regularizer(params, w, step)
        regularised = [(i, LAYERS[n]) for i, n in enumerate(self.layer_names(params)) if LAYERS[n].regularised]
        if not regularised:
            return total
        for i, layer in regularised:
            total += layer.regularizer(self.layer_weights(w, i))
        ramp = linear_ramp(step, float(params["sparsity_start"]), float(params["sparsity_end"]))
        return params["sparsity_lambda"] * ramp * total

    def project(self, params, w):
        out = dict(w)
        for i, name in enumerate(self.layer_names(params)):
            out.update(self.stored_weights(i, LAYERS[name].project(self.layer_weights(w, i))))
        return out

    def sparsity_error(self, params, w):
        """max over layers (each: max over weights of min(|W|, 1 − |W|)), as stable-nalu reports it."""
        names = self.layer_names(params)
        per_layer = [LAYERS[n].effective(self.layer_weights(w, i)) for i, n in enumerate(names)]
        per_layer = [sparsity(e) for e in per_layer if e is not None]
        return np.max(per_layer, axis=0) if per_layer else None

    def width(self, params):
        return params["hidden"] * len(params["layers"])

    def schedule(self, params):
        return sparsity_schedule(params, any(LAYERS[n].regularised for n in self.layer_names(params)))

    def label(self, params):
        text = "→".join(params["layers"])
        if len(params["layers"]) > 1 and params["hidden"] != 2:
            text += f" hidden={params['hidden']}"
        if any(LAYERS[n].regularised for n in params["layers"]):
            text += f" λ={params['sparsity_lambda']:g}@{params['sparsity_start']}–{params['sparsity_end']}"
        if params["epsilon"] != EPSILON:
            text += f" ε={params['epsilon']:g}"
        if "init" in params:
            text += f" init={params['init']}"
        return text


@dataclass(frozen=True)
class OneLayer(TwoInputs, Stack):
    """The one-layer stack [`layer`] as a 2 → 1 unit: parameters only for what the layer uses
    (ε of a log-space layer, `init` of NAC weights, the NAU/NMU regulariser's schedule), and
    weights under the layer's own names with shape [K, 2] (the output axis of size 1 dropped)."""

    layer: str = "nmu"
    activations: int = 1  # width(): per sample, for bundle sizing

    def parse(self, section):
        layer = LAYERS[self.layer]
        return {
            **({"epsilon": section.number("epsilon", EPSILON, positive=True)} if layer.log_space else {}),
            **(self.parse_init(section, [self.layer]) if layer.nac else {}),
            **(parse_sparsity_schedule(section) if layer.regularised else {}),
        }

    def layer_names(self, params):
        return [self.layer]

    def sizes(self, params, n_inputs):
        return [n_inputs, 1]

    def layer_weights(self, w, i):
        return {k: v[..., None] for k, v in w.items()}

    def stored_weights(self, i, layer_w):
        return {k: v[..., 0] for k, v in layer_w.items()}

    def width(self, params):
        return self.activations

    def label(self, params):
        return Architecture.label(self, params)
