"""Sweeps in a study: which variants an `architectures` entry becomes, and what they are called.

A list in an architecture's settings or in a `training` section (the study's, or an entry's own)
sweeps that key (the rule: tasks.core.sweeps). An entry's variants are the cartesian product of
every key swept for it: the study's `training` sweeps (except keys the entry sets itself: its own
value wins), then the entry's own `training` sweeps, then its parameters', the first varying
slowest. A variant is exactly the entry written out by hand with those values: same model ids.

A variant's label names only its swept values, after the architecture's name:
`mlp lr=0.003 hidden=[80]`; where two entries' variants would share one, the entry's full label
(`mlp(activation=relu hidden=8) lr=0.003`) stands in for the name.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from tasks.core.schema import Section
from tasks.core.sweeps import Variant, expand, value_text
from tasks.model.settings import TrainingConfig

UNSWEPT_TRAINING = {"bundle_size": "it packs models into training tasks and never changes a result"}
UNSWEPT_ARCHITECTURE = {"arch": "an entry is one architecture; list each under `architectures`"}
TRAINING = "training."  # how a swept training key is named beside an architecture's parameters
SHORT = {"training.learning_rate": "lr", "training.batch_size": "batch"}  # in labels

ParseTraining = Callable[[Section, TrainingConfig | None], TrainingConfig]


class Swept(Protocol):
    arch: str
    entry: int

    @property
    def swept(self) -> dict[str, Any]: ...

    def full_label(self) -> str: ...


def training_variants(
    study: list[Variant[TrainingConfig]], overrides: Any, key: str, parse: ParseTraining
) -> list[tuple[dict[str, Any], TrainingConfig | None]]:
    """(swept training keys and values, the training) of each of an entry's training variants;
    one (with None: the study's training) for an entry without overrides in an unswept study."""
    if overrides is None:
        if len(study) == 1:
            return [({}, None)]
        return [(_named({k: getattr(v.parsed, k) for k in v.values}), v.parsed) for v in study]
    own = set(overrides) if isinstance(overrides, dict) else set()
    out, seen = [], set()
    for base in study:
        kept = {k: v for k, v in base.values.items() if k not in own}  # the entry's own value wins
        if json.dumps(kept, sort_keys=True) in seen:
            continue
        seen.add(json.dumps(kept, sort_keys=True))
        for variant in expand(overrides, key, lambda s, b=base.parsed: parse(s, b), UNSWEPT_TRAINING):
            values = {**kept, **variant.values}
            out.append((_named({k: getattr(variant.parsed, k) for k in values}), variant.parsed))
    return out


def _named(values: dict[str, Any]) -> dict[str, Any]:
    return {TRAINING + k: v for k, v in values.items()}


def swept_values(study: list[Variant[TrainingConfig]]) -> str:
    """The study's `training` sweep as JSON {key: [values as parsed]} ("{}": none), for rendering."""
    keys = list(study[0].values)
    values = {k: list(dict.fromkeys(getattr(v.parsed, k) for v in study)) for k in keys}
    return json.dumps(values)


def swept_text(swept: dict[str, Any]) -> str:
    """`lr=0.003 hidden=[80]`."""
    names = [SHORT.get(k, k.removeprefix(TRAINING)) for k in swept]
    shown = [n if names.count(n) == 1 else k for n, k in zip(names, swept)]  # ε of the unit and of Adam
    return " ".join(f"{n}={value_text(v)}" for n, v in zip(shown, swept.values()))


def variant_labels(archs: list[Swept]) -> list[str]:
    """Each variant's label ("" for an entry that is not swept), unique within the study."""
    short = [f"{a.arch} {swept_text(a.swept)}" if a.swept else "" for a in archs]
    taken = Counter(short)
    return [
        f"{a.full_label()} {swept_text(a.swept)}" if label and taken[label] > 1 else label
        for a, label in zip(archs, short)
    ]


def where(arch: Swept) -> str:
    """`architectures[1]` or `architectures[1] (lr=0.003)`: where a spec comes from."""
    return f"architectures[{arch.entry}]" + (f" ({swept_text(arch.swept)})" if arch.swept else "")
