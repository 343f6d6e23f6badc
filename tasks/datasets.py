"""Sampled datasets of (a, b, y = a·b): specs, deterministic shard generation, shard IO.

A dataset is a directory of Parquet shards plus a manifest written last. Shard i is drawn
from its own generator seeded by (dataset seed, i), so shards can be written in parallel, in
any order, on any node, and the same spec always gives identical bytes.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.ids import canonical_json, content_id, seed_from
from tasks.ranges import Ranges
from tasks.sampling import sample
from tasks.storage import FileInfo, Store, file_info

METADATA_KEY = b"lab.dataset"
ROLES = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetSpec:
    role: str  # train | val | test: part of the identity, so the streams are independent
    ranges: Ranges
    distribution: str
    rows: int
    shard_rows: int
    seed: int  # the config's data seed; model seeds never enter a dataset
    target: str = "product"

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "ranges": self.ranges.to_json(),
            "distribution": self.distribution,
            "rows": self.rows,
            "shard_rows": self.shard_rows,
            "seed": self.seed,
            "target": self.target,
        }

    @property
    def dataset_id(self) -> str:
        return content_id("ds", self.to_json())

    @property
    def directory(self) -> str:
        return f"datasets/{self.dataset_id}"

    @property
    def n_shards(self) -> int:
        return -(-self.rows // self.shard_rows)

    def shard_size(self, index: int) -> int:
        return min(self.shard_rows, self.rows - index * self.shard_rows)

    def shard_path(self, index: int) -> str:
        return posixpath.join(self.directory, f"shard-{index:05d}.parquet")


def generate_shard(spec: DatasetSpec, index: int) -> pa.Table:
    """Shard `index` of `spec` as a table (a, b, y) of float32 with the spec in its metadata."""
    rng = np.random.default_rng([seed_from("dataset", spec.to_json()), index])
    n = spec.shard_size(index)
    a = sample(rng, spec.distribution, spec.ranges, n, np.float32)
    b = sample(rng, spec.distribution, spec.ranges, n, np.float32)
    y = a * b  # IEEE float32 multiply: the exact product of the stored inputs, rounded once
    meta = {METADATA_KEY: canonical_json({**spec.to_json(), "shard": index, "dataset_id": spec.dataset_id})}
    schema = pa.schema([("a", pa.float32()), ("b", pa.float32()), ("y", pa.float32())], metadata=meta)
    return pa.Table.from_arrays([pa.array(a), pa.array(b), pa.array(y)], schema=schema)


# Random floats neither compress nor repeat: compression and dictionary encoding only cost
# time (pyarrow's default dictionary attempt makes writing ~3× slower and files ~14% larger).
SHARD_WRITE_OPTIONS = {"compression": "none", "use_dictionary": False}


def write_shard(store: Store, spec: DatasetSpec, index: int) -> FileInfo:
    return store.write_parquet(spec.shard_path(index), generate_shard(spec, index), **SHARD_WRITE_OPTIONS)


def write_dataset_manifest(store: Store, spec: DatasetSpec, shards: list[FileInfo | dict[str, Any]]) -> dict[str, Any]:
    """Written last: the dataset is complete from here on. Shard entries may carry
    provenance (the node that wrote them) beside path, size and checksum."""
    entries = [vars(s) if isinstance(s, FileInfo) else dict(s) for s in shards]
    manifest = {
        "kind": "dataset",
        "dataset_id": spec.dataset_id,
        "spec": spec.to_json(),
        "shards": sorted(entries, key=lambda s: s["path"]),
    }
    store.write_manifest(spec.directory, manifest)
    return manifest


def complete_manifest(store: Store, spec: DatasetSpec) -> dict[str, Any] | None:
    """The dataset's manifest if every shard it lists is present with its recorded size."""
    manifest = store.complete(spec.directory)
    if manifest is None or manifest.get("spec") != spec.to_json() or len(manifest["shards"]) != spec.n_shards:
        return None
    return manifest


def shard_infos(manifest: dict[str, Any]) -> list[FileInfo]:
    return [file_info(s) for s in manifest["shards"]]


def read_shards(store: Store, manifest: dict[str, Any], first: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows of shards [first, stop) as a float32 array [n, 3] (a, b, y), checksums verified."""
    infos = shard_infos(manifest)[first:stop]
    parts = []
    for info in infos:
        table = store.read_parquet(info.path, expected=info)
        parts.append(np.stack([table.column(c).to_numpy() for c in ("a", "b", "y")], axis=1))
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 3), np.float32)


def read_metadata(table: pa.Table) -> dict[str, Any]:
    return json.loads(table.schema.metadata[METADATA_KEY])
