"""Storage: every read and write (pyarrow.fs), output directories, and the artifact catalog."""
