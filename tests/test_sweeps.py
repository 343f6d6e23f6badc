"""Sweeps: a list one level deeper than a key takes expands an architecture into variants (the
cartesian product of the swept values), each labelled by its swept values, with the model ids it
would have written out by hand; and one real run of a sweep, whose merged stdout+stderr (as a cron
log holds it) is also the test of the log's order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime

import pandas as pd
import pytest
import yaml
from support import ROOT, read_results, smoke_raw, write_study

from tasks.core.errors import ConfigError
from tasks.study.config import parse_config
from tasks.study.loading import load_config
from tasks.study.plan import make_plan
from tasks.study.render import config_yaml
from workflows.run import main

SWEEP = {"training.learning_rate": [0.01, 0.05], "architectures": [{"arch": "mlp", "hidden": [[4], [8]]}]}
LABELS = ["mlp lr=0.01 hidden=[4]", "mlp lr=0.01 hidden=[8]", "mlp lr=0.05 hidden=[4]", "mlp lr=0.05 hidden=[8]"]


def test_a_list_one_level_deeper_than_a_key_takes_is_a_sweep_of_its_cartesian_product():
    config = parse_config(smoke_raw(SWEEP))
    assert [a.label() for a in config.architectures] == LABELS  # the first key read varies slowest
    trained = [(a.training_or(config.training).learning_rate, a.params["hidden"]) for a in config.architectures]
    assert trained == [(0.01, [4]), (0.01, [8]), (0.05, [4]), (0.05, [8])]
    assert [a.swept for a in config.architectures][1] == {"training.learning_rate": 0.01, "hidden": [8]}
    one = parse_config(smoke_raw({"architectures": [{"arch": "mlp", "hidden": [4, 8]}]}))  # a list key's value
    assert len(one.architectures) == 1 and one.architectures[0].params["hidden"] == [4, 8]
    assert one.architectures[0].label() == "mlp(activation=relu hidden=4,8)" and not one.architectures[0].swept
    stack = parse_config(smoke_raw({"architectures": [{"arch": "stack", "layers": [["nau", "nmu"], ["nmu"]]}]}))
    assert [a.params["layers"] for a in stack.architectures] == [["nau", "nmu"], ["nmu"]]


def test_an_entrys_own_setting_wins_over_the_studys_sweep_and_labels_stay_unique():
    raw = smoke_raw(
        {
            "training.learning_rate": [0.01, 0.05],
            "architectures": [
                {"arch": "mlp", "hidden": [4]},
                {"arch": "mlp", "hidden": [8]},
                {"arch": "nmu", "training": {"learning_rate": 0.1, "optimizer": ["adam", "sgd"]}},
            ],
        }
    )
    config = parse_config(raw)
    labels = [a.label() for a in config.architectures]
    assert labels[:2] == ["mlp(activation=relu hidden=4) lr=0.01", "mlp(activation=relu hidden=4) lr=0.05"]
    assert labels[4:] == ["nmu optimizer=adam", "nmu optimizer=sgd"]  # its own learning rate: not swept for it
    assert {a.training.learning_rate for a in config.architectures[4:]} == {0.1}
    assert len(set(labels)) == len(labels)


def test_a_variants_models_have_the_ids_they_have_written_out_by_hand():
    def ids(raw: dict) -> dict[tuple, str]:
        plan = make_plan(parse_config(smoke_raw(raw)))
        return {(_lr(plan, m), tuple(m.arch.params["hidden"]), m.seed, m.train_range): m.model_id for m in plan.models}

    swept = ids(SWEEP)
    own = ids({"architectures": [{"arch": "mlp", "hidden": [h], "training": {"learning_rate": lr}} for lr, h in KEYS]})
    per_study = {}
    for lr in (0.01, 0.05):
        widths = [{"arch": "mlp", "hidden": [4]}, {"arch": "mlp", "hidden": [8]}]
        per_study |= ids({"training.learning_rate": lr, "architectures": widths})
    assert len(swept) == 4 * 2 * 2 and swept == own == per_study


KEYS = [(0.01, 4), (0.01, 8), (0.05, 4), (0.05, 8)]


def _lr(plan, model) -> float:
    return model.arch.training_or(plan.config.training).learning_rate


# (overrides, key named in the message, words in the reason)
AMBIGUOUS = [
    ({"architectures": [{"arch": "mlp", "hidden": [[4], 8]}]}, "architectures[0].hidden", "mixes lists and single"),
    ({"architectures": [{"arch": "stack", "layers": [["nau", "nmu"], "nmu"]}]}, "architectures[0].layers", "mixes"),
    (
        {"training.learning_rate": [[0.01], [0.05]]},
        "training.learning_rate",
        "nested 2 deep where the key takes a single value",
    ),
    (
        {"architectures": [{"arch": "mlp", "hidden": [[[4]]]}]},
        "architectures[0].hidden",
        "nested 3 deep where the key takes a list",
    ),
    ({"training.learning_rate": []}, "training.learning_rate", "an empty list sweeps no values"),
    ({"training.learning_rate": [0.01, 0.01]}, "training.learning_rate", "the sweep lists 0.01 twice"),
    ({"training.bundle_size": [2, 4]}, "training.bundle_size", "cannot be swept: it packs models"),
    ({"architectures": [{"arch": ["mlp", "nmu"]}]}, "architectures[0].arch", "cannot be swept"),
    ({"training.learning_rate": [0.01, -1]}, "training.learning_rate", "must be > 0, got -1"),
    ({"architectures": [{"arch": "mlp", "hidden": [[4], [0]]}]}, "architectures[0].hidden[0]", "≥ 1 unit"),
    ({"training.learning_rate": [0.01, "1e-2"]}, "architectures", "listed twice (architectures[0] (lr=0.01) and"),
    (
        {"architectures": [{"arch": "mlp", "hidden": [[4], [8]]}, {"arch": "mlp", "hidden": [8]}]},
        "architectures",
        "listed twice (architectures[0] (hidden=[8]) and architectures[1] train the same models)",
    ),
]


@pytest.mark.parametrize(("overrides", "key", "words"), AMBIGUOUS, ids=[f"{i}" for i in range(len(AMBIGUOUS))])
def test_an_ambiguous_or_impossible_sweep_is_one_config_error(overrides, key, words):
    with pytest.raises(ConfigError) as err:
        parse_config(smoke_raw(overrides))
    assert err.value.key == key and words in err.value.reason, str(err.value)


def test_set_accepts_a_list_and_the_dry_run_counts_the_variants(tmp_path, capsys):
    config = load_config("smoke", ["training.learning_rate=[1e-3,3e-3]"])  # YAML 1.1 reads 1e-3 as text
    assert [a.label() for a in config.architectures] == ["mlp lr=0.001", "mlp lr=0.003"]
    assert main(["--config", "smoke", "--set", "training.learning_rate=[1e-3,3e-3]", "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "2 architectures (2 of them variants of 1 swept entries)" in said and "  mlp lr=0.003: 4 models" in said


@pytest.mark.parametrize(
    "overrides",
    [
        SWEEP,
        {
            "training.optimizer": ["adam", "sgd"],
            "architectures": [
                {"arch": "mlp", "hidden": [[8], [16]], "training": {"learning_rate": ["1e-3", 0.01], "steps": 200}},
                {"arch": "nmu", "training": {"steps": 100}},
                {"arch": "mlp"},
            ],
        },
    ],
    ids=["one entry", "several entries"],
)
def test_the_stored_config_keeps_the_sweep_and_reruns_it_exactly(overrides):
    config = parse_config(smoke_raw(overrides))
    stored = yaml.safe_load(config_yaml(config))
    assert parse_config(stored) == config
    assert stored["architectures"][0]["hidden"] in ([[4], [8]], [[8], [16]])  # the sweep, as a sweep


@pytest.fixture(scope="module")
def swept_run(tmp_path_factory):
    """Two learning rates × two widths, 2 seeds, run by the script as cron runs it: stdout and
    stderr into one pipe (a Ray of its own)."""
    tmp = tmp_path_factory.mktemp("sweep")
    path = write_study(tmp, {**SWEEP, "train_ranges": [[0, 1]], "training.bundle_size": 2}, "sweep")  # 4 bundles
    out = tmp / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "workflows/run.py"), "--config", str(path), "--out", str(out), "--num-cpus", "2"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    return out, path, proc.stdout


def test_a_sweep_runs_and_its_report_compares_the_variants(swept_run):
    out, path, _ = swept_run
    models = read_results(out, "models")
    assert sorted(models["arch_label"].unique()) == sorted(LABELS)
    assert set(models["model_id"]) == {m.model_id for m in make_plan(load_config(str(path))).models}
    summary = (out / "report" / "summary.md").read_text()
    section = summary.split("## Sweep: the variants compared")[1].split("\n## ")[0]
    header, _, *rows = [line for line in section.splitlines() if line.startswith("|")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:3] == ["variant", "fit", "in-range NRMSE"]
    assert [c for c in columns if c.startswith("success")] == ["success [0,2]", "success [0,10]"]
    assert columns[-1] == "RMSE [0,10]"  # the widest evaluation range
    table = pd.DataFrame([[c.strip() for c in r.strip("|").split("|")] for r in rows], columns=columns)
    assert sorted(table["variant"]) == sorted(LABELS)
    for _, row in table.iterrows():  # each cell is what the results say of that variant
        mine = models[models["arch_label"] == row["variant"]]
        assert row["fit"] == f"{int(mine['fit'].sum())}/2"
        assert float(row["in-range NRMSE"]) == pytest.approx(mine["in_range_nrmse"].median(), rel=1e-3)
        assert re.fullmatch(r"[0-2]/2", row["success [0,10]"])
    html = (out / "report" / "index.html").read_text()
    assert "Sweep: the variants compared" in html and "mlp lr=0.05 hidden=[8]" in html


STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}) (DEBUG|INFO|WARNING|ERROR) (.*)$")


def test_a_cron_log_is_in_time_order_with_timestamps_and_levels(swept_run):
    """stdout and stderr merged, as `run.py >> cron.log 2>&1` writes them: every line of the lab
    is timestamped and they come in the order they happened — Ray before training, training
    before the summary, the `[done]` line last (it used to come first, the rest after)."""
    _, _, log = swept_run
    lines = log.strip().splitlines()
    assert lines[-1].startswith("[done] 8 models in ")  # the command's answer, after every log line
    stages = re.compile(r"\[(ray|data|train|evaluate|collect|summarise)\] ")
    ours = [STAMP.match(line) for line in lines[:-1] if stages.search(line)]
    assert ours and all(ours), lines
    times = [datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S.%f%z") for m in ours]
    assert times == sorted(times)
    said = [m[3] for m in ours]

    def first(pattern: str) -> int:
        return next(i for i, text in enumerate(said) if re.match(pattern, text))

    def last(pattern: str) -> int:
        return max(i for i, text in enumerate(said) if re.match(pattern, text))

    ray, planned = first(r"\[ray\] local Ray"), first(r"\[train\] 8 of 8 models to train")
    trained, summarised = last(r"\[train\] (\d+)/\1 bundles"), last(r"\[summarise\] 4/4 architectures")
    assert ray < planned < trained < summarised
    assert summarised > last(r"\[(train|evaluate|collect)\] ")  # the summary comes after the work it sums up
