"""The report: a self-contained HTML page and a Markdown summary with the figures beside it.

The page is a list of sections (text, a table or a figure), rendered once as Markdown and
once as HTML. `build_report` is pure (tables in, files as bytes out); `write_report` stores them.

The report's id hashes the results it shows, what the config says of the study, and
REPORT_VERSION, the report stage's version. Bump it with any change to the report's content for
the same results: a section, table, figure or note (this module, tasks.report.figures,
tasks.report.tables, tasks.report.published). A bump redraws the report and nothing else.
tests/test_numerics.py fails when the report changes while this version did not.
"""

from __future__ import annotations

import base64
import html
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tasks.core.ids import content_id
from tasks.data.operations import REGISTRY as OPERATIONS
from tasks.data.operations import symbol_of
from tasks.data.targets import DEFAULT_OPERATION, TargetSpec
from tasks.report import published
from tasks.report.aggregates import Summary
from tasks.report.captions import beyond_caption, horizon_caption, inside_caption
from tasks.report.figures import (
    VECTOR_FORMATS,
    coverage_figure,
    curves_figure,
    diagonal_figure,
    horizon_figure,
    operation_figure,
    render,
    success_figure,
)
from tasks.report.labels import legend_table, relabelled, short_labels
from tasks.report.summaries import SERIES_COLUMNS, operation_cells, operation_table, rates_by_rule
from tasks.report.tables import html_table, to_markdown
from tasks.report.variants import variant_sections
from tasks.store import catalog
from tasks.store.catalog import ReportManifest
from tasks.store.storage import Store

# 1: the first release (a report id with it since its first version).
# 2: titles, notes and the diagonal name the study's operations; the operation × architecture
# table and figure; published-vs-run verdicts by test.
# 3: short series labels with a table of their specifications; legends outside the data; captions
# computed from the data; the extrapolation horizon (section, figure, headline column); every
# figure also as SVG and PDF in figures/; the calibrated size named what one compiled step trains
# (a bundle may hold many steps). One bump for both: neither change was released under 2.
REPORT_VERSION = 3

# the vector copies this report draws beside each PNG (the config's report.vector_formats)
_VECTOR: ContextVar[tuple[str, ...]] = ContextVar("vector_formats", default=VECTOR_FORMATS)

SUCCESS_NOTE = (
    "A model succeeds on a range when its test MSE is below that of the exact operation with its "
    "operands off by a relative ε (a·b: inputs scaled by 1 + ε; the form of Mistry et al.'s NALM "
    "benchmark). Checkpoints are chosen by interpolation validation loss when the config says "
    "checkpoint: best_val. 'solved_at' is the first logged step under the threshold (median over "
    "successes, and the mean of a fitted gamma); 'sparsity_error' is max min(|W|, 1 − |W|) for units "
    "that have one, summarised as μ of the neural-arithmetic papers' Beta(2μv, (1 − 2μ)v) (about half "
    "the mean error). The *_fitted columns count only the seeds that fit their training range."
)
COVERAGE_NOTE = (
    "Coverage is the probability that an evaluation sample lies inside the training region: the share of "
    "the evaluation distribution's mass inside the training range, to the power of the number of inputs "
    "(under uniform sampling of two inputs, the share of the evaluation square's area inside the training "
    "square). 1 is the training range itself; smaller is further outside it."
)
INFINITE_RATIO_NOTE = (
    "∞: the in-range RMSE is exactly 0 (the unit computes the operation exactly on its training range), "
    "so the ratio to it is unbounded; the segment's RMSE itself is the figure to read."
)


HEADERS = {"arch_label": "architecture", "train_range": "training range", "eval_range": "evaluation range"}
LABELS_NOTE = (
    "Series are named by short labels: an architecture's name, with only the settings that tell it apart from "
    "the study's other architectures of that name. Each label's full specification:"
)
HORIZON_NOTE = (
    "A model's extrapolation horizon is the largest widening s of its training range (the ladder's policy, "
    "{widen}; s = 1: the training range itself) on which it stays within {tolerance}: found per model by "
    "evaluating every model of a bundle at 1, at the ladder's scales and at the cap until it first leaves "
    "the tolerance, then by {rounds} rounds of bisection on log s between its last scale within and its "
    "first outside (each on the same {rows} inputs mapped onto the range). 'horizon' is the median over "
    "seeds (≥ {cap:g}: at the cap; none: outside the tolerance already on its training range, counted as 0); "
    "the interval is a 95% bootstrap over seeds; coverage is the horizon's range's coverage by the training "
    "range, over the seeds with a horizon."
)


@dataclass
class Section:
    title: str = ""
    text: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None
    figure: tuple[str, dict[str, bytes], str] | None = None  # (file stem, {format: bytes}, caption)


def figure_section(stem: str, fig, caption: str) -> Section:
    """A figure, drawn as PNG and the report's vector formats (tasks.report.figures.render)."""
    return Section(figure=(stem, render(fig, _VECTOR.get()), caption))


def figure_files(stem: str, formats: tuple[str, ...] = ("png", *VECTOR_FORMATS)) -> dict[str, str]:
    """Where a figure's files go in the report: the PNG beside the page, SVG and PDF in figures/."""
    return {fmt: f"{stem}.png" if fmt == "png" else f"figures/{stem}.{fmt}" for fmt in formats}


def vector_formats(info: dict[str, Any]) -> tuple[str, ...]:
    """The vector formats a study's report draws (all for studies resolved before the key existed)."""
    said = info.get("config_resolved", {}).get("report", {}).get("vector_formats")
    return VECTOR_FORMATS if said is None else tuple(f for f in VECTOR_FORMATS if f in said)


def _links(where: dict[str, str], link, sep: str) -> str:
    """' (SVG, PDF)' after a caption: links to the figure's vector copies, if it has any."""
    said = [link(where[f], f.upper()) for f in VECTOR_FORMATS if f in where]
    return f" ({sep.join(said)})" if said else ""


def _fit_sentence(fitted: int, total: int, threshold: float) -> str:
    return (
        f"{fitted} of {total} models fit their training range (in-range RMSE at most {threshold:g} of the "
        "target's RMS); a model that did not fit says nothing about extrapolation."
    )


def operations_of(info: dict[str, Any]) -> list[str]:
    """The names of the study's operations, from its resolved config (a·b for studies
    resolved before operations existed)."""
    config = info.get("config_resolved", {})
    targets = config.get("targets") or [config.get("target") or {"name": "product"}]
    return [TargetSpec(**t).params.get("operation", DEFAULT_OPERATION) for t in targets]


def report_sections(summary: Summary, info: dict[str, Any]) -> list[Section]:
    evaluation = info.get("config_resolved", {}).get("evaluation", {})
    fit_nrmse = evaluation.get("fit_nrmse", 0.01)
    ops = operations_of(info)
    mapping = short_labels(list(summary.counts["arch_label"]), tuple(f" on {symbol_of(o)}" for o in ops))
    names = legend_table(mapping, summary.counts)
    variants = [Section(*s) for s in variant_sections(summary, info)]  # by the variants' own labels
    summary = relabelled(summary, mapping)
    head = summary.headline
    ratios = head[[c for c in head.columns if c.startswith("diag_ratio_")]].to_numpy(float)
    n_fit, n_all, n_div = summary.total("fitted"), summary.total("models"), summary.total("diverged")
    horizon = evaluation.get("horizon")
    notes = [INFINITE_RATIO_NOTE] if np.isinf(ratios).any() else []
    if horizon and "horizon" in head:
        notes.append("'horizon': the median extrapolation horizon over seeds (see 'Extrapolation horizon').")
    sections = [
        Section("", [info.get("description", ""), _facts(info)]),
        Section("Architectures", [LABELS_NOTE], names),
        Section("Headline", notes, head),
        Section("Fit", [_fit_sentence(n_fit, n_all, fit_nrmse)], summary.fit),
        *variants,  # a sweep's variants side by side
    ]
    if n_div:
        listed = f" (the first {len(summary.diverged)} listed)" if len(summary.diverged) < n_div else ""
        sections.append(Section("Diverged models", [f"{n_div} models diverged{listed}."], summary.diverged))
    figures = []
    reference = info.get("reference_range")
    if len(summary.diagonal) and reference:  # targets whose operands are the inputs
        label, bounds = reference[0], (reference[1], reference[2])
        one = len(ops) == 1
        truth = OPERATIONS[ops[0]].diagonal_symbol if one and ops[0] in OPERATIONS else "y(x, x)"
        y = f"y = {symbol_of(ops[0])}" if one else "its operation"
        figures += [
            figure_section(
                "diagonal_train_range",
                diagonal_figure(summary.diagonal, label, bounds, True, "Inside the training range", truth, one),
                inside_caption(summary.fit, label, y, fit_nrmse),
            ),
            figure_section(
                "diagonal_full",
                diagonal_figure(summary.diagonal, label, bounds, False, "Beyond the training range", truth, one),
                beyond_caption(
                    summary.diagonal, bounds, truth, fit_nrmse, (evaluation.get("diagonal") or {}).get("hi")
                ),
            ),
        ]
    cells = operation_cells(summary.success, {o: symbol_of(o) for o in ops}) if len(ops) > 1 else None
    if cells is not None and len(cells):
        figures.append(
            figure_section(
                "operations",
                operation_figure(cells),
                "Which unit extrapolates which operation: success on the extrapolation range, Wilson 95% intervals.",
            )
        )
    figures += [
        figure_section(
            "error_vs_coverage",
            coverage_figure(summary.coverage, "all", f"all {n_all} models"),
            f"Error against coverage over all {n_all} models (coverage: see 'Error by evaluation range').",
        ),
        figure_section(
            "error_vs_coverage_fitted",
            coverage_figure(summary.coverage, "fitted", f"the {n_fit} models that fit their training range"),
            f"Error against coverage over the {n_fit} of {n_all} models that fit their training range.",
        ),
        figure_section("training_curves", curves_figure(summary.curves), "Training and interpolation-validation MSE."),
        figure_section(
            "success",
            success_figure(summary.success),
            "Success rate per training → evaluation range, with Wilson 95% intervals over seeds (all seeds).",
        ),
    ]
    sections += figures
    sections += horizon_sections(summary, horizon)
    if cells is not None and len(cells):
        text = [
            "Per architecture and operation: the success rate on the extrapolation range, its Wilson 95% "
            "interval over seeds and successes/seeds (every seed counted, fitted or not)."
        ]
        sections.append(Section("Which unit extrapolates which operation", text, operation_table(cells)))
    shown = summary.success.drop(columns=[c for c in SERIES_COLUMNS if c in summary.success])
    sections.append(Section("Success rate", [success_note(info)], shown))
    rule = info.get("config_resolved", {}).get("evaluation", {}).get("success", {})
    if rule.get("also") and len(summary.success):
        intro = "Successes/seeds [Wilson 95% interval] under each rule the study is judged by."
        text = [intro, *further_rules_notes(rule)[1:]]
        table = rates_by_rule(summary.success, rule["rule"], list(rule["also"]))
        sections.append(Section("Success under each rule", text, table))
    sections += paper_sections(summary, info)
    sections.append(Section("Error by evaluation range", [COVERAGE_NOTE], summary.by_range))
    return sections


def horizon_sections(summary: Summary, horizon: dict[str, Any] | None) -> list[Section]:
    """The extrapolation horizon: what it is, its figure and its table (none when not searched)."""
    if not horizon or not len(summary.horizons):
        return []
    tolerance = str(summary.horizons["tolerance"].iloc[0])
    note = HORIZON_NOTE.format(
        widen=horizon.get("widen", "outward"),
        tolerance=tolerance,
        rounds=horizon.get("rounds"),
        rows=horizon.get("rows"),
        cap=float(summary.horizons["cap"].max()),
    )
    return [
        Section("Extrapolation horizon", [note], summary.horizons),
        figure_section(
            "horizon", horizon_figure(summary.horizons, tolerance), horizon_caption(summary.horizons, tolerance)
        ),
    ]


def success_note(info: dict[str, Any]) -> str:
    rule = info.get("config_resolved", {}).get("evaluation", {}).get("success", {})
    return " ".join([_main_rule_note(rule), *further_rules_notes(rule)[:1]])


def further_rules_notes(rule: dict[str, Any]) -> list[str]:
    """What the extra success columns are (success.also), then what the rules used say of
    themselves (the Primer's two ε: why the published one is undetermined)."""
    from tasks.evaluation.success import REGISTRY

    also = [REGISTRY[name] for name in rule.get("also") or []]
    if not also:
        return []
    listed = "; ".join(f"'{r.name}' ({r.citation}) at ε = {r.epsilon or rule['epsilon']:g}" for r in also)
    out = [
        f"Each model is also judged by {listed}: per rule, successes_<rule>, success_rate_<rule> and its Wilson "
        "95% interval ci_low_<rule>, ci_high_<rule>, over the same seeds (see 'Success under each rule')."
    ]
    return out + list(dict.fromkeys(r.note for r in [REGISTRY[rule["rule"]], *also] if r.note))


def _main_rule_note(rule: dict[str, Any]) -> str:
    from tasks.evaluation.success import REGISTRY

    if not rule or rule.get("rule", "inputs_scaled") == "inputs_scaled":
        return SUCCESS_NOTE
    chosen = REGISTRY[rule["rule"]]
    return (
        f"A model succeeds on a range when its test MSE is below the threshold of the rule '{chosen.name}' "
        f"({chosen.citation}) at ε = {rule['epsilon']:g}: the MSE of the ideal model perturbed as that paper "
        f"perturbs it, estimated over {rule['samples']:,} draws from the range. Checkpoints: the logged step "
        "with the lowest validation MSE when checkpoint is best_val. Over the successful seeds: 'solved_at' (the "
        "first logged step under the threshold; median, and the mean of a fitted gamma with its profile-likelihood "
        "95% interval) and the sparsity error (max over layers and weights of min(|W|, 1 − |W|); μ of the paper's "
        "Beta(2μv, (1 − 2μ)v), about half the mean error, with its profile-likelihood 95% interval) — stable-nalu's "
        "summary (export/_compute_summary.r @f371c1ec), ported to reproduce its published numbers."
    )


def paper_sections(summary: Summary, info: dict[str, Any]) -> list[Section]:
    """The study's deviations from its paper's protocol, and published results beside this run's."""
    config = info.get("config_resolved", {})
    out = []
    if config.get("deviations"):
        out.append(Section("Where this study departs from the paper's protocol", list(config["deviations"])))
    paper = config.get("reproduces")
    if not paper:
        return out
    keys = dict(zip(summary.counts["arch_label"], summary.counts["model_key"]))
    result = published.compare(summary.success, keys, paper)
    text = [
        f"This study follows {published.CITATIONS[paper]}. Each row sets a published success rate, mean 'solved "
        "at' step and sparsity error (over successful seeds; the paper's own estimators, applied to this run too) "
        "beside this run's, with a test for each: Fisher's exact test of the two success counts; for the estimates, "
        "the difference with its 95% interval. Verdicts: consistent (no difference found, and a 20-point / 20% "
        "difference would have been seen with 80% power), differs (which way, p-value), underpowered (the data "
        "cannot decide; the seeds that would). Values read from the paper's figure carry its resolution. "
        "The protocol decides what runs; nothing is tuned toward a published number.",
        result.note,
    ]
    out.append(Section(f"Published vs this run — {paper}", text, result.table))
    figure = published.comparison_figure(result)
    if figure is not None:
        caption = "Published results beside this run's; the run coloured by its test's verdict."
        out.append(figure_section("published_vs_run", figure, caption))
    return out


def build_report(summary: Summary, info: dict[str, Any]) -> dict[str, bytes]:
    """All report files as {name: bytes}: figures (PNG beside the page, SVG and PDF in
    figures/), index.html, summary.md."""
    title = f"Extrapolation report — {info['config']} (y = {', '.join(symbol_of(o) for o in operations_of(info))})"
    token = _VECTOR.set(vector_formats(info))
    try:
        sections = report_sections(summary, info)
    finally:
        _VECTOR.reset(token)
    files = {}
    for s in sections:
        if s.figure:
            stem, drawn, _ = s.figure
            files |= {name: drawn[fmt] for fmt, name in figure_files(stem, tuple(drawn)).items()}
    files["summary.md"] = render_markdown(title, sections).encode()
    files["index.html"] = render_html(title, sections).encode()
    return files


def _facts(info: dict[str, Any]) -> str:
    return (
        f"{info['n_models']} models ({info['n_trained']} trained this run, "
        f"{info['n_models'] - info['n_trained']} reused), {info['n_bundles']} bundles, {info['steps']} steps each; "
        f"run took {info['seconds']:.0f} s. Tables in `results/`: metrics, curves, probes, diagonal and models "
        "(Parquet)." + _calibrations(info.get("calibration") or {})
    )


def _calibrations(calibration: dict[str, Any]) -> str:
    """How the compiled steps of this run were sized, where a calibration measured them."""
    said = [
        f"{arch}: {c['best_size']} models per compiled step, {c['best_model_steps_per_s']:,.0f} model-steps/s "
        f"on {c['device']}{' (cached)' if c.get('cached') else ''}"
        if isinstance(c, dict)
        else f"{arch}: {c}"
        for arch, c in calibration.items()
    ]
    return " Step sizes measured by calibration — " + "; ".join(said) + "." if said else ""


def render_markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}", ""]
    for s in sections:
        if s.title:
            parts += [f"## {s.title}", ""]
        parts += [p for t in s.text if t for p in (t, "")]
        if s.table is not None:
            parts += [to_markdown(s.table.rename(columns=HEADERS)), ""]
        if s.figure:
            stem, drawn, caption = s.figure
            where = figure_files(stem, tuple(drawn))
            links = _links(where, lambda path, name: f"[{name}]({path})", ", ")
            parts += [f"![{caption}]({where['png']})", "", f"*{caption}*{links}", ""]
    return "\n".join(parts)


def render_html(title: str, sections: list[Section]) -> str:
    body = []
    for s in sections:
        if s.title:
            body.append(f"<h2>{html.escape(s.title)}</h2>")
        body += [f"<p>{html.escape(t)}</p>" for t in s.text if t]
        if s.table is not None:
            body.append(html_table(s.table.rename(columns=HEADERS)))
        if s.figure:
            stem, drawn, caption = s.figure
            data = base64.b64encode(drawn["png"]).decode()
            where = figure_files(stem, tuple(drawn))
            links = _links(where, lambda path, name: f'<a href="{path}">{name}</a>', " · ")
            body.append(
                f'<figure id="{stem}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}{links}</figcaption></figure>"
            )
    joined = "\n".join(body)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}}
figure{{margin:1.5em 0}} img{{max-width:100%}} .wide{{overflow-x:auto}} figcaption{{color:#555;font-size:.9em}}
table.t{{border-collapse:collapse;font-size:.85em}}
.t td,.t th{{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}}
</style></head><body>
<h1>{html.escape(title)}</h1>
{joined}
</body></html>
"""


def report_id(results: str, info: dict[str, Any]) -> str:
    """The report of results `results` (their id), as the config describes the study."""
    config = info["config_resolved"]
    said = {k: config.get(k) for k in ("name", "description", "reproduces", "deviations")}
    if vector_formats(info) != VECTOR_FORMATS:  # the default keeps the ids reports had before the key
        said["vector_formats"] = list(vector_formats(info))
    return content_id("rep", {"results": results, "report": REPORT_VERSION, "said": said})


def write_report(store: Store, report_id: str, files: dict[str, bytes]) -> str:
    """The report's files (index.html last), then its manifest."""
    written = {
        name: store.write_bytes(catalog.report_file(name), data)
        for name, data in sorted(files.items(), key=lambda kv: kv[0] == "index.html")
    }
    catalog.REPORT.write(store, ReportManifest(report_id, written, REPORT_VERSION))
    return store.display(catalog.report_file("index.html"))
