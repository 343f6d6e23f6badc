"""The one registry of targets: which numbers are an operation's operands, given a model's N inputs.

A target is an operand layout; the operation (tasks.data.operations) turns the operands into
y. A dataset stores the inputs (N float32 columns, drawn independently from the range) and,
where y does not depend on the model, y too. A target may give each model its own `layout`
(the arithmetic subset task places its subsets per seed, as stable-nalu does); the layout
is a float32 array derived from the model seed alone, so a model sees the same task in any
bundle.

    inputs   the operands are the inputs: a, b (the article's task; N = 2, or the
             operation's arity when it reads more). An operation that reads one operand
             (a², √a) leaves b as an input the model must learn to ignore.
    subset   the arithmetic dataset task of Madsen & Johansen (ICLR 2020): an input vector of
             N numbers, the operands the sums of overlapping contiguous subsets (two, or as
             many as the operation reads), y = operation(a, b, …). stable-nalu's
             SimpleFunctionDataset builds its subsets the same way for every operation (its
             `squared` and `root` read the first and ignore the second).

A config names a target and its operation: `target: {name: inputs, operation: div}`;
`operation` may list several (`[mul, div, add, sub, square]`), one study then covers each.
`target: product` is the article's `{name: inputs, operation: mul}` and keeps its ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.core import products
from tasks.core.errors import ConfigError, UserError
from tasks.core.ids import canonical_json, seed_from
from tasks.core.ranges import Ranges
from tasks.core.schema import Section, as_str, type_name
from tasks.data import operations
from tasks.data.operations import LETTERS, Operation

DEFAULT_OPERATION = "mul"  # not written into params or ids: a·b keeps the ids it always had


def operation_of(params: dict[str, Any]) -> Operation:
    return operations.get(params.get("operation", DEFAULT_OPERATION))


@dataclass(frozen=True)
class Target:
    """An operand layout. `params` hold its own keys and, unless it is mul, the operation."""

    name: str
    summary: str
    operands_are_inputs: bool = False  # the diagonal a = b = x and the Primer's rule need this

    def parse(self, section: Section) -> dict[str, Any]:
        return {}

    def check(self, section: Section, params: dict[str, Any], operation: Operation) -> None:
        """Raise a ConfigError when this layout cannot supply `operation`'s operands."""

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

    def operand_masks(self, params: dict[str, Any], layout: np.ndarray) -> np.ndarray:
        """Which inputs sum to each operand the operation reads ([k, N] of 0/1): the ideal
        first layer of a two-layer model."""
        raise NotImplementedError

    def operands(self, params: dict[str, Any], x: np.ndarray, layout: np.ndarray) -> list[np.ndarray]:
        """The operands a, b, … (float64) of inputs x [n, N]."""
        x64 = x.astype(np.float64)
        return [x64 @ m for m in self.operand_masks(params, layout).astype(np.float64)]

    def operand_ranges(self, params: dict[str, Any], ranges: Ranges) -> list[Ranges]:
        """What each operand ranges over when every input is drawn from `ranges` (its hull
        where the operand is a sum)."""
        raise NotImplementedError

    def y(self, params: dict[str, Any], x: np.ndarray, layout: np.ndarray) -> np.ndarray:
        """The values models are trained towards, as float64 (metrics compare with these)."""
        return operation_of(params).y(self.operands(params, x, layout))

    def stored_y(self, params: dict[str, Any], x: np.ndarray) -> np.ndarray:
        """The shard's y column (targets that do not depend on the model only)."""
        return self.y(params, x, self.layout(params, 0)).astype(np.float32)

    def y_tf(self, params: dict[str, Any], x, layout):
        """y [K, B] (float32) for inputs x [K, B, N] and layouts [K, ...], inside a TF graph."""
        raise NotImplementedError

    def diagonal(self, params: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inputs [n, N], y) with every input = x; layouts whose operands are inputs only."""
        raise NotImplementedError

    def identity(self, params: dict[str, Any]) -> Any:
        """What identifies the target and its operation (a plugin operation adds its code)."""
        code = operations.code_identity(operation_of(params).name)
        return {"name": self.name, **params, **({"operation_code": code} if code else {})}

    def data_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters a dataset's shards depend on: all of them where shards store y,
        else the layout's alone (every operation of the study shares those datasets)."""
        return params if not self.per_model(params) else {k: v for k, v in params.items() if k != "operation"}


@dataclass(frozen=True)
class Inputs(Target):
    def n_inputs(self, params):
        return max(2, operation_of(params).arity)

    def columns(self, params):
        return tuple(LETTERS[: self.n_inputs(params)])  # a, b: the article's columns

    def _columns_of(self, x, params):
        return [x[..., i] for i in range(operation_of(params).arity)]

    def operand_masks(self, params, layout):
        return np.eye(self.n_inputs(params))[: operation_of(params).arity]

    def operands(self, params, x, layout):
        return [c.astype(np.float64) for c in self._columns_of(x, params)]

    def operand_ranges(self, params, ranges):
        return [ranges] * operation_of(params).arity

    def stored_y(self, params, x):
        """The operation in float32 on the stored inputs (a·b: the IEEE float32 product, rounded once)."""
        return operation_of(params).y(self._columns_of(x, params))

    def y(self, params, x, layout):
        return self.stored_y(params, x).astype(np.float64)  # what the trainer's float32 arithmetic gives

    def y_tf(self, params, x, layout):
        return operation_of(params).y_tf(self._columns_of(x, params))  # float32, as stored in the shards

    def diagonal(self, params, x):
        x64 = x.astype(np.float32).astype(np.float64)  # the inputs a float32 model sees
        return np.stack([x] * self.n_inputs(params), axis=1), operation_of(params).diagonal(x64)

    def identity(self, params):
        return "product" if not params else super().identity(params)  # the article's task keeps its ids


@dataclass(frozen=True)
class Subset(Target):
    """stable-nalu's `SimpleFunctionDataset`: subset_size = ⌊subset_ratio·N⌋, overlap =
    ⌊overlap_ratio·subset_size⌋; subset 0 = [o, o + s), each next subset starts `overlap`
    before the previous one ends; the offset o is drawn per seed from [0, N − used]. The
    operands are the subsets' sums; there are two subsets, or as many as the operation reads."""

    def parse(self, section):
        params = {
            "input_size": section.integer("input_size", 100, minimum=2),
            "subset_ratio": section.number("subset_ratio", 0.25, positive=True),
            "overlap_ratio": section.number("overlap_ratio", 0.5, minimum=0.0),
        }
        size, _, _ = self.sizes(params, 2)
        if size < 1 or params["overlap_ratio"] >= 1:
            raise ConfigError(section.key("subset_ratio"), f"subsets of {size} inputs, overlap ratio < 1 are needed")
        return params

    def check(self, section, params, operation):
        count = self.subsets(operation)
        _, _, used = self.sizes(params, count)
        if used > params["input_size"]:
            raise ConfigError(
                section.key("subset_ratio"),
                f"{count} subsets need {used} inputs, only {params['input_size']} are given",
            )

    @staticmethod
    def subsets(operation: Operation) -> int:
        return max(2, operation.arity)

    @staticmethod
    def sizes(params: dict[str, Any], subsets: int = 2) -> tuple[int, int, int]:
        """(subset size, overlap, inputs used by all subsets)."""
        size = int(params["subset_ratio"] * params["input_size"])
        overlap = int(params["overlap_ratio"] * size)
        return size, overlap, subsets * size - (subsets - 1) * overlap

    def n_inputs(self, params):
        return params["input_size"]

    def per_model(self, params):
        return True

    def layout(self, params, seed):
        """Masks [S, N] of the S subsets at this seed's offset."""
        n, count = params["input_size"], self.subsets(operation_of(params))
        size, overlap, used = self.sizes(params, count)
        rng = np.random.default_rng(seed_from("subset-offset", seed))
        offset = int(rng.integers(0, n - used + 1))
        masks = np.zeros((count, n), np.float32)
        for i in range(count):
            start = offset + i * (size - overlap)
            masks[i, start : start + size] = 1
        return masks

    def operand_masks(self, params, layout):
        return np.asarray(layout, np.float64)[: operation_of(params).arity]

    def operand_ranges(self, params, ranges):
        size, _, _ = self.sizes(params)
        return [Ranges.of((size * ranges.lo, size * ranges.hi))] * operation_of(params).arity

    def y_tf(self, params, x, layout):
        import tensorflow as tf

        sums = products.product(x, tf.transpose(layout, [0, 2, 1]))  # [K, B, S]
        return operation_of(params).y_tf([sums[..., i] for i in range(operation_of(params).arity)])


REGISTRY: dict[str, Target] = {
    t.name: t
    for t in (
        Inputs("inputs", "the operands are the inputs: y = a·b, a/b, … of two inputs (the article's task)", True),
        Subset("subset", "the arithmetic dataset task: y = op(Σ subset A, Σ subset B) of N inputs (ICLR 2020)"),
    )
}
PRODUCT_ALIAS = "product"  # the article's task by its old name: {name: inputs, operation: mul}


@dataclass(frozen=True)
class TargetSpec:
    """A target, its parameters and its operation, as a config names them."""

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
        return json.loads(self.params_json)

    @property
    def operation(self) -> Operation:
        return operation_of(self.params)

    @property
    def n_inputs(self) -> int:
        return self.target.n_inputs(self.params)

    def identity(self) -> Any:
        return self.target.identity(self.params)

    def for_data(self) -> TargetSpec:
        """The target as its datasets know it (without the operation where shards hold no y)."""
        return TargetSpec(self.name, canonical_json(self.target.data_params(self.params)))

    def model_identity(self) -> dict[str, Any]:
        """What a model's id needs beyond its datasets' ids: the operation, where they lack it."""
        data = self.for_data()
        return {} if data == self else {"target": self.identity()}

    def layouts(self, seeds: list[int] | tuple[int, ...]) -> np.ndarray:
        """Stacked layouts [K, ...] of these model seeds."""
        return np.stack([self.target.layout(self.params, int(s)) for s in seeds])

    def label(self) -> str:
        """y = a/b (the inputs' operation), or y = a/b over subset(input_size=…, …)."""
        shown = {k: v for k, v in self.params.items() if k != "operation"}
        where = "" if not shown else f" over {self.name}({', '.join(f'{k}={v}' for k, v in shown.items())})"
        return f"y = {self.operation.symbol}{where}"


PRODUCT = TargetSpec("inputs")


def parse_targets(raw: Any, key: str) -> tuple[TargetSpec, ...]:
    """`product`, `inputs`, `subset`, or a mapping `{name: subset, input_size: 100, …,
    operation: div}`; `operation` (default mul) may list several, one target each."""
    if isinstance(raw, str):
        raw = {"name": raw}
    section = Section(raw, key)
    name = section.string("name", "inputs", choices=(*REGISTRY, PRODUCT_ALIAS))
    listed = section.raw("operation", DEFAULT_OPERATION)
    op_key = section.key("operation")
    if not isinstance(listed, (str, list)) or listed == []:
        raise ConfigError(op_key, f"expected an operation or a non-empty list of them, got {type_name(listed)}")
    many = isinstance(listed, list)
    chosen = [
        as_str(v, f"{op_key}[{i}]" if many else op_key, operations.names())
        for i, v in enumerate(listed if many else [listed])
    ]
    if len(set(chosen)) != len(chosen):
        raise ConfigError(op_key, "the same operation is listed twice")
    if name == PRODUCT_ALIAS:
        if chosen != [DEFAULT_OPERATION]:
            raise ConfigError(op_key, "'product' is y = a·b; for other operations use {name: inputs, operation: …}")
        name = "inputs"
    target = REGISTRY[name]
    params = target.parse(section)
    section.done()
    specs = []
    for op in chosen:
        target.check(section, params, operations.get(op))
        own = {**params, **({"operation": op} if op != DEFAULT_OPERATION else {})}
        specs.append(TargetSpec(name, canonical_json(own)))
    if len({s.n_inputs for s in specs}) > 1:
        counts = ", ".join(f"{s.operation.name}: {s.n_inputs}" for s in specs)
        raise ConfigError(op_key, f"a study's operations must take the same number of inputs ({counts})")
    return tuple(specs)


def parse_target(raw: Any, key: str) -> TargetSpec:
    """One target (a config naming one operation)."""
    specs = parse_targets(raw, key)
    if len(specs) > 1:
        raise ConfigError(f"{key}.operation", "one operation expected here")
    return specs[0]
