"""The lab's Python API: a finished study, its tables and its trained models.

    from tasks.api import open_study
    study = open_study("out/quick")               # a local path or any pyarrow.fs URI
    study.metrics()                               # pandas DataFrames: metrics, curves, probes, diagonal, models
    study.summary.success                         # the aggregates the report was drawn from
    study.listing(arch="mlp")                     # one row per model: label, range, seed, fit, success, id
    m = study.model(arch="mlp", train_range="[0,2]", seed=0)   # or study.model("m-…") by id
    model = study.keras_model(m)                  # a Keras 3 model (an id works too)
    model.predict(np.array([[7.0, 3.0]]))         # what it predicts at (a, b) = (7, 3)
    study.export(m, "m.keras")                    # keras.models.load_model("m.keras") opens it

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
from tasks.report import listing
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

    def listing(self, arch: str | None = None, train_range: str | None = None, seed: int | None = None) -> pd.DataFrame:
        """One row per model, by what it is (tasks.report.listing.model_listing): architecture
        label, training range, seed, fit, successes on its extrapolation ranges, id; filtered by
        `arch` (label, registry name or a stack's layers), `train_range` and `seed`."""
        models = listing.select(self.models(), listing.Selection(arch, train_range, seed), self.store.display())
        wanted = set(models["model_id"])
        counts = []
        for part in self.results.parts("metrics"):  # one part at a time: only per-model counts are kept
            frame = catalog.read_table(self.store, part).to_pandas()
            counts.append(listing.extrapolation_successes(frame[frame["model_id"].isin(wanted)]))
        return listing.model_listing(models, pd.concat(counts, ignore_index=True))

    def model(
        self,
        model_id: str | None = None,
        *,
        arch: str | None = None,
        train_range: str | None = None,
        seed: int | None = None,
    ) -> TrainedModel:
        """One trained model, by id or by what it is: `study.model(arch="nmu", train_range="[0,2]",
        seed=0)`; a selection that names no model or several is a UserError listing the candidates.
        predict, keras_model and export take the result (or an id)."""
        selection = listing.Selection(arch, train_range, seed)
        if (model_id is None) == (not selection):
            raise UserError("name a model either by id or by arch/train_range/seed, not both nor neither")
        if model_id is None:
            model_id = str(listing.the_one(self.models(), selection, self.store.display())["model_id"])
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

    def _trained(self, model: str | TrainedModel) -> TrainedModel:
        return model if isinstance(model, TrainedModel) else self.model(model)

    def predict(self, model: str | TrainedModel, x: np.ndarray) -> np.ndarray:
        """The lab's own forward pass on inputs x [n, N] (what the evaluation computed)."""
        from tasks.model import registry
        from tasks.model.inference import predict

        m = self._trained(model)
        return predict(registry.get(m.arch), m.params, {k: v[None] for k, v in m.weights.items()}, x)[0]

    def keras_model(self, model: str | TrainedModel):
        """The model as a Keras 3 model: `.predict(x)` on inputs [n, N] gives [n, 1]."""
        from tasks.model.keras_models import keras_model

        m = self._trained(model)
        return keras_model(m.arch, m.params, m.weights, m.n_inputs)

    def export(self, model: str | TrainedModel, path: str | Path, fmt: str = "keras") -> Path:
        """Write the model: a `.keras` file (keras.models.load_model) or a TensorFlow SavedModel
        directory (tf.saved_model.load; keras.layers.TFSMLayer in Keras)."""
        if fmt not in EXPORT_FORMATS:
            raise UserError(f"unknown export format '{fmt}' (choose from {', '.join(EXPORT_FORMATS)})")
        path = Path(path)
        if fmt == "keras" and path.suffix != ".keras":
            raise UserError(f"a Keras file ends in .keras, got {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        keras_model = self.keras_model(model)
        if fmt == "keras":
            keras_model.save(path)
        else:
            keras_model.export(str(path), format="tf_saved_model", verbose=False)
        return path


def open_study(out: str, plugins: list[str] | tuple[str, ...] = ()) -> Study:
    """A finished study by its output location (local path or URI); `plugins` as --plugin."""
    return Study(out, plugins)


def load_keras(path: str | Path):
    """An exported .keras model, with the lab's Keras layer registered."""
    import keras

    import tasks.model.keras_models  # noqa: F401  (registers LabUnit for deserialization)

    return keras.models.load_model(path)
