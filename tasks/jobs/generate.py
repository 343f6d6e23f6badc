"""Dataset generation: one shard per call (in parallel), then the manifest (last)."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.data.shards import SHARD_WRITE_OPTIONS, generate_shard
from tasks.data.spec import DATA_VERSION, DatasetSpec
from tasks.store import catalog
from tasks.store.catalog import DatasetManifest, ShardEntry
from tasks.store.storage import FileInfo, Store


def write_shard(store: Store, spec: DatasetSpec, index: int) -> FileInfo:
    table = generate_shard(spec, index)
    return store.write_parquet(catalog.shard_path(spec, index), table, **SHARD_WRITE_OPTIONS)


def finish_dataset(store: Store, spec: DatasetSpec, shards: Sequence[ShardEntry | FileInfo]) -> DatasetManifest:
    """Written last: the dataset is complete from here on."""
    entries = tuple(s if isinstance(s, ShardEntry) else ShardEntry(s.path, s.size, s.sha256) for s in shards)
    manifest = DatasetManifest(spec.dataset_id, spec.to_json(), entries, DATA_VERSION)
    return catalog.DATASETS.write(store, manifest, spec.dataset_id)
