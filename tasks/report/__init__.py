"""The report: summaries, figures, tables and the HTML/Markdown page."""
