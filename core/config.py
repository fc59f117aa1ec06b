"""Settings, from the environment, with safe defaults. One place for every knob."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"


def _local_cluster_url() -> str:
    # The cluster that `make run` starts (scripts/localpg.sh): a Unix socket under .pgdata/run.
    return f"postgresql+psycopg2://postgres@/trips?host={ROOT / '.pgdata' / 'run'}"


def _env(name: str, default, cast=str):
    raw = os.environ.get(name)
    return default if raw in (None, "") else cast(raw)


def _emails(raw: str) -> tuple[str, ...]:
    return tuple(e.strip().lower() for e in raw.split(",") if e.strip())


@dataclass(frozen=True)
class Settings:
    """Each setting: environment variable TRIPS_<NAME> (DATABASE_URL, LOADER_DATABASE_URL and
    READER_DATABASE_URL for the database)."""

    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", _local_cluster_url()),
                              metadata={"help": "SQLAlchemy URL of the PostGIS database, as its owner "
                                                "(migrations)"})
    loader_database_url: str = field(
        default_factory=lambda: _env("LOADER_DATABASE_URL", None) or _env("DATABASE_URL", _local_cluster_url()),
        metadata={"help": "URL as a member of trips_loader (ingest, jobs); default DATABASE_URL"})
    reader_database_url: str = field(
        default_factory=lambda: _env("READER_DATABASE_URL", None) or _env("DATABASE_URL", _local_cluster_url()),
        metadata={"help": "URL as a member of trips_reader (the dashboard's queries); default DATABASE_URL"})
    workers: int = field(default_factory=lambda: _env("TRIPS_WORKERS", 2, int),
                         metadata={"help": "ingest jobs run at once by a JobManager"})
    batch_rows: int = field(default_factory=lambda: _env("TRIPS_BATCH_ROWS", 25_000, int),
                            metadata={"help": "records parsed and sent to COPY per batch"})
    max_line_bytes: int = field(default_factory=lambda: _env("TRIPS_MAX_LINE_BYTES", 1 << 20, int),
                                metadata={"help": "a physical line longer than this fails the file"})
    max_bad_rows: str = field(default_factory=lambda: _env("TRIPS_MAX_BAD_ROWS", "1%"),
                              metadata={"help": "default rejects allowed per file: N rows or P%"})
    progress_seconds: float = field(default_factory=lambda: _env("TRIPS_PROGRESS_SECONDS", 0.5, float),
                                    metadata={"help": "how often a running job writes its progress"})
    raw_groups_ask: int = field(default_factory=lambda: _env("TRIPS_RAW_GROUPS_ASK", 2_000_000, int),
                                metadata={"help": "past this many trips, the page asks before counting groups "
                                                  "from raw trips (0.5 km cells, date ranges) with no region"})
    query_timeout_ms: int = field(default_factory=lambda: _env("TRIPS_QUERY_TIMEOUT_MS", 30_000, int),
                                  metadata={"help": "statement_timeout of every answer's read queries, the page's and the CLI's (0: the role's own)"})
    compact_share: float = field(default_factory=lambda: _env("TRIPS_COMPACT_SHARE", 0.2, float),
                                 metadata={"help": "compaction is due once the trips loaded since the last one "
                                                   "are this share of those it folded (the first: any); a "
                                                   "JobManager then compacts after a load (0: never)"})
    list_min_trips: int = field(default_factory=lambda: _env("TRIPS_LIST_MIN_TRIPS", 100_000, int),
                                metadata={"help": "compaction keeps the top groups of regions with at least this "
                                                  "many trips; a smaller region's groups are counted from its trips"})
    uploaders: tuple[str, ...] | None = field(
        default_factory=lambda: _env("TRIPS_UPLOADERS", None, _emails),
        metadata={"help": "comma-separated emails of the signed-in users (st.login) who may load data "
                          "in the dashboard; unset: everyone may. Everyone may explore either way"})

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}


def settings() -> Settings:
    return Settings()


def may_upload(email: str | None, uploaders: tuple[str, ...] | None) -> bool:
    """Whether a dashboard user may load data.

    ``email``: the signed-in user's (None when nobody is signed in); ``uploaders``: the
    ``uploaders`` setting (None when TRIPS_UPLOADERS is unset: everyone may). Emails compare
    without regard to case or surrounding spaces.
    """
    if uploaders is None:
        return True
    return bool(email and email.strip().lower() in uploaders)
