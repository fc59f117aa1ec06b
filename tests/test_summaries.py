"""The summaries kept at ingest equal a recount of the raw trips, after several ingests, a failed
ingest and a duplicate; and the fine cell stored per trip matches its point."""
import contextlib
import datetime as dt
import itertools
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings as hsettings, strategies as st

import core
from conftest import HEADER, row, sql_rows
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
    extra = (", min(first_ts), max(last_ts), min(cx0), min(cy0), max(cx1), max(cy1)"
             if table == "region_datasources" else "")
    keys = _KEYS[table]
    return {tuple(r) for r in conn.execute(sa.text(
        f"SELECT {keys}, sum(trips){extra} FROM {table} GROUP BY {keys}"))}


@pytest.mark.parametrize("max_keys", [None, 50], ids=["in-memory", "spilling"])
def test_summaries_equal_a_raw_recount(db_url, write_csv, tmp_path, monkeypatch, max_keys):
    """Pass: every summary, summed by its key, equals a recount of the raw trips, also when the
    counters spill to disk every few keys; either way each key has one row per job."""
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
        for table, keys in _KEYS.items():
            recount = {tuple(r) for r in conn.execute(sa.text(_RECOUNT[table]))}
            assert _summed(conn, table) == recount, table
            assert conn.execute(sa.text(f"SELECT count(*) FROM (SELECT 1 FROM {table} GROUP BY job_id, {keys} "
                                        "HAVING count(*) > 1) d")).scalar() == 0, table
        misplaced = conn.execute(sa.text(
            "SELECT count(*) FROM trips CROSS JOIN LATERAL (VALUES (origin, o_cell), (destination, d_cell)) e(p, cell)"
            " WHERE cell <> least(floor((ST_X(p)::numeric + 180) / 0.005)::bigint, 71999) * 100000"
            " + least(floor((ST_Y(p)::numeric + 90) / 0.005)::bigint, 35999)")).scalar()
        assert misplaced == 0


@pytest.mark.parametrize("merge_rows", [1, 2, 3, 1024])
def test_sorted_partitions_merge_into_one_ordered_stream(monkeypatch, merge_rows):
    """Pass: blocks sorted by their first column, first values disjoint between blocks (as the
    spilled partitions are), some empty or of one row, come out as every row once, in order,
    whatever the number of rows read from each block at a time."""
    import numpy as np
    monkeypatch.setattr(rollup, "_MERGE_ROWS", merge_rows)
    rng = np.random.default_rng(merge_rows)
    firsts = rng.permutation(400)
    rows = []
    with rollup._Sorted() as merged:
        for part in (firsts[:0], firsts[:1], firsts[1:150], firsts[150:151], firsts[151:]):
            part = np.sort(np.repeat(part, rng.integers(1, 4, len(part))))  # equal first keys stay in one block
            second = np.arange(len(part), dtype=np.int64)
            merged.write([part.astype(np.int64), second, second * 7])
            rows += list(zip(part.tolist(), second.tolist(), (second * 7).tolist()))
        out = [tuple(int(c[i]) for c in cols) for cols in merged.merged() for i in range(len(cols[0]))]
    assert sorted(out) == sorted(rows) and [r[0] for r in out] == sorted(r[0] for r in rows)


@pytest.mark.parametrize("keys,merge_rows", [(1, 50), (2, 50)])
def test_a_spilled_summary_comes_out_once_per_key_in_key_order(monkeypatch, keys, merge_rows):
    """A counter past its memory bound spills to disk, and still yields each key once with its
    sum, sorted by the first key column (the BRIN on area_days relies on a job's rows in key order)."""
    import numpy as np
    monkeypatch.setattr(rollup, "_MERGE_ROWS", merge_rows)  # merge a few rows of each partition at a time
    rng = np.random.default_rng(5)
    counter, expected = rollup._Counter((np.add,), max_keys=40), {}
    for _ in range(12):  # merged past 100k rows pending, then spilled
        cols = [rng.integers(0, 1_000_000 if keys == 1 else 1000, 20_000, dtype=np.int64) for _ in range(keys)]
        ones = rng.integers(1, 4, 20_000, dtype=np.int64)
        for *k, n in zip(*(c.tolist() for c in cols), ones.tolist()):
            expected[tuple(k)] = expected.get(tuple(k), 0) + n
        counter.add(cols, [ones])
    assert counter._spilled is not None
    out = list(counter.finish())
    got = [(tuple(int(c[i]) for c in k), int(v[0][i])) for k, v in out for i in range(len(v[0]))]
    assert len(out) > 1 and dict(got) == expected and len(got) == len(expected)
    assert [k for k, _ in got] == sorted(k for k, _ in got)


@pytest.mark.parametrize("mix", ["real", "colliding"])
def test_a_counter_of_two_key_columns_yields_each_key_once_in_key_order(monkeypatch, mix):
    """Batches are counted in the order of a mix of their key columns (quicker than sorting them);
    the counter still yields each key once with its sum and least and greatest values, in key
    order, also when different keys share a mix (every mix made equal: the sort then decides)."""
    import numpy as np
    if mix == "colliding":
        monkeypatch.setattr(rollup, "_MIX", (np.uint64(0),) * 3)
    rng = np.random.default_rng(11)
    counter, expected = rollup._Counter((np.add, np.minimum, np.maximum)), {}
    for _ in range(30):  # merged more than once (past 100k rows pending), never spilled
        cols = [rng.integers(0, 300, 8_000, dtype=np.int64), rng.integers(-5, 5, 8_000, dtype=np.int64) << 40]
        n, t = rng.integers(1, 4, 8_000, dtype=np.int64), rng.integers(-1000, 1000, 8_000, dtype=np.int64)
        for a, b, x, y in zip(*(c.tolist() for c in (*cols, n, t))):
            s, lo, hi = expected.get((a, b), (0, y, y))
            expected[(a, b)] = (s + x, min(lo, y), max(hi, y))
        counter.add(cols, [n, t, t])
    assert counter._spilled is None
    (keys, values), = list(counter.finish())
    got = [((int(keys[0][i]), int(keys[1][i])), tuple(int(v[i]) for v in values)) for i in range(len(keys[0]))]
    assert dict(got) == expected and len(got) == len(expected)
    assert [k for k, _ in got] == sorted(expected)


def test_summaries_are_copied_only_when_prepared_whole():
    """Pass: a rollup whose preparing was abandoned part-way, or that was closed (a failing job's
    files dropped), refuses to copy anything, before any statement; one never prepared prepares
    itself first."""
    import numpy as np

    class Cursor:  # the rollup's only use of it: COPY statements
        def __init__(self):
            self.copied = []

        def copy_expert(self, sql, f, size=0):
            self.copied.append(sql.split(" (")[0])

    def counted():
        r = rollup.Rollup(1)
        one = np.zeros(3, dtype=np.int64)
        r.add(one.astype(np.int16), one.astype(np.int16), np.arange(3, dtype=np.int64) * 3_600_000_000,
              one + 100_000, one + 100_001)
        return r

    stopped = counted()
    stopped.prepare(abandoned=lambda: True)
    closed = counted()
    closed.prepare()
    closed.close()
    for r in (stopped, closed):
        cur = Cursor()
        with pytest.raises(RuntimeError, match="not prepared whole"):
            r.copy_into(cur)
        assert cur.copied == []
    cur = Cursor()
    assert counted().copy_into(cur) > 0
    assert cur.copied == ["COPY daily_counts", "COPY flow_counts", "COPY area_days", "COPY region_datasources"]


def test_compaction_keeps_every_answer_and_folds_rows(db_url, tmp_path):
    """Pass: after several files, `compact` leaves one row per key in every summary (fewer rows),
    the summaries still equal a raw recount, and every answer is the same as before."""
    for i, n in enumerate((3_000, 2_000, 1_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url).status == "completed"
    answers = lambda: (core.stats(url=db_url), core.trip_groups(cell="medium", limit=5000, url=db_url),  # noqa: E731
                       core.trip_groups(cell="coarse", regions=core.regions(url=db_url)[:1], url=db_url),
                       core.weekly_average(bbox=(14.3, 49.95, 14.55, 50.15), by="either", url=db_url),
                       core.weekly_average(region=core.regions(url=db_url)[0], url=db_url),
                       core.bonus_answers(url=db_url))
    before = answers()
    with engine(db_url).connect() as conn:  # pages whose free space the compaction's rows may fill first
        pages_before = {part: conn.execute(sa.text(
            f"SELECT pg_relation_size('{part}') / current_setting('block_size')::int")).scalar()
            for part in ("flow_counts_medium", "flow_counts_coarse")}
    for i in (1, 2):  # unfiltered and one-region groups are read from compaction's kept top groups afterwards
        before[i]["source"] = "kept"
    res = core.compact_summaries(url=db_url)
    assert set(res) == set(_KEYS)
    assert all(n["after"] <= n["before"] for n in res.values())
    assert res["flow_counts"]["after"] < res["flow_counts"]["before"]
    assert answers() == before
    with engine(db_url).connect() as conn:
        for table, keys in _KEYS.items():
            assert conn.execute(sa.text(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} GROUP BY {keys} HAVING count(*) > 1) d")).scalar() == 0
            recount = {tuple(r) for r in conn.execute(sa.text(_RECOUNT[table]))}
            assert _summed(conn, table) == recount, table
        # each level's rows in (hour, region) order, for the BRINs of sql/30, every range summarised.
        # The INSERT writes them in that order, into the free space autovacuum found on the former
        # pages first (in the free-space map's order), then onto new pages: in order within every
        # page and across the new pages; a step back only on entering a former page.
        for part, pages in pages_before.items():
            rows, back, entering = conn.execute(sa.text(
                f"SELECT count(*), count(*) FILTER (WHERE back),"
                f"       count(*) FILTER (WHERE back AND page < :pages AND page <> prev_page)"
                f"  FROM (SELECT (hour, region_id) < lag((hour, region_id)) OVER w AS back,"
                f"               (ctid::text::point)[0] AS page, lag((ctid::text::point)[0]) OVER w AS prev_page"
                f"          FROM {part} WINDOW w AS (ORDER BY ctid)) o"), {"pages": pages}).one()
            assert back == entering <= pages < rows / 10, (part, back, entering, pages, rows)
            index = f"{part}_brin"  # nothing left to summarise
            assert conn.execute(sa.text(f"SELECT brin_summarize_new_values('{index}')")).scalar() == 0, index
    assert core.compact_summaries(url=db_url)["flow_counts"]["after"] == res["flow_counts"]["after"]


def test_a_compaction_the_disk_has_no_room_for_is_refused_before_it_starts(db_url, tmp_path, monkeypatch, capsys):
    """Pass: on the local cluster (its data directory on this machine), a compaction needing more
    than the free disk stops before it starts, saying how much it needs and has, and changes
    nothing; with room, the same compaction runs."""
    from core import compact
    from core.__main__ import main
    with engine(db_url).connect() as conn:
        seen = conn.execute(sa.text("SELECT setting FROM pg_settings WHERE name = 'data_directory'")).scalar()
        if compact.local_data_directory(conn.connection.dbapi_connection, seen) is None:
            pytest.skip("the server is elsewhere, or this user may not see its data directory: nothing is checked")
    generate(str(tmp_path / "a.csv"), 1_000, seed=3)
    assert core.ingest_file(str(tmp_path / "a.csv"), url=db_url).status == "completed"
    monkeypatch.setattr(compact, "SCRATCH_BYTES_PER_TRIP", 10 ** 12)  # a terabyte a trip
    with pytest.raises(core.TripsError, match=r"compaction needs about 1000000\.0 GB of free disk"
                       r" for its work on 1,000 trips, and the database's disk \(.+\) has [0-9.]+ GB free: nothing"):
        core.compact_summaries(url=db_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["compact", "--json"]) == 1 and "nothing was changed" in capsys.readouterr().err
    with engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs_since_compaction")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM trip_times")).scalar() == 0
    monkeypatch.setattr(compact, "SCRATCH_BYTES_PER_TRIP", 300)
    assert main(["compact", "--json"]) == 0
    steps = [m.group(1) for m in re.finditer(r"^compact \[ *\d+ s\] (.*)$", capsys.readouterr().err, re.M)]
    with engine(db_url).connect() as conn:
        months = conn.execute(sa.text("SELECT count(DISTINCT date_trunc('month', ts)) FROM trips")).scalar()
    assert months > 24  # a step for every twelve months
    assert steps[0].startswith("copying the trips of 1 job(s) into trip_times") and len(steps) == 2 + 3 * (1 + 6) + 3 + 2, steps  # then per level: its groups, its six bucket sizes
    with engine(db_url).connect() as conn:  # everything, each region, each datasource; three days each
        lists = 3 * conn.execute(sa.text("SELECT 1 + (SELECT count(*) FROM regions) + (SELECT count(*) FROM datasources)")).scalar()
    assert steps[2:4] == ["counting the fine-cell groups of every region and datasource",
                          f"keeping the top groups of fine cells, 1-hour buckets ({lists} lists)"]
    assert steps[-6:] == [f"keeping the top groups of coarse cells, 24-hour buckets ({lists} lists)",
                          "keeping the top groups of each month (months 1-12 of %d)" % months,
                          "keeping the top groups of each month (months 13-24 of %d)" % months,
                          "keeping the top groups of each month (months 25-%d of %d)" % (months, months),
                          "committing", "committed; VACUUM ANALYZE of the summaries"]
    with engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs_since_compaction")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM trip_times")).scalar() == 1_000


def test_compaction_keeps_the_unfiltered_groups(db_url, tmp_path, counted):
    """Pass: after compaction, groups of every cell size and bucket size, for all regions or one
    (also one that does not exist) and all days, weekdays or weekend, are read from the kept top
    groups ("kept") and equal the live aggregation, at any limit; other filters aggregate (fine
    cells of one datasource count the raw trips); after a job completed since, they are the kept
    groups with that job's rows added ("kept+new"), the same as after the next compaction; a
    compaction with no new job changes nothing; lists missing for fine cells (a compaction by an
    earlier version) are not read as no trips."""
    from core.groups import BUCKET_HOURS
    for i, n in enumerate((4_000, 3_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=10 + i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url).status == "completed"

    regions = [[], *([r] for r in core.regions(url=db_url)[:2]), ["Nowhere"]]
    sources = [[s] for s in core.datasources(url=db_url)[:2]]

    def answers():
        by_region = {(cell, h, limit, days, *region): core.trip_groups(cell=cell, bucket_hours=h, limit=limit,
                                                                       regions=region, days=days, url=db_url)
                     for cell in ("fine", "medium", "coarse") for h in BUCKET_HOURS for limit in (5000, 7)
                     for region in regions for days in ("all", "weekdays", "weekend")}
        by_source = {(cell, h, limit, days, "datasource", *source): core.trip_groups(
                         cell=cell, bucket_hours=h, limit=limit, datasources=source, days=days, url=db_url)
                     for cell in ("fine", "medium") for h in (1, 3) for limit in (5000, 7)
                     for source in sources for days in ("all", "weekend")}
        return {**by_region, **by_source}
    drop = lambda a: {k: {**v, "source": None} for k, v in a.items()}  # noqa: E731
    live = answers()
    assert {a["source"] for a in live.values()} == {"summary", "trips"}
    assert any(a["total_groups"] > 7 for a in live.values())
    assert any(a["total_groups"] > 5000 for k, a in live.items() if k[0] == "fine")  # lists short of all groups
    core.compact_summaries(url=db_url)
    kept = answers()
    assert {a["source"] for a in kept.values()} == {"kept"}
    assert drop(kept) == drop(live)
    same = ("groups", "total_trips", "total_groups", "total_groups_bounds")
    # hours of the day that are whole buckets (any hour of 1-hour buckets): their buckets' totals are kept
    whole = ((1, [8]), (3, [6, 7, 8]), (2, [22, 23, 0, 1]), (24, list(range(24))))
    for cell, (h, of_day), named in itertools.product(("fine", "medium", "coarse"), whole, ({}, {"regions": regions[1]})):
        eight = core.trip_groups(cell=cell, bucket_hours=h, hours=of_day, limit=7, url=db_url, **named)
        assert eight["source"] == "kept", (cell, h, of_day, named)
        eight_live = core.trip_groups(cell=cell, bucket_hours=h, hours=of_day, limit=7, url=db_url,
                                      datasources=core.datasources(url=db_url),
                                      regions=named.get("regions", core.regions(url=db_url)))
        assert eight_live["source"] in ("summary", "trips")
        assert [eight[k] for k in same] == [eight_live[k] for k in same], (cell, h, of_day, named)
        assert 0 < eight["total_trips"] < kept[(cell, h, 7, "all", *named.get("regions", []))]["total_trips"] or h == 24
    every = kept[("medium", 1, 7, "all")]["total_trips"]
    assert kept[("medium", 1, 7, "all", regions[1][0])]["total_trips"] < every
    assert (kept[("medium", 1, 7, "weekdays")]["total_trips"] + kept[("medium", 1, 7, "weekend")]["total_trips"]
            == every)
    assert kept[("medium", 1, 7, "all", "Nowhere")]["total_trips"] == kept[("fine", 1, 7, "all", "Nowhere")]["total_trips"] == 0
    assert kept[("fine", 1, 7, "all", regions[1][0])]["total_trips"] == kept[("medium", 1, 7, "all", regions[1][0])]["total_trips"]
    both = core.regions(url=db_url)[:2]
    for cell in ("fine", "medium"):  # several regions: their lists summed, the same answer as aggregated
        summed = core.trip_groups(cell=cell, regions=both, url=db_url)
        live_both = core.trip_groups(cell=cell, regions=both, datasources=core.datasources(url=db_url), url=db_url)
        assert summed["source"] == "kept" and live_both["source"] in ("summary", "trips")
        assert [summed[k] for k in same] == [live_both[k] for k in same]
    assert core.trip_groups(cell="fine", datasources=["x"], url=db_url)["source"] == "kept"
    assert core.trip_groups(cell="fine", datasources=["x"], url=db_url)["total_trips"] == 0
    # an hour that is not a whole bucket: from the 1-hour list (core/groups_hours.py)
    part = dict(cell="medium", bucket_hours=3, hours=[8], url=db_url)
    assert core.trip_groups(**part)["source"] == "kept"
    assert [core.trip_groups(**part)[k] for k in same[:2]] == [core.trip_groups(**part, regions=core.regions(url=db_url))[k]
                                                               for k in same[:2]]
    # a compaction from before sql/33 kept the totals of 1-hour buckets only: whole buckets of 3
    # hours are not read from the 3-hour lists (counted, or summed from the 1-hour lists), the
    # same answer, and compaction is due; with nothing to fold, it keeps every list again (the
    # months' only, those of all dates would still lack them)
    from core.compact import compaction_due
    assert not compaction_due(db_url)
    morning = dict(cell="medium", bucket_hours=3, hours=[6, 7, 8], limit=7, url=db_url)
    with engine(db_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM flow_top_hours WHERE bucket_hours > 1"))
    before_33 = core.trip_groups(**morning)
    assert compaction_due(db_url)
    core.compact_summaries(url=db_url)
    assert not compaction_due(db_url)
    after_33 = core.trip_groups(**morning)
    assert after_33["source"] == "kept" and [after_33[k] for k in same] == [before_33[k] for k in same]
    assert core.trip_groups(cell="medium", datasources=["x"], url=db_url)["source"] == "kept"
    assert core.trip_groups(cell="medium", datasources=["x"], url=db_url)["total_trips"] == 0
    assert core.trip_groups(cell="medium", datasources=["x"], regions=both[:1], url=db_url)["source"] == "summary"
    generate(str(tmp_path / "2.csv"), 2_000, seed=12)
    assert core.ingest_file(str(tmp_path / "2.csv"), url=db_url).status == "completed"
    newer = answers()
    assert "kept+new" in {a["source"] for a in newer.values()} <= {"kept+new", "summary", "trips"}
    fine_new = next(k for k, v in newer.items() if k[0] == "fine" and v["source"] == "kept+new")
    kw = dict(cell="fine", bucket_hours=fine_new[1], limit=fine_new[2], days=fine_new[3], url=db_url)
    assert core.trip_groups(**kw, count_raw_above=2_000) == newer[fine_new]  # a caller that asks first
    with pytest.raises(core.RawCountNeeded) as asked:  # the new file's 2,000 raw trips: more than allowed
        core.trip_groups(**kw, count_raw_above=1_999)
    assert (asked.value.trips, asked.value.since_compaction) == (2_000, True)
    assert newer[("medium", 1, 5000, "all")]["total_trips"] == newer[("fine", 2, 7, "all")]["total_trips"] == 9_000
    core.compact_summaries(url=db_url)
    compacted = answers()
    assert {a["source"] for a in compacted.values()} == {"kept"}
    for key, a in newer.items():
        assert (a["groups"], a["total_trips"]) == (compacted[key]["groups"], compacted[key]["total_trips"]), key
        lo, hi = a["total_groups_bounds"]
        assert lo <= compacted[key]["total_groups"] <= hi and a["total_groups"] in (None, compacted[key]["total_groups"])
    with engine(db_url).connect() as conn:
        before = conn.execute(sa.text("SELECT compacted_at FROM compaction_state")).scalar()
    with engine(db_url).begin() as conn:  # as left by a compaction of a version that kept no fine lists of a region
        rows = {t: conn.execute(sa.text(f"SELECT * FROM {t} WHERE level = 0 AND region_id > 0")).all()
                for t in ("flow_top", "flow_top_totals", "flow_top_hours")}
        for t in rows:
            conn.execute(sa.text(f"DELETE FROM {t} WHERE level = 0 AND region_id > 0"))
    unkept = core.trip_groups(cell="fine", regions=regions[1], limit=7, url=db_url)
    # not read as a list with no trips: the region's trips are counted (sql/27_regions_without_lists.sql)
    assert unkept["total_trips"] > 0
    same = compacted[("fine", 1, 7, "all", regions[1][0])]
    assert (unkept["groups"], unkept["total_trips"]) == (same["groups"], same["total_trips"])
    with engine(db_url).begin() as conn:
        for t, kept_rows in rows.items():
            conn.execute(sa.text(f"INSERT INTO {t} VALUES ({', '.join(f':c{i}' for i in range(len(kept_rows[0])))})"),
                         [{f"c{i}": v for i, v in enumerate(r)} for r in kept_rows])
    assert core.trip_groups(cell="fine", url=db_url)["source"] == "kept"
    again = core.compact_summaries(url=db_url)
    assert all(n["before"] == n["after"] for n in again.values())
    with engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT compacted_at FROM compaction_state")).scalar() == before


def test_kept_groups_with_jobs_loaded_since_are_exact_or_aggregated(db_url, tmp_path, monkeypatch, counted):
    """Pass: with short kept lists (20 groups), groups answered from the kept lists plus the jobs
    loaded since ("kept+new"), for everything, a region or a datasource, equal the live aggregation
    (all regions or all datasources named, which is never read from the kept lists): the same groups in the same order and the same total; the number of
    groups is exact or a range around the true one. Where a group outside a list could rank among
    the answer (a limit past the list, or a new job that lifts an unkept group), it aggregates, or,
    when a few groups' counts are all it lacks, recounts them. Hours of the day are read from the
    kept lists when they are whole buckets (0-5 h in 6-hour buckets; any hours in 1-hour ones)."""
    import core.groups
    from core.groups import whole_buckets
    monkeypatch.setattr(core.groups, "KEPT_TOP", 20)
    for i, n in enumerate((4_000, 3_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=20 + i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url).status == "completed"
    core.compact_summaries(url=db_url)
    generate(str(tmp_path / "2.csv"), 1_500, seed=22)
    assert core.ingest_file(str(tmp_path / "2.csv"), url=db_url).status == "completed"
    # one group that was not kept (a quiet cell pair at 03:00) becomes the busiest of all
    lifted = "".join(row(region="Lifted", o=(14.7001, 50.3001), d=(14.9001, 50.5001), when=f"2018-05-2{d} 03:1{m}:00")
                     for d in range(1, 8) for m in range(10)) * 5
    (tmp_path / "3.csv").write_text(HEADER + lifted)
    assert core.ingest_file(str(tmp_path / "3.csv"), url=db_url).status == "completed"
    every_source, every_region = core.datasources(url=db_url), core.regions(url=db_url)
    sources, several, fine_by_source, whole = [], [], set(), set()
    one = [core.datasources(url=db_url)[0]]
    areas = ((None, None), ([core.regions(url=db_url)[0]], None), (["Lifted"], None), (["Nowhere"], None),
             (None, one), (None, ["funny_car"]), (None, ["nosuch"]),
             (every_region[:2], None), ([every_region[0], "Lifted"], None), (every_region, None),
             (["Lifted", "Nowhere"], None), (None, every_source[:2]), (None, [every_source[0], "nosuch"]))
    for cell, hours, (region, source), days, of_day, limit in itertools.product(
            ("fine", "medium", "coarse"), (1, 6), areas, ("all", "weekdays", "weekend"),
            (None, [3], [7, 8, 9], [22, 23, 0, 1], [0, 1, 2, 3, 4, 5]), (1, 5, 21)):
        kw = dict(cell=cell, bucket_hours=hours, regions=region, datasources=source, days=days, hours=of_day,
                  limit=limit, url=db_url)
        a = core.trip_groups(**kw)
        b = core.trip_groups(**{**kw, "datasources": source or every_source, "regions": region or every_region})
        assert b["source"] == ("trips" if cell == "fine" else "summary")
        assert (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"]), kw
        lo, hi = a["total_groups_bounds"]
        assert lo <= b["total_groups"] <= hi and a["total_groups"] in (None, b["total_groups"]), kw
        assert a["source"] in ("summary", "trips") or whole_buckets(of_day, hours)
        whole.add((of_day is not None and hours > 1, a["source"]))
        if cell == "fine" and source:
            fine_by_source.add(a["source"])
        sources.append((cell == "fine", a["source"], limit))
        if len(region or source or ()) > 1:
            several.append((a["source"], region, source))
    assert (False, "kept+new", 5) in sources and (False, "summary", 5) in sources  # the lifted group: not provable
    assert {"kept+new", "summary"} <= {src for src, region, source in several}  # lists summed, or not provable
    assert (False, "summary", 21) in sources and (False, "kept+new", 21) in sources  # past the list: only when it keeps all
    assert (True, "trips", 5) in sources  # fine groups: the lifted one too (kept+new: the test above)
    assert (True, "kept+new") in whole  # hours that are whole 6-hour buckets: from the lists too
    assert {"kept+new", "trips"} <= fine_by_source  # fine groups of datasources: lists (sql/19), or not provable
    # the lifted group alone: in no list, its count known within a range, recounted from its trips
    for cell in ("medium", "fine"):
        top = core.trip_groups(cell=cell, limit=1, url=db_url)
        assert top["source"] == "kept+new" and top["groups"][0]["bucket"] == "03:00-04:00"
        assert top["groups"] == core.trip_groups(cell=cell, limit=1, regions=every_region, url=db_url)["groups"]
    # A caller that asks before counting many raw trips (the dashboard) is told when the answer would.
    with pytest.raises(core.RawCountNeeded) as asked:  # past the kept list: every trip would be counted
        core.trip_groups(cell="fine", limit=21, count_raw_above=8_849, url=db_url)
    assert asked.value.trips == 8_850
    assert core.trip_groups(cell="fine", limit=21, count_raw_above=8_850, url=db_url)["source"] == "trips"
    assert core.trip_groups(cell="medium", limit=21, count_raw_above=0, url=db_url)["source"] == "summary"


def test_summed_lists_of_regions_that_share_cells_are_proved_or_aggregated(db_url, write_csv, monkeypatch, counted):
    """Pass: with lists of 2 groups, regions A and B (the same cells) and C (far away): A's busiest
    group also has trips in B, below B's list, so A + B cannot be read from the lists alone (it
    aggregates, and counts that group's trips of both, or recounts that group's trips); A + C can,
    with the exact number of groups (their cells do not meet); every answer equals the aggregated
    one."""
    import core.groups
    monkeypatch.setattr(core.groups, "KEPT_TOP", 2)
    at = lambda n, region, o, d, hour: [row(region=region, o=o, d=d, when=f"2018-05-28 {hour:02d}:10:00")] * n  # noqa: E731
    p, q, r = (14.401, 50.001), (14.451, 50.051), (14.501, 50.101)
    far1, far2 = (16.301, 48.201), (16.351, 48.251)
    rows = (at(30, "A", p, q, 8) + at(3, "A", q, r, 8) + at(1, "A", p, r, 9)
            + at(4, "B", q, p, 8) + at(3, "B", r, q, 8) + at(2, "B", p, q, 8)
            + at(6, "C", far1, far2, 8) + at(4, "C", far2, far1, 8) + at(3, "C", far1, far1, 8))
    assert core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url).status == "completed"
    core.compact_summaries(url=db_url)
    every_source = core.datasources(url=db_url)
    for cell in ("fine", "medium"):
        for regions, source, recount in ((["A", "B"], "summary", 0), (["A", "C"], "kept", 0), (["A", "B", "C"], "summary", 0),
                                         (["A", "B"], "kept", 4), (["A", "B", "C"], "kept", 4)):
            monkeypatch.setattr(core.groups, "_RECOUNT_MAX", recount)  # (4: the group's trips recounted)
            a = core.trip_groups(cell=cell, regions=regions, limit=1, url=db_url)
            live = core.trip_groups(cell=cell, regions=regions, datasources=every_source, limit=1, url=db_url)
            assert a["source"] == (source if cell == "medium" else source.replace("summary", "trips")), (cell, regions)
            assert (a["groups"], a["total_trips"]) == (live["groups"], live["total_trips"])
            lo, hi = a["total_groups_bounds"]
            assert lo <= live["total_groups"] <= hi and a["total_groups"] in (None, live["total_groups"])
        assert core.trip_groups(cell=cell, regions=["A", "B"], limit=1, url=db_url)["groups"][0]["trips"] == 32
        assert core.trip_groups(cell=cell, regions=["A", "C"], limit=3, url=db_url)["total_groups"] == 6


def test_small_regions_keep_no_lists_and_are_counted_from_their_trips(db_url, write_csv, tmp_path, monkeypatch, counted):
    """Pass: with TRIPS_LIST_MIN_TRIPS at 100, compaction keeps the lists of the generated regions
    (hundreds of trips each, Prague with a group of 60) and none of "Tiny" (24 trips in Prague's
    cells); Tiny's groups, alone
    or with Prague, at every cell size, for all days or the weekend, are Prague's list (if named)
    with Tiny's trips counted and added in ("kept") and equal the answers before compaction; after
    a file since that adds to Tiny and brings a new region, every answer equals the aggregated
    one; compacted again with lists of 5 groups (not complete), each answer is proved or
    aggregated (Tiny's few trips counted), the same; Tiny with a datasource (no kept list answers it) counts its trips, or with
    raw reads ruled out sums the summary, the same answer."""
    import core.groups
    monkeypatch.setenv("TRIPS_LIST_MIN_TRIPS", "100")
    generate(str(tmp_path / "base.csv"), 3_000, seed=21)
    assert core.ingest_file(str(tmp_path / "base.csv"), url=db_url).status == "completed"
    tiny = [row(region="Tiny", o=(14.40 + 0.01 * (i % 3), 50.07), d=(14.43, 50.08 + 0.01 * (i % 2)),
                when=f"2018-05-{26 + i % 4:02d} {7 + i % 5:02d}:1{i % 6}:00", source=("funny_car", "cheap_mobile")[i % 2])
            for i in range(24)]
    busy = [row(region="Prague", o=(14.41, 50.07), d=(14.43, 50.09), when="2018-05-28 08:20:00")] * 60  # Prague's top group
    assert core.ingest_file(write_csv(HEADER + "".join(tiny + busy), "tiny.csv"), url=db_url).status == "completed"
    assert "Prague" in core.regions(url=db_url)
    asks = [(cell, h, days, tuple(regions), limit) for cell in ("fine", "medium", "coarse") for h in (1, 3)
            for days in ("all", "weekend") for regions in (["Tiny"], ["Tiny", "Prague"], ["Prague"])
            for limit in (1, 3, 50)]
    ask = lambda cell, h, days, regions, limit, **kw: core.trip_groups(  # noqa: E731
        cell=cell, bucket_hours=h, days=days, regions=list(regions), limit=limit, url=db_url, **kw)
    answer = lambda a: (a["groups"], a["total_trips"], a["total_groups"])  # noqa: E731
    before = {k: ask(*k) for k in asks}
    core.compact_summaries(url=db_url)
    kept_regions = {name for name, in sql_rows(db_url, "SELECT DISTINCT r.name FROM flow_top_totals t "
                                                       "JOIN regions r USING (region_id)")}
    assert "Prague" in kept_regions and "Tiny" not in kept_regions
    assert kept_regions == set(core.regions(url=db_url)) - {"Tiny"}
    for k in asks:
        a = ask(*k)
        assert a["source"] == "kept", k
        assert answer(a) == answer(before[k]), k
    assert before[("fine", 1, "all", ("Tiny",), 50)]["total_trips"] == 24
    assert before[("fine", 1, "all", ("Tiny", "Prague"), 50)]["total_trips"] > 24
    more = tiny[:10] + [row(region="Newcomer", o=(14.41, 50.07), when="2018-06-02 08:00:00")] * 3
    assert core.ingest_file(write_csv(HEADER + "".join(more), "more.csv"), url=db_url).status == "completed"
    every_source = core.datasources(url=db_url)
    news = asks + [(cell, 1, "all", ("Newcomer",), 50) for cell in ("fine", "medium")]
    for k in news:
        a, live = ask(*k), ask(*k, datasources=every_source)
        assert a["source"] == "kept+new" and live["source"] in ("summary", "trips"), k
        assert (a["groups"], a["total_trips"]) == (live["groups"], live["total_trips"]), k
        lo, hi = a["total_groups_bounds"]
        assert lo <= live["total_groups"] <= hi and a["total_groups"] in (None, live["total_groups"]), k
    monkeypatch.setattr(core.groups, "KEPT_TOP", 5)
    core.compact_summaries(url=db_url)
    sources = set()
    for k in news:
        a, live = ask(*k), ask(*k, datasources=every_source)
        sources.add((k[3], a["source"]))
        if k[0] != "fine" and "Tiny" in k[3] and a["source"] != "kept":  # not provable: Tiny is few trips
            assert a["source"] == "trips", k
        assert (a["groups"], a["total_trips"]) == (live["groups"], live["total_trips"]), k
        lo, hi = a["total_groups_bounds"]  # (a list short of all groups may not know how many there are)
        assert lo <= live["total_groups"] <= hi and a["total_groups"] in (None, live["total_groups"]), k
    assert {("Tiny",), ("Tiny", "Prague")} <= {regions for regions, source in sources if source == "kept"}
    assert ("Tiny", "Prague") in {regions for regions, source in sources if source != "kept"}  # not provable
    assert ask("medium", 1, "all", ["Tiny"], 50)["total_trips"] == 34
    raw = ask("medium", 1, "all", ["Tiny"], 50, datasources=["funny_car"])
    assert raw["source"] == "trips" and raw["total_trips"] == 17
    monkeypatch.setattr(core.groups, "_RAW_REGIONS_READ", 0)
    summed = ask("medium", 1, "all", ["Tiny"], 50, datasources=["funny_car"])
    assert summed["source"] == "summary" and answer(summed) == answer(raw)


def test_compaction_during_an_ingest_loses_nothing(db_url, tmp_path):
    """Pass: compacting while another file is being loaded neither blocks that load nor touches
    its rows: afterwards every summary still equals a raw recount of all trips."""
    import threading
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    generate(str(small), 2_000, seed=1)
    generate(str(big), 200_000, seed=2)
    assert core.ingest_file(str(small), url=db_url).status == "completed"
    result = {}
    loader = threading.Thread(target=lambda: result.update(res=core.ingest_file(str(big), url=db_url)))
    loader.start()
    deadline = time.monotonic() + 60
    while not any(j["status"] == "running" for j in core.jobs(url=db_url)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    core.compact_summaries(url=db_url)
    loader.join(120)
    assert result["res"].status == "completed"
    with engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM trips")).scalar() == 202_000
        for table in _KEYS:
            recount = {tuple(r) for r in conn.execute(sa.text(_RECOUNT[table]))}
            assert _summed(conn, table) == recount, table


def test_region_extents_of_rows_loaded_before_they_were_kept_are_filled_in(db_url, write_csv):
    """Pass: sql/05_region_extents.sql fills the extents of rows loaded before it (here: erased
    again) from the medium flow rows, equal to the extents kept at ingest and to the raw trips;
    core.region_extents turns them into degrees that hold every trip end of the region."""
    assert core.ingest_file(write_csv(HEADER + row(o=(14.41, 50.01), d=(14.52, 50.13))
                                      + row(o=(14.30, 50.2), d=(14.44, 49.95), source="x")
                                      + row(region="Brno", o=(16.6, 49.2), d=(16.61, 49.19))), url=db_url).status == "completed"
    with engine(db_url).begin() as conn:
        kept = _summed(conn, "region_datasources")
        assert kept == {tuple(r) for r in conn.execute(sa.text(_RECOUNT["region_datasources"]))}
        conn.execute(sa.text("UPDATE region_datasources SET cx0 = NULL, cy0 = NULL, cx1 = NULL, cy1 = NULL"))
        backfill = (Path(__file__).parent.parent / "sql" / "05_region_extents.sql").read_text()
        conn.execute(sa.text(backfill[backfill.index("UPDATE region_datasources"):]))
        assert _summed(conn, "region_datasources") == kept
    w, s_, e, n = core.region_extents(url=db_url)["Prague"]
    assert w <= 14.30 and e >= 14.52 and s_ <= 49.95 and n >= 50.2
    assert e - w < 14.52 - 14.30 + 0.05 and n - s_ < 50.2 - 49.95 + 0.05, "to medium-cell precision"


def test_the_job_manager_compacts_when_due(db_url, tmp_path):
    """Pass: after the first load a JobManager compacts by itself (groups then read kept rows);
    after a load of less than TRIPS_COMPACT_SHARE (20 %) of the trips folded it does not (the kept
    rows with the new ones added answer), after a larger one it does again; answers stay exact."""
    def folded():
        with engine(db_url).connect() as conn:
            return conn.execute(sa.text("SELECT folded_jobs FROM compaction_state")).scalar()

    sizes = (5_000, 500, 2_000)
    for i, n in enumerate(sizes):
        generate(str(tmp_path / f"{i}.csv"), n, seed=40 + i)
    jm = core.JobManager(workers=1, url=db_url)
    steps = []  # what the dashboard's Jobs panel shows, told at each step (dashboard/live.py)
    jm.on_compaction_step(lambda: steps.append(jm.compaction_step))
    try:
        first = jm.submit(str(tmp_path / "0.csv"))
        assert jm.wait(first, timeout=60).status == "completed"
        assert jm.compaction.result(timeout=120) is not None
        assert folded() == [first]
        assert steps[0].startswith("copying the trips of 1 job(s)") and "committing" in steps
        assert steps[-1] is None and jm.compaction_step is None and len(steps) > 20
        assert core.trip_groups(cell="coarse", url=db_url)["source"] == "kept"
        small = jm.submit(str(tmp_path / "1.csv"))
        assert jm.wait(small, timeout=60).status == "completed"
        assert jm.compaction.result(timeout=120) is None and folded() == [first]
        res = core.trip_groups(cell="coarse", bucket_hours=24, limit=5000, url=db_url)
        assert res["source"] == "kept+new" and res["total_trips"] == 5_500
        large = jm.submit(str(tmp_path / "2.csv"))
        assert jm.wait(large, timeout=60).status == "completed"
        assert jm.compaction.result(timeout=120) is not None
        assert folded() == [first, small, large]
    finally:
        jm.shutdown()
    with engine(db_url).connect() as conn:
        for table in _KEYS:
            recount = {tuple(r) for r in conn.execute(sa.text(_RECOUNT[table]))}
            assert _summed(conn, table) == recount, table


def test_a_failed_compaction_after_loads_is_told_until_one_succeeds(db_url, tmp_path):
    """Pass: when the JobManager's compaction fails (here the owner's statements are stopped by a
    1 ms statement_timeout: a real error from the server), compaction_failure says why in words and
    the step hooks are told (the dashboard's Jobs panel shows it); nothing was folded; the next pass
    that succeeds clears it, as does one that finds nothing to do (compacted by the CLI meanwhile)."""
    generate(str(tmp_path / "a.csv"), 2_000, seed=5)
    assert core.ingest_file(str(tmp_path / "a.csv"), url=db_url).status == "completed"
    sep = "&" if "?" in db_url else "?"
    jm = core.JobManager(workers=1, url=db_url + sep + "options=-c%20statement_timeout%3D1")
    told = []
    jm.on_compaction_step(lambda: told.append((jm.compaction_step, jm.compaction_failure)))
    try:
        jm.compact_if_due()
        assert jm.compaction.result(timeout=120) is None
        assert jm.compaction_failure.startswith("failed, and changed nothing: the database stopped a statement at "
                                                "its time limit or on request"), jm.compaction_failure
        assert told[-1] == (None, jm.compaction_failure)
        with engine(db_url).connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM jobs_since_compaction")).scalar() == 1
        jm.url = db_url
        jm.compact_if_due()
        assert jm.compaction.result(timeout=120) is not None
        assert jm.compaction_failure is None and told[-1] == (None, None)
        jm.url = db_url + sep + "options=-c%20statement_timeout%3D1"  # fails again...
        generate(str(tmp_path / "b.csv"), 2_000, seed=6)
        assert core.ingest_file(str(tmp_path / "b.csv"), url=db_url).status == "completed"
        jm.compact_if_due()
        assert jm.compaction.result(timeout=120) is None and jm.compaction_failure
        core.compact_summaries(url=db_url)  # ... and `python -m core compact` does it: the next pass says so
        jm.url = db_url
        jm.compact_if_due()
        assert jm.compaction.result(timeout=120) is None and jm.compaction_failure is None
    finally:
        jm.shutdown()


def test_a_watching_manager_compacts_after_loads_it_did_not_run(db_url, tmp_path):
    """Pass: with a JobWatcher telling it of completed jobs (as the dashboard wires them), a
    JobManager compacts after a file loaded elsewhere (the CLI's way, core.ingest_file), so the
    page's groups read kept rows without anyone running compact."""
    generate(str(tmp_path / "cli.csv"), 3_000, seed=47)
    jm = core.JobManager(workers=1, url=db_url)
    watcher = core.JobWatcher(url=db_url)
    watcher.on_completed(jm.compact_if_due)
    try:
        deadline = time.monotonic() + 30
        while watcher.version == 0:  # listening (its first event says it connected)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert core.ingest_file(str(tmp_path / "cli.csv"), url=db_url).status == "completed"
        while jm.compaction is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert jm.compaction.result(timeout=120) is not None
        assert core.trip_groups(cell="coarse", url=db_url)["source"] == "kept"
    finally:
        watcher.stop()
        jm.shutdown()


def test_two_compactions_at_once_both_end_well(db_url, tmp_path):
    """Pass: two compactions started together (the dashboard's and the compose service's) do not
    fail: the second waits for the first, then finds nothing new; the summaries equal a recount."""
    import threading
    for i, n in enumerate((3_000, 2_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=60 + i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url).status == "completed"
    results, errors = [], []

    def run():
        try:
            results.append(core.compact_summaries(url=db_url))
        except Exception as e:  # noqa: BLE001 - the test reports it
            errors.append(e)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(results) == 2
    assert sorted(r["flow_counts"]["before"] == r["flow_counts"]["after"] for r in results) == [False, True]
    with engine(db_url).connect() as conn:
        for table in _KEYS:
            recount = {tuple(r) for r in conn.execute(sa.text(_RECOUNT[table]))}
            assert _summed(conn, table) == recount, table


def _dated_group_rows(conn, level: int, bucket: int, date_from: str, date_to: str, weekend, hours,
                      regions=None, datasources=None) -> list:
    """Groups over a period counted straight from the raw trips (the definition): (origin cell,
    destination cell, bucket, trips) of ``level``'s cells, in the answer's order."""
    return conn.execute(sa.text(
        "SELECT grid_parent(o_cell, CAST(:l AS smallint)) o, grid_parent(d_cell, CAST(:l AS smallint)) d,"
        "       extract(hour FROM ts)::int / :b h, count(*) n"
        "  FROM trips JOIN regions USING (region_id) JOIN datasources d USING (datasource_id)"
        " WHERE ts >= CAST(:f AS date) AND ts < CAST(:t AS date) + 1"
        "   AND (CAST(:w AS boolean) IS NULL OR (extract(isodow FROM ts) >= 6) = CAST(:w AS boolean))"
        "   AND (CAST(:h AS int[]) IS NULL OR extract(hour FROM ts)::int = ANY(CAST(:h AS int[])))"
        "   AND (CAST(:r AS text[]) IS NULL OR regions.name = ANY(CAST(:r AS text[])))"
        "   AND (CAST(:d AS text[]) IS NULL OR d.name = ANY(CAST(:d AS text[])))"
        " GROUP BY 1, 2, 3 ORDER BY n DESC, o, d, h"),
        {"l": level, "b": bucket, "f": date_from, "t": date_to, "w": weekend, "h": hours,
         "r": regions, "d": datasources}).all()


def _dated_groups_recount(conn, level: int, bucket: int, date_from: str, date_to: str, weekend, hours,
                          regions=None, datasources=None) -> tuple:
    """Groups over a period counted straight from the raw trips (the definition), as a set."""
    from core import grid
    cell = {v: k for k, v in grid.LEVELS.items()}[level]
    rows = _dated_group_rows(conn, level, bucket, date_from, date_to, weekend, hours, regions, datasources)
    return (sum(r.n for r in rows),
            {(grid.label(r.o, cell), grid.label(r.d, cell), r.h * bucket, r.n) for r in rows})


# Rows of trip_times that come before the row stored ahead of them in (month, region, datasource,
# time) order: none within one compaction's run (sql/22_trip_times_by_region.sql).
ORDER_BROKEN = (
    "SELECT count(*) FROM (SELECT (date_trunc('month', ts), region_id, datasource_id, ts)"
    "  < (lag(date_trunc('month', ts)) OVER w, lag(region_id) OVER w, lag(datasource_id) OVER w, lag(ts) OVER w)"
    "  AS back FROM trip_times WINDOW w AS (ORDER BY ctid)) o WHERE back")


def test_trip_times_hold_every_folded_trip_in_order_and_dated_groups_stay_exact(db_url, tmp_path, write_csv, monkeypatch):
    """Pass: compaction copies the trips of the jobs completed since into trip_times, in (month,
    region, datasource, time) order within each run, once (not a failed or duplicate job's); groups over a
    period (fine and medium cells, with days, hours, regions and datasources) equal a count of the
    raw trips before compaction, after it, with a job loaded since
    (its trips read from its own partition), and after trip_times was emptied as in a database
    compacted before it existed (a compaction with nothing to fold fills it); pair_days holds
    the same trips by medium cells and day."""
    import core.groups
    from core.groups import whole_buckets
    monkeypatch.setattr(core.groups, "_NAMED_MONTHS_MIN_TRIPS", 0)  # (a few thousand trips here)
    for i, n in enumerate((3_000, 2_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=10 + i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url).status == "completed"
    assert core.ingest_file(str(tmp_path / "0.csv"), url=db_url).status == "duplicate"
    bad = write_csv(HEADER + row() + "x,POINT (1 2),oops,2018-01-01 00:00:00,s\n", "bad.csv")
    assert core.ingest_file(bad, max_bad_rows="0", url=db_url).status == "failed"
    cases = [("fine", 1, "2019-02-01", "2019-05-31", None, None), ("medium", 2, "2018-12-24", "2019-01-06", None, None),
             ("medium", 3, "2019-03-01", "2020-02-29", True, None), ("fine", 4, "2018-05-01", "2019-10-31", False, [7, 8, 17]),
             ("medium", 1, "2019-01-01", "2019-12-31", None, None, ["Prague"], None),
             ("fine", 2, "2018-07-01", "2019-06-30", True, None, None, ["cheap_mobile"]),
             ("medium", 6, "2018-10-01", "2019-09-30", None, None, ["Hamburg", "Vienna", "Atlantis"], ["funny_car", "baba_car"]),
             ("coarse", 24, "2019-01-01", "2019-03-31", None, None, ["Atlantis"], None),
             ("coarse", 1, "2018-11-05", "2019-08-20", False, None, ["Prague", "Berlin"], None)]

    def check():
        with engine(db_url).connect() as conn:
            for cell, bucket, f, t, weekend, hours, *named in cases:
                regions, datasources = named or (None, None)
                days = {None: "all", True: "weekend", False: "weekdays"}[weekend]
                res = core.trip_groups(cell=cell, bucket_hours=bucket, limit=5000, date_from=f, date_to=t,
                                       days=days, hours=hours, regions=regions, datasources=datasources, url=db_url)
                total, groups = _dated_groups_recount(conn, grid_level(cell), bucket, f, t, weekend, hours,
                                                      regions, datasources)
                assert (0 < total < 5_000 if regions != ["Atlantis"] else total == 0) and len(groups) < 5000
                assert res["total_trips"] == total
                assert {(g["origin_cell"], g["destination_cell"], g["bucket_start_hour"], g["trips"])
                        for g in res["groups"]} == groups
                # medium and coarse groups over months: those months' kept lists (the test below)
                want = kept() if months_read(cell, bucket, f, t, hours, regions, datasources) else "trips"
                if not whole_buckets(hours, bucket) and want == "kept+new":  # (month counts: not with a job since)
                    want = "trips"
                assert res["source"] == want, (cell, bucket, f, t, hours, named)

    def months_read(cell, bucket, f, t, hours, regions, datasources):
        # periods with most of a month's days; of everything, or (1-hour buckets) of regions or of datasources
        # (fine cells: 1-hour buckets of everything); hours that are not whole buckets: of
        # everything, one region or one datasource (the 1-hour list's month counts, summed)
        if not whole_buckets(hours, bucket):
            read = len(regions or ()) + len(datasources or ()) <= 1
        else:
            read = ((bucket == 1 and not (regions or datasources)) if cell == "fine" else
                    not (regions and datasources) and (bucket == 1 or not (regions or datasources)))
        return read and (f, t) in {
            ("2019-03-01", "2020-02-29"), ("2019-01-01", "2019-12-31"), ("2019-01-01", "2019-03-31"),
            ("2018-11-05", "2019-08-20"), ("2019-02-01", "2019-05-31"), ("2018-05-01", "2019-10-31")}

    def kept():  # how months are read: the kept lists, with the jobs loaded since; before any compaction, raw
        with engine(db_url).connect() as conn:
            if not conn.execute(sa.text("SELECT EXISTS (SELECT FROM compaction_state)")).scalar():
                return "trips"
            if conn.execute(sa.text(  # folded trips missing from trip_times, where the days around are read
                    "SELECT EXISTS (SELECT FROM jobs WHERE status = 'completed' AND job_id NOT IN"
                    " (SELECT job_id FROM jobs_since_compaction) AND job_id NOT IN (SELECT job_id FROM trip_times_jobs))"
            )).scalar():
                return "trips"
            return "kept+new" if conn.execute(sa.text("SELECT count(*) FROM jobs_since_compaction")).scalar() else "kept"

    def copied():
        with engine(db_url).connect() as conn:
            jobs = [r[0] for r in conn.execute(sa.text("SELECT job_id FROM trip_times_jobs ORDER BY 1"))]
            cols = "ts, o_cell, d_cell, region_id, datasource_id"
            differ = conn.execute(sa.text(
                f"SELECT count(*) FROM ((SELECT {cols} FROM trip_times EXCEPT ALL SELECT {cols} FROM trips"
                f"   WHERE job_id = ANY(CAST(:j AS int[])))"
                f" UNION ALL (SELECT {cols} FROM trips WHERE job_id = ANY(CAST(:j AS int[]))"
                f"   EXCEPT ALL SELECT {cols} FROM trip_times)) d"), {"j": jobs}).scalar()
            unordered = conn.execute(sa.text(ORDER_BROKEN)).scalar()  # (one run: one compaction's)
            # pair_days (sql/25): those jobs' trips by medium cells and day, a row per key and run
            differ += conn.execute(sa.text(
                "SELECT count(*) FROM (SELECT o_medium, d_medium, day, sum(trips) AS trips FROM pair_days GROUP BY 1, 2, 3) p"
                " FULL JOIN (SELECT grid_parent(o_cell, 1::smallint) AS o_medium, grid_parent(d_cell, 1::smallint) AS d_medium,"
                "            ts::date AS day, count(*) AS trips FROM trips WHERE job_id = ANY(CAST(:j AS int[])) GROUP BY 1, 2, 3) t"
                " USING (o_medium, d_medium, day, trips) WHERE p.day IS NULL OR t.day IS NULL"), {"j": jobs}).scalar()
            return jobs, differ, unordered

    def asks(read, **named):  # a caller that asks before reading many raw trips is told how many at most
        # (one hour of a 2-hour bucket: not from the month's lists; one month: not from the month counts)
        kw = dict(cell="fine", bucket_hours=2, hours=[9], date_from="2019-02-01", date_to="2019-02-28", url=db_url, **named)
        assert core.trip_groups(**kw, count_raw_above=read)["source"] == "trips"
        with pytest.raises(core.RawCountNeeded) as asked:
            core.trip_groups(**kw, count_raw_above=read - 1)
        assert asked.value.trips == read and not asked.value.since_compaction

    from core.grid import LEVELS
    grid_level = LEVELS.__getitem__
    with engine(db_url).connect() as conn:
        period = conn.execute(sa.text("SELECT count(*) FROM trips WHERE ts >= '2019-02-01' AND ts < '2019-03-01'")).scalar()
        prague = conn.execute(sa.text(  # (those of the region named only)
            "SELECT count(*) FROM trips JOIN regions USING (region_id)"
            " WHERE name = 'Prague' AND ts >= '2019-02-01' AND ts < '2019-03-01'")).scalar()
    check()
    asks(5_000)  # every trip, in trips
    core.compact_summaries(url=db_url)
    jobs, differ, unordered = copied()
    assert jobs == [1, 2] and differ == 0 and unordered == 0
    check()
    asks(period)  # the period's only
    asks(prague, regions=["Prague"])
    generate(str(tmp_path / "late.csv"), 1_000, seed=12)
    assert core.ingest_file(str(tmp_path / "late.csv"), url=db_url).status == "completed"
    check()  # the late job's trips from trips, the others from trip_times
    core.compact_summaries(url=db_url)
    jobs, differ, _ = copied()
    assert jobs == [1, 2, 5] and differ == 0
    check()
    from core.compact import compaction_due
    assert not compaction_due(db_url)
    with engine(db_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM trip_times; DELETE FROM trip_times_jobs; DELETE FROM pair_days"))
    check()  # every job's trips from trips
    assert compaction_due(db_url)  # so that `compact --if-due` and the dashboard fill trip_times
    core.compact_summaries(url=db_url)  # nothing to fold: trip_times filled all the same
    jobs, differ, unordered = copied()
    assert jobs == [1, 2, 5] and differ == 0 and unordered == 0
    assert not compaction_due(db_url)
    check()


def test_dated_groups_from_the_lists_of_months_equal_the_raw_count(db_url, tmp_path, monkeypatch, month_lists_only):
    """Pass: medium and coarse groups over a date range, read from the lists compaction keeps of
    each month (sql/21) most of whose days are in the range, with the other days counted from
    trip_times (or taken out of a partial month's list) and the jobs loaded since from their own
    trips, equal the raw count (all regions and all datasources
    named, which is never read from the lists): the same groups in the same order, the same total, a number of groups
    exact or a range around the true one; for periods aligned to months or not, open at either
    end, reaching before the first trip, within one month, all days, weekdays or weekend, hours of
    the day (with 1-hour buckets, or whole 6-hour buckets: the lists' totals per bucket), of everything, two regions or a
    datasource (their lists of each month summed). With complete lists every such answer
    is read from them; with lists of 3 groups, a busy group
    that is in every month's list is proved the top one, and what cannot be proved is counted.
    A caller that asks before reading many raw trips is told how many the days counted at the
    ends and the new jobs hold."""
    import core.groups
    monkeypatch.setattr(core.groups, "_NAMED_MONTHS_MIN_TRIPS", 0)  # (below: the threshold itself)
    for i, n in enumerate((3_000, 2_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=30 + i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url).status == "completed"
    busy = "".join(row(region="Busy", o=(14.4201, 50.0801), d=(14.4901, 50.1101), when=f"2019-0{m}-1{d} 08:1{k}:00")
                   for m in (1, 2, 3) for d in range(10) for k in range(4))
    (tmp_path / "busy.csv").write_text(HEADER + busy)
    assert core.ingest_file(str(tmp_path / "busy.csv"), url=db_url).status == "completed"
    periods = (("2019-01-01", "2019-03-31"), ("2019-01-10", "2019-03-20"), ("2018-12-31", "2019-02-01"),
               (None, "2018-03-31"), ("2020-02-01", None), ("2019-02-03", "2019-02-25"), ("2017-01-01", "2018-02-28"),
               ("2019-01-05", "2019-03-27"), ("2019-01-20", "2019-02-10"))

    def check(limits=(1, 50)):
        every_region, sources = core.regions(url=db_url), set()
        every_source = [name for name, in sql_rows(db_url, "SELECT name FROM datasources")]
        for cell, (hours, of_day), (f, t), days, limit, named in itertools.product(
                ("medium", "coarse"), ((1, None), (6, None), (1, [8, 9, 23]), (6, [6, 7, 8, 9, 10, 11])), periods,
                ("all", "weekdays", "weekend"),
                limits, ({}, {"regions": ["Prague", "Berlin"]}, {"datasources": ["cheap_mobile"]})):
            if named and (cell != "medium" or days == "weekdays" or (hours, of_day) != (1, None)):
                continue  # (kept of 1-hour buckets only, and cut as those of everything)
            kw = dict(cell=cell, bucket_hours=hours, hours=of_day, date_from=f, date_to=t, days=days, limit=limit,
                      url=db_url)
            a = core.trip_groups(**kw, **named)
            b = core.trip_groups(**kw, **{"regions": every_region, "datasources": every_source, **named})
            assert b["source"] == "trips"
            assert (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"]), (kw, named)
            lo, hi = a["total_groups_bounds"]
            assert lo <= b["total_groups"] <= hi and a["total_groups"] in (None, b["total_groups"]), (kw, named)
            sources.add((a["source"], f, t, limit))
        return sources

    core.compact_summaries(url=db_url)
    # a database compacted before there were month lists: compaction is due, and makes them with
    # nothing to fold
    from core.compact import compaction_due
    assert not compaction_due(db_url)
    with engine(db_url).begin() as conn:
        for table in ("flow_top", "flow_top_totals", "flow_top_hours"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE month > '-infinity'"))
    assert core.trip_groups(date_from="2019-01-01", date_to="2019-03-31", url=db_url)["source"] == "trips"
    assert compaction_due(db_url)
    core.compact_summaries(url=db_url)
    assert not compaction_due(db_url)
    sources = check()
    # complete lists: every period with most of a month is read from them; less than half of two
    # months is counted
    assert {s for s, f, t, limit in sources if (f, t) != ("2019-01-20", "2019-02-10")} == {"kept"}
    assert {s for s, f, t, limit in sources if (f, t) == ("2019-01-20", "2019-02-10")} == {"trips"}
    # other answers still read the raw trips: hours of the day that are not whole buckets, a region and a
    # datasource, fine cells of a region, a region's hours of the day, a datasource's 6-hour
    # buckets, two datasources
    for kw in (dict(hours=[8], bucket_hours=2), dict(regions=["Busy"], datasources=["x"]),
               dict(cell="fine", regions=["Busy"]), dict(regions=["Busy"], hours=[8]),
               dict(datasources=["funny_car"], bucket_hours=6), dict(datasources=["funny_car", "cheap_mobile"])):
        assert core.trip_groups(date_from="2019-01-01", date_to="2019-03-31", url=db_url, **kw)["source"] == "trips"
    # a region's period with fewer trips than _NAMED_MONTHS_MIN_TRIPS is counted (quicker than a
    # failed try of its lists); from that many, read from its lists
    prague = sql_rows(db_url, "SELECT count(*) FROM trips JOIN regions USING (region_id) WHERE name = 'Prague'"
                              " AND ts >= '2019-01-01' AND ts < '2019-04-01'")[0][0]
    for least, source in ((prague + 1, "trips"), (prague, "kept")):
        monkeypatch.setattr(core.groups, "_NAMED_MONTHS_MIN_TRIPS", least)
        assert core.trip_groups(regions=["Prague"], date_from="2019-01-01", date_to="2019-03-31",
                                url=db_url)["source"] == source
    monkeypatch.setattr(core.groups, "_NAMED_MONTHS_MIN_TRIPS", 0)

    def asks(f, t, read):
        kw = dict(date_from=f, date_to=t, url=db_url)
        assert core.trip_groups(**kw, count_raw_above=read)["source"] in ("kept", "kept+new")
        with pytest.raises(core.RawCountNeeded) as asked:
            core.trip_groups(**kw, count_raw_above=read - 1)
        assert asked.value.trips == read

    with engine(db_url).connect() as conn:
        # most of January and of March: their lists, less the days outside the period
        edges = conn.execute(sa.text("SELECT count(*) FROM trips WHERE ts >= '2019-01-01' AND ts < '2019-01-10'"
                                     " OR ts >= '2019-03-21' AND ts < '2019-04-01'")).scalar()
    asks("2019-01-10", "2019-03-20", edges)
    # a job loaded since: its trips are added from its own partition (all of them count as read)
    generate(str(tmp_path / "late.csv"), 1_000, seed=32)
    assert core.ingest_file(str(tmp_path / "late.csv"), url=db_url).status == "completed"
    assert {s for s, f, t, limit in check() if (f, t) == ("2019-01-01", "2019-03-31")} == {"kept+new"}
    asks("2019-01-10", "2019-03-20", edges + 1_000)
    # short lists: the busy group (40 trips a month) is proved the top one; the rest is counted
    monkeypatch.setattr(core.groups, "KEPT_TOP", 3)
    generate(str(tmp_path / "later.csv"), 500, seed=33)
    assert core.ingest_file(str(tmp_path / "later.csv"), url=db_url).status == "completed"
    core.compact_summaries(url=db_url)
    sources = check(limits=(1, 5))
    assert ("kept", "2019-01-01", "2019-03-31", 1) in sources and ("trips", "2019-01-01", "2019-03-31", 5) in sources
    top = core.trip_groups(date_from="2019-01-01", date_to="2019-03-31", limit=1, url=db_url)
    assert top["source"] == "kept" and top["groups"][0]["trips"] >= 40 * 3
    # a job loaded since, with trips of the busy group and of months after the lists (none kept):
    # the short lists with its trips added, where provable
    late = "".join(row(region="Busy", o=(14.4201, 50.0801), d=(14.4901, 50.1101), when=f"2019-02-2{d} 08:30:00")
                   for d in range(5))
    late += "".join(row(region="Late", o=(16.3701, 48.2001), d=(16.3801, 48.2101), when=f"2020-0{m}-0{d} 12:00:00")
                    for m in (8, 9) for d in range(1, 4))
    (tmp_path / "late2.csv").write_text(HEADER + late)
    assert core.ingest_file(str(tmp_path / "late2.csv"), url=db_url).status == "completed"
    periods += (("2020-06-01", None), ("2020-08-01", "2020-08-31"))
    sources = check(limits=(1, 5))
    assert ("kept+new", "2019-01-01", "2019-03-31", 1) in sources
    top = core.trip_groups(date_from="2019-01-01", date_to="2019-03-31", limit=1, url=db_url)
    assert top["source"] == "kept+new" and top["groups"][0]["trips"] >= 40 * 3 + 5
    assert core.trip_groups(date_from="2020-08-01", date_to="2020-08-31", url=db_url)["total_trips"] == 3
    # lists whose totals per hour are missing (never written apart; as if they were) are not read
    with engine(db_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM flow_top_hours WHERE month > '-infinity'"))
    kw = dict(date_from="2019-01-01", date_to="2019-03-31", hours=[8], limit=1, url=db_url)
    a, b = core.trip_groups(**kw), core.trip_groups(**kw, regions=core.regions(url=db_url))
    assert a["source"] == "trips" and (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"])


def _load_trips_and_a_busy_group(url, tmp_path, seed: int) -> None:
    """Two files of generated trips (3,000 and 2,000), and a busy group: 40 trips of region Busy in
    fine cells of their own at 8 o'clock, two a day on 1-20 February 2019."""
    for i, n in enumerate((3_000, 2_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=seed + i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=url).status == "completed"
    busy = "".join(row(region="Busy", o=(14.4201, 50.0801), d=(14.4211, 50.0811), when=f"2019-02-{d:02d} 08:1{k}:00")
                   for d in range(1, 21) for k in range(2))
    (tmp_path / "busy.csv").write_text(HEADER + busy)
    assert core.ingest_file(str(tmp_path / "busy.csv"), url=url).status == "completed"


def test_fine_groups_over_months_from_their_lists_equal_the_raw_count(db_url, tmp_path, monkeypatch, month_lists_only):
    """Pass: fine groups (1-hour and 3-hour buckets) over a period that takes in most of one month or more are
    read from those months' fine lists (the days around them counted, or taken out of them), and
    equal the raw count (all regions named): all days, weekdays, weekend, hours of the day (whole
    buckets), any limit; with a job loaded since; with short lists where the lists prove them, with their unsure
    groups recounted. Periods with no month's list (less than half of each), or hours that are not
    whole buckets, are counted. A database compacted before there were fine
    month lists (or before those of buckets over an hour, Dec 7) counts them (a missing list is not
    read as no trips), is due for compaction, and
    gets them from a compaction with nothing to fold, its other month lists made again once."""
    import core.groups
    from core.compact import compaction_due
    _load_trips_and_a_busy_group(db_url, tmp_path, seed=40)
    one_month = (("2019-02-01", "2019-02-28"), ("2019-02-03", "2019-02-25"), ("2019-01-31", "2019-03-02"),
                 ("2019-02-10", "2019-03-05"), ("2019-01-01", "2019-02-28"), ("2019-01-05", "2019-03-20"))
    counted = (("2019-01-20", "2019-02-10"),)

    def check(limits=(1, 50, 5000), buckets=((1, None), (1, [8, 9, 23]))):
        every_region, sources = core.regions(url=db_url), {}
        for (bucket, of_day), (f, t), days, limit in itertools.product(
                buckets, one_month + counted, ("all", "weekdays", "weekend"), limits):
            kw = dict(cell="fine", bucket_hours=bucket, hours=of_day, date_from=f, date_to=t, days=days, limit=limit,
                      url=db_url)
            a, b = core.trip_groups(**kw), core.trip_groups(**kw, regions=every_region)
            assert b["source"] == "trips"
            assert (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"]), kw
            lo, hi = a["total_groups_bounds"]
            assert lo <= b["total_groups"] <= hi and a["total_groups"] in (None, b["total_groups"]), kw
            sources.setdefault((f, t), set()).add((a["source"], limit))
        return sources

    core.compact_summaries(url=db_url)
    sources = check(buckets=((1, None), (1, [8, 9, 23]), (3, None), (3, [6, 7, 8, 21, 22, 23])))
    assert all({s for s, _ in sources[p]} == {"kept"} for p in one_month)
    assert all({s for s, _ in sources[p]} == {"trips"} for p in counted)
    feb = dict(cell="fine", date_from="2019-02-01", date_to="2019-02-28", url=db_url)
    assert core.trip_groups(**feb, bucket_hours=2, hours=[8])["source"] == "trips"  # (not a whole bucket)
    top = core.trip_groups(**feb, limit=1)["groups"][0]
    assert top["trips"] == 40 and top["bucket_start_hour"] == 8

    # compacted before fine month lists of buckets over an hour (Dec 7): counted, due, and made
    # with nothing to fold
    with engine(db_url).begin() as conn:
        for table in ("flow_top", "flow_top_totals"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE level = 0 AND bucket_hours > 1 AND month > '-infinity'"))
        conn.execute(sa.text("DELETE FROM flow_top_hours WHERE level = 0 AND bucket_hours > 1 AND month > '-infinity'"))
    three = core.trip_groups(**feb, bucket_hours=3)
    assert three["source"] == "trips" and compaction_due(db_url)
    core.compact_summaries(url=db_url)
    assert not compaction_due(db_url)
    again = core.trip_groups(**feb, bucket_hours=3)
    assert again["source"] == "kept" and (again["groups"], again["total_trips"]) == (three["groups"], three["total_trips"])

    # compacted before there were fine month lists: counted, due, and made with nothing to fold
    with engine(db_url).begin() as conn:
        for table in ("flow_top", "flow_top_totals", "flow_top_hours"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE level = 0 AND month > '-infinity'"))
    res = core.trip_groups(**feb)
    assert res["source"] == "trips" and res["total_trips"] > 40
    assert compaction_due(db_url)
    medium = dict(date_from="2019-01-01", date_to="2019-03-31", url=db_url)
    before = core.trip_groups(**medium)
    core.compact_summaries(url=db_url)
    assert not compaction_due(db_url)
    after = core.trip_groups(**medium)
    assert after["source"] == before["source"] == "kept" and after["groups"] == before["groups"]
    assert core.trip_groups(**feb)["source"] == "kept"

    # a job loaded since: its trips added from its own partition
    generate(str(tmp_path / "late.csv"), 1_000, seed=42)
    assert core.ingest_file(str(tmp_path / "late.csv"), url=db_url).status == "completed"
    sources = check(limits=(1, 50))
    assert all({s for s, _ in sources[p]} == {"kept+new"} for p in one_month)

    # short lists: the busy group (40 trips) is proved the top one of February; the rest is counted
    monkeypatch.setattr(core.groups, "KEPT_TOP", 3)
    core.compact_summaries(url=db_url)
    sources = check(limits=(1, 5))
    assert ("kept", 1) in sources[("2019-02-01", "2019-02-28")]
    assert ("trips", 5) in sources[("2019-02-01", "2019-02-28")]
    # over months, the lists are tried only when their limit-th group, summed, counts more than
    # the months' least counts summed (a group in none of them may count that much): the busy
    # group alone, proved (recounted: it is not in January's list); their top 5 counted at once
    tried = []
    monkeypatch.setattr(core.groups, "_kept", lambda c, params, kept=core.groups._kept: tried.append(1) or kept(c, params))
    with engine(db_url).connect() as conn:
        lists = ("FROM flow_top WHERE level = 0 AND bucket_hours = 1 AND region_id = 0 AND datasource_id = 0"
                 " AND days = 0 AND month IN ('2019-01-01', '2019-02-01')")
        least = conn.execute(sa.text(f"SELECT sum(trips[cardinality(trips)]) {lists}")).scalar()
        fifth = conn.execute(sa.text(
            f"SELECT sum(g.trips) FROM (SELECT unnest(o_cells) o, unnest(d_cells) d, unnest(buckets) b, unnest(trips) trips"
            f" {lists}) g GROUP BY o, d, b ORDER BY 1 DESC OFFSET 4 LIMIT 1")).scalar()
    assert fifth <= least < 40
    both = dict(cell="fine", date_from="2019-01-01", date_to="2019-02-28", url=db_url)
    assert (core.trip_groups(**both, limit=1)["source"], len(tried)) == ("kept", 1)
    assert (core.trip_groups(**both, limit=5)["source"], len(tried)) == ("trips", 1)


def _names_key(names: dict) -> tuple:
    """The regions or datasources named in ``names`` (trip_groups' keywords), hashable."""
    return tuple((k, tuple(v)) for k, v in sorted(names.items()))


def _top_groups_recount(url, level: int, bucket: int, date_from: str, date_to: str, weekend, hours, limit: int,
                        regions=None, datasources=None) -> tuple:
    """The top ``limit`` groups over a period, counted straight from the raw trips (the
    definition), in the answer's order, with the trips and groups of the period."""
    from core import grid
    cell = {v: k for k, v in grid.LEVELS.items()}[level]
    with engine(url).connect() as conn:
        rows = _dated_group_rows(conn, level, bucket, date_from, date_to, weekend, hours, regions, datasources)
    top = [(grid.label(r.o, cell), grid.label(r.d, cell), r.h * bucket, r.n) for r in rows[:limit]]
    return top, sum(r.n for r in rows), len(rows)


def test_dated_groups_from_the_month_counts_of_the_list_of_all_dates_equal_the_raw_count(db_url, tmp_path, monkeypatch):
    """Pass: compaction counts, in each month, the groups of the lists of all dates of everything
    (every level and bucket size, all days, weekdays, weekend; of each region and datasource, 1-hour
    buckets; sql/31_list_month_counts.sql, sql/32); groups of all
    regions and datasources over a date range that takes in most of two months or more are read from
    them, the days around the months counted, or those outside a month taken out, and equal the raw
    count (groups, order, total trips; the number of groups within the bounds given): all days,
    weekdays, weekend, 1, 3 and 24-hour buckets, hours of the day (in whole buckets; others from
    the 1-hour list's counts, summed by bucket: core/groups_hours.py), any limit; so are those of one region or one datasource (their own lists' counts,
    1-hour buckets; not of two, nor of both, nor of an unknown name). With short lists: taken where the answer's last
    group counts more than the list's least count, else answered as before (exact too). Not with a
    job loaded since, nor from a database compacted before sql/31 (which is due for compaction and
    gets them from one with nothing to fold)."""
    import core.groups
    from core.compact import compaction_due
    _load_trips_and_a_busy_group(db_url, tmp_path, seed=50)
    taken, summed = [], []
    counted, hours_summed = core.groups.month_counted, core.groups.months_hours_summed
    monkeypatch.setattr(core.groups, "month_counted", lambda c, params: taken.append(counted(c, params)) or taken[-1])
    monkeypatch.setattr(core.groups, "months_hours_summed",
                        lambda c, params: summed.append(hours_summed(c, params)) or summed[-1])
    # two whole months; two with days around them; two and most of two more (their other days
    # taken out); most of one, then one, then most of one
    periods = (("2019-01-01", "2019-02-28"), ("2018-12-20", "2019-03-10"), ("2019-01-05", "2019-03-20"),
               ("2018-12-10", "2019-02-25"))

    shapes = ((1, None), (1, [8, 9, 23]), (3, None), (24, None), (3, [6, 7, 8, 21, 22, 23]), (3, [8, 9, 23]))

    def check(limits, periods=periods, named=({},), shapes=shapes) -> dict:
        """Each answer against the raw count; by period, the limits answered from the month counts."""
        read = {}
        for (f, t), days, (bucket, of_day), limit, (cell, level), names in itertools.product(
                periods, ("all", "weekdays", "weekend"), shapes, limits, (("fine", 0), ("medium", 1), ("coarse", 2)), named):
            taken.clear()
            summed.clear()
            res = core.trip_groups(cell=cell, bucket_hours=bucket, date_from=f, date_to=t, days=days, hours=of_day,
                                   limit=limit, url=db_url, **names)
            weekend = {"all": None, "weekdays": False, "weekend": True}[days]
            top, trips, groups = _top_groups_recount(db_url, level, bucket, f, t, weekend, of_day, limit, **names)
            kw = (f, t, days, bucket, of_day, limit, cell, names)
            assert [(g["origin_cell"], g["destination_cell"], g["bucket_start_hour"], g["trips"])
                    for g in res["groups"]] == top, kw
            assert res["total_trips"] == trips, kw
            lo, hi = res["total_groups_bounds"]
            assert lo <= groups <= hi and res["total_groups"] in (None, groups), kw
            if taken and taken[-1] is not None:
                assert res["source"] == "kept"
                read.setdefault((f, t), set()).add((cell, limit, days, bucket, of_day is not None, _names_key(names)))
            if summed and summed[-1] is not None:  # (hours that are not whole buckets: core/groups_hours.py)
                assert res["source"] == "kept"
                read.setdefault((f, t), set()).add((cell, limit, days, bucket, "part", _names_key(names)))
        return read

    core.compact_summaries(url=db_url)
    with engine(db_url).connect() as conn:  # every month with trips, at each level
        months = conn.execute(sa.text("SELECT count(DISTINCT date_trunc('month', ts)) FROM trips")).scalar()
    # every month's counts of each list of all dates of everything, and of each region's and
    # datasource's 1-hour ones (every region keeps lists here: TRIPS_LIST_MIN_TRIPS is 0)
    kept = ("SELECT level, bucket_hours, region_id, datasource_id, days, count(*) FROM list_month_counts"
            " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5")
    lists = ("SELECT level, bucket_hours, region_id, datasource_id, days, {m}::bigint FROM flow_top WHERE month = '-infinity'"
             " AND (bucket_hours = 1 OR region_id + datasource_id = 0) ORDER BY 1, 2, 3, 4, 5")
    every = sql_rows(db_url, lists.format(m=months))
    assert {(level, bucket, days) for level, bucket, r, d, days, _ in every if r == d == 0} == set(
        itertools.product((0, 1, 2), core.groups.BUCKET_HOURS, (0, 1, 2)))
    assert {(r > 0, d > 0) for _, _, r, d, _, _ in every} == {(False, False), (True, False), (False, True)}
    assert sql_rows(db_url, kept) == every
    # the lists keep every group of these few trips: every answer is read from the month counts,
    # those of 3-hour buckets with hours of the day that are not whole buckets from the 1-hour
    # list's, summed
    read = check(limits=(1, 50, 5000))
    assert all(read.get(p) == {(cell, limit, days, bucket, hours, ()) for cell, limit, days, (bucket, hours) in itertools.product(
        ("fine", "medium", "coarse"), (1, 50, 5000), ("all", "weekdays", "weekend"),
        ((1, False), (1, True), (3, False), (24, False), (3, True), (3, "part")))}
        for p in periods), read
    # so are those of one region or one datasource, 1-hour buckets (of its own list); not of two,
    # nor of a region and a datasource together, nor in longer buckets
    one = ({"regions": ["Busy"]}, {"regions": ["Prague"]}, {"datasources": ["cheap_mobile"]})
    read = check(limits=(1, 50), named=one, shapes=((1, None), (1, [8, 9, 23]), (3, None), (3, [8, 9, 23])))
    want = {(cell, limit, days, bucket, hours, _names_key(names)) for cell, limit, days, (bucket, hours), names in itertools.product(
        ("fine", "medium", "coarse"), (1, 50), ("all", "weekdays", "weekend"), ((1, False), (1, True), (3, "part")), one)}
    assert all(read.get(p) == want for p in periods), {p: (sorted(want - read.get(p, set())), sorted(read.get(p, set()) - want)) for p in periods}
    assert not check(limits=(5,), periods=periods[:2], shapes=((1, None),),
                     named=({"regions": ["Busy", "Prague"]}, {"regions": ["Prague"], "datasources": ["cheap_mobile"]},
                            {"datasources": ["cheap_mobile", "funny_car"]}, {"regions": ["Nowhere"]}))
    # periods of one month or none (less than half of each) are not: a month's own list answers
    assert not check(limits=(5,), periods=(("2019-01-20", "2019-02-10"), ("2019-02-01", "2019-02-28"),
                                           ("2019-01-31", "2019-03-02")))

    # short lists (12 groups): the busy group (40 trips) is proved the top one of January and
    # February from them; the top 5 are not (a group missing from the list may count as much)
    monkeypatch.setattr(core.groups, "KEPT_TOP", 3)
    core.compact_summaries(url=db_url)  # (nothing to fold: the lists stay long)
    generate(str(tmp_path / "late.csv"), 500, seed=52)
    assert core.ingest_file(str(tmp_path / "late.csv"), url=db_url).status == "completed"
    assert not check(limits=(1,), periods=periods[:1])  # a job loaded since: not from them
    core.compact_summaries(url=db_url)
    read = check(limits=(1, 5), periods=periods[:2])
    assert ("fine", 1, "all", 1, False, ()) in read[periods[0]] and all(n == 1 for _, n, _, _, _, _ in set().union(*read.values()))

    # compacted before sql/32 (the counts of 1-hour buckets only), or before sql/31 (none): answered
    # as before, due, and made by a compaction with nothing to fold
    monkeypatch.undo()
    for gone in ("bucket_hours > 1", "true"):
        with engine(db_url).begin() as conn:
            conn.execute(sa.text(f"DELETE FROM list_month_counts WHERE {gone}"))
        asked = [dict(cell="fine", bucket_hours=bucket, date_from=f, date_to=t, url=db_url)
                 for bucket in (1, 3) for f, t in (periods[0], ("2019-02-01", "2019-02-28"))]
        before = [core.trip_groups(**a) for a in asked]
        # (each from the months' own lists where they prove it, or counted; the same answers below)
        assert {b["source"] for b in before} <= {"kept", "trips"}, gone
        assert compaction_due(db_url), gone
        core.compact_summaries(url=db_url)
        assert not compaction_due(db_url)
        assert [core.trip_groups(**a)["groups"] for a in asked] == [b["groups"] for b in before]
        assert sql_rows(db_url, kept) == every


def test_groups_the_lists_know_only_within_a_range_are_recounted_to_prove_the_answer(db_url, tmp_path, monkeypatch,
                                                                                    month_lists_only):
    """Pass: summed month lists of 3 groups each leave groups that may rank in the answer with their
    counts known only within a range (each is missing from some month's list); those groups, in the
    answer or just past it, are recounted from the raw trips, and the answer is read from the lists
    ("kept", "kept+new" with a job loaded since) and equals the raw count, ties in order, also with
    hours of the day: one by one through the cell indexes (up to _RECOUNT_MAX, not coarse cells),
    or for a datasource's period from its trips (up to _RECOUNT_PERIOD_MAX). Past those, the
    answer is counted, the same."""
    import core.groups
    monkeypatch.setattr(core.groups, "KEPT_TOP", 3)
    cells = {"A": ((14.4201, 50.0801), (14.4901, 50.1101)), "B": ((14.3501, 50.0201), (14.5501, 50.1501)),
             "K": ((14.4001, 50.1201), (14.4401, 50.1401)), "G": ((14.3101, 50.0001), (14.3301, 50.0201)),
             "C": ((14.6101, 50.2001), (14.6301, 50.2201)), "E": ((14.2101, 49.9001), (14.2301, 49.9201)),
             "F": ((14.1101, 49.8001), (14.1301, 49.8201))}
    # trips a month (January, February, March), all at 8 o'clock. The lists: January A, B, G;
    # February A, B, G; March K, A, C. B (81) misses March's, K (81) January's and February's:
    # with every group of the lists summed, A (150) is known, K and B only within a range.
    months = {"A": (50, 50, 50), "B": (40, 40, 1), "K": (0, 0, 81), "G": (2, 2, 2), "C": (0, 0, 3),
              "E": (1, 0, 0), "F": (0, 1, 0)}
    text = "".join(row(o=cells[g][0], d=cells[g][1], when=f"2019-0{m + 1}-{10 + k % 15:02d} 08:{k % 60:02d}:00")
                   for g, counts in months.items() for m, n in enumerate(counts) for k in range(n))
    text += row(o=cells["E"][0], d=cells["E"][1], when="2019-05-02 08:00:00")  # (a period less than every trip)
    (tmp_path / "a.csv").write_text(HEADER + text)
    assert core.ingest_file(str(tmp_path / "a.csv"), url=db_url).status == "completed"
    core.compact_summaries(url=db_url)
    q1 = dict(date_from="2019-01-01", date_to="2019-03-31", url=db_url)

    def same_as_raw(**kw):  # (all regions and datasources named: never read from lists)
        a = core.trip_groups(**q1, **kw)
        b = core.trip_groups(**q1, **{"regions": core.regions(url=db_url), "datasources": core.datasources(url=db_url),
                                      **kw})
        assert b["source"] == "trips"
        assert (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"]), kw
        return a

    # limit 2: K in the answer, B past it; 3: both in it; 1: A alone, proved as it is
    for kw, trips in ((dict(limit=2), [150, 81]), (dict(limit=3), [150, 81, 81]), (dict(limit=2, hours=[8]), [150, 81]),
                      (dict(limit=1, hours=[8, 9]), [150])):
        res = same_as_raw(**kw)
        assert res["source"] == "kept" and [g["trips"] for g in res["groups"]] == trips, kw
    # more than _RECOUNT_MAX (two here): recounted from the period's trips, of everything or of a
    # datasource (its own month lists: every trip here is funny_car's), in any cells, up to
    # _RECOUNT_PERIOD_MAX
    monkeypatch.setattr(core.groups, "_RECOUNT_MAX", 1)
    monkeypatch.setattr(core.groups, "_NAMED_MONTHS_MIN_TRIPS", 0)
    for named, (kw, trips) in itertools.product(({}, {"datasources": ["funny_car"]}), (
            (dict(limit=2), [150, 81]), (dict(limit=3), [150, 81, 81]), (dict(limit=2, hours=[8]), [150, 81]))):
        if named and "hours" in kw:
            continue  # (a datasource's lists are read without hours of the day)
        res = same_as_raw(**kw, **named)
        assert res["source"] == "kept" and [g["trips"] for g in res["groups"]] == trips, (kw, named)
    for cell in ("coarse", "fine"):
        for named in ({}, {"datasources": ["funny_car"]}):
            same_as_raw(cell=cell, limit=2, **named)
    period_max = core.groups._RECOUNT_PERIOD_MAX
    monkeypatch.setattr(core.groups, "_RECOUNT_PERIOD_MAX", {0: 1, 1: 1, 2: 1})
    for named in ({}, {"datasources": ["funny_car"]}):
        assert same_as_raw(limit=2, **named)["source"] == "trips"
    monkeypatch.setattr(core.groups, "_RECOUNT_MAX", 4)
    assert same_as_raw(cell="coarse", limit=2)["source"] == "trips"  # (coarse: not by cells)
    monkeypatch.setattr(core.groups, "_RECOUNT_PERIOD_MAX", period_max)
    # a job loaded since, with one more trip of B in March and one of A: recounted with it
    (tmp_path / "b.csv").write_text(HEADER + row(o=cells["B"][0], d=cells["B"][1], when="2019-03-20 08:30:00")
                                    + row(o=cells["A"][0], d=cells["A"][1], when="2019-03-21 08:30:00"))
    assert core.ingest_file(str(tmp_path / "b.csv"), url=db_url).status == "completed"
    for named in ({}, {"datasources": ["funny_car"]}):
        res = same_as_raw(limit=2, **named)
        assert res["source"] == "kept+new" and [g["trips"] for g in res["groups"]] == [151, 82], named


# Seven groups A-G, each of fine (and medium) cells of its own, and the trips of each (group, region,
# datasource, trips), for the tests of the answers counted for the kept lists' groups.
_GROUP_CELLS = {g: ((14.30 + 0.02 * i + 0.0001, 50.01 + 0.0001), (14.30 + 0.02 * i + 0.0001, 50.21 + 0.0001))
                for i, g in enumerate("ABCDEFG")}
_GROUP_TRIPS = [("A", "Prague", "x", 10), ("B", "Prague", "x", 8), ("C", "Prague", "x", 6), ("D", "Prague", "x", 2),
                ("A", "Prague", "y", 5), ("E", "Prague", "y", 9), ("F", "Brno", "x", 20), ("G", "Brno", "y", 1)]


def _group_rows(hour) -> str:
    """The rows of _GROUP_TRIPS on the weekdays of 4-8 March 2019, a group's k-th at ``hour(k)``."""
    return "".join(row(region=r, source=s, o=_GROUP_CELLS[g][0], d=_GROUP_CELLS[g][1],
                       when=f"2019-03-{4 + k % 5:02d} {hour(k):02d}:{k:02d}:00")
                   for g, r, s, n in _GROUP_TRIPS for k in range(n))


def test_hours_that_are_not_whole_buckets_are_summed_from_the_hourly_lists(db_url, tmp_path, monkeypatch):
    """Pass: groups of all dates with hours of the day that are not whole buckets (7-9 h in 3-hour
    buckets) equal the raw count (every region and datasource named, which counts the trips):
    every cell size and bucket size, of everything, one region or one datasource, all days or
    weekend. With lists that keep every group they are read from the 1-hour lists, summed
    by bucket ("kept"); with short lists only where those prove them: a busy group at 7 and 8
    o'clock is the top one, but not with a group known only within a range (in one hour's list,
    not the other's) or one in no list that may count as much. Not with a job loaded since."""
    import core.groups
    for i, n in enumerate((3_000, 2_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=70 + i)
        assert core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url).status == "completed"
    busy = "".join(row(region="Busy", o=(14.4201, 50.0801), d=(14.4211, 50.0811), when=f"2019-02-{d:02d} {h:02d}:1{k}:00")
                   for d in range(1, 21) for h in (7, 8) for k in range(2))
    (tmp_path / "busy.csv").write_text(HEADER + busy)
    assert core.ingest_file(str(tmp_path / "busy.csv"), url=db_url).status == "completed"
    every_region, every_source = core.regions(url=db_url), core.datasources(url=db_url)

    def check(limits, cells=("fine", "medium", "coarse"), shapes=((3, [7, 8, 9]), (2, [8]), (4, [22, 23, 0, 1, 2]),
                                                                   (24, [7, 8]), (6, [6, 7, 8, 9, 10]))):
        sources = set()
        for cell, (bucket, of_day), named, days, limit in itertools.product(
                cells, shapes, ({}, {"regions": ["Busy"]}, {"datasources": [every_source[0]]}, {"regions": ["Nowhere"]}),
                ("all", "weekend"), limits):
            kw = dict(cell=cell, bucket_hours=bucket, hours=of_day, days=days, limit=limit, url=db_url)
            a = core.trip_groups(**kw, **named)
            b = core.trip_groups(**kw, **{"regions": every_region, "datasources": every_source, **named})
            assert b["source"] in ("summary", "trips")
            assert (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"]), (kw, named)
            lo, hi = a["total_groups_bounds"]
            assert lo <= b["total_groups"] <= hi and a["total_groups"] in (None, b["total_groups"]), (kw, named)
            sources.add((a["source"], cell, bucket, limit, tuple(named.get("regions", ()))))
        return sources

    core.compact_summaries(url=db_url)
    sources = check(limits=(1, 50))
    assert {s for s, cell, bucket, limit, regions in sources if regions != ("Nowhere",)} == {"kept"}
    # short lists (1-hour lists of 8 groups): the busy group (40 trips at 7, 40 at 8) is proved the
    # top one of 7-9 h in 3-hour buckets; past it, a group may count as much without being seen
    monkeypatch.setattr(core.groups, "KEPT_TOP", 2)
    core.compact_summaries(url=db_url)  # (nothing to fold: the lists stay long)
    generate(str(tmp_path / "late.csv"), 500, seed=72)
    assert core.ingest_file(str(tmp_path / "late.csv"), url=db_url).status == "completed"
    sources = check(limits=(1,), shapes=((3, [7, 8, 9]),))  # a job loaded since: not from the lists
    assert not {s for s in sources if s[0] == "kept"}
    core.compact_summaries(url=db_url)
    sources = check(limits=(1, 5), shapes=((3, [7, 8, 9]),))
    assert ("kept", "fine", 3, 1, ()) in sources and ("kept", "medium", 3, 1, ("Busy",)) in sources
    assert ("trips", "fine", 3, 5, ()) in sources
    top = core.trip_groups(cell="fine", bucket_hours=3, hours=[7, 8, 9], limit=1, url=db_url)
    assert top["source"] == "kept" and top["groups"][0]["trips"] == 80 and top["groups"][0]["bucket_start_hour"] == 6
    # the busy group's 8 o'clock trips in no list: its count is known only within a range
    with engine(db_url).begin() as conn:
        lists = sql_rows(db_url, "SELECT level, region_id, datasource_id, days, buckets FROM flow_top"
                                 " WHERE bucket_hours = 1 AND month = '-infinity' AND 8 = ANY(buckets) AND 7 = ANY(buckets)")
        assert lists
        for level, region_id, datasource_id, days, buckets in lists:
            keep = [i + 1 for i, h in enumerate(buckets) if h != 8]
            conn.execute(sa.text(
                "UPDATE flow_top SET o_cells = (SELECT array_agg(o_cells[i] ORDER BY i) FROM unnest(CAST(:keep AS int[])) i),"
                " d_cells = (SELECT array_agg(d_cells[i] ORDER BY i) FROM unnest(CAST(:keep AS int[])) i),"
                " buckets = (SELECT array_agg(buckets[i] ORDER BY i) FROM unnest(CAST(:keep AS int[])) i),"
                " trips = (SELECT array_agg(trips[i] ORDER BY i) FROM unnest(CAST(:keep AS int[])) i)"
                " WHERE bucket_hours = 1 AND month = '-infinity' AND (level, region_id, datasource_id, days) = (:l, :r, :d, :days)"),
                {"keep": keep, "l": level, "r": region_id, "d": datasource_id, "days": days})
    unsure = core.trip_groups(cell="fine", bucket_hours=3, hours=[7, 8, 9], limit=1, url=db_url)
    assert unsure["source"] == "trips" and unsure["groups"] == top["groups"]


def test_a_group_in_no_hourly_list_may_count_the_least_count_in_each_hour_asked_of_its_bucket(db_url, tmp_path,
                                                                                                 monkeypatch):
    """Pass: with 1-hour lists of 8 groups, whose least count is 50, in 3-hour buckets at 7-9 h:
    a group of 44 trips at 7 and 44 at 8 o'clock is in no list, yet counts 88; one of 150 at 7 and
    40 at 8 is in the list at 7 only, and counts 190, more than its 150 seen. Neither the seen
    group of 60 at 9 o'clock nor the one of 150 is proved the top: the count finds the one of 190
    (of funny_car alone, without the one of 190: the one of 88).
    At 9 h alone a group in no list counts at most 50: the one of 60 is proved the top. The same
    over February and March (the month counts of the 1-hour list; a group's trips in April are
    outside)."""
    import core.groups
    monkeypatch.setattr(core.groups, "KEPT_TOP", 2)  # (the 1-hour lists keep PROOF_TOP_FACTOR times as many)

    def trips(lon, hours, n, months=(2, 3), source="funny_car"):
        return "".join(row(region="Hand", o=(lon, 50.0001), d=(lon, 50.2001), source=source,
                           when=f"2019-{months[i % len(months)]:02d}-{1 + i % 28:02d} {h:02d}:{i % 60:02d}:00")
                       for h in hours for i in range(n))
    data = (trips(14.0001, (14, 15), 50) + trips(14.1001, (14, 15), 50) + trips(14.2001, (14, 15), 50)
            + trips(14.3001, (9,), 60) + trips(14.4001, (20,), 45, months=(4,)) + trips(14.5001, (7, 8), 44)
            + trips(14.6001, (7,), 150, source="cheap_mobile") + trips(14.6001, (8,), 40, source="cheap_mobile"))
    (tmp_path / "hand.csv").write_text(HEADER + data)
    assert core.ingest_file(str(tmp_path / "hand.csv"), url=db_url).status == "completed"
    core.compact_summaries(url=db_url)
    assert sql_rows(db_url, "SELECT trips[cardinality(trips)] FROM flow_top WHERE level = 0 AND bucket_hours = 1"
                            " AND region_id = 0 AND datasource_id = 0 AND days = 0 AND month = '-infinity'") == [(50,)]
    for dates in ({}, {"date_from": "2019-02-01", "date_to": "2019-03-31"}):
        for hours, source, top in (([7, 8, 9], "trips", 190), ([9], "kept", 60)):
            res = core.trip_groups(cell="fine", bucket_hours=3, hours=hours, limit=1, url=db_url, **dates)
            assert (res["source"], res["groups"][0]["trips"]) == (source, top), (hours, dates)
        # funny_car's list (least count 45) has the group of 60 seen, exact, and not those of 150 and
        # 40 (cheap_mobile's): still a group in no list may count 2 x 45, and one counts 88
        res = core.trip_groups(cell="fine", bucket_hours=3, hours=[7, 8, 9], limit=1, datasources=["funny_car"],
                               url=db_url, **dates)
        assert (res["source"], res["groups"][0]["trips"]) == ("trips", 88), dates


def test_groups_counted_from_the_trips_are_counted_for_the_kept_lists_groups_that_prove_them(db_url, tmp_path, monkeypatch):
    """Pass: groups the lists of a period or of a region and a datasource cannot answer (a region
    and a datasource named together, a date range) are counted only for the groups of the kept
    lists of all days of everything, of each region named or of each datasource named, whichever
    split of the answer has the least sum of least counts, and the answer is taken when its last
    group counts more than that sum, or when no trip lies outside the lists' groups; it equals the
    raw count (groups, order, total trips) and its number of groups lies within the bounds given,
    with hours of the day, weekend, buckets, several regions or datasources, medium cells. Where
    the lists cannot prove it (the last equals the sum), where a guess says they will not, with too
    few trips to be worth it, or with a job loaded since compaction, every group is counted."""
    import core.groups
    import core.groups_within
    monkeypatch.setattr(core.groups, "KEPT_TOP", 3)
    monkeypatch.setattr(core.groups, "PROOF_TOP_FACTOR", 1)  # every list of 3 (the next test: longer fine ones)
    cells = _GROUP_CELLS
    # _GROUP_TRIPS at 8 o'clock on weekdays, and one trip of Prague's A and B with x on a Saturday
    # at 17: the lists of all days are everything's F 20, A 15, E 9 (least 9), Prague's A 15, E 9,
    # B 8 (least 8), x's F 20, A 10, B 8 (least 8), y's E 9, A 5, G 1 and Brno's F 20, G 1 (every
    # group: complete).
    text = _group_rows(lambda k: 8)
    text += "".join(row(region="Prague", source="x", o=cells[g][0], d=cells[g][1], when="2019-03-09 17:00:00")
                    for g in "AB")
    (tmp_path / "a.csv").write_text(HEADER + text)
    assert core.ingest_file(str(tmp_path / "a.csv"), url=db_url).status == "completed"
    core.compact_summaries(url=db_url)
    tried = []
    within = core.groups.within_list

    def spy(c, params, **kw):
        tried.append(within(c, params, **kw))
        return tried[-1]

    monkeypatch.setattr(core.groups, "within_list", spy)

    def answer(counted: bool, cell="fine", **kw):
        """The answer, with whether it was taken from the lists' groups, against the raw count."""
        tried.clear()
        kw["cell"] = cell
        a = core.trip_groups(url=db_url, **kw)
        assert bool(tried and tried[-1]) == (not counted), kw
        monkeypatch.setattr(core.groups, "within_list", lambda c, params, **kw: None)
        try:
            b = core.trip_groups(url=db_url, **kw)
        finally:
            monkeypatch.setattr(core.groups, "within_list", spy)
        assert a["source"] == b["source"] == "trips"
        assert (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"]), kw
        lo, hi = a["total_groups_bounds"]
        assert lo <= b["total_groups"] <= hi, kw
        return a

    px = {"regions": ["Prague"], "datasources": ["x"]}
    answer(True, limit=1, **px)  # too few trips to be worth it (_WITHIN_MIN_TRIPS)
    monkeypatch.setattr(core.groups, "_WITHIN_MIN_TRIPS", {0: 0, 1: 0})
    res = answer(False, limit=1, **px)  # A 10 > 8
    assert [g["trips"] for g in res["groups"]] == [10] and res["total_trips"] == 28
    # outside the list's groups: C, D and the two at 17, 10 trips in at least 2 groups (8 at most
    # each); each list has 7 groups
    assert res["total_groups"] is None and res["total_groups_bounds"] == [4, 7]
    answer(True, limit=2, **px)  # not tried: the guess (2nd of a list, 9 or 10, times 0.6-0.7) is below 8
    with monkeypatch.context() as m:  # tried, and not proved: B 8 is not more than 8
        m.setattr(core.groups_within, "_least_guess", lambda lists: float("inf"))
        assert [g["trips"] for g in answer(True, limit=2, **px)["groups"]] == [10, 8]
    # Brno's list keeps every group: its groups with x are all known
    res = answer(False, limit=5, regions=["Brno"], datasources=["x"])
    assert [g["trips"] for g in res["groups"]] == [20] and res["total_groups"] == 1
    answer(False, limit=1, regions=["Prague", "Brno"], datasources=["x"])  # x's list: F 20, A 10
    answer(False, limit=1, regions=["Prague"], datasources=["x", "y"])  # Prague's list: A 15
    answer(False, limit=1, hours=[8], **px)
    # hours that are not whole buckets: each group's trips of those hours counted; the guess scales
    # a bucket's count by the share of its hours asked (the lists' first counts halved, times the
    # answer's share of their trips, are below 8): not tried
    answer(True, limit=1, hours=[7, 8], bucket_hours=2, **px)
    with monkeypatch.context() as m:  # tried, and proved (A 10 > 8)
        m.setattr(core.groups_within, "_least_guess", lambda lists: float("inf"))
        assert [g["trips"] for g in answer(False, limit=1, hours=[7, 8], bucket_hours=2, **px)["groups"]] == [10]
        answer(False, limit=1, hours=[8, 9, 10], bucket_hours=3, **px)
    answer(False, limit=1, bucket_hours=24, days="weekdays", **px)
    res = answer(False, limit=5, days="weekend", **px)  # Prague's list of weekends keeps every group
    assert [g["trips"] for g in res["groups"]] == [1, 1] and res["total_groups"] == 2
    week = dict(date_from="2019-03-04", date_to="2019-03-08")  # every trip but those of Saturday
    for cell in ("fine", "medium"):  # (each group's cells lie in cells of their own at both levels)
        assert [g["trips"] for g in answer(False, cell=cell, limit=1, **week, **px)["groups"]] == [10]
        answer(False, cell=cell, limit=1, **week, regions=["Prague"])
        answer(False, cell=cell, limit=1, **week, datasources=["x", "y"])
    answer(True, limit=1, date_from="2019-03-04", date_to="2019-03-05", **px)  # two days: not hopeful
    answer(True, cell="coarse", limit=1, **week, **px)  # coarse groups: hashed as quickly as joined
    (tmp_path / "b.csv").write_text(HEADER + row(region="Prague", source="x", o=cells["C"][0], d=cells["C"][1],
                                                 when="2019-03-05 08:30:00"))
    assert core.ingest_file(str(tmp_path / "b.csv"), url=db_url).status == "completed"
    answer(True, limit=1, **px)  # a job loaded since: not in the lists
    core.compact_summaries(url=db_url)
    answer(False, limit=1, **px)


def test_the_fine_hourly_lists_of_all_dates_keep_more_groups_for_the_answers_counted_for_them(
        db_url, tmp_path, monkeypatch):
    """Pass: compaction keeps PROOF_TOP_FACTOR times KEPT_TOP groups in the lists (of every level) of
    all dates with 1-hour buckets (those the answers counted from the trips are counted for), and of
    everything's lists of all dates of every bucket size (their months are counted), KEPT_TOP in
    every other list; the answers read from the kept lists take their first KEPT_TOP groups, as
    before (exact, 'kept'); and an answer counted for the lists' groups that lists of KEPT_TOP
    cannot prove (its 2nd group counts 3; Prague's 3rd counts 4, x's 6) is proved by the longer
    ones (Prague's and x's 12th count 2)."""
    import core.groups
    import core.groups_within
    monkeypatch.setattr(core.groups, "KEPT_TOP", 3)
    monkeypatch.setattr(core.groups, "_WITHIN_MIN_TRIPS", {0: 0, 1: 0})
    monkeypatch.setattr(core.groups, "_WITHIN_LONG_MIN_TRIPS", 0)
    monkeypatch.setattr(core.groups_within, "_least_guess", lambda lists: float("inf"))  # always tried
    text = _group_rows(lambda k: 8 + k % 3)  # at 8, 9 and 10 o'clock in turn
    (tmp_path / "a.csv").write_text(HEADER + text)
    assert core.ingest_file(str(tmp_path / "a.csv"), url=db_url).status == "completed"
    core.compact_summaries(url=db_url)
    lengths = sql_rows(db_url, "SELECT month = '-infinity' AND (bucket_hours = 1 OR region_id = datasource_id),"
                               " cardinality(trips) FROM flow_top")  # (region_id = datasource_id: both 0)
    assert max(n for proof, n in lengths if proof) > 3 and all(n <= 12 for proof, n in lengths if proof)
    assert all(n <= 3 for proof, n in lengths if not proof) and any(not proof for proof, _ in lengths)
    tried = []
    within = core.groups.within_list
    monkeypatch.setattr(core.groups, "within_list", lambda c, params, **kw: tried.append(within(c, params, **kw)) or tried[-1])
    every = dict(regions=["Prague", "Brno"], datasources=["x", "y"])

    def counted(**kw):
        with monkeypatch.context() as m:
            m.setattr(core.groups, "within_list", lambda c, params, **kw: None)
            return core.trip_groups(url=db_url, cell="fine", **{**every, **kw})

    for kw in ({}, {"regions": ["Prague"]}, {"datasources": ["x"]}, {"hours": [8, 9]}, {"days": "weekend"}):
        for limit in (1, 3):
            a = core.trip_groups(url=db_url, cell="fine", limit=limit, **kw)
            b = counted(limit=limit, **kw)
            assert a["source"] in ("kept", "kept+new") and (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"]), kw
            lo, hi = a["total_groups_bounds"]
            assert lo <= b["total_groups"] <= hi, kw
    px = {"regions": ["Prague"], "datasources": ["x"]}
    tried.clear()
    a = core.trip_groups(url=db_url, cell="fine", limit=2, **px)
    assert tried and tried[-1] is not None  # proved by the longer lists, after the first 3 of each
    with monkeypatch.context() as m:  # too few trips for the longer lists: not proved
        m.setattr(core.groups, "_WITHIN_LONG_MIN_TRIPS", 29)
        tried.clear()
        assert core.trip_groups(url=db_url, cell="fine", limit=2, **px)["groups"] == a["groups"]
        assert tried == [None]
    b = counted(limit=2, **px)
    assert a["source"] == "trips" and (a["groups"], a["total_trips"]) == (b["groups"], b["total_trips"])
    assert [g["trips"] for g in a["groups"]] == [4, 3]


_D = "2018-01-05", "2020-07-01"  # the first and last day of the trips, for the plans below


@pytest.mark.parametrize("f, t, first_last, months, partial, edges", [
    ("2019-01-01", "2019-03-31", _D, ["2019-01", "2019-02", "2019-03"], [False] * 3, []),
    # most of January and of March: their lists, without the days outside the range
    ("2019-01-02", "2019-03-30", _D, ["2019-01", "2019-02", "2019-03"], [True, False, True],
     [("2019-01-01", "2019-01-01", -1), ("2019-03-31", "2019-03-31", -1)]),
    # less than half of June and of January: their days in the range counted
    ("2018-06-20", "2019-01-10", _D, ["2018-07", "2018-08", "2018-09", "2018-10", "2018-11", "2018-12"], [False] * 6,
     [("2018-06-20", "2018-06-30", 1), ("2019-01-01", "2019-01-10", 1)]),
    ("2019-02-03", "2019-02-25", _D, ["2019-02"], [True], [("2019-02-01", "2019-02-02", -1), ("2019-02-26", "2019-02-28", -1)]),
    ("2019-02-03", "2019-02-14", _D, [], [], [("2019-02-03", "2019-02-14", 1)]),  # 12 days of 28
    ("2019-01-20", "2019-02-10", _D, [], [], [("2019-01-20", "2019-01-31", 1), ("2019-02-01", "2019-02-10", 1)]),
    ("2016-05-17", "2018-02-27", _D, ["2018-01", "2018-02"], [False, True], [("2018-02-28", "2018-02-28", -1)]),  # no trips before the 5th
    ("2020-05-02", "2031-01-01", _D, ["2020-05", "2020-06", "2020-07"], [True, False, False],
     [("2020-05-01", "2020-05-01", -1)]),  # none after July 1st
    (None, "2018-02-10", _D, ["2018-01"], [False], [("2018-02-01", "2018-02-10", 1)]),
    ("2020-06-30", None, _D, ["2020-07"], [False], [("2020-06-30", "2020-06-30", 1)]),
    ("2019-12-01", "2020-02-29", _D, ["2019-12", "2020-01", "2020-02"], [False] * 3, []),  # leap year
    ("0001-01-01", "9999-12-31", ("2018-01-05", "2018-01-05"), ["2018-01"], [False], []),
    ("9999-12-15", None, ("9999-11-05", "9999-12-31"), ["9999-12"], [True], [("9999-12-01", "9999-12-14", -1)]),
    ("2021-01-01", None, _D, [], [], []),  # after the last trip
])
def test_the_months_whose_lists_answer_a_period(f, t, first_last, months, partial, edges):
    """Pass: a period takes the lists of the months most of whose days it has (the days before the
    first trip and after the last count as in it), takes out of them the days it does not have, and
    counts the days of the other months it has; with no date arithmetic past December 9999."""
    import datetime as dt

    from core.filters import Filters
    from core.groups import MonthPlan
    day = dt.date.fromisoformat
    plan = MonthPlan.of(Filters.make(date_from=f, date_to=t), *map(day, first_last))
    assert plan.months == tuple(day(m + "-01") for m in months) and plan.partial == tuple(partial)
    assert plan.edges == tuple((day(a), day(b), sign) for a, b, sign in edges)


@hsettings(max_examples=300, deadline=None)
@given(st.dates(dt.date(2017, 1, 1), dt.date(2021, 12, 31)), st.integers(0, 900),
       st.one_of(st.none(), st.dates(dt.date(2016, 6, 1), dt.date(2022, 6, 30))),
       st.one_of(st.none(), st.dates(dt.date(2016, 6, 1), dt.date(2022, 6, 30))))
def test_a_month_plan_counts_each_day_of_the_period_once(first, span, f, t):
    """Pass (property): for any period and any first and last day of the trips, the days a
    MonthPlan reads (those of its months' lists, less the stretches taken out, plus those counted)
    are exactly the period's days that have trips, each once; it counts or takes out at most two
    stretches, in date order (groups_kept_and_new reads them in one scan)."""
    from core.filters import Filters
    from core.groups import MonthPlan
    last = first + dt.timedelta(days=span)
    if f and t and f > t:
        f, t = t, f
    plan = MonthPlan.of(Filters.make(date_from=f, date_to=t), first, last)
    assert len(plan.edges) <= 2
    assert all(a <= b for a, b, _ in plan.edges)
    assert all(x[1] < y[0] for x, y in zip(plan.edges, plan.edges[1:]))
    day = first
    while day <= last:
        listed = day.replace(day=1) in plan.months
        times = (1 if listed else 0) + sum(sign for a, b, sign in plan.edges if a <= day <= b)
        assert times == (1 if (f is None or f <= day) and (t is None or day <= t) else 0), day
        day += dt.timedelta(days=1)


@contextlib.contextmanager
def _database_migrated_before(template_db, monkeypatch, first: str):
    """A throwaway database with the schema files before sql/``first`` applied (migration_files
    patched to list only those); yields (its url, every schema file), and drops it at the end."""
    import uuid
    from core import db
    server, _ = template_db
    name = f"trips_test_{uuid.uuid4().hex[:10]}"
    url = db.create_database(server, name)
    every = db.migration_files()
    try:
        monkeypatch.setattr(db, "migration_files", lambda: [p for p in every if p.name < first])
        core.migrate(url)
        yield url, every
    finally:
        db.dispose_all()
        db.drop_database(server, name)


def test_the_migration_puts_trip_times_of_an_older_version_in_region_order(template_db, monkeypatch):
    """Pass: on a database migrated up to sql/21, whose trip_times rows lie in time order,
    sql/22_trip_times_by_region.sql keeps every row (the same multiset) and puts them in (month,
    region, datasource, time) order, with its BRIN and the roles' grants; it waits for a compaction
    under way (whose trips it would otherwise lose)."""
    from core import db
    with _database_migrated_before(template_db, monkeypatch, "22") as (url, every):
        # (the columns of sql/17; sql/23 adds others, computed from them: checked below)
        content = ("SELECT md5(string_agg(t::text, ',' ORDER BY t::text)), count(*)"
                   " FROM (SELECT ts, o_cell, d_cell, region_id, datasource_id FROM trip_times) t")
        with db.raw_connection(url) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO trip_times SELECT timestamp '2019-01-01' + i * interval '37 minutes',"
                        " i % 7, i % 11, 1 + i % 3, 1 + i % 2 FROM generate_series(1, 2000) i ORDER BY 1")
            conn.commit()
            cur.execute(content)
            before = cur.fetchone()
            cur.execute(ORDER_BROKEN)
            assert cur.fetchone()[0] > 0  # time order is not region order
        monkeypatch.setattr(db, "migration_files", lambda: every)
        # A compaction under way (its lock held) holds the migration back until it ends.
        import threading
        applied: list = []
        migrating = threading.Thread(target=lambda: applied.extend(core.migrate(url)))
        with db.raw_connection(url) as compacting, compacting.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7314)")
            migrating.start()
            for _ in range(100):  # until the migration waits for the lock (10 s at most)
                cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7314 AND NOT granted")
                if cur.fetchone()[0]:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("the migration did not wait for the compaction lock")
            assert migrating.is_alive() and not applied
            cur.execute("SELECT pg_advisory_unlock(7314)")
            compacting.commit()
        migrating.join(60)
        assert applied == [p.name for p in every if p.name >= "22"]
        with db.raw_connection(url) as conn, conn.cursor() as cur:
            cur.execute(content)
            assert cur.fetchone() == before and before[1] == 2000
            cur.execute(ORDER_BROKEN)
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'trip_times'")
            assert [r[0].split(" USING ")[1] for r in cur.fetchall()] == [
                "brin (region_id, datasource_id, ts) WITH (pages_per_range='16')"]
            cur.execute("SELECT has_table_privilege('trips_reader', 'trip_times', 'SELECT'),"
                        " has_table_privilege('trips_loader', 'trip_times', 'SELECT')")
            assert cur.fetchone() == (True, True)
            # sql/23's stored columns, on the rows already there: the hour, the weekend, the medium cells.
            cur.execute("SELECT count(*) FROM trip_times WHERE hour = extract(hour FROM ts)"
                        " AND weekend = (extract(isodow FROM ts) >= 6)"
                        " AND o_medium = (o_cell / 400000) * 100000 + o_cell % 100000 / 4"
                        " AND d_medium = (d_cell / 400000) * 100000 + d_cell % 100000 / 4")
            assert cur.fetchone()[0] == 2000
            # sql/25's pairs of medium cells by day: those rows counted once each, readable by the roles.
            cur.execute("SELECT count(*) FROM (SELECT o_medium, d_medium, ts::date AS day, count(*)::int AS trips"
                        " FROM trip_times GROUP BY 1, 2, 3) t FULL JOIN pair_days p USING (o_medium, d_medium, day, trips)"
                        " WHERE t.day IS NULL OR p.day IS NULL")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT sum(trips), has_table_privilege('trips_reader', 'pair_days', 'SELECT') FROM pair_days")
            assert cur.fetchone() == (2000, True)


def test_a_database_migrated_before_grid_within_gets_it_and_counts_boxes_by_either_end(template_db, monkeypatch,
                                                                                      write_csv):
    """Pass: on a database migrated up to sql/25 as first applied (no grid_within: a box by either
    end fails there), sql/26_grid_within.sql is applied once and the box counts again, exactly."""
    from core import db
    with _database_migrated_before(template_db, monkeypatch, "26") as (url, every):
        with db.raw_connection(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_proc WHERE proname = 'grid_within'")
            assert cur.fetchone()[0] == 0
        trips = write_csv(HEADER + row(o=(14.41, 50.01), d=(16.6, 49.2)) + row(o=(16.6, 49.2), d=(14.45, 50.05))
                          + row(o=(16.6, 49.2), d=(16.7, 49.3)))
        assert core.ingest_file(trips, url=url).status == "completed"
        box = (14.3, 49.9, 14.6, 50.2)
        with pytest.raises(Exception, match="grid_within"):
            core.weekly_average(bbox=box, by="either", url=url)
        monkeypatch.setattr(db, "migration_files", lambda: every)
        assert core.migrate(url) == [p.name for p in every if p.name >= "26"]
        assert core.weekly_average(bbox=box, by="either", url=url)["trips"] == 2
        assert core.changed_migrations(url) == []
