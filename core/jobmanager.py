"""JobManager: runs ingest jobs in a small bounded pool of worker threads.

The dashboard hands it uploaded files; the jobs are created (``queued``) at once, so every page
and CLI sees them, and run in the background. Closing a browser tab does not stop them. Jobs run
as the loader (LOADER_DATABASE_URL, read at each submit) unless the manager was given a ``url``.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg2.errors

from .config import settings
from .db import not_a_loader, role_url
from .ingest.jobs import Job, JobResult

log = logging.getLogger(__name__)


class JobManager:
    def __init__(self, workers: int | None = None, url: str | None = None):
        self.url = url
        self._pool = ThreadPoolExecutor(max_workers=workers or settings().workers,
                                        thread_name_prefix="ingest")
        self.futures: dict[int, Future] = {}

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

    @staticmethod
    def _run(job: Job, delete_after: bool) -> JobResult:
        try:
            return job.run()
        finally:
            if delete_after:
                try:
                    os.unlink(job.path)
                except OSError:
                    pass

    def wait(self, job_id: int, timeout: float | None = None) -> JobResult:
        return self.futures[job_id].result(timeout)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
