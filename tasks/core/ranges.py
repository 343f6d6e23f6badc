"""Input ranges: a union of disjoint closed intervals, e.g. [-6,-2] ∪ [2,6].

Both inputs a and b of the multiplier are drawn from the same range, so a model "trained on
R" saw the square R×R; coverage compares such squares.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


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

    def intersection_length(self, other: Ranges) -> float:
        total = 0.0
        for lo1, hi1 in self.intervals:
            for lo2, hi2 in other.intervals:
                total += max(0.0, min(hi1, hi2) - max(lo1, lo2))
        return total

    def scaled(self, factor: float) -> Ranges:
        """The widening used by evaluation ladders: [lo, lo + factor·(hi − lo)] over the hull."""
        return Ranges.of((self.lo, self.lo + factor * (self.hi - self.lo)))

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


def coverage(train: Ranges, evaluation: Ranges) -> float:
    """Fraction of the evaluation square's area inside the training square.

    Squares are products of the same range on both axes, so the area ratio is the squared
    length ratio of the 1-D intersection.
    """
    return (train.intersection_length(evaluation) / evaluation.length) ** 2
