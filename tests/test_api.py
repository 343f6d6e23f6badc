"""From report to research: the Python API over a finished study, its models as Keras models,
models found by what they are (mlab ls, export --arch/--train-range/--seed, study.model(arch=…)),
export and reload in a fresh process with nothing from TensorFlow on stderr, TensorBoard runs
(hparams, metrics per range, safe folder names), study-vs-study comparison, --set and
--print-config, and the live progress bars on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from support import ROOT, read_results, write_study

from tasks.api import load_keras, open_study
from tasks.cli.main import main as mlab
from tasks.core.errors import UserError
from tasks.evaluation.horizon import describe
from tasks.model import registry
from workflows.compare import main as compare
from workflows.export import main as export
from workflows.run import main as run

ARCHITECTURES = [
    {"arch": "mlp", "hidden": [6]},
    {"arch": "mlp", "hidden": [5], "activation": "tanh"},
    {"arch": "mlp_product_feature", "hidden": [6]},
    {"arch": "log_mlp", "hidden": [6]},
    {"arch": "product_unit"},
    {"arch": "nalu"},
    {"arch": "nmu"},
    {"arch": "stack", "layers": ["nau", "nmu"]},
    {"arch": "stack", "layers": ["nalu"]},
]


@pytest.fixture(scope="module")
def studies(ray_session, tmp_path_factory):
    """Every shipped architecture on a positive range (log_mlp needs one), and the first of them
    with a planted regression (a tenth of the training)."""
    tmp = tmp_path_factory.mktemp("api")
    overrides = {
        "seeds": [0, 1],
        "train_ranges": [[0.5, 2]],
        "architectures": ARCHITECTURES,
        "training.steps": 200,
        "training.optimizer": "adam",
        "training.learning_rate": 0.01,
        "training.loss_reduction": "mean",
        "evaluation.diagonal": {"lo": 0.5, "hi": 8, "points": 60},
    }
    out_a, out_b = tmp / "a", tmp / "b"
    assert run(["--config", str(write_study(tmp, overrides, "zooish")), "--out", str(out_a), "--tensorboard"]) == 0
    worse = {**overrides, "architectures": ARCHITECTURES[:1], "training.steps": 20, "training.log_every": 20}
    worse = write_study(tmp, worse, "worse")  # one of A's architectures: compare lists the rest as A's only
    assert run(["--config", str(worse), "--out", str(out_b)]) == 0
    return out_a, out_b, tmp


def test_api_tables_and_every_architecture_as_keras(studies):
    out, _, _ = studies
    study = open_study(str(out))
    models = study.models()
    assert len(models) == 2 * len(ARCHITECTURES) and models["fit"].dtype == bool
    assert len(study.metrics()) == len(read_results(out, "metrics"))
    assert {"curves", "probes", "diagonal"} and len(study.curves()) and len(study.probes()) and len(study.diagonal())
    assert set(study.summary.success["arch_label"]) == set(models["arch_label"])
    assert set(models["arch"]) == {a["arch"] for a in ARCHITECTURES} <= set(registry.shipped_names())
    diagonal = study.diagonal()
    for model_id in models["model_id"]:
        stored = diagonal[diagonal["model_id"] == model_id].sort_values("x")
        x = np.stack([stored["x"], stored["x"]], axis=1).astype(np.float32)
        keras_pred = study.keras_model(model_id).predict(x, verbose=0)[:, 0]
        np.testing.assert_allclose(keras_pred, stored["y_pred"], rtol=2e-5, atol=2e-5, err_msg=model_id)
        np.testing.assert_allclose(study.predict(model_id, x), stored["y_pred"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("arch", ["mlp", "stack"])
def test_export_then_load_in_a_fresh_process(studies, tmp_path, arch):
    out, _, _ = studies
    study = open_study(str(out))
    model_id = study.models().query("arch == @arch")["model_id"].iloc[0]
    x = np.array([[7.0, 3.0], [0.7, 1.3]], np.float32)
    expected = study.predict(model_id, x)
    assert export([str(out), "--model", model_id, "--to", str(tmp_path / "m.keras")]) == 0
    assert export([str(out), "--model", model_id, "--format", "savedmodel", "--to", str(tmp_path / "sm")]) == 0
    loader = (
        "import keras; m = keras.models.load_model({p!r})"  # a plain MLP: Keras alone, the project never imported
        if arch == "mlp"
        else "from tasks.api import load_keras; m = load_keras({p!r})"
    )
    code = (
        f"import json, sys, numpy as np; {loader.format(p=str(tmp_path / 'm.keras'))}; "
        f"x = np.array({x.tolist()}, np.float32); y = m.predict(x, verbose=0)[:, 0].tolist(); "
        f"import tensorflow as tf; s = tf.saved_model.load({str(tmp_path / 'sm')!r}); "
        "z = s.serve(x).numpy()[:, 0].tolist(); "
        "print(json.dumps([y, z, 'tasks' in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    keras_pred, saved_pred, imported = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(keras_pred, expected, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(saved_pred, expected, rtol=2e-5, atol=2e-5)
    assert imported == (arch != "mlp")
    assert load_keras(tmp_path / "m.keras").count_params() > 0


def test_tensorboard_runs_per_model(studies):
    """A run per model in a safely named folder: its spec as hparams (what TensorBoard's hparams
    plugin reads), its training curves, and its metrics per evaluation range."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    out, _, _ = studies
    study = open_study(str(out))
    models, metrics = study.models(), study.metrics()
    events = sorted((out / "tensorboard").rglob("events.out.tfevents*"))
    assert len({p.parent for p in events}) == len(events) == len(models)  # one run (and one file) per model
    for path in events:
        parts = path.parent.relative_to(out / "tensorboard").parts
        assert len(parts) == 3 and all(re.fullmatch(r"[A-Za-z0-9._-]+", part) for part in parts), parts
    seen, labels = set(), {}
    for path in events:
        run = EventAccumulator(str(path.parent), size_guidance={"tensors": 0})
        run.Reload()
        start = metadata.parse_session_start_info_plugin_data(
            run.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]
        )
        model = models.set_index("model_id").loc[start.group_name]  # the trial id is the model id
        seen.add(start.group_name)
        hparams = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
        assert hparams["arch_label"] == model["arch_label"] and hparams["train_range"] == model["train_range"]
        assert hparams["seed"] == model["seed"] and hparams["steps"] == 200 and hparams["optimizer"] == "adam"
        assert {k for k in model.index if k.startswith("param_") and pd.notna(model[k])} <= set(hparams)
        folder = path.parent.relative_to(out / "tensorboard").parts
        assert folder[1:] == ("train_0.5_2", f"seed_{model['seed']}") and re.fullmatch(r".+-[0-9a-f]{8}", folder[0])
        labels[folder[0]] = model["arch_label"]
        tags = set(run.Tags()["tensors"])
        mine = metrics[metrics["model_id"] == start.group_name]
        assert {"train_mse", "val_mse", "in_range_nrmse", "fit", "extrapolation_successes"} <= tags
        for row in mine.itertuples():
            (value,) = run.Tensors(f"nrmse/{row.eval_kind} {row.eval_range}")
            assert value.step == model["selected_step"]
            assert float(tf.make_ndarray(value.tensor_proto)) == pytest.approx(row.nrmse, rel=1e-6)
    assert seen == set(models["model_id"])
    assert len(labels) == len(set(labels.values())) == models["arch_label"].nunique()  # a folder per label


def test_ls_lists_models_by_what_they_are(studies, capsys):
    out, _, _ = studies
    study = open_study(str(out))
    models, metrics = study.models(), study.metrics()
    assert mlab(["ls", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["architecture", "training", "range", "seed", "fit", "success", "horizon", "id"]
    assert len(table) == len(models) + 2 and table[-1].startswith(f"{len(models)} models, {models['fit'].sum()} fit")
    for line in table[1:-1]:
        model = models.set_index("model_id").loc[line.split()[-1]]
        square = metrics[(metrics["model_id"] == model.name) & (metrics["eval_kind"] == "square")]
        beyond = square[square["eval_range"] != model["train_range"]]
        assert line.startswith(model["arch_label"]) and f" {model['train_range']} " in line
        fit = "diverged" if model["diverged"] else "yes" if model["fit"] else "no"
        horizon = describe(model["horizon_scale"], model["horizon_status"])
        assert line.split()[-5:-1] == [
            str(model["seed"]),
            fit,
            f"{int(beyond['success'].sum())}/{len(beyond)}",
            horizon,
        ]
    assert mlab(["ls", str(out), "--arch", "nau,nmu", "--seed", "1", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["model_id"] == models.query("param_layers == 'nau,nmu' and seed == 1")["model_id"].item()
    assert mlab(["ls", str(out), "--arch", "mlp", "--train-range", "0.5,2", "--format", "csv"]) == 0
    listed = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert set(listed["arch"]) == {"mlp"} and len(listed) == 4 and set(listed["train_range"]) == {"[0.5,2]"}
    assert mlab(["ls", str(out), "--seed", "9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no model with seed 9 in") and err.endswith("seeds 0, 1") and "\n" not in err


def test_the_api_selects_a_model_by_what_it_is(studies):
    out, _, _ = studies
    study = open_study(str(out))
    models = study.models()
    chosen = study.model(arch="nau→nmu", train_range="[0.5, 2]", seed=0)
    expected = models.query("param_layers == 'nau,nmu' and seed == 0")["model_id"].item()
    assert chosen.model_id == expected
    x = np.array([[1.5, 0.7]], np.float32)
    np.testing.assert_array_equal(study.predict(chosen, x), study.predict(expected, x))
    with pytest.raises(UserError, match=r"^4 models match architecture 'mlp'"):
        study.model(arch="mlp")
    with pytest.raises(UserError, match="either by id or by"):
        study.model(expected, seed=0)
    assert set(study.listing(arch="stack")["arch_label"]) == set(models.query("arch == 'stack'")["arch_label"])


def test_export_by_what_it_is_from_a_cpu_machine_says_nothing_on_stderr(studies, tmp_path):
    """The real command in its own process: one line on stdout, nothing from TensorFlow on
    stderr; an ambiguous selection is one line and exit 2, naming the candidates."""
    out, _, _ = studies
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it
    command = [sys.executable, "-m", "tasks.cli", "export", str(out), "--arch", "nmu", "--seed", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    model_id = open_study(str(out)).models().query("arch == 'nmu' and seed == 1")["model_id"].item()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout == f"[export] {model_id} → {model_id}.keras (keras)\n"
    assert load_keras(tmp_path / f"{model_id}.keras").count_params() > 0
    ambiguous = subprocess.run(
        [*command[:-4], "--arch", "mlp", "--to", "x.keras"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert ambiguous.returncode == 2 and not (tmp_path / "x.keras").exists()
    (line,) = ambiguous.stderr.splitlines()
    assert line.startswith("error: 4 models match architecture 'mlp'") and line.count(" seed ") == 4


def test_compare_passes_identical_studies_and_calls_two_seeds_underpowered(studies, capsys):
    """Two seeds a side cannot show a regression, however much worse B is (a tenth of the
    training): every tested headline says underpowered, never ok, and the gate passes. The
    regression firing with enough seeds: tests/test_compare.py."""
    a, b, tmp = studies
    assert compare([str(a), str(a), "--out", str(tmp / "same")]) == 0
    assert "regressions 0" in capsys.readouterr().out
    assert compare([str(a), str(b), "--out", str(tmp / "planted")]) == 0
    assert "regressions 0" in capsys.readouterr().out
    summary = (tmp / "planted" / "summary.md").read_text()
    rows = [line for line in summary.split("## Headline metrics")[1].splitlines() if line.startswith("| in_range")]
    tested = [line for line in rows if "| only in A |" not in line]  # B trained one of A's architectures
    assert tested and len(rows) == len(tested) * len(ARCHITECTURES)  # per in-range metric: 1 tested, 8 in A only
    assert all("| underpowered |" in line and "seeds: the smallest p-value" in line for line in tested)
    assert "No significant change beyond the tolerance." in summary
    assert "<table" in (tmp / "planted" / "index.html").read_text()


def test_set_and_print_config_and_the_stored_config(studies, capsys):
    out, _, _ = studies
    assert run(["--config", "smoke", "--set", "training.steps=2000", "--set", "seeds=[4, 5, 6]", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["training"]["steps"] == 2000 and printed["seeds"] == [4, 5, 6]
    stored = yaml.safe_load((out / "config.yaml").read_text())
    assert stored["name"] == "zooish" and len(stored["architectures"]) == len(ARCHITECTURES)
    rerun = ["--config", str(out / "config.yaml"), "--out", str(out), "--tensorboard"]
    assert run(rerun) == 0  # the stored config reruns it: nothing to do
    assert "results and report are current" in capsys.readouterr().err


def test_live_progress_bars_on_a_terminal():
    """Real pseudo-terminal: rich draws a bar per stage, redrawn in place, with the log's lines
    above them; elsewhere plain timestamped lines, in order, without escape codes."""
    code = (
        "import sys\nfrom tasks.core import logs\nfrom tasks.cluster.progress import Progress\n"
        "logs.configure(stream=sys.stdout)\n"
        "a = Progress('train', 4, 'bundles', stream=sys.stdout)\n"
        "b = Progress('evaluate', 4, 'evaluations', stream=sys.stdout)\n"
        "for i in range(4):\n    a.advance(); b.advance(); logs.get('test').info(f'[step] {i} done')\n"
        "a.finish(); b.finish()\n"
    )
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "PYTHONPATH": str(ROOT)}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=slave, stderr=slave, cwd=str(ROOT), env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    screen = b"".join(chunks).decode()
    assert proc.returncode == 0, screen
    assert "\x1b[1A\x1b[2K" in screen  # the two live lines redrawn in place (cursor up, erase line)
    assert "━" * 8 in screen and "4/4 bundles" in screen and "4/4 evaluations" in screen
    assert "[step] 3 done" in screen and "INFO" in screen  # a log line drawn above the bars
    assert screen.rindex("\x1b[?25h") > screen.rindex("4/4 evaluations")  # the cursor is given back at the end
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), env=env)
    lines = plain.stdout.strip().splitlines()
    assert "\x1b" not in plain.stdout
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} INFO \[", line) for line in lines), lines
    said = [line.split(" INFO ", 1)[1] for line in lines]
    done = [i for i, line in enumerate(said) if line.startswith(("[train] 4/4", "[evaluate] 4/4"))]
    assert said.index("[step] 2 done") < done[0] < done[1] < said.index("[step] 3 done"), said  # as it happened
