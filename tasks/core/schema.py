"""A small validating reader for nested config mappings.

Every problem raises ConfigError naming the dotted key and the reason; unknown keys are
rejected so typos never pass silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from tasks.core.errors import ConfigError

_MISSING = object()
AUTO = "auto"  # the file format's word for a value the lab chooses itself (None once parsed)


def auto(value: Any) -> Any:
    """A parsed value as the file format writes it: None is AUTO."""
    return AUTO if value is None else value


def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class Section:
    """Reads the keys of one mapping; `done()` rejects whatever was not read."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise ConfigError(path or "<root>", f"expected a mapping, got {type_name(data)}")
        self.data = dict(data)
        self.path = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self.seen.add(name)
        if name in self.data and self.data[name] is not None:
            return self.data[name]
        if default is _MISSING:
            raise ConfigError(self.key(name), "is required")
        return default

    def integer(self, name: str, default: Any = _MISSING, minimum: int | None = None) -> int:
        return as_int(self.raw(name, default), self.key(name), minimum)

    def number(self, name: str, default: Any = _MISSING, minimum: float | None = None, positive: bool = False) -> float:
        return as_float(self.raw(name, default), self.key(name), minimum, positive)

    def string(self, name: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None) -> str:
        return as_str(self.raw(name, default), self.key(name), choices)

    def auto_or(self, name: str, default: Any, convert: Callable[[Any, str], Any]) -> Any:
        """The value `convert`ed, or None (the lab chooses) where it is AUTO, or absent with no `default`."""
        value = self.raw(name, default)
        return None if value is None or value == AUTO else convert(value, self.key(name))

    def section(self, name: str) -> Section:
        return Section(self.raw(name, {}), self.key(name))

    def items(self, name: str, default: Any = _MISSING, allow_empty: bool = False) -> list[Any]:
        value = self.raw(name, default)
        if not isinstance(value, list):
            raise ConfigError(self.key(name), f"expected a list, got {type_name(value)}")
        if not value and not allow_empty:
            raise ConfigError(self.key(name), "must not be empty")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(self.key(unknown[0]), f"unknown key (known keys: {', '.join(sorted(self.seen))})")


def as_int(value: Any, key: str, minimum: int | None = None) -> int:
    """Integers in any spelling YAML or TOML allows: 1000, 1_000, 1.0e+6, and 1e3 (which YAML
    1.1 reads as a string); a number with a fraction is refused."""
    if isinstance(value, str):
        value = _integral_text(value)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(key, f"expected an integer, got {type_name(value)} {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(key, f"must be ≥ {minimum}, got {value}")
    return value


def _integral_text(text: str) -> int | str:
    """'1e3', '1_000', '2.5E+6' as the integer they spell; any other text unchanged."""
    compact = text.strip().replace("_", "")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", compact):
        return text
    try:
        exact = Decimal(compact)
    except InvalidOperation:
        return text
    if abs(exact.adjusted()) > 30:  # no config counts that high; never build a huge integer
        return text
    return int(exact) if exact == exact.to_integral_value() else text


def as_float(value: Any, key: str, minimum: float | None = None, positive: bool = False) -> float:
    if isinstance(value, str):  # YAML 1.1 reads "1e-5" as a string
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(key, f"expected a number, got the string {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"expected a number, got {type_name(value)} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(key, f"must be finite, got {value}")
    if positive and value <= 0:
        raise ConfigError(key, f"must be > 0, got {value:g}")
    if minimum is not None and value < minimum:
        raise ConfigError(key, f"must be ≥ {minimum:g}, got {value:g}")
    return value


def as_str(value: Any, key: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {type_name(value)} {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(key, f"unknown value '{value}' (choose from {', '.join(choices)})")
    return value


def listed(values: list[Any], key: str, convert: Callable[[Any, str], Any]) -> list[Any]:
    return [convert(v, f"{key}[{i}]") for i, v in enumerate(values)]
