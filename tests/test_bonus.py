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
