"""Thin jobs: read inputs through the artifact catalog, call a pure core, write outputs and
the manifest last. Each runs inside a Ray task (tasks.cluster.remote) and can be called
directly in tests. A job that finds its artifact complete returns it without work."""
