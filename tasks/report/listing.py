"""Models by what they are: one row per model (architecture, training range, seed, whether it
fits, on how many of its extrapolation ranges it succeeds, its id) and a selection by those
values, with one clear message when a selection is empty or names more than one model (pure
pandas; `mlab ls`, `mlab export --arch …` and tasks.api's `study.model(arch=…)` use it).

A new per-model column (e.g. the extrapolation horizon) is one more merge in `model_listing`;
the command line names the columns it shows in tasks.cli.listing.COLUMNS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from tasks.core.errors import UserError
from tasks.core.ranges import Ranges

MAX_NAMED = 10  # candidates named in a message; the rest are counted
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Selection:
    """Which models: an architecture (its label, its registry name, or a stack's layers such as
    nau,nmu), a training range ([0,2], "0,2", "[-6,-2]∪[2,6]") and a seed; None matches all."""

    arch: str | None = None
    train_range: str | None = None
    seed: int | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.arch, self.train_range, self.seed))

    def describe(self) -> str:
        said = []
        if self.arch is not None:
            said.append(f"architecture '{self.arch}'")
        if self.train_range is not None:
            said.append(f"training range {range_label(self.train_range)}")
        if self.seed is not None:
            said.append(f"seed {self.seed}")
        return ", ".join(said) or "any model"


def range_label(text: str) -> str:
    """A training range as the tables spell it ([0,2], [-6,-2]∪[2,6]), from what a user types."""
    numbers = [float(n) for n in NUMBER.findall(str(text))]
    if not numbers or len(numbers) % 2:
        raise UserError(f"training range '{text}': expected lo,hi pairs such as [0,2] or [-6,-2]∪[2,6]")
    try:
        return Ranges.of(*zip(numbers[::2], numbers[1::2])).label()
    except ValueError as exc:
        raise UserError(f"training range '{text}': {exc}") from None


def layers_key(text: str) -> str:
    """A stack's layers as the models table stores them (nau,nmu), from nau→nmu or nau->nmu."""
    return re.sub(r"\s+", "", str(text).replace("→", ",").replace("->", ","))


def matching(models: pd.DataFrame, selection: Selection) -> pd.Series:
    """Which rows of a models table the selection names."""
    keep = pd.Series(True, index=models.index)
    if selection.arch is not None:
        wanted = str(selection.arch)
        by_name = (models["arch_label"] == wanted) | (models["arch"] == wanted)
        if "param_layers" in models:
            by_name |= models["param_layers"].astype("string").fillna("").map(layers_key) == layers_key(wanted)
        keep &= by_name
    if selection.train_range is not None:
        keep &= models["train_range"] == range_label(selection.train_range)
    if selection.seed is not None:
        keep &= models["seed"] == int(selection.seed)
    return keep


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Architecture, then training range numerically ([0,2] before [0,10]), then seed."""
    return frame.sort_values(["arch_label", "train_lo", "train_hi", "seed"], kind="stable").reset_index(drop=True)


def select(models: pd.DataFrame, selection: Selection, where: str) -> pd.DataFrame:
    """The selected rows, in order; none is an error that says what the study holds."""
    chosen = models[matching(models, selection)]
    if len(chosen):
        return in_order(chosen)
    held = in_order(models)
    raise UserError(
        f"no model with {selection.describe()} in {where}; it holds architectures "
        f"{named(held['arch_label'].unique())}, training ranges {named(held['train_range'].unique())}, "
        f"seeds {named(sorted(held['seed'].unique()))}"
    )


def the_one(models: pd.DataFrame, selection: Selection, where: str) -> pd.Series:
    """The single model the selection names, or an error listing the candidates."""
    chosen = select(models, selection, where)
    if len(chosen) == 1:
        return chosen.iloc[0]
    candidates = [f"{r.model_id} ({r.arch_label} {r.train_range} seed {r.seed})" for r in chosen.itertuples()]
    raise UserError(
        f"{len(chosen)} models match {selection.describe()} in {where}; narrow it by architecture, "
        f"training range or seed, or name one by id: {named(candidates, sep='; ')}"
    )


def named(values, sep: str = ", ") -> str:
    values = [str(v) for v in values]
    shown = sep.join(values[:MAX_NAMED])
    return shown + (f"{sep}… and {len(values) - MAX_NAMED} more" if len(values) > MAX_NAMED else "")


def extrapolation_successes(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per model: on how many of its extrapolation ranges (squares other than its training
    range) the success rule accepted it, of how many."""
    sq = metrics[(metrics["eval_kind"] == "square") & (metrics["eval_range"] != metrics["train_range"])]
    counts = sq.groupby("model_id", sort=False)["success"].agg(successes="sum", extrapolation_ranges="size")
    return counts.reset_index().astype({"successes": int, "extrapolation_ranges": int})


def model_listing(models: pd.DataFrame, successes: pd.DataFrame) -> pd.DataFrame:
    """One row per model: identity, fit (and in-range NRMSE), successes on its extrapolation
    ranges as counts and as "k/n", the model id; in `in_order` order."""
    keep = ["model_id", "arch", "arch_label", "train_range", "train_lo", "train_hi", "seed"]
    keep += ["diverged", "fit", "in_range_nrmse"]
    out = models[keep].merge(successes, on="model_id", how="left")
    out = out.fillna({"successes": 0, "extrapolation_ranges": 0}).astype(
        {"successes": int, "extrapolation_ranges": int, "seed": int, "fit": bool, "diverged": bool}
    )
    out["success"] = [f"{k}/{n}" if n else "–" for k, n in zip(out["successes"], out["extrapolation_ranges"])]
    return in_order(out)
