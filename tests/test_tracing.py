"""Compiled steps are traced without AutoGraph (tasks.model.tracing): the lab's own code needs
no source rewriting, and a plugin whose Python branches on a tensor still trains, traced with it."""

from dataclasses import dataclass

import numpy as np
import pytest

from tasks.model import inference, registry, trainer
from tasks.model.architecture import tf_module
from tasks.model.inference import predict
from tasks.model.settings import TrainingConfig
from tasks.model.trainer import BundleData, init_weights, train_bundle
from tasks.model.units.mlp import MLP

# Every shipped architecture (the test below checks the list stays complete), stacks included.
SPECS = [
    {"arch": "mlp", "hidden": [4], "activation": "tanh"},
    {"arch": "mlp_product_feature", "hidden": [4]},
    {"arch": "log_mlp", "hidden": [4]},
    {"arch": "product_unit"},
    {"arch": "nalu"},
    {"arch": "nmu"},
    {"arch": "stack", "layers": ["nau", "nmu"]},
    {"arch": "stack", "layers": ["nac_add", "nac_mul"]},
    {"arch": "stack", "layers": ["nalu", "nalu"]},
]
TRAINING = TrainingConfig(
    optimizer="adam",
    learning_rate=0.01,
    batch_size=8,
    steps=20,
    loss_reduction="mean",
    log_every=10,
    window_rows=1000,
    checkpoint="best_val",
    bundle_size=None,
)


def _data() -> BundleData:
    rows = np.random.default_rng(0).uniform(0.5, 2, (1, 1000, 2)).astype(np.float32)  # positive: log_mlp
    return BundleData([0, 0], [1000], lambda w: rows, rows[:, :100])


def _traced(arch_name: str):
    """The compiled functions this process holds for an architecture."""
    for comp in trainer._CACHE.values():
        if comp.arch.name == arch_name:
            yield from (comp.run, comp.split)
    for key, fn in inference._PREDICT.items():
        if key[0] == arch_name:
            yield fn


def test_the_trainers_own_functions_trace_without_autograph(tf):
    for spec in ({"arch": "mlp", "hidden": [4]}, {"arch": "stack", "layers": ["nau", "nmu"]}):
        name, params = registry.parse_architecture(spec, "architectures[0]")
        arch = registry.get(name)
        out = train_bundle(arch, params, TRAINING, [0, 1], _data())
        predict(arch, params, out.weights, np.full((5, 2), 1.5, np.float32))
        traced = list(_traced(name))
        assert len(traced) >= 3 and not any(fn.converted for fn in traced), spec


def test_every_shipped_architecture_traces_without_autograph(tf):
    """What an architecture adds to the step (forward, regulariser, projection), traced plainly
    for every shipped one: a Python branch on a tensor there raises here."""
    assert {s["arch"] for s in SPECS} == set(registry.shipped_names())
    for spec in SPECS:
        name, params = registry.parse_architecture(spec, "architectures[0]")
        w = init_weights(registry.get(name), params, [0, 1], 2)
        specs = tuple(tf.TensorSpec(w[n].shape, tf.float32) for n in sorted(w))
        tf.function(_step_of(registry.get(name), params, tuple(sorted(w))), autograph=False).get_concrete_function(
            specs, tf.TensorSpec([2, None, 2], tf.float32), tf.TensorSpec([], tf.float32)
        )


def _step_of(arch, params: dict, names: tuple[str, ...]):
    def step(weights, x, step):
        named = dict(zip(names, weights))
        return arch.forward(params, named, x), arch.regularizer(params, named, step), arch.project(params, named)

    return step


@dataclass(frozen=True)
class BranchingMLP(MLP):
    """A plugin's forward that branches on a tensor in Python: it needs AutoGraph."""

    def forward(self, params, w, x):
        if tf_module().reduce_all(x > 0):
            return super().forward(params, w, x)
        return -super().forward(params, w, x)


@pytest.fixture
def branching():
    arch = registry.register(BranchingMLP("branching_mlp_test"))
    yield arch
    registry.unregister(arch.name)


def test_a_plugin_branching_on_a_tensor_is_traced_with_autograph_and_trains_alike(tf, branching):
    params = {"hidden": [4], "activation": "relu"}
    plain = train_bundle(registry.get("mlp"), params, TRAINING, [0, 1], _data())
    branched = train_bundle(branching, params, TRAINING, [0, 1], _data())
    run, split, *_ = _traced(branching.name)
    assert run.converted and not split.converted  # split never calls forward
    for name, w in plain.weights.items():  # positive inputs: the branch takes the MLP's own path
        np.testing.assert_array_equal(w, branched.weights[name])
    np.testing.assert_array_equal(plain.val_mse, branched.val_mse)
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):  # what the plain trace meets
        tf.function(branching.forward, autograph=False)(params, {}, tf.ones([1, 1, 2]))
