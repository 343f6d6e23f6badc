"""The code identity of something a plugin registered: a hash of the module that defines it.

A shipped class is versioned with the project (None); one defined outside it carries the
hash of its module's source into the ids of what it produces, so editing a plugin never
reuses results of its earlier code.
"""

from __future__ import annotations

import hashlib
import inspect
import sys

SHIPPED_PACKAGE = "tasks."


def is_shipped(obj: object) -> bool:
    return type(obj).__module__.startswith(SHIPPED_PACKAGE)


def code_identity(obj: object) -> str | None:
    """A hash of the source of the module defining `obj`'s class; None for shipped classes."""
    if is_shipped(obj):
        return None
    module = sys.modules[type(obj).__module__]
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        source = repr(module)
    return hashlib.sha256(source.encode()).hexdigest()[:16]
