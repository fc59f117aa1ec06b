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
