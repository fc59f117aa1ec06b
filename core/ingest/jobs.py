"""Jobs: the one place where an ingest job changes state.

States (the ``job_status`` enum in sql/02_schema.sql)::

    queued -> running -> completed | failed | duplicate | cancelled
    queued | running -> interrupted   (the owning process died: detected through its advisory lock)
    queued -> cancelled

Each job is owned by one database session that holds an advisory lock on it from creation to its
end; progress is written from that session at least every second and announced with NOTIFY on the
channel ``trip_jobs``. The rows, the rejects and the final state are committed in one transaction,
and only if that final state could still be written: a job ended meanwhile by another process
(reaped as interrupted) keeps none of its rows.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg2

from ..config import settings
from ..db import raw_connection
from ..errors import FileRejected, JobCancelled, TooManyBadRows, database_trouble
from ..queries import pg

if TYPE_CHECKING:
    from .load import RejectSpool

log = logging.getLogger(__name__)
FINAL = ("completed", "failed", "duplicate", "interrupted", "cancelled")


@dataclass
class JobResult:
    """What the CLI prints for a file (``--json``) and the dashboard shows when a job ends."""

    job_id: int
    file: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    error: str | None = None
    duplicate_of: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Job:
    """A job created in the database and owned by this process until it ends."""

    def __init__(self, path: str, file_name: str | None = None, max_bad_rows: str | None = None,
                 force: bool = False, source: str = "cli", url: str | None = None):
        from .load import BadRowLimit, Progress  # (numpy and Arrow: not for `jobs`, `cancel`, the reaper)
        self.url = url
        self.path = path
        self.file_name = file_name or os.path.basename(os.path.normpath(path))  # (dir/: dir)
        self.limit = BadRowLimit.parse(max_bad_rows or settings().max_bad_rows)
        self.force = force
        self.progress = Progress(file_size=_size(path))
        # The owner session: holds the job's advisory lock and writes its progress.
        self._owner = psycopg2.connect(_dsn(url), application_name="trips-job-owner")
        self._owner.autocommit = False
        with self._owner.cursor() as cur:
            cur.execute(pg("job_create"), {
                "file_name": self.file_name, "file_size": self.progress.file_size,
                "max_bad_rows": str(self.limit), "forced": force, "source": source})
            self.job_id = cur.fetchone()[0]
            cur.execute(pg("job_lock"), {"job_id": self.job_id})
            cur.execute(pg("job_event"), {"job_id": self.job_id, "status": "queued", "message": self.file_name})
            cur.execute(pg("job_notify"), {"job_id": self.job_id, "status": "queued"})
        self._owner.commit()
        self._owner.autocommit = True
        self._owner_lock = threading.Lock()

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> JobResult:
        """Run the job to its end and return the outcome. Never raises for a bad file."""
        started = time.monotonic()
        try:
            result = self._run()
        except BaseException as e:  # the last resort: the job must not stay 'running'
            log.exception("job %s crashed", self.job_id)
            result = self._finish_outside("failed", f"{self.file_name}: internal error: {e}")
            if not isinstance(e, Exception):
                raise
        finally:
            self._close_owner()
        # Names left by this or an earlier file that loaded nothing, once no job is under way
        # (jobs of dead processes are reaped first, so that they do not count as under way).
        try:
            reaped = reap_interrupted(self.url)
        except psycopg2.Error:  # the database is gone: nothing to tidy now
            reaped = [None]
        if not reaped:
            forget_unused_names(self.url)
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def _run(self) -> JobResult:
        from .load import RejectSpool, load_file
        with self._owner_lock, self._owner.cursor() as cur:
            cur.execute(pg("job_start"), {"job_id": self.job_id})
            started = cur.fetchone() is not None
            if started:
                cur.execute(pg("job_event"), {"job_id": self.job_id, "status": "running", "message": None})
                cur.execute(pg("job_notify"), {"job_id": self.job_id, "status": "running"})
        if not started:  # cancelled while queued
            return self.result_from_db()
        self.progress.lap("hashing")
        try:
            info = os.stat(self.path)
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                return self._finish_outside("failed", f"{self.file_name}: a directory, not a file (name the "
                                            "files in it); nothing loaded")
            if not stat.S_ISREG(mode):
                return self._finish_outside("failed", f"{self.file_name}: not a regular file (a pipe or a "
                                            "device is read once, and a file is read twice: to hash it, "
                                            "then to load it); save it to a file first; nothing loaded")
            sha, text_sha = _hashes(self.path)
            written = _fingerprint(info)  # the file as hashed: as loaded, or the job fails
        except OSError as e:  # missing, not readable
            return self._finish_outside("failed", f"{self.file_name}: cannot read the file "
                                        f"({e.strerror or e}); nothing loaded")
        with self._owner_lock, self._owner.cursor() as cur:
            hashes = {"job_id": self.job_id, "sha256": sha, "content_sha256": text_sha}
            cur.execute(pg("job_set_hash"), hashes)
            cur.execute(pg("job_find_loaded"), hashes)
            earlier = cur.fetchone()
        if earlier and not self.force:
            return self._duplicate(earlier)
        self.progress.lap("reading")
        try:
            conn = psycopg2.connect(_dsn(self.url), application_name=f"trips-job-{self.job_id}")
        except psycopg2.OperationalError as e:  # refused (too many connections) or the server is gone
            return self._finish_outside("failed", f"{self.file_name}: {database_trouble(e)}; "
                                        "nothing of the file was loaded")
        reporter = _Reporter(self)
        reporter.start()
        reporter.load_conn = conn
        spool = RejectSpool()
        try:
            with raw_connection(self.url, autocommit=True) as dims_conn:
                cfg = settings()
                load_file(conn, dims_conn, self.job_id, self.path, self.file_name, self.limit,
                          self.progress, spool, batch_rows=cfg.batch_rows, max_line_bytes=cfg.max_line_bytes)
            reporter.stop()
            if _fingerprint(_stat(self.path)) != written:
                # Written to since it was hashed (still being copied, or overwritten): what was read is
                # not the file its hash names, and a duplicate check by that hash would be wrong.
                _rollback(conn)
                return self._finish_outside("failed", f"{self.file_name}: the file changed while it was being loaded "
                                            "(its size or time of change is not what it was when it was hashed); "
                                            "nothing of the file was loaded: load it again once it is written "
                                            "in full")
            with conn.cursor() as cur:
                if self.progress.text_sha256 is not None:  # gzip: its text, now hashed
                    cur.execute(pg("job_find_loaded"), {"job_id": self.job_id, "sha256": None,
                                                        "content_sha256": self.progress.text_sha256})
                    earlier = cur.fetchone()
                    if earlier and not self.force:
                        _rollback(conn)
                        return self._duplicate(earlier)
                finished = self._write_final(cur, "completed", None)
            if not finished:
                # Asked to stop since the last progress write (job_finish does not complete such a
                # job), or ended by another process meanwhile (reaped as interrupted when its owner
                # session died): either way the rows must not land. A reaped job stays interrupted.
                _rollback(conn)
                self.progress.lap("done")
                return self._finish_outside("cancelled", str(JobCancelled.of(self.file_name)))
            conn.commit()
            _summarize_new_rows(conn)
            self.progress.lap("done")
            return self._result("completed", None)
        except (FileRejected, TooManyBadRows) as e:
            _rollback(conn)
            reporter.stop()
            return self._fail_with_rejects(str(e), spool)
        except JobCancelled as e:
            _rollback(conn)
            reporter.stop()
            return self._finish_outside("cancelled", str(e))
        except psycopg2.errors.QueryCanceled:
            _rollback(conn)
            reporter.stop()
            if self.progress.cancel.is_set():
                return self._finish_outside("cancelled", str(JobCancelled.of(self.file_name)))
            return self._finish_outside("failed", f"{self.file_name}: the database cancelled the load "
                                        "(statement timeout?); nothing of the file was loaded")
        except psycopg2.errors.UniqueViolation:
            # Another job loaded the same bytes while this one ran.
            _rollback(conn)
            reporter.stop()
            earlier = self._loaded_by()
            return self._finish_outside("duplicate", f"{self.file_name}: the same file or data was loaded by job "
                                        f"{earlier} while this job ran; nothing loaded", duplicate_of=earlier)
        except psycopg2.Error as e:
            _rollback(conn)
            reporter.stop()
            return self._finish_outside("failed", f"{self.file_name}: {database_trouble(e)}; "
                                        "nothing of the file was loaded")
        finally:
            reporter.stop()
            spool.close()
            conn.close()

    # -- state writes -----------------------------------------------------------------------

    def _write_final(self, cur, status: str, error: str | None, duplicate_of: int | None = None) -> bool:
        p = self.progress
        loaded = p.rows_loaded if status == "completed" else 0
        cur.execute(pg("job_finish"), {
            "job_id": self.job_id, "status": status, "rows_read": p.rows_read, "rows_loaded": loaded,
            "rows_rejected": p.rows_rejected, "bytes_read": p.bytes_read, "error": error,
            "duplicate_of": duplicate_of, "content_sha256": p.text_sha256})
        changed = cur.fetchone() is not None
        if changed:
            cur.execute(pg("job_event"), {"job_id": self.job_id, "status": status, "message": error})
            cur.execute(pg("job_notify"), {"job_id": self.job_id, "status": status})
        return changed

    def _duplicate(self, earlier) -> JobResult:
        """Finish as a duplicate of ``earlier`` (job_find_loaded's row): the same bytes, or the same
        CSV text, gzip-compressed or not."""
        job_id, same_bytes = earlier
        same = ("the same file" if same_bytes else "the same data, gzip-compressed or not, as the file that")
        return self._finish_outside("duplicate", f"{self.file_name}: {same} was already loaded by job {job_id}; "
                                    "nothing loaded (to load it again: --force on the command line, \"Load "
                                    "again\" on the page)", duplicate_of=job_id)

    def _finish_outside(self, status: str, error: str | None, duplicate_of: int | None = None) -> JobResult:
        """Write a final state that carries no rows (its own short transaction)."""
        for attempt in range(3):
            try:
                with raw_connection(self.url) as conn, conn.cursor() as cur:
                    self._write_final(cur, status, error, duplicate_of)
                    conn.commit()
                break
            except psycopg2.OperationalError:
                time.sleep(1 + attempt)  # the database may be restarting
        return self.result_from_db(fallback=self._result(status, error, duplicate_of))

    def _fail_with_rejects(self, error: str, spool: RejectSpool) -> JobResult:
        try:
            with raw_connection(self.url) as conn, conn.cursor() as cur:
                if spool.count:
                    spool.copy_into(cur)
                self._write_final(cur, "failed", error)
                conn.commit()
        except psycopg2.Error:
            return self._finish_outside("failed", error)
        return self.result_from_db(fallback=self._result("failed", error))

    def _loaded_by(self) -> int | None:
        with raw_connection(self.url) as conn, conn.cursor() as cur:
            cur.execute("SELECT sha256, content_sha256 FROM jobs WHERE job_id = %s", (self.job_id,))
            sha, text_sha = cur.fetchone()
            cur.execute(pg("job_find_loaded"), {"job_id": self.job_id, "sha256": sha,
                                                "content_sha256": text_sha or self.progress.text_sha256})
            row = cur.fetchone()
            return row[0] if row else None

    def _result(self, status: str, error: str | None, duplicate_of: int | None = None) -> JobResult:
        p = self.progress
        return JobResult(self.job_id, self.file_name, status, p.rows_read,
                         p.rows_loaded if status == "completed" else 0, p.rows_rejected, 0.0, error, duplicate_of)

    def result_from_db(self, fallback: JobResult | None = None) -> JobResult:
        try:
            with raw_connection(self.url) as conn, conn.cursor() as cur:
                cur.execute("SELECT status::text, rows_read, rows_loaded, rows_rejected, error, duplicate_of "
                            "FROM jobs WHERE job_id = %s", (self.job_id,))
                status, read, loaded, rejected, error, dup = cur.fetchone()
        except psycopg2.Error:
            if fallback is None:
                raise
            return fallback
        return JobResult(self.job_id, self.file_name, status, read, loaded, rejected, 0.0, error, dup)

    def write_progress(self) -> bool:
        """Write the counters and announce them; return True when a cancel was requested."""
        p = self.progress
        with self._owner_lock, self._owner.cursor() as cur:
            cur.execute(pg("job_progress"), {
                "job_id": self.job_id, "phase": p.phase, "bytes_read": p.bytes_read,
                "rows_read": p.rows_read, "rows_loaded": p.rows_loaded, "rows_rejected": p.rows_rejected})
            row = cur.fetchone()
            cur.execute(pg("job_notify"), {"job_id": self.job_id, "status": "running"})
        return bool(row and row[0])

    def _close_owner(self) -> None:
        try:
            self._owner.close()  # releases the advisory lock
        except psycopg2.Error:
            pass


class _Reporter(threading.Thread):
    """Writes a running job's progress every ``progress_seconds`` and watches for a cancel."""

    def __init__(self, job: Job):
        super().__init__(name=f"progress-{job.job_id}", daemon=True)
        self.job = job
        self.load_conn = None
        self._halt = threading.Event()
        self._interval = settings().progress_seconds

    def run(self) -> None:
        while not self._halt.wait(self._interval):
            try:
                cancel = self.job.write_progress()
            except psycopg2.Error:
                log.warning("job %s: could not write progress", self.job.job_id, exc_info=True)
                continue
            if cancel and not self.job.progress.cancel.is_set():
                self.job.progress.cancel.set()
                if self.load_conn is not None:
                    self.load_conn.cancel()  # interrupts COPY, index builds, summaries

    def stop(self) -> None:
        if not self._halt.is_set():
            self._halt.set()
            if self.is_alive():
                self.join()


def _summarize_new_rows(conn) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute(pg("job_summarize_new_rows"))
        conn.commit()
    except psycopg2.Error:  # a lock timeout, the server gone: the rows are in; the next job or VACUUM catches up
        _rollback(conn)


def _rollback(conn) -> None:
    try:
        conn.rollback()
    except psycopg2.Error:
        pass


def _dsn(url: str | None) -> str:
    from ..db import psycopg_dsn
    return psycopg_dsn(url)


def _size(path: str) -> int:
    info = _stat(path)
    return info.st_size if info else 0


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:  # gone, or moved away
        return None


def _fingerprint(info: os.stat_result | None) -> tuple | None:
    """What changes when a file is written to, replaced or removed."""
    return info and (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _hashes(path: str) -> tuple[str, str | None]:
    """The SHA-256 of the file's bytes, and of its CSV text when it is that (a plain file); for
    gzip the text's is taken while loading (core/ingest/read.py, HashingReader), not here: a
    decompression up front could not be cancelled and would hold a loader slot for a long time."""
    from .read import GZIP_MAGIC
    h = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(2)
        h.update(head)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest(), None if head == GZIP_MAGIC else h.hexdigest()


def ingest_file(path: str, *, file_name: str | None = None, max_bad_rows: str | None = None,
                force: bool = False, source: str = "cli", url: str | None = None) -> JobResult:
    """Ingest one file now, in this thread; returns its outcome."""
    return Job(path, file_name, max_bad_rows, force, source, url).run()


def cancel_job(job_id: int, url: str | None = None) -> str | None:
    """Ask a job to stop; returns its status then (None if it is not queued or running)."""
    with raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(pg("job_cancel"), {"job_id": job_id})
        row = cur.fetchone()
        if row:
            if row[1] == "cancelled":
                cur.execute(pg("job_event"), {"job_id": job_id, "status": "cancelled", "message": "cancelled while queued"})
            cur.execute(pg("job_notify"), {"job_id": job_id, "status": row[1]})
        conn.commit()
    return row[1] if row else None


def reap_interrupted(url: str | None = None) -> list[int]:
    """Mark as interrupted the jobs whose owning process died; announce each (and forget the names
    they added, when no job is under way)."""
    with raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(pg("jobs_reap_interrupted"), {})
        ids = [r[0] for r in cur.fetchall()]
        for job_id in ids:
            cur.execute(pg("job_event"), {"job_id": job_id, "status": "interrupted", "message": None})
            cur.execute(pg("job_notify"), {"job_id": job_id, "status": "interrupted"})
        conn.commit()
    if ids:
        forget_unused_names(url)
    return ids


def forget_unused_names(url: str | None = None) -> int:
    """Forget the region and datasource names that no completed job uses (left by files that
    loaded nothing) and the ids drawn past the highest in use, when no job is under way; the
    number of names forgotten. Never raises: a database that cannot do it now does it when the
    next job ends."""
    try:
        with raw_connection(url, autocommit=True) as conn, conn.cursor() as cur:
            for attempt in range(3):
                if attempt:
                    time.sleep(0.5)  # the tables were busy for a second (an autovacuum, a long insert)
                cur.execute(pg("forget_unused_names"))
                forgotten = cur.fetchone()[0]
                if forgotten >= 0:
                    return forgotten
    except psycopg2.Error as e:
        log.warning("could not forget unused names: %s", e)
    return 0


def notify_payload(payload: str) -> dict:
    try:
        return json.loads(payload)
    except ValueError:
        return {}
