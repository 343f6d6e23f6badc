"""The training settings a bundle is trained with (the config's `training` section, parsed by
tasks.study.config): plain data the trainer reads, with no knowledge of config files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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

    def identity(self) -> dict[str, Any]:
        """What changes a model's result (bundle size does not)."""
        d = asdict(self)
        d.pop("bundle_size")
        return d
