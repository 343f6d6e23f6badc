"""Stacks of arithmetic layers: the two-layer models of the neural-arithmetic papers.

`{arch: stack, layers: [nau, nmu]}` is Madsen & Johansen's NMU model for the arithmetic
dataset task: N inputs → `hidden` (2) → 1, an addition layer that must find the two subsets,
then a multiplication layer. Any layers of tasks.model.units.layers compose: [nac_add,
nac_mul] is NAC•, [nalu, nalu] the NALU, [relu, linear] the ReLU baseline; one layer is a
single 2 → 1 module (the Primer's benchmark). The sparsity regulariser λ · ramp(step) ·
Σ (mean(min(|W|, 1 − |W|)) of each NAU/NMU layer) follows stable-nalu (regualizer, linear
scaling between `sparsity_start` and `sparsity_end`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tasks.core.schema import as_str, listed
from tasks.model.architecture import Architecture, linear_ramp, parse_sparsity_schedule, sparsity, sparsity_schedule
from tasks.model.units.layers import LAYERS


@dataclass(frozen=True)
class Stack(Architecture):
    def parse(self, section):
        key = section.key("layers")
        layers = listed(section.items("layers"), key, lambda v, k: as_str(v, k, tuple(LAYERS)))
        return {
            "layers": layers,
            "hidden": section.integer("hidden", 2, minimum=1),
            "epsilon": section.number("epsilon", 1e-7, positive=True),  # inside log(|x| + ε)
            **parse_sparsity_schedule(section),
        }

    @staticmethod
    def sizes(params, n_inputs: int) -> list[int]:
        return [n_inputs, *[params["hidden"]] * (len(params["layers"]) - 1), 1]

    def init(self, params, rng, n_inputs):
        weights = {}
        for i, (name, (n_in, n_out)) in enumerate(
            zip(params["layers"], itertools.pairwise(self.sizes(params, n_inputs)))
        ):
            weights.update({f"{i}_{k}": v for k, v in LAYERS[name].init(rng, n_in, n_out).items()})
        return weights

    @staticmethod
    def _layer_weights(w, i: int) -> dict:
        prefix = f"{i}_"
        return {k[len(prefix) :]: v for k, v in w.items() if k.startswith(prefix)}

    def forward(self, params, w, x):
        h = x
        for i, name in enumerate(params["layers"]):
            h = LAYERS[name].forward(self._layer_weights(w, i), h, params["epsilon"])
        return h[..., 0]

    def regularizer(self, params, w, step):
        total = super().regularizer(params, w, step)
        for i, name in enumerate(params["layers"]):
            if LAYERS[name].regularised:
                total += LAYERS[name].regularizer(self._layer_weights(w, i))
        ramp = linear_ramp(step, float(params["sparsity_start"]), float(params["sparsity_end"]))
        return params["sparsity_lambda"] * ramp * total

    def project(self, params, w):
        out = dict(w)
        for i, name in enumerate(params["layers"]):
            projected = LAYERS[name].project(self._layer_weights(w, i))
            out.update({f"{i}_{k}": v for k, v in projected.items()})
        return out

    def sparsity_error(self, params, w):
        """max over layers (each: max over weights of min(|W|, 1 − |W|)), as stable-nalu reports it."""
        per_layer = [LAYERS[n].effective(self._layer_weights(w, i)) for i, n in enumerate(params["layers"])]
        per_layer = [sparsity(e) for e in per_layer if e is not None]
        return np.max(per_layer, axis=0) if per_layer else None

    def width(self, params):
        return params["hidden"] * len(params["layers"])

    def schedule(self, params):
        return sparsity_schedule(params, any(LAYERS[n].regularised for n in params["layers"]))

    def label(self, params):
        text = "→".join(params["layers"])
        if len(params["layers"]) > 1 and params["hidden"] != 2:
            text += f" hidden={params['hidden']}"
        if any(LAYERS[n].regularised for n in params["layers"]):
            text += f" λ={params['sparsity_lambda']:g}@{params['sparsity_start']}–{params['sparsity_end']}"
        if params["epsilon"] != 1e-7:
            text += f" ε={params['epsilon']:g}"
        return text
