"""Training curves as TensorBoard event files (`tensorboard --logdir OUT/tensorboard`): one run
per model, named by architecture, training range and seed, written with TensorFlow's own
summary writer (tf.summary.write with the scalars plugin's metadata, which is what
tf.summary.scalar writes, without needing the tensorboard package to write). Off by default
(--tensorboard); written by the collection's map tasks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from tasks.store.storage import Store

TENSORBOARD_DIR = "tensorboard"


def run_name(arch_label: str, train_range: str, seed: int) -> str:
    safe = arch_label.replace("/", "∕").replace(os.sep, "∕")
    return f"{safe}/train={train_range}/seed={seed}"


def write_events(store: Store, curves: pd.DataFrame) -> int:
    """Event files for every model in `curves` (model_id, arch_label, train_range, seed, step,
    train_mse, val_mse), written locally then copied into the store; the number of runs."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    scalar = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
    with tempfile.TemporaryDirectory(prefix="mlab-tb-") as tmp:
        runs = 0
        for (arch, train, seed), g in curves.groupby(["arch_label", "train_range", "seed"], sort=False):
            writer = tf.summary.create_file_writer(str(Path(tmp) / run_name(arch, train, int(seed))))
            with writer.as_default():
                for row in g.sort_values("step").itertuples(index=False):
                    for tag in ("train_mse", "val_mse"):
                        value = getattr(row, tag)
                        if pd.notna(value):
                            tf.summary.write(tag, tf.constant(float(value), tf.float32), int(row.step), scalar)
            writer.close()
            runs += 1
        for path in Path(tmp).rglob("*"):
            if path.is_file():
                store.write_bytes(f"{TENSORBOARD_DIR}/{path.relative_to(tmp).as_posix()}", path.read_bytes())
    return runs
