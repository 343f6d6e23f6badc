"""From report to research: the Python API over a finished study, its models as Keras models,
export and reload in a fresh process, TensorBoard runs, study-vs-study comparison, --set and
--print-config, and the live progress bars on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest
import yaml
from support import ROOT, read_results, write_study

from tasks.api import load_keras, open_study
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
    """Every shipped architecture on a positive range (log_mlp needs one), and the same study
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
    worse = write_study(tmp, {**overrides, "training.steps": 20, "training.log_every": 20}, "worse")
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
    import tensorflow as tf

    out, _, _ = studies
    events = sorted((out / "tensorboard").rglob("events.out.tfevents*"))
    assert len({p.parent for p in events}) == 2 * len(ARCHITECTURES)  # one run per model
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(str(events[0])) for v in e.summary.value}
    assert tags == {"train_mse", "val_mse"}
    assert "seed=" in str(events[0].parent) and "train=[0.5,2]" in str(events[0].parent)


def test_compare_flags_a_planted_regression_and_passes_identical_studies(studies, capsys):
    a, b, tmp = studies
    assert compare([str(a), str(a), "--out", str(tmp / "same")]) == 0
    assert "regressions 0" in capsys.readouterr().out
    assert compare([str(a), str(b), "--out", str(tmp / "planted")]) == 1
    summary = (tmp / "planted" / "summary.md").read_text()
    assert "## Flagged" in summary and "regression" in summary and "in_range_rmse" in summary
    assert compare([str(a), str(b), "--out", str(tmp / "gate"), "--no-fail-on-regression"]) == 0
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
    assert "results and report are current" in capsys.readouterr().out


def test_live_progress_bars_on_a_terminal():
    """Real pseudo-terminal: a bar per stage, redrawn in place; plain lines when not a terminal."""
    code = (
        "import sys\nfrom tasks.cluster.progress import Progress\n"
        "a = Progress('train', 4, 'bundles', stream=sys.stdout)\n"
        "b = Progress('evaluate', 4, 'evaluations', stream=sys.stdout)\n"
        "for _ in range(4):\n    a.advance(); b.advance()\na.finish(); b.finish()\n"
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=slave, stderr=slave, cwd=str(ROOT))
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
    assert "\x1b[2F" in screen  # two live lines redrawn in place
    assert "████████████████████████ 4/4 bundles" in screen and "4/4 evaluations" in screen
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert "\x1b" not in plain.stdout and plain.stdout.strip().splitlines()[-1].startswith("[evaluate] 4/4")
