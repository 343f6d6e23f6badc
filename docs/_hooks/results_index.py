"""MkDocs hook: the results index lists every dated page of docs/results/, newest first.

A measured figure goes to a new dated page (docs/results/YYYY-MM-DD-topic.md) and appears in
the index without editing it; the index's marker line is replaced by the list at build time.
"""

from __future__ import annotations

import re
from pathlib import Path

MARKER = "<!-- dated pages -->"
DATED = re.compile(r"results/(\d{4}-\d{2}-\d{2})-[a-z0-9-]+\.md")


def title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != "results/index.md" or MARKER not in markdown:
        return markdown
    dated = sorted((f for f in files if DATED.fullmatch(f.src_uri)), key=lambda f: f.src_uri, reverse=True)
    lines = [
        f"- **{DATED.fullmatch(f.src_uri).group(1)}** — [{title_of(Path(f.abs_src_path))}]({Path(f.src_uri).name})"
        for f in dated
    ]
    return markdown.replace(MARKER, "\n".join(lines) or "*(no dated page yet)*")
