"""Faults during ingest: nothing is lost, nothing gets in twice.

Each fault is injected while a file is being loaded. Pass criterion, every time: the database
holds zero or all rows of the file (never a part), the job ends ``failed`` or ``interrupted`` with a
message a person understands (what happened, and that nothing was loaded), and a retry loads the
file exactly once. kill -9 of the ingesting process is covered in tests/test_ingest.py
(test_killed_process_leaves_nothing_and_job_becomes_interrupted).
"""
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import psycopg2
import pytest
from sqlalchemy import create_engine, text

import core
from conftest import sql_value
from core.db import create_database, dispose_all, drop_database, psycopg_dsn
from core.ingest.jobs import Job
from core.synth import generate

ROWS = 400_000
LOCAL_CLUSTER = not os.environ.get("DATABASE_URL")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A generated file of ROWS trips: a few seconds to ingest, long enough to hit mid-way."""
    p = tmp_path_factory.mktemp("faults") / "big.csv"
    generate(str(p), ROWS, seed=21)
    return str(p)


def trips(url):
    return sql_value(url)


def summary_trips(url):
    return sql_value(url, "SELECT coalesce(sum(trips), 0) FROM daily_counts")


def admin(url, sql, *args):
    """Run one statement outside a transaction (CREATE TABLESPACE needs that)."""
    conn = psycopg2.connect(psycopg_dsn(url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


class Running:
    """A Job run in a thread; ``wait_rows()`` blocks until its rows are flowing."""

    def __init__(self, path, url, **kw):
        self.url = url
        self.job = Job(path, url=url, **kw)
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.result = self.job.run()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def wait_rows(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.job.progress
            if p.phase == "reading" and p.rows_read > 0:
                return p.rows_read
            assert self.thread.is_alive(), f"job ended before the fault: {self.result}"
            time.sleep(0.02)
        raise AssertionError("the job never started reading rows")

    def join(self, timeout=90):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the job did not end"
        assert self.error is None, repr(self.error)
        return self.result


def final_job(url, job_id, timeout=30):
    """The job's row once it is final (reaping jobs whose owner session died)."""
    deadline = time.monotonic() + timeout
    while True:
        core.reap_interrupted(url=url)
        j = core.job(job_id, url=url)
        if j["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return j
        time.sleep(0.3)


def assert_nothing_then_retry_loads_once(url, path, job, says_nothing_loaded=True):
    """Zero rows of the file after the fault; a retry completes with every row; a third
    attempt is a duplicate (the file is loaded exactly once)."""
    assert trips(url) == 0 and summary_trips(url) == 0
    assert job["status"] in ("failed", "interrupted"), job
    assert job["rows_loaded"] == 0
    if says_nothing_loaded:
        assert "nothing of the file was loaded" in job["error"], job["error"]
    retry = core.ingest_file(path, url=url)
    assert retry.status == "completed" and retry.rows_loaded == ROWS_OF[path], retry
    assert trips(url) == ROWS_OF[path] and summary_trips(url) == ROWS_OF[path]
    assert core.stats(url=url)["trips"] == ROWS_OF[path]
    again = core.ingest_file(path, url=url)
    assert again.status == "duplicate" and again.duplicate_of == retry.job_id
    assert trips(url) == ROWS_OF[path]


ROWS_OF: dict = {}


@pytest.fixture(autouse=True)
def _row_counts(request):
    if "big_file" in request.fixturenames:
        ROWS_OF[request.getfixturevalue("big_file")] = ROWS
    yield


# -- the backend terminated ---------------------------------------------------------------------

def test_terminated_loading_backend_fails_the_job_loads_nothing_and_retry_loads_once(db_url, big_file):
    """Pass: pg_terminate_backend on the session running COPY mid-file ends the job 'failed' with
    'lost the connection ... nothing of the file was loaded', zero rows; a retry loads all once."""
    run = Running(big_file, db_url)
    run.wait_rows()
    killed = admin(db_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = %s AND datname = current_database()",
                   f"trips-job-{run.job.job_id}")
    assert killed == [(True,)]
    res = run.join()
    job = final_job(db_url, res.job_id)
    assert job["status"] == "failed" and "lost the connection to the database" in job["error"], job
    assert "the server closed it" in job["error"], job
    assert job["error"].startswith("big.csv: ")
    assert_nothing_then_retry_loads_once(db_url, big_file, job)


def _job_ids_unused_elsewhere_on_the_server(url):
    """Start this database's job ids at a random value. The reaper looks for a job's advisory lock
    in every database of the server (see the xfail below), so on a shared cluster a running job 1
    of another database would keep our job 1 'alive' and it would never be reaped."""
    admin(url, "ALTER TABLE jobs ALTER COLUMN job_id RESTART WITH %s", random.randrange(10**6, 2 * 10**9))


def test_terminated_owner_session_means_interrupted_and_nothing_loaded(db_url, big_file):
    """Pass: killing the session that owns the job (holds its advisory lock) mid-file, while the
    dashboard reaps dead jobs, ends with a job state that agrees with the data: interrupted or
    failed with zero rows, or completed with every row; never 'nothing loaded' next to rows."""
    _job_ids_unused_elsewhere_on_the_server(db_url)
    run = Running(big_file, db_url)
    run.wait_rows()
    admin(db_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
                  "AND datname = current_database() "
                  "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s)",
          "trips-job-owner", run.job.job_id)
    while run.thread.is_alive():  # the dashboard's job list reaps meanwhile
        core.reap_interrupted(url=db_url)
        time.sleep(0.1)
    run.join()
    job = final_job(db_url, run.job.job_id)
    loaded = trips(db_url)
    if job["status"] == "completed":
        assert loaded == ROWS and job["rows_loaded"] == ROWS
    else:
        assert_nothing_then_retry_loads_once(db_url, big_file, job)


def test_a_lock_in_another_database_does_not_keep_a_dead_job_running(db_url, template_db):
    """Pass: a job whose owner session is gone is reaped as interrupted even while a session of
    another database on the same server holds an advisory lock with the same key."""
    server, tpl = template_db
    other = f"trips_test_{uuid.uuid4().hex[:10]}"
    other_url = create_database(server, other, template=tpl)
    holder = psycopg2.connect(psycopg_dsn(other_url))
    try:
        job = Job(__file__, url=db_url)  # queued, its owner session holds the lock
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7313, %s::int)", (job.job_id,))
        job._close_owner()  # the owning process is gone
        assert core.reap_interrupted(url=db_url) == [job.job_id]
    finally:
        holder.close()
        drop_database(server, other)


# -- an exception after the rows are written, before the commit --------------------------------

def _raise_in_rollup(monkeypatch):
    from core.ingest import rollup

    def boom(self, cur):
        raise RuntimeError("injected fault while writing the summaries")
    monkeypatch.setattr(rollup.Rollup, "copy_into", boom)


def _raise_while_counting(monkeypatch):
    """In the thread that counts the summaries while the file is read (a later batch)."""
    from core.ingest import rollup
    original, calls = rollup.Rollup.add, []
    monkeypatch.setenv("TRIPS_BATCH_ROWS", "5000")  # the file's 20,000 rows in four batches

    def boom(self, *arrays):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("injected fault while counting the summaries")
        return original(self, *arrays)
    monkeypatch.setattr(rollup.Rollup, "add", boom)


def _raise_while_preparing(monkeypatch):
    """In the thread that encodes the summaries' rows while PostgreSQL builds the indexes."""
    from core.ingest import rollup

    def boom(self, abandoned=lambda: False):
        raise RuntimeError("injected fault while preparing the summaries")
    monkeypatch.setattr(rollup.Rollup, "prepare", boom)


def _raise_at_final_state(monkeypatch):
    original = Job._write_final

    def boom(self, cur, status, error, duplicate_of=None):
        if status == "completed":
            raise RuntimeError("injected fault writing the final state")
        return original(self, cur, status, error, duplicate_of)
    monkeypatch.setattr(Job, "_write_final", boom)


def _database_error_at_final_state(monkeypatch):
    original = Job._write_final

    def boom(self, cur, status, error, duplicate_of=None):
        if status == "completed":
            cur.execute("SELECT 1/0")  # a real database error inside the loading transaction
        return original(self, cur, status, error, duplicate_of)
    monkeypatch.setattr(Job, "_write_final", boom)


@pytest.mark.parametrize("inject", [_raise_while_counting, _raise_while_preparing, _raise_in_rollup,
                                    _raise_at_final_state, _database_error_at_final_state],
                         ids=["while_counting", "while_preparing", "in_summaries", "at_final_state",
                              "database_error_at_final_state"])
def test_exception_after_rows_written_before_commit_loads_nothing(db_url, tmp_path, monkeypatch, inject):
    """Pass: an exception raised while rows are written (in the threads that count and encode the
    summaries) or after COPY and the partition attach, before the commit, ends the job 'failed'
    with the exception's text and zero rows (partition, summaries, rejects); after the fault is
    removed, a retry loads the file exactly once."""
    p = str(tmp_path / "small.csv")
    generate(p, 20_000, seed=4)
    ROWS_OF[p] = 20_000
    inject(monkeypatch)
    res = core.ingest_file(p, url=db_url)
    assert res.status == "failed", res
    job = core.job(res.job_id, url=db_url)
    assert job["status"] == "failed" and job["error"].startswith("small.csv: ")
    if "division by zero" in job["error"]:  # a database error: said as such
        assert "nothing of the file was loaded" in job["error"], job["error"]
    else:  # Job.run's last resort: "internal error: <the exception>" (it does not add that nothing
        # was loaded: a gap in the message, reported, in core/ingest/jobs.py)
        assert "internal error: injected fault" in job["error"], job["error"]
    assert sql_value(db_url, "SELECT count(*) FROM pg_class WHERE relname = 'trips_p%d'" % res.job_id) == 0
    monkeypatch.undo()
    assert_nothing_then_retry_loads_once(db_url, p, job, says_nothing_loaded=False)


# -- concurrency --------------------------------------------------------------------------------

def test_three_files_at_once_have_exact_totals_and_their_own_status(db_url, tmp_path):
    """Pass: three files (and a bad one, and a second copy of the first) submitted together to a
    JobManager with 3 workers: the three complete with their own row counts, the bad one fails
    with its own error, the copy is a duplicate; stats, trips and summaries equal the exact sum."""
    sizes = {"a.csv": 60_000, "b.csv": 90_000, "c.csv": 120_000}
    paths = {}
    for i, (name, n) in enumerate(sizes.items()):
        paths[name] = str(tmp_path / name)
        generate(paths[name], n, seed=100 + i)
    bad = tmp_path / "bad.csv"
    bad.write_text("region,origin_coord,datetime,datasource\nPrague,POINT (1 2),2018-05-28 09:03:40,x\n")
    copy = tmp_path / "a_copy.csv"
    shutil.copyfile(paths["a.csv"], copy)
    jm = core.JobManager(workers=3, url=db_url)
    try:
        ids = {name: jm.submit(p, file_name=name, source="cli") for name, p in paths.items()}
        ids["bad.csv"] = jm.submit(str(bad), file_name="bad.csv")
        ids["a_copy.csv"] = jm.submit(str(copy), file_name="a_copy.csv")
        results = {name: jm.wait(job_id, timeout=120) for name, job_id in ids.items()}
    finally:
        jm.shutdown()
    assert len(set(ids.values())) == 5
    for name, n in sizes.items():
        res = results[name]
        assert (res.status, res.rows_loaded, res.rows_rejected) == ("completed", n, 0), res
        j = core.job(ids[name], url=db_url)
        assert j["status"] == "completed" and j["rows_loaded"] == n and j["file_name"] == name
    assert results["bad.csv"].status == "failed" and "destination_coord" in results["bad.csv"].error
    assert results["bad.csv"].error.startswith("bad.csv, line 1:")
    dup = results["a_copy.csv"]
    assert dup.status == "duplicate" and dup.duplicate_of == ids["a.csv"], dup
    total = sum(sizes.values())
    assert core.stats(url=db_url)["trips"] == total
    assert trips(db_url) == total and summary_trips(db_url) == total
    eng = create_engine(db_url)
    with eng.connect() as c:
        per_job = dict(c.execute(text("SELECT job_id, count(*) FROM trips GROUP BY job_id")).all())
    eng.dispose()
    assert per_job == {ids[name]: n for name, n in sizes.items()}


# -- the database restarted mid-file --------------------------------------------------------------
# Restarting a server kills every session on it, so this test gets a cluster of its own: the
# project's cluster (.pgdata) is shared by other suites, benchmarks and the dashboard.

def _pg_bindir():
    """PostgreSQL's server binaries: those of the PostGIS packages the project installs, else
    the ones pg_config names; None when there is no local server to start."""
    candidates = ["/usr/lib/postgresql/15/bin"]
    try:
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                         check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return next((d for d in candidates if d and os.access(os.path.join(d, "initdb"), os.X_OK)), None)


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory, listening only on a Unix socket
    there (no TCP port, so it never clashes with another server). Run as root, it belongs to the
    'postgres' user, since PostgreSQL refuses to run as root."""

    def __init__(self, bindir):
        self.bindir = bindir
        # Not under pytest's tmp_path: that is mode 0700 under root's, out of postgres's reach.
        self.dir = tempfile.mkdtemp(prefix="trips_test_pg_")
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")

    def run(self, tool, *args, check=True):
        cmd = [os.path.join(self.bindir, tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120)
        if check:
            assert out.returncode == 0, f"{tool} {' '.join(args)}: {out.stderr}"
        return out

    def pg_ctl(self, *args, check=True):
        return self.run("pg_ctl", "-D", self.data, *args, check=check)

    def create(self):
        self.run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            conf.write(f"""
listen_addresses = ''
unix_socket_directories = '{self.dir}'
wal_level = minimal
max_wal_senders = 0
# an immediate restart is a crash of the server, not of the machine: WAL in the OS cache survives
fsync = off
jit = off
""")
        self.pg_ctl("-l", self.log, "-w", "-t", "60", "start")

    def url(self, db="postgres"):
        return f"postgresql+psycopg2://postgres@/{db}?host={self.dir}"

    def remove(self):
        dispose_all()
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.pg_ctl("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_cluster_url():
    """The URL of a database with the schema (PostGIS included) on a cluster started for this test
    alone and removed afterwards; the test may restart or crash it."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries here (initdb) to start a throwaway cluster")
    cluster = Cluster(bindir)
    try:
        cluster.create()
        url = create_database(cluster.url(), "trips")
        core.migrate(url)
        dispose_all()
        yield cluster, url
    finally:
        cluster.remove()


def test_database_restart_mid_file_loads_nothing_and_retry_loads_once(own_cluster_url, big_file):
    """Pass: `pg_ctl restart -m immediate` while COPY runs ends the job 'failed' (its message says
    the connection was lost) or 'interrupted', with zero rows after crash recovery; a retry loads
    the file exactly once. On a throwaway cluster: a restart kills every session of its server."""
    cluster, url = own_cluster_url
    run = Running(big_file, url)
    run.wait_rows()
    cluster.pg_ctl("-m", "immediate", "-w", "-t", "120", "-l", cluster.log, "restart")
    res = run.join()
    dispose_all()  # pooled connections died with the server
    job = final_job(url, res.job_id)
    assert job["status"] in ("failed", "interrupted"), job
    if job["status"] == "failed":  # "lost the connection to the database (...)" or, when psycopg2
        # raises a plain DatabaseError mid-COPY, "server closed the connection unexpectedly"
        assert "connection" in job["error"] and job["error"].startswith("big.csv: "), job["error"]
    assert_nothing_then_retry_loads_once(url, big_file, job)


# -- disk full ----------------------------------------------------------------------------------

@pytest.fixture
def small_tablespace(db_url):
    """A 20 MB tmpfs as the default tablespace of the test database (new sessions use it)."""
    if not LOCAL_CLUSTER:
        pytest.skip("needs the local cluster's host to mount a tmpfs; DATABASE_URL is external")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tempfile.mkdtemp(prefix="trips_tblspc_")
    os.chmod(mnt, 0o755)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m,mode=0700", "tmpfs", mnt],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip()}); disk full not tested")
    shutil.chown(mnt, "postgres", "postgres")
    space = f"trips_small_{uuid.uuid4().hex[:8]}"
    db = db_url.rsplit("/", 1)[1].split("?")[0]
    try:
        admin(db_url, f"CREATE TABLESPACE {space} LOCATION '{mnt}'")
        try:
            admin(db_url, f"ALTER DATABASE {db} SET default_tablespace = {space}")
            yield space
        finally:
            dispose_all()
            admin(db_url, f"ALTER DATABASE {db} RESET default_tablespace")
            admin(db_url, f"DROP TABLESPACE {space}")
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
        os.rmdir(mnt)


def test_disk_full_fails_the_job_with_a_clear_message_and_retry_loads_once(db_url, big_file,
                                                                           small_tablespace):
    """Pass: the job's partition on a 20 MB tablespace fills up mid-COPY: the job ends 'failed'
    with 'ran out of disk space ... nothing of the file was loaded', zero rows; with room again,
    a retry loads the file exactly once."""
    res = core.ingest_file(big_file, url=db_url)
    assert res.status == "failed", res
    job = core.job(res.job_id, url=db_url)
    assert job["error"].startswith("big.csv: ") and "No space left on device" in job["error"], job["error"]
    assert sql_value(db_url, "SELECT count(*) FROM pg_class WHERE reltablespace = "
                          f"(SELECT oid FROM pg_tablespace WHERE spcname = '{small_tablespace}')") == 0
    admin(db_url, f"ALTER DATABASE {db_url.rsplit('/', 1)[1].split('?')[0]} RESET default_tablespace")
    dispose_all()
    assert "the database ran out of disk space" in job["error"], job["error"]
    assert "lost the connection" not in job["error"], job["error"]
    assert_nothing_then_retry_loads_once(db_url, big_file, job)


class _OutOfMemory(psycopg2.errors.OutOfMemory):
    """What psycopg2 raises when the server runs out of memory (code and text as the server
    sends them; forcing a real one would take the shared server down)."""
    pgcode = "53200"
    pgerror = "ERROR:  out of memory\nDETAIL:  Failed on request of size 1073741824."


@pytest.mark.parametrize("error, says", [
    (_OutOfMemory(), "the database ran out of memory (ERROR:  out of memory)"),
    (psycopg2.OperationalError('connection to server on socket "/run/.s.PGSQL.5432" failed: '
                               "FATAL:  sorry, too many clients already\n"),
     "the database has too many connections open"),
    (psycopg2.OperationalError("server closed the connection unexpectedly"),
     "lost the connection to the database: the server closed it (restarted, or the session was ended by an "
     "administrator) (server closed the connection unexpectedly)"),
    (psycopg2.OperationalError("could not receive data from server: Connection timed out"),
     "lost the connection to the database (could not receive data from server: Connection timed out)"),
], ids=["out_of_memory", "too_many_clients", "connection_closed_by_server", "connection_lost"])
def test_a_server_short_of_resources_is_not_called_a_lost_connection(error, says):
    """Pass: psycopg2 raises resource errors as OperationalError, like a dropped connection; the
    job's message names the resource instead."""
    from core.errors import database_trouble
    assert database_trouble(error).startswith(says), database_trouble(error)


@pytest.mark.parametrize("change", ["grown", "cut_short", "rewritten_same_size"])
def test_a_file_changed_while_it_loads_fails_and_loads_nothing(db_url, tmp_path, monkeypatch, change):
    """Pass: a file written to after it was hashed (rows appended, cut short, or rewritten in place,
    as while a copy is still running) fails its job with a message that says so, and nothing of it
    is loaded; the whole file, loaded again, completes (its hash was not taken by a load of other
    bytes, and a grown file loaded twice would not have been a duplicate). Found by a black-box
    check: a file cut short loaded its first part under the hash of the whole."""
    from core.ingest import load
    path = tmp_path / "moving.csv"
    generate(str(path), 3_000, seed=11)
    whole = path.read_bytes()
    original = load.load_file

    def changed_under_it(*args, **kw):
        if change == "grown":
            with open(path, "ab") as f:
                f.write(whole.split(b"\n", 1)[1][:5_000].rsplit(b"\n", 1)[0] + b"\n")
        elif change == "cut_short":
            with open(path, "r+b") as f:
                f.truncate(len(whole) // 2)
        else:
            time.sleep(0.01)  # a later time of change, however coarse the clock
            with open(path, "r+b") as f:
                f.write(whole.replace(b"Prague", b"Prahaa", 1)[:len(whole)])
        return original(*args, **kw)
    monkeypatch.setattr(load, "load_file", changed_under_it)
    res = core.ingest_file(str(path), url=db_url)
    assert res.status == "failed" and res.rows_loaded == 0, res
    assert res.error == ("moving.csv: the file changed while it was being loaded (its size or time of change is "
                         "not what it was when it was hashed); nothing of the file was loaded: load it again once "
                         "it is written in full"), res.error
    assert trips(db_url) == 0 and summary_trips(db_url) == 0
    monkeypatch.setattr(load, "load_file", original)
    path.write_bytes(whole)
    again = core.ingest_file(str(path), url=db_url)
    assert (again.status, again.rows_loaded) == ("completed", 3_000), again
