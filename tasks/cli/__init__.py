"""The command line: `mlab` and its commands (main, parsers, commands), shared arguments, the
start-up and Ctrl-C guards, the dry run, `ls` output, shell completion, version, quiet TensorFlow."""
