"""The one storage module: every read and write goes through pyarrow.fs.

A `Store` is rooted at a local path or a URI (s3://bucket/prefix, gs://..., file://...).
Writes are atomic: bytes go to a temporary name in the same directory, then are renamed,
so a reader never sees a half-written file under its final name. Completion of a
multi-file artifact is signalled by a manifest written last (see `write_manifest`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tasks.core.errors import CorruptArtifactError, StorageError

SUPPORTED_SCHEMES = ("file", "s3", "gs", "gcs", "hdfs", "abfs", "abfss")
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative to the store root
    size: int
    sha256: str


def sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


# What object stores answer (pyarrow passes the AWS SDK's error names through), in words a
# user can act on. The first pattern that matches names the cause.
_CAUSES = (
    (
        r"NETWORK_CONNECTION|Could not connect|Couldn't connect|curlCode: (6|7|28)|Connection refused|timed out",
        "cannot connect to the object store (is the endpoint right and reachable?)",
    ),
    (r"NO_SUCH_BUCKET|NoSuchBucket|Bucket '[^']*' not found|bucket does not exist", "the bucket does not exist"),
    (
        r"INVALID_ACCESS_KEY_ID|InvalidAccessKeyId|SIGNATURE_DOES_NOT_MATCH|SignatureDoesNotMatch|"
        r"INVALID_CLIENT_TOKEN|EXPIRED_TOKEN|credentials",
        "the credentials were refused (check AWS_ACCESS_KEY_ID / "
        "AWS_SECRET_ACCESS_KEY, the profile or the instance role)",
    ),
    (
        r"ACCESS_DENIED|AccessDenied|HTTP status 403|Forbidden",
        "access denied (the credentials are wrong or may not use this location)",
    ),
)


def describe_store_error(exc: BaseException) -> str:
    """One line: the cause in words, then what the store said (trimmed)."""
    text = " ".join(str(exc).split())
    detail = text.split("Details: ")[-1] if "Details: " in text else text
    detail = re.sub(r"\s*\(Request ID: [^)]*\)", "", detail)[:200]
    for pattern, cause in _CAUSES:
        if re.search(pattern, text):
            return f"{cause}: {detail}"
    return detail


class Store:
    """A rooted view of a pyarrow filesystem. Picklable (ships to Ray tasks as its URI)."""

    def __init__(self, uri: str):
        self.uri = uri
        self._fs: pafs.FileSystem | None = None
        self._root: str = ""
        self._open()

    def _open(self) -> None:
        scheme = urlparse(self.uri).scheme
        if len(scheme) > 1 and scheme not in SUPPORTED_SCHEMES:  # len 1: a Windows drive letter
            raise StorageError(
                f"unknown URI scheme '{scheme}://' in {self.uri} (use a local path or one of: "
                + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
                + ")"
            )
        try:
            if scheme:
                self._fs, root = pafs.FileSystem.from_uri(self.uri)
            else:
                self._fs, root = pafs.LocalFileSystem(), os.path.abspath(self.uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise StorageError(f"cannot open {self.uri}: {describe_store_error(exc)}") from None
        self._root = root.rstrip("/")

    def __reduce__(self):
        return (Store, (self.uri,))

    @contextmanager
    def _reaching(self, rel: str, action: str = "read") -> Iterator[None]:
        """A filesystem failure becomes one line naming the location and the cause; a missing
        file stays FileNotFoundError (callers decide what absence means)."""
        try:
            yield
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot {action} {self.display(rel)}: {describe_store_error(exc)}") from None

    def check_reachable(self) -> None:
        """For object stores: the endpoint answers and the bucket exists (a missing bucket
        would otherwise only show when the first file is written)."""
        if self.is_local:
            return
        bucket = self._root.split("/", 1)[0]
        with self._reaching("", "reach"):
            found = self._fs.get_file_info(bucket).type != pafs.FileType.NotFound
        if not found:
            raise StorageError(f"cannot use {self.display()}: the bucket '{bucket}' does not exist (create it first)")

    @property
    def is_local(self) -> bool:
        return isinstance(self._fs, pafs.LocalFileSystem)

    def full(self, rel: str) -> str:
        return posixpath.join(self._root, rel) if rel else self._root

    def child(self, rel: str) -> Store:
        """A store rooted at `rel` below this one (URI query options such as an endpoint kept)."""
        if "://" not in self.uri:
            return Store(posixpath.join(self.uri, rel))
        base, sep, query = self.uri.partition("?")
        return Store(f"{base.rstrip('/')}/{rel}{sep}{query}")

    def display(self, rel: str = "") -> str:
        """A path or URI a user can open."""
        if self.is_local:
            return self.full(rel)
        base = self.uri.split("?", 1)[0].rstrip("/")
        return f"{base}/{rel}" if rel else base

    # ---- queries -------------------------------------------------------------------------
    def _info(self, rel: str) -> pafs.FileInfo:
        with self._reaching(rel):
            return self._fs.get_file_info(self.full(rel))

    def exists(self, rel: str) -> bool:
        return self._info(rel).type != pafs.FileType.NotFound

    def is_file(self, rel: str) -> bool:
        return self._info(rel).type == pafs.FileType.File

    def size(self, rel: str) -> int | None:
        info = self._info(rel)
        return None if info.type == pafs.FileType.NotFound else info.size

    def _list(self, rel: str, kind: pafs.FileType) -> list[str]:
        selector = pafs.FileSelector(self.full(rel), allow_not_found=True)
        with self._reaching(rel, "list"):
            infos = self._fs.get_file_info(selector)
        return sorted(posixpath.basename(i.path) for i in infos if i.type == kind)

    def list_dirs(self, rel: str) -> list[str]:
        """Names of the directories directly under `rel` (empty when it does not exist)."""
        return self._list(rel, pafs.FileType.Directory)

    def list_files(self, rel: str) -> list[str]:
        return self._list(rel, pafs.FileType.File)

    # ---- raw bytes -----------------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        with self._reaching(rel), self._fs.open_input_stream(self.full(rel)) as f:
            return f.read()

    def write_bytes(self, rel: str, data: bytes | memoryview) -> FileInfo:
        """Atomic write: temporary sibling, then rename onto the final name."""
        return self.write_stream(rel, lambda out: out.write(data))

    def write_stream(self, rel: str, produce: Callable[[Any], None]) -> FileInfo:
        """Atomic streamed write: `produce(f)` writes to a file object; size and SHA-256 are
        computed on the way through, so nothing is buffered or read back."""
        final = self.full(rel)
        directory = posixpath.dirname(final)
        tmp = posixpath.join(directory, f".tmp-{uuid.uuid4().hex}-{posixpath.basename(final)}")
        try:
            self._fs.create_dir(directory, recursive=True)
            with self._fs.open_output_stream(tmp) as raw:
                sink = _HashingWriter(raw)
                produce(sink)
            self._fs.move(tmp, final)
        except OSError as exc:
            self._discard(tmp)
            raise StorageError(f"cannot write {self.display(rel)}: {describe_store_error(exc)}") from None
        except BaseException:
            self._discard(tmp)  # interrupted or failed: no temporary file is left behind
            raise
        return FileInfo(rel, sink.size, sink.digest.hexdigest())

    def _discard(self, full_path: str) -> None:
        try:
            self._fs.delete_file(full_path)
        except OSError:
            pass

    def delete_file(self, rel: str) -> None:
        try:
            self._fs.delete_file(self.full(rel))
        except (FileNotFoundError, OSError):
            pass

    def delete_dir(self, rel: str) -> None:
        try:
            self._fs.delete_dir(self.full(rel))
        except (FileNotFoundError, OSError):
            pass

    # ---- typed helpers -------------------------------------------------------------------
    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    def write_json(self, rel: str, obj: Any) -> FileInfo:
        return self.write_bytes(rel, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False).encode())

    def write_parquet(self, rel: str, table: pa.Table, **options: Any) -> FileInfo:
        """`options` go to `pyarrow.parquet.write_table` (compression, use_dictionary, ...)."""
        return self.write_stream(rel, lambda out: pq.write_table(table, out, **options))

    def read_parquet(self, rel: str, expected: FileInfo | None = None) -> pa.Table:
        data = self.read_verified(rel, expected) if expected else self.read_bytes(rel)
        return pq.read_table(pa.BufferReader(data))

    def read_verified(self, rel: str, expected: FileInfo) -> bytes:
        """Bytes of `rel`, checked against the size and checksum its manifest recorded."""
        directory = posixpath.dirname(rel)
        try:
            data = self.read_bytes(rel)
        except FileNotFoundError:
            raise CorruptArtifactError(
                f"missing file {self.display(rel)} (listed in its manifest)", directory
            ) from None
        if len(data) != expected.size or sha256_hex(data) != expected.sha256:
            raise CorruptArtifactError(
                f"corrupted file {self.display(rel)}: size/checksum differ from its manifest "
                f"({len(data)} bytes, expected {expected.size})",
                directory,
            )
        return data

    def invalidate(self, directory: str) -> bool:
        """Remove an artifact's manifest (marking it incomplete); its files stay for inspection."""
        try:
            self._fs.delete_file(self.full(posixpath.join(directory, MANIFEST)))
            return True
        except (FileNotFoundError, OSError):
            return False

    def write_npz(self, rel: str, arrays: dict[str, Any]) -> FileInfo:
        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return self.write_bytes(rel, buf.getvalue())

    def read_npz(self, rel: str, expected: FileInfo | None = None) -> dict[str, Any]:
        import numpy as np

        data = self.read_verified(rel, expected) if expected else self.read_bytes(rel)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:  # never unpickle stored data
                return {k: z[k] for k in z.files}
        except (ValueError, OSError) as exc:  # object arrays (pickles) or a damaged archive
            raise CorruptArtifactError(
                f"unreadable weights {self.display(rel)}: {exc}", posixpath.dirname(rel)
            ) from None

    # ---- manifests: the completion marker of a multi-file artifact -----------------------
    def write_manifest(self, directory: str, manifest: dict[str, Any]) -> None:
        self.write_json(posixpath.join(directory, MANIFEST), manifest)

    def complete(self, directory: str) -> dict[str, Any] | None:
        """The artifact's manifest when it exists and every file it lists has its recorded size."""
        manifest = self.read_manifest(directory)
        if manifest is None:
            return None
        for f in listed_files(manifest):
            if self.size(f["path"]) != f["size"]:
                return None
        return manifest

    def read_manifest(self, directory: str) -> dict[str, Any] | None:
        """The manifest if the artifact is complete, else None (partial or absent)."""
        rel = posixpath.join(directory, MANIFEST)
        try:
            return self.read_json(rel)
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # a torn manifest cannot exist (atomic rename), but never trust one


class _HashingWriter(io.RawIOBase):
    """A write-only file object that checksums what passes through to `raw`."""

    def __init__(self, raw: Any):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.raw.write(view)
        self.digest.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size


def listed_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The file entries of a manifest: its named `files` and its dataset `shards`."""
    return [*manifest.get("files", {}).values(), *manifest.get("shards", [])]


def file_info(d: dict[str, Any]) -> FileInfo:
    return FileInfo(d["path"], int(d["size"]), d["sha256"])
