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

    @classmethod
    def of(cls, file_name: str) -> "JobCancelled":
        return cls(f"{file_name}: cancelled; nothing of the file was loaded")


class InvalidFilter(TripsError, ValueError):
    """A filter value is not acceptable (an unknown cell size, a box with west > east, ...)."""


class RawCountNeeded(TripsError):
    """The answer would count more raw trips than the caller allowed (``count_raw_above``): the
    caller asks its user first. ``trips`` is how many it would count at most: those of the period
    (every trip stored without dates) among the trips compaction copied (trip_times), and every
    trip of the jobs not copied yet (before a compaction of this version: all of them); or
    (``since_compaction``) those loaded since the last compaction, added to its kept groups."""

    def __init__(self, trips: int, since_compaction: bool = False):
        self.trips, self.since_compaction = trips, since_compaction
        super().__init__(f"these groups are counted from {trips:,} raw trips"
                         + (" loaded since the last compaction" if since_compaction else ""))


class QueryTooSlow(TripsError):
    """An answer ran past its time limit (statement_timeout: TRIPS_QUERY_TIMEOUT_MS, or the
    role's own if lower) and was stopped by the server."""


# SQLSTATE class 53, "insufficient resources": the server is short of something. psycopg2 raises
# these as OperationalError, the class of a dropped connection, so they are told apart by code.
_SHORT_OF = {
    "53100": "the database ran out of disk space",
    "53200": "the database ran out of memory",
    "53300": "the database has too many connections open",
    "53400": "the database reached one of its configured limits",
}


# What libpq says when the server closed the connection under it (psycopg2 raises these with no
# SQLSTATE; a COPY's "terminating connection due to administrator command" is lost on the way).
_CLOSED_BY_SERVER = ("invalid socket", "server closed the connection unexpectedly", "connection already closed",
                     "no connection to the server", "SSL SYSCALL error: EOF detected")


def database_trouble(e: Exception) -> str:
    """What a database error (a ``psycopg2.Error``) means, in words, with the server's first line
    in brackets; the caller adds the file name and what was loaded."""
    import psycopg2

    text = (getattr(e, "pgerror", None) or str(e)).strip()
    detail = text.splitlines()[0] if text else repr(e)
    code = getattr(e, "pgcode", None) or ""
    if code in _SHORT_OF:
        return f"{_SHORT_OF[code]} ({detail})"
    if code.startswith("53"):
        return f"the database ran out of resources ({detail})"
    if code == "57014":  # query_canceled: statement_timeout, or a cancel from another session
        return f"the database stopped a statement at its time limit or on request ({detail})"
    if "too many clients" in text or "connection slots are reserved" in text:
        # refused at connect time: libpq gives no SQLSTATE, only the server's sentence
        return f"{_SHORT_OF['53300']} ({detail})"
    if isinstance(e, psycopg2.OperationalError):
        if any(m in text for m in _CLOSED_BY_SERVER):  # libpq's own words: the socket was closed on it
            return f"lost the connection to the database: the server closed it (restarted, or the session was " \
                   f"ended by an administrator) ({detail})"
        return f"lost the connection to the database ({detail})"
    return detail
