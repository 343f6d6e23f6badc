"""What a dataset is: its spec and the content-derived id that names it.

A dataset is drawn from a range under a distribution by the config's data seed; its role
(train, val, test) is part of the identity so the three streams are independent. Where it
is stored is the artifact catalog's business (tasks.store.catalog).

The id hashes the spec and DATA_VERSION, the data stage's version. Bump it with any change
that alters a dataset's rows for the same spec:

    sampling (tasks.data.sampling), a shard's contents or seeding (tasks.data.shards), the
    stored y or an input layout of a target (tasks.data.targets).

A bump regenerates every dataset and so, through their ids, retrains and re-evaluates
everything. tests/test_numerics.py fails when rows change while this version did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.core.ids import content_id
from tasks.core.ranges import Ranges
from tasks.data.targets import PRODUCT, TargetSpec

# 1: the first release (implicit). 2: the lab's single numerics version before each stage had
# its own (kept, so datasets written then are still found).
DATA_VERSION = 2


@dataclass(frozen=True)
class DatasetSpec:
    role: str  # train | val | test: part of the identity, so the streams are independent
    ranges: Ranges
    distribution: str
    rows: int
    shard_rows: int
    seed: int  # the config's data seed; model seeds never enter a dataset
    target: TargetSpec = PRODUCT  # decides the inputs (how many) and, when it is the model's own, not y

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "ranges": self.ranges.to_json(),
            "distribution": self.distribution,
            "rows": self.rows,
            "shard_rows": self.shard_rows,
            "seed": self.seed,
            "target": self.target.identity(),
        }

    @property
    def n_inputs(self) -> int:
        return self.target.n_inputs

    @property
    def dataset_id(self) -> str:
        return content_id("ds", {**self.to_json(), "v": DATA_VERSION})

    @property
    def n_shards(self) -> int:
        return -(-self.rows // self.shard_rows)

    def shard_size(self, index: int) -> int:
        return min(self.shard_rows, self.rows - index * self.shard_rows)

    def shard_windows(self, window_rows: int) -> list[tuple[int, int]]:
        """Consecutive shard ranges [first, stop) of at most `window_rows` rows (≥ 1 shard)."""
        windows, first, rows = [], 0, 0
        for i in range(self.n_shards):
            size = self.shard_size(i)
            if i > first and rows + size > window_rows:
                windows.append((first, i))
                first, rows = i, 0
            rows += size
        windows.append((first, self.n_shards))
        return windows

    def rows_in(self, first: int, stop: int) -> int:
        return sum(self.shard_size(i) for i in range(first, stop))
