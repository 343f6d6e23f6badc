"""Report tables from constructed results: fit before extrapolation, exact units' ratios,
and the page's sections (pure: no Ray, no storage)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.report.aggregates import summarise
from tasks.report.page import INFINITE_RATIO_NOTE, build_report
from tasks.report.summaries import by_range, fit_flags, fit_table, headline, success
from tasks.report.tables import html_table, to_markdown


def results(in_range_rmse: list[float], far_rmse: list[float]) -> dict[str, pd.DataFrame]:
    """One architecture on [1,2], one seed per entry: in range and on [2,6] and the diagonal."""
    rows, models = [], []
    for seed, (inside, far) in enumerate(zip(in_range_rmse, far_rmse)):
        mid = f"m{seed}"
        common = {"model_id": mid, "arch": "nmu", "arch_label": "nmu", "seed": seed, "train_range": "[1,2]"}
        for kind, ev, cov, rmse in [("square", "[1,2]", 1.0, inside), ("square", "[2,6]", 0.0, far)]:
            rows.append({**common, "eval_kind": kind, "eval_range": ev, "coverage": cov, "rmse": rmse})
        rows.append({**common, "eval_kind": "diagonal", "eval_range": "[5,10]", "coverage": 0.0, "rmse": far})
        models.append(
            {**common, "train_lo": 1.0, "train_hi": 2.0, "diverged": False, "diverged_step": -1}
            | {"bundle_id": "b", "bundle_model_steps_per_s": 1.0, "bundle_seconds": 1.0}
        )
    metrics = pd.DataFrame(rows).assign(nrmse=lambda d: d["rmse"] / 2.0, mse=lambda d: d["rmse"] ** 2)
    metrics = metrics.assign(success=metrics["rmse"] < 1e-3, threshold=1e-6, sparsity_error=0.0, diverged=False)
    fits = fit_flags(metrics, 0.01)
    metrics = metrics.merge(fits[["model_id", "fit"]], on="model_id")
    models = pd.DataFrame(models).merge(fits, on="model_id")
    return {"metrics": metrics, "models": models}


def test_models_that_did_not_fit_are_counted_apart():
    t = results([0.0005, 0.5, np.nan], [0.01, 40.0, np.nan])  # fits; misses its own range; diverged
    assert t["models"]["fit"].tolist() == [True, False, False]
    (row,) = fit_table(t["models"]).to_dict("records")
    assert (row["seeds"], row["fitted"]) == (3, 1)
    far = by_range(t["metrics"]).set_index("eval_range").loc["[2,6]"]
    assert far["rmse_median_fitted"] == 0.01 and far["fitted"] == 1  # the misfit's 40 is not in it
    s = success(t["metrics"]).set_index("eval_range").loc["[1,2]"]
    assert (s["seeds"], s["fitted_seeds"], s["successes_fitted"]) == (3, 1, 1)


def test_exact_units_show_infinite_ratios_explained():
    t = results([0.0, 0.0], [1e-6, 2e-6])  # an exact multiplier in range
    head = headline(t["metrics"])
    assert np.isinf(head["diag_ratio_[5,10]"]).all()
    assert "∞" in to_markdown(head) and "inf" not in to_markdown(head)
    assert "∞" in html_table(head) and "inf<" not in html_table(head)
    ident = {"model_id": "m0", "arch_label": "nmu", "train_range": "[1,2]", "seed": 0}
    t["curves"] = pd.DataFrame({**ident, "step": [10], "train_mse": [1e-3], "val_mse": [1e-3]})
    t["diagonal"] = pd.DataFrame({**ident, "x": [1.5, 7.0], "y_true": [2.25, 49.0], "y_pred": [2.25, 49.0]})
    t["models"] = t["models"].assign(train_lo=1.0, train_hi=2.0)
    info = {"config": "t", "n_models": 2, "n_trained": 2, "n_bundles": 1, "steps": 10, "seconds": 1.0}
    t["probes"] = pd.DataFrame(columns=["model_id", "eval_range", "step", "mse", "threshold"])
    summary = build_report(summarise(t, "[1,2]"), {**info, "reference_range": ["[1,2]", 1.0, 2.0]})["summary.md"]
    summary = summary.decode()
    assert INFINITE_RATIO_NOTE in summary and "2 of 2 models fit their training range" in summary


def labelled(t: dict[str, pd.DataFrame], operation: str, symbol: str) -> dict[str, pd.DataFrame]:
    """`results` as the models of one operation in a study of several."""
    ids = {"model_id": lambda d: d["model_id"] + operation, "arch_label": f"nmu on {symbol}"}
    return {name: frame.assign(**ids, operation=operation, unit_label="nmu") for name, frame in t.items()}


def test_a_report_of_several_operations_says_which_unit_extrapolates_which():
    parts = [
        labelled(results([0.0, 0.0], [1e-6, 2e-6]), "mul", "a·b"),
        labelled(results([0.0, 0.0], [3.0, 4.0]), "div", "a/b"),
    ]
    t = {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}
    ident = t["metrics"][["model_id", "arch_label", "train_range", "seed"]].drop_duplicates()
    t["curves"] = ident.assign(step=10, train_mse=1e-3, val_mse=1e-3)
    t["diagonal"] = ident.assign(x=1.5, y_true=2.25, y_pred=2.25)
    t["probes"] = pd.DataFrame(columns=["model_id", "eval_range", "step", "mse", "threshold"])
    targets = [{"name": "inputs", "params_json": "{}"}, {"name": "inputs", "params_json": '{"operation":"div"}'}]
    info = {"config": "t", "n_models": 4, "n_trained": 4, "n_bundles": 1, "steps": 10, "seconds": 1.0}
    info |= {"reference_range": ["[1,2]", 1.0, 2.0], "config_resolved": {"targets": targets}}
    files = build_report(summarise(t, "[1,2]"), info)
    summary = files["summary.md"].decode()
    assert summary.startswith("# Extrapolation report — t (y = a·b, a/b)")
    table = summary.split("## Which unit extrapolates which operation")[1].split("\n## ")[0]
    assert "| architecture | a·b | a/b |" in table
    assert "| nmu | 1.00 [0.34, 1.00] (2/2) | 0.00 [0.00, 0.66] (0/2) |" in table  # Wilson, 2 seeds
    assert "operations.png" in files and "unit_label" not in summary.split("## Success rate")[1]
    old = {**info, "config_resolved": {"target": {"name": "product", "params_json": "{}"}}}  # before operations
    title = build_report(summarise(t, "[1,2]"), old)["summary.md"].decode().splitlines()[0]
    assert title == "# Extrapolation report — t (y = a·b)"  # a study resolved before operations existed
