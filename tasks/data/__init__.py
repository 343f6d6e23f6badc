"""Data: sampling, dataset specs and the deterministic contents of each shard."""
