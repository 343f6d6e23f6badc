"""What the lab asks of a storage backend, checked against any --out location: atomic writes,
a manifest written last, size-checked completion and checksum-verified reads.

    python tests/example_storage.py 's3://bucket/prefix?endpoint_override=host:9000&scheme=http'

Every read and write of the lab goes through tasks.store.storage.Store, so a location that
passes this check holds studies, nights and comparisons.
"""

import sys
import uuid
from dataclasses import asdict

from tasks.core.errors import CorruptArtifactError
from tasks.store.storage import Store


def check_backend(uri: str) -> None:
    store = Store(uri)  # a local path, or a URI whose scheme is in SUPPORTED_SCHEMES
    store.check_reachable()  # object stores: the endpoint answers and the bucket exists
    artifact = f"check-{uuid.uuid4().hex[:8]}"
    data = store.write_bytes(f"{artifact}/data.bin", b"lab" * 1000)  # a temporary name, then renamed
    assert store.complete(artifact) is None  # no manifest yet: not complete
    store.write_manifest(artifact, {"files": {"data": asdict(data)}})  # written last
    assert store.complete(artifact) is not None
    assert store.read_verified(data.path, data) == b"lab" * 1000
    store.write_bytes(data.path, b"LAB" * 1000)  # same size, other bytes
    try:
        store.read_verified(data.path, data)
        refused = False
    except CorruptArtifactError:
        refused = True  # the lab regenerates such an artifact
    store.delete_dir(artifact)
    assert refused, "a file whose checksum differs from its manifest was read"
    print(f"{store.display()}: atomic writes, manifests and verified reads work")


if __name__ == "__main__":
    check_backend(sys.argv[1])
