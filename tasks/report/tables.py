"""Tables as Markdown and HTML: the one formatting helper for every page the lab writes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else _number(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _number(v: float, fmt: str = ".4g") -> str:
    """A float cell: infinities as the symbol a reader expects (the page explains them)."""
    if np.isinf(v):
        return "∞" if v > 0 else "−∞"
    return format(v, fmt)


def html_table(df: pd.DataFrame) -> str:
    """An HTML table that scrolls sideways instead of overflowing the page."""
    inner = df.to_html(index=False, float_format=_number, border=0, classes="t", na_rep="")
    return f'<div class="wide">{inner}</div>'
