"""Load: stream a file's good rows into its own partition with binary COPY, in one transaction.

Parsing and validation run in a producer thread while PostgreSQL ingests the previous batch
(the two cores work side by side). The caller owns the transaction: it commits together with the
job's final state, or rolls back and nothing of the file remains.
"""
from __future__ import annotations

import csv
import io
import queue
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import psycopg2.errors
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql as pgsql

from ..errors import FileRejected, JobCancelled, TooManyBadRows
from ..queries import pg
from ..grid import fine_cells
from .encode import HEADER, TRAILER, encode_rows
from .read import batches, most_good_rows_unread, open_source
from .rollup import Rollup
from .validate import Reject, validate

# Arrow's default allocator (mimalloc) keeps freed blocks for reuse; the system allocator returns
# them, which keeps the ingest's peak memory about 40 MB lower at no measurable cost in speed.
pa.set_memory_pool(pa.system_memory_pool())


@dataclass
class Progress:
    """Counters a running job shares with its progress reporter."""

    file_size: int = 0
    phase: str = "queued"
    bytes_read: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    started: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event)
    timings: dict = field(default_factory=dict)  # seconds per phase, for benchmarks
    text_sha256: str | None = None  # gzip: the SHA-256 of the decompressed text, once read whole

    def lap(self, phase: str) -> None:
        """Enter ``phase``; the time since the previous lap is booked to the previous phase."""
        now = time.monotonic()
        self.timings[self.phase] = round(self.timings.get(self.phase, 0) + now - self._lap, 3)
        self.phase, self._lap = phase, now

    def __post_init__(self):
        self._lap = time.monotonic()


@dataclass(frozen=True)
class BadRowLimit:
    """--max-bad-rows: ``N`` rows, or ``P%`` of the records read."""

    count: int | None = None
    percent: Decimal | None = None  # exact as written: 9.2% of 750 rows is 69, not 68.99999999999999

    @classmethod
    def parse(cls, text: str | int) -> "BadRowLimit":
        s = str(text).strip()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", s)
        if m and Decimal(m.group(1)) <= 100:
            return cls(percent=Decimal(m.group(1)))
        if re.fullmatch(r"\d+", s):
            return cls(count=int(s))
        raise ValueError(f"--max-bad-rows must be a number of rows (like 100) or a percentage up to 100% "
                         f"(like 1%), not {repr(text) if s else 'empty'}")

    def exceeded(self, rejected: int, read: int, final: bool, most_more_good: int | None = None) -> bool:
        """Whether the limit is passed: a count as soon as it is; a percentage at the end, or
        before when at most ``most_more_good`` good records can follow (a bound from the bytes
        left): rejects added later only raise the share, and even that many good ones would not
        bring it under the limit."""
        if self.count is not None:
            return rejected > self.count
        if final:
            return rejected * 100 > read * (self.percent or 0)
        return most_more_good is not None and rejected * 100 > (read + most_more_good) * (self.percent or 0)

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


_MAX_NAMES = 32_767  # region_id and datasource_id are smallint


class _Dimensions:
    """Name -> id for regions and datasources; new names are added in their own short
    transaction, so concurrent loads never wait on each other's dimension rows."""

    def __init__(self, conn, file_name: str):
        self._conn, self._file_name = conn, file_name
        self._ids = {"regions": {}, "datasources": {}}

    def ids(self, kind: str, names: pa.Array) -> np.ndarray:
        known = self._ids[kind]
        encoded = pc.dictionary_encode(names)
        uniq = encoded.dictionary.to_pylist()
        inverse = encoded.indices.to_numpy(zero_copy_only=False)
        missing = [u for u in uniq if u not in known]
        if missing:
            with self._conn.cursor() as cur:
                try:
                    cur.execute(pg(f"dimension_{kind}_upsert"), {"names": missing})
                except psycopg2.errors.SequenceGeneratorLimitExceeded:
                    raise FileRejected(self._file_name, f"the database has no {kind[:-1]} ids left ({_MAX_NAMES:,} at "
                                       f"most) for the new names of the file; "
                                       "nothing of the file was loaded") from None
                cur.execute(pg(f"dimension_{kind}_ids"), {"names": missing})
                known.update(dict(cur.fetchall()))
        return np.array([known[u] for u in uniq], dtype=np.int16)[inverse]


class _Pipe(io.RawIOBase):
    """The read side of the producer -> COPY pipeline (what psycopg2's copy_expert reads)."""

    def __init__(self, q: queue.Queue):
        self._q, self._buf, self._eof = q, b"", False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._buf and not self._eof:
            item = self._q.get()
            if item is None:
                self._eof = True
            elif isinstance(item, BaseException):
                raise item
            else:
                self._buf = item
        if size < 0 or size >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


class RejectSpool:
    """Rejects of one file, spooled to disk as CSV ready for COPY (a file may have millions)."""

    def __init__(self):
        self._file = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", newline="")
        self._writer = csv.writer(self._file)
        self.count = 0

    def add(self, job_id: int, rejects: list[Reject]) -> None:
        for r in rejects:
            self._writer.writerow((job_id, r.line, r.column or "", r.reason, r.message,
                                   # text cannot hold a NUL: shown as U+FFFD, not dropped (the record
                                   # kept must not read as a good one: "Pra\x00gue" is not "Prague")
                                   r.raw.replace("\x00", "\ufffd")))
        self.count += len(rejects)

    def copy_into(self, cur) -> None:
        self._file.seek(0)
        cur.copy_expert("COPY rejects (job_id, line, column_name, reason, message, raw) "
                        "FROM STDIN WITH (FORMAT csv, NULL '')", self._file, size=1 << 20)

    def close(self) -> None:
        self._file.close()


def load_file(conn, dims_conn, job_id: int, path: str, file_name: str, limit: BadRowLimit,
              progress: Progress, spool: RejectSpool, *, batch_rows: int, max_line_bytes: int) -> None:
    """COPY the good rows of ``path`` into ``trips`` (a new partition for this job), update the
    summaries and store the rejects, inside ``conn``'s open transaction. Raises FileRejected,
    TooManyBadRows or JobCancelled, leaving the rollback to the caller."""
    table = f"trips_p{int(job_id)}"
    with conn.cursor() as cur:
        cur.execute("SELECT create_job_partition(%s)", (job_id,))
        q: queue.Queue = queue.Queue(maxsize=2)
        rollup = Rollup(job_id)
        failure: list[BaseException] = []
        stop = threading.Event()  # the COPY failed: the producer stops (not a user's cancel)
        producer = threading.Thread(
            target=_produce, name=f"parse-{job_id}", daemon=True,
            args=(q, failure, stop, _Dimensions(dims_conn, file_name), rollup, job_id, path, file_name, limit, progress,
                  spool, batch_rows, max_line_bytes))
        producer.start()
        # Not FREEZE (the table is this transaction's own): frozen rows are seen by snapshots taken
        # before the commit, and compaction's snapshot must see a job's rows and its state together.
        copy = pgsql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(pgsql.Identifier(table))
        try:
            cur.copy_expert(copy, _Pipe(q), size=1 << 20)
        except BaseException:
            stop.set()
            _drain(q, producer)
            if failure:
                raise failure[0] from None
            raise
        producer.join()
        if failure:
            raise failure[0]
        _stop_if_cancelled(file_name, progress)
        if not progress.rows_read:  # a header alone: as empty as a file of no bytes
            raise FileRejected(file_name, "the file has a header but no rows of trips after it", 2)
        if limit.exceeded(progress.rows_rejected, progress.rows_read, final=True):
            raise _too_many(file_name, progress, limit)
        progress.lap("indexing")
        # The summaries' rows are reduced and encoded (client work) while PostgreSQL builds the indexes.
        prepared: list[BaseException] = []
        abandon = threading.Event()  # the indexing failed or was cancelled: stop preparing, now
        stopped = lambda: abandon.is_set() or progress.cancel.is_set()  # noqa: E731
        preparer = threading.Thread(target=_prepare, args=(rollup, stopped, prepared), name=f"summaries-{job_id}",
                                    daemon=True)
        preparer.start()
        try:
            cur.execute("SELECT attach_job_partition(%s)", (job_id,))
        except BaseException:
            abandon.set()
            raise
        finally:
            preparer.join()
            if prepared or stopped():
                rollup.close()
        if prepared:
            raise prepared[0]
        _stop_if_cancelled(file_name, progress)  # while the indexes were built (an idle server ignores a cancel)
        progress.lap("summarising")
        rollup.copy_into(cur)
        if spool.count:
            spool.copy_into(cur)
        progress.lap("committing")


def _stop_if_cancelled(file_name: str, progress: Progress) -> None:
    if progress.cancel.is_set():
        raise JobCancelled.of(file_name)


def _prepare(rollup: Rollup, stopped, failure: list[BaseException]) -> None:
    try:
        rollup.prepare(stopped)
    except BaseException as e:  # re-raised by load_file once the indexes are built (or failed)
        failure.append(e)


def _too_many(file_name: str, progress: Progress, limit: BadRowLimit, early: bool = False) -> TooManyBadRows:
    if early:  # a share, passed whatever the rest of the file holds (BadRowLimit.exceeded)
        return TooManyBadRows(
            f"{file_name}: {progress.rows_rejected:,} of the first {progress.rows_read:,} rows were rejected, more "
            f"than the limit of bad rows ({limit}, --max-bad-rows) allows even if every row after them were good; "
            "nothing of the file was loaded (see the rejects)")
    return TooManyBadRows(
        f"{file_name}: {progress.rows_rejected:,} of {progress.rows_read:,} rows were rejected, more "
        f"than the limit of bad rows ({limit}, --max-bad-rows) allows; nothing of the file was loaded (see the rejects)")


def _drain(q: queue.Queue, producer: threading.Thread) -> None:
    while producer.is_alive():
        try:
            q.get(timeout=0.1)
        except queue.Empty:
            pass


def _produce(q, failure, stop, dims, rollup, job_id, path, file_name, limit, progress, spool, batch_rows,
             max_line_bytes) -> None:
    src = counting = None
    try:
        counting = _Counting(rollup)
        src = open_source(path, file_name)
        q.put(HEADER)
        for batch in batches(src, max_line_bytes, batch_rows):
            _batch(q, dims, counting, job_id, file_name, limit, progress, spool, src, batch, batch_rows, max_line_bytes)
            if progress.cancel.is_set() or stop.is_set():
                return
        counting.close()  # every batch counted (or its failure raised) before the COPY ends
        progress.bytes_read = src.counter.bytes_read
        if src.text is not None:
            progress.text_sha256 = src.text.sha256.hexdigest()
        q.put(TRAILER)
    except BaseException as e:  # handed to the COPY side, which re-raises it
        # what was read up to the failure (a file that breaks as a whole counts the records before it)
        progress.rows_read += getattr(e, "records_before", 0)
        if src is not None:
            progress.bytes_read = src.counter.bytes_read
        failure.append(e)
    finally:
        if counting is not None:
            counting.abandon()
        q.put(None)


class _Counting:
    """``Rollup.add`` in a thread of its own: the batches are counted while the next is parsed
    (numpy's sorts leave the interpreter free), so the summaries cost the COPY no time."""

    def __init__(self, rollup: Rollup):
        self._rollup, self._q = rollup, queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="summaries-count", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (arrays := self._q.get()) is not None:
            if self._error is None:  # after a failure the batches are only drained
                try:
                    self._rollup.add(*arrays)
                except BaseException as e:
                    self._error = e

    def add(self, *arrays) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(arrays)

    def close(self) -> None:
        """Wait until every batch is counted; raise what failed the counting, if anything."""
        self._end()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stop the thread whatever it was counting (the job fails, or is done)."""
        if self._thread.is_alive():
            self._error = self._error or JobCancelled("the file's counting was stopped")  # the rest is drained
        self._end()

    def _end(self) -> None:
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()


def _batch(q, dims, counting, job_id, file_name, limit, progress, spool, src, batch, batch_rows, max_line_bytes) -> None:
    rows, rejects = validate(batch, src.bad_utf8_lines)
    if rejects:
        spool.add(job_id, rejects)
    progress.rows_read += len(batch)
    progress.rows_rejected += len(rejects)
    progress.bytes_read = src.counter.bytes_read
    if limit.exceeded(progress.rows_rejected, progress.rows_read, final=False,
                      most_more_good=most_good_rows_unread(src, progress.file_size, batch_rows, max_line_bytes)):
        raise _too_many(file_name, progress, limit, early=limit.percent is not None)
    if len(rows):
        region, source = dims.ids("regions", rows.region), dims.ids("datasources", rows.datasource)
        o_cell, d_cell = fine_cells(rows.o_lon, rows.o_lat), fine_cells(rows.d_lon, rows.d_lat)
        # Each batch is written in origin cell order: a cell's rows share pages, so the trips of
        # the cells a box's edges cross (read row by row) come from far fewer pages.
        by_cell = np.argsort(o_cell)
        q.put(encode_rows(job_id, *(a[by_cell] for a in (region, source, rows.ts_us, rows.o_lon, rows.o_lat,
                                                          rows.d_lon, rows.d_lat, o_cell, d_cell))))
        counting.add(region, source, rows.ts_us, o_cell, d_cell)
        progress.rows_loaded += len(rows)
