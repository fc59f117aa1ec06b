"""JobManager: runs ingest jobs in a small bounded pool of worker threads.

The dashboard hands it uploaded files; the jobs are created (``queued``) at once, so every page
and CLI sees them, and run in the background. Closing a browser tab does not stop them. Jobs run
as the loader (LOADER_DATABASE_URL, read at each submit) unless the manager was given a ``url``.

After a load completes (its own, or any other a JobWatcher reports: see dashboard/live.py), and
when the page starts, the manager compacts the summaries in a thread of its own when compaction
is due (TRIPS_COMPACT_SHARE; core/compact.py) and its owner URL may (DATABASE_URL, or ``url``):
the page's groups with no filter, one region or one datasource then read kept rows. Where that URL is not the owner, it
stops trying (``python -m core compact`` as the owner does it).
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone

import psycopg2.errors

from .config import settings
from .db import not_a_loader, role_url
from .errors import TripsError, database_trouble
from .ingest.jobs import Job, JobResult

log = logging.getLogger(__name__)


def _why(e: Exception) -> str:
    """A failure in words: a database error as core.errors says it, anything else by its type."""
    orig = getattr(e, "orig", e)  # SQLAlchemy wraps the driver's error
    if isinstance(orig, psycopg2.Error):
        return database_trouble(orig)
    return f"{type(e).__name__}: {e}"


class JobManager:
    def __init__(self, workers: int | None = None, url: str | None = None):
        self.url = url
        self._pool = ThreadPoolExecutor(max_workers=workers or settings().workers,
                                        thread_name_prefix="ingest")
        self.futures: dict[int, Future] = {}
        self.compaction: Future | None = None  # the latest compaction pass started (tests wait on it)
        self.compaction_step: str | None = None  # what a compaction pass of this manager is doing
        self.compaction_since: datetime | None = None  # when that pass began (UTC)
        self.compaction_failure: str | None = None  # why its last pass failed; None once one succeeds
        self._on_compaction_step: list = []
        self._compact_lock = threading.Lock()
        self._compacting = self._compact_wanted = False
        self._may_compact = True

    def submit(self, path: str, file_name: str | None = None, max_bad_rows: str | None = None,
               force: bool = False, delete_after: bool = False, source: str = "dashboard") -> int:
        """Queue a file for ingestion; returns the job id at once. Raises TripsError when the
        database user may not load data."""
        try:
            job = Job(path, file_name, max_bad_rows, force, source, role_url("loader", self.url))
        except psycopg2.errors.InsufficientPrivilege as e:
            raise not_a_loader(e) from e
        self.futures[job.job_id] = self._pool.submit(self._run, job, delete_after)
        return job.job_id

    def _run(self, job: Job, delete_after: bool) -> JobResult:
        try:
            result = job.run()
            if result.status == "completed":
                self.compact_if_due()
            return result
        finally:
            if delete_after:
                try:
                    os.unlink(job.path)
                except OSError:
                    pass

    def compact_if_due(self) -> None:
        """After a completed load, or when the page starts (loads made while none ran): make sure a
        compaction pass follows if due (one at a time; a load that completes while a pass runs makes
        that pass check again before it ends). Returns at once."""
        if not (self._may_compact and settings().compact_share > 0):
            return
        with self._compact_lock:
            self._compact_wanted = True
            if self._compacting:
                return
            self._compacting = True
            self.compaction = Future()
        # A daemon thread: stopping the app abandons a compaction (its transaction rolls back).
        threading.Thread(target=self._compact, args=(self.compaction,), name="compact", daemon=True).start()

    def on_compaction_step(self, fn) -> None:
        """Call ``fn()`` at each step of this manager's compactions and when one ends
        (``compaction_step`` says which, None at the end; ``compaction_failure`` why it failed, if
        it did); it must return at once."""
        self._on_compaction_step.append(fn)

    def _step(self, step: str | None) -> None:
        if step is not None:
            log.info("compaction: %s", step)
        if step is None:  # the pass has ended
            self.compaction_since = None
        elif self.compaction_step is None:  # a pass begins
            self.compaction_since = datetime.now(timezone.utc)
        self.compaction_step = step
        for fn in self._on_compaction_step:
            try:
                fn()
            except Exception:  # a hook's failure must not stop the compaction
                log.exception("a compaction-step hook failed")

    def _compact(self, future: Future) -> None:
        from .compact import compact_summaries, compaction_due
        url, done = role_url("owner", self.url), None
        try:
            while True:
                with self._compact_lock:
                    if not self._compact_wanted:
                        self._compacting = False
                        break
                    self._compact_wanted = False
                while compaction_due(url):
                    done = compact_summaries(url, self._step)
                self.compaction_failure = None  # compacted, or nothing left to do (`compact` ran elsewhere)
        except psycopg2.errors.InsufficientPrivilege:
            self._may_compact = False
            log.info("not compacting after loads: the owner URL may not (python -m core compact does)")
        except TripsError as e:  # refused before it started (no room on the disk): said, and tried after the next load
            log.warning("compaction after a load not started: %s", e)
            self.compaction_failure = f"not started: {e}"
        except Exception as e:  # a failed compaction changes nothing (one transaction); loads go on
            log.exception("compaction after a load failed")
            self.compaction_failure = f"failed, and changed nothing: {_why(e)}"
        finally:
            with self._compact_lock:
                self._compacting = False
            self._step(None)  # the page learns that it ended, and how
            future.set_result(done)

    def wait(self, job_id: int, timeout: float | None = None) -> JobResult:
        return self.futures[job_id].result(timeout)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
