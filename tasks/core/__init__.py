"""Shared vocabulary of every stage: errors, content ids, ranges, the config reader, machine facts."""
