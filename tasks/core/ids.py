"""Content-derived identifiers: the hash of the canonical JSON of what produced an artifact.

Every id also carries NUMERICS_VERSION: bump it with any change that alters a dataset, a
trained weight or a metric (sampling, batching, a unit's forward pass, an optimizer, a
metric's definition). Artifacts of an older version then never match and are not reused.
tests/test_numerics.py fails when results change while the version did not.
"""

import hashlib
import json
from typing import Any

# 1: the first release (implicit). 2: runs of 32 rows in batches and the exact NMU forward
# (both changed numerics without a bump), seed-dependent window order, coverage as mass.
# 3 (a training-stage change): the 2-input nmu and nalu run the stack layers' code (one-layer
# stacks); W·x is an einsum and the NMU's product a reduce_prod, which XLA and oneDNN round
# differently from the former elementwise a·W₀ + b·W₁ (float32 last-bit differences).
NUMERICS_VERSION = 3


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
