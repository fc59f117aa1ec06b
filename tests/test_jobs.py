"""Jobs: NOTIFY events reach a listener, cancel stops a running job, JobManager runs in background."""
import threading
import time

import core
from core.events import JobWatcher
from core.ingest.jobs import Job
from core.synth import generate


def test_watcher_receives_events_and_cancel_rolls_back(db_url, tmp_path, slow_copy):
    big = tmp_path / "big.csv"
    generate(str(big), 400_000, seed=5)
    watcher = JobWatcher(url=db_url)
    try:
        seen = watcher.wait(0, timeout=5)  # the 'reconnected' event on LISTEN
        job = Job(str(big), url=db_url)
        t = threading.Thread(target=lambda: setattr(job, "result", job.run()))
        t.start()
        statuses = []
        deadline = time.time() + 30
        while time.time() < deadline and "running" not in statuses:
            seen = watcher.wait(seen, timeout=5)
            statuses.append(watcher.last_event.get("status"))
        assert "running" in statuses and watcher.last_event["job_id"] == job.job_id
        asked = time.monotonic()
        assert core.cancel_job(job.job_id, url=db_url) == "running"
        t.join(30)
        assert time.monotonic() - asked < 5
        assert job.result.status == "cancelled"
        assert core.stats(url=db_url)["trips"] == 0
    finally:
        watcher.stop()


def test_a_cancel_asked_after_the_last_progress_write_still_cancels(db_url, tmp_path, monkeypatch, slow_copy):
    """Progress (and the cancel check with it) is written every second at most; a cancel asked
    after the last write, in the indexing or summarising phases, must still stop the job: the
    final write does not complete a job asked to stop."""
    monkeypatch.setenv("TRIPS_PROGRESS_SECONDS", "3600")  # no progress write during the job
    path = tmp_path / "t.csv"
    generate(str(path), 200_000, seed=3)
    job = Job(str(path), url=db_url)
    t = threading.Thread(target=lambda: setattr(job, "result", job.run()))
    t.start()
    deadline = time.time() + 30
    while core.job(job.job_id, url=db_url)["status"] == "queued" and time.time() < deadline:
        time.sleep(0.01)
    assert core.cancel_job(job.job_id, url=db_url) == "running"
    t.join(60)
    assert job.result.status == "cancelled" and job.result.rows_loaded == 0
    assert core.job(job.job_id, url=db_url)["status"] == "cancelled"
    assert core.stats(url=db_url)["trips"] == 0


def test_a_cancel_that_meets_the_job_starting_asks_the_running_job_to_stop(db_url, tmp_path):
    """A cancel that reaches the job's row while the job is starting (queued -> running, not yet
    committed) waits for it, then asks the running job to stop: it is not lost."""
    import psycopg2
    from core.ingest.jobs import _dsn
    path = tmp_path / "t.csv"
    generate(str(path), 10, seed=3)
    job = Job(str(path), url=db_url)
    starting = psycopg2.connect(_dsn(db_url))
    try:
        with starting.cursor() as cur:
            cur.execute("UPDATE jobs SET status = 'running' WHERE job_id = %s", (job.job_id,))
        answer = {}
        t = threading.Thread(target=lambda: answer.update(status=core.cancel_job(job.job_id, url=db_url)))
        t.start()
        time.sleep(0.5)
        assert t.is_alive()  # waiting for the start to commit
        starting.commit()
        t.join(10)
        assert answer["status"] == "running"
        assert core.job(job.job_id, url=db_url)["cancel_requested"] is True
    finally:
        starting.close()
        job._close_owner()


def test_a_queued_job_is_cancelled_at_once_and_never_runs(db_url, tmp_path):
    path = tmp_path / "t.csv"
    generate(str(path), 10, seed=3)
    job = Job(str(path), url=db_url)
    assert core.cancel_job(job.job_id, url=db_url) == "cancelled"
    row = core.job(job.job_id, url=db_url)
    assert row["status"] == "cancelled" and row["finished_at"] and "before it started" in row["error"]
    assert core.cancel_job(job.job_id, url=db_url) is None  # ended: nothing to cancel
    assert job.run().status == "cancelled" and core.stats(url=db_url)["trips"] == 0


def test_job_manager_runs_uploads_in_the_background(db_url, tmp_path):
    p = tmp_path / "t.csv"
    generate(str(p), 5_000, seed=9)
    jm = core.JobManager(workers=2, url=db_url)
    job_id = jm.submit(str(p), file_name="upload.csv")
    assert core.job(job_id, url=db_url)["status"] in ("queued", "running", "completed")
    res = jm.wait(job_id, timeout=60)
    jm.shutdown()
    assert res.status == "completed" and res.rows_loaded == 5_000
    assert core.job(job_id, url=db_url)["file_name"] == "upload.csv"


def test_a_completed_job_records_when_it_really_finished(db_url, tmp_path):
    """Pass: a job's finished_at is the time of its end, not the start of its loading transaction
    (the duration started_at -> finished_at covers the whole load)."""
    import time
    from core.synth import generate
    path = tmp_path / "t.csv"
    generate(str(path), 100_000, seed=5)
    t = time.monotonic()
    res = core.ingest_file(str(path), url=db_url)
    wall = time.monotonic() - t
    job = core.job(res.job_id, url=db_url)
    from datetime import datetime
    took = (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()
    assert res.status == "completed" and 0.5 * wall <= took <= wall + 0.5, (took, wall)


def test_a_statement_timeout_during_copy_fails_the_job_and_is_not_a_cancel(db_url, tmp_path, monkeypatch, slow_copy):
    """Pass: when the server cancels the load itself (a statement_timeout on the loading session),
    the job ends 'failed' with a message saying the database cancelled it, not 'cancelled' (which
    is a person's decision), and nothing of the file is loaded."""
    path = tmp_path / "t.csv"
    generate(str(path), 100_000, seed=6)  # slow_copy: the COPY outlasts the timeout on any machine
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=400")
    res = core.ingest_file(str(path), url=db_url)
    monkeypatch.delenv("PGOPTIONS")
    assert res.status == "failed", (res.status, res.error)
    assert "cancelled the load" in res.error
    assert core.stats(url=db_url)["trips"] == 0


def test_the_data_version_changes_when_an_earlier_job_completes_last(db_url, write_csv):
    """Pass: the answers' cache key changes on every completion, also when a job with a lower id
    completes after a later one (an upload outlasting a smaller file loaded meanwhile)."""
    from conftest import HEADER, row
    first = Job(write_csv(HEADER + row(region="A"), name="first.csv"), url=db_url)
    second = Job(write_csv(HEADER + row(region="B"), name="second.csv"), url=db_url)
    assert first.job_id < second.job_id
    before = core.data_version(url=db_url)
    assert second.run().status == "completed"
    middle = core.data_version(url=db_url)
    assert first.run().status == "completed"
    after = core.data_version(url=db_url)
    assert len({before, middle, after}) == 3


def test_a_queued_or_running_job_stays_listed_behind_newer_ones(db_url, write_csv):
    """Pass: the list of the newest jobs (the dashboard's panel, `jobs`) keeps a job that is still
    queued or running however many jobs came after it."""
    from conftest import HEADER, row
    waiting = Job(write_csv(HEADER + row()), url=db_url)  # queued; its owner session is alive
    try:
        path = write_csv(HEADER + row() + row())
        for i in range(4):  # one completed, three duplicates: all newer than the queued job
            core.ingest_file(path, url=db_url)
        listed = core.jobs(limit=2, url=db_url)
        assert [j["job_id"] for j in listed] == sorted((j["job_id"] for j in listed), reverse=True)
        assert len(listed) == 3 and listed[-1]["job_id"] == waiting.job_id
        assert listed[-1]["status"] == "queued"
        assert [j["job_id"] for j in core.jobs(limit=0, url=db_url)] == [waiting.job_id]
    finally:
        waiting._close_owner()
    deadline = time.monotonic() + 10  # the server drops the owner's lock as its backend exits
    while waiting.job_id in [j["job_id"] for j in core.jobs(limit=2, url=db_url)]:  # interrupted, then
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_cancel_while_the_summaries_are_prepared_after_the_indexes_stops_the_job(db_url, tmp_path, monkeypatch):
    """The summaries' rows are encoded while the indexes are built; a cancel that comes once the
    indexes are done (the connection idle, so the server has nothing to interrupt) still stops
    the preparing within 5 seconds and cancels the job, with nothing loaded."""
    from core.ingest import rollup
    original, seen = rollup.Rollup.prepare, {}

    def prepare(self, abandoned=lambda: False):
        time.sleep(1.0)  # the indexes of 20,000 rows are built by then
        asked = time.monotonic()
        assert core.cancel_job(self.job_id, url=db_url) == "running"
        while not abandoned() and time.monotonic() - asked < 10:
            time.sleep(0.01)
        seen["stopped_after"] = time.monotonic() - asked
        return original(self, abandoned)
    monkeypatch.setattr(rollup.Rollup, "prepare", prepare)
    path = tmp_path / "t.csv"
    generate(str(path), 20_000, seed=3)
    res = core.ingest_file(str(path), url=db_url)
    assert seen["stopped_after"] < 5, seen
    assert res.status == "cancelled" and res.rows_loaded == 0, res
    assert core.stats(url=db_url)["trips"] == 0
