"""The config format, parsed and validated into frozen specs (pure: mappings in, specs out).

Every problem is a ConfigError naming the key and the reason. Architecture-specific rules
(parameters, the input domain a unit needs) are asked of the architecture registry; nothing
here names an architecture. A list where a key of an architecture or a `training` section takes
one value is a sweep (the rule: tasks.core.sweeps; the variants: tasks.study.variants). Reading
files and presets: tasks.study.loading. See docs/guide/configs.md, "Config reference".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from tasks.core.errors import ConfigError
from tasks.core.ids import canonical_json
from tasks.core.ranges import WIDEN_POLICIES, Ranges
from tasks.core.schema import Section, as_float, as_int, as_str, listed
from tasks.core.sweeps import Variant, expand
from tasks.data.sampling import DISTRIBUTIONS, check_distribution
from tasks.data.targets import TargetSpec, parse_targets
from tasks.evaluation.job import DiagonalConfig, HorizonConfig
from tasks.evaluation.success import REGISTRY as SUCCESS_RULES
from tasks.evaluation.success import SuccessConfig
from tasks.model import registry
from tasks.model.settings import DATA_SOURCES, TrainingConfig
from tasks.study.variants import (
    UNSWEPT_ARCHITECTURE,
    UNSWEPT_TRAINING,
    swept_values,
    training_variants,
    variant_labels,
    where,
)

PAPERS = ("madsen2020", "mistry2022")  # the published results a study can declare it reproduces
VECTOR_FORMATS = ("svg", "pdf")  # a report's figures as vector files too, for papers (report.vector_formats)
CHECKPOINT_MINUTES = 5.0  # a training bundle saves its state this often by default (resources.checkpoint_minutes)
OPTIMIZERS = ("adagrad", "adam", "sgd", "rmsprop")


@dataclass(frozen=True)
class DataConfig:
    distribution: str
    train_size: int
    val_size: int
    shard_rows: int
    seed: int


@dataclass(frozen=True)
class TrainRange:
    range: Ranges
    eval: tuple[Ranges, ...]  # extra evaluation ranges for models trained on this range


@dataclass(frozen=True)
class ArchSpec:
    arch: str
    params_json: str  # canonical JSON keeps the spec hashable and frozen
    training: TrainingConfig | None = None  # the study's training with this architecture's overrides (or sweep)
    overrides_json: str = "{}"  # the entry's own `training` keys as written, for labels
    swept_json: str = "[]"  # a sweep's variant: [[key, value], ...] of its swept keys (tasks.study.variants)
    variant: str = ""  # a variant's label: `mlp lr=0.003 hidden=[80]`
    entry: int = 0  # the `architectures` entry it comes from

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    @property
    def swept(self) -> dict[str, Any]:
        """A variant's swept keys (`training.learning_rate`, `hidden`) and values, in order; {} otherwise."""
        return dict(json.loads(self.swept_json))

    def training_or(self, study: TrainingConfig) -> TrainingConfig:
        return self.training or study

    def label(self) -> str:
        """The architecture's label: a variant's, or the unit's with its own training settings."""
        return self.variant or self.full_label()

    def full_label(self) -> str:
        base = registry.get(self.arch).label(self.params)
        overrides = json.loads(self.overrides_json)
        if not overrides:
            return base
        return f"{base} [{' '.join(f'{k}={v}' for k, v in overrides.items())}]"


@dataclass(frozen=True)
class EvaluationConfig:
    scales: tuple[float, ...]
    widen: str  # how a scale widens the training range (tasks.core.ranges.Ranges.widened)
    ranges: tuple[Ranges, ...]
    size: int
    diagonal: DiagonalConfig | None  # None: off (always for targets whose operands are not the inputs)
    success: SuccessConfig
    probe_rows: int  # rows of each evaluation set watched at every log step (0: off)
    fit_nrmse: float  # a model "fits" when its in-range RMSE / RMS(target) is at most this
    horizon: HorizonConfig | None = None  # the extrapolation horizon's search (None: off)


@dataclass(frozen=True)
class ReportConfig:
    vector_formats: tuple[str, ...] = VECTOR_FORMATS  # each figure's copies in report/figures/ beside its PNG


@dataclass(frozen=True)
class ResourcesConfig:
    train_cpus: int
    train_gpus: float | None  # None: "auto" — a fraction of a GPU when the cluster has GPUs
    checkpoint_minutes: float = CHECKPOINT_MINUTES  # a training bundle saves its state this often (0: never)


@dataclass(frozen=True)
class Config:
    name: str
    description: str
    targets: tuple[TargetSpec, ...]  # one per operation: the same layout, the same number of inputs
    output: str
    seeds: tuple[int, ...]
    data: DataConfig
    train_ranges: tuple[TrainRange, ...]
    architectures: tuple[ArchSpec, ...]
    training: TrainingConfig
    evaluation: EvaluationConfig
    resources: ResourcesConfig
    reproduces: str | None = None  # a paper whose published results the report holds this run against
    deviations: tuple[str, ...] = ()  # where this study departs from that paper's protocol (shown in the report)
    training_sweep_json: str = "{}"  # the `training` section's swept keys and their values ({} : none)
    report: ReportConfig = ReportConfig()

    @property
    def target(self) -> TargetSpec:
        """The first target: its layout and input count are every target's."""
        return self.targets[0]


def parse_ranges(value: Any, key: str) -> Ranges:
    """[lo, hi] or a union [[lo, hi], [lo, hi], ...]."""
    if not isinstance(value, list) or not value:
        raise ConfigError(key, f"expected [lo, hi] or a list of [lo, hi] intervals, got {value!r}")
    intervals = value if isinstance(value[0], list) else [value]
    parsed = []
    for i, iv in enumerate(intervals):
        ikey = key if intervals is not value else f"{key}[{i}]"
        if not isinstance(iv, list) or len(iv) != 2:
            raise ConfigError(ikey, f"an interval is [lo, hi], got {iv!r}")
        lo, hi = as_float(iv[0], ikey), as_float(iv[1], ikey)
        if not lo < hi:
            raise ConfigError(ikey, f"needs lo < hi, got lo={lo:g} ≥ hi={hi:g}")
        parsed.append((lo, hi))
    try:
        return Ranges.of(*parsed)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def _parse_seeds(value: Any, key: str) -> tuple[int, ...]:
    if isinstance(value, dict):
        sec = Section(value, key)
        start, count = sec.integer("start", 0, minimum=0), sec.integer("count", minimum=1)
        sec.done()
        return tuple(range(start, start + count))
    if not isinstance(value, list):
        raise ConfigError(key, f"expected a list of integers or {{start, count}}, got {value!r}")
    if not value:
        raise ConfigError(key, "must not be empty")
    seeds = listed(value, key, lambda v, k: as_int(v, k, minimum=0))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(key, "seeds must be unique")
    return tuple(seeds)


def _parse_data(sec: Section) -> DataConfig:
    data = DataConfig(
        distribution=sec.string("distribution", "uniform", DISTRIBUTIONS),
        train_size=sec.integer("train_size", minimum=1),
        val_size=sec.integer("val_size", 10_000, minimum=1),
        shard_rows=sec.integer("shard_rows", 250_000, minimum=1),
        seed=sec.integer("seed", 0, minimum=0),
    )
    sec.done()
    return data


def _parse_train_range(value: Any, key: str) -> TrainRange:
    if isinstance(value, dict):
        sec = Section(value, key)
        rng = parse_ranges(sec.raw("range"), sec.key("range"))
        evals = tuple(parse_ranges(v, f"{sec.key('eval')}[{i}]") for i, v in enumerate(sec.items("eval", [], True)))
        sec.done()
        return TrainRange(rng, evals)
    return TrainRange(parse_ranges(value, key), ())


TRAINING_DEFAULTS = TrainingConfig("adagrad", 0.05, 128, 0, "sum", 1000, 2_000_000, "last", None, 1e-7)


def _parse_training(sec: Section, base: TrainingConfig | None = None) -> TrainingConfig:
    """The study's `training` section, or (with `base`) an architecture's overrides of it."""
    d = base or TRAINING_DEFAULTS
    training = TrainingConfig(
        optimizer=sec.string("optimizer", d.optimizer, OPTIMIZERS),
        learning_rate=sec.number("learning_rate", d.learning_rate, positive=True),
        batch_size=sec.integer("batch_size", d.batch_size, minimum=1),
        steps=sec.integer("steps", minimum=1) if base is None else sec.integer("steps", d.steps, minimum=1),
        loss_reduction=sec.string("loss_reduction", d.loss_reduction, ("sum", "mean")),
        log_every=sec.integer("log_every", d.log_every, minimum=1),
        window_rows=sec.integer("window_rows", d.window_rows, minimum=1),
        checkpoint=sec.string("checkpoint", d.checkpoint, ("last", "best_val")),
        bundle_size=sec.auto_or("bundle_size", d.bundle_size, lambda v, key: as_int(v, key, minimum=1)),
        epsilon=sec.number("epsilon", d.epsilon, positive=True),
        data=sec.string("data", d.data, DATA_SOURCES),
    )
    sec.done()
    if "log_every" in sec.data and training.log_every > training.steps:  # asked for, and it never comes
        raise ConfigError(
            sec.key("log_every"),
            f"a curve point every {training.log_every:,} steps never comes in {training.steps:,} steps of "
            f"training; set it to at most {training.steps:,}",
        )
    return training


def _parse_architectures(root: Section, study: list[Variant[TrainingConfig]]) -> tuple[ArchSpec, ...]:
    """Each entry: `arch`, the unit's own parameters, and optional `training` overrides; an entry
    with a sweep (its own, or the study's `training`) becomes its variants (tasks.study.variants)."""
    archs = []
    for i, raw_arch in enumerate(root.items("architectures")):
        key = f"architectures[{i}]"
        overrides = None
        if isinstance(raw_arch, dict) and "training" in raw_arch:
            raw_arch = dict(raw_arch)
            overrides = raw_arch.pop("training")
        units = expand(raw_arch, key, registry.read_architecture, UNSWEPT_ARCHITECTURE)
        for swept_training, training in training_variants(study, overrides, f"{key}.training", _parse_training):
            for unit in units:
                arch_name, params = unit.parsed
                swept = swept_training | {k: params.get(k, v) for k, v in unit.values.items()}  # as parsed
                own = "{}" if overrides is None else canonical_json(overrides)
                swept_json = json.dumps(list(swept.items()))
                archs.append(ArchSpec(arch_name, canonical_json(params), training, own, swept_json, entry=i))
    archs = [replace(a, variant=label) for a, label in zip(archs, variant_labels(archs))]
    _check_distinct(archs, study[0].parsed)
    return tuple(archs)


def _check_distinct(archs: list[ArchSpec], training: TrainingConfig) -> None:
    """Two entries (or variants) that would train the same models are one mistake."""
    seen: dict[tuple[str, str, str], ArchSpec] = {}
    for a in archs:
        same = (a.arch, a.params_json, canonical_json(a.training_or(training).identity()))
        if same in seen:
            raise ConfigError(
                "architectures",
                f"the same architecture is listed twice ({where(seen[same])} and {where(a)} train the same models)",
            )
        seen[same] = a


def _parse_diagonal(sec: Section, targets: tuple[TargetSpec, ...]) -> DiagonalConfig | None:
    """The article's diagonal a = b = x: on by default where the operands are the inputs and
    every operation is defined on it (division's divisor reaches 0 on the default [0, 10])."""
    raw = sec.raw("diagonal", "default")
    layout = targets[0].target
    if raw is False or (raw == "default" and not layout.operands_are_inputs):
        return None
    if not layout.operands_are_inputs:
        raise ConfigError(
            sec.key("diagonal"), f"the diagonal a = b = x needs operands that are inputs, not {layout.name}"
        )
    diag = Section({} if raw == "default" else raw, sec.key("diagonal"))
    diagonal = DiagonalConfig(
        lo=diag.number("lo", 0.0),
        hi=diag.number("hi", 10.0),
        points=diag.integer("points", 1000, minimum=2),
        segments=tuple(
            parse_ranges(v, f"{diag.key('segments')}[{i}]")
            for i, v in enumerate(diag.items("segments", [[0, 1], [1, 5], [5, 10]], allow_empty=True))
        ),
    )
    if not diagonal.lo < diagonal.hi:
        raise ConfigError(diag.key("lo"), f"needs lo < hi, got lo={diagonal.lo:g} ≥ hi={diagonal.hi:g}")
    diag.done()
    line = Ranges.of((diagonal.lo, diagonal.hi))
    for target in targets:
        problem = target.operation.domain_problem(target.target.operand_ranges(target.params, line))
        if problem and raw == "default":
            return None
        if problem:
            raise ConfigError(sec.key("diagonal"), f"{problem} on the diagonal a = b = x")
    return diagonal


def _parse_success(sec: Section, targets: tuple[TargetSpec, ...]) -> SuccessConfig:
    """`success: {rule, epsilon, samples, also}`; the older `success_epsilon: ε` still reads.
    A rule that fixes its ε takes no other; `also` lists further rules each model is judged by."""
    legacy = sec.raw("success_epsilon", None)
    raw = sec.raw("success", {})
    s = Section(raw, sec.key("success"))
    epsilon_default = 1e-5 if legacy is None else as_float(legacy, sec.key("success_epsilon"), positive=True)
    rule = s.string("rule", "inputs_scaled", tuple(SUCCESS_RULES))
    fixed = SUCCESS_RULES[rule].epsilon
    epsilon = s.number("epsilon", fixed or epsilon_default, positive=True)
    if fixed is not None and epsilon != fixed:
        raise ConfigError(s.key("epsilon"), f"{rule} fixes ε = {fixed:g}; leave epsilon out or use a rule without one")
    also = tuple(
        listed(s.items("also", [], allow_empty=True), s.key("also"), lambda v, k: as_str(v, k, tuple(SUCCESS_RULES)))
    )
    if len(set(also)) != len(also) or rule in also:
        raise ConfigError(s.key("also"), f"each rule once, and not the main rule ({rule})")
    success = SuccessConfig(rule=rule, epsilon=epsilon, samples=s.integer("samples", 1_000_000, minimum=1), also=also)
    s.done()
    for key, name in [(s.key("rule"), rule), *((f"{s.key('also')}[{i}]", n) for i, n in enumerate(also))]:
        for target in targets:
            problem = SUCCESS_RULES[name].accepts(target)
            if problem:
                raise ConfigError(key, f"{name}: {problem}, not {target.label()}")
    return success


HORIZON_DEFAULTS = {"tolerance": 0.01, "rounds": 8, "rows": 1000}


def _parse_horizon(sec: Section, scales: tuple[float, ...], widen: str) -> HorizonConfig | None:
    """`horizon: {tolerance: 0.01 | success, max_scale, rounds, rows}` or false. On by default
    with the ladder's largest scale as its cap; off by default when the ladder never widens."""
    raw = sec.raw("horizon", "default")
    widest = max(scales, default=1.0)
    if raw is False or (raw == "default" and widest <= 1):
        return None
    h = Section({} if raw == "default" else raw, sec.key("horizon"))
    tolerance = h.raw("tolerance", HORIZON_DEFAULTS["tolerance"])
    if isinstance(tolerance, str) and tolerance != "success":
        raise ConfigError(h.key("tolerance"), f"expected an NRMSE bound or 'success', got {tolerance!r}")
    config = HorizonConfig(
        tolerance=None if tolerance == "success" else as_float(tolerance, h.key("tolerance"), positive=True),
        max_scale=h.number("max_scale", widest, positive=True),
        rounds=h.integer("rounds", HORIZON_DEFAULTS["rounds"], minimum=0),
        rows=h.integer("rows", HORIZON_DEFAULTS["rows"], minimum=1),
        widen=widen,
        ladder=scales,
    )
    h.done()
    if not config.max_scale > 1:
        raise ConfigError(h.key("max_scale"), f"widens the training range: needs > 1, got {config.max_scale:g}")
    return config


def _parse_evaluation(sec: Section, targets: tuple[TargetSpec, ...]) -> EvaluationConfig:
    scales = tuple(
        as_float(v, f"{sec.key('scales')}[{i}]", positive=True)
        for i, v in enumerate(sec.items("scales", [1, 2, 5, 10, 100], allow_empty=True))
    )
    ranges = tuple(parse_ranges(v, f"{sec.key('ranges')}[{i}]") for i, v in enumerate(sec.items("ranges", [], True)))
    widen = sec.string("widen", "outward", WIDEN_POLICIES)
    evaluation = EvaluationConfig(
        scales=scales,
        widen=widen,
        ranges=ranges,
        size=sec.integer("size", 10_000, minimum=1),
        diagonal=_parse_diagonal(sec, targets),
        success=_parse_success(sec, targets),
        probe_rows=sec.integer("probe_rows", 1000, minimum=0),
        fit_nrmse=sec.number("fit_nrmse", 0.01, positive=True),
        horizon=_parse_horizon(sec, scales, widen),
    )
    sec.done()
    return evaluation


def _parse_resources(sec: Section) -> ResourcesConfig:
    resources = ResourcesConfig(
        train_cpus=sec.integer("train_cpus", 1, minimum=1),
        train_gpus=sec.auto_or("train_gpus", None, lambda v, key: as_float(v, key, minimum=0.0)),
        checkpoint_minutes=sec.number("checkpoint_minutes", CHECKPOINT_MINUTES, minimum=0.0),
    )
    if resources.train_gpus is not None and resources.train_gpus > 1 and not resources.train_gpus.is_integer():
        raise ConfigError(sec.key("train_gpus"), f"use a fraction ≤ 1 or a whole number, got {resources.train_gpus:g}")
    sec.done()
    return resources


def _parse_report(sec: Section) -> ReportConfig:
    formats = sec.items("vector_formats", list(VECTOR_FORMATS), allow_empty=True)
    report = ReportConfig(tuple(as_str(f, sec.key("vector_formats"), VECTOR_FORMATS) for f in formats))
    sec.done()
    return report


def parse_config(raw: Any, default_name: str = "config") -> Config:
    root = Section(raw, "")
    name = root.string("name", default_name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError("name", f"use letters, digits, '.', '_' or '-' only, got {name!r}")
    targets = parse_targets(root.raw("target", "product"), "target")
    data = _parse_data(root.section("data"))
    train_ranges = tuple(_parse_train_range(v, f"train_ranges[{i}]") for i, v in enumerate(root.items("train_ranges")))
    study = expand(root.raw("training", {}), "training", _parse_training, UNSWEPT_TRAINING)
    training = study[0].parsed
    archs = _parse_architectures(root, study)
    evaluation = _parse_evaluation(root.section("evaluation"), targets)
    reproduces = root.raw("reproduces", None)
    config = Config(
        name=name,
        description=root.string("description", ""),
        targets=targets,
        output=root.string("output", f"out/{name}"),
        seeds=_parse_seeds(root.raw("seeds"), "seeds"),
        data=data,
        train_ranges=train_ranges,
        architectures=archs,
        training=training,
        evaluation=evaluation,
        resources=_parse_resources(root.section("resources")),
        reproduces=None if reproduces is None else root.string("reproduces", choices=PAPERS),
        deviations=tuple(listed(root.items("deviations", [], allow_empty=True), "deviations", as_str)),
        training_sweep_json=swept_values(study),
        report=_parse_report(root.section("report")),
    )
    root.done()
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    """Rules that relate several keys."""
    for key, training in [("training", config.training)] + [
        (f"architectures[{a.entry}].training", a.training) for a in config.architectures if a.training
    ]:
        if training.batch_size > config.data.train_size and not training.fresh:
            raise ConfigError(
                f"{key}.batch_size",
                f"batch of {training.batch_size} is larger than the dataset (data.train_size={config.data.train_size})",
            )
    if len({tr.range for tr in config.train_ranges}) != len(config.train_ranges):
        raise ConfigError("train_ranges", "the same training range is listed twice")
    for i, tr in enumerate(config.train_ranges):
        for r in checked_ranges(config, tr):
            problem = check_distribution(config.data.distribution, r)
            if problem:
                raise ConfigError("data.distribution", f"{problem} (train_ranges[{i}] and its evaluation ranges)")
    _check_input_domains(config)
    _check_operation_domains(config)


def _check_input_domains(config: Config) -> None:
    """Every architecture is asked whether it takes the target's inputs, and whether it is
    defined on every range it will see."""
    n_inputs = config.target.n_inputs
    for spec in config.architectures:
        i, arch = spec.entry, registry.get(spec.arch)
        problem = arch.accepts_inputs(spec.params, n_inputs)
        if problem:
            raise ConfigError(f"architectures[{i}]", f"{arch.name}: {problem} (the target {config.target.label()})")
        domain = arch.input_domain(spec.params)
        if domain is None:
            continue
        for j, tr in enumerate(config.train_ranges):
            if not domain.contains(tr.range):
                raise ConfigError(
                    f"train_ranges[{j}]",
                    f"{arch.name} needs {domain.name} inputs, got training range {tr.range.label()}",
                )
            for r in checked_ranges(config, tr):
                if not domain.contains(r):
                    raise ConfigError(
                        f"architectures[{i}]",
                        f"{arch.name} cannot be evaluated on the {domain.outside} range {r.label()} "
                        f"(from train_ranges[{j}])",
                    )


def _check_operation_domains(config: Config) -> None:
    """Every operation is asked whether it is usable on the operands of every range its
    models are trained or evaluated on (division: a divisor away from 0); the diagonal's
    range was asked when it was read."""
    for target in config.targets:
        layout, params, operation = target.target, target.params, target.operation
        for j, tr in enumerate(config.train_ranges):
            for r in checked_ranges(config, tr):
                problem = operation.domain_problem(layout.operand_ranges(params, r))
                if problem:
                    where = "its training range" if r == tr.range else f"the evaluation range {r.label()}"
                    raise ConfigError(f"train_ranges[{j}]", f"{problem} on {where}")


def checked_ranges(config: Config, tr: TrainRange) -> list[Ranges]:
    """Every range models trained on `tr` see: their evaluation ranges and, when the horizon is
    searched, its widest range (every range it searches lies inside it)."""
    horizon = config.evaluation.horizon
    widest = [] if horizon is None else [tr.range.widened(horizon.max_scale, horizon.widen)]
    return list(dict.fromkeys([*evaluation_ranges(config, tr), *widest]))


def evaluation_ranges(config: Config, tr: TrainRange) -> list[Ranges]:
    """The ranges models trained on `tr` are evaluated on, in order, without repeats: the
    training range itself (a union too), its widenings by each scale, then extra ranges."""
    ev = config.evaluation
    widened = [tr.range.widened(s, ev.widen) for s in ev.scales]
    return list(dict.fromkeys([tr.range, *widened, *tr.eval, *ev.ranges]))
