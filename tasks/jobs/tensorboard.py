"""A study's models as TensorBoard runs (`tensorboard --logdir OUT/tensorboard`), written by the
collection's map tasks when the study runs with --tensorboard. One run per model, in a folder
whose name is safe anywhere (letters, digits, `.`, `-`, `_`): a slug of the architecture label
with a short hash of the full label (labels that slug alike stay apart), then the training range
and the seed, e.g. `mlp_activation_relu_hidden_16-3f2a9c1e/train_0_2/seed_0`. Each run holds:

- the model's spec as hparams (TensorBoard's hparams plugin): architecture, label, its
  parameters, training range, seed and training settings; the model id is the trial id;
- its training curves (train_mse, val_mse per logged step);
- its metrics at the selected checkpoint: in-range NRMSE, fit, successes on its extrapolation
  ranges, and per evaluation range its NRMSE, RMSE and success (`nrmse/square [0,20]`).

One event file per run, named after the model, so collecting a model again replaces its file.
Needs the tensorboard package (the [tensorboard] extra) for the hparams plugin's summaries.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.store.storage import Store

TENSORBOARD_DIR = "tensorboard"
SLUG_MAX = 60  # characters of the label kept in a run folder's name (the hash tells the rest apart)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def run_name(arch_label: str, train_range: str, seed: int) -> str:
    """A model's run folder: only letters, digits, `.`, `-`, `_` and the two `/` separators."""
    digest = hashlib.sha256(arch_label.encode()).hexdigest()[:8]
    return f"{slug(arch_label)[:SLUG_MAX]}-{digest}/train_{slug(train_range)}/seed_{int(seed)}"


def hparam_value(value: Any) -> bool | int | float | str | None:
    """What the hparams plugin can hold (bool, number, string); None for a missing value."""
    if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return hparam_value(value.item())
    return str(value)


def model_hparams(model: pd.Series, training: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The model's spec: identity, architecture parameters (param_*), training settings."""
    spec: dict[str, Any] = {k: model[k] for k in ("arch", "arch_label", "train_range", "train_lo", "train_hi", "seed")}
    spec |= {k: v for k, v in model.items() if str(k).startswith("param_")}
    spec |= {k: v for k, v in training.items() if k not in spec}
    return {str(k): v for k, v in ((k, hparam_value(v)) for k, v in spec.items()) if v is not None}


def model_scalars(model: pd.Series, metrics: pd.DataFrame) -> dict[str, float]:
    """The model's metrics at its selected checkpoint, by tag."""
    out = {"in_range_nrmse": float(model["in_range_nrmse"]), "fit": float(bool(model["fit"]))}
    extrapolation = metrics[(metrics["eval_kind"] == "square") & (metrics["eval_range"] != metrics["train_range"])]
    out["extrapolation_successes"] = float(extrapolation["success"].sum())
    for row in metrics.itertuples(index=False):
        where = f"{row.eval_kind} {row.eval_range}"
        out[f"nrmse/{where}"] = float(row.nrmse)
        out[f"rmse/{where}"] = float(row.rmse)
        if pd.notna(row.success):
            out[f"success/{where}"] = float(bool(row.success))
    return {tag: value for tag, value in out.items() if math.isfinite(value)}


def write_events(store: Store, tables: dict[str, pd.DataFrame], training: dict[str, Any]) -> int:
    """A run per model of one collected part (its models, metrics and curves tables), written
    locally then copied into the store; the number of runs."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    curves = tables["curves"].groupby("model_id")
    metrics = tables["metrics"].groupby("model_id")
    with tempfile.TemporaryDirectory(prefix="mlab-tb-") as tmp:
        runs = 0
        for model in (row for _, row in tables["models"].iterrows()):
            model_id = str(model["model_id"])
            folder = Path(tmp) / run_name(model["arch_label"], model["train_range"], model["seed"])
            writer = tf.summary.create_file_writer(str(folder))
            with writer.as_default():
                hp.hparams(model_hparams(model, training), trial_id=model_id)
                if model_id in curves.groups:
                    for row in curves.get_group(model_id).sort_values("step").itertuples(index=False):
                        for tag in ("train_mse", "val_mse"):
                            value = getattr(row, tag)
                            if pd.notna(value):
                                tf.summary.scalar(tag, float(value), step=int(row.step))
                step = int(model["selected_step"]) if int(model["selected_step"]) >= 0 else int(model["steps"])
                chosen = metrics.get_group(model_id) if model_id in metrics.groups else tables["metrics"].iloc[:0]
                for tag, value in model_scalars(model, chosen).items():
                    tf.summary.scalar(tag, value, step=step)
            writer.close()
            (event,) = folder.glob("events.out.tfevents.*")
            event.rename(folder / f"events.out.tfevents.{model_id}")
            runs += 1
        for path in Path(tmp).rglob("*"):
            if path.is_file():
                store.write_bytes(f"{TENSORBOARD_DIR}/{path.relative_to(tmp).as_posix()}", path.read_bytes())
    return runs
