"""Errors a user can act on: each names the file, the line and what was expected."""

from __future__ import annotations

from pathlib import Path


class RungsError(Exception):
    """Base class for errors that the CLI reports without a traceback."""


class InputError(RungsError):
    """Bad input data: which file, which line (if any), what was expected."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # a stage built in a process of its own raises it again in the caller's
        return type(self), (self.path, self.message, self.line), self.__dict__  # RowError keeps its kind


class ConfigError(RungsError):
    """A configuration that cannot work, with the key at fault."""


class StoreError(RungsError):
    """A missing or unresolvable artifact reference, or a store invariant broken."""
