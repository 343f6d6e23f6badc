"""The one registry of success rules: when has a model learned the operation on a range?

Every rule compares a model's test MSE with a threshold: the MSE of a nearly perfect model,
the exact solution perturbed by a relative ε. The rules differ in what they perturb and in
how they estimate the expectation; what a perturbation does to y is the operation's
(tasks.data.operations), so every rule holds for every operation that defines it:

    inputs_scaled  this lab's rule since its first version: every operand off by a relative ε
                   in the direction that moves y (a·b: (1 + ε)²·a·b; a/b: (1 + ε)/(1 − ε)·a/b),
                   estimated on the range's own test set.
    primer2022     Mistry, Farrahi & Hare, "A Primer for Neural Arithmetic Logic Modules"
                   (JMLR 2022), single-module tasks (the operands are the inputs):
                   (1 − ε)²·a·b, (1 − ε)/(1 + ε)·a/b, a ± b − ε·Σ|x| (their
                   generate_exp_thresholds.r), each unread input x scaling a product by
                   1 − ε·|x|; expectation over `samples` fresh draws from the range (10⁶ there).
    iclr2020       Madsen & Johansen, "Neural Arithmetic Units" (ICLR 2020): the ideal first
                   layer with each selecting weight 1 − ε and every other weight ε (an additive
                   perturbation), the operation exact on what it selects; expectation over
                   `samples` draws from the range (their function_task_static_mse_expectation.r,
                   the same for add, sub, mul, div, squared and root: 10⁶ samples).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.core.ids import seed_from
from tasks.core.ranges import Ranges
from tasks.data.sampling import sample
from tasks.data.targets import TargetSpec

MC_CHUNK_ROWS = 50_000  # bounds the memory of a Monte-Carlo estimate (rows × N float64)


@dataclass(frozen=True)
class SuccessConfig:
    rule: str = "inputs_scaled"
    epsilon: float = 1e-5
    samples: int = 1_000_000  # Monte-Carlo draws for rules that estimate on fresh samples

    def identity(self) -> dict[str, Any]:
        return {"rule": self.rule, "epsilon": self.epsilon, "samples": self.samples}


@dataclass(frozen=True)
class SuccessRule:
    name: str
    citation: str
    on_test_set: bool  # estimated on the range's test set (else on `samples` fresh draws)

    def accepts(self, target: TargetSpec) -> str | None:
        """Why this rule cannot judge `target`, or None."""
        return None

    def nearly_perfect_mse(self, target: TargetSpec, x: np.ndarray, layout: np.ndarray, epsilon: float) -> float:
        """The perturbed ideal model's MSE on inputs x [n, N]."""
        raise NotImplementedError

    def threshold(
        self,
        target: TargetSpec,
        ranges: Ranges,
        distribution: str,
        success: SuccessConfig,
        test_x: np.ndarray,
        layout: np.ndarray,
    ) -> float:
        if self.on_test_set:
            return self.nearly_perfect_mse(target, test_x, layout, success.epsilon)
        return _monte_carlo(self.name, target, ranges, distribution, success.epsilon, success.samples)


class InputsScaled(SuccessRule):
    def nearly_perfect_mse(self, target, x, layout, epsilon):
        error = target.operation.scaled_error(target.target.operands(target.params, x, layout), epsilon)
        return float(np.mean(error**2))


class Primer2022(SuccessRule):
    def accepts(self, target):
        if not target.target.operands_are_inputs:
            return "the Primer's rule is for single-module tasks, whose operands are the inputs"
        if not target.operation.defines_primer:
            return f"the Primer defines no perturbation for {target.operation.name}"
        return None

    def nearly_perfect_mse(self, target, x, layout, epsilon):
        masks = target.target.operand_masks(target.params, layout)
        operands = target.target.operands(target.params, x, layout)
        rest = x[:, masks.sum(axis=0) == 0]  # the inputs no operand reads
        return float(np.mean(target.operation.primer_error(operands, rest, epsilon) ** 2))


class ICLR2020(SuccessRule):
    def nearly_perfect_mse(self, target, x, layout, epsilon):
        masks = target.target.operand_masks(target.params, layout)  # [k, N]: the ideal first layer
        perturbed = np.where(masks > 0, 1 - epsilon, epsilon)
        x64 = x.astype(np.float64)
        exact = target.operation.y([x64 @ m for m in masks])
        near = target.operation.y([x64 @ m for m in perturbed])
        return float(np.mean((near - exact) ** 2))


REGISTRY: dict[str, SuccessRule] = {
    r.name: r
    for r in (
        InputsScaled(
            "inputs_scaled", "this lab: the exact operation of operands off by a relative ε, on the test set", True
        ),
        Primer2022(
            "primer2022", "Mistry, Farrahi & Hare (JMLR 2022), A Primer for Neural Arithmetic Logic Modules", False
        ),
        ICLR2020("iclr2020", "Madsen & Johansen (ICLR 2020), Neural Arithmetic Units", False),
    )
}


@functools.lru_cache(maxsize=256)
def _monte_carlo(
    rule: str, target: TargetSpec, ranges: Ranges, distribution: str, epsilon: float, samples: int
) -> float:
    """The rule's expectation over `samples` draws of every input from `ranges` (fixed
    generator: the same threshold on every node, every run)."""
    rng = np.random.default_rng(seed_from("success-threshold", rule, target.identity(), ranges.to_json(), distribution))
    layout = target.target.layout(target.params, 0)  # any placement: the inputs are exchangeable
    total, done = 0.0, 0
    while done < samples:
        n = min(MC_CHUNK_ROWS, samples - done)
        x = np.stack([sample(rng, distribution, ranges, n) for _ in range(target.n_inputs)], axis=1)
        total += REGISTRY[rule].nearly_perfect_mse(target, x, layout, epsilon) * n
        done += n
    return total / samples
