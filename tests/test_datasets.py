import numpy as np
import pyarrow.parquet as pq
import pytest

from tasks.core.errors import CorruptArtifactError
from tasks.core.ranges import Ranges
from tasks.data.sampling import sample
from tasks.data.shards import generate_shard, read_metadata
from tasks.data.spec import DatasetSpec
from tasks.jobs.generate import finish_dataset, write_shard
from tasks.store.catalog import complete_dataset, read_shards, shard_path
from tasks.store.storage import Store
from tasks.study.loading import load_config
from tasks.study.plan import make_plan


def spec(role="train", rows=5000, shard_rows=2000, ranges=((0, 1),), seed=3, distribution="uniform"):
    return DatasetSpec(role, Ranges.of(*ranges), distribution, rows, shard_rows, seed)


def test_same_spec_gives_identical_shards():
    a = generate_shard(spec(), 1)
    b = generate_shard(spec(), 1)
    assert a.equals(b)
    assert not a.equals(generate_shard(spec(), 0))


def test_shard_sizes_and_target():
    s = spec(rows=5000, shard_rows=2000)
    assert s.n_shards == 3
    sizes = [generate_shard(s, i).num_rows for i in range(3)]
    assert sizes == [2000, 2000, 1000]
    t = generate_shard(s, 2).to_pandas()
    np.testing.assert_allclose(t["y"], t["a"].astype(np.float64) * t["b"], rtol=1e-6)
    assert t["a"].between(0, 1).all() and t["b"].between(0, 1).all()


def test_test_sets_are_independent_of_training_data_and_model_seeds():
    train = generate_shard(spec("train"), 0).to_pandas()
    test = generate_shard(spec("test"), 0).to_pandas()
    assert not np.allclose(train["a"], test["a"])
    assert abs(np.corrcoef(train["a"], test["a"])[0, 1]) < 0.1
    # model seeds never enter dataset identities: configs differing only in seeds share test sets
    plan_a = make_plan(load_config("smoke"))
    cfg_b = load_config("smoke").__class__(**{**load_config("smoke").__dict__, "seeds": (11, 12, 13)})
    plan_b = make_plan(cfg_b)
    assert set(plan_a.datasets) == set(plan_b.datasets)
    assert {m.model_id for m in plan_a.models}.isdisjoint({m.model_id for m in plan_b.models})


def test_generation_parameters_live_in_schema_metadata():
    meta = read_metadata(generate_shard(spec(), 2))
    assert meta["role"] == "train" and meta["shard"] == 2 and meta["rows"] == 5000
    assert meta["ranges"] == [[0.0, 1.0]] and meta["dataset_id"] == spec().dataset_id


def test_log_uniform_sampling_is_uniform_in_log_space():
    rng = np.random.default_rng(0)
    x = sample(rng, "log_uniform", Ranges.of((0.01, 100)), 200_000)
    assert x.min() >= 0.01 and x.max() <= 100
    # a quarter of the log-range per decade pair: P(x < 0.1) = 1/4
    assert np.mean(x < 0.1) == pytest.approx(0.25, abs=0.01)


def test_union_sampling_covers_both_intervals_by_length():
    rng = np.random.default_rng(1)
    x = sample(rng, "uniform", Ranges.of((-6, -2), (2, 4)), 120_000)
    assert Ranges.of((-6, -2), (2, 4)).contains(x).all()
    assert np.mean(x < 0) == pytest.approx(4 / 6, abs=0.01)


def test_written_dataset_round_trips_with_manifest(tmp_path):
    store = Store(str(tmp_path))
    s = spec()
    infos = [write_shard(store, s, i) for i in range(s.n_shards)]
    assert complete_dataset(store, s) is None  # shards without a manifest are not trusted
    finish_dataset(store, s, infos)
    manifest = complete_dataset(store, s)
    data = read_shards(store, manifest)
    assert data.shape == (5000, 2) and data.dtype == np.float32  # the inputs (a, b); y is the target's
    expected = np.concatenate([generate_shard(s, i).to_pandas()[["a", "b"]].to_numpy() for i in range(3)])
    np.testing.assert_array_equal(data, expected)
    # a plain Parquet reader sees the same table
    assert pq.read_table(tmp_path / shard_path(s, 0)).num_rows == 2000
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_truncated_shard_makes_dataset_incomplete(tmp_path):
    store = Store(str(tmp_path))
    s = spec()
    manifest = finish_dataset(store, s, [write_shard(store, s, i) for i in range(s.n_shards)])
    path = tmp_path / shard_path(s, 1)
    path.write_bytes(path.read_bytes()[:-100])
    assert complete_dataset(store, s) is None
    with pytest.raises(CorruptArtifactError, match="shard-00001"):
        read_shards(store, manifest)


def test_corrupted_shard_of_same_size_is_caught_by_checksum(tmp_path):
    store = Store(str(tmp_path))
    s = spec()
    manifest = finish_dataset(store, s, [write_shard(store, s, i) for i in range(s.n_shards)])
    path = tmp_path / shard_path(s, 0)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptArtifactError, match="checksum"):
        read_shards(store, manifest)
