"""Bonus questions: exact on hand-made data, ties broken by name."""
import core
from conftest import HEADER, row


def test_bonus_answers_with_ties(db_url, write_csv):
    rows = [
        row(region="B", when="2018-01-02 10:00:00", source="zeta"),
        row(region="B", when="2018-01-02 10:00:00", source="alpha"),  # same latest time: alpha wins
        row(region="A", when="2018-01-01 10:00:00", source="cheap_mobile"),
        row(region="A", when="2018-01-03 10:00:00", source="x"),
        row(region="C", when="2018-01-05 10:00:00", source="cheap_mobile"),
    ]
    core.ingest_file(write_csv(HEADER + "".join(rows)), url=db_url)
    b = core.bonus_answers(url=db_url)
    assert b["latest_datasource_of_top_regions"] == [
        {"region": "A", "datasource": "x", "datetime": "2018-01-03 10:00:00"},
        {"region": "B", "datasource": "alpha", "datetime": "2018-01-02 10:00:00"},
    ]
    assert b["cheap_mobile_regions"] == ["A", "C"]


def test_bonus_answers_over_several_files(db_url, write_csv):
    """Pass: with the same regions and datasources spread over several files (jobs), each region is
    named once among the cheap_mobile regions, and the latest trip is the latest of all files."""
    first = [row(region="A", when="2018-01-01 10:00:00", source="cheap_mobile"),
             row(region="A", when="2018-01-01 11:00:00", source="x"),
             row(region="B", when="2018-01-01 10:00:00", source="cheap_mobile")]
    second = [row(region="A", when="2018-01-02 10:00:00", source="cheap_mobile"),
              row(region="B", when="2018-01-01 09:00:00", source="cheap_mobile"),
              row(region="B", when="2018-01-01 08:00:00", source="y")]
    for i, rows in enumerate((first, second)):
        assert core.ingest_file(write_csv(HEADER + "".join(rows), f"f{i}.csv"), url=db_url).status == "completed"
    b = core.bonus_answers(url=db_url)
    assert b["cheap_mobile_regions"] == ["A", "B"]
    assert b["latest_datasource_of_top_regions"] == [
        {"region": "A", "datasource": "cheap_mobile", "datetime": "2018-01-02 10:00:00"},
        {"region": "B", "datasource": "cheap_mobile", "datetime": "2018-01-01 10:00:00"},
    ]


def test_bonus_ties_are_in_byte_order_on_a_server_with_a_linguistic_collation(write_csv):
    """Pass: on a database whose collation puts "alpha" before "Beta" (ICU English, like the
    en_US servers of the PostGIS image), ties still go by byte order ("Beta" first), as on the
    project's own C.UTF-8 cluster: the same data gives the same answer on every server."""
    import uuid

    from conftest import _server_url
    from core.db import dispose_all, drop_database, raw_connection, url_for_database

    server, name = _server_url(), f"trips_test_icu_{uuid.uuid4().hex[:8]}"
    with raw_connection(url_for_database(server, "postgres"), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'")
    url = url_for_database(server, name)
    try:
        core.migrate(url)
        with raw_connection(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT 'alpha' < 'Beta'")
            assert cur.fetchone()[0]  # the database's own order is linguistic
        rows = [row(region="alpha", when="2018-01-02 10:00:00", source="alpha"),
                row(region="alpha", when="2018-01-02 10:00:00", source="Beta"),
                row(region="Beta", when="2018-01-01 10:00:00", source="x"),
                row(region="Beta", when="2018-01-01 09:00:00", source="x"),
                row(region="gamma", when="2018-01-01 09:00:00", source="x")]
        assert core.ingest_file(write_csv(HEADER + "".join(rows)), url=url).status == "completed"
        latest = core.bonus_answers(url=url)["latest_datasource_of_top_regions"]
        assert [(r["region"], r["datasource"]) for r in latest] == [("Beta", "x"), ("alpha", "Beta")]
        rows = ([row(region=r, source="cheap_mobile") for r in ("gamma", "alpha", "Beta", "alpha")]
                + [row(region=r, source="x") for r in ("eta", "Zed")])
        assert core.ingest_file(write_csv(HEADER + "".join(rows)), url=url).status == "completed"
        assert core.bonus_answers(url=url)["cheap_mobile_regions"] == ["Beta", "alpha", "gamma"]
        with raw_connection(url) as conn, conn.cursor() as cur:  # the view itself, as psql shows it
            cur.execute("SELECT region FROM cheap_mobile_regions")
            assert [r for r, in cur.fetchall()] == ["Beta", "alpha", "gamma"]
        assert core.stats(url=url)["regions"] == ["alpha", "Beta", "gamma", "Zed", "eta"]  # 4, 3, 2, 1, 1 trips
    finally:
        dispose_all()
        drop_database(server, name)
