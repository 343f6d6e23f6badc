"""Training resumes mid-bundle from a checkpoint in a real store, bit for bit: the state saved
between compiled chunks (weights, optimizer, alive/diverged, the curves and probes so far, the
best-validation checkpoint, the window position) and the counter-based batches reproduce an
uninterrupted run exactly. A checkpoint of another version or bundle, or a damaged one, is
never used. (Killing real Ray workers and drivers mid-bundle: tests/test_reliability.py.)"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from tasks.core.ranges import Ranges
from tasks.jobs.checkpoints import StoreCheckpoints
from tasks.model import registry
from tasks.model.fresh import RangeTable
from tasks.model.settings import TrainingConfig
from tasks.model.trainer import BundleData, init_weights, train_bundle
from tasks.store import catalog
from tasks.store.storage import Store

STACK = registry.get("stack")
_, PARAMS = registry.parse_architecture(
    {"arch": "stack", "layers": ["nau", "nmu"], "sparsity_lambda": 1.0, "sparsity_start": 30, "sparsity_end": 60}, "x"
)
SEEDS = [3, 4, 5]
TRAINING = TrainingConfig("adam", 0.01, 32, 90, "mean", 25, 320, "best_val", None, 1e-8)


class Stop(Exception):
    """The working period ends (in place of a killed process)."""


class StoppingCheckpoints(StoreCheckpoints):
    """Saves at every chunk boundary; the period ends right after save number `stop_after`."""

    def __init__(self, store: Store, stop_after: int | None = None):
        super().__init__(store, "b-test", "ckpt-test", every_s=1e-9, say=lambda line: None)
        self.stop_after, self.saves = stop_after, 0

    def save(self, arrays):
        super().save(arrays)
        self.saves += 1
        if self.saves == self.stop_after:
            raise Stop


def bundle_data(fresh: bool) -> BundleData:
    """Three members (one diverges at once) on two datasets of three windows each, watching
    two probe sets; or the same members drawing fresh batches (one from a union)."""
    rng = np.random.default_rng(0)
    windows = rng.uniform(0.5, 2, (3, 2, 100, 2)).astype(np.float32)  # 3 windows × 2 datasets
    probes = rng.uniform(0.5, 4, (2, 200, 2)).astype(np.float32)
    common = dict(
        dataset_index=[0, 1, 0],
        val=rng.uniform(0.5, 2, (2, 150, 2)).astype(np.float32),
        probes=probes,
        probe_index=np.array([[0, 1], [1, -1], [0, 1]]),
        first_window=1,
    )
    if fresh:
        table = RangeTable.of([Ranges.of((0.5, 2)), Ranges.of((-2, -1), (1, 2)), Ranges.of((1, 3))], "uniform")
        return BundleData(window_rows=(), load_window=None, fresh=table, **common)
    return BundleData(window_rows=[100, 100, 100], load_window=lambda w: windows[w], **common)


def initial():
    w = init_weights(STACK, PARAMS, SEEDS, 2)
    w["1_W"][1] = np.nan  # member 1 is non-finite at once: alive/diverged must survive a resume
    return w


def assert_same_outcome(a, b) -> None:
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name], err_msg=name)
    for field in ("log_steps", "train_mse", "val_mse", "probe_mse", "diverged_step", "selected_step"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


@pytest.mark.parametrize(
    ("fresh", "stop_after"),
    [(False, 2), (False, 7), (True, 2)],  # chunks end at window ends (every 4 steps) and log points (25, 50, 75)
    ids=["windows-at-a-window-end", "windows-at-a-log-point", "fresh-at-a-log-point"],
)
def test_resumed_training_equals_uninterrupted_exactly(tf, tmp_path, fresh, stop_after):
    store = Store(str(tmp_path / "out"))
    whole = train_bundle(STACK, PARAMS, TRAINING, SEEDS, bundle_data(fresh), initial())
    with pytest.raises(Stop):
        stopping = StoppingCheckpoints(store, stop_after)
        train_bundle(STACK, PARAMS, TRAINING, SEEDS, bundle_data(fresh), initial(), stopping)
    record = json.loads((tmp_path / "out" / catalog.checkpoint_record_file("b-test")).read_text())
    assert 0 < record["step"] < TRAINING.steps
    assert len(os.listdir(tmp_path / "out" / catalog.checkpoint_dir("b-test"))) == 2  # older states deleted
    resumed = train_bundle(STACK, PARAMS, TRAINING, SEEDS, bundle_data(fresh), initial(), StoppingCheckpoints(store))
    assert resumed.resumed_at == record["step"]
    assert_same_outcome(whole, resumed)
    assert whole.diverged_step.tolist()[1] == 0 and np.isfinite(whole.probe_mse[:, 0]).all()


def test_sigterm_saves_at_the_next_chunk_then_hands_over(tf, tmp_path):
    """A SIGTERM while training: the state is saved at the next chunk boundary, then the
    handler that was in place runs (here it ends the period; in a Ray worker it exits)."""
    store = Store(str(tmp_path / "out"))
    data = bundle_data(False)
    load = data.load_window
    data.load_window = lambda w: os.kill(os.getpid(), signal.SIGTERM) or load(w)  # arrives while training

    def previous(signum, frame):
        raise Stop

    keeper = StoreCheckpoints(store, "b-test", "ckpt-test", every_s=3600, say=lambda line: None)
    old = signal.signal(signal.SIGTERM, previous)
    try:
        with pytest.raises(Stop), keeper.on_sigterm():
            train_bundle(STACK, PARAMS, TRAINING, SEEDS, data, initial(), keeper)
        assert signal.getsignal(signal.SIGTERM) is previous  # restored
    finally:
        signal.signal(signal.SIGTERM, old)
    step = json.loads((tmp_path / "out" / catalog.checkpoint_record_file("b-test")).read_text())["step"]
    assert 0 < step < TRAINING.steps
    resumed = train_bundle(STACK, PARAMS, TRAINING, SEEDS, bundle_data(False), initial(), StoppingCheckpoints(store))
    assert resumed.resumed_at == step
    assert_same_outcome(train_bundle(STACK, PARAMS, TRAINING, SEEDS, bundle_data(False), initial()), resumed)


def test_a_sigterm_after_the_last_chunk_boundary_stops_when_training_ends(tmp_path):
    """No boundary is left to save at: the handler that was in place runs as training ends,
    so a stopped worker does not go on to evaluate and write its bundle (its last saved
    checkpoint stays for the rerun)."""
    keeper = StoreCheckpoints(Store(str(tmp_path / "out")), "b-test", "ckpt-test", every_s=3600, say=lambda line: None)

    def previous(signum, frame):
        raise Stop

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with pytest.raises(Stop), keeper.on_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)  # during the last chunk: nothing is due any more
        assert signal.getsignal(signal.SIGTERM) is previous and not keeper.terminate_requested
    finally:
        signal.signal(signal.SIGTERM, old)
    assert not (tmp_path / "out" / catalog.checkpoint_record_file("b-test")).exists()


@pytest.mark.parametrize("stop_after", [2, 30], ids=["in-the-first-step", "in-the-second-step"])  # 25 saves a step
def test_a_bundle_of_several_compiled_steps_resumes_exactly(tf, tmp_path, stop_after):
    """A bundle trained a compiled step at a time (tasks.model.chunked: 2 + 1 padded members)
    saves the finished steps' outcomes with the current step's state: a resumed run skips
    the finished steps and ends as an uninterrupted one, bit for bit."""
    from tasks.model.chunked import train_in_steps

    store = Store(str(tmp_path / "out"))
    whole = train_in_steps(STACK, PARAMS, TRAINING, SEEDS, bundle_data(False), 2)
    with pytest.raises(Stop):
        train_in_steps(STACK, PARAMS, TRAINING, SEEDS, bundle_data(False), 2, StoppingCheckpoints(store, stop_after))
    record = json.loads((tmp_path / "out" / catalog.checkpoint_record_file("b-test")).read_text())
    state = np.load(tmp_path / "out" / record["file"]["path"])
    assert any(k.startswith("done0__") for k in state.files) == (stop_after > 25)  # the first step's outcome
    resumed = train_in_steps(STACK, PARAMS, TRAINING, SEEDS, bundle_data(False), 2, StoppingCheckpoints(store))
    assert 0 < resumed.resumed_at < TRAINING.steps
    assert_same_outcome(whole, resumed)


@pytest.fixture
def saved(tf, tmp_path):
    """A store holding a checkpoint of bundle b-test, saved by StoppingCheckpoints."""
    store = Store(str(tmp_path / "out"))
    with pytest.raises(Stop):
        train_bundle(STACK, PARAMS, TRAINING, SEEDS, bundle_data(False), initial(), StoppingCheckpoints(store, 3))
    return store


def _keeper(store: Store, key: str = "ckpt-test") -> tuple[StoreCheckpoints, list[str]]:
    said: list[str] = []
    return StoreCheckpoints(store, "b-test", key, 60, say=said.append), said


def test_a_checkpoint_of_other_bundle_content_is_never_used(saved):
    keeper, said = _keeper(saved, key="ckpt-other")
    assert keeper.restore() is None and "other bundle content" in said[0]
    keeper, said = _keeper(saved)
    assert keeper.restore() is not None and "resuming at step" in said[0]


def test_a_checkpoint_of_another_training_version_is_never_used(saved):
    path = catalog.checkpoint_record_file("b-test")
    record = saved.read_json(path)
    saved.write_json(path, {**record, "train_version": record["train_version"] - 1})
    keeper, said = _keeper(saved)
    assert keeper.restore() is None and "training version" in said[0]


def test_a_damaged_checkpoint_is_never_used(saved):
    state = saved.full(saved.read_json(catalog.checkpoint_record_file("b-test"))["file"]["path"])
    raw = bytearray(open(state, "rb").read())
    raw[len(raw) // 2] ^= 0xFF  # same size: only the checksum can tell
    open(state, "wb").write(bytes(raw))
    keeper, said = _keeper(saved)
    assert keeper.restore() is None and "corrupted" in said[0]
    keeper.discard()
    assert not saved.exists(catalog.checkpoint_dir("b-test"))


def test_an_unfinished_bundle_resumes_as_planned_whatever_sizes_a_rerun_would_choose(tmp_path, write_config):
    """A rerun sizes bundles from costs learned meanwhile; grouping an unfinished bundle's
    models anew would make new bundles and drop its checkpoint. Its recorded layout is kept
    (tasks.study.bundles.resumed_bundles), unless it is no longer a bundle of this run."""
    from tasks.jobs.checkpoints import bundle_layout
    from tasks.model.settings import TRAIN_VERSION
    from tasks.study.bundles import make_bundles, resumed_bundles
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    plan = make_plan(load_config(write_config({"seeds": [0, 1, 2, 3, 4, 5]})))
    todo = list(plan.models)
    first = make_bundles(plan, todo, 1)[0]  # planned on one slot: the bundle that was under way
    store = Store(str(tmp_path / "out"))
    keeper = StoreCheckpoints(store, first.bundle_id, "ckpt-x", 60, say=lambda line: None, layout=bundle_layout(first))
    keeper.save({"step": np.array(500)})
    replanned = make_bundles(plan, todo, 4)  # what a rerun on more slots would plan from scratch
    assert first.bundle_id not in {b.bundle_id for b in replanned}  # the checkpoint would be lost

    unfinished = catalog.completed_models(store, TRAIN_VERSION).unfinished
    assert [(u.bundle_id, u.step) for u in unfinished] == [(first.bundle_id, 500)]
    kept, rest = resumed_bundles(plan, todo, unfinished)
    assert kept == [first]
    assert sorted(m.model_id for m in rest) == sorted(m.model_id for m in todo if m not in first.models)
    assert catalog.completed_models(store, TRAIN_VERSION + 1).unfinished == ()  # another version's: not resumed
    one_done = [m for m in todo if m is not first.models[0]]  # a member already trained: not this bundle any more
    assert resumed_bundles(plan, one_done, unfinished) == ([], one_done)
