"""Domain code and Ray tasks of the multiplication-extrapolation lab.

Pure functions (arrays/specs in, arrays/tables out) live in the modules named after their
concern; `tasks.remote` is the thin Ray layer and `tasks.storage` the only place that does IO.
"""
