"""The Ray layer: remote tasks, placement, orchestration, the runtime connection, progress."""
