"""Content-derived identifiers: the hash of the canonical JSON of what produced an artifact."""

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_id(prefix: str, obj: Any, length: int = 16) -> str:
    """`prefix-<hex>`: safe in any path, identical for identical inputs."""
    digest = hashlib.sha256(canonical_json(obj).encode()).hexdigest()
    return f"{prefix}-{digest[:length]}"


def seed_from(*parts: Any) -> int:
    """A 63-bit integer seed derived from arbitrary JSON-able parts (independent streams)."""
    digest = hashlib.sha256(canonical_json(list(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
