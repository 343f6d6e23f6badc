"""Models: the architecture interface and registry, shipped units, plugins, and vectorized training."""
