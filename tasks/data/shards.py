"""Shard contents (pure): shard i of a dataset as an Arrow table, and tables back to arrays.

Shard i is drawn from its own generator seeded by (dataset spec, i), so shards can be
written in parallel, in any order, on any node, and the same spec always gives identical
bytes. Writing and reading go through the store (tasks.jobs.generate, tasks.store.catalog).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.ids import canonical_json, seed_from
from tasks.data.sampling import sample
from tasks.data.spec import DatasetSpec

METADATA_KEY = b"lab.dataset"
COLUMNS = ("a", "b", "y")

# Random floats neither compress nor repeat: compression and dictionary encoding only cost
# time (pyarrow's default dictionary attempt makes writing ~3× slower and files ~14% larger).
SHARD_WRITE_OPTIONS = {"compression": "none", "use_dictionary": False}


def generate_shard(spec: DatasetSpec, index: int) -> pa.Table:
    """Shard `index` of `spec` as a table (a, b, y) of float32 with the spec in its metadata."""
    rng = np.random.default_rng([seed_from("dataset", spec.to_json()), index])
    n = spec.shard_size(index)
    a = sample(rng, spec.distribution, spec.ranges, n, np.float32)
    b = sample(rng, spec.distribution, spec.ranges, n, np.float32)
    y = a * b  # IEEE float32 multiply: the exact product of the stored inputs, rounded once
    meta = {METADATA_KEY: canonical_json({**spec.to_json(), "shard": index, "dataset_id": spec.dataset_id})}
    schema = pa.schema([(c, pa.float32()) for c in COLUMNS], metadata=meta)
    return pa.Table.from_arrays([pa.array(a), pa.array(b), pa.array(y)], schema=schema)


def table_rows(table: pa.Table) -> np.ndarray:
    """A shard table as float32 rows [n, 3] (a, b, y)."""
    return np.stack([table.column(c).to_numpy() for c in COLUMNS], axis=1)


def read_metadata(table: pa.Table) -> dict[str, Any]:
    return json.loads(table.schema.metadata[METADATA_KEY])
