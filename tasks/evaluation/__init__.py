"""Evaluation of trained models: error metrics and the per-bundle evaluation (pure)."""
