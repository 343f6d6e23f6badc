"""The training loop's state between compiled calls, and how it is saved and restored.

Everything a bundle's outcome depends on is here: the step, the weights and optimizer state,
which members are alive and when others diverged, the training MSE summed since the last curve
point, the curve and probe logs so far and the best-validation checkpoint. Restoring a saved
state and training on gives bit-identical weights, curves and metrics to an uninterrupted run
(batches are a pure function of seed and step, tasks.model.feeds). Where states are kept
(the output store, atomically, checksummed) is the caller's: tasks.jobs.checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Checkpoints(Protocol):
    """What train_bundle asks of a checkpoint keeper, between compiled calls only."""

    def restore(self) -> dict[str, np.ndarray] | None:
        """A state saved by an earlier run of this very bundle, or None."""

    def due(self) -> bool:
        """Whether to save now (called after each compiled call)."""

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        """Keep this state (may stop the run afterwards: a worker asked to terminate)."""


class TrainLog:
    """Curve points, validation MSE, probe curves and the best-validation checkpoint."""

    def __init__(self, k: int, weights: dict[str, np.ndarray], checkpoint: str, n_probes: int):
        self.k, self.checkpoint, self.n_probes = k, checkpoint, n_probes
        self.steps: list[int] = []
        self.train: list[np.ndarray] = []
        self.val: list[np.ndarray] = []
        self.probes: list[np.ndarray] = []
        self.best = {n: w.copy() for n, w in weights.items()}
        self.best_val = np.full(k, np.inf)
        self.selected = np.zeros(k, np.int64)

    def point(self, step: int, train_mse: np.ndarray, alive: np.ndarray, val: np.ndarray | None) -> None:
        self.steps.append(step)
        self.train.append(np.where(alive, train_mse, np.nan))  # dead members: no curve
        self.val.append(np.full(self.k, np.nan) if val is None else np.where(alive, val, np.nan))

    def set_best(self, weights: dict[str, np.ndarray], best_val: np.ndarray, selected: np.ndarray) -> None:
        """The best-validation checkpoint as the compiled call keeps it: each member's weights
        at its lowest finite validation MSE so far, that MSE and its step."""
        self.best, self.best_val, self.selected = weights, best_val, selected

    def selection(self, final: dict[str, np.ndarray], step: int, has_val: bool) -> tuple[dict, np.ndarray]:
        """The weights to keep and the step each member's come from."""
        if self.checkpoint == "best_val" and has_val:
            found = np.isfinite(self.best_val)
            weights = {n: np.where(_bcast(found, self.best[n]), self.best[n], final[n]) for n in final}
            return weights, np.where(found, self.selected, step)
        return final, np.full(self.k, step, np.int64)

    def curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(steps [L], train MSE [L, K], validation MSE [L, K], probe MSE [L, K, E])."""
        n = len(self.steps)
        return (
            np.asarray(self.steps, np.int64),
            np.asarray(self.train, np.float64).reshape(n, self.k),
            np.asarray(self.val, np.float64).reshape(n, self.k),
            np.asarray(self.probes, np.float64).reshape(n, self.k, self.n_probes),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        steps, train, val, probes = self.curves()
        out = {"log_steps": steps, "log_train": train, "log_val": val, "log_probes": probes}
        out.update({f"best__{n}": w for n, w in self.best.items()})
        return {**out, "best_val": self.best_val, "selected": self.selected}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.steps = arrays["log_steps"].tolist()
        self.train, self.val = list(arrays["log_train"]), list(arrays["log_val"])
        self.probes = list(arrays["log_probes"])
        self.best = {n: arrays[f"best__{n}"].copy() for n in self.best}
        self.best_val, self.selected = arrays["best_val"].copy(), arrays["selected"].copy()


@dataclass
class LoopState:
    """The host loop's state between calls (tensors as NumPy arrays)."""

    step: int
    weights: tuple[np.ndarray, ...]  # in the order of the weight names
    optimizer: tuple[np.ndarray, ...]
    alive: np.ndarray  # [K] bool
    diverged: np.ndarray  # [K] int64, −1: never
    mse_acc: np.ndarray  # [K] float64: training MSE summed since the last curve point
    mse_count: int
    seconds: float  # training time of earlier working periods

    def arrays(self, log: TrainLog, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        out = {f"w__{n}": w for n, w in zip(names, self.weights)}
        out.update({f"opt__{i}": s for i, s in enumerate(self.optimizer)})
        scalars = {"step": np.int64(self.step), "mse_count": np.int64(self.mse_count), "seconds": self.seconds}
        out.update({k: np.asarray(v) for k, v in scalars.items()})
        return {**out, "alive": self.alive, "diverged": self.diverged, "mse_acc": self.mse_acc, **log.arrays()}

    @staticmethod
    def from_arrays(arrays: dict[str, np.ndarray], names: tuple[str, ...]) -> LoopState:
        n_opt = sum(1 for key in arrays if key.startswith("opt__"))
        return LoopState(
            step=int(arrays["step"]),
            weights=tuple(arrays[f"w__{n}"] for n in names),
            optimizer=tuple(arrays[f"opt__{i}"] for i in range(n_opt)),
            alive=arrays["alive"].astype(bool),
            diverged=arrays["diverged"].astype(np.int64),
            mse_acc=arrays["mse_acc"].astype(np.float64),
            mse_count=int(arrays["mse_count"]),
            seconds=float(arrays["seconds"]),
        )


def _bcast(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape((-1,) + (1,) * (like.ndim - 1))
