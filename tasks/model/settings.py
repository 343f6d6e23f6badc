"""The training settings a bundle is trained with (the config's `training` section, parsed by
tasks.study.config): plain data the trainer reads, with no knowledge of config files; and the
training stage's version.

A model's id hashes its inputs (architecture, parameters, these settings, its datasets' ids,
its seed; a plugin's source) and TRAIN_VERSION. Bump it with any change that alters a trained
weight or a training curve for the same inputs:

    the trainer (tasks.model.trainer: steps, windows, divergence, checkpoints), in-graph batches
    (tasks.model.batches), optimizers, a shipped unit's initialisation or forward pass
    (tasks.model.units), the curves or probes a bundle writes (tasks.jobs.train).

A bump retrains every model (datasets are reused); evaluations, tables and report follow.
tests/test_numerics.py fails when trained models change while this version did not. It lives
here, not in tasks.model.trainer, because planning reads it and must not import TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# 1: the first release (implicit). 2: runs of 32 rows in batches, the exact NMU forward,
# seed-dependent window order (the lab's single numerics version before each stage had its own).
# 3: the 2-input nmu and nalu run the stack layers' code (one-layer stacks): W·x is an einsum and
# the NMU's product a reduce_prod, which XLA and oneDNN round differently from the former
# elementwise a·W₀ + b·W₁ (float32 last-bit differences); every other unit trains as before.
# 4: products run in the form for their shape on a CPU (tasks.core.products): two inputs as
# broadcast products (an MLP's first layer, 2 → 1 layers), up to 4 output columns as per-member
# matrix-vector products (a stack's first layer, an MLP's output, the subset target's sums);
# faster, rounded differently in the last bits, and a member's bits the same alone or in a
# bundle (a batched one-column einsum was not). Evaluation reads the same forward pass: its
# results follow through the new model ids (no bump there).
TRAIN_VERSION = 4
# dataset: rows of the study's stored training sets, drawn with replacement (tasks.model.batches);
# fresh: a new batch every step from each model seed's own stream, drawn in the compiled step
# from the training range (tasks.model.fresh), as stable-nalu and the NALM benchmark do.
DATA_SOURCES = ("dataset", "fresh")


@dataclass(frozen=True)
class TrainingConfig:
    optimizer: str
    learning_rate: float
    batch_size: int
    steps: int
    loss_reduction: str
    log_every: int
    window_rows: int
    checkpoint: str
    bundle_size: int | None  # None: chosen automatically
    epsilon: float = 1e-7  # Adam's and RMSprop's ε (Keras' default; PyTorch's is 1e-8)
    data: str = "dataset"  # what batches come from: "dataset" rows, or "fresh" draws per step (DATA_SOURCES)

    def identity(self) -> dict[str, Any]:
        """What changes a model's result (bundle size does not). The data source is named only
        when it is not the stored datasets, so models trained on those keep their ids."""
        d = asdict(self)
        d.pop("bundle_size")
        if d["data"] == "dataset":
            d.pop("data")
        return d

    @property
    def fresh(self) -> bool:
        return self.data == "fresh"
