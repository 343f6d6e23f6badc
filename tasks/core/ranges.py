"""Input ranges: a union of disjoint closed intervals, e.g. [-6,-2] ∪ [2,6].

Every input of a model is drawn from the same range, so a model "trained on R" saw the
square R×R (N inputs: the cube R^N); coverage compares such regions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

WIDEN_POLICIES = ("outward", "right", "left", "both", "centered")


@dataclass(frozen=True)
class Ranges:
    intervals: tuple[tuple[float, float], ...]

    @staticmethod
    def of(*intervals: tuple[float, float]) -> Ranges:
        ivs = sorted((float(lo), float(hi)) for lo, hi in intervals)
        for lo, hi in ivs:
            if not lo < hi:
                raise ValueError(f"interval [{lo}, {hi}] needs lo < hi")
        for (_, hi1), (lo2, _) in itertools.pairwise(ivs):
            if lo2 < hi1:
                raise ValueError(f"intervals overlap: ...{hi1}] and [{lo2}...")
        return Ranges(tuple(ivs))

    @property
    def lo(self) -> float:
        return self.intervals[0][0]

    @property
    def hi(self) -> float:
        return self.intervals[-1][1]

    @property
    def length(self) -> float:
        return sum(hi - lo for lo, hi in self.intervals)

    def min_abs(self) -> float:
        """The smallest magnitude in the union (0 when it reaches zero)."""
        if any(lo <= 0 <= hi for lo, hi in self.intervals):
            return 0.0
        return min(min(abs(lo), abs(hi)) for lo, hi in self.intervals)

    def max_abs(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    def intersection(self, other: Ranges) -> list[tuple[float, float]]:
        """The overlapping pieces of the two unions."""
        pieces = []
        for lo1, hi1 in self.intervals:
            for lo2, hi2 in other.intervals:
                lo, hi = max(lo1, lo2), min(hi1, hi2)
                if hi > lo:
                    pieces.append((lo, hi))
        return pieces

    def intersection_length(self, other: Ranges) -> float:
        return sum(hi - lo for lo, hi in self.intersection(other))

    def widened(self, factor: float, policy: str = "outward") -> Ranges:
        """An evaluation range `factor` times as wide as this range's hull (width w = hi − lo):

        right     [lo, lo + f·w]             grows upward from lo (the article's ladder)
        left      [hi − f·w, hi]             grows downward from hi
        both      the hull's midpoint ± f·w/2
        outward   away from zero: right when lo ≥ 0, left when hi ≤ 0, both across zero
        centered  [−f·m, f·m], m = max(|lo|, |hi|): inputs f times larger in magnitude, both signs
        """
        lo, hi, w = self.lo, self.hi, self.hi - self.lo
        if policy == "outward":
            policy = "right" if lo >= 0 else "left" if hi <= 0 else "both"
        if policy == "right":
            return Ranges.of((lo, lo + factor * w))
        if policy == "left":
            return Ranges.of((hi - factor * w, hi))
        if policy == "both":
            mid = (lo + hi) / 2
            return Ranges.of((mid - factor * w / 2, mid + factor * w / 2))
        if policy == "centered":
            m = factor * max(abs(lo), abs(hi))
            return Ranges.of((-m, m))
        raise ValueError(f"unknown widening policy {policy!r} (choose from {', '.join(WIDEN_POLICIES)})")

    def scaled(self, factor: float) -> Ranges:
        """The article's ladder: [lo, lo + factor·(hi − lo)] over the hull."""
        return self.widened(factor, "right")

    def to_json(self) -> list[list[float]]:
        return [[lo, hi] for lo, hi in self.intervals]

    def label(self) -> str:
        return "∪".join(f"[{_fmt(lo)},{_fmt(hi)}]" for lo, hi in self.intervals)

    def contains(self, x: np.ndarray) -> np.ndarray:
        inside = np.zeros(np.shape(x), dtype=bool)
        for lo, hi in self.intervals:
            inside |= (x >= lo) & (x <= hi)
        return inside


def _fmt(x: float) -> str:
    return f"{x:g}"


def measure(pieces: list[tuple[float, float]], distribution: str) -> float:
    """The measure the sampler gives these intervals: length (uniform) or log-length (log_uniform)."""
    if distribution == "log_uniform":
        return sum(math.log(hi) - math.log(lo) for lo, hi in pieces)
    return sum(hi - lo for lo, hi in pieces)


def coverage(train: Ranges, evaluation: Ranges, distribution: str = "uniform", n_inputs: int = 2) -> float:
    """The probability that an evaluation sample lies inside the training region.

    Each of the N inputs is drawn independently from `evaluation` under `distribution`
    (unions: each interval in proportion to its measure), so the share of one input's mass
    inside `train` is raised to the power N. Under `uniform` with N = 2 this is the share of
    the evaluation square's area inside the training square.
    """
    inside = measure(train.intersection(evaluation), distribution) / measure(list(evaluation.intervals), distribution)
    return inside**n_inputs
