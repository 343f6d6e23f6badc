"""The artifact catalog: where each kind of artifact lives, its files and its typed manifest.

    datasets/<dataset id>/   shard-00000.parquet …        DatasetManifest
    models/<bundle id>/      weights.npz, curves.parquet, probes.parquet   BundleManifest
    models/<bundle id>/checkpoint/   state-<step>.npz, checkpoint.json   while it trains (scratch)
    evals/<eval id>/         metrics.parquet, diagonal.parquet, horizons.parquet   EvalManifest
    results/                 <table>/part-<eval id>.parquet, summary/*.parquet   ResultsManifest
    report/                  index.html, summary.md, *.png, figures/*.svg|pdf  ReportManifest

An artifact is complete when its manifest (written last) exists and every file it lists has
its recorded size; reads of listed files are checked against their SHA-256. Each manifest
records the version of the stage that wrote it (data_version, train_version, …: see
tasks.core.ids); an artifact of another version is never reused. Jobs and the driver find,
read and invalidate artifacts only through this module, never by path.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pyarrow as pa

from tasks.core.errors import CorruptArtifactError
from tasks.data.shards import table_rows
from tasks.data.spec import DATA_VERSION, DatasetSpec
from tasks.store.storage import FileInfo, Store, file_info


def _files_json(files: dict[str, FileInfo]) -> dict[str, dict[str, Any]]:
    return {name: vars(info) for name, info in files.items()}


def _files_from(d: dict[str, Any]) -> dict[str, FileInfo]:
    return {name: file_info(info) for name, info in d.items()}


def _version_from(d: dict[str, Any], key: str) -> int:
    """The stage version a manifest records; before each stage had its own, manifests recorded
    the lab's single numerics version (1 before that), which each stage's version continues."""
    return int(d.get(key, d.get("numerics", 1)))


@dataclass(frozen=True)
class ShardEntry:
    """A stored shard and the node that wrote it."""

    path: str
    size: int
    sha256: str
    node_id: str = ""
    gpu_ids: tuple[str, ...] = ()

    @property
    def info(self) -> FileInfo:
        return FileInfo(self.path, self.size, self.sha256)

    def to_json(self) -> dict[str, Any]:
        return {**vars(self.info), "node_id": self.node_id, "gpu_ids": list(self.gpu_ids)}

    @staticmethod
    def from_json(d: dict[str, Any]) -> ShardEntry:
        return ShardEntry(d["path"], int(d["size"]), d["sha256"], d.get("node_id", ""), tuple(d.get("gpu_ids", ())))


@dataclass(frozen=True)
class DatasetManifest:
    kind: ClassVar[str] = "dataset"
    version_key: ClassVar[str] = "data_version"
    dataset_id: str
    spec: dict[str, Any]
    shards: tuple[ShardEntry, ...]
    version: int  # DATA_VERSION of the lab that wrote it

    def files(self) -> list[FileInfo]:
        return [s.info for s in self.shards]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset_id": self.dataset_id,
            "spec": self.spec,
            "shards": [s.to_json() for s in sorted(self.shards, key=lambda s: s.path)],
            self.version_key: self.version,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> DatasetManifest:
        shards = tuple(ShardEntry.from_json(s) for s in d["shards"])
        return DatasetManifest(d["dataset_id"], d["spec"], shards, _version_from(d, DatasetManifest.version_key))


@dataclass(frozen=True)
class Member:
    """One model of a trained bundle."""

    model_id: str
    seed: int
    train_dataset: str
    diverged_step: int  # −1: never diverged
    selected_step: int  # the step of the stored weights


@dataclass(frozen=True)
class BundleManifest:
    kind: ClassVar[str] = "bundle"
    version_key: ClassVar[str] = "train_version"
    bundle_id: str
    arch: str
    params: dict[str, Any]
    training: dict[str, Any]
    members: tuple[Member, ...]
    files: dict[str, FileInfo]  # weights, curves, probes
    seconds: float
    compile_seconds: float
    model_steps_per_s: float
    peak_rss_mb: float
    host: str
    device: str
    placement: dict[str, Any]
    started: float
    version: int  # TRAIN_VERSION of the lab that trained it
    resumed_at: int = 0  # the step its last working period resumed from (0: trained in one go)

    def member(self, model_id: str) -> Member:
        return next(m for m in self.members if m.model_id == model_id)

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "version"}
        d.update(kind=self.kind, members=[vars(m) for m in self.members], files=_files_json(self.files))
        return {**d, self.version_key: self.version}

    @staticmethod
    def from_json(d: dict[str, Any]) -> BundleManifest:
        values = {f.name: d[f.name] for f in fields(BundleManifest) if f.name in d}
        values.update(
            members=tuple(Member(**m) for m in d["members"]),
            files=_files_from(d["files"]),
            device=d.get("device", "cpu"),
            placement=d.get("placement", {}),
            version=_version_from(d, BundleManifest.version_key),
        )
        return BundleManifest(**values)


@dataclass(frozen=True)
class EvalManifest:
    kind: ClassVar[str] = "evaluation"
    version_key: ClassVar[str] = "evaluation_version"
    eval_id: str
    bundle_id: str
    models: tuple[str, ...]
    files: dict[str, FileInfo]  # metrics, diagonal, and horizons where the study searches them
    version: int  # EVALUATION_VERSION of the lab that evaluated
    placement: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "eval_id": self.eval_id,
            "bundle_id": self.bundle_id,
            "models": list(self.models),
            "files": _files_json(self.files),
            "placement": self.placement,
            self.version_key: self.version,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> EvalManifest:
        version = _version_from(d, EvalManifest.version_key)
        files = _files_from(d["files"])
        return EvalManifest(d["eval_id"], d["bundle_id"], tuple(d["models"]), files, version, d.get("placement", {}))


@dataclass(frozen=True)
class ResultsManifest:
    """The study's tables: one Parquet part per evaluation in results/<table>/ (keys
    "<table>/part-<eval id>") and the aggregates in results/summary/ (keys "summary/<name>")."""

    kind: ClassVar[str] = "results"
    version_key: ClassVar[str] = "collect_version"
    results_id: str  # derives from the evaluations it collects and the settings of collection
    files: dict[str, FileInfo]
    info: dict[str, Any]  # the run's metadata (config, counts, timings, host)
    version: int  # COLLECT_VERSION of the lab that collected

    def parts(self, table: str) -> list[FileInfo]:
        return [f for key, f in self.files.items() if key.startswith(f"{table}/part-")]

    def summary_files(self) -> dict[str, FileInfo]:
        return {key.split("/", 1)[1]: f for key, f in self.files.items() if key.startswith("summary/")}

    def to_json(self) -> dict[str, Any]:
        head = {"kind": self.kind, "results_id": self.results_id, self.version_key: self.version}
        return {**head, "files": _files_json(self.files), **self.info}

    @staticmethod
    def from_json(d: dict[str, Any]) -> ResultsManifest:
        key = ResultsManifest.version_key
        info = {k: v for k, v in d.items() if k not in ("kind", "files", "results_id", key)}
        return ResultsManifest(d.get("results_id", ""), _files_from(d["files"]), info, _version_from(d, key))


@dataclass(frozen=True)
class ReportManifest:
    kind: ClassVar[str] = "report"
    version_key: ClassVar[str] = "report_version"
    report_id: str  # derives from the results it shows and what the page says of the study
    files: dict[str, FileInfo]
    version: int  # REPORT_VERSION of the lab that wrote it

    def to_json(self) -> dict[str, Any]:
        head = {"kind": self.kind, "report_id": self.report_id, self.version_key: self.version}
        return {**head, "files": _files_json(self.files)}

    @staticmethod
    def from_json(d: dict[str, Any]) -> ReportManifest:
        return ReportManifest(d["report_id"], _files_from(d["files"]), _version_from(d, ReportManifest.version_key))


M = TypeVar("M", DatasetManifest, BundleManifest, EvalManifest, ResultsManifest, ReportManifest)


class ArtifactKind(Generic[M]):
    """A folder of artifacts of one kind, each a directory named by its id with a manifest."""

    def __init__(self, folder: str, manifest: type[M]):
        self.folder, self.manifest = folder, manifest

    def directory(self, artifact_id: str = "") -> str:
        return posixpath.join(self.folder, artifact_id) if artifact_id else self.folder

    def path(self, artifact_id: str, name: str) -> str:
        return posixpath.join(self.directory(artifact_id), name)

    def ids(self, store: Store) -> list[str]:
        return store.list_dirs(self.folder)

    def read(self, store: Store, artifact_id: str = "") -> M | None:
        """The manifest if one was written (files not checked)."""
        raw = store.read_manifest(self.directory(artifact_id))
        return None if raw is None else self.manifest.from_json(raw)

    def complete(self, store: Store, artifact_id: str = "") -> M | None:
        """The manifest when every file it lists is present with its recorded size."""
        raw = store.complete(self.directory(artifact_id))
        return None if raw is None else self.manifest.from_json(raw)

    def current(self, store: Store, artifact_id: str, version: int) -> M | None:
        """The manifest when the artifact is complete and `version` of its stage wrote it."""
        manifest = self.complete(store, artifact_id)
        return manifest if manifest is not None and manifest.version == version else None

    def other_versions(self, store: Store, version: int) -> dict[int, int]:
        """How many complete artifacts each other version of the stage left here."""
        found: dict[int, int] = {}
        for artifact_id in self.ids(store):
            manifest = self.complete(store, artifact_id)
            if manifest is not None and manifest.version != version:
                found[manifest.version] = found.get(manifest.version, 0) + 1
        return dict(sorted(found.items()))

    def write(self, store: Store, manifest: M, artifact_id: str = "") -> M:
        """Written last: the artifact is complete from here on."""
        store.write_manifest(self.directory(artifact_id), manifest.to_json())
        return manifest

    def invalidate(self, store: Store, artifact_id: str = "") -> bool:
        return store.invalidate(self.directory(artifact_id))


DATASETS: ArtifactKind[DatasetManifest] = ArtifactKind("datasets", DatasetManifest)
BUNDLES: ArtifactKind[BundleManifest] = ArtifactKind("models", BundleManifest)
EVALUATIONS: ArtifactKind[EvalManifest] = ArtifactKind("evals", EvalManifest)
RESULTS: ArtifactKind[ResultsManifest] = ArtifactKind("results", ResultsManifest)
REPORT: ArtifactKind[ReportManifest] = ArtifactKind("report", ReportManifest)
REPORT_DIR = "report"
CONFIG_FILE = "config.yaml"  # the resolved config a study ran (rerun it with --config OUT/config.yaml)
RUN_LOCK = "run.lock"  # held while a run writes the folder (tasks.store.folder.run_lock)
RESULT_TABLES = ("metrics", "models", "curves", "probes", "diagonal")


# ---- datasets -----------------------------------------------------------------------------
def shard_path(spec: DatasetSpec, index: int) -> str:
    return DATASETS.path(spec.dataset_id, f"shard-{index:05d}.parquet")


def complete_dataset(store: Store, spec: DatasetSpec) -> DatasetManifest | None:
    """The dataset's manifest if it matches `spec` and every shard is present."""
    manifest = DATASETS.current(store, spec.dataset_id, DATA_VERSION)
    if manifest is None or manifest.spec != spec.to_json() or len(manifest.shards) != spec.n_shards:
        return None
    return manifest


def require_dataset(store: Store, spec: DatasetSpec) -> DatasetManifest:
    manifest = complete_dataset(store, spec)
    if manifest is None:
        raise CorruptArtifactError(
            f"dataset {store.display(DATASETS.directory(spec.dataset_id))} is incomplete or missing"
        )
    return manifest


def read_shards(
    store: Store, manifest: DatasetManifest, first: int = 0, stop: int | None = None, with_y: bool = False
) -> np.ndarray:
    """Inputs of shards [first, stop) as float32 [n, N] (+ the stored y, if asked), checksums verified."""
    parts = [table_rows(store.read_parquet(s.path, expected=s.info), with_y) for s in manifest.shards[first:stop]]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), np.float32)


def read_dataset(
    store: Store, spec: DatasetSpec, first: int = 0, stop: int | None = None, with_y: bool = False
) -> np.ndarray:
    return read_shards(store, require_dataset(store, spec), first, stop, with_y)


# ---- bundles and evaluations ----------------------------------------------------------------
def bundle_file(bundle_id: str, name: str) -> str:
    return BUNDLES.path(bundle_id, name)


# A bundle still training keeps its latest saved state here: the state file first, then the
# small JSON that names it (with its size, checksum, the training version and what the bundle
# is), each written atomically; deleted once the bundle's manifest is written.
def checkpoint_dir(bundle_id: str) -> str:
    return BUNDLES.path(bundle_id, "checkpoint")


def checkpoint_state_file(bundle_id: str, step: int) -> str:
    return posixpath.join(checkpoint_dir(bundle_id), f"state-{step:012d}.npz")


def checkpoint_record_file(bundle_id: str) -> str:
    return posixpath.join(checkpoint_dir(bundle_id), "checkpoint.json")


def require_bundle(store: Store, bundle_id: str) -> BundleManifest:
    manifest = BUNDLES.read(store, bundle_id)
    if manifest is None:
        raise CorruptArtifactError(f"bundle {bundle_id} has no manifest; it must be trained first")
    return manifest


def read_weights(store: Store, manifest: BundleManifest) -> dict[str, np.ndarray]:
    """The bundle's stacked weights [K, ...] per name, checksum verified, never unpickled."""
    info = manifest.files["weights"]
    return store.read_npz(info.path, expected=info)


def read_table(store: Store, info: FileInfo) -> pa.Table:
    try:
        return store.read_parquet(info.path, expected=info)
    except CorruptArtifactError as exc:  # a results part or summary belongs to results/, not its subfolder
        raise CorruptArtifactError(str(exc), artifact_directory(info.path)) from None


def artifact_directory(path: str) -> str:
    """The artifact a stored file belongs to: the directory whose manifest lists it."""
    top, _, rest = path.partition("/")
    if top in (RESULTS.folder, REPORT_DIR):
        return top
    return posixpath.join(top, rest.split("/", 1)[0])


@contextmanager
def invalidating_corrupt(store: Store) -> Iterator[None]:
    """A corrupted artifact found by any reader loses its manifest, so the next run regenerates
    it; the user is told which file and what happens next."""
    try:
        yield
    except CorruptArtifactError as exc:
        if exc.directory and store.invalidate(exc.directory):
            raise CorruptArtifactError(
                f"{exc}; marked {store.display(exc.directory)} incomplete — rerun to regenerate it", exc.directory
            ) from None
        raise


@dataclass(frozen=True)
class Unfinished:
    """An unfinished bundle with a checkpoint this training version saved: its members in
    order, its compiled-step size and the step reached (the record's layout)."""

    bundle_id: str
    members: tuple[str, ...]
    step_size: int | None
    step: int


@dataclass(frozen=True)
class Trained:
    """What earlier runs left: complete bundles by model, models of other training versions,
    the checkpoints of unfinished bundles another training version saved, and the unfinished
    bundles this version can resume."""

    by_model: dict[str, BundleManifest]
    stale_models: int  # trained under another training version: never reused
    stale_versions: tuple[int, ...]
    stale_checkpoints: dict[int, tuple[int, ...]] = field(default_factory=dict)  # version → steps reached
    unfinished: tuple[Unfinished, ...] = ()


def completed_models(store: Store, version: int) -> Trained:
    """model_id → manifest of a complete bundle trained by `version` of the training stage."""
    done: dict[str, BundleManifest] = {}
    stale, versions = 0, set()
    checkpoints: dict[int, list[int]] = {}
    unfinished: list[Unfinished] = []
    for bundle_id in BUNDLES.ids(store):
        manifest = BUNDLES.complete(store, bundle_id)
        if manifest is None:
            saved = read_checkpoint_record(store, bundle_id)  # an unfinished bundle: whose checkpoint?
            if saved and saved.get("train_version") != version:
                checkpoints.setdefault(saved.get("train_version"), []).append(int(saved.get("step", 0)))
            elif saved and isinstance(saved.get("members"), list):
                size = saved.get("step_size") if isinstance(saved.get("step_size"), int) else None
                step = int(saved.get("step", 0))
                unfinished.append(Unfinished(bundle_id, tuple(map(str, saved["members"])), size, step))
            continue
        if manifest.version != version:
            stale += len(manifest.members)
            versions.add(manifest.version)
            continue
        for member in manifest.members:
            done.setdefault(member.model_id, manifest)
    found = {v: tuple(sorted(steps)) for v, steps in sorted(checkpoints.items(), key=lambda kv: str(kv[0]))}
    return Trained(done, stale, tuple(sorted(versions)), found, tuple(unfinished))


def read_checkpoint_record(store: Store, bundle_id: str) -> dict[str, Any] | None:
    """An unfinished bundle's checkpoint record; None: there is none, {}: it is unreadable."""
    try:
        record = store.read_json(checkpoint_record_file(bundle_id))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def eval_file(eval_id: str, name: str) -> str:
    return EVALUATIONS.path(eval_id, name)


def results_part(table: str, eval_id: str) -> str:
    """One evaluation's rows of a study table (results/<table>/ is a Parquet dataset)."""
    return RESULTS.path("", f"{table}/part-{eval_id}.parquet")


def results_summary_file(name: str) -> str:
    return RESULTS.path("", f"summary/{name}.parquet")


def results_table_dir(table: str) -> str:
    return RESULTS.path("", table)


def report_file(name: str) -> str:
    return posixpath.join(REPORT_DIR, name)


# ---- the nightly root ---------------------------------------------------------------------
#   ROOT/history/date=YYYY-MM-DD/part-0.parquet   headline metrics of that night (replaced atomically)
#   ROOT/nights/YYYY-MM-DD.json                   NightRecord: status, error, environment, verdicts, run
#   ROOT/locks/YYYY-MM-DD.lock                    held while a run for that date is in progress
#   ROOT/YYYY-MM-DD/<run>/                        the night's study (an output directory of its own)
#   ROOT/YYYY-MM-DD/summary.md, ROOT/index.html   the night's summary and the index of all nights
NIGHTLY_MARKER = "nightly.json"
HISTORY_DIR = "history"
NIGHTS_DIR = "nights"


def history_partition(date: str) -> str:
    return f"{HISTORY_DIR}/date={date}/part-0.parquet"


def night_record_file(date: str) -> str:
    return f"{NIGHTS_DIR}/{date}.json"


def night_lock_file(date: str) -> str:
    return f"locks/{date}.lock"


def night_dir(date: str, run: str = "") -> str:
    return posixpath.join(date, run) if run else date


@dataclass
class NightRecord:
    """What one night did; written last for its date (after its history partition)."""

    date: str
    status: str  # ok | failed | running | unreadable
    run: str = ""
    config: str = ""
    tolerance: float = 0.0
    speed_tolerance: float | None = None  # throughput's tolerance (None: nights of earlier versions)
    started: float = 0.0
    finished: float = 0.0
    error: str = ""
    report: str = ""  # where the night's report is, for a user
    report_link: str = ""  # the same, relative to the root (links on the index)
    regressions: int = 0
    improvements: int = 0
    underpowered: int = 0  # headlines whose test could not decide (tasks.report.judgement)
    environment: dict[str, str] = field(default_factory=dict)
    last_attempt: dict[str, Any] | None = None  # a failed rerun of a good night
    config_resolved: dict[str, Any] = field(default_factory=dict)  # what ran: the file with every --set applied
    config_changed: str = ""  # how it differs from the previous night's ("" when it does not)
    outcome: str = ""  # ok | regression | config changed | failed: what the summary says and the exit code means
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. why throughput was not judged

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @staticmethod
    def from_json(d: dict[str, Any]) -> NightRecord:
        known = {f.name for f in fields(NightRecord)}
        return NightRecord(**{k: v for k, v in d.items() if k in known})


def read_night_records(store: Store) -> dict[str, NightRecord]:
    nights = {}
    for name in store.list_files(NIGHTS_DIR):
        if name.endswith(".json"):
            date = name.removesuffix(".json")
            try:
                nights[date] = NightRecord.from_json(store.read_json(night_record_file(date)))
            except (OSError, ValueError, TypeError):
                nights[date] = NightRecord(date, "unreadable")
    return dict(sorted(nights.items()))


def write_night_record(store: Store, record: NightRecord) -> None:
    store.write_json(night_record_file(record.date), record.to_json())
