"""User-facing errors: the entry points print these as one line and exit non-zero."""


class UserError(Exception):
    """A problem the user can fix (bad config, bad path, bad flag). Printed without traceback."""


class ConfigError(UserError):
    """A config value is unknown, of the wrong type or impossible."""

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"config error at '{key}': {reason}")

    def __reduce__(self):  # pickled by its own arguments: raised inside a Ray task, it reaches the driver intact
        return type(self), (self.key, self.reason)


class StorageError(UserError):
    """An output location cannot be used (unwritable, unknown scheme, unrelated contents...)."""


class CorruptArtifactError(StorageError):
    """A stored artifact does not match its manifest (size or checksum), or is missing.

    `directory` is the artifact whose manifest must no longer be trusted (store-relative);
    the driver removes that manifest so the next run regenerates the artifact."""

    def __init__(self, message: str, directory: str | None = None):
        super().__init__(message)
        self.directory = directory

    def __reduce__(self):
        return type(self), (str(self), self.directory)
