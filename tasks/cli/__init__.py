"""What the entry points share: arguments, guarded commands, the dry run."""
