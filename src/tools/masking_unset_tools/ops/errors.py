"""The two ways an operational command ends badly, each with its exit code."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


class CommandError(Exception):
    """A failure to report in one line: the message is caller-safe (no number, no secret)."""

    exit_code = EXIT_FAILED

    @property
    def message(self) -> str:
        """The one-line explanation."""
        return str(self.args[0]) if self.args else type(self).__name__


class OperationFailed(CommandError):
    """The operation ran and failed (exit code 1)."""

    exit_code = EXIT_FAILED


class UsageError(CommandError):
    """Bad arguments, input files or configuration (exit code 2)."""

    exit_code = EXIT_USAGE
