"""Content-derived identifiers: the hash of the canonical JSON of what produced an artifact.

Each stage's id hashes its inputs (the ids of the stage before it, and its settings) and that
stage's own version, defined beside its code. Bump the version of the stage whose output
changed: later stages follow through the ids, earlier ones are reused.

    stage       version             where                      bump when it changes
    data        DATA_VERSION        tasks/data/spec.py         a dataset's rows
    train       TRAIN_VERSION       tasks/model/settings.py    a trained weight, curve or probe
    evaluate    EVALUATION_VERSION  tasks/evaluation/job.py    a metric, threshold, coverage, diagonal
    collect     COLLECT_VERSION     tasks/jobs/collect.py      a study table or an aggregate
    report      REPORT_VERSION      tasks/report/page.py       the report's content

Outputs of another version never match and are not reused; manifests record the version of
the stage that wrote them. tests/test_numerics.py fails when a stage's output changes while
its version did not.
"""

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
