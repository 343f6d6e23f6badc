"""The lab's Python API: a finished study, its tables and its trained models.

    from tasks.api import open_study
    study = open_study("out/quick")               # a local path or any pyarrow.fs URI
    study.metrics()                               # pandas DataFrames: metrics, curves, probes, diagonal, models
    study.summary.success                         # the aggregates the report was drawn from
    ids = study.models()["model_id"]
    model = study.keras_model(ids[0])             # a Keras 3 model
    model.predict(np.array([[7.0, 3.0]]))         # what it predicts at (a, b) = (7, 3)
    study.export(ids[0], "m.keras")               # keras.models.load_model("m.keras") opens it

`tasks.api.load_keras(path)` opens an exported model; for architectures other than a plain
MLP it registers the lab's Keras layer first (plain MLPs load with Keras alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tasks.core.errors import UserError
from tasks.model.plugins import load_plugins
from tasks.report.aggregates import Summary
from tasks.store import catalog
from tasks.store.storage import Store
from tasks.study.config import Config, parse_config

EXPORT_FORMATS = ("keras", "savedmodel")


@dataclass(frozen=True)
class TrainedModel:
    model_id: str
    arch: str
    params: dict[str, Any]
    weights: dict[str, np.ndarray]  # one model's (no leading K axis)
    n_inputs: int
    identity: dict[str, Any]  # its row of the models table


class Study:
    """A study output directory (OUT) with complete results."""

    def __init__(self, out: str, plugins: list[str] | tuple[str, ...] = ()):
        load_plugins(plugins)
        self.store = Store(out)
        self.store.check_reachable()
        self.results = catalog.RESULTS.complete(self.store)
        if self.results is None:
            raise UserError(f"{self.store.display()} holds no complete study (no results manifest); run it first")
        self._models: pd.DataFrame | None = None

    @property
    def config(self) -> Config:
        """The config the study ran (OUT/config.yaml)."""
        try:
            text = self.store.read_bytes(catalog.CONFIG_FILE)
        except FileNotFoundError:
            where = self.store.display(catalog.CONFIG_FILE)
            raise UserError(f"{where} is missing: rerun the study to write it") from None
        return parse_config(yaml.safe_load(text))

    @property
    def summary(self) -> Summary:
        from tasks.pipeline import load_summary

        return load_summary(self.store, self.results)

    def table(self, name: str) -> pd.DataFrame:
        """A whole study table (all its parts)."""
        if name not in catalog.RESULT_TABLES:
            raise UserError(f"unknown table '{name}' (tables: {', '.join(catalog.RESULT_TABLES)})")
        with catalog.invalidating_corrupt(self.store):  # a damaged part: the next run of the study rebuilds it
            frames = [catalog.read_table(self.store, p).to_pandas() for p in self.results.parts(name)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def metrics(self) -> pd.DataFrame:
        return self.table("metrics")

    def curves(self) -> pd.DataFrame:
        return self.table("curves")

    def probes(self) -> pd.DataFrame:
        return self.table("probes")

    def diagonal(self) -> pd.DataFrame:
        return self.table("diagonal")

    def models(self) -> pd.DataFrame:
        """One row per model: identity columns (architecture, parameters, seed, range), bundle, fit."""
        if self._models is None:
            self._models = self.table("models")
        return self._models

    def model(self, model_id: str) -> TrainedModel:
        rows = self.models()[self.models()["model_id"] == model_id]
        if not len(rows):
            raise UserError(f"no model {model_id} in {self.store.display()}")
        row = rows.iloc[0].to_dict()
        bundle = catalog.require_bundle(self.store, row["bundle_id"])
        index = [m.model_id for m in bundle.members].index(model_id)
        with catalog.invalidating_corrupt(self.store):  # damaged weights: the next run retrains the bundle
            stacked = catalog.read_weights(self.store, bundle)
        weights = {name: value[index] for name, value in stacked.items()}
        return TrainedModel(model_id, bundle.arch, bundle.params, weights, self.config.target.n_inputs, row)

    def predict(self, model_id: str, x: np.ndarray) -> np.ndarray:
        """The lab's own forward pass on inputs x [n, N] (what the evaluation computed)."""
        from tasks.model import registry
        from tasks.model.inference import predict

        m = self.model(model_id)
        return predict(registry.get(m.arch), m.params, {k: v[None] for k, v in m.weights.items()}, x)[0]

    def keras_model(self, model_id: str):
        """The model as a Keras 3 model: `.predict(x)` on inputs [n, N] gives [n, 1]."""
        from tasks.model.keras_models import keras_model

        m = self.model(model_id)
        return keras_model(m.arch, m.params, m.weights, m.n_inputs)

    def export(self, model_id: str, path: str | Path, fmt: str = "keras") -> Path:
        """Write the model: a `.keras` file (keras.models.load_model) or a TensorFlow SavedModel
        directory (tf.saved_model.load; keras.layers.TFSMLayer in Keras)."""
        if fmt not in EXPORT_FORMATS:
            raise UserError(f"unknown export format '{fmt}' (choose from {', '.join(EXPORT_FORMATS)})")
        path = Path(path)
        if fmt == "keras" and path.suffix != ".keras":
            raise UserError(f"a Keras file ends in .keras, got {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        model = self.keras_model(model_id)
        if fmt == "keras":
            model.save(path)
        else:
            model.export(str(path), format="tf_saved_model", verbose=False)
        return path


def open_study(out: str, plugins: list[str] | tuple[str, ...] = ()) -> Study:
    """A finished study by its output location (local path or URI); `plugins` as --plugin."""
    return Study(out, plugins)


def load_keras(path: str | Path):
    """An exported .keras model, with the lab's Keras layer registered."""
    import keras

    import tasks.model.keras_models  # noqa: F401  (registers LabUnit for deserialization)

    return keras.models.load_model(path)
