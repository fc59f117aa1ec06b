"""Tests run against a real PostGIS: the project's own cluster (started here if needed) or the
server of DATABASE_URL. Each test gets a fresh database cloned from a template built once."""
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import core
from core.db import create_database, dispose_all, drop_database

ROOT = Path(__file__).resolve().parent.parent
# The tests' data are small: compaction keeps the lists of every region, however few its trips
# (the tests of small regions set their own threshold). Subprocesses inherit it.
os.environ.setdefault("TRIPS_LIST_MIN_TRIPS", "0")


def _server_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    subprocess.run([str(ROOT / "scripts" / "localpg.sh"), "start"], check=True)
    return subprocess.run([str(ROOT / "scripts" / "localpg.sh"), "url"], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session")
def template_db():
    server = _server_url()
    name = f"trips_test_tpl_{uuid.uuid4().hex[:8]}"
    core.migrate(create_database(server, name))
    dispose_all()  # a template must have no open connections
    yield server, name
    dispose_all()
    drop_database(server, name)


@pytest.fixture
def db_url(template_db):
    """The URL of a fresh, empty database with the schema applied."""
    server, tpl = template_db
    name = f"trips_test_{uuid.uuid4().hex[:10]}"
    yield create_database(server, name, template=tpl)
    dispose_all()
    drop_database(server, name)


@pytest.fixture
def counted(monkeypatch):
    """Fine groups of regions and datasources named together counted in full, never from the
    groups of one kept list (core/groups_within.py): naming every region and datasource then gives
    the aggregated answer, with its exact number of groups, to compare another answer with."""
    import core.groups
    monkeypatch.setattr(core.groups, "within_list", lambda c, params, **kw: None)


@pytest.fixture
def month_lists_only(monkeypatch):
    """Groups over a date range never read from the month counts of the lists of all dates
    (core/groups_months.py, core/groups_hours.py): the tests of the month lists and their proofs see
    those answer."""
    import core.groups
    monkeypatch.setattr(core.groups, "month_counted", lambda c, params: None)
    monkeypatch.setattr(core.groups, "months_hours_summed", lambda c, params: None)


@pytest.fixture
def slow_copy(monkeypatch):
    """The COPY's pipe waits 0.2 s before each MB it hands PostgreSQL: a job of a few 100k rows
    stays running for seconds on any machine, however fast, so a test can cancel it mid-load."""
    from core.ingest import load
    read = load._Pipe.read

    def slow_read(self, size=-1):
        time.sleep(0.2)
        return read(self, size)
    monkeypatch.setattr(load._Pipe, "read", slow_read)


@pytest.fixture
def write_csv(tmp_path):
    """Write a CSV (text or bytes) and return its path."""
    def write(content, name="trips.csv"):
        p = tmp_path / name
        if isinstance(content, str):
            p.write_text(content, encoding="utf-8", newline="")
        else:
            p.write_bytes(content)
        return str(p)
    return write


def sql_rows(url, sql):
    """Every row of ``sql`` run on ``url`` (an engine of its own, disposed: no pooled connection
    outlives the call, so the test database can be dropped)."""
    from sqlalchemy import create_engine, text
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return c.execute(text(sql)).all()
    finally:
        eng.dispose()


def sql_value(url, sql="SELECT count(*) FROM trips"):
    """The single value of ``sql`` (by default: the trips stored)."""
    return sql_rows(url, sql)[0][0]


HEADER = "region,origin_coord,destination_coord,datetime,datasource\n"


def row(region="Prague", o=(14.4, 50.0), d=(14.5, 50.1), when="2018-05-28 09:03:40", source="funny_car"):
    return f"{region},POINT ({o[0]} {o[1]}),POINT ({d[0]} {d[1]}),{when},{source}\n"
