"""Job events without polling: a LISTEN connection on the channel ``trip_jobs``.

``JobWatcher`` holds one LISTEN session in a background thread and wakes a
``threading.Condition`` on every NOTIFY; readers wait on it and compare ``version``. While idle it
also reaps jobs whose process died (so a killed CLI's job turns ``interrupted`` on its own), and
reconnects after the database restarts. It listens as the reader and reaps as the loader
(``core.db.role_url``), unless given one ``url`` for both.
"""
from __future__ import annotations

import logging
import select
import threading
import time

import psycopg2

from .db import psycopg_dsn, role_url
from .ingest.jobs import notify_payload, reap_interrupted

log = logging.getLogger(__name__)
CHANNEL = "trip_jobs"


class JobWatcher:
    def __init__(self, url: str | None = None, reap_seconds: float = 5.0):
        self.url = url
        self.condition = threading.Condition()
        self.version = 0              # bumps on every event
        self.finished_version = 0     # bumps when a job reaches a final state
        self.last_event: dict = {}
        self._on_completed: list = []  # called (in the watcher's thread) when any job completes
        self._reap_seconds = reap_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-watcher", daemon=True)
        self._thread.start()

    def wait(self, seen_version: int, timeout: float | None = None) -> int:
        """Block until an event newer than ``seen_version`` arrives (or timeout); return version."""
        with self.condition:
            self.condition.wait_for(lambda: self.version != seen_version or self._stop.is_set(), timeout)
            return self.version

    def poke(self) -> None:
        """Wake the waiters as an event would (something else they show has changed)."""
        self._bump([])

    def on_completed(self, fn) -> None:
        """Call ``fn()`` whenever a job completes, whoever ran it (the CLI, another server); it
        must return at once (it runs in the watcher's thread)."""
        self._on_completed.append(fn)

    def stop(self) -> None:
        self._stop.set()
        with self.condition:
            self.condition.notify_all()

    def _bump(self, events: list[dict]) -> None:
        with self.condition:
            self.version += 1
            if any(e.get("status") not in ("queued", "running") for e in events):
                self.finished_version += 1
            if events:
                self.last_event = events[-1]
            self.condition.notify_all()
        if any(e.get("status") == "completed" for e in events):
            for fn in self._on_completed:
                try:
                    fn()
                except Exception:  # a hook's failure must not stop the watcher
                    log.exception("a job-completed hook failed")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn = psycopg2.connect(psycopg_dsn(role_url("reader", self.url)),
                                        application_name="trips-job-watcher")
            except psycopg2.Error:
                time.sleep(2)
                continue
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("LISTEN trip_jobs")
                self._bump([{"status": "reconnected"}])  # something may have changed meanwhile
                last_reap = 0.0
                while not self._stop.is_set():
                    if time.monotonic() - last_reap >= self._reap_seconds:
                        last_reap = time.monotonic()
                        if reap_interrupted(role_url("loader", self.url)):
                            pass  # the reaper's NOTIFY arrives below like any other
                    ready, _, _ = select.select([conn], [], [], self._reap_seconds)
                    if ready:
                        conn.poll()
                        events = [notify_payload(n.payload) for n in conn.notifies]
                        conn.notifies.clear()
                        if events:
                            self._bump(events)
            except psycopg2.Error:
                log.warning("job watcher lost its connection; reconnecting", exc_info=True)
                time.sleep(1)
            finally:
                try:
                    conn.close()
                except psycopg2.Error:
                    pass
