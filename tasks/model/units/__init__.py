"""The shipped architectures, one module per family; each registers itself in
tasks.model.registry when that module imports this package."""
