"""Short labels for the report's series: an architecture's full label
(`product_unit [learning_rate=0.01 loss_reduction=mean optimizer=adam]`) becomes its name
(`product_unit`), with only the settings that tell it apart from the study's other
architectures of that name (`mlp (hidden=8)`, `mlp (hidden=80)`); a table maps each short label
to its full specification. Deterministic: the same labels give the same short ones (pure).
"""

from __future__ import annotations

import re
from dataclasses import fields

import pandas as pd

from tasks.report.aggregates import Summary

SETTING = re.compile(r"([^\s()\[\]=,]+)=([^\s()\[\]]+)")
NAME_END = re.compile(r"[(\[\s]")
SERIES_COLUMNS = ("arch_label", "unit_label")  # the columns that name a series


def split(label: str) -> tuple[str, dict[str, str]]:
    """A full label as (name, {setting: value}): `mlp(activation=relu hidden=80)` →
    ("mlp", {"activation": "relu", "hidden": "80"}); a stack's `nau→nmu λ=…` → ("nau→nmu", …)."""
    end = NAME_END.search(label)
    name = label[: end.start()] if end else label
    return name, dict(SETTING.findall(label[len(name) :]))


def short_labels(labels: list[str], suffixes: tuple[str, ...] = ()) -> dict[str, str]:
    """{full label: short label} for the study's series, in their order. A label ending in one
    of `suffixes` (" on a·b": a series of one operation) keeps it after its short form."""
    bases = {}
    for label in dict.fromkeys(labels):
        suffix = next((s for s in suffixes if label.endswith(s)), "")
        bases[label] = (label[: len(label) - len(suffix)] if suffix else label, suffix)
    units = list(dict.fromkeys(base for base, _ in bases.values()))
    parsed = {u: split(u) for u in units}
    short = {}
    for unit, (name, settings) in parsed.items():
        same_name = [parsed[u][1] for u in units if parsed[u][0] == name]
        differing = [k for k in settings if len({str(s.get(k)) for s in same_name}) > 1]
        said = ", ".join(f"{k}={settings[k]}" for k in differing)
        short[unit] = f"{name} ({said})" if said else name
    taken = list(short.values())
    seen: dict[str, int] = {}
    for unit in units:  # labels the settings cannot tell apart are numbered, in order
        if taken.count(short[unit]) > 1:
            seen[short[unit]] = seen.get(short[unit], 0) + 1
            short[unit] = f"{short[unit]} #{seen[short[unit]]}"
    mapping = {unit: short[unit] for unit in units}  # an operation's series' unit (unit_label)
    return mapping | {label: short[base] + suffix for label, (base, suffix) in bases.items()}


def relabelled(summary: Summary, mapping: dict[str, str]) -> Summary:
    """The summary with every series column renamed by `mapping` (unknown labels kept)."""
    out = {}
    for f in fields(Summary):
        frame = getattr(summary, f.name)
        for column in SERIES_COLUMNS:
            if column in frame:
                frame = frame.assign(**{column: frame[column].map(lambda v: mapping.get(v, v))})
        out[f.name] = frame
    return Summary(**out)


def legend_table(mapping: dict[str, str], counts: pd.DataFrame) -> pd.DataFrame:
    """Each series' short label, the full specification it stands for, and its models (fitted,
    diverged), in the study's order."""
    rows = []
    for full in dict.fromkeys(counts["arch_label"]):
        c = counts[counts["arch_label"] == full]
        rows.append(
            {"label": mapping.get(full, full), "specification": full}
            | {k: int(c[k].sum()) for k in ("models", "fitted", "diverged") if k in c}
        )
    return pd.DataFrame(rows)
