"""The summaries kept at ingest equal a recount of the raw trips, after several ingests, a failed
ingest and a duplicate; and the fine cell stored per trip matches its point."""
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

import core
from conftest import HEADER, row
from core.db import engine
from core.ingest import rollup
from core.synth import generate

_RECOUNT = dict(re.findall(r"-- name: (\w+)\n(.*?)(?=\n-- name:|\Z)",
                           (Path(__file__).parent / "recount.sql").read_text(), re.S))
_KEYS = {
    "daily_counts": "region_id, datasource_id, day",
    "region_datasources": "region_id, datasource_id",
    "flow_counts": "level, region_id, datasource_id, weekend, hour, o_cell, d_cell",
    "area_days": "endpoint, cx, cy, day",
}


def _summed(conn, table: str) -> set:
    extra = ", min(first_ts), max(last_ts)" if table == "region_datasources" else ""
    keys = _KEYS[table]
    return {tuple(r) for r in conn.execute(sa.text(
        f"SELECT {keys}, sum(trips){extra} FROM {table} GROUP BY {keys}"))}


@pytest.mark.parametrize("max_keys", [None, 50], ids=["in-memory", "spilling"])
def test_summaries_equal_a_raw_recount(db_url, write_csv, tmp_path, monkeypatch, max_keys):
    """Pass: every summary, summed by its key, equals a recount of the raw trips, also when the
    counters spill to disk every few keys (a key then has several rows per job)."""
    if max_keys:
        monkeypatch.setattr(rollup, "MAX_KEYS", max_keys)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    generate(str(a), 20_000, seed=1)
    generate(str(b), 5_000, seed=2)
    edge = write_csv(HEADER + row(o=(-180, -90), d=(180, 90), when="1999-12-31 23:59:59")
                     + row(o=(-0.0001, 0.0001), d=(0.01, -0.01), when="2024-02-29 00:00:00"), "edge.csv")
    bad = write_csv(HEADER + row() + "x,POINT (1 2),oops,2018-01-01 00:00:00,s\n", "bad.csv")
    assert core.ingest_file(str(a), url=db_url).status == "completed"
    assert core.ingest_file(str(b), url=db_url).status == "completed"
    assert core.ingest_file(edge, url=db_url).status == "completed"
    assert core.ingest_file(bad, max_bad_rows="0", url=db_url).status == "failed"
    assert core.ingest_file(str(a), url=db_url).status == "duplicate"
    with engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM trips")).scalar() == 25_002
        for table in _KEYS:
            recount = {tuple(r) for r in conn.execute(sa.text(_RECOUNT[table]))}
            assert _summed(conn, table) == recount, table
        misplaced = conn.execute(sa.text(
            "SELECT count(*) FROM trips WHERE o_cell <> floor((ST_X(origin) + 180) / 0.005)::bigint * 100000"
            " + floor((ST_Y(origin) + 90) / 0.005)::bigint")).scalar()
        assert misplaced == 0
