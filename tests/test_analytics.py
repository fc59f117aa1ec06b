"""Similar-trip groups and weekly averages: exact on hand-made data, and equal to a raw recount
on generated data, for any filter and any box."""
import json
import random
from decimal import Decimal
import subprocess
import sys

import pytest
import sqlalchemy as sa

import core
from conftest import HEADER, ROOT, row
from core.db import engine
from core.synth import generate


# -- groups ----------------------------------------------------------------------------------

def test_groups_cells_buckets_shares_and_total(db_url, write_csv):
    a, b = (14.4001, 50.0001), (14.4501, 50.0801)  # two medium cells apart
    rows = [row(o=a, d=b, when="2018-05-28 07:10:00"),   # Monday
            row(o=a, d=b, when="2018-05-28 08:50:00"),
            row(o=a, d=b, when="2018-06-02 07:30:00"),   # Saturday
            row(o=b, d=a, when="2018-05-28 07:20:00", region="Brno", source="cheap_mobile"),
            row(o=(14.4101, 50.0001), d=b, when="2018-05-29 23:59:59")]  # another fine cell, same medium
    core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url)

    hourly = core.trip_groups(url=db_url)
    assert hourly["total_trips"] == 5 and hourly["source"] == "summary"
    assert [g["trips"] for g in hourly["groups"]] == [2, 1, 1, 1]
    top = hourly["groups"][0]
    assert top["bucket"] == "07:00-08:00" and top["origin"] == (14.41, 50.01)
    assert top["origin_cell"] == "medium:9720:7000" and top["share"] == pytest.approx(0.4)
    assert sum(g["trips"] for g in hourly["groups"]) == hourly["total_trips"]

    two = core.trip_groups(bucket_hours=2, url=db_url)      # 07:xx -> 06-08, 08:xx -> 08-10
    assert [(g["bucket"], g["trips"]) for g in two["groups"]][:1] == [("06:00-08:00", 2)]
    day = core.trip_groups(bucket_hours=24, url=db_url)
    assert [g["trips"] for g in day["groups"]] == [4, 1]     # a->b all day, b->a
    fine = core.trip_groups(cell="fine", bucket_hours=24, url=db_url)
    assert fine["source"] == "trips" and [g["trips"] for g in fine["groups"]] == [3, 1, 1]
    coarse = core.trip_groups(cell="coarse", bucket_hours=24, url=db_url)
    assert [g["trips"] for g in coarse["groups"]] == [4, 1]

    assert core.trip_groups(regions=["Brno"], url=db_url)["total_trips"] == 1
    assert core.trip_groups(datasources=["funny_car"], url=db_url)["total_trips"] == 4
    assert core.trip_groups(days="weekend", url=db_url)["total_trips"] == 1
    assert core.trip_groups(days="weekdays", url=db_url)["total_trips"] == 4
    assert core.trip_groups(hours=[7], url=db_url)["total_trips"] == 3
    assert core.trip_groups(hours=[23], cell="fine", url=db_url)["total_trips"] == 1
    ranged = core.trip_groups(date_from="2018-05-29", date_to="2018-06-02", url=db_url)
    assert ranged["source"] == "trips" and ranged["total_trips"] == 2   # to is inclusive
    # A period that takes in every trip is no filter: the summary answers it, and says it was asked.
    for period in ({"date_from": "2018-05-28", "date_to": "2018-06-02"}, {"date_from": "2000-01-01"},
                   {"date_to": "2018-06-02"}):
        whole = core.trip_groups(url=db_url, **period)
        assert whole["source"] == "summary" and whole["groups"] == hourly["groups"], period
        assert whole["filters"]["from"] == period.get("date_from")
    for period in ({"date_from": "2018-05-29"}, {"date_to": "2018-06-01"}):
        assert core.trip_groups(url=db_url, **period)["source"] == "trips"
    assert core.trip_groups(limit=1, url=db_url)["total_trips"] == 5
    assert len(core.trip_groups(limit=1, url=db_url)["groups"]) == 1


def test_a_point_on_a_grid_line_is_in_the_cell_north_or_east_of_it(db_url, write_csv):
    # (50.08 + 90) / 0.005 is 28015.999999999996 in floating point; floor of the exact quotient is
    # 28016. The lines (fine, medium, coarse at once: 50.08 and 14.40 are multiples of 0.08
    # shifted by 90 and 180) and a point a hair south-west of them.
    on, below = (14.40, 50.08), (14.40 - 1e-9, 50.08 - 1e-9)
    when = "2018-01-03 10:00:00"
    core.ingest_file(write_csv(HEADER + row(o=on, d=on, when=when) + row(o=below, d=on, when=when)
                               + row(o=(-0.005, 0.015), d=on, when=when)), url=db_url)
    for cell, size in (("fine", "0.005"), ("medium", "0.02"), ("coarse", "0.08")):
        got = core.trip_groups(cell=cell, url=db_url)
        labels = {g["origin_cell"]: g["trips"] for g in got["groups"]}
        ix, iy = (int(Decimal(v) // Decimal(size)) for v in ("194.40", "140.08"))  # exact arithmetic
        assert labels[f"{cell}:{ix}:{iy}"] == 1, (cell, labels)
        assert labels[f"{cell}:{ix - 1}:{iy - 1}"] == 1, (cell, labels)
        jx, jy = (int(Decimal(v) // Decimal(size)) for v in ("179.995", "90.015"))
        assert labels[f"{cell}:{jx}:{jy}"] == 1, (cell, labels)
        assert {g["destination_cell"] for g in got["groups"]} == {f"{cell}:{ix}:{iy}"}
    # boxes whose edges lie on those lines count by coordinates, whatever the cell
    assert core.weekly_average(bbox=(14.40, 50.08, 14.48, 50.16), url=db_url)["trips"] == 1
    assert core.weekly_average(bbox=(14.32, 50.0, 14.40, 50.08), url=db_url)["trips"] == 2
    assert core.weekly_average(bbox=(14.40, 50.08, 14.40, 50.08), by="either", url=db_url)["trips"] == 3


@pytest.mark.parametrize("bad", [{"cell": "huge"}, {"bucket_hours": 5}, {"limit": 5001}, {"limit": 0},
                                 {"hours": [24]}, {"days": "sundays"}, {"date_from": "2018-02-30"},
                                 {"date_from": "2018-03-02", "date_to": "2018-03-01"},
                                 {"date_from": "20180301"}, {"date_to": "2018-W09-1"}])
def test_groups_reject_bad_parameters_with_a_message(db_url, bad):
    with pytest.raises(core.InvalidFilter):
        core.trip_groups(url=db_url, **bad)


def test_groups_from_summary_equal_groups_from_raw_trips(db_url, tmp_path, write_csv):
    path = tmp_path / "g.csv"
    generate(str(path), 30_000, seed=5)
    core.ingest_file(str(path), url=db_url)
    sources = core.datasources(url=db_url)
    # One trip after all the others, of a datasource of its own: a period that ends before it
    # (the raw path) answers what all the other datasources do (the summary path).
    core.ingest_file(write_csv(HEADER + row(when="2099-01-01 12:00:00", source="sentinel")), url=db_url)
    rng = random.Random(3)
    regions = core.regions(url=db_url)
    for _ in range(6):
        kw = {"cell": rng.choice(["medium", "coarse"]), "bucket_hours": rng.choice([1, 2, 3, 4, 6, 24]),
              "regions": rng.sample(regions, rng.randint(1, 3)) if rng.random() < 0.5 else None,
              "days": rng.choice(["all", "weekdays", "weekend"]),
              "hours": sorted(rng.sample(range(24), 5)) if rng.random() < 0.5 else None, "limit": 5000}
        summary = core.trip_groups(url=db_url, datasources=sources, **kw)
        raw = core.trip_groups(url=db_url, date_to="2098-12-31", **kw)
        assert (summary["source"], raw["source"]) == ("summary", "trips")
        assert summary["total_trips"] == raw["total_trips"] > 0
        assert summary["groups"] == raw["groups"], kw


# -- weekly averages --------------------------------------------------------------------------

def test_names_asked_with_surrounding_white_space_find_the_names_stored(db_url, write_csv):
    """Pass: ingest stores region and datasource names without surrounding white space (no-break
    spaces too), and the filters of groups and weekly averages take names the same way, so
    " Prague" asks for the trips loaded as " Prague", "Prague " or "Prague"."""
    rows = [row(region=" Prague"), row(region="Prague\u00a0", source=" cheap_mobile"), row(region="Prague"),
            row(region="Brno")]
    assert core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url).status == "completed"
    assert sorted(core.regions(url=db_url)) == ["Brno", "Prague"]
    for asked in (" Prague", "Prague\u00a0", "Prague"):
        assert core.trip_groups(regions=[asked], url=db_url)["total_trips"] == 3
        assert core.weekly_average(region=asked, url=db_url)["trips"] == 3
    assert core.trip_groups(datasources=["cheap_mobile "], url=db_url)["total_trips"] == 1
    assert core.trip_groups(regions=["Prag"], url=db_url)["total_trips"] == 0
    # The CLI's note on names not stored takes them the same way: none for " Prague", one for "Prag".
    for args in (["groups", "--region", " Prague", "--datasource", "cheap_mobile\u00a0"],
                 ["weekly-avg", "--region", "Prague\u00a0"]):
        out = _cli(db_url, *args, "--json")
        assert out.returncode == 0 and json.loads(out.stdout)["total_trips" if args[0] == "groups" else "trips"] > 0
        assert "note" not in out.stderr, out.stderr
    out = _cli(db_url, "weekly-avg", "--region", " Prag", "--json")
    assert "no region named ' Prag' is stored (python -m core regions lists them)" in out.stderr


def test_weekly_average_of_a_region_counts_zero_weeks(db_url, write_csv):
    rows = [row(when="2018-01-03 10:00:00"), row(when="2018-01-07 23:59:59"),  # ISO week of Mon 1 Jan
            row(when="2018-01-22 00:00:00"),                                   # two weeks later
            row(region="Brno", when="2018-01-10 12:00:00")]
    core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url)
    r = core.weekly_average(region="Prague", url=db_url)
    assert (r["from"], r["to"]) == ("2018-01-03", "2018-01-22")  # first to last trip, all regions
    assert [(w["week_start"], w["trips"]) for w in r["per_week"]] == [
        ("2018-01-01", 2), ("2018-01-08", 0), ("2018-01-15", 0), ("2018-01-22", 1)]
    assert r["weeks"] == 4 and r["trips"] == 3 and r["weekly_average"] == pytest.approx(0.75)
    one = core.weekly_average(region="Prague", date_from="2018-01-07", date_to="2018-01-08", url=db_url)
    assert (one["weeks"], one["trips"]) == (2, 1)   # Sunday and Monday touch two weeks
    assert core.weekly_average(region="Nowhere", url=db_url)["weekly_average"] == 0


def test_weekly_average_of_a_box_includes_its_edges(db_url, write_csv):
    w, s, e, n = 14.40, 50.00, 14.46, 50.04          # edges exactly on medium cell edges
    when = "2018-01-03 10:00:00"
    rows = [row(o=(w, s), d=(0, 0), when=when),       # south-west corner: in
            row(o=(e, n), d=(0, 0), when=when),       # north-east corner: in
            row(o=(14.43, 50.02), d=(w, n), when=when),  # both ends in: once with either
            row(o=(e + 1e-9, s), d=(0, 0), when=when),   # just east: out
            row(o=(0, 0), d=(14.41, 50.039999), when=when),  # destination only
            row(o=(w, s - 1e-9), d=(0, 0), when=when)]   # just south: out
    core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url)
    box = f"{w},{s},{e},{n}"
    assert core.weekly_average(bbox=box, url=db_url)["trips"] == 3
    assert core.weekly_average(bbox=box, by="destination", url=db_url)["trips"] == 2
    assert core.weekly_average(bbox=box, by="either", url=db_url)["trips"] == 4
    assert core.weekly_average(bbox=(w, s, w, s), url=db_url)["trips"] == 1   # a box that is a point


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "10,0,5,1", "0,0,1,91", "nan,0,1,1", "1_0,0,20,1"])
def test_weekly_average_rejects_bad_boxes(db_url, bad):
    with pytest.raises(core.InvalidFilter):
        core.weekly_average(bbox=bad, url=db_url)


def test_a_box_across_the_antimeridian_is_refused_naming_its_two_halves(db_url):
    with pytest.raises(core.InvalidFilter, match=r"west \(170\) must not be greater than east \(-170\).*antimeridian.*"
                                                 r"170,-10,180,10 and -180,-10,-170,10"):
        core.weekly_average(bbox="170,-10,-170,10", url=db_url)
    with pytest.raises(core.InvalidFilter, match=r"170\.12345,-10,180,10 and -180,-10,-170\.98765,10"):
        core.weekly_average(bbox="170.12345,-10,-170.98765,10", url=db_url)


def test_a_box_upside_down_is_refused_saying_so(db_url):
    with pytest.raises(core.InvalidFilter, match=r"^south \(50\.12\) must not be greater than north \(50\.03\)$"):
        core.weekly_average(bbox="14.40,50.12,14.52,50.03", url=db_url)


def test_box_counts_equal_raw_counts_for_random_boxes(db_url, tmp_path):
    path = tmp_path / "w.csv"
    generate(str(path), 30_000, seed=9)
    core.ingest_file(str(path), url=db_url)
    rng = random.Random(11)
    raw = sa.text("""
        SELECT count(*) FROM trips
         WHERE ts >= :f AND ts < CAST(:t AS date) + 1 AND CASE :by
           WHEN 'origin' THEN ST_X(origin) BETWEEN :w AND :e AND ST_Y(origin) BETWEEN :s AND :n
           WHEN 'destination' THEN ST_X(destination) BETWEEN :w AND :e AND ST_Y(destination) BETWEEN :s AND :n
           ELSE (ST_X(origin) BETWEEN :w AND :e AND ST_Y(origin) BETWEEN :s AND :n)
             OR (ST_X(destination) BETWEEN :w AND :e AND ST_Y(destination) BETWEEN :s AND :n) END""")
    extents = list(core.region_extents(url=db_url).values())
    with engine(db_url).connect() as c:
        for i in range(12):
            x0, y0, x1, y1 = rng.choice(extents)
            w, e = sorted(rng.uniform(x0, x1) for _ in range(2))
            s, n = sorted(rng.uniform(y0, y1) for _ in range(2))
            if i % 3 == 0:  # aligned to cell edges
                w, s, e, n = (round(v / 0.02) * 0.02 for v in (w, s, e, n))
            by = ("origin", "destination", "either")[i % 3]
            f, t = ("2018-03-01", "2019-02-10") if i % 2 else (None, None)
            got = core.weekly_average(bbox=(w, s, e, n), by=by, date_from=f, date_to=t, url=db_url)
            expect = c.execute(raw, {"w": w, "s": s, "e": e, "n": n, "by": by,
                                     "f": got["from"], "t": got["to"]}).scalar()
            assert got["trips"] == expect, (w, s, e, n, by)
            assert sum(p["trips"] for p in got["per_week"]) == expect


def test_either_end_boxes_equal_raw_counts_after_compaction_and_loads_since(db_url, tmp_path, monkeypatch):
    """Pass: by either end, per week, a box's count equals the raw recount when its inner medium
    cells' trips with both ends inside come from pair_days (compacted trips) and from the raw
    trips of a job loaded since, also when the cell lists are too long to pass (a scan)."""
    from core import weekly
    for i, n in enumerate((20_000, 6_000)):
        generate(str(tmp_path / f"{i}.csv"), n, seed=40 + i)
        core.ingest_file(str(tmp_path / f"{i}.csv"), url=db_url)
        if i == 0:
            core.compact_summaries(url=db_url)
    raw = sa.text("""
        SELECT date_trunc('week', ts)::date AS week, count(*) FROM trips
         WHERE ts >= :f AND ts < CAST(:t AS date) + 1
           AND ((ST_X(origin) BETWEEN :w AND :e AND ST_Y(origin) BETWEEN :s AND :n)
             OR (ST_X(destination) BETWEEN :w AND :e AND ST_Y(destination) BETWEEN :s AND :n))
         GROUP BY 1""")
    rng = random.Random(5)
    extents = list(core.region_extents(url=db_url).values())
    with engine(db_url).connect() as c:
        assert c.execute(sa.text("SELECT sum(trips) FROM pair_days")).scalar() == 20_000  # the compacted job's
        checked_inner = 0
        for i in range(16):
            x0, y0, x1, y1 = rng.choice(extents)
            w, e = sorted(rng.uniform(x0, x1) for _ in range(2))
            s, n = sorted(rng.uniform(y0, y1) for _ in range(2))
            if i % 4 == 0:  # the region's whole extent: many inner cells
                w, s, e, n = x0, y0, x1, y1
            elif i % 4 == 1:  # aligned to medium cell edges
                w, s, e, n = (round(v / 0.02) * 0.02 for v in (w, s, e, n))
            # a third of the boxes pass no cell lists: pair_days' range of origins, the whole trips table
            few = i % 3 != 2
            monkeypatch.setattr(weekly, "_MAX_PAIRS_CELLS", 100 if few else 0)
            monkeypatch.setattr(weekly, "_MAX_RING_CELLS", 20_000 if few else 0)
            f, t = ("2018-03-07", "2019-02-10") if i % 2 else (None, None)
            got = core.weekly_average(bbox=(w, s, e, n), by="either", date_from=f, date_to=t, url=db_url)
            expect = dict(c.execute(raw, {"w": w, "s": s, "e": e, "n": n, "f": got["from"], "t": got["to"]}).all())
            assert {p["week_start"]: p["trips"] for p in got["per_week"] if p["trips"]} == \
                {k.isoformat(): v for k, v in expect.items()}, (w, s, e, n, f, t)
            checked_inner += (e - w) > 0.1 and (n - s) > 0.1
        assert checked_inner >= 6


# -- CLI ---------------------------------------------------------------------------------------

def _cli(db_url, *args, env=None):
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_groups_weekly_and_regions_json(db_url, write_csv):
    rows = [row(when="2018-01-03 10:00:00"), row(when="2018-01-17 10:00:00"),
            row(region="Brno", when="2018-01-10 08:00:00")]
    core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url)
    g = _cli(db_url, "groups", "--cell", "coarse", "--bucket-hours", "24", "--region", "Prague", "--json")
    assert g.returncode == 0, g.stderr
    out = json.loads(g.stdout)
    assert out["total_trips"] == 2 and [x["trips"] for x in out["groups"]] == [2]
    wk = _cli(db_url, "weekly-avg", "--region", "Prague", "--json")
    out = json.loads(wk.stdout)
    assert out["weeks"] == 3 and out["trips"] == 2 and [p["trips"] for p in out["per_week"]] == [1, 0, 1]
    assert set(out) >= {"weekly_average", "trips", "weeks", "from", "to", "per_week"}
    box = _cli(db_url, "weekly-avg", "--bbox", "14,49,15,51", "--by", "either", "--json")
    assert json.loads(box.stdout)["trips"] == 3
    regions = json.loads(_cli(db_url, "regions", "--json").stdout)
    assert [r["region"] for r in regions] == ["Prague", "Brno"]
    bad = _cli(db_url, "weekly-avg", "--bbox", "1,2,3")
    assert bad.returncode == 1 and "west,south,east,north" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_takes_values_starting_with_a_dash_and_hours_past_midnight(db_url, write_csv):
    """Pass: a box west of Greenwich (--bbox -0.3,...) and a region named "-x" are values, not
    options; --hours 23-1 wraps past midnight, hours past 23 are refused; --by with --region is
    noted as not applying; rejects of a job that does not exist say so (exit 1); generate refuses
    fewer than one row."""
    rows = [row(region="-x", o=(-0.2, 51.5), d=(-0.1, 51.5), when="2018-01-03 23:30:00"),
            row(region="-x", o=(-0.2, 51.5), d=(-0.1, 51.5), when="2018-01-04 00:30:00"),
            row(region="-x", o=(-0.2, 51.5), d=(-0.1, 51.5), when="2018-01-04 12:00:00")]
    core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url)
    box = _cli(db_url, "weekly-avg", "--bbox", "-0.3,51.3,0.1,51.7", "--json")
    assert box.returncode == 0, box.stderr
    assert json.loads(box.stdout)["trips"] == 3
    region = _cli(db_url, "weekly-avg", "--region", "-x", "--json")
    assert region.returncode == 0 and json.loads(region.stdout)["trips"] == 3
    night = _cli(db_url, "groups", "--hours", "23-1", "--bucket-hours", "24", "--region", "-x", "--json")
    assert night.returncode == 0, night.stderr
    out = json.loads(night.stdout)
    assert out["filters"]["hours"] == [0, 1, 23] and out["total_trips"] == 2
    by = _cli(db_url, "weekly-avg", "--region", "-x", "--by", "destination", "--json")
    assert by.returncode == 0 and "--bbox only" in by.stderr and json.loads(by.stdout)["trips"] == 3
    typo = _cli(db_url, "weekly-avg", "--region", "Prgue", "--json")
    assert typo.returncode == 0 and json.loads(typo.stdout)["trips"] == 0 and "no region named 'Prgue'" in typo.stderr
    typo = _cli(db_url, "groups", "--datasource", "funny_cr", "--json")
    assert typo.returncode == 0 and "no datasource named 'funny_cr'" in typo.stderr
    for wrong in ("25-2", "22--1", "x", "7-", ""):
        bad = _cli(db_url, "groups", "--hours", wrong)
        assert bad.returncode == 1 and "0-23" in bad.stderr, wrong
    missing = _cli(db_url, "rejects", "999999")
    assert missing.returncode == 1 and "no job 999999" in missing.stderr
    assert _cli(db_url, "generate", "--rows", "-3", "/dev/null").returncode == 2
    for limit in ("0", "-1", "5001", "1e3"):  # one message for all
        bad = _cli(db_url, "groups", "--limit", limit)
        assert bad.returncode == 2 and "must be a whole number from 1 to 5000" in bad.stderr, limit


def test_cli_on_a_database_without_the_schema_says_to_migrate(template_db):
    """Pass: every command on a database the schema was never applied to says, in one line, to
    run migrate (it printed a traceback); ingest --json still answers with every key of a job."""
    import uuid
    from core.db import create_database, dispose_all, drop_database
    server, _ = template_db
    name = f"trips_test_{uuid.uuid4().hex[:10]}"
    url = create_database(server, name)
    try:
        for args in (("stats", "--json"), ("groups", "--json"), ("weekly-avg", "--region", "x"), ("bonus", "--json"),
                     ("jobs",)):
            r = _cli(url, *args)
            assert r.returncode == 1 and "run `python -m core migrate`" in r.stderr, (args, r.stderr)
            assert "Traceback" not in r.stderr
        ingest = _cli(url, "ingest", str(ROOT / "data" / "trips.csv"), "--json")
        [answer] = [json.loads(line) for line in ingest.stdout.splitlines()]
        assert answer["status"] == "failed" and "python -m core migrate" in answer["error"]
        assert set(answer) == {"job_id", "file", "status", "rows_read", "rows_loaded", "rows_rejected", "seconds",
                               "error", "duplicate_of"}
    finally:
        dispose_all()
        drop_database(server, name)


def test_cli_on_a_database_with_an_older_schema_says_to_migrate(db_url, write_csv):
    """Pass: groups on a database whose kept lists have the shape of an older schema (a column the
    queries read is missing: migrations not yet applied) say, in one line, to run migrate (a
    black-box check got a traceback)."""
    core.ingest_file(write_csv(HEADER + row()), url=db_url)
    core.compact_summaries(url=db_url)
    assert _cli(db_url, "groups", "--json").returncode == 0
    with engine(db_url).begin() as conn:
        conn.execute(sa.text("ALTER TABLE flow_top RENAME COLUMN o_cells TO o_cell"))
    r = _cli(db_url, "groups", "--json")
    assert r.returncode == 1 and "run `python -m core migrate`" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_cli_without_a_database_or_a_writable_path_says_so_in_one_line(db_url, write_csv, tmp_path):
    """Pass: an unreachable or malformed DATABASE_URL is one sentence on stderr (exit 1), and
    ingest --json still answers one failed object per file; generate to a path it cannot write
    says so; compact --if-due --json prints JSON when not due; a header ending in a comma is named."""
    for url, says in (("postgresql+psycopg2://postgres@/nothing?host=" + str(tmp_path / "no_socket"),
                       "cannot reach the database"), ("not-a-url", "database URL is not valid")):
        stats = _cli(url, "stats", "--json")
        assert stats.returncode == 1 and says in stats.stderr and "Traceback" not in stats.stderr
        ingest = _cli(url, "ingest", str(ROOT / "data" / "trips.csv"), str(tmp_path / "b.csv"), "--json")
        answers = [json.loads(line) for line in ingest.stdout.splitlines()]
        assert ingest.returncode == 1 and [a["file"] for a in answers] == ["trips.csv", "b.csv"]
        assert all(a["status"] == "failed" and says in a["error"] for a in answers)
    for out in (tmp_path / "missing" / "x.csv", tmp_path):
        gen = _cli(db_url, "generate", "--rows", "10", str(out))
        assert gen.returncode == 1 and f"cannot write {out}" in gen.stderr and "Traceback" not in gen.stderr
    core.ingest_file(write_csv(HEADER + row()), url=db_url)
    assert _cli(db_url, "compact", "--json").returncode == 0
    not_due = _cli(db_url, "compact", "--if-due", "--json")
    assert not_due.returncode == 0 and json.loads(not_due.stdout) == {} and "not due" in not_due.stderr
    trailing = _cli(db_url, "ingest", write_csv(HEADER[:-1] + ",\n" + row()[:-1] + ",\n"), "--json")
    assert "no name (a comma at the end of the header?)" in json.loads(trailing.stdout)["error"]


def test_cli_output_cut_short_by_its_reader_is_no_error(db_url, write_csv):
    """Pass: `rejects N --csv | head -c 100` ends quietly (exit 0, no traceback) when head stops
    reading; a database error from the server (not a lost connection) is named for what it is."""
    bad = "".join(f"Prague,POINT (1 2),oops,2018-01-01 00:00:00,x{i}\n" for i in range(20_000))
    res = core.ingest_file(write_csv(HEADER + row() + bad), url=db_url, max_bad_rows="100%")
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(f"{sys.executable} -m core rejects {res.job_id} --csv | head -c 100", shell=True,
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("line,column") and "Traceback" not in out.stderr, out.stderr
    slow = _cli(db_url, "weekly-avg", "--bbox", "-180,-90,180,90", "--by", "either",
                env={"PGOPTIONS": "-c statement_timeout=1"})
    assert slow.returncode == 1 and "Traceback" not in slow.stderr
    assert "cannot reach" not in slow.stderr and "lost the connection" not in slow.stderr, slow.stderr
    assert "time limit" in slow.stderr, slow.stderr


def test_a_period_with_one_end_given_and_nothing_to_end_it(db_url, write_csv):
    """Pass: with no trips, a given --from is kept in the answer (no weeks to count without an
    end); past the last trip with no --to, the message says the last trip ends the period."""
    res = core.weekly_average(region="Prague", date_from="2030-01-01", url=db_url)
    assert (res["from"], res["to"], res["weeks"], res["trips"]) == ("2030-01-01", None, 0, 0)
    core.ingest_file(write_csv(HEADER + row(when="2018-05-31 10:00:00")), url=db_url)
    with pytest.raises(core.InvalidFilter, match=r"after the last trip \(2018-05-31\)"):
        core.weekly_average(region="Prague", date_from="2030-01-01", url=db_url)
    with pytest.raises(core.InvalidFilter, match=r"from \(2030-01-01\) is after to \(2029-01-01\)"):
        core.weekly_average(region="Prague", date_from="2030-01-01", date_to="2029-01-01", url=db_url)


def test_the_last_week_of_year_9999_is_a_week_like_any_other(db_url, write_csv):
    """Pass: a trip on 9999-12-31 gives a weekly average whose period ends that day (no date past
    it is needed to count the weeks)."""
    core.ingest_file(write_csv(HEADER + row(when="9999-12-31 23:59:59") + row(when="9999-12-20 10:00:00")),
                     url=db_url)
    res = core.weekly_average(region="Prague", date_from="9999-12-01", url=db_url)
    assert (res["to"], res["trips"], res["weeks"]) == ("9999-12-31", 2, 5)
    assert [w["trips"] for w in res["per_week"]] == [0, 0, 0, 1, 1]


def test_an_answer_past_its_time_limit_says_so_in_the_facade_and_the_cli(db_url, write_csv, monkeypatch):
    """Pass: a groups or box answer stopped by statement_timeout (here it waits on a lock another
    session holds) raises core.QueryTooSlow naming the limit; the CLI prints it and exits 1."""
    from core.db import raw_connection
    core.ingest_file(write_csv(HEADER + row()), url=db_url)
    with raw_connection(db_url) as locker, locker.cursor() as cur:
        cur.execute("LOCK TABLE flow_counts, area_days IN ACCESS EXCLUSIVE MODE")
        monkeypatch.setenv("TRIPS_QUERY_TIMEOUT_MS", "300")
        with pytest.raises(core.QueryTooSlow, match="TRIPS_QUERY_TIMEOUT_MS = 300 ms"):
            core.trip_groups(cell="medium", url=db_url)
        with pytest.raises(core.QueryTooSlow):
            core.weekly_average(bbox=(14, 49, 15, 51), url=db_url)
        out = _cli(db_url, "groups", "--json", env={"TRIPS_QUERY_TIMEOUT_MS": "300"})
        locker.rollback()
    assert out.returncode == 1 and "time limit" in out.stderr and "Traceback" not in out.stderr
    assert core.trip_groups(cell="medium", url=db_url)["total_trips"] == 1, "and works once the lock is gone"


def test_hostile_filter_values_are_data(db_url, write_csv):
    core.ingest_file(write_csv(HEADER + row()), url=db_url)
    for value in ["'; DROP TABLE trips; --", "Prague' OR '1'='1", "x" * 900, "%", "\\"]:
        assert core.trip_groups(regions=[value], url=db_url)["total_trips"] == 0
        assert core.trip_groups(datasources=[value], cell="fine", url=db_url)["total_trips"] == 0
        assert core.weekly_average(region=value, url=db_url)["trips"] == 0
    assert core.stats(url=db_url)["trips"] == 1


def test_hostile_filter_values_through_the_cli_are_data(db_url, write_csv):
    """Pass: quotes, semicolons, SQL fragments and long strings given to the CLI's filters give
    correct empty answers (exit 0, valid JSON); a name too long to be one is refused with a clear
    message (exit 1); nothing changes."""
    import json
    import os
    import subprocess
    import sys
    core.ingest_file(write_csv(HEADER + row()), url=db_url)
    env = {**os.environ, "DATABASE_URL": db_url}
    for var in ("LOADER_DATABASE_URL", "READER_DATABASE_URL"):
        env.pop(var, None)
    for value in ["'; DROP TABLE trips; --", "Prague' OR '1'='1", "x" * 900, "%", "\\", "$$; SELECT 1; $$"]:
        for args in (["groups", "--region", value], ["groups", "--datasource", value, "--cell", "fine"],
                     ["weekly-avg", "--region", value]):
            out = subprocess.run([sys.executable, "-m", "core", *args, "--json"], env=env, capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            res = json.loads(out.stdout)
            assert res.get("total_trips", res.get("trips")) == 0, args
    out = subprocess.run([sys.executable, "-m", "core", "groups", "--region", "x" * 5000, "--json"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "longer than 1000 characters" in out.stderr and not out.stdout
    assert core.stats(url=db_url)["trips"] == 1


def test_the_grid_edges_at_180_and_90_are_in_the_last_cells(db_url, write_csv):
    """Pass: a trip from (180, 90) is grouped in a cell whose centre is on the map, and boxes along
    those edges count it exactly."""
    core.ingest_file(write_csv(HEADER + row(o=(180, 90), d=(-180, -90)) + row(o=(179.999, 89.999), d=(-180, -90))),
                     url=db_url)
    for cell, size in (("fine", 0.005), ("medium", 0.02), ("coarse", 0.08)):
        [g] = core.trip_groups(cell=cell, url=db_url)["groups"]
        assert g["trips"] == 2 and tuple(g["origin"]) == (round(180 - size / 2, 7), round(90 - size / 2, 7)), (cell, g)
        assert tuple(g["destination"]) == (round(-180 + size / 2, 7), round(-90 + size / 2, 7))
    assert core.weekly_average(bbox=(180, 90, 180, 90), url=db_url)["trips"] == 1
    assert core.weekly_average(bbox=(179.98, 89.98, 180, 90), url=db_url)["trips"] == 2
    assert core.weekly_average(bbox=(179.9995, -90, 180, 90), by="either", url=db_url)["trips"] == 1
    assert core.weekly_average(bbox=(-180, -90, -180, -90), by="destination", url=db_url)["trips"] == 2
