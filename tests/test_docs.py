"""The docs site and the README: the site builds with --strict (every link and anchor resolves,
the API pages are generated from the docstrings), every page of the nav exists and every page
is reachable, the README stays short, keeps its two commands and links only to pages and
headings that exist, and the extension pages show the tested examples verbatim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from markdown.extensions.toc import slugify
from support import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
DATED = re.compile(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md")  # docs/results/: listed by the index (docs/_hooks)
INSTALL_AND_RUN = "pip install -e . && python workflows/run.py"
INSTALL_AND_TEST = 'pip install -e ".[test]" && python -m pytest -q'
EXAMPLES = {  # extension page → the tested file it shows verbatim (run by the test named beside it)
    "extend/architecture.md": "example_plugin.py",  # test_plugins.py
    "extend/operation.md": "example_operation_plugin.py",  # test_plugins.py
    "extend/metric.md": "example_metric.py",  # test_extension_examples.py
    "extend/success-rule.md": "example_success_rule.py",  # test_extension_examples.py
    "extend/storage.md": "example_storage.py",  # test_extension_examples.py
}


def nav_pages(entries=None) -> list[str]:
    entries = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"] if entries is None else entries
    pages = []
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def headings(page: Path) -> set[str]:
    """The anchors MkDocs gives a page's headings (outside code blocks)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slugify(h.strip(), "-") for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_the_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "open_study" in api and "A finished study by its output location" in api  # from the docstring
    results = (site / "results" / "index.html").read_text()
    for page in sorted((DOCS / "results").glob("*.md")):
        if page.name != "index.md":
            assert f'href="{page.stem}/"' in results, f"results index does not list {page.name}"


def test_every_nav_page_exists_and_every_page_is_reachable():
    listed = nav_pages()
    missing = [p for p in listed if not (DOCS / p).is_file()]
    assert not missing, f"in mkdocs.yml's nav but not in docs/: {missing}"
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "_hooks" not in p.parts}
    unreachable = pages - set(listed) - {p for p in pages if p.startswith("results/") and DATED.fullmatch(p[8:])}
    assert not unreachable, (
        f"pages neither in the nav nor dated results pages (docs/results/YYYY-MM-DD-topic.md): {unreachable}"
    )


def test_the_readme_is_short_and_keeps_its_commands():
    text = README.read_text()
    assert len(text.splitlines()) < 200
    assert INSTALL_AND_RUN in text and INSTALL_AND_TEST in text
    assert "mkdocs serve" in text
    figures = re.findall(r"!\[[^\]]*\]\((docs/[^)]+\.png)\)", text)
    assert figures, "the README shows a figure"
    for figure in figures:
        assert (ROOT / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure


def test_the_readme_links_into_the_docs_resolve():
    links = re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#([^)\s]+))?\)", README.read_text())
    assert len(links) >= 10, "the README links into the docs"
    for path, anchor in links:
        page = ROOT / path
        assert page.is_file(), f"README links to {path}, which does not exist"
        assert not anchor or anchor in headings(page), f"README links to {path}#{anchor}: no such heading"


@pytest.mark.parametrize("page", sorted(EXAMPLES))
def test_the_extension_pages_show_the_tested_examples_verbatim(page):
    example = (ROOT / "tests" / EXAMPLES[page]).read_text()
    assert f"```python\n{example}```" in (DOCS / page).read_text()


def test_the_test_extra_installs_the_docs_and_ci_builds_them_strict():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras["docs"]) <= set(extras["test"])  # the README's test command builds the site
    assert "mkdocs build --strict" in (ROOT / ".ci" / "run").read_text()
