"""Errors for people: each says which file, which line and why."""
from __future__ import annotations


class TripsError(Exception):
    """Something went wrong in the trips dashboard."""


class FileRejected(TripsError):
    """The file cannot be loaded as a whole (not a CSV of trips, broken quoting, bad header)."""

    def __init__(self, file_name: str, reason: str, line: int | None = None):
        self.file_name, self.reason, self.line = file_name, reason, line
        where = f"{file_name}, line {line}" if line else file_name
        super().__init__(f"{where}: {reason}")


class TooManyBadRows(TripsError):
    """More rows were rejected than --max-bad-rows allows; nothing of the file was loaded."""


class JobCancelled(TripsError):
    """The job was cancelled on request; nothing of the file was loaded."""


class InvalidFilter(TripsError, ValueError):
    """A filter value is not acceptable (an unknown cell size, a box with west > east, ...)."""
