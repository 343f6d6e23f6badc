from pathlib import Path

import pytest
from support import DELETE

from tasks.core.errors import ConfigError, UserError
from tasks.study.config import parse_config
from tasks.study.loading import available_configs, load_config
from tasks.study.plan import make_plan

SMOKE_TEXT = (Path(__file__).resolve().parent.parent / "workflows" / "configs" / "smoke.yaml").read_text()


@pytest.mark.parametrize("name", ["smoke", "quick", "seed"])
def test_shipped_configs_load(name):
    config = load_config(name)
    assert config.name == name
    assert config.seeds and config.train_ranges and config.architectures


def test_available_configs_lists_shipped():
    assert {"smoke", "quick", "seed"} <= set(available_configs())


def test_seed_config_is_the_article():
    c = load_config("seed")
    assert c.data.train_size == 1_000_000 and len(c.seeds) >= 5
    assert c.architectures[0].arch == "mlp" and c.architectures[0].params == {"hidden": [80], "activation": "relu"}
    t = c.training
    assert (t.optimizer, t.learning_rate, t.batch_size, t.steps) == ("adagrad", 0.05, 128, 100_000)
    assert c.train_ranges[0].range.to_json() == [[0.0, 1.0]]


# (overrides, key named in the message, words in the reason)
BAD = [
    ({"colour": "red"}, "colour", "unknown key"),
    ({"training.stepz": 10}, "training.stepz", "unknown key"),
    ({"training.steps": "many"}, "training.steps", "expected an integer"),
    ({"training.steps": 0}, "training.steps", "≥ 1"),
    ({"seeds": []}, "seeds", "must not be empty"),
    ({"train_ranges": []}, "train_ranges", "must not be empty"),
    ({"architectures": []}, "architectures", "must not be empty"),
    ({"train_ranges": [[1, 1]]}, "train_ranges[0]", "lo < hi"),
    ({"train_ranges": [[2, 1]]}, "train_ranges[0]", "lo < hi"),
    ({"data.train_size": -5}, "data.train_size", "≥ 1"),
    ({"data.train_size": 0}, "data.train_size", "≥ 1"),
    ({"evaluation.size": 0}, "evaluation.size", "≥ 1"),
    ({"training.learning_rate": 0}, "training.learning_rate", "> 0"),
    ({"architectures": [{"arch": "transformer"}]}, "architectures[0].arch", "unknown value 'transformer'"),
    ({"architectures": [{"arch": "mlp", "activation": "swishy"}]}, "architectures[0].activation", "unknown value"),
    ({"architectures": [{"arch": "mlp", "hidden": [0]}]}, "architectures[0].hidden[0]", "≥ 1 unit"),
    ({"architectures": [{"arch": "mlp", "depth": 3}]}, "architectures[0].depth", "unknown key"),
    ({"architectures": [{"arch": "log_mlp"}]}, "train_ranges[0]", "strictly positive"),
    ({"training.batch_size": 5000}, "training.batch_size", "larger than the dataset"),
    ({"data.distribution": "gaussian"}, "data.distribution", "unknown value"),
    ({"data.distribution": "log_uniform"}, "data.distribution", "strictly positive"),
    ({"training.optimizer": "lbfgs"}, "training.optimizer", "unknown value"),
    ({"seeds": [1, 1]}, "seeds", "unique"),
    ({"seeds": "three"}, "seeds", "expected a list"),
    ({"train_ranges": [[0, 1], [0, 1]]}, "train_ranges", "listed twice"),
    ({"train_ranges": [[[0, 2], [1, 3]]]}, "train_ranges[0]", "overlap"),
    ({"training.bundle_size": 0}, "training.bundle_size", "≥ 1"),
    ({"evaluation.diagonal": {"lo": 5, "hi": 1}}, "evaluation.diagonal.lo", "lo < hi"),
    ({"target": {"operation": "pow"}}, "target.operation", "unknown value 'pow'"),
    ({"target": {"operation": ["mul", "mod"]}}, "target.operation[1]", "unknown value 'mod'"),
    ({"target": {"operation": ["div", "div"]}}, "target.operation", "listed twice"),
    ({"target": {"operation": []}}, "target.operation", "non-empty list"),
    ({"target": {"name": "product", "operation": "div"}}, "target.operation", "{name: inputs, operation: …}"),
    ({"target": {"operation": "div"}, "evaluation.diagonal": DELETE}, "train_ranges[0]", "divisor b away from 0"),
    ({"target": {"operation": "div"}}, "evaluation.diagonal", "b ranges over [0,10]"),
    ({"target": {"operation": "root"}, "train_ranges": [[-1, 1]]}, "train_ranges[0]", "root needs a ≥ 0"),
    ({"target": {"operation": ["mul", "mul3"]}}, "target.operation", "same number of inputs (mul: 2, mul3: 3)"),
    ({"target": {"operation": "mul3"}, "architectures": [{"arch": "nmu"}]}, "architectures[0]", "takes 2 inputs"),
    ({"training.steps": 50}, "training.log_every", "a curve point every 100 steps never comes in 50 steps"),
    ({"seeds": [0.5]}, "seeds[0]", "expected an integer"),
    (
        {"architectures": [{"arch": "mlp", "training": {"steps": 20, "log_every": 40}}]},
        "architectures[0].training.log_every",
        "never comes in 20 steps",
    ),
]


@pytest.mark.parametrize(("overrides", "key", "words"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_values_name_key_and_reason(write_config, overrides, key, words):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(overrides))
    assert err.value.key == key
    assert words in err.value.reason


def test_log_mlp_on_positive_ranges_is_accepted(write_config):
    path = write_config(
        {
            "train_ranges": [[0.5, 2]],
            "architectures": [{"arch": "log_mlp"}],
            "evaluation.diagonal": {"lo": 0.1, "hi": 10},
        }
    )
    config = load_config(path)
    assert config.architectures[0].arch == "log_mlp"


def test_log_mlp_rejects_non_positive_evaluation_ranges(write_config):
    path = write_config(
        {"train_ranges": [[0.5, 2]], "architectures": [{"arch": "log_mlp"}], "evaluation.ranges": [[-1, 1]]}
    )
    with pytest.raises(ConfigError, match="non-positive"):
        load_config(path)


def test_invalid_yaml_is_a_user_error(write_config):
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(write_config(raw_text="seeds: [1, 2\n  data: {"))


def test_invalid_toml_is_a_user_error(write_config):
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(write_config(raw_text="seeds = [1, 2\n", name="bad.toml"))


def test_toml_config_loads(write_config):
    text = """
seeds = [0]
train_ranges = [[0, 1]]
architectures = [{arch = "mlp", hidden = [4]}]
[data]
train_size = 1000
[training]
steps = 10
"""
    config = load_config(write_config(raw_text=text, name="c.toml"))
    assert config.training.steps == 10 and config.name == "c"


def test_unknown_config_name_lists_shipped():
    with pytest.raises(UserError, match=r"shipped configs: .*quick"):
        load_config("no_such_config")


def test_union_ranges_and_explicit_evals():
    config = parse_config(
        {
            "seeds": [0],
            "data": {"train_size": 100},
            "train_ranges": [{"range": [-2, 2], "eval": [[[-6, -2], [2, 6]]]}],
            "architectures": [{"arch": "mlp"}],
            "training": {"steps": 5, "batch_size": 10},
        }
    )
    (tr,) = config.train_ranges
    assert tr.eval[0].intervals == ((-6.0, -2.0), (2.0, 6.0))


def test_defaults_reproduce_dnnregressor():
    c = parse_config(
        {
            "seeds": [0],
            "data": {"train_size": 200},
            "train_ranges": [[0, 1]],
            "architectures": [{"arch": "mlp"}],
            "training": {"steps": 1},
        }
    )
    assert c.architectures[0].params == {"hidden": [80], "activation": "relu"}
    assert (c.training.optimizer, c.training.learning_rate, c.training.batch_size) == ("adagrad", 0.05, 128)


def test_training_range_is_always_evaluated_and_ladders_widen_outward(write_config):
    from tasks.study.config import evaluation_ranges

    config = load_config(
        write_config(
            {"train_ranges": [[[-2, -1], [1, 2]], [-3, -1]], "evaluation.scales": [2], "evaluation.ranges": []}
        )
    )
    union, negative = config.train_ranges
    assert [r.label() for r in evaluation_ranges(config, union)] == ["[-2,-1]∪[1,2]", "[-4,4]"]  # in-range row too
    assert [r.label() for r in evaluation_ranges(config, negative)] == ["[-3,-1]", "[-5,-1]"]  # widens negative
    right = load_config(write_config({"train_ranges": [[-3, -1]], "evaluation.widen": "right"}))
    assert evaluation_ranges(right, right.train_ranges[0])[1].label() == "[-3,1]"


def test_architecture_training_overrides(write_config):
    config = load_config(
        write_config(
            {
                "architectures": [
                    {"arch": "mlp", "hidden": [4]},
                    {"arch": "mlp", "hidden": [4], "training": {"optimizer": "adam", "learning_rate": 0.01}},
                ]
            }
        )
    )
    plain, tuned = config.architectures
    assert plain.training is None and tuned.training.optimizer == "adam" and tuned.training.steps == 300
    assert "optimizer=adam" in tuned.label() and plain.label() != tuned.label()
    plan = make_plan(config)
    ids = {m.arch: m.model_id for m in plan.models if m.seed == 0 and m.train_range == config.train_ranges[0].range}
    assert ids[plain] != ids[tuned]  # the training settings are part of a model's identity
    with pytest.raises(ConfigError) as err:
        load_config(write_config({"architectures": [{"arch": "mlp", "training": {"optimiser": "adam"}}]}))
    assert err.value.key == "architectures[0].training.optimiser"


def test_plan_warns_when_models_draw_little_of_their_data(write_config):
    small = {"data.train_size": 100_000, "training.steps": 50, "training.log_every": 50, "training.batch_size": 100}
    config = load_config(write_config(small))
    (warning,) = make_plan(config).warnings
    assert "5,000 rows from a training set of 100,000 (5%)" in warning
    assert not make_plan(load_config("quick")).warnings


def test_dry_run_estimate_counts_the_rows_each_model_watches(write_config):
    """The ICLR preset watches 10,000 validation and 2 × 10,000 probe rows every 1,000 steps
    of batch 128: the estimate adds that (the calibration times training steps alone)."""
    from tasks.study.estimate import watch_overhead

    plan = make_plan(load_config("iclr2020_mul_range"))
    training = plan.config.training
    models = list(plan.models)
    assert watch_overhead(plan, models, training) == pytest.approx(1 + 30_000 / 128_000)
    quiet = make_plan(load_config(write_config({"evaluation.probe_rows": 0})))
    expected = 1 + quiet.config.data.val_size / (quiet.config.training.batch_size * quiet.config.training.log_every)
    assert watch_overhead(quiet, list(quiet.models), quiet.config.training) == pytest.approx(expected)


@pytest.mark.parametrize("spelling", ["1e3", "1E3", "1.0e+3", "1_000", "1000.0", "+1e3"])
def test_integers_in_any_yaml_spelling(write_config, spelling):
    path = write_config(raw_text=SMOKE_TEXT.replace("steps: 300", f"steps: {spelling}"))
    assert load_config(path).training.steps == 1000
    from tasks.study.loading import load_config as load

    assert load("smoke", [f"training.steps={spelling}"]).training.steps == 1000  # --set reads YAML too


@pytest.mark.parametrize("spelling", ["1.2345e3", "1e-3", "10.5", "1e3x"])
def test_numbers_with_a_fraction_are_not_integers(write_config, spelling):
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(write_config(raw_text=SMOKE_TEXT.replace("steps: 300", f"steps: {spelling}")))


def test_a_regulariser_that_starts_after_training_ends_is_warned_about(write_config):
    nmu = {"arch": "nmu"}  # default sparsity_start 20,000
    stack = {"arch": "stack", "layers": ["nau", "nmu"], "sparsity_start": 300}
    plain = {"arch": "stack", "layers": ["nac_add", "nac_mul"]}  # no regularised layer: nothing to start
    off = {"arch": "nmu", "sparsity_lambda": 0}  # λ = 0: nothing to start either
    config = load_config(write_config({"architectures": [nmu, stack, plain, off]}))
    warnings = [w for w in make_plan(config).warnings if "schedule" in w]
    assert warnings == [
        f"architectures[0].sparsity_start = 20,000 ≥ training.steps = 300: {config.architectures[0].label()}'s "
        "schedule starts after training ends and never acts; set sparsity_start below 300 or train longer",
        f"architectures[1].sparsity_start = 300 ≥ training.steps = 300: {config.architectures[1].label()}'s "
        "schedule starts after training ends and never acts; set sparsity_start below 300 or train longer",
    ]
    acting = load_config(write_config({"architectures": [{"arch": "nmu", "sparsity_start": 100, "sparsity_end": 200}]}))
    assert not [w for w in make_plan(acting).warnings if "schedule" in w]
    own = {"arch": "nmu", "sparsity_start": 100, "sparsity_end": 200, "training": {"steps": 50, "log_every": 50}}
    (warning,) = [w for w in make_plan(load_config(write_config({"architectures": [own]}))).warnings if "schedule" in w]
    assert warning.startswith("architectures[0].sparsity_start = 100 ≥ architectures[0].training.steps = 50")
