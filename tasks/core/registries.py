"""The one rule every plugin registry follows (architectures, operations): an instance of the
registry's kind, a lowercase name, and a name taken only once — re-registering the same class
(a re-import of the plugin module) is allowed."""

from __future__ import annotations

import re
from typing import TypeVar

from tasks.core.errors import UserError

T = TypeVar("T")


def add(registry: dict[str, T], item: T, kind: type, noun: str) -> T:
    """Add `item` to `registry` under `item.name`, or raise a UserError saying why not."""
    if not isinstance(item, kind):
        raise UserError(f"register() takes an {kind.__name__} instance, got {type(item).__name__}")
    name = item.name  # type: ignore[attr-defined]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise UserError(f"{noun} name {name!r}: use lowercase letters, digits and '_'")
    present = registry.get(name)
    if present is not None and type(present).__qualname__ != type(item).__qualname__:
        raise UserError(f"{noun} '{name}' is already registered by {type(present).__module__}; choose another name")
    registry[name] = item
    return item
