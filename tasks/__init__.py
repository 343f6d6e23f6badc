"""multiplication-lab: the Ray tasks and the domain code they run.

pipeline.py   run_study: the DAG, top to bottom
core/         shared vocabulary (errors, ids, ranges, config reader, machine facts)
study/        config format, plan, bundles and evaluation jobs
data/         sampling, dataset specs, shard contents
model/        architectures (registry, units, plugins), trainer, optimizers, batches, inference
evaluation/   metrics and the evaluation of trained models
store/        storage, output directories, the artifact catalog
jobs/         thin IO jobs run inside Ray tasks
cluster/      Ray: remote tasks, placement, orchestration, runtime, progress
report/       summaries, figures, tables, the report page
nightly/      headline metrics, comparison, history, one night, its page
cli/          `mlab`: every command's parser, guarded commands, the dry run, completion
bench/        the benchmark harness
"""
