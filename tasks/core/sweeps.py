"""Sweeps: a list where a config key takes one value stands for several values of that key.

The rule, for every key a section's parser reads with a typed reader of tasks.core.schema.Section
(which says how deep a list the key takes): a value exactly one list deeper is a sweep over its items.

    a single value (number, integer, string, `auto`)   learning_rate: [1e-3, 3e-3]
    a list (`hidden: [80]`, `layers: [nau, nmu]`)      hidden: [[8], [80]]
    a list of lists (a reader's item_depth=1)          one level deeper again

Refused, each with one ConfigError naming the key: a list whose items mix lists and single values
(`hidden: [[8], 80]`: one MLP of two layers, or two MLPs?), a value nested deeper than a sweep, an
empty sweep, a value listed twice, and a sweep of a key that cannot be swept (`unsweepable`).
Mappings (nested sections) and keys a parser reads without a typed reader are never sweeps.

A section's variants are the cartesian product of its swept keys' values, the first key read
varying slowest. The parser itself tells which lists are sweeps: it reads the section once with the
first value of each sweep standing in (`_Probe`), then every combination for real, so each variant
meets exactly the checks and messages of a section written out by hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tasks.core.errors import ConfigError
from tasks.core.schema import Section

T = TypeVar("T")

MIXED = (
    "mixes lists and single values, so it is neither one value nor a sweep; "
    "write one value, or a sweep as a list of values of the same shape"
)


@dataclass(frozen=True)
class Variant(Generic[T]):
    values: dict[str, Any]  # each swept key's value in this variant, as written, in reading order
    parsed: T


def depth(value: Any, key: str) -> int:
    """How deep `value` nests lists: 0 for a single value, 1 for [8, 80], 2 for [[8], [80]]
    (an empty list counts as a list of single values); mixed depths are ambiguous."""
    if not isinstance(value, list):
        return 0
    inner = {depth(v, key) for v in value}
    if len(inner) > 1:
        raise ConfigError(key, MIXED)
    return 1 + (inner.pop() if inner else 0)


def sweep_values(value: Any, takes: int, key: str) -> list[Any] | None:
    """The values a sweep of `key` (a key taking lists `takes` deep) stands for; None when
    `value` is one value of the key."""
    found = depth(value, key)
    if found <= takes:
        return None  # one value (or too shallow a one: the parser says what it expected)
    if found > takes + 1:
        shape = "a single value" if takes == 0 else f"a list{' of lists' * (takes - 1)}"
        raise ConfigError(key, f"lists nested {found} deep where the key takes {shape}: give one, or a list of them")
    if not value:
        raise ConfigError(key, "an empty list sweeps no values: give one value, or a list of at least one")
    for i, v in enumerate(value):
        if v in value[:i]:
            raise ConfigError(key, f"the sweep lists {v!r} twice")
    return list(value)


class _Probe(Section):
    """Reads a section once to learn its sweeps: the first value of each stands in."""

    def __init__(self, data: Any, path: str, unsweepable: dict[str, str]):
        super().__init__(data, path)
        self.sweeps: dict[str, list[Any]] = {}
        self.unsweepable = unsweepable

    def expects(self, name: str, depth: int) -> None:
        if name in self.sweeps or name not in self.data:
            return
        values = sweep_values(self.data[name], depth, self.key(name))
        if values is None:
            return
        if name in self.unsweepable:
            raise ConfigError(self.key(name), f"cannot be swept: {self.unsweepable[name]}")
        self.sweeps[name] = values
        self.data[name] = values[0]

    def done(self) -> None:
        pass  # every variant's own reading rejects unknown keys


def expand(
    raw: Any, path: str, parse: Callable[[Section], T], unsweepable: dict[str, str] | None = None
) -> list[Variant[T]]:
    """The variants of section `raw` at `path`, each parsed by `parse`; one (with no swept
    values) when nothing is swept. A key read only in some variants (one that depends on a
    swept key) is found, and swept, in those."""
    unsweepable = unsweepable or {}
    probe = _Probe(raw, path, unsweepable)
    parse(probe)
    if not probe.sweeps:
        return [Variant({}, parse(Section(raw, path)))]
    out: list[Variant[T]] = []
    for combination in itertools.product(*probe.sweeps.values()):
        chosen = dict(zip(probe.sweeps, combination))
        for variant in expand({**raw, **chosen}, path, parse, unsweepable):
            out.append(Variant({**chosen, **variant.values}, variant.parsed))
    return out


def value_text(value: Any) -> str:
    """A swept value in a label: 0.003, [8,80], adam."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(value_text(v) for v in value) + "]"
    return str(value)
