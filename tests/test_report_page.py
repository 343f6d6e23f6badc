"""The paper-ready report, drawn from a constructed `quick`-like study: ranges in numeric order in
every table, short series labels with the table of their specifications, captions that say
what the data shows (and never a fit that did not happen), the extrapolation horizon's section
and headline column, every figure also as SVG and PDF in figures/ (listed in the manifest, linked
from the page), and the page rendered in the real Chromium with every figure loaded."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from report_study import ARCHS, summary_and_info

from tasks.core.ranges import label_order
from tasks.report.captions import beyond_caption, inside_caption
from tasks.report.labels import short_labels
from tasks.report.page import build_report, report_id, write_report
from tasks.report.summaries import range_ordered
from tasks.store.storage import Store


@pytest.fixture(scope="module")
def quick_like():
    summary, info = summary_and_info()
    return summary, info, build_report(summary, info)


def table_of(markdown: str, section: str) -> pd.DataFrame:
    """The first table under `## section` of a Markdown page, as strings."""
    block = markdown.split(f"## {section}\n")[1].split("\n## ")[0]
    rows = [line.strip("|").split(" | ") for line in block.splitlines() if line.startswith("| ")]
    return pd.DataFrame([[c.strip() for c in r] for r in rows[2:]], columns=[c.strip() for c in rows[0]])


def test_range_labels_sort_by_lower_end_then_width():
    labels = ["[0,2]", "[0,10]", "[0,4]", "[2,6]", "[-6,-2]∪[2,6]", "[0,200]", "[-6,-2]∪[2,10]", "[0.5,1]"]
    assert sorted(labels, key=label_order) == [
        "[-6,-2]∪[2,6]",
        "[-6,-2]∪[2,10]",
        "[0,2]",
        "[0,4]",
        "[0,10]",
        "[0,200]",
        "[0.5,1]",
        "[2,6]",
    ]
    frame = pd.DataFrame(
        {"arch_label": ["b", "b", "a", "a"], "train_range": ["[0,10]", "[0,2]", "[0,10]", "[0,2]"], "v": [1, 2, 3, 4]}
    )
    ordered = range_ordered(frame)  # series as they first appear, ranges numerically
    assert ordered["v"].tolist() == [2, 1, 4, 3]


def test_every_table_lists_ranges_in_numeric_order(quick_like):
    summary, _, files = quick_like
    markdown = files["summary.md"].decode()
    for section in ("Headline", "Fit", "Extrapolation horizon", "Success rate", "Error by evaluation range"):
        table = table_of(markdown, section)
        for _, group in table.groupby("architecture", sort=False):
            trains = list(dict.fromkeys(group["training range"]))
            assert trains == ["[0,1]", "[0,2]", "[0,10]"], (section, trains)  # listed [0,2], [0,10], [0,1]
            if "evaluation range" in group:
                for _, g in group.groupby("training range", sort=False):
                    assert list(g["evaluation range"]) == sorted(g["evaluation range"], key=label_order), section
    assert list(table_of(markdown, "Headline").columns[-3:]) == [
        "diag_ratio_[0,1]",
        "diag_ratio_[1,5]",
        "diag_ratio_[5,10]",
    ]
    for name in ("headline", "fit", "by_range", "success", "horizons", "curves"):  # the stored aggregates too
        frame = getattr(summary, name)
        assert frame.equals(range_ordered(frame)), name


def test_series_carry_short_labels_and_a_table_says_what_each_stands_for(quick_like):
    _, _, files = quick_like
    markdown = files["summary.md"].decode()
    legend = table_of(markdown, "Architectures")
    assert legend["label"].tolist() == ["mlp", "mlp_product_feature", "product_unit"]
    assert legend["specification"].tolist() == list(ARCHS)
    full = "product_unit [learning_rate=0.01 loss_reduction=mean optimizer=adam]"
    assert markdown.count(full) == 1  # named in full once, in that table
    assert set(table_of(markdown, "Headline")["architecture"]) == set(legend["label"])
    sweep = [f"mlp(activation=relu hidden={h}) [learning_rate={lr}]" for h in (8, 80) for lr in (0.001, 0.003)]
    assert list(short_labels(sweep).values()) == [
        "mlp (hidden=8, learning_rate=0.001)",
        "mlp (hidden=8, learning_rate=0.003)",
        "mlp (hidden=80, learning_rate=0.001)",
        "mlp (hidden=80, learning_rate=0.003)",
    ]
    ops = short_labels(["nmu on a·b", "nmu on a/b", "mlp(hidden=8) on a·b"], (" on a·b", " on a/b"))
    assert [ops[k] for k in ("nmu on a·b", "nmu on a/b", "mlp(hidden=8) on a·b", "mlp(hidden=8)")] == [
        "nmu on a·b",
        "nmu on a/b",
        "mlp on a·b",
        "mlp",  # the unit's own label (unit_label) shortened alike
    ]
    twins = short_labels(["unit(a=1)", "unit (a=1)"])  # the same settings, told apart by number
    assert list(twins.values()) == ["unit #1", "unit #2"]


def captions(files: dict[str, bytes]) -> list[str]:
    return re.findall(r"<figcaption>(.*?) \(<a", files["index.html"].decode())


def test_captions_say_what_the_data_shows(quick_like):
    _, _, files = quick_like
    first, second = captions(files)[:2]
    assert "8 of 9 models fit y = a·b on their training range" in first and "mlp 2/3" in first
    assert "looks like" not in first  # not every model fits: no claim that the network imitates a·b
    assert "It breaks down for mlp (NRMSE above 0.01) and holds for mlp_product_feature and product_unit" in second

    def said(summary) -> tuple[str, str]:
        inside = inside_caption(summary.fit, "[0,1]", "y = a·b", 0.01)
        return inside, beyond_caption(summary.diagonal, (0.0, 1.0), "x²", 0.01)

    first, second = said(summary_and_info(bases=dict.fromkeys(ARCHS, 0.02))[0])
    assert "none of the 9 models fits y = a·b on its training range" in first and "looks like" not in first
    assert "breaks down for every architecture" in second
    first, _ = said(summary_and_info(seeds=2)[0])  # seed 2 (the misfit) left out
    assert "all 6 models fit y = a·b on their training range" in first
    assert "there the network looks like y = a·b" in first
    _, second = said(summary_and_info(bases={label: 1e-6 for label in ARCHS})[0])
    assert "No architecture's imitation breaks down there" in second


def test_the_horizon_has_its_section_figure_and_headline_column(quick_like):
    _, _, files = quick_like
    markdown = files["summary.md"].decode()
    head = table_of(markdown, "Headline").set_index(["architecture", "training range"])
    assert head.loc[("product_unit", "[0,1]"), "horizon"] == "≥100"  # exact: within tolerance at the cap
    assert 1 < float(head.loc[("mlp", "[0,2]"), "horizon"]) < 2  # NRMSE 0.004·s² leaves 0.01 near s = 1.6
    assert 10 < float(head.loc[("mlp_product_feature", "[0,2]"), "horizon"]) < 100
    horizons = table_of(markdown, "Extrapolation horizon")
    assert set(horizons["tolerance"]) == {"NRMSE ≤ 0.01"} and horizons["seeds"].tolist() == ["3"] * 9
    (caption,) = [c for c in captions(files) if c.startswith("Extrapolation horizon")]
    assert "26 of 27 models have a horizon, 9 reach the cap" in caption


def test_vector_formats_are_the_configs_choice_and_the_default_keeps_report_ids(quick_like):
    """report.vector_formats: [pdf] draws PDFs only, linked as such; the default ids what it
    always did (reports drawn before the key existed are current), any other choice another id."""
    summary, info, default_files = quick_like
    config = info["config_resolved"]
    pdf_only = {**info, "config_resolved": {**config, "report": {"vector_formats": ["pdf"]}}}
    files = build_report(summary, pdf_only)
    assert {n for n in files if n.startswith("figures/")} == {n for n in default_files if n.endswith(".pdf")}
    assert "SVG</a>" not in files["index.html"].decode() and '">PDF</a>)' in files["index.html"].decode()
    assert {n: files[n] for n in files if n.endswith(".png")} == {
        n: default_files[n] for n in files if n.endswith(".png")
    }
    said_default = {**info, "config_resolved": {**config, "report": {"vector_formats": ["svg", "pdf"]}}}
    assert report_id("r", said_default) == report_id("r", info) != report_id("r", pdf_only)


def test_figures_come_as_svg_and_pdf_in_the_manifest_and_linked(quick_like, tmp_path):
    _, _, files = quick_like
    stems = [name[: -len(".png")] for name in files if name.endswith(".png")]
    assert set(stems) >= {"diagonal_full", "error_vs_coverage", "training_curves", "success", "horizon"}
    page = files["index.html"].decode()
    for stem in stems:
        assert (
            files[f"figures/{stem}.svg"].lstrip().startswith(b"<?xml") and files[f"figures/{stem}.pdf"][:4] == b"%PDF"
        )
        assert f'<a href="figures/{stem}.svg">SVG</a> · <a href="figures/{stem}.pdf">PDF</a>' in page
    assert page.count("data:image/png;base64,") == len(stems) and "<script" not in page
    store = Store(str(tmp_path))
    write_report(store, "rep-test", files)
    manifest = json.loads((tmp_path / "report" / "_manifest.json").read_text())
    assert set(manifest["files"]) == set(files)
    for name in files:
        assert (tmp_path / "report" / name).stat().st_size == len(files[name])


def test_the_quick_like_report_renders_in_chromium_with_every_figure(quick_like, tmp_path, browser_check):
    _, _, files = quick_like
    write_report(Store(str(tmp_path)), "rep-test", files)
    images, tables, errors = browser_check(tmp_path / "report" / "index.html")
    n_figures = sum(name.endswith(".png") for name in files)
    assert len(images) == n_figures and all(done and width > 300 for done, width in images), images
    assert tables == 6 and errors == []  # architectures, headline, fit, horizon, success, by range
