"""The report: a self-contained HTML page and a Markdown summary with the figures beside it.

`build_report` is pure (tables in, files as bytes out); `write_report` stores them.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

from tasks.report.figures import coverage_figure, curves_figure, diagonal_figure, success_figure
from tasks.report.summaries import by_range, headline, success
from tasks.report.tables import html_table, to_markdown
from tasks.store import catalog
from tasks.store.storage import Store

SUCCESS_NOTE = (
    "A model succeeds on a range when its test MSE is below that of the exact product with inputs "
    "perturbed by a relative ε (Madsen & Johansen 2020). Checkpoints are chosen by interpolation "
    "validation loss when the config says checkpoint: best_val. 'solved_at' is the first logged step "
    "under the threshold (median over successes); 'sparsity_error' is max min(|W|, 1 − |W|) for units "
    "that have one."
)


def build_report(tables: dict[str, pd.DataFrame], info: dict[str, Any]) -> dict[str, bytes]:
    """All report files as {name: bytes}: PNG figures, index.html, summary.md."""
    models, metrics = tables["models"], tables["metrics"]
    figures = {
        "diagonal_train_range.png": (
            diagonal_figure(tables["diagonal"], models, True, "Inside the training range"),
            "The article's first figure: on the training range the network looks like a multiplier.",
        ),
        "diagonal_full.png": (
            diagonal_figure(tables["diagonal"], models, False, "Beyond the training range"),
            "The article's second figure: outside the training range the imitation breaks down.",
        ),
        "error_vs_coverage.png": (
            coverage_figure(metrics),
            "Error against coverage: 1 is the training square itself; smaller means further outside it.",
        ),
        "training_curves.png": (curves_figure(tables["curves"]), "Training and interpolation-validation MSE."),
    }
    successes = success(metrics, tables.get("probes"))
    figures["success.png"] = (
        success_figure(successes),
        "Success rate per training → evaluation range, with Wilson 95% intervals over seeds.",
    )
    head = headline(metrics)
    detail = by_range(metrics)
    diverged = models[models["diverged"]]
    files = {name: png for name, (png, _) in figures.items()}
    files["summary.md"] = _markdown(info, head, detail, successes, diverged, figures).encode()
    files["index.html"] = _html(info, head, detail, successes, diverged, figures).encode()
    return files


def _markdown(info, head, detail, successes, diverged, figures) -> str:
    parts = [
        f"# Multiplication extrapolation report — {info['config']}",
        "",
        info.get("description", ""),
        "",
        _facts(info),
        "",
        "## Headline",
        "",
        to_markdown(head),
        "",
    ]
    if len(diverged):
        parts += [
            "## Diverged models",
            "",
            to_markdown(diverged[["model_id", "arch_label", "train_range", "seed", "diverged_step"]]),
            "",
        ]
    for name, (_, caption) in figures.items():
        parts += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    parts += ["## Success rate", "", SUCCESS_NOTE, "", to_markdown(successes), ""]
    parts += ["## Error by evaluation range", "", to_markdown(detail), ""]
    return "\n".join(parts)


def _facts(info: dict[str, Any]) -> str:
    return (
        f"{info['n_models']} models ({info['n_trained']} trained this run, "
        f"{info['n_models'] - info['n_trained']} reused), {info['n_bundles']} bundles, {info['steps']} steps each; "
        f"run took {info['seconds']:.0f} s. Tables in `results/`: metrics, curves, diagonal and models (Parquet)."
    )


def _html(info, head, detail, successes, diverged, figures) -> str:
    table = html_table
    imgs = "\n".join(
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for _, (png, caption) in figures.items()
    )
    div = (
        "<h2>Diverged models</h2>" + table(diverged[["model_id", "arch_label", "train_range", "seed", "diverged_step"]])
        if len(diverged)
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Multiplication extrapolation — {html.escape(info["config"])}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}}
figure{{margin:1.5em 0}} img{{max-width:100%}} .wide{{overflow-x:auto}} figcaption{{color:#555;font-size:.9em}}
table.t{{border-collapse:collapse;font-size:.85em}}
.t td,.t th{{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}}
</style></head><body>
<h1>Multiplication extrapolation — {html.escape(info["config"])}</h1>
<p>{html.escape(info.get("description", ""))}</p>
<p>{html.escape(_facts(info))}</p>
<h2>Headline</h2>{table(head)}
{div}
{imgs}
<h2>Success rate</h2><p>{html.escape(SUCCESS_NOTE)}</p>{table(successes)}
<h2>Error by evaluation range</h2>{table(detail)}
</body></html>
"""


def write_report(store: Store, files: dict[str, bytes]) -> str:
    for name, data in sorted(files.items(), key=lambda kv: kv[0] == "index.html"):  # index last
        store.write_bytes(catalog.report_file(name), data)
    return store.display(catalog.report_file("index.html"))
