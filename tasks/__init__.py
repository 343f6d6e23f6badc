"""multiplication-lab: the Ray tasks and the domain code they run.

The packages, bottom to top; a module imports only from its own package and those below it,
and no imports form a cycle (tests/test_layering.py holds every import to it):

    core → data → model → evaluation → study → store → report → jobs → cluster → pipeline → nightly → api → bench → cli

core/         shared vocabulary (errors, ids, ranges, config reader, machine facts)
data/         sampling, dataset specs, shard contents, targets
model/        architectures (registry, units, plugins), trainer, optimizers, batches, inference
evaluation/   metrics, success rules, intervals, evaluation jobs and the evaluation of trained models
study/        config format, plan, bundles
store/        storage, output directories, the artifact catalog
report/       aggregates and summaries (the reduce's pure core), figures, tables, the report page
jobs/         thin IO jobs run inside Ray tasks (they wrap data, model, evaluation and report)
cluster/      Ray: remote tasks, placement, orchestration, runtime, progress
pipeline.py   run_study: the DAG, top to bottom
nightly/      headline metrics, comparison, history, one night, its page
api.py        the Python API over a finished study
bench/        the benchmark harness
cli/          `mlab`: every command's parser, guarded commands, the dry run, completion
"""

LAYERS = (
    "core",
    "data",
    "model",
    "evaluation",
    "study",
    "store",
    "report",
    "jobs",
    "cluster",
    "pipeline",
    "nightly",
    "api",
    "bench",
    "cli",
)
