"""The one registry of targets: what a model's N inputs are and how y is computed from them.

A dataset stores the inputs (N float32 columns, drawn independently from the range); the
target turns them into y — in numpy for evaluation (float64) and in TensorFlow inside the
compiled training loop (float32). A target may give each model its own `layout` (the
arithmetic subset task places its subsets per seed, as stable-nalu does); the layout is a
float32 array derived from the model seed alone, so a model sees the same task in any bundle.

    product   y = a·b, N = 2 (the article's task)
    subset    the arithmetic dataset task of Madsen & Johansen (ICLR 2020): an input vector of
              N numbers, a and b the sums of two overlapping contiguous subsets, y = a·b
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.core.errors import ConfigError, UserError
from tasks.core.ids import seed_from
from tasks.core.schema import Section


@dataclass(frozen=True)
class Target:
    name: str
    summary: str

    def parse(self, section: Section) -> dict[str, Any]:
        return {}

    def n_inputs(self, params: dict[str, Any]) -> int:
        raise NotImplementedError

    def columns(self, params: dict[str, Any]) -> tuple[str, ...]:
        """Names of the input columns in a shard."""
        return tuple(f"x{i}" for i in range(self.n_inputs(params)))

    def per_model(self, params: dict[str, Any]) -> bool:
        """Whether y depends on the model (through its layout); if not, shards also store y."""
        return False

    def layout(self, params: dict[str, Any], seed: int) -> np.ndarray:
        """The model's own task parameters (float32, same shape for every seed)."""
        return np.zeros(0, np.float32)

    def operands(self, params: dict[str, Any], x: np.ndarray, layout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) in float64 for inputs x [n, N]: y = a·b."""
        raise NotImplementedError

    def y(self, params: dict[str, Any], x: np.ndarray, layout: np.ndarray) -> np.ndarray:
        """The values models are trained towards, as float64 (metrics compare with these)."""
        a, b = self.operands(params, x, layout)
        return a * b

    def stored_y(self, params: dict[str, Any], x: np.ndarray) -> np.ndarray:
        """The shard's y column (targets that do not depend on the model only)."""
        return self.y(params, x, self.layout(params, 0)).astype(np.float32)

    def y_tf(self, params: dict[str, Any], x, layout):
        """y [K, B] (float32) for inputs x [K, B, N] and layouts [K, L], inside a TF graph."""
        raise NotImplementedError

    def identity(self, params: dict[str, Any]) -> Any:
        """What identifies the target in dataset and model ids."""
        return {"name": self.name, **params}


@dataclass(frozen=True)
class Product(Target):
    def n_inputs(self, params):
        return 2

    def columns(self, params):
        return ("a", "b")

    def operands(self, params, x, layout):
        return x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)

    def stored_y(self, params, x):
        """The IEEE float32 product of the stored inputs, rounded once."""
        return x[:, 0] * x[:, 1]

    def y(self, params, x, layout):
        return self.stored_y(params, x).astype(np.float64)  # what the trainer's float32 product gives

    def y_tf(self, params, x, layout):
        return x[..., 0] * x[..., 1]  # the float32 product, as stored in the shards

    def identity(self, params):
        return "product"  # the article's task keeps the ids it always had


@dataclass(frozen=True)
class Subset(Target):
    """stable-nalu's `SimpleFunctionDataset`: subset_size = ⌊subset_ratio·N⌋, overlap =
    ⌊overlap_ratio·subset_size⌋; subset 0 = [o, o + s), subset 1 starts `overlap` before
    subset 0 ends; the offset o is drawn per seed from [0, N − used]. a, b are the sums."""

    def parse(self, section):
        params = {
            "input_size": section.integer("input_size", 100, minimum=2),
            "subset_ratio": section.number("subset_ratio", 0.25, positive=True),
            "overlap_ratio": section.number("overlap_ratio", 0.5, minimum=0.0),
        }
        size, _, used = self.sizes(params)
        key = section.key("subset_ratio")
        if size < 1 or params["overlap_ratio"] >= 1:
            raise ConfigError(key, f"subsets of {size} inputs with overlap ratio < 1 are needed")
        if used > params["input_size"]:
            raise ConfigError(key, f"two subsets need {used} inputs, only {params['input_size']} are given")
        return params

    @staticmethod
    def sizes(params: dict[str, Any]) -> tuple[int, int, int]:
        """(subset size, overlap, inputs used by both subsets)."""
        size = int(params["subset_ratio"] * params["input_size"])
        overlap = int(params["overlap_ratio"] * size)
        return size, overlap, 2 * size - overlap

    def n_inputs(self, params):
        return params["input_size"]

    def per_model(self, params):
        return True

    def layout(self, params, seed):
        """Masks [2, N] of the two subsets at this seed's offset."""
        n = params["input_size"]
        size, overlap, used = self.sizes(params)
        rng = np.random.default_rng(seed_from("subset-offset", seed))
        offset = int(rng.integers(0, n - used + 1))
        masks = np.zeros((2, n), np.float32)
        masks[0, offset : offset + size] = 1
        start = offset + size - overlap
        masks[1, start : start + size] = 1
        return masks

    def operands(self, params, x, layout):
        x64 = x.astype(np.float64)
        return x64 @ layout[0].astype(np.float64), x64 @ layout[1].astype(np.float64)

    def y_tf(self, params, x, layout):
        import tensorflow as tf

        sums = tf.einsum("kbn,ksn->kbs", x, layout)  # [K, B, 2]
        return sums[..., 0] * sums[..., 1]


REGISTRY: dict[str, Target] = {
    t.name: t
    for t in (
        Product("product", "y = a·b on two inputs (the article's task)"),
        Subset("subset", "the arithmetic dataset task: y = (Σ subset A)·(Σ subset B) of N inputs (ICLR 2020)"),
    )
}


@dataclass(frozen=True)
class TargetSpec:
    """A target and its parameters, as a config names it."""

    name: str
    params_json: str = "{}"

    @property
    def target(self) -> Target:
        try:
            return REGISTRY[self.name]
        except KeyError:
            raise UserError(f"unknown target '{self.name}'") from None

    @property
    def params(self) -> dict[str, Any]:
        import json

        return json.loads(self.params_json)

    @property
    def n_inputs(self) -> int:
        return self.target.n_inputs(self.params)

    def identity(self) -> Any:
        return self.target.identity(self.params)

    def layouts(self, seeds: list[int] | tuple[int, ...]) -> np.ndarray:
        """Stacked layouts [K, ...] of these model seeds."""
        return np.stack([self.target.layout(self.params, int(s)) for s in seeds])

    def label(self) -> str:
        p = self.params
        return self.name if not p else f"{self.name}({', '.join(f'{k}={v}' for k, v in p.items())})"


PRODUCT = TargetSpec("product")


def parse_target(raw: Any, key: str) -> TargetSpec:
    """`product`, or a mapping `{name: subset, input_size: 100, ...}`."""
    from tasks.core.ids import canonical_json

    if isinstance(raw, str):
        raw = {"name": raw}
    section = Section(raw, key)
    name = section.string("name", choices=tuple(REGISTRY))
    params = REGISTRY[name].parse(section)
    section.done()
    return TargetSpec(name, canonical_json(params))
