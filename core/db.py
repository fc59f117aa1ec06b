"""Engine, connections and migrations.

Migrations are the files ``sql/NN_*.sql``, applied in order, each once, each in its own
transaction, and recorded in ``schema_migrations``.
"""
from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from .config import SQL_DIR, settings
from .errors import TripsError

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_MIGRATION_LOCK = 7311  # advisory lock key: one migrator at a time


ROLES = ("owner", "loader", "reader")


def role_url(role: str, url: str | None = None) -> str:
    """The URL for one kind of work; an explicit ``url`` wins over the environment.

    ``owner``: migrations (DATABASE_URL); ``loader``: ingest, jobs, cancel, reap
    (LOADER_DATABASE_URL); ``reader``: the analytics and job queries, LISTEN
    (READER_DATABASE_URL). The last two default to DATABASE_URL. Read at call time.
    """
    if url:
        return url
    s = settings()
    if role == "owner":
        return s.database_url
    if role == "loader":
        return s.loader_database_url
    if role == "reader":
        return s.reader_database_url
    raise ValueError(f"unknown database role {role!r}; one of {', '.join(ROLES)}")


def not_a_loader(error: Exception) -> TripsError:
    """A people's message for a permission error met while loading (the URL's user is not a
    member of trips_loader, e.g. the reader's URL given as LOADER_DATABASE_URL)."""
    diag = getattr(error, "diag", None)
    detail = getattr(diag, "message_primary", None) or str(error).strip().splitlines()[0]
    return TripsError(f"this database user may not load data ({detail}): LOADER_DATABASE_URL (or the "
                      "url given) must be the owner or a member of trips_loader")


def database_url(url: str | None = None) -> str:
    """The owner's URL (DATABASE_URL) unless ``url`` is given."""
    return role_url("owner", url)


def engine(url: str | None = None) -> Engine:
    """One pooled engine per database URL, shared by the whole process."""
    url = database_url(url)
    with _lock:
        if url not in _engines:
            _engines[url] = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        return _engines[url]


@contextmanager
def snapshot(eng: Engine) -> Iterator:
    """A connection whose statements all read one snapshot (REPEATABLE READ, READ ONLY): an
    answer built from several statements never mixes data from before and after a job's commit.
    Each statement runs for TRIPS_QUERY_TIMEOUT_MS at most (or less, if the role says so)."""
    from sqlalchemy.exc import OperationalError

    from .errors import QueryTooSlow
    from .queries import query
    with eng.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True) as c:
        c.execute(query("statement_timeout_at_most"), {"ms": settings().query_timeout_ms})
        try:
            yield c
        except OperationalError as e:
            if getattr(e.orig, "pgcode", None) != _QUERY_CANCELED:
                raise
            raise QueryTooSlow(
                f"the database stopped this answer at its time limit (TRIPS_QUERY_TIMEOUT_MS = "
                f"{settings().query_timeout_ms} ms, or the database role's statement_timeout if lower). "
                "Narrow it (a region, fewer days, larger cells), or compact the summaries "
                "(python -m core compact) if many files were loaded.") from e


_QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout (or a cancel)


def dispose_all() -> None:
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()


def psycopg_dsn(url: str | None = None) -> str:
    """The libpq connection string of a SQLAlchemy URL (for raw psycopg2 connections), its query's
    libpq parameters (sslmode, options, connect_timeout...) kept as SQLAlchemy's connections get them."""
    u = make_url(database_url(url))
    parts = {
        "dbname": u.database, "user": u.username, "password": u.password,
        "host": u.host or u.query.get("host"), "port": u.port or u.query.get("port"),
    }
    for k, v in u.query.items():
        parts.setdefault(k, v if isinstance(v, str) else v[-1])
    return " ".join(f"{k}='{_quote(str(v))}'" for k, v in parts.items() if v)


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace("'", "\\'")


@contextmanager
def raw_connection(url: str | None = None, autocommit: bool = False) -> Iterator:
    """A dedicated psycopg2 connection (not from the pool): COPY, LISTEN, progress writers."""
    import psycopg2

    conn = psycopg2.connect(psycopg_dsn(url), application_name="trips")
    conn.autocommit = autocommit
    try:
        yield conn
    finally:
        conn.close()


def migration_files() -> list:
    return sorted(p for p in SQL_DIR.glob("[0-9][0-9]_*.sql"))


def migrate(url: str | None = None) -> list[str]:
    """Apply the migrations not yet applied; return their file names."""
    applied: list[str] = []
    with raw_connection(url) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, sha256 text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.commit()
            cur.execute("SELECT name FROM schema_migrations")
            done = {r[0] for r in cur.fetchall()}
            for path in migration_files():
                if path.name in done:
                    continue
                body = path.read_text()
                cur.execute(body)
                cur.execute(
                    "INSERT INTO schema_migrations (name, sha256) VALUES (%s, %s)",
                    (path.name, _checksum(body)),
                )
                conn.commit()
                applied.append(path.name)
            cur.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
            conn.commit()
    return applied


def changed_migrations(url: str | None = None) -> list[str]:
    """The applied migrations whose file has changed since (they are not applied again: a change
    to the schema goes into a new file)."""
    with raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, sha256 FROM schema_migrations")
        recorded = dict(cur.fetchall())
    return [p.name for p in migration_files() if p.name in recorded and _checksum(p.read_text()) != recorded[p.name]]


def _checksum(body: str) -> str:
    """What schema_migrations records of a migration file's text."""
    return hashlib.sha256(body.encode()).hexdigest()


def url_for_database(url: str | None, name: str) -> str:
    """The same server's URL, pointing at database ``name``."""
    return make_url(database_url(url)).set(database=name).render_as_string(hide_password=False)


def create_database(url: str | None, name: str, template: str | None = None) -> str:
    """Create database ``name`` on the server of ``url`` (optionally cloned from ``template``);
    returns its URL. For throwaway databases of tests and benchmarks."""
    from psycopg2 import sql as pgsql

    stmt = pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name))
    if template:
        stmt = pgsql.SQL("{} TEMPLATE {}").format(stmt, pgsql.Identifier(template))
    with raw_connection(url_for_database(url, "postgres"), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(stmt)
    return url_for_database(url, name)


def drop_database(url: str | None, name: str) -> None:
    """Drop database ``name`` on the server of ``url``, closing its sessions."""
    from psycopg2 import sql as pgsql

    with raw_connection(url_for_database(url, "postgres"), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
