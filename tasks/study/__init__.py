"""The study: its config format, the plan of datasets and models, bundles and evaluation jobs."""
