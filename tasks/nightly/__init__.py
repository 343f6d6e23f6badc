"""Nightly reports: headline metrics, comparison, history, one night and its page."""
