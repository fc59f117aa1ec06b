"""The trips analytics core: the one facade the dashboard, the CLI and the tests call.

Ingestion::

    ingest_file(path, max_bad_rows="1%", force=False) -> JobResult
    bad_row_limit(text) -> str                     # "100", "1%"; ValueError says why not
    JobManager().submit(path) -> job_id            # background workers (the dashboard)
    jobs(), job(job_id), rejects(job_id), cancel_job(job_id)
    JobWatcher()                                   # LISTEN/NOTIFY -> threading.Condition

Analytics (exact, from summaries kept current at ingest)::

    trip_groups(cell="medium", bucket_hours=1, regions=..., ...) -> dict
    weekly_average(region=... | bbox=(west, south, east, north), by="origin", ...) -> dict
    bonus_answers() -> dict
    stats(), regions(), datasources(), hour_totals(), origin_cells(), region_extents()

Every function takes ``url`` (an SQLAlchemy URL), which wins over the environment. Without it,
each works as the least privileged database user that can (``core.db.role_url``): ``migrate`` as
the owner (``DATABASE_URL``); ingestion, ``jobs`` (which reaps), ``cancel_job`` and
``reap_interrupted`` as the loader (``LOADER_DATABASE_URL``); every other read and the
``JobWatcher``'s LISTEN as the reader (``READER_DATABASE_URL``). Both default to
``DATABASE_URL``, then the local cluster of ``make run``. Heavy libraries are imported only by the
functions that need them.
"""
from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, Iterator

from .errors import (FileRejected, InvalidFilter, JobCancelled, QueryTooSlow, RawCountNeeded, TooManyBadRows,
                     TripsError)

if TYPE_CHECKING:
    from .events import JobWatcher
    from .ingest.jobs import JobResult
    from .jobmanager import JobManager

__all__ = [
    "migrate", "changed_migrations", "ingest_file", "bad_row_limit", "JobManager", "JobWatcher", "jobs", "job", "rejects", "cancel_job",
    "reap_interrupted", "stats", "regions", "datasources", "hour_totals", "origin_cells", "region_extents",
    "trip_groups", "groups_count", "weekly_average", "bonus_answers", "data_version", "compact_summaries",
    "compaction_due",
    "TripsError", "FileRejected", "TooManyBadRows", "JobCancelled", "InvalidFilter", "QueryTooSlow", "RawCountNeeded",
]


def _url(role: str, url: str | None) -> str:
    from .db import role_url
    return role_url(role, url)


def _engine(role: str, url: str | None):
    from .db import engine
    return engine(_url(role, url))


def migrate(url: str | None = None) -> list[str]:
    """Apply the schema (sql/NN_*.sql) not yet applied; returns the files applied."""
    from .db import migrate as _migrate
    return _migrate(_url("owner", url))


def changed_migrations(url: str | None = None) -> list[str]:
    """Applied schema files that have changed since they were applied (never applied twice)."""
    from .db import changed_migrations as _changed
    return _changed(_url("owner", url))


# -- ingestion --------------------------------------------------------------------------------

def ingest_file(path: str, *, file_name: str | None = None, max_bad_rows: str | None = None,
                force: bool = False, source: str = "cli", url: str | None = None) -> "JobResult":
    """Ingest one CSV (or gzip CSV) file in this thread, atomically; returns its outcome.
    Raises TripsError when the database user may not load data."""
    from psycopg2.errors import InsufficientPrivilege

    from .db import not_a_loader
    from .ingest.jobs import ingest_file as _ingest
    try:
        return _ingest(path, file_name=file_name, max_bad_rows=max_bad_rows, force=force,
                       source=source, url=_url("loader", url))
    except InsufficientPrivilege as e:  # the job could not even be created
        raise not_a_loader(e) from e


def bad_row_limit(text: str) -> str:
    """A bad-row limit (``max_bad_rows``) as the loader reads it: "100" rows or "1%" of them.
    Raises ValueError, saying why, for anything else (a page checks it as it is typed)."""
    from .ingest.load import BadRowLimit
    return str(BadRowLimit.parse(text))


def __getattr__(name: str):
    if name == "JobManager":
        from .jobmanager import JobManager
        return JobManager
    if name == "JobWatcher":
        from .events import JobWatcher
        return JobWatcher
    raise AttributeError(name)


def _job_dict(row) -> dict[str, Any]:
    d = dict(row)
    for k in ("created_at", "started_at", "updated_at", "finished_at"):
        if d.get(k) is not None:
            d[k] = d[k].isoformat()
    return d


def jobs(limit: int = 100, url: str | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` jobs and any still queued or running, newest first (jobs of dead
    processes are marked interrupted first)."""
    from .queries import query
    reap_interrupted(url)
    with _engine("loader", url).connect() as c:
        return [_job_dict(r) for r in c.execute(query("jobs_list"), {"limit": limit}).mappings()]


def job(job_id: int, url: str | None = None) -> dict[str, Any] | None:
    from .queries import query
    with _engine("reader", url).connect() as c:
        row = c.execute(query("job_get"), {"job_id": job_id}).mappings().first()
    return _job_dict(row) if row else None


REJECT_FIELDS = ("line", "column", "reason", "message", "raw")


def iter_rejects(job_id: int, limit: int | None = None, url: str | None = None) -> Iterator[dict[str, Any]]:
    """The rejected records of a job, by line: line, column, reason, message, raw. Read from a
    server-side cursor a thousand at a time: a job may have millions (1 % of 100M rows), and
    memory stays flat however many."""
    from .queries import query
    with _engine("reader", url).connect() as c:
        rows = c.execution_options(stream_results=True, yield_per=1_000).execute(
            query("job_rejects"), {"job_id": job_id, "limit": limit}).mappings()
        for r in rows:
            yield {"line": r["line"], "column": r["column_name"], "reason": r["reason"],
                   "message": r["message"], "raw": r["raw"]}


def rejects(job_id: int, limit: int | None = None, url: str | None = None) -> list[dict[str, Any]]:
    """The rejected records of a job, by line, as a list (iter_rejects: one at a time)."""
    return list(iter_rejects(job_id, limit, url))


def write_rejects_csv(job_id: int, out: IO[str], url: str | None = None) -> int:
    """Write a job's rejected records to ``out`` as CSV (a header, then REJECT_FIELDS by line),
    one at a time; returns how many."""
    import csv
    writer = csv.DictWriter(out, fieldnames=REJECT_FIELDS)
    writer.writeheader()
    n = 0
    for n, row in enumerate(iter_rejects(job_id, url=url), 1):
        writer.writerow(row)
    return n


def cancel_job(job_id: int, url: str | None = None) -> str | None:
    """Ask a queued or running job to stop; returns its status, or None if it had ended."""
    from .ingest.jobs import cancel_job as _cancel
    return _cancel(job_id, _url("loader", url))


def reap_interrupted(url: str | None = None) -> list[int]:
    """Mark as interrupted the jobs whose process died; returns their ids."""
    from .ingest.jobs import reap_interrupted as _reap
    return _reap(_url("loader", url))


# -- totals -----------------------------------------------------------------------------------

def stats(url: str | None = None) -> dict[str, Any]:
    """Trips stored, regions, datasources, first and last datetime."""
    from .totals import stats as _stats
    return _stats(_engine("reader", url))


def regions(url: str | None = None) -> list[str]:
    return stats(url)["regions"]


def datasources(url: str | None = None) -> list[str]:
    return stats(url)["datasources"]


def hour_totals(url: str | None = None) -> list[dict]:
    from .totals import hour_totals as _hours
    return _hours(_engine("reader", url))


def origin_cells(url: str | None = None, most: int | None = None) -> list[dict]:
    """Trips by the cell of their origin, of every date: where trips start (the maps' underlay);
    see :func:`core.totals.origin_cells`."""
    from .totals import ORIGIN_CELLS_MOST, origin_cells as _cells
    return _cells(_engine("reader", url), most or ORIGIN_CELLS_MOST)


def region_extents(url: str | None = None) -> dict:
    from .totals import region_extents as _extents
    return _extents(_engine("reader", url))


def data_version(url: str | None = None) -> str:
    """Changes whenever a job completes: a cache key for answers."""
    from .queries import query
    with _engine("reader", url).connect() as c:
        return str(c.execute(query("data_version")).scalar())


# -- analytics --------------------------------------------------------------------------------

def trip_groups(**kwargs) -> dict[str, Any]:
    """Similar-trip groups; see :func:`core.groups.trip_groups`."""
    from .groups import trip_groups as _groups
    url = kwargs.pop("url", None)
    return _groups(_engine("reader", url), **kwargs)


def groups_count(res: dict[str, Any]) -> str:
    """A groups answer's number of groups for people; see :func:`core.groups.groups_count`."""
    from .groups import groups_count as _count
    return _count(res)


def weekly_average(**kwargs) -> dict[str, Any]:
    """Weekly average trips for a region or a box; see :func:`core.weekly.weekly_average`."""
    from .weekly import weekly_average as _weekly
    url = kwargs.pop("url", None)
    return _weekly(_engine("reader", url), **kwargs)


def bonus_answers(url: str | None = None) -> dict[str, Any]:
    """The two bonus questions (sql/03_bonus_queries.sql)."""
    from .bonus import bonus_answers as _bonus
    return _bonus(_engine("reader", url))


# -- upkeep ----------------------------------------------------------------------------------------

def compact_summaries(url: str | None = None, progress=None) -> dict[str, dict[str, int]]:
    """Fold the summaries' per-job rows into one row per key, as the owner (answers unchanged);
    rows of each table before and after. See sql/queries/compact.sql."""
    from .compact import compact_summaries as _compact
    return _compact(_url("owner", url), progress)


def compaction_due(url: str | None = None) -> bool:
    """Whether compaction is due (TRIPS_COMPACT_SHARE); see :func:`core.compact.compaction_due`."""
    from .compact import compaction_due as _due
    return _due(_url("owner", url))
