"""Concurrency: an ingest while dashboard queries run (queries keep answering).

A big file is ingested in the background (the dashboard's ``core.JobManager``) while other threads
keep asking what the dashboard asks (``core.stats``, ``trip_groups``, ``weekly_average`` by region
and by box, ``bonus_answers``, ``data_version``). A job's rows and its ``completed`` state are
committed in one transaction, so each reader can tell, from the job's status read just before and
just after a query, which data the query must have seen. Three files ingested at once are covered
in tests/test_faults.py.
"""
import threading
import time

import pytest
from sqlalchemy import event

import core
from core.db import engine
from core.synth import generate

BIG_ROWS = 300_000    # several seconds of ingest on 2 cores
SMALL_ROWS = 3_000    # committed before the big job starts
READERS = 2           # concurrent dashboard sessions
LIVENESS_S = 5.0      # no query may take longer (a liveness bound, not a benchmark)
BOX = (14.35, 49.98, 14.52, 50.12)  # inside Prague: whole cells from the summary, edges from raw rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("concurrency")
    small, big = str(d / "small.csv"), str(d / "big.csv")
    generate(small, SMALL_ROWS, seed=5)
    generate(big, BIG_ROWS, seed=6)
    return small, big


def dashboard_answers(url):
    """Everything the dashboard's first screens ask, as one comparable dict, with each query's
    duration in seconds."""
    calls = {
        "stats": lambda: core.stats(url=url),
        "groups": lambda: core.trip_groups(cell="medium", bucket_hours=3, limit=500, url=url),
        "groups_filtered": lambda: core.trip_groups(cell="coarse", bucket_hours=24, regions=["Prague"],
                                                    days="weekdays", url=url),
        "weekly_region": lambda: core.weekly_average(region="Prague", url=url),
        "weekly_box": lambda: core.weekly_average(bbox=BOX, by="either", url=url),
        "bonus": lambda: core.bonus_answers(url=url),
        "version": lambda: core.data_version(url=url),
    }
    answers, seconds = {}, {}
    for name, call in calls.items():
        t = time.perf_counter()
        answers[name] = call()
        seconds[name] = time.perf_counter() - t
        if name.startswith("groups"):  # which path answered (the manager compacts after the load): not the answer
            answers[name].pop("source")
    return answers, seconds


class Reader(threading.Thread):
    """A dashboard session asking ``dashboard_answers`` in a loop until told to stop. Each round
    records the job's status just before and just after its queries."""

    def __init__(self, url, job_id):
        super().__init__(daemon=True)
        self.url, self.job_id = url, job_id
        self.rounds, self.errors = [], []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                before = core.job(self.job_id, url=self.url)["status"]
                answers, seconds = dashboard_answers(self.url)
                after = core.job(self.job_id, url=self.url)["status"]
                self.rounds.append((before, answers, seconds, after))
            except Exception as e:  # noqa: BLE001 - every error fails the test
                self.errors.append(repr(e))
                time.sleep(0.1)


def test_queries_keep_answering_from_committed_data_during_an_ingest(db_url, files):
    """Pass criterion: while a 300k-row file is ingested, two readers looping over every dashboard
    query get no error, no query takes longer than 5 s, and each answer is exactly the answer of
    the data committed before the job (a round that ends with the job still running) or exactly
    the answer with the whole file (a round that starts after the job completed): never a part of
    the file. In a round that spans the commit, each answer is still one or the other. Readers
    answered at least 3 rounds during the ingest, and once it completes, the totals are the small
    file plus every row of the big one."""
    small, big = files
    assert core.ingest_file(small, url=db_url).status == "completed"
    old, _ = dashboard_answers(db_url)
    assert old["stats"]["trips"] == SMALL_ROWS

    manager = core.JobManager(workers=1, url=db_url)
    job_id = manager.submit(big, source="cli")
    readers = [Reader(db_url, job_id) for _ in range(READERS)]
    for r in readers:
        r.start()
    try:
        result = manager.wait(job_id, timeout=180)
        time.sleep(1.0)  # a few rounds after the commit too
    finally:
        for r in readers:
            r.stop.set()
        for r in readers:
            r.join(30)
        manager.shutdown()
    assert result.status == "completed", result
    assert (result.rows_loaded, result.rows_rejected) == (BIG_ROWS, 0)

    new, _ = dashboard_answers(db_url)
    assert new["stats"]["trips"] == SMALL_ROWS + BIG_ROWS
    assert new["groups"]["total_trips"] == SMALL_ROWS + BIG_ROWS
    assert sum(r["trips"] for r in new["stats"]["by_region"]) == SMALL_ROWS + BIG_ROWS
    assert new["version"] != old["version"]

    for r in readers:
        assert not r.is_alive()
        assert r.errors == [], r.errors[:3]
        during = [a for before, a, _, after in r.rounds if after in ("queued", "running")]
        since = [a for before, a, _, after in r.rounds if before == "completed"]
        assert len(during) >= 3, f"only {len(during)} rounds while the job ran"
        for answers in during:
            assert answers == old  # the committed data only: nothing of the running job
        for answers in since:
            assert answers == new  # all of the file at once
        for _, answers, _, _ in r.rounds:  # rounds across the commit: all or nothing per answer
            for name, answer in answers.items():
                assert answer in (old[name], new[name]), name
        slowest = max((s, name) for _, _, seconds, _ in r.rounds for name, s in seconds.items())
        assert slowest[0] < LIVENESS_S, f"{slowest[1]} took {slowest[0]:.1f} s during the ingest"


@pytest.mark.parametrize("answer", ["stats", "weekly_box"])
def test_one_answer_reads_one_snapshot(db_url, write_csv, files, answer):
    """Pass criterion: when a job commits just before the last statement of an answer made of
    several statements (forced here by ingesting a file from a hook on that statement), the answer
    is exactly the one before the job or exactly the one after it, never a mix of both."""
    small, _ = files
    assert core.ingest_file(small, url=db_url).status == "completed"
    # Trips starting inside the box: half well inside it (counted from summaries), half on its
    # west edge (counted from the raw rows).
    extra = write_csv("region,origin_coord,destination_coord,datetime,datasource\n" + "".join(
        f"Prague,POINT ({14.43 if i % 2 else 14.3505} 50.05),POINT (14.45 50.06),2019-03-0{1 + i % 9} "
        "08:00:00,cheap_mobile\n" for i in range(500)), name="extra.csv")
    ask = {"stats": lambda: core.stats(url=db_url),
           "weekly_box": lambda: core.weekly_average(bbox=BOX, by="origin", url=db_url)}[answer]
    eng = engine(db_url)
    statements, fired = [], []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(eng, "before_cursor_execute", count)
    try:
        old = ask()
    finally:
        event.remove(eng, "before_cursor_execute", count)
    assert len(statements) >= 2, "a single statement: nothing to tear"
    last, seen = len(statements), []

    def commit_a_job_first(conn, cursor, statement, parameters, context, executemany):
        if fired:
            return  # the ingest's own statements, if any, and what follows it
        seen.append(statement)
        if len(seen) == last:
            fired.append(core.ingest_file(extra, url=db_url).status)

    event.listen(eng, "before_cursor_execute", commit_a_job_first)
    try:
        torn = ask()
    finally:
        event.remove(eng, "before_cursor_execute", commit_a_job_first)
    assert fired == ["completed"]
    new = ask()
    assert new != old
    assert torn in (old, new)
